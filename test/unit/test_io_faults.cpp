// The error paths of extension, prefault and flush, through the fault-injecting I/O engine
// (src/io/fault.hpp): a FaultEngine over a real engine fails chosen requests with ENOSPC or
// EIO, refuses them at submit(), or runs a write short; every other request really happens.
//
// One engine per run, named after "--" on the command line (CTest runs the binary once per
// engine: unit_io_faults_sync, _uring, _libaio, _posix); an engine that cannot run here
// makes the binary exit 77 (skipped), except sync, which must always run. Per engine:
//  - creating a file region and a POSIX region fails with ENOSPC and EIO at the first
//    request (fallocate) and at later ones (a zero write, the fdatasync after the writes,
//    writes that make no progress): the error names the file and the cause, and nothing is
//    left in home or /dev/shm; the name can be created afterwards;
//  - Region::grow fails the same ways on both backings, on the fallocate and on the
//    zero-write path (fallocate refused with EOPNOTSUPP by the plan): the region's size,
//    generation, bytes and the backing's size are unchanged, every old byte can be read and
//    written (no SIGBUS), and a later grow succeeds with zeroed new space; under the
//    caller's LockGuard the guard keeps the lock; a short write is retried for the rest;
//  - io::extend itself, with ExtendMethod::automatic and ::zero_writes, in home and in
//    /dev/shm: the file keeps its old size and bytes; a short write is retried for the rest
//    (the file is complete and allocated); the zero writes cover the range exactly and are
//    followed by an fdatasync of the same file issued after every write completed; a
//    partial submission is continued, a refused one with nothing in flight fails;
//    fallocate is one request, beside the engine where it lacks the op;
//  - Region::flush() reports EIO from the fdatasync and a later flush succeeds; a flush
//    issues an fdatasync of the region file's inode, after the data was stored, and leaves
//    no dirty page of the file (cachestat, where the kernel has it); a POSIX region's flush
//    issues nothing; io::flush() itself;
//  - prefault: PrefaultMethod::madvise_uring (the one prefault path through an engine; run
//    in the uring entry) reports a failed chunk by its address, in the foreground and on
//    the background job's thread, retries a chunk that completed with EAGAIN, reports a
//    refused submission; the thread methods issue no engine request at all;
//  - the wrapper itself: requests not failed really happen, user_data comes back, a refused
//    request is counted once; one plan shared by four threads growing at once hits exactly
//    the request it names.
#define BOOST_TEST_MODULE unit_io_faults
#define BOOST_TEST_NO_MAIN
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include "backings.hpp"
#include "io/fault.hpp"
#include "io/ops.hpp"
#include "unit_helpers.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace shmregion::io {
// How Boost.Test prints these in failed checks (found by ADL).
inline std::ostream& boost_test_print_type(std::ostream& os, EngineKind k) { return os << to_string(k); }
inline std::ostream& boost_test_print_type(std::ostream& os, Op op) { return os << static_cast<int>(op); }
}  // namespace shmregion::io

using namespace shmregion;
using namespace shmregion::unit;
namespace bdata = boost::unit_test::data;
namespace fault = shmregion::io::fault;
using io::EngineKind;
using io::Op;

// A named namespace: BOOST_DATA_TEST_CASE bodies are templates with external linkage, and
// types they use must not have internal linkage (-Wsubobject-linkage).
namespace faulttest {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr std::size_t kPage = 4096;

/// The engine of this run (main() sets it from the command line).
EngineKind g_engine = EngineKind::sync;

const auto kPlaces = bdata::make({"home", "dev_shm"});
const auto kMethods = bdata::make({"automatic", "zero_writes"});
// How a request fails: at the first request (fallocate) or at a later one (a zero write,
// with fallocate refused so that extension falls back to writing zeros).
const auto kFailures = bdata::make({"fallocate_enospc", "fallocate_eio", "first_write_enospc", "later_write_enospc",
                                    "later_write_eio", "fdatasync_eio", "writes_make_no_progress",
                                    "short_write_then_enospc"});

/// What a failure scenario expects.
struct Expect {
    int err = 0;                 // the errno the operation must report
    std::string step;            // how the message names the failing step
    bool needs_fallocate = false;  // fails the fallocate itself (not on the zero-write path)
};

/// Arms `plan` for a scenario of kFailures. `zero_writes_forced`: the extension is asked for
/// zero writes, so the plan need not refuse fallocate.
Expect arm(fault::Plan& plan, const std::string& scenario, bool zero_writes_forced = false) {
    auto refuse_fallocate = [&] {
        if (!zero_writes_forced) plan.fail(Op::fallocate, 1, EOPNOTSUPP, fault::every);
    };
    if (scenario == "fallocate_enospc") {
        plan.fail(Op::fallocate, 1, ENOSPC);
        return {ENOSPC, "fallocate", true};
    }
    if (scenario == "fallocate_eio") {
        plan.fail(Op::fallocate, 1, EIO);
        return {EIO, "fallocate", true};
    }
    refuse_fallocate();
    if (scenario == "first_write_enospc") {
        plan.fail(Op::write, 1, ENOSPC);
        return {ENOSPC, "write zeros"};
    }
    if (scenario == "later_write_enospc") {
        plan.fail(Op::write, 3, ENOSPC);
        return {ENOSPC, "write zeros"};
    }
    if (scenario == "later_write_eio") {
        plan.fail(Op::write, 3, EIO);
        return {EIO, "write zeros"};
    }
    if (scenario == "fdatasync_eio") {
        plan.fail(Op::fdatasync, 1, EIO);
        return {EIO, "fdatasync after writing zeros"};
    }
    if (scenario == "writes_make_no_progress") {  // every write moves 0 bytes: EIO, not a spin
        plan.short_write(1, 0, fault::every);
        return {EIO, "write zeros"};
    }
    if (scenario == "short_write_then_enospc") {  // the second write is short, its rest fails
        plan.short_write(2, 5000);
        plan.fail(Op::write, 3, ENOSPC, fault::every);
        return {ENOSPC, "write zeros"};
    }
    BOOST_FAIL("unknown scenario " << scenario);
    return {};
}

/// The request the plan failed must be of the op the scenario meant, and be the only one.
void check_fault_fired(const fault::Plan& plan, const std::string& scenario) {
    std::uint64_t failed = 0, refused = 0, shortened = 0;
    for (const auto& r : plan.records()) {
        if (!r.fault) continue;
        if (*r.fault == fault::Action::short_transfer) ++shortened;
        else if (r.op == Op::fallocate && scenario.rfind("fallocate", 0) != 0) ++refused;
        else ++failed;
    }
    BOOST_TEST(failed + shortened >= 1u, "the plan failed no request: the scenario never reached its fault");
    if (scenario.rfind("fallocate", 0) != 0 && scenario != "writes_make_no_progress" &&
        scenario != "short_write_then_enospc")
        BOOST_TEST(failed == 1u, "the plan failed " << failed << " requests, expected one");
    if (scenario != "fallocate_enospc" && scenario != "fallocate_eio")
        BOOST_TEST(plan.count(Op::write) >= 1u, "the extension did not take the zero-write path");
}

std::string strerror_text(int err) { return std::strerror(err); }

std::error_code generic(int err) { return {err, std::generic_category()}; }


/// `n` bytes of a pattern that differs at every offset (mod 251) and by seed.
std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + seed) % 251 + 1);
    return s;
}

