// A robust, process-shared, error-checking pthread mutex living in shared memory.
//
// Written on pthreads directly: Boost.Interprocess 1.74 has no robust mutex, and its
// interprocess_mutex would leave every other process blocked forever when a holder is
// killed. Owner death is reported as a value, never as an exception, so the caller can
// repair what the dead holder left half-done before marking the mutex consistent.
#pragma once

#include <pthread.h>

#include <chrono>
#include <filesystem>
#include <optional>

namespace shmregion::detail {

enum class LockOutcome { acquired, owner_died };

/// Initialises a mutex in fresh shared memory with the format's attributes
/// (format/header.hpp, region_mutex_attributes). Throws Failure.
void robust_mutex_init(pthread_mutex_t* m);


/// Locks, waiting until `deadline` (CLOCK_MONOTONIC) if given, forever otherwise. `file`
/// names the region in messages. Throws Failure: errc::lock_timeout,
/// errc::lock_not_recoverable, errc::header_corrupt (the kind word is not ours, or pthreads
/// says EINVAL: the mutex bytes were overwritten), EDEADLK (this thread holds it already).
/// On owner_died the caller holds the lock and must call robust_mutex_consistent() before
/// unlocking, or the mutex becomes unrecoverable.
LockOutcome robust_mutex_lock(pthread_mutex_t* m, std::optional<std::chrono::steady_clock::time_point> deadline,
                              const std::filesystem::path& file);
void robust_mutex_consistent(pthread_mutex_t* m) noexcept;
/// 0, or EPERM when the calling thread does not hold it (error-checking mutex).
int robust_mutex_unlock(pthread_mutex_t* m) noexcept;

/// Read-only view of the lock word (glibc's futex word: owner TID and OWNER_DIED bit).
struct MutexPeek {
    int owner_tid = 0;       ///< 0 when free
    bool owner_died = false; ///< the kernel marked the previous owner dead
};
MutexPeek robust_mutex_peek(const pthread_mutex_t* m) noexcept;

}  // namespace shmregion::detail
