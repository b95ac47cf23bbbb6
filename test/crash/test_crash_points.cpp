// Deaths at the library's named crash points (SHMREGION_CRASH_AT, set in the child after
// fork; the library raises SIGKILL there):
//  - "attach.after_slot_lock" and "detach.after_slot_clear" (the region mutex is held): every
//    lock() reports owner_died() until the application calls mark_consistent(), and no lock()
//    after that does; the death is counted once (lock_deaths); the header is valid and
//    repaired (ref_count == live attachers) and attach + detach work again;
//  - "create.before_valid" and "create.before_publish": nothing was published, so the name
//    is free and a create_or_join creates. A POSIX or System V creator killed there leaves
//    its unpublished segment behind (no locator names it); the test reports that as a
//    warning and removes it.
#define BOOST_TEST_MODULE crash_points
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "mp_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>

using namespace shmregion;
using namespace shmregion::mptest;
namespace bdata = boost::unit_test::data;

namespace {

const auto kMutexPoints = bdata::make({"attach.after_slot_lock", "detach.after_slot_clear"});
const auto kCreatePoints = bdata::make({"create.before_valid", "create.before_publish"});

void arm(const char* point) { ::setenv("SHMREGION_CRASH_AT", point, 1); }

/// A new attach + detach in another process works (and is not told of the old death).
int attach_detach_child(const Options& o) {
    Options j = o;
    j.mode = OpenMode::join_only;
    std::error_code ec;
    Region r = Region::attach(j, ec);
    CHILD_CHECK(!ec, 40);
    CHILD_CHECK(!r.created(), 41);
    {
        auto g = r.lock(ec);
        CHILD_CHECK(!ec, 42);
        CHILD_CHECK(!g.owner_died(), 43);  // nobody died, or the parent marked it consistent
    }
    r.detach(ec);
    CHILD_CHECK(!ec, 44);
    return 0;
}

/// A child that stands for a live creator: it makes the pending file `pending` and holds
/// slot 0's liveness lock on it (what a creator does first), then waits to be killed.
/// Returns once the lock is held.
pid_t spawn_live_creator(Children& children, const fs::path& pending) {
    test::Signal ready;
    const pid_t pid = children.spawn([&] {
        int fd = ::open(pending.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        CHILD_CHECK(fd >= 0, 10);
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = 1024;  // slot 0's byte (docs/format.md)
        fl.l_len = 1;
        CHILD_CHECK(::fcntl(fd, F_OFD_SETLK, &fl) == 0, 11);
        ready.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(ready.wait());
    return pid;
}

}  // namespace

// Mutex-held crash points, named backings.
BOOST_DATA_TEST_CASE(die_holding_region_mutex_named, test::backing_data(test::BackingSet::named) * kMutexPoints,
                     backing_name, point) {
    Home home;
    Children children;
    const std::string where = point;
    const Options o = test::options(home, backing_named(backing_name));
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());

    const pid_t victim = children.spawn([&] {
        if (where == "attach.after_slot_lock") arm(point);
        Region mine = Region::attach(o);
        arm(point);
        mine.detach();
        return 1;  // not reached: SIGKILL at the crash point
    });
    BOOST_TEST(children.wait(victim) == -SIGKILL);

    RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.valid);
    BOOST_TEST(info.lock_state == LockState::owner_dead, lock_state_name(info.lock_state));
    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 0u);  // nobody has recovered the mutex yet
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died());
        // Not marked consistent (as if this repairer died): the death stays to be heard.
    }
    info = inspect(home, o.name);
    BOOST_TEST(info.valid);
    BOOST_TEST(info.lock_state == LockState::free, lock_state_name(info.lock_state));
    BOOST_TEST(info.ref_count == 1u);
    BOOST_TEST(info.ref_count == info.live_attachers());
    BOOST_TEST(info.attachers.size() == 1u);
    BOOST_TEST(info.owner_died_unreported, "the death was forgotten before anybody marked the lock consistent");
    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 1u);
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        g.mark_consistent();
        BOOST_TEST(!g.owner_died());
    }
    BOOST_TEST(!inspect(home, o.name).owner_died_unreported);
    BOOST_TEST(lock_deaths_of(r, o.max_attachers) == 1u);  // one holder died, counted once

    const pid_t next = children.spawn([&] { return attach_detach_child(o); });
    BOOST_TEST(children.wait(next) == 0);
    {
        auto g = r.lock();
        BOOST_TEST(!g.owner_died());
    }
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    r.detach();
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// Mutex-held crash points, anonymous region (join_after_fork takes a slot the same way).
BOOST_DATA_TEST_CASE(die_holding_region_mutex_anonymous, kMutexPoints, point) {
    Children children;
    Options o;
    o.name = test::unique_name("anon");
    o.backing = Backing::anonymous;
    o.size = 64 * 1024;
    const std::uint32_t ma = o.max_attachers;
    const std::string where = point;
    Region r = Region::attach(o);

    const pid_t victim = children.spawn([&] {
        if (where == "attach.after_slot_lock") arm(point);
        r.join_after_fork();
        arm(point);
        r.detach();
        return 1;
    });
    BOOST_TEST(children.wait(victim) == -SIGKILL);
    BOOST_TEST(lock_word_of(r, ma).owner_died);
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died());
    }
    BOOST_TEST(ref_count_of(r, ma) == 1u);
    BOOST_TEST(slots_in_use(r, ma) == 1u);
    BOOST_TEST(owner_died_unreported_of(r, ma), "the death was forgotten before anybody marked the lock consistent");
    {
        auto g = r.lock();
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        g.mark_consistent();
    }
    BOOST_TEST(!owner_died_unreported_of(r, ma));
    BOOST_TEST(lock_deaths_of(r, ma) == 1u);

    const pid_t next = children.spawn([&] {
        r.join_after_fork();
        {
            auto g = r.lock();
            CHILD_CHECK(!g.owner_died(), 10);  // the parent marked it consistent
        }
        std::error_code ec;
        r.detach(ec);
        CHILD_CHECK(!ec, 11);
        return 0;
    });
    BOOST_TEST(children.wait(next) == 0);
    BOOST_TEST(ref_count_of(r, ma) == 1u);
    auto g = r.lock();
    BOOST_TEST(!g.owner_died());
    BOOST_TEST(lock_deaths_of(r, ma) == 1u);
}

