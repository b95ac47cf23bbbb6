// kill -9 of real processes attached to a region:
//  - a lock holder (named backings and anonymous, with and without a third live attacher):
//    inspect sees owner_dead and the dead attacher; every lock() reports owner_died() until
//    the application calls mark_consistent() and none after it does, the death is counted
//    once (lock_deaths), the header is repaired (ref_count == live attachers) and the lock
//    is free;
//  - an attacher that never detached (no lock held): the next attach repairs the count, and
//    Region::reap_dead_attachers() drops exactly the dead one.
#define BOOST_TEST_MODULE crash_kill
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

const auto kThirds = bdata::make({false, true});

/// Child body: attach (named: attach(o); anonymous: join_after_fork on the inherited r),
/// take the lock if asked, say so, and wait to be killed.
int attach_and_hang(Region& inherited, const Options& o, bool take_lock, test::Signal& ready) {
    Region own;
    Region* r = &inherited;
    if (o.backing == Backing::anonymous) {
        inherited.join_after_fork();
    } else {
        own = Region::attach(o);
        CHILD_CHECK(!own.created(), 20);
        r = &own;
    }
    LockGuard g;
    if (take_lock) {
        g = r->lock();
        CHILD_CHECK(!g.owner_died(), 21);
        static_cast<char*>(r->data())[0] = 'h';  // "half-updated" application data
    }
    ready.notify();
    for (;;) ::pause();
}

/// Child body of a third, well-behaved attacher: attach, say so, wait for `leave`, detach.
int attach_and_stay(Region& inherited, const Options& o, test::Signal& ready, test::Signal& leave) {
    Region own;
    Region* r = &inherited;
    if (o.backing == Backing::anonymous) {
        inherited.join_after_fork();
    } else {
        own = Region::attach(o);
        r = &own;
    }
    ready.notify();
    CHILD_CHECK(leave.wait(), 30);
    {
        auto g = r->lock();  // the parent marked the lock consistent (or nobody died holding it)
        CHILD_CHECK(!g.owner_died(), 31);
    }
    std::error_code ec;
    r->detach(ec);
    CHILD_CHECK(!ec, 32);
    return 0;
}

Options anonymous_options() {
    Options o;
    o.name = test::unique_name("anon");
    o.backing = Backing::anonymous;
    o.size = 64 * 1024;
    return o;
}

}  // namespace

