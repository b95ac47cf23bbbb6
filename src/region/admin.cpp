// The administrative operations: unlink (marks and detaches, or forced: removes from the
// locator without attaching), remove_unused, repair, inspect (read-only header snapshot),
// read_bytes, list, and the sweep of abandoned creations.
#include "region/region_impl.hpp"

#include "sync/liveness.hpp"
#include "sync/robust_mutex.hpp"
#include "sys/failure.hpp"

#include <shmregion/region.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace shmregion::detail {
namespace {

/// The names of the entries of home (one directory read; errors name home).
std::vector<std::string> entries_of(const std::filesystem::path& home) {
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(home, ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    if (ec) throw_errno(ec.value(), "read directory", home);
    return names;
}

/// The one rule of every removal (RemoveOptions): the caller's own file, unless told
/// otherwise; never a locator whose segment lives where we cannot see it, unless told so.
void check_removable(const HomeFile& hf, const std::filesystem::path& file, const RemoveOptions& how) {
    if (how.require_same_owner && hf.uid != ::geteuid())
        throw_failure(errc::wrong_owner, file,
                      file.string() + " belongs to uid " + std::to_string(hf.uid) + ", not to us (uid " +
                          std::to_string(::geteuid()) +
                          "): not removed (RemoveOptions::require_same_owner = false, regiontool --any-owner, "
                          "removes another user's region)");
    if (!hf.locator || how.allow_foreign) return;
    const SegmentPlace place = segment_place(*hf.locator);
    if (missing_means_gone(place) || backing_type(hf.kind).segment_visible(*hf.locator)) return;
    throw_failure(errc::segment_foreign, file,
                  file.string() + ": not removed: " + describe_place(*hf.locator, place) +
                      " (RemoveOptions::allow_foreign, regiontool unlink --force --foreign, removes the file anyway)");
}

/// Removes the segment a home file locates, then the file (if it is still this one). The
/// segment must belong to whoever owns the locator: a locator planted in a shared home must
/// not make us remove somebody else's segment.
void remove_named(const HomeFile& hf, const std::filesystem::path& file, const RemoveOptions& how) {
    check_removable(hf, file, how);
    if (hf.locator) backing_type(hf.kind).remove_located(*hf.locator, file, hf.uid);
    unlink_if_same(file, hf.fd.get());
}

/// A named region opened read-only, its header copied and validated (inspect, read_bytes).
struct ReadOnly {
    std::filesystem::path file;
    std::unique_ptr<Store> store;
    RegionHeader h;
    std::uint64_t backing_size = 0;
};
ReadOnly open_read_only(const std::filesystem::path& home, std::string_view name) {
    validate_name(name);
    check_home(home);
    ReadOnly r;
    r.file = region_file(home, name);
    HomeFile hf = open_home_file(r.file, false);
    const std::optional<Locator> loc = hf.locator;
    r.store = open_store(hf, r.file, false);
    r.h = read_validated_header(*r.store, r.file, loc, &r.backing_size);
    return r;
}

void force_unlink(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how) {
    validate_name(name);
    check_home(home);
    const auto file = region_file(home, name);
    // Reads the file in home and nothing else: no attach, no lock (the holder may be dead,
    // or the header may be corrupt).
    remove_named(open_home_file(file, false), file, how);
    sweep_abandoned(home, name);  // the name's abandoned creations go with it
}

bool remove_unused_impl(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how) {
    validate_name(name);
    check_home(home);
    const auto file = region_file(home, name);
    HomeFile hf = open_home_file(file, true);
    check_removable(hf, file, how);  // before the presence lock: a refusal changes nothing
    // Every live attacher (and every joiner past its first steps) holds a shared presence
    // lock on the file; getting it exclusively means nobody is, and holding it keeps
    // joiners waiting until the names are gone (they then find the file unlinked).
    if (!presence_try_exclusive(hf.fd.get())) return false;
    remove_named(hf, file, how);
    sweep_abandoned(home, name);
    return true;
}

std::vector<unsigned char> read_bytes_impl(const std::filesystem::path& home, std::string_view name,
                                           std::uint64_t offset, std::uint64_t length) {
    const ReadOnly r = open_read_only(home, name);
    const RegionHeader& h = r.h;
    const std::filesystem::path& file = r.file;
    const std::uint64_t usable = h.region_size - h.header_size;
    if (offset > usable || length > usable - offset)
        throw_failure(errc::invalid_size, file,
                      "bytes [" + std::to_string(offset) + ", " + std::to_string(offset + length) + ") are beyond the " +
                          std::to_string(usable) + " usable bytes of " + file.string());
    std::vector<unsigned char> out(length);
    if (length) r.store->read(out.data(), length, h.header_size + offset);
    return out;
}

/// Attaches to an existing region of any backing, for an administrative operation. Returns
/// an empty Region if it went while we joined (the joiner itself removes a marked region
/// whose attachers all died) after having existed.
Region join_existing(const std::filesystem::path& home, std::string_view name, bool require_same_owner) {
    Options o;
    o.home = home;
    o.name = std::string(name);
    o.backing = Backing::any;
    o.mode = OpenMode::join_only;
    o.require_same_owner = require_same_owner;
    validate_name(name);
    check_home(home);
    std::error_code ec;
    const bool existed = std::filesystem::exists(region_file(home, name), ec);
    try {
        return Region::attach(o);
    } catch (const Error& e) {
        if (existed && e.code() == errc::region_not_found) return Region();
        throw Failure{e.code(), e.file(), e.detail()};
    }
}

void gentle_unlink(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how) {
    Options o;
    o.home = home;
    o.name = std::string(name);
    o.backing = Backing::any;
    o.mode = OpenMode::join_only;
    o.require_same_owner = how.require_same_owner;
    validate_name(name);
    check_home(home);
    std::error_code ec;
    const bool existed = std::filesystem::exists(region_file(home, name), ec);
    try {
        mark_for_removal_unattached(o);
    } catch (const Failure& f) {
        // Gone while we joined, after having existed: what unlink was asked for has happened.
        if (!existed || f.code != make_error_code(errc::region_not_found)) throw;
    }
}

RepairReport do_repair(const std::filesystem::path& home, std::string_view name, bool require_same_owner);

LockState lock_state(const RegionHeader& h, pid_t& holder) {
    const MutexPeek p = robust_mutex_peek(&h.mutex);
    holder = 0;
    if (p.owner_tid == 0) return p.owner_died ? LockState::owner_dead : LockState::free;
    holder = thread_group_of(p.owner_tid);
    if (holder == 0) holder = p.owner_tid;
    // The futex word holds the owner's thread id; a thread that is gone left it dead.
    if (::kill(p.owner_tid, 0) != 0 && errno == ESRCH) return LockState::owner_dead;
    return LockState::held;
}

/// The lock table of a validated header, read from the backing (a copy: nothing written).
std::vector<LockInfo> lock_table_of(const Store& store, const RegionHeader& h, const std::vector<AttacherSlot>& slots) {
    std::vector<LockInfo> out;
    if (h.lock_count == 0) return out;
    const LockTableLayout l = lock_table_layout(h.max_attachers, h.lock_count);
    std::vector<LockEntry> entries(h.lock_count);
    store.read(entries.data(), entries.size() * sizeof(LockEntry), l.table_offset);
    std::vector<unsigned char> rows(static_cast<std::size_t>(l.end - l.records_offset));
    store.read(rows.data(), rows.size(), l.records_offset);
    out.reserve(h.lock_count);
    for (std::uint32_t i = 0; i < h.lock_count; ++i) {
        const LockEntry& e = entries[i];
        LockInfo li;
        li.index = i;
        li.shared_count = static_cast<std::uint32_t>(e.word & kShareCountMask);
        li.writer_waiting = (e.word & kShareWriterWaiting) != 0;
        li.owner_died = (e.word & kShareOwnerDied) != 0;
        li.exclusive_deaths = e.exclusive_deaths;
        li.shared_deaths = e.shared_deaths;
        for (std::uint32_t s = 0; s < h.max_attachers; ++s) {
            ShareRecord r;
            std::memcpy(&r, rows.data() + s * l.row_stride + i * sizeof(ShareRecord), sizeof r);
            if ((r & kRecordCountMask) != 0 && slots[s].pid != 0) li.shared_pids.push_back(slots[s].pid);
        }
        const MutexPeek p = robust_mutex_peek(&e.mutex);
        if (p.owner_tid != 0 && e.transient == 0) {
            li.state = LockInfo::State::exclusive;
            li.holder_tid = p.owner_tid;
            li.holder_pid = thread_group_of(p.owner_tid);
            // The futex word holds the owner's thread id; a thread that is gone left it dead.
            if (::kill(p.owner_tid, 0) != 0 && errno == ESRCH) li.state = LockInfo::State::owner_dead;
        } else if (p.owner_tid == 0 && p.owner_died && e.transient == 0) {
            li.state = LockInfo::State::owner_dead;  // the kernel saw the holder die; nobody locked since
        } else if (li.shared_count != 0) {
            li.state = LockInfo::State::shared;
        }
        out.push_back(std::move(li));
    }
    return out;
}

RegionInfo do_inspect(const std::filesystem::path& home, std::string_view name) {
    const ReadOnly r = open_read_only(home, name);
    const std::filesystem::path& file = r.file;
    const auto& store = r.store;
    const std::uint64_t bsize = r.backing_size;
    const RegionHeader& h = r.h;
    std::vector<AttacherSlot> slots(h.max_attachers);
    store->read(slots.data(), slots.size() * sizeof(AttacherSlot), kSlotTableOffset);

    RegionInfo info;
    info.name = std::string(name);
    info.file = file;
    info.backing = static_cast<Backing>(h.backing);
    info.version = h.version;
    info.header_size = h.header_size;
    info.page_size = h.page_size;
    info.region_size = h.region_size;
    info.max_region_size = h.max_region_size;
    info.size = h.region_size - h.header_size;
    info.max_size = h.max_region_size - h.header_size;
    info.backing_size = bsize;
    info.generation = h.generation;
    info.remove_on_last_detach = (h.flags & kRemoveAtLastDetach) != 0;
    info.remove_on_last_detach_option = (h.flags & kFlagRemoveOnLastDetach) != 0;
    info.unlink_requested = (h.flags & kFlagUnlinkRequested) != 0;
    info.owner_died_unreported = (h.flags & kFlagOwnerDiedUnreported) != 0;
    info.grow_in_progress = h.grow.state == kGrowExtending;
    if (info.grow_in_progress) {
        info.grow_to = h.grow.new_region_size - h.header_size;
        info.grow_pid = h.grow.pid;
    }
    info.valid = h.valid == kValidReady;
    info.ref_count = h.ref_count;
    info.max_attachers = h.max_attachers;
    info.segment = fixed_string(h.segment, sizeof h.segment);
    info.sysv_key = h.sysv_key;
    info.sysv_id = h.sysv_id;
    info.creator_pid = h.creator_pid;
    info.creator_uid = h.creator_uid;
    info.created_at_ns = h.created_at_ns;
    info.lock_state = lock_state(h, info.lock_holder);
    info.lock_deaths = h.lock_deaths;
    for (std::uint32_t i = 0; i < h.max_attachers; ++i) {
        const AttacherSlot& s = slots[i];
        if (s.state != kSlotInUse && s.state != kSlotDead) continue;
        AttacherInfo a;
        a.slot = i;
        a.pid = s.pid;
        a.start_time = s.start_time;
        a.pid_namespace = s.pid_namespace;
        a.attached_at_ns = s.attached_at_ns;
        a.generation = s.generation;
        a.dead_with_shares = s.state == kSlotDead;
        a.alive = s.state == kSlotInUse && slot_alive(s, i, store->lock_fd());
        info.attachers.push_back(a);
    }
    info.locks = lock_table_of(*store, h, slots);
    return info;
}

std::vector<std::string> do_list(const std::filesystem::path& home) {
    check_home(home);
    std::vector<std::string> names;
    for (const std::string& fname : entries_of(home)) {
        // region_name_of() also answers for pending files: only "<name>.region" counts.
        if (fname.front() == '.') continue;
        if (std::string name = region_name_of(fname); !name.empty()) names.push_back(std::move(name));
    }
    std::sort(names.begin(), names.end());
    return names;
}

/// One pending file: false if its creator is alive (or it went meanwhile), else true with
/// `out` saying what was removed (or, with dry_run, what would be). Throws Failure for one
/// it cannot handle, with `out` filled in as far as it got.
bool remove_one_abandoned(const std::filesystem::path& home, const std::filesystem::path& p, bool dry_run,
                          AbandonedCreation& out) {
    Fd fd(::open(p.c_str(), (dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) return false;  // its creator finished meanwhile
        throw_errno(errno, "open", p);
    }
    struct stat own {};
    if (::fstat(fd.get(), &own) != 0) throw_errno(errno, "fstat", p);
    if (own.st_uid != ::geteuid())  // the owner rule of every removal (RemoveOptions)
        throw_failure(errc::wrong_owner, p, "belongs to uid " + std::to_string(own.st_uid) + ", not to us");
    // Taking slot 0's lock proves the creator is dead, and keeps a concurrent cleaner out.
    // A dry run only asks (F_OFD_GETLK), which writes and holds nothing.
    if (dry_run ? slot_lock_held(fd.get(), 0) : !slot_lock_acquire(fd.get(), 0)) return false;
    const auto final_path = region_file_in(home, out.name);
    struct stat mine {}, published {};
    out.published = ::fstat(fd.get(), &mine) == 0 && ::stat(final_path.c_str(), &published) == 0 &&
                    mine.st_dev == published.st_dev && mine.st_ino == published.st_ino;
    Locator loc{};
    const bool has_locator = !out.published && pread_all(fd.get(), &loc, sizeof loc, 0) &&
                             std::memcmp(loc.magic, kLocatorMagic, sizeof loc.magic) == 0;
    if (has_locator) {
        validate_locator(loc, p, true);
        // What the pending locator names (a POSIX segment, or a System V key and id), and
        // whether its backing found the segment the creator made and removed it.
        out.backing = static_cast<Backing>(loc.backing);
        out.segment = fixed_string(loc.segment, sizeof loc.segment);
        out.sysv_key = loc.sysv_key;
        out.sysv_id = loc.sysv_id;
        out.segment_removed = backing_type(out.backing).remove_abandoned(loc, p, mine.st_uid, dry_run);
    }
    if (dry_run) {
        out.action = AbandonedCreation::Action::would_remove;
        return true;
    }
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) throw_errno(errno, "unlink", p);
    out.action = AbandonedCreation::Action::removed;
    return true;
}

/// Pending files of home (of one region if `name` is given), and what became of each.
std::vector<AbandonedCreation> do_remove_abandoned(const std::filesystem::path& home, bool dry_run,
                                                   std::optional<std::string_view> name = std::nullopt) {
    check_home(home);
    const std::string prefix = name ? pending_prefix(*name) : std::string();
    std::vector<std::filesystem::path> pending;
    for (const std::string& f : entries_of(home))
        if (f.compare(0, prefix.size(), prefix) == 0 && is_pending_name(f) && (!name || region_name_of(f) == *name))
            pending.push_back(home / f);

    std::vector<AbandonedCreation> report;
    for (const auto& p : pending) {
        AbandonedCreation c;
        c.pending_file = p;
        c.name = region_name_of(p);
        c.creator_pid = static_cast<pid_t>(pending_creator_pid(p.filename().string()));
        try {
            if (remove_one_abandoned(home, p, dry_run, c)) report.push_back(std::move(c));
        } catch (const Failure& f) {
            // One odd file must not stop the sweep: say why it stays and go on.
            c.action = AbandonedCreation::Action::skipped;
            c.error = f.code;
            c.message = f.message;
            report.push_back(std::move(c));
        }
    }
    return report;
}

RepairReport do_repair(const std::filesystem::path& home, std::string_view name, bool require_same_owner) {
    const RegionInfo before = do_inspect(home, name);  // checks the name and the home
    RepairReport report;
    for (const auto& a : before.attachers) report.dead_attachers += a.alive ? 0 : 1;
    report.lock_recovered = before.lock_state == LockState::owner_dead;
    report.growth_recovered = before.grow_in_progress && (report.lock_recovered || before.live_attachers() == 0);
    Region r = join_existing(home, name, require_same_owner);
    if (!r) {
        report.removed = true;
        return report;
    }
    r.detach();
    std::error_code ec;
    report.removed = !std::filesystem::exists(region_file(home, name), ec);
    return report;
}

}  // namespace

bool sweep_abandoned(const std::filesystem::path& home, std::string_view name) noexcept {
    try {
        // Usually there is nothing to sweep: find that out with three system calls (open,
        // getdents64, close) before the full sweep.
        const std::string prefix = pending_prefix(name);
        bool any = false;
        auto look = [&] {
            any = false;
            for_each_entry(home, prefix, [&](std::string_view) { return !(any = true); });
            return any;
        };
        if (!look()) return false;
        (void)do_remove_abandoned(home, false, name);
        return look();  // what is left belongs to live creators
    } catch (...) {
        // A side job: whatever stops it, the attach it rides along with goes on.
        return false;
    }
}

}  // namespace shmregion::detail

