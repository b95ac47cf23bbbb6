// shmregion: attach, lock, detach, unlink and inspect regions.
//
//   shmregion::Options o;
//   o.home = "/var/db"; o.name = "jobs"; o.backing = shmregion::Backing::posix; o.size = 1 << 20;
//   auto r = shmregion::Region::attach(o);          // creates it, or joins it if it exists
//   {
//       auto g = r.lock();                           // the region's robust cross-process mutex
//       if (g.owner_died()) { /* a holder was killed; the header is already repaired,
//                                 your own data structures in r.data() may need checking */ }
//   }
//   r.detach();                                      // or let the destructor do it
//   shmregion::unlink("/var/db", "jobs");            // removed once the last attacher detaches
//
// Thread safety: a Region object is not synchronised; share it between threads only under
// your own synchronisation, or give each thread its own attach. Different Region objects
// (even of the same region, in the same process) are independent attachers.
//
// fork(): an attach belongs to the process that made it. A child that inherits a Region
// must call join_after_fork() before using it (that makes the child an attacher of its
// own; it is how anonymous regions are shared). Without it, every call in the child fails
// with errc::wrong_process and the destructor only unmaps the child's copy.
#pragma once

#include <shmregion/detail/inline_locks.hpp>
#include <shmregion/error.hpp>
#include <shmregion/io.hpp>
#include <shmregion/options.hpp>
#include <shmregion/version.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace shmregion::detail {
class RegionImpl;
}

SHMREGION_NAMESPACE_BEGIN

/// What LockGuard and SharedLockGuard have in common (not used on its own).
class SHMREGION_API LockGuardBase {
public:
    /// True if an exclusive holder of this lock died holding it and no holder has called
    /// mark_consistent() since: every acquisition, shared or exclusive, says so until one
    /// does, so a process that learns of the death and is killed while repairing does not
    /// take the knowledge with it. The library has already repaired its own state (for the
    /// region lock: dead attachers dropped, reference count rebuilt, a dead grower's growth
    /// finished or undone); data the application keeps in the region may be half-updated.
    bool owner_died() const noexcept { return node_.owner_died; }
    /// Declares the application's data consistent again after an owner_died() acquisition:
    /// later acquisitions no longer report the death. Does nothing on an empty guard.
    void mark_consistent() noexcept;
    /// False for an empty guard: default-constructed, a busy or timed-out try, released,
    /// moved from, emptied by its Region's detach, or a copy inherited through fork().
    bool owns_lock() const noexcept;
    /// owns_lock().
    explicit operator bool() const noexcept { return owns_lock(); }

protected:
    LockGuardBase() noexcept = default;
    /// Takes over other's lock; other is left empty.
    LockGuardBase(LockGuardBase&& other) noexcept : node_(other.node_) { other.node_ = detail::GuardNode{}; }
    ~LockGuardBase() = default;
    friend class detail::RegionImpl;
    friend class Region;  // its inline lock calls fill node_
    /// unlock() when the inline release could not finish: the library releases what this
    /// process holds (nothing for a copy inherited through fork(), or after detach) and lets
    /// the guard go (another thread's exclusive lock stays held: error-checking).
    void unlock_slow() noexcept;
    detail::GuardNode node_;
};


/// Holds a lock exclusively: the region lock (Region::lock()) or a lock of the region's lock
/// table (Region::lock(index)). Move-only; unlocks on destruction. Detaching (or destroying)
/// the Region releases its locks first and leaves their guards empty, so the order in which
/// a guard and its Region go out of scope does not matter. Release it on the thread that
/// locked (the lock is error-checking: another thread's unlock is refused). A copy inherited
/// through fork() holds nothing in the child and never unlocks. owner_died(),
/// mark_consistent(), owns_lock(): see LockGuardBase.
class SHMREGION_API LockGuard : public LockGuardBase {
public:
    LockGuard() noexcept = default;
    /// Takes over other's lock (if any); other is left empty.
    LockGuard(LockGuard&& other) noexcept : LockGuardBase(std::move(other)) {}
    /// Unlocks what this guard holds, then takes over other's lock (if any); other is left empty.
    LockGuard& operator=(LockGuard&& other) noexcept;
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;
    ~LockGuard() { unlock(); }
    /// Releases the lock now and leaves the guard empty; does nothing if it holds none (or is a
    /// copy inherited through fork()).
    void unlock() noexcept {
        if (node_.impl && !detail::release_try(node_)) [[unlikely]]
            unlock_slow();
    }

};

