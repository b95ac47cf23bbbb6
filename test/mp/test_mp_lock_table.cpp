// The lock table (issue 12) under contention and under SIGKILL, with real processes:
//
//  - exclusive holders exclude each other: processes (and threads with attaches of their
//    own) increment non-atomic counters in data() under lock(i), by every acquisition form;
//    the final counts are the sums, and no holder ever finds another inside;
//  - shared holders really hold together: K readers all hold lock_shared(i) at once;
//  - writers exclude readers: a reader never sees a half-written record, and never a writer
//    inside; readers that keep a lock shared between them do not starve a writer;
//  - random SIGKILLs of exclusive holders, shared holders and waiters (blocked in lock(i) or
//    lock_shared(i), draining for shares, woken and killed before they got in), hundreds in
//    all: every survivor comes through (no hang: a gate after every kill, watchdogs in every
//    child, every wait of the parent bounded), owner_died() is seen after every death of an
//    exclusive holder (by a worker or by the audit, until the repairer marks it consistent)
//    and never without one, the records are torn only by dead writers, and no update is
//    lost or duplicated;
//  - a reader stopped (ptrace) between counting its share and looking at the mutex, while
//    another locker records an exclusive holder's death or repairs and marks it consistent:
//    its owner_died() says what the lock word says once it is in (group needs_ptrace);
//  - with inspect()'s lock table report (group needs_inspect_lock_table, its own CTest entry):
//    the death counters (exclusive_deaths, shared_deaths) match the kills.
#define BOOST_TEST_MODULE mp_lock_table
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "lock_table_support.hpp"
#include "mp_support.hpp"
#include "traced_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace shmregion;
using namespace std::chrono_literals;
using locktest::ChildAttach;
using locktest::Clock;
using locktest::table_options;
using test::BackingSet;
namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;

namespace mplock {

inline auto needs_inspect() { return boost::unit_test::label("needs_inspect_lock_table"); }

std::uint64_t load(const std::uint64_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void store(std::uint64_t* p, std::uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/// Children must die of a fault or of their watchdog (SIGALRM) rather than enter
/// Boost.Test's handlers, which would go on running tests in the child.
void default_signals_in_child() {
    for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM}) ::signal(s, SIG_DFL);
}

/// A little work inside a critical section, to widen the windows a broken lock would leave.
void dawdle(std::mt19937_64& rng) {
    const unsigned roll = static_cast<unsigned>(rng() % 16);
    if (roll == 0) sched_yield();
    else if (roll < 4)
        for (unsigned k = 0; k < roll * 50; ++k) __asm__ __volatile__("" ::: "memory");
}

/// Per lock, a counter guarded by it and a "who is inside" word, in data(), one cache line each.
struct Guarded {
    std::uint64_t counter;
    std::uint64_t inside;   // pid of the exclusive holder inside, 0 if none
    std::uint64_t readers;  // readers inside (atomic)
    std::uint64_t pad[5];
};
static_assert(sizeof(Guarded) == 64);

/// Runs in a process (or a thread) with its own attach `r`: `iterations` increments of
/// counters[i] under lock(i), i at random, through the acquisition form `form` (0 lock,
/// 1 try_lock in a loop, 2 try_lock_for, 3 every one in turn), with a shared look now and
/// then (the counter must not move under a share). Returns 0 or a failure code; counts its
/// increments in done[i].
int count_under_locks(Region& r, std::uint32_t locks, unsigned iterations, unsigned form, std::uint64_t seed,
                      std::uint64_t* done) {
    auto* g = static_cast<Guarded*>(r.data());
    std::mt19937_64 rng(seed);
    const std::uint64_t me = static_cast<std::uint64_t>(::getpid()) << 20 | (seed & 0xfffff);
    for (unsigned n = 0; n < iterations; ++n) {
        const auto i = static_cast<std::uint32_t>(rng() % locks);
        if (rng() % 8 == 0) {
            SharedLockGuard s = n % 2 ? r.lock_shared(i) : r.try_lock_shared_for(i, 30s);
            CHILD_CHECK(s.owns_lock(), 30);
            __atomic_fetch_add(&g[i].readers, 1, __ATOMIC_SEQ_CST);
            const std::uint64_t c = load(&g[i].counter);
            CHILD_CHECK(load(&g[i].inside) == 0, 31);
            dawdle(rng);
            CHILD_CHECK(load(&g[i].counter) == c, 32);  // no writer while a share is held
            __atomic_fetch_sub(&g[i].readers, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        LockGuard x;
        const unsigned f = form == 3 ? n % 3 : form;
        if (f == 0) {
            x = r.lock(i);
        } else if (f == 1) {
            while (!(x = r.try_lock(i)).owns_lock()) sched_yield();
        } else {
            x = r.try_lock_for(i, 30s);
        }
        CHILD_CHECK(x.owns_lock(), 20);
        CHILD_CHECK(!x.owner_died(), 21);
        CHILD_CHECK(load(&g[i].inside) == 0, 22);  // nobody else inside
        CHILD_CHECK(__atomic_load_n(&g[i].readers, __ATOMIC_SEQ_CST) == 0, 23);
        store(&g[i].inside, me);
        const std::uint64_t c = load(&g[i].counter);
        dawdle(rng);
        store(&g[i].counter, c + 1);  // not atomic: a second writer inside would lose counts
        CHILD_CHECK(load(&g[i].inside) == me, 24);
        store(&g[i].inside, 0);
        ++done[i];
    }
    return 0;
}

}  // namespace mplock

using namespace mplock;

// ---- contention ----------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(exclusive_holders_exclude_each_other, test::backing_data(BackingSet::cross_process),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    constexpr unsigned kProcs = 4, kIterations = 4000;
    constexpr std::uint32_t kLocks = 3;
    const Options o = table_options(home, test::backing_named(backing_name), kLocks);
    Region r = Region::attach(o);
    test::SharedMemory mem(kProcs * kLocks * sizeof(std::uint64_t));
    auto* done = mem.as<std::uint64_t>();
    test::SharedBarrier start(kProcs);
    std::vector<pid_t> pids;
    for (unsigned p = 0; p < kProcs; ++p)
        pids.push_back(children.spawn([&, p]() -> int {
            default_signals_in_child();
            ChildAttach a(r, o);
            start.wait();
            const int rc = count_under_locks(*a, kLocks, kIterations, p, 1000 + p, done + p * kLocks);
            a.detach();
            return rc;
        }));
    for (pid_t p : pids) BOOST_TEST(children.wait(p) == 0);
    const auto* g = static_cast<const Guarded*>(r.data());
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < kLocks; ++i) {
        std::uint64_t sum = 0;
        for (unsigned p = 0; p < kProcs; ++p) sum += done[p * kLocks + i];
        BOOST_TEST(g[i].counter == sum, "lock " << i << ": counter " << g[i].counter << ", increments " << sum);
        total += sum;
    }
    BOOST_TEST(total > kProcs * kIterations / 2);
    for (std::uint32_t i = 0; i < kLocks; ++i) {
        LockGuard x = r.try_lock(i);
        BOOST_TEST(x.owns_lock());
        BOOST_TEST(!x.owner_died());
    }
}

// Threads of one process, each with its own attach (a Region is not shared between threads).
BOOST_DATA_TEST_CASE(threads_with_attaches_of_their_own_exclude_each_other, test::backing_data(BackingSet::named),
                     backing_name) {
    mptest::Home home;
    constexpr unsigned kThreads = 4, kIterations = 3000;
    constexpr std::uint32_t kLocks = 2;
    const Options o = table_options(home, test::backing_named(backing_name), kLocks);
    Region r = Region::attach(o);
    std::vector<std::uint64_t> done(kThreads * kLocks, 0);
    std::vector<int> rc(kThreads, -1);
    std::vector<Region> attaches;
    for (unsigned t = 0; t < kThreads; ++t) attaches.push_back(Region::attach(o));
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            rc[t] = count_under_locks(attaches[t], kLocks, kIterations, t % 4, 77 + t, done.data() + t * kLocks);
        });
    for (auto& th : threads) th.join();
    for (unsigned t = 0; t < kThreads; ++t) BOOST_TEST(rc[t] == 0, "thread " << t);
    const auto* g = static_cast<const Guarded*>(r.data());
    for (std::uint32_t i = 0; i < kLocks; ++i) {
        std::uint64_t sum = 0;
        for (unsigned t = 0; t < kThreads; ++t) sum += done[t * kLocks + i];
        BOOST_TEST(g[i].counter == sum, "lock " << i);
    }
}

