// Attach: create, join, and the retry loop between them. A join also clears what crashes
// left that only a lone joiner may clear (docs/format.md, "Presence").
#include "region/region_impl.hpp"

#include "sync/liveness.hpp"
#include "sync/lock_table.hpp"
#include "sync/robust_mutex.hpp"
#include "sys/crash_point.hpp"
#include "sys/failure.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

namespace shmregion::detail {
namespace {

/// A transient state seen while joining (creator not finished, region being removed):
/// attach retries until its deadline, then reports `why`.
struct RetryLater {
    Failure why;
};

// ---- create ------------------------------------------------------------------------------

void init_header(RegionImpl& r, const Options& o, const Sizes& s) {
    RegionHeader& h = *r.hdr;  // fresh backing: all zero, or a POSIX segment's birth record
    std::memcpy(h.magic, kRegionMagic, sizeof h.magic);
    h.version = kLayoutVersion;
    h.layout = kLayoutWord;
    h.header_size = static_cast<std::uint32_t>(s.header);
    h.backing = static_cast<std::uint32_t>(o.backing);
    h.flags = o.remove_on_last_detach ? kFlagRemoveOnLastDetach : 0;
    h.region_size = s.region;
    h.max_region_size = s.max_region;
    h.generation = 1;
    h.page_size = page_size();
    h.max_attachers = o.max_attachers;
    h.creator_pid = current_pid();
    h.creator_uid = ::geteuid();
    h.created_at_ns = now_ns();
    h.sysv_id = -1;
    r.store->describe(h);
    if (!r.file.empty()) stamp_home(h, o.home, r.file);
    robust_mutex_init(&h.mutex);
    h.lock_count = o.locks;
    lock_table_init(h, lock_table_layout(o.max_attachers, o.locks), o.locks);
    // The creator is attacher 0. Nobody else can see the region yet, so no mutex is
    // needed; slot 0's liveness lock was taken with the pending file (PendingFile).
    slot_at(&h, 0)->generation = 1;
    slot_fill_self(*slot_at(&h, 0));
    r.slot = 0;
    r.has_slot = true;
    h.ref_count = 1;
    SHMREGION_CRASH_POINT("create.before_valid");
    store_release(h.valid, kValidReady);  // last: joiners trust nothing before this
}

/// Creates the region; nullptr if another process published the name first.
std::unique_ptr<RegionImpl> create(std::unique_ptr<RegionImpl> r, const Options& o, const std::filesystem::path& file) {
    const Sizes s = creation_sizes(o);
    r->file = backing_traits(o.backing).named ? file : std::filesystem::path();
    r->created = true;
    CreateRequest req{o.home, file, o.name, o.permissions, s.region, r->engine_source()};
    r->store = create_store(o.backing, req);
    try {
        r->mapping = std::make_shared<Mapping>(s.max_region);
        r->store->map(*r->mapping, s.region);
        r->hdr = reinterpret_cast<RegionHeader*>(r->mapping->base());
        r->slots = o.max_attachers;
        init_header(*r, o, s);
        r->set_sizes(*r->hdr);
        SHMREGION_CRASH_POINT("create.before_publish");
        if (!r->store->publish(r->mapping)) {
            r->store->discard();
            r->has_slot = false;  // nothing to detach from: the region never existed
            return nullptr;
        }
    } catch (...) {
        r->store->discard();
        r->has_slot = false;
        throw;
    }
    return r;
}

// ---- join --------------------------------------------------------------------------------

/// The identity of the region's file as a joiner opened it.
struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
};

/// True if the region's file in home is still the inode this attach opened: a forced
/// unlink may have removed it (and a new region taken the name) while we joined.
bool still_named(const std::filesystem::path& file, FileId id) {
    struct stat now {};
    if (::stat(file.c_str(), &now) != 0) {
        if (errno == ENOENT) return false;
        throw_errno(errno, "stat", file);
    }
    return now.st_dev == id.dev && now.st_ino == id.ino;
}

/// The transient "being removed" state: retried until the deadline, then reported.
RetryLater being_removed(const std::filesystem::path& file, Backing kind, const std::string& how = " is being removed") {
    return RetryLater{Failure{make_error_code(errc::marked_for_removal), file, describe(file, kind) + how}};
}

/// True the first time this process joins `name` of `home` alone (the home spelled as the
/// caller spells it: another spelling only sweeps once more).
bool first_lone_join(const std::filesystem::path& home, const std::string& name) {
    static std::mutex m;
    static std::set<std::string> seen;
    // Never waits: a fork() while another thread held it must not hang the child, and a
    // sweep skipped under contention is made by a later join, a create or a removal.
    std::unique_lock g(m, std::try_to_lock);
    return g.owns_lock() && seen.insert(home.native() + '\0' + name).second;
}

/// Joining an in-process region: the store of the existing one, its header validated.
RegionHeader open_in_process(RegionImpl& r, const Options& o) {
    r.store = backing_type(o.backing).find(o.name);
    if (!r.store) throw_failure(errc::region_not_found, {}, "no heap region of this name in this process");
    r.mapping = r.store->shared_mapping();
    return read_validated_header(*r.store, "heap region", std::nullopt, nullptr);
}

/// Joining a named region: opens its file in home and the backing it names, and copies
/// and validates the header. `alone` says whether nobody else is attached or joining.
RegionHeader open_named(RegionImpl& r, const Options& o, const std::filesystem::path& file, bool& alone,
                        FileId& id) {
    HomeFile hf = open_home_file(file, true);
    if (o.backing != Backing::any && hf.kind != o.backing)
        throw_failure(errc::backing_mismatch, file,
                      file.string() + " holds a " + std::string(to_string(hf.kind)) + " region, not the " +
                          std::string(to_string(o.backing)) + " region asked for");
    const uid_t us = o.require_same_owner ? ::geteuid() : 0;
    if (o.require_same_owner && hf.uid != us) refuse_owner(file, file.string(), hf.uid, us);
    const std::optional<Locator> loc = hf.locator;
    id = {hf.dev, hf.ino};
    // Presence: every attacher holds a shared lock on one byte of the region's file.
    // Getting it exclusively means nobody else is attached or joining, which makes
    // three leftovers of crashes safe to clear (see docs/format.md, "Presence").
    alone = presence_try_exclusive(hf.fd.get());
    try {
        r.store = open_store(hf, file, true);  // takes hf.fd only if it succeeds
    } catch (Failure& f) {
        // segment_foreign (made in another /dev/shm or IPC namespace, where it may well
        // exist) is an error for the caller, never an orphan.
        if (f.code != make_error_code(errc::segment_missing)) throw;
        // An orphan locator (its segment went: a reboot, systemd's RemoveIPC, a crash
        // inside a removal). With nobody attached, nothing can be lost by removing it.
        // segment_missing says the segment was made where we look (or before the last
        // boot); checked again here, since that is what makes the removal safe.
        // hf.fd still holds the exclusive presence lock, so nobody can have joined since.
        if (alone && loc && missing_means_gone(segment_place(*loc))) unlink_if_same(file, hf.fd.get());
        throw RetryLater{std::move(f)};
    }
    r.file = file;
    // A segment's owner is checked with its size, in the one stat the validation makes.
    RegionHeader h = read_validated_header(*r.store, file, loc, nullptr,
                                           o.require_same_owner && loc ? std::optional<uid_t>(us) : std::nullopt);
    if (h.valid == kValidRemoved && alone) {
        // Its remover died between marking it removed and removing its names.
        r.store->remove_segment();
        r.store->remove_file();
    }
    return h;
}

/// With nobody else attached or joining: what crashed attachers left in the header.
void recover_when_alone(RegionImpl& r) {
    // Nobody is attached, so nobody can hold the mutex; a holder recorded in it died
    // without the kernel noticing (the file outlived a reboot, or was copied while
    // locked) and would make every lock wait forever. Start it afresh; the next
    // application lock() hears that a holder died.
    if (robust_mutex_peek(&r.hdr->mutex).owner_tid != 0) {
        robust_mutex_init(&r.hdr->mutex);
        r.hdr->lock_holder = 0;
        r.hdr->flags |= kFlagOwnerDiedUnreported;
        ++r.hdr->lock_deaths;
    }
    // The same for the lock table, whose shares all belong to attachers that are gone.
    lock_table_reset_when_alone(r.table);
    // Nobody else can touch it now: a growth its (vanished) grower left half done.
    r.recover_growth();
}

/// What a join is for: an attach, or a gentle unlink (no slot, no engine).
enum class Intent { attach, mark_for_removal };

/// Under the lock: checks the region is still there to join and takes a slot (or, for
/// an unlink, marks it and removes it at once if nobody is attached).
void enter(RegionImpl& r, const Options& o, const std::filesystem::path& file, FileId id, Intent intent) {
    r.refresh();  // grown since the header was copied
    if (!r.file.empty() && !still_named(file, id)) throw being_removed(file, o.backing, " was removed while we joined");
    if (load_acquire(r.hdr->valid) != kValidReady) throw being_removed(file, o.backing);
    r.reap_dead();
    if ((r.hdr->flags & kRemoveAtLastDetach) && r.hdr->ref_count == 0) {
        // To be removed at its last detach, and its last attacher died without detaching:
        // nobody is left to remove it. Do what that last detach would have done, then
        // start over.
        r.remove_region();
        throw being_removed(file, o.backing);
    }
    if (intent == Intent::mark_for_removal) {
        // What an attach + mark_for_removal + detach would do, without a slot: marked (again,
        // if it was already), and removed now if nobody is attached.
        r.hdr->flags |= kFlagUnlinkRequested;
        if (r.hdr->ref_count == 0) r.remove_region();
        return;
    }
    if (r.hdr->flags & kFlagUnlinkRequested) {
        const std::string why = " is marked for removal and will go when its last attacher detaches";
        // create_or_join waits for the removal (up to join_timeout) and then creates the
        // region afresh or joins the new one; join_only cannot use a region on its way out.
        if (o.mode == OpenMode::create_or_join) throw being_removed(file, o.backing, why);
        throw_failure(errc::marked_for_removal, file, describe(file, o.backing) + why);
    }
    r.take_slot();
    if (o.remove_on_last_detach) r.hdr->flags |= kFlagRemoveOnLastDetach;
}

std::unique_ptr<RegionImpl> join(std::unique_ptr<RegionImpl> r, const Options& o, const std::filesystem::path& file,
                                 Deadline deadline, Intent intent) {
    bool alone = false;
    FileId id;
    const RegionHeader h = backing_traits(o.backing).in_process ? open_in_process(*r, o)
                                                                : open_named(*r, o, file, alone, id);
    if (h.valid == kValidInitialising)
        throw RetryLater{Failure{make_error_code(errc::header_incomplete), file,
                                 "header of " + describe(file, o.backing) +
                                     ": field 'valid' not set: the creator has not finished (or died)"}};
    if (h.valid == kValidRemoved) throw being_removed(file, o.backing);
    if (!r->mapping) {
        r->mapping = std::make_shared<Mapping>(h.max_region_size);
        r->store->map(*r->mapping, h.region_size);
    }
    r->hdr = reinterpret_cast<RegionHeader*>(r->mapping->base());
    r->slots = h.max_attachers;  // validated; the live field is never trusted again
    r->set_sizes(h);
    if (r->mapping->mapped() > r->region_bytes) r->region_bytes = r->mapping->mapped();  // a heap region grown meanwhile
    if (alone) recover_when_alone(*r);
    if (r->store->lock_fd() >= 0) presence_share(r->store->lock_fd(), file, deadline);

    r->lock(deadline);
    try {
        enter(*r, o, file, id, intent);
    } catch (...) {
        r->unlock();
        throw;
    }
    r->unlock();
    // The first attacher after everybody left (a restart after a crash, typically) also
    // undoes creations of this name whose creator died before publishing. Only located
    // backings' creators leave hidden pending files (a file creator's O_TMPFILE dies with
    // it), and only once per process and region, so that a process attaching and
    // detaching in a loop pays for the directory read once (docs/performance.md).
    if (alone && r->store->traits().located && first_lone_join(o.home, o.name)) sweep_abandoned(o.home, o.name);
    return r;
}

/// A fresh attach of this process, with the engine it was asked for.
std::unique_ptr<RegionImpl> new_attach(const Options& o, const std::optional<io::Choice>& engine) {
    auto r = std::make_unique<RegionImpl>();
    r->name = o.name;
    r->home = o.home;
    r->owner_pid = current_pid();
    r->requested_engine = o.io_engine;
    r->join_timeout = o.join_timeout;
    if (engine) {
        r->engine_kind = engine->engine;
        r->engine_forced = engine->forced;
        r->engine_chosen = true;
    }
    return r;
}

std::unique_ptr<RegionImpl> attach_region(const Options& o, const std::optional<io::Choice>& engine,
                                          Intent intent = Intent::attach) {
    // Clamped: now() + milliseconds::max() would overflow.
    const auto now = std::chrono::steady_clock::now();
    const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::time_point::max() - now - std::chrono::hours(24));
    const auto deadline = now + std::clamp(o.join_timeout, std::chrono::milliseconds(0), room);
    const BackingTraits& t = backing_traits(o.backing);
    const bool named = t.named || o.backing == Backing::any;
    const std::filesystem::path file = named ? region_file(o.home, o.name) : std::filesystem::path();
    Backoff backoff(std::chrono::microseconds(200), std::chrono::microseconds(50'000));
    // Waiting for another process's creation of the name: short sleeps (a creation takes
    // tens of microseconds), for at most kMaxDeferral in all.
    Backoff defer(std::chrono::microseconds(20), std::chrono::microseconds(2'000));
    constexpr auto kMaxDeferral = std::chrono::milliseconds(100);
    std::optional<std::chrono::steady_clock::time_point> deferring_since;
    int deferrals = 0;
    for (;;) {
        if (o.mode != OpenMode::create_only && !t.fork_shared) {
            try {
                return join(new_attach(o, engine), o, file, deadline, intent);
            } catch (RetryLater& retry) {
                if (std::chrono::steady_clock::now() >= deadline) throw retry.why;
                backoff.wait();
                continue;
            } catch (Failure& f) {
                // The segment went at any step after the locator was read (owner check,
                // header read, size check, shmat): a last detacher removed the region while
                // we joined. Start over: the file is gone too by now, or soon.
                if (f.code == make_error_code(errc::segment_missing) && std::chrono::steady_clock::now() < deadline) {
                    backoff.wait();
                    continue;
                }
                if (f.code != make_error_code(errc::region_not_found)) throw;
                if (!file.empty()) check_home(o.home);  // "home missing" says more than "no such region"
                if (o.mode == OpenMode::join_only) throw;
            }
        }
        if (o.mode == OpenMode::create_only && t.named) check_home(o.home);
        // Before creating: undo earlier creations of this name whose creator died before
        // publishing (their segments would otherwise stay until somebody ran clean).
        const bool others_creating = t.named && sweep_abandoned(o.home, o.name);
        // A live process is creating the name right now: join what it publishes in a moment
        // rather than build a segment of our own only to lose the race and throw it away
        // (with 16 racers, 15 wasted creations were most of the race's time;
        // docs/performance.md). Bounded, so that a stopped creator delays us, never blocks.
        if (others_creating && o.mode == OpenMode::create_or_join) {
            const auto when = std::chrono::steady_clock::now();
            if (!deferring_since) deferring_since = when;
            if (when - *deferring_since < kMaxDeferral && when < deadline) {
                if (++deferrals <= 8) ::sched_yield();
                else defer.wait();
                continue;
            }
        }
        if (auto r = create(new_attach(o, engine), o, file)) return r;
        if (o.mode == OpenMode::create_only)
            throw_failure(errc::region_exists, file, describe(file, o.backing) + " already exists");
        if (std::chrono::steady_clock::now() >= deadline)
            throw_failure(errc::lock_timeout, file, "gave up racing to create or join " + file.string());
    }
}

/// Options::prefault: waits, or starts the job, for a region just attached.
std::unique_ptr<RegionImpl> with_prefault(std::unique_ptr<RegionImpl> r, Prefault how) {
    if (how == Prefault::none) return r;
    try {
        if (how == Prefault::wait)
            r->prefault();
        else
            r->background = r->start_prefault();
    } catch (...) {
        try {
            if (r->created) r->mark_for_removal();  // the caller gets no Region to remove it with: it goes now
            r->detach();
        } catch (...) {
        }
        throw;
    }
    return r;
}

}  // namespace

std::unique_ptr<RegionImpl> attach(const Options& o) {
    check_options(o);
    // An engine named in the options is chosen first: one that cannot run here fails
    // before anything is made. An automatic choice waits until an operation needs it.
    std::optional<io::Choice> engine;
    if (o.io_engine != io::EngineKind::automatic) engine = io::detail::choose_or_throw(o.io_engine);
    return with_prefault(attach_region(o, engine), o.prefault);
}

void mark_for_removal_unattached(const Options& o) {
    check_options(o);
    if (o.mode != OpenMode::join_only || !(backing_traits(o.backing).named || o.backing == Backing::any))
        throw_failure(errc::invalid_options, {}, "only an existing named region can be marked for removal");
    (void)attach_region(o, std::nullopt, Intent::mark_for_removal);
}

}  // namespace shmregion::detail
