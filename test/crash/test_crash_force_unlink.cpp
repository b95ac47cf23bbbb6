// Force unlink after crashes:
//  - of a region whose lock holder was killed: completes (in a child under a watchdog, so a
//    hang would show as SIGALRM, not as a stuck test) and removes file and segment;
//  - while a live process is attached: the names go at once, the attacher keeps using its
//    memory and detaches cleanly, and its (remove-on-last-detach) detach does not touch a
//    NEW region created under the same name in the meantime.
#define BOOST_TEST_MODULE crash_force_unlink
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "mp_support.hpp"

#include <signal.h>

using namespace shmregion;
using namespace shmregion::mptest;
namespace bdata = boost::unit_test::data;

namespace {

constexpr std::size_t kPattern = 4096;

}  // namespace

// 5a. The lock holder is dead: force unlink neither attaches nor locks, so it cannot hang.
BOOST_DATA_TEST_CASE(force_unlink_with_dead_lock_holder, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    Options o = test::options(home, backing);
    o.mode = OpenMode::create_only;
    Region(Region::attach(o)).detach();  // the region exists, nobody attached
    o.mode = OpenMode::join_only;

    test::Signal locked;
    const pid_t holder = children.spawn([&] {
        Region r = Region::attach(o);
        auto g = r.lock();
        locked.notify();
        for (;;) ::pause();
        return 0;
    });
    BOOST_REQUIRE(locked.wait());
    children.kill(holder);
    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.lock_state == LockState::owner_dead, lock_state_name(info.lock_state));
    BOOST_TEST(info.live_attachers() == 0u);
    if (backing != Backing::file) BOOST_TEST(segment_exists(info));

    const pid_t remover = children.spawn(
        [&] {
            std::error_code ec;
            unlink(home, o.name, Force::yes, ec);
            CHILD_CHECK(!ec, 10);
            return 0;
        },
        20);
    const int rc = children.wait(remover);
    BOOST_TEST(rc == 0, "force unlink child exited " << rc << (rc == -SIGALRM ? " (hung: killed by the watchdog)" : ""));
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    BOOST_TEST(list(home).empty());
    if (backing != Backing::file) BOOST_TEST(!segment_exists(info));
    if (backing == Backing::sysv) BOOST_TEST(sysv_segment_removed(info.sysv_id));
    BOOST_TEST(segments_for(region_file(home, o.name)).size() == 0u);

    // The name is free: a new region can be created.
    o.mode = OpenMode::create_only;
    Region again = Region::attach(o);
    BOOST_TEST(again.created());
    {
        auto g = again.lock();
        BOOST_TEST(!g.owner_died());
    }
    again.detach();
    unlink(home, o.name);
}

// 5b. Force unlink while a live process is attached.
BOOST_DATA_TEST_CASE(force_unlink_while_attached_then_reuse_name, test::backing_data(test::BackingSet::named),
                     backing_name) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    Options o = test::options(home, backing);
    o.mode = OpenMode::create_only;
    Region(Region::attach(o)).detach();

    test::Signal attached, go;
    const pid_t old_attacher = children.spawn([&] {
        Options j = o;
        j.mode = OpenMode::join_only;
        Region old = Region::attach(j);
        CHILD_CHECK(!old.created(), 10);
        fill_pattern(old.data(), kPattern, 21);
        attached.notify();
        CHILD_CHECK(go.wait(), 11);
        // The names are gone and a new region holds the name; our memory is still ours.
        CHILD_CHECK(check_pattern(old.data(), kPattern, 21), 12);
        fill_pattern(old.data(), kPattern, 22);
        CHILD_CHECK(check_pattern(old.data(), kPattern, 22), 13);
        {
            std::error_code ec;
            auto g = old.lock(ec);
            CHILD_CHECK(!ec, 14);
            CHILD_CHECK(!g.owner_died(), 15);
        }
        std::error_code ec;
        CHILD_CHECK(old.reap_dead_attachers(ec) == 0 && !ec, 16);
        // Ask for removal at our (last) detach: it must remove only what is ours.
        old.mark_for_removal(ec);
        CHILD_CHECK(!ec, 17);
        old.detach(ec);
        if (ec) std::fprintf(stderr, "old attacher: detach: %s\n", ec.message().c_str());
        CHILD_CHECK(!ec, 18);
        return 0;
    });
    BOOST_REQUIRE(attached.wait());
    const RegionInfo old_info = inspect(home, o.name);
    BOOST_TEST(old_info.ref_count == 1u);
    if (backing != Backing::file) BOOST_TEST(segment_exists(old_info));

    unlink(home, o.name, Force::yes);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    BOOST_TEST(list(home).empty());
    if (backing != Backing::file) BOOST_TEST(!segment_exists(old_info));
    {
        std::error_code ec;
        (void)inspect(home, o.name, ec);
        BOOST_TEST(ec == errc::region_not_found);
    }

    // A new region under the same name.
    o.mode = OpenMode::create_only;
    Region fresh = Region::attach(o);
    BOOST_REQUIRE(fresh.created());
    fill_pattern(fresh.data(), kPattern, 23);
    const RegionInfo new_info = inspect(home, o.name);
    BOOST_TEST(new_info.ref_count == 1u);
    if (backing == Backing::posix) BOOST_TEST(new_info.segment != old_info.segment);
    if (backing == Backing::sysv) BOOST_TEST(new_info.sysv_id != old_info.sysv_id);

    go.notify();
    BOOST_TEST(children.wait(old_attacher) == 0);

    // The new region is untouched by the old attacher's detach.
    BOOST_REQUIRE(fs::exists(region_file(home, o.name)));
    RegionInfo after = inspect(home, o.name);
    BOOST_TEST(after.valid);
    BOOST_TEST(!after.remove_on_last_detach);
    BOOST_TEST(after.ref_count == 1u);
    BOOST_TEST(after.created_at_ns == new_info.created_at_ns);
    if (backing != Backing::file) BOOST_TEST(segment_exists(after));
    BOOST_TEST(check_pattern(fresh.data(), kPattern, 23));
    if (backing == Backing::sysv) BOOST_TEST(sysv_segment_removed(old_info.sysv_id));

    // ... and attachable by another process, which sees the new region's data.
    const pid_t joiner = children.spawn([&] {
        Options j = o;
        j.mode = OpenMode::join_only;
        Region r = Region::attach(j);
        CHILD_CHECK(!r.created(), 10);
        CHILD_CHECK(check_pattern(r.data(), kPattern, 23), 11);
        std::error_code ec;
        r.detach(ec);
        CHILD_CHECK(!ec, 12);
        return 0;
    });
    BOOST_TEST(children.wait(joiner) == 0);
    fresh.detach();
    BOOST_TEST(inspect(home, o.name).ref_count == 0u);
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    if (backing != Backing::file) BOOST_TEST(!segment_exists(after));
    BOOST_TEST(segments_of_home(home).size() == 0u);
}
