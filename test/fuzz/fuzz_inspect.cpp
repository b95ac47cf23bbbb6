// libFuzzer target: shmregion::inspect (and read_bytes) on a home whose region holds the
// fuzzed bytes. Each input is used three ways:
//
//   file   <home>/file/fuzz.region holds the input: a file region's whole backing, or a
//          locator (then the segment it names is looked up, read-only), or anything else;
//   posix  a real POSIX region made at start-up (Region::attach, so its locator is the
//          library's own): its segment's bytes are replaced by the input;
//   sysv   the same with a real System V region; the input fills the fixed-size segment
//          (truncated or zero-padded).
//
// In the posix and sysv modes the header fields that tie a segment to its locator (the
// segment name, the System V key and id) are set to the real region's before the bytes are
// written, so that inputs reach the header validation and what follows it (the attacher
// table, the lock state) whatever segment the seed came from; the mismatch itself is
// fuzzed by fuzz_header (check_header_matches_locator). When the process is isolated
// (fuzz_support.hpp), orphan_segments() also reads the fuzzed segments' headers.
//
// Properties: inspect fails only with shmregion::Error naming the operation and the region;
// what it returns is consistent (sizes within the backing, attachers within the table,
// the backing the home file says); read_bytes reads the last usable byte and refuses the
// byte after it.
#include "fuzz_support.hpp"

#include "format/header.hpp"

#include <shmregion/shmregion.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

using namespace shmregion;
using shmregion::fuzz::die;
using shmregion::fuzz::kRegionName;
using shmregion::fuzz::require;
namespace fs = std::filesystem;

/// A real region of a shm backing whose segment the fuzzer rewrites.
struct LiveSegment {
    fs::path home;
    detail::RegionHeader header{};  // as the library wrote it
    int posix_fd = -1;
    void* sysv = nullptr;
    std::size_t sysv_size = 0;
};

struct State {
    fs::path file_home;
    LiveSegment posix, sysv;
    bool isolated = false;
};
State* state = nullptr;

LiveSegment make_live(Backing backing) {
    LiveSegment s;
    s.home = shmregion::fuzz::FuzzHome::sub(std::string(to_string(backing)));
    Options o;
    o.home = s.home;
    o.name = kRegionName;
    o.backing = backing;
    o.mode = OpenMode::create_only;
    o.size = 4096;
    o.max_attachers = 4;
    RegionInfo info;
    try {
        Region::attach(o).detach();  // the region stays: nothing asked for its removal
        // The harness must agree with the library: a region it just made inspects cleanly.
        info = inspect(s.home, kRegionName);
    } catch (const Error& e) {
        die("cannot make and inspect the " + std::string(to_string(backing)) + " region: " + e.what());
    }
    if (info.backing != backing || !info.valid)
        die("a fresh " + std::string(to_string(backing)) + " region does not inspect as one");
    // Its header, copied from the segment as the library wrote it.
    if (backing == Backing::posix) {
        s.posix_fd = ::shm_open(info.segment.c_str(), O_RDWR | O_CLOEXEC, 0);
        if (s.posix_fd < 0) die("shm_open " + info.segment + ": " + std::strerror(errno));
        if (::pread(s.posix_fd, &s.header, sizeof s.header, 0) != static_cast<ssize_t>(sizeof s.header))
            die("reading the header of " + info.segment);
    } else {
        struct shmid_ds ds {};
        if (::shmctl(info.sysv_id, IPC_STAT, &ds) != 0) die(std::string("IPC_STAT: ") + std::strerror(errno));
        s.sysv_size = ds.shm_segsz;
        s.sysv = ::shmat(info.sysv_id, nullptr, 0);
        if (s.sysv == reinterpret_cast<void*>(-1)) die(std::string("shmat: ") + std::strerror(errno));
        std::memcpy(&s.header, s.sysv, sizeof s.header);
    }
    return s;
}

void cleanup() {
    if (!state) return;
    if (state->posix.posix_fd >= 0) ::close(state->posix.posix_fd);
    if (state->sysv.sysv) ::shmdt(state->sysv.sysv);
    std::error_code ec;
    shmregion::unlink(state->posix.home, kRegionName, Force::yes, ec);
    shmregion::unlink(state->sysv.home, kRegionName, Force::yes, ec);
    delete state;
    state = nullptr;
}

/// SHMREGION_FUZZ_VERBOSE=1: say what each mode made of the input (when replaying one).
const bool verbose = std::getenv("SHMREGION_FUZZ_VERBOSE") != nullptr;