/// Holds a share of a lock of the region's lock table (Region::lock_shared(index)): any
/// number of holders share it, and an exclusive holder waits until every share is released.
/// A holder killed while holding its share never blocks anybody: the library releases it
/// (a shared holder wrote nothing) once it finds the holder dead. Move-only; unlocks on
/// destruction; emptied by its Region's detach, like LockGuard. A shared holder that sees
/// owner_died() reads possibly half-updated data; repairing it takes the lock exclusively.
class SHMREGION_API SharedLockGuard : public LockGuardBase {
public:
    SharedLockGuard() noexcept = default;
    /// Takes over other's share (if any); other is left empty.
    SharedLockGuard(SharedLockGuard&& other) noexcept : LockGuardBase(std::move(other)) {}
    /// Releases what this guard holds, then takes over other's share (if any).
    SharedLockGuard& operator=(SharedLockGuard&& other) noexcept;
    SharedLockGuard(const SharedLockGuard&) = delete;
    SharedLockGuard& operator=(const SharedLockGuard&) = delete;
    ~SharedLockGuard() { unlock(); }
    /// Releases the share now and leaves the guard empty; does nothing if it holds none.
    void unlock() noexcept {
        if (node_.impl && !detail::release_try(node_)) [[unlikely]]
            unlock_slow();
    }

};

/// Who an attach is (Region::identity()): its slot in the attacher table and the slot's
/// generation, which changes every time the slot is taken again, so an identity kept in the
/// region (a reader table, lock holdings) never names a later attacher of the same slot.
struct AttacherIdentity {
    std::uint32_t slot = 0;        ///< index in the attacher table
    std::uint32_t generation = 0;  ///< never 0 for a real attach
    friend bool operator==(const AttacherIdentity&, const AttacherIdentity&) = default;
};

/// One attach of a region: creates or joins it (attach()), maps its usable memory (data(),
/// size()), grows it, locks its robust cross-process mutex (lock()) and detaches (detach() or
/// the destructor). Move-only. Not synchronised: share it between threads only under your
/// own synchronisation, or give each thread its own attach; different Region objects (even
/// of the same region, in the same process) are independent attachers. An attach belongs to
/// the process that made it: a child of fork() must call join_after_fork() before using an
/// inherited Region (otherwise every call fails with errc::wrong_process).
class SHMREGION_API Region {
public:
    /// Creates or joins the region described by opts (see OpenMode). Of any number of
    /// processes racing to create one name, exactly one creates; the others join. A joiner
    /// validates the header against the real size of the backing before trusting it and
    /// waits up to opts.join_timeout for a creator that has not finished. Throws Error.
    static Region attach(const Options& opts);
    /// As above; on failure returns an empty Region and sets ec.
    static Region attach(const Options& opts, std::error_code& ec) noexcept;

    /// An empty Region: not attached to anything.
    Region() noexcept;
    /// Takes over other's attach; other is left empty.
    Region(Region&& other) noexcept;
    /// Detaches this Region first (errors are swallowed, as in the destructor), then takes
    /// over other's attach; other is left empty.
    Region& operator=(Region&& other) noexcept;
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;
    /// Detaches if still attached; errors are swallowed (call detach() to see them).
    ~Region();

    /// True if this Region is attached (false when empty or after detach()).
    bool attached() const noexcept;
    /// attached().
    explicit operator bool() const noexcept { return attached(); }

