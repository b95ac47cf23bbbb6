// One attach's life after it is made: lock and unlock (with the repair a dead holder
// needs), detach (and the removal at the last detach), the attacher slot, fork, flush and
// prefault.
#include "region/region_impl.hpp"

#include "sync/attacher_table.hpp"
#include "sync/liveness.hpp"
#include "sync/robust_mutex.hpp"
#include "sys/crash_point.hpp"
#include "sys/failure.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <tuple>

namespace shmregion::detail {

void refuse_owner(const std::filesystem::path& file, const std::string& what, uid_t owner, uid_t us) {
    throw_failure(errc::wrong_owner, file,
                  what + " belongs to uid " + std::to_string(owner) + ", not to us (uid " + std::to_string(us) +
                      "); set Options::require_same_owner = false to share regions between users");
}

RegionHeader read_validated_header(const Store& store, const std::filesystem::path& file,
                                   const std::optional<Locator>& locator, std::uint64_t* backing_size,
                                   std::optional<uid_t> segment_owner) {
    // The header before the size: a backing grows before a larger size is published and
    // never shrinks below a published one, so this order cannot see a size not yet backed.
    RegionHeader h;
    try {
        store.read(&h, sizeof h, 0);
    } catch (const Failure& f) {
        if (f.code != make_error_code(errc::size_mismatch)) throw;
        throw_failure(errc::size_mismatch, file,
                      file.string() + ": backing holds " + std::to_string(store.backing_size()) +
                          " bytes, less than a header (" + std::to_string(sizeof h) + ")");
    }
    std::uint64_t bsize = 0;
    if (segment_owner) {
        // The owner from the same stat as the size, checked before the copy is looked at.
        uid_t owner = 0;
        std::tie(bsize, owner) = store.size_and_owner();
        if (owner != *segment_owner) refuse_owner(file, "the segment named by " + file.string(), owner, *segment_owner);
    } else {
        bsize = store.backing_size();
    }
    validate_header(h, bsize, file, store.kind());
    if (locator) check_header_matches_locator(h, *locator, file);
    if (backing_size) *backing_size = bsize;
    return h;
}

void RegionImpl::after_fork_in_child(void* self) noexcept {
    auto* impl = static_cast<RegionImpl*>(self);
    if (!impl->store) return;
    // The child must not keep its parent's liveness locks alive: they belong to open file
    // descriptions fork() shares, so a parent killed with SIGKILL would look alive for as
    // long as the child lives. (The mapping is made from a description of its own, which
    // holds no lock: the child may keep it.)
    impl->store->disown_locks_after_fork();
}

RegionImpl::RegionImpl() : fork_hook_(&RegionImpl::after_fork_in_child, this) {}

RegionImpl::~RegionImpl() {
    stop_prefaults();
    release_guards();
}

void RegionImpl::set_sizes(const RegionHeader& v) noexcept {
    header_bytes = v.header_size;
    region_bytes = v.region_size;
    max_region_bytes = v.max_region_size;
    generation = v.generation;
    table.hdr = hdr;
    table.layout = lock_table_layout(v.max_attachers, v.lock_count);
    table.count = v.lock_count;
    table.slots = v.max_attachers;
    table.own_slot = has_slot ? slot : 0xFFFFFFFFu;
    table.lock_fd = store ? store->lock_fd() : -1;
    table.file = &file;
    table.setup();
    exclusive_held_store.assign(table.count, 0);
    publish_inline();
}

void RegionImpl::publish_inline() noexcept {
    protocol = 0;  // first: nothing inline runs on a half-made view
    if (!hdr) {
        region_mutex = nullptr;
        generation_word = nullptr;
        flags_word = nullptr;
        entries = nullptr;
        own_row = nullptr;
        exclusive_held = nullptr;
        count = 0;
        return;
    }
    region_mutex = &hdr->mutex;
    generation_word = &hdr->generation;
    flags_word = &hdr->flags;
    entries = reinterpret_cast<unsigned char*>(table.entries);
    own_row = table.own_row;
    count = table.count;
    exclusive_held = exclusive_held_store.data();
    mutex_kind = region_mutex_kind_wanted();
    // An attach without a slot has no share records: its table locks take the full path.
    if (count == 0 || own_row) protocol = kInlineProtocol;
}


Deadline RegionImpl::library_deadline() const noexcept {
    const auto now = std::chrono::steady_clock::now();
    const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::time_point::max() - now - std::chrono::hours(24));
    return now + std::clamp(join_timeout, std::chrono::milliseconds(0), room);
}

