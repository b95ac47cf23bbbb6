// Inside the I/O layer: what each engine file provides to the factory (engine.cpp, which
// holds the only #if over the optional engines), and the helpers the operations share.
#pragma once

#include "io/engine.hpp"
#include "io/ops.hpp"

#include <memory>
#include <string>
#include <vector>

SHMREGION_NAMESPACE_BEGIN
namespace io::detail {

/// An opened engine, or why it could not be opened (err is the positive errno).
struct Opened {
    std::unique_ptr<Engine> engine;
    int err = 0;
    std::string why;   ///< "io_uring_setup: Operation not permitted (...)"
    std::string what;  ///< what was opened: "io_uring: write read fallocate fsync madvise"
};

// One per engine file (uring.cpp and libaio.cpp only in builds that have them).
Opened open_uring(unsigned queue_depth);
Opened open_libaio(unsigned queue_depth);
Opened open_posix_aio(unsigned queue_depth);
Opened open_sync(unsigned queue_depth);

/// True if this build has the engine.
bool built(EngineKind kind) noexcept;
/// Opens a concrete engine (not automatic). Throws Failure (engine_unavailable if not
/// built, else the errno of opening it).
std::unique_ptr<Engine> open_concrete(EngineKind kind, unsigned queue_depth);

/// An idle engine of `kind` kept by the calling thread for operations that run to
/// completion (extension, flush): opening one costs a ring setup, or for libaio an
/// io_destroy that waits tens of milliseconds for the kernel. Opened at first use (queue
/// depth 64), again after fork(). Throws Failure like open_concrete().
Engine& thread_engine(EngineKind kind);

/// What probing found for one engine in this process: probed at first need, once per
/// process (again in a fork()ed child).
const ProbeResult& probe_cached(EngineKind kind);
/// choose() for the library: throws Failure.
Choice choose_or_throw(EngineKind requested);

/// -EINVAL if the request is malformed for its op (bad length, missing buffer), else 0.
int check_request(const Request& r) noexcept;
/// check_request() over a batch, and -EOPNOTSUPP for an op `engine` does not support: what
/// every engine's submit() checks before it starts anything.
int check_batch(const Engine& engine, std::span<const Request> batch) noexcept;
/// Runs one request synchronously: bytes moved, 0, or -errno. Retries EINTR.
std::int64_t run_now(const Request& r) noexcept;

/// Throwing cores of the public operations (Failure, not Error).
void extend_or_throw(Engine& engine, int fd, std::uint64_t from, std::uint64_t to,
                     const std::filesystem::path& what, ExtendMethod method);
void flush_or_throw(Engine& engine, int fd, const std::filesystem::path& what, bool data_only);
void prefault_or_throw(void* addr, std::size_t length, const PrefaultOptions& options);
/// Starts a background prefault; `owner` is the pid whose waits are meaningful.
std::shared_ptr<PrefaultState> start_prefault(void* addr, std::size_t length, const PrefaultOptions& options,
                                              std::shared_ptr<void> keep_alive);
/// Cancels and waits for a job started by this process (no-op for another process's job,
/// inherited through fork(): its thread does not exist here).
void cancel_and_wait(PrefaultState& state) noexcept;

}  // namespace io::detail
SHMREGION_NAMESPACE_END
