// Region::grow() and Region::refresh() across real processes (file and POSIX backings unless
// a case says otherwise):
//  - pointer stability: A keeps objects (with pointers to each other) in a region while B
//    (a fresh attach by name, or a fork()ed child's join_after_fork()) grows it ten times
//    over in five steps, writing into each new part; after refresh() (or lock()) A sees the
//    final size at the same data(), its objects and pointers intact and B's writes;
//  - four processes grow one region at once to different sizes: the largest wins, nothing
//    anyone wrote before or after growing is lost, every process sees the final size;
//  - errors: beyond the ceiling (invalid_size, region unchanged), at or below the current
//    size (no-op), System V and anonymous (not_growable == operation_not_supported); heap
//    regions grow for every attach of the name in the process;
//  - grow under this Region's own LockGuard (no deadlock; the guard still unlocks);
//  - ENOSPC: a small tmpfs for the file backing, a small /dev/shm for the POSIX backing
//    (a child's private mount namespace; skipped without the privilege): the growth fails
//    naming the file or segment and leaves the region as it was (size, bytes, header,
//    backing size, free space, every page touchable); a growth that fits still works;
//  - a 64 GiB ceiling costs address space only (no resident memory), and a joiner whose
//    RLIMIT_AS cannot hold it gets ENOMEM saying so, without disturbing the others.
// Hand-offs through pipes (test::Signal) and process-shared barriers; children exit with a
// code per check (their stderr names it) and run under alarm() watchdogs.
#define BOOST_TEST_MODULE mp_grow
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "private_tmpfs.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <vector>

using namespace shmregion;
using namespace shmregion::mptest;
namespace bdata = boost::unit_test::data;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;


/// A region of `size` usable bytes that may grow to `max_size`.
Options growable(const fs::path& home, Backing b, std::uint64_t size, std::uint64_t max_size) {
    Options o = test::options(home, b, size);
    o.max_size = max_size;
    return o;
}

Options joiner(Options o) {
    o.mode = OpenMode::join_only;
    return o;
}

char* bytes(const Region& r) { return static_cast<char*>(r.data()); }

bool all_zero(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        if (b[i] != 0) return false;
    return true;
}

/// Runs f() in a child, turning an exception into exit 250 with its message, so that a
/// child can still reach the barriers its siblings wait at.
template <class F>
int guarded(F&& f) {
    try {
        return f();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: exception: %s\n", static_cast<int>(::getpid()), e.what());
    } catch (...) {
        std::fprintf(stderr, "child %d: unknown exception\n", static_cast<int>(::getpid()));
    }
    return 250;
}

/// A field of /proc/self/status in kB ("VmRSS:", "VmSize:"); 0 if missing.
std::uint64_t status_kb(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field, 0) == 0) return std::stoull(line.substr(field.size()));
    return 0;
}

/// The /proc/self/smaps entry of the mapping holding addr.
struct SmapsEntry {
    bool found = false;
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    std::string perms;
    long rss_kb = -1;
};
SmapsEntry smaps_entry_of(const void* addr) {
    const auto a = reinterpret_cast<std::uintptr_t>(addr);
    std::ifstream in("/proc/self/smaps");
    std::string line;
    SmapsEntry e;
    while (std::getline(in, line)) {
        unsigned long lo = 0, hi = 0;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3) {  // a mapping's first line
            if (e.found) break;
            if (lo <= a && a < hi) {
                e.found = true;
                e.start = lo;
                e.end = hi;
                e.perms = perms;
            }
            continue;
        }
        if (e.found && line.rfind("Rss:", 0) == 0) e.rss_kb = std::stol(line.substr(4));
    }
    return e;
}

// ---- pointer stability ---------------------------------------------------------------

constexpr std::uint64_t kAnchorMagic = 0x414e43484f52ull;  // "ANCHOR"
constexpr std::uint64_t kNodeMagic = 0x4e4f4445ull;        // "NODE"
constexpr std::uint64_t kFarMagic = 0x464152ull;           // "FAR"
constexpr std::uint64_t kNodeOffset = 512 * KiB;
constexpr std::uint64_t kInitial = 1 * MiB;
constexpr std::uint64_t kFinal = 10 * MiB;
constexpr std::uint64_t kSteps[] = {2 * MiB, 4 * MiB, 6 * MiB, 8 * MiB, 10 * MiB};
constexpr std::uint64_t kFarOffset = kFinal - 4 * KiB;  // the last page: B's node