struct stat stat_fd(int fd) {
    struct stat st {};
    BOOST_REQUIRE(::fstat(fd, &st) == 0);
    return st;
}

struct stat stat_path(const fs::path& p) {
    struct stat st {};
    BOOST_REQUIRE_MESSAGE(::stat(p.c_str(), &st) == 0, "stat " << p << ": " << std::strerror(errno));
    return st;
}

/// Index of the first byte of [p, p+n) that is not `value`, or n.
std::size_t first_not(const unsigned char* p, std::size_t n, unsigned char value) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != value) return i;
    return n;
}

/// The file or segment that holds a region's memory.
fs::path backing_path(const RegionInfo& info) {
    if (info.backing == Backing::posix) return fs::path("/dev/shm") / info.segment.substr(info.segment[0] == '/');
    return info.file;
}

/// Everything a failed growth must leave as it was.
struct RegionState {
    std::size_t size = 0;  // Region::size() of this attach
    std::uint64_t info_size = 0;
    std::uint64_t generation = 0;
    std::uint64_t backing_size = 0;  // by inspect()
    std::uint64_t backing_stat = 0;  // by stat() of the file or segment
    bool grow_in_progress = false;
    std::string bytes;  // the backing's content after the header
};

RegionState state_of(const Region& r) {
    RegionState s;
    s.size = r.size();
    const RegionInfo info = inspect(r.home(), r.name());
    s.info_size = info.size;
    s.generation = info.generation;
    s.backing_size = info.backing_size;
    s.grow_in_progress = info.grow_in_progress;
    const fs::path p = backing_path(info);
    s.backing_stat = static_cast<std::uint64_t>(stat_path(p).st_size);
    // The header is live shared state (the lock's words change at every lock; a growth that
    // started leaves its record's fields with the state idle): its fields are compared
    // above, the bytes after it here.
    s.bytes = test::read_file(p).substr(info.header_size);
    return s;
}

void check_same_state(const RegionState& before, const RegionState& after) {
    BOOST_TEST(after.size == before.size);
    BOOST_TEST(after.info_size == before.info_size);
    BOOST_TEST(after.generation == before.generation, "the generation moved on a failed growth");
    BOOST_TEST(after.backing_size == before.backing_size);
    BOOST_TEST(after.backing_stat == before.backing_stat, "the backing was not cut back to its size");
    BOOST_TEST(!after.grow_in_progress, "the grow record was left set");
    UNIT_CHECK_SAME_BYTES(before.bytes, after.bytes);
}

/// Every page of [p, p+n) resident (mincore).
std::size_t pages_not_resident(const void* p, std::size_t n) {
    std::vector<unsigned char> vec((n + kPage - 1) / kPage);
    BOOST_REQUIRE(::mincore(const_cast<void*>(p), n, vec.data()) == 0);
    return static_cast<std::size_t>(std::count_if(vec.begin(), vec.end(), [](unsigned char v) { return (v & 1) == 0; }));
}

Options region_options(const test::TempHome& home, Backing backing, std::uint64_t size, std::uint64_t max_size = 0) {
    Options o = test::options(home, backing, size);
    o.max_size = max_size;
    o.io_engine = g_engine;
    return o;
}

/// Nothing of region `o.name` is left: home is empty, /dev/shm has no segment of it.
void check_nothing_left(const Options& o) {
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(o.home)) left.push_back(e.path().filename().string());
    BOOST_TEST(left.empty(), "home still holds " << left.size() << " entries, the first " << (left.empty() ? "" : left[0]));
    BOOST_TEST(posix_segments_of(o.name).empty(), "a /dev/shm segment of " << o.name << " was left behind");
}

/// What a message must mention as the object: the region file, or its segment.
std::string object_named(const Options& o) {
    return o.backing == Backing::posix ? "/dev/shm/shmregion." + o.name + "." : region_file(o.home, o.name).string();
}

// ---- cachestat (Linux 6.5): dirty pages of a file --------------------------------------------

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

