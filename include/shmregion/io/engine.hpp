// shmregion: the asynchronous I/O engine behind region extension, prefault and flush.
//
// One small interface (submit a batch, reap completions, drain) and four engines, tried in
// this order when the choice is automatic:
//   uring     io_uring through liburing: write, read, fallocate, fsync, fdatasync and
//             madvise, all asynchronous, one system call per batch;
//   libaio    Linux native AIO (io_submit/io_getevents): write, read, fsync, fdatasync.
//             Aligned writes and reads go through an O_DIRECT twin of the descriptor where
//             the file system accepts O_DIRECT, others through the page cache;
//   posix     POSIX AIO (lio_listio, aio_suspend, aio_error/aio_return; glibc runs it on
//             its own threads): write, read, fsync, fdatasync;
//   sync      pread/pwrite/fallocate/fsync/fdatasync/madvise done inside submit(): always
//             works, the fallback.
// submit() refuses an operation the engine does not support (EOPNOTSUPP); supports() tells
// in advance, and the operations of io/ops.hpp do such work another way.
//
// Which engines are built is a configure-time choice (SHMREGION_WITH_LIBURING,
// SHMREGION_WITH_LIBAIO); which of them run here is found at run time by probe(): io_uring
// is often forbidden by seccomp (EPERM, ENOSYS) or by kernel.io_uring_disabled, and
// io_setup() fails with EAGAIN when fs.aio-max-nr is exhausted. An engine asked for by
// name that cannot run is an error (errc::engine_unavailable), never a silent fallback.
//
// Calls on an Engine return -errno and never throw, as liburing's do (errno may change).
// Thread safety: an Engine is used by one thread at a time; open one per thread.
// fork(): an Engine belongs to the process that opened it; a child opens its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace shmregion::io {

/// The numeric values may be reported by tools; never renumber.
enum class EngineKind : std::uint32_t {
    automatic = 0,  ///< the first of uring, libaio, posix, sync that works here
    uring = 1,
    libaio = 2,
    posix = 3,
    sync = 4,
};

/// "auto", "uring", "libaio", "posix" or "sync".
std::string_view to_string(EngineKind kind) noexcept;
/// Parses the names above (also "io_uring" and "posix_aio"); false for anything else.
bool parse_engine(std::string_view text, EngineKind& out) noexcept;

enum class Op : std::uint8_t {
    write,      ///< pwrite(fd, addr, length, offset)
    read,       ///< pread(fd, addr, length, offset)
    fallocate,  ///< fallocate(fd, arg (mode), offset, length)
    fsync,      ///< fsync(fd)
    fdatasync,  ///< fdatasync(fd)
    madvise,    ///< madvise(addr, length, arg (advice)); length below 4 GiB
};

/// One operation. Buffers must stay valid until its completion is reaped. Reads and writes
/// move at most max_transfer bytes; a completion may report fewer (a short transfer).
struct Request {
    Op op = Op::write;
    int fd = -1;
    void* addr = nullptr;
    std::uint64_t length = 0;
    std::uint64_t offset = 0;
    int arg = 0;
    std::uint64_t user_data = 0;  ///< returned in the completion
};

struct Completion {
    std::uint64_t user_data = 0;
    /// Bytes moved (write, read), 0 (the others), or -errno.
    std::int64_t result = 0;
};

/// Largest read or write one request may ask for (Linux's limit for one transfer).
inline constexpr std::uint64_t max_transfer = 0x7ffff000;
/// Largest madvise range one request may ask for (io_uring carries 32 bits of length).
inline constexpr std::uint64_t max_madvise = 0xfffff000;

class Engine {
public:
    virtual ~Engine() = default;
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    virtual EngineKind kind() const noexcept = 0;
    /// True if submit() accepts `op` (it then runs asynchronously, except on sync).
    virtual bool supports(Op op) const noexcept = 0;
    /// Most requests in flight at once (the queue depth it was opened with).
    std::size_t capacity() const noexcept { return capacity_; }
    /// Requests submitted and not yet reaped.
    std::size_t in_flight() const noexcept { return in_flight_; }

    /// Starts requests in order. Returns how many were started: all of them, or fewer when
    /// the queue is full (reap some, then submit the rest); -errno if none could start
    /// (-EOPNOTSUPP for an op this engine does not support, -EINVAL for a bad request).
    virtual int submit(std::span<const Request> batch) noexcept = 0;
    /// Stores up to out.size() completions, waiting until at least min(min_complete,
    /// in_flight()) are there. Returns how many were stored, or -errno.
    virtual int reap(std::span<Completion> out, std::size_t min_complete) noexcept = 0;

    /// Reaps everything in flight. Returns 0, or the first failed completion's result.
    int drain() noexcept;

protected:
    explicit Engine(std::size_t capacity) noexcept : capacity_(capacity) {}
    std::size_t capacity_;
    std::size_t in_flight_ = 0;
};

/// What probing found out about one engine in this process.
struct ProbeResult {
    EngineKind kind = EngineKind::sync;
    bool built = false;  ///< compiled into this build
    bool works = false;  ///< opened and completed a real request here
    /// Why it does not work ("io_uring_setup: Operation not permitted (seccomp or
    /// kernel.io_uring_disabled)"), or what it is ("io_uring, 5 of 5 operations").
    std::string detail;
};

/// Probes every engine now, in preference order (uring, libaio, posix, sync). Uncached.
std::vector<ProbeResult> probe();

/// The outcome of choosing an engine.
struct Choice {
    EngineKind engine = EngineKind::sync;
    /// Named by the caller or by SHMREGION_IO_ENGINE (not chosen by probing).
    bool forced = false;
    /// How it was chosen: "forced by SHMREGION_IO_ENGINE=libaio", "forced by options",
    /// or "automatic: uring rejected (io_uring_setup: Operation not permitted ...)".
    std::string reason;
    /// The engines probed to choose, in order: the forced one, or those up to the chosen
    /// one (engines after the first that works are not probed).
    std::vector<ProbeResult> tried;
};

/// Resolves `requested`: an engine named here wins; otherwise (automatic) the environment
/// variable SHMREGION_IO_ENGINE=uring|libaio|posix|sync|auto; otherwise the first engine
/// that works. Probes each engine at most once per process (again in a fork()ed child,
/// whose seccomp filter or limits may differ), and only as far as it needs. Errors (thrown as shmregion::Error, or stored in ec):
/// engine_unavailable for a named engine that is not built or does not work here (the
/// message says why), invalid_options for an environment value that names no engine.
Choice choose(EngineKind requested = EngineKind::automatic);
Choice choose(EngineKind requested, std::error_code& ec) noexcept;

/// Opens an engine: choose(requested), then the engine with room for queue_depth requests
/// in flight (1..4096). Errors as choose(), or the errno of opening it.
std::unique_ptr<Engine> open(EngineKind requested = EngineKind::automatic, unsigned queue_depth = 64);
std::unique_ptr<Engine> open(EngineKind requested, unsigned queue_depth, std::error_code& ec) noexcept;

}  // namespace shmregion::io
