// One conformance suite run over every backing (file, posix, sysv, anonymous, heap) through
// the public API, in the manner of test_io_engines.cpp for the I/O engines: each case is a
// data test case over the backings (one sample per backing, so a failing backing never
// hides the others), and what a case expects of a backing comes from its traits
// (test/support/backings.hpp), never from its name. First, the traits agree with the
// library's names and with each other; then:
//  - a second attacher sees the creator's bytes and the creator sees the second's: another
//    process joining by name (named backings), a fork()ed child calling join_after_fork()
//    (anonymous), a second attach of the name in this process (heap);
//  - what the attach reports: size() and max_size() rounded up to pages, backing(), name(),
//    created(), file() (the file in home for named backings, empty otherwise), zero-filled
//    page-aligned memory; where the region lives (its file in home holding the region or a
//    small locator, its /dev/shm entry or System V segment, nothing in home);
//  - grow() in place keeps data() and the bytes, zeroes the new part and is seen by a new
//    attacher (growable backings); errc::not_growable, everything unchanged, otherwise;
//  - a lock holder killed with SIGKILL: the next lock() reports owner_died() once, the dead
//    attacher is dropped, and another process's lock is not told (every backing shared
//    between processes; heap regions have no other process);
//  - the last detach after mark_for_removal() removes the region: its file (region_not_found
//    from inspect), its /dev/shm entry or System V segment; a detach before it does not,
//    and nobody may join meanwhile;
//  - inspect() of a named region says what the attach says (region_not_found otherwise);
//  - flush() succeeds in both forms; a durable backing's file then holds the bytes, a named
//    one's read_bytes() returns them;
//  - unlink(Force::yes) of a named region removes its file and segment at once, the
//    attacher keeps its memory and detaches cleanly, and the name can be created afresh
//    (region_not_found for the others, which stay usable).
// Every region is made in a fresh home (mptest::Home: force-unlinked with its segments at
// the end, whatever happened) under a name unique to the run; children are killed and
// reaped by mptest::Children, run under watchdogs, and report through CHILD_CHECK codes.
#define BOOST_TEST_MODULE unit_backing_conformance
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "child_check.hpp"
#include "mp_support.hpp"
#include "sys/os.hpp"  // detail::sysv_segments(): the one reader of /proc/sysvipc/shm
#include "unit_helpers.hpp"

#include <signal.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace shmregion;
using shmregion::unit::code;
using shmregion::unit::expect_ec;
using shmregion::unit::expect_error;
using shmregion::unit::expect_inspect_fails;
using test::BackingSet;
using test::BackingTraits;
using test::Segment;
namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;

// A named namespace, not an anonymous one: BOOST_DATA_TEST_CASE bodies are templates with
// external linkage, and types they use must not have internal linkage (-Wsubobject-linkage).
namespace conformance {

std::uint64_t page() { return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)); }

char* bytes_of(const Region& r) { return static_cast<char*>(r.data()); }

/// Index of the first nonzero byte of p[0..n), or n.
std::size_t first_nonzero(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        if (b[i] != 0) return i;
    return n;
}

/// Options for a case's region: a unique name in home, `size` usable bytes, ceiling `max_size`.
Options options_for(const fs::path& home, Backing b, std::uint64_t size, std::uint64_t max_size = 0) {
    Options o = test::options(home, b, size);
    o.max_size = max_size;
    return o;
}

Options joining(Options o) {
    o.mode = OpenMode::join_only;
    return o;
}

/// Is the System V segment `id` listed in /proc/sysvipc/shm with `key`, not yet removed
/// (IPC_RMID marks it SHM_DEST while someone, perhaps a leak scanner, still has it attached)?
bool sysv_listed(int id, long long key) {
    for (const auto& row : detail::sysv_segments())
        if (row.id == id && row.key == key && !(row.perms & SHM_DEST)) return true;
    return false;
}