// ---- the I/O engine and prefault ----------------------------------------------------------

void RegionImpl::choose_engine() const {
    const io::Choice c = io::detail::choose_or_throw(requested_engine);
    engine_kind = c.engine;
    engine_forced = c.forced;
    engine_chosen = true;
}

io::Engine& RegionImpl::engine() const {
    if (!engine_chosen) choose_engine();
    try {
        return io::detail::thread_engine(engine_kind);
    } catch (const Failure&) {
        if (engine_forced || engine_kind == io::EngineKind::sync) throw;
        return io::detail::thread_engine(io::EngineKind::sync);
    }
}

io::PrefaultOptions RegionImpl::prefault_options() const {
    io::PrefaultOptions o;
    // Prefault chooses for itself (only one of its methods uses an engine) unless an engine
    // was named, in the options or by SHMREGION_IO_ENGINE (which its choice reads too).
    o.engine = requested_engine;
    return o;
}

void RegionImpl::prefault() {
    io::detail::prefault_or_throw(mapping->base(), mapping->mapped(), prefault_options());
}

io::PrefaultHandle RegionImpl::start_prefault() {
    std::erase_if(prefaults, [](const auto& p) { return io::PrefaultHandle(p).done(); });
    auto job = io::detail::start_prefault(mapping->base(), mapping->mapped(), prefault_options(), mapping);
    prefaults.push_back(job);
    return io::PrefaultHandle(std::move(job));
}

void RegionImpl::stop_prefaults() noexcept {
    for (auto& p : prefaults) io::detail::cancel_and_wait(*p);
    prefaults.clear();
}

