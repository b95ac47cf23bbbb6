// The state of one attach, and what the files of the region layer share:
//   options.cpp      options and names: checked before anything is made
//   attach.cpp       create, join (and its recovery of what crashes left), the retry loop
//   grow.cpp         grow, refresh, and the recovery of a growth its grower left half done
//   region_impl.cpp  lock, unlock, detach, removal at the last detach, fork, flush, prefault
//   api.cpp          the public Region and LockGuard over RegionImpl
//   admin.cpp        unlink, inspect, list, read_bytes, remove_unused, repair, abandoned creations
//   orphans.cpp      segments whose file in home is gone
#pragma once

#include "backing/backing.hpp"
#include "io/engine_impl.hpp"
#include "format/header.hpp"
#include "sync/lock_table.hpp"
#include "sync/robust_mutex.hpp"
#include "sys/fork_safety.hpp"

#include <shmregion/options.hpp>
#include <shmregion/region.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shmregion::detail {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

/// One attach. Its InlineLocks base is what the inline lock paths of the public headers
/// read (shmregion/detail/inline_locks.hpp); publish_inline() keeps it true.
class RegionImpl : public InlineLocks {
public:
    std::string name;
    std::filesystem::path home;
    std::filesystem::path file;       // empty for anonymous and heap
    std::unique_ptr<Store> store;
    std::shared_ptr<Mapping> mapping;
    RegionHeader* hdr = nullptr;
    std::uint32_t slot = 0;
    /// Size of the attacher table, from the validated copy of the header: loops over the
    /// table never trust the live field, which another process could overwrite.
    std::uint32_t slots = 0;
    bool created = false;
    // InlineLocks::owner_pid: the process this attach belongs to.

    RegionImpl();
    ~RegionImpl();
    RegionImpl(const RegionImpl&) = delete;
    RegionImpl& operator=(const RegionImpl&) = delete;
    /// Runs in a fork()ed child (see sys/fork_safety.hpp).
    static void after_fork_in_child(void* self) noexcept;

    /// Takes the robust mutex; on owner death repairs the header and marks it consistent.
    /// Returns true if a holder died and no application holder has marked the region lock
    /// consistent since (kFlagOwnerDiedUnreported); the library's own uses ignore it.
    /// Throws lock_timeout when the deadline passes.
    bool lock(Deadline deadline, bool for_application = false);
    /// The region lock for the application (Region::lock, try_lock_for): false if `wait` ran
    /// out; `died` as lock()'s result.
    bool lock_for_application(const Wait& wait, bool& died);
    /// 0, or EPERM if another thread holds the lock.
    int unlock() noexcept;

    /// The lock table (sizes from the validated header; own_slot and lock_fd kept current).
    LockTable table;
    /// Throws invalid_argument unless index < table.count.
    void check_index(std::uint32_t index) const {
        if (index >= table.count) [[unlikely]]
            throw_bad_index(index);
    }
    [[noreturn]] void throw_bad_index(std::uint32_t index) const;
    /// Under the region lock, acquired from a dead holder: repairs the header (growth,
    /// attachers) and records the death for the application.
    void recover_after_death();
    /// Under the region lock: refresh(), unlocking if it throws.
    void refresh_locked();
    /// Region::lock()/try_lock_for(): the region lock into a guard; empty if `wait` ran out.
    LockGuard region_guard(const Wait& wait);
    /// Region::lock(index) and the try forms: lock `index` exclusively into a guard.
    /// `fast`: what exclusive_fast() already did (kFastNotTried: nothing).
    LockGuard exclusive_guard(std::uint32_t index, const Wait& wait, int fast = kFastNotTried);
    /// Region::lock() after region_lock_try() said `rc` (the trylock's result, or -1).
    LockGuard region_guard_from(const Wait& wait, int rc);
    /// Region::lock_shared(index) and the try forms.
    SharedLockGuard shared_guard(std::uint32_t index, const Wait& wait);
    /// Releases what a guard of this attach holds and lets the guard go. 0, or EPERM (an
    /// exclusive lock held by another thread: the guard keeps it).
    int release(GuardNode& n) noexcept;
    /// LockGuard/SharedLockGuard::mark_consistent().
    void mark_consistent(GuardNode& n) noexcept;
    /// Region::alive().
    bool alive(AttacherIdentity who) const noexcept;
    /// True if the guard holds a lock of this attach in this process.
    bool holds(const GuardNode& n) const noexcept {
        // A guard is made by its attach's process; one whose pid is not this process's is a
        // copy inherited through fork(). (g_current_pid is set: this attach read it.)
        return hdr && n.owner_pid == g_current_pid.load(std::memory_order_relaxed);
    }
    // InlineLocks: guard_count (guards alive that point here; the attach is freed after the
    // last, once orphaned), region_lock_held (this attach holds the region lock through a
    // guard, on the thread that locked) and exclusive_held (which table locks its guards hold
    // exclusively; detach releases them), which points into:
    std::vector<std::uint8_t> exclusive_held_store;
    /// Points the InlineLocks at the mapped header and table, and turns the inline paths on
    /// (off without a mapping). After any change of hdr, the sizes or the slot.
    void publish_inline() noexcept;