SHMREGION_NAMESPACE_BEGIN

std::size_t RegionInfo::live_attachers() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(attachers.begin(), attachers.end(), [](const AttacherInfo& a) { return a.alive; }));
}

using detail::entry;

std::vector<AbandonedCreation> remove_abandoned(const std::filesystem::path& home) {
    return entry({"remove_abandoned", {}, &home}, [&] { return detail::do_remove_abandoned(home, false); });
}
std::vector<AbandonedCreation> remove_abandoned(const std::filesystem::path& home, std::error_code& ec) noexcept {
    return entry({"remove_abandoned", {}, &home}, ec, [&] { return detail::do_remove_abandoned(home, false); });
}

std::vector<AbandonedCreation> abandoned_creations(const std::filesystem::path& home) {
    return entry({"abandoned_creations", {}, &home}, [&] { return detail::do_remove_abandoned(home, true); });
}
std::vector<AbandonedCreation> abandoned_creations(const std::filesystem::path& home, std::error_code& ec) noexcept {
    return entry({"abandoned_creations", {}, &home}, ec, [&] { return detail::do_remove_abandoned(home, true); });
}

RepairReport repair(const std::filesystem::path& home, std::string_view name, bool require_same_owner) {
    return entry({"repair", name, &home}, [&] { return detail::do_repair(home, name, require_same_owner); });
}
RepairReport repair(const std::filesystem::path& home, std::string_view name, bool require_same_owner,
                    std::error_code& ec) noexcept {
    return entry({"repair", name, &home}, ec, [&] { return detail::do_repair(home, name, require_same_owner); });
}

