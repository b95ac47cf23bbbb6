// Segments of a home's regions whose file in home is gone: what list and clean report as
// "orphan segment". A region's header records the absolute path of its file at creation
// (origin), which is how a segment is tied to its home without the file.
#include "region/region_impl.hpp"

#include "sync/liveness.hpp"
#include "sys/failure.hpp"

#include <shmregion/region.hpp>

#include <cerrno>
#include <cstring>
#include <utility>

namespace shmregion::detail {
namespace {

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
    return !locator_names(*hf.locator, h);
}

/// Live attachers of a segment without a region file: the same rule as every region
/// without a file (sync/liveness.hpp: pid + start time, and a slot from another PID
/// namespace counts as alive).
std::size_t live_in(const SegmentCopy& c) {
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < c.slots.size(); ++i)
        if (c.slots[i].state == kSlotInUse && slot_alive(c.slots[i], i, -1)) ++n;
    return n;
}

/// The segments of every located backing that are orphans of home's regions, with the
/// copy each was judged by.
std::vector<std::pair<OrphanSegment, SegmentCopy>> find_orphans(const std::filesystem::path& home) {
    check_home(home);
    const auto home_id = dir_id(home);
    if (!home_id) throw_errno(errno, "stat", home);
    std::vector<std::pair<OrphanSegment, SegmentCopy>> out;
    for (const BackingType* type : backing_types()) {
        if (!type->traits().located) continue;
        for (SegmentCopy& c : type->segments()) {
            const std::string name = name_in(c.header, *home_id);
            if (name.empty() || !unlocated(home, name, c.header)) continue;
            // A creation in progress (its birth record, valid not yet set; the creator alive
            // in slot 0) is nobody's orphan.
            const std::size_t live = live_in(c);
            if (c.header.valid == kValidInitialising && live > 0) continue;
            OrphanSegment o{c.kind, c.label, name, c.sysv_key, c.sysv_id, c.bytes, live};
            out.emplace_back(std::move(o), std::move(c));
        }
    }
    return out;
}

std::vector<OrphanSegment> scan(const std::filesystem::path& home) {
    std::vector<OrphanSegment> out;
    for (auto& found : find_orphans(home)) out.push_back(std::move(found.first));
    return out;
}

bool remove_orphan(const std::filesystem::path& home, const OrphanSegment& s) {
    // Look again: only what is still an orphan of this home, with nobody alive in it.
    for (const auto& [now, copy] : find_orphans(home)) {
        if (now.backing != s.backing || now.segment != s.segment || now.sysv_id != s.sysv_id) continue;
        if (now.live_attachers > 0) return false;
        backing_type(now.backing).remove_segment(copy);
        return true;
    }
    return true;  // gone already
}

}  // namespace
}  // namespace shmregion::detail

SHMREGION_NAMESPACE_BEGIN

using detail::entry;

std::vector<OrphanSegment> orphan_segments(const std::filesystem::path& home) {
    return entry({"orphan_segments", {}, &home}, [&] { return detail::scan(home); });
}
std::vector<OrphanSegment> orphan_segments(const std::filesystem::path& home, std::error_code& ec) noexcept {
    return entry({"orphan_segments", {}, &home}, ec, [&] { return detail::scan(home); });
}
bool remove_orphan_segment(const std::filesystem::path& home, const OrphanSegment& s) {
    return entry({"remove_orphan_segment", s.name, &home}, [&] { return detail::remove_orphan(home, s); });
}
bool remove_orphan_segment(const std::filesystem::path& home, const OrphanSegment& s, std::error_code& ec) noexcept {
    return entry({"remove_orphan_segment", s.name, &home}, ec, [&] { return detail::remove_orphan(home, s); });
}

SHMREGION_NAMESPACE_END