struct Node {
    std::uint64_t magic;
    Node* self;
    Node* next;
    std::uint64_t value;
};
/// At data(): the application's root object.
struct Anchor {
    std::uint64_t magic;
    Anchor* self;
    Node* node;               // A's node in the initial part
    Node* far;                // B's node in the grown part (B with A's base address only)
    std::uint64_t far_offset; // where B put its node
};

unsigned step_seed(std::size_t i) { return 100 + static_cast<unsigned>(i); }

/// B: grows r from 1 MiB to 10 MiB in five steps, writing a pattern into each new part
/// (the last page excepted: B's node goes there). `same_base`: B maps the region where A
/// does (fork()ed child after join_after_fork()), so B may store real pointers.
int grow_in_steps(Region& r, bool same_base) {
    CHILD_CHECK(r.size() == kInitial, 10);
    char* base = bytes(r);
    auto* anchor = reinterpret_cast<Anchor*>(base);
    CHILD_CHECK(anchor->magic == kAnchorMagic, 11);
    if (same_base) CHILD_CHECK(anchor->self == anchor, 12);
    CHILD_CHECK(check_pattern(base + 4 * KiB, kNodeOffset - 4 * KiB, 1), 13);
    for (std::size_t i = 0; i < std::size(kSteps); ++i) {
        const std::uint64_t before = r.size();
        r.grow(kSteps[i]);
        CHILD_CHECK(r.size() == kSteps[i], 14);
        CHILD_CHECK(bytes(r) == base, 15);  // in place, here too
        CHILD_CHECK(all_zero(base + before, kSteps[i] - before), 16);
        const std::uint64_t end = kSteps[i] == kFinal ? kFarOffset : kSteps[i];
        fill_pattern(base + before, end - before, step_seed(i));
    }
    auto* far = reinterpret_cast<Node*>(base + kFarOffset);
    far->magic = kFarMagic;
    far->value = 4242;
    if (same_base) {
        far->self = far;
        far->next = anchor->node;  // a pointer from the new part into the old one
        anchor->far = far;
    }
    anchor->far_offset = kFarOffset;
    return 0;
}

}  // namespace

// A remembers data() and its objects; B grows 1 -> 10 MiB in five steps; A refreshes (or
// locks) and finds everything where it was, plus B's writes.
BOOST_DATA_TEST_CASE(pointers_stay_valid_while_another_process_grows,
                     test::backing_data(test::BackingSet::named_growable) *
                         bdata::make({"attach", "join_after_fork"}) * bdata::make({"refresh", "lock"}),
                     backing_name, how, see) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    const bool forked_join = std::string(how) == "join_after_fork";
    const Options o = growable(home, backing, kInitial, 16 * MiB);
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    BOOST_REQUIRE(r.size() == kInitial);
    BOOST_TEST(r.max_size() == 16 * MiB);
    char* const base = bytes(r);
    auto* anchor = new (base) Anchor{kAnchorMagic, nullptr, nullptr, nullptr, 0};
    anchor->self = anchor;
    auto* node = new (base + kNodeOffset) Node{kNodeMagic, nullptr, nullptr, 7};
    node->self = node;
    anchor->node = node;
    fill_pattern(base + 4 * KiB, kNodeOffset - 4 * KiB, 1);
    const RegionInfo before = inspect(home, o.name);

    test::Signal grown, checked;
    const pid_t b = children.spawn([&] {
        int rc = 0;
        if (forked_join) {
            r.join_after_fork();
            rc = grow_in_steps(r, true);
        } else {
            Region mine = Region::attach(joiner(o));
            CHILD_CHECK(!mine.created(), 30);
            rc = grow_in_steps(mine, false);
            grown.notify();
            CHILD_CHECK(checked.wait(), 31);
            return rc;  // detaches
        }
        grown.notify();
        CHILD_CHECK(checked.wait(), 32);
        r.detach();
        return rc;
    });
    BOOST_REQUIRE(grown.wait());
    // Nothing changes for A until it asks.
    BOOST_TEST(r.size() == kInitial);
    BOOST_TEST(r.data() == base);
    if (std::string(see) == "refresh") {
        BOOST_TEST(r.refresh());
        BOOST_TEST(!r.refresh());  // the generation is current now
    } else {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died());
        BOOST_TEST(r.size() == kFinal);  // already under the lock
    }
    BOOST_TEST(r.size() == kFinal);
    BOOST_TEST(r.data() == base);
    BOOST_TEST(anchor->magic == kAnchorMagic);
    BOOST_TEST(anchor->self == anchor);
    BOOST_TEST(anchor->node == node);
    BOOST_TEST(node->magic == kNodeMagic);
    BOOST_TEST(node->self == node);
    BOOST_TEST(node->value == 7u);
    BOOST_TEST(check_pattern(base + 4 * KiB, kNodeOffset - 4 * KiB, 1));
    std::uint64_t from = kInitial;
    for (std::size_t i = 0; i < std::size(kSteps); ++i) {
        const std::uint64_t end = kSteps[i] == kFinal ? kFarOffset : kSteps[i];
        BOOST_TEST(check_pattern(base + from, end - from, step_seed(i)), "B's bytes [" << from << ", " << end << ")");
        from = kSteps[i];
    }
    BOOST_REQUIRE(anchor->far_offset == kFarOffset);
    auto* far = reinterpret_cast<Node*>(base + anchor->far_offset);
    BOOST_TEST(far->magic == kFarMagic);
    BOOST_TEST(far->value == 4242u);
    if (forked_join) {  // B mapped the region at A's address: its pointers work here
        BOOST_TEST(anchor->far == far);
        BOOST_TEST(far->self == far);
        BOOST_TEST(far->next == node);
        BOOST_TEST(far->next->value == 7u);
    }
    base[kFinal - 1] = 'A';  // the new part is writable here too

    const RegionInfo after = inspect(home, o.name);
    BOOST_TEST(after.size == kFinal);
    BOOST_TEST(after.generation == before.generation + std::size(kSteps));
    BOOST_TEST(after.backing_size == after.region_size);
    checked.notify();
    BOOST_TEST(children.wait(b) == 0);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    r.detach();
    unlink(home, o.name);
}

