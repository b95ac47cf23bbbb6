// Inside the library (not installed): the asynchronous I/O engine behind region extension,
// prefault and flush. The engine kinds, probing and the choice are public
// (<shmregion/io.hpp>); the engines are not. Tests and benchmarks reach this header through
// the internal CMake targets (shmregion_internal, shmregion_testing).
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
// Calls on an Engine return -errno and never throw, as liburing's do (errno may change).
// Thread safety: an Engine is used by one thread at a time; open one per thread.
// fork(): an Engine belongs to the process that opened it; a child opens its own.
#pragma once

#include <shmregion/io.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

SHMREGION_NAMESPACE_BEGIN
namespace io {

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

/// Opens an engine: choose(requested), then the engine with room for queue_depth requests
/// in flight (1..4096). Errors as choose(), or the errno of opening it.
std::unique_ptr<Engine> open(EngineKind requested = EngineKind::automatic, unsigned queue_depth = 64);
std::unique_ptr<Engine> open(EngineKind requested, unsigned queue_depth, std::error_code& ec) noexcept;

}  // namespace io
SHMREGION_NAMESPACE_END