// Creator killed before it published: the name stays free.
BOOST_DATA_TEST_CASE(die_while_creating, test::backing_data(test::BackingSet::named) * kCreatePoints, backing_name,
                     point) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    const Options o = test::options(home, backing);
    const fs::path file = region_file(home, o.name);

    const pid_t victim = children.spawn([&] {
        arm(point);
        Region r = Region::attach(o);
        return 1;
    });
    BOOST_TEST(children.wait(victim) == -SIGKILL);

    BOOST_TEST(!fs::exists(file));
    BOOST_TEST(list(home).empty());
    {
        std::error_code ec;
        (void)inspect(home, o.name, ec);
        BOOST_TEST(ec == errc::region_not_found);
    }
    auto files_in_home = [&] {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(home.path())) names.push_back(e.path().filename().string());
        return names;
    };
    // A file creator leaves nothing (its pending file was O_TMPFILE). A POSIX or System V
    // creator leaves its hidden pending file, naming what it made, for remove_abandoned().
    const auto left = files_in_home();
    if (backing == Backing::file) {
        BOOST_TEST(left.empty(), left.size() << " files left in home, e.g. " << (left.empty() ? "" : left.front()));
    } else {
        BOOST_TEST(left.size() == 1u);
        if (!left.empty()) BOOST_TEST(left.front().rfind("." + o.name + ".region.pending.", 0) == 0u, left.front());
    }
    const auto removed = remove_abandoned(home);
    BOOST_TEST(removed.size() == (backing == Backing::file ? 0u : 1u));
    for (const auto& c : removed) BOOST_TEST_MESSAGE(backing_name << " @ " << point << ": " << c.pending_file.string());
    const auto after = files_in_home();
    BOOST_TEST(after.empty(), after.size() << " files left after remove_abandoned, e.g. "
                                           << (after.empty() ? "" : after.front()));
    BOOST_TEST(segments_for(file).size() == 0u, "remove_abandoned left the dead creator's segment");
    if (backing == Backing::posix) BOOST_TEST(test::posix_segments_of(o.name).empty());
    BOOST_TEST(remove_abandoned(home).empty());  // nothing twice

    // The name is free: create_or_join creates.
    Region r = Region::attach(o);
    BOOST_TEST(r.created());
    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.valid);
    BOOST_TEST(info.ref_count == 1u);
    const pid_t next = children.spawn([&] { return attach_detach_child(o); });
    BOOST_TEST(children.wait(next) == 0);
    r.detach();
    unlink(home, o.name);
    BOOST_TEST(!fs::exists(file));

    BOOST_TEST(segments_for(file).size() == 0u);
}