// 3. kill -9 of a lock holder, named backings.
BOOST_DATA_TEST_CASE(kill_lock_holder_named, test::backing_data(test::BackingSet::named) * kThirds, backing_name,
                     with_third) {
    Home home;
    Children children;
    const Options o = test::options(home, backing_named(backing_name));
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());

    test::Signal third_ready, third_leave, holder_ready;
    pid_t third = 0;
    if (with_third) {
        third = children.spawn([&] { return attach_and_stay(r, o, third_ready, third_leave); });
        BOOST_REQUIRE(third_ready.wait());
    }
    const pid_t holder = children.spawn([&] { return attach_and_hang(r, o, true, holder_ready); });
    BOOST_REQUIRE(holder_ready.wait());
    const std::uint32_t attached = with_third ? 3u : 2u;

    RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.lock_state == LockState::held, lock_state_name(info.lock_state));
    BOOST_TEST(info.lock_holder == holder);
    BOOST_TEST(info.ref_count == attached);
    BOOST_TEST(info.live_attachers() == attached);

    children.kill(holder);

    info = inspect(home, o.name);
    BOOST_TEST(info.valid);
    BOOST_TEST(info.lock_state == LockState::owner_dead, lock_state_name(info.lock_state));
    BOOST_TEST(info.ref_count == attached);  // not repaired yet: inspect writes nothing
    BOOST_TEST(has_attacher(info, holder, false), "the killed holder should be listed as dead");
    BOOST_TEST(dead_attachers(info) == 1u);
    BOOST_TEST(info.live_attachers() == attached - 1);

    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 0u);  // nobody has recovered the mutex yet
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died());
        BOOST_TEST(static_cast<char*>(r.data())[0] == 'h');
        // Not marked consistent (as if this repairer died): the death stays to be heard.
    }
    info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == attached - 1);
    BOOST_TEST(info.ref_count == info.live_attachers());
    BOOST_TEST(info.attachers.size() == attached - 1);
    BOOST_TEST(dead_attachers(info) == 0u);
    BOOST_TEST(info.lock_state == LockState::free, lock_state_name(info.lock_state));
    BOOST_TEST(info.owner_died_unreported, "the death was forgotten before anybody marked the lock consistent");
    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 1u);
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        static_cast<char*>(r.data())[0] = 'r';  // repaired
        g.mark_consistent();
    }
    BOOST_TEST(!inspect(home, o.name).owner_died_unreported);
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died(), "owner_died() was reported after mark_consistent()");
    }
    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 1u);  // one holder killed, counted once
    BOOST_TEST(r.reap_dead_attachers() == 0u);

    if (with_third) {
        third_leave.notify();
        BOOST_TEST(children.wait(third) == 0);
        BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    }
    r.detach();
    BOOST_TEST(inspect(home, o.name).ref_count == 0u);
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// 3. kill -9 of a lock holder, anonymous region shared by fork().
BOOST_DATA_TEST_CASE(kill_lock_holder_anonymous, kThirds, with_third) {
    Children children;
    const Options o = anonymous_options();
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    const std::uint32_t ma = o.max_attachers;

    test::Signal third_ready, third_leave, holder_ready;
    pid_t third = 0;
    if (with_third) {
        third = children.spawn([&] { return attach_and_stay(r, o, third_ready, third_leave); });
        BOOST_REQUIRE(third_ready.wait());
    }
    const pid_t holder = children.spawn([&] { return attach_and_hang(r, o, true, holder_ready); });
    BOOST_REQUIRE(holder_ready.wait());
    const std::uint32_t attached = with_third ? 3u : 2u;
    BOOST_TEST(ref_count_of(r, ma) == attached);
    BOOST_TEST(lock_word_of(r, ma).owner_tid == holder);

    children.kill(holder);
    BOOST_TEST(lock_word_of(r, ma).owner_died);
    BOOST_TEST(lock_word_of(r, ma).owner_tid == 0);
    BOOST_TEST(ref_count_of(r, ma) == attached);

    BOOST_TEST(lock_deaths_of(r, ma) == 0u);
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died());
        BOOST_TEST(static_cast<char*>(r.data())[0] == 'h');
        BOOST_TEST(ref_count_of(r, ma) == attached - 1);
        // Not marked consistent (as if this repairer died): the death stays to be heard.
    }
    BOOST_TEST(ref_count_of(r, ma) == attached - 1);
    BOOST_TEST(slots_in_use(r, ma) == attached - 1);
    BOOST_TEST(lock_word_of(r, ma).owner_tid == 0);
    BOOST_TEST(!lock_word_of(r, ma).owner_died);  // the mutex itself is consistent again
    BOOST_TEST(owner_died_unreported_of(r, ma), "the death was forgotten before anybody marked the lock consistent");
    BOOST_TEST(lock_deaths_of(r, ma) == 1u);
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        g.mark_consistent();
    }
    BOOST_TEST(!owner_died_unreported_of(r, ma));
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died(), "owner_died() was reported after mark_consistent()");
    }
    BOOST_TEST(lock_deaths_of(r, ma) == 1u);
    if (with_third) {
        third_leave.notify();
        BOOST_TEST(children.wait(third) == 0);
        BOOST_TEST(ref_count_of(r, ma) == 1u);
    }
    r.detach();
}

