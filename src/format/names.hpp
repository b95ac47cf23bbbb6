// The names of the format, spelled once: a region's file in its home, a creator's hidden
// pending file, a POSIX segment's name and its path under /dev/shm. Built and parsed here
// only (docs/format.md). Includes nothing but the standard library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace shmregion::detail {

/// "<name>.region": every named region's file in its home.
inline constexpr std::string_view kRegionSuffix = ".region";
/// The file of region `name` in `home`.
std::filesystem::path region_file_in(const std::filesystem::path& home, std::string_view name);

/// A creator's hidden file: ".<name>.region.pending.<pid>.<16 hex>".
inline constexpr std::string_view kPendingInfix = ".pending.";
std::string pending_file_name(std::string_view name, long pid, std::uint64_t random);
/// The start every pending file of region `name` has: ".<name>.region.pending.".
std::string pending_prefix(std::string_view name);
/// True for a name of exactly pending_file_name()'s form.
bool is_pending_name(std::string_view file_name);
/// The creator's pid a pending file's name records; 0 if the name is not of that form.
long pending_creator_pid(std::string_view file_name);

/// The region a region file or pending file is for: "a" for ".../a.region" and for
/// ".../.a.region.pending.<pid>.<hex>"; empty if the file name is neither.
std::string region_name_of(const std::filesystem::path& file);

/// POSIX segments: "/shmregion.<name>.<16 hex>", visible as /dev/shm/shmregion.<name>.<hex>.
inline constexpr std::string_view kShmDirectory = "/dev/shm";
inline constexpr std::string_view kSegmentPrefix = "/shmregion.";
std::string posix_segment_name(std::string_view name, std::uint64_t random);
/// True if `segment` has posix_segment_name()'s form (any region's name).
bool is_segment_name(std::string_view segment);
/// The region name inside a segment name of that form ("" otherwise).
std::string_view segment_region(std::string_view segment);
/// "/dev/shm/shmregion.<name>.<hex>" for messages and stat().
std::filesystem::path segment_path(std::string_view segment);

}  // namespace shmregion::detail
