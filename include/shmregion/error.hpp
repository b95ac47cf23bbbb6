// shmregion: error codes and the exception type.
//
// Every operation has a throwing form (throws shmregion::Error, a std::system_error whose
// message names the operation, the region, the file and the cause) and a non-throwing form
// that takes a std::error_code&: it stores the code, and the message the exception would
// have carried is the calling thread's last_error_message().
//
// Failures of the operating system keep their errno in std::generic_category(), so
// `ec == std::errc::no_space_on_device` works. Failures that only this library can detect
// use shmregion::errc below, in shmregion::category(); several of them also compare equal
// to the std::errc that fits (see the table in error.cpp).
#pragma once

#include <shmregion/version.hpp>

#include <filesystem>
#include <string>
#include <system_error>

SHMREGION_NAMESPACE_BEGIN

enum class errc : int {
    invalid_name = 1,       ///< empty, too long, contains '/', NUL or a control char, "." or ".."
    invalid_size,           ///< 0, beyond the address space, or max_size below size
    invalid_options,        ///< an option combination that cannot work (e.g. Backing::any on create)
    bad_magic,              ///< the file is not a shmregion region or locator
    version_mismatch,       ///< written by an incompatible layout version
    layout_mismatch,        ///< written by a build with another mutex size or page size
    header_corrupt,         ///< a header field is out of range; the message names the field
    header_incomplete,      ///< the creator never finished (valid word not set before the timeout)
    size_mismatch,          ///< the header's sizes disagree with the real size of the backing
    backing_mismatch,       ///< the region exists with another backing than the one asked for
    region_exists,          ///< OpenMode::create_only and the region already exists
    region_not_found,       ///< OpenMode::join_only (or unlink/inspect) and there is no region
    marked_for_removal,     ///< the region is being removed; it cannot be joined any more
    attacher_table_full,    ///< every attacher slot is held by a live process
    lock_not_recoverable,   ///< the robust mutex is in the not-recoverable state
    lock_timeout,           ///< the region lock was not acquired before the join timeout
    segment_missing,        ///< a locator names a shared-memory segment that no longer exists
    not_attached,           ///< operation on an empty or detached Region
    wrong_process,          ///< Region inherited across fork() used before join_after_fork()
    not_growable,           ///< the backing cannot change size (System V, anonymous)
    wrong_owner,            ///< the region's file or segment belongs to another user
    engine_unavailable,     ///< an I/O engine asked for by name is not built or cannot run here
    /// The locator's segment was made in another /dev/shm or IPC namespace (a container, a
    /// unit with PrivateDevices=, unshare -m/-i) or the locator does not say where: it may
    /// well exist there, so it is never treated as missing, and nothing removes its file
    /// from here unless asked to (RemoveOptions::allow_foreign).
    segment_foreign,
};

/// The category of shmregion::errc.
SHMREGION_API const std::error_category& category() noexcept;

/// The std::error_code of `e` in category(); what makes `ec == shmregion::errc::...` work.
SHMREGION_API std::error_code make_error_code(errc e) noexcept;

/// The exception thrown by the throwing forms. what() reads like
///   attach 'jobs' (home /var/db): open /var/db/jobs.region: Permission denied
class SHMREGION_API Error : public std::system_error {
public:
    /// Builds the exception; what() is composed from code, operation, region, home and detail.
    Error(std::error_code code, std::string operation, std::string region,
          std::filesystem::path home, std::filesystem::path file, std::string detail);

    /// The operation that failed ("attach", "detach", "unlink", "inspect", "lock", ...).
    const std::string& operation() const noexcept { return operation_; }
    /// The region's name (may be empty when the name itself was the problem).
    const std::string& region() const noexcept { return region_; }
    /// The home directory of the region (may be empty).
    const std::filesystem::path& home() const noexcept { return home_; }
    /// The file (or segment) the failing step touched; empty when none.
    const std::filesystem::path& file() const noexcept { return file_; }
    /// The failing step and its cause, without the region prefix ("open /x: Permission denied").
    const std::string& detail() const noexcept { return detail_; }
    /// The whole message; the cause is already in it (std::system_error's own would repeat it).
    const char* what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
    std::string operation_;
    std::string region_;
    std::filesystem::path home_;
    std::filesystem::path file_;
    std::string detail_;
};

/// The message of the calling thread's last failed error_code& call, worded as the
/// exception's what() would have been ("attach 'jobs' (home /var/db): max_attachers 0 is
/// not in 1..4096"), since ec.message() can only say what the code means ("invalid
/// options"). Set by every error_code& form that fails; calls that succeed leave it as it
/// was (like errno). Empty before the first failure.
SHMREGION_API const std::string& last_error_message() noexcept;

SHMREGION_NAMESPACE_END

template <>
struct std::is_error_code_enum<shmregion::errc> : std::true_type {};
