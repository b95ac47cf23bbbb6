// LockGuard semantics and operations on a Region that is not attached.
#define BOOST_TEST_MODULE unit_lock
#include "backings.hpp"
#include "unit_helpers.hpp"

#include <unistd.h>

using namespace shmregion;
using namespace shmregion::unit;

namespace {

LockState lock_state(const test::TempHome& home, const std::string& name) { return inspect(home, name).lock_state; }

bool held_by_me(const test::TempHome& home, const std::string& name) {
    auto info = inspect(home, name);
    return info.lock_state == LockState::held && info.lock_holder == ::getpid();
}

bool is_free(const test::TempHome& home, const std::string& name) {
    return lock_state(home, name) == LockState::free;
}

}  // namespace

BOOST_AUTO_TEST_CASE(relocking_from_the_same_thread_fails_instead_of_hanging) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::all)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region r = Region::attach(o);
            // A second attach of the same region in this process, made before the lock is
            // taken (attaching takes the region lock too, so it would fail with EDEADLK).
            Region other;
            if (b != Backing::anonymous) other = Region::attach(o);
            LockGuard g = r.lock();
            BOOST_TEST(g.owns_lock());
            BOOST_TEST(!g.owner_died());

            // Through the same Region...
            auto e = expect_error([&] { LockGuard again = r.lock(); },
                                  code(std::errc::resource_deadlock_would_occur), {"lock '" + o.name + "'"});
            if (e) BOOST_TEST((e->code().category() == std::generic_category()));
            expect_ec(
                [&](std::error_code& ec) {
                    LockGuard again = r.lock(ec);
                    BOOST_TEST(!again.owns_lock());
                },
                code(std::errc::resource_deadlock_would_occur));
            // ...and through another attach of the same region in this process.
            if (b != Backing::anonymous) {
                BOOST_TEST(!other.created());
                expect_error([&] { LockGuard again = other.lock(); }, code(std::errc::resource_deadlock_would_occur), {});
                expect_ec([&](std::error_code& ec) { LockGuard again = other.lock(ec); },
                          code(std::errc::resource_deadlock_would_occur));
                BOOST_TEST(g.owns_lock());
                g.unlock();
                LockGuard g2 = other.lock();  // free again: the other attach gets it
                BOOST_TEST(g2.owns_lock());
                g2.unlock();
                other.detach();
            } else {
                g.unlock();
            }
            // The failed attempts left the lock usable.
            LockGuard g3 = r.lock();
            BOOST_TEST(g3.owns_lock());
        }
    }
}

BOOST_AUTO_TEST_CASE(guard_unlock_and_destruction) {
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    Region r = Region::attach(o);
    BOOST_TEST(is_free(home, o.name));
    {
        LockGuard g = r.lock();
        BOOST_TEST(held_by_me(home, o.name));
        BOOST_TEST(inspect(home, o.name).lock_holder == ::getpid());
        g.unlock();
        BOOST_TEST(!g.owns_lock());
        BOOST_TEST(is_free(home, o.name));
        BOOST_TEST(inspect(home, o.name).lock_holder == 0);
        g.unlock();  // a second unlock does nothing
        BOOST_TEST(is_free(home, o.name));
        // Nothing left to unlock at destruction either: another lock holds across it.
        LockGuard h = r.lock();
        {
            LockGuard moved_from = std::move(h);
            BOOST_TEST(!h.owns_lock());
            BOOST_TEST(moved_from.owns_lock());
        }
        BOOST_TEST(is_free(home, o.name));  // the guard that owned it unlocked on destruction
        BOOST_TEST(!h.owns_lock());
    }
    {
        LockGuard g = r.lock();
    }
    BOOST_TEST(is_free(home, o.name));

    LockGuard empty;
    BOOST_TEST(!empty.owns_lock());
    BOOST_TEST(!empty.owner_died());
    empty.unlock();
}

BOOST_AUTO_TEST_CASE(guard_move_semantics) {
    test::TempHome home;
    auto o1 = test::options(home, Backing::file);
    auto o2 = test::options(home, Backing::posix);
    Region r1 = Region::attach(o1);
    Region r2 = Region::attach(o2);

    // Move construction transfers ownership; destroying the moved-from guard unlocks nothing.
    LockGuard a = r1.lock();
    {
        LockGuard b(std::move(a));
        BOOST_TEST(!a.owns_lock());
        BOOST_TEST(b.owns_lock());
        BOOST_TEST(held_by_me(home, o1.name));
    }
    BOOST_TEST(is_free(home, o1.name));

    // Move assignment onto a guard that owns a lock releases that lock first.
    LockGuard g1 = r1.lock();
    LockGuard g2 = r2.lock();
    BOOST_TEST(held_by_me(home, o1.name));
    BOOST_TEST(held_by_me(home, o2.name));
    g1 = std::move(g2);
    BOOST_TEST(is_free(home, o1.name));
    BOOST_TEST(held_by_me(home, o2.name));
    BOOST_TEST(g1.owns_lock());
    BOOST_TEST(!g2.owns_lock());

    // Self-move keeps the lock.
    LockGuard& alias = g1;
    g1 = std::move(alias);
    BOOST_TEST(g1.owns_lock());
    BOOST_TEST(held_by_me(home, o2.name));

    // Move assignment into an empty guard, then from an empty guard.
    LockGuard empty;
    empty = std::move(g1);
    BOOST_TEST(empty.owns_lock());
    BOOST_TEST(!g1.owns_lock());
    empty = LockGuard();
    BOOST_TEST(!empty.owns_lock());
    BOOST_TEST(is_free(home, o2.name));

    // A guard can be returned from a function and kept in a container.
    std::vector<LockGuard> held;
    held.push_back(r1.lock());
    held.push_back(r2.lock());
    BOOST_TEST(held_by_me(home, o1.name));
    BOOST_TEST(held_by_me(home, o2.name));
    held.clear();
    BOOST_TEST(is_free(home, o1.name));
    BOOST_TEST(is_free(home, o2.name));
}