/// Is the shared-memory segment of a region (described by its inspect() taken while it
/// existed) still there, seen from outside the library: its /dev/shm entry, or its line in
/// /proc/sysvipc/shm? False for backings without a segment.
bool segment_present(const BackingTraits& t, const RegionInfo& info) {
    switch (t.segment) {
        case Segment::posix: {
            struct stat st {};
            return !info.segment.empty() && ::stat(("/dev/shm" + info.segment).c_str(), &st) == 0;
        }
        case Segment::sysv: return info.sysv_id >= 0 && sysv_listed(info.sysv_id, info.sysv_key);
        case Segment::none: return false;
    }
    return false;
}

/// Runs body(region) in a second attacher of the creator's region and returns its result
/// (0, or the code of the CHILD_CHECK that failed; a child killed returns -signal):
///  - named backings: a child process that joins by name (join_only);
///  - anonymous: a fork()ed child that inherits `creator` and calls join_after_fork();
///  - heap: a second attach of the name in this process (body runs here; its CHILD_CHECK
///    lines say "child" all the same).
/// The second attacher detaches after body (its own check codes 90-99).
int in_second_attacher(const BackingTraits& t, Region& creator, const Options& o, mptest::Children& children,
                       const std::function<int(Region&)>& body) {
    auto attach_and_run = [&]() -> int {
        std::error_code ec;
        Region own;
        Region* r = &own;
        if (t.fork_shared) {
            creator.join_after_fork(ec);
            CHILD_CHECK(!ec, 90);
            r = &creator;
        } else {
            own = Region::attach(joining(o), ec);
            if (ec) std::fprintf(stderr, "second attacher: attach: %s\n", ec.message().c_str());
            CHILD_CHECK(!ec, 91);
            CHILD_CHECK(!own.created(), 92);
        }
        CHILD_CHECK(r->attached(), 93);
        const int rc = body(*r);
        r->detach(ec);
        CHILD_CHECK(!ec, 94);
        CHILD_CHECK(!r->attached(), 95);
        return rc;
    };
    if (t.in_process) return attach_and_run();
    return children.wait(children.spawn(attach_and_run, 30));
}

/// What a child's exit code means, for failure messages.
std::string exit_text(int rc) {
    if (rc == 0) return "exit 0";
    if (rc < 0) return "killed by signal " + std::to_string(-rc) + (rc == -SIGALRM ? " (hung: its watchdog)" : "");
    return "exit " + std::to_string(rc) + " (its stderr names the failed check)";
}

}  // namespace conformance

using namespace conformance;

// ---- the traits themselves -------------------------------------------------------------------

// The traits table names each backing as the library does, once, and its traits agree with
// each other: a segment or durable bytes are found through a file in home; a backing shared
// through fork() or kept in one process has no file; heap alone stays in its process.
BOOST_AUTO_TEST_CASE(the_traits_agree_with_the_library_and_with_each_other) {
    std::vector<Backing> seen;
    for (const BackingTraits& t : test::kBackings) {
        BOOST_TEST_CONTEXT("backing " << t.name) {
            BOOST_TEST(to_string(t.backing) == t.name);
            Backing parsed = Backing::any;
            BOOST_TEST(parse_backing(t.name, parsed));
            BOOST_TEST(parsed == t.backing);
            BOOST_TEST(std::count(seen.begin(), seen.end(), t.backing) == 0);
            seen.push_back(t.backing);
            BOOST_TEST(&test::traits(t.backing) == &t);
            if (t.shm() || t.durable) BOOST_TEST(t.named);
            if (t.fork_shared || t.in_process) BOOST_TEST(!t.named);
            BOOST_TEST(!(t.fork_shared && t.in_process));
            BOOST_TEST(t.cross_process() == (t.named || t.fork_shared));
            if (t.memory_file) BOOST_TEST((t.durable || t.segment == Segment::posix));
        }
    }
    BOOST_TEST(test::backings(BackingSet::all) == seen);
    BOOST_CHECK_THROW(test::traits(Backing::any), std::invalid_argument);
    BOOST_CHECK_THROW(test::backing_named("any"), std::invalid_argument);
}

// ---- sharing -------------------------------------------------------------------------------

