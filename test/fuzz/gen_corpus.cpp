// Regenerates the seed corpus of test/fuzz from real regions:
//
//   fuzz_corpus_gen DIR          (DIR is test/fuzz/corpus; writes DIR/header, DIR/locator, DIR/inspect)
//   fuzz_corpus_gen --check DIR  (exit 1 unless this library accepts DIR's valid seeds)
//
// Every valid seed is the bytes the library itself wrote: regions of each backing are
// created with Region::attach in a temporary home (region name "fuzz", see
// fuzz_support.hpp) and their file, locator or segment is copied. Every corrupt seed is a
// valid one with one field changed through the library's structs (RegionHeader, Locator),
// so a new field or a moved one changes the seeds with the layout instead of silently
// invalidating them. Files this program does not name (regression inputs: regress-*,
// crash-*) are left alone. Everything it creates (home, segments) is removed before it exits.
#include "fuzz_support.hpp"

#include "format/header.hpp"
#include "sys/failure.hpp"
#include "sys/os.hpp"

#include <shmregion/shmregion.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace shmregion;
using detail::Locator;
using detail::RegionHeader;
using shmregion::fuzz::die;
using shmregion::fuzz::kRegionName;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

fs::path out_dir;

void emit(const std::string& sub, const std::string& name, const Bytes& b) {
    const fs::path dir = out_dir / sub;
    fs::create_directories(dir);
    shmregion::fuzz::write_file(dir / name, b.data(), b.size());
}

template <class T>
Bytes bytes_of(const T& v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    return Bytes(p, p + sizeof v);
}

Bytes read_file(const fs::path& f) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + f.string() + ": " + std::strerror(errno));
    Bytes b(static_cast<std::size_t>(fs::file_size(f)));
    if (!b.empty() && !detail::pread_all(fd, b.data(), b.size(), 0)) die("read " + f.string());
    ::close(fd);
    return b;
}

/// One region of each backing, attached while the seeds are taken.
struct Made {
    Backing backing;
    fs::path home;
    Region region;
    Bytes home_file;  // <name>.region (file: the whole region; posix, sysv: the locator)
    Bytes memory;     // the whole backing: header, attacher table, usable area
};

Made make(Backing backing, const fs::path& root) {
    Made m{backing, root / std::string(to_string(backing)), Region{}, {}, {}};
    fs::create_directories(m.home);
    Options o;
    o.home = m.home;
    o.name = kRegionName;
    o.backing = backing;
    o.mode = OpenMode::create_only;
    o.size = 4096;
    // Room to grow where the backing can, so the grow-record seeds are consistent.
    o.max_size = (backing == Backing::sysv || backing == Backing::anonymous) ? 0 : 4 * 4096;  // fixed size
    o.max_attachers = 4;
    m.region = Region::attach(o);
    const auto header_size = detail::header_bytes(o.max_attachers, o.locks);
    const auto* base = static_cast<const std::uint8_t*>(m.region.data()) - header_size;
    m.memory.assign(base, base + header_size + m.region.size());
    if (backing == Backing::file || backing == Backing::posix || backing == Backing::sysv)
        m.home_file = read_file(m.region.file());
    return m;
}

RegionHeader header_of(const Bytes& memory) {
    RegionHeader h;
    std::memcpy(&h, memory.data(), sizeof h);
    return h;
}

/// A header seed: the header, then the backing's size (fuzz_header's input format).
Bytes header_seed(const RegionHeader& h, std::uint64_t backing_size) {
    Bytes b = bytes_of(h);
    const Bytes s = bytes_of(backing_size);
    b.insert(b.end(), s.begin(), s.end());
    return b;
}

struct HeaderChange {
    const char* name;
    std::function<void(RegionHeader&)> apply;
};