BOOST_AUTO_TEST_CASE(operations_on_an_empty_or_detached_region_fail_with_not_attached) {
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    Region attached = Region::attach(o);
    Region detached = Region::attach(o);
    detached.detach();
    Region moved_to = Region::attach(o);
    Region moved_from = Region::attach(o);
    moved_to = std::move(moved_from);  // detaches moved_to's own attach first
    BOOST_TEST(inspect(home, o.name).ref_count == 2u);

    Region empty;
    for (Region* r : {&empty, &detached, &moved_from}) {
        BOOST_TEST(!r->attached());
        BOOST_TEST(!static_cast<bool>(*r));
        BOOST_TEST(r->data() == nullptr);
        BOOST_TEST(r->size() == 0u);
        BOOST_TEST(r->max_size() == 0u);
        BOOST_TEST((r->backing() == Backing::any));

        expect_error([&] { LockGuard g = r->lock(); }, code(errc::not_attached), {"not attached"});
        expect_ec(
            [&](std::error_code& ec) {
                LockGuard g = r->lock(ec);
                BOOST_TEST(!g.owns_lock());
            },
            code(errc::not_attached));
        expect_error([&] { r->mark_for_removal(); }, code(errc::not_attached), {"mark_for_removal", "not attached"});
        expect_ec([&](std::error_code& ec) { r->mark_for_removal(ec); }, code(errc::not_attached));
        expect_error([&] { (void)r->reap_dead_attachers(); }, code(errc::not_attached), {"not attached"});
        expect_ec([&](std::error_code& ec) { BOOST_TEST(r->reap_dead_attachers(ec) == 0u); }, code(errc::not_attached));
        expect_error([&] { r->join_after_fork(); }, code(errc::not_attached), {"not attached"});
        expect_ec([&](std::error_code& ec) { r->join_after_fork(ec); }, code(errc::not_attached));

        // detach of a region that is not attached does nothing, in both forms.
        r->detach();
        std::error_code ec = make_error_code(std::errc::interrupted);
        r->detach(ec);
        BOOST_TEST(!ec);
    }
    // None of that touched the region.
    auto info = inspect(home, o.name);
    BOOST_TEST(info.ref_count == 2u);
    BOOST_TEST(!info.remove_on_last_detach);
    BOOST_TEST(attached.attached());
    BOOST_TEST(moved_to.attached());
    BOOST_TEST(moved_to.data() != nullptr);
    LockGuard g = moved_to.lock();
    BOOST_TEST(g.owns_lock());
}

BOOST_AUTO_TEST_CASE(detach_is_idempotent_and_join_after_fork_is_a_no_op_in_the_attaching_process) {
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    Region r = Region::attach(o);
    const auto slot = r.slot();
    r.join_after_fork();  // same process: nothing to do
    BOOST_TEST(r.slot() == slot);
    BOOST_TEST(inspect(home, o.name).ref_count == 1u);
    r.detach();
    r.detach();
    BOOST_TEST(inspect(home, o.name).ref_count == 0u);
}

BOOST_AUTO_TEST_CASE(detach_while_a_guard_holds_the_lock_releases_it_first) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region keeper = Region::attach(o);  // keeps the region (and inspect) alive
            {
                Region r = Region::attach(o);
                LockGuard g = r.lock();
                BOOST_TEST(held_by_me(home, o.name));
                r.detach();  // must not fail with EDEADLK, and must not leave g dangling
                BOOST_TEST(!g.owns_lock());
                BOOST_TEST(is_free(home, o.name));
                BOOST_TEST(inspect(home, o.name).ref_count == 1u);
            }  // g destroyed after the detach: nothing to unlock, no use of freed memory
            {
                // The guard declared first, so the Region is destroyed before it.
                LockGuard g;
                Region r = Region::attach(o);
                g = r.lock();
                LockGuard moved(std::move(g));  // the Region must follow the guard's moves
                BOOST_TEST(moved.owns_lock());
            }
            BOOST_TEST(is_free(home, o.name));
            BOOST_TEST(inspect(home, o.name).ref_count == 1u);
            LockGuard again = keeper.lock();
            BOOST_TEST(!again.owner_died());
        }
    }
}

// A file region saved while its lock was held (a power cut, a copy) keeps a holder thread id
// in the mutex that no kernel will ever report dead. With nobody attached, the next joiner
// starts the mutex afresh, and the first lock() hears that a holder died.
BOOST_AUTO_TEST_CASE(a_lock_word_left_by_a_vanished_holder_is_reset_when_nobody_is_attached) {
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    Region::attach(o).detach();
    const fs::path file = region_file(home, o.name);
    {
        std::string bytes = test::read_file(file);
        const int ghost = 0x3ffffff0;  // a thread id that does not exist
        std::memcpy(bytes.data() + offsetof(detail::RegionHeader, mutex), &ghost, sizeof ghost);
        test::write_file(file, bytes);
    }
    BOOST_TEST((inspect(home, o.name).lock_state == LockState::owner_dead));
    o.join_timeout = std::chrono::milliseconds(2000);
    Region r = Region::attach(o);
    BOOST_TEST(!r.created());
    LockGuard g = r.lock();
    BOOST_TEST(g.owner_died());
    g.mark_consistent();
    g.unlock();
    LockGuard again = r.lock();
    BOOST_TEST(!again.owner_died());
}
