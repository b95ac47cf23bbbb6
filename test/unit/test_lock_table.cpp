// The lock table (issue 12): Options::locks, Region::lock(index) / try_lock / try_lock_for
// (exclusive), lock_shared(index) / try_lock_shared / try_lock_shared_for (shared), in one
// process and with a few fork()ed children holding, waiting or killed:
//
//  - limits: 0..max_locks_limit locks on every backing, more is invalid_options; a joiner
//    gets the creator's table whatever it asks for;
//  - an index out of range is invalid_argument naming the index and the table's size (both
//    forms; last_error_message() for the error_code form);
//  - the try forms never block (a child holds the lock: an empty guard comes back), the
//    timed forms give up after about their timeout (loosely: never tight timing checks);
//  - recursion: a share more of a lock this attach holds shared comes at once even while a
//    writer waits; exclusive while this attach holds it shared, exclusive twice on one
//    thread, shared while this thread holds it exclusive: resource_deadlock_would_occur;
//  - owner_died(): after an exclusive holder is SIGKILLed, every acquisition (shared or
//    exclusive, any process) reports it until a holder calls mark_consistent(); a writer
//    killed while waiting for shares to drain, or a shared holder killed, is no owner death;
//    a dead shared holder's share is released by the library (the writer gets in), even
//    before its parent reaped it; a dead draining writer leaves no "writer waiting" flag;
//    a dead reader's slot is not given to a new attacher while its share stands; a lone
//    joiner recovers what dead attachers left (a mutex left to a holder the kernel never
//    saw die included); one attach holds at most 32767 shares of a lock;
//  - the table survives growth (file, posix), held locks included;
//  - identity() / alive(); detach (or destroying the Region) releases every lock the attach
//    holds and empties its guards; the error_code forms; guard moves.
// The cases that read the table through inspect() (RegionInfo::locks) are in their own
// capability group, needs_inspect_lock_table, hence their own CTest entry
// (unit_lock_table.needs_inspect_lock_table): inspect's lock table report is written
// separately from the locks themselves.
#define BOOST_TEST_MODULE unit_lock_table
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "child_check.hpp"
#include "lock_table_support.hpp"
#include "mp_support.hpp"
#include "unit_helpers.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace shmregion;
using namespace std::chrono_literals;
using shmregion::unit::code;
using shmregion::unit::contains;
using shmregion::unit::expect_ec;
using shmregion::unit::expect_error;
using test::BackingSet;
namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;
using locktest::ChildAttach;
using locktest::Clock;
using locktest::ms_since;
using locktest::table_options;

// A named namespace (BOOST_DATA_TEST_CASE bodies are templates with external linkage).
namespace locktable {

/// The label of the cases that need inspect()'s lock table report (RegionInfo::locks).
inline auto needs_inspect() { return boost::unit_test::label("needs_inspect_lock_table"); }

unsigned char* bytes_of(const Region& r) { return static_cast<unsigned char*>(r.data()); }

/// One way of taking a table lock, in both forms; returns whether the guard owns the lock.
struct Op {
    const char* name;
    bool exclusive;
    std::function<bool(Region&, std::uint32_t)> call;
    std::function<bool(Region&, std::uint32_t, std::error_code&)> call_ec;
};

const std::vector<Op>& all_ops() {
    static const std::vector<Op> ops = {
        {"lock", true, [](Region& r, std::uint32_t i) { return r.lock(i).owns_lock(); },
         [](Region& r, std::uint32_t i, std::error_code& ec) { return r.lock(i, ec).owns_lock(); }},
        {"try_lock", true, [](Region& r, std::uint32_t i) { return r.try_lock(i).owns_lock(); },
         [](Region& r, std::uint32_t i, std::error_code& ec) { return r.try_lock(i, ec).owns_lock(); }},
        {"try_lock_for", true, [](Region& r, std::uint32_t i) { return r.try_lock_for(i, 50ms).owns_lock(); },
         [](Region& r, std::uint32_t i, std::error_code& ec) { return r.try_lock_for(i, 50ms, ec).owns_lock(); }},
        {"lock_shared", false, [](Region& r, std::uint32_t i) { return r.lock_shared(i).owns_lock(); },
         [](Region& r, std::uint32_t i, std::error_code& ec) { return r.lock_shared(i, ec).owns_lock(); }},
        {"try_lock_shared", false, [](Region& r, std::uint32_t i) { return r.try_lock_shared(i).owns_lock(); },
         [](Region& r, std::uint32_t i, std::error_code& ec) { return r.try_lock_shared(i, ec).owns_lock(); }},
        {"try_lock_shared_for", false,
         [](Region& r, std::uint32_t i) { return r.try_lock_shared_for(i, 50ms).owns_lock(); },
         [](Region& r, std::uint32_t i, std::error_code& ec) { return r.try_lock_shared_for(i, 50ms, ec).owns_lock(); }},
    };
    return ops;
}

/// What a holder child is told to hold.
enum class Hold { exclusive, shared, region };

/// A child that takes lock `index` (or the region lock) as `how` says, notifies `held`, and
/// keeps it until `release` is notified (30 s at most), then releases it and detaches.
/// After the release it notifies `released` (if given) and waits for `quit` before exiting.
pid_t spawn_holder(mptest::Children& children, Region& r, const Options& o, std::uint32_t index, Hold how,
                   test::Signal& held, test::Signal& release) {
    return children.spawn([&r, &o, index, how, &held, &release]() -> int {
        ChildAttach a(r, o);
        {
            LockGuard x;
            SharedLockGuard s;
            if (how == Hold::exclusive) x = a->lock(index);
            else if (how == Hold::shared) s = a->lock_shared(index);
            else x = a->lock();
            CHILD_CHECK(x.owns_lock() || s.owns_lock(), 10);
            held.notify();
            CHILD_CHECK(release.wait(30000), 11);
        }
        a.detach();
        return 0;
    });
}

/// True when the lock `i` of r's table is held by a writer that waits for shares to drain.
bool writer_waits(const Region& r, const Options& o, std::uint32_t i) {
    const locktest::LockPeek p = locktest::peek_lock(r, o.max_attachers, i);
    return p.mutex_held && p.writer_waiting;
}

/// While r holds a share of lock i: starts a child that attaches and takes lock i
/// exclusively (exiting 0 once it got in), and returns when it holds the mutex and waits for
/// the shares to drain.
pid_t spawn_waiting_writer(mptest::Children& children, Region& r, const Options& o, std::uint32_t i) {
    const pid_t writer = children.spawn([&r, &o, i]() -> int {
        ChildAttach a(r, o);
        LockGuard g = a->lock(i);
        CHILD_CHECK(g.owns_lock(), 20);
        return 0;
    });
    BOOST_REQUIRE_MESSAGE(locktest::wait_until([&] { return writer_waits(r, o, i); }),
                          "the writer never came to wait for the share");
    return writer;
}

}  // namespace locktable

using namespace locktable;

// ---- limits ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(more_locks_than_max_locks_limit_is_invalid_options) {
    test::TempHome home;
    for (std::uint32_t n : {max_locks_limit + 1, 100000u, UINT32_MAX}) {
        BOOST_TEST_CONTEXT("locks " << n) {
            const Options o = table_options(home, Backing::file, n);
            auto e = unit::expect_attach_fails(o, code(errc::invalid_options), {"locks"});
            if (e) {
                BOOST_TEST(locktest::mentions_number(e->what(), o, n), e->what());
                BOOST_TEST(locktest::mentions_number(e->what(), o, max_locks_limit), e->what());
            }
            BOOST_TEST(!fs::exists(region_file(home, o.name)), "a refused attach left the region's file");
        }
    }
    BOOST_TEST(list(home).empty());
}

BOOST_DATA_TEST_CASE(every_allowed_table_size_works_on_every_backing,
                     test::backing_data(BackingSet::all) * bdata::make({0u, 1u, 5u, max_locks_limit}), backing_name,
                     locks) {
    test::TempHome home;
    const Options o = table_options(home, test::backing_named(backing_name), locks);
    Region r = Region::attach(o);
    BOOST_TEST(r.created());
    BOOST_TEST(r.lock_count() == locks);
    BOOST_TEST(r.size() >= o.size);
    for (std::uint32_t i : {0u, locks / 2, locks - 1}) {
        if (i >= locks) continue;  // locks == 0 (locks - 1 wraps)
        BOOST_TEST_CONTEXT("lock " << i) {
            {
                LockGuard g = r.lock(i);
                BOOST_TEST(g.owns_lock());
                BOOST_TEST(!g.owner_died());
            }
            {
                SharedLockGuard a = r.lock_shared(i);
                SharedLockGuard b = r.try_lock_shared(i);
                BOOST_TEST(a.owns_lock());
                BOOST_TEST(b.owns_lock());
                BOOST_TEST(!a.owner_died());
            }
            LockGuard t = r.try_lock(i);
            BOOST_TEST(t.owns_lock());
        }
    }
    // The region lock has nothing to do with the table.
    LockGuard g = r.lock();
    BOOST_TEST(g.owns_lock());
    BOOST_TEST(!g.owner_died());
    if (locks > 0) BOOST_TEST(r.try_lock(0).owns_lock());
    g.unlock();
    r.detach();
    BOOST_TEST(r.lock_count() == 0u);
}

// A joiner gets the creator's table, whatever its own Options::locks says.
BOOST_DATA_TEST_CASE(a_joiner_gets_the_creators_lock_count, test::backing_data(BackingSet::named), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 8);
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.lock_count() == 8u);
    for (std::uint32_t asked : {32u, 0u, 1u, max_locks_limit}) {
        BOOST_TEST_CONTEXT("the joiner asks for " << asked) {
            Options j = o;
            j.locks = asked;
            j.mode = asked % 2 == 0 ? OpenMode::join_only : OpenMode::create_or_join;
            Region joined = Region::attach(j);
            BOOST_TEST(!joined.created());
            BOOST_TEST(joined.lock_count() == 8u);
            BOOST_TEST(joined.try_lock(7).owns_lock());
            std::error_code ec;
            LockGuard g = joined.lock(8, ec);
            BOOST_TEST((ec == std::errc::invalid_argument));
            BOOST_TEST(!g.owns_lock());
            // Another process asking for more sees the same 8 (and the same locks).
            LockGuard held = r.lock(7);
            const pid_t child = children.spawn([&]() -> int {
                Options k = o;
                k.locks = asked == 0 ? 64 : asked;
                Region c = Region::attach(k);
                CHILD_CHECK(!c.created(), 10);
                CHILD_CHECK(c.lock_count() == 8u, 11);
                CHILD_CHECK(!c.try_lock(7).owns_lock(), 12);  // the parent holds it: the same lock
                CHILD_CHECK(c.try_lock(6).owns_lock(), 13);
                std::error_code e2;
                (void)c.try_lock_shared(8, e2);
                CHILD_CHECK(e2 == std::errc::invalid_argument, 14);
                return 0;
            });
            BOOST_TEST(children.wait(child) == 0);
        }
    }
}