void check_inspect(const fs::path& home, Backing expected) {
    RegionInfo info;
    try {
        info = inspect(home, kRegionName);
        if (verbose)
            std::fprintf(stderr, "%s: inspect: %s region of %llu bytes, %zu attachers\n", home.filename().c_str(),
                         std::string(to_string(info.backing)).c_str(),
                         static_cast<unsigned long long>(info.region_size), info.attachers.size());
    } catch (const Error& e) {
        if (verbose) std::fprintf(stderr, "%s: %s\n", home.filename().c_str(), e.what());
        require(e.operation() == "inspect" && e.region() == kRegionName, "inspect's error names the operation and region");
        require(*e.what() != '\0', "inspect's error has a message");
        return;
    }
    require(info.backing == expected, "inspect: the backing the home file says");
    require(info.header_size < info.region_size, "inspect: region larger than its header");
    require(info.region_size <= info.backing_size, "inspect: region within its backing");
    require(info.region_size <= info.max_region_size, "inspect: region within its ceiling");
    require(info.size == info.region_size - info.header_size, "inspect: usable size");
    require(info.attachers.size() <= info.max_attachers, "inspect: attachers within the table");
    for (const AttacherInfo& a : info.attachers) require(a.slot < info.max_attachers, "inspect: slot numbers");

    try {
        const std::vector<unsigned char> last = read_bytes(home, kRegionName, info.size - 1, 1);
        require(last.size() == 1, "read_bytes: the last usable byte");
    } catch (const Error&) {
        // The region may have been refused on a second look only if the input changed: it did not.
        require(false, "read_bytes reads a region that inspect accepted");
    }
    bool refused = false;
    try {
        (void)read_bytes(home, kRegionName, info.size, 1);
    } catch (const Error& e) {
        refused = e.code() == errc::invalid_size;
    }
    require(refused, "read_bytes refuses the byte after the usable area");
}

/// The input as the segment's bytes, with the real region's identity fields.
std::vector<std::uint8_t> as_segment(const std::uint8_t* data, std::size_t size, const detail::RegionHeader& real) {
    std::vector<std::uint8_t> b(data, data + size);
    if (size >= sizeof(detail::RegionHeader)) {
        auto* h = reinterpret_cast<detail::RegionHeader*>(b.data());
        std::memcpy(h->segment, real.segment, sizeof h->segment);
        h->sysv_key = real.sysv_key;
        h->sysv_id = real.sysv_id;
    }
    return b;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const bool isolated = shmregion::fuzz::isolate();
    shmregion::fuzz::FuzzHome::root();
    state = new State;
    state->isolated = isolated;
    state->file_home = shmregion::fuzz::FuzzHome::sub("file");
    state->posix = make_live(Backing::posix);
    state->sysv = make_live(Backing::sysv);
    std::atexit(cleanup);  // after FuzzHome's construction: runs before the home goes
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    State& s = *state;

    shmregion::fuzz::write_file(s.file_home / (std::string(kRegionName) + ".region"), data, size);
    {
        // The home file decides the backing: the region magic says file, a locator its own.
        Backing expected = Backing::file;
        detail::Locator loc{};
        if (size >= sizeof loc) {
            std::memcpy(&loc, data, sizeof loc);
            if (std::memcmp(loc.magic, detail::kLocatorMagic, sizeof loc.magic) == 0)
                expected = static_cast<Backing>(loc.backing);
        }
        check_inspect(s.file_home, expected);
    }

    const std::vector<std::uint8_t> px = as_segment(data, size, s.posix.header);
    if (::ftruncate(s.posix.posix_fd, static_cast<off_t>(px.size())) != 0 ||
        (!px.empty() && ::pwrite(s.posix.posix_fd, px.data(), px.size(), 0) != static_cast<ssize_t>(px.size())))
        die(std::string("rewriting the POSIX segment: ") + std::strerror(errno));
    check_inspect(s.posix.home, Backing::posix);

    const std::vector<std::uint8_t> sv = as_segment(data, size, s.sysv.header);
    const std::size_t n = std::min(sv.size(), s.sysv.sysv_size);
    if (n) std::memcpy(s.sysv.sysv, sv.data(), n);
    std::memset(static_cast<char*>(s.sysv.sysv) + n, 0, s.sysv.sysv_size - n);
    check_inspect(s.sysv.home, Backing::sysv);

    if (s.isolated) {
        // Reads every segment's header in this process's own /dev/shm and IPC namespace.
        try {
            for (const OrphanSegment& o : orphan_segments(s.posix.home))
                require(o.backing == Backing::posix || o.backing == Backing::sysv, "orphan_segments: a shm backing");
        } catch (const Error& e) {
            require(e.operation() == "orphan_segments", "orphan_segments' error names the operation");
        }
    }
    return 0;
}