// 4. kill -9 of an attacher that holds no lock: the next attach (by a new process) repairs
//    the count.
BOOST_DATA_TEST_CASE(kill_attacher_repaired_by_next_attach, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const Options o = test::options(home, backing_named(backing_name));
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());

    test::Signal ready;
    const pid_t victim = children.spawn([&] { return attach_and_hang(r, o, false, ready); });
    BOOST_REQUIRE(ready.wait());
    BOOST_TEST(inspect(home, o.name).ref_count == 2u);
    children.kill(victim);

    RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == 2u);  // stale until someone repairs it
    BOOST_TEST(has_attacher(info, victim, false));
    BOOST_TEST(info.live_attachers() == 1u);
    BOOST_TEST(info.lock_state == LockState::free, lock_state_name(info.lock_state));

    test::Signal newcomer_ready, newcomer_leave;
    const pid_t newcomer = children.spawn([&] { return attach_and_stay(r, o, newcomer_ready, newcomer_leave); });
    BOOST_REQUIRE(newcomer_ready.wait());
    info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == 2u);
    BOOST_TEST(info.ref_count == info.live_attachers());
    BOOST_TEST(info.attachers.size() == 2u);
    BOOST_TEST(!has_attacher(info, victim, false));
    BOOST_TEST(has_attacher(info, newcomer, true));
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died());  // nobody died holding the lock
    }
    newcomer_leave.notify();
    BOOST_TEST(children.wait(newcomer) == 0);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    r.detach();
    BOOST_TEST(inspect(home, o.name).ref_count == 0u);
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// 4. ... and Region::reap_dead_attachers() drops exactly the dead one.
BOOST_DATA_TEST_CASE(kill_attacher_reap_explicitly, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const Options o = test::options(home, backing_named(backing_name));
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());

    test::Signal ready, live_ready, live_leave;
    const pid_t live = children.spawn([&] { return attach_and_stay(r, o, live_ready, live_leave); });
    BOOST_REQUIRE(live_ready.wait());
    const pid_t victim = children.spawn([&] { return attach_and_hang(r, o, false, ready); });
    BOOST_REQUIRE(ready.wait());
    BOOST_TEST(inspect(home, o.name).ref_count == 3u);
    children.kill(victim);
    BOOST_TEST(inspect(home, o.name).ref_count == 3u);

    BOOST_TEST(r.reap_dead_attachers() == 1u);
    RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == 2u);
    BOOST_TEST(info.live_attachers() == 2u);
    BOOST_TEST(info.attachers.size() == 2u);
    BOOST_TEST(has_attacher(info, live, true));
    BOOST_TEST(r.reap_dead_attachers() == 0u);
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died());
    }
    live_leave.notify();
    BOOST_TEST(children.wait(live) == 0);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    r.detach();
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// 4. The same for an anonymous region (liveness by pid and start time).
BOOST_AUTO_TEST_CASE(kill_attacher_anonymous) {
    Children children;
    const Options o = anonymous_options();
    const std::uint32_t ma = o.max_attachers;
    Region r = Region::attach(o);

    // Repaired by the next join.
    {
        test::Signal ready;
        const pid_t victim = children.spawn([&] { return attach_and_hang(r, o, false, ready); });
        BOOST_REQUIRE(ready.wait());
        BOOST_TEST(ref_count_of(r, ma) == 2u);
        children.kill(victim);
        BOOST_TEST(ref_count_of(r, ma) == 2u);
        test::Signal nready, nleave;
        const pid_t newcomer = children.spawn([&] { return attach_and_stay(r, o, nready, nleave); });
        BOOST_REQUIRE(nready.wait());
        BOOST_TEST(ref_count_of(r, ma) == 2u);
        BOOST_TEST(slots_in_use(r, ma) == 2u);
        nleave.notify();
        BOOST_TEST(children.wait(newcomer) == 0);
        BOOST_TEST(ref_count_of(r, ma) == 1u);
    }
    // Reaped explicitly.
    {
        test::Signal ready;
        const pid_t victim = children.spawn([&] { return attach_and_hang(r, o, false, ready); });
        BOOST_REQUIRE(ready.wait());
        children.kill(victim);
        BOOST_TEST(ref_count_of(r, ma) == 2u);
        BOOST_TEST(r.reap_dead_attachers() == 1u);
        BOOST_TEST(ref_count_of(r, ma) == 1u);
        BOOST_TEST(slots_in_use(r, ma) == 1u);
        BOOST_TEST(r.reap_dead_attachers() == 0u);
    }
    auto g = r.lock();
    BOOST_TEST(!g.owner_died());
}

// The last attacher of a region marked for removal is killed: nobody is left to do the last
// detach. The region must not stay forever (before the fix in region.cpp's join(), every
// attach and every unlink(Force::no) failed with marked_for_removal until a force unlink).
// What comes next is either an attach (create_or_join: the dead region is removed on the
// way and a new one is created) or an unlink(Force::no) (removes it).
BOOST_DATA_TEST_CASE(kill_last_attacher_of_marked_region,
                     test::backing_data(test::BackingSet::named) * bdata::make({"attach", "unlink"}), backing_name,
                     next_step) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    Options o = test::options(home, backing);
    Region(Region::attach(o)).detach();

    test::Signal ready;
    const pid_t victim = children.spawn([&] {
        Region unused;
        return attach_and_hang(unused, o, false, ready);
    });
    BOOST_REQUIRE(ready.wait());
    unlink(home, o.name, Force::no);  // marked; stays while the victim is attached
    const RegionInfo marked = inspect(home, o.name);
    BOOST_TEST(marked.remove_on_last_detach);
    BOOST_TEST(marked.ref_count == 1u);
    children.kill(victim);
    BOOST_TEST(fs::exists(region_file(home, o.name)));

    std::error_code ec;
    if (std::string(next_step) == "attach") {
        Region r = Region::attach(o, ec);
        BOOST_TEST(!ec, "attach after the last attacher of a marked region died: " << ec.message());
        if (r) {
            BOOST_TEST(r.created());
            const RegionInfo fresh = inspect(home, o.name);
            BOOST_TEST(!fresh.remove_on_last_detach);
            BOOST_TEST(fresh.ref_count == 1u);
            BOOST_TEST(fresh.created_at_ns != marked.created_at_ns);
            r.detach();
        }
        unlink(home, o.name, Force::no);
    } else {
        unlink(home, o.name, Force::no, ec);
        // The attach inside unlink removes the dead region; the unlink has then happened.
        BOOST_TEST(!ec, "unlink(Force::no) of a marked region whose last attacher died: " << ec.message());
    }
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    if (backing != Backing::file) BOOST_TEST(!segment_exists(marked));
    if (backing == Backing::sysv) BOOST_TEST(sysv_segment_removed(marked.sysv_id));
    BOOST_TEST(segments_of_home(home).size() == 0u);
}

