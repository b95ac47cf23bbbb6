// The create race: 16 processes released together by a process-shared barrier attach one
// name with OpenMode::create_or_join, round after round. Every round exactly one creates,
// the other 15 join, nobody fails, every one of them really shares the one region, and the
// losers' unpublished segments are gone (no /dev/shm entry, no System V segment left).
//
// The 16 workers are forked once per backing and kept for every round (forking 16 processes
// per round would make the test slow without making the race any different): each round
// they wait at the start barrier, attach, count, detach, report on a pipe and wait again.
#define BOOST_TEST_MODULE mp_create_race
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "mp_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

using namespace shmregion;
using namespace shmregion::mptest;
namespace bdata = boost::unit_test::data;

namespace {

constexpr unsigned kWorkers = 16;

unsigned rounds() {
    // SHMREGION_RACE_ROUNDS overrides (e.g. for a longer soak). A round costs about a
    // millisecond, so the default is well above the 200 asked for.
    if (const char* e = std::getenv("SHMREGION_RACE_ROUNDS")) {
        const long v = std::strtol(e, nullptr, 10);
        if (v > 0) return static_cast<unsigned>(v);
    }
    return 500;
}

}  // namespace

// Not in the anonymous namespace: the test's lambdas capture pointers to them.
namespace mp_race {

struct Round {
    char name[64];
    int stop;
    std::atomic<int> created;
    std::atomic<int> joined;
    std::atomic<int> errors;
    std::atomic<int> lock_owner_died;
    std::atomic<int> first_error;  // errc/errno value of the first failure, for the report
};
static_assert(std::atomic<int>::is_always_lock_free);

// What every attacher adds to the region's first word (under the region lock).
struct Payload {
    std::uint64_t attaches;
};

}  // namespace mp_race

using mp_race::Payload;
using mp_race::Round;

BOOST_DATA_TEST_CASE(create_or_join_race, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    const Backing backing = backing_named(backing_name);
    const unsigned n_rounds = rounds();

    test::SharedMemory mem(sizeof(Round));
    Round* round = new (mem.get()) Round{};
    test::SharedBarrier start(kWorkers + 1);
    test::Signal done;
    Children children;

    Options base = test::options(home, backing);
    base.mode = OpenMode::create_or_join;
    // The name is the same every round: each round re-creates a name the previous round
    // removed (a fresh file inode, a fresh System V key, a fresh segment name).
    const std::string name = base.name;
    std::snprintf(round->name, sizeof round->name, "%s", name.c_str());

    std::vector<pid_t> workers;
    for (unsigned w = 0; w < kWorkers; ++w) {
        workers.push_back(children.spawn(
            [&] {
                for (;;) {
                    start.wait();
                    if (round->stop) return 0;
                    Options o = base;
                    o.name = round->name;
                    std::error_code ec;
                    Region r = Region::attach(o, ec);
                    if (ec) {
                        round->errors.fetch_add(1);
                        int expected = 0;
                        round->first_error.compare_exchange_strong(expected, ec.value());
                        std::fprintf(stderr, "worker %d: attach: %s\n", static_cast<int>(::getpid()),
                                     ec.message().c_str());
                    } else {
                        (r.created() ? round->created : round->joined).fetch_add(1);
                        {
                            auto g = r.lock(ec);
                            if (ec || g.owner_died()) round->lock_owner_died.fetch_add(1);
                            static_cast<Payload*>(r.data())->attaches += 1;
                        }
                        r.detach(ec);
                        if (ec) {
                            round->errors.fetch_add(1);
                            std::fprintf(stderr, "worker %d: detach: %s\n", static_cast<int>(::getpid()),
                                         ec.message().c_str());
                        }
                    }
                    done.notify();
                }
            },
            590));
    }

    const auto t0 = std::chrono::steady_clock::now();
    unsigned bad_rounds = 0;
    for (unsigned i = 0; i < n_rounds && bad_rounds < 3; ++i) {
        round->created = 0;
        round->joined = 0;
        round->errors = 0;
        round->lock_owner_died = 0;
        start.wait();  // releases the 16 workers at once
        unsigned reported = 0;
        while (reported < kWorkers && done.wait(60000)) ++reported;
        BOOST_REQUIRE_MESSAGE(reported == kWorkers, "round " << i << ": only " << reported << " of " << kWorkers
                                                              << " workers finished within 60 s");
        const int created = round->created, joined = round->joined, errors = round->errors;
        const bool ok_counts = created == 1 && joined == static_cast<int>(kWorkers) - 1 && errors == 0;
        BOOST_TEST(ok_counts, "round " << i << ": created " << created << ", joined " << joined << ", errors "
                                       << errors << " (first error value " << round->first_error << ")");
        BOOST_TEST(round->lock_owner_died == 0, "round " << i);

        // Nobody is attached any more; the one published region is intact and was shared
        // by all 16.
        const RegionInfo info = inspect(home, name);
        BOOST_TEST(info.valid);
        BOOST_TEST(info.ref_count == 0u, "round " << i);
        BOOST_TEST(info.attachers.empty(), "round " << i);
        {
            Options j = base;
            j.mode = OpenMode::join_only;
            Region check = Region::attach(j);
            BOOST_TEST(static_cast<const Payload*>(check.data())->attaches == kWorkers, "round " << i);
        }
        // Exactly one segment exists for the name: the losers discarded theirs.
        const Segments segs = segments_for(region_file(home, name));
        if (backing == Backing::file) {
            BOOST_TEST(segs.size() == 0u, "round " << i);
        } else {
            BOOST_TEST(segs.size() == 1u, "round " << i << ": " << segs.posix.size() << " POSIX and "
                                                   << segs.sysv.size() << " System V segments for one region");
        }
        if (backing == Backing::posix) BOOST_TEST(test::posix_segments_of(name).size() == 1u, "round " << i);

        unlink(home, name, Force::no);
        BOOST_TEST(!fs::exists(region_file(home, name)), "round " << i);
        BOOST_TEST(!segment_exists(info), "round " << i);
        BOOST_TEST(segments_for(region_file(home, name)).size() == 0u, "round " << i);
        if (backing == Backing::posix) BOOST_TEST(test::posix_segments_of(name).empty(), "round " << i);
        if (!ok_counts) ++bad_rounds;
    }
    round->stop = 1;
    start.wait();
    for (pid_t w : workers) BOOST_TEST(children.wait(w) == 0, "worker " << w);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    BOOST_TEST_MESSAGE(backing_name << ": " << n_rounds << " rounds of " << kWorkers << " racers in " << ms.count()
                                    << " ms");
    BOOST_TEST(bad_rounds == 0u);
    BOOST_TEST(fs::is_empty(home.path()), "files left in the home");
    BOOST_TEST(segments_of_home(home).size() == 0u);
}