// ---- index out of range ------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(an_index_out_of_range_is_invalid_argument_naming_index_and_size, bdata::make({0u, 37u}),
                     locks) {
    test::TempHome home;
    const Options o = table_options(home, Backing::file, locks);
    Region r = Region::attach(o);
    for (std::uint32_t index : {locks, locks + 1, 4000u, UINT32_MAX}) {
        for (const Op& op : all_ops()) {
            BOOST_TEST_CONTEXT(op.name << "(" << index << ") of a table of " << locks) {
                auto e = expect_error([&] { (void)op.call(r, index); }, code(std::errc::invalid_argument), {});
                if (e) {
                    BOOST_TEST(locktest::mentions_number(e->what(), o, index), "what(): " << e->what());
                    BOOST_TEST(locktest::mentions_number(e->what(), o, locks), "what(): " << e->what());
                }
                bool owned = true;
                expect_ec([&](std::error_code& ec) { owned = op.call_ec(r, index, ec); },
                          code(std::errc::invalid_argument));
                BOOST_TEST(!owned);
                const std::string msg = last_error_message();
                BOOST_TEST(locktest::mentions_number(msg, o, index), "last_error_message(): " << msg);
                BOOST_TEST(locktest::mentions_number(msg, o, locks), "last_error_message(): " << msg);
                if (e) BOOST_TEST(msg == std::string(e->what()));
            }
        }
    }
    // The refusals left every lock usable.
    for (std::uint32_t i = 0; i < locks; ++i) BOOST_TEST(r.try_lock(i).owns_lock());
    BOOST_TEST(r.lock().owns_lock());
}

// ---- try and timed forms ---------------------------------------------------------------------

// A child holds lock 1 exclusively, then shared, then the region lock: the try forms come
// back (with an empty guard, no error) instead of waiting. (Were one to wait, it would get
// the lock once the child lets go after 30 s, and owns_lock() would say so.)
BOOST_DATA_TEST_CASE(try_forms_never_block, test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 3);
    Region r = Region::attach(o);

    {  // exclusive holder
        test::Signal held, release;
        const pid_t child = spawn_holder(children, r, o, 1, Hold::exclusive, held, release);
        BOOST_REQUIRE(held.wait());
        BOOST_TEST(!r.try_lock(1).owns_lock());
        BOOST_TEST(!r.try_lock_shared(1).owns_lock());
        BOOST_TEST(!r.try_lock_for(1, 0ns).owns_lock());
        BOOST_TEST(!r.try_lock_shared_for(1, -5ms).owns_lock());
        std::error_code ec = make_error_code(std::errc::interrupted);
        BOOST_TEST(!r.try_lock(1, ec).owns_lock());
        BOOST_TEST(!ec, "a busy try is no error: " << ec.message());
        ec = make_error_code(std::errc::interrupted);
        BOOST_TEST(!r.try_lock_shared(1, ec).owns_lock());
        BOOST_TEST(!ec, "a busy try is no error: " << ec.message());
        // The other locks are free.
        BOOST_TEST(r.try_lock(0).owns_lock());
        BOOST_TEST(r.try_lock_shared(2).owns_lock());
        BOOST_TEST(r.try_lock_for(2, 0ns).owns_lock());
        release.notify();
        BOOST_TEST(children.wait(child) == 0);
        LockGuard g = r.try_lock(1);
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(!g.owner_died());
    }
    {  // shared holder: shares are granted, the exclusive try is refused
        test::Signal held, release;
        const pid_t child = spawn_holder(children, r, o, 1, Hold::shared, held, release);
        BOOST_REQUIRE(held.wait());
        BOOST_TEST(!r.try_lock(1).owns_lock());
        BOOST_TEST(!r.try_lock_for(1, 0ns).owns_lock());
        std::error_code ec = make_error_code(std::errc::interrupted);
        BOOST_TEST(!r.try_lock(1, ec).owns_lock());
        BOOST_TEST(!ec);
        {
            SharedLockGuard s = r.try_lock_shared(1);
            BOOST_TEST(s.owns_lock());
        }
        // A failed exclusive try leaves no writer waiting: a share is still granted at once.
        BOOST_TEST(!writer_waits(r, o, 1));
        BOOST_TEST(r.try_lock_shared(1).owns_lock());
        release.notify();
        BOOST_TEST(children.wait(child) == 0);
        BOOST_TEST(r.try_lock(1).owns_lock());
    }
    {  // the region lock held: the table locks are unaffected
        test::Signal held, release;
        const pid_t child = spawn_holder(children, r, o, 0, Hold::region, held, release);
        BOOST_REQUIRE(held.wait());
        BOOST_TEST(!r.try_lock_for(0ns).owns_lock());
        BOOST_TEST(r.try_lock(0).owns_lock());
        BOOST_TEST(r.try_lock_shared(0).owns_lock());
        release.notify();
        BOOST_TEST(children.wait(child) == 0);
    }
}

// The timed forms give up after (about) their timeout when the lock stays busy, and succeed
// when it is released in time. Loose bounds only: at least the timeout (less a little), and
// not absurdly later (timeout + 5 s).
BOOST_DATA_TEST_CASE(timed_forms_give_up_after_about_their_timeout, test::backing_data(BackingSet::cross_process),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 2);
    Region r = Region::attach(o);
    constexpr auto timeout = 300ms;
    auto check_timed_out = [&](const char* what, const std::function<bool()>& call) {
        const auto t0 = Clock::now();
        const bool owned = call();
        const long long ms = ms_since(t0);
        BOOST_TEST(!owned, what << " got a lock that another process holds");
        BOOST_TEST(ms >= 280, what << " gave up after " << ms << " ms, before its 300 ms timeout");
        BOOST_TEST(ms < 5300, what << " took " << ms << " ms for a 300 ms timeout");
    };

    {
        test::Signal held, release;
        const pid_t child = spawn_holder(children, r, o, 0, Hold::exclusive, held, release);
        BOOST_REQUIRE(held.wait());
        check_timed_out("try_lock_for (exclusive holder)", [&] { return r.try_lock_for(0, timeout).owns_lock(); });
        check_timed_out("try_lock_shared_for (exclusive holder)",
                        [&] { return r.try_lock_shared_for(0, timeout).owns_lock(); });
        check_timed_out("try_lock_for, error_code form", [&] {
            std::error_code ec = make_error_code(std::errc::interrupted);
            const bool owned = r.try_lock_for(0, timeout, ec).owns_lock();
            BOOST_TEST(!ec, "a timeout is no error: " << ec.message());
            return owned;
        });
        check_timed_out("try_lock_shared_for, error_code form", [&] {
            std::error_code ec = make_error_code(std::errc::interrupted);
            const bool owned = r.try_lock_shared_for(0, timeout, ec).owns_lock();
            BOOST_TEST(!ec, "a timeout is no error: " << ec.message());
            return owned;
        });
        release.notify();
        BOOST_TEST(children.wait(child) == 0);
    }
    {
        test::Signal held, release;
        const pid_t child = spawn_holder(children, r, o, 0, Hold::shared, held, release);
        BOOST_REQUIRE(held.wait());
        // A writer that gives up while waiting for the share to drain lets the mutex go and
        // stops holding readers off.
        check_timed_out("try_lock_for (shared holder)", [&] { return r.try_lock_for(0, timeout).owns_lock(); });
        BOOST_TEST(!writer_waits(r, o, 0));
        BOOST_TEST(r.try_lock_shared(0).owns_lock());
        BOOST_TEST(r.try_lock_shared_for(0, timeout).owns_lock());
        release.notify();
        BOOST_TEST(children.wait(child) == 0);
    }
    {
        test::Signal held, release;
        const pid_t child = spawn_holder(children, r, o, 0, Hold::region, held, release);
        BOOST_REQUIRE(held.wait());
        check_timed_out("try_lock_for (region lock)", [&] { return r.try_lock_for(timeout).owns_lock(); });
        release.notify();
        BOOST_TEST(children.wait(child) == 0);
    }
    // Released in time: the timed forms get it.
    for (Hold how : {Hold::exclusive, Hold::shared}) {
        for (bool want_exclusive : {true, false}) {
            if (how == Hold::shared && !want_exclusive) continue;  // no wait at all
            BOOST_TEST_CONTEXT((how == Hold::exclusive ? "exclusive" : "shared")
                               << " holder releasing after 200 ms; waiting " << (want_exclusive ? "exclusive" : "shared")) {
                test::Signal held, release;
                const pid_t child = spawn_holder(children, r, o, 1, how, held, release);
                BOOST_REQUIRE(held.wait());
                const pid_t releaser = children.spawn([&]() -> int {
                    locktest::sleep_for(200ms);
                    release.notify();
                    return 0;
                });
                const auto t0 = Clock::now();
                bool owned = false;
                if (want_exclusive) {
                    LockGuard g = r.try_lock_for(1, 20s);
                    owned = g.owns_lock();
                    BOOST_TEST(!g.owner_died());
                } else {
                    SharedLockGuard g = r.try_lock_shared_for(1, 20s);
                    owned = g.owns_lock();
                    BOOST_TEST(!g.owner_died());
                }
                BOOST_TEST(owned);
                BOOST_TEST(ms_since(t0) < 20000);
                BOOST_TEST(children.wait(releaser) == 0);
                BOOST_TEST(children.wait(child) == 0);
            }
        }
    }
}