struct CacheStatRange {
    std::uint64_t off;
    std::uint64_t len;
};
struct CacheStat {
    std::uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/// Dirty plus under-writeback pages of the file, or -1 if the kernel cannot say.
long long dirty_pages(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    CacheStatRange range{0, 0};
    CacheStat cs{};
    const long rc = ::syscall(SYS_cachestat, fd, &range, &cs, 0);
    ::close(fd);
    if (rc != 0) return -1;
    return static_cast<long long>(cs.nr_dirty + cs.nr_writeback);
}

}  // namespace faulttest

using namespace faulttest;

// ---- the wrapper itself ----------------------------------------------------------------------

// A batch of four writes: the second fails (EIO, it does not run), the third is short (100
// bytes really written), the others are written whole. Completions carry the caller's
// user_data; the file holds exactly what ran.
BOOST_AUTO_TEST_CASE(requests_not_failed_really_happen) {
    test::TempHome home;
    TestFile f(home.path(), "", "faulttest-");
    auto real = io::open(g_engine, 8);
    auto plan = std::make_shared<fault::Plan>();
    plan->fail(Op::write, 2, EIO).short_write(3, 100);
    fault::FaultEngine fe(*real, plan);
    BOOST_TEST(fe.kind() == g_engine);
    BOOST_TEST(fe.capacity() == 8u);
    const std::string a = pattern(4096, 1), b = pattern(4096, 2), c = pattern(4096, 3), d = pattern(4096, 4);
    const io::Request batch[] = {
        {Op::write, f.fd(), const_cast<char*>(a.data()), 4096, 0, 0, 1001},
        {Op::write, f.fd(), const_cast<char*>(b.data()), 4096, 4096, 0, 1002},
        {Op::write, f.fd(), const_cast<char*>(c.data()), 4096, 8192, 0, 1003},
        {Op::write, f.fd(), const_cast<char*>(d.data()), 4096, 12288, 0, 1004},
    };
    BOOST_REQUIRE(fe.submit(batch) == 4);
    BOOST_TEST(fe.in_flight() == 4u);
    std::vector<io::Completion> done;
    while (fe.in_flight() > 0) {
        io::Completion buf[8];
        const int n = fe.reap(buf, 1);
        BOOST_REQUIRE(n > 0);
        done.insert(done.end(), buf, buf + n);
    }
    BOOST_REQUIRE(done.size() == 4u);
    BOOST_TEST(real->in_flight() == 0u);
    for (const auto& cpl : done) {
        const std::int64_t want = cpl.user_data == 1002 ? -EIO : cpl.user_data == 1003 ? 100 : 4096;
        BOOST_TEST(cpl.result == want, "user_data " << cpl.user_data << ": result " << cpl.result);
    }
    std::string image = a + std::string(4096, '\0') + c.substr(0, 100) + std::string(3996, '\0') + d;
    UNIT_CHECK_SAME_BYTES(image, test::read_file(f.path()));
    const auto recs = plan->records();
    BOOST_REQUIRE(recs.size() == 4u);
    BOOST_TEST(!recs[0].fault.has_value());
    BOOST_TEST((recs[1].fault == fault::Action::fail));
    BOOST_TEST((recs[2].fault == fault::Action::short_transfer));
    BOOST_TEST(recs[2].forwarded == 100u);
    BOOST_TEST(recs[1].forwarded == 0u);
    for (const auto& r : recs) {
        BOOST_TEST(r.ino == stat_fd(f.fd()).st_ino);
        BOOST_TEST(r.completed > r.submitted);
        BOOST_TEST(r.engine == g_engine);
    }
    BOOST_TEST(plan->injected() == 2u);
}

// A refused request stops the batch there (the ones before it start: a partial submission)
// and is counted once: resubmitted, it is the next request and goes through. Refused at the
// head of a batch, submit() returns -errno and starts nothing.
BOOST_AUTO_TEST_CASE(a_refused_request_is_counted_once) {
    test::TempHome home;
    TestFile f(home.path(), "", "faulttest-");
    auto real = io::open(g_engine, 8);
    auto plan = std::make_shared<fault::Plan>();
    plan->reject(Op::write, 2, EAGAIN).reject(Op::write, 5, EBUSY);
    fault::FaultEngine fe(*real, plan);
    const std::string a = pattern(3 * 4096, 5);
    io::Request batch[3];
    for (std::size_t i = 0; i < 3; ++i)
        batch[i] = {Op::write, f.fd(), const_cast<char*>(a.data() + i * 4096), 4096, i * 4096, 0, i};
    BOOST_TEST(fe.submit(batch) == 1);  // #1 starts, #2 is refused
    BOOST_TEST(fe.in_flight() == 1u);
    BOOST_TEST(fe.submit(std::span<const io::Request>(batch + 1, 2)) == 2);  // #3, #4
    BOOST_TEST(fe.drain() == 0);
    UNIT_CHECK_SAME_BYTES(a, test::read_file(f.path()));
    BOOST_TEST(fe.submit(std::span<const io::Request>(batch, 1)) == -EBUSY);  // #5, at the head
    BOOST_TEST(fe.in_flight() == 0u);
    BOOST_TEST(plan->count(Op::write) == 5u);
    BOOST_TEST(plan->injected() == 2u);
    const auto recs = plan->records();
    BOOST_REQUIRE(recs.size() == 5u);
    BOOST_TEST(recs[1].result == -EAGAIN);
    BOOST_TEST(recs[1].completed == 0u);
    BOOST_TEST(recs[2].offset == recs[1].offset);
    BOOST_TEST(recs[4].result == -EBUSY);
}

// ---- creation -------------------------------------------------------------------------------