namespace {
void do_unlink(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how) {
    if (how.force == Force::yes)
        detail::force_unlink(home, name, how);
    else
        detail::gentle_unlink(home, name, how);
}
const char* unlink_operation(const RemoveOptions& how) { return how.force == Force::yes ? "unlink --force" : "unlink"; }
}  // namespace

void unlink(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how) {
    entry({unlink_operation(how), name, &home}, [&] { do_unlink(home, name, how); });
}
void unlink(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how,
            std::error_code& ec) noexcept {
    entry({unlink_operation(how), name, &home}, ec, [&] { do_unlink(home, name, how); });
}
void unlink(const std::filesystem::path& home, std::string_view name, Force force) {
    unlink(home, name, RemoveOptions{force});
}
void unlink(const std::filesystem::path& home, std::string_view name, Force force, std::error_code& ec) noexcept {
    unlink(home, name, RemoveOptions{force}, ec);
}

bool remove_unused(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how) {
    return entry({"remove_unused", name, &home}, [&] { return detail::remove_unused_impl(home, name, how); });
}
bool remove_unused(const std::filesystem::path& home, std::string_view name, std::error_code& ec) noexcept {
    return remove_unused(home, name, RemoveOptions(), ec);
}
bool remove_unused(const std::filesystem::path& home, std::string_view name, const RemoveOptions& how,
                   std::error_code& ec) noexcept {
    return entry({"remove_unused", name, &home}, ec, [&] { return detail::remove_unused_impl(home, name, how); });
}

