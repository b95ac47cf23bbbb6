// Sharing a region between real processes: create/join/see each other's writes, the
// reference count and attacher table while both are attached, unlink removing everything
// (file, /dev/shm segment, System V segment), anonymous regions shared with fork()ed
// children, remove-on-last-detach across processes, and two attaches in one process.
#define BOOST_TEST_MODULE mp_share
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "mp_support.hpp"

#include <sched.h>
#include <sys/wait.h>

using namespace shmregion;
using namespace shmregion::mptest;
namespace bdata = boost::unit_test::data;

namespace {

constexpr std::size_t kPattern = 4096;

}  // namespace

// 1. Create in the parent, join in a child, writes both ways, ref_count 2 and both alive,
//    detach, unlink(Force::no) removes the file and the segment.
BOOST_DATA_TEST_CASE(join_share_detach_unlink, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    const Options o = test::options(home, backing);
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    BOOST_TEST(r.backing() == backing);
    fill_pattern(r.data(), kPattern, 1);

    test::Signal child_wrote, parent_checked;
    const pid_t child = children.spawn([&] {
        Region mine = Region::attach(o);
        CHILD_CHECK(!mine.created(), 10);
        CHILD_CHECK(mine.backing() == backing, 11);
        CHILD_CHECK(mine.size() == r.size(), 12);
        CHILD_CHECK(check_pattern(mine.data(), kPattern, 1), 13);
        fill_pattern(static_cast<char*>(mine.data()) + kPattern, kPattern, 2);
        child_wrote.notify();
        CHILD_CHECK(parent_checked.wait(), 14);
        CHILD_CHECK(check_pattern(mine.data(), kPattern, 3), 15);  // the parent's second write
        std::error_code ec;
        mine.detach(ec);
        CHILD_CHECK(!ec, 16);
        return 0;
    });
    BOOST_REQUIRE(child_wrote.wait());
    BOOST_TEST(check_pattern(static_cast<char*>(r.data()) + kPattern, kPattern, 2));
    fill_pattern(r.data(), kPattern, 3);

    const RegionInfo both = inspect(home, o.name);
    BOOST_TEST(both.valid);
    BOOST_TEST(both.backing == backing);
    BOOST_TEST(both.ref_count == 2u);
    BOOST_TEST(both.attachers.size() == 2u);
    BOOST_TEST(both.live_attachers() == 2u);
    BOOST_TEST(has_attacher(both, ::getpid(), true));
    BOOST_TEST(has_attacher(both, child, true));
    BOOST_TEST(both.lock_state == LockState::free);
    parent_checked.notify();
    BOOST_TEST(children.wait(child) == 0);

    const RegionInfo one = inspect(home, o.name);
    BOOST_TEST(one.ref_count == 1u);
    BOOST_TEST(one.attachers.size() == 1u);
    BOOST_TEST(has_attacher(one, ::getpid(), true));
    if (backing == Backing::posix) {
        BOOST_TEST(!one.segment.empty());
        BOOST_TEST(segment_exists(one));
    }
    if (backing == Backing::sysv) {
        BOOST_TEST(one.sysv_id >= 0);
        BOOST_TEST(segment_exists(one));
    }

    r.detach();
    BOOST_TEST(fs::exists(region_file(home, o.name)));  // not marked: it stays
    BOOST_TEST(inspect(home, o.name).ref_count == 0u);
    unlink(home, o.name, Force::no);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    BOOST_TEST(list(home).empty());
    if (backing == Backing::posix) BOOST_TEST(!segment_exists(one), "/dev/shm" << one.segment << " is left");
    if (backing == Backing::sysv)
        BOOST_TEST(sysv_segment_removed(one.sysv_id), "System V segment id " << one.sysv_id << " is left");
    BOOST_TEST(segments_for(region_file(home, o.name)).size() == 0u);
}

