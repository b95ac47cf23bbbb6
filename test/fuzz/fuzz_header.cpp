// libFuzzer target: the region header validator.
//
// Input: the header's bytes (sizeof(RegionHeader); a shorter input is zero-padded), then
// optionally 8 bytes (native byte order) giving the backing's real size; without them the
// backing size is the input's length, as if the input were the whole file.
//
// Each input is validated against every expected backing (any, file, posix, sysv,
// anonymous, heap) and three backing sizes (the fuzzed one, exactly region_size, and
// UINT64_MAX). Beyond "no crash, no hang, no out-of-bounds read", it checks what callers
// rely on when validate_header returns: the sizes and the attacher table fit, the strings
// are terminated, the grow record is sane; and that failures carry one of the documented
// codes and name the file. check_header_matches_locator is run on a locator made from an
// accepted header (must agree) and on one that differs (must not).
#include "fuzz_support.hpp"

#include "format/header.hpp"
#include "sys/failure.hpp"
#include "sys/os.hpp"

#include <shmregion/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace {

using namespace shmregion;
using namespace shmregion::detail;
using shmregion::fuzz::require;

const std::filesystem::path kFile = "/fuzz/home/fuzz.region";

bool one_of_validator_codes(const std::error_code& c) {
    return c == errc::bad_magic || c == errc::version_mismatch || c == errc::layout_mismatch ||
           c == errc::header_corrupt || c == errc::size_mismatch;
}

/// validate_header, true if it accepted; a failure must be a documented one.
bool accepts(const RegionHeader& h, std::uint64_t backing_size, Backing expected) {
    try {
        validate_header(h, backing_size, kFile, expected);
        return true;
    } catch (const Failure& f) {
        require(one_of_validator_codes(f.code), "validate_header fails with a documented code");
        require(f.file == kFile, "validate_header's failure names the file");
        require(f.message.find(kFile.string()) != std::string::npos, "validate_header's message names the file");
        return false;
    }
}

/// What callers of validate_header rely on once it returned.
void check_accepted(const RegionHeader& h, std::uint64_t backing_size, Backing expected) {
    require(std::memcmp(h.magic, kRegionMagic, sizeof h.magic) == 0, "accepted: magic");
    require(h.version == kLayoutVersion && h.layout == kLayoutWord, "accepted: version and layout");
    require(h.page_size == page_size(), "accepted: page size");
    require(h.max_attachers >= 1 && h.max_attachers <= max_attachers_limit, "accepted: max_attachers in range");
    require(h.header_size == header_bytes(h.max_attachers, h.lock_count), "accepted: header_size");
    require(kSlotTableOffset + std::uint64_t{h.max_attachers} * sizeof(AttacherSlot) <= h.header_size,
            "accepted: the attacher table fits in the header");
    require(h.header_size < h.region_size, "accepted: region larger than its header");
    require(h.region_size <= h.max_region_size && h.max_region_size <= kMaxRegionBytes, "accepted: ceiling");
    require(h.region_size <= backing_size, "accepted: region within the backing");
    require(h.region_size % h.page_size == 0 && h.max_region_size % h.page_size == 0, "accepted: page multiples");
    require(h.ref_count <= h.max_attachers, "accepted: ref_count");
    require(h.backing >= static_cast<std::uint32_t>(Backing::file) &&
                h.backing <= static_cast<std::uint32_t>(Backing::heap),
            "accepted: a known backing");
    require(expected == Backing::any || h.backing == static_cast<std::uint32_t>(expected), "accepted: expected backing");
    require((h.flags & ~kKnownFlags) == 0, "accepted: flags");
    require(h.valid == kValidInitialising || h.valid == kValidReady || h.valid == kValidRemoved, "accepted: valid");
    require(strnlen(h.segment, sizeof h.segment) < sizeof h.segment, "accepted: segment terminated");
    require(strnlen(h.origin, sizeof h.origin) < sizeof h.origin, "accepted: origin terminated");
    require(fixed_string(h.segment, sizeof h.segment).size() < sizeof h.segment, "accepted: fixed_string bounded");
    if (h.grow.state != kGrowIdle) {
        require(h.grow.state == kGrowExtending, "accepted: grow.state");
        require(h.grow.old_region_size < h.grow.new_region_size && h.grow.new_region_size <= h.max_region_size,
                "accepted: grow bounds");
        require(h.region_size == h.grow.old_region_size || h.region_size == h.grow.new_region_size,
                "accepted: region_size is an end of the growth");
    }
    try {
        validate_grow_record(h, kFile);
    } catch (const Failure&) {
        require(false, "validate_grow_record accepts what validate_header accepted");
    }
}