// Four processes grow the same region at once, to 3, 5, 7 and 9 MiB, each writing a marker
// into its own range of the initial part before growing and into its own range of the part
// it grew to after. The largest wins; nothing is lost; every process sees 9 MiB.
BOOST_DATA_TEST_CASE(concurrent_growers, test::backing_data(test::BackingSet::named_growable), backing_name) {
    Home home;
    Children children;
    const Options o = growable(home, backing_named(backing_name), 1 * MiB, 16 * MiB);
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    const RegionInfo before = inspect(home, o.name);
    constexpr unsigned kGrowers = 4;
    constexpr std::uint64_t kMarker = 64 * KiB;
    auto target = [](unsigned i) { return (3 + 2 * std::uint64_t{i}) * MiB; };
    auto pre_at = [](unsigned i) { return std::uint64_t{i} * kMarker; };          // in the first MiB
    auto post_at = [&](unsigned i) { return target(i) - MiB; };                    // [t-1 MiB, t)
    auto markers_ok = [&](const char* b) {
        for (unsigned i = 0; i < kGrowers; ++i) {
            if (!check_pattern(b + pre_at(i), kMarker, 10 + i)) return false;
            if (!check_pattern(b + post_at(i), MiB, 20 + i)) return false;
        }
        return true;
    };
    const std::uint64_t largest = target(kGrowers - 1);

    test::SharedBarrier start(kGrowers), done(kGrowers);
    std::vector<pid_t> growers;
    for (unsigned i = 0; i < kGrowers; ++i) {
        growers.push_back(children.spawn(
            [&, i] {
                Region mine;
                int rc = guarded([&] {
                    mine = Region::attach(joiner(o));
                    return 0;
                });
                start.wait();
                if (rc == 0) rc = guarded([&] {
                    fill_pattern(bytes(mine) + pre_at(i), kMarker, 10 + i);
                    mine.grow(target(i));
                    CHILD_CHECK(mine.size() >= target(i), 10);
                    fill_pattern(bytes(mine) + post_at(i), MiB, 20 + i);
                    return 0;
                });
                done.wait();  // everyone has grown and written
                if (rc == 0) rc = guarded([&] {
                    (void)mine.refresh();  // false for whoever grew last
                    CHILD_CHECK(mine.size() == largest, 11);
                    CHILD_CHECK(markers_ok(bytes(mine)), 12);
                    mine.detach();
                    return 0;
                });
                return rc;
            },
            30));
    }
    for (pid_t p : growers) BOOST_TEST(children.wait(p) == 0, "grower " << p);

    BOOST_TEST(r.size() == 1 * MiB);
    BOOST_TEST(r.refresh());
    BOOST_TEST(r.size() == largest);
    BOOST_TEST(markers_ok(bytes(r)));
    const RegionInfo after = inspect(home, o.name);
    BOOST_TEST(after.size == largest);
    BOOST_TEST(after.generation > before.generation);
    BOOST_TEST(after.generation <= before.generation + kGrowers);
    BOOST_TEST(after.backing_size >= after.region_size);
    BOOST_TEST(after.ref_count == 1u);
    BOOST_TEST(dead_attachers(after) == 0u);
    r.detach();
    unlink(home, o.name);
}

