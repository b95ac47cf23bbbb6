// Segments of a home's regions whose file in home is gone: what list and clean report as
// "orphan segment". A region's header records the absolute path of its file at creation
// (origin), which is how a segment is tied to its home without the file.
#include "region/region_impl.hpp"

#include "sync/liveness.hpp"
#include "sys/failure.hpp"

#include <shmregion/region.hpp>

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace shmregion {
namespace detail {
namespace {

/// A copy of a segment's header and attacher table, if it is one of ours.
struct Copy {
    RegionHeader h{};
    std::vector<AttacherSlot> slots;
};

bool plausible(const RegionHeader& h) {
    return std::memcmp(h.magic, kRegionMagic, sizeof h.magic) == 0 && h.max_attachers > 0 &&
           h.max_attachers <= max_attachers_limit && strnlen(h.origin, sizeof h.origin) < sizeof h.origin;
}

bool copy_posix(const std::string& path, std::uint64_t size, Copy& c) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd || size < sizeof c.h || !pread_all(fd.get(), &c.h, sizeof c.h, 0) || !plausible(c.h)) return false;
    c.slots.resize(c.h.max_attachers);
    const std::uint64_t table = kSlotTableOffset + c.slots.size() * sizeof(AttacherSlot);
    return size >= table && pread_all(fd.get(), c.slots.data(), c.slots.size() * sizeof(AttacherSlot), kSlotTableOffset);
}

bool copy_sysv(int id, std::uint64_t size, Copy& c) {
    if (size < sizeof c.h) return false;
    void* p = ::shmat(id, nullptr, SHM_RDONLY);  // read-only: nothing is written
    if (p == reinterpret_cast<void*>(-1)) return false;
    std::memcpy(&c.h, p, sizeof c.h);
    bool ok = plausible(c.h) && size >= kSlotTableOffset + std::uint64_t{c.h.max_attachers} * sizeof(AttacherSlot);
    if (ok) {
        c.slots.resize(c.h.max_attachers);
        std::memcpy(c.slots.data(), static_cast<char*>(p) + kSlotTableOffset, c.slots.size() * sizeof(AttacherSlot));
    }
    ::shmdt(p);
    return ok;
}

/// The region name if the segment was made for a region of the home whose identity is
/// `home`: the header's home_dev/home_ino (immune to how the path is spelled, to symlinks
/// repointed since, to bind mounts), or for a header without them the directory its origin
/// path names now. Empty otherwise.
std::string name_in(const RegionHeader& h, const DirId& home) {
    const std::filesystem::path origin(std::string(h.origin, strnlen(h.origin, sizeof h.origin)));
    if (h.home_ino != 0 || h.home_dev != 0) {
        if (DirId{h.home_dev, h.home_ino} != home) return {};
    } else {
        const auto then = dir_id(origin.parent_path());
        if (!then || *then != home) return {};
    }
    // Only "<name>.region": region_name_of() also answers for a pending file's name.
    const std::string file = origin.filename().string();
    return file.empty() || file.front() == '.' ? std::string() : region_name_of(origin);
}

/// True if home's file for `name` no longer locates this segment (gone, or another one's).
bool unlocated(const std::filesystem::path& home, const std::string& name, const RegionHeader& h) {
    HomeFile hf;
    try {
        hf = open_home_file(region_file(home, name), false);
    } catch (const Failure& f) {
        return f.code == make_error_code(errc::region_not_found);  // other errors: leave it be
    }
    if (!hf.locator) return true;  // a file region took the name
    const Locator& loc = *hf.locator;
    if (h.backing == static_cast<std::uint32_t>(Backing::posix))
        return std::strncmp(loc.segment, h.segment, sizeof loc.segment) != 0;
    return loc.sysv_id != h.sysv_id || loc.sysv_key != h.sysv_key;
}

/// Live attachers of a segment without a region file: the same rule as every region
/// without a file (sync/liveness.hpp: pid + start time, and a slot from another PID
/// namespace counts as alive).
std::size_t live_in(const Copy& c) {
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < c.slots.size(); ++i)
        if (c.slots[i].state == kSlotInUse && slot_alive(c.slots[i], i, -1)) ++n;
    return n;
}