// The creator fills its region; a second attacher (another process by name, a fork()ed
// child, or a second attach here, as the backing allows) sees the same size, ceiling,
// backing and bytes, and writes its own bytes into the second half, which the creator then
// sees.
BOOST_DATA_TEST_CASE(a_second_attacher_sees_the_creators_bytes, test::backing_data(BackingSet::all), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const BackingTraits& t = test::traits(backing_name);
    const Options o = options_for(home, t.backing, 16 * page());
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    const std::size_t n = r.size();
    const std::size_t half = n / 2;
    mptest::fill_pattern(bytes_of(r), n, 11);
    const std::size_t ceiling = r.max_size();

    const int rc = in_second_attacher(t, r, o, children, [&](Region& j) -> int {
        CHILD_CHECK(j.size() == n, 10);
        CHILD_CHECK(j.max_size() == ceiling, 11);
        CHILD_CHECK(j.backing() == t.backing, 12);
        CHILD_CHECK(j.name() == o.name, 13);
        CHILD_CHECK(mptest::check_pattern(j.data(), n, 11), 14);
        mptest::fill_pattern(bytes_of(j) + half, n - half, 12);
        return 0;
    });
    BOOST_TEST(rc == 0, "second attacher: " << exit_text(rc));
    BOOST_TEST(mptest::check_pattern(bytes_of(r), half, 11), "the creator's own bytes changed");
    BOOST_TEST(mptest::check_pattern(bytes_of(r) + half, n - half, 12), "the creator does not see the second attacher's bytes");
    BOOST_CHECK_NO_THROW(r.detach());
}

// ---- what the attach says ------------------------------------------------------------------

// size() and max_size() are the requested sizes rounded up to whole pages (the ceiling as
// given for growable backings, size() for the others); backing(), name(), created() and
// file() (the file in home iff named) are what they must be; the memory is page-aligned,
// zero-filled and writable. Where the region lives: a named backing's file in home is in
// list(), and holds the region itself (durable) or only a small locator; a posix region has
// one /dev/shm entry, a sysv region a System V segment; the others leave nothing in home.
BOOST_DATA_TEST_CASE(attach_reports_what_the_traits_say, test::backing_data(BackingSet::all), backing_name) {
    mptest::Home home;
    const BackingTraits& t = test::traits(backing_name);
    const std::uint64_t pg = page();
    const Options o = options_for(home, t.backing, 3 * pg + 100, t.growable ? 16 * pg + 1 : 0);
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.attached());
    BOOST_TEST(r.created());
    BOOST_TEST(r.size() == 4 * pg);
    BOOST_TEST(r.max_size() == (t.growable ? 17 * pg : 4 * pg));
    BOOST_TEST(r.backing() == t.backing);
    BOOST_TEST(r.name() == o.name);
    BOOST_TEST(r.file().empty() == !t.named, "file() is " << r.file());
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(r.data()) % pg == 0u, "data() " << r.data() << " is not page-aligned");
    BOOST_TEST(first_nonzero(r.data(), r.size()) == r.size(), "a new region is not zero-filled");
    std::memset(r.data(), 0x5a, r.size());  // every byte writable
    BOOST_TEST(first_nonzero(r.data(), 1) == 0u);

    const std::vector<std::string> posix_entries = test::posix_segments_of(o.name);
    BOOST_TEST(posix_entries.size() == (t.segment == Segment::posix ? 1u : 0u));
    if (t.named) {
        const fs::path file = region_file(home, o.name);
        BOOST_TEST(r.file() == file);
        BOOST_TEST(fs::is_regular_file(file));
        BOOST_TEST(list(home) == std::vector<std::string>{o.name});
        const RegionInfo info = inspect(home, o.name);
        const std::uint64_t file_bytes = fs::file_size(file);
        if (t.durable)
            BOOST_TEST(file_bytes >= info.header_size + r.size(), "the region file holds " << file_bytes << " bytes");
        else
            BOOST_TEST(file_bytes < r.size(), "a locator of " << file_bytes << " bytes");
        BOOST_TEST(info.segment.empty() == (t.segment != Segment::posix), "segment '" << info.segment << "'");
        if (t.segment == Segment::posix && posix_entries.size() == 1u)
            BOOST_TEST(info.segment == "/" + posix_entries[0]);
        BOOST_TEST(sysv_listed(info.sysv_id, info.sysv_key) == (t.segment == Segment::sysv),
                   "System V id " << info.sysv_id << ", key " << info.sysv_key);
        BOOST_TEST(segment_present(t, info) == t.shm());
    } else {
        BOOST_TEST(list(home).empty());
        BOOST_TEST(fs::is_empty(home.path()), "a " << backing_name << " region left something in its home");
    }
    BOOST_CHECK_NO_THROW(r.detach());
}