// Beyond the ceiling: invalid_size (== invalid_argument), the region as it was. Exactly the
// ceiling works.
BOOST_DATA_TEST_CASE(grow_beyond_the_ceiling_is_invalid_size, test::backing_data(test::BackingSet::growable),
                     backing_name) {
    Home home;
    const Backing backing = backing_named(backing_name);
    const bool named_region = test::traits(backing).named;
    const Options o = growable(home, backing, 1 * MiB, 4 * MiB);
    Region r = Region::attach(o);
    char* const base = bytes(r);
    fill_pattern(base, r.size(), 3);
    const RegionInfo before = named_region ? inspect(home, o.name) : RegionInfo{};

    for (std::uint64_t ask : {4 * MiB + 1, 5 * MiB, 64 * GiB, ~std::uint64_t{0}}) {
        try {
            r.grow(ask);
            BOOST_ERROR("grow(" << ask << ") beyond a 4 MiB ceiling succeeded");
        } catch (const Error& e) {
            BOOST_TEST(e.code() == errc::invalid_size, e.what());
            BOOST_TEST((e.code() == std::errc::invalid_argument));
            BOOST_TEST(e.operation() == "grow");
            BOOST_TEST(std::string(e.what()).find("ceiling") != std::string::npos, e.what());
        }
        std::error_code ec;
        r.grow(ask, ec);
        BOOST_TEST(ec == errc::invalid_size, ec.message());
        BOOST_TEST(r.size() == 1 * MiB);
        BOOST_TEST(r.data() == base);
    }
    BOOST_TEST(check_pattern(base, r.size(), 3));
    if (named_region) {
        const RegionInfo after = inspect(home, o.name);
        BOOST_TEST(after.size == before.size);
        BOOST_TEST(after.generation == before.generation);
        BOOST_TEST(after.backing_size == before.backing_size);
    }
    r.grow(4 * MiB);  // the ceiling itself
    BOOST_TEST(r.size() == 4 * MiB);
    BOOST_TEST(r.data() == base);
    BOOST_TEST(check_pattern(base, 1 * MiB, 3));
    BOOST_TEST(all_zero(base + MiB, 3 * MiB));
    r.detach();
    if (named_region) unlink(home, o.name);
}

// At or below the current size: success, and nothing changes.
BOOST_DATA_TEST_CASE(grow_to_a_smaller_or_equal_size_is_a_no_op, test::backing_data(test::BackingSet::growable),
                     backing_name) {
    Home home;
    const Backing backing = backing_named(backing_name);
    const bool named_region = test::traits(backing).named;
    const Options o = growable(home, backing, 2 * MiB, 8 * MiB);
    Region r = Region::attach(o);
    char* const base = bytes(r);
    fill_pattern(base, r.size(), 4);
    const RegionInfo before = named_region ? inspect(home, o.name) : RegionInfo{};
    for (std::uint64_t ask : {2 * MiB, 2 * MiB - 1, 1 * MiB, std::uint64_t{1}, std::uint64_t{0}}) {
        BOOST_CHECK_NO_THROW(r.grow(ask));
        std::error_code ec = make_error_code(errc::not_attached);
        r.grow(ask, ec);
        BOOST_TEST(!ec, "grow(" << ask << "): " << ec.message());
        BOOST_TEST(r.size() == 2 * MiB);
        BOOST_TEST(r.data() == base);
        BOOST_TEST(!r.refresh());
    }
    BOOST_TEST(check_pattern(base, r.size(), 4));
    if (named_region) {
        const RegionInfo after = inspect(home, o.name);
        BOOST_TEST(after.size == 2 * MiB);
        BOOST_TEST(after.generation == before.generation);
        BOOST_TEST(after.backing_size == before.backing_size);
    }
    r.detach();
    if (named_region) unlink(home, o.name);
}

