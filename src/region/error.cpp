#include <shmregion/error.hpp>

#include <string>

SHMREGION_NAMESPACE_BEGIN
namespace {

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "shmregion"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_name: return "invalid region name";
            case errc::invalid_size: return "invalid region size";
            case errc::invalid_options: return "invalid options";
            case errc::bad_magic: return "not a shmregion file (bad magic number)";
            case errc::version_mismatch: return "region layout version mismatch";
            case errc::layout_mismatch: return "region built for another layout (mutex or page size)";
            case errc::header_corrupt: return "region header is corrupt";
            case errc::header_incomplete: return "region header incomplete (creator did not finish)";
            case errc::size_mismatch: return "region size disagrees with its backing";
            case errc::backing_mismatch: return "region exists with another backing";
            case errc::region_exists: return "region already exists";
            case errc::region_not_found: return "no such region";
            case errc::marked_for_removal: return "region is marked for removal";
            case errc::attacher_table_full: return "attacher table is full";
            case errc::lock_not_recoverable: return "region lock is not recoverable";
            case errc::lock_timeout: return "timed out waiting for the region lock";
            case errc::segment_missing: return "shared-memory segment named by the locator is missing";
            case errc::not_attached: return "region is not attached";
            case errc::wrong_process: return "region was attached by another process (call join_after_fork)";
            case errc::not_growable: return "region backing cannot grow";
            case errc::wrong_owner: return "region file or segment belongs to another user";
            case errc::engine_unavailable: return "I/O engine unavailable";
            case errc::segment_foreign: return "shared-memory segment lives in another namespace";
        }
        return "unknown shmregion error " + std::to_string(ev);
    }

    // Lets `ec == std::errc::...` work where a standard condition fits.
    std::error_condition default_error_condition(int ev) const noexcept override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_name:
            case errc::invalid_size:
            case errc::invalid_options: return std::errc::invalid_argument;
            case errc::region_exists: return std::errc::file_exists;
            case errc::region_not_found: return std::errc::no_such_file_or_directory;
            case errc::lock_not_recoverable: return std::errc::state_not_recoverable;
            case errc::lock_timeout: return std::errc::timed_out;
            case errc::attacher_table_full: return std::errc::too_many_files_open;
            case errc::not_growable: return std::errc::operation_not_supported;
            case errc::wrong_owner: return std::errc::operation_not_permitted;
            case errc::engine_unavailable: return std::errc::function_not_supported;
            default: return {ev, *this};
        }
    }
};

std::string compose(const std::error_code& code, const std::string& operation, const std::string& region,
                    const std::filesystem::path& home, const std::string& detail) {
    std::string s = operation;
    if (!region.empty()) s += " '" + region + "'";
    if (!home.empty()) s += " (home " + home.string() + ")";
    s += ": ";
    s += detail.empty() ? code.message() : detail;
    // A region name or path may hold any byte but '/': a NUL would cut what() short at
    // c_str(), a newline or an escape sequence would forge log lines or drive a terminal.
    // Such bytes appear as \xNN (region() and detail() keep the exact bytes).
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c >= 0x20 && c != 0x7f) {
            out += static_cast<char>(c);
            continue;
        }
        static const char hex[] = "0123456789abcdef";
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
    return out;
}

}  // namespace

const std::error_category& category() noexcept {
    static const Category c;
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

Error::Error(std::error_code code, std::string operation, std::string region,
             std::filesystem::path home, std::filesystem::path file, std::string detail)
    : std::system_error(code),
      what_(compose(code, operation, region, home, detail)),
      operation_(std::move(operation)),
      region_(std::move(region)),
      home_(std::move(home)),
      file_(std::move(file)),
      detail_(std::move(detail)) {}

SHMREGION_NAMESPACE_END
