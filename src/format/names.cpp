#include "format/names.hpp"

#include <charconv>
#include <cstdio>
#include <system_error>

namespace shmregion::detail {
namespace {

bool all_of(std::string_view s, std::string_view chars) { return s.find_first_not_of(chars) == std::string_view::npos; }

}  // namespace

std::filesystem::path region_file_in(const std::filesystem::path& home, std::string_view name) {
    return home / (std::string(name) + std::string(kRegionSuffix));
}

std::string pending_file_name(std::string_view name, long pid, std::uint64_t random) {
    char tail[48];
    std::snprintf(tail, sizeof tail, "%ld.%016llx", pid, static_cast<unsigned long long>(random));
    return pending_prefix(name) + tail;
}

std::string pending_prefix(std::string_view name) {
    return "." + std::string(name) + std::string(kRegionSuffix) + std::string(kPendingInfix);
}

bool is_pending_name(std::string_view f) {
    // rfind: the region's own name may contain the marker.
    const std::string marker = std::string(kRegionSuffix) + std::string(kPendingInfix);
    const auto at = f.rfind(marker);
    if (f.size() < 2 || f.front() != '.' || at == std::string_view::npos || at < 2) return false;
    const std::string_view tail = f.substr(at + marker.size());
    const auto dot = tail.find('.');
    if (dot == 0 || dot == std::string_view::npos || tail.size() - dot - 1 != 16) return false;
    return all_of(tail.substr(0, dot), "0123456789") && all_of(tail.substr(dot + 1), "0123456789abcdef");
}

long pending_creator_pid(std::string_view f) {
    if (!is_pending_name(f)) return 0;
    const std::string marker = std::string(kRegionSuffix) + std::string(kPendingInfix);
    const std::string_view tail = f.substr(f.rfind(marker) + marker.size());
    const std::string_view digits = tail.substr(0, tail.find('.'));
    long pid = 0;
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    return err == std::errc() && end == digits.data() + digits.size() ? pid : 0;
}

std::string region_name_of(const std::filesystem::path& file) {
    const std::string f = file.filename().string();
    const std::string_view suffix = kRegionSuffix;
    if (f.size() > suffix.size() && f.front() != '.' && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
        return f.substr(0, f.size() - suffix.size());
    const std::string marker = std::string(suffix) + std::string(kPendingInfix);
    const auto at = f.rfind(marker);
    if (f.size() > 1 && f.front() == '.' && at != std::string::npos && at > 1) return f.substr(1, at - 1);
    return {};
}

std::string posix_segment_name(std::string_view name, std::uint64_t random) {
    char tail[24];
    std::snprintf(tail, sizeof tail, ".%016llx", static_cast<unsigned long long>(random));
    return std::string(kSegmentPrefix) + std::string(name) + tail;
}

bool is_segment_name(std::string_view seg) {
    const std::string_view prefix = kSegmentPrefix;
    return seg.substr(0, prefix.size()) == prefix && seg.size() >= prefix.size() + 18 && seg[seg.size() - 17] == '.' &&
           all_of(seg.substr(seg.size() - 16), "0123456789abcdef") && seg.find('/', 1) == std::string_view::npos;
}

std::string_view segment_region(std::string_view seg) {
    if (!is_segment_name(seg)) return {};
    return seg.substr(kSegmentPrefix.size(), seg.size() - kSegmentPrefix.size() - 17);
}

std::filesystem::path segment_path(std::string_view segment) {
    return std::string(kShmDirectory) + std::string(segment);
}

}  // namespace shmregion::detail
