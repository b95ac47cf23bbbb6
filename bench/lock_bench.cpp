// The locks of issue 12 against the raw pthread locks (the limit) and Boost.Interprocess, in
// one run (docs/performance.md, "Locks (issue 12)"):
//   1. uncontended lock + unlock: the region lock and a table lock (exclusive) against a raw
//      robust, process-shared, error-checking pthread mutex; a share of a table lock against a
//      raw process-shared pthread_rwlock_t read lock;
//   2. two processes contending on one exclusive lock (lock, increment a counter, unlock);
//   3. four reader processes and one writer on one shared/exclusive lock;
//   4. recovery: a holder is SIGKILLed while the parent is blocked taking the lock; the time
//      from the kill and from reaping the child to the parent's acquisition.
// Methods are interleaved round by round (the order rotated every round); the report gives
// medians with the min..max over rounds, and ratios to the raw pthread lock. Every raw lock
// lives in the region's data() (a POSIX shared memory region in a temporary home), the table
// lock and the region lock in its header. Every multi-process run checks its result (the
// counter equals the increments; no reader saw a half-written set of words).
//
// --json FILE also writes every result as one bench::Report document ("benchmark":
// "lock_bench"; bench/plot draws it): one group per table printed, with the same baseline as
// its "vs raw" column. All figures there are seconds per operation, so ratio_to_raw is a time
// ratio (below 1 is faster than raw) everywhere: the throughputs of parts 2 and 3 (ops/s, where
// the terminal's "vs raw" is a rate ratio, above 1 faster) are written as 1 / rate per round,
// and part 4 as the time from the kill to the acquisition.
//
// Usage: lock_bench [--rounds N] [--batch N] [--contend-rounds N] [--contend-ms MS]
//                   [--rw-ms MS] [--trials N] [--only uncontended|contended|rw|recovery]
//                   [--json FILE]
//        analysis: [--method SUBSTR] [--pad-ns N] (see --help)
#include "harness.hpp"

#include <shmregion/shmregion.hpp>

#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/interprocess_sharable_mutex.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bip = boost::interprocess;
using Clock = std::chrono::steady_clock;

namespace {

// ---- settings, cleanup -------------------------------------------------------------------

struct Settings {
    int rounds = 31;           // uncontended: rounds of the interleaved harness
    int batch = 1000;          // uncontended: calls per round, each kInner lock + unlock
    int contend_rounds = 7;    // contended and reader/writer runs: rounds
    int contend_ms = 300;      // one contended run
    int rw_ms = 500;           // one reader/writer run
    int trials = 50;           // recovery trials per kind
    int pad_ns = 0;            // contended: also raw robust mutex + this much work inside / outside the lock
    std::string only;
    std::string method;        // uncontended: only the methods whose name contains this (profiling)
    std::string json;          // --json: the file the Report goes to
};

constexpr int kInner = 100;    // lock + unlock pairs per harness call (amortises its std::function)
constexpr std::uint32_t kTable = 0;      // the table lock measured
constexpr int kReaders = 4;

std::filesystem::path g_home;
const char* const kName = "locks";
shmregion::Region* g_region = nullptr;
pid_t g_parent = 0;
bench::Report g_report("lock_bench");  // every group measured, for --json


/// Removes the region and the home; safe to call twice, from any failure path and thread
/// (a forced unlink needs no attach: this process's mapping just lasts until it exits).
void cleanup() noexcept {
    if (g_home.empty() || ::getpid() != g_parent) return;
    std::error_code ec;
    shmregion::unlink(g_home, kName, shmregion::Force::yes, ec);
    std::filesystem::remove_all(g_home, ec);
    g_home.clear();
}

using benchutil::die;  // cleanup() runs there and on SIGINT, SIGTERM, SIGHUP (main)

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// ---- the shared state ----------------------------------------------------------------------

/// In the region's data(): the raw locks and the data they protect, each on its own lines.
struct Arena {
    alignas(128) pthread_mutex_t robust;       // robust, process-shared, error-checking
    alignas(128) pthread_mutex_t plain;        // process-shared, default type (reference)
    alignas(128) pthread_mutex_t recover;      // robust, for the recovery reference
    alignas(128) pthread_rwlock_t rw;          // process-shared, default (prefers readers)
    alignas(128) pthread_rwlock_t rw_writer;   // process-shared, PREFER_WRITER_NONRECURSIVE
    alignas(128) bip::interprocess_mutex bmutex;
    alignas(128) bip::interprocess_sharable_mutex bshared;
    alignas(128) std::uint64_t counter;        // contended: incremented under the lock
    alignas(128) volatile std::uint64_t words[4];  // reader/writer: written together
};

/// Control of the worker processes, in an anonymous shared mapping.
struct Ctl {
    alignas(128) std::atomic<int> ready;
    alignas(128) std::atomic<int> go;
    alignas(128) std::atomic<int> stop;
    alignas(128) std::atomic<int> holding;
    alignas(128) std::atomic<std::uint64_t> ops[8];
    std::atomic<std::uint64_t> torn[8];
    std::atomic<std::uint64_t> sleeps[8];  // voluntary context switches while running (futex waits)
    std::atomic<std::uint64_t> cpu_us[8];  // CPU time while running
    std::atomic<int> failed;
};

Arena* A = nullptr;
Ctl* C = nullptr;

void check_rc(int rc, const char* what) {
    if (rc != 0) {
        std::fprintf(stderr, "lock_bench: %s: %s\n", what, std::strerror(rc));
        std::_Exit(1);
    }
}

void init_arena(void* mem) {
    A = new (mem) Arena{};
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    check_rc(pthread_mutex_init(&A->robust, &ma), "pthread_mutex_init robust");
    check_rc(pthread_mutex_init(&A->recover, &ma), "pthread_mutex_init recover");
    pthread_mutexattr_destroy(&ma);
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    check_rc(pthread_mutex_init(&A->plain, &ma), "pthread_mutex_init plain");
    pthread_mutexattr_destroy(&ma);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
    check_rc(pthread_rwlock_init(&A->rw, &ra), "pthread_rwlock_init");
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    check_rc(pthread_rwlock_init(&A->rw_writer, &ra), "pthread_rwlock_init prefer writer");
    pthread_rwlockattr_destroy(&ra);
}

void reset_ctl() {
    C->ready = 0;
    C->go = 0;
    C->stop = 0;
    C->holding = 0;
    C->failed = 0;
    for (auto& o : C->ops) o = 0;
    for (auto& t : C->torn) t = 0;
    for (auto& t : C->sleeps) t = 0;
    for (auto& t : C->cpu_us) t = 0;
}

/// Forks a worker (benchutil::spawn_worker) that joins the region as its own attacher if
/// `join`, runs body() and leaves.
template <class Body>
pid_t spawn(bool join, Body body) {
    return benchutil::spawn_worker(C->failed, [join, &body] {
        if (join) g_region->join_after_fork();
        const int rc = body();
        if (join) g_region->detach();
        return rc;
    });
}

struct Usage {
    long sleeps = 0;        // voluntary context switches
    std::int64_t cpu_us = 0;
};
Usage usage_now() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return {u.ru_nvcsw, static_cast<std::int64_t>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000 +
                            u.ru_utime.tv_usec + u.ru_stime.tv_usec};
}