// 1 (anonymous). Shared with a fork()ed child that calls join_after_fork(): writes both ways
// and ref_count 2; the child's detach brings it back to 1.
BOOST_AUTO_TEST_CASE(anonymous_join_after_fork) {
    Children children;
    Options o;
    o.name = test::unique_name("anon");
    o.backing = Backing::anonymous;
    o.size = 64 * 1024;
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    BOOST_TEST(ref_count_of(r, o.max_attachers) == 1u);
    fill_pattern(r.data(), kPattern, 4);

    test::Signal child_wrote, parent_checked;
    const pid_t child = children.spawn([&] {
        r.join_after_fork();
        CHILD_CHECK(!r.created(), 10);
        CHILD_CHECK(check_pattern(r.data(), kPattern, 4), 11);
        fill_pattern(static_cast<char*>(r.data()) + kPattern, kPattern, 5);
        {
            auto g = r.lock();
            CHILD_CHECK(!g.owner_died(), 12);
        }
        child_wrote.notify();
        CHILD_CHECK(parent_checked.wait(), 13);
        CHILD_CHECK(check_pattern(r.data(), kPattern, 6), 14);
        std::error_code ec;
        r.detach(ec);
        CHILD_CHECK(!ec, 15);
        return 0;
    });
    BOOST_REQUIRE(child_wrote.wait());
    BOOST_TEST(check_pattern(static_cast<char*>(r.data()) + kPattern, kPattern, 5));
    fill_pattern(r.data(), kPattern, 6);
    BOOST_TEST(ref_count_of(r, o.max_attachers) == 2u);
    BOOST_TEST(slots_in_use(r, o.max_attachers) == 2u);
    parent_checked.notify();
    BOOST_TEST(children.wait(child) == 0);
    BOOST_TEST(ref_count_of(r, o.max_attachers) == 1u);
    BOOST_TEST(slots_in_use(r, o.max_attachers) == 1u);
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died());
    }
    r.detach();
}

// A child that inherits an anonymous Region but does not call join_after_fork() is refused
// (wrong_process) and does not disturb the parent's attach.
BOOST_AUTO_TEST_CASE(anonymous_without_join_after_fork_is_wrong_process) {
    Children children;
    Options o;
    o.name = test::unique_name("anon");
    o.backing = Backing::anonymous;
    o.size = 64 * 1024;
    Region r = Region::attach(o);
    const pid_t child = children.spawn([&] {
        std::error_code ec;
        auto g = r.lock(ec);
        CHILD_CHECK(ec == errc::wrong_process, 10);
        CHILD_CHECK(!g.owns_lock(), 11);
        try {
            (void)r.lock();
            return 12;
        } catch (const Error& e) {
            CHILD_CHECK(e.code() == errc::wrong_process, 13);
        }
        r.mark_for_removal(ec);
        CHILD_CHECK(ec == errc::wrong_process, 14);
        (void)r.reap_dead_attachers(ec);
        CHILD_CHECK(ec == errc::wrong_process, 15);
        // Dropping the inherited Region only unmaps the child's copy.
        r = Region();
        return 0;
    });
    BOOST_TEST(children.wait(child) == 0);
    BOOST_TEST(ref_count_of(r, o.max_attachers) == 1u);
    BOOST_TEST(slots_in_use(r, o.max_attachers) == 1u);
    auto g = r.lock();
    BOOST_TEST(!g.owner_died());
}

// A heap region is private memory: join_after_fork() in a child is invalid_options.
BOOST_AUTO_TEST_CASE(heap_join_after_fork_is_invalid) {
    Children children;
    Options o;
    o.name = test::unique_name("heap");
    o.backing = Backing::heap;
    o.size = 64 * 1024;
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    const pid_t child = children.spawn([&] {
        std::error_code ec;
        r.join_after_fork(ec);
        CHILD_CHECK(ec == errc::invalid_options, 10);
        try {
            r.join_after_fork();
            return 11;
        } catch (const Error& e) {
            CHILD_CHECK(e.code() == errc::invalid_options, 12);
        }
        return 0;
    });
    BOOST_TEST(children.wait(child) == 0);
    auto g = r.lock();
    BOOST_TEST(!g.owner_died());
}

