// The lock table of a region header: robust shared/exclusive locks (docs/format.md, "Lock
// table"; docs/architecture.md, "Locks").
//
// Each lock is a robust pthread mutex plus a 64-bit lock word:
//   - An exclusive holder holds the mutex, and then waits until the word counts no share.
//     The kernel reports its death to the next locker (EOWNERDEAD) at once, as for the
//     region lock; the word's kShareOwnerDied bit keeps that knowledge until a holder calls
//     mark_consistent().
//   - A shared holder adds one to the word, then looks at the mutex: free, it is in (one
//     atomic add, one load), and learns of a death from the word as it reads after that
//     look; held, it takes its share back and queues on the mutex, adding its share while
//     it holds the mutex. Writer and reader each write, then read the other's
//     word (a Dekker pair): at least one of them sees the other.
//   - Every share is also counted in the holder's share record (one 16-bit record per
//     attacher slot and lock, written only by that attach), marked busy while the record and
//     the word disagree. A writer waiting for shares to drain sleeps on the word's low half
//     (futex) at most a few ms at a time and then looks for shares of dead slots: it clears
//     their records and recounts the word from the records of the live slots, at a moment
//     when no live record is busy and the word's sequence did not move (so no share was
//     taken or released meanwhile). Nobody polls while nobody waits.
//
// Not synchronised per attach: the records of one attach are written without atomics, so
// one attach's lock operations must not run on several threads at once (as for Region).
#pragma once

#include "format/header.hpp"
#include "sync/robust_mutex.hpp"
#include "sys/fork_safety.hpp"

#include <linux/futex.h>

#include <atomic>
#include <cstdint>
#include <filesystem>

namespace shmregion::detail {

/// One attach's view of its region's lock table. Sizes come from the validated header copy.
struct LockTable {
    RegionHeader* hdr = nullptr;
    LockTableLayout layout;
    std::uint32_t count = 0;       ///< locks in the table
    std::uint32_t slots = 0;       ///< attacher slots (rows of records)
    std::uint32_t own_slot = 0;    ///< this attach's slot (its row of records)
    int lock_fd = -1;              ///< the descriptor carrying slot liveness locks, -1 without a file
    const std::filesystem::path* file = nullptr;  ///< names the region in messages

    LockEntry* entries = nullptr;  ///< the table (set by set_own_slot / setup)
    ShareRecord* own_row = nullptr;  ///< this attach's records; nullptr without a slot