// System V (max_size 0: fixed) and anonymous regions cannot grow.
BOOST_DATA_TEST_CASE(sysv_and_anonymous_are_not_growable, test::backing_data(test::BackingSet::not_growable),
                     backing_name) {
    Home home;
    const Backing backing = backing_named(backing_name);
    Options o = test::options(home, backing, 1 * MiB);
    o.max_size = 0;
    if (backing == Backing::anonymous) o.home.clear();
    Region r = Region::attach(o);
    char* const base = bytes(r);
    fill_pattern(base, r.size(), 5);
    try {
        r.grow(2 * MiB);
        BOOST_ERROR("a " << backing_name << " region grew");
    } catch (const Error& e) {
        BOOST_TEST(e.code() == errc::not_growable, e.what());
        BOOST_TEST((e.code() == std::errc::operation_not_supported));
        BOOST_TEST(std::string(e.what()).find(backing == Backing::sysv ? "System V" : "anonymous") != std::string::npos,
                   e.what());
    }
    std::error_code ec;
    r.grow(2 * MiB, ec);
    BOOST_TEST(ec == errc::not_growable);
    BOOST_TEST((ec == std::errc::operation_not_supported));
    BOOST_TEST(r.size() == 1 * MiB);
    BOOST_TEST(r.max_size() == 1 * MiB);
    BOOST_TEST(r.data() == base);
    BOOST_TEST(!r.refresh());
    BOOST_TEST(check_pattern(base, r.size(), 5));
    if (backing == Backing::sysv) BOOST_TEST(inspect(home, o.name).size == 1 * MiB);
    r.detach();
    if (backing == Backing::sysv) unlink(home, o.name);
}

// Heap regions: a second attach of the same name in the process sees the growth after
// refresh(), at the same address.
BOOST_AUTO_TEST_CASE(heap_region_grows_for_every_attach_of_its_name) {
    Options o;
    o.name = test::unique_name("heap");
    o.backing = Backing::heap;
    o.size = 1 * MiB;
    o.max_size = 8 * MiB;
    Region a = Region::attach(o);
    BOOST_REQUIRE(a.created());
    Region b = Region::attach(o);
    BOOST_REQUIRE(!b.created());
    BOOST_REQUIRE(b.data() == a.data());
    fill_pattern(a.data(), a.size(), 6);
    a.grow(4 * MiB);
    BOOST_TEST(a.size() == 4 * MiB);
    fill_pattern(bytes(a) + MiB, 3 * MiB, 7);
    BOOST_TEST(b.size() == 1 * MiB);
    BOOST_TEST(b.refresh());
    BOOST_TEST(b.size() == 4 * MiB);
    BOOST_TEST(b.data() == a.data());
    BOOST_TEST(check_pattern(b.data(), MiB, 6));
    BOOST_TEST(check_pattern(bytes(b) + MiB, 3 * MiB, 7));
    // And the other way round, seen through lock().
    b.grow(6 * MiB);
    {
        auto g = a.lock();
        BOOST_TEST(a.size() == 6 * MiB);
    }
    BOOST_TEST(all_zero(bytes(a) + 4 * MiB, 2 * MiB));
    b.detach();
    a.detach();
}

