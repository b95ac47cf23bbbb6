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

void throw_failure(errc code, const std::filesystem::path& file, std::string message) {
    throw Failure{make_error_code(code), file, std::move(message)};
}

}  // namespace shmregion::detail