// ---- recursion -------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(recursion_rules, test::backing_data(BackingSet::all), backing_name) {
    test::TempHome home;
    const Backing b = test::backing_named(backing_name);
    const Options o = table_options(home, b, 3);
    Region r = Region::attach(o);
    const auto deadlock = code(std::errc::resource_deadlock_would_occur);

    // Shares of one lock held by one attach: any number; exclusive is refused by every form.
    {
        SharedLockGuard s1 = r.lock_shared(0);
        SharedLockGuard s2 = r.lock_shared(0);
        SharedLockGuard s3 = r.try_lock_shared(0);
        SharedLockGuard s4 = r.try_lock_shared_for(0, 10ms);
        BOOST_TEST((s1.owns_lock() && s2.owns_lock() && s3.owns_lock() && s4.owns_lock()));
        expect_error([&] { LockGuard g = r.lock(0); }, deadlock, {});
        expect_error([&] { LockGuard g = r.try_lock(0); }, deadlock, {});
        expect_error([&] { LockGuard g = r.try_lock_for(0, 10ms); }, deadlock, {});
        expect_ec([&](std::error_code& ec) { BOOST_TEST(!r.lock(0, ec).owns_lock()); }, deadlock);
        expect_ec([&](std::error_code& ec) { BOOST_TEST(!r.try_lock(0, ec).owns_lock()); }, deadlock);
        expect_ec([&](std::error_code& ec) { BOOST_TEST(!r.try_lock_for(0, 10ms, ec).owns_lock()); }, deadlock);
        // Still refused with one share left; the refusals released none.
        s1.unlock();
        s2.unlock();
        s3.unlock();
        expect_error([&] { LockGuard g = r.lock(0); }, deadlock, {});
        BOOST_TEST(s4.owns_lock());
        // Other locks are not affected.
        BOOST_TEST(r.lock(1).owns_lock());
    }
    {
        LockGuard g = r.lock(0);  // the last share went: exclusive now works
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(!g.owner_died());
        // Exclusive twice on one thread, and shared while this thread holds it exclusive.
        for (const Op& op : all_ops()) {
            BOOST_TEST_CONTEXT(op.name << " while this thread holds the lock exclusively") {
                expect_error([&] { (void)op.call(r, 0); }, deadlock, {});
                expect_ec([&](std::error_code& ec) { BOOST_TEST(!op.call_ec(r, 0, ec)); }, deadlock);
            }
        }
        // Through another attach of the same region on the same thread, too.
        if (test::traits(b).named || b == Backing::heap) {
            Options j = o;
            j.mode = OpenMode::join_only;
            Region other = Region::attach(j);
            for (const Op& op : all_ops()) {
                BOOST_TEST_CONTEXT(op.name << " of another attach while this thread holds the lock exclusively") {
                    expect_error([&] { (void)op.call(other, 0); }, deadlock, {});
                    expect_ec([&](std::error_code& ec) { BOOST_TEST(!op.call_ec(other, 0, ec)); }, deadlock);
                }
            }
        }
        BOOST_TEST(g.owns_lock(), "a refused request released the lock");
    }
    // The refusals left the lock usable.
    BOOST_TEST(r.try_lock(0).owns_lock());
    BOOST_TEST(r.try_lock_shared(0).owns_lock());
}

// A writer in another process waits for this attach's share: a share more for this attach
// comes at once (a writer waiting holds off new readers, not holders), a share for another
// attach does not.
BOOST_DATA_TEST_CASE(a_share_more_is_granted_while_a_writer_waits, test::backing_data(BackingSet::cross_process),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Backing b = test::backing_named(backing_name);
    const Options o = table_options(home, b, 2);
    Region r = Region::attach(o);
    SharedLockGuard first = r.lock_shared(1);

    test::Signal got;
    const pid_t writer = children.spawn([&]() -> int {
        ChildAttach a(r, o);
        LockGuard g = a->lock(1);
        CHILD_CHECK(g.owns_lock(), 10);
        CHILD_CHECK(!g.owner_died(), 11);
        got.notify();
        return 0;
    });
    BOOST_REQUIRE_MESSAGE(locktest::wait_until([&] { return writer_waits(r, o, 1); }),
                          "the writer never came to wait for the share");
    {
        SharedLockGuard more = r.lock_shared(1);
        BOOST_TEST(more.owns_lock());
        SharedLockGuard try_more = r.try_lock_shared(1);
        BOOST_TEST(try_more.owns_lock());
        SharedLockGuard timed_more = r.try_lock_shared_for(1, 1ms);
        BOOST_TEST(timed_more.owns_lock());
        if (test::traits(b).named) {
            // Another attach is a new reader: held off while the writer waits.
            Options j = o;
            j.mode = OpenMode::join_only;
            Region other = Region::attach(j);
            BOOST_TEST(!other.try_lock_shared(1).owns_lock());
            BOOST_TEST(!other.try_lock_shared_for(1, 50ms).owns_lock());
            BOOST_TEST(other.try_lock_shared(0).owns_lock());  // lock 0 has nothing to do with it
        }
        BOOST_TEST(!got.wait(0), "the writer got in while shares were held");
    }
    BOOST_TEST(!got.wait(50), "the writer got in while a share was held");
    first.unlock();
    BOOST_TEST(got.wait(), "the writer did not get in once the last share went");
    BOOST_TEST(children.wait(writer) == 0);
    LockGuard g = r.try_lock(1);
    BOOST_TEST(g.owns_lock());
    BOOST_TEST(!g.owner_died());
}

// ---- owner_died() and mark_consistent() --------------------------------------------------------

// A child takes lock 2 exclusively, writes a byte and is SIGKILLed. Every acquisition after
// that (shared, exclusive, try forms, in this process and another) says owner_died() until
// a holder calls mark_consistent(); then nobody is told. The other locks and the region lock
// are never told.
BOOST_DATA_TEST_CASE(an_exclusive_holder_killed_gives_owner_died_until_marked_consistent,
                     test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 4);
    Region r = Region::attach(o);
    bytes_of(r)[2] = 'c';

    auto kill_holder_of = [&](std::uint32_t index, char byte) {
        test::Signal held;
        const pid_t holder = children.spawn([&]() -> int {
            ChildAttach a(r, o);
            LockGuard g = a->lock(index);
            CHILD_CHECK(g.owns_lock(), 10);
            bytes_of(*a)[index] = static_cast<unsigned char>(byte);
            held.notify();
            for (;;) ::pause();
        });
        BOOST_REQUIRE(held.wait());
        BOOST_REQUIRE(::kill(holder, SIGKILL) == 0);
        BOOST_TEST(children.wait(holder) == -SIGKILL);
    };
    kill_holder_of(2, 'h');

    // Shared acquisitions report it, and so does every later one while nobody marks it.
    for (int n = 0; n < 2; ++n) {
        SharedLockGuard s = r.lock_shared(2);
        BOOST_TEST(s.owns_lock());
        BOOST_TEST(s.owner_died(), "shared acquisition " << n << " after the death did not report it");
        BOOST_TEST(bytes_of(r)[2] == 'h');
    }
    {
        SharedLockGuard s = r.try_lock_shared(2);
        BOOST_TEST(s.owner_died());
        SharedLockGuard t = r.try_lock_shared_for(2, 1s);
        BOOST_TEST(t.owner_died());
    }
    // Another process is told too (shared and exclusive), and does not mark it.
    const pid_t other = children.spawn([&]() -> int {
        ChildAttach a(r, o);
        {
            SharedLockGuard s = a->lock_shared(2);
            CHILD_CHECK(s.owner_died(), 10);
        }
        {
            LockGuard g = a->lock(2);
            CHILD_CHECK(g.owner_died(), 11);
        }
        {
            LockGuard g = a->lock(1);
            CHILD_CHECK(!g.owner_died(), 12);
        }
        a.detach();
        return 0;
    });
    BOOST_TEST(children.wait(other) == 0);
    // Exclusive acquisitions report it too, by every form, until one marks it consistent.
    {
        LockGuard g = r.try_lock(2);
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(g.owner_died());
    }
    {
        LockGuard g = r.try_lock_for(2, 1s);
        BOOST_TEST(g.owner_died());
    }
    {
        LockGuard g = r.lock(2);
        BOOST_TEST(g.owner_died(), "owner_died() was forgotten before anybody marked the lock consistent");
        BOOST_TEST(bytes_of(r)[2] == 'h');
        bytes_of(r)[2] = 'r';  // the repair
        g.mark_consistent();
        BOOST_TEST(!g.owner_died());
        BOOST_TEST(g.owns_lock());
    }
    {
        SharedLockGuard s = r.lock_shared(2);
        BOOST_TEST(!s.owner_died(), "owner_died() was reported after mark_consistent()");
    }
    {
        LockGuard g = r.lock(2);
        BOOST_TEST(!g.owner_died(), "owner_died() was reported after mark_consistent()");
    }
    const pid_t after = children.spawn([&]() -> int {
        ChildAttach a(r, o);
        CHILD_CHECK(!a->lock_shared(2).owner_died(), 10);
        CHILD_CHECK(!a->lock(2).owner_died(), 11);
        a.detach();
        return 0;
    });
    BOOST_TEST(children.wait(after) == 0);
    // Neither the other locks nor the region lock were ever told.
    for (std::uint32_t i : {0u, 1u, 3u}) {
        BOOST_TEST(!r.lock(i).owner_died(), "lock " << i);
        BOOST_TEST(!r.lock_shared(i).owner_died(), "lock " << i);
    }
    BOOST_TEST(!r.lock().owner_died());

    // A shared holder may mark it consistent too (it checked the data and found it good).
    kill_holder_of(3, 'k');
    {
        SharedLockGuard s = r.lock_shared(3);
        BOOST_TEST(s.owner_died());
        SharedLockGuard s2 = r.lock_shared(3);
        BOOST_TEST(s2.owner_died());
        s.mark_consistent();
        BOOST_TEST(!s.owner_died());
        BOOST_TEST(s.owns_lock());
        SharedLockGuard s3 = r.lock_shared(3);
        BOOST_TEST(!s3.owner_died(), "a share taken after mark_consistent() reported the death");
    }
    BOOST_TEST(!r.lock(3).owner_died());

    // A holder killed twice in a row without a repair in between: still reported, once marked gone.
    kill_holder_of(0, 'x');
    {
        LockGuard g = r.lock(0);
        BOOST_TEST(g.owner_died());
    }
    kill_holder_of(0, 'y');
    {
        LockGuard g = r.lock(0);
        BOOST_TEST(g.owner_died());
        BOOST_TEST(bytes_of(r)[0] == 'y');
        g.mark_consistent();
    }
    BOOST_TEST(!r.lock_shared(0).owner_died());

    // mark_consistent() on an empty guard does nothing.
    LockGuard empty;
    empty.mark_consistent();
    SharedLockGuard empty_shared;
    empty_shared.mark_consistent();
    BOOST_TEST(!empty.owns_lock());
    (void)r.reap_dead_attachers();  // the holders killed since the last attach or detach
    BOOST_TEST(r.reap_dead_attachers() == 0u);
}