// The holder's death is reported to every application lock() from the first after it until
// one calls mark_consistent(), and never after, even when a newcomer's attach recovered the
// mutex first (and repaired the count); it is counted once.
BOOST_DATA_TEST_CASE(owner_death_reported_until_marked_after_attach_recovered,
                     test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const Options o = test::options(home, backing_named(backing_name));
    Region r = Region::attach(o);

    test::Signal holder_ready;
    const pid_t holder = children.spawn([&] { return attach_and_hang(r, o, true, holder_ready); });
    BOOST_REQUIRE(holder_ready.wait());
    children.kill(holder);

    test::Signal nready, nleave;
    const pid_t newcomer = children.spawn([&] { return attach_and_stay(r, o, nready, nleave); });
    BOOST_REQUIRE(nready.wait());
    RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.lock_state == LockState::free, lock_state_name(info.lock_state));  // the attach recovered it
    BOOST_TEST(info.owner_died_unreported);
    BOOST_TEST(info.ref_count == 2u);
    BOOST_TEST(info.ref_count == info.live_attachers());
    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 1u);  // counted by the attach that recovered it
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died());
    }
    BOOST_TEST(inspect(home, o.name).owner_died_unreported, "forgotten before anybody marked the lock consistent");
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        g.mark_consistent();
    }
    BOOST_TEST(!inspect(home, o.name).owner_died_unreported);
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died(), "owner_died() was reported after mark_consistent()");
    }
    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 1u);
    nleave.notify();  // the newcomer's lock() must not hear of it any more (exit 31 otherwise)
    BOOST_TEST(children.wait(newcomer) == 0);
    r.detach();
    unlink(home, o.name);
}

// A full attacher table whose slots are held by dead processes takes new attachers: attach
// reaps before it looks for a slot. With every slot live, attach says attacher_table_full.
BOOST_DATA_TEST_CASE(dead_attachers_free_a_full_table, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    Options o = test::options(home, backing_named(backing_name));
    o.max_attachers = 2;
    Region r = Region::attach(o);

    test::Signal ready;
    const pid_t victim = children.spawn([&] { return attach_and_hang(r, o, false, ready); });
    BOOST_REQUIRE(ready.wait());
    {
        std::error_code ec;
        Region third = Region::attach(o, ec);
        BOOST_TEST(ec == errc::attacher_table_full, ec.message());
    }
    children.kill(victim);
    BOOST_TEST(inspect(home, o.name).ref_count == 2u);

    const pid_t newcomer = children.spawn([&] {
        std::error_code ec;
        Region mine = Region::attach(o, ec);
        CHILD_CHECK(!ec, 10);
        CHILD_CHECK(!mine.created(), 11);
        mine.detach(ec);
        CHILD_CHECK(!ec, 12);
        return 0;
    });
    BOOST_TEST(children.wait(newcomer) == 0);
    RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == 1u);
    BOOST_TEST(info.attachers.size() == 1u);
    r.detach();
    unlink(home, o.name);
}

// A child that keeps an inherited Region (without join_after_fork) must not keep its
// parent alive in the attacher table: kill -9 the parent and its slot reads dead at once.
BOOST_DATA_TEST_CASE(a_forked_child_does_not_keep_a_killed_parent_alive, test::backing_data(test::BackingSet::named),
                     backing_name) {
    Home home;
    Children children;
    const Options o = test::options(home, backing_named(backing_name));
    Region keeper = Region::attach(o);
    test::Signal ready;
    test::SharedMemory shared(sizeof(pid_t));
    auto* grandchild = shared.as<pid_t>();
    const pid_t parent = children.spawn([&]() -> int {
        Region mine = Region::attach(o);
        const pid_t g = ::fork();
        if (g == 0) {  // the grandchild: keeps its copy of `mine`, never joins
            ::alarm(60);
            // fork() has returned here, so the library's fork handlers have run in this
            // process: only now may the test kill the parent.
            *grandchild = ::getpid();
            ready.notify();
            for (;;) ::pause();
        }
        (void)mine;
        for (;;) ::pause();
    });
    BOOST_REQUIRE(ready.wait());
    BOOST_TEST(inspect(home, o.name).live_attachers() == 2u);
    children.kill(parent);
    const RegionInfo after = inspect(home, o.name);
    BOOST_TEST(after.live_attachers() == 1u, "the killed parent still looks alive while its child lives");
    BOOST_TEST(keeper.reap_dead_attachers() == 1u);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    ::kill(*grandchild, SIGKILL);
    // The grandchild is not our child: init reaps it. Make sure it is gone before we leave.
    for (int i = 0; i < 1000 && ::kill(*grandchild, 0) == 0; ++i) ::usleep(1000);
}
