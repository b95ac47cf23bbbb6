// Attach, lock, detach: the region life cycle over any backing (backing/store.hpp).
#include "region/region_impl.hpp"

#include "sync/attacher_table.hpp"
#include "sync/liveness.hpp"
#include "sync/robust_mutex.hpp"
#include "sys/crash_point.hpp"
#include "sys/failure.hpp"

#include <shmregion/region.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

namespace shmregion {
namespace detail {
namespace {

/// A transient state seen while joining (creator not finished, region being removed):
/// attach retries until its deadline, then reports `why`.
struct RetryLater {
    Failure why;
};

std::string num(std::uint64_t v) { return std::to_string(v); }

struct Sizes {
    std::uint64_t header;
    std::uint64_t region;      // header + usable
    std::uint64_t max_region;  // header + usable ceiling
};

Sizes creation_sizes(const Options& o) {
    if (o.max_attachers == 0 || o.max_attachers > max_attachers_limit)
        throw_failure(errc::invalid_options, {},
                      "max_attachers " + num(o.max_attachers) + " is not in 1.." + num(max_attachers_limit));
    if (o.size == 0) throw_failure(errc::invalid_size, {}, "size 0: a region needs at least one byte");
    const std::uint64_t limit = kMaxRegionBytes;
    Sizes s{};
    s.header = header_bytes(o.max_attachers);
    auto usable = round_up(o.size, page_size());
    if (!usable || *usable > limit - s.header)
        throw_failure(errc::invalid_size, {},
                      "size " + num(o.size) + " is beyond the largest region (" + num(limit - s.header) +
                          " usable bytes)");
    std::uint64_t max = o.max_size == 0 ? o.size : o.max_size;
    if (max < o.size)
        throw_failure(errc::invalid_size, {},
                      "max_size " + num(o.max_size) + " is below size " + num(o.size));
    auto usable_max = round_up(max, page_size());
    if (!usable_max || *usable_max > limit - s.header)
        throw_failure(errc::invalid_size, {},
                      "max_size " + num(max) + " is beyond the largest region (" + num(limit - s.header) +
                          " usable bytes)");
    if (o.backing == Backing::sysv && *usable_max != *usable)
        throw_failure(errc::not_growable, {},
                      "System V segments have a fixed size: max_size must equal size (or be 0)");
    s.region = s.header + *usable;
    s.max_region = s.header + *usable_max;
    return s;
}

void check_options(const Options& o) {
    validate_name(o.name);
    // The nine permission bits only: setuid, setgid and sticky mean nothing on a region file
    // or segment (and could surprise whoever runs it), and higher bits are file types.
    if ((o.permissions & ~static_cast<::mode_t>(0777)) != 0) {
        char text[16];
        std::snprintf(text, sizeof text, "0%o", static_cast<unsigned>(o.permissions));
        throw_failure(errc::invalid_options, {},
                      std::string("permissions ") + text +
                          " has bits beyond the nine permission bits 0777 (setuid, setgid, sticky or file-type "
                          "bits); give read/write bits for user, group and other only");
    }
    if (o.backing == Backing::any && o.mode != OpenMode::join_only)
        throw_failure(errc::invalid_options, {}, "backing 'any' can only join (OpenMode::join_only)");
    if (o.backing == Backing::anonymous && o.mode == OpenMode::join_only)
        throw_failure(errc::invalid_options, {},
                      "anonymous regions cannot be joined by name: share them with fork() and "
                      "Region::join_after_fork()");
    if (o.mode != OpenMode::join_only) (void)creation_sizes(o);
    if (o.home.empty() && o.backing != Backing::anonymous && o.backing != Backing::heap)
        throw_failure(errc::invalid_options, {}, "no home directory given");
    // Whether home exists is checked only when its region file cannot be opened (join)
    // or created: it costs a path lookup on every attach otherwise.
}

bool named(Backing b) { return b == Backing::file || b == Backing::posix || b == Backing::sysv; }

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
    h.creator_pid = ::getpid();
    h.creator_uid = ::geteuid();
    h.created_at_ns = now_ns();
    h.sysv_id = -1;
    r.store->describe(h);
    if (!r.file.empty()) stamp_home(h, o.home, r.file);
    robust_mutex_init(&h.mutex);
    // The creator is attacher 0. Nobody else can see the region yet, so no mutex is
    // needed; slot 0's liveness lock was taken with the pending file (PendingFile).
    slot_fill_self(*slot_at(&h, 0));
    r.slot = 0;
    r.has_slot = true;
    h.ref_count = 1;
    SHMREGION_CRASH_POINT("create.before_valid");
    store_release(h.valid, kValidReady);  // last: joiners trust nothing before this
}

/// Creates the region; nullptr if another process published the name first.
std::unique_ptr<RegionImpl> create(const Options& o, const std::filesystem::path& file, const io::Choice& engine) {
    const Sizes s = creation_sizes(o);
    auto r = std::make_unique<RegionImpl>();
    r->name = o.name;
    r->home = o.home;
    r->file = named(o.backing) ? file : std::filesystem::path();
    r->owner_pid = ::getpid();
    r->created = true;
    r->requested_engine = o.io_engine;
    r->engine_kind = engine.engine;
    r->engine_forced = engine.forced;
    CreateRequest req{o.home, file, o.name, o.permissions, s.region, nullptr};
    if (o.backing == Backing::file || o.backing == Backing::posix) req.engine = &r->engine();
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

/// True if the region's file in home is still the inode this attach opened: a forced
/// unlink may have removed it (and a new region taken the name) while we joined.
bool still_named(const RegionImpl& r, dev_t dev, ino_t ino) {
    struct stat now {};
    if (::stat(r.file.c_str(), &now) != 0) {
        if (errno == ENOENT) return false;
        throw_errno(errno, "stat", r.file);
    }
    return now.st_dev == dev && now.st_ino == ino;
}

/// How messages name a region: its file, or "heap region" for one without.
std::string describe(const std::filesystem::path& file) {
    return file.empty() ? std::string("heap region") : file.string();
}

/// The transient "being removed" state: retried until the deadline, then reported.
RetryLater being_removed(const std::filesystem::path& file, const std::string& how = " is being removed") {
    return RetryLater{Failure{make_error_code(errc::marked_for_removal), file, describe(file) + how}};
}

/// Refuses a region file or segment of another user (Options::require_same_owner).
[[noreturn]] void refuse_owner(const std::filesystem::path& file, const std::string& what, uid_t owner) {
    throw_failure(errc::wrong_owner, file,
                  what + " belongs to uid " + std::to_string(owner) + ", not to us (uid " +
                      std::to_string(::geteuid()) +
                      "); set Options::require_same_owner = false to share regions between users");
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

std::unique_ptr<RegionImpl> join(const Options& o, const std::filesystem::path& file, Deadline deadline) {
    auto r = std::make_unique<RegionImpl>();
    bool alone = false;
    dev_t file_dev = 0;  // identity of the region's file as opened
    ino_t file_ino = 0;
    r->name = o.name;
    r->home = o.home;
    r->owner_pid = ::getpid();
    RegionHeader h;
    if (o.backing == Backing::heap) {
        r->store = open_heap_store(o.name);
        if (!r->store) throw_failure(errc::region_not_found, {}, "no heap region of this name in this process");
        r->mapping = r->store->shared_mapping();
        std::memcpy(&h, r->mapping->base(), sizeof h);
        validate_header(h, r->mapping->mapped(), "heap region", Backing::heap);
    } else {
        HomeFile hf = open_home_file(file, true);
        if (o.backing != Backing::any && hf.kind != o.backing)
            throw_failure(errc::backing_mismatch, file,
                          file.string() + " holds a " + std::string(to_string(hf.kind)) +
                              " region, not the " + std::string(to_string(o.backing)) + " region asked for");
        if (o.require_same_owner && hf.uid != ::geteuid()) refuse_owner(file, file.string(), hf.uid);
        const std::optional<Locator> loc = hf.locator;
        file_dev = hf.dev;
        file_ino = hf.ino;
        // Presence: every attacher holds a shared lock on one byte of the region's file.
        // Getting it exclusively means nobody else is attached or joining, which makes
        // three leftovers of crashes safe to clear (see docs/format.md, "Presence").
        alone = presence_try_exclusive(hf.fd.get());
        // The same open file description, kept past open_store; close-on-exec like every
        // descriptor of ours, so no program spawned meanwhile inherits its locks.
        Fd presence(::fcntl(hf.fd.get(), F_DUPFD_CLOEXEC, 0));
        if (!presence) throw_errno(errno, "dup", file);
        try {
            r->store = open_store(std::move(hf), file, true);
        } catch (Failure& f) {
            // segment_foreign (made in another /dev/shm or IPC namespace, where it may well
            // exist) is an error for the caller, never an orphan.
            if (f.code != make_error_code(errc::segment_missing)) throw;
            // An orphan locator (its segment went: a reboot, systemd's RemoveIPC, a crash
            // inside a removal). With nobody attached, nothing can be lost by removing it.
            // segment_missing says the segment was made where we look (or before the last
            // boot); checked again here, since that is what makes the removal safe.
            if (alone && loc && missing_means_gone(segment_place(*loc)))
                unlink_if_same(file, presence.get());
            throw RetryLater{std::move(f)};
        }
        r->file = file;
        if (o.require_same_owner && loc) {
            const uid_t owner = r->store->owner();
            if (owner != ::geteuid()) refuse_owner(file, "the segment named by " + file.string(), owner);
        }
        h = read_validated_header(*r->store, file, loc, nullptr);
        if (h.valid == kValidRemoved && alone) {
            // Its remover died between marking it removed and removing its names.
            r->store->remove_segment();
            r->store->remove_file();
        }
    }
    if (h.valid == kValidInitialising)
        throw RetryLater{Failure{make_error_code(errc::header_incomplete), file,
                                 "header of " + describe(file) +
                                     ": field 'valid' not set: the creator has not finished (or died)"}};
    if (h.valid == kValidRemoved) throw being_removed(file);
    if (!r->mapping) {
        r->mapping = std::make_shared<Mapping>(h.max_region_size);
        r->store->map(*r->mapping, h.region_size);
    }
    r->hdr = reinterpret_cast<RegionHeader*>(r->mapping->base());
    r->slots = h.max_attachers;  // validated; the live field is never trusted again
    r->set_sizes(h);
    if (r->mapping->mapped() > r->region_bytes) r->region_bytes = r->mapping->mapped();  // a heap region grown meanwhile
    if (alone) {
        // Nobody is attached, so nobody can hold the mutex; a holder recorded in it died
        // without the kernel noticing (the file outlived a reboot, or was copied while
        // locked) and would make every lock wait forever. Start it afresh; the next
        // application lock() hears that a holder died.
        if (robust_mutex_peek(&r->hdr->mutex).owner_tid != 0) {
            robust_mutex_init(&r->hdr->mutex);
            r->hdr->lock_holder = 0;
            r->hdr->flags |= kFlagOwnerDiedUnreported;
        }
        // Nobody else can touch it now: a growth its (vanished) grower left half done.
        r->recover_growth();
    }
    if (r->store && r->store->lock_fd() >= 0) presence_share(r->store->lock_fd(), file, deadline);

    r->lock(deadline);
    try {
        r->refresh();  // grown since the header was copied
        if (!r->file.empty() && !still_named(*r, file_dev, file_ino))
            throw being_removed(file, " was removed while we joined");
        if (load_acquire(r->hdr->valid) != kValidReady) throw being_removed(file);
        r->reap_dead();
        if ((r->hdr->flags & kRemoveAtLastDetach) && r->hdr->ref_count == 0) {
            // To be removed at its last detach, and its last attacher died without
            // detaching: nobody is left to remove it. Do what that last detach would have
            // done, then start over.
            r->remove_region();
            throw being_removed(file);
        }
        if (r->hdr->flags & kFlagUnlinkRequested) {
            const std::string why = " is marked for removal and will go when its last attacher detaches";
            // create_or_join waits for the removal (up to join_timeout) and then creates the
            // region afresh or joins the new one; join_only cannot use a region on its way out.
            if (o.mode == OpenMode::create_or_join) throw being_removed(file, why);
            throw_failure(errc::marked_for_removal, file, describe(file) + why);
        }
        r->take_slot();
        if (o.remove_on_last_detach) r->hdr->flags |= kFlagRemoveOnLastDetach;
    } catch (...) {
        r->unlock();
        throw;
    }
    r->unlock();
    // The first attacher after everybody left (a restart after a crash, typically) also
    // undoes creations of this name whose creator died before publishing. Only POSIX and
    // System V creators leave hidden pending files (a file creator's O_TMPFILE dies with
    // it), and only once per process and region, so that a process attaching and
    // detaching in a loop pays for the directory read once (docs/performance.md).
    if (alone && r->store && r->store->kind() != Backing::file && first_lone_join(o.home, o.name))
        sweep_abandoned(o.home, o.name);
    return r;
}


/// Options::prefault: waits, or starts the job, for a region just attached.
std::unique_ptr<RegionImpl> with_prefault(std::unique_ptr<RegionImpl> r, Prefault how) {
    if (how == Prefault::none) return r;
    try {
        if (how == Prefault::wait)
            io::detail::prefault_or_throw(r->mapping->base(), r->mapping->mapped(), r->prefault_options());
        else
            r->background = r->start_prefault();
    } catch (...) {
        try {
            if (r->created) {  // the caller gets no Region to remove it with: it goes now
                r->lock(std::nullopt);
                r->hdr->flags |= kFlagUnlinkRequested;
                r->unlock();
            }
            r->detach();
        } catch (...) {
        }
        throw;
    }
    return r;
}

std::unique_ptr<RegionImpl> attach_region(const Options& o, const io::Choice& engine);

std::unique_ptr<RegionImpl> attach(const Options& o) {
    check_options(o);
    // The engine first: a forced engine that cannot run here fails before anything is made.
    const io::Choice engine = io::detail::choose_or_throw(o.io_engine);
    auto r = attach_region(o, engine);
    r->requested_engine = o.io_engine;
    r->engine_kind = engine.engine;
    r->engine_forced = engine.forced;
    return with_prefault(std::move(r), o.prefault);
}

std::unique_ptr<RegionImpl> attach_region(const Options& o, const io::Choice& engine) {
    // Clamped: now() + milliseconds::max() would overflow.
    const auto now = std::chrono::steady_clock::now();
    const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::time_point::max() - now - std::chrono::hours(24));
    const auto deadline = now + std::clamp(o.join_timeout, std::chrono::milliseconds(0), room);
    const std::filesystem::path file = named(o.backing) || o.backing == Backing::any
                                           ? region_file(o.home, o.name)
                                           : std::filesystem::path();
    Backoff backoff(std::chrono::microseconds(200), std::chrono::microseconds(50'000));
    for (;;) {
        if (o.mode != OpenMode::create_only && o.backing != Backing::anonymous) {
            try {
                return join(o, file, deadline);
            } catch (RetryLater& retry) {
                if (std::chrono::steady_clock::now() >= deadline) throw retry.why;
                backoff.wait();
                continue;
            } catch (Failure& f) {
                // The segment went at any step after the locator was read (owner check,
                // header read, size check, shmat): a last detacher removed the region while
                // we joined. Start over: the file is gone too by now, or soon.
                if (f.code == make_error_code(errc::segment_missing) &&
                    std::chrono::steady_clock::now() < deadline) {
                    backoff.wait();
                    continue;
                }
                if (f.code != make_error_code(errc::region_not_found)) throw;
                if (!file.empty()) check_home(o.home);  // "home missing" says more than "no such region"
                if (o.mode == OpenMode::join_only) throw;
            }
        }
        if (o.mode == OpenMode::create_only && named(o.backing)) check_home(o.home);
        // Before creating: undo earlier creations of this name whose creator died before
        // publishing (their segments would otherwise stay until somebody ran clean).
        if (named(o.backing)) sweep_abandoned(o.home, o.name);
        if (auto r = create(o, file, engine)) return r;
        if (o.mode == OpenMode::create_only)
            throw_failure(errc::region_exists, file, describe(file) + " already exists");
        if (std::chrono::steady_clock::now() >= deadline)
            throw_failure(errc::lock_timeout, file, "gave up racing to create or join " + file.string());
    }
}

}  // namespace

// ---- RegionImpl --------------------------------------------------------------------------

RegionHeader read_validated_header(const Store& store, const std::filesystem::path& file,
                                   const std::optional<Locator>& locator, std::uint64_t* backing_size) {
    // The header before the size: a backing grows before a larger size is published and
    // never shrinks below a published one, so this order cannot see a size not yet backed.
    RegionHeader h;
    try {
        store.read(&h, sizeof h, 0);
    } catch (const Failure& f) {
        if (f.code != make_error_code(errc::size_mismatch)) throw;
        throw_failure(errc::size_mismatch, file,
                      file.string() + ": backing holds " + num(store.backing_size()) + " bytes, less than a header (" +
                          num(sizeof h) + ")");
    }
    const std::uint64_t bsize = store.backing_size();
    validate_header(h, bsize, file, store.kind());
    if (locator) check_header_matches_locator(h, *locator, file);
    if (backing_size) *backing_size = bsize;
    return h;
}

void validate_name(std::string_view name) {
    auto bad = [&](const std::string& why) {
        throw_failure(errc::invalid_name, {}, "region name '" + std::string(name.substr(0, 80)) + "' " + why);
    };
    if (name.empty()) bad("is empty");
    if (name.size() > max_name_length)
        bad("is " + num(name.size()) + " bytes long, more than the limit of " + num(max_name_length));
    if (name.front() == '.') bad("begins with '.' (\".\", \"..\" and hidden names are reserved)");
    for (unsigned char c : name) {
        if (c == '/') bad("contains '/'");
        if (c == 0) bad("contains a NUL byte");
        if (c < 0x20 || c == 0x7f) bad("contains a control character");
    }
}

void check_home(const std::filesystem::path& home) {
    if (home.empty()) throw_failure(errc::invalid_options, {}, "no home directory given");
    struct stat st {};
    if (::stat(home.c_str(), &st) != 0) throw_errno(errno, "home directory", home);
    if (!S_ISDIR(st.st_mode)) throw_errno(ENOTDIR, "home directory", home);
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
    if (!release_guard() && guard) {
        // Locked by a guard on another thread, which can no longer unlock it: empty the
        // guard so it never touches this object again (the lock goes with the process).
        guard->impl_ = nullptr;
        guard = nullptr;
    }
}

void RegionImpl::set_sizes(const RegionHeader& v) noexcept {
    header_bytes = v.header_size;
    region_bytes = v.region_size;
    max_region_bytes = v.max_region_size;
    generation = v.generation;
}

bool RegionImpl::refresh() {
    // The size itself decides, not the generation alone: a header copied at join can pair
    // an old size with a new generation, and a grower can die between publishing the size
    // and bumping the generation. Sizes only grow.
    const std::uint64_t gen = load_acquire(hdr->generation);
    const std::uint64_t size = load_acquire(hdr->region_size);
    generation = gen;
    if (size <= region_bytes) return false;
    // Trust nothing read from shared memory: a page multiple, within the ceiling this attach
    // validated and reserved, and really there in the backing.
    if (size % page_size() != 0 || size > max_region_bytes)
        throw_failure(errc::header_corrupt, file,
                      describe(file) + ": field 'region_size' is " + num(size) +
                          ", not a page multiple within the ceiling " + num(max_region_bytes));
    if (store->growable() && store->grow_fd() >= 0) {
        const std::uint64_t real = store->backing_size();
        if (size > real)
            throw_failure(errc::size_mismatch, file,
                          describe(file) + ": field 'region_size' is " + num(size) +
                              " but the backing holds only " + num(real) + " bytes");
    }
    store->map_more(*mapping, size);
    region_bytes = size;
    return true;
}

void RegionImpl::grow_locked(std::uint64_t new_region) {
    refresh();  // maps up to the live size, validated: region_bytes is the live size now
    if (new_region <= region_bytes) return;  // another process got there first
    GrowRecord& g = hdr->grow;
    const int fd = store->grow_fd();
    const std::uint64_t old_region = region_bytes;
    // The record's fields first, its state last; clearing touches only the state, so a
    // reader copying the header without the lock never sees half a record.
    g.pid = ::getpid();
    g.old_region_size = old_region;
    g.new_region_size = new_region;
    g.started_at_ns = now_ns();
    store_release(g.state, kGrowExtending);
    SHMREGION_CRASH_POINT("grow.after_record");
    std::uint64_t extended_from = 0;  // the backing's size before, if this growth extended it
    try {
        if (fd >= 0) {
            const std::filesystem::path what =
                store->kind() == Backing::posix
                    ? segment_path(fixed_string(hdr->segment, sizeof hdr->segment))
                    : file;
            const std::uint64_t have = store->backing_size();
            // Space the backing already has past the old size (left by a growth that failed
            // half-way) may be sparse: allocate it, or a page fault there could SIGBUS.
            if (have > old_region) {
                const std::uint64_t upto = std::min(have, new_region);
                if (::fallocate(fd, 0, static_cast<off_t>(old_region), static_cast<off_t>(upto - old_region)) != 0 &&
                    errno != EOPNOTSUPP)
                    throw_errno(errno, "fallocate " + num(upto - old_region) + " bytes at offset " + num(old_region) + " of",
                                what);
            }
            if (have < new_region) {
                io::detail::extend_or_throw(engine(), fd, have, new_region, what, io::ExtendMethod::automatic);
                extended_from = have;
            }
        }
        SHMREGION_CRASH_POINT("grow.after_extend");
        store->map_more(*mapping, new_region);
        SHMREGION_CRASH_POINT("grow.after_map");
    } catch (...) {
        // A failed extension cut the backing back itself; a failed mapping gives the
        // extension back here. The header's size never changed.
        if (extended_from != 0) (void)::ftruncate(fd, static_cast<off_t>(extended_from));
        store_release(g.state, kGrowIdle);
        throw;
    }
    region_bytes = new_region;
    store_release(hdr->region_size, new_region);
    SHMREGION_CRASH_POINT("grow.after_publish");
    store_release(hdr->generation, hdr->generation + 1);  // others map the new part at their next lock
    generation = hdr->generation;
    store_release(g.state, kGrowIdle);
}

void RegionImpl::recover_growth() noexcept {
    GrowRecord& g = hdr->grow;
    if (load_acquire(g.state) == kGrowIdle) return;
    bool sound = true;
    try {
        validate_grow_record(*hdr, file);
    } catch (...) {
        sound = false;  // its grower is dead: clear it, but act on nothing it says
    }
    // Never below what this attach validated and mapped, whatever the record says.
    if (sound && hdr->region_size == g.old_region_size && g.old_region_size >= region_bytes) {
        // Not published: nobody maps past old_region_size, so the extension can go.
        const int fd = store ? store->grow_fd() : -1;
        if (fd >= 0) {
            struct stat st {};
            if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > g.old_region_size)
                (void)::ftruncate(fd, static_cast<off_t>(g.old_region_size));
        }
    }
    // Published or not, tell the others (the grower may have died between publishing the
    // size and bumping the generation); refresh() compares sizes anyway.
    store_release(hdr->generation, hdr->generation + 1);
    store_release(g.state, kGrowIdle);
}

void RegionImpl::choose_engine() {
    const io::Choice c = io::detail::choose_or_throw(requested_engine);
    engine_kind = c.engine;
    engine_forced = c.forced;
}

io::Engine& RegionImpl::engine() const {
    try {
        return io::detail::thread_engine(engine_kind);
    } catch (const Failure&) {
        if (engine_forced || engine_kind == io::EngineKind::sync) throw;
        return io::detail::thread_engine(io::EngineKind::sync);
    }
}

io::PrefaultOptions RegionImpl::prefault_options() const {
    io::PrefaultOptions o;
    o.engine = engine_forced ? engine_kind : io::EngineKind::automatic;
    return o;
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

bool RegionImpl::release_guard() noexcept {
    if (!guard) return true;
    // A guard inherited through fork() holds nothing in this process: the lock belongs to
    // the parent's thread. Only the owner's guard unlocks.
    if (owner_pid == ::getpid() && unlock() != 0) return false;  // held by another thread
    guard->impl_ = nullptr;
    guard = nullptr;
    return true;
}

void RegionImpl::check_owner() const {
    if (owner_pid != ::getpid())
        throw_failure(errc::wrong_process, file,
                      "this attach belongs to process " + num(owner_pid) +
                          "; a fork()ed child must call join_after_fork() first");
}

bool RegionImpl::lock(Deadline deadline, bool for_application) {
    const LockOutcome out = robust_mutex_lock(&hdr->mutex, deadline, file);
    hdr->lock_holder = ::getpid();
    bool died = false;
    if (out == LockOutcome::owner_died) {
        recover_growth();
        reap_dead();
        hdr->flags |= kFlagOwnerDiedUnreported;
        robust_mutex_consistent(&hdr->mutex);
        died = true;
    }
    if (!for_application) return died;
    try {
        refresh();  // the application sees a grown region under its lock
    } catch (...) {
        unlock();
        throw;
    }
    // Whoever recovered the mutex, the application hears of the death exactly once.
    died = (hdr->flags & kFlagOwnerDiedUnreported) != 0;
    hdr->flags &= ~kFlagOwnerDiedUnreported;
    return died;
}

int RegionImpl::unlock() noexcept {
    hdr->lock_holder = 0;
    return robust_mutex_unlock(&hdr->mutex);
}

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

std::size_t RegionImpl::reap_dead() noexcept {
    return reap_dead_slots(*hdr, slots, store ? store->lock_fd() : -1,
                           has_slot ? std::optional<std::uint32_t>(slot) : std::nullopt);
}

void RegionImpl::take_slot() {
    slot = take_free_slot(*hdr, slots, store->lock_fd(), file);
    has_slot = true;
}

void RegionImpl::detach() {
    if (!release_guard())
        throw_errno(EPERM, "detach: the region lock is held by a LockGuard of another thread; release it there first");
    stop_prefaults();  // no job of ours touches the region once it is left
    if (owner_pid != ::getpid() || !has_slot) {
        // Another process's attach inherited through fork(), or one that never finished:
        // leave the shared header alone, just drop our view.
        mapping.reset();
        store.reset();
        return;
    }
    std::optional<Failure> failure;
    lock(std::nullopt);
    reap_dead();  // counts us among the live
    AttacherSlot& mine = *slot_at(hdr, slot);
    const SelfIdentity& me = self_identity();
    if (mine.state == kSlotInUse && mine.pid == me.pid && mine.start_time == me.start_time) {
        std::memset(&mine, 0, sizeof mine);
        if (hdr->ref_count > 0) --hdr->ref_count;
    }  // else someone took us for dead and reused the slot: it is not ours to clear
    has_slot = false;
    SHMREGION_CRASH_POINT("detach.after_slot_clear");
    if (hdr->ref_count == 0 && (hdr->flags & kRemoveAtLastDetach)) {
        try {
            remove_region();
        } catch (Failure& f) {
            failure = std::move(f);
        }
    }
    unlock();
    // Released explicitly: whatever else may share the description (a child forked while
    // this attach was being made), this attacher is gone.
    if (store && store->lock_fd() >= 0) release_attacher_locks(store->lock_fd(), slot);
    hdr = nullptr;
    mapping.reset();
    store.reset();
    if (failure) throw *failure;
}

}  // namespace detail

using detail::RegionImpl;

std::string_view to_string(Backing b) noexcept {
    switch (b) {
        case Backing::any: return "any";
        case Backing::file: return "file";
        case Backing::posix: return "posix";
        case Backing::sysv: return "sysv";
        case Backing::anonymous: return "anonymous";
        case Backing::heap: return "heap";
    }
    return "unknown";
}

bool parse_backing(std::string_view text, Backing& out) noexcept {
    for (Backing b : {Backing::any, Backing::file, Backing::posix, Backing::sysv, Backing::anonymous, Backing::heap}) {
        if (text == to_string(b)) {
            out = b;
            return true;
        }
    }
    return false;
}

std::filesystem::path region_file(const std::filesystem::path& home, std::string_view name) {
    return detail::region_file_in(home, name);
}

// ---- LockGuard ---------------------------------------------------------------------------

LockGuard::LockGuard(RegionImpl* impl, bool owner_died) noexcept
    : impl_(impl), owner_died_(owner_died), owner_pid_(::getpid()) {
    if (impl_) impl_->guard = this;
}

LockGuard::LockGuard(LockGuard&& other) noexcept
    : impl_(std::exchange(other.impl_, nullptr)), owner_died_(other.owner_died_), owner_pid_(other.owner_pid_) {
    if (impl_) impl_->guard = this;
}

LockGuard& LockGuard::operator=(LockGuard&& other) noexcept {
    if (this != &other) {
        unlock();
        impl_ = std::exchange(other.impl_, nullptr);
        owner_died_ = other.owner_died_;
        owner_pid_ = other.owner_pid_;
        if (impl_) impl_->guard = this;
    }
    return *this;
}

LockGuard::~LockGuard() { unlock(); }

void LockGuard::unlock() noexcept {
    if (!impl_) return;
    RegionImpl* impl = std::exchange(impl_, nullptr);
    impl->guard = nullptr;
    if (impl->owner_pid == ::getpid() && owner_pid_ == ::getpid()) impl->unlock();  // not a fork()ed copy
}

// ---- Region ------------------------------------------------------------------------------

Region::Region() noexcept = default;
Region::Region(std::unique_ptr<RegionImpl> impl) noexcept : impl_(std::move(impl)) {}
Region::Region(Region&& other) noexcept = default;

Region& Region::operator=(Region&& other) noexcept {
    if (this != &other) {
        std::error_code ignored;
        detach(ignored);
        impl_ = std::move(other.impl_);
    }
    return *this;
}

Region::~Region() {
    std::error_code ignored;
    detach(ignored);
}

Region Region::attach(const Options& opts) {
    return detail::with_context("attach", opts.name, opts.home,
                                [&] { return Region(detail::attach(opts)); });
}

Region Region::attach(const Options& opts, std::error_code& ec) noexcept {
    return detail::capture(ec, Region(), [&] { return Region(detail::attach(opts)); });
}

bool Region::attached() const noexcept { return impl_ && impl_->hdr; }
void* Region::data() const noexcept { return attached() ? impl_->mapping->base() + impl_->header_bytes : nullptr; }
std::size_t Region::size() const noexcept { return attached() ? impl_->usable_size() : 0; }
std::size_t Region::max_size() const noexcept { return attached() ? impl_->usable_max() : 0; }
bool Region::created() const noexcept { return impl_ && impl_->created; }
Backing Region::backing() const noexcept { return attached() ? impl_->store->kind() : Backing::any; }
std::uint32_t Region::slot() const noexcept { return impl_ ? impl_->slot : 0; }
io::EngineKind Region::io_engine() const noexcept { return impl_ ? impl_->engine_kind : io::EngineKind::sync; }
io::PrefaultHandle Region::background_prefault() const noexcept { return impl_ ? impl_->background : io::PrefaultHandle(); }

namespace {
const std::string kEmptyString;
const std::filesystem::path kEmptyPath;
}  // namespace

const std::string& Region::name() const noexcept { return impl_ ? impl_->name : kEmptyString; }
const std::filesystem::path& Region::home() const noexcept { return impl_ ? impl_->home : kEmptyPath; }
const std::filesystem::path& Region::file() const noexcept { return impl_ ? impl_->file : kEmptyPath; }

namespace {

RegionImpl& require(const std::unique_ptr<RegionImpl>& impl) {
    if (!impl || !impl->hdr) detail::throw_failure(errc::not_attached, {}, "the Region is not attached");
    impl->check_owner();
    return *impl;
}

template <class Fn>
decltype(auto) op(const char* what, const std::unique_ptr<RegionImpl>& impl, Fn&& fn) {
    return detail::with_context(what, impl ? impl->name : std::string(),
                                impl ? impl->home : std::filesystem::path(), std::forward<Fn>(fn));
}

}  // namespace

LockGuard Region::lock() {
    return op("lock", impl_, [&] {
        RegionImpl& r = require(impl_);
        bool died = r.lock(std::nullopt, true);
        return LockGuard(&r, died);
    });
}

LockGuard Region::lock(std::error_code& ec) noexcept {
    return detail::capture(ec, LockGuard(), [&] {
        RegionImpl& r = require(impl_);
        bool died = r.lock(std::nullopt, true);
        return LockGuard(&r, died);
    });
}

namespace {
void do_mark(RegionImpl& r) {
    r.lock(std::nullopt);
    r.hdr->flags |= detail::kFlagUnlinkRequested;
    r.unlock();
}
std::size_t do_reap(RegionImpl& r) {
    r.lock(std::nullopt);
    std::size_t n = r.reap_dead();
    r.unlock();
    return n;
}
void do_join_after_fork(RegionImpl& r) {
    if (r.owner_pid == ::getpid()) return;
    if (!r.hdr) detail::throw_failure(errc::not_attached, {}, "the Region is not attached");
    if (static_cast<Backing>(r.hdr->backing) == Backing::heap)
        detail::throw_failure(errc::invalid_options, {},
                              "a heap region is private memory: a fork()ed child has only a copy");
    r.release_guard();  // the parent's guard, copied by fork(): emptied, nothing unlocked
    r.stop_prefaults();  // the parent's jobs: their threads are not in this process
    r.background = {};
    if (!r.engine_forced) r.choose_engine();  // this process's seccomp filter and limits
    r.store->reopen_lock_fd();
    if (r.store->lock_fd() >= 0) detail::presence_share(r.store->lock_fd(), r.file, std::nullopt);
    r.owner_pid = ::getpid();
    r.has_slot = false;
    r.created = false;
    r.lock(std::nullopt);
    try {
        r.refresh();
        r.reap_dead();
        r.take_slot();
    } catch (...) {
        r.unlock();
        throw;
    }
    r.unlock();
}
}  // namespace

namespace {
void do_prefault(RegionImpl& r) {
    io::detail::prefault_or_throw(r.mapping->base(), r.mapping->mapped(), r.prefault_options());
}
void do_flush(RegionImpl& r) {
    // Only a file region's memory outlives a reboot; shm and anonymous memory have nothing
    // to write back.
    if (r.store->kind() != Backing::file) return;
    io::detail::flush_or_throw(r.engine(), r.store->grow_fd(), r.file, true);
    if (!r.home_synced) {
        // The region's name in home must survive a crash too: fdatasync does not commit a
        // new directory entry (the creator's link()), an fsync of the directory does.
        detail::Fd dir(::open(r.home.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) detail::throw_errno(errno, "open directory", r.home);
        if (::fsync(dir.get()) != 0) detail::throw_errno(errno, "fsync directory", r.home);
        r.home_synced = true;
    }
}
}  // namespace

namespace {
using detail::Failure;
using detail::page_size;
using detail::round_up;
using detail::throw_failure;

void do_grow(RegionImpl& r, std::uint64_t new_size) {
    if (!r.store->growable()) {
        const auto b = r.store->kind();
        throw_failure(errc::not_growable, r.file,
                      b == Backing::sysv ? "System V regions cannot grow: a segment has a fixed size (shmget); use the posix or file backing"
                      : b == Backing::anonymous
                          ? "anonymous regions cannot grow: pages added in one process would not reach the processes it shares the region with"
                          : "this backing cannot grow");
    }
    const auto usable = round_up(new_size, page_size());
    if (!usable || *usable > r.usable_max())
        throw_failure(errc::invalid_size, r.file,
                      "grow to " + std::to_string(new_size) + " bytes: beyond the ceiling max_size " +
                          std::to_string(r.usable_max()) + " set when the region was created");
    // The caller may hold the lock already (grow under its own LockGuard).
    bool took = true;
    try {
        r.lock(std::nullopt);
    } catch (const Failure& f) {
        if (f.code != std::errc::resource_deadlock_would_occur || !r.guard) throw;
        took = false;
    }
    try {
        r.grow_locked(r.header_bytes + *usable);
    } catch (...) {
        if (took) r.unlock();
        throw;
    }
    if (took) r.unlock();
}
}  // namespace

void Region::grow(std::uint64_t new_size) {
    op("grow", impl_, [&] { do_grow(require(impl_), new_size); });
}
void Region::grow(std::uint64_t new_size, std::error_code& ec) noexcept {
    detail::capture(ec, 0, [&] { return do_grow(require(impl_), new_size), 0; });
}
bool Region::refresh() {
    return op("refresh", impl_, [&] { return require(impl_).refresh(); });
}
bool Region::refresh(std::error_code& ec) noexcept {
    return detail::capture(ec, false, [&] { return require(impl_).refresh(); });
}

void Region::prefault() {
    op("prefault", impl_, [&] { do_prefault(require(impl_)); });
}
void Region::prefault(std::error_code& ec) noexcept {
    detail::capture(ec, 0, [&] { return do_prefault(require(impl_)), 0; });
}
io::PrefaultHandle Region::prefault_async() {
    return op("prefault", impl_, [&] { return require(impl_).start_prefault(); });
}
io::PrefaultHandle Region::prefault_async(std::error_code& ec) noexcept {
    return detail::capture(ec, io::PrefaultHandle(), [&] { return require(impl_).start_prefault(); });
}
void Region::flush() {
    op("flush", impl_, [&] { do_flush(require(impl_)); });
}
void Region::flush(std::error_code& ec) noexcept {
    detail::capture(ec, 0, [&] { return do_flush(require(impl_)), 0; });
}

void Region::mark_for_removal() {
    op("mark_for_removal", impl_, [&] { do_mark(require(impl_)); });
}
void Region::mark_for_removal(std::error_code& ec) noexcept {
    detail::capture(ec, 0, [&] { return do_mark(require(impl_)), 0; });
}

std::size_t Region::reap_dead_attachers() {
    return op("reap_dead_attachers", impl_, [&] { return do_reap(require(impl_)); });
}
std::size_t Region::reap_dead_attachers(std::error_code& ec) noexcept {
    return detail::capture(ec, std::size_t{0}, [&] { return do_reap(require(impl_)); });
}

void Region::join_after_fork() {
    op("join_after_fork", impl_, [&] {
        if (!impl_) detail::throw_failure(errc::not_attached, {}, "the Region is not attached");
        do_join_after_fork(*impl_);
    });
}
void Region::join_after_fork(std::error_code& ec) noexcept {
    detail::capture(ec, 0, [&] {
        if (!impl_) detail::throw_failure(errc::not_attached, {}, "the Region is not attached");
        return do_join_after_fork(*impl_), 0;
    });
}

void Region::detach() {
    if (!impl_) return;
    auto impl = std::move(impl_);
    op("detach", impl, [&] { impl->detach(); });
}

void Region::detach(std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) return;
    auto impl = std::move(impl_);
    detail::capture(ec, 0, [&] { return impl->detach(), 0; });
}

}  // namespace shmregion