// K readers all hold a share of one lock at the same time: each comes in, counts itself, and
// waits (10 s at most) until all K are in. Meanwhile no writer gets in. By every shared form.
BOOST_DATA_TEST_CASE(shared_holders_hold_together, test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    constexpr unsigned kReaders = 6;
    const Options o = table_options(home, test::backing_named(backing_name), 3);
    Region r = Region::attach(o);
    test::SharedMemory mem(64);
    auto* inside = mem.as<std::uint64_t>();  // [lock]: readers in
    test::Signal all_in, release;
    std::vector<pid_t> pids;
    for (unsigned k = 0; k < kReaders; ++k)
        pids.push_back(children.spawn([&, k]() -> int {
            default_signals_in_child();
            ChildAttach a(r, o);
            for (std::uint32_t i = 0; i < 3; ++i) {
                SharedLockGuard s = (k + i) % 3 == 0   ? a->lock_shared(i)
                                    : (k + i) % 3 == 1 ? a->try_lock_shared_for(i, 10s)
                                                       : SharedLockGuard();
                if (!s.owns_lock())  // the plain try, in a loop (a writer may hold it a moment)
                    CHILD_CHECK(locktest::wait_until([&] { return (s = a->try_lock_shared(i)).owns_lock(); }), 10);
                CHILD_CHECK(s.owns_lock(), 11);
                CHILD_CHECK(!s.owner_died(), 12);
                const std::uint64_t n = __atomic_add_fetch(&inside[i], 1, __ATOMIC_SEQ_CST);
                CHILD_CHECK(locktest::wait_until(
                                [&] { return __atomic_load_n(&inside[i], __ATOMIC_SEQ_CST) >= kReaders; }),
                            13);  // all readers hold it at once
                if (n == kReaders) all_in.notify();
                // Hold until the parent has looked (it tries the lock exclusively meanwhile).
                CHILD_CHECK(release.wait(30000), 14);
            }
            a.detach();
            return 0;
        }));
    for (std::uint32_t i = 0; i < 3; ++i) {
        BOOST_TEST_CONTEXT("lock " << i) {
            BOOST_REQUIRE_MESSAGE(all_in.wait(20000), "the readers never all held lock " << i << " at once");
            BOOST_TEST(__atomic_load_n(&inside[i], __ATOMIC_SEQ_CST) == kReaders);
            BOOST_TEST(!r.try_lock(i).owns_lock(), "a writer got in among " << kReaders << " readers");
            BOOST_TEST(!r.try_lock_for(i, 20ms).owns_lock());
            BOOST_TEST(r.try_lock_shared(i).owns_lock());
            for (unsigned k = 0; k < kReaders; ++k) release.notify();
        }
    }
    for (pid_t p : pids) BOOST_TEST(children.wait(p) == 0);
    for (std::uint32_t i = 0; i < 3; ++i) BOOST_TEST(r.try_lock(i).owns_lock());
}

// Writers write a record (two fields and a payload between them) under lock(0); readers read
// it under lock_shared(0) and must never see it half-written, nor a writer inside with them.
BOOST_DATA_TEST_CASE(writers_exclude_readers, test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    mptest::Children children;
    constexpr unsigned kWriters = 2, kReaders = 3, kWrites = 3000;
    const Options o = table_options(home, test::backing_named(backing_name), 1);
    Region r = Region::attach(o);
    struct Rec {
        std::uint64_t first;
        std::uint64_t payload[30];
        std::uint64_t last;
        std::uint64_t writer_inside;
        std::uint64_t readers_inside;
    };
    static_assert(sizeof(Rec) < 64 * 1024);
    test::SharedMemory mem(64 * (kReaders + 1));
    auto* reads = mem.as<std::uint64_t>();  // [reader * 8]: records read; [kReaders * 8]: writers done
    std::vector<pid_t> writers, readers;
    for (unsigned w = 0; w < kWriters; ++w)
        writers.push_back(children.spawn([&, w]() -> int {
            default_signals_in_child();
            ChildAttach a(r, o);
            auto* rec = static_cast<Rec*>(a->data());
            std::mt19937_64 rng(w);
            for (unsigned n = 0; n < kWrites; ++n) {
                LockGuard g = n % 2 ? a->lock(0) : a->try_lock_for(0, 30s);
                CHILD_CHECK(g.owns_lock(), 10);
                CHILD_CHECK(__atomic_load_n(&rec->readers_inside, __ATOMIC_SEQ_CST) == 0, 11);
                CHILD_CHECK(load(&rec->writer_inside) == 0, 12);
                store(&rec->writer_inside, 1);
                const std::uint64_t v = (std::uint64_t{w} << 32) | n;
                store(&rec->first, v);
                for (auto& p : rec->payload) store(&p, v);
                dawdle(rng);
                store(&rec->last, v);
                store(&rec->writer_inside, 0);
            }
            __atomic_fetch_add(&reads[kReaders * 8], 1, __ATOMIC_SEQ_CST);
            a.detach();
            return 0;
        }));
    for (unsigned k = 0; k < kReaders; ++k)
        readers.push_back(children.spawn([&, k]() -> int {
            default_signals_in_child();
            ChildAttach a(r, o);
            auto* rec = static_cast<Rec*>(a->data());
            std::mt19937_64 rng(100 + k);
            while (__atomic_load_n(&reads[kReaders * 8], __ATOMIC_SEQ_CST) < kWriters) {
                SharedLockGuard s = k % 2 ? a->lock_shared(0) : a->try_lock_shared_for(0, 30s);
                CHILD_CHECK(s.owns_lock(), 10);
                __atomic_fetch_add(&rec->readers_inside, 1, __ATOMIC_SEQ_CST);
                CHILD_CHECK(load(&rec->writer_inside) == 0, 11);
                const std::uint64_t v = load(&rec->first);
                dawdle(rng);
                for (const auto& p : rec->payload) CHILD_CHECK(load(&p) == v, 12);
                CHILD_CHECK(load(&rec->last) == v, 13);
                __atomic_fetch_sub(&rec->readers_inside, 1, __ATOMIC_SEQ_CST);
                ++reads[k * 8];
            }
            a.detach();
            return 0;
        }));
    for (pid_t p : writers) BOOST_TEST(children.wait(p) == 0);
    for (pid_t p : readers) BOOST_TEST(children.wait(p) == 0);
    std::uint64_t total = 0;
    for (unsigned k = 0; k < kReaders; ++k) total += reads[k * 8];
    BOOST_TEST(total > 0u, "the readers never got in while the writers wrote");
    BOOST_TEST_MESSAGE(backing_name << ": " << total << " records read during " << kWriters * kWrites << " writes");
}

// Readers that keep a share of lock 0 held all the time between them (each holds it a
// moment, lets go and takes it again at once) do not starve a writer: once it waits, new
// readers wait behind it. It gets in (within 10 s: generous), and no reader is in with it.
BOOST_DATA_TEST_CASE(a_writer_is_not_starved_by_overlapping_readers, test::backing_data(BackingSet::cross_process),
                     backing_name) {
    mptest::Home home;
    mptest::Children children;
    constexpr unsigned kReaders = 3;
    const Options o = table_options(home, test::backing_named(backing_name), 1);
    Region r = Region::attach(o);
    test::SharedMemory mem(64);
    auto* w = mem.as<std::uint64_t>();  // [0] readers in, [1] writer in, [2] stop, [3] reads
    std::vector<pid_t> pids;
    for (unsigned k = 0; k < kReaders; ++k)
        pids.push_back(children.spawn([&, k]() -> int {
            default_signals_in_child();
            ChildAttach a(r, o);
            locktest::sleep_for(std::chrono::microseconds(700 * k));  // staggered
            while (!__atomic_load_n(&w[2], __ATOMIC_SEQ_CST)) {
                SharedLockGuard s = a->lock_shared(0);
                CHILD_CHECK(s.owns_lock(), 10);
                __atomic_fetch_add(&w[0], 1, __ATOMIC_SEQ_CST);
                CHILD_CHECK(__atomic_load_n(&w[1], __ATOMIC_SEQ_CST) == 0, 11);
                locktest::sleep_for(2ms);
                CHILD_CHECK(__atomic_load_n(&w[1], __ATOMIC_SEQ_CST) == 0, 12);
                __atomic_fetch_sub(&w[0], 1, __ATOMIC_SEQ_CST);
                __atomic_fetch_add(&w[3], 1, __ATOMIC_SEQ_CST);
            }
            a.detach();
            return 0;
        }));
    BOOST_REQUIRE(locktest::wait_until([&] { return __atomic_load_n(&w[3], __ATOMIC_SEQ_CST) >= 3 * kReaders; }));
    for (int n = 0; n < 5; ++n) {
        const auto t0 = Clock::now();
        LockGuard g = r.try_lock_for(0, 10s);
        BOOST_TEST(g.owns_lock(), "the writer waited 10 s among readers that kept the lock shared");
        if (!g) break;
        __atomic_store_n(&w[1], 1, __ATOMIC_SEQ_CST);
        BOOST_TEST(__atomic_load_n(&w[0], __ATOMIC_SEQ_CST) == 0u, "a reader is in with the writer");
        locktest::sleep_for(1ms);
        __atomic_store_n(&w[1], 0, __ATOMIC_SEQ_CST);
        BOOST_TEST_MESSAGE("the writer got in after " << locktest::ms_since(t0) << " ms");
        g.unlock();
        locktest::sleep_for(5ms);
    }
    __atomic_store_n(&w[2], 1, __ATOMIC_SEQ_CST);
    for (pid_t p : pids) BOOST_TEST(children.wait(p) == 0);
}

