// Internal error plumbing. Lower layers throw Failure (a code, the file touched and a
// message such as "open /var/db/jobs.region: Permission denied"); the public entry points
// catch it and rethrow shmregion::Error with the operation and the region's name, or store
// the code in the caller's std::error_code.
#pragma once

#include <shmregion/error.hpp>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

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

/// Where a public entry point fails: the operation, and the region and home it was given.
struct Context {
    std::string_view operation;
    std::string_view region = {};
    const std::filesystem::path* home = nullptr;
};

/// The Error a Failure becomes at the public surface, naming ctx.
Error error_for(const Context& ctx, Failure&& f);
/// Stores a failure for an error_code& caller: the code in ec, the message the exception
/// would have carried in the calling thread's last_error_message().
void store_failure(std::error_code& ec, const std::error_code& code, std::string message) noexcept;

/// A Context, or a callable making one only when a failure needs it (the hot paths: it
/// costs nothing until then).
template <class Ctx>
Context resolve_context(const Ctx& c) {
    if constexpr (std::is_invocable_r_v<Context, const Ctx&>) return c();
    else return c;
}

/// The one wrapper of the public entry points, for both forms of each:
///   T op(args)                       { return entry({"op", name, &home}, [&] { ... }); }
///   T op(args, std::error_code& ec)  { return entry({"op", name, &home}, ec, [&] { ... }); }
/// The throwing form turns Failure into shmregion::Error naming ctx. The error_code form
/// clears ec, and on failure stores the code in ec and the exception's message in
/// last_error_message(), and returns a default-constructed result. ctx may also be a
/// callable returning the Context.
template <class Ctx, class Fn>
[[gnu::always_inline]] inline decltype(auto) entry(const Ctx& ctx, Fn&& fn) {
    try {
        return fn();
    } catch (Failure& f) {
        throw error_for(resolve_context(ctx), std::move(f));
    }
}
template <class Fn>
decltype(auto) entry(const Context& ctx, Fn&& fn) {
    return entry<Context, Fn>(ctx, std::forward<Fn>(fn));
}

template <class Ctx, class Fn>
[[gnu::always_inline]] inline auto entry(const Ctx& ctx, std::error_code& ec, Fn&& fn) noexcept
    -> std::invoke_result_t<Fn&> {
    using Result = std::invoke_result_t<Fn&>;
    ec.clear();
    try {
        return fn();
    } catch (Failure& f) {
        const Context c = resolve_context(ctx);
        store_failure(ec, f.code, error_for(c, std::move(f)).what());
    } catch (const std::system_error& e) {  // shmregion::Error from a public call made inside
        store_failure(ec, e.code(), e.what());
    } catch (const std::bad_alloc&) {
        store_failure(ec, std::make_error_code(std::errc::not_enough_memory),
                      std::string(resolve_context(ctx).operation) + ": out of memory");
    } catch (...) {
        store_failure(ec, std::make_error_code(std::errc::io_error),
                      std::string(resolve_context(ctx).operation) + ": unexpected exception");
    }
    if constexpr (!std::is_void_v<Result>) return Result{};
}
template <class Fn>
auto entry(const Context& ctx, std::error_code& ec, Fn&& fn) noexcept -> std::invoke_result_t<Fn&> {
    return entry<Context, Fn>(ctx, ec, std::forward<Fn>(fn));
}

}  // namespace shmregion::detail