// Creating a region fails at the first request or a later one: the error is the injected
// errno, names the file (or segment) and the cause; nothing is left in home or /dev/shm;
// the std::error_code form fails the same way; without a plan the name is then created.
BOOST_DATA_TEST_CASE(creation_fails_and_leaves_nothing,
                     test::backing_data(test::BackingSet::memory_file) * kFailures, backing_name, scenario) {
    test::TempHome home;
    const Options o = region_options(home, test::backing_named(backing_name), 4 * MiB);
    {
        fault::ScopedFaultPlan faults;
        const Expect want = arm(faults.plan(), scenario);
        expect_error([&] { Region r = Region::attach(o); }, generic(want.err),
                              {object_named(o), strerror_text(want.err), want.step});
        check_fault_fired(faults.plan(), scenario);
        check_nothing_left(o);
        for (const auto& rec : faults->records()) BOOST_TEST(rec.engine == g_engine);
    }
    {
        fault::ScopedFaultPlan faults;
        const Expect want = arm(faults.plan(), scenario);
        std::error_code ec;
        Region r = Region::attach(o, ec);
        BOOST_TEST(ec == generic(want.err), "attach(ec): " << ec.message());
        BOOST_TEST(!r.attached());
        check_nothing_left(o);
    }
    Region r = Region::attach(o);
    BOOST_TEST(r.created());
    BOOST_TEST(r.size() == 4 * MiB);
    BOOST_TEST(first_not(static_cast<unsigned char*>(r.data()), r.size(), 0) == r.size());
}

// ---- growth ---------------------------------------------------------------------------------

// Region::grow fails: the region's size, generation, bytes and backing are as before, the
// grow record is clear, every old byte reads and writes (no SIGBUS), the message names the
// file and the cause; the std::error_code form too; then a grow without a plan succeeds and
// the new part reads zero.
BOOST_DATA_TEST_CASE(grow_fails_and_changes_nothing, test::backing_data(test::BackingSet::memory_file) * kFailures,
                     backing_name, scenario) {
    test::TempHome home;
    const Options o = region_options(home, test::backing_named(backing_name), 1 * MiB, 16 * MiB);
    Region r = Region::attach(o);
    auto* data = static_cast<unsigned char*>(r.data());
    const std::string fill = pattern(r.size(), 9);
    std::memcpy(data, fill.data(), fill.size());
    const RegionState before = state_of(r);
    for (int form = 0; form < 2; ++form) {
        fault::ScopedFaultPlan faults;
        const Expect want = arm(faults.plan(), scenario);
        if (form == 0) {
            expect_error([&] { r.grow(5 * MiB + 123); }, generic(want.err),
                         {"grow", object_named(o), strerror_text(want.err), want.step});
        } else {
            std::error_code ec;
            r.grow(5 * MiB + 123, ec);
            BOOST_TEST(ec == generic(want.err), "grow(ec): " << ec.message());
        }
        check_fault_fired(faults.plan(), scenario);
        check_same_state(before, state_of(r));
        // Every old byte is still there and writable.
        BOOST_TEST(std::memcmp(data, fill.data(), fill.size()) == 0, "the region's bytes changed");
        for (std::size_t i = 0; i < r.size(); i += kPage) data[i] = static_cast<unsigned char>(fill[i]);
    }
    r.grow(5 * MiB + 123);
    BOOST_TEST(r.size() == 5 * MiB + kPage);  // rounded up to pages
    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.generation == before.generation + 1);
    BOOST_TEST(info.size == r.size());
    BOOST_TEST(info.backing_size >= info.region_size);
    BOOST_TEST(std::memcmp(data, fill.data(), fill.size()) == 0);
    BOOST_TEST(first_not(data + fill.size(), r.size() - fill.size(), 0) == r.size() - fill.size(),
               "the grown part is not zero");
}

// A growth under the caller's own guard fails: the guard still holds the lock (the failure
// neither released nor broke it), the grow record is clear, and a growth under the same
// guard then succeeds.
BOOST_AUTO_TEST_CASE(grow_under_the_callers_guard_fails_and_keeps_the_lock) {
    test::TempHome home;
    const Options o = region_options(home, Backing::file, 1 * MiB, 8 * MiB);
    Region r = Region::attach(o);
    LockGuard g = r.lock();
    {
        fault::ScopedFaultPlan faults;
        faults->fail(Op::fallocate, 1, ENOSPC);
        std::error_code ec;
        r.grow(4 * MiB, ec);
        BOOST_TEST(ec == generic(ENOSPC));
        BOOST_TEST(faults->injected() == 1u);
    }
    BOOST_TEST(g.owns_lock());
    RegionInfo info = inspect(home, o.name);
    BOOST_TEST((info.lock_state == LockState::held));
    BOOST_TEST(!info.grow_in_progress);
    BOOST_TEST(info.size == 1 * MiB);
    r.grow(4 * MiB);
    BOOST_TEST(r.size() == 4 * MiB);
    g.unlock();
    info = inspect(home, o.name);
    BOOST_TEST((info.lock_state == LockState::free));
    BOOST_TEST(info.size == 4 * MiB);
}

// A short write is not an error: extension writes the rest, and the growth succeeds with
// the new part zero and the whole backing allocated.
BOOST_DATA_TEST_CASE(grow_survives_a_short_write, test::backing_data(test::BackingSet::memory_file), backing_name) {
    test::TempHome home;
    const Options o = region_options(home, test::backing_named(backing_name), 1 * MiB, 16 * MiB);
    Region r = Region::attach(o);
    auto* data = static_cast<unsigned char*>(r.data());
    const std::string fill = pattern(r.size(), 3);
    std::memcpy(data, fill.data(), fill.size());
    const std::uint64_t gen = inspect(home, o.name).generation;
    fault::ScopedFaultPlan faults;
    faults->fail(Op::fallocate, 1, EOPNOTSUPP, fault::every).short_write(2, 12345);
    r.grow(4 * MiB);
    BOOST_TEST(r.size() == 4 * MiB);
    const RegionInfo info = inspect(home, o.name);
    BOOST_TEST(info.generation == gen + 1);
    const struct stat st = stat_path(backing_path(info));
    BOOST_TEST(static_cast<std::uint64_t>(st.st_size) == info.region_size);
    BOOST_TEST(static_cast<std::uint64_t>(st.st_blocks) * 512 >= info.region_size, "the backing is not allocated");
    BOOST_TEST(std::memcmp(data, fill.data(), fill.size()) == 0);
    BOOST_TEST(first_not(data + fill.size(), r.size() - fill.size(), 0) == r.size() - fill.size());
    // The rest of the short write was written by another request.
    const auto writes = faults->records(Op::write);
    BOOST_REQUIRE(writes.size() >= 2u);
    const fault::Record shortened = writes[1];
    BOOST_TEST(shortened.result == 12345);
    bool rest = false;
    for (const auto& w : writes)
        rest = rest || (w.offset == shortened.offset + 12345 && w.length == shortened.length - 12345 && w.result > 0);
    BOOST_TEST(rest, "no write of the rest of the short write");
}

