#include "sync/lock_table.hpp"

#include "sync/liveness.hpp"
#include "sys/failure.hpp"
#include "sys/fork_safety.hpp"
#include "sys/os.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>
#include <string>
#include <thread>

namespace shmregion::detail {
namespace {

using Clock = std::chrono::steady_clock;

/// The futex a draining writer sleeps on: the low half of the lock word (counts and flags).
std::uint32_t* futex_of(std::uint64_t* word) noexcept {
    auto* p = reinterpret_cast<std::uint32_t*>(word);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    ++p;
#endif
    return p;
}

/// Sleeps on the word's low half while it still reads `expected`, until `until` at latest.
void futex_sleep(LockEntry& e, std::uint32_t expected, Clock::time_point until) noexcept {
    const timespec ts = monotonic_timespec(until);
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. Not FUTEX_PRIVATE_FLAG: the
    // word is shared between processes.
    ::syscall(SYS_futex, futex_of(&e.word), FUTEX_WAIT_BITSET, expected, &ts, nullptr, FUTEX_BITSET_MATCH_ANY);
}

/// Under lock i's mutex, acquired with EOWNERDEAD: the previous holder died. If it was an
/// exclusive holder, the death is recorded in the word and counted; a writer that died while
/// waiting for shares to drain, or a reader that held the mutex only to add its share, wrote
/// nothing (they mark that time in `transient`, so the uncontended path writes nothing).
void record_holder_death(LockEntry& e) noexcept {
    if (e.transient == 0) {
        lock_word(e).fetch_or(kShareOwnerDied, std::memory_order_seq_cst);
        ++e.exclusive_deaths;
    }
    e.transient = 0;
}

void exclusive_owner_died(LockEntry& e) noexcept {
    record_holder_death(e);
    // Only the mutex's holder waits for shares to drain: if it was waiting, it is gone.
    lock_word(e).fetch_and(~kShareWriterWaiting, std::memory_order_seq_cst);
    robust_mutex_consistent(&e.mutex);
}

/// Takes lock i's mutex as `wait` says; records a dead holder. False if busy.
bool take_mutex(const LockTable& t, std::uint32_t i, const Wait& wait) {
    LockEntry& e = t.entry(i);
    const LockOutcome out = robust_mutex_acquire(&e.mutex, wait, *t.file, i);
    if (out == LockOutcome::busy) return false;
    if (out == LockOutcome::owner_died) exclusive_owner_died(e);
    after_mutex_fence();
    return true;
}

/// Under lock i's mutex: drops the shares of slots whose attacher is dead, then recounts the
/// word from the live records. False if a live record stayed busy (a holder in the middle of
/// taking or releasing a share, perhaps stopped) so the word could not be recounted now.
bool sweep_dead_shares(const LockTable& t, std::uint32_t i) noexcept {
    LockEntry& e = t.entry(i);
    e.last_sweep_ns = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
    bool dropped = false;
    for (std::uint32_t s = 0; s < t.slots; ++s) {
        auto rec = record_ref(t.record(s, i));
        ShareRecord r = rec.load(std::memory_order_acquire);
        if (r == 0) continue;
        // A slot with records is never reused (take_free_slot), so what it says stays its own.
        const AttacherSlot& a = *slot_at(t.hdr, s);
        const std::uint32_t state = load_acquire(a.state);
        if (state == kSlotInUse && (s == t.own_slot || slot_alive(a, s, t.lock_fd))) continue;
        // Dead, or it left meanwhile (then it released its shares first: the exchange fails
        // and nothing is counted; the recount below sees the truth either way).
        if (!rec.compare_exchange_strong(r, 0, std::memory_order_acq_rel)) continue;
        e.shared_deaths += r & kRecordCountMask;
        dropped = true;
    }
    if (!dropped && (lock_word(e).load() & kShareCountMask) == 0) return true;
    // Recount: the word's count must equal the sum of the records. Two reads of the word
    // around the scan (its sequence moves with every share taken or released) and no busy
    // record in between: that sum is the live shares at that moment.
    for (int attempt = 0; attempt < 64; ++attempt) {
        const std::uint64_t before = lock_word(e).load(std::memory_order_seq_cst);
        std::uint64_t sum = 0;
        bool busy = false;
        for (std::uint32_t s = 0; s < t.slots && !busy; ++s) {
            const ShareRecord r = record_ref(t.record(s, i)).load(std::memory_order_acquire);
            busy = (r & kRecordBusy) != 0;
            sum += r & kRecordCountMask;
        }
        const std::uint64_t after = lock_word(e).load(std::memory_order_seq_cst);
        if (!busy && before == after) {
            if ((before & kShareCountMask) == sum) return true;
            std::uint64_t expected = before;
            const std::uint64_t fixed = ((before & ~kShareCountMask) + kShareSeqOne) | sum;
            if (lock_word(e).compare_exchange_strong(expected, fixed, std::memory_order_seq_cst)) return true;
        }
        std::this_thread::yield();
    }
    return false;
}

/// Under lock i's mutex: waits until no share is held. False if `wait` ran out first.
bool drain_shares(const LockTable& t, std::uint32_t i, const Wait& wait) {
    LockEntry& e = t.entry(i);
    auto word = lock_word(e);
    // Shares are often held briefly: look a few times before sleeping.
    for (int spin = 0; spin < 100; ++spin) {
        if ((word.load() & kShareCountMask) == 0) return true;
        cpu_relax();
    }
    if (wait.kind == Wait::none) {
        // A try: look for dead holders, at most once per kRecheckPeriod per lock.
        // (A time ahead of now is another boot's, or a copied file's: sweep.)
        const auto last = Clock::time_point(Clock::duration(e.last_sweep_ns));
        const auto now = Clock::now();
        if (now < last || now - last >= kRecheckPeriod) sweep_dead_shares(t, i);
        return (word.load() & kShareCountMask) == 0;
    }
    auto sweep_every = std::chrono::milliseconds(1);  // then 2, 4, 8, and kRecheckPeriod
    auto next_sweep = Clock::now() + sweep_every;
    for (;;) {
        std::uint64_t v = word.load();
        if ((v & kShareCountMask) == 0) break;
        if (!(v & kShareWriterWaiting)) {
            word.fetch_or(kShareWriterWaiting);
            continue;  // look again before sleeping: the last share may have gone meanwhile
        }
        const auto now = Clock::now();
        if (wait.kind == Wait::until && now >= wait.deadline) {
            word.fetch_and(~kShareWriterWaiting);
            return false;
        }
        if (now >= next_sweep) {
            sweep_dead_shares(t, i);
            sweep_every = std::min<std::chrono::milliseconds>(sweep_every * 2, kRecheckPeriod);
            next_sweep = now + sweep_every;
            continue;
        }
        auto until = next_sweep;
        if (wait.kind == Wait::until && wait.deadline < until) until = wait.deadline;
        futex_sleep(e, static_cast<std::uint32_t>(v), until);
    }
    if (word.load() & kShareWriterWaiting) word.fetch_and(~kShareWriterWaiting);
    return true;
}

}  // namespace

void lock_table_init(RegionHeader& h, const LockTableLayout& l, std::uint32_t count) {
    for (std::uint32_t i = 0; i < count; ++i) robust_mutex_init(&lock_at(&h, l, i)->mutex);
}

void throw_too_many_shares(const LockTable& t, std::uint32_t i) {
    throw_failure(errc::invalid_options, *t.file,
                  lock_name(*t.file, i) + ": this attach already holds " + std::to_string(kRecordCountMask) +
                      " shares of it, the most one attach can hold");
}

void throw_upgrade(const LockTable& t, std::uint32_t i) {
    throw_errno(EDEADLK, lock_name(*t.file, i) + ": this attach holds it shared (a share cannot be upgraded)");
}

Acquired exclusive_acquire_from(const LockTable& t, std::uint32_t i, const Wait& wait, int fast) {
    // Shares of this very attach: an upgrade, refused before anything waits (a writer
    // waiting for them would wait for ever). The uncontended attempt does not look, so the
    // mutex it may have taken is given back first, a dead holder's death recorded.
    if (record_ref(t.mine(i)).load(std::memory_order_relaxed) & kRecordCountMask) {
        LockEntry& e = t.entry(i);
        if (fast == EOWNERDEAD) exclusive_owner_died(e);
        if (fast == kFastHeldWithShares || fast == EOWNERDEAD) robust_mutex_unlock(&e.mutex);
        throw_upgrade(t, i);
    }
    if (fast == kFastHeldWithShares) return exclusive_acquire_slow(t, i, wait, LockOutcome::acquired);
    if (fast == kFastNotTried) {
        return exclusive_acquire_slow(t, i, wait, robust_mutex_acquire(&t.entry(i).mutex, wait, *t.file, i));
    }
    return exclusive_acquire_slow(t, i, wait, robust_mutex_acquire_slow(&t.entry(i).mutex, wait, *t.file, i, fast));
}

Acquired exclusive_acquire_slow(const LockTable& t, std::uint32_t i, const Wait& wait, LockOutcome got) {
    LockEntry& e = t.entry(i);
    if (got == LockOutcome::busy) return {};
    if (got == LockOutcome::owner_died) exclusive_owner_died(e);
    after_mutex_fence();
    std::uint64_t v = lock_word(e).load(std::memory_order_seq_cst);
    if ((v & kShareCountMask) != 0) {
        e.transient = 1;  // not a holder yet: a death while draining wrote nothing
        bool drained = false;
        try {
            drained = drain_shares(t, i, wait);
        } catch (...) {
            e.transient = 0;
            robust_mutex_unlock(&e.mutex);
            throw;
        }
        e.transient = 0;  // from here a death is an exclusive holder's
        if (!drained) {
            robust_mutex_unlock(&e.mutex);
            return {};
        }
        v = lock_word(e).load(std::memory_order_seq_cst);
    }
    return {true, (v & kShareOwnerDied) != 0};
}

Acquired shared_acquire_slow(const LockTable& t, std::uint32_t i, const Wait& wait) {
    if (!take_mutex(t, i, wait)) return {};
    // Holding the mutex, no writer is in: add the share and let the mutex go.
    LockEntry& e = t.entry(i);
    auto rec = record_ref(t.mine(i));
    const ShareRecord c = rec.load(std::memory_order_relaxed) & kRecordCountMask;
    e.transient = 1;  // holding the mutex only to add a share: a death here wrote nothing
    rec.store(static_cast<ShareRecord>(c | kRecordBusy), std::memory_order_relaxed);
    const std::uint64_t old = lock_word(e).fetch_add(kShareAcquire, std::memory_order_seq_cst);
    rec.store(static_cast<ShareRecord>(c + 1), std::memory_order_release);
    e.transient = 0;
    robust_mutex_unlock(&e.mutex);
    return {true, (old & kShareOwnerDied) != 0};
}

std::uint32_t shared_release_all(const LockTable& t, std::uint32_t i) noexcept {
    LockEntry& e = t.entry(i);
    auto rec = record_ref(t.mine(i));
    const ShareRecord c = rec.load(std::memory_order_relaxed) & kRecordCountMask;
    if (c == 0) return 0;
    rec.store(static_cast<ShareRecord>(c | kRecordBusy), std::memory_order_relaxed);
    const std::uint64_t old = lock_word(e).fetch_add(kShareSeqOne - c, std::memory_order_seq_cst);
    rec.store(0, std::memory_order_release);
    if ((old & kShareWriterWaiting) && (old & kShareCountMask) == c) wake_writer(e);
    return c;
}

void lock_table_reset_when_alone(const LockTable& t) noexcept {
    for (std::uint32_t i = 0; i < t.count; ++i) {
        LockEntry& e = t.entry(i);
        if (robust_mutex_peek(&e.mutex).owner_tid != 0) {
            try {
                robust_mutex_init(&e.mutex);
            } catch (...) {  // cannot fail for a process-shared robust mutex on Linux
            }
            record_holder_death(e);
        }
        std::uint32_t shares = 0;
        for (std::uint32_t s = 0; s < t.slots; ++s) {
            shares += t.record(s, i) & kRecordCountMask;
            record_ref(t.record(s, i)).store(0);
        }
        e.shared_deaths += shares;
        e.last_sweep_ns = 0;
        const std::uint64_t w = lock_word(e).load();
        lock_word(e).store(((w & kShareOwnerDied) | (w & ~0xFFFFFFFFull)) + kShareSeqOne);
    }
}

bool slot_has_shares(const LockTable& t, std::uint32_t slot) noexcept {
    for (std::uint32_t i = 0; i < t.count; ++i)
        if (record_ref(t.record(slot, i)).load(std::memory_order_acquire) != 0) return true;
    return false;
}

bool release_dead_shares(const LockTable& t, std::uint32_t slot) noexcept {
    bool clean = true;
    for (std::uint32_t i = 0; i < t.count; ++i) {
        if (record_ref(t.record(slot, i)).load(std::memory_order_acquire) == 0) continue;
        bool have = false;
        try {
            have = take_mutex(t, i, Wait::try_only());
        } catch (...) {  // EDEADLK (this thread holds it), a corrupt mutex: leave it for later
        }
        if (!have) {
            clean = false;
            continue;
        }
        t.entry(i).transient = 1;  // holding the mutex only to sweep
        sweep_dead_shares(t, i);
        t.entry(i).transient = 0;
        robust_mutex_unlock(&t.entry(i).mutex);
        if (record_ref(t.record(slot, i)).load(std::memory_order_acquire) != 0) clean = false;
    }
    return clean;
}

}  // namespace shmregion::detail

SHMREGION_NAMESPACE_BEGIN
void inline_abi::wake_writer(std::uint64_t* word) noexcept {
    ::syscall(SYS_futex, detail::futex_of(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}
SHMREGION_NAMESPACE_END
