// Inside the library (not installed): what the I/O engine is used for. Extension makes a
// file's new space real, prefault makes a mapping's pages resident and writable, flush makes
// a file's data durable. Region uses these; tests and benchmarks call them directly
// (through the internal CMake targets). PrefaultHandle is public (<shmregion/io.hpp>).
#pragma once

#include "io/engine.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <system_error>

SHMREGION_NAMESPACE_BEGIN
namespace io {

enum class ExtendMethod {
    automatic,    ///< fallocate; batched zero writes where the file system refuses it
    fallocate,    ///< fallocate(2) only (through the engine where it has the operation)
    zero_writes,  ///< writes of zeros, batched through the engine (what fallocate-less
                  ///< file systems need; also for tests and benchmarks)
};

/// Grows the file behind fd from `from` to `to` bytes (to >= from; from must be its
/// current size, else errc::size_mismatch) with every new block allocated, so a later page
/// fault in the new part cannot SIGBUS for lack of space. New bytes read as zero. Zero
/// writes are followed by an fdatasync (some file systems find out about a full disk only
/// then). On failure (ENOSPC for a full disk or a full /dev/shm, EFBIG, EIO...) the file is
/// cut back to `from` bytes: it never ends in between and nothing before `from` changes.
/// The engine must be idle (EBUSY otherwise); whoever else may change the file's size must
/// be kept out meanwhile (Region does this under the region lock). `what` names the file in
/// error messages. Throws shmregion::Error (operation "extend"); the second form stores the
/// code instead.
void extend(Engine& engine, int fd, std::uint64_t from, std::uint64_t to,
            const std::filesystem::path& what, ExtendMethod method = ExtendMethod::automatic);
void extend(Engine& engine, int fd, std::uint64_t from, std::uint64_t to,
            const std::filesystem::path& what, ExtendMethod method, std::error_code& ec) noexcept;

enum class PrefaultMethod {
    automatic,        ///< madvise_threads, or (kernel without MADV_POPULATE_WRITE)
                      ///< touch_threads
    madvise_uring,    ///< MADV_POPULATE_WRITE in chunks, submitted through io_uring and run
                      ///< by the kernel's io-wq workers (not the default: io-wq adds a
                      ///< worker only when one blocks, so CPU-bound chunks ran nearly one
                      ///< at a time; see docs/performance.md)
    madvise_threads,  ///< MADV_POPULATE_WRITE in chunks, on worker threads
    touch_threads,    ///< a write fault per page on worker threads, by an atomic add of 0:
                      ///< bytes never change, even while others write them
};

struct PrefaultOptions {
    EngineKind engine = EngineKind::automatic;  ///< only madvise_uring uses an engine
    PrefaultMethod method = PrefaultMethod::automatic;
    /// Worker threads (or io_uring requests in flight); 0: one per CPU, at most 8.
    unsigned threads = 0;
    /// Bytes per unit of work; also the granularity of progress and of cancel.
    std::size_t chunk = 8u << 20;
};

/// Makes [addr, addr+length) resident and writable (page-aligned addr; length rounded up
/// to pages) before the application needs it, blocking until done. The range must be a
/// MAP_SHARED or private writable mapping backed by allocated space (a region's mapping).
/// Throws shmregion::Error (operation "prefault": ENOMEM when memory runs out, EFAULT for
/// a range that is not mapped, engine_unavailable for a forced engine that cannot run).
void prefault(void* addr, std::size_t length, const PrefaultOptions& options = {});
void prefault(void* addr, std::size_t length, const PrefaultOptions& options, std::error_code& ec) noexcept;

/// The same on a background thread; returns at once. `keep_alive` is held until the job
/// ends (a Region passes its mapping, so the range stays mapped while the job runs).
PrefaultHandle prefault_async(void* addr, std::size_t length, const PrefaultOptions& options = {},
                              std::shared_ptr<void> keep_alive = nullptr);
/// As above; on failure returns an empty handle and sets ec.
PrefaultHandle prefault_async(void* addr, std::size_t length, const PrefaultOptions& options,
                              std::shared_ptr<void> keep_alive, std::error_code& ec) noexcept;

/// Makes the data written to the file behind fd durable: fdatasync (data_only) or fsync
/// through the engine, waited for. For a MAP_SHARED mapping of the file this covers the
/// bytes stored through the mapping too: on Linux those pages are the file's page cache,
/// which fsync writes back (msync(MS_SYNC) would do the same work again). The engine must
/// be idle (EBUSY otherwise). Throws shmregion::Error (operation "flush": EIO when
/// writeback failed).
void flush(Engine& engine, int fd, const std::filesystem::path& what, bool data_only = true);
void flush(Engine& engine, int fd, const std::filesystem::path& what, bool data_only,
           std::error_code& ec) noexcept;

}  // namespace io
SHMREGION_NAMESPACE_END