// ---- growth ----------------------------------------------------------------------------------

// Growable: grow() to 2.5 times the size, in place (data() unchanged), keeps the bytes,
// zeroes and maps the new part, tells inspect() (named: size, a new generation, a backing at
// least that big) and a new attacher, which sees the new size and both parts' bytes.
// Not growable: not_growable (== operation_not_supported) in both forms with the region
// unchanged, and a creation asking for a ceiling above the size is refused or never grows.
BOOST_DATA_TEST_CASE(grow_in_place_or_not_growable, test::backing_data(BackingSet::all), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const BackingTraits& t = test::traits(backing_name);
    const std::uint64_t pg = page();
    const Options o = options_for(home, t.backing, 4 * pg, t.growable ? 16 * pg : 0);
    Region r = Region::attach(o);
    char* const base = bytes_of(r);
    mptest::fill_pattern(base, r.size(), 21);
    const RegionInfo before = t.named ? inspect(home, o.name) : RegionInfo{};

    if (!t.growable) {
        expect_error([&] { r.grow(8 * pg); }, code(errc::not_growable), {});
        expect_ec([&](std::error_code& ec) { r.grow(8 * pg, ec); }, code(errc::not_growable));
        std::error_code ec;
        r.grow(8 * pg, ec);
        BOOST_TEST((ec == std::errc::operation_not_supported), ec.message());
        BOOST_TEST(r.size() == 4 * pg);
        BOOST_TEST(r.max_size() == 4 * pg);
        BOOST_TEST(bytes_of(r) == base);
        BOOST_TEST(!r.refresh());
        BOOST_TEST(mptest::check_pattern(base, r.size(), 21), "a refused grow changed the bytes");
        if (t.named) {
            const RegionInfo after = inspect(home, o.name);
            BOOST_TEST(after.size == 4 * pg);
            BOOST_TEST(after.generation == before.generation);
        }
        // A ceiling above the size: refused at creation (not_growable), or accepted and the
        // region still cannot grow.
        Options ceiling = options_for(home, t.backing, 4 * pg, 16 * pg);
        Region c = Region::attach(ceiling, ec);
        if (ec) {
            BOOST_TEST(ec == errc::not_growable, ec.message());
            BOOST_TEST(!fs::exists(region_file(home, ceiling.name)));
        } else {
            BOOST_TEST_MESSAGE("a " << backing_name << " region with a ceiling above its size was created, max_size() "
                                    << c.max_size());
            c.grow(8 * pg, ec);
            BOOST_TEST(ec == errc::not_growable, ec.message());
            BOOST_TEST(c.size() == 4 * pg);
        }
        BOOST_CHECK_NO_THROW(r.detach());
        return;
    }

    const std::uint64_t grown = 10 * pg;
    BOOST_REQUIRE_NO_THROW(r.grow(grown));
    BOOST_TEST(r.size() == grown);
    BOOST_TEST(r.max_size() == 16 * pg);
    BOOST_TEST(bytes_of(r) == base, "grow moved data() from " << static_cast<void*>(base) << " to " << r.data());
    BOOST_TEST(mptest::check_pattern(base, 4 * pg, 21), "grow changed the old bytes");
    BOOST_TEST(first_nonzero(base + 4 * pg, grown - 4 * pg) == grown - 4 * pg, "the new part is not zero");
    mptest::fill_pattern(base + 4 * pg, grown - 4 * pg, 22);  // every new page writable
    std::error_code ec;
    r.grow(12 * pg, ec);  // the error_code form
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(r.size() == 12 * pg);
    BOOST_TEST(bytes_of(r) == base);
    BOOST_TEST(mptest::check_pattern(base + 4 * pg, grown - 4 * pg, 22));
    if (t.named) {
        const RegionInfo after = inspect(home, o.name);
        BOOST_TEST(after.size == 12 * pg);
        BOOST_TEST(after.generation > before.generation);
        BOOST_TEST(after.backing_size >= after.header_size + 12 * pg);
    }
    const int rc = in_second_attacher(t, r, o, children, [&](Region& j) -> int {
        CHILD_CHECK(j.size() == 12 * pg, 10);
        CHILD_CHECK(mptest::check_pattern(j.data(), 4 * pg, 21), 11);
        CHILD_CHECK(mptest::check_pattern(bytes_of(j) + 4 * pg, grown - 4 * pg, 22), 12);
        CHILD_CHECK(first_nonzero(bytes_of(j) + grown, 2 * pg) == 2 * pg, 13);
        return 0;
    });
    BOOST_TEST(rc == 0, "second attacher after the growth: " << exit_text(rc));
    BOOST_CHECK_NO_THROW(r.detach());
}

