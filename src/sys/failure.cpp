#include "sys/failure.hpp"

#include <cstring>

namespace shmregion::detail {

void throw_errno(int err, std::string_view what, const std::filesystem::path& file) {
    std::string msg(what);
    msg += ' ';
    msg += file.string();
    msg += ": ";
    msg += std::strerror(err);
    throw Failure{std::error_code(err, std::generic_category()), file, std::move(msg)};
}

void throw_errno(int err, std::string_view what) {
    std::string msg(what);
    msg += ": ";
    msg += std::strerror(err);
    throw Failure{std::error_code(err, std::generic_category()), {}, std::move(msg)};
}

Error error_for(const Context& ctx, Failure&& f) {
    return Error(f.code, std::string(ctx.operation), std::string(ctx.region),
                 ctx.home ? *ctx.home : std::filesystem::path(), std::move(f.file), std::move(f.message));
}

namespace {
thread_local std::string t_last_error;
}  // namespace

void store_failure(std::error_code& ec, const std::error_code& code, std::string message) noexcept {
    ec = code;
    try {
        t_last_error = std::move(message);
    } catch (...) {
        t_last_error.clear();  // out of memory: the code alone
    }
}

void throw_failure(errc code, const std::filesystem::path& file, std::string message) {
    throw Failure{make_error_code(code), file, std::move(message)};
}

}  // namespace shmregion::detail

SHMREGION_NAMESPACE_BEGIN
const std::string& last_error_message() noexcept { return detail::t_last_error; }
SHMREGION_NAMESPACE_END
