#include "format/header.hpp"

#include "sys/failure.hpp"
#include "sys/os.hpp"

#include <atomic>
#include <cstddef>
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

int region_mutex_attributes(pthread_mutexattr_t* a) noexcept {
    int rc = pthread_mutexattr_setpshared(a, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = pthread_mutexattr_setrobust(a, PTHREAD_MUTEX_ROBUST);
    // Error-checking: relocking from the holding thread fails with EDEADLK instead of
    // hanging, and unlocking from a non-owner is refused.
    if (rc == 0) rc = pthread_mutexattr_settype(a, PTHREAD_MUTEX_ERRORCHECK);
    return rc;
}

std::atomic<int> g_region_mutex_kind{0};

int region_mutex_expected_kind() noexcept {
    static const int kind = [] {
        pthread_mutexattr_t a;
        pthread_mutex_t probe;
        int rc = pthread_mutexattr_init(&a);
        if (rc == 0) rc = region_mutex_attributes(&a);
        if (rc == 0) rc = pthread_mutex_init(&probe, &a);
        pthread_mutexattr_destroy(&a);
        if (rc != 0) return -1;
        const int k = region_mutex_kind(&probe);
        pthread_mutex_destroy(&probe);
        return k;
    }();
    g_region_mutex_kind.store(kind, std::memory_order_relaxed);
    return kind;
}

std::string region_mutex_kind_problem(const pthread_mutex_t* m) {
    return "has kind " + std::to_string(region_mutex_kind(m)) + ", not the robust, process-shared, error-checking kind " +
           std::to_string(region_mutex_expected_kind()) +
           " (a mutex without the robust bit would hang every locker after a holder's death)";
}

LockTableLayout lock_table_layout(std::uint32_t max_attachers, std::uint32_t lock_count) noexcept {
    auto up = [](std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; };
    LockTableLayout l;
    l.table_offset = up(kSlotTableOffset + std::uint64_t{max_attachers} * sizeof(AttacherSlot), sizeof(LockEntry));
    l.records_offset = l.table_offset + std::uint64_t{lock_count} * sizeof(LockEntry);
    l.row_stride = lock_count == 0 ? 0 : up(std::uint64_t{lock_count} * sizeof(ShareRecord), 64);
    l.end = l.records_offset + std::uint64_t{max_attachers} * l.row_stride;
    return l;
}

std::uint64_t header_bytes(std::uint32_t max_attachers, std::uint32_t locks) noexcept {
    return *round_up(lock_table_layout(max_attachers, locks).end, page_size());
}

void stamp_home(RegionHeader& h, const std::filesystem::path& home, const std::filesystem::path& file) {
    if (auto id = dir_id(home)) {
        h.home_dev = id->dev;
        h.home_ino = id->ino;
    }
    std::error_code ec;
    auto canon = std::filesystem::weakly_canonical(std::filesystem::absolute(file, ec), ec);
    if (ec) canon = std::filesystem::absolute(file, ec).lexically_normal();
    std::memset(h.origin, 0, sizeof h.origin);
    std::strncpy(h.origin, canon.c_str(), sizeof h.origin - 1);
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
    if (h.lock_count > max_locks_limit)
        corrupt(file, "lock_count", "is " + num(h.lock_count) + ", not in 0.." + num(max_locks_limit));
    if (h.header_size != header_bytes(h.max_attachers, h.lock_count))
        corrupt(file, "header_size", "is " + num(h.header_size) + ", but " +
                                         num(h.max_attachers) + " attacher slots need " +
                                         num(header_bytes(h.max_attachers, h.lock_count)));
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
    if (!region_mutex_kind_ok(&h.mutex)) corrupt(file, "mutex", region_mutex_kind_problem(&h.mutex));
    validate_grow_record(h, file);
}

void validate_grow_record(const RegionHeader& h, const std::filesystem::path& file) {
    const GrowRecord& g = h.grow;
    if (g.state == kGrowIdle) return;
    if (g.state != kGrowExtending) corrupt(file, "grow.state", "holds " + num(g.state) + ", not a known state");
    // Called on its own on a live header (recovery after a grower died), so nothing that
    // validate_header checked before can be assumed here.
    const std::uint64_t ps = h.page_size;
    if (ps != page_size())
        corrupt(file, "page_size", "is " + num(ps) + " in a header with a grow record, not this system's " +
                                       num(page_size()));
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

bool locator_names(const Locator& loc, const RegionHeader& h) noexcept {
    if (loc.backing == static_cast<std::uint32_t>(Backing::posix))
        return std::strncmp(loc.segment, h.segment, sizeof loc.segment) == 0;
    return loc.sysv_id == h.sysv_id && loc.sysv_key == h.sysv_key;
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

std::uint32_t locator_checksum(const Locator& l) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(&l);
    std::uint32_t h = 2166136261u;
    for (std::size_t i = 0; i < offsetof(Locator, checksum); ++i) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h ? h : 1;
}

std::uint64_t segment_namespace(Backing kind) noexcept {
    if (kind == Backing::posix) return dev_shm_device();
    if (kind == Backing::sysv) return ipc_namespace();
    return 0;
}

SegmentPlace segment_place(const Locator& l) noexcept {
    const BootId& now = boot_id();
    BootId then;
    std::memcpy(then.bytes, l.boot_id, sizeof then.bytes);
    if (then.known() && now.known() && std::memcmp(then.bytes, now.bytes, sizeof then.bytes) != 0)
        return SegmentPlace::gone;
    const std::uint64_t here = segment_namespace(static_cast<Backing>(l.backing));
    if (l.namespace_id == 0 || here == 0) return SegmentPlace::unknown;
    return l.namespace_id == here ? SegmentPlace::here : SegmentPlace::foreign;
}

std::string describe_place(const Locator& l, SegmentPlace p) {
    const bool posix = l.backing == static_cast<std::uint32_t>(Backing::posix);
    if (p == SegmentPlace::foreign)
        return posix ? "its segment lives in another /dev/shm (st_dev " + num(l.namespace_id) + ", ours is " +
                           num(dev_shm_device()) + "): run this where the region was made"
                     : "its segment lives in another IPC namespace (ipc:[" + num(l.namespace_id) + "], ours is ipc:[" +
                           num(ipc_namespace()) + "]): run this where the region was made";
    if (p == SegmentPlace::unknown)
        return "the locator does not record where its segment was made, so a missing segment may live in another " +
               std::string(posix ? "/dev/shm" : "IPC namespace");
    return {};
}

void validate_locator(const Locator& l, const std::filesystem::path& file, bool pending) {
    if (std::memcmp(l.magic, kLocatorMagic, sizeof l.magic) != 0)
        throw_failure(errc::bad_magic, file,
                      file.string() + ": field 'magic' does not hold the shmregion locator magic");
    if (l.version != kLayoutVersion)
        throw_failure(errc::version_mismatch, file,
                      file.string() + ": locator field 'version' is " + num(l.version) +
                          ", this library reads version " + num(kLayoutVersion));
    // A locator is rewritten whole, so any changed byte shows; 0 is a locator written
    // before checksums were recorded.
    if (l.checksum != 0 && l.checksum != locator_checksum(l))
        corrupt(file, "locator.checksum", "is " + num(l.checksum) + " but the locator's bytes sum to " +
                                              num(locator_checksum(l)) + ": the locator was changed after it was written");
    const auto backing = static_cast<Backing>(l.backing);
    if (backing != Backing::posix && backing != Backing::sysv)
        corrupt(file, "locator.backing", "is " + num(l.backing) + ", not posix (2) or sysv (3)");
    if (strnlen(l.segment, sizeof l.segment) == sizeof l.segment)
        corrupt(file, "locator.segment", "is not NUL-terminated");
    // Only names of the form we create: a forged locator must not make unlink --force
    // remove somebody else's /dev/shm object.
    const std::string seg = fixed_string(l.segment, sizeof l.segment);
    if (backing == Backing::posix && !is_segment_name(seg))
        corrupt(file, "locator.segment", "is '" + seg + "', not a segment name of ours (/shmregion.<name>.<16 hex>)");
    // ... and made for this region: a name of another region is a damaged locator, never an
    // orphan whose removal would lose the real segment.
    const std::string name = region_name_of(file);
    if (backing == Backing::posix && !name.empty() && segment_region(seg) != name)
        corrupt(file, "locator.segment", "is '" + seg + "', not a segment of region '" + name + "' (/shmregion." + name +
                                             ".<16 hex>)");
    if (backing == Backing::sysv && l.sysv_id < (pending ? -1 : 0))
        corrupt(file, "locator.sysv_id", "is negative");
}

}  // namespace shmregion::detail