/// One field wrong at a time; each names the check it is aimed at.
std::vector<HeaderChange> header_changes() {
    const std::uint32_t ps = detail::page_size();
    return {
        {"bad-magic", [](RegionHeader& h) { h.magic[0] = 'X'; }},
        {"locator-magic", [](RegionHeader& h) { std::memcpy(h.magic, detail::kLocatorMagic, sizeof h.magic); }},
        {"version-2", [](RegionHeader& h) { h.version = detail::kLayoutVersion + 1; }},
        {"layout-swapped", [](RegionHeader& h) { h.layout = __builtin_bswap32(h.layout); }},
        {"page-size", [](RegionHeader& h) { h.page_size *= 4; }},
        {"max-attachers-0", [](RegionHeader& h) { h.max_attachers = 0; }},
        {"max-attachers-huge", [](RegionHeader& h) { h.max_attachers = 0xffffffffu; }},
        {"header-size", [ps](RegionHeader& h) { h.header_size += ps; }},
        {"backing-0", [](RegionHeader& h) { h.backing = 0; }},
        {"backing-9", [](RegionHeader& h) { h.backing = 9; }},
        {"valid-unknown", [](RegionHeader& h) { h.valid = 0x12345678; }},
        {"valid-initialising", [](RegionHeader& h) { h.valid = detail::kValidInitialising; }},
        {"valid-removed", [](RegionHeader& h) { h.valid = detail::kValidRemoved; }},
        {"flags-unknown", [](RegionHeader& h) { h.flags |= 1u << 31; }},
        {"flags-all-known", [](RegionHeader& h) { h.flags = detail::kKnownFlags; }},
        {"region-size-odd", [](RegionHeader& h) { h.region_size += 1; }},
        {"region-size-header", [](RegionHeader& h) { h.region_size = h.header_size; }},
        {"region-size-huge", [](RegionHeader& h) { h.region_size = ~std::uint64_t{0} & ~std::uint64_t{0xfff}; }},
        {"max-region-2^47", [](RegionHeader& h) { h.max_region_size = std::uint64_t{1} << 47; }},
        {"region-above-ceiling", [ps](RegionHeader& h) { h.max_region_size = h.region_size - ps; }},
        {"ref-count", [](RegionHeader& h) { h.ref_count = h.max_attachers + 1; }},
        {"segment-unterminated", [](RegionHeader& h) { std::memset(h.segment, 'a', sizeof h.segment); }},
        {"origin-unterminated", [](RegionHeader& h) { std::memset(h.origin, 'a', sizeof h.origin); }},
        {"grow-state-unknown", [](RegionHeader& h) { h.grow.state = 1; }},
        {"grow-extending-old", [ps](RegionHeader& h) {
             h.grow.state = detail::kGrowExtending;
             h.grow.old_region_size = h.region_size;
             h.grow.new_region_size = h.region_size + ps;
         }},
        {"grow-extending-published", [ps](RegionHeader& h) {
             h.grow.state = detail::kGrowExtending;
             h.grow.old_region_size = h.region_size - ps;
             h.grow.new_region_size = h.region_size;
         }},
        {"grow-beyond-ceiling", [](RegionHeader& h) {
             h.grow.state = detail::kGrowExtending;
             h.grow.old_region_size = h.region_size;
             h.grow.new_region_size = h.max_region_size + detail::page_size();
         }},
        {"grow-elsewhere", [ps](RegionHeader& h) {
             h.grow.state = detail::kGrowExtending;
             h.grow.old_region_size = h.region_size + ps;
             h.grow.new_region_size = h.region_size + 2 * ps;
         }},
        {"mutex-garbage", [](RegionHeader& h) { std::memset(h.mutex_space, 0xa5, sizeof h.mutex_space); }},
        {"mutex-zero", [](RegionHeader& h) { std::memset(h.mutex_space, 0, sizeof h.mutex_space); }},
    };
}

struct LocatorChange {
    const char* name;
    std::function<void(Locator&)> apply;
};

