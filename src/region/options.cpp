// Options and names: everything an attach checks before it makes or opens anything.
#include "region/region_impl.hpp"

#include "sys/failure.hpp"

#include <shmregion/region.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

namespace shmregion::detail {
namespace {

std::string num(std::uint64_t v) { return std::to_string(v); }

}  // namespace

Sizes creation_sizes(const Options& o) {
    if (o.max_attachers == 0 || o.max_attachers > max_attachers_limit)
        throw_failure(errc::invalid_options, {},
                      "max_attachers " + num(o.max_attachers) + " is not in 1.." + num(max_attachers_limit));
    if (o.locks > max_locks_limit)
        throw_failure(errc::invalid_options, {}, "locks " + num(o.locks) + " is not in 0.." + num(max_locks_limit));
    if (o.size == 0) throw_failure(errc::invalid_size, {}, "size 0: a region needs at least one byte");
    const std::uint64_t limit = kMaxRegionBytes;
    Sizes s{};
    s.header = header_bytes(o.max_attachers, o.locks);
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
    if (backing_traits(o.backing).fixed_size && *usable_max != *usable)
        throw_failure(errc::not_growable, {},
                      std::string(backing_traits(o.backing).cannot_grow_because) +
                          ": max_size must equal size (or be 0)");
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
    const BackingTraits& t = backing_traits(o.backing);
    if (o.backing == Backing::any && o.mode != OpenMode::join_only)
        throw_failure(errc::invalid_options, {}, "backing 'any' can only join (OpenMode::join_only)");
    if (t.fork_shared && o.mode == OpenMode::join_only)
        throw_failure(errc::invalid_options, {},
                      std::string(t.name) + " regions cannot be joined by name: share them with fork() and "
                                            "Region::join_after_fork()");
    if (o.mode != OpenMode::join_only) (void)creation_sizes(o);
    if (o.home.empty() && (t.named || o.backing == Backing::any))
        throw_failure(errc::invalid_options, {}, "no home directory given");
    // Whether home exists is checked only when its region file cannot be opened (join)
    // or created: it costs a path lookup on every attach otherwise.
}

std::string describe(const std::filesystem::path& file, Backing kind) {
    return file.empty() ? std::string(backing_traits(kind).name) + " region" : file.string();
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

}  // namespace shmregion::detail

SHMREGION_NAMESPACE_BEGIN

std::string_view to_string(Backing b) noexcept { return detail::backing_traits(b).name; }

bool parse_backing(std::string_view text, Backing& out) noexcept {
    if (text == to_string(Backing::any)) {
        out = Backing::any;
        return true;
    }
    for (const detail::BackingType* t : detail::backing_types()) {
        if (text == t->traits().name) {
            out = t->traits().kind;
            return true;
        }
    }
    return false;
}

std::filesystem::path region_file(const std::filesystem::path& home, std::string_view name) {
    return detail::region_file_in(home, name);
}

SHMREGION_NAMESPACE_END
