// A robust, process-shared, error-checking pthread mutex living in shared memory.
//
// Written on pthreads directly: Boost.Interprocess 1.74 has no robust mutex, and its
// interprocess_mutex would leave every other process blocked forever when a holder is
// killed. Owner death is reported as a value, never as an exception, so the caller can
// repair what the dead holder left half-done before marking the mutex consistent.
//
// Waiters never sleep unboundedly: glibc's unlock (and the kernel, when an owner dies)
// wakes one waiter, and a waiter killed right after that wake-up takes it with it, leaving
// the others asleep on a free mutex. So a waiter sleeps at most kRecheckPeriod at a time
// and looks again (pthread_mutex_clocklock), which bounds that loss without any process
// polling while nobody waits.
#pragma once

#include "format/header.hpp"

#include <pthread.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>

namespace shmregion::detail {

/// acquired / owner_died: held (owner_died: the previous holder died holding it; the caller
/// must call robust_mutex_consistent() before unlocking). busy: not acquired, because a
/// try found it held or the deadline passed.
enum class LockOutcome { acquired, owner_died, busy };

/// How long to wait: Wait::forever(), Wait::none() (a try), or until a CLOCK_MONOTONIC
/// deadline.
struct Wait {
    enum Kind { forever, none, until } kind = forever;
    std::chrono::steady_clock::time_point deadline{};
    static Wait for_ever() noexcept { return {}; }
    static Wait try_only() noexcept { return {none, {}}; }
    static Wait until_time(std::chrono::steady_clock::time_point t) noexcept { return {until, t}; }
    /// now + timeout (a timeout of zero or less is a try).
    static Wait within(std::chrono::nanoseconds timeout) noexcept;
    static Wait from(std::optional<std::chrono::steady_clock::time_point> d) noexcept {
        return d ? until_time(*d) : for_ever();
    }
};

/// The longest a waiter sleeps before it looks at the lock word again.
inline constexpr std::chrono::milliseconds kRecheckPeriod{10};

/// A CLOCK_MONOTONIC time (steady_clock on Linux) as the timespec of futex and clocklock.
timespec monotonic_timespec(std::chrono::steady_clock::time_point t) noexcept;

/// Names a lock in messages: "region lock of /var/db/jobs.region", "lock 3 of ...".
inline constexpr std::uint32_t kRegionMutex = 0xFFFFFFFFu;
std::string lock_name(const std::filesystem::path& file, std::uint32_t index);

/// Initialises a mutex in fresh shared memory with the format's attributes
/// (format/header.hpp, region_mutex_attributes). Throws Failure.
void robust_mutex_init(pthread_mutex_t* m);

/// Locks as `wait` says. `file` and `index` name the lock in messages. Throws Failure:
/// errc::lock_not_recoverable, errc::header_corrupt (the kind word is not ours, or pthreads
/// says EINVAL: the mutex bytes were overwritten), EDEADLK (this thread holds it already).
/// The uncontended path is a load and compare of the kind word and one pthread_mutex_trylock.
inline LockOutcome robust_mutex_acquire(pthread_mutex_t* m, const Wait& wait, const std::filesystem::path& file,
                                        std::uint32_t index = kRegionMutex);
/// The rest of robust_mutex_acquire, given what the first trylock returned (-1: not tried,
/// the kind word is wrong).
LockOutcome robust_mutex_acquire_slow(pthread_mutex_t* m, const Wait& wait, const std::filesystem::path& file,
                                      std::uint32_t index, int trylock_rc);

[[gnu::always_inline]] inline LockOutcome robust_mutex_acquire(pthread_mutex_t* m, const Wait& wait,
                                                               const std::filesystem::path& file, std::uint32_t index) {
    // One load: a mutex whose robust bit was flipped off would hang every locker after its
    // holder's death, silently. It is refused instead (in the slow path).
    if (!region_mutex_kind_ok(m)) [[unlikely]]
        return robust_mutex_acquire_slow(m, wait, file, index, -1);
    const int rc = pthread_mutex_trylock(m);
    if (rc == 0) [[likely]]
        return LockOutcome::acquired;
    return robust_mutex_acquire_slow(m, wait, file, index, rc);
}
/// As robust_mutex_acquire, but a deadline that passes is errc::lock_timeout (the library's
/// own waits: attach, detach, removal).
LockOutcome robust_mutex_lock(pthread_mutex_t* m, std::optional<std::chrono::steady_clock::time_point> deadline,
                              const std::filesystem::path& file);
void robust_mutex_consistent(pthread_mutex_t* m) noexcept;
/// 0, or EPERM when the calling thread does not hold it (error-checking mutex).
inline int robust_mutex_unlock(pthread_mutex_t* m) noexcept { return pthread_mutex_unlock(m); }

/// Read-only view of the lock word (glibc's futex word: owner TID and OWNER_DIED bit).
struct MutexPeek {
    int owner_tid = 0;       ///< 0 when free
    bool owner_died = false; ///< the kernel marked the previous owner dead
};
MutexPeek robust_mutex_peek(const pthread_mutex_t* m) noexcept;
/// The whole futex word (0: free, nobody died), for the lock table's readers.
int robust_mutex_word(const pthread_mutex_t* m) noexcept;

}  // namespace shmregion::detail
