// The public entry points as a whole: the error_code& forms keep the exception's message
// (last_error_message()), a gentle unlink needs no attacher slot and no I/O engine, and the
// I/O engine is chosen when an operation first needs one, not at every attach.
#define BOOST_TEST_MODULE unit_entry_points
#include "unit_helpers.hpp"

#include "backings.hpp"
#include "child_check.hpp"
#include "sys/fork_safety.hpp"

#include <stdlib.h>

#include <thread>

using namespace shmregion;
using namespace shmregion::unit;


// ---- last_error_message() ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_error_code_caller_gets_the_message_the_exception_carries) {
    test::TempHome home;
    Options o = test::options(home, Backing::posix);
    o.max_attachers = 0;
    std::error_code ec;
    Region r = Region::attach(o, ec);
    BOOST_TEST(!r.attached());
    BOOST_TEST(ec == errc::invalid_options);
    // The code alone says only what kind of failure it was; the message names the field.
    BOOST_TEST(ec.message() == "invalid options");
    const std::string msg = last_error_message();
    BOOST_TEST(contains(msg, "attach '" + o.name + "'"), msg);
    BOOST_TEST(contains(msg, "max_attachers 0"), msg);
    std::string thrown;
    try {
        (void)Region::attach(o);
    } catch (const Error& e) {
        thrown = e.what();
    }
    BOOST_TEST(thrown == msg);

    // A call that succeeds leaves it; the next failure replaces it.
    o.max_attachers = 4;
    Region ok = Region::attach(o, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(last_error_message() == msg);
    ok.detach();
    const RegionInfo none = inspect(home, "no-such-region", ec);
    BOOST_TEST(ec == errc::region_not_found);
    BOOST_TEST(none.name.empty());
    BOOST_TEST(contains(last_error_message(), "inspect 'no-such-region'"), last_error_message());
    BOOST_TEST(contains(last_error_message(), (home.path() / "no-such-region.region").string()), last_error_message());
    unlink(home, o.name, Force::yes);
}

BOOST_AUTO_TEST_CASE(the_message_is_per_thread) {
    test::TempHome home;
    std::error_code ec;
    (void)inspect(home, "missing-here", ec);
    BOOST_REQUIRE(ec == errc::region_not_found);
    std::string other;
    std::thread t([&] {
        std::error_code tec;
        (void)list(home.path() / "not-a-directory", tec);
        other = last_error_message();
    });
    t.join();
    BOOST_TEST(contains(last_error_message(), "missing-here"), last_error_message());
    BOOST_TEST(contains(other, "not-a-directory"), other);
    BOOST_TEST(!contains(other, "missing-here"), other);
}

// ---- gentle unlink -------------------------------------------------------------------------

// With every attacher slot taken, unlink() still marks the region (it takes no slot): the
// attachers keep working, nobody new can join, and it goes at the last detach.
BOOST_AUTO_TEST_CASE(gentle_unlink_needs_no_free_attacher_slot) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            Options o = test::options(home, b);
            o.max_attachers = 2;
            Region a = Region::attach(o);
            Region c = Region::attach(o);
            std::error_code ec;
            Region full = Region::attach(o, ec);
            BOOST_TEST(ec == errc::attacher_table_full);
            std::memcpy(a.data(), "still here", 11);

            unlink(home, o.name);  // no slot to spare: it must not need one
            const RegionInfo marked = inspect(home, o.name);
            BOOST_TEST(marked.unlink_requested);
            BOOST_TEST(marked.ref_count == 2u);
            BOOST_TEST(std::memcmp(c.data(), "still here", 11) == 0);
            Region late = Region::attach(o, ec);
            BOOST_TEST(ec == errc::marked_for_removal);
            // Asking again is not an error: the request stands.
            unlink(home, o.name, Force::no, ec);
            BOOST_TEST(!ec, ec.message() << ": " << last_error_message());

            a.detach();
            BOOST_TEST(fs::exists(region_file(home, o.name)));
            c.detach();
            BOOST_TEST(!fs::exists(region_file(home, o.name)));
            BOOST_TEST(posix_segments_of(o.name).empty());
            if (b == Backing::sysv) BOOST_TEST(!sysv_segment_exists(marked.sysv_id, marked.sysv_key));
        }
    }
}