// The only attacher of a region marked remove-on-last-detach dies inside its last detach
// (slot cleared, count 0, mutex held): the next attach removes the dead region and creates
// a new one; nothing is left behind.
BOOST_DATA_TEST_CASE(die_in_last_detach_of_marked_region, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    Options o = test::options(home, backing);
    o.remove_on_last_detach = true;
    const pid_t victim = children.spawn([&] {
        Region r = Region::attach(o);
        CHILD_CHECK(r.created(), 10);
        arm("detach.after_slot_clear");
        r.detach();
        return 1;
    });
    BOOST_TEST(children.wait(victim) == -SIGKILL);
    const RegionInfo dead = inspect(home, o.name);
    BOOST_TEST(dead.valid);
    BOOST_TEST(dead.remove_on_last_detach);
    BOOST_TEST(dead.ref_count == 0u);
    BOOST_TEST(dead.lock_state == LockState::owner_dead, lock_state_name(dead.lock_state));

    o.remove_on_last_detach = false;
    std::error_code ec;
    Region r = Region::attach(o, ec);
    BOOST_TEST(!ec, ec.message());
    if (r) {
        BOOST_TEST(r.created());
        {
            auto g = r.lock();
            BOOST_TEST(!g.owner_died());  // a new region: the old one's death is not its own
        }
        r.detach();
        unlink(home, o.name);
    }
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    if (backing != Backing::file) BOOST_TEST(!segment_exists(dead));
    BOOST_TEST(segments_of_home(home).size() == 0u);
}

// remove_abandoned() leaves a pending file alone while its creator lives (it holds slot 0's
// liveness lock), and removes it once the creator is gone.
BOOST_AUTO_TEST_CASE(remove_abandoned_spares_a_live_creator) {
    Home home;
    Children children;
    const std::string name = test::unique_name();
    const fs::path pending = home.path() / ("." + name + ".region.pending.1.0123456789abcdef");
    const pid_t creator = spawn_live_creator(children, pending);
    // Hidden files that merely look alike are not ours to touch.
    const fs::path decoy = home.path() / ("." + name + ".region.pending.txt");
    test::write_file(decoy, "notes");
    BOOST_TEST(remove_abandoned(home).empty());
    BOOST_TEST(fs::exists(pending));
    children.kill(creator);
    const auto removed = remove_abandoned(home);
    BOOST_TEST(removed.size() == 1u);
    BOOST_TEST(!fs::exists(pending));
    BOOST_TEST(test::read_file(decoy) == "notes");
}

// A creator that stalls with its creation half made (stopped, or slow) delays a racer's
// create_or_join a little, never blocks it: a racer that finds a live creator's pending
// file waits for that creation to be published instead of making a segment of its own
// (docs/performance.md, the create race), but only for a bounded time, then creates. The
// racer's join timeout is an hour and it runs under alarm(60): waiting for the stalled
// creator as long as the timeout allows fails the test.
BOOST_DATA_TEST_CASE(a_stalled_creator_delays_create_or_join_never_blocks,
                     test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const Backing backing = backing_named(backing_name);
    Options o = test::options(home, backing);
    o.join_timeout = std::chrono::hours(1);
    const fs::path pending = home.path() / ("." + o.name + ".region.pending.1.0123456789abcdef");
    const pid_t stalled = spawn_live_creator(children, pending);
    const pid_t racer = children.spawn([&] {
        ::alarm(60);
        Region r = Region::attach(o);
        CHILD_CHECK(r.created(), 20);
        r.detach();
        return 0;
    });
    BOOST_TEST(children.wait(racer) == 0, "the racer waited for a creation that never came");
    BOOST_TEST(fs::exists(pending));  // a live creator's: nobody removed it
    children.kill(stalled);
    Region r = Region::attach(o);  // the region the racer made
    BOOST_TEST(!r.created());
    r.detach();
    unlink(home, o.name);
    (void)remove_abandoned(home);
    BOOST_TEST(!fs::exists(pending));
    BOOST_TEST(segments_of_home(home).size() == 0u);
}

// A System V creator killed between shmget and recording the segment id in its pending
// locator: remove_abandoned() finds the segment by key (and creator pid) and removes it.
BOOST_AUTO_TEST_CASE(sysv_creator_dies_before_recording_the_id) {
    Home home;
    Children children;
    const Options o = test::options(home, Backing::sysv);
    const fs::path file = region_file(home, o.name);
    const pid_t victim = children.spawn([&] {
        arm("create.sysv_before_id");
        Region r = Region::attach(o);
        return 1;
    });
    BOOST_TEST(children.wait(victim) == -SIGKILL);
    const auto report = remove_abandoned(home);
    BOOST_TEST(report.size() == 1u);
    if (!report.empty()) {
        const AbandonedCreation& c = report.front();
        BOOST_TEST((c.action == AbandonedCreation::Action::removed), c.pending_file.string());
        BOOST_TEST((c.backing == Backing::sysv && c.segment_removed), c.pending_file.string() << ": " << c.message);
        BOOST_TEST(c.name == o.name);
        BOOST_TEST(c.creator_pid == victim);
    }
    BOOST_TEST(segments_for(file).size() == 0u);
    BOOST_TEST(fs::is_empty(home.path()));
}