// A writer killed while it waits for shares to drain (it holds the lock's mutex but never
// got in) wrote nothing: nobody is told owner_died(), and the lock works on.
BOOST_DATA_TEST_CASE(a_writer_killed_while_waiting_for_readers_is_no_owner_death,
                     test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 2);
    Region r = Region::attach(o);
    SharedLockGuard share = r.lock_shared(0);
    const pid_t writer = spawn_waiting_writer(children, r, o, 0);  // never gets in: killed
    BOOST_REQUIRE(::kill(writer, SIGKILL) == 0);
    BOOST_TEST(children.wait(writer) == -SIGKILL);
    // The share is still good; another share comes (the dead writer holds nobody off).
    {
        SharedLockGuard more = r.try_lock_shared_for(0, 10s);
        BOOST_TEST(more.owns_lock());
        BOOST_TEST(!more.owner_died(), "a writer that never got in was reported as an owner death");
    }
    share.unlock();
    const pid_t next = children.spawn([&]() -> int {
        ChildAttach a(r, o);
        SharedLockGuard s = a->try_lock_shared_for(0, 10s);
        CHILD_CHECK(s.owns_lock(), 10);
        CHILD_CHECK(!s.owner_died(), 11);
        s.unlock();
        LockGuard g = a->try_lock_for(0, 10s);
        CHILD_CHECK(g.owns_lock(), 12);
        CHILD_CHECK(!g.owner_died(), 13);
        g.unlock();
        a.detach();
        return 0;
    });
    BOOST_TEST(children.wait(next) == 0);
    LockGuard g = r.try_lock_for(0, 10s);
    BOOST_TEST(g.owns_lock());
    BOOST_TEST(!g.owner_died());
}

// An upgrade is refused at once even while another process's writer holds the mutex and
// waits for this attach's share (the uncontended attempt's trylock then says EBUSY): waiting
// would deadlock with that writer. The refusal leaves the share held and the writer waiting;
// releasing the share lets the writer in.
BOOST_DATA_TEST_CASE(an_upgrade_is_refused_while_a_writer_waits_for_our_share,
                     test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 1);
    Region r = Region::attach(o);
    SharedLockGuard share = r.lock_shared(0);
    const pid_t writer = spawn_waiting_writer(children, r, o, 0);
    const auto deadlock = code(std::errc::resource_deadlock_would_occur);
    expect_error([&] { LockGuard g = r.lock(0); }, deadlock, {});
    expect_error([&] { LockGuard g = r.try_lock(0); }, deadlock, {});
    expect_ec([&](std::error_code& ec) { BOOST_TEST(!r.lock(0, ec).owns_lock()); }, deadlock);
    BOOST_TEST(share.owns_lock());
    BOOST_TEST(writer_waits(r, o, 0));
    share.unlock();
    BOOST_TEST(children.wait(writer) == 0);
}

// The same death leaves no trace in the lock word once the next writer came and went: no
// "writer waiting" flag without a writer (it would make every release of the last share
// wake nobody through a system call, and inspect() report a writer that is not there).
BOOST_DATA_TEST_CASE(a_writer_killed_while_waiting_leaves_no_writer_waiting_flag,
                     test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 1);
    Region r = Region::attach(o);
    SharedLockGuard share = r.lock_shared(0);
    const pid_t writer = spawn_waiting_writer(children, r, o, 0);  // killed while waiting
    BOOST_REQUIRE(::kill(writer, SIGKILL) == 0);
    BOOST_TEST(children.wait(writer) == -SIGKILL);
    share.unlock();
    {
        LockGuard g = r.try_lock_for(0, 10s);  // finds no share: never waits
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(!g.owner_died());
    }
    {
        SharedLockGuard s = r.lock_shared(0);
        BOOST_TEST(s.owns_lock());
    }
    const locktest::LockPeek p = locktest::peek_lock(r, o.max_attachers, 0);
    BOOST_TEST(!p.mutex_held);
    BOOST_TEST(p.shares == 0u);
    BOOST_TEST(!p.writer_waiting, "the dead writer's 'writer waiting' flag is still set, with no writer anywhere");
}

// A shared holder killed holding its share blocks nobody: a writer already waiting gets in,
// a later writer (blocking, try or timed) gets in, and nobody is told owner_died().
BOOST_DATA_TEST_CASE(a_shared_holder_killed_is_released_by_the_library, test::backing_data(BackingSet::cross_process),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 3);
    Region r = Region::attach(o);

    auto spawn_reader = [&](std::uint32_t index, unsigned shares) {
        test::Signal held;
        const pid_t p = children.spawn([&, index, shares]() -> int {
            ChildAttach a(r, o);
            std::vector<SharedLockGuard> g;
            for (unsigned k = 0; k < shares; ++k) g.push_back(a->lock_shared(index));
            held.notify();
            for (;;) ::pause();
        });
        BOOST_REQUIRE(held.wait());
        return p;
    };

    // 1. A writer (a child) already waits in lock(0) when the reader is killed.
    {
        const pid_t reader = spawn_reader(0, 1);
        test::Signal got;
        const pid_t writer = children.spawn([&]() -> int {
            ChildAttach a(r, o);
            LockGuard g = a->lock(0);
            CHILD_CHECK(!g.owner_died(), 10);
            got.notify();
            return 0;
        });
        BOOST_REQUIRE(locktest::wait_until([&] { return writer_waits(r, o, 0); }));
        BOOST_TEST(!got.wait(20), "the writer got in while the reader lived");
        const auto t0 = Clock::now();
        BOOST_REQUIRE(::kill(reader, SIGKILL) == 0);
        BOOST_TEST(children.wait(reader) == -SIGKILL);
        BOOST_TEST(got.wait(20000), "the waiting writer never got in after the reader's death");
        BOOST_TEST_MESSAGE("the waiting writer got in " << ms_since(t0) << " ms after the reader was killed");
        BOOST_TEST(children.wait(writer) == 0);
    }
    // 2. A writer arriving after the death of a reader holding three shares: blocking.
    {
        const pid_t reader = spawn_reader(1, 3);
        BOOST_TEST(!r.try_lock(1).owns_lock());
        BOOST_REQUIRE(::kill(reader, SIGKILL) == 0);
        BOOST_TEST(children.wait(reader) == -SIGKILL);
        const auto t0 = Clock::now();
        LockGuard g = r.try_lock_for(1, 20s);  // bounded; it should come within milliseconds
        BOOST_TEST(g.owns_lock(), "the writer never got in after the reader's death");
        BOOST_TEST(!g.owner_died(), "a shared holder's death was reported as an owner death");
        BOOST_TEST_MESSAGE("the writer got in " << ms_since(t0) << " ms after the reader's death");
    }
    // 3. try_lock() looks for dead holders too (at most once per 10 ms per lock): a loop of
    //    tries gets in.
    {
        const pid_t reader = spawn_reader(2, 1);
        BOOST_TEST(!r.try_lock(2).owns_lock());
        BOOST_REQUIRE(::kill(reader, SIGKILL) == 0);
        BOOST_TEST(children.wait(reader) == -SIGKILL);
        LockGuard g;
        const bool got = locktest::wait_until([&] { return (g = r.try_lock(2)).owns_lock(); }, 20s);
        BOOST_TEST(got, "try_lock() never got in after the reader's death");
        BOOST_TEST(!g.owner_died());
    }
    // 4. A dead reader and a live one: the writer still waits for the live share (a timed
    //    writer gives up), and gets in once it goes.
    {
        const pid_t dead = spawn_reader(2, 2);
        test::Signal held, release;
        const pid_t live = spawn_holder(children, r, o, 2, Hold::shared, held, release);
        BOOST_REQUIRE(held.wait());
        BOOST_REQUIRE(::kill(dead, SIGKILL) == 0);
        BOOST_TEST(children.wait(dead) == -SIGKILL);
        BOOST_TEST(!r.try_lock_for(2, 100ms).owns_lock(), "the writer got in past a live share");
        release.notify();
        BOOST_TEST(children.wait(live) == 0);
        LockGuard g = r.try_lock_for(2, 20s);
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(!g.owner_died());
    }
    // Nobody was told of a death, and the dead readers' slots go.
    BOOST_TEST(!r.lock_shared(0).owner_died());
    (void)r.reap_dead_attachers();
    BOOST_TEST(r.reap_dead_attachers() == 0u);
}

