// Deaths inside Region::grow() at the library's named crash points (SHMREGION_CRASH_AT, set
// in the child after fork; the library raises SIGKILL there), for the file and POSIX
// backings. A 1 MiB region (ceiling 16 MiB) holding a pattern; a child attached by name
// grows it to 8 MiB and dies at:
//   grow.after_record   the grow record is written, nothing extended yet
//   grow.after_extend   the backing is extended, the header still says 1 MiB
//   grow.after_map      the child mapped the new part, the header still says 1 MiB
//   grow.after_publish  the header says 8 MiB, the record is not cleared yet
// Afterwards the header is valid (inspect succeeds) with the record still set; the next
// lock() reports owner_died() and finishes (after_publish) or undoes (the others) the
// growth: the record is idle, the size the old or the new one, the backing exactly the
// region's size (the extension cut back), the pattern intact, the death counted once
// (lock_deaths). Every lock() reports the death until the application, having checked its
// pattern, calls mark_consistent(); none after that does, in any process. The next grow
// (12 MiB) works and its new bytes read zero. The same with nobody else attached when the
// grower dies: the next attach repairs it.
#define BOOST_TEST_MODULE crash_grow
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "mp_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

using namespace shmregion;
using namespace shmregion::mptest;
namespace bdata = boost::unit_test::data;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t kOld = 1 * MiB;
constexpr std::uint64_t kNew = 8 * MiB;
constexpr std::uint64_t kNext = 12 * MiB;
constexpr unsigned kSeed = 17;

const auto kGrowPoints =
    bdata::make({"grow.after_record", "grow.after_extend", "grow.after_map", "grow.after_publish"});

void arm(const char* point) { ::setenv("SHMREGION_CRASH_AT", point, 1); }

/// The header and real size of a region's file or segment, read with pread (no mapping).
struct Raw {
    bool ok = false;
    std::string error;
    detail::RegionHeader header;
    std::uint64_t backing_size = 0;
};
Raw read_raw(const fs::path& home, const std::string& name, Backing backing) {
    Raw raw;
    std::memset(&raw.header, 0, sizeof raw.header);
    std::string path = region_file(home, name).string();
    if (backing == Backing::posix) {
        std::error_code ec;
        const RegionInfo info = inspect(home, name, ec);
        if (ec) {
            raw.error = "inspect: " + ec.message();
            return raw;
        }
        path = "/dev/shm" + info.segment;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        raw.error = "open " + path + ": " + std::strerror(errno);
        return raw;
    }
    struct stat st {};
    const bool stat_ok = ::fstat(fd, &st) == 0;
    const ssize_t n = ::pread(fd, &raw.header, sizeof raw.header, 0);
    ::close(fd);
    if (!stat_ok || n != static_cast<ssize_t>(sizeof raw.header)) {
        raw.error = "fstat/pread " + path + " failed";
        return raw;
    }
    raw.backing_size = static_cast<std::uint64_t>(st.st_size);
    raw.ok = true;
    return raw;
}

bool all_zero(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        if (b[i] != 0) return false;
    return true;
}

Options region_options(const fs::path& home, Backing b) {
    Options o = test::options(home, b, kOld);
    o.max_size = 16 * MiB;
    return o;
}

/// Child: attach by name, arm the point, grow to 8 MiB. Never returns when the point fires.
int grow_and_die(const Options& o, const char* point) {
    Options j = o;
    j.mode = OpenMode::join_only;
    Region mine = Region::attach(j);
    CHILD_CHECK(!mine.created(), 10);
    CHILD_CHECK(mine.size() == kOld, 11);
    arm(point);
    mine.grow(kNew);
    std::fprintf(stderr, "child: grow returned; crash point %s did not fire\n", point);
    return 1;
}

/// What the dead grower left, before anyone locks: a valid header, the grow record set.
void check_left_behind(const fs::path& home, const Options& o, const RegionInfo& before, bool published,
                       bool extended, pid_t victim) {
    std::error_code ec;
    const RegionInfo info = inspect(home, o.name, ec);
    BOOST_REQUIRE_MESSAGE(!ec, "inspect after the crash: " << ec.message());
    BOOST_TEST(info.valid);
    BOOST_TEST(info.lock_state == LockState::owner_dead, lock_state_name(info.lock_state));
    BOOST_TEST(info.region_size == (published ? before.header_size + kNew : before.region_size));
    // grow.after_publish fires between publishing the size and bumping the generation: the
    // window where only the size tells the others (refresh() compares sizes).
    BOOST_TEST(info.generation == before.generation);
    BOOST_TEST(info.backing_size == (extended ? before.header_size + kNew : before.region_size));
    const Raw raw = read_raw(home, o.name, o.backing);
    BOOST_REQUIRE_MESSAGE(raw.ok, raw.error);
    const detail::GrowRecord& g = raw.header.grow;
    BOOST_TEST(g.state == detail::kGrowExtending);
    BOOST_TEST(g.pid == victim);
    BOOST_TEST(g.old_region_size == before.region_size);
    BOOST_TEST(g.new_region_size == before.header_size + kNew);
    BOOST_TEST(raw.header.lock_deaths == 0u);  // nobody has recovered the mutex yet
}