    LockEntry& entry(std::uint32_t i) const noexcept { return entries[i]; }
    ShareRecord& record(std::uint32_t slot, std::uint32_t i) const noexcept { return *record_at(hdr, layout, slot, i); }
    ShareRecord& mine(std::uint32_t i) const noexcept { return own_row[i]; }
    /// Points entries and own_row at the mapped header (after hdr, layout or own_slot change).
    void setup() noexcept {
        entries = count ? lock_at(hdr, layout, 0) : nullptr;
        own_row = (count && own_slot < slots) ? record_at(hdr, layout, own_slot, 0) : nullptr;
    }
};

/// Initialises the table of a fresh header (all zero): every mutex.
void lock_table_init(RegionHeader& h, const LockTableLayout& l, std::uint32_t count);

/// Outcome of an acquisition: held (owner_died: the lock word says an exclusive holder died
/// and nobody marked it consistent since), or busy (a try found it held, or time ran out).
struct Acquired {
    bool held = false;
    bool owner_died = false;
};

// Out of line: the slow paths.
/// exclusive_acquire() after the mutex attempt said `got` (or before it, for `upgrade`).
Acquired exclusive_acquire_slow(const LockTable& t, std::uint32_t i, const Wait& wait, LockOutcome got);
Acquired shared_acquire_slow(const LockTable& t, std::uint32_t i, const Wait& wait);
[[noreturn]] void throw_too_many_shares(const LockTable& t, std::uint32_t i);
[[noreturn]] void throw_upgrade(const LockTable& t, std::uint32_t i);

inline std::atomic_ref<std::uint64_t> lock_word(LockEntry& e) noexcept { return std::atomic_ref<std::uint64_t>(e.word); }
inline unsigned char* entry_bytes(LockEntry& e) noexcept { return reinterpret_cast<unsigned char*>(&e); }
inline void wake_writer(LockEntry& e) noexcept { wake_writer(&e.word); }

// The uncontended paths are the inline ones (shmregion/detail/inline_locks.hpp: exclusive_try,
// shared_try, shared_give_back, after_mutex_fence, the kFast* results), which the public
// Region calls compile into their callers; here they are given a table and an index.

/// The uncontended exclusive acquisition, never waiting or throwing (exclusive_try()).
[[gnu::always_inline]] inline int exclusive_fast(const LockTable& t, std::uint32_t i, bool& died) noexcept {
    return exclusive_try(entry_bytes(t.entry(i)), region_mutex_kind_wanted(), died);
}

/// The rest of an exclusive acquisition after exclusive_fast() returned `fast`.
Acquired exclusive_acquire_from(const LockTable& t, std::uint32_t i, const Wait& wait, int fast);

/// The uncontended shared acquisition, never waiting or throwing (shared_try()): false if
/// the full path is needed; nothing is changed then.
[[gnu::always_inline]] inline bool shared_fast(const LockTable& t, std::uint32_t i, bool& died) noexcept {
    return shared_try(entry_bytes(t.entry(i)), t.mine(i), died);
}

/// Lock i exclusively: exclusive_fast(), else the full path.
inline Acquired exclusive_acquire(const LockTable& t, std::uint32_t i, const Wait& wait) {
    bool died = false;
    const int fast = exclusive_fast(t, i, died);
    if (fast == kFastHeld) return {true, died};
    return exclusive_acquire_from(t, i, wait, fast);
}

/// Releases an exclusive hold: 0, or EPERM if the calling thread does not hold the mutex.
[[gnu::always_inline]] inline int exclusive_release(const LockTable& t, std::uint32_t i) noexcept {
    return robust_mutex_unlock(&t.entry(i).mutex);
}

/// A share of lock i: shared_fast(), else queued on the mutex (shared_acquire_slow).
inline Acquired shared_acquire(const LockTable& t, std::uint32_t i, const Wait& wait) {
    if ((record_ref(t.mine(i)).load(std::memory_order_relaxed) & kRecordCountMask) == kRecordCountMask) [[unlikely]]
        throw_too_many_shares(t, i);
    bool died = false;
    if (shared_fast(t, i, died)) return {true, died};
    return shared_acquire_slow(t, i, wait);
}

/// Releases one share of lock i held by this attach. No-op if it holds none.
[[gnu::always_inline]] inline void shared_release(const LockTable& t, std::uint32_t i) noexcept {
    shared_give_back(entry_bytes(t.entry(i)), t.mine(i));
}

/// Releases every share of lock i this attach holds (detach). Returns how many.
std::uint32_t shared_release_all(const LockTable& t, std::uint32_t i) noexcept;

/// Clears kShareOwnerDied: later acquisitions no longer report the death.
inline void lock_mark_consistent(const LockTable& t, std::uint32_t i) noexcept {
    lock_word(t.entry(i)).fetch_and(~kShareOwnerDied, std::memory_order_seq_cst);
}

/// With nobody attached or joining (a lone joiner): every share counted belongs to an
/// attacher that is gone, and a mutex still recording a holder was left by one the kernel
/// never saw die (the file outlived a reboot). Clears the records and counts, and starts
/// such mutexes afresh (the death is recorded as the kernel would have reported it).
void lock_table_reset_when_alone(const LockTable& t) noexcept;

/// True if slot `slot` holds (or is changing) a share of any lock.
bool slot_has_shares(const LockTable& t, std::uint32_t slot) noexcept;

/// For a dead slot: releases its shares of every lock whose mutex can be had without
/// waiting (never blocks: the caller may hold the region lock). True if none is left.
bool release_dead_shares(const LockTable& t, std::uint32_t slot) noexcept;

}  // namespace shmregion::detail