// A reader that died but is not reaped yet (a zombie: its parent has not waited for it) is
// dead all the same: a writer gets in, and alive() says so. (The parent is often the writer:
// blocked in lock(i), it could never reap the child it waits for.)
BOOST_DATA_TEST_CASE(a_dead_reader_not_yet_reaped_is_released, test::backing_data(BackingSet::cross_process),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, test::backing_named(backing_name), 1);
    Region r = Region::attach(o);
    test::SharedMemory mem(sizeof(AttacherIdentity));
    auto* id = mem.as<AttacherIdentity>();
    test::Signal held;
    const pid_t reader = children.spawn([&]() -> int {
        ChildAttach a(r, o);
        *id = a->identity();
        SharedLockGuard s = a->lock_shared(0);
        held.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(held.wait());
    BOOST_TEST(r.alive(*id));
    BOOST_REQUIRE(::kill(reader, SIGKILL) == 0);
    siginfo_t si{};
    BOOST_REQUIRE(::waitid(P_PID, static_cast<id_t>(reader), &si, WEXITED | WNOWAIT) == 0);  // dead, not reaped
    BOOST_TEST(!r.alive(*id), "a dead attacher (a zombie, not reaped yet) is alive()");
    {
        LockGuard g = r.try_lock_for(0, 5s);
        BOOST_TEST(g.owns_lock(), "a writer waited 5 s for the share of a dead reader not reaped yet");
        BOOST_TEST(!g.owner_died());
    }
    BOOST_TEST(children.wait(reader) == -SIGKILL);
    BOOST_TEST(!r.alive(*id));
    LockGuard g = r.try_lock_for(0, 10s);
    BOOST_TEST(g.owns_lock());
}

// ---- growth ------------------------------------------------------------------------------------

// The table lives in the header: grow() while this attach holds table locks (exclusive and
// shared), while another process holds others, and from that process while this one holds
// one; every lock keeps working and every guard keeps its lock.
BOOST_DATA_TEST_CASE(the_table_survives_growth_with_locks_held, test::backing_data(BackingSet::named_growable),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    Options o = table_options(home, test::backing_named(backing_name), 4, 64 * 1024);
    o.max_size = 8 * 1024 * 1024;
    Region r = Region::attach(o);
    mptest::fill_pattern(r.data(), 4096, 7);

    test::Signal held, grown, child_grew;
    const pid_t child = children.spawn([&]() -> int {
        Region a = Region::attach(o);
        LockGuard g3 = a.lock(3);
        SharedLockGuard s2 = a.lock_shared(2);
        CHILD_CHECK(g3.owns_lock() && s2.owns_lock(), 10);
        held.notify();
        CHILD_CHECK(grown.wait(), 11);
        CHILD_CHECK(a.refresh(), 12);
        CHILD_CHECK(a.size() >= 1024 * 1024, 13);
        CHILD_CHECK(g3.owns_lock() && s2.owns_lock(), 14);
        CHILD_CHECK(!a.try_lock(0).owns_lock(), 15);        // the parent holds it
        CHILD_CHECK(a.try_lock_shared(1).owns_lock(), 16);  // the parent holds a share
        CHILD_CHECK(!a.try_lock_shared(0).owns_lock(), 17);
        CHILD_CHECK(mptest::check_pattern(a.data(), 4096, 7), 18);
        g3.unlock();
        s2.unlock();
        // Grow from here while the parent still holds locks 0 and 1, with lock 2 held here.
        LockGuard g2 = a.lock(2);
        a.grow(2 * 1024 * 1024);
        CHILD_CHECK(a.size() >= 2 * 1024 * 1024, 19);
        CHILD_CHECK(g2.owns_lock(), 20);
        g2.unlock();
        child_grew.notify();
        LockGuard g0 = a.try_lock_for(0, 20s);  // comes once the parent lets go
        CHILD_CHECK(g0.owns_lock(), 21);
        CHILD_CHECK(!g0.owner_died(), 22);
        a.detach();
        return 0;
    });
    BOOST_REQUIRE(held.wait());
    LockGuard x = r.lock(0);
    SharedLockGuard s = r.lock_shared(1);
    r.grow(1024 * 1024);
    BOOST_TEST(r.size() >= 1024u * 1024u);
    BOOST_TEST(x.owns_lock());
    BOOST_TEST(s.owns_lock());
    BOOST_TEST(!r.try_lock(3).owns_lock(), "the child's exclusive lock was lost in the growth");
    BOOST_TEST(!r.try_lock(2).owns_lock(), "the child's share was lost in the growth");
    BOOST_TEST(r.try_lock_shared(2).owns_lock());
    grown.notify();
    BOOST_REQUIRE(child_grew.wait());
    BOOST_TEST(r.refresh());
    BOOST_TEST(r.size() >= 2u * 1024u * 1024u);
    {
        LockGuard g3 = r.try_lock_for(3, 10s);
        BOOST_TEST(g3.owns_lock());
        BOOST_TEST(!g3.owner_died());
        LockGuard g2 = r.try_lock_for(2, 10s);
        BOOST_TEST(g2.owns_lock());
        // Grow again holding two table locks and the region lock.
        LockGuard region = r.lock();
        r.grow(3 * 1024 * 1024);
        BOOST_TEST(r.size() >= 3u * 1024u * 1024u);
        BOOST_TEST((region.owns_lock() && g2.owns_lock() && g3.owns_lock()));
    }
    x.unlock();
    s.unlock();
    BOOST_TEST(children.wait(child) == 0);
    // A new attacher after the growths finds the same table.
    Options j = o;
    j.mode = OpenMode::join_only;
    j.locks = 0;
    Region late = Region::attach(j);
    BOOST_TEST(late.lock_count() == 4u);
    BOOST_TEST(late.size() >= 3u * 1024u * 1024u);
    SharedLockGuard mine = r.lock_shared(3);
    BOOST_TEST(!late.try_lock(3).owns_lock());
    BOOST_TEST(late.try_lock_shared(3).owns_lock());
    mine.unlock();
    LockGuard g = late.try_lock(3);
    BOOST_TEST(g.owns_lock());
    BOOST_TEST(!g.owner_died());
    BOOST_TEST(mptest::check_pattern(late.data(), 4096, 7));
}

// ---- identity and liveness -------------------------------------------------------------------

BOOST_DATA_TEST_CASE(identity_and_alive, test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Backing b = test::backing_named(backing_name);
    const Options o = table_options(home, b, 1);
    Region r = Region::attach(o);
    const AttacherIdentity me = r.identity();
    BOOST_TEST(me.slot == r.slot());
    BOOST_TEST(me.generation != 0u);
    BOOST_TEST(r.identity() == me);
    BOOST_TEST(r.alive(me));
    BOOST_TEST(!r.alive(AttacherIdentity{me.slot, me.generation + 1}), "a later generation of this slot is alive");
    BOOST_TEST(!r.alive(AttacherIdentity{me.slot, 0}));
    BOOST_TEST(!r.alive(AttacherIdentity{o.max_attachers, me.generation}), "a slot out of range");
    BOOST_TEST(!r.alive(AttacherIdentity{UINT32_MAX, 1}));
    for (std::uint32_t s = 0; s < o.max_attachers; ++s)
        if (s != me.slot) BOOST_TEST(!r.alive(AttacherIdentity{s, 1}), "free slot " << s << " is alive");
    Region empty;
    BOOST_TEST((empty.identity() == AttacherIdentity{}));
    BOOST_TEST(!empty.alive(me));

    test::SharedMemory mem(2 * sizeof(AttacherIdentity));
    auto* ids = mem.as<AttacherIdentity>();
    // A child: alive while it lives, not once it is dead (at once: its liveness is gone).
    auto spawn_attacher = [&](AttacherIdentity* out, bool detach_when_told, test::Signal& ready, test::Signal& go) {
        return children.spawn([&, out, detach_when_told]() -> int {
            ChildAttach a(r, o);
            *out = a->identity();
            CHILD_CHECK(out->generation != 0u, 10);
            CHILD_CHECK(out->slot == a->slot(), 11);
            CHILD_CHECK(a->alive(*out), 12);
            CHILD_CHECK(a->alive(me), 13);  // the parent, seen from here
            ready.notify();
            CHILD_CHECK(go.wait(30000), 14);
            if (!detach_when_told) for (;;) ::pause();
            a.detach();
            ready.notify();
            CHILD_CHECK(go.wait(30000), 15);
            return 0;
        });
    };
    {
        test::Signal ready, go;
        const pid_t child = spawn_attacher(&ids[0], false, ready, go);
        BOOST_REQUIRE(ready.wait());
        const AttacherIdentity id = ids[0];
        BOOST_TEST(id.slot != me.slot);
        BOOST_TEST(r.alive(id));
        BOOST_REQUIRE(::kill(child, SIGKILL) == 0);
        BOOST_TEST(children.wait(child) == -SIGKILL);
        BOOST_TEST(!r.alive(id), "a killed attacher is alive");
        BOOST_TEST(r.alive(me));
        (void)r.reap_dead_attachers();
        BOOST_TEST(!r.alive(id));

        // The next attacher may take the slot again: then with another generation.
        test::Signal ready2, go2;
        const pid_t next = spawn_attacher(&ids[1], true, ready2, go2);
        BOOST_REQUIRE(ready2.wait());
        const AttacherIdentity id2 = ids[1];
        if (id2.slot == id.slot) BOOST_TEST(id2.generation != id.generation, "a reused slot kept its generation");
        BOOST_TEST(!(id2 == id));
        BOOST_TEST(r.alive(id2));
        BOOST_TEST(!r.alive(id), "the dead attacher is alive again in its reused slot");
        go2.notify();
        BOOST_REQUIRE(ready2.wait());  // it detached, and lives on
        BOOST_TEST(!r.alive(id2), "an attacher that detached is alive");
        go2.notify();
        BOOST_TEST(children.wait(next) == 0);
    }
    // In this process: a detached attach is not alive, a new one in its slot has a new generation.
    if (test::traits(b).named) {
        Region s = Region::attach(o);
        const AttacherIdentity sid = s.identity();
        BOOST_TEST(r.alive(sid));
        BOOST_TEST(s.alive(me));
        s.detach();
        BOOST_TEST((s.identity() == AttacherIdentity{}));
        BOOST_TEST(!s.alive(me), "a detached Region answers alive()");
        BOOST_TEST(!r.alive(sid));
        Region s2 = Region::attach(o);
        if (s2.identity().slot == sid.slot) BOOST_TEST(s2.identity().generation != sid.generation);
        BOOST_TEST(r.alive(s2.identity()));
        BOOST_TEST(!r.alive(sid));
    }
    BOOST_TEST(r.alive(me));
}

// ---- detach releases ---------------------------------------------------------------------------

// An attach holding table locks (exclusive, shared, several shares) leaves: by detach(), by
// its destructor, by being assigned over. Its guards are emptied, and another process takes
// every lock at once (while the leaver still lives, so it was the detach that released).
BOOST_DATA_TEST_CASE(detach_releases_every_lock_the_attach_holds,
                     test::backing_data(BackingSet::cross_process) * bdata::make({"detach", "destructor", "assignment"}),
                     backing_name, how_name) {
    mptest::Home home;
    mptest::Children children;
    const Backing b = test::backing_named(backing_name);
    const Options o = table_options(home, b, 4);
    Region r = Region::attach(o);
    const std::string how = how_name;

    test::Signal left, checked;
    const pid_t child = children.spawn([&]() -> int {
        LockGuard g0, region;
        SharedLockGuard s1, s1b, s2;
        {
            Region own;
            if (b == Backing::anonymous) {
                r.join_after_fork();
                own = std::move(r);
            } else {
                own = Region::attach(o);
            }
            g0 = own.lock(0);
            s1 = own.lock_shared(1);
            s1b = own.lock_shared(1);
            s2 = own.try_lock_shared(2);
            LockGuard g3 = own.try_lock(3);
            g3 = LockGuard();  // released at once: lock 3 must be free anyway
            region = own.lock();
            CHILD_CHECK((g0.owns_lock() && s1.owns_lock() && s1b.owns_lock() && s2.owns_lock()), 10);
            if (how == "detach") own.detach();
            else if (how == "assignment") own = Region();
            // else: the destructor, at the end of this scope
        }
        CHILD_CHECK(!g0.owns_lock(), 11);
        CHILD_CHECK(!s1.owns_lock(), 12);
        CHILD_CHECK(!s1b.owns_lock(), 13);
        CHILD_CHECK(!s2.owns_lock(), 14);
        CHILD_CHECK(!region.owns_lock(), 15);
        // Releasing the emptied guards does nothing.
        g0.unlock();
        s1.unlock();
        left.notify();
        CHILD_CHECK(checked.wait(30000), 16);
        return 0;
    });
    BOOST_REQUIRE(left.wait());
    for (std::uint32_t i = 0; i < 4; ++i) {
        LockGuard g = r.try_lock(i);
        BOOST_TEST(g.owns_lock(), "lock " << i << " is still held after its holder's " << how);
        BOOST_TEST(!g.owner_died(), "lock " << i);
    }
    {
        LockGuard g = r.try_lock_for(5s);
        BOOST_TEST(g.owns_lock(), "the region lock is still held after its holder's " << how);
        BOOST_TEST(!g.owner_died());
    }
    checked.notify();
    BOOST_TEST(children.wait(child) == 0);

    // The same in this process, with a second attach (named backings).
    if (test::traits(b).named) {
        LockGuard g0;
        SharedLockGuard s1;
        {
            Region other = Region::attach(o);
            g0 = other.lock(0);
            s1 = other.lock_shared(1);
            if (how == "detach") other.detach();
            else if (how == "assignment") other = Region();
        }
        BOOST_TEST(!g0.owns_lock());
        BOOST_TEST(!s1.owns_lock());
        BOOST_TEST(r.try_lock(0).owns_lock());
        BOOST_TEST(r.try_lock(1).owns_lock());
    }
}

// ---- error_code forms, regions not attached, fork ----------------------------------------------

BOOST_AUTO_TEST_CASE(table_locks_of_a_region_not_attached_fail_with_not_attached) {
    test::TempHome home;
    const Options o = table_options(home, Backing::file, 4);
    Region keep = Region::attach(o);
    Region detached = Region::attach(o);
    detached.detach();
    Region moved_from = Region::attach(o);
    Region moved_to = std::move(moved_from);
    Region empty;
    for (Region* r : {&empty, &detached, &moved_from}) {
        BOOST_TEST(r->lock_count() == 0u);
        BOOST_TEST((r->identity() == AttacherIdentity{}));
        BOOST_TEST(!r->alive(keep.identity()));
        for (const Op& op : all_ops()) {
            BOOST_TEST_CONTEXT(op.name) {
                expect_error([&] { (void)op.call(*r, 0); }, code(errc::not_attached), {"not attached"});
                bool owned = true;
                expect_ec([&](std::error_code& ec) { owned = op.call_ec(*r, 0, ec); }, code(errc::not_attached));
                BOOST_TEST(!owned);
            }
        }
    }
    // None of that touched the region's locks.
    for (std::uint32_t i = 0; i < 4; ++i) BOOST_TEST(moved_to.try_lock(i).owns_lock());
}

BOOST_AUTO_TEST_CASE(error_code_forms_clear_the_code_on_success) {
    test::TempHome home;
    const Options o = table_options(home, Backing::posix, 2);
    Region r = Region::attach(o);
    for (const Op& op : all_ops()) {
        BOOST_TEST_CONTEXT(op.name) {
            std::error_code ec = make_error_code(std::errc::interrupted);
            BOOST_TEST(op.call_ec(r, 1, ec));
            BOOST_TEST(!ec, "a success left " << ec.message());
        }
    }
    std::error_code ec = make_error_code(std::errc::interrupted);
    BOOST_TEST(r.try_lock_for(1s, ec).owns_lock());
    BOOST_TEST(!ec);
}

// A child of fork() that did not call join_after_fork() gets wrong_process from every table
// lock call, and the guards it inherited hold nothing there: releasing them leaves the
// parent's locks held.
BOOST_DATA_TEST_CASE(a_child_that_did_not_join_after_fork_gets_wrong_process,
                     test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    const Backing b = test::backing_named(backing_name);
    const Options o = table_options(home, b, 3);
    Region r = Region::attach(o);
    LockGuard g0 = r.lock(0);
    SharedLockGuard s1 = r.lock_shared(1);
    const pid_t child = children.spawn([&]() -> int {
        int code_ = 10;
        for (const Op& op : all_ops()) {
            std::error_code ec;
            CHILD_CHECK(!op.call_ec(r, 2, ec), code_);
            CHILD_CHECK(ec == errc::wrong_process, code_ + 1);
            try {
                (void)op.call(r, 2);
                return code_ + 2;
            } catch (const Error& e) {
                CHILD_CHECK(e.code() == errc::wrong_process, code_ + 3);
            }
            code_ += 4;
        }
        // The inherited guards are copies: unlocking them here releases nothing.
        g0.unlock();
        s1.unlock();
        CHILD_CHECK(!g0.owns_lock(), 40);
        return 0;
    });
    BOOST_TEST(children.wait(child) == 0);
    BOOST_TEST(g0.owns_lock());
    BOOST_TEST(s1.owns_lock());
    // Another process still finds them held.
    const pid_t other = children.spawn([&]() -> int {
        ChildAttach a(r, o);
        CHILD_CHECK(!a->try_lock(0).owns_lock(), 10);
        CHILD_CHECK(!a->try_lock_shared(0).owns_lock(), 11);
        CHILD_CHECK(!a->try_lock(1).owns_lock(), 12);
        CHILD_CHECK(a->try_lock_shared(1).owns_lock(), 13);
        CHILD_CHECK(a->try_lock(2).owns_lock(), 14);
        a.detach();
        return 0;
    });
    BOOST_TEST(children.wait(other) == 0);
    g0.unlock();
    s1.unlock();
    BOOST_TEST(r.try_lock(0).owns_lock());
    BOOST_TEST(r.try_lock(1).owns_lock());
}

// ---- guards ------------------------------------------------------------------------------------

namespace locktable {
/// The attach's InlineLocks, reached through a guard (LockGuardBase::node_ is protected: a
/// pointer to it, named through a derived class, is legal to apply to any guard).
struct NodeOf : LockGuardBase {
    static detail::InlineLocks* attach_of(const LockGuardBase& g) { return (g.*(&NodeOf::node_)).impl; }
};
}  // namespace locktable

// A program compiled against headers of another inline protocol than the library's (the
// library publishes its own number in InlineLocks::protocol) must be served by the library's
// paths, whatever the call: the same results, the same exclusion, the same errors.
BOOST_AUTO_TEST_CASE(another_inline_protocol_takes_the_library_paths_for_every_call) {
    test::TempHome home;
    const Options o = table_options(home, Backing::file, 2);
    Region r = Region::attach(o);
    Region other = Region::attach(o);
    detail::InlineLocks* mine = nullptr;
    {
        LockGuard g = r.lock(0);
        mine = NodeOf::attach_of(g);
    }
    BOOST_REQUIRE(mine != nullptr);
    BOOST_REQUIRE(mine->protocol == detail::kInlineProtocol);
    mine->protocol = detail::kInlineProtocol + 1;  // what a newer library would publish
    auto on_other_thread = [&](auto fn) {
        bool got = false;
        std::thread([&] { got = fn(); }).join();
        return got;
    };
    {
        LockGuard g = r.lock(0);
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(!on_other_thread([&] { return other.try_lock(0).owns_lock(); }));
        BOOST_TEST(!on_other_thread([&] { return other.try_lock_shared(0).owns_lock(); }));
        expect_error([&] { LockGuard h = r.try_lock(0); }, code(std::errc::resource_deadlock_would_occur), {});
    }
    BOOST_TEST(on_other_thread([&] { return other.try_lock(0).owns_lock(); }));
    {
        SharedLockGuard s = r.lock_shared(1);
        SharedLockGuard t = r.try_lock_shared(1);
        BOOST_TEST((s.owns_lock() && t.owns_lock()));
        BOOST_TEST(on_other_thread([&] { return other.try_lock_shared(1).owns_lock(); }));
        BOOST_TEST(!on_other_thread([&] { return other.try_lock(1).owns_lock(); }));
        expect_error([&] { LockGuard g = r.lock(1); }, code(std::errc::resource_deadlock_would_occur), {});
        s.unlock();
        BOOST_TEST(!on_other_thread([&] { return other.try_lock(1).owns_lock(); }));
    }
    BOOST_TEST(on_other_thread([&] { return other.try_lock(1).owns_lock(); }));
    {
        LockGuard g = r.lock();
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(!on_other_thread([&] { return other.try_lock_for(1ms).owns_lock(); }));
    }
    BOOST_TEST(on_other_thread([&] { return other.try_lock_for(1ms).owns_lock(); }));
    expect_error([&] { LockGuard g = r.lock(2); }, code(std::errc::invalid_argument), {"lock index 2"});
    BOOST_TEST(mine->protocol == detail::kInlineProtocol + 1);  // nothing took the inline paths back
}

BOOST_AUTO_TEST_CASE(table_guards_move_and_unlock) {
    test::TempHome home;
    const Options o = table_options(home, Backing::file, 4);
    Region r = Region::attach(o);
    Region other = Region::attach(o);
    // Another attach, on another thread (on this one, a lock this thread holds exclusively
    // would be resource_deadlock_would_occur, whichever attach asks).
    auto free_for_other = [&](std::uint32_t i) {
        bool got = false;
        std::thread([&] { got = other.try_lock(i).owns_lock(); }).join();
        return got;
    };

    LockGuard a = r.lock(0);
    LockGuard b(std::move(a));
    BOOST_TEST(!a.owns_lock());
    BOOST_TEST(b.owns_lock());
    BOOST_TEST(!free_for_other(0));
    a.unlock();  // the moved-from guard releases nothing
    BOOST_TEST(!free_for_other(0));
    b = LockGuard();
    BOOST_TEST(free_for_other(0));

    // Move assignment releases what the target held: a share, an exclusive lock, the region lock.
    SharedLockGuard s = r.lock_shared(1);
    SharedLockGuard t = r.lock_shared(2);
    s = std::move(t);
    BOOST_TEST(free_for_other(1));
    BOOST_TEST(!free_for_other(2));
    BOOST_TEST(s.owns_lock());
    BOOST_TEST(!t.owns_lock());
    SharedLockGuard& alias = s;
    s = std::move(alias);  // self-move keeps the share
    BOOST_TEST(s.owns_lock());
    BOOST_TEST(!free_for_other(2));
    s.unlock();
    BOOST_TEST(!s.owns_lock());
    s.unlock();
    BOOST_TEST(free_for_other(2));

    LockGuard region = r.lock();
    region = r.lock(3);  // the region lock goes, lock 3 is held
    bool region_free = false;
    std::thread([&] { region_free = other.try_lock_for(0ns).owns_lock(); }).join();
    BOOST_TEST(region_free);
    BOOST_TEST(!free_for_other(3));
    region.unlock();
    BOOST_TEST(free_for_other(3));

    // Guards in containers; several shares of one lock released one by one.
    std::vector<SharedLockGuard> shares;
    for (int k = 0; k < 5; ++k) shares.push_back(r.lock_shared(1));
    std::vector<LockGuard> held;
    held.push_back(r.lock(0));
    held.push_back(r.lock(2));
    while (!shares.empty()) {
        BOOST_TEST(!free_for_other(1));
        shares.pop_back();
    }
    BOOST_TEST(free_for_other(1));
    BOOST_TEST(!free_for_other(0));
    held.clear();
    BOOST_TEST(free_for_other(0));
    BOOST_TEST(free_for_other(2));
}

// ---- inspect()'s report of the lock table (RegionInfo::locks) ----------------------------------

BOOST_AUTO_TEST_CASE(inspect_reports_each_lock_state, *needs_inspect()) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, Backing::file, 5);
    Region r = Region::attach(o);
    auto locks = [&] { return inspect(home, o.name).locks; };

    std::vector<LockInfo> l = locks();
    BOOST_REQUIRE(l.size() == 5u);
    for (std::uint32_t i = 0; i < 5; ++i) {
        BOOST_TEST(l[i].index == i);
        BOOST_TEST((l[i].state == LockInfo::State::free));
        BOOST_TEST(l[i].holder_pid == 0);
        BOOST_TEST(l[i].shared_count == 0u);
        BOOST_TEST(l[i].shared_pids.empty());
        BOOST_TEST(!l[i].writer_waiting);
        BOOST_TEST(!l[i].owner_died);
        BOOST_TEST(l[i].exclusive_deaths == 0u);
        BOOST_TEST(l[i].shared_deaths == 0u);
    }
    {
        LockGuard g = r.lock(0);
        SharedLockGuard s1 = r.lock_shared(1);
        SharedLockGuard s1b = r.lock_shared(1);
        test::Signal held, release;
        const pid_t reader = spawn_holder(children, r, o, 1, Hold::shared, held, release);
        BOOST_REQUIRE(held.wait());
        l = locks();
        BOOST_TEST((l[0].state == LockInfo::State::exclusive));
        BOOST_TEST(l[0].holder_pid == ::getpid());
        BOOST_TEST(l[0].holder_tid == ::getpid());  // the main thread
        BOOST_TEST((l[1].state == LockInfo::State::shared));
        BOOST_TEST(l[1].shared_count == 3u);
        BOOST_TEST(std::count(l[1].shared_pids.begin(), l[1].shared_pids.end(), ::getpid()) >= 1);
        BOOST_TEST(std::count(l[1].shared_pids.begin(), l[1].shared_pids.end(), reader) == 1);
        BOOST_TEST(!l[1].writer_waiting);
        // A writer comes to wait for the shares.
        const pid_t writer = children.spawn([&]() -> int {
            Region a = Region::attach(o);
            LockGuard w = a.lock(1);
            CHILD_CHECK(!w.owner_died(), 10);
            return 0;
        });
        BOOST_REQUIRE(locktest::wait_until([&] { return writer_waits(r, o, 1); }));
        l = locks();
        BOOST_TEST(l[1].writer_waiting);
        BOOST_TEST(l[1].shared_count == 3u);
        release.notify();
        BOOST_TEST(children.wait(reader) == 0);
        s1.unlock();
        s1b.unlock();
        BOOST_TEST(children.wait(writer) == 0);
        l = locks();
        BOOST_TEST((l[1].state == LockInfo::State::free));
        BOOST_TEST(!l[1].writer_waiting);
    }
    l = locks();
    for (std::uint32_t i = 0; i < 5; ++i) BOOST_TEST((l[i].state == LockInfo::State::free), "lock " << i);

    // An exclusive holder killed: owner_dead until taken, owner_died until marked consistent.
    test::Signal held;
    const pid_t holder = children.spawn([&]() -> int {
        Region a = Region::attach(o);
        LockGuard g = a.lock(2);
        held.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(held.wait());
    BOOST_TEST((locks()[2].state == LockInfo::State::exclusive));
    BOOST_TEST(locks()[2].holder_pid == holder);
    BOOST_REQUIRE(::kill(holder, SIGKILL) == 0);
    BOOST_TEST(children.wait(holder) == -SIGKILL);
    l = locks();
    BOOST_TEST((l[2].state == LockInfo::State::owner_dead));
    {
        LockGuard g = r.lock(2);
        BOOST_TEST(g.owner_died());
    }
    l = locks();
    BOOST_TEST((l[2].state == LockInfo::State::free));
    BOOST_TEST(l[2].owner_died, "not marked consistent: still to be reported");
    BOOST_TEST(l[2].exclusive_deaths == 1u);
    {
        LockGuard g = r.lock(2);
        g.mark_consistent();
    }
    l = locks();
    BOOST_TEST(!l[2].owner_died);
    BOOST_TEST(l[2].exclusive_deaths == 1u);
    BOOST_TEST(l[2].shared_deaths == 0u);
}

BOOST_AUTO_TEST_CASE(inspect_counts_the_deaths_of_each_lock, *needs_inspect()) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, Backing::posix, 4);
    Region r = Region::attach(o);
    auto kill_reader = [&](std::uint32_t index, unsigned shares) {
        test::Signal held;
        const pid_t p = children.spawn([&, index, shares]() -> int {
            Region a = Region::attach(o);
            std::vector<SharedLockGuard> g;
            for (unsigned k = 0; k < shares; ++k) g.push_back(a.lock_shared(index));
            held.notify();
            for (;;) ::pause();
        });
        BOOST_REQUIRE(held.wait());
        BOOST_REQUIRE(::kill(p, SIGKILL) == 0);
        BOOST_TEST(children.wait(p) == -SIGKILL);
    };
    // Two readers die holding 1 and 2 shares of lock 0; a writer gets in: 3 shared deaths.
    kill_reader(0, 1);
    kill_reader(0, 2);
    {
        LockGuard g = r.try_lock_for(0, 20s);
        BOOST_TEST(g.owns_lock());
        BOOST_TEST(!g.owner_died());
    }
    std::vector<LockInfo> l = inspect(home, o.name).locks;
    BOOST_REQUIRE(l.size() == 4u);
    BOOST_TEST(l[0].shared_deaths == 3u);
    BOOST_TEST(l[0].exclusive_deaths == 0u);
    BOOST_TEST(!l[0].owner_died);
    // A writer killed while waiting for a share: no death of either kind.
    {
        SharedLockGuard s = r.lock_shared(1);
        const pid_t w = children.spawn([&]() -> int {
            Region a = Region::attach(o);
            LockGuard g = a.lock(1);
            return 20;
        });
        BOOST_REQUIRE(locktest::wait_until([&] { return writer_waits(r, o, 1); }));
        BOOST_REQUIRE(::kill(w, SIGKILL) == 0);
        BOOST_TEST(children.wait(w) == -SIGKILL);
    }
    BOOST_TEST(r.try_lock_for(1, 20s).owns_lock());
    l = inspect(home, o.name).locks;
    BOOST_TEST(l[1].exclusive_deaths == 0u);
    BOOST_TEST(l[1].shared_deaths == 0u);
    BOOST_TEST(!l[1].owner_died);
    // Two exclusive holders killed in a row.
    for (int n = 0; n < 2; ++n) {
        test::Signal held;
        const pid_t p = children.spawn([&]() -> int {
            Region a = Region::attach(o);
            LockGuard g = a.lock(2);
            held.notify();
            for (;;) ::pause();
        });
        BOOST_REQUIRE(held.wait());
        BOOST_REQUIRE(::kill(p, SIGKILL) == 0);
        BOOST_TEST(children.wait(p) == -SIGKILL);
        BOOST_TEST(r.lock(2).owner_died());
    }
    l = inspect(home, o.name).locks;
    BOOST_TEST(l[2].exclusive_deaths == 2u);
    BOOST_TEST(l[2].owner_died);
    BOOST_TEST(l[3].exclusive_deaths == 0u);
    BOOST_TEST(l[3].shared_deaths == 0u);
}