// Nobody attached: the gentle unlink removes the region at once, and says region_not_found
// (with the message) for a region that is not there.
BOOST_AUTO_TEST_CASE(gentle_unlink_of_an_unused_region_removes_it_now) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            Options o = test::options(home, b);
            Region r = Region::attach(o);
            const RegionInfo before = inspect(home, o.name);
            r.detach();
            unlink(home, o.name);
            BOOST_TEST(!fs::exists(region_file(home, o.name)));
            BOOST_TEST(posix_segments_of(o.name).empty());
            if (b == Backing::sysv) BOOST_TEST(!sysv_segment_exists(before.sysv_id, before.sysv_key));
            std::error_code ec;
            unlink(home, o.name, Force::no, ec);
            BOOST_TEST(ec == errc::region_not_found);
            BOOST_TEST(contains(last_error_message(), "unlink '" + o.name + "'"), last_error_message());
        }
    }
}

// ---- the I/O engine, chosen when needed ----------------------------------------------------

// SHMREGION_IO_ENGINE names no engine (set in a child: the choice is made once per
// process). Joining, locking and a gentle unlink need no engine and succeed; what needs one
// (flush of a file region, growth) fails saying why; creating a file region fails before it
// is published.
BOOST_AUTO_TEST_CASE(an_engine_is_chosen_only_when_an_operation_needs_one) {
    test::TempHome home;
    const Options file = test::options(home, Backing::file);
    Options growable = test::options(home, Backing::posix);
    growable.max_size = 4 * growable.size;
    Region keep_file = Region::attach(file);
    Region keep_posix = Region::attach(growable);
    Options doomed = test::options(home, Backing::posix);
    Region d = Region::attach(doomed);
    d.detach();
    const Options fresh = test::options(home, Backing::file);

    const pid_t child = test::spawn([&]() -> int {
        ::setenv("SHMREGION_IO_ENGINE", "bogus", 1);
        std::error_code ec;
        Region j = Region::attach(file, ec);
        CHILD_CHECK(!ec, 10);
        CHILD_CHECK(j.io_engine() == io::EngineKind::automatic, 11);  // nothing can be chosen
        { auto g = j.lock(ec); CHILD_CHECK(!ec && g.owns_lock(), 12); }
        j.flush(ec);  // writes back through the engine: now it is needed
        CHILD_CHECK(ec == errc::invalid_options, 13);
        CHILD_CHECK(contains(last_error_message(), "SHMREGION_IO_ENGINE"), 14);
        CHILD_CHECK(contains(last_error_message(), "flush '" + file.name + "'"), 15);
        j.detach(ec);
        CHILD_CHECK(!ec, 16);

        Region p = Region::attach(growable, ec);
        CHILD_CHECK(!ec, 20);
        p.grow(2 * growable.size, ec);
        CHILD_CHECK(ec == errc::invalid_options, 21);
        CHILD_CHECK(p.size() == growable.size, 22);
        p.detach(ec);
        CHILD_CHECK(!ec, 23);

        unlink(doomed.home, doomed.name, Force::no, ec);
        CHILD_CHECK(!ec, 30);
        CHILD_CHECK(!fs::exists(region_file(doomed.home, doomed.name)), 31);

        Region n = Region::attach(fresh, ec);
        CHILD_CHECK(ec == errc::invalid_options, 40);
        CHILD_CHECK(!fs::exists(region_file(fresh.home, fresh.name)), 41);
        return 0;
    });
    BOOST_TEST(test::wait_exit(child) == 0);
    BOOST_TEST(posix_segments_of(doomed.name).empty());
    BOOST_TEST(inspect(home, growable.name).size == growable.size);
    BOOST_TEST(inspect(home, file.name).ref_count == 1u);
}

// ---- the fork detector ---------------------------------------------------------------------

// current_pid() is the pid without a system call, set again in every fork()ed child (and
// its children): what every "is this attach still this process's?" check compares with.
BOOST_AUTO_TEST_CASE(the_fork_detector_follows_every_fork) {
    BOOST_TEST(detail::current_pid() == ::getpid());
    test::TempHome home;
    const Options o = test::options(home, Backing::posix);
    Region r = Region::attach(o);
    const pid_t child = test::spawn([&]() -> int {
        CHILD_CHECK(detail::current_pid() == ::getpid(), 10);
        std::error_code ec;
        (void)r.lock(ec);  // the parent's attach: refused here
        CHILD_CHECK(ec == errc::wrong_process, 11);
        const pid_t grandchild = test::spawn([&]() -> int {
            CHILD_CHECK(detail::current_pid() == ::getpid(), 20);
            r.join_after_fork();
            auto g = r.lock();
            CHILD_CHECK(g.owns_lock(), 21);
            return 0;
        });
        CHILD_CHECK(test::wait_exit(grandchild) == 0, 12);
        return 0;
    });
    BOOST_TEST(test::wait_exit(child) == 0);
    BOOST_TEST(detail::current_pid() == ::getpid());
    auto g = r.lock();  // still ours
    BOOST_TEST(g.owns_lock());
}