std::vector<LocatorChange> locator_changes() {
    return {
        {"bad-magic", [](Locator& l) { l.magic[7] = 2; }},
        {"region-magic", [](Locator& l) { std::memcpy(l.magic, detail::kRegionMagic, sizeof l.magic); }},
        {"version-2", [](Locator& l) { l.version = detail::kLayoutVersion + 1; }},
        {"backing-file", [](Locator& l) { l.backing = static_cast<std::uint32_t>(Backing::file); }},
        {"backing-heap", [](Locator& l) { l.backing = static_cast<std::uint32_t>(Backing::heap); }},
        {"segment-unterminated", [](Locator& l) { std::memset(l.segment, 'a', sizeof l.segment); }},
        {"segment-foreign", [](Locator& l) { std::snprintf(l.segment, sizeof l.segment, "/postgres.1234"); }},
        {"segment-short-hex", [](Locator& l) { std::snprintf(l.segment, sizeof l.segment, "/shmregion.fuzz.0123"); }},
        {"segment-upper-hex", [](Locator& l) {
             std::snprintf(l.segment, sizeof l.segment, "/shmregion.fuzz.0123456789ABCDEF");
         }},
        {"segment-slash", [](Locator& l) {
             std::snprintf(l.segment, sizeof l.segment, "/shmregion.a/../b.0123456789abcdef");
         }},
        {"segment-other-region", [](Locator& l) {
             std::snprintf(l.segment, sizeof l.segment, "/shmregion.other.0123456789abcdef");
         }},
        {"sysv-id-minus-1", [](Locator& l) { l.sysv_id = -1; }},
        {"sysv-id-minus-2", [](Locator& l) { l.sysv_id = -2; }},
    };
}

void locator_seeds(const Made& m) {
    const std::string b(to_string(m.backing));
    emit("locator", b + "-valid", m.home_file);
    emit("inspect", b + "-locator", m.home_file);
    Locator base{};
    std::memcpy(&base, m.home_file.data(), std::min(sizeof base, m.home_file.size()));
    for (const auto& c : locator_changes()) {
        Locator l = base;
        c.apply(l);
        // Sealed again, so the change meets the check it is aimed at, not the checksum; and
        // once unsealed, for the checksum itself (what a flipped bit on disk gives).
        Locator damaged = l;
        l.checksum = detail::locator_checksum(l);
        emit("locator", b + "-" + c.name, bytes_of(l));
        if (base.checksum != 0) emit("locator", b + "-" + c.name + "-unsealed", bytes_of(damaged));
    }
    Bytes truncated(m.home_file.begin(), m.home_file.begin() + 100);
    emit("locator", b + "-truncated-100", truncated);
    Bytes longer = m.home_file;
    longer.resize(longer.size() + 1024, 0);  // what a liveness lock's offset would add: nothing, but allowed
    emit("locator", b + "-with-tail", longer);
}

void header_seeds(const Made& m) {
    const std::string b(to_string(m.backing));
    const RegionHeader h = header_of(m.memory);
    emit("header", b + "-valid", header_seed(h, m.memory.size()));
    if (m.backing != Backing::file) return;  // the corrupt ones: from the file region
    emit("header", "file-backing-short", header_seed(h, h.region_size - 1));
    for (const auto& c : header_changes()) {
        RegionHeader x = h;
        c.apply(x);
        emit("header", b + "-" + c.name, header_seed(x, m.memory.size()));
    }
}

/// The file region's whole file (inspect's file mode) and segments (its posix and sysv modes).
void inspect_seeds(const Made& m) {
    const std::string b(to_string(m.backing));
    const Bytes& whole = m.backing == Backing::file ? m.home_file : m.memory;
    emit("inspect", b + "-attached", whole);  // one live attacher: the generator
    if (m.backing != Backing::file) return;
    for (const char* name : {"valid-initialising", "valid-removed", "grow-extending-old", "grow-extending-published",
                             "ref-count", "max-attachers-huge", "flags-all-known", "mutex-garbage"}) {
        for (const auto& c : header_changes()) {
            if (std::string(c.name) != name) continue;
            Bytes x = whole;
            RegionHeader h = header_of(x);
            c.apply(h);
            std::memcpy(x.data(), &h, sizeof h);
            emit("inspect", b + "-" + name, x);
        }
    }
    emit("inspect", "file-truncated-header", Bytes(whole.begin(), whole.begin() + sizeof(RegionHeader)));
    emit("inspect", "file-truncated-table", Bytes(whole.begin(), whole.begin() + 1000));
    emit("inspect", "file-truncated-usable", Bytes(whole.begin(), whole.end() - 1));
    emit("inspect", "magic-only", Bytes(detail::kRegionMagic, detail::kRegionMagic + sizeof detail::kRegionMagic));
    emit("inspect", "empty", Bytes{});
}