    /// The usable memory: page-aligned, size() bytes, zero-filled at creation (and where it
    /// grew). Stable for the life of this attach, however the region grows.
    void* data() const noexcept;
    /// Usable bytes mapped by this attach: the region's size as of this attach's last
    /// attach, lock(), grow() or refresh().
    std::size_t size() const noexcept;
    /// Growth ceiling in usable bytes (address space reserved by this attach).
    std::size_t max_size() const noexcept;
    /// True if this attach created the region.
    bool created() const noexcept;
    /// The region's backing; Backing::any when not attached.
    Backing backing() const noexcept;
    /// The region's name (Options::name); empty for a default-constructed Region.
    const std::string& name() const noexcept;
    /// The home directory it was attached in (Options::home); empty for a default-constructed Region.
    const std::filesystem::path& home() const noexcept;
    /// The region's file in home (region or locator); empty for anonymous and heap regions.
    const std::filesystem::path& file() const noexcept;
    /// This attach's slot in the attacher table.
    std::uint32_t slot() const noexcept;
    /// Grows the region to at least new_size usable bytes (rounded up to pages), in place:
    /// data() never moves, and pointers into the region stay valid in every process. The
    /// new space is allocated through the I/O engine first (a full disk or /dev/shm is
    /// ENOSPC here, with the region unchanged), then mapped, then published under the region
    /// lock; others see it at their next lock() or refresh(). A size at or below the current
    /// one is a no-op that succeeds. Takes the region lock, or uses it if this thread holds
    /// it through this Region's LockGuard. A crash at any step leaves a header whose size
    /// the backing holds; the next lock() completes or undoes the growth. Errors:
    /// invalid_size (beyond max_size(), the ceiling fixed at creation), not_growable (System
    /// V: fixed size; anonymous: a new page would not reach the processes sharing it),
    /// ENOSPC / EFBIG / EDQUOT from the backing, wrong_process.
    void grow(std::uint64_t new_size);
    /// As grow(new_size), but stores the failure in ec (message: last_error_message()) instead of throwing.
    void grow(std::uint64_t new_size, std::error_code& ec) noexcept;
    /// Maps what other processes' growth added (a cheap generation compare when nothing
    /// changed); lock() does it too. Returns true if the size changed. A process that reads
    /// without locking must call it before using bytes beyond the size() it knows; bytes
    /// below that size never move or go away. Errors: header_corrupt or size_mismatch if
    /// the published size is not backed.
    bool refresh();
    /// As refresh(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    bool refresh(std::error_code& ec) noexcept;

    /// The I/O engine this attach uses for extension, prefault and flush: Options::io_engine
    /// (chosen at attach), else SHMREGION_IO_ENGINE or the first that works here, chosen
    /// when an operation first needs one (or by this call). EngineKind::automatic if no
    /// engine can be chosen (a bogus SHMREGION_IO_ENGINE): the operations that need one
    /// then fail saying why.
    io::EngineKind io_engine() const noexcept;

    /// Makes every page of the region resident and writable now, so the application takes
    /// no page faults later (Berkeley DB's region_init, without writing a byte: contents and
    /// concurrent writers are unaffected). Blocks. File regions: the pages become dirty and
    /// are written back in time. Errors: ENOMEM, engine_unavailable, wrong_process.
    void prefault();
    /// As prefault(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    void prefault(std::error_code& ec) noexcept;
    /// The same in the background: returns at once, the region stays usable meanwhile.
    /// detach() cancels the job and waits for it.
    io::PrefaultHandle prefault_async();
    /// As prefault_async(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    io::PrefaultHandle prefault_async(std::error_code& ec) noexcept;
    /// The job started by Options::prefault = Prefault::background (empty otherwise).
    io::PrefaultHandle background_prefault() const noexcept;

    /// Makes the region's bytes durable (file backing): fdatasync of the region file through
    /// the I/O engine, waited for. Everything stored through data() by any process before
    /// the call is included (the mapping is the file's page cache). For the other backings,
    /// whose memory does not outlive a reboot, it does nothing and succeeds. Errors: EIO
    /// (writeback failed; the kernel reports it once), wrong_process.
    void flush();
    /// As flush(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    void flush(std::error_code& ec) noexcept;

