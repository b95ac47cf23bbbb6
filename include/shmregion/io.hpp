// shmregion: the I/O engines as a user sees them. Region extension, prefault and flush go
// through an asynchronous I/O engine (io_uring, libaio, POSIX AIO, or synchronous calls),
// chosen at attach (Options::io_engine, SHMREGION_IO_ENGINE, or the first that works here).
// What is declared here is what a database or an operator needs: the engine kinds, which
// of them run here and which one an attach would use (for reporting, as regiontool stat
// and doctor do), and the handle of a background prefault (Region::prefault_async). The
// engines themselves are internal to the library.
//
// Which engines are built is a configure-time choice (SHMREGION_WITH_LIBURING,
// SHMREGION_WITH_LIBAIO); which of them run here is found at run time by probing: io_uring
// is often forbidden by seccomp (EPERM, ENOSYS) or by kernel.io_uring_disabled, and
// io_setup() fails with EAGAIN when fs.aio-max-nr is exhausted. An engine asked for by
// name that cannot run is an error (errc::engine_unavailable), never a silent fallback.
#pragma once

#include <shmregion/version.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

SHMREGION_NAMESPACE_BEGIN
namespace io {

/// The numeric values may be reported by tools; never renumber.
enum class EngineKind : std::uint32_t {
    automatic = 0,  ///< the first of uring, libaio, posix, sync that works here
    uring = 1,      ///< io_uring through liburing
    libaio = 2,     ///< Linux native AIO (io_submit/io_getevents)
    posix = 3,      ///< POSIX AIO (lio_listio; glibc runs it on its own threads)
    sync = 4,       ///< plain system calls: always works, the fallback
};

/// "auto", "uring", "libaio", "posix" or "sync".
SHMREGION_API std::string_view to_string(EngineKind kind) noexcept;
/// Parses the names above (also "io_uring" and "posix_aio"); false for anything else.
SHMREGION_API bool parse_engine(std::string_view text, EngineKind& out) noexcept;

/// What probing found out about one engine in this process.
struct ProbeResult {
    EngineKind kind = EngineKind::sync;  ///< the engine probed
    bool built = false;  ///< compiled into this build
    bool works = false;  ///< opened and completed a real request here
    /// Why it does not work ("io_uring_setup: Operation not permitted (seccomp or
    /// kernel.io_uring_disabled)"), or what it is ("io_uring, 5 of 5 operations").
    std::string detail;
};

/// Probes every engine now, in preference order (uring, libaio, posix, sync). Uncached.
SHMREGION_API std::vector<ProbeResult> probe();

/// The outcome of choosing an engine.
struct Choice {
    EngineKind engine = EngineKind::sync;  ///< the engine chosen
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
SHMREGION_API Choice choose(EngineKind requested = EngineKind::automatic);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API Choice choose(EngineKind requested, std::error_code& ec) noexcept;

/// What a prefault is doing; shared by the worker and every PrefaultHandle.
class PrefaultState;

/// A prefault running in the background (Region::prefault_async, Options::prefault =
/// Prefault::background). Copies share one job. The region stays usable while it runs: a
/// populated page keeps its bytes. Destroying handles does not stop the job; cancel() does
/// (at the next chunk), and Region::detach() cancels and waits for the jobs of its attach.
class SHMREGION_API PrefaultHandle {
public:
    PrefaultHandle() noexcept = default;
    /// The library makes handles; there is no way to make a PrefaultState outside it.
    explicit PrefaultHandle(std::shared_ptr<PrefaultState> state) noexcept : state_(std::move(state)) {}

    /// False for a default-constructed handle (no job).
    bool valid() const noexcept { return state_ != nullptr; }
    /// True once the job finished, failed or was cancelled (true if !valid(), and in a
    /// fork()ed child, where the job's thread does not exist: error() says wrong_process).
    bool done() const noexcept;
    /// Bytes made resident so far.
    std::uint64_t bytes_done() const noexcept;
    /// Bytes the job makes resident in all.
    std::uint64_t bytes_total() const noexcept;
    /// Blocks until done. Throws shmregion::Error if the job failed (operation "prefault");
    /// a cancelled job reports std::errc::operation_canceled.
    void wait() const;
    /// As wait(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    void wait(std::error_code& ec) const noexcept;
    /// Waits at most `timeout`; true if done.
    bool wait_for(std::chrono::milliseconds timeout) const noexcept;
    /// Asks the job to stop after the chunks in progress. Returns at once.
    void cancel() const noexcept;
    /// The job's outcome once done(); empty while running or after success.
    std::error_code error() const noexcept;

private:
    std::shared_ptr<PrefaultState> state_;
};

}  // namespace io
SHMREGION_NAMESPACE_END