// grow() while this thread holds the region lock through this Region's LockGuard: no
// deadlock, the guard still holds the lock, and unlocks it so that others can take it.
BOOST_DATA_TEST_CASE(grow_under_own_lock_guard, test::backing_data(test::BackingSet::named_growable), backing_name) {
    Home home;
    Children children;
    const Options o = growable(home, backing_named(backing_name), 1 * MiB, 8 * MiB);
    Region r = Region::attach(o);
    char* const base = bytes(r);
    fill_pattern(base, r.size(), 8);
    {
        auto g = r.lock();
        BOOST_REQUIRE(g.owns_lock());
        r.grow(2 * MiB);
        BOOST_TEST(r.size() == 2 * MiB);
        std::error_code ec;
        r.grow(4 * MiB, ec);
        BOOST_TEST(!ec, ec.message());
        BOOST_TEST(r.size() == 4 * MiB);
        BOOST_TEST(g.owns_lock());
        const RegionInfo held = inspect(home, o.name);
        BOOST_TEST(held.lock_state == LockState::held, lock_state_name(held.lock_state));
        BOOST_TEST(held.lock_holder == ::getpid());
        // Still ours: locking again from this thread is refused, not a deadlock.
        auto again = r.lock(ec);
        BOOST_TEST((ec == std::errc::resource_deadlock_would_occur), ec.message());
        BOOST_TEST(!again.owns_lock());
        g.unlock();
        BOOST_TEST(!g.owns_lock());
    }
    BOOST_TEST(inspect(home, o.name).lock_state == LockState::free);
    BOOST_TEST(r.data() == base);
    BOOST_TEST(check_pattern(base, MiB, 8));
    // Another process can lock now and sees the size.
    const pid_t other = children.spawn([&] {
        Region mine = Region::attach(joiner(o));
        auto g = mine.lock();
        CHILD_CHECK(!g.owner_died(), 10);
        CHILD_CHECK(mine.size() == 4 * MiB, 11);
        CHILD_CHECK(check_pattern(mine.data(), MiB, 8), 12);
        return 0;
    });
    BOOST_TEST(children.wait(other) == 0);
    {
        // A guard that goes out of scope after a grow under it unlocks too.
        auto g = r.lock();
        BOOST_TEST(!g.owner_died());
        r.grow(6 * MiB);
    }
    BOOST_TEST(inspect(home, o.name).lock_state == LockState::free);
    BOOST_TEST(r.size() == 6 * MiB);
    r.grow(8 * MiB);  // and without a guard
    BOOST_TEST(r.size() == 8 * MiB);
    r.detach();
    unlink(home, o.name);
}

// ---- ENOSPC in a private mount namespace -------------------------------------------------

namespace {

/// In the child: a 4 MiB region (ceiling 64 MiB) in `home` whose backing lives on the
/// 16 MiB tmpfs `fs_of_backing`; grow to 64 MiB fails, grow to 8 MiB works. Codes 20..59.
int grow_hits_enospc(const fs::path& home, Backing backing, const fs::path& fs_of_backing) {
    Options o;
    o.home = home;
    o.name = test::unique_name("full");
    o.backing = backing;
    o.size = 4 * MiB;
    o.max_size = 64 * MiB;
    Region r = Region::attach(o);
    char* const base = bytes(r);
    fill_pattern(base, r.size(), 9);
    const RegionInfo before = inspect(home, o.name);
    CHILD_CHECK(before.backing_size == before.region_size, 20);
    const std::string names =
        backing == Backing::posix ? "/dev/shm" + before.segment : region_file(home, o.name).string();
    const std::uint64_t free_before = free_bytes(fs_of_backing);

    try {
        r.grow(64 * MiB);
        std::fprintf(stderr, "child: a %s region grew to 64 MiB on a 16 MiB tmpfs\n", to_string(backing).data());
        return 21;
    } catch (const Error& e) {
        std::fprintf(stderr, "child: grow to 64 MiB: %s\n", e.what());
        CHILD_CHECK(e.code() == std::errc::no_space_on_device, 22);
        CHILD_CHECK(std::string(e.what()).find(names) != std::string::npos, 23);
        CHILD_CHECK(e.operation() == "grow", 24);
    }
    std::error_code ec;
    r.grow(64 * MiB, ec);
    CHILD_CHECK(ec == std::errc::no_space_on_device, 25);
    r.grow(17 * MiB, ec);  // also more than the tmpfs holds, less than the ceiling
    CHILD_CHECK(ec == std::errc::no_space_on_device, 26);

    CHILD_CHECK(r.size() == 4 * MiB, 27);
    CHILD_CHECK(r.data() == base, 28);
    CHILD_CHECK(!r.refresh(), 29);
    const RegionInfo after = inspect(home, o.name);
    CHILD_CHECK(after.valid, 30);
    CHILD_CHECK(after.size == before.size, 31);
    CHILD_CHECK(after.region_size == before.region_size, 32);
    CHILD_CHECK(after.generation == before.generation, 33);
    if (after.backing_size != before.backing_size)
        std::fprintf(stderr, "child: backing size %" PRIu64 " before the failed growth, %" PRIu64 " after\n",
                     before.backing_size, after.backing_size);
    CHILD_CHECK(after.backing_size == before.backing_size, 34);
    CHILD_CHECK(after.lock_state == LockState::free, 35);
    CHILD_CHECK(header_of(r, o.max_attachers)->grow.state == detail::kGrowIdle, 36);
    const std::uint64_t free_after = free_bytes(fs_of_backing);
    if (free_after != free_before)
        std::fprintf(stderr, "child: free space %" PRIu64 " before the failed growth, %" PRIu64 " after\n",
                     free_before, free_after);
    CHILD_CHECK(free_after == free_before, 37);
    CHILD_CHECK(check_pattern(base, r.size(), 9), 38);
    touch_every_page(base, r.size());
    CHILD_CHECK(check_pattern(base, r.size(), 9), 39);

    // What fits still works.
    r.grow(8 * MiB, ec);
    if (ec) std::fprintf(stderr, "child: grow to 8 MiB: %s\n", ec.message().c_str());
    CHILD_CHECK(!ec, 40);
    CHILD_CHECK(r.size() == 8 * MiB, 41);
    CHILD_CHECK(r.data() == base, 42);
    CHILD_CHECK(all_zero(base + 4 * MiB, 4 * MiB), 43);
    touch_every_page(base, r.size());
    CHILD_CHECK(check_pattern(base, 4 * MiB, 9), 44);
    const RegionInfo grown = inspect(home, o.name);
    CHILD_CHECK(grown.size == 8 * MiB, 45);
    CHILD_CHECK(grown.generation == before.generation + 1, 46);
    CHILD_CHECK(grown.backing_size == grown.region_size, 47);
    r.detach(ec);
    CHILD_CHECK(!ec, 48);
    unlink(home, o.name, Force::no, ec);
    CHILD_CHECK(!ec, 49);
    return 0;
}

/// Runs child_fn(home, reason) in a child (see run_skippable).
template <class Fn>
void run_in_namespace(Fn&& child_fn) {
    Home home;
    run_skippable(home.path(), child_fn, 60);
}

}  // namespace