    /// Under the lock: drops dead attachers (never our own slot) and rebuilds ref_count.
    std::size_t reap_dead() noexcept;
    /// Under the lock, with no attacher left: marks the header removed and removes the
    /// segment and the file. If that fails the region is made joinable again and it throws.
    void remove_region();
    /// Under the lock: takes a free slot for the calling process. Throws attacher_table_full.
    void take_slot();
    /// Detaches (see Region::detach). Throws Failure after unmapping if removal failed.
    void detach();
    /// Throws wrong_process if this attach belongs to another process (inherited by fork).
    void check_owner() const {
        if (owner_pid != current_pid()) [[unlikely]]
            throw_wrong_process();
    }
    [[noreturn]] void throw_wrong_process() const;
    /// Region::join_after_fork(): in a fork()ed child, becomes an attacher of its own.
    void join_after_fork();
    /// Region::mark_for_removal(): no new joins; removed at the last detach.
    void mark_for_removal();
    /// Region::reap_dead_attachers(), under the lock.
    std::size_t reap_dead_locked();
    /// Region::flush() and Region::prefault().
    void flush();
    void prefault();

    /// Sizes as this attach validated and mapped them (never the live header fields, which
    /// another process could overwrite): header, mapped region, ceiling, and the generation
    /// they belong to.
    std::uint64_t header_bytes = 0;
    std::uint64_t region_bytes = 0;
    std::uint64_t max_region_bytes = 0;
    // InlineLocks::generation: the generation they belong to.
    /// Also sets up `table` from it (hdr must be set).
    void set_sizes(const RegionHeader& validated) noexcept;
    std::uint64_t usable_size() const noexcept { return region_bytes - header_bytes; }
    std::uint64_t usable_max() const noexcept { return max_region_bytes - header_bytes; }

    /// Maps what another process's growth added, if the generation moved. Without the lock
    /// the sizes read are checked against the backing's real size first. Throws Failure.
    bool refresh();
    /// Region::grow(): checks the size and grows under the lock (taken here unless this
    /// thread holds it through this attach's guard).
    void grow(std::uint64_t new_size);
    /// Under the lock: grows the region to new_region bytes (header included). See Region::grow.
    void grow_locked(std::uint64_t new_region);
    /// Under the lock, after a holder died: finishes or undoes a growth it left half done.
    void recover_growth() noexcept;
    /// Releases every lock this attach holds through its guards (the region lock and the
    /// exclusive table locks its guards hold; the shares its records count), leaving
    /// the guards empty. False if an exclusive lock belongs to another thread of this
    /// process (it stays held). In a fork()ed child it releases nothing: the locks are the
    /// parent's.
    bool release_guards() noexcept;

    /// The I/O engine: as asked for (Options::io_engine), and as chosen when an operation
    /// first needs one (at attach if Options named one; again in a fork()ed child's
    /// join_after_fork() unless it was forced). Attaching, locking and unlinking need none.
    io::EngineKind requested_engine = io::EngineKind::automatic;
    mutable io::EngineKind engine_kind = io::EngineKind::sync;
    mutable bool engine_forced = false;
    mutable bool engine_chosen = false;
    /// Makes the choice now (choose_or_throw). Throws Failure.
    void choose_engine() const;
    /// The engine for one operation: the calling thread's (io::detail::thread_engine), not
    /// one per attach (each holds kernel resources, and libaio contexts count against
    /// fs.aio-max-nr machine-wide). An automatic choice that cannot open now gives way to
    /// the sync engine.
    io::Engine& engine() const;
    /// engine() for a backing operation that may need one.
    EngineSource engine_source() const {
        return [this]() -> io::Engine& { return engine(); };
    }
    /// flush() has made the region file's name durable (fsync of home) once.
    bool home_synced = false;
    /// Prefault jobs started from this attach; detach cancels and waits for them.
    std::vector<std::shared_ptr<io::PrefaultState>> prefaults;
    io::PrefaultHandle background;  // Options::prefault == background
    io::PrefaultOptions prefault_options() const;
    /// Starts a background prefault of the whole mapping and keeps track of it.
    io::PrefaultHandle start_prefault();
    /// Cancels this process's prefault jobs and waits for them to stop.
    void stop_prefaults() noexcept;

    bool has_slot = false;
    /// How long the library's own waits for the region lock may take (Options::join_timeout):
    /// attach, detach, mark_for_removal, reap_dead_attachers.
    std::chrono::milliseconds join_timeout{5000};
    /// now + join_timeout, clamped.
    Deadline library_deadline() const noexcept;

private:
    ForkChildHook fork_hook_;  // last: unregistered before anything it touches goes
};