std::vector<OrphanSegment> scan(const std::filesystem::path& home) {
    check_home(home);
    const auto home_id = dir_id(home);
    if (!home_id) throw_errno(errno, "stat", home);
    std::vector<OrphanSegment> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(std::filesystem::path(kShmDirectory), ec), end; !ec && it != end;
         it.increment(ec)) {
        const std::string entry = it->path().filename().string();
        if (!is_segment_name("/" + entry)) continue;
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) continue;
        Copy c;
        if (!copy_posix(it->path().string(), static_cast<std::uint64_t>(st.st_size), c)) continue;
        if (c.h.backing != static_cast<std::uint32_t>(Backing::posix) || "/" + entry != std::string(c.h.segment, strnlen(c.h.segment, sizeof c.h.segment))) continue;
        const std::string name = name_in(c.h, *home_id);
        if (name.empty() || !unlocated(home, name, c.h)) continue;
        // A creation in progress (its birth record, valid not yet set; the creator alive in
        // slot 0) is nobody's orphan.
        const std::size_t live = live_in(c);
        if (c.h.valid == kValidInitialising && live > 0) continue;
        out.push_back({Backing::posix, "/" + entry, name, 0, -1, static_cast<std::uint64_t>(st.st_size), live});
    }
    for (const SysvSegmentRow& row : sysv_segments()) {
        const long long key = row.key;
        const int id = row.id;
        const std::uint64_t size = row.size;
        if (row.uid != ::geteuid() || key == IPC_PRIVATE) continue;  // IPC_PRIVATE: removed already
        Copy c;
        if (!copy_sysv(id, size, c)) continue;
        if (c.h.backing != static_cast<std::uint32_t>(Backing::sysv) || c.h.sysv_id != id) continue;
        const std::string name = name_in(c.h, *home_id);
        if (name.empty() || !unlocated(home, name, c.h)) continue;
        out.push_back({Backing::sysv, "System V id " + std::to_string(id), name, static_cast<std::int32_t>(key), id,
                       size, live_in(c)});
    }
    return out;
}

bool remove_orphan(const std::filesystem::path& home, const OrphanSegment& s) {
    // Look again: only what is still an orphan of this home, with nobody alive in it.
    for (const auto& now : scan(home)) {
        if (now.backing != s.backing || now.segment != s.segment || now.sysv_id != s.sysv_id) continue;
        if (now.live_attachers > 0) return false;
        if (s.backing == Backing::posix) {
            if (::shm_unlink(s.segment.c_str()) != 0 && errno != ENOENT) throw_errno(errno, "shm_unlink " + s.segment);
        } else if (::shmctl(s.sysv_id, IPC_RMID, nullptr) != 0 && errno != EINVAL && errno != EIDRM) {
            throw_errno(errno, "shmctl(IPC_RMID) of " + s.segment);
        }
        return true;
    }
    return true;  // gone already
}

}  // namespace
}  // namespace detail

std::vector<OrphanSegment> orphan_segments(const std::filesystem::path& home) {
    return detail::with_context("orphan_segments", {}, home, [&] { return detail::scan(home); });
}
std::vector<OrphanSegment> orphan_segments(const std::filesystem::path& home, std::error_code& ec) noexcept {
    return detail::capture(ec, std::vector<OrphanSegment>(), [&] { return detail::scan(home); });
}
bool remove_orphan_segment(const std::filesystem::path& home, const OrphanSegment& s) {
    return detail::with_context("remove_orphan_segment", s.name, home, [&] { return detail::remove_orphan(home, s); });
}
bool remove_orphan_segment(const std::filesystem::path& home, const OrphanSegment& s, std::error_code& ec) noexcept {
    return detail::capture(ec, false, [&] { return detail::remove_orphan(home, s); });
}

}  // namespace shmregion