BOOST_AUTO_TEST_CASE(file_grow_hits_enospc_on_a_small_tmpfs, *boost::unit_test::label("needs_tmpfs_mount")) {
    run_in_namespace([](const fs::path& home, char* why) {
        TmpfsMount m;
        fs::path mnt;
        if (const int rc = enter_private_tmpfs(home, m, mnt, why); rc != 0) return rc;
        return grow_hits_enospc(mnt, Backing::file, mnt);
    });
}

BOOST_AUTO_TEST_CASE(posix_grow_hits_enospc_in_a_small_dev_shm, *boost::unit_test::label("needs_tmpfs_mount")) {
    run_in_namespace([](const fs::path& home, char* why) {
        TmpfsMount m, shm;
        fs::path mnt;
        if (const int rc = enter_private_tmpfs(home, m, mnt, why); rc != 0) return rc;
        // A 16 MiB tmpfs over /dev/shm, seen by this child only.
        if (const int e = shm.mount("/dev/shm", "size=16m,mode=1777"); e != 0) {
            if (e == EPERM) return skip(why, std::string("mount tmpfs on /dev/shm: ") + std::strerror(e));
            std::fprintf(stderr, "child: mount tmpfs on /dev/shm: %s\n", std::strerror(e));
            return 9;
        }
        const fs::path posix_home = mnt / "home";
        CHILD_CHECK(::mkdir(posix_home.c_str(), 0700) == 0, 10);
        return grow_hits_enospc(posix_home, Backing::posix, "/dev/shm");
    });
}

// ---- the ceiling is address space, not memory ---------------------------------------------