/// Worker w's loop: signals ready, waits for go, runs op() until stop; returns the count and
/// records how often the worker went to sleep meanwhile (a futex wait that slept).
template <class Op>
std::uint64_t worker_loop(int w, Op&& op) {
    C->ready.fetch_add(1);
    while (!C->go.load(std::memory_order_acquire)) std::this_thread::yield();
    const Usage u0 = usage_now();
    std::uint64_t n = 0;
    while (!C->stop.load(std::memory_order_relaxed)) {
        op();
        ++n;
    }
    const Usage u1 = usage_now();
    C->sleeps[w] = static_cast<std::uint64_t>(u1.sleeps - u0.sleeps);
    C->cpu_us[w] = static_cast<std::uint64_t>(u1.cpu_us - u0.cpu_us);
    return n;
}

/// The share of the run's wall time the workers [0, n) were on a CPU (1: all of them, all along).
double cpu_share(int n, double secs) {
    std::uint64_t us = 0;
    for (int w = 0; w < n; ++w) us += C->cpu_us[w];
    return static_cast<double>(us) / 1e6 / (secs * n);
}

/// Sleeps of the workers [0, n) per 1000 operations of theirs.
double sleeps_per_kop(int n) {
    std::uint64_t ops = 0, sl = 0;
    for (int w = 0; w < n; ++w) {
        ops += C->ops[w];
        sl += C->sleeps[w];
    }
    return ops ? 1000.0 * static_cast<double>(sl) / static_cast<double>(ops) : 0.0;
}