// ---- io::extend -----------------------------------------------------------------------------

// io::extend through a FaultEngine of the test's own, each failure kind, both methods, in
// home and /dev/shm: the file keeps its size and bytes, the engine is idle afterwards.
BOOST_DATA_TEST_CASE(extend_keeps_the_old_file, kPlaces * kMethods * kFailures, place, method_name, scenario) {
    const bool zero_writes = std::string(method_name) == "zero_writes";
    if (zero_writes && std::string(scenario).rfind("fallocate", 0) == 0) {
        BOOST_TEST_MESSAGE("zero writes never fallocate: nothing to fail");
        return;
    }
    test::TempHome home;
    const std::string old = pattern(12345, 11);
    TestFile f(place_dir(home, place), old, "faulttest-");
    const std::uint64_t to = old.size() + 3 * MiB + 17;
    auto real = io::open(g_engine, 64);
    for (int form = 0; form < 2; ++form) {
        auto plan = std::make_shared<fault::Plan>();
        const Expect want = arm(*plan, scenario, zero_writes);
        fault::FaultEngine fe(*real, plan);
        const auto method = zero_writes ? io::ExtendMethod::zero_writes : io::ExtendMethod::automatic;
        if (form == 0) {
            expect_error([&] { io::extend(fe, f.fd(), old.size(), to, f.path(), method); }, generic(want.err),
                         {"extend", f.path().string(), strerror_text(want.err), want.step});
        } else {
            std::error_code ec;
            io::extend(fe, f.fd(), old.size(), to, f.path(), method, ec);
            BOOST_TEST(ec == generic(want.err), "extend(ec): " << ec.message());
        }
        check_fault_fired(*plan, scenario);
        if (zero_writes) BOOST_TEST(plan->count(Op::fallocate) == 0u);
        BOOST_TEST(fe.in_flight() == 0u);
        BOOST_TEST(real->in_flight() == 0u);
        BOOST_TEST(static_cast<std::uint64_t>(stat_fd(f.fd()).st_size) == old.size());
        UNIT_CHECK_SAME_BYTES(old, test::read_file(f.path()));
    }
    // The same engine, unwrapped, extends it.
    io::extend(*real, f.fd(), old.size(), to, f.path());
    BOOST_TEST(static_cast<std::uint64_t>(stat_fd(f.fd()).st_size) == to);
}

// Zero writes cover [from, to) exactly, each written whole, all on the file; then one
// fdatasync of the same file, submitted after every write completed, succeeds. A short
// write's rest is written too, and the file is allocated.
BOOST_DATA_TEST_CASE(zero_writes_then_fdatasync_of_the_same_file, kPlaces, place) {
    test::TempHome home;
    const std::string old = pattern(5000, 4);
    TestFile f(place_dir(home, place), old, "faulttest-");
    const std::uint64_t to = old.size() + 3 * MiB + 999;
    auto real = io::open(g_engine, 64);
    auto plan = std::make_shared<fault::Plan>();
    plan->short_write(3, 4096);
    fault::FaultEngine fe(*real, plan);
    io::extend(fe, f.fd(), old.size(), to, f.path(), io::ExtendMethod::zero_writes);
    const struct stat st = stat_fd(f.fd());
    BOOST_TEST(static_cast<std::uint64_t>(st.st_size) == to);
    BOOST_TEST(static_cast<std::uint64_t>(st.st_blocks) * 512 >= to, "the new space is not allocated");
    const std::string now = test::read_file(f.path());
    BOOST_REQUIRE(now.size() == to);
    UNIT_CHECK_SAME_BYTES(old, now.substr(0, old.size()));
    BOOST_TEST(now.find_first_not_of('\0', old.size()) == std::string::npos, "the new bytes are not zero");

    auto writes = plan->records(Op::write);
    const auto syncs = plan->records(Op::fdatasync);
    BOOST_REQUIRE(!writes.empty());
    BOOST_REQUIRE(syncs.size() == 1u);
    std::sort(writes.begin(), writes.end(), [](const auto& x, const auto& y) { return x.offset < y.offset; });
    std::uint64_t covered = old.size(), last_completion = 0;
    for (const auto& w : writes) {
        BOOST_TEST(w.ino == st.st_ino);
        BOOST_TEST(w.fd == f.fd());
        BOOST_TEST(w.offset == covered, "a gap or overlap before the write at " << w.offset);
        BOOST_TEST(w.result == static_cast<std::int64_t>(w.forwarded));
        BOOST_TEST(w.completed > 0u);
        covered = w.offset + static_cast<std::uint64_t>(std::max<std::int64_t>(w.result, 0));
        last_completion = std::max(last_completion, w.completed);
    }
    BOOST_TEST(covered == to);
    BOOST_TEST(syncs[0].ino == st.st_ino);
    BOOST_TEST(syncs[0].submitted > last_completion, "the fdatasync was issued before the writes completed");
    BOOST_TEST(syncs[0].completed > syncs[0].submitted);
    BOOST_TEST(syncs[0].result == 0);
    BOOST_TEST(plan->injected() == 1u);
}

