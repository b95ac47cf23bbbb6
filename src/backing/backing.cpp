// The table of backings: the one place that maps a Backing value to its type.
#include "backing/backing.hpp"

#include "sys/failure.hpp"

#include <array>
#include <cstring>

namespace shmregion::detail {
namespace {

// One line per backing, in the order of the Backing values (any = 0 has no type).
const std::array<const BackingType*, 5>& table() noexcept {
    static const std::array<const BackingType*, 5> t = {
        &file_backing(), &posix_backing(), &sysv_backing(), &anonymous_backing(), &heap_backing(),
    };
    return t;
}

const BackingType* find_type(Backing b) noexcept {
    for (const BackingType* t : table())
        if (t->traits().kind == b) return t;
    return nullptr;
}

}  // namespace

const BackingType& backing_type(Backing b) {
    if (const BackingType* t = find_type(b)) return *t;
    throw_failure(errc::invalid_options, {},
                  "backing '" + std::string(backing_traits(b).name) + "' names no backing that can hold a region");
}

const BackingTraits& backing_traits(Backing b) noexcept {
    static const BackingTraits any{.kind = Backing::any, .name = "any"};
    static const BackingTraits unknown{.kind = Backing::any, .name = "unknown"};
    if (const BackingType* t = find_type(b)) return t->traits();
    return b == Backing::any ? any : unknown;
}

std::span<const BackingType* const> backing_types() noexcept { return table(); }

const BackingTraits& Store::traits() const noexcept { return backing_traits(kind()); }

std::unique_ptr<Store> BackingType::open(HomeFile&, const std::filesystem::path& file, bool) const {
    throw_failure(errc::bad_magic, file, file.string() + ": not a region of a named backing");
}

std::unique_ptr<Store> BackingType::find(std::string_view) const { return nullptr; }
bool BackingType::segment_visible(const Locator&) const { return true; }
void BackingType::remove_located(const Locator&, const std::filesystem::path&, std::optional<uid_t>) const {}
bool BackingType::remove_abandoned(const Locator&, const std::filesystem::path&, uid_t, bool) const { return false; }
std::vector<SegmentCopy> BackingType::segments() const { return {}; }
void BackingType::remove_segment(const SegmentCopy&) const {}

std::unique_ptr<Store> open_store(HomeFile& home, const std::filesystem::path& file, bool writable) {
    const BackingType* t = find_type(home.kind);
    if (!t || !t->traits().named)
        throw_failure(errc::bad_magic, file, file.string() + ": not a region of a named backing");
    return t->open(home, file, writable);
}

std::unique_ptr<Store> create_store(Backing kind, const CreateRequest& req) {
    if (kind == Backing::any) throw_failure(errc::invalid_options, {}, "backing 'any' cannot create a region");
    return backing_type(kind).create(req);
}

bool plausible_region_header(const RegionHeader& h) noexcept {
    return std::memcmp(h.magic, kRegionMagic, sizeof h.magic) == 0 && h.max_attachers > 0 &&
           h.max_attachers <= max_attachers_limit && strnlen(h.origin, sizeof h.origin) < sizeof h.origin;
}

}  // namespace shmregion::detail