// ---- the lock paths, inline: the uncontended lock and unlock are the hot path of every
// database built on this (docs/performance.md, "Locks") ---------------------------------------

[[gnu::always_inline]] inline bool RegionImpl::lock_for_application(const Wait& wait, bool& died) {
    const LockOutcome out = robust_mutex_acquire(&hdr->mutex, wait, file);
    if (out == LockOutcome::busy) return false;
    if (out == LockOutcome::owner_died) [[unlikely]]
        recover_after_death();
    // Until a holder marks it consistent, every acquisition hears of the death.
    died = (hdr->flags & kFlagOwnerDiedUnreported) != 0;
    if (load_acquire(hdr->generation) != generation) [[unlikely]]
        refresh_locked();
    return true;
}

[[gnu::always_inline]] inline int RegionImpl::unlock() noexcept {
    return robust_mutex_unlock(&hdr->mutex);
}

[[gnu::always_inline]] inline LockGuard RegionImpl::region_guard(const Wait& wait) {
    LockGuard g;
    bool died = false;
    if (lock_for_application(wait, died)) hold(this, g.node_, kRegionLockIndex, false, died);
    return g;
}

inline LockGuard RegionImpl::exclusive_guard(std::uint32_t index, const Wait& wait, int fast) {
    check_index(index);
    LockGuard g;
    bool died = false;
    if (fast == kFastNotTried) fast = exclusive_fast(table, index, died);
    const Acquired a = fast == kFastHeld ? Acquired{true, died} : exclusive_acquire_from(table, index, wait, fast);
    if (a.held) hold(this, g.node_, index, false, a.owner_died);
    return g;
}

[[gnu::always_inline]] inline SharedLockGuard RegionImpl::shared_guard(std::uint32_t index, const Wait& wait) {
    check_index(index);
    SharedLockGuard g;
    const Acquired a = shared_acquire(table, index, wait);
    if (a.held) hold(this, g.node_, index, true, a.owner_died);
    return g;
}

[[gnu::always_inline]] inline int RegionImpl::release(GuardNode& n) noexcept {
    // A guard inherited through fork() holds nothing in this process (the lock belongs to
    // the parent), and after detach() the attach's locks are released already.
    // (With hdr set, the InlineLocks' pointers are this attach's, whatever its protocol.)
    if (holds(n)) {
        if (const int rc = release_held(this, n); rc != 0) return rc;
    }
    detail::forget(n);
    return 0;
}

/// Region::attach(): checks the options, then creates or joins (retrying transient states
/// until the join timeout) and prefaults as asked. Throws Failure.
std::unique_ptr<RegionImpl> attach(const Options& o);
/// unlink() without force: joins the existing named region `o` names (join_only) as an
/// attach would, but takes no attacher slot and needs no I/O engine: under the region lock
/// it marks the region for removal, and removes it at once if nobody is attached.
/// region_not_found if there is none. Throws Failure.
void mark_for_removal_unattached(const Options& o);

/// Checks the options of an attach (names, sizes, combinations); throws Failure saying which.
void check_options(const Options& o);
/// The sizes of a new region, header included. Throws Failure for sizes that cannot be.
struct Sizes {
    std::uint64_t header;
    std::uint64_t region;      // header + usable
    std::uint64_t max_region;  // header + usable ceiling
};
Sizes creation_sizes(const Options& o);
/// How messages name a region: its file, or "heap region" (the backing's name) for one without.
std::string describe(const std::filesystem::path& file, Backing kind);

/// Copies the header of a named region's backing (never through a mapping that could fault:
/// Store::read) and validates it against the backing's real size, the kind its file says,
/// and its locator. With `segment_owner`, a segment of another user is refused (wrong_owner)
/// before its header is validated, from the same stat that gives the size.
RegionHeader read_validated_header(const Store& store, const std::filesystem::path& file,
                                   const std::optional<Locator>& locator, std::uint64_t* backing_size,
                                   std::optional<uid_t> segment_owner = std::nullopt);
/// Refuses a region file or segment of another user (Options::require_same_owner): `what`
/// belongs to `owner`, not to `us`.
[[noreturn]] void refuse_owner(const std::filesystem::path& file, const std::string& what, uid_t owner, uid_t us);

/// remove_abandoned() for the pending files of one name only, as a side job of create and
/// of a join that found nobody attached: never throws, never fails the caller. True if
/// pending files of the name are left, i.e. live processes are creating it right now
/// (located backings only: a file backing's creation has no name until it is published).
bool sweep_abandoned(const std::filesystem::path& home, std::string_view name) noexcept;

/// Validates a region name; throws Failure(invalid_name) saying why.
void validate_name(std::string_view name);
/// Checks that home exists and is a directory; throws Failure naming it.
void check_home(const std::filesystem::path& home);

}  // namespace shmregion::detail