// 6. unlink(Force::no) while a child is attached: the region stays (marked) until the child
//    detaches; new joins fail with marked_for_removal; then everything is gone.
BOOST_DATA_TEST_CASE(remove_on_last_detach_across_processes, test::backing_data(test::BackingSet::named),
                     backing_name) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    Options o = test::options(home, backing);
    o.mode = OpenMode::create_only;
    {
        Region r = Region::attach(o);
        BOOST_REQUIRE(r.created());
        fill_pattern(r.data(), kPattern, 7);
    }  // detached; the region stays
    o.mode = OpenMode::create_or_join;

    test::Signal attached, go;
    const pid_t child = children.spawn([&] {
        Region mine = Region::attach(o);
        CHILD_CHECK(!mine.created(), 10);
        attached.notify();
        CHILD_CHECK(go.wait(), 11);
        // Still usable after the unlink.
        CHILD_CHECK(check_pattern(mine.data(), kPattern, 7), 12);
        {
            auto g = mine.lock();
            CHILD_CHECK(!g.owner_died(), 13);
        }
        std::error_code ec;
        mine.detach(ec);
        CHILD_CHECK(!ec, 14);
        return 0;
    });
    BOOST_REQUIRE(attached.wait());
    const RegionInfo before = inspect(home, o.name);
    BOOST_TEST(before.ref_count == 1u);
    BOOST_TEST(!before.remove_on_last_detach);

    unlink(home, o.name, Force::no);
    BOOST_TEST(fs::exists(region_file(home, o.name)));
    const RegionInfo marked = inspect(home, o.name);
    BOOST_TEST(marked.valid);
    BOOST_TEST(marked.remove_on_last_detach);
    BOOST_TEST(marked.ref_count == 1u);
    BOOST_TEST(has_attacher(marked, child, true));
    if (backing != Backing::file) BOOST_TEST(segment_exists(marked));

    // New joins are refused while it is marked, whatever the open mode.
    for (OpenMode mode : {OpenMode::join_only, OpenMode::create_or_join}) {
        Options j = o;
        j.mode = mode;
        std::error_code ec;
        Region late = Region::attach(j, ec);
        BOOST_TEST(ec == errc::marked_for_removal, "mode " << static_cast<int>(mode) << ": " << ec.message());
        BOOST_TEST(!late.attached());
    }
    // ... in another process too.
    const pid_t late_child = children.spawn([&] {
        Options j = o;
        j.mode = OpenMode::join_only;
        std::error_code ec;
        Region late = Region::attach(j, ec);
        CHILD_CHECK(ec == errc::marked_for_removal, 10);
        return 0;
    });
    BOOST_TEST(children.wait(late_child) == 0);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);

    go.notify();
    BOOST_TEST(children.wait(child) == 0);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    BOOST_TEST(list(home).empty());
    if (backing != Backing::file) BOOST_TEST(!segment_exists(marked));
    if (backing == Backing::sysv) BOOST_TEST(sysv_segment_removed(marked.sysv_id));
    BOOST_TEST(segments_for(region_file(home, o.name)).size() == 0u);

    // The name is free again.
    Region again = Region::attach(o);
    BOOST_TEST(again.created());
    again.detach();
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// 8. Two attaches of one named region in the same process are two attachers.
BOOST_DATA_TEST_CASE(two_attaches_in_one_process, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    const Backing backing = backing_named(backing_name);
    const Options o = test::options(home, backing);
    Region a = Region::attach(o);
    Region b = Region::attach(o);
    BOOST_REQUIRE(a.created());
    BOOST_TEST(!b.created());
    BOOST_TEST(a.slot() != b.slot());
    BOOST_TEST(a.data() != b.data());  // two mappings of the same memory
    fill_pattern(b.data(), kPattern, 8);
    BOOST_TEST(check_pattern(a.data(), kPattern, 8));

    RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == 2u);
    BOOST_TEST(info.attachers.size() == 2u);
    BOOST_TEST(info.live_attachers() == 2u);
    // Each attach's liveness is its own: reaping from either drops nobody.
    BOOST_TEST(a.reap_dead_attachers() == 0u);
    BOOST_TEST(b.reap_dead_attachers() == 0u);
    BOOST_TEST(inspect(home, o.name).ref_count == 2u);

    a.detach();
    BOOST_TEST(!a.attached());
    info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == 1u);
    BOOST_TEST(info.attachers.size() == 1u);
    BOOST_TEST(info.live_attachers() == 1u);
    BOOST_TEST(info.attachers.at(0).slot == b.slot());
    BOOST_TEST(check_pattern(b.data(), kPattern, 8));
    fill_pattern(b.data(), kPattern, 9);
    {
        auto g = b.lock();
        BOOST_TEST(!g.owner_died());
    }
    BOOST_TEST(b.reap_dead_attachers() == 0u);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);

    // A third attach (after the first left) sees b's write and counts 2 again.
    Region c = Region::attach(o);
    BOOST_TEST(!c.created());
    BOOST_TEST(check_pattern(c.data(), kPattern, 9));
    BOOST_TEST(inspect(home, o.name).ref_count == 2u);
    c.detach();
    b.detach();
    BOOST_TEST(inspect(home, o.name).ref_count == 0u);
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// A LockGuard copied into a child by fork() holds nothing there: destroying it in the child
// must not release the lock the child took for itself after join_after_fork().
BOOST_AUTO_TEST_CASE(a_guard_inherited_through_fork_never_unlocks) {
    Home home;
    Children children;
    const Options o = test::options(home, Backing::posix);
    Region r = Region::attach(o);
    test::Signal child_locked;
    test::Signal parent_checked;
    pid_t child;
    {
        LockGuard g = r.lock();
        child = children.spawn([&] {
            LockGuard inherited = std::move(g);  // the parent's guard, as fork() copied it
            CHILD_CHECK(!inherited.owns_lock(), 10);  // a copy: the lock is the parent's
            r.join_after_fork();  // waits for the parent to unlock
            CHILD_CHECK(!inherited.owns_lock(), 11);
            LockGuard mine = r.lock();
            inherited.unlock();    // must not release `mine`
            { LockGuard gone = std::move(inherited); }
            CHILD_CHECK(mine.owns_lock(), 12);
            child_locked.notify();
            CHILD_CHECK(parent_checked.wait(), 13);
            return 0;
        });
    }  // the parent unlocks here; the child can join
    BOOST_REQUIRE(child_locked.wait());
    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST((info.lock_state == LockState::held), "the child's lock was released by its inherited guard");
    BOOST_TEST(info.lock_holder == child);
    parent_checked.notify();
    BOOST_TEST(children.wait(child) == 0);
    auto g = r.lock();
    BOOST_TEST(!g.owner_died());
}