// A 64 GiB ceiling on a 1 MiB region: attach costs no resident memory for the reservation.
BOOST_TEST_DECORATOR(*boost::unit_test::label("needs_64gib_address_space"))
BOOST_DATA_TEST_CASE(a_64_gib_ceiling_costs_no_resident_memory, test::backing_data(test::BackingSet::named_growable),
                     backing_name) {
    Home home;
    const Options o = growable(home, backing_named(backing_name), 1 * MiB, 64 * GiB);
    const std::uint64_t rss_before = status_kb("VmRSS:");
    std::error_code ec;
    Region r = Region::attach(o, ec);
    if (ec == std::errc::not_enough_memory)
        SHMREGION_SKIP("reserving 64 GiB of address space failed here (RLIMIT_AS?): " << ec.message());
    BOOST_REQUIRE_MESSAGE(!ec, ec.message());
    const std::uint64_t rss_after = status_kb("VmRSS:");
    BOOST_TEST_MESSAGE(backing_name << ": VmRSS " << rss_before << " kB before the attach, " << rss_after << " kB after");
    BOOST_TEST(rss_after < rss_before + 8 * 1024, "VmRSS grew by " << (rss_after - rss_before) << " kB");
    BOOST_TEST(r.max_size() == 64 * GiB);
    BOOST_TEST(r.size() == 1 * MiB);

    const SmapsEntry e = smaps_entry_of(bytes(r) + 2 * MiB);
    BOOST_REQUIRE_MESSAGE(e.found, "no mapping holds data()+2 MiB");
    BOOST_TEST_MESSAGE(std::hex << e.start << "-" << e.end << std::dec << " " << e.perms << " Rss " << e.rss_kb << " kB");
    BOOST_TEST(e.end - e.start >= 63 * GiB, "the reservation's mapping is only " << (e.end - e.start) << " bytes");
    BOOST_TEST(e.perms.substr(0, 3) == "---");
    BOOST_TEST(e.rss_kb == 0);
    // The region itself is usable, and growing a little keeps the reservation empty.
    fill_pattern(r.data(), r.size(), 12);
    r.grow(2 * MiB);
    BOOST_TEST(r.size() == 2 * MiB);
    BOOST_TEST(check_pattern(r.data(), MiB, 12));
    const SmapsEntry rest = smaps_entry_of(bytes(r) + 3 * MiB);
    BOOST_TEST(rest.found);
    BOOST_TEST(rest.rss_kb == 0);
    r.detach();
    unlink(home, o.name);
}

// A joiner whose RLIMIT_AS cannot hold the 64 GiB ceiling: ENOMEM saying it could not
// reserve the address space; the region and its other attacher are unaffected.
BOOST_TEST_DECORATOR(*boost::unit_test::label("needs_64gib_address_space"))
BOOST_DATA_TEST_CASE(a_joiner_without_room_for_the_ceiling_gets_enomem,
                     test::backing_data(test::BackingSet::named_growable), backing_name) {
    Home home;
    Children children;
    const Options o = growable(home, backing_named(backing_name), 1 * MiB, 64 * GiB);
    std::error_code ec;
    Region r = Region::attach(o, ec);
    if (ec == std::errc::not_enough_memory)
        SHMREGION_SKIP("reserving 64 GiB of address space failed here (RLIMIT_AS?): " << ec.message());
    BOOST_REQUIRE_MESSAGE(!ec, ec.message());
    fill_pattern(r.data(), r.size(), 13);

    const pid_t child = children.spawn([&] {
        const std::uint64_t vm = status_kb("VmSize:") * KiB;
        CHILD_CHECK(vm > 0, 10);
        struct rlimit lim {};
        CHILD_CHECK(::getrlimit(RLIMIT_AS, &lim) == 0, 11);
        lim.rlim_cur = static_cast<rlim_t>(vm + 256 * MiB);
        CHILD_CHECK(::setrlimit(RLIMIT_AS, &lim) == 0, 12);
        try {
            Region mine = Region::attach(joiner(o));
            std::fprintf(stderr, "child: joined a 64 GiB-ceiling region with RLIMIT_AS = VmSize + 256 MiB\n");
            return 13;
        } catch (const Error& e) {
            std::fprintf(stderr, "child: attach: %s\n", e.what());
            const std::string what = e.what();
            CHILD_CHECK(e.code() == std::errc::not_enough_memory, 14);
            CHILD_CHECK(what.find("reserving") != std::string::npos, 15);
            CHILD_CHECK(what.find("address space") != std::string::npos, 16);
            CHILD_CHECK(what.find(o.name) != std::string::npos, 17);
        }
        Region again = Region::attach(joiner(o), ec);
        CHILD_CHECK(ec == std::errc::not_enough_memory, 18);
        CHILD_CHECK(!again.attached(), 19);
        return 0;
    });
    BOOST_TEST(children.wait(child) == 0);

    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.valid);
    BOOST_TEST(info.ref_count == 1u);
    BOOST_TEST(info.attachers.size() == 1u);
    BOOST_TEST(has_attacher(info, ::getpid(), true));
    BOOST_TEST(info.lock_state == LockState::free, lock_state_name(info.lock_state));
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died());
    }
    BOOST_TEST(check_pattern(r.data(), r.size(), 13));
    r.grow(2 * MiB);
    BOOST_TEST(r.size() == 2 * MiB);
    BOOST_TEST(check_pattern(r.data(), MiB, 13));
    r.detach();
    unlink(home, o.name);
}