// A partial submission (the third write refused after two started) is continued: the
// extension submits the rest again and succeeds, the file complete. A submission refused
// with nothing in flight fails the extension, and the file is as it was.
BOOST_AUTO_TEST_CASE(a_partial_submission_is_continued_a_refused_one_fails) {
    test::TempHome home;
    const std::string old = pattern(3000, 6);
    TestFile f(home.path(), old, "faulttest-");
    const std::uint64_t to = old.size() + 4 * MiB;
    auto real = io::open(g_engine, 64);
    {
        auto plan = std::make_shared<fault::Plan>();
        plan->reject(Op::write, 3, EAGAIN);
        fault::FaultEngine fe(*real, plan);
        io::extend(fe, f.fd(), old.size(), to, f.path(), io::ExtendMethod::zero_writes);
        BOOST_TEST(static_cast<std::uint64_t>(stat_fd(f.fd()).st_size) == to);
        const std::string now = test::read_file(f.path());
        UNIT_CHECK_SAME_BYTES(old, now.substr(0, old.size()));
        BOOST_TEST(now.find_first_not_of('\0', old.size()) == std::string::npos);
        const auto writes = plan->records(Op::write);
        BOOST_REQUIRE(writes.size() >= 4u);
        BOOST_TEST((writes[2].fault == fault::Action::reject));
        BOOST_TEST(writes[2].result == -EAGAIN);
        BOOST_TEST(writes[3].offset == writes[2].offset, "the refused write was not submitted again");
        BOOST_REQUIRE(::ftruncate(f.fd(), static_cast<off_t>(old.size())) == 0);
    }
    {
        auto plan = std::make_shared<fault::Plan>();
        plan->reject(Op::write, 1, EAGAIN);
        fault::FaultEngine fe(*real, plan);
        expect_error([&] { io::extend(fe, f.fd(), old.size(), to, f.path(), io::ExtendMethod::zero_writes); },
                     generic(EAGAIN), {f.path().string(), strerror_text(EAGAIN)});
        BOOST_TEST(static_cast<std::uint64_t>(stat_fd(f.fd()).st_size) == old.size());
        UNIT_CHECK_SAME_BYTES(old, test::read_file(f.path()));
        BOOST_TEST(fe.in_flight() == 0u);
    }
}

// With ExtendMethod::automatic the fallocate is one request, through the engine where it
// has the operation, beside it (direct) where it does not (libaio, posix); no writes.
BOOST_AUTO_TEST_CASE(extension_by_fallocate_is_one_request) {
    test::TempHome home;
    TestFile f(home.path(), pattern(777, 1), "faulttest-");
    auto real = io::open(g_engine, 64);
    auto plan = std::make_shared<fault::Plan>();
    fault::FaultEngine fe(*real, plan);
    std::error_code ec;
    io::extend(fe, f.fd(), 777, 2 * MiB, f.path(), io::ExtendMethod::automatic, ec);
    BOOST_REQUIRE_MESSAGE(!ec, ec.message());
    const auto recs = plan->records();
    if (!recs.empty() && recs[0].op == Op::fallocate && recs[0].result == -EOPNOTSUPP) {
        BOOST_TEST_MESSAGE("the home's file system has no fallocate: zero writes were used");
        return;
    }
    BOOST_REQUIRE(recs.size() == 1u);
    BOOST_TEST((recs[0].op == Op::fallocate));
    BOOST_TEST(recs[0].offset == 777u);
    BOOST_TEST(recs[0].length == 2 * MiB - 777);
    BOOST_TEST(recs[0].direct == !real->supports(Op::fallocate));
    BOOST_TEST(recs[0].result == 0);
}

// ---- flush ----------------------------------------------------------------------------------

// Region::flush() reports the fdatasync's EIO (both forms), naming the file; the region is
// untouched; a flush without a plan then succeeds.
BOOST_AUTO_TEST_CASE(flush_reports_eio_from_fdatasync) {
    test::TempHome home;
    const Options o = region_options(home, Backing::file, 1 * MiB);
    Region r = Region::attach(o);
    const std::string fill = pattern(r.size(), 7);
    std::memcpy(r.data(), fill.data(), fill.size());
    {
        fault::ScopedFaultPlan faults;
        faults->fail(Op::fdatasync, 1, EIO, 2);
        expect_error([&] { r.flush(); }, generic(EIO),
                     {"flush", "fdatasync", region_file(home, o.name).string(), strerror_text(EIO)});
        std::error_code ec;
        r.flush(ec);
        BOOST_TEST(ec == generic(EIO));
        BOOST_TEST(faults->count(Op::fdatasync) == 2u);
        BOOST_TEST(faults->injected() == 2u);
    }
    BOOST_TEST(std::memcmp(r.data(), fill.data(), fill.size()) == 0);
    BOOST_CHECK_NO_THROW(r.flush());
}

