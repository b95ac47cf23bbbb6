#include "region/header.hpp"

#include "sys/failure.hpp"
#include "sys/os.hpp"

#include <cstring>
#include <string>

namespace shmregion::detail {
namespace {

[[noreturn]] void corrupt(const std::filesystem::path& file, const std::string& field,
                          const std::string& why) {
    throw_failure(errc::header_corrupt, file,
                  "header of " + file.string() + ": field '" + field + "' " + why);
}

std::string num(std::uint64_t v) { return std::to_string(v); }

}  // namespace

std::uint64_t header_bytes(std::uint32_t max_attachers) noexcept {
    std::uint64_t raw = kSlotTableOffset + std::uint64_t{max_attachers} * sizeof(AttacherSlot);
    return *round_up(raw, page_size());
}

std::string fixed_string(const char* field, std::size_t size) {
    return std::string(field, strnlen(field, size));
}

void validate_header(const RegionHeader& h, std::uint64_t backing_size,
                     const std::filesystem::path& file, Backing expected) {
    if (std::memcmp(h.magic, kRegionMagic, sizeof h.magic) != 0)
        throw_failure(errc::bad_magic, file,
                      file.string() + ": field 'magic' does not hold the shmregion magic number");
    if (h.version != kLayoutVersion)
        throw_failure(errc::version_mismatch, file,
                      file.string() + ": field 'version' is " + num(h.version) +
                          ", this library reads version " + num(kLayoutVersion));
    if (h.layout != kLayoutWord)
        throw_failure(errc::layout_mismatch, file,
                      file.string() + ": field 'layout' is " + num(h.layout) + ", expected " +
                          num(kLayoutWord) + " (another mutex size, pointer size or byte order)");
    if (h.page_size != page_size())
        throw_failure(errc::layout_mismatch, file,
                      file.string() + ": field 'page_size' is " + num(h.page_size) +
                          ", this system's page size is " + num(page_size()));
    if (h.max_attachers == 0 || h.max_attachers > max_attachers_limit)
        corrupt(file, "max_attachers", "is " + num(h.max_attachers) + ", not in 1.." +
                                           num(max_attachers_limit));
    if (h.header_size != header_bytes(h.max_attachers))
        corrupt(file, "header_size", "is " + num(h.header_size) + ", but " +
                                         num(h.max_attachers) + " attacher slots need " +
                                         num(header_bytes(h.max_attachers)));
    if (h.backing < static_cast<std::uint32_t>(Backing::file) ||
        h.backing > static_cast<std::uint32_t>(Backing::heap))
        corrupt(file, "backing", "is " + num(h.backing) + ", not a known backing");
    if (expected != Backing::any && h.backing != static_cast<std::uint32_t>(expected))
        corrupt(file, "backing", "is " + num(h.backing) + " (" + std::string(to_string(static_cast<Backing>(h.backing))) +
                                     ") but the region's file says " + std::string(to_string(expected)));
    if (h.valid != kValidInitialising && h.valid != kValidReady && h.valid != kValidRemoved)
        corrupt(file, "valid", "holds " + num(h.valid) + ", not a known state");
    if ((h.flags & ~kKnownFlags) != 0)
        corrupt(file, "flags", "has unknown bits set (" + num(h.flags) + ")");
    const std::uint64_t ps = h.page_size;
    if (h.region_size % ps != 0)
        corrupt(file, "region_size", "is " + num(h.region_size) + ", not a multiple of the page size");
    if (h.region_size <= h.header_size)
        corrupt(file, "region_size", "is " + num(h.region_size) +
                                         ", not larger than the header (" + num(h.header_size) + ")");
    if (h.max_region_size % ps != 0 || h.max_region_size > kMaxRegionBytes)
        corrupt(file, "max_region_size", "is " + num(h.max_region_size) +
                                             ", not a page multiple below 2^46");
    if (h.region_size > h.max_region_size)
        corrupt(file, "region_size", "is " + num(h.region_size) + ", above the ceiling max_region_size " +
                                         num(h.max_region_size));
    if (h.region_size > backing_size)
        throw_failure(errc::size_mismatch, file,
                      file.string() + ": field 'region_size' is " + num(h.region_size) +
                          " but the backing holds only " + num(backing_size) + " bytes (truncated?)");
    if (h.ref_count > h.max_attachers)
        corrupt(file, "ref_count", "is " + num(h.ref_count) + ", above max_attachers " +
                                       num(h.max_attachers));
    if (strnlen(h.segment, sizeof h.segment) == sizeof h.segment)
        corrupt(file, "segment", "is not NUL-terminated");
    if (strnlen(h.origin, sizeof h.origin) == sizeof h.origin)
        corrupt(file, "origin", "is not NUL-terminated");
    const auto backing = static_cast<Backing>(h.backing);
    if (backing == Backing::posix && h.segment[0] != '/')
        corrupt(file, "segment", "does not name a POSIX segment");
    if (backing == Backing::sysv && h.max_region_size != h.region_size)
        corrupt(file, "max_region_size", "differs from region_size in a System V region");
    validate_grow_record(h, file);
}

void validate_grow_record(const RegionHeader& h, const std::filesystem::path& file) {
    const GrowRecord& g = h.grow;
    if (g.state == kGrowIdle) return;
    if (g.state != kGrowExtending) corrupt(file, "grow.state", "holds " + num(g.state) + ", not a known state");
    const std::uint64_t ps = h.page_size;
    if (g.old_region_size % ps != 0 || g.new_region_size % ps != 0 || g.old_region_size >= g.new_region_size ||
        g.new_region_size > h.max_region_size)
        corrupt(file, "grow", "records growth from " + num(g.old_region_size) + " to " + num(g.new_region_size) +
                                  " bytes, not page multiples growing within the ceiling " +
                                  num(h.max_region_size));
    // Published or not, region_size is one of the two ends.
    if (h.region_size != g.old_region_size && h.region_size != g.new_region_size)
        corrupt(file, "grow", "records growth from " + num(g.old_region_size) + " to " + num(g.new_region_size) +
                                  " bytes, but region_size is " + num(h.region_size));
}

void check_header_matches_locator(const RegionHeader& h, const Locator& loc,
                                  const std::filesystem::path& file) {
    const std::string seg = fixed_string(loc.segment, sizeof loc.segment);
    if (loc.backing == static_cast<std::uint32_t>(Backing::posix) &&
        std::strncmp(h.segment, loc.segment, sizeof h.segment) != 0)
        corrupt(file, "segment", "of segment " + seg + " names " + fixed_string(h.segment, sizeof h.segment) +
                                     ", not the segment the locator names");
    if (loc.backing != static_cast<std::uint32_t>(Backing::sysv)) return;
    if (h.sysv_key != loc.sysv_key)
        corrupt(file, "sysv_key", "of the System V segment is " + num(static_cast<std::uint32_t>(h.sysv_key)) +
                                      ", the locator says " + num(static_cast<std::uint32_t>(loc.sysv_key)));
    if (h.sysv_id != loc.sysv_id)
        corrupt(file, "sysv_id", "of the System V segment is " + std::to_string(h.sysv_id) +
                                     ", the locator says " + std::to_string(loc.sysv_id));
}

void validate_locator(const Locator& l, const std::filesystem::path& file, bool pending) {
    if (std::memcmp(l.magic, kLocatorMagic, sizeof l.magic) != 0)
        throw_failure(errc::bad_magic, file,
                      file.string() + ": field 'magic' does not hold the shmregion locator magic");
    if (l.version != kLayoutVersion)
        throw_failure(errc::version_mismatch, file,
                      file.string() + ": locator field 'version' is " + num(l.version) +
                          ", this library reads version " + num(kLayoutVersion));
    const auto backing = static_cast<Backing>(l.backing);
    if (backing != Backing::posix && backing != Backing::sysv)
        corrupt(file, "locator.backing", "is " + num(l.backing) + ", not posix (2) or sysv (3)");
    if (strnlen(l.segment, sizeof l.segment) == sizeof l.segment)
        corrupt(file, "locator.segment", "is not NUL-terminated");
    // Only names of the form we create: a forged locator must not make unlink --force
    // remove somebody else's /dev/shm object.
    const std::string seg = fixed_string(l.segment, sizeof l.segment);
    const std::string prefix = "/shmregion.";
    if (backing == Backing::posix &&
        (seg.compare(0, prefix.size(), prefix) != 0 || seg.size() < prefix.size() + 18 ||
         seg[seg.size() - 17] != '.' ||
         seg.find_first_not_of("0123456789abcdef", seg.size() - 16) != std::string::npos ||
         seg.find('/', 1) != std::string::npos))
        corrupt(file, "locator.segment", "is '" + seg + "', not a segment name of ours (/shmregion.<name>.<16 hex>)");
    if (backing == Backing::sysv && l.sysv_id < (pending ? -1 : 0))
        corrupt(file, "locator.sysv_id", "is negative");
}

}  // namespace shmregion::detail