    /// Takes the region lock (its robust process-shared mutex) exclusively. Blocks. Errors:
    /// lock_not_recoverable, resource_deadlock_would_occur if this thread already holds it,
    /// wrong_process. attach(), detach(), mark_for_removal() and reap_dead_attachers() take
    /// it too: a thread holding it gets resource_deadlock_would_occur from them for the same
    /// region (detach() of this Region excepted: it releases its own guards first).
    LockGuard lock();
    /// As lock(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    LockGuard lock(std::error_code& ec) noexcept;
    /// The region lock, waiting at most `timeout`: an empty guard (owns_lock() false) if it
    /// was not acquired in time. Errors as lock().
    LockGuard try_lock_for(std::chrono::nanoseconds timeout);
    /// As try_lock_for(timeout), but stores the failure in ec instead of throwing.
    LockGuard try_lock_for(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept;

    /// Number of locks in the region's lock table (Options::locks of its creator).
    std::uint32_t lock_count() const noexcept;
    /// Takes lock `index` of the lock table exclusively. Blocks until no other process
    /// holds it, shared or exclusive (shares of dead holders are released by the library).
    /// Errors: invalid_argument for an index not below lock_count() (the message names both),
    /// resource_deadlock_would_occur if this attach holds it already (exclusive on this
    /// thread, or shared), wrong_process, not_attached.
    LockGuard lock(std::uint32_t index);
    /// As lock(index), but stores the failure in ec instead of throwing.
    LockGuard lock(std::uint32_t index, std::error_code& ec) noexcept;
    /// Lock `index` exclusively if that needs no waiting; an empty guard if it is busy.
    LockGuard try_lock(std::uint32_t index);
    /// As try_lock(index), but stores the failure in ec instead of throwing.
    LockGuard try_lock(std::uint32_t index, std::error_code& ec) noexcept;
    /// Lock `index` exclusively, waiting at most `timeout`; an empty guard if not in time.
    LockGuard try_lock_for(std::uint32_t index, std::chrono::nanoseconds timeout);
    /// As try_lock_for(index, timeout), but stores the failure in ec instead of throwing.
    LockGuard try_lock_for(std::uint32_t index, std::chrono::nanoseconds timeout, std::error_code& ec) noexcept;
    /// A share of lock `index`. Blocks while an exclusive holder has it (or waits for it:
    /// a waiting writer holds new readers off, so readers cannot starve it). A share more
    /// of a lock this attach already holds shared is granted at once. Errors as lock(index)
    /// (resource_deadlock_would_occur: this thread holds it exclusively).
    SharedLockGuard lock_shared(std::uint32_t index);
    /// As lock_shared(index), but stores the failure in ec instead of throwing.
    SharedLockGuard lock_shared(std::uint32_t index, std::error_code& ec) noexcept;
    /// A share of lock `index` if that needs no waiting; an empty guard if it is busy.
    SharedLockGuard try_lock_shared(std::uint32_t index);
    /// As try_lock_shared(index), but stores the failure in ec instead of throwing.
    SharedLockGuard try_lock_shared(std::uint32_t index, std::error_code& ec) noexcept;
    /// A share of lock `index`, waiting at most `timeout`; an empty guard if not in time.
    SharedLockGuard try_lock_shared_for(std::uint32_t index, std::chrono::nanoseconds timeout);
    /// As try_lock_shared_for(index, timeout), but stores the failure in ec instead of throwing.
    SharedLockGuard try_lock_shared_for(std::uint32_t index, std::chrono::nanoseconds timeout,
                                        std::error_code& ec) noexcept;

    /// This attach's identity: its slot and the slot's generation (see AttacherIdentity).
    AttacherIdentity identity() const noexcept;
    /// True while the attach `who` is still attached and its process alive: the slot holds
    /// the same generation and its owner's liveness lock (pid and start time for regions
    /// without a file) is held. Reads the mapped attacher table, then makes one system call
    /// (fcntl F_OFD_GETLK) for regions with a file, or a kill(pid, 0) and a read of
    /// /proc/PID/stat for those without (none for a stale generation); takes no lock, so it
    /// may be called under any lock. False for a slot out of range, or when not attached.
    bool alive(AttacherIdentity who) const noexcept;

    /// Asks for the region's removal (what unlink() does): it is removed when its last
    /// attacher detaches, and from now on nobody can join it (marked_for_removal).
    /// Options::remove_on_last_detach, by contrast, still lets others join until then.
    void mark_for_removal();
    /// As mark_for_removal(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    void mark_for_removal(std::error_code& ec) noexcept;

    /// Drops attachers that died without detaching and rebuilds the reference count.
    /// Returns how many were dropped. (attach() and detach() do this too.)
    std::size_t reap_dead_attachers();
    /// As reap_dead_attachers(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    std::size_t reap_dead_attachers(std::error_code& ec) noexcept;

    /// In a child of fork() that inherited this Region: become an attacher of its own
    /// (a new slot and its own liveness lock). No-op in the process that attached.
    void join_after_fork();
    /// As join_after_fork(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    void join_after_fork(std::error_code& ec) noexcept;

    /// Leaves the region: frees the slot, decrements the reference count and, if this was
    /// the last attacher of a region marked for removal, removes the region's file and
    /// segment. Unmaps in every case. Idempotent.
    void detach();
    /// As detach(), but stores the failure in ec (message: last_error_message()) instead of throwing.
    void detach(std::error_code& ec) noexcept;

private:
    explicit Region(std::unique_ptr<detail::RegionImpl> impl) noexcept;
    // Each lock call with an inline path (below): the inline attempt, then, if it could not
    // finish, the library's full path. ec: nullptr for the throwing form.
    LockGuard region_lock_inline(std::error_code* ec);
    LockGuard exclusive_inline(const char* op, std::uint32_t index, bool try_only, std::error_code* ec);
    SharedLockGuard shared_inline(const char* op, std::uint32_t index, bool try_only, std::error_code* ec);
    // The full paths, into the empty guard g, given what the inline attempt did (one guard
    // for both paths: the inline calls return it in place); ec as above.
    void lock_slow(LockGuard& g, int rc, std::error_code* ec);
    void lock_slow(LockGuard& g, const char* op, std::uint32_t index, int fast, bool try_only, std::error_code* ec);
    void lock_shared_slow(SharedLockGuard& g, const char* op, std::uint32_t index, bool try_only, std::error_code* ec);

    std::unique_ptr<detail::RegionImpl> impl_;
    /// impl_ as the inline lock paths see it (nullptr when impl_ is).
    detail::InlineLocks* inline_ = nullptr;
};

// The uncontended lock calls, inline (shmregion/detail/inline_locks.hpp); the rest in the
// library.
[[gnu::always_inline]] inline LockGuard Region::region_lock_inline(std::error_code* ec) {
    LockGuard g;
    int rc;
    if (!detail::region_lock_try(inline_, g.node_, rc)) [[unlikely]]
        lock_slow(g, rc, ec);
    return g;
}
[[gnu::always_inline]] inline LockGuard Region::exclusive_inline(const char* op, std::uint32_t index, bool try_only,
                                                                 std::error_code* ec) {
    LockGuard g;
    int fast;
    if (!detail::exclusive_lock_try(inline_, index, g.node_, fast)) [[unlikely]]
        lock_slow(g, op, index, fast, try_only, ec);
    return g;
}
[[gnu::always_inline]] inline SharedLockGuard Region::shared_inline(const char* op, std::uint32_t index, bool try_only,
                                                                    std::error_code* ec) {
    SharedLockGuard g;
    if (!detail::shared_lock_try(inline_, index, g.node_)) [[unlikely]]
        lock_shared_slow(g, op, index, try_only, ec);
    return g;
}
inline LockGuard Region::lock() { return region_lock_inline(nullptr); }
inline LockGuard Region::lock(std::error_code& ec) noexcept {
    ec.clear();
    return region_lock_inline(&ec);
}
inline LockGuard Region::lock(std::uint32_t index) { return exclusive_inline("lock", index, false, nullptr); }
inline LockGuard Region::lock(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    return exclusive_inline("lock", index, false, &ec);
}
inline LockGuard Region::try_lock(std::uint32_t index) { return exclusive_inline("try_lock", index, true, nullptr); }
inline LockGuard Region::try_lock(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    return exclusive_inline("try_lock", index, true, &ec);
}
inline SharedLockGuard Region::lock_shared(std::uint32_t index) {
    return shared_inline("lock_shared", index, false, nullptr);
}
inline SharedLockGuard Region::lock_shared(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    return shared_inline("lock_shared", index, false, &ec);
}
inline SharedLockGuard Region::try_lock_shared(std::uint32_t index) {
    return shared_inline("try_lock_shared", index, true, nullptr);
}
inline SharedLockGuard Region::try_lock_shared(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    return shared_inline("try_lock_shared", index, true, &ec);
}

/// How a removal may proceed. One rule for every removal (unlink, forced or not,
/// remove_unused, remove_orphan_segment, remove_abandoned, and regiontool's unlink and
/// clean): only what belongs to the caller's effective user goes, root included, unless
/// require_same_owner is false; a segment must in any case belong to the owner of the file
/// that names it (a locator planted in a shared home never removes another user's segment);
/// and a region whose segment lives in another /dev/shm or IPC namespace is never removed
/// from here unless allow_foreign says so.
struct RemoveOptions {
    /// Force::yes: remove without attaching or locking (see unlink()); ignored by remove_unused().
    Force force = Force::no;
    /// Refuse (errc::wrong_owner) a region whose file in home belongs to another user.
    bool require_same_owner = true;
    /// Forced unlink and remove_unused of a region whose segment was made in another
    /// /dev/shm or IPC namespace (errc::segment_foreign): remove its file anyway. The segment
    /// cannot be reached from here; if it still exists there, it stays (an orphan there).
    bool allow_foreign = false;
};

/// Removes a region. Force::no attaches, marks the region for removal and detaches: it goes
/// when its last attacher detaches (at once if nobody else is attached). Force::yes never
/// attaches or locks (the holder may be dead): it removes the segment named by the
/// region's file and then the file; processes still attached keep their memory until they
/// detach. Errors: region_not_found, bad_magic (the file is not ours; it is left alone),
/// wrong_owner, segment_foreign (see RemoveOptions).
SHMREGION_API void unlink(const std::filesystem::path& home, std::string_view name, Force force = Force::no);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API void unlink(const std::filesystem::path& home, std::string_view name, Force force,
            std::error_code& ec) noexcept;
SHMREGION_API void unlink(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API void unlink(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how,
            std::error_code& ec) noexcept;

/// One in-use slot of a region's attacher table (RegionInfo::attachers).
struct AttacherInfo {
    std::uint32_t slot = 0;         ///< index in the attacher table
    pid_t pid = 0;                  ///< the attacher's process id
    std::uint64_t start_time = 0;   ///< process start, clock ticks after boot (/proc/PID/stat)
    std::uint64_t pid_namespace = 0;///< inode of the attacher's /proc/PID/ns/pid
    std::uint64_t attached_at_ns = 0;///< CLOCK_REALTIME
    /// The attacher's process is alive (it holds its slot's lock on the region's file in
    /// home). A dead one is what reap_dead_attachers() drops.
    bool alive = false;
    /// The slot's generation (AttacherIdentity::generation of this attach).
    std::uint32_t generation = 0;
    /// The slot was reaped (its process died) but still holds shares of table locks that
    /// the library has not released yet; it is reused once they are.
    bool dead_with_shares = false;
};

/// The state of one lock of a region's lock table (RegionInfo::locks).
struct LockInfo {
    /// What holds it now.
    enum class State {
        free,        ///< nobody
        exclusive,   ///< held exclusively (holder_pid)
        shared,      ///< held shared (shared_count shares, by shared_pids)
        owner_dead,  ///< its exclusive holder died; the next acquisition recovers it
    };
    std::uint32_t index = 0;              ///< index in the lock table
    State state = State::free;            ///< see State
    pid_t holder_pid = 0;                 ///< exclusive: the holder's process (0 if it cannot be read)
    pid_t holder_tid = 0;                 ///< exclusive: the holder's thread (the mutex's futex word)
    std::uint32_t shared_count = 0;       ///< shares held (counted in the lock word)
    std::vector<pid_t> shared_pids;       ///< pids of the attachers holding the shares
    /// A writer holds the lock and waits for the shares to be released.
    bool writer_waiting = false;
    /// An exclusive holder died holding it and no holder has called mark_consistent() since:
    /// every acquisition reports owner_died().
    bool owner_died = false;
    std::uint32_t exclusive_deaths = 0;   ///< exclusive holders that died holding it, ever
    std::uint32_t shared_deaths = 0;      ///< shares the library released for dead holders, ever
};

/// The state of a region's mutex, as inspect() sees it.
enum class LockState { free, held, owner_dead };

/// A read-only snapshot of a region's header. Taking it writes nothing anywhere.
struct RegionInfo {
    std::string name;                ///< the region's name, as asked for
    std::filesystem::path file;      ///< the region's file in home
    Backing backing = Backing::any;  ///< the backing recorded in the header
    std::uint32_t version = 0;       ///< layout version of the header
    std::uint32_t header_size = 0;   ///< bytes before the usable area (a page multiple)
    std::uint32_t page_size = 0;     ///< the page size the creator laid the region out with
    std::uint64_t region_size = 0;   ///< total bytes of the backing in use, header included
    std::uint64_t max_region_size = 0; ///< growth ceiling in bytes of the backing, header included
    std::uint64_t size = 0;          ///< usable bytes (region_size - header_size)
    std::uint64_t max_size = 0;      ///< usable growth ceiling
    std::uint64_t backing_size = 0;  ///< real size of the file or segment
    std::uint64_t generation = 0;    ///< bumped by every change of region_size
    // The header's flags, each by name (docs/format.md); owner_died_unreported is below.
    /// Goes when its last attacher detaches: remove_on_last_detach_option or unlink_requested.
    bool remove_on_last_detach = false;
    /// An attacher asked for Options::remove_on_last_detach (others may still join until the
    /// last detach); once set, it stays set.
    bool remove_on_last_detach_option = false;
    bool unlink_requested = false;   ///< unlink()/mark_for_removal(): no new joins
    bool valid = false;              ///< creator finished initialising
    std::uint32_t ref_count = 0;     ///< the header's reference count
    std::uint32_t max_attachers = 0; ///< size of the attacher table
    std::string segment;             ///< POSIX segment name
    std::int32_t sysv_key = 0;       ///< System V: the segment's key
    std::int32_t sysv_id = -1;       ///< System V: the segment's id; -1 otherwise
    pid_t creator_pid = 0;           ///< the process that created the region
    uid_t creator_uid = 0;           ///< the creator's effective user id
    std::uint64_t created_at_ns = 0; ///< CLOCK_REALTIME
    LockState lock_state = LockState::free; ///< the region mutex: free, held, or its holder dead
    pid_t lock_holder = 0;           ///< the process whose thread holds the region mutex; 0 if none
    /// A region lock holder died and no holder has called mark_consistent() since: every
    /// lock() reports owner_died().
    bool owner_died_unreported = false;
    std::uint32_t lock_deaths = 0;   ///< region lock holders that died holding it, ever
    std::vector<LockInfo> locks;     ///< the lock table (Options::locks entries)
    /// A growth is under way, or its grower died (the next lock() finishes or undoes it).
    bool grow_in_progress = false;
    std::uint64_t grow_to = 0;       ///< its target size in usable bytes
    pid_t grow_pid = 0;              ///< the grower
    std::vector<AttacherInfo> attachers;  ///< slots in use
    /// How many of attachers are alive.
    SHMREGION_API std::size_t live_attachers() const noexcept;
};

/// Reads the header of the region `name` in `home` without attaching, locking or writing.
/// Throws Error naming the field for a corrupt header; header_incomplete is reported as
/// a RegionInfo with valid == false when the rest of the header is readable.
SHMREGION_API RegionInfo inspect(const std::filesystem::path& home, std::string_view name);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API RegionInfo inspect(const std::filesystem::path& home, std::string_view name,
                   std::error_code& ec) noexcept;

/// Removes a region only if no process is attached to it or joining it (every live
/// attacher holds a shared lock on the region's file; this takes it exclusively, so it
/// cannot race an attach). Never attaches or locks the region mutex, so a dead lock holder
/// does not stop it. Returns false, removing nothing, if the region is in use. For
/// cleaning up what crashes left (regiontool clean). Errors: region_not_found, bad_magic
/// (not our file; left alone), wrong_owner, segment_foreign (RemoveOptions; `how.force` is
/// ignored).
SHMREGION_API bool remove_unused(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how = {});
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API bool remove_unused(const std::filesystem::path& home, std::string_view name, std::error_code& ec) noexcept;
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API bool remove_unused(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how,
                   std::error_code& ec) noexcept;

/// What repair() found and mended.
struct RepairReport {
    std::size_t dead_attachers = 0;  ///< slots of dead processes dropped (count rebuilt)
    bool lock_recovered = false;     ///< the lock holder was dead; the lock was recovered
    bool growth_recovered = false;   ///< a dead grower's growth was finished or undone
    /// The region went instead: it was marked for removal and its last attacher had died
    /// without detaching, so the repair did what that detach would have done.
    bool removed = false;
};
/// Mends what crashes left in a region without removing its data, exactly as its next
/// joiner would: attaches (dropping dead attachers and rebuilding the count, recovering a
/// dead holder's lock, finishing or undoing a dead grower's growth) and detaches. A
/// holder's death is still reported by the next application lock() (owner_died()). For a
/// file region whose last attacher was killed (regiontool clean repairs those instead of
/// removing them). Errors: those of Region::attach (join_only, Backing::any).
SHMREGION_API RepairReport repair(const std::filesystem::path& home, std::string_view name, bool require_same_owner = true);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API RepairReport repair(const std::filesystem::path& home, std::string_view name, bool require_same_owner,
                    std::error_code& ec) noexcept;

/// Copies `length` bytes of the usable area starting at `offset` without attaching,
/// locking or writing (regiontool dump). Errors: invalid_size beyond the region's size, and
/// those of inspect().
SHMREGION_API std::vector<unsigned char> read_bytes(const std::filesystem::path& home, std::string_view name,
                                      std::uint64_t offset, std::uint64_t length);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API std::vector<unsigned char> read_bytes(const std::filesystem::path& home, std::string_view name,
                                      std::uint64_t offset, std::uint64_t length, std::error_code& ec) noexcept;

/// A shared-memory segment made for a region of a home whose file in home is gone (or
/// locates another segment): left by a crash inside a removal, or by deleting the file by
/// hand. Tied to its home by the origin path its header records.
struct OrphanSegment {
    Backing backing = Backing::posix;  ///< posix or sysv
    std::string segment;               ///< "/shmregion.<name>.<hex>", or "System V id N"
    std::string name;                  ///< the region it was made for
    std::int32_t sysv_key = 0;         ///< System V: the segment's key
    std::int32_t sysv_id = -1;         ///< System V: the segment's id; -1 otherwise
    std::uint64_t bytes = 0;           ///< real size of the segment
    std::size_t live_attachers = 0;    ///< live processes in its attacher table (pid + start time)
};
/// The orphan segments of home's regions that belong to this user, found by reading the
/// headers of /dev/shm's shmregion segments and of System V segments (read-only).
SHMREGION_API std::vector<OrphanSegment> orphan_segments(const std::filesystem::path& home);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API std::vector<OrphanSegment> orphan_segments(const std::filesystem::path& home, std::error_code& ec) noexcept;
/// Removes an orphan segment after checking again that it still is one, unless a live
/// process is in its attacher table (then false, nothing removed).
SHMREGION_API bool remove_orphan_segment(const std::filesystem::path& home, const OrphanSegment& s);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API bool remove_orphan_segment(const std::filesystem::path& home, const OrphanSegment& s, std::error_code& ec) noexcept;

/// The names of the regions in home (every <name>.region file), sorted.
SHMREGION_API std::vector<std::string> list(const std::filesystem::path& home);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API std::vector<std::string> list(const std::filesystem::path& home, std::error_code& ec) noexcept;

/// A creation in a home whose creator died before publishing the region (its hidden pending
/// file is left), and what remove_abandoned() did about it, or abandoned_creations() would.
struct AbandonedCreation {
    /// What was done (or would be) about the pending file.
    enum class Action {
        removed,       ///< remove_abandoned(): the segment it names (if any) and the pending file went
        would_remove,  ///< abandoned_creations(): what remove_abandoned() would remove
        skipped,       ///< not handled (error and message say why): left as it is; the sweep went on
    };
    Action action = Action::removed;  ///< see Action
    /// The pending file: home / ".<name>.region.pending.<pid>.<random>".
    std::filesystem::path pending_file;
    std::string name;       ///< the region it was creating (its file would be region_file(home, name))
    pid_t creator_pid = 0;  ///< the dead creator, as the pending file's name records it
    /// What the pending file names: posix (segment) or sysv (sysv_key, sysv_id); any if it
    /// names nothing: the creator died before writing it, the region was published after all
    /// (published), or it was skipped before it was read.
    Backing backing = Backing::any;
    std::string segment;          ///< posix: "/shmregion.<name>.<hex>" (it may never have been made)
    std::int32_t sysv_key = 0;    ///< sysv: the key the creator used
    std::int32_t sysv_id = -1;    ///< sysv: -1 if the creator died before recording the id
    /// removed: the segment was removed. POSIX: shm_unlink ran (the segment may never have
    /// been made); System V: a segment of that key made by the creator was found and removed
    /// (false when there was none: the creator died before shmget, or it went already).
    bool segment_removed = false;
    /// The region was published after all: only the pending file goes, the region stays.
    bool published = false;
    std::error_code error;  ///< skipped: why (wrong_owner for another user's file, ...)
    std::string message;    ///< skipped: the cause ("belongs to uid 1001, not to us")
};

/// Undoes creations in home whose creator died before publishing the region: a POSIX or
/// System V creator records what it makes in a hidden pending file
/// (".<name>.region.pending.<pid>.<random>") until the region is published, and while it
/// lives it holds a lock on that file. For every pending file whose creator is gone this
/// removes the segment it names (unless the region was published after all) and the
/// pending file. Never touches a live creator's work or a published region. Returns one
/// record per dead creator's pending file: Action::removed saying what went, or
/// Action::skipped for one it could not handle (the sweep goes on; the record says what it
/// had read and done before the failure); regiontool clean words them. Only this user's
/// pending files are looked at (RemoveOptions' owner rule). Creating or joining a region
/// (as the first attacher) sweeps that name's abandoned creations too. Errors (the whole
/// sweep): those of reading home.
SHMREGION_API std::vector<AbandonedCreation> remove_abandoned(const std::filesystem::path& home);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API std::vector<AbandonedCreation> remove_abandoned(const std::filesystem::path& home, std::error_code& ec) noexcept;
/// What remove_abandoned(home) would remove, removing nothing (regiontool clean --dry-run):
/// one record per dead creator's pending file, Action::would_remove (or skipped).
SHMREGION_API std::vector<AbandonedCreation> abandoned_creations(const std::filesystem::path& home);
/// As the form above, but stores the failure in ec (message: last_error_message()) instead of throwing.
SHMREGION_API std::vector<AbandonedCreation> abandoned_creations(const std::filesystem::path& home, std::error_code& ec) noexcept;

/// The path of a named region's file in home: home / (name + ".region").
SHMREGION_API std::filesystem::path region_file(const std::filesystem::path& home, std::string_view name);

SHMREGION_NAMESPACE_END