// ---- a reader stopped inside lock_shared() -------------------------------------------------

namespace {

/// The stopped reader: its own attach, traced by the parent, stops itself right before
/// lock_shared(0), then reports what its guard says in *owner_died (1 reported, 2 not).
int stopped_reader(Region& r, const Options& o, int* owner_died, const mptest::TraceStop& stop) {
    default_signals_in_child();
    ChildAttach a(r, o);
    if (!stop()) return 0;
    SharedLockGuard s = a->lock_shared(0);
    CHILD_CHECK(s.owns_lock(), 10);
    *owner_died = s.owner_died() ? 1 : 2;
    s.unlock();
    a.detach();
    return 0;
}

/// Single-steps the stopped child `p` until lock 0's word counts a share, the child's own (it
/// has just added it, and not yet looked at the mutex). False if it never did within the steps
/// (*ended: because it ended, and was reaped).
bool step_until_counted(pid_t p, const Region& r, std::uint32_t max_attachers, bool* ended) {
    for (int step = 0; step < 1'000'000; ++step) {
        if (locktest::peek_lock(r, max_attachers, 0).shares != 0) return true;
        int st = 0;
        if (::ptrace(PTRACE_SINGLESTEP, p, nullptr, nullptr) != 0) return false;
        if (!mptest::wait_stop(p, &st)) return !(*ended = true);
    }
    return false;
}

/// A holder of lock 0 exclusively in a child, killed holding it: the mutex is left marked
/// OWNER_DIED by the kernel, the death not recorded in the word yet.
void kill_an_exclusive_holder(mptest::Children& children, Region& r, const Options& o) {
    test::Signal held;
    const pid_t v = children.spawn([&]() -> int {
        default_signals_in_child();
        ChildAttach a(r, o);
        LockGuard g = a->lock(0);
        held.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE_MESSAGE(held.wait(20000), "the exclusive holder never got lock 0");
    children.kill(v);
    const locktest::LockPeek p = locktest::peek_lock(r, o.max_attachers, 0);
    BOOST_REQUIRE(p.mutex_owner_died);
    BOOST_REQUIRE(!p.owner_died);
}

/// One case's setup: a region with one lock whose exclusive holder was killed holding it,
/// and the stopped reader, once started.
struct StoppedReaderCase {
    mptest::Home home;
    mptest::Children children;
    Options o;
    Region r;
    test::SharedMemory mem{sizeof(int)};
    int* owner_died = new (mem.get()) int(0);  // the reader's report
    pid_t reader = 0;
    std::string why_not;  // ptrace is not allowed here

    explicit StoppedReaderCase(std::string_view backing_name)
        : o(table_options(home, test::backing_named(backing_name), 1)), r(Region::attach(o)) {
        kill_an_exclusive_holder(children, r, o);
    }
    /// Starts the reader and steps it to just after its share is counted. False (the case
    /// is then skipped) if ptrace is not allowed here.
    bool start_reader() {
        reader = mptest::spawn_traced(
            children, [this](const mptest::TraceStop& stop) { return stopped_reader(r, o, owner_died, stop); }, why_not);
        if (!reader) return false;
        bool ended = false;
        const bool counted = step_until_counted(reader, r, o.max_attachers, &ended);
        if (ended) children.forget(reader);
        BOOST_REQUIRE_MESSAGE(counted, "the reader, single-stepped, never counted its share of lock 0"
                                           << (ended ? " (it ended)" : ""));
        return true;
    }
    /// Lets the reader run on; its exit status.
    int finish_reader() {
        BOOST_REQUIRE(::ptrace(PTRACE_DETACH, reader, nullptr, nullptr) == 0);
        return children.wait(reader);
    }
};

}  // namespace

// Death recorded meanwhile: the reader counts its share while the dead holder's death is not
// yet in the word, and looks at the mutex only after another reader took it (EOWNERDEAD),
// recorded the death and let it go. The mutex is free then, and the reader is in: the death
// is unrepaired, so it must say owner_died(). (A reader that judged by the word as its add
// found it did not, and read half-written data unwarned: the torture test found that.)
BOOST_TEST_DECORATOR(*boost::unit_test::label("needs_ptrace"))
BOOST_DATA_TEST_CASE(a_reader_stopped_before_its_look_at_the_mutex_hears_of_a_death_recorded_meanwhile,
                     test::backing_data(BackingSet::cross_process), backing_name) {
    StoppedReaderCase c(backing_name);
    if (!c.start_reader()) SHMREGION_SKIP(c.why_not);
    {
        // The reader's share is counted, the mutex still the dead holder's.
        const locktest::LockPeek p = locktest::peek_lock(c.r, c.o.max_attachers, 0);
        BOOST_REQUIRE(p.mutex_owner_died);
        BOOST_REQUIRE(!p.owner_died);
        SharedLockGuard s = c.r.lock_shared(0);  // takes the mutex (EOWNERDEAD), records, lets it go
        BOOST_TEST(s.owner_died());
        BOOST_TEST(locktest::peek_lock(c.r, c.o.max_attachers, 0).owner_died);
        BOOST_TEST(!locktest::peek_lock(c.r, c.o.max_attachers, 0).mutex_held);
    }
    BOOST_TEST(c.finish_reader() == 0);
    BOOST_TEST(*c.owner_died == 1, "the reader got in after the death was recorded, unrepaired, and was not told");
    LockGuard g = c.r.lock(0);
    BOOST_TEST(g.owner_died());
}

// Repaired meanwhile: the reader counts its share while the repairer holds lock 0 (in after
// the death, told owner_died()), and looks at the mutex only after the repairer marked it
// consistent and let it go. The reader is in after the repair: no owner_died().
BOOST_TEST_DECORATOR(*boost::unit_test::label("needs_ptrace"))
BOOST_DATA_TEST_CASE(a_reader_stopped_before_its_look_at_the_mutex_hears_nothing_of_a_death_repaired_meanwhile,
                     test::backing_data(BackingSet::cross_process), backing_name) {
    StoppedReaderCase c(backing_name);
    LockGuard g = c.r.lock(0);
    BOOST_REQUIRE(g.owner_died());
    if (!c.start_reader()) SHMREGION_SKIP(c.why_not);
    BOOST_REQUIRE(locktest::peek_lock(c.r, c.o.max_attachers, 0).owner_died);
    g.mark_consistent();
    g.unlock();
    BOOST_TEST(c.finish_reader() == 0);
    BOOST_TEST(*c.owner_died == 2, "the reader got in after the repair and was told a holder died");
    BOOST_TEST(!c.r.lock_shared(0).owner_died());
}

// ---- random kills ----------------------------------------------------------------------------------
//
// A supervisor (the test process, with an attach of its own) runs kWorkers worker processes
// on one region of kLocks table locks. Each lock guards a record in data(): two words that
// are equal unless a writer died between them, and an update count kept without atomics
// (its twin, Ctl::acked, is atomic: they differ if two writers were ever in at once, or by
// one after the death of a writer between them). Workers loop taking random locks, shared
// or exclusive, by every form, now and then detaching while they hold one. The supervisor
// kills one worker per kill event:
//  - holder_x: told to take lock i exclusively and stop half-way through its record write;
//  - holder_s: told to take 1 to 3 shares of lock i and stop;
//  - waiter:   the supervisor holds lock i (exclusive or shared) and tells two workers to
//              wait for it; it kills one while it waits, or (with the others stopped) right
//              after releasing the lock (woken, perhaps in), or a writer waiting for the
//              supervisor's share to drain with a reader queued behind it;
//  - random:   at a random moment, with every other worker stopped (SIGSTOP) so that the
//              victim's phase word says what it held.
// Ctl::outstanding[i] says whether lock i may carry an unrepaired owner death: 0 no, 1 yes
// (its exclusive holder died in its critical section), 2 perhaps (it died inside a lock,
// unlock or detach call). Every acquisition checks owner_died() against it: reported with
// 0 is a spurious report, not reported with 1 a missed one. An exclusive holder told
// owner_died() repairs the record and calls mark_consistent(). After every kill the gate
// closes: every survivor must reach it (a worker stuck on a lock is a hang), and the
// supervisor audits every lock (shared, then exclusive: owner_died() as expected, record
// whole, counts equal, nothing left held or waiting) and the attacher table.

namespace mplock {

constexpr unsigned kWorkers = 5;
constexpr std::uint32_t kLocks = 3;
constexpr unsigned kHangS = 15;  // a gate, an announcement or a lock the supervisor waits for

enum Phase : std::uint32_t {
    kStarting, kIdle, kParked, kLockX, kHeldX, kUnlockX, kLockS, kHeldS, kUnlockS, kDetachX, kDetachS, kAttach,
    kExiting,
};
const char* phase_name(std::uint32_t p) {
    static const char* const names[] = {"starting", "idle", "parked", "lock", "held exclusive", "unlock",
                                        "lock_shared", "held shared", "unlock shared", "detach holding exclusive",
                                        "detach holding shared", "attach", "exiting"};
    return p < sizeof names / sizeof names[0] ? names[p] : "?";
}
enum Order : std::uint32_t { kNoOrder, kOrderHoldX, kOrderHoldS, kOrderWaitX, kOrderWaitS };

struct Record {
    std::uint64_t a, b;    // equal unless a writer died between its two stores
    std::uint64_t writes;  // updates, counted without atomics under the lock
    std::uint64_t pad[5];
};
static_assert(sizeof(Record) == 64);

struct WorkerState {
    std::atomic<std::uint32_t> phase{kStarting};
    std::atomic<std::uint32_t> lock{0};  // the lock its phase is about
    std::atomic<std::int32_t> pid{0};
    std::atomic<std::uint32_t> order{kNoOrder}, order_lock{0}, order_shares{0};
    char failure[400] = {};
};

struct Ctl {
    std::atomic<std::uint32_t> gate{0}, quit{0};
    std::atomic<std::uint32_t> outstanding[kLocks] = {};
    std::atomic<std::uint64_t> acked[kLocks] = {};
    std::atomic<std::uint64_t> reports_x{0}, reports_s{0}, repairs{0}, x_ops{0}, s_ops{0}, reattaches{0};
    WorkerState w[kWorkers];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

Record* records_of(const Region& r) { return static_cast<Record*>(r.data()); }

/// The checks of an exclusive acquisition of lock i (the guard g holds it): owner_died()
/// against Ctl::outstanding, the record, the counts; repairs and marks consistent when told.
/// "" or what is wrong.
std::string check_exclusive(Ctl& ctl, const Region& r, std::uint32_t i, LockGuard& g) {
    Record& rec = records_of(r)[i];
    const std::uint32_t out = ctl.outstanding[i].load();
    char msg[300];
    if (g.owner_died()) {
        ctl.reports_x.fetch_add(1);
        if (out == 0) {
            std::snprintf(msg, sizeof msg, "owner_died() on an exclusive acquisition of lock %u, but none of its holders died", i);
            return msg;
        }
        store(&rec.b, load(&rec.a));
        ctl.acked[i].store(load(&rec.writes));
        ctl.outstanding[i].store(2);  // dying from here to the end of the repair: perhaps unrepaired
        g.mark_consistent();
        if (g.owner_died()) return "owner_died() still true after mark_consistent()";
        ctl.outstanding[i].store(0);
        ctl.repairs.fetch_add(1);
        return {};
    }
    if (out == 1) {
        std::snprintf(msg, sizeof msg,
                      "no owner_died() on an exclusive acquisition of lock %u after its exclusive holder died holding it", i);
        return msg;
    }
    if (out == 2) ctl.outstanding[i].store(0);
    if (load(&rec.a) != load(&rec.b)) {
        std::snprintf(msg, sizeof msg, "lock %u's record is half-written (%#" PRIx64 " / %#" PRIx64 ") and owner_died() did not say so",
                      i, load(&rec.a), load(&rec.b));
        return msg;
    }
    if (load(&rec.writes) != ctl.acked[i].load()) {
        std::snprintf(msg, sizeof msg, "lock %u: %" PRIu64 " updates counted under the lock, %" PRIu64
                      " acknowledged: two writers were in at once", i, load(&rec.writes), ctl.acked[i].load());
        return msg;
    }
    return {};
}

/// The checks of a shared acquisition: owner_died() against Ctl::outstanding, the record.
std::string check_shared(Ctl& ctl, const Region& r, std::uint32_t i, const SharedLockGuard& s) {
    const Record& rec = records_of(r)[i];
    const std::uint32_t out = ctl.outstanding[i].load();
    char msg[300];
    if (s.owner_died()) {
        ctl.reports_s.fetch_add(1);
        if (out == 0) {
            std::snprintf(msg, sizeof msg, "owner_died() on a shared acquisition of lock %u, but none of its holders died", i);
            return msg;
        }
        return {};
    }
    if (out == 1) {
        std::snprintf(msg, sizeof msg, "no owner_died() on a shared acquisition of lock %u after its exclusive holder died", i);
        return msg;
    }
    if (load(&rec.a) != load(&rec.b)) {
        std::snprintf(msg, sizeof msg, "a reader of lock %u sees its record half-written (%#" PRIx64 " / %#" PRIx64 ")", i,
                      load(&rec.a), load(&rec.b));
        return msg;
    }
    return {};
}

constexpr unsigned char kMsgExited = 0x40;
constexpr unsigned char kMsgIndex = 0x3f;

void send_byte(int fd, unsigned char b) noexcept {
    while (::write(fd, &b, 1) < 0 && errno == EINTR) {
    }
}

class Worker {
public:
    Worker(Ctl& ctl, const Options& o, Region& inherited, unsigned idx, int parked_w, int holder_w, int resume_r,
           std::uint64_t seed)
        : ctl_(ctl), o_(o), inherited_(inherited), idx_(idx), parked_w_(parked_w), holder_w_(holder_w),
          resume_r_(resume_r), me_(ctl.w[idx]), rng_(seed ^ (static_cast<std::uint64_t>(::getpid()) << 17)) {}

    int run() {
        try {
            me_.pid.store(::getpid());
            me_.phase = kAttach;
            if (o_.backing == Backing::anonymous) {
                inherited_.join_after_fork();
                r_ = &inherited_;
            } else {
                own_ = Region::attach(o_);
                r_ = &own_;
            }
            for (;;) {
                ::alarm(kHangS * 3);
                me_.phase = kIdle;
                if (ctl_.quit.load()) break;
                if (ctl_.gate.load()) {
                    if (int rc = park()) return rc;
                    continue;
                }
                if (const std::uint32_t order = me_.order.exchange(kNoOrder)) {
                    if (int rc = obey(order)) return rc;
                    continue;
                }
                if (int rc = one_op()) return rc;
            }
            r_->detach();
            me_.phase = kExiting;
            send_byte(parked_w_, static_cast<unsigned char>(kMsgExited | idx_));
            return 0;
        } catch (const std::exception& e) {
            return fail(250, "exception in phase %s: %s", phase_name(me_.phase), e.what());
        }
    }

private:
    int fail(int code, const char* fmt, ...) __attribute__((format(printf, 3, 4))) {
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        std::snprintf(me_.failure, sizeof me_.failure, "worker %u (pid %d): %s", idx_, static_cast<int>(::getpid()), msg);
        std::fprintf(stderr, "mp_lock_table: %s (exit %d)\n", me_.failure, code);
        return code;
    }

    int park() {
        me_.phase = kParked;
        send_byte(parked_w_, static_cast<unsigned char>(idx_));
        char c = 0;
        ssize_t n;
        while ((n = ::read(resume_r_, &c, 1)) < 0 && errno == EINTR) {
        }
        if (n != 1) return fail(22, "the supervisor went away while this worker was parked");
        return 0;
    }

    /// Lock i exclusively by a random form (blocking: lock(i) itself).
    LockGuard acquire_x(std::uint32_t i, bool blocking) {
        const unsigned form = blocking ? 0 : static_cast<unsigned>(rng_() % 4);
        if (form == 0) return r_->lock(i);
        if (form == 1) return r_->try_lock_for(i, std::chrono::seconds(kHangS));
        LockGuard g;
        const auto deadline = Clock::now() + std::chrono::seconds(kHangS);
        while (Clock::now() < deadline) {
            g = form == 2 ? r_->try_lock(i) : r_->try_lock_for(i, 20ms);
            if (g) break;
            if (form == 2) sched_yield();
        }
        return g;
    }
    SharedLockGuard acquire_s(std::uint32_t i, bool blocking) {
        const unsigned form = blocking ? 0 : static_cast<unsigned>(rng_() % 4);
        if (form == 0) return r_->lock_shared(i);
        if (form == 1) return r_->try_lock_shared_for(i, std::chrono::seconds(kHangS));
        SharedLockGuard s;
        const auto deadline = Clock::now() + std::chrono::seconds(kHangS);
        while (Clock::now() < deadline) {
            s = form == 2 ? r_->try_lock_shared(i) : r_->try_lock_shared_for(i, 20ms);
            if (s) break;
            if (form == 2) sched_yield();
        }
        return s;
    }

    /// An exclusive critical section on lock i: checks, then the record update. stop: say so
    /// half-way through the write and wait to be killed.
    int exclusive_op(std::uint32_t i, bool blocking, bool stop) {
        me_.lock = i;
        me_.phase = kLockX;
        LockGuard g = acquire_x(i, blocking);
        if (!g) return fail(30, "lock %u not acquired exclusively within %u s", i, kHangS);
        me_.phase = kHeldX;
        ctl_.x_ops.fetch_add(1);
        if (const std::string bad = check_exclusive(ctl_, *r_, i, g); !bad.empty()) return fail(31, "%s", bad.c_str());
        Record& rec = records_of(*r_)[i];
        const std::uint64_t v = (static_cast<std::uint64_t>(::getpid()) << 32) | ++counter_;
        store(&rec.a, v);
        if (stop) {
            send_byte(holder_w_, static_cast<unsigned char>(idx_));
            for (;;) ::pause();
        }
        dawdle(rng_);
        const std::uint64_t w = load(&rec.writes);
        dawdle(rng_);
        store(&rec.writes, w + 1);
        ctl_.acked[i].fetch_add(1);
        store(&rec.b, v);
        me_.phase = kUnlockX;
        g.unlock();
        me_.phase = kIdle;
        return 0;
    }

    /// `shares` shares of lock i, checked, held a moment. stop: say so and wait to be killed.
    int shared_op(std::uint32_t i, unsigned shares, bool blocking, bool stop) {
        me_.lock = i;
        me_.phase = kLockS;
        std::vector<SharedLockGuard> held;
        for (unsigned k = 0; k < shares; ++k) {
            held.push_back(acquire_s(i, blocking));
            if (!held.back()) return fail(32, "lock %u not acquired shared within %u s", i, kHangS);
        }
        me_.phase = kHeldS;
        ctl_.s_ops.fetch_add(1);
        if (const std::string bad = check_shared(ctl_, *r_, i, held.front()); !bad.empty())
            return fail(33, "%s", bad.c_str());
        if (stop) {
            send_byte(holder_w_, static_cast<unsigned char>(idx_));
            for (;;) ::pause();
        }
        dawdle(rng_);
        if (const std::string bad = check_shared(ctl_, *r_, i, held.back()); !bad.empty())
            return fail(34, "%s (looking again)", bad.c_str());
        me_.phase = kUnlockS;
        held.clear();
        me_.phase = kIdle;
        return 0;
    }

    /// Detaches while holding lock i (exclusive or shared), checks the guard was emptied,
    /// attaches again.
    int reattach_op(std::uint32_t i, bool exclusive) {
        LockGuard g;
        SharedLockGuard s;
        me_.lock = i;
        if (exclusive) {
            me_.phase = kLockX;
            g = acquire_x(i, false);
            if (!g) return fail(35, "lock %u not acquired exclusively within %u s", i, kHangS);
            me_.phase = kHeldX;
            if (const std::string bad = check_exclusive(ctl_, *r_, i, g); !bad.empty()) return fail(36, "%s", bad.c_str());
            me_.phase = kDetachX;
        } else {
            me_.phase = kLockS;
            s = acquire_s(i, false);
            if (!s) return fail(37, "lock %u not acquired shared within %u s", i, kHangS);
            me_.phase = kHeldS;
            if (const std::string bad = check_shared(ctl_, *r_, i, s); !bad.empty()) return fail(38, "%s", bad.c_str());
            me_.phase = kDetachS;
        }
        own_.detach();
        if (g.owns_lock() || s.owns_lock()) return fail(39, "detach() left a guard holding lock %u", i);
        me_.phase = kAttach;
        own_ = Region::attach(o_);
        me_.phase = kIdle;
        ctl_.reattaches.fetch_add(1);
        return 0;
    }

    int one_op() {
        const auto i = static_cast<std::uint32_t>(rng_() % kLocks);
        const unsigned roll = static_cast<unsigned>(rng_() % 100);
        if (roll < 4 && o_.backing != Backing::anonymous) return reattach_op(i, roll < 2);
        if (roll < 50) return exclusive_op(i, false, false);
        return shared_op(i, 1 + static_cast<unsigned>(rng_() % 2), false, false);
    }

    int obey(std::uint32_t order) {
        const std::uint32_t i = me_.order_lock.load();
        switch (order) {
            case kOrderHoldX: return exclusive_op(i, true, true);
            case kOrderHoldS: return shared_op(i, me_.order_shares.load(), true, true);
            case kOrderWaitX:
                send_byte(holder_w_, static_cast<unsigned char>(idx_));
                return exclusive_op(i, true, false);
            case kOrderWaitS:
                send_byte(holder_w_, static_cast<unsigned char>(idx_));
                return shared_op(i, 1, true, false);
            default: return fail(23, "unknown order %u", order);
        }
    }

    Ctl& ctl_;
    const Options& o_;
    Region& inherited_;
    const unsigned idx_;
    const int parked_w_, holder_w_, resume_r_;
    WorkerState& me_;
    std::mt19937_64 rng_;
    Region own_;
    Region* r_ = nullptr;
    std::uint64_t counter_ = 0;
};

/// What kinds of kill a run makes (relative weights), and how many.
struct KillMix {
    unsigned holder_x = 0, holder_s = 0, waiter = 0, random = 0;
    bool uncertain_waiters = true;  // the "woken and killed" waiter kill, whose outcome is not known
};

struct KillStats {
    unsigned kills = 0, holder_x = 0, holder_s = 0, waiters = 0, random = 0, random_in_call = 0;
    unsigned certain_deaths = 0, uncertain = 0;
    std::uint32_t exclusive_deaths[kLocks] = {};  // certain exclusive holder deaths
    std::uint32_t shares_killed[kLocks] = {};     // shares held by killed shared holders
    std::uint64_t reports_x = 0, reports_s = 0, repairs = 0, x_ops = 0, s_ops = 0, reattaches = 0;
    double seconds = 0;
    std::string line(const std::string& label) const {
        std::ostringstream s;
        s << label << ": " << kills << " kills (exclusive holders " << holder_x << ", shared holders " << holder_s
          << ", waiters " << waiters << ", random " << random << " of which " << random_in_call
          << " inside a lock call), " << certain_deaths << " certain owner deaths, " << uncertain
          << " uncertain; owner_died() reports: exclusive " << reports_x << ", shared " << reports_s << ", repairs "
          << repairs << "; exclusive sections " << x_ops << ", shared " << s_ops << ", detach+attach holding "
          << reattaches << "; " << seconds << " s";
        return s.str();
    }
};

struct Abort {};

class KillRun {
public:
    KillRun(const Options& o, unsigned kills, KillMix mix, std::uint64_t seed)
        : o_(o), kills_(kills), mix_(mix), seed_(seed), rng_(seed), mem_(sizeof(Ctl)), ctl_(*new (mem_.get()) Ctl{}) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        parked_r_ = p[0];
        parked_w_ = p[1];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        holder_r_ = p[0];
        holder_w_ = p[1];
        label_ = std::string(to_string(o.backing)) + " (seed " + std::to_string(seed) + "): ";
    }
    ~KillRun() {
        // Stop them all first: a worker outliving a killed holder would report its death.
        for (unsigned i = 0; i < kWorkers; ++i)
            if (procs_[i].alive) ::kill(procs_[i].pid, SIGSTOP);
        for (unsigned i = 0; i < kWorkers; ++i) {
            if (procs_[i].alive) {
                ::kill(procs_[i].pid, SIGCONT);
                test::kill_and_reap(procs_[i].pid);
            }
            close_resume(i);
        }
        std::error_code ec;
        sup_.detach(ec);
        for (int fd : {parked_r_, parked_w_, holder_r_, holder_w_}) ::close(fd);
        ctl_.~Ctl();
    }

    const KillStats& stats() const { return stats_; }
    bool failed() const { return failed_; }

    void run() {
        const auto t0 = Clock::now();
        try {
            sup_ = Region::attach(o_);
            if (!sup_.created()) fatal("the supervisor's attach of a fresh name did not create it");
            for (unsigned i = 0; i < kWorkers; ++i) spawn(i);
            for (unsigned k = 0; k < kills_; ++k) kill_one(k);
            finish();
        } catch (const Abort&) {
        }
        stats_.reports_x = ctl_.reports_x;
        stats_.reports_s = ctl_.reports_s;
        stats_.repairs = ctl_.repairs;
        stats_.x_ops = ctl_.x_ops;
        stats_.s_ops = ctl_.s_ops;
        stats_.reattaches = ctl_.reattaches;
        stats_.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    }

private:
    struct Proc {
        pid_t pid = 0;
        int resume_r = -1, resume_w = -1;
        bool alive = false, parked = false, said_exit = false;
    };

    void fail(const std::string& msg) {
        failed_ = true;
        BOOST_ERROR(label_ + msg);
    }
    [[noreturn]] void fatal(const std::string& msg) {
        fail(msg + "\n" + dump());
        throw Abort{};
    }

    std::string dump() {
        std::ostringstream s;
        s << "  the last kills:" << history_ << "\n";
        s << "  gate " << ctl_.gate << ", outstanding";
        for (std::uint32_t i = 0; i < kLocks; ++i) s << " " << ctl_.outstanding[i];
        s << "\n";
        for (unsigned i = 0; i < kWorkers; ++i)
            if (procs_[i].alive)
                s << "  worker " << i << " pid " << procs_[i].pid << ": " << phase_name(ctl_.w[i].phase) << " (lock "
                  << ctl_.w[i].lock << ")\n";
        if (sup_) {
            for (std::uint32_t i = 0; i < kLocks; ++i) {
                const locktest::LockPeek p = locktest::peek_lock(sup_, o_.max_attachers, i);
                s << "  lock " << i << ": mutex " << (p.mutex_held ? "held" : "free")
                  << (p.mutex_waiters ? " with waiters" : "") << (p.mutex_owner_died ? " owner died" : "")
                  << ", shares " << p.shares << (p.writer_waiting ? ", writer waiting" : "")
                  << (p.owner_died ? ", owner_died bit" : "") << ", holder pid " << p.holder_pid << "\n";
            }
        }
        return s.str();
    }

    void close_resume(unsigned i) {
        for (int* fd : {&procs_[i].resume_r, &procs_[i].resume_w}) {
            if (*fd >= 0) ::close(*fd);
            *fd = -1;
        }
    }

    void spawn(unsigned i) {
        close_resume(i);
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) fatal("pipe2 failed");
        procs_[i].resume_r = p[0];
        procs_[i].resume_w = p[1];
        WorkerState& s = ctl_.w[i];
        s.phase = kStarting;
        s.pid = 0;
        s.order = kNoOrder;
        s.failure[0] = 0;
        const int resume_r = p[0];
        const std::uint64_t seed = seed_ + 7919 * (++spawned_);
        const pid_t pid = test::spawn(
            [&, i, resume_r, seed] {
                default_signals_in_child();
                Worker w(ctl_, o_, sup_, i, parked_w_, holder_w_, resume_r, seed);
                return w.run();
            },
            kHangS * 3);
        mptest::spawned_pids().push_back(pid);
        procs_[i] = Proc{pid, procs_[i].resume_r, procs_[i].resume_w, true, false, false};
        announced_[i] = false;
    }

    std::string status_text(int st) const {
        return st >= 0 ? "exit " + std::to_string(st) : std::string("signal ") + strsignal(-st);
    }

    /// Workers that ended without being killed: a failure (unless told to quit and exited 0).
    void check_deaths() {
        for (unsigned i = 0; i < kWorkers; ++i) {
            if (!procs_[i].alive) continue;
            int status = 0;
            if (::waitpid(procs_[i].pid, &status, WNOHANG) != procs_[i].pid) continue;
            procs_[i].alive = false;
            const int st = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            drain();
            if (st == 0 && procs_[i].said_exit) continue;
            fatal("worker " + std::to_string(i) + " (pid " + std::to_string(procs_[i].pid) + ") ended with " +
                  status_text(st) + " in phase " + phase_name(ctl_.w[i].phase) +
                  (ctl_.w[i].failure[0] ? std::string(": ") + ctl_.w[i].failure : std::string()));
        }
    }
    void read_parked() {
        unsigned char buf[64];
        const ssize_t n = ::read(parked_r_, buf, sizeof buf);
        for (ssize_t j = 0; j < n; ++j) {
            const unsigned i = buf[j] & kMsgIndex;
            if (i >= kWorkers) fatal("garbage on the parked pipe");
            if (buf[j] & kMsgExited) procs_[i].said_exit = true;
            procs_[i].parked = true;
        }
    }
    void drain() {
        for (pollfd p{parked_r_, POLLIN, 0}; ::poll(&p, 1, 0) > 0; p.revents = 0) read_parked();
    }
    void pump(int timeout_ms) {
        pollfd p{parked_r_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) > 0) read_parked();
        check_deaths();
    }

    unsigned pick(unsigned other_than = kWorkers) {
        std::vector<unsigned> v;
        for (unsigned i = 0; i < kWorkers; ++i)
            if (procs_[i].alive && i != other_than) v.push_back(i);
        if (v.empty()) fatal("no worker left");
        return v[rng_() % v.size()];
    }

    void order(unsigned w, Order what, std::uint32_t i, unsigned shares = 1) {
        ctl_.w[w].order_lock = i;
        ctl_.w[w].order_shares = shares;
        ctl_.w[w].order = what;
    }
    /// Waits for worker w's byte on the holder pipe (it holds, or is about to wait). Bytes
    /// of other workers told something at the same time are kept for their turn.
    void wait_announce(unsigned w, const char* what) {
        const auto deadline = Clock::now() + std::chrono::seconds(kHangS);
        for (;;) {
            if (announced_[w]) {
                announced_[w] = false;
                return;
            }
            pollfd p{holder_r_, POLLIN, 0};
            if (::poll(&p, 1, 50) > 0) {
                unsigned char b = 0;
                if (::read(holder_r_, &b, 1) != 1 || b >= kWorkers) fatal("garbage on the holder pipe");
                announced_[b] = true;
                continue;
            }
            pump(0);
            if (!procs_[w].alive) fatal(std::string("the worker told to ") + what + " died before saying so");
            if (Clock::now() > deadline)
                fatal("worker " + std::to_string(w) + " told to " + what + " did not say so within " +
                      std::to_string(kHangS) + " s (phase " + phase_name(ctl_.w[w].phase) + ") -- a lock that never came?");
        }
    }

    void stop_others(unsigned victim) {
        for (unsigned i = 0; i < kWorkers; ++i)
            if (procs_[i].alive && i != victim) ::kill(procs_[i].pid, SIGSTOP);
        for (unsigned i = 0; i < kWorkers; ++i) {
            if (!procs_[i].alive || i == victim) continue;
            int status = 0;
            while (::waitpid(procs_[i].pid, &status, WUNTRACED) < 0 && errno == EINTR) {
            }
            if (WIFSTOPPED(status)) continue;
            procs_[i].alive = false;
            continue_others();
            fatal("worker " + std::to_string(i) + " ended by itself while being stopped, in phase " +
                  phase_name(ctl_.w[i].phase) + (ctl_.w[i].failure[0] ? std::string(": ") + ctl_.w[i].failure : ""));
        }
    }
    void continue_others() {
        for (unsigned i = 0; i < kWorkers; ++i)
            if (procs_[i].alive) ::kill(procs_[i].pid, SIGCONT);
    }

    void note(const std::string& what) {
        history_ += "\n    " + what;
        while (std::count(history_.begin(), history_.end(), '\n') > 6) history_.erase(0, history_.find('\n', 1));
    }

    /// SIGKILLs and reaps worker v; returns its phase when it died.
    std::uint32_t kill_worker(unsigned v) {
        ::kill(procs_[v].pid, SIGKILL);
        const int st = test::wait_exit(procs_[v].pid);
        note("  killed worker " + std::to_string(v) + " (pid " + std::to_string(procs_[v].pid) + ") in phase " +
             phase_name(ctl_.w[v].phase) + ", lock " + std::to_string(ctl_.w[v].lock));
        procs_[v].alive = false;
        close_resume(v);
        ++stats_.kills;
        if (st != -SIGKILL)
            fatal("victim pid " + std::to_string(procs_[v].pid) + " ended with " + status_text(st) +
                  (ctl_.w[v].failure[0] ? std::string(": ") + ctl_.w[v].failure : ""));
        return ctl_.w[v].phase;
    }

    /// A victim died in `phase` about lock i: what it may have left (nobody else runs, or
    /// nobody else can be in lock i).
    void account(std::uint32_t phase, std::uint32_t i) {
        switch (phase) {
            case kHeldX:
                ctl_.outstanding[i] = 1;
                ++stats_.certain_deaths;
                ++stats_.exclusive_deaths[i];
                break;
            case kLockX:
            case kUnlockX:
            case kDetachX:
            // A reader in lock_shared() may hold the mutex for a moment to add its share
            // (behind a writer: the "woken and killed" waiter kill). Killed in the few
            // instructions before it marks itself transient, its death reads as a holder's:
            // reported though not needed, never missed (docs/architecture.md, "How dead
            // holders are found"). Seen once under ASan + UBSan.
            case kLockS:
                if (ctl_.outstanding[i] != 1) ctl_.outstanding[i] = 2;
                ++stats_.uncertain;
                break;
            default: break;  // held nothing exclusively
        }
    }

    void delay_us(std::uint64_t us) { locktest::sleep_for(std::chrono::microseconds(us)); }

    /// The supervisor's own exclusive acquisition of lock i (bounded), checked.
    LockGuard sup_exclusive(std::uint32_t i) {
        LockGuard g = sup_.try_lock_for(i, std::chrono::seconds(kHangS));
        if (!g) fatal("the supervisor did not get lock " + std::to_string(i) + " exclusively within " +
                      std::to_string(kHangS) + " s");
        if (const std::string bad = check_exclusive(ctl_, sup_, i, g); !bad.empty()) fatal("supervisor: " + bad);
        return g;
    }
    SharedLockGuard sup_shared(std::uint32_t i) {
        SharedLockGuard s = sup_.try_lock_shared_for(i, std::chrono::seconds(kHangS));
        if (!s) fatal("the supervisor did not get a share of lock " + std::to_string(i) + " within " +
                      std::to_string(kHangS) + " s");
        if (const std::string bad = check_shared(ctl_, sup_, i, s); !bad.empty()) fatal("supervisor: " + bad);
        return s;
    }

    void waiter_kill(const std::string& what) {
        const auto i = static_cast<std::uint32_t>(rng_() % kLocks);
        const unsigned w1 = pick(), w2 = pick(w1);
        const unsigned variant = static_cast<unsigned>(rng_() % (mix_.uncertain_waiters ? 3 : 2));
        ++stats_.waiters;
        note("  waiter kill, variant " + std::string(variant == 0 ? "killed waiting" : variant == 1 ? "writer draining" : "woken") +
             ", lock " + std::to_string(i) + ", waiters " + std::to_string(w1) + " and " + std::to_string(w2));
        // Every worker parked first, and only the two waiters let go before they said they
        // wait: a worker blocked on the lock the supervisor holds could not take its order.
        gate("before " + what);
        if (variant == 0 || variant == 2) {
            // The supervisor holds i exclusively; two workers wait for it (exclusive or shared).
            LockGuard g = sup_exclusive(i);
            order(w1, rng_() % 2 ? kOrderWaitX : kOrderWaitS, i);
            order(w2, rng_() % 2 ? kOrderWaitX : kOrderWaitS, i);
            resume_one(w1);
            resume_one(w2);
            wait_announce(w1, "wait for a lock");
            wait_announce(w2, "wait for a lock");
            resume();  // the others too: they may come to wait for i as well
            (void)locktest::wait_until([&] { return locktest::peek_lock(sup_, o_.max_attachers, i).mutex_waiters; }, 1s);
            delay_us(rng_() % 2000);
            if (variant == 0) {  // killed while it waits: no owner death (the supervisor holds it)
                kill_worker(w1);
                g.unlock();
            } else {  // woken by the release and killed at once: perhaps in, perhaps further on
                stop_others(w1);
                g.unlock();
                delay_us(rng_() % 300);
                const std::uint32_t phase = kill_worker(w1);
                account(phase, ctl_.w[w1].lock);
                continue_others();
            }
        } else {
            // The supervisor holds a share; a writer waits for it to drain (holding the
            // mutex), a reader queues behind; the writer is killed: no owner death.
            SharedLockGuard s = sup_shared(i);
            order(w1, kOrderWaitX, i);
            resume_one(w1);
            wait_announce(w1, "wait for a lock");
            (void)locktest::wait_until([&] { return locktest::peek_lock(sup_, o_.max_attachers, i).writer_waiting; }, 2s);
            order(w2, kOrderWaitS, i);
            resume_one(w2);
            wait_announce(w2, "wait for a share");
            resume();
            delay_us(1000 + rng_() % 2000);
            kill_worker(w1);
            s.unlock();
        }
        spawn(w1);
    }

    void kill_one(unsigned k) {
        pump(0);
        const std::string what = "kill " + std::to_string(k);
        note(what + ":");
        const unsigned total = mix_.holder_x + mix_.holder_s + mix_.waiter + mix_.random;
        unsigned roll = static_cast<unsigned>(rng_() % total);
        const std::uint64_t repairs0 = ctl_.repairs;
        const unsigned certain0 = stats_.certain_deaths, uncertain0 = stats_.uncertain;
        if (roll < mix_.holder_x) {
            const unsigned v = pick();
            const auto i = static_cast<std::uint32_t>(rng_() % kLocks);
            order(v, kOrderHoldX, i);
            wait_announce(v, "take a lock exclusively and stop");
            delay_us(rng_() % 1000);
            ctl_.outstanding[i] = 1;  // it holds i exclusively: nobody else is in
            kill_worker(v);
            ++stats_.holder_x;
            ++stats_.certain_deaths;
            ++stats_.exclusive_deaths[i];
            spawn(v);
        } else if ((roll -= mix_.holder_x) < mix_.holder_s) {
            const unsigned v = pick();
            const auto i = static_cast<std::uint32_t>(rng_() % kLocks);
            const unsigned shares = 1 + static_cast<unsigned>(rng_() % 3);
            order(v, kOrderHoldS, i, shares);
            wait_announce(v, "take shares and stop");
            delay_us(rng_() % 1000);
            kill_worker(v);
            ++stats_.holder_s;
            stats_.shares_killed[i] += shares;
            spawn(v);
        } else if ((roll -= mix_.holder_s) < mix_.waiter) {
            waiter_kill(what);
        } else {
            const unsigned v = pick();
            delay_us(rng_() % 20000);
            stop_others(v);
            const std::uint32_t phase = kill_worker(v);
            const std::uint32_t i = ctl_.w[v].lock;
            if (phase != kIdle && phase != kHeldS && phase != kHeldX) ++stats_.random_in_call;
            account(phase, i);
            continue_others();
            ++stats_.random;
            spawn(v);
        }
        gate(what);
        audit(what);
        // One death at most per kill: a certain one is repaired exactly once (by a worker or
        // the audit), an uncertain one at most once, and nothing else is.
        const std::uint64_t repairs = ctl_.repairs - repairs0;
        if (stats_.certain_deaths > certain0 && repairs != 1)
            fail("after " + what + " (a certain owner death): " + std::to_string(repairs) + " repairs");
        if (stats_.certain_deaths == certain0 && stats_.uncertain == uncertain0 && repairs != 0)
            fail("after " + what + " (no owner death): " + std::to_string(repairs) + " repairs");
        if (repairs > 1) fail("after " + what + ": " + std::to_string(repairs) + " repairs of one death");
        resume();
    }

    void gate(const std::string& what) {
        ctl_.gate = 1;
        const auto deadline = Clock::now() + std::chrono::seconds(kHangS);
        for (;;) {
            std::string missing;
            for (unsigned i = 0; i < kWorkers; ++i)
                if (procs_[i].alive && !procs_[i].parked)
                    missing += " worker " + std::to_string(i) + " (" + phase_name(ctl_.w[i].phase) + ", lock " +
                               std::to_string(ctl_.w[i].lock) + ")";
            if (missing.empty()) return;
            if (Clock::now() > deadline)
                fatal("after " + what + ", within " + std::to_string(kHangS) + " s these did not reach the gate:" +
                      missing + " -- a lock that never came?");
            pump(50);
        }
    }

    /// Lets worker w (parked) go on, the others staying parked.
    void resume_one(unsigned w) {
        ctl_.gate = 0;
        if (!procs_[w].alive || !procs_[w].parked) fatal("worker " + std::to_string(w) + " is not parked");
        procs_[w].parked = false;
        send_byte(procs_[w].resume_w, 1);
    }

    void resume() {
        ctl_.gate = 0;
        for (unsigned i = 0; i < kWorkers; ++i) {
            if (!procs_[i].alive || !procs_[i].parked) continue;
            procs_[i].parked = false;
            send_byte(procs_[i].resume_w, 1);
        }
    }

    /// Every worker is parked: each lock, shared then exclusive, as expected; nothing left.
    void audit(const std::string& what) {
        for (std::uint32_t i = 0; i < kLocks; ++i) {
            {
                SharedLockGuard s = sup_shared(i);
            }
            {
                LockGuard g = sup_exclusive(i);
                if (ctl_.outstanding[i] != 0) fatal("after " + what + ": lock " + std::to_string(i) + " still outstanding");
            }
            const locktest::LockPeek p = locktest::peek_lock(sup_, o_.max_attachers, i);
            // (Not writer_waiting: a writer killed while waiting for shares leaves that flag set,
            // harmlessly but wrongly; unit_lock_table checks it, the flag does not stop anybody.)
            if (p.mutex_held || p.shares != 0 || p.owner_died)
                fail("after " + what + ", with every worker parked, lock " + std::to_string(i) + " is not free:\n" + dump());
        }
        (void)sup_.reap_dead_attachers();
        unsigned live = 1;
        for (unsigned i = 0; i < kWorkers; ++i)
            if (procs_[i].alive) ++live;
        std::uint32_t slots = 0, refs = 0;
        if (o_.backing == Backing::anonymous) {
            slots = mptest::slots_in_use(sup_, o_.max_attachers);
            refs = mptest::ref_count_of(sup_, o_.max_attachers);
        } else {
            const RegionInfo info = inspect(o_.home, o_.name);
            slots = static_cast<std::uint32_t>(info.attachers.size());
            refs = info.ref_count;
            if (info.live_attachers() != live) fail("after " + what + ": " + std::to_string(info.live_attachers()) +
                                                    " live attachers, expected " + std::to_string(live));
        }
        if (slots != live || refs != live)
            fail("after " + what + " and reap_dead_attachers(): " + std::to_string(slots) + " slots in use, ref_count " +
                 std::to_string(refs) + ", expected " + std::to_string(live) + " (a dead reader's slot kept?)");
    }

    void finish() {
        pump(0);
        ctl_.quit = 1;
        for (unsigned i = 0; i < kWorkers; ++i) procs_[i].parked = false;
        resume();  // none is parked now; quit makes them leave at the top of their loop
        gate("the end (every worker detaches)");
        for (unsigned i = 0; i < kWorkers; ++i) {
            if (!procs_[i].alive) continue;
            const int st = test::wait_exit(procs_[i].pid);
            procs_[i].alive = false;
            if (st != 0) fail("worker " + std::to_string(i) + " ended with " + status_text(st));
        }
        audit("the end");
    }

    const Options o_;
    const unsigned kills_;
    const KillMix mix_;
    const std::uint64_t seed_;
    std::mt19937_64 rng_;
    test::SharedMemory mem_;
    Ctl& ctl_;
    Region sup_;
    std::string label_;
    int parked_r_ = -1, parked_w_ = -1, holder_r_ = -1, holder_w_ = -1;
    std::array<Proc, kWorkers> procs_{};
    std::array<bool, kWorkers> announced_{};
    std::string history_;  // the last kills, for failure messages
    KillStats stats_;
    unsigned spawned_ = 0;
    bool failed_ = false;
};

std::uint64_t run_seed() {
    if (const char* e = std::getenv("SHMREGION_MP_LOCK_SEED"); e && *e) return std::stoull(e);
    return std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr unsigned kKillsPerBacking = 100;
#else
constexpr unsigned kKillsPerBacking = 250;
#endif

}  // namespace mplock

BOOST_DATA_TEST_CASE(random_kills_of_holders_and_waiters, test::backing_data(BackingSet::cross_process), backing_name) {
    mptest::Home home;
    Options o = table_options(home, test::backing_named(backing_name), kLocks);
    if (o.backing == Backing::anonymous) o.home.clear();
    o.max_attachers = 32;
    const std::uint64_t seed = run_seed();
    KillRun run(o, kKillsPerBacking, KillMix{3, 2, 3, 5, true}, seed);
    run.run();
    const KillStats& s = run.stats();
    BOOST_TEST_MESSAGE(s.line(std::string(backing_name) + ", seed " + std::to_string(seed)));
    std::cout << s.line(std::string("mp_lock_table random kills, ") + backing_name + ", seed " + std::to_string(seed))
              << std::endl;
    BOOST_TEST(!run.failed());
    BOOST_TEST(s.kills >= kKillsPerBacking);
    // Every certain death was reported to somebody (the audit checks each one) and repaired.
    BOOST_TEST(s.repairs >= s.certain_deaths);
    BOOST_TEST(s.repairs <= s.certain_deaths + s.uncertain);
}

// With inspect()'s lock table report: the per-lock death counters are the kills. Only
// kills whose outcome is certain (told holders, waiters the supervisor held off).
BOOST_TEST_DECORATOR(*needs_inspect())
BOOST_DATA_TEST_CASE(death_counters_match_the_kills, test::backing_data(BackingSet::named_growable), backing_name) {
    mptest::Home home;
    Options o = table_options(home, test::backing_named(backing_name), kLocks);
    o.max_attachers = 32;
    const std::uint64_t seed = run_seed();
    RegionInfo info;
    KillStats s;
    {
        KillRun run(o, 30, KillMix{2, 2, 1, 0, false}, seed);
        run.run();
        s = run.stats();
        BOOST_TEST(!run.failed());
        info = inspect(home, o.name);  // the supervisor is still attached
    }
    BOOST_TEST_MESSAGE(s.line(std::string(backing_name) + ", seed " + std::to_string(seed)));
    BOOST_REQUIRE(info.locks.size() == kLocks);
    for (std::uint32_t i = 0; i < kLocks; ++i) {
        BOOST_TEST_CONTEXT("lock " << i) {
            BOOST_TEST(info.locks[i].exclusive_deaths == s.exclusive_deaths[i]);
            BOOST_TEST(info.locks[i].shared_deaths == s.shares_killed[i]);
            BOOST_TEST(!info.locks[i].owner_died);
            BOOST_TEST((info.locks[i].state == LockInfo::State::free));
        }
    }
}