/// The locator naming an accepted header must match it; one naming another segment must not.
void check_locator_agreement(const RegionHeader& h) {
    const auto backing = static_cast<Backing>(h.backing);
    if (backing != Backing::posix && backing != Backing::sysv) return;
    Locator loc{};
    std::memcpy(loc.magic, kLocatorMagic, sizeof loc.magic);
    loc.version = kLayoutVersion;
    loc.backing = h.backing;
    std::memcpy(loc.segment, h.segment, sizeof loc.segment);
    loc.sysv_key = h.sysv_key;
    loc.sysv_id = h.sysv_id;
    try {
        check_header_matches_locator(h, loc, kFile);
    } catch (const Failure&) {
        require(false, "check_header_matches_locator accepts the locator made from the header");
    }
    if (backing == Backing::posix)
        loc.segment[0] = static_cast<char>(loc.segment[0] ^ 1);
    else
        loc.sysv_id ^= 1;
    bool refused = false;
    try {
        check_header_matches_locator(h, loc, kFile);
    } catch (const Failure& f) {
        refused = f.code == errc::header_corrupt;
    }
    require(refused, "check_header_matches_locator refuses a locator naming another segment");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    RegionHeader h;
    std::memset(&h, 0, sizeof h);
    std::memcpy(&h, data, std::min(size, sizeof h));
    std::uint64_t fuzzed_size = size;
    if (size >= sizeof h + sizeof fuzzed_size) std::memcpy(&fuzzed_size, data + sizeof h, sizeof fuzzed_size);

    // The grow record alone, as RegionImpl::recover_growth checks the live shared header
    // (whose fields another process may have changed since attach validated them).
    // corpus/header/regress-grow-record-page-size-0 once divided by a page_size of 0 here.
    try {
        validate_grow_record(h, kFile);
    } catch (const Failure& f) {
        require(f.code == errc::header_corrupt, "validate_grow_record fails with header_corrupt");
    }

    const std::uint64_t sizes[] = {fuzzed_size, h.region_size, std::numeric_limits<std::uint64_t>::max()};
    const Backing backings[] = {Backing::any,  Backing::file,      Backing::posix,
                                Backing::sysv, Backing::anonymous, Backing::heap};
    for (const std::uint64_t bsize : sizes) {
        const bool any_ok = accepts(h, bsize, Backing::any);
        if (any_ok) {
            check_accepted(h, bsize, Backing::any);
            check_locator_agreement(h);
            // A larger backing never turns an accepted header into a refused one.
            require(accepts(h, std::numeric_limits<std::uint64_t>::max(), Backing::any),
                    "accepted with a backing size, accepted with a larger one");
        }
        for (const Backing b : backings) {
            if (b == Backing::any) continue;
            const bool ok = accepts(h, bsize, b);
            // Exactly the header's own backing, and only when `any` accepts.
            require(ok == (any_ok && h.backing == static_cast<std::uint32_t>(b)),
                    "an expected backing accepts exactly the header's own, when 'any' accepts");
            if (ok) check_accepted(h, bsize, b);
        }
    }
    return 0;
}