/// After the recovering lock: record idle, backing == region, sizes as expected, the death
/// counted once; still to be reported unless the application marked the lock consistent.
void check_repaired(const fs::path& home, const Options& o, const RegionInfo& before, std::uint64_t usable,
                    bool marked_consistent) {
    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.valid);
    BOOST_TEST(info.size == usable);
    BOOST_TEST(info.backing_size == info.region_size, "backing " << info.backing_size << " bytes, region "
                                                                  << info.region_size);
    BOOST_TEST(info.lock_state == LockState::free, lock_state_name(info.lock_state));
    BOOST_TEST(info.owner_died_unreported == !marked_consistent,
               (marked_consistent ? "owner_died() still pending after mark_consistent()"
                                  : "the death was forgotten before anybody marked the lock consistent"));
    BOOST_TEST(info.ref_count == info.live_attachers());
    BOOST_TEST(dead_attachers(info) == 0u);
    BOOST_TEST(info.generation > before.generation);  // the recovery tells the others
    BOOST_TEST(!info.grow_in_progress);
    const Raw raw = read_raw(home, o.name, o.backing);
    BOOST_REQUIRE_MESSAGE(raw.ok, raw.error);
    const detail::GrowRecord& g = raw.header.grow;
    // Clearing touches only the state (a reader copying without the lock never sees half
    // a record); the other fields keep the last growth's values.
    BOOST_TEST(g.state == detail::kGrowIdle);
    BOOST_TEST(raw.backing_size == info.region_size);
    BOOST_TEST(raw.header.lock_deaths == 1u, "one grower died holding the lock");
}

/// The next growth works: 12 MiB, new bytes zero, old bytes kept; another process sees it.
void check_next_grow(Children& children, const fs::path& home, const Options& o, Region& r) {
    const std::uint64_t from = r.size();
    std::error_code ec;
    r.grow(kNext, ec);
    BOOST_REQUIRE_MESSAGE(!ec, "grow to 12 MiB after the recovery: " << ec.message());
    BOOST_TEST(r.size() == kNext);
    auto* base = static_cast<const char*>(r.data());
    BOOST_TEST(check_pattern(base, kOld, kSeed));
    BOOST_TEST(all_zero(base + kOld, kNext - kOld), "bytes past the old 1 MiB are not zero");
    BOOST_TEST(from <= kNext);
    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.size == kNext);
    BOOST_TEST(info.backing_size == info.region_size);
    const pid_t reader = children.spawn([&] {
        Options j = o;
        j.mode = OpenMode::join_only;
        Region mine = Region::attach(j);
        auto g = mine.lock();
        CHILD_CHECK(!g.owner_died(), 20);  // the parent marked it consistent
        CHILD_CHECK(mine.size() == kNext, 21);
        CHILD_CHECK(check_pattern(mine.data(), kOld, kSeed), 22);
        CHILD_CHECK(all_zero(static_cast<char*>(mine.data()) + kOld, kNext - kOld), 23);
        return 0;
    });
    BOOST_TEST(children.wait(reader) == 0);
}

}  // namespace

// The parent stays attached while the grower dies.
BOOST_DATA_TEST_CASE(die_while_growing, test::backing_data(test::BackingSet::named_growable) * kGrowPoints,
                     backing_name, point) {
    Home home;
    Children children;
    const std::string where = point;
    const bool published = where == "grow.after_publish";
    const bool extended = where != "grow.after_record";
    const Options o = region_options(home, backing_named(backing_name));
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    char* const base = static_cast<char*>(r.data());
    fill_pattern(base, r.size(), kSeed);
    const RegionInfo before = inspect(home, o.name);

    const pid_t victim = children.spawn([&] { return grow_and_die(o, point); });
    BOOST_REQUIRE(children.wait(victim) == -SIGKILL);
    check_left_behind(home, o, before, published, extended, victim);
    BOOST_TEST(r.size() == kOld);  // nothing changes here before lock/refresh

    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died());
        BOOST_TEST(r.size() == (published ? kNew : kOld));
        // Not marked consistent (as if this repairer died): the death stays to be heard.
    }
    BOOST_TEST(r.data() == base);
    check_repaired(home, o, before, published ? kNew : kOld, false);
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        BOOST_TEST(check_pattern(base, kOld, kSeed));
        if (published) BOOST_TEST(all_zero(base + kOld, kNew - kOld));
        g.mark_consistent();  // the application's data checked
    }
    check_repaired(home, o, before, published ? kNew : kOld, true);
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died(), "owner_died() was reported after mark_consistent()");
    }
    check_next_grow(children, home, o, r);
    BOOST_TEST(r.data() == base);
    r.detach();
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// Nobody else is attached when the grower dies (the region persists: no
// remove_on_last_detach): the next attach repairs it.
BOOST_DATA_TEST_CASE(die_while_growing_alone, test::backing_data(test::BackingSet::named_growable) * kGrowPoints,
                     backing_name, point) {
    Home home;
    Children children;
    const std::string where = point;
    const bool published = where == "grow.after_publish";
    const bool extended = where != "grow.after_record";
    const Options o = region_options(home, backing_named(backing_name));
    RegionInfo before;
    {
        Region r = Region::attach(o);
        BOOST_REQUIRE(r.created());
        fill_pattern(r.data(), r.size(), kSeed);
        before = inspect(home, o.name);
        r.detach();
    }
    BOOST_REQUIRE(inspect(home, o.name).ref_count == 0u);

    const pid_t victim = children.spawn([&] { return grow_and_die(o, point); });
    BOOST_REQUIRE(children.wait(victim) == -SIGKILL);
    check_left_behind(home, o, before, published, extended, victim);

    std::error_code ec;
    Region r = Region::attach(o, ec);
    BOOST_REQUIRE_MESSAGE(!ec, "attach after the crash: " << ec.message());
    BOOST_TEST(!r.created());
    BOOST_TEST(r.size() == (published ? kNew : kOld));
    BOOST_TEST(check_pattern(r.data(), kOld, kSeed));
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died());  // the attach recovered the mutex; the application hears it here
        g.mark_consistent();         // the pattern was checked above
    }
    check_repaired(home, o, before, published ? kNew : kOld, true);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    check_next_grow(children, home, o, r);
    r.detach();
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}