// The attacher table tells generations, and a dead reader's slot that still holds shares
// (its lock's mutex was busy when the slot was reaped) as dead_with_shares.
BOOST_AUTO_TEST_CASE(inspect_reports_generations_and_dead_slots_with_shares, *needs_inspect()) {
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, Backing::file, 2);
    Region r = Region::attach(o);
    {
        const RegionInfo info = inspect(home, o.name);
        BOOST_REQUIRE(info.attachers.size() == 1u);
        BOOST_TEST(info.attachers[0].generation == r.identity().generation);
        BOOST_TEST(!info.attachers[0].dead_with_shares);
    }
    // A reader holds a share of lock 0, a writer waits for it and is stopped (SIGSTOP) there,
    // holding the lock's mutex; the reader is killed and reaped: its slot keeps its shares.
    test::Signal held;
    const pid_t reader = children.spawn([&]() -> int {
        Region a = Region::attach(o);
        SharedLockGuard s = a.lock_shared(0);
        held.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(held.wait());
    test::Signal got;
    const pid_t writer = children.spawn([&]() -> int {
        Region a = Region::attach(o);
        LockGuard g = a.lock(0);
        CHILD_CHECK(!g.owner_died(), 10);
        got.notify();
        return 0;
    });
    BOOST_REQUIRE(locktest::wait_until([&] { return writer_waits(r, o, 0); }));
    BOOST_REQUIRE(::kill(writer, SIGSTOP) == 0);
    int st = 0;
    BOOST_REQUIRE(::waitpid(writer, &st, WUNTRACED) == writer);
    BOOST_REQUIRE(WIFSTOPPED(st));
    BOOST_REQUIRE(::kill(reader, SIGKILL) == 0);
    BOOST_TEST(children.wait(reader) == -SIGKILL);
    (void)r.reap_dead_attachers();
    const RegionInfo info = inspect(home, o.name);
    const auto it = std::find_if(info.attachers.begin(), info.attachers.end(),
                                 [&](const AttacherInfo& a) { return a.pid == reader; });
    BOOST_TEST((it != info.attachers.end() && !it->alive && it->dead_with_shares),
               "the dead reader's slot is not reported as dead with shares");
    BOOST_REQUIRE(::kill(writer, SIGCONT) == 0);
    BOOST_TEST(got.wait(20000), "the writer never got in after the reader's death");
    BOOST_TEST(children.wait(writer) == 0);
    (void)r.reap_dead_attachers();
    const RegionInfo after = inspect(home, o.name);
    BOOST_TEST(after.attachers.size() == 1u);
    BOOST_TEST(inspect(home, o.name).locks.at(0).shared_deaths == 1u);
}

// A reader killed holding a share while the lock's mutex is busy (a writer waiting for the
// share, stopped there with SIGSTOP, so that nobody can release it): its slot keeps its share
// records and must not be given to a new attacher (which would inherit a share count that
// is not its own) until the share is released. With a table of 4 slots the next attachers
// find it full; once the writer goes on, sweeps the dead share and leaves, they come in.
BOOST_AUTO_TEST_CASE(a_dead_readers_slot_is_not_reused_while_its_share_stands) {
    mptest::Home home;
    mptest::Children children;
    Options o = table_options(home, Backing::file, 2);
    o.max_attachers = 4;
    Region r = Region::attach(o);
    test::SharedMemory mem(sizeof(AttacherIdentity));
    auto* reader_id = mem.as<AttacherIdentity>();
    test::Signal held;
    const pid_t reader = children.spawn([&]() -> int {
        Region a = Region::attach(o);
        *reader_id = a.identity();
        SharedLockGuard s = a.lock_shared(0);
        held.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(held.wait());
    test::Signal got;
    const pid_t writer = children.spawn([&]() -> int {
        Region a = Region::attach(o);
        LockGuard g = a.lock(0);
        CHILD_CHECK(!g.owner_died(), 10);
        got.notify();
        return 0;  // detaches
    });
    BOOST_REQUIRE(locktest::wait_until([&] { return writer_waits(r, o, 0); }));
    BOOST_REQUIRE(::kill(writer, SIGSTOP) == 0);
    int st = 0;
    BOOST_REQUIRE(::waitpid(writer, &st, WUNTRACED) == writer);
    BOOST_REQUIRE(WIFSTOPPED(st));
    BOOST_REQUIRE(::kill(reader, SIGKILL) == 0);
    BOOST_TEST(children.wait(reader) == -SIGKILL);
    (void)r.reap_dead_attachers();

    // Slots: this attach, the stopped writer, the dead reader's (still holding a share): one free.
    Region first = Region::attach(o);
    BOOST_TEST(first.identity().slot != reader_id->slot, "the dead reader's slot was reused while its share stood");
    BOOST_TEST(first.try_lock(1).owns_lock());
    BOOST_TEST(!first.try_lock_shared(0).owns_lock(), "a new reader got past the waiting writer");
    std::error_code ec;
    Region second = Region::attach(o, ec);
    BOOST_TEST(ec == errc::attacher_table_full, "a fifth attacher: " << ec.message());
    if (second) BOOST_TEST(second.identity().slot != reader_id->slot, "the dead reader's slot was reused");

    BOOST_REQUIRE(::kill(writer, SIGCONT) == 0);
    BOOST_TEST(got.wait(20000), "the writer never got in after the reader's death");
    BOOST_TEST(children.wait(writer) == 0);
    second = Region::attach(o, ec);  // the dead reader's slot is free now (the writer's too)
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(second.attached());
    SharedLockGuard s = second.try_lock_shared(0);
    BOOST_TEST(s.owns_lock());
    s.unlock();
    BOOST_TEST(second.try_lock(0).owns_lock(), "a slot taken again came with a share it never took");
}

// ---- what dead attachers leave to a lone joiner ------------------------------------------------

// Every attacher died: one holding lock 0 exclusively and two shares of lock 1. The next
// attacher is alone: it finds lock 1 free at once (the dead shares released), and lock 0
// reports owner_died() (until marked consistent). For file and posix regions also the case
// of a mutex still recording a holder the kernel never saw die (the file outlived a reboot,
// or was copied while locked), made here by writing a made-up owner into the lock's mutex.
BOOST_DATA_TEST_CASE(a_lone_joiner_recovers_what_dead_attachers_left,
                     test::backing_data(BackingSet::named) * bdata::make({false, true}), backing_name, ghost_owner) {
    const test::BackingTraits& t = test::traits(backing_name);
    if (ghost_owner && !t.memory_file) return;  // sysv: no file to write the mutex through
    mptest::Home home;
    mptest::Children children;
    const Options o = table_options(home, t.backing, 2);
    test::Signal held;
    const pid_t holder = children.spawn([&]() -> int {
        Region a = Region::attach(o);
        CHILD_CHECK(a.created(), 10);
        LockGuard g = a.lock(0);
        SharedLockGuard s1 = a.lock_shared(1);
        SharedLockGuard s2 = a.lock_shared(1);
        held.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(held.wait());
    BOOST_REQUIRE(::kill(holder, SIGKILL) == 0);
    BOOST_TEST(children.wait(holder) == -SIGKILL);
    if (ghost_owner) {
        // The kernel marked the dead owner (OWNER_DIED, no owner); make it look as if it never
        // did: a mutex owned by a thread that does not exist.
        const RegionInfo info = inspect(home, o.name);
        const fs::path file = t.segment == test::Segment::posix ? fs::path("/dev/shm" + info.segment) : region_file(home, o.name);
        const detail::LockTableLayout l = detail::lock_table_layout(o.max_attachers, o.locks);
        const std::string bytes = test::read_file(file);
        BOOST_REQUIRE(bytes.size() >= l.table_offset + sizeof(std::int32_t));
        std::int32_t word = 0;
        std::memcpy(&word, bytes.data() + l.table_offset, sizeof word);
        BOOST_REQUIRE_MESSAGE((word & FUTEX_OWNER_DIED) != 0, "lock 0's mutex word is " << word << ", not a dead owner's");
        const std::int32_t ghost = 0x3ffffff0;  // beyond any pid_max
        unit::poke(file, static_cast<off_t>(l.table_offset), ghost);
    }
    Options j = o;
    j.mode = OpenMode::join_only;
    Region r = Region::attach(j);
    {
        SharedLockGuard s = r.try_lock_shared_for(1, 10s);
        BOOST_TEST(s.owns_lock());
        BOOST_TEST(!s.owner_died(), "a dead reader's share was reported as an owner death");
    }
    {
        LockGuard g = r.try_lock_for(1, 10s);
        BOOST_TEST(g.owns_lock(), "the dead reader's shares were not released");
        BOOST_TEST(!g.owner_died());
    }
    {
        SharedLockGuard s = r.try_lock_shared_for(0, 10s);
        BOOST_TEST(s.owns_lock(), "lock 0, held by a dead attacher, never came");
        BOOST_TEST(s.owner_died(), "the dead exclusive holder of lock 0 was not reported");
    }
    {
        LockGuard g = r.try_lock_for(0, 10s);
        BOOST_TEST(g.owns_lock(), "lock 0, held by a dead attacher, never came");
        BOOST_TEST(g.owner_died(), "the dead exclusive holder of lock 0 was not reported");
        g.mark_consistent();
    }
    BOOST_TEST(!r.lock(0).owner_died());
    BOOST_TEST(!r.lock_shared(1).owner_died());
}

// ---- limits of one attach ---------------------------------------------------------------------

// One attach holds at most 32767 shares of one lock: the next is refused with an error
// (not a wrapped count), and everything still works after.
BOOST_AUTO_TEST_CASE(an_attach_holding_the_most_shares_is_refused_one_more) {
    test::TempHome home;
    const Options o = table_options(home, Backing::file, 2);
    Region r = Region::attach(o);
    Region other = Region::attach(o);
    std::vector<SharedLockGuard> shares;
    shares.reserve(detail::kRecordCountMask);
    for (std::uint32_t k = 0; k < detail::kRecordCountMask; ++k) shares.push_back(r.lock_shared(0));
    BOOST_TEST(shares.back().owns_lock());
    std::error_code ec;
    SharedLockGuard more = r.lock_shared(0, ec);
    BOOST_TEST(static_cast<bool>(ec), "share number " << detail::kRecordCountMask + 1 << " was granted");
    BOOST_TEST(!more.owns_lock());
    BOOST_TEST(!last_error_message().empty());
    BOOST_TEST(r.try_lock_shared(1).owns_lock());  // another lock: no limit reached there
    bool writer_got_in = true;
    std::thread([&] { writer_got_in = other.try_lock(0).owns_lock(); }).join();
    BOOST_TEST(!writer_got_in, "a writer got in past 32767 shares");
    shares.clear();
    std::thread([&] { writer_got_in = other.try_lock(0).owns_lock(); }).join();
    BOOST_TEST(writer_got_in, "the 32767 shares were not all released");
}

// A child that joins after fork() (anonymous regions) is an attacher of its own: the guards
// it inherited are the parent's and release nothing there, the parent's locks stay held for
// it, and its own locks are its own.
BOOST_AUTO_TEST_CASE(inherited_guards_release_nothing_after_join_after_fork) {
    mptest::Children children;
    Options o;
    o.name = test::unique_name("anon");
    o.backing = Backing::anonymous;
    o.size = 64 * 1024;
    o.locks = 3;
    Region r = Region::attach(o);
    LockGuard g0 = r.lock(0);
    SharedLockGuard s1 = r.lock_shared(1);
    const pid_t child = children.spawn([&]() -> int {
        r.join_after_fork();
        CHILD_CHECK(r.identity().generation != 0u, 10);
        g0.unlock();
        s1.unlock();
        CHILD_CHECK(!g0.owns_lock() && !s1.owns_lock(), 11);
        CHILD_CHECK(!r.try_lock(0).owns_lock(), 12);        // still the parent's
        CHILD_CHECK(!r.try_lock_shared(0).owns_lock(), 13);
        CHILD_CHECK(!r.try_lock(1).owns_lock(), 14);        // the parent's share
        CHILD_CHECK(r.try_lock_shared(1).owns_lock(), 15);
        LockGuard mine = r.lock(2);
        CHILD_CHECK(mine.owns_lock() && !mine.owner_died(), 16);
        mine.unlock();
        SharedLockGuard share = r.lock_shared(2);
        r.detach();
        CHILD_CHECK(!share.owns_lock(), 17);
        return 0;
    });
    BOOST_TEST(children.wait(child) == 0);
    BOOST_TEST(g0.owns_lock());
    BOOST_TEST(s1.owns_lock());
    const pid_t probe = children.spawn([&]() -> int {
        r.join_after_fork();
        CHILD_CHECK(!r.try_lock(0).owns_lock(), 10);
        CHILD_CHECK(!r.try_lock(1).owns_lock(), 11);
        LockGuard g2 = r.try_lock(2);  // the first child's share went with its detach
        CHILD_CHECK(g2.owns_lock() && !g2.owner_died(), 12);
        r.detach();
        return 0;
    });
    BOOST_TEST(children.wait(probe) == 0);
    g0.unlock();
    s1.unlock();
    BOOST_TEST(r.try_lock(0).owns_lock());
    BOOST_TEST(r.try_lock(1).owns_lock());
}