// A flush issues one fdatasync (or fsync) of the region file's inode, after the data was
// stored through data(), and it completes with 0; afterwards the file has no dirty page
// (where the kernel can tell: cachestat). A POSIX region's flush issues no request.
BOOST_DATA_TEST_CASE(flush_issues_a_sync_of_the_region_file, test::backing_data(test::BackingSet::memory_file),
                     backing_name) {
    test::TempHome home;
    const Options o = region_options(home, test::backing_named(backing_name), 2 * MiB);
    Region r = Region::attach(o);
    const std::string fill = pattern(r.size(), 8);
    std::memcpy(r.data(), fill.data(), fill.size());
    const fs::path file = region_file(home, o.name);
    const long long dirty_before = dirty_pages(file);
    fault::ScopedFaultPlan faults;
    r.flush();
    const auto recs = faults->records();
    if (o.backing != Backing::file) {
        BOOST_TEST(recs.empty(), "a flush of a " << backing_name << " region issued " << recs.size() << " requests");
        return;
    }
    BOOST_REQUIRE(recs.size() == 1u);
    const struct stat st = stat_path(file);
    BOOST_TEST((recs[0].op == Op::fdatasync || recs[0].op == Op::fsync));
    BOOST_TEST(recs[0].dev == st.st_dev);
    BOOST_TEST(recs[0].ino == st.st_ino, "the sync was not of the region file");
    BOOST_TEST(recs[0].engine == g_engine);
    BOOST_TEST(!recs[0].direct);
    BOOST_TEST(recs[0].completed > recs[0].submitted);
    BOOST_TEST(recs[0].result == 0);
    if (dirty_before < 0) {
        BOOST_TEST_MESSAGE("cachestat is not available: dirty pages not checked");
    } else {
        if (dirty_before == 0) BOOST_TEST_MESSAGE("the stores were written back before the flush");
        BOOST_TEST(dirty_pages(file) == 0, "dirty pages left after flush (before: " << dirty_before << ")");
    }
    UNIT_CHECK_SAME_BYTES(fill, test::read_file(file).substr(inspect(home, o.name).header_size, fill.size()));
}

// io::flush() through a FaultEngine: EIO named with the file; fsync (data_only = false) is
// the op asked for.
BOOST_AUTO_TEST_CASE(io_flush_reports_eio_and_issues_the_sync_asked_for) {
    test::TempHome home;
    TestFile f(home.path(), pattern(10000, 2), "faulttest-");
    auto real = io::open(g_engine, 4);
    auto plan = std::make_shared<fault::Plan>();
    plan->fail(Op::fsync, 1, EIO);
    fault::FaultEngine fe(*real, plan);
    expect_error([&] { io::flush(fe, f.fd(), f.path(), false); }, generic(EIO),
                 {"flush", "fsync", f.path().string(), strerror_text(EIO)});
    BOOST_CHECK_NO_THROW(io::flush(fe, f.fd(), f.path(), false));
    BOOST_CHECK_NO_THROW(io::flush(fe, f.fd(), f.path(), true));
    const auto recs = plan->records();
    BOOST_REQUIRE(recs.size() == 3u);
    BOOST_TEST((recs[0].op == Op::fsync && recs[1].op == Op::fsync && recs[2].op == Op::fdatasync));
    BOOST_TEST(recs[1].result == 0);
    BOOST_TEST(recs[2].result == 0);
    BOOST_TEST(fe.in_flight() == 0u);
}

// ---- prefault -------------------------------------------------------------------------------

namespace faulttest {

/// True in the uring run when io_uring runs here (madvise_uring is its only user).
bool uring_prefault_or_skip() {
    if (g_engine != EngineKind::uring) {
        BOOST_TEST_MESSAGE("madvise_uring prefault is tested in the uring run");
        return false;
    }
    std::error_code ec;
    (void)io::choose(EngineKind::uring, ec);
    return !ec;  // main() skipped the whole run otherwise
}

io::PrefaultOptions uring_options() {
    io::PrefaultOptions p;
    p.method = io::PrefaultMethod::madvise_uring;
    p.engine = EngineKind::uring;
    p.threads = 2;  // four requests in flight
    p.chunk = 1 * MiB;
    return p;
}

std::string address_of(const void* p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", p);
    return buf;
}

}  // namespace faulttest

// A chunk's madvise fails with EIO: prefault reports EIO with that chunk's address, the
// region's bytes are unchanged, the engine it used is gone (nothing left in flight).
BOOST_DATA_TEST_CASE(madvise_uring_prefault_reports_the_failed_chunk,
                     test::backing_data(test::BackingSet::memory_file), backing_name) {
    if (!uring_prefault_or_skip()) return;
    test::TempHome home;
    Region r = Region::attach(region_options(home, test::backing_named(backing_name), 8 * MiB));
    auto* data = static_cast<unsigned char*>(r.data());
    const std::string fill = pattern(r.size(), 5);
    std::memcpy(data, fill.data(), fill.size());
    fault::ScopedFaultPlan faults;
    faults->fail(Op::madvise, 3, EIO);
    expect_error([&] { io::prefault(data, r.size(), uring_options()); }, generic(EIO),
                 {"prefault", "madvise(MADV_POPULATE_WRITE) of the chunk at " + address_of(data + 2 * MiB),
                  strerror_text(EIO)});
    const auto recs = faults->records(Op::madvise);
    BOOST_REQUIRE(recs.size() >= 3u);
    BOOST_TEST(recs[2].length == 1 * MiB);
    BOOST_TEST((recs[2].fault == fault::Action::fail));
    for (const auto& m : recs) BOOST_TEST(m.completed > 0u, "a madvise request was left unreaped");
    BOOST_TEST(std::memcmp(data, fill.data(), fill.size()) == 0);

    std::error_code ec;
    faults->clear();
    io::prefault(data, r.size(), uring_options(), ec);
    BOOST_TEST(ec == generic(EIO));
}

// On the background job's own thread: the handle reports the failed chunk's EIO.
BOOST_AUTO_TEST_CASE(madvise_uring_prefault_async_fails_on_its_thread) {
    if (!uring_prefault_or_skip()) return;
    test::TempHome home;
    Region r = Region::attach(region_options(home, Backing::file, 8 * MiB));
    fault::ScopedFaultPlan faults;
    faults->fail(Op::madvise, 6, EIO);
    io::PrefaultHandle h = io::prefault_async(r.data(), r.size(), uring_options());
    expect_error([&] { h.wait(); }, generic(EIO), {"madvise", address_of(static_cast<char*>(r.data()) + 5 * MiB)});
    BOOST_TEST(h.done());
    BOOST_TEST(h.error() == generic(EIO));
    BOOST_TEST(h.bytes_done() < h.bytes_total());
    BOOST_TEST(faults->count(Op::madvise) >= 6u);
}