/// Starts the workers (all forked and ready), lets them run `ms`, stops them; the seconds run.
double run_workers(const std::vector<pid_t>& pids, int ms) {
    const auto give_up = Clock::now() + std::chrono::seconds(30);
    while (C->ready.load() < static_cast<int>(pids.size())) {
        if (C->failed.load() || Clock::now() > give_up) die("workers did not start");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const auto t0 = Clock::now();
    C->go.store(1, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    C->stop.store(1);
    const auto t1 = Clock::now();
    for (pid_t p : pids) benchutil::reap_worker(p);
    return seconds_between(t0, t1);
}

struct Stat {
    double median = 0, min = 0, max = 0;
};
Stat stat_of(std::vector<double> v) {
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.front(), v.back()};
}

/// Per-round rates (operations per second) as a Result in time per operation (1 / rate, in the
/// harness's nanoseconds), so that the report's ratios are time ratios like every other
/// group's. The median is 1 / the median rate the table prints (with an even number of rounds
/// the median of the inverses would be the other middle one), so ratio_to_raw is exactly the
/// inverse of the table's "vs raw". A round without one operation is an infinite time
/// (written as null).
bench::Result per_op_from_rates(const std::string& name, const std::vector<double>& rates) {
    auto per_op = [](double rate) { return rate > 0 ? 1e9 / rate : std::numeric_limits<double>::infinity(); };
    std::vector<double> ns;
    for (double r : rates) ns.push_back(per_op(r));
    const Stat st = stat_of(rates);
    return {name, per_op(st.median), per_op(st.max), per_op(st.min), std::move(ns)};
}

std::string mops(double ops_per_s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", ops_per_s / 1e6);
    return b;
}

// ---- 1. uncontended ------------------------------------------------------------------------

void uncontended(const Settings& s) {
    shmregion::Region& r = *g_region;
    std::vector<bench::Method> m{
        {"raw robust mutex: lock+unlock", [] {
             for (int i = 0; i < kInner; ++i) {
                 pthread_mutex_lock(&A->robust);
                 pthread_mutex_unlock(&A->robust);
             }
         }, {}},
        {"raw robust mutex: trylock+unlock", [] {
             for (int i = 0; i < kInner; ++i) {
                 pthread_mutex_trylock(&A->robust);
                 pthread_mutex_unlock(&A->robust);
             }
         }, {}},
        {"raw plain pshared mutex: lock+unlock", [] {
             for (int i = 0; i < kInner; ++i) {
                 pthread_mutex_lock(&A->plain);
                 pthread_mutex_unlock(&A->plain);
             }
         }, {}},
        {"boost interprocess_mutex: lock+unlock", [] {
             for (int i = 0; i < kInner; ++i) {
                 A->bmutex.lock();
                 A->bmutex.unlock();
             }
         }, {}},
        {"shmregion region lock: lock()", [&r] {
             for (int i = 0; i < kInner; ++i) auto g = r.lock();
         }, {}},
        {"shmregion table lock: lock(i)", [&r] {
             for (int i = 0; i < kInner; ++i) auto g = r.lock(kTable);
         }, {}},
        {"shmregion table lock: try_lock(i)", [&r] {
             for (int i = 0; i < kInner; ++i) auto g = r.try_lock(kTable);
         }, {}},
        {"raw rwlock: rdlock+unlock", [] {
             for (int i = 0; i < kInner; ++i) {
                 pthread_rwlock_rdlock(&A->rw);
                 pthread_rwlock_unlock(&A->rw);
             }
         }, {}},
        {"raw rwlock: wrlock+unlock", [] {
             for (int i = 0; i < kInner; ++i) {
                 pthread_rwlock_wrlock(&A->rw);
                 pthread_rwlock_unlock(&A->rw);
             }
         }, {}},
        {"boost sharable_mutex: lock_sharable+unlock", [] {
             for (int i = 0; i < kInner; ++i) {
                 A->bshared.lock_sharable();
                 A->bshared.unlock_sharable();
             }
         }, {}},
        {"shmregion table lock: lock_shared(i)", [&r] {
             for (int i = 0; i < kInner; ++i) auto g = r.lock_shared(kTable);
         }, {}},
        {"shmregion table lock: try_lock_shared(i)", [&r] {
             for (int i = 0; i < kInner; ++i) auto g = r.try_lock_shared(kTable);
         }, {}},
    };
    if (!s.method.empty()) {  // profiling one or a few methods
        std::erase_if(m, [&](const bench::Method& x) { return x.name.find(s.method) == std::string::npos; });
        if (m.empty()) die("no method's name contains '" + s.method + "'");
        auto results = bench::run_interleaved(m, s.rounds, s.batch);
        for (auto& x : results) x.median_ns /= kInner, x.min_ns /= kInner, x.max_ns /= kInner;
        bench::print_ns(results, results.front().name);
        return;
    }
    auto results = bench::run_interleaved(m, s.rounds, s.batch);
    for (auto& x : results) {
        x.median_ns /= kInner;
        x.min_ns /= kInner;
        x.max_ns /= kInner;
        for (auto& ns : x.samples_ns) ns /= kInner;
    }
    std::vector<bench::Result> excl(results.begin(), results.begin() + 7), shr(results.begin() + 7, results.end());
    std::printf("\n== 1. uncontended lock + unlock, one process; %d rounds x %d ops, all %zu methods interleaved\n",
                s.rounds, s.batch * kInner, m.size());
    std::printf("-- exclusive (vs raw robust, process-shared, error-checking pthread mutex)\n");
    bench::print_ns(excl, "raw robust mutex: lock+unlock");
    std::printf("-- shared (vs raw process-shared pthread_rwlock_t read lock)\n");
    bench::print_ns(shr, "raw rwlock: rdlock+unlock");
    // Roles by name (bench::role_by_name): the raw pthread locks (and the --pad-ns variants of
    // the raw robust mutex, analysis of it) are the limit, Boost.Interprocess the peer.
    g_report.add("lock+unlock, uncontended, exclusive", excl, "raw robust mutex: lock+unlock");
    g_report.add("lock+unlock, uncontended, shared", shr, "raw rwlock: rdlock+unlock");
}

// ---- 2. two processes contending on one exclusive lock -------------------------------------

enum class Excl { raw_robust, raw_plain, boost_mutex, table, region, raw_pad_inside, raw_pad_outside };

/// Iterations of pad() per ns, measured at start (for --pad-ns).
double g_pad_per_ns = 0;
int g_pad_iters = 0;
inline void pad(int iters) {
    for (int i = 0; i < iters; ++i) asm volatile("" ::: "memory");
}
void calibrate_pad(int ns) {
    const int n = 10'000'000;
    double best = 1e30;
    for (int k = 0; k < 5; ++k) {
        const auto t0 = Clock::now();
        pad(n);
        best = std::min(best, std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    }
    g_pad_per_ns = n / best;
    g_pad_iters = static_cast<int>(ns * g_pad_per_ns + 0.5);
}
struct ExclMethod {
    Excl kind;
    const char* name;
    std::vector<double> total, fairness, sleeps, cpu;  // ops/s of both; fewer / more of the two; sleeps per 1k ops; CPU share
};

int exclusive_worker(Excl kind, int w) {
    shmregion::Region& r = *g_region;
    std::uint64_t n = 0;
    switch (kind) {
        case Excl::raw_robust:
            n = worker_loop(w, [] {
                check_rc(pthread_mutex_lock(&A->robust), "pthread_mutex_lock");
                ++A->counter;
                pthread_mutex_unlock(&A->robust);
            });
            break;
        case Excl::raw_plain:
            n = worker_loop(w, [] {
                pthread_mutex_lock(&A->plain);
                ++A->counter;
                pthread_mutex_unlock(&A->plain);
            });
            break;
        case Excl::boost_mutex:
            n = worker_loop(w, [] {
                A->bmutex.lock();
                ++A->counter;
                A->bmutex.unlock();
            });
            break;
        case Excl::table:
            n = worker_loop(w, [&r] {
                auto g = r.lock(kTable);
                ++A->counter;
            });
            break;
        case Excl::region:
            n = worker_loop(w, [&r] {
                auto g = r.lock();
                ++A->counter;
            });
            break;
        case Excl::raw_pad_inside:
            n = worker_loop(w, [] {
                check_rc(pthread_mutex_lock(&A->robust), "pthread_mutex_lock");
                ++A->counter;
                pad(g_pad_iters);
                pthread_mutex_unlock(&A->robust);
            });
            break;
        case Excl::raw_pad_outside:
            n = worker_loop(w, [] {
                check_rc(pthread_mutex_lock(&A->robust), "pthread_mutex_lock");
                ++A->counter;
                pthread_mutex_unlock(&A->robust);
                pad(g_pad_iters);
            });
            break;
    }
    C->ops[w] = n;
    return 0;
}

void contended(const Settings& s) {
    std::vector<ExclMethod> m{{Excl::raw_robust, "raw robust mutex", {}, {}, {}, {}},
                              {Excl::raw_plain, "raw plain pshared mutex", {}, {}, {}, {}},
                              {Excl::boost_mutex, "boost interprocess_mutex", {}, {}, {}, {}},
                              {Excl::table, "shmregion table lock: lock(i)", {}, {}, {}, {}},
                              {Excl::region, "shmregion region lock: lock()", {}, {}, {}, {}}};
    std::string inside, outside;
    if (s.pad_ns > 0) {  // where the time goes: the same extra work, under the lock or outside it
        calibrate_pad(s.pad_ns);
        inside = "raw robust + " + std::to_string(s.pad_ns) + " ns inside";
        outside = "raw robust + " + std::to_string(s.pad_ns) + " ns outside";
        m.push_back({Excl::raw_pad_inside, inside.c_str(), {}, {}, {}, {}});
        m.push_back({Excl::raw_pad_outside, outside.c_str(), {}, {}, {}, {}});
    }
    if (!s.method.empty()) {  // profiling one or a few methods (the first stays: the ratios' base)
        std::vector<ExclMethod> kept{m.front()};
        for (std::size_t k = 1; k < m.size(); ++k)
            if (std::string(m[k].name).find(s.method) != std::string::npos) kept.push_back(m[k]);
        m = std::move(kept);
    }
    for (int round = 0; round < s.contend_rounds; ++round) {
        for (std::size_t k = 0; k < m.size(); ++k) {
            ExclMethod& x = m[(k + round) % m.size()];  // rotated: no method always runs first
            reset_ctl();
            A->counter = 0;
            const bool join = x.kind == Excl::table || x.kind == Excl::region;
            std::vector<pid_t> pids;
            for (int w = 0; w < 2; ++w) pids.push_back(spawn(join, [&x, w] { return exclusive_worker(x.kind, w); }));
            const double secs = run_workers(pids, s.contend_ms);
            const std::uint64_t a = C->ops[0], b = C->ops[1];
            if (A->counter != a + b)
                die(std::string(x.name) + ": the counter reads " + std::to_string(A->counter) + " after " +
                    std::to_string(a + b) + " increments under the lock (mutual exclusion broken)");
            x.total.push_back(static_cast<double>(a + b) / secs);
            x.fairness.push_back(std::max(a, b) ? static_cast<double>(std::min(a, b)) / static_cast<double>(std::max(a, b)) : 0);
            x.sleeps.push_back(sleeps_per_kop(2));
            x.cpu.push_back(cpu_share(2, secs));
        }
        g_region->reap_dead_attachers();
    }
    const double base = stat_of(m[0].total).median;
    std::vector<bench::Result> per_op;  // seconds per operation of both processes together
    for (const auto& x : m) per_op.push_back(per_op_from_rates(x.name, x.total));
    g_report.add("lock+unlock, 2 processes contending", per_op, m[0].name);
    std::printf("\n== 2. two processes contending on one exclusive lock (lock, ++counter, unlock); "
                "%d rounds x %d ms, interleaved\n", s.contend_rounds, s.contend_ms);
    std::printf("%-34s %12s %18s %8s %10s %12s %6s\n", "method", "Mops/s", "min..max", "vs raw", "fairness", "sleeps/kop",
                "cpu");
    for (auto& x : m) {
        const Stat t = stat_of(x.total);
        std::printf("%-34s %12s %8s..%-9s %7.2fx %10.2f %12.3f %6.2f\n", x.name, mops(t.median).c_str(),
                    mops(t.min).c_str(), mops(t.max).c_str(), base > 0 ? t.median / base : 0.0,
                    stat_of(x.fairness).median, stat_of(x.sleeps).median, stat_of(x.cpu).median);
    }
    std::printf("(total of both processes; fairness: fewer/more ops of the two; sleeps/kop: voluntary context\n"
                " switches (futex waits that slept) per 1000 ops; cpu: the share of the run the two workers were\n"
                " on a CPU (1.00: both, all along; less: the machine's other work had them); medians over rounds)\n");
}

// ---- 3. four readers and one writer ---------------------------------------------------------

enum class Rw { raw, raw_writer, boost_sharable, table };
struct RwMethod {
    Rw kind;
    const char* name;
    std::vector<double> reads, writes, read_sleeps, write_sleeps, cpu;
};

/// One reader's pass: the four words, which the writer only ever changes together.
inline bool words_agree() {
    const std::uint64_t w0 = A->words[0], w1 = A->words[1], w2 = A->words[2], w3 = A->words[3];
    return w0 == w1 && w1 == w2 && w2 == w3;
}
inline void write_words() {
    const std::uint64_t v = A->words[0] + 1;
    for (auto& w : A->words) w = v;
}

int rw_worker(Rw kind, int w) {
    shmregion::Region& r = *g_region;
    const bool writer = w == kReaders;
    std::uint64_t n = 0, torn = 0;
    switch (kind) {
        case Rw::raw:
        case Rw::raw_writer: {
            pthread_rwlock_t* l = kind == Rw::raw ? &A->rw : &A->rw_writer;
            if (writer)
                n = worker_loop(w, [l] {
                    check_rc(pthread_rwlock_wrlock(l), "pthread_rwlock_wrlock");
                    write_words();
                    pthread_rwlock_unlock(l);
                });
            else
                n = worker_loop(w, [l, &torn] {
                    check_rc(pthread_rwlock_rdlock(l), "pthread_rwlock_rdlock");
                    torn += !words_agree();
                    pthread_rwlock_unlock(l);
                });
            break;
        }
        case Rw::boost_sharable:
            if (writer)
                n = worker_loop(w, [] {
                    A->bshared.lock();
                    write_words();
                    A->bshared.unlock();
                });
            else
                n = worker_loop(w, [&torn] {
                    A->bshared.lock_sharable();
                    torn += !words_agree();
                    A->bshared.unlock_sharable();
                });
            break;
        case Rw::table:
            if (writer)
                n = worker_loop(w, [&r] {
                    auto g = r.lock(kTable);
                    write_words();
                });
            else
                n = worker_loop(w, [&r, &torn] {
                    auto g = r.lock_shared(kTable);
                    torn += !words_agree();
                });
            break;
    }
    C->ops[w] = n;
    C->torn[w] = torn;
    return 0;
}

void reader_writer(const Settings& s) {
    std::vector<RwMethod> m{{Rw::raw, "raw rwlock (default: prefer readers)", {}, {}, {}, {}, {}},
                            {Rw::raw_writer, "raw rwlock (prefer writer nonrecursive)", {}, {}, {}, {}, {}},
                            {Rw::boost_sharable, "boost interprocess_sharable_mutex", {}, {}, {}, {}, {}},
                            {Rw::table, "shmregion table lock", {}, {}, {}, {}, {}}};
    for (int round = 0; round < s.contend_rounds; ++round) {
        for (std::size_t k = 0; k < m.size(); ++k) {
            RwMethod& x = m[(k + round) % m.size()];
            reset_ctl();
            for (auto& w : A->words) w = 0;
            std::vector<pid_t> pids;
            for (int w = 0; w <= kReaders; ++w)
                pids.push_back(spawn(x.kind == Rw::table, [&x, w] { return rw_worker(x.kind, w); }));
            const double secs = run_workers(pids, s.rw_ms);
            std::uint64_t reads = 0, torn = 0;
            for (int w = 0; w < kReaders; ++w) {
                reads += C->ops[w];
                torn += C->torn[w];
            }
            const std::uint64_t writes = C->ops[kReaders];
            if (torn != 0 || A->words[0] != writes)
                die(std::string(x.name) + ": " + std::to_string(torn) + " reads saw a half-written set; the words read " +
                    std::to_string(A->words[0]) + " after " + std::to_string(writes) + " writes");
            x.reads.push_back(static_cast<double>(reads) / secs);
            x.writes.push_back(static_cast<double>(writes) / secs);
            x.read_sleeps.push_back(sleeps_per_kop(kReaders));
            x.cpu.push_back(cpu_share(kReaders + 1, secs));
            x.write_sleeps.push_back(writes ? 1000.0 * static_cast<double>(C->sleeps[kReaders].load()) /
                                                  static_cast<double>(writes)
                                            : 0.0);
        }
        g_region->reap_dead_attachers();
    }
    // The ratios are to the writer-preferring raw rwlock: the policy of the table lock (a
    // waiting writer holds new readers off). glibc's default prefers readers, and with four
    // readers its writer gets next to nothing.
    const double rbase = stat_of(m[1].reads).median, wbase = stat_of(m[1].writes).median;
    std::vector<bench::Result> per_read, per_write;  // seconds per read (4 readers together), per write
    for (const auto& x : m) {
        per_read.push_back(per_op_from_rates(x.name, x.reads));
        per_write.push_back(per_op_from_rates(x.name, x.writes));
    }
    g_report.add("4 readers + 1 writer: reads", per_read, m[1].name);
    g_report.add("4 readers + 1 writer: writes", per_write, m[1].name);
    std::printf("\n== 3. %d reader processes + 1 writer on one lock (read 4 words / write 4 words); "
                "%d rounds x %d ms, interleaved\n", kReaders, s.contend_rounds, s.rw_ms);
    std::printf("%-42s %10s %18s %7s %11s %20s %7s %17s %5s\n", "method", "reads/s", "min..max (M)", "vs raw",
                "writes/s", "min..max (k)", "vs raw", "sleeps/kop r / w", "cpu");
    for (auto& x : m) {
        const Stat rd = stat_of(x.reads), wr = stat_of(x.writes);
        std::printf("%-42s %9sM %8s..%-8s %6.2fx %10.1fk %9.1f..%-9.1f %6.2fx %8.3f / %-7.2f %5.2f\n", x.name,
                    mops(rd.median).c_str(), mops(rd.min).c_str(), mops(rd.max).c_str(),
                    rbase > 0 ? rd.median / rbase : 0.0, wr.median / 1e3, wr.min / 1e3, wr.max / 1e3,
                    wbase > 0 ? wr.median / wbase : 0.0, stat_of(x.read_sleeps).median, stat_of(x.write_sleeps).median,
                    stat_of(x.cpu).median);
    }
    std::printf("(vs raw: to the writer-preferring raw rwlock, the table lock's policy; reads/s: the four readers\n"
                " together; sleeps/kop: voluntary context switches per 1000 ops of the readers / of the writer;\n"
                " cpu: the share of the run the five workers were on a CPU (2 CPUs: at most 0.40); medians)\n");
}

// ---- 4. recovery ------------------------------------------------------------------------------

enum class Rec { raw_robust, region, table, table_shared };

/// The scheduler state of thread `tid` of this process ('R', 'S', ...), from /proc.
char thread_state(pid_t tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string line;
    std::getline(in, line);
    const auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

struct Trial {
    double from_kill_us = 0, from_reap_us = 0;
    bool owner_died = false;
};

/// The child's part: takes the lock, says so, and waits for its SIGKILL holding it.
[[noreturn]] void hold_until_killed(Rec kind) {
    shmregion::Region& r = *g_region;
    shmregion::LockGuard g;
    shmregion::SharedLockGuard sg;
    switch (kind) {
        case Rec::raw_robust: check_rc(pthread_mutex_lock(&A->recover), "pthread_mutex_lock"); break;
        case Rec::region: g = r.lock(); break;
        case Rec::table: g = r.lock(kTable); break;
        case Rec::table_shared: sg = r.lock_shared(kTable); break;
    }
    C->holding.store(1);
    for (;;) ::pause();
}

/// One trial: a child takes the lock and keeps it; this thread blocks taking it; a second
/// thread waits until this one sleeps, lets `delay` pass, SIGKILLs the child and reaps it.
Trial recovery_trial(Rec kind, std::chrono::microseconds delay) {
    shmregion::Region& r = *g_region;
    reset_ctl();
    const pid_t child = spawn(kind != Rec::raw_robust, [kind] {
        hold_until_killed(kind);
        return 0;
    });
    const auto give_up = Clock::now() + std::chrono::seconds(10);
    while (!C->holding.load()) {
        if (C->failed.load() || Clock::now() > give_up) die("recovery: the child did not take the lock");
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    std::atomic<pid_t> me{0};
    std::atomic<bool> acquired{false};
    Clock::time_point t_kill, t_reap, t_acq;
    std::thread killer([&] {
        while (!me.load()) std::this_thread::yield();
        const auto limit = Clock::now() + std::chrono::seconds(5);
        while (thread_state(me.load()) != 'S') {  // blocked in the lock call (futex)
            if (Clock::now() > limit) die("recovery: the waiter never went to sleep");
            std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
        std::this_thread::sleep_for(delay);
        t_kill = Clock::now();
        ::kill(child, SIGKILL);
        int st = 0;
        while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        t_reap = Clock::now();
        // A watchdog: a waiter that never wakes up is a library bug; report it, do not hang.
        const auto deadline = t_reap + std::chrono::seconds(10);
        while (!acquired.load()) {
            if (Clock::now() > deadline)
                die("recovery: the lock was not acquired 10 s after its holder (pid " + std::to_string(child) +
                    ") was killed and reaped (a hang)");
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    me.store(static_cast<pid_t>(::gettid()));
    Trial t;
    switch (kind) {
        case Rec::raw_robust: {
            const int rc = pthread_mutex_lock(&A->recover);
            t_acq = Clock::now();
            acquired = true;
            if (rc != 0 && rc != EOWNERDEAD) die(std::string("recovery: pthread_mutex_lock: ") + std::strerror(rc));
            t.owner_died = rc == EOWNERDEAD;
            if (t.owner_died) pthread_mutex_consistent(&A->recover);
            pthread_mutex_unlock(&A->recover);
            break;
        }
        case Rec::region:
        case Rec::table: {
            auto g = kind == Rec::region ? r.lock() : r.lock(kTable);
            t_acq = Clock::now();
            acquired = true;
            t.owner_died = g.owner_died();
            g.mark_consistent();
            break;
        }
        case Rec::table_shared: {
            auto g = r.lock(kTable);
            t_acq = Clock::now();
            acquired = true;
            t.owner_died = g.owner_died();
            break;
        }
    }
    killer.join();
    t.from_kill_us = std::chrono::duration<double, std::micro>(t_acq - t_kill).count();
    t.from_reap_us = std::chrono::duration<double, std::micro>(t_acq - t_reap).count();
    return t;
}

void recovery(const Settings& s) {
    struct Kind {
        Rec kind;
        const char* name;
        bool expect_died;
        std::vector<double> kill_us, reap_us;
        int wrong = 0;
    };
    std::vector<Kind> m{{Rec::raw_robust, "raw robust mutex (EOWNERDEAD)", true, {}, {}},
                        {Rec::region, "shmregion region lock: lock()", true, {}, {}},
                        {Rec::table, "shmregion table lock, exclusive holder", true, {}, {}},
                        {Rec::table_shared, "shmregion table lock, shared holder", false, {}, {}}};
    // The delay between the waiter going to sleep and the kill varies over 0.2..30 ms (the
    // same sequence for every kind): a writer waiting for shares looks for dead ones after
    // 1, 2, 4 and 8 ms and then every 10 ms, so where the death falls in that schedule matters.
    std::mt19937 rng(12);
    std::uniform_int_distribution<int> delay_us(200, 30000);
    for (int trial = 0; trial < s.trials; ++trial) {
        const auto delay = std::chrono::microseconds(delay_us(rng));
        for (std::size_t k = 0; k < m.size(); ++k) {
            Kind& x = m[(k + trial) % m.size()];
            const Trial t = recovery_trial(x.kind, delay);
            x.kill_us.push_back(t.from_kill_us);
            x.reap_us.push_back(t.from_reap_us);
            if (t.owner_died != x.expect_died) ++x.wrong;
            g_region->reap_dead_attachers();
        }
    }
    std::printf("\n== 4. recovery: the holder is SIGKILLed while this process is blocked taking the lock "
                "exclusively; %d trials each, interleaved\n", s.trials);
    std::printf("%-40s %24s %24s %14s\n", "holder killed", "kill -> acquired (us)", "reaped -> acquired (us)",
                "owner_died ok");
    std::printf("%-40s %24s %24s\n", "", "median    min..max", "median    min..max");
    for (auto& x : m) {
        const Stat k = stat_of(x.kill_us), p = stat_of(x.reap_us);
        std::printf("%-40s %9.1f %8.1f..%-8.1f %9.1f %8.1f..%-8.1f %8d/%d\n", x.name, k.median, k.min, k.max, p.median,
                    p.min, p.max, s.trials - x.wrong, s.trials);
    }
    std::vector<bench::Result> kill_to_acq;  // seconds from the kill to the acquisition, per trial
    for (const auto& x : m) {
        std::vector<double> ns;
        for (double us : x.kill_us) ns.push_back(us * 1e3);
        kill_to_acq.push_back(bench::summarize(x.name, std::move(ns)));
    }
    g_report.add("recovery: holder SIGKILLed -> acquired", kill_to_acq, m[0].name);
    std::printf("(negative: acquired before waitpid() returned; the kernel releases a robust mutex early in the\n"
                " holder's exit, before it becomes a zombie that can be reaped)\n");
}

void usage(const char* argv0) {
    std::printf("usage: %s [--rounds N] [--batch N] [--contend-rounds N] [--contend-ms MS] [--rw-ms MS]\n"
                "       [--trials N] [--only uncontended|contended|rw|recovery] [--json FILE]\n"
                "--json FILE: also write every result to FILE as one JSON document for bench/plot (one group\n"
                "          per table, its baseline the table's raw lock; seconds per operation throughout:\n"
                "          the contended and reader/writer rates as 1/rate, so ratio_to_raw is a time ratio,\n"
                "          below 1 faster, the inverse of those tables' vs raw; recovery: kill -> acquired;\n"
                "          --method's uncontended-only profiling run writes no group)\n"
                "analysis: --method SUBSTR (uncontended: only those methods; contended: those and the raw robust\n"
                "          mutex), --pad-ns N (contended: also the raw robust mutex with N ns of work inside\n"
                "          the lock, and outside it)\n"
                "defaults: --rounds 31 --batch 1000 (x%d lock+unlock per call) --contend-rounds 7 --contend-ms 300\n"
                "          --rw-ms 500 --trials 50\n",
                argv0, kInner);
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    for (benchutil::Args args(argc, argv, usage); args.next();) {
        const std::string_view a = args.option();
        if (a == "--rounds") s.rounds = args.positive();
        else if (a == "--batch") s.batch = args.positive();
        else if (a == "--contend-rounds") s.contend_rounds = args.positive();
        else if (a == "--contend-ms") s.contend_ms = args.positive();
        else if (a == "--rw-ms") s.rw_ms = args.positive();
        else if (a == "--trials") s.trials = args.positive();
        else if (a == "--pad-ns") s.pad_ns = args.positive();
        else if (a == "--method") s.method = args.value();
        else if (a == "--only") s.only = args.value();
        else if (a == "--json") s.json = args.value();
        else args.help_or_unknown();
    }
    if (!s.only.empty() && s.only != "uncontended" && s.only != "contended" && s.only != "rw" && s.only != "recovery") {
        usage(argv[0]);
        return 2;
    }

    if (!s.json.empty()) {  // fail now, not after the run
        std::FILE* f = std::fopen(s.json.c_str(), "w");
        if (!f) {
            std::perror(s.json.c_str());
            return 2;
        }
        std::fclose(f);
    }

    g_parent = ::getpid();
    const char* tmpdir = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/shmregion-lockbench.XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
        std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
        return 1;
    }
    g_home = tmpl;
    benchutil::on_exit_cleanup("lock_bench", cleanup);

    int rc = 0;
    try {
        void* ctl = ::mmap(nullptr, sizeof(Ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (ctl == MAP_FAILED) die(std::string("mmap: ") + std::strerror(errno));
        C = new (ctl) Ctl{};

        shmregion::Options o;
        o.home = g_home;
        o.name = kName;
        o.backing = shmregion::Backing::posix;
        o.size = 64 * 1024;
        o.locks = 4;
        o.mode = shmregion::OpenMode::create_only;
        shmregion::Region region = shmregion::Region::attach(o);
        g_region = &region;
        static_assert(sizeof(Arena) <= 64 * 1024);
        if (reinterpret_cast<std::uintptr_t>(region.data()) % alignof(Arena) != 0) die("data() is not 128-byte aligned");
        init_arena(region.data());

        std::printf("lock_bench: region '%s' (posix, %u locks) in %s; load average %s; %u CPUs\n", kName,
                    region.lock_count(), g_home.c_str(), [] {
                        static std::string l;
                        std::ifstream in("/proc/loadavg");
                        std::getline(in, l);
                        return l.c_str();
                    }(),
                    std::thread::hardware_concurrency());
        const auto start = Clock::now();
        if (s.only.empty() || s.only == "uncontended") uncontended(s);
        if (s.only.empty() || s.only == "contended") contended(s);
        if (s.only.empty() || s.only == "rw") reader_writer(s);
        if (s.only.empty() || s.only == "recovery") recovery(s);
        std::printf("\n(%.1f s)\n", seconds_between(start, Clock::now()));
        region.detach();
        g_region = nullptr;
        if (!g_report.write(s.json)) rc = 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lock_bench: %s\n", e.what());
        rc = 1;
    }
    cleanup();
    return rc;
}
