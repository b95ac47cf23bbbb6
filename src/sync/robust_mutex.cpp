#include "sync/robust_mutex.hpp"

#include "format/header.hpp"
#include "sys/failure.hpp"
#include "sys/os.hpp"

#include <linux/futex.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <string>

namespace shmregion::detail {

Wait Wait::within(std::chrono::nanoseconds timeout) noexcept {
    if (timeout <= std::chrono::nanoseconds::zero()) return try_only();
    const auto now = std::chrono::steady_clock::now();
    // A timeout too large to add is "practically forever".
    if (timeout > std::chrono::steady_clock::time_point::max() - now) return for_ever();
    return until_time(now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
}

std::string lock_name(const std::filesystem::path& file, std::uint32_t index) {
    std::string what = index == kRegionMutex ? std::string("region lock") : "lock " + std::to_string(index);
    return file.empty() ? what : what + " of " + file.string();
}

void robust_mutex_init(pthread_mutex_t* m) {
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0) rc = region_mutex_attributes(&a);
    if (rc == 0) rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) throw_errno(rc, "pthread_mutex_init (robust, process-shared)");
}

namespace {

[[noreturn]] void corrupt_mutex(const std::filesystem::path& file, std::uint32_t index, const std::string& why) {
    const std::string where = file.empty() ? std::string("the region") : file.string();
    const std::string field = index == kRegionMutex ? std::string("mutex") : "locks[" + std::to_string(index) + "].mutex";
    throw_failure(errc::header_corrupt, file, "header of " + where + ": field '" + field + "' " + why);
}

/// What a pthread lock call's result means; ETIMEDOUT and EBUSY are busy.
LockOutcome outcome(int rc, const std::filesystem::path& file, std::uint32_t index) {
    switch (rc) {
        case 0: return LockOutcome::acquired;
        case EOWNERDEAD: return LockOutcome::owner_died;
        case EBUSY:
        case ETIMEDOUT: return LockOutcome::busy;
        case ENOTRECOVERABLE:
            throw_failure(errc::lock_not_recoverable, file,
                          lock_name(file, index) + ": a holder died and the lock was never made consistent");
        case EDEADLK: throw_errno(rc, lock_name(file, index) + ": this thread already holds it");
        case EINVAL: corrupt_mutex(file, index, "is not a usable mutex (pthread_mutex_lock: Invalid argument)");
        default: throw_errno(rc, lock_name(file, index));
    }
}

}  // namespace

timespec monotonic_timespec(std::chrono::steady_clock::time_point t) noexcept {
    // steady_clock is CLOCK_MONOTONIC on Linux; clocklock measures the same clock.
    const auto since = t.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(secs.count());
    ts.tv_nsec = static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count());
    return ts;
}

namespace {

LockOutcome wait_for_mutex(pthread_mutex_t* m, const Wait& wait, const std::filesystem::path& file,
                           std::uint32_t index) {
    // Under contention most holds are short. Four more tries, spaced out by 16, 32, 64 and
    // 128 pauses that touch no memory (a few µs in all), before sleeping: the holder keeps
    // the mutex's cache line meanwhile, and a waiter that has not gone to sleep has not set
    // FUTEX_WAITERS, so the holder's unlock makes no futex_wake system call. glibc's robust
    // lock sleeps at once. Two contending processes: 1.9-2.0x the raw robust mutex's
    // throughput with this, 0.8-0.9x without; spinning on loads of the futex word instead
    // made it 0.65x, since each load takes the line from the holder (docs/performance.md).
    for (int pauses = 16; pauses <= 128; pauses *= 2) {
        cpu_relax(pauses);
        const LockOutcome out = outcome(pthread_mutex_trylock(m), file, index);
        if (out != LockOutcome::busy) return out;
    }
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (wait.kind == Wait::until && now >= wait.deadline) return LockOutcome::busy;
        auto wake = now + kRecheckPeriod;
        if (wait.kind == Wait::until && wait.deadline < wake) wake = wait.deadline;
        const timespec ts = monotonic_timespec(wake);
        const LockOutcome out = outcome(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts), file, index);
        if (out != LockOutcome::busy) return out;
        // Timed out: the holder is still there, or a wake-up was lost; look again.
    }
}

}  // namespace

LockOutcome robust_mutex_acquire_slow(pthread_mutex_t* m, const Wait& wait, const std::filesystem::path& file,
                                      std::uint32_t index, int trylock_rc) {
    if (trylock_rc == -1) corrupt_mutex(file, index, region_mutex_kind_problem(m));
    const LockOutcome out = outcome(trylock_rc, file, index);
    if (out != LockOutcome::busy || wait.kind == Wait::none) return out;
    return wait_for_mutex(m, wait, file, index);
}

LockOutcome robust_mutex_lock(pthread_mutex_t* m, std::optional<std::chrono::steady_clock::time_point> deadline,
                              const std::filesystem::path& file) {
    const LockOutcome out = robust_mutex_acquire(m, Wait::from(deadline), file);
    if (out == LockOutcome::busy)
        throw_failure(errc::lock_timeout, file, lock_name(file, kRegionMutex) + ": timed out waiting for the holder");
    return out;
}

void robust_mutex_consistent(pthread_mutex_t* m) noexcept { pthread_mutex_consistent(m); }


int robust_mutex_word(const pthread_mutex_t* m) noexcept {
    // glibc keeps the futex word in __data.__lock: the owner's TID, plus FUTEX_OWNER_DIED
    // when the kernel found the owner dead and FUTEX_WAITERS when someone sleeps on it.
    return std::atomic_ref<int>(const_cast<int&>(m->__data.__lock)).load(std::memory_order_seq_cst);
}

MutexPeek robust_mutex_peek(const pthread_mutex_t* m) noexcept {
    const int word = robust_mutex_word(m);
    MutexPeek p;
    p.owner_tid = word & FUTEX_TID_MASK;
    p.owner_died = (word & FUTEX_OWNER_DIED) != 0;
    return p;
}

}  // namespace shmregion::detail
