// The uncontended lock and unlock paths, compiled into the caller (not for applications).
//
// A lock is the hot path of every database built on shmregion, so Region::lock(), lock(i),
// try_lock(i), lock_shared(i), try_lock_shared(i) and the guards' unlock run their
// uncontended case here, inline: a call into the library costs as much again as the mutex
// itself (docs/performance.md, "Locks"). Anything else (waiting, a dead holder, a growth to
// map, an error, a fork()ed child, a detached Region) goes to the library.
//
// The inline code reads and writes an InlineLocks, the part of an attach the library keeps
// for it, and the lock table's first bytes (docs/format.md, "Lock table"). A library whose
// protocol is not the one compiled in here (kInlineProtocol) leaves InlineLocks::protocol
// at 0 or at its own number, and the inline code then always calls the library.
#pragma once

#include <shmregion/export.h>
#include <shmregion/version.hpp>

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace shmregion::detail {
struct InlineLocks;
}

SHMREGION_NAMESPACE_BEGIN
/// The library's side of the inline lock paths: exported, so part of the ABI (and versioned
/// with it by the inline namespace).
namespace inline_abi {
/// The process's pid as the library knows it (set again in a fork()ed child): getpid()
/// without a system call.
SHMREGION_API extern std::atomic<pid_t> g_current_pid;
/// Wakes a writer sleeping until the shares of the lock whose word this is drain.
SHMREGION_API void wake_writer(std::uint64_t* word) noexcept;
/// Frees an attach whose Region went before its last guard (called by that guard).
SHMREGION_API void free_orphaned(detail::InlineLocks* attach) noexcept;
}  // namespace inline_abi
SHMREGION_NAMESPACE_END

namespace shmregion::detail {
using inline_abi::free_orphaned;
using inline_abi::g_current_pid;
using inline_abi::wake_writer;

/// The version of everything in this header that the library and the inline code must
/// agree on: InlineLocks, GuardNode, the lock word and share record bits, the entry layout.
inline constexpr std::uint32_t kInlineProtocol = 1;

// ---- the lock table's layout (docs/format.md, "Lock table"; format/header.hpp checks it) --

/// Bytes per lock table entry; its robust mutex at offset 0, its lock word at kLockWordOffset.
inline constexpr std::size_t kLockEntryBytes = 128;
inline constexpr std::size_t kLockWordOffset = 48;
/// The lock word: shares held, "an exclusive holder died" (until mark_consistent()), "a
/// writer waits for the shares to drain", and a sequence bumped by every change of the count.
inline constexpr std::uint64_t kShareCountMask = (1ull << 28) - 1;
inline constexpr std::uint64_t kShareOwnerDied = 1ull << 30;
inline constexpr std::uint64_t kShareWriterWaiting = 1ull << 31;
inline constexpr std::uint64_t kShareSeqOne = 1ull << 32;
inline constexpr std::uint64_t kShareAcquire = kShareSeqOne + 1;  // fetch_add: +1 share
inline constexpr std::uint64_t kShareRelease = kShareSeqOne - 1;  // fetch_add: -1 share
/// One attach's count of its shares of one lock (written only by that attach), busy while
/// it and the lock word disagree.
using ShareRecord = std::uint16_t;
inline constexpr ShareRecord kRecordBusy = 0x8000;
inline constexpr ShareRecord kRecordCountMask = 0x7FFF;
/// The region header's flag "a region lock holder died, nobody marked it consistent yet".
inline constexpr std::uint32_t kFlagOwnerDiedUnreported = 1u << 1;

/// What exclusive_try() did: kFastHeld, kFastNotTried (the full path must look first),
/// kFastHeldWithShares (the mutex is ours, but shares must drain or a growth be mapped),
/// or else the nonzero result of pthread_mutex_trylock (EBUSY, EOWNERDEAD, ...).
inline constexpr int kFastHeld = 0;
inline constexpr int kFastNotTried = -1;
inline constexpr int kFastHeldWithShares = -2;

inline pthread_mutex_t* entry_mutex(unsigned char* entry) noexcept { return reinterpret_cast<pthread_mutex_t*>(entry); }
inline std::atomic_ref<std::uint64_t> entry_word(unsigned char* entry) noexcept {
    return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(entry + kLockWordOffset));
}
inline std::atomic_ref<ShareRecord> record_ref(ShareRecord& r) noexcept { return std::atomic_ref<ShareRecord>(r); }