// A chunk that completes with EAGAIN is submitted again; the prefault succeeds with every
// page resident.
BOOST_AUTO_TEST_CASE(madvise_uring_prefault_retries_eagain) {
    if (!uring_prefault_or_skip()) return;
    test::TempHome home;
    Region r = Region::attach(region_options(home, Backing::file, 8 * MiB));
    fault::ScopedFaultPlan faults;
    faults->fail(Op::madvise, 2, EAGAIN);
    BOOST_CHECK_NO_THROW(io::prefault(r.data(), r.size(), uring_options()));
    BOOST_TEST(pages_not_resident(r.data(), r.size()) == 0u);
    const auto recs = faults->records(Op::madvise);
    const auto chunks = (r.size() + MiB - 1) / MiB;
    BOOST_TEST(recs.size() == chunks + 1);  // one per chunk, and the retry
    BOOST_REQUIRE(recs.size() >= 2u);
    BOOST_TEST(recs[1].result == -EAGAIN);
    BOOST_TEST(std::count_if(recs.begin(), recs.end(), [&](const auto& m) { return m.addr == recs[1].addr; }) == 2,
               "the chunk that completed with EAGAIN was not submitted again");
    BOOST_TEST(std::count_if(recs.begin(), recs.end(), [](const auto& m) { return m.result == 0; }) ==
               static_cast<std::ptrdiff_t>(chunks));
}

// A refused submission is an error too (reported at the chunk that could not start).
BOOST_AUTO_TEST_CASE(madvise_uring_prefault_refused_at_submit) {
    if (!uring_prefault_or_skip()) return;
    test::TempHome home;
    Region r = Region::attach(region_options(home, Backing::file, 4 * MiB));
    fault::ScopedFaultPlan faults;
    faults->reject(Op::madvise, 1, ENOMEM);
    expect_error([&] { io::prefault(r.data(), r.size(), uring_options()); }, generic(ENOMEM),
                 {"madvise", address_of(r.data()), strerror_text(ENOMEM)});
    BOOST_TEST(faults->count(Op::madvise) == 1u);
}

// The default prefault (madvise or touch on worker threads) issues no engine request: a
// plan that fails everything is never consulted, and the prefault succeeds.
BOOST_DATA_TEST_CASE(thread_prefault_uses_no_engine, test::backing_data(test::BackingSet::memory_file),
                     backing_name) {
    test::TempHome home;
    Region r = Region::attach(region_options(home, test::backing_named(backing_name), 4 * MiB));
    fault::ScopedFaultPlan faults;
    faults->fail_any(1, EIO, fault::every);
    BOOST_CHECK_NO_THROW(r.prefault());
    io::PrefaultOptions touch;
    touch.method = io::PrefaultMethod::touch_threads;
    BOOST_CHECK_NO_THROW(io::prefault(r.data(), r.size(), touch));
    io::PrefaultHandle h = r.prefault_async();
    BOOST_CHECK_NO_THROW(h.wait());
    BOOST_TEST(faults->count() == 0u);
    BOOST_TEST(pages_not_resident(r.data(), r.size()) == 0u);
}

// ---- one plan, several threads ---------------------------------------------------------------

// Four threads grow four regions at once under one plan that fails the second fallocate:
// exactly one growth fails (ENOSPC), its region is unchanged, the others grew.
BOOST_AUTO_TEST_CASE(one_plan_shared_by_threads_hits_one_request) {
    test::TempHome home;
    std::vector<Options> opts;
    std::vector<Region> regions;
    for (int i = 0; i < 4; ++i) {
        opts.push_back(region_options(home, Backing::file, 1 * MiB, 8 * MiB));
        regions.push_back(Region::attach(opts.back()));
    }
    fault::ScopedFaultPlan faults;
    faults->fail(Op::fallocate, 2, ENOSPC);
    std::vector<std::error_code> results(4);
    {
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < 4; ++i)
            threads.emplace_back([&, i] { regions[i].grow(3 * MiB, results[i]); });
        for (auto& t : threads) t.join();
    }
    int failed = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        const RegionInfo info = inspect(home, opts[i].name);
        if (results[i]) {
            ++failed;
            BOOST_TEST(results[i] == generic(ENOSPC));
            BOOST_TEST(regions[i].size() == 1 * MiB);
            BOOST_TEST(info.size == 1 * MiB);
            BOOST_TEST(info.backing_size == info.region_size);
        } else {
            BOOST_TEST(regions[i].size() == 3 * MiB);
            BOOST_TEST(info.size == 3 * MiB);
        }
    }
    BOOST_TEST(failed == 1);
    BOOST_TEST(faults->count(Op::fallocate) == 4u);
    BOOST_TEST(faults->injected() == 1u);
}

// ---- main: one engine per run ----------------------------------------------------------------

int main(int argc, char* argv[]) {
    const char* name = "sync";
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--") == 0) {
            name = argv[i + 1];
            break;
        }
    if (!io::parse_engine(name, g_engine) || g_engine == EngineKind::automatic) {
        std::fprintf(stderr, "unit_io_faults: '%s' is not an engine (uring, libaio, posix, sync)\n", name);
        return 2;
    }
    try {
        (void)io::choose(g_engine);
    } catch (const std::exception& e) {
        if (g_engine == EngineKind::sync) {
            std::fprintf(stderr, "unit_io_faults: the sync engine must always run: %s\n", e.what());
            return 1;
        }
        std::fprintf(stderr, "unit_io_faults: skipped, engine %s cannot run here: %s\n", name, e.what());
        return 77;
    }
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
