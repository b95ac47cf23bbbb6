// Internal error plumbing. Lower layers throw Failure (a code, the file touched and a
// message such as "open /var/db/jobs.region: Permission denied"); the public entry points
// catch it and rethrow shmregion::Error with the operation and the region's name, or store
// the code in the caller's std::error_code.
#pragma once

#include <shmregion/error.hpp>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace shmregion::detail {

struct Failure {
    std::error_code code;
    std::filesystem::path file;
    std::string message;
};

/// "<what> <file>: <strerror(err)>", code = errno in the generic category.
[[noreturn]] void throw_errno(int err, std::string_view what, const std::filesystem::path& file);
/// "<what>: <strerror(err)>" for calls that name no file (mmap, shmget, ...).
[[noreturn]] void throw_errno(int err, std::string_view what);
/// A library-specific failure; message should say which field or object and why.
[[noreturn]] void throw_failure(errc code, const std::filesystem::path& file, std::string message);

/// Runs fn, turning Failure into shmregion::Error with the given context.
template <class Fn>
decltype(auto) with_context(std::string_view operation, std::string_view region,
                            const std::filesystem::path& home, Fn&& fn) {
    try {
        return fn();
    } catch (Failure& f) {
        throw Error(f.code, std::string(operation), std::string(region), home, f.file,
                    std::move(f.message));
    }
}

/// Runs fn for a non-throwing entry point: clears ec on success, stores the code on
/// failure (Error, Failure, std::bad_alloc, std::system_error) and returns fallback.
template <class T, class Fn>
T capture(std::error_code& ec, T fallback, Fn&& fn) noexcept {
    try {
        ec.clear();
        return fn();
    } catch (const std::system_error& e) {
        ec = e.code();
    } catch (const Failure& f) {
        ec = f.code;
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    } catch (...) {
        ec = std::make_error_code(std::errc::io_error);
    }
    return fallback;
}

}  // namespace shmregion::detail