/// The seeds named *-valid must still be what this library accepts: a layout change that
/// makes them stale would silently leave the fuzzers at the first check.
int check(const fs::path& dir) {
    const fs::path file = fs::path("/fuzz") / (std::string(kRegionName) + ".region");
    int stale = 0;
    auto fail = [&](const fs::path& seed, const std::string& why) {
        std::cerr << "fuzz_corpus_gen --check: " << seed.string() << ": " << why << "\n";
        ++stale;
    };
    int seen = 0;
    for (const char* sub : {"header", "locator"}) {
        std::error_code ec;
        for (fs::directory_iterator it(dir / sub, ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.size() < 6 || name.compare(name.size() - 6, 6, "-valid") != 0) continue;
            ++seen;
            const Bytes b = read_file(it->path());
            try {
                if (std::string(sub) == "header") {
                    RegionHeader h{};
                    std::uint64_t size = 0;
                    if (b.size() != sizeof h + sizeof size) {
                        fail(it->path(), "not a header of this layout followed by a size");
                        continue;
                    }
                    std::memcpy(&h, b.data(), sizeof h);
                    std::memcpy(&size, b.data() + sizeof h, sizeof size);
                    detail::validate_header(h, size, file, Backing::any);
                } else {
                    Locator l{};
                    if (b.size() != sizeof l) {
                        fail(it->path(), "not a locator of this layout");
                        continue;
                    }
                    std::memcpy(&l, b.data(), sizeof l);
                    detail::validate_locator(l, file);
                }
            } catch (const detail::Failure& f) {
                fail(it->path(), f.message);
            }
        }
        if (ec) fail(dir / sub, ec.message());
    }
    if (seen == 0) fail(dir, "no *-valid seeds");
    if (stale) {
        std::cerr << "fuzz_corpus_gen --check: regenerate the seeds: fuzz_corpus_gen " << dir.string() << "\n";
        return 1;
    }
    std::cout << "fuzz_corpus_gen --check: " << seen << " valid seeds accepted\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--check") return check(argv[2]);
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " CORPUS_DIR | --check CORPUS_DIR   (test/fuzz/corpus)\n";
        return 2;
    }
    out_dir = argv[1];
    const fs::path root = shmregion::fuzz::FuzzHome::root();
    std::vector<Made> made;
    try {
        for (const Backing b : {Backing::file, Backing::posix, Backing::sysv, Backing::anonymous, Backing::heap})
            made.push_back(make(b, root));
        for (const Made& m : made) {
            header_seeds(m);
            if (m.backing == Backing::posix || m.backing == Backing::sysv) locator_seeds(m);
            if (m.backing == Backing::file || m.backing == Backing::posix || m.backing == Backing::sysv)
                inspect_seeds(m);
        }
        // The file region while its lock is held: a dead owner's futex word once copied.
        {
            Made& f = made.front();
            const LockGuard g = f.region.lock();
            emit("inspect", "file-locked", read_file(f.region.file()));
        }
        for (Made& m : made) {
            m.region.mark_for_removal();
            m.region.detach();
        }
    } catch (const Error& e) {
        for (Made& m : made) {
            std::error_code ec;
            if (m.region) m.region.mark_for_removal(ec);
        }
        std::cerr << "fuzz_corpus_gen: " << e.what() << "\n";
        return 1;
    }
    std::cout << "fuzz_corpus_gen: wrote the seeds under " << out_dir.string() << "\n";
    return 0;
}