/// The writer's half of the Dekker pair: its mutex acquisition (a locked instruction on
/// x86-64, a full barrier) must be ordered before its load of the lock word. Elsewhere
/// glibc's acquire-only compare-and-swap does not order its store before a later load.
inline void after_mutex_fence() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    std::atomic_signal_fence(std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

/// The mutex's kind word (glibc's): a mutex whose robust bit was flipped off would hang
/// every locker after its holder's death, silently, so a wrong kind takes the full path,
/// which refuses it.
inline bool mutex_kind_is(const pthread_mutex_t* m, int kind) noexcept {
    return std::atomic_ref<int>(const_cast<int&>(m->__data.__kind)).load(std::memory_order_relaxed) == kind;
}

// ---- one lock, given its entry and this attach's record -------------------------------------

/// The uncontended exclusive acquisition, never waiting: the kind check, one trylock, a load
/// of the lock word. `died`: the word says an exclusive holder died (until mark_consistent()).
/// Shares held by this very attach (an upgrade, refused) count as shares: the full path
/// looks at the attach's record (it is not read here: one load fewer).
[[gnu::always_inline]] inline int exclusive_try(unsigned char* entry, int kind, bool& died) noexcept {
    pthread_mutex_t* m = entry_mutex(entry);
    if (!mutex_kind_is(m, kind)) [[unlikely]]
        return kFastNotTried;
    const int rc = pthread_mutex_trylock(m);
    if (rc != 0) [[unlikely]]
        return rc;
    after_mutex_fence();
    const std::uint64_t v = entry_word(entry).load(std::memory_order_seq_cst);
    if ((v & kShareCountMask) != 0) [[unlikely]]
        return kFastHeldWithShares;
    died = (v & kShareOwnerDied) != 0;
    return kFastHeld;
}

/// The uncontended shared acquisition, never waiting: false if the full path is needed (a
/// writer holds or waits, the record is full); nothing is changed then. One atomic add on
/// the word, one load of the mutex's futex word (the reader's half of the Dekker pair).
[[gnu::always_inline]] inline bool shared_try(unsigned char* entry, ShareRecord& mine, bool& died) noexcept {
    auto rec = record_ref(mine);
    const ShareRecord c = rec.load(std::memory_order_relaxed) & kRecordCountMask;
    if (c == kRecordCountMask) [[unlikely]]
        return false;
    rec.store(static_cast<ShareRecord>(c | kRecordBusy), std::memory_order_relaxed);
    const std::uint64_t old = entry_word(entry).fetch_add(kShareAcquire, std::memory_order_seq_cst);
    // Already a holder: our own share keeps every writer out, so another is safe at once, in
    // at the add itself. Otherwise in once the mutex is seen free.
    if (c != 0 || std::atomic_ref<int>(entry_mutex(entry)->__data.__lock).load(std::memory_order_seq_cst) == 0) [[likely]] {
        rec.store(static_cast<ShareRecord>(c + 1), std::memory_order_release);
        // The word as it was when we got in: `old` for a holder; for a new reader, the word
        // read again after the look at the mutex, not `old`. Between the add and that look (a
        // preemption, say) another locker may have taken a dead holder's mutex, recorded the
        // death and let the mutex go (old lacks the bit), or repaired and marked it
        // consistent (old still has it). Same cache line, just written.
        const std::uint64_t in = c != 0 ? old : entry_word(entry).load(std::memory_order_acquire);
        died = (in & kShareOwnerDied) != 0;
        return true;
    }
    // A writer holds the mutex (or its holder died): take the share back.
    const std::uint64_t back = entry_word(entry).fetch_add(kShareRelease, std::memory_order_seq_cst);
    rec.store(c, std::memory_order_release);
    if ((back & kShareWriterWaiting) && (back & kShareCountMask) == 1)
        wake_writer(reinterpret_cast<std::uint64_t*>(entry + kLockWordOffset));
    return false;
}

/// Releases one share held by this attach (no-op if it holds none), waking a writer that
/// waits for the last one.
[[gnu::always_inline]] inline void shared_give_back(unsigned char* entry, ShareRecord& mine) noexcept {
    auto rec = record_ref(mine);
    const ShareRecord c = rec.load(std::memory_order_relaxed) & kRecordCountMask;
    if (c == 0) return;
    rec.store(static_cast<ShareRecord>((c - 1) | kRecordBusy), std::memory_order_relaxed);
    const std::uint64_t old = entry_word(entry).fetch_add(kShareRelease, std::memory_order_seq_cst);
    rec.store(static_cast<ShareRecord>(c - 1), std::memory_order_release);
    if ((old & kShareWriterWaiting) && (old & kShareCountMask) == 1)
        wake_writer(reinterpret_cast<std::uint64_t*>(entry + kLockWordOffset));
}

// ---- an attach -------------------------------------------------------------------------------

/// The part of an attach the inline paths use; the library (RegionImpl) keeps it current
/// and sets `protocol` to kInlineProtocol only while the attach is mapped.
struct InlineLocks {
    std::uint32_t protocol = 0;   ///< kInlineProtocol while the inline paths may run
    pid_t owner_pid = 0;          ///< the process this attach belongs to
    int mutex_kind = 0;           ///< the kind word every mutex of the region must carry
    std::uint32_t count = 0;      ///< locks in the lock table
    pthread_mutex_t* region_mutex = nullptr;
    std::uint64_t* generation_word = nullptr;  ///< the header's generation
    std::uint64_t generation = 0;              ///< the generation this attach has mapped
    std::uint32_t* flags_word = nullptr;       ///< the header's flags
    unsigned char* entries = nullptr;          ///< the lock table
    ShareRecord* own_row = nullptr;            ///< this attach's share records
    std::uint8_t* exclusive_held = nullptr;    ///< per lock: held exclusively through a guard
    std::uint32_t guard_count = 0;             ///< guards alive that point here
    bool region_lock_held = false;             ///< the region lock is held through a guard
    bool orphaned = false;                     ///< the Region went first: the last guard frees it

    unsigned char* entry(std::uint32_t i) const noexcept { return entries + std::size_t{i} * kLockEntryBytes; }
    /// The inline paths may run: a mapped attach of this process, of this protocol.
    bool ready() const noexcept {
        // protocol and owner_pid are the first 8 bytes: one 8-byte compare for both.
        std::uint64_t have;
        __builtin_memcpy(&have, this, sizeof have);
        const auto pid = static_cast<std::uint32_t>(g_current_pid.load(std::memory_order_relaxed));
        std::uint64_t want;
        const std::uint32_t parts[2] = {kInlineProtocol, pid};
        __builtin_memcpy(&want, parts, sizeof want);
        return have == want;
    }
};

static_assert(offsetof(InlineLocks, protocol) == 0 && offsetof(InlineLocks, owner_pid) == 4 &&
              sizeof(pid_t) == 4);

inline constexpr std::uint32_t kRegionLockIndex = 0xFFFFFFFFu;

/// What a guard holds. The attach counts its guards and outlives them (a Region destroyed
/// before its guards leaves its attach to the last of them), so a guard never points at
/// freed memory; detach() releases the attach's locks itself, and its guards then hold
/// nothing.
struct GuardNode {
    InlineLocks* impl = nullptr;  ///< the attach; nullptr: holds nothing
    std::uint32_t index = 0;      ///< lock table index, or kRegionLockIndex
    bool shared = false;
    bool owner_died = false;
    pid_t owner_pid = 0;          ///< a copy inherited through fork() must not unlock
};

/// Fills a guard's node for a lock just acquired and counts it.
[[gnu::always_inline]] inline void hold(InlineLocks* a, GuardNode& n, std::uint32_t index, bool shared, bool died) noexcept {
    n.impl = a;
    n.index = index;
    n.shared = shared;
    n.owner_died = died;
    n.owner_pid = a->owner_pid;
    ++a->guard_count;
    if (index == kRegionLockIndex) a->region_lock_held = true;
    else if (!shared) a->exclusive_held[index] = 1;
}

/// Lets a guard go; the last guard of an orphaned attach frees it.
[[gnu::always_inline]] inline void forget(GuardNode& n) noexcept {
    InlineLocks* a = n.impl;
    n.impl = nullptr;
    if (--a->guard_count == 0 && a->orphaned) [[unlikely]]
        free_orphaned(a);
}

/// The region lock, uncontended: true if `n` now holds it. Otherwise `rc` says what the
/// trylock said (-1: not tried; kFastHeldWithShares: held, but a growth must be mapped).
[[gnu::always_inline]] inline bool region_lock_try(InlineLocks* a, GuardNode& n, int& rc) noexcept {
    rc = -1;
    if (!a || !a->ready() || !mutex_kind_is(a->region_mutex, a->mutex_kind)) [[unlikely]]
        return false;
    rc = pthread_mutex_trylock(a->region_mutex);
    if (rc != 0) [[unlikely]]
        return false;
    if (std::atomic_ref<std::uint64_t>(*a->generation_word).load(std::memory_order_acquire) != a->generation) [[unlikely]] {
        rc = kFastHeldWithShares;  // held; the full path maps the growth
        return false;
    }
    hold(a, n, kRegionLockIndex, false, (*a->flags_word & kFlagOwnerDiedUnreported) != 0);
    return true;
}

/// Lock `index` exclusively, uncontended: true if `n` now holds it; else `fast` says what
/// was done (exclusive_try()'s result, kFastNotTried when nothing was).
[[gnu::always_inline]] inline bool exclusive_lock_try(InlineLocks* a, std::uint32_t index, GuardNode& n, int& fast) noexcept {
    fast = kFastNotTried;
    if (!a || !a->ready() || index >= a->count) [[unlikely]]
        return false;
    bool died = false;
    fast = exclusive_try(a->entry(index), a->mutex_kind, died);
    if (fast != kFastHeld) [[unlikely]]
        return false;
    hold(a, n, index, false, died);
    return true;
}

/// A share of lock `index`, uncontended: true if `n` now holds it.
[[gnu::always_inline]] inline bool shared_lock_try(InlineLocks* a, std::uint32_t index, GuardNode& n) noexcept {
    if (!a || !a->ready() || index >= a->count) [[unlikely]]
        return false;
    bool died = false;
    if (!shared_try(a->entry(index), a->own_row[index], died)) [[unlikely]]
        return false;
    hold(a, n, index, true, died);
    return true;
}

/// Releases what `n` holds in the mapped attach `a`, for a caller that checked `n` belongs to
/// this process: 0, or what pthread_mutex_unlock said (EPERM: another thread's lock, still
/// held). The guard itself is left to the caller (forget()).
[[gnu::always_inline]] inline int release_held(InlineLocks* a, const GuardNode& n) noexcept {
    if (n.shared) {
        shared_give_back(a->entry(n.index), a->own_row[n.index]);
    } else if (n.index == kRegionLockIndex) {
        if (const int rc = pthread_mutex_unlock(a->region_mutex); rc != 0) [[unlikely]]
            return rc;
        a->region_lock_held = false;
    } else {
        if (const int rc = pthread_mutex_unlock(entry_mutex(a->entry(n.index))); rc != 0) [[unlikely]]
            return rc;
        a->exclusive_held[n.index] = 0;
    }
    return 0;
}

/// Releases what `n` holds and lets it go: true if done here; false if the library must
/// (n unchanged): a detached attach, a copy inherited through fork(), an unlock refused.
[[gnu::always_inline]] inline bool release_try(GuardNode& n) noexcept {
    InlineLocks* a = n.impl;
    // Made by this process (not a copy inherited through fork()), and still mapped.
    if (a->protocol != kInlineProtocol || n.owner_pid != g_current_pid.load(std::memory_order_relaxed)) [[unlikely]]
        return false;
    if (release_held(a, n) != 0) [[unlikely]]
        return false;
    forget(n);
    return true;
}

}  // namespace shmregion::detail
