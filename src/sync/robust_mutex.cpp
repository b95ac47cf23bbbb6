#include "sync/robust_mutex.hpp"

#include "format/header.hpp"
#include "sys/failure.hpp"

#include <linux/futex.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <string>

namespace shmregion::detail {

void robust_mutex_init(pthread_mutex_t* m) {
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0) rc = region_mutex_attributes(&a);
    if (rc == 0) rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) throw_errno(rc, "pthread_mutex_init (robust, process-shared)");
}

namespace {

std::string region_of(const std::filesystem::path& file) {
    return file.empty() ? std::string("region lock") : "region lock of " + file.string();
}

[[noreturn]] void corrupt_mutex(const std::filesystem::path& file, const std::string& why) {
    throw_failure(errc::header_corrupt, file,
                  "header of " + (file.empty() ? std::string("the region") : file.string()) + ": field 'mutex' " + why);
}

}  // namespace

LockOutcome robust_mutex_lock(pthread_mutex_t* m, std::optional<std::chrono::steady_clock::time_point> deadline,
                              const std::filesystem::path& file) {
    // One load: a mutex whose robust bit was flipped off would hang every locker after
    // its holder's death, silently. Refuse it instead.
    if (!region_mutex_kind_ok(m)) corrupt_mutex(file, region_mutex_kind_problem(m));
    int rc;
    if (deadline) {
        // steady_clock is CLOCK_MONOTONIC on Linux; clocklock measures the same clock.
        auto since = deadline->time_since_epoch();
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
        timespec ts{};
        ts.tv_sec = static_cast<time_t>(secs.count());
        ts.tv_nsec = static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count());
        rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
    } else {
        rc = pthread_mutex_lock(m);
    }
    switch (rc) {
        case 0: return LockOutcome::acquired;
        case EOWNERDEAD: return LockOutcome::owner_died;
        case ETIMEDOUT:
            throw_failure(errc::lock_timeout, file, region_of(file) + ": timed out waiting for the holder");
        case ENOTRECOVERABLE:
            throw_failure(errc::lock_not_recoverable, file,
                          region_of(file) + ": a holder died and the lock was never made consistent");
        case EDEADLK: throw_errno(rc, region_of(file) + ": this thread already holds it");
        case EINVAL: corrupt_mutex(file, "is not a usable mutex (pthread_mutex_lock: Invalid argument)");
        default: throw_errno(rc, region_of(file));
    }
}

void robust_mutex_consistent(pthread_mutex_t* m) noexcept { pthread_mutex_consistent(m); }

int robust_mutex_unlock(pthread_mutex_t* m) noexcept { return pthread_mutex_unlock(m); }

MutexPeek robust_mutex_peek(const pthread_mutex_t* m) noexcept {
    // glibc keeps the futex word in __data.__lock: the owner's TID, plus FUTEX_OWNER_DIED
    // when the kernel found the owner dead. Reading it writes nothing.
    int word = std::atomic_ref<int>(const_cast<int&>(m->__data.__lock)).load(std::memory_order_acquire);
    MutexPeek p;
    p.owner_tid = word & FUTEX_TID_MASK;
    p.owner_died = (word & FUTEX_OWNER_DIED) != 0;
    return p;
}

}  // namespace shmregion::detail
