// libFuzzer target: the locator validator and the reader of a home file.
//
// Input: the bytes of <home>/fuzz.region. Its first sizeof(Locator) bytes (zero-padded) go
// to validate_locator, as a published locator and as a pending one (the hidden name a
// creator uses before it knows its System V id); then the whole input is written to
// <home>/fuzz.region and open_home_file reads it, read-only and read-write, the way attach,
// inspect and unlink --force start.
//
// Properties: an accepted locator has the documented form (and a published one is also
// accepted as pending); open_home_file says "file" exactly for the region magic, returns a
// locator only when the file holds a whole one that validate_locator accepts, and fails
// only with documented codes that name the file.
#include "fuzz_support.hpp"

#include "backing/store.hpp"
#include "format/header.hpp"
#include "sys/failure.hpp"

#include <shmregion/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

using namespace shmregion;
using namespace shmregion::detail;
using shmregion::fuzz::require;

bool documented(const std::error_code& c) {
    return c == errc::bad_magic || c == errc::version_mismatch || c == errc::header_corrupt ||
           c == errc::size_mismatch;
}

bool accepts(const Locator& l, const std::filesystem::path& file, bool pending) {
    try {
        validate_locator(l, file, pending);
        return true;
    } catch (const Failure& f) {
        require(documented(f.code), "validate_locator fails with a documented code");
        require(f.message.find(file.string()) != std::string::npos, "validate_locator's message names the file");
        return false;
    }
}

void check_accepted(const Locator& l, bool pending) {
    require(std::memcmp(l.magic, kLocatorMagic, sizeof l.magic) == 0, "accepted locator: magic");
    require(l.version == kLayoutVersion, "accepted locator: version");
    const auto backing = static_cast<Backing>(l.backing);
    require(backing == Backing::posix || backing == Backing::sysv, "accepted locator: posix or sysv");
    const std::size_t n = strnlen(l.segment, sizeof l.segment);
    require(n < sizeof l.segment, "accepted locator: segment terminated");
    if (backing == Backing::posix) {
        const std::string seg(l.segment, n);
        require(seg.rfind("/shmregion.", 0) == 0 && seg.size() >= 11 + 18, "accepted locator: segment prefix");
        require(seg.find('/', 1) == std::string::npos, "accepted locator: one path component");
        require(seg[seg.size() - 17] == '.' &&
                    seg.find_first_not_of("0123456789abcdef", seg.size() - 16) == std::string::npos,
                "accepted locator: 16 hex digits at the end");
    } else {
        require(l.sysv_id >= (pending ? -1 : 0), "accepted locator: sysv_id");
    }
}

struct Paths {
    std::filesystem::path home = shmregion::fuzz::FuzzHome::sub("locator");
    std::filesystem::path file = home / (std::string(shmregion::fuzz::kRegionName) + ".region");
    std::filesystem::path pending =
        home / pending_file_name(shmregion::fuzz::kRegionName, 1, 0x0123456789abcdefull);
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    shmregion::fuzz::isolate();
    shmregion::fuzz::FuzzHome::root();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Paths paths;

    Locator l{};
    std::memcpy(&l, data, std::min(size, sizeof l));
    const bool published = accepts(l, paths.file, false);
    const bool pending = accepts(l, paths.pending, true);
    if (published) check_accepted(l, false);
    if (pending) check_accepted(l, true);
    require(!published || pending, "a locator accepted as published is accepted as pending");

    shmregion::fuzz::write_file(paths.file, data, size);
    for (const bool writable : {false, true}) {
        try {
            const HomeFile hf = open_home_file(paths.file, writable);
            require(hf.fd.get() >= 0, "open_home_file: an open descriptor");
            require(size >= sizeof kRegionMagic, "open_home_file: at least a magic number");
            const bool region_magic = std::memcmp(data, kRegionMagic, sizeof kRegionMagic) == 0;
            require(region_magic == (hf.kind == Backing::file), "open_home_file: file exactly for the region magic");
            if (hf.kind == Backing::file) {
                require(!hf.locator, "open_home_file: no locator for a region file");
                continue;
            }
            require(hf.kind == Backing::posix || hf.kind == Backing::sysv, "open_home_file: posix or sysv");
            require(hf.locator.has_value() && size >= sizeof(Locator), "open_home_file: a whole locator");
            require(std::memcmp(&*hf.locator, data, sizeof(Locator)) == 0, "open_home_file: the file's locator");
            require(static_cast<Backing>(hf.locator->backing) == hf.kind, "open_home_file: kind from the locator");
            require(published, "open_home_file accepts only what validate_locator accepts");
        } catch (const Failure& f) {
            require(documented(f.code), "open_home_file fails with a documented code");
            require(f.message.find(paths.file.string()) != std::string::npos, "open_home_file's message names the file");
        }
    }
    return 0;
}