// ---- a killed lock holder ----------------------------------------------------------------------

// Another attacher (a process joining by name, or a fork()ed child after join_after_fork())
// takes the lock, writes a byte and is killed with SIGKILL. The next lock() of the creator
// reports owner_died() and sees the byte; the lock after it does not report it again, nor
// does another process's; the dead attacher is gone (reap finds nobody; a named region's
// inspect() shows the lock free and one live attacher).
BOOST_DATA_TEST_CASE(a_lock_holder_killed_gives_owner_died_until_marked_consistent, test::backing_data(BackingSet::cross_process),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    const BackingTraits& t = test::traits(backing_name);
    const Options o = options_for(home, t.backing, 4 * page());
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    bytes_of(r)[0] = 'c';

    test::Signal locked;
    const pid_t holder = children.spawn([&]() -> int {
        Region own;
        Region* h = &r;
        if (t.fork_shared) {
            r.join_after_fork();
        } else {
            own = Region::attach(joining(o));
            h = &own;
        }
        LockGuard g = h->lock();
        CHILD_CHECK(!g.owner_died(), 10);
        bytes_of(*h)[0] = 'h';  // "half-updated" application data
        locked.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(locked.wait());
    if (t.named) {
        const RegionInfo held = inspect(home, o.name);
        BOOST_TEST(held.lock_state == LockState::held);
        BOOST_TEST(held.lock_holder == holder);
    }
    BOOST_REQUIRE(::kill(holder, SIGKILL) == 0);
    BOOST_TEST(children.wait(holder) == -SIGKILL);
    if (t.named) BOOST_TEST(inspect(home, o.name).lock_state == LockState::owner_dead);

    {
        LockGuard g = r.lock();
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(g.owner_died(), "the first lock() after the holder's death did not report it");
        BOOST_TEST(bytes_of(r)[0] == 'h');
        // Not marked consistent (as if this holder died while repairing): still reported.
    }
    {
        LockGuard g = r.lock();
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        g.mark_consistent();
        BOOST_TEST(!g.owner_died());
    }
    {
        LockGuard g = r.lock();
        BOOST_TEST(!g.owner_died(), "owner_died() was reported after mark_consistent()");
    }
    BOOST_TEST(r.reap_dead_attachers() == 0u, "the dead holder's slot was not dropped when its lock was recovered");
    const int rc = in_second_attacher(t, r, o, children, [&](Region& j) -> int {
        LockGuard g = j.lock();
        CHILD_CHECK(g.owns_lock(), 10);
        CHILD_CHECK(!g.owner_died(), 11);
        return 0;
    });
    BOOST_TEST(rc == 0, "another attacher's lock: " << exit_text(rc));
    if (t.named) {
        const RegionInfo after = inspect(home, o.name);
        BOOST_TEST(after.lock_state == LockState::free);
        BOOST_TEST(!after.owner_died_unreported);
        BOOST_TEST(after.live_attachers() == 1u);
        BOOST_TEST(after.ref_count == 1u);
    }
    BOOST_CHECK_NO_THROW(r.detach());
}

// ---- removal -----------------------------------------------------------------------------------

// The creator and a second attacher (another process, a fork()ed child, or a second attach
// here) share a region; the creator marks it for removal: nobody may join it any more
// (marked_for_removal), and the creator's detach leaves it in place for the second
// attacher, still holding the bytes. The second attacher's detach, the last, removes it:
// its file (inspect: region_not_found) and its segment; a heap region's name is free.
BOOST_DATA_TEST_CASE(the_last_detach_after_mark_for_removal_removes_the_region, test::backing_data(BackingSet::all),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    const BackingTraits& t = test::traits(backing_name);
    const Options o = options_for(home, t.backing, 4 * page());
    Region a = Region::attach(o);
    BOOST_REQUIRE(a.created());
    const std::size_t n = a.size();
    mptest::fill_pattern(bytes_of(a), n, 31);

    // The second attacher: here (heap), or a child that stays until told to leave.
    Region b;
    test::Signal attached, leave;
    pid_t child = -1;
    if (t.in_process) {
        b = Region::attach(joining(o));
        BOOST_REQUIRE(!b.created());
    } else {
        child = children.spawn(
            [&]() -> int {
                std::error_code ec;
                Region own;
                Region* me = &a;
                if (t.fork_shared) {
                    a.join_after_fork(ec);
                    CHILD_CHECK(!ec, 10);
                } else {
                    own = Region::attach(joining(o), ec);
                    CHILD_CHECK(!ec, 11);
                    me = &own;
                }
                attached.notify();
                CHILD_CHECK(leave.wait(), 12);
                CHILD_CHECK(mptest::check_pattern(me->data(), n, 31), 13);  // still there for the last one
                me->detach(ec);
                CHILD_CHECK(!ec, 14);
                return 0;
            },
            30);
        BOOST_REQUIRE(attached.wait());
    }
    const RegionInfo info = t.named ? inspect(home, o.name) : RegionInfo{};
    if (t.named) BOOST_TEST(info.ref_count == 2u);
    BOOST_TEST(segment_present(t, info) == t.shm(), "the segment is not there to begin with");
    BOOST_TEST(test::posix_segments_of(o.name).size() == (t.segment == Segment::posix ? 1u : 0u));

    a.mark_for_removal();
    if (t.named) BOOST_TEST(inspect(home, o.name).unlink_requested);
    if (!t.fork_shared) {  // joining by name is refused now
        std::error_code ec;
        Region late = Region::attach(joining(o), ec);
        BOOST_TEST(ec == errc::marked_for_removal, ec.message());
        BOOST_TEST(!late.attached());
    }
    BOOST_CHECK_NO_THROW(a.detach());
    if (t.named) {
        BOOST_TEST(fs::exists(region_file(home, o.name)), "removed while an attacher was left");
        BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    }
    BOOST_TEST(segment_present(t, info) == t.shm(), "the segment went while an attacher was left");

    if (t.in_process) {
        BOOST_TEST(mptest::check_pattern(b.data(), n, 31));
        BOOST_CHECK_NO_THROW(b.detach());
    } else {
        leave.notify();
        const int rc = children.wait(child);
        BOOST_TEST(rc == 0, "the last attacher: " << exit_text(rc));
    }

    BOOST_TEST(!segment_present(t, info), "the segment outlived the last detach");
    if (t.named) {
        BOOST_TEST(!fs::exists(region_file(home, o.name)), "the region file outlived the last detach");
        BOOST_TEST(list(home).empty());
        expect_inspect_fails(home, o.name, code(errc::region_not_found), {o.name});
        if (t.segment == Segment::posix) BOOST_TEST(test::posix_segments_of(o.name).empty());
    } else {
        BOOST_TEST(fs::is_empty(home.path()));
    }
    if (t.in_process) {  // the name is free in this process
        std::error_code ec;
        Region again = Region::attach(joining(o), ec);
        BOOST_TEST(ec == errc::region_not_found, ec.message());
    }
}

// ---- inspect -----------------------------------------------------------------------------------

// inspect() of a named region, taken while this process and another one are attached,
// says what the attaches say: name, file, backing, sizes, ceiling, the reference count and
// both attachers alive, the creator, the lock free, the segment (posix: a name, sysv: an
// id) and a backing that holds the whole region; it is the same after the other one left.
// A region without a file is not found.
BOOST_DATA_TEST_CASE(inspect_matches_the_attach, test::backing_data(BackingSet::all), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const BackingTraits& t = test::traits(backing_name);
    const std::uint64_t pg = page();
    Options o = options_for(home, t.backing, 6 * pg, t.growable ? 24 * pg : 0);
    o.max_attachers = 7;
    Region r = Region::attach(o);
    if (!t.named) {
        expect_inspect_fails(home, o.name, code(errc::region_not_found), {});
        BOOST_CHECK_NO_THROW(r.detach());
        return;
    }
    auto check = [&](const RegionInfo& info, std::uint32_t attachers) {
        BOOST_TEST(info.name == o.name);
        BOOST_TEST(info.file == r.file());
        BOOST_TEST(info.backing == r.backing());
        BOOST_TEST(info.valid);
        BOOST_TEST(info.size == r.size());
        BOOST_TEST(info.max_size == r.max_size());
        BOOST_TEST(info.region_size == info.header_size + info.size);
        BOOST_TEST(info.max_region_size == info.header_size + info.max_size);
        BOOST_TEST(info.backing_size >= info.region_size);
        BOOST_TEST(info.page_size == pg);
        BOOST_TEST(info.max_attachers == 7u);
        BOOST_TEST(info.ref_count == attachers);
        BOOST_TEST(info.live_attachers() == attachers);
        BOOST_TEST(info.attachers.size() == attachers);
        BOOST_TEST(mptest::has_attacher(info, ::getpid(), true));
        BOOST_TEST(info.creator_pid == ::getpid());
        BOOST_TEST(info.creator_uid == ::geteuid());
        BOOST_TEST(info.lock_state == LockState::free);
        BOOST_TEST(!info.unlink_requested);
        BOOST_TEST(!info.remove_on_last_detach);
        BOOST_TEST(!info.grow_in_progress);
        BOOST_TEST(info.segment.empty() == (t.segment != Segment::posix));
        BOOST_TEST((info.sysv_id >= 0) == (t.segment == Segment::sysv), "sysv_id " << info.sysv_id);
    };
    BOOST_TEST_CONTEXT("alone") { check(inspect(home, o.name), 1); }

    test::Signal attached, leave;
    const pid_t other = children.spawn(
        [&]() -> int {
            std::error_code ec;
            Region j = Region::attach(joining(o), ec);
            CHILD_CHECK(!ec, 10);
            attached.notify();
            CHILD_CHECK(leave.wait(), 11);
            j.detach(ec);
            CHILD_CHECK(!ec, 12);
            return 0;
        },
        30);
    BOOST_REQUIRE(attached.wait());
    BOOST_TEST_CONTEXT("with another process attached") {
        const RegionInfo info = inspect(home, o.name);
        check(info, 2);
        BOOST_TEST(mptest::has_attacher(info, other, true));
        std::error_code ec;
        const RegionInfo same = inspect(home, o.name, ec);  // the error_code form
        BOOST_TEST(!ec, ec.message());
        BOOST_TEST(same.generation == info.generation);
        BOOST_TEST(same.ref_count == 2u);
    }
    leave.notify();
    const int rc = children.wait(other);
    BOOST_TEST(rc == 0, "the other attacher: " << exit_text(rc));
    BOOST_TEST_CONTEXT("after the other left") { check(inspect(home, o.name), 1); }
    BOOST_CHECK_NO_THROW(r.detach());
    BOOST_TEST(inspect(home, o.name).ref_count == 0u);
}

// ---- flush -------------------------------------------------------------------------------------

// flush() succeeds in both forms on every backing; afterwards a durable backing's file in
// home holds the bytes after its header, and read_bytes() of a named region returns them.
BOOST_DATA_TEST_CASE(flush_succeeds, test::backing_data(BackingSet::all), backing_name) {
    mptest::Home home;
    const BackingTraits& t = test::traits(backing_name);
    const Options o = options_for(home, t.backing, 8 * page());
    Region r = Region::attach(o);
    const std::size_t n = r.size();
    mptest::fill_pattern(bytes_of(r), n, 41);
    BOOST_CHECK_NO_THROW(r.flush());
    std::error_code ec = make_error_code(std::errc::interrupted);  // must be cleared
    r.flush(ec);
    BOOST_TEST(!ec, ec.message());
    if (t.durable) {
        const RegionInfo info = inspect(home, o.name);
        const std::string file = test::read_file(region_file(home, o.name));
        BOOST_REQUIRE(file.size() >= info.header_size + n);
        BOOST_TEST(mptest::check_pattern(file.data() + info.header_size, n, 41),
                   "the region file does not hold the bytes after flush()");
    }
    if (t.named) {
        const std::vector<unsigned char> seen = read_bytes(home, o.name, 0, n);
        BOOST_REQUIRE(seen.size() == n);
        BOOST_TEST(mptest::check_pattern(seen.data(), n, 41), "read_bytes() returns other bytes");
    }
    BOOST_CHECK_NO_THROW(r.detach());
}

// ---- forced unlink -----------------------------------------------------------------------------

// unlink(Force::yes) of a named region this process is attached to removes its file and
// segment at once (list() empty, inspect: region_not_found); the attach keeps its memory,
// bytes and all, and detaches cleanly; the name is free: create_only makes a new, zeroed
// region, which the old attach's detach leaves alone. A region without a file is not found
// (region_not_found) and stays usable.
BOOST_DATA_TEST_CASE(force_unlink_removes_a_named_region_at_once, test::backing_data(BackingSet::all), backing_name) {
    mptest::Home home;
    const BackingTraits& t = test::traits(backing_name);
    Options o = options_for(home, t.backing, 4 * page());
    Region r = Region::attach(o);
    const std::size_t n = r.size();
    mptest::fill_pattern(bytes_of(r), n, 51);
    const RegionInfo info = t.named ? inspect(home, o.name) : RegionInfo{};
    BOOST_TEST(segment_present(t, info) == t.shm());
    BOOST_TEST(test::posix_segments_of(o.name).size() == (t.segment == Segment::posix ? 1u : 0u));

    if (!t.named) {
        expect_error([&] { unlink(home, o.name, Force::yes); }, code(errc::region_not_found), {});
        expect_ec([&](std::error_code& ec) { unlink(home, o.name, Force::yes, ec); }, code(errc::region_not_found));
        BOOST_TEST(mptest::check_pattern(bytes_of(r), n, 51));
        LockGuard g = r.lock();
        BOOST_TEST(g.owns_lock());
        g.unlock();
        BOOST_CHECK_NO_THROW(r.detach());
        return;
    }

    BOOST_REQUIRE_NO_THROW(unlink(home, o.name, Force::yes));
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    BOOST_TEST(list(home).empty());
    BOOST_TEST(!segment_present(t, info), "force unlink left the segment");
    BOOST_TEST(test::posix_segments_of(o.name).empty());
    expect_inspect_fails(home, o.name, code(errc::region_not_found), {o.name});
    // The attach keeps its memory.
    BOOST_TEST(mptest::check_pattern(bytes_of(r), n, 51));
    mptest::fill_pattern(bytes_of(r), n, 52);
    BOOST_TEST(mptest::check_pattern(bytes_of(r), n, 52));

    o.mode = OpenMode::create_only;
    Region fresh = Region::attach(o);
    BOOST_TEST(fresh.created());
    BOOST_TEST(first_nonzero(fresh.data(), fresh.size()) == fresh.size(), "the new region sees the old bytes");
    std::error_code ec;
    r.detach(ec);  // the old attach: must not touch the new region
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(fs::exists(region_file(home, o.name)));
    const RegionInfo now = inspect(home, o.name);
    BOOST_TEST(now.ref_count == 1u);
    BOOST_TEST(segment_present(t, now) == t.shm());
    BOOST_CHECK_NO_THROW(fresh.detach());
    BOOST_CHECK_NO_THROW(unlink(home, o.name));
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    BOOST_TEST(!segment_present(t, now));
}