void RegionImpl::flush() {
    // Only a durable backing's memory outlives a reboot; the others have nothing to write back.
    if (!store->traits().durable) return;
    store->flush(engine());
    if (!home_synced) {
        // The region's name in home must survive a crash too: fdatasync does not commit a
        // new directory entry (the creator's link()), an fsync of the directory does.
        Fd dir(::open(home.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) throw_errno(errno, "open directory", home);
        if (::fsync(dir.get()) != 0) throw_errno(errno, "fsync directory", home);
        home_synced = true;
    }
}

// ---- the lock ------------------------------------------------------------------------------

bool RegionImpl::lock(Deadline deadline, bool for_application) {
    bool died = false;
    if (!lock_for_application(Wait::from(deadline), died) && !for_application)
        throw_failure(errc::lock_timeout, file, lock_name(file, kRegionMutex) + ": timed out waiting for the holder");
    return died;
}

void RegionImpl::recover_after_death() {
    recover_growth();
    reap_dead();
    hdr->flags |= kFlagOwnerDiedUnreported;
    ++hdr->lock_deaths;
    robust_mutex_consistent(&hdr->mutex);
}

LockGuard RegionImpl::region_guard_from(const Wait& wait, int rc) {
    if (rc == -1) return region_guard(wait);
    LockGuard g;
    LockOutcome out = LockOutcome::acquired;
    if (rc != kFastHeldWithShares) {
        out = robust_mutex_acquire_slow(&hdr->mutex, wait, file, kRegionMutex, rc);
        if (out == LockOutcome::busy) return g;
        if (out == LockOutcome::owner_died) recover_after_death();
    }
    if (load_acquire(hdr->generation) != generation) refresh_locked();
    hold(this, g.node_, kRegionLockIndex, false, (hdr->flags & kFlagOwnerDiedUnreported) != 0);
    return g;
}

void RegionImpl::refresh_locked() {
    try {
        refresh();  // the application sees a grown region under its lock
    } catch (...) {
        unlock();
        throw;
    }
}

// ---- guards --------------------------------------------------------------------------------

void RegionImpl::throw_bad_index(std::uint32_t index) const {
    throw Failure{std::make_error_code(std::errc::invalid_argument), file,
                  "lock index " + std::to_string(index) + " is out of range: " + describe(file, store->kind()) +
                      " has a lock table of " + std::to_string(table.count) + (table.count == 1 ? " lock" : " locks") +
                      (table.count == 0 ? " (Options::locks at creation)" : "")};
}

void RegionImpl::throw_wrong_process() const {
    throw_failure(errc::wrong_process, file,
                  "this attach belongs to process " + std::to_string(owner_pid) +
                      "; a fork()ed child must call join_after_fork() first");
}

void RegionImpl::mark_consistent(GuardNode& n) noexcept {
    if (!hdr) return;
    n.owner_died = false;
    if (n.index == kRegionLockIndex) hdr->flags &= ~kFlagOwnerDiedUnreported;  // we hold the region lock
    else lock_mark_consistent(table, n.index);
}

bool RegionImpl::alive(AttacherIdentity who) const noexcept {
    if (who.slot >= slots || who.generation == 0) return false;
    const AttacherSlot& s = *slot_at(hdr, who.slot);
    if (load_acquire(s.state) != kSlotInUse || load_acquire(s.generation) != who.generation) return false;
    if (has_slot && who.slot == slot) return true;  // this very attach
    return slot_alive(s, who.slot, store ? store->lock_fd() : -1);
}

bool RegionImpl::release_guards() noexcept {
    if (!hdr || owner_pid != current_pid()) return true;  // nothing of this process's is held
    // All or nothing: if another thread holds one of this attach's exclusive locks, release
    // none (detach then fails, and every guard still holds what it says it holds). The
    // thread id is asked (a system call) only when there is an exclusive lock to check.
    int me = 0;
    auto mine = [&](const pthread_mutex_t& m) {
        if (me == 0) me = static_cast<int>(::gettid());
        return m.__data.__owner == me;
    };
    if (region_lock_held && !mine(hdr->mutex)) return false;
    for (std::uint32_t i = 0; i < table.count && i < exclusive_held_store.size(); ++i)
        if (exclusive_held[i] && !mine(table.entry(i).mutex)) return false;
    bool all = true;
    if (region_lock_held) {
        if (unlock() == 0) region_lock_held = false;
        else all = false;  // another thread's: it stays held
    }
    if (has_slot) {
        for (std::uint32_t i = 0; i < table.count; ++i) {
            if (exclusive_held[i]) {
                if (exclusive_release(table, i) == 0) exclusive_held[i] = 0;
                else all = false;  // another thread's: it stays held
            }
            shared_release_all(table, i);
        }
    }
    return all;
}

void RegionImpl::mark_for_removal() {
    lock(library_deadline());
    hdr->flags |= kFlagUnlinkRequested;
    unlock();
}

std::size_t RegionImpl::reap_dead_locked() {
    lock(library_deadline());
    const std::size_t n = reap_dead();
    unlock();
    return n;
}

// ---- attachers -----------------------------------------------------------------------------

std::size_t RegionImpl::reap_dead() noexcept {
    return reap_dead_slots(*hdr, slots, store ? store->lock_fd() : -1,
                           has_slot ? std::optional<std::uint32_t>(slot) : std::nullopt, table);
}

void RegionImpl::take_slot() {
    slot = take_free_slot(*hdr, slots, store->lock_fd(), file);
    has_slot = true;
    table.own_slot = slot;
    table.lock_fd = store->lock_fd();
    table.setup();
    publish_inline();
}

void RegionImpl::join_after_fork() {
    if (owner_pid == current_pid()) return;
    if (!hdr) throw_failure(errc::not_attached, {}, "the Region is not attached");
    if (store->traits().in_process)
        throw_failure(errc::invalid_options, {},
                      "a " + std::string(store->traits().name) +
                          " region is private memory: a fork()ed child has only a copy");
    release_guards();   // the parent's guards, copied by fork(): nothing is unlocked
    region_lock_held = false;
    std::fill(exclusive_held_store.begin(), exclusive_held_store.end(), 0);
    stop_prefaults();   // the parent's jobs: their threads are not in this process
    background = {};
    if (!engine_forced) engine_chosen = false;  // chosen again: this process's seccomp filter and limits
    store->reopen_lock_fd();
    if (store->lock_fd() >= 0) presence_share(store->lock_fd(), file, std::nullopt);
    const pid_t parent = owner_pid;
    owner_pid = current_pid();
    has_slot = false;
    table.own_slot = 0xFFFFFFFFu;
    table.setup();
    publish_inline();
    created = false;
    try {
        lock(library_deadline());
        try {
            refresh();
            reap_dead();
            take_slot();
        } catch (...) {
            unlock();
            throw;
        }
        unlock();
    } catch (...) {
        // Not an attacher of its own: the attach stays the parent's (wrong_process), and the
        // child may try again.
        owner_pid = parent;
        throw;
    }
}

// ---- detach and removal --------------------------------------------------------------------

void RegionImpl::remove_region() {
    store_release(hdr->valid, kValidRemoved);  // late joiners start over
    try {
        store->remove_segment();
    } catch (...) {
        // The memory is still there and named: it must stay joinable, not "being removed"
        // forever. The flag stays set, so its next last detach tries again.
        store_release(hdr->valid, kValidReady);
        throw;
    }
    // If this fails (e.g. EPERM in a sticky home), the file names a removed region; the next
    // joiner that finds nobody attached finishes the removal (presence, docs/format.md).
    store->remove_file();
    // A region going away takes its name's abandoned creations with it.
    if (!file.empty()) sweep_abandoned(home, name);
}

void RegionImpl::detach() {
    if (!release_guards())
        throw_errno(EPERM, "detach: a lock of this attach is held by a LockGuard of another thread; release it there first");
    stop_prefaults();  // no job of ours touches the region once it is left
    if (owner_pid != current_pid() || !has_slot) {
        // Another process's attach inherited through fork(), or one that never finished:
        // leave the shared header alone, just drop our view.
        mapping.reset();
        store.reset();
        return;
    }
    std::optional<Failure> failure;
    bool locked = false;
    try {
        lock(library_deadline());
        locked = true;
    } catch (Failure& f) {
        // The region lock stayed held (a stopped holder) past the join timeout. Leave anyway:
        // once our liveness lock is dropped below, the next locker reaps our slot as dead.
        failure = std::move(f);
    }
    if (locked) {
        // The count of the live decides a removal at the last detach, so it is made exact
        // first (a liveness probe per other attacher). Without a removal pending, the next
        // attach or lock reaps the dead, and this detach only takes itself off the count.
        if (hdr->flags & kRemoveAtLastDetach) reap_dead();
        AttacherSlot& mine = *slot_at(hdr, slot);
        const SelfIdentity& me = self_identity();
        if (mine.state == kSlotInUse && mine.pid == me.pid && mine.start_time == me.start_time) {
            slot_clear(mine);
            if (hdr->ref_count > 0) --hdr->ref_count;
        }  // else someone took us for dead and reused the slot: it is not ours to clear
    }
    has_slot = false;
    SHMREGION_CRASH_POINT("detach.after_slot_clear");
    if (locked && hdr->ref_count == 0 && (hdr->flags & kRemoveAtLastDetach)) {
        try {
            remove_region();
        } catch (Failure& f) {
            failure = std::move(f);
        }
    }
    if (locked) unlock();
    // Released explicitly: whatever else may share the description (a child forked while
    // this attach was being made), this attacher is gone.
    if (store && store->lock_fd() >= 0) release_attacher_locks(store->lock_fd(), slot);
    hdr = nullptr;
    publish_inline();
    mapping.reset();
    store.reset();
    if (failure) throw *failure;
}

}  // namespace shmregion::detail

SHMREGION_NAMESPACE_BEGIN
void inline_abi::free_orphaned(detail::InlineLocks* attach) noexcept { delete static_cast<detail::RegionImpl*>(attach); }
SHMREGION_NAMESPACE_END