std::vector<unsigned char> read_bytes(const std::filesystem::path& home, std::string_view name, std::uint64_t offset,
                                      std::uint64_t length) {
    return entry({"read_bytes", name, &home}, [&] { return detail::read_bytes_impl(home, name, offset, length); });
}
std::vector<unsigned char> read_bytes(const std::filesystem::path& home, std::string_view name, std::uint64_t offset,
                                      std::uint64_t length, std::error_code& ec) noexcept {
    return entry({"read_bytes", name, &home}, ec, [&] { return detail::read_bytes_impl(home, name, offset, length); });
}

RegionInfo inspect(const std::filesystem::path& home, std::string_view name) {
    return entry({"inspect", name, &home}, [&] { return detail::do_inspect(home, name); });
}
RegionInfo inspect(const std::filesystem::path& home, std::string_view name, std::error_code& ec) noexcept {
    return entry({"inspect", name, &home}, ec, [&] { return detail::do_inspect(home, name); });
}

std::vector<std::string> list(const std::filesystem::path& home) {
    return entry({"list", {}, &home}, [&] { return detail::do_list(home); });
}
std::vector<std::string> list(const std::filesystem::path& home, std::error_code& ec) noexcept {
    return entry({"list", {}, &home}, ec, [&] { return detail::do_list(home); });
}

SHMREGION_NAMESPACE_END