// From another IPC namespace (a container) a System V segment is invisible, not gone: a
// joiner there must not take the region's locator for an orphan and remove it.
BOOST_AUTO_TEST_CASE(a_joiner_in_another_ipc_namespace_leaves_the_locator_alone,
                     *boost::unit_test::label("needs_ipc_namespace")) {
    Home home;
    Children children;
    Options o = test::options(home, Backing::sysv);
    Region::attach(o).detach();  // exists, nobody attached
    const fs::path file = region_file(home, o.name);
    const pid_t child = children.spawn([&] {
        if (::unshare(CLONE_NEWIPC) != 0) return 77;  // not permitted here
        Options j = o;
        j.mode = OpenMode::join_only;
        j.join_timeout = std::chrono::milliseconds(200);
        std::error_code ec;
        Region r = Region::attach(j, ec);
        CHILD_CHECK(ec == errc::segment_foreign, 10);  // may exist there: not "missing"
        CHILD_CHECK(fs::exists(file), 11);
        return 0;
    });
    const int rc = children.wait(child);
    if (rc == 77) SHMREGION_SKIP("unshare(CLONE_NEWIPC) is not permitted here");
    BOOST_TEST(rc == 0);
    BOOST_TEST(fs::exists(file));
    Region again = Region::attach(o);  // and here it is still the same region
    BOOST_TEST(!again.created());
}
