// The I/O engines (io/engine.hpp, io/ops.hpp), one conformance suite run over every engine
// kind (uring, libaio, posix, sync). An engine this build lacks or this machine refuses is
// reported and skipped (capability groups needs_uring, needs_libaio, needs_posix_aio; see
// ByEngine below); the sync engine must always work. Per engine, on files in a test
// home and in /dev/shm:
//  - a batch of writes at unaligned and 4096-aligned offsets, lengths and buffers, then
//    reads: results, user_data, the bytes seen by pread, by the engine and through
//    mmap(MAP_SHARED), and stores made through the mapping seen by the engine;
//  - io::extend with every ExtendMethod: old bytes kept, new bytes zero, size and blocks;
//  - io::flush in both forms; errors that name the file;
//  - the supported operations, -EOPNOTSUPP for the others, -EINVAL for malformed requests,
//    -EBADF for a closed descriptor, 0 bytes past end of file, a short read across it;
//  - a full queue starts fewer requests; reaping, then submitting the rest, works.
// Engine choice: probe() order, parse_engine/to_string, engine_unavailable for a named
// engine that cannot run, SHMREGION_IO_ENGINE (bogus, sync) in fork()ed children.
// Regions: every engine forced through Options::io_engine for file and POSIX regions
// (zero fill, prefault keeps bytes and makes pages resident, flush, bytes in the file),
// Prefault::wait and ::background, prefault_async() cancelled, and detach() right after
// prefault_async().
// Regressions of the I/O review fixes (at the end): the posix engine refused in a child
// fork()ed with POSIX AIO requests in flight; extend and flush refuse an engine with
// requests of its own in flight (EBUSY, a uring read stuck on a pipe included) and a `from`
// that is not the file's size (size_mismatch), leaving the file as it was;
// PrefaultHandle::wait_for(milliseconds::max()) waits; detach() in a child fork()ed during a
// background prefault unmaps the child's copy of the region.
#define BOOST_TEST_MODULE unit_io_engines
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include "backings.hpp"
#include "child_check.hpp"
#include "io/engine.hpp"
#include "io/ops.hpp"
#include "unit_helpers.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace shmregion::io {
// How Boost.Test prints these in failed checks (found by ADL).
inline std::ostream& boost_test_print_type(std::ostream& os, EngineKind k) { return os << to_string(k); }
}  // namespace shmregion::io

using namespace shmregion;
using namespace shmregion::unit;
namespace bdata = boost::unit_test::data;
using io::EngineKind;
using io::Op;

// A named namespace, not an anonymous one: BOOST_DATA_TEST_CASE bodies are templates with
// external linkage, and types they use must not have internal linkage (-Wsubobject-linkage).
namespace iotest {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr std::size_t kPage = 4096;

const auto kEngines = bdata::make({"uring", "libaio", "posix", "sync"});
const auto kPlaces = bdata::make({"home", "dev_shm"});
const auto kMethods = bdata::make({"automatic", "fallocate", "zero_writes"});

/// The capability group (test/support/skip.hpp) of a case for engine `engine`: uring, libaio
/// and posix need that engine to work here; sync must always work (no group). With
/// `fallocate_place`, the case also needs fallocate in that place's file system.
std::string engine_group(const std::string& engine, const std::string& fallocate_place = "") {
    std::string needs = engine == "sync" ? "" : engine == "posix" ? "posix_aio" : engine;
    if (!fallocate_place.empty()) needs += (needs.empty() ? "fallocate_" : "_fallocate_") + fallocate_place;
    return needs.empty() ? needs : "needs_" + needs;
}

/// Labels each sample of a data test case over kEngines (first) with its engine's group:
/// BOOST_TEST_DECORATOR(*test::group_samples(<its dataset>, ByEngine{})).
struct ByEngine {
    template <class... Rest>
    std::string operator()(const char* engine, const Rest&...) const {
        return engine_group(engine);
    }
};

/// The same for kEngines * kPlaces * kMethods, where ExtendMethod::fallocate may also be
/// refused by the file system (needs_<engine>_fallocate_<place>, needs_fallocate_<place>).
struct ByEngineAndFallocate {
    std::string operator()(const char* engine, const char* place, const char* method) const {
        return engine_group(engine, std::string(method) == "fallocate" ? place : "");
    }
};

const EngineKind kAllKinds[] = {EngineKind::uring, EngineKind::libaio, EngineKind::posix, EngineKind::sync};

EngineKind engine_named(const char* name) {
    EngineKind k{};
    BOOST_REQUIRE_MESSAGE(io::parse_engine(name, k), "parse_engine(\"" << name << "\") failed");
    return k;
}

io::ExtendMethod method_named(const std::string& name) {
    if (name == "fallocate") return io::ExtendMethod::fallocate;
    if (name == "zero_writes") return io::ExtendMethod::zero_writes;
    return io::ExtendMethod::automatic;
}

/// This process's probe, taken once (probing starts real requests on every engine).
const std::vector<io::ProbeResult>& probed() {
    static const std::vector<io::ProbeResult> results = io::probe();
    return results;
}

const io::ProbeResult* probe_of(EngineKind k) {
    for (const auto& p : probed())
        if (p.kind == k) return &p;
    return nullptr;
}

bool engine_works(EngineKind k) {
    const io::ProbeResult* p = probe_of(k);
    return p && p->works;
}

/// True if the engine can be tested here. Otherwise says why the case is skipped; the sync
/// engine must always work (a failure if it does not).
bool usable_or_skip(EngineKind k) {
    const io::ProbeResult* p = probe_of(k);
    BOOST_REQUIRE_MESSAGE(p != nullptr, "io::probe() has no entry for engine " << io::to_string(k));
    if (p->works) return true;
    if (k == EngineKind::sync) {
        BOOST_ERROR("the sync engine must always work, but probe() says: " << p->detail);
        return false;
    }
    test::skip_test("engine " + std::string(io::to_string(k)) +
                    (p->built ? " does not work here: " : " is not built: ") + p->detail);
    return false;
}

std::unique_ptr<io::Engine> open_engine(EngineKind k, unsigned depth) {
    std::error_code ec;
    auto e = io::open(k, depth, ec);
    BOOST_REQUIRE_MESSAGE(!ec && e, "io::open(" << io::to_string(k) << ", " << depth << "): " << ec.message());
    BOOST_TEST(e->kind() == k);
    BOOST_TEST(e->capacity() == depth);
    BOOST_TEST(e->in_flight() == 0u);
    return e;
}

std::string errno_text(std::int64_t negative_errno) {
    return negative_errno < 0 ? std::string(std::strerror(static_cast<int>(-negative_errno)))
                              : std::to_string(negative_errno);
}

// ---- files, buffers, mappings -------------------------------------------------------------


/// Memory for one request: 4096-aligned (aligned_alloc), or deliberately misaligned (one
/// byte past a malloc'd block), zero-filled.
class Buffer {
public:
    Buffer(std::size_t n, bool aligned) : n_(n) {
        if (aligned) {
            raw_ = static_cast<unsigned char*>(std::aligned_alloc(kPage, std::max(kPage, (n + kPage - 1) / kPage * kPage)));
            p_ = raw_;
        } else {
            raw_ = static_cast<unsigned char*>(std::malloc(n + 1));
            p_ = raw_ + 1;
        }
        if (!raw_) throw std::bad_alloc();
        std::memset(p_, 0, n);
    }
    ~Buffer() { std::free(raw_); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    unsigned char* data() const noexcept { return p_; }
    std::size_t size() const noexcept { return n_; }

private:
    unsigned char* raw_ = nullptr;
    unsigned char* p_ = nullptr;
    std::size_t n_;
};

class Mapping {
public:
    Mapping(int fd, std::size_t n, int prot = PROT_READ | PROT_WRITE) : n_(n) {
        p_ = ::mmap(nullptr, n, prot, MAP_SHARED, fd, 0);
        BOOST_REQUIRE_MESSAGE(p_ != MAP_FAILED, "mmap " << n << " bytes: " << std::strerror(errno));
    }
    ~Mapping() { ::munmap(p_, n_); }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    unsigned char* data() const noexcept { return static_cast<unsigned char*>(p_); }

private:
    void* p_;
    std::size_t n_;
};

void fill(unsigned char* p, std::size_t n, unsigned seed) {
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>((i * 31u + seed * 7u + 1u) & 0xffu);
}

/// "" if p[0..n) holds the pattern of `seed`, else where it first differs.
std::string pattern_difference(const unsigned char* p, std::size_t n, unsigned seed) {
    for (std::size_t i = 0; i < n; ++i) {
        const auto want = static_cast<unsigned char>((i * 31u + seed * 7u + 1u) & 0xffu);
        if (p[i] != want)
            return "byte " + std::to_string(i) + " is " + std::to_string(p[i]) + ", expected " + std::to_string(want);
    }
    return {};
}

/// Index of the first nonzero byte, or n.
std::size_t first_nonzero(const unsigned char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != 0) return i;
    return n;
}

/// n bytes of the file at off, by pread.
std::vector<unsigned char> pread_bytes(int fd, std::size_t n, std::uint64_t off) {
    std::vector<unsigned char> out(n);
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(off + got));
        if (r < 0 && errno == EINTR) continue;
        BOOST_REQUIRE_MESSAGE(r >= 0, "pread: " << std::strerror(errno));
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
}

void pwrite_bytes(int fd, const unsigned char* p, std::size_t n, std::uint64_t off) {
    std::size_t done = 0;
    while (done < n) {
        const ssize_t r = ::pwrite(fd, p + done, n - done, static_cast<off_t>(off + done));
        if (r < 0 && errno == EINTR) continue;
        BOOST_REQUIRE_MESSAGE(r > 0, "pwrite: " << std::strerror(errno));
        done += static_cast<std::size_t>(r);
    }
}

struct stat stat_of(int fd) {
    struct stat st {};
    BOOST_REQUIRE_MESSAGE(::fstat(fd, &st) == 0, "fstat: " << std::strerror(errno));
    return st;
}

/// A descriptor number that is not open (one just closed).
int closed_fd() {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    ::close(fd);
    return fd;
}

/// Pages of [p, p+n) that mincore() says are not resident (n a multiple of the page size).
std::size_t pages_not_resident(const void* p, std::size_t n) {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> vec((n + page - 1) / page);
    BOOST_REQUIRE_MESSAGE(::mincore(const_cast<void*>(p), n, vec.data()) == 0, "mincore: " << std::strerror(errno));
    return static_cast<std::size_t>(std::count_if(vec.begin(), vec.end(), [](unsigned char v) { return (v & 1u) == 0; }));
}

// ---- submitting and reaping ------------------------------------------------------------

/// Reaps exactly n completions (n <= in_flight()), checking reap()'s contract on the way.
std::vector<io::Completion> reap_n(io::Engine& e, std::size_t n) {
    std::vector<io::Completion> got;
    std::vector<io::Completion> buf(std::max<std::size_t>(n, 1));
    while (got.size() < n) {
        const std::size_t want = n - got.size();
        const std::size_t before = e.in_flight();
        const int r = e.reap(std::span<io::Completion>(buf.data(), want), want);
        BOOST_REQUIRE_MESSAGE(r >= 0, "reap: " << errno_text(r));
        const auto stored = static_cast<std::size_t>(r);
        BOOST_REQUIRE_MESSAGE(stored <= want, "reap stored " << stored << " completions in room for " << want);
        BOOST_REQUIRE_MESSAGE(stored >= std::min(want, before),
                              "reap(min_complete " << want << ") returned " << stored << " with " << before
                                                   << " in flight");
        BOOST_TEST(e.in_flight() == before - stored);
        got.insert(got.end(), buf.begin(), buf.begin() + r);
    }
    return got;
}

/// Submits the whole batch (after a full queue: reaps, then submits the rest) and reaps
/// every completion. Returns them.
std::vector<io::Completion> run_all(io::Engine& e, std::span<const io::Request> batch) {
    std::vector<io::Completion> done;
    std::size_t next = 0;
    while (next < batch.size()) {
        const int n = e.submit(batch.subspan(next));
        BOOST_REQUIRE_MESSAGE(n >= 0, "submit: " << errno_text(n));
        if (n == 0) {
            BOOST_REQUIRE_MESSAGE(e.in_flight() > 0, "submit started nothing with an empty queue");
        }
        next += static_cast<std::size_t>(n);
        const auto more = reap_n(e, e.in_flight());
        done.insert(done.end(), more.begin(), more.end());
    }
    return done;
}

/// The completion with user_data u (exactly one must exist).
const io::Completion* completion_for(const std::vector<io::Completion>& cs, std::uint64_t u) {
    const io::Completion* found = nullptr;
    for (const auto& c : cs)
        if (c.user_data == u) {
            BOOST_TEST(found == nullptr, "two completions carry user_data " << u);
            found = &c;
        }
    BOOST_TEST(found != nullptr, "no completion carries user_data " << u);
    return found;
}

io::Request make(Op op, int fd, void* addr, std::uint64_t length, std::uint64_t offset, std::uint64_t user_data,
                 int arg = 0) {
    io::Request r;
    r.op = op;
    r.fd = fd;
    r.addr = addr;
    r.length = length;
    r.offset = offset;
    r.arg = arg;
    r.user_data = user_data;
    return r;
}

}  // namespace iotest

using namespace iotest;

// ---- choosing engines (first: its child must run before this process used POSIX AIO) ----

// With SHMREGION_IO_ENGINE unset, the automatic choice is the first engine probe() says
// works; probe() lists the four engines in preference order, sync always works.
BOOST_AUTO_TEST_CASE(probe_order_and_the_automatic_choice) {
    test::SharedMemory shared(sizeof(std::uint32_t));
    auto* chosen = shared.as<std::uint32_t>();
    *chosen = 999;
    const pid_t child = test::spawn([&]() -> int {
        ::unsetenv("SHMREGION_IO_ENGINE");
        std::error_code ec;
        const io::Choice c = io::choose(EngineKind::automatic, ec);
        CHILD_CHECK(!ec, 10);
        CHILD_CHECK(!c.reason.empty(), 11);
        CHILD_CHECK(contains(c.reason, "automatic"), 12);
        CHILD_CHECK(!c.tried.empty(), 13);
        CHILD_CHECK(c.tried.back().kind == c.engine && c.tried.back().works, 14);
        for (std::size_t i = 0; i + 1 < c.tried.size(); ++i) CHILD_CHECK(!c.tried[i].works, 15);
        *chosen = static_cast<std::uint32_t>(c.engine);
        return 0;
    });
    BOOST_TEST(test::wait_exit(child) == 0);

    const auto& p = probed();
    BOOST_REQUIRE(p.size() == 4u);
    for (std::size_t i = 0; i < 4; ++i) {
        BOOST_TEST(p[i].kind == kAllKinds[i]);
        BOOST_TEST(!p[i].detail.empty());
        if (!p[i].built) BOOST_TEST(!p[i].works);
        BOOST_TEST_MESSAGE("probe: " << io::to_string(p[i].kind) << (p[i].built ? " built" : " not built")
                                     << (p[i].works ? ", works: " : ", does not work: ") << p[i].detail);
    }
    BOOST_TEST(p[2].built);  // POSIX AIO and sync are always built
    BOOST_TEST(p[3].built);
    BOOST_TEST(p[3].works, "sync: " << p[3].detail);
    const auto first = std::find_if(p.begin(), p.end(), [](const io::ProbeResult& r) { return r.works; });
    BOOST_REQUIRE(first != p.end());
    BOOST_TEST(*chosen == static_cast<std::uint32_t>(first->kind),
               "automatic chose engine " << *chosen << ", probe says the first that works is "
                                         << io::to_string(first->kind));
}

BOOST_AUTO_TEST_CASE(engine_names_round_trip) {
    for (EngineKind k : {EngineKind::automatic, EngineKind::uring, EngineKind::libaio, EngineKind::posix,
                         EngineKind::sync}) {
        EngineKind back = k == EngineKind::sync ? EngineKind::uring : EngineKind::sync;
        BOOST_TEST(io::parse_engine(io::to_string(k), back), "parse_engine(\"" << io::to_string(k) << "\")");
        BOOST_TEST(back == k);
    }
    BOOST_TEST(io::to_string(EngineKind::automatic) == "auto");
    BOOST_TEST(io::to_string(EngineKind::uring) == "uring");
    BOOST_TEST(io::to_string(EngineKind::libaio) == "libaio");
    BOOST_TEST(io::to_string(EngineKind::posix) == "posix");
    BOOST_TEST(io::to_string(EngineKind::sync) == "sync");
    EngineKind k = EngineKind::sync;
    BOOST_TEST(io::parse_engine("io_uring", k));
    BOOST_TEST(k == EngineKind::uring);
    BOOST_TEST(io::parse_engine("posix_aio", k));
    BOOST_TEST(k == EngineKind::posix);
    for (const char* bad : {"", "bogus", "uring ", " sync", "aio", "posix-aio", "syncx"})
        BOOST_TEST(!io::parse_engine(bad, k), "parse_engine(\"" << bad << "\") accepted");
}

// A named engine that does not work here: engine_unavailable from open() and choose() (and
// a forced Region attach, below). Only testable where one does not work.
BOOST_AUTO_TEST_CASE(a_named_engine_that_cannot_run_is_engine_unavailable) {
    std::size_t unavailable = 0;
    for (const auto& p : probed()) {
        if (p.works) continue;
        ++unavailable;
        BOOST_TEST_CONTEXT("engine " << io::to_string(p.kind) << " (" << p.detail << ")") {
            expect_error([&] { (void)io::open(p.kind, 8); }, code(errc::engine_unavailable),
                         {std::string(io::to_string(p.kind))});
            expect_ec([&](std::error_code& ec) { BOOST_TEST(!io::open(p.kind, 8, ec)); },
                      code(errc::engine_unavailable));
            expect_error([&] { (void)io::choose(p.kind); }, code(errc::engine_unavailable),
                         {std::string(io::to_string(p.kind))});
            expect_ec([&](std::error_code& ec) { (void)io::choose(p.kind, ec); }, code(errc::engine_unavailable));
        }
    }
    if (unavailable == 0)
        BOOST_TEST_MESSAGE("every engine works here: engine_unavailable for a named engine is not testable "
                           "in this process (mp_io_probe provokes it with a seccomp filter)");
    // A named engine that works is chosen as asked.
    for (const auto& p : probed()) {
        if (!p.works) continue;
        std::error_code ec;
        const io::Choice c = io::choose(p.kind, ec);
        BOOST_TEST(!ec, io::to_string(p.kind) << ": " << ec.message());
        BOOST_TEST(c.engine == p.kind);
        BOOST_TEST(!c.reason.empty());
    }
    // A queue depth outside 1..4096 is refused (engine.hpp names no code for it).
    for (unsigned depth : {0u, 4097u}) {
        std::error_code ec;
        BOOST_TEST(!io::open(EngineKind::sync, depth, ec), "queue depth " << depth);
        BOOST_TEST(static_cast<bool>(ec), "queue depth " << depth << " was accepted");
    }
}

// SHMREGION_IO_ENGINE=bogus (set in a child: the choice is cached per process):
// invalid_options from choose(), open() and an automatic attach; a named engine still wins.
BOOST_AUTO_TEST_CASE(environment_naming_no_engine_is_invalid_options) {
    test::TempHome home;
    (void)io::choose(EngineKind::sync);  // this process has a cached choice; the child must not inherit it
    const Options o = test::options(home, Backing::file);
    const pid_t child = test::spawn([&]() -> int {
        ::setenv("SHMREGION_IO_ENGINE", "bogus", 1);
        std::error_code ec;
        (void)io::choose(EngineKind::automatic, ec);
        CHILD_CHECK(ec == errc::invalid_options, 10);
        try {
            (void)io::choose();
            std::fprintf(stderr, "child: choose() with SHMREGION_IO_ENGINE=bogus did not throw\n");
            return 11;
        } catch (const Error& e) {
            std::fprintf(stderr, "child: choose() with SHMREGION_IO_ENGINE=bogus: %s\n", e.what());
            CHILD_CHECK(e.code() == errc::invalid_options, 12);
            CHILD_CHECK(contains(e.what(), "SHMREGION_IO_ENGINE"), 13);
            CHILD_CHECK(contains(e.what(), "bogus"), 14);
        }
        auto engine = io::open(EngineKind::automatic, 8, ec);
        CHILD_CHECK(ec == errc::invalid_options, 15);
        CHILD_CHECK(!engine, 16);
        const io::Choice named = io::choose(EngineKind::sync, ec);  // a named engine wins
        CHILD_CHECK(!ec, 17);
        CHILD_CHECK(named.engine == EngineKind::sync, 18);
        Region r = Region::attach(o, ec);
        CHILD_CHECK(ec == errc::invalid_options, 19);
        CHILD_CHECK(!r.attached(), 20);
        CHILD_CHECK(!fs::exists(region_file(o.home, o.name)), 21);
        Options forced = o;
        forced.io_engine = EngineKind::sync;
        Region r2 = Region::attach(forced, ec);
        CHILD_CHECK(!ec, 22);
        CHILD_CHECK(r2.io_engine() == EngineKind::sync, 23);
        r2.detach(ec);
        CHILD_CHECK(!ec, 24);
        return 0;
    });
    BOOST_TEST(test::wait_exit(child) == 0);
}

// SHMREGION_IO_ENGINE=sync in a child: choose() picks sync and says why; a Region attached
// there uses sync; an engine named in Options still wins over the environment.
BOOST_AUTO_TEST_CASE(environment_forces_sync) {
    test::TempHome home;
    (void)io::choose(EngineKind::sync);
    const Options o = test::options(home, Backing::file, 1 * MiB);
    const Options o2 = test::options(home, Backing::posix, 1 * MiB);
    const bool uring_works = engine_works(EngineKind::uring);
    const pid_t child = test::spawn([&]() -> int {
        ::setenv("SHMREGION_IO_ENGINE", "sync", 1);
        const io::Choice c = io::choose();
        std::fprintf(stderr, "child: SHMREGION_IO_ENGINE=sync: chose %s (%s)\n", io::to_string(c.engine).data(),
                     c.reason.c_str());
        CHILD_CHECK(c.engine == EngineKind::sync, 10);
        CHILD_CHECK(contains(c.reason, "SHMREGION_IO_ENGINE"), 11);
        auto engine = io::open();
        CHILD_CHECK(engine && engine->kind() == EngineKind::sync, 12);
        Region r = Region::attach(o);
        CHILD_CHECK(r.io_engine() == EngineKind::sync, 13);
        r.flush();
        r.prefault();
        r.detach();
        if (uring_works) {
            Options named = o2;
            named.io_engine = EngineKind::uring;
            Region u = Region::attach(named);
            CHILD_CHECK(u.io_engine() == EngineKind::uring, 14);
            u.detach();
        }
        return 0;
    });
    BOOST_TEST(test::wait_exit(child) == 0);
}

// ---- the conformance suite ------------------------------------------------------------

// A batch of writes (unaligned offsets, lengths and buffers into one file; 4096-aligned ones
// into another) in one submit(), reaped; the bytes by pread, read back through the engine,
// through mmap(MAP_SHARED); stores through the mapping read back through the engine.
BOOST_TEST_DECORATOR(*test::group_samples(kEngines * kPlaces, ByEngine{}))
BOOST_DATA_TEST_CASE(write_read_round_trip, kEngines * kPlaces, engine_name, place) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    test::TempHome home;
    const fs::path dir = place_dir(home, place);
    auto engine = open_engine(kind, 64);
    TestFile a(dir), b(dir);

    struct Piece {
        const TestFile* file;
        std::uint64_t offset;
        std::size_t length;
        bool aligned;
    };
    const std::vector<Piece> pieces = {
        {&a, 13, 7, false},         {&a, 4097, 100000, false}, {&a, 200003, 1, false},
        {&b, 8192, 64 * KiB, true}, {&b, 0, 4096, true},       {&b, 1 * MiB, 128 * KiB, true},
    };
    std::vector<std::unique_ptr<Buffer>> out, in;
    std::vector<io::Request> writes, reads;
    std::vector<unsigned char> image_a, image_b;  // what each file must hold
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        const Piece& p = pieces[i];
        out.push_back(std::make_unique<Buffer>(p.length, p.aligned));
        in.push_back(std::make_unique<Buffer>(p.length, p.aligned));
        fill(out.back()->data(), p.length, static_cast<unsigned>(i + 1));
        writes.push_back(make(Op::write, p.file->fd(), out.back()->data(), p.length, p.offset, 100 + i));
        reads.push_back(make(Op::read, p.file->fd(), in.back()->data(), p.length, p.offset, 200 + i));
        auto& image = p.file == &a ? image_a : image_b;
        if (image.size() < p.offset + p.length) image.resize(p.offset + p.length);
        std::memcpy(image.data() + p.offset, out.back()->data(), p.length);
    }

    BOOST_TEST(engine->supports(Op::write));
    BOOST_TEST(engine->supports(Op::read));
    const int started = engine->submit(writes);
    BOOST_REQUIRE_MESSAGE(started == static_cast<int>(writes.size()),
                          "submit of " << writes.size() << " writes returned " << started << " ("
                                       << errno_text(started) << ")");
    BOOST_TEST(engine->in_flight() == writes.size());
    const auto wrote = reap_n(*engine, writes.size());
    BOOST_TEST(engine->in_flight() == 0u);
    for (std::size_t i = 0; i < pieces.size(); ++i)
        if (const auto* c = completion_for(wrote, 100 + i))
            BOOST_TEST(c->result == static_cast<std::int64_t>(pieces[i].length),
                       "write " << i << " (" << pieces[i].length << " bytes at " << pieces[i].offset
                                << "): " << errno_text(c->result));

    for (const TestFile* f : {&a, &b}) {
        const auto& image = f == &a ? image_a : image_b;
        BOOST_TEST(static_cast<std::size_t>(stat_of(f->fd()).st_size) == image.size());
        const auto seen = pread_bytes(f->fd(), image.size() + 10, 0);
        BOOST_TEST((seen == image), "pread of " << f->path() << " differs from what was written");
    }

    BOOST_REQUIRE(engine->submit(reads) == static_cast<int>(reads.size()));
    const auto got = reap_n(*engine, reads.size());
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (const auto* c = completion_for(got, 200 + i))
            BOOST_TEST(c->result == static_cast<std::int64_t>(pieces[i].length),
                       "read " << i << ": " << errno_text(c->result));
        BOOST_TEST(std::memcmp(in[i]->data(), out[i]->data(), pieces[i].length) == 0,
                   "read " << i << " (" << pieces[i].length << " bytes at " << pieces[i].offset
                           << ") returned other bytes");
    }

    // The same bytes through a shared mapping; a store through it is seen by the engine's
    // reads (aligned ones may bypass the page cache: it must still be coherent).
    for (const TestFile* f : {&a, &b}) {
        const auto& image = f == &a ? image_a : image_b;
        Mapping m(f->fd(), image.size());
        BOOST_TEST(std::memcmp(m.data(), image.data(), image.size()) == 0,
                   "the mapping of " << f->path() << " differs from what was written");
    }
    Mapping mb(b.fd(), image_b.size());
    fill(mb.data() + 8192, 64 * KiB, 99);
    Buffer back(64 * KiB, true);
    const io::Request reread[] = {make(Op::read, b.fd(), back.data(), 64 * KiB, 8192, 7)};
    const auto again = run_all(*engine, reread);
    BOOST_REQUIRE(again.size() == 1u);
    BOOST_TEST(again[0].user_data == 7u);
    BOOST_TEST(again[0].result == static_cast<std::int64_t>(64 * KiB), errno_text(again[0].result));
    BOOST_TEST(pattern_difference(back.data(), 64 * KiB, 99) == "",
               "a store through the mapping is not seen by the engine's read");
}

// io::extend from a non-zero (unaligned) size: old bytes unchanged, new bytes zero, the new
// size, blocks allocated; again with the throwing form. ExtendMethod::fallocate may be
// refused (EOPNOTSUPP) by a file system without fallocate: then the file is unchanged.
BOOST_TEST_DECORATOR(*test::group_samples(kEngines * kPlaces * kMethods, ByEngineAndFallocate{}))
BOOST_DATA_TEST_CASE(extend_allocates_zeroed_space, kEngines * kPlaces * kMethods, engine_name, place, method_name) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    const io::ExtendMethod method = method_named(method_name);
    test::TempHome home;
    auto engine = open_engine(kind, 64);
    TestFile f(place_dir(home, place));
    constexpr std::uint64_t from = 1 * MiB + 100;
    constexpr std::uint64_t to = 9 * MiB + 12345;
    std::vector<unsigned char> old(from);
    fill(old.data(), old.size(), 5);
    pwrite_bytes(f.fd(), old.data(), old.size(), 0);

    std::error_code ec = make_error_code(std::errc::interrupted);  // must be overwritten
    io::extend(*engine, f.fd(), from, to, f.path(), method, ec);
    if (method == io::ExtendMethod::fallocate && ec == std::errc::operation_not_supported) {
        test::skip_test("fallocate is not supported by engine " + std::string(engine_name) + " on " + place + ": " +
                        ec.message());
        BOOST_TEST(static_cast<std::uint64_t>(stat_of(f.fd()).st_size) == from);
        BOOST_TEST((pread_bytes(f.fd(), from + 1, 0) == old));
        return;
    }
    BOOST_REQUIRE_MESSAGE(!ec, "extend " << from << " -> " << to << ": " << ec.message());
    struct stat st = stat_of(f.fd());
    BOOST_TEST(static_cast<std::uint64_t>(st.st_size) == to);
    BOOST_TEST(static_cast<std::uint64_t>(st.st_blocks) * 512u >= to,
               "only " << st.st_blocks * 512 << " bytes allocated for " << to);
    auto bytes = pread_bytes(f.fd(), to + 1, 0);
    BOOST_REQUIRE(bytes.size() == to);
    BOOST_TEST(std::memcmp(bytes.data(), old.data(), from) == 0, "bytes before `from` changed");
    const std::size_t nz = first_nonzero(bytes.data() + from, to - from);
    BOOST_TEST(nz == to - from, "new byte at " << from + nz << " is not zero");

    // The throwing form, from the new size.
    const std::uint64_t to2 = to + 1 * MiB;
    BOOST_CHECK_NO_THROW(io::extend(*engine, f.fd(), to, to2, f.path(), method));
    st = stat_of(f.fd());
    BOOST_TEST(static_cast<std::uint64_t>(st.st_size) == to2);
    BOOST_TEST(static_cast<std::uint64_t>(st.st_blocks) * 512u >= to2);
    bytes = pread_bytes(f.fd(), to2 - to, to);
    BOOST_TEST(first_nonzero(bytes.data(), bytes.size()) == bytes.size());
    // Still intact through a mapping, and every page of it can be written.
    Mapping m(f.fd(), to2);
    BOOST_TEST(std::memcmp(m.data(), old.data(), from) == 0);
    for (std::size_t off = from; off < to2; off += kPage) m.data()[off] = 1;
    BOOST_TEST(engine->in_flight() == 0u);
}

// io::flush, fdatasync and fsync forms, both API forms; stores through a mapping included.
BOOST_TEST_DECORATOR(*test::group_samples(kEngines * kPlaces, ByEngine{}))
BOOST_DATA_TEST_CASE(flush_succeeds, kEngines * kPlaces, engine_name, place) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    test::TempHome home;
    auto engine = open_engine(kind, 8);
    TestFile f(place_dir(home, place));
    std::vector<unsigned char> bytes(3 * kPage);
    fill(bytes.data(), bytes.size(), 3);
    pwrite_bytes(f.fd(), bytes.data(), bytes.size(), 0);
    {
        Mapping m(f.fd(), bytes.size());
        m.data()[kPage] = 42;
        bytes[kPage] = 42;
    }
    for (bool data_only : {true, false}) {
        BOOST_TEST_CONTEXT("data_only " << data_only) {
            BOOST_CHECK_NO_THROW(io::flush(*engine, f.fd(), f.path(), data_only));
            expect_ec([&](std::error_code& ec) { io::flush(*engine, f.fd(), f.path(), data_only, ec); }, {});
        }
    }
    BOOST_TEST((pread_bytes(f.fd(), bytes.size(), 0) == bytes));
    BOOST_TEST(engine->in_flight() == 0u);
}

// Errors of extend and flush name the operation and the file, and keep the errno.
BOOST_TEST_DECORATOR(*test::group_samples(kEngines, ByEngine{}))
BOOST_DATA_TEST_CASE(operation_errors_name_the_file, kEngines, engine_name) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    auto engine = open_engine(kind, 8);
    const int bad = closed_fd();
    const fs::path what = "/nowhere/io-test.region";
    for (bool data_only : {true, false}) {
        expect_error([&] { io::flush(*engine, bad, what, data_only); }, code(std::errc::bad_file_descriptor),
                     {what.string(), "flush"});
        expect_ec([&](std::error_code& ec) { io::flush(*engine, bad, what, data_only, ec); },
                  code(std::errc::bad_file_descriptor));
    }
    for (const char* m : {"automatic", "fallocate", "zero_writes"}) {
        BOOST_TEST_CONTEXT("extend method " << m) {
            expect_error([&] { io::extend(*engine, bad, kPage, 4 * kPage, what, method_named(m)); },
                         code(std::errc::bad_file_descriptor), {what.string(), "extend"});
            expect_ec([&](std::error_code& ec) { io::extend(*engine, bad, kPage, 4 * kPage, what, method_named(m), ec); },
                      code(std::errc::bad_file_descriptor));
        }
    }
    BOOST_TEST(engine->in_flight() == 0u);
}

// What submit() accepts: every supported op completes (user_data returned); others are
// -EOPNOTSUPP; malformed requests -EINVAL; a closed descriptor -EBADF; reads past the end
// of the file 0 bytes, across it a short read.
BOOST_TEST_DECORATOR(*test::group_samples(kEngines, ByEngine{}))
BOOST_DATA_TEST_CASE(supported_unsupported_and_failing_requests, kEngines, engine_name) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    test::TempHome home;
    auto engine = open_engine(kind, 16);
    TestFile f(home.path());

    // The documented operation sets.
    for (Op op : {Op::write, Op::read, Op::fsync, Op::fdatasync})
        BOOST_TEST(engine->supports(op), "op " << static_cast<int>(op));
    if (kind == EngineKind::sync) {
        BOOST_TEST(engine->supports(Op::fallocate));
        BOOST_TEST(engine->supports(Op::madvise));
    }
    if (kind == EngineKind::libaio || kind == EngineKind::posix) {
        BOOST_TEST(!engine->supports(Op::fallocate));
        BOOST_TEST(!engine->supports(Op::madvise));
    }

    Buffer data(8 * KiB, false);
    fill(data.data(), data.size(), 11);
    Buffer back(8 * KiB, false);
    void* anon = ::mmap(nullptr, 16 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    BOOST_REQUIRE(anon != MAP_FAILED);
    std::shared_ptr<void> unmap(anon, [](void* p) { ::munmap(p, 16 * kPage); });
    const io::Request one_of_each[] = {
        make(Op::write, f.fd(), data.data(), data.size(), 0, 1),
        make(Op::fallocate, f.fd(), nullptr, 64 * KiB, 0, 3, 0),
        make(Op::fsync, f.fd(), nullptr, 0, 0, 4),
        make(Op::fdatasync, f.fd(), nullptr, 0, 0, 5),
        make(Op::madvise, -1, anon, 16 * kPage, 0, 6, MADV_WILLNEED),
    };
    std::size_t unsupported = 0;
    for (const auto& r : one_of_each) {
        BOOST_TEST_CONTEXT("op " << static_cast<int>(r.op)) {
            if (!engine->supports(r.op)) {
                ++unsupported;
                BOOST_TEST(engine->submit(std::span<const io::Request>(&r, 1)) == -EOPNOTSUPP);
                BOOST_TEST(engine->in_flight() == 0u);
                continue;
            }
            const auto c = run_all(*engine, std::span<const io::Request>(&r, 1));
            BOOST_REQUIRE(c.size() == 1u);
            BOOST_TEST(c[0].user_data == r.user_data);
            const std::int64_t want = r.op == Op::write ? static_cast<std::int64_t>(r.length) : 0;
            if (r.op == Op::fallocate && c[0].result == -EOPNOTSUPP)
                BOOST_TEST_MESSAGE("the file system refuses fallocate: " << errno_text(c[0].result));
            else
                BOOST_TEST(c[0].result == want, errno_text(c[0].result));
        }
    }
    if (unsupported == 0) BOOST_TEST_MESSAGE("engine " << engine_name << " supports every operation");
    const io::Request read_back[] = {make(Op::read, f.fd(), back.data(), back.size(), 0, 2)};
    const auto rb = run_all(*engine, read_back);
    BOOST_REQUIRE(rb.size() == 1u);
    BOOST_TEST(rb[0].result == static_cast<std::int64_t>(back.size()));
    BOOST_TEST(std::memcmp(back.data(), data.data(), data.size()) == 0);

    // Malformed: a write without a buffer, a read beyond max_transfer.
    const io::Request no_buffer[] = {make(Op::write, f.fd(), nullptr, 10, 0, 20)};
    BOOST_TEST(engine->submit(no_buffer) == -EINVAL);
    const io::Request too_long[] = {make(Op::read, f.fd(), back.data(), io::max_transfer + 1, 0, 21)};
    BOOST_TEST(engine->submit(too_long) == -EINVAL);
    BOOST_TEST(engine->in_flight() == 0u);

    // A closed descriptor: submit refuses it, or its completion carries -EBADF.
    const int bad = closed_fd();
    for (Op op : {Op::write, Op::read, Op::fdatasync}) {
        BOOST_TEST_CONTEXT("bad fd, op " << static_cast<int>(op)) {
            const bool moves = op == Op::write || op == Op::read;
            const io::Request r[] = {make(op, bad, moves ? data.data() : nullptr, moves ? 512 : 0, 0, 30)};
            const int n = engine->submit(r);
            if (n == -EBADF) {
                BOOST_TEST(engine->in_flight() == 0u);
                continue;
            }
            BOOST_REQUIRE_MESSAGE(n == 1, "submit returned " << n << " (" << errno_text(n) << ")");
            const auto c = reap_n(*engine, 1);
            BOOST_TEST(c[0].user_data == 30u);
            BOOST_TEST(c[0].result == -EBADF, errno_text(c[0].result));
        }
    }

    // End of file: the file is 100 bytes long now.
    BOOST_REQUIRE(::ftruncate(f.fd(), 100) == 0);
    Buffer small(10, false);
    Buffer page(kPage, true);
    Buffer across(kPage, true);
    const io::Request eof[] = {
        make(Op::read, f.fd(), small.data(), 10, 1000, 40),       // unaligned, past the end
        make(Op::read, f.fd(), page.data(), kPage, 8192, 41),     // aligned, past the end
        make(Op::read, f.fd(), across.data(), kPage, 0, 42),      // aligned, across the end
    };
    const auto e = run_all(*engine, eof);
    if (const auto* c = completion_for(e, 40)) BOOST_TEST(c->result == 0, errno_text(c->result));
    if (const auto* c = completion_for(e, 41)) BOOST_TEST(c->result == 0, errno_text(c->result));
    if (const auto* c = completion_for(e, 42)) BOOST_TEST(c->result == 100, errno_text(c->result));
    BOOST_TEST(std::memcmp(across.data(), data.data(), 100) == 0);
    BOOST_TEST(engine->drain() == 0);
}

// queue_depth 4: a batch of 10 starts at most 4; with the queue full nothing more starts;
// reaping, then submitting the rest, completes every request once.
BOOST_TEST_DECORATOR(*test::group_samples(kEngines, ByEngine{}))
BOOST_DATA_TEST_CASE(a_full_queue_starts_fewer, kEngines, engine_name) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    test::TempHome home;
    auto engine = open_engine(kind, 4);
    TestFile f(home.path());
    constexpr std::size_t kCount = 10;
    constexpr std::size_t kLen = 512;
    std::vector<std::unique_ptr<Buffer>> bufs;
    std::vector<io::Request> reqs;
    for (std::size_t i = 0; i < kCount; ++i) {
        bufs.push_back(std::make_unique<Buffer>(kLen, false));
        fill(bufs.back()->data(), kLen, static_cast<unsigned>(20 + i));
        reqs.push_back(make(Op::write, f.fd(), bufs.back()->data(), kLen, i * 1000 + 3, 1000 + i));
    }
    const std::span<const io::Request> all(reqs);
    int n = engine->submit(all);
    BOOST_REQUIRE_MESSAGE(n >= 1, "submit into an empty queue returned " << n << " (" << errno_text(n) << ")");
    BOOST_TEST(static_cast<std::size_t>(n) <= engine->capacity());
    BOOST_TEST(static_cast<std::size_t>(n) < kCount);
    BOOST_TEST(engine->in_flight() == static_cast<std::size_t>(n));
    std::size_t next = static_cast<std::size_t>(n);
    if (engine->in_flight() == engine->capacity()) {
        const int m = engine->submit(all.subspan(next));
        BOOST_TEST((m == 0 || m == -EAGAIN || m == -EBUSY),
                   "submit into a full queue returned " << m << " (" << errno_text(m) << ")");
        BOOST_TEST(engine->in_flight() == engine->capacity());
        if (m > 0) next += static_cast<std::size_t>(m);
    }
    std::vector<io::Completion> done = reap_n(*engine, engine->in_flight());
    while (next < kCount) {
        n = engine->submit(all.subspan(next));
        BOOST_REQUIRE_MESSAGE(n >= 1, "submit after reaping returned " << n << " (" << errno_text(n) << ")");
        BOOST_TEST(static_cast<std::size_t>(n) <= engine->capacity());
        next += static_cast<std::size_t>(n);
        const auto more = reap_n(*engine, engine->in_flight());
        done.insert(done.end(), more.begin(), more.end());
    }
    BOOST_TEST(done.size() == kCount);
    for (std::size_t i = 0; i < kCount; ++i) {
        if (const auto* c = completion_for(done, 1000 + i))
            BOOST_TEST(c->result == static_cast<std::int64_t>(kLen), errno_text(c->result));
        const auto bytes = pread_bytes(f.fd(), kLen, i * 1000 + 3);
        BOOST_TEST(pattern_difference(bytes.data(), bytes.size(), static_cast<unsigned>(20 + i)) == "",
                   "request " << i);
    }
    BOOST_TEST(engine->in_flight() == 0u);
}

// glibc's POSIX AIO keeps idle worker threads for about a second after a request; a child
// forked meanwhile inherits their bookkeeping but not the threads. An engine opened in the
// child (engine.hpp: "a child opens its own") must still complete its requests, and so must
// a Region attached there with io_engine = posix (its creation extends the file through the
// engine). Each child runs under a 10 s watchdog; the parent uses the engine right before
// each fork.
BOOST_AUTO_TEST_CASE(posix_engine_in_a_child_forked_right_after_the_parent_used_it,
                     *boost::unit_test::label("needs_posix_aio")) {
    if (!usable_or_skip(EngineKind::posix)) return;
    test::TempHome home;
    TestFile f(home.path());
    auto use_posix_aio_now = [&] {
        auto engine = open_engine(EngineKind::posix, 8);
        Buffer b(512, false);
        fill(b.data(), b.size(), 1);
        const io::Request w[] = {make(Op::write, f.fd(), b.data(), b.size(), 0, 1)};
        const auto c = run_all(*engine, w);
        BOOST_REQUIRE(c.size() == 1u);
        BOOST_TEST(c[0].result == 512);
    };
    // glibc cannot run POSIX AIO in a child forked while its idle AIO threads were counted
    // (the count is inherited, the threads are not). The engine must then refuse to open,
    // saying why, instead of hanging: either outcome is fine, a hang is not.
    auto verdict = [](int rc) {
        return "child exit " + std::to_string(rc) +
               (rc == -SIGALRM ? ": hung for 10 s (a POSIX AIO request in a child forked while the parent's glibc "
                                 "AIO threads were idle never completed)"
                               : "");
    };

    use_posix_aio_now();
    const int fd = f.fd();
    const pid_t engine_child = test::spawn(
        [&]() -> int {
            std::error_code ec;
            auto engine = io::open(EngineKind::posix, 8, ec);
            if (ec) {
                // Refused: it must say why, and every later open must refuse at once.
                CHILD_CHECK(ec == errc::engine_unavailable, 14);
                std::error_code again;
                (void)io::open(EngineKind::posix, 8, again);
                CHILD_CHECK(again == ec, 15);
                try {
                    (void)io::open(EngineKind::posix, 8);
                    return 16;
                } catch (const Error& e) {
                    CHILD_CHECK(std::string(e.what()).find("fork()") != std::string::npos, 17);
                }
                return 0;
            }
            CHILD_CHECK(engine != nullptr, 10);
            unsigned char b[512];
            fill(b, sizeof b, 2);
            const io::Request w[] = {make(Op::write, fd, b, sizeof b, 512, 2)};
            CHILD_CHECK(engine->submit(w) == 1, 11);
            io::Completion c{};
            CHILD_CHECK(engine->reap(std::span<io::Completion>(&c, 1), 1) == 1, 12);
            CHILD_CHECK(c.result == 512, 13);
            return 0;
        },
        10);
    const int rc1 = test::wait_exit(engine_child);
    BOOST_TEST(rc1 == 0, "io::open(posix) in the child: " << verdict(rc1));

    Options o = test::options(home, Backing::file, 1 * MiB);
    o.io_engine = EngineKind::posix;
    use_posix_aio_now();
    const pid_t region_child = test::spawn(
        [&]() -> int {
            std::error_code ec;
            Region r = Region::attach(o, ec);
            if (ec) {  // refused as above, and nothing was created
                CHILD_CHECK(ec == errc::engine_unavailable, 24);
                CHILD_CHECK(!std::filesystem::exists(region_file(o.home, o.name)), 25);
                return 0;
            }
            CHILD_CHECK(r.io_engine() == EngineKind::posix, 21);
            r.flush(ec);
            CHILD_CHECK(!ec, 22);
            r.detach(ec);
            CHILD_CHECK(!ec, 23);
            return 0;
        },
        10);
    const int rc2 = test::wait_exit(region_child);
    BOOST_TEST(rc2 == 0, "Region::attach(io_engine posix) in the child: " << verdict(rc2));
}

// ---- regions ----------------------------------------------------------------------------

// Every engine forced through Options::io_engine, file and POSIX regions of 4 MiB: the
// region reports it, is zero-filled, prefault keeps the bytes and makes every page
// resident, flush succeeds, and a file region's bytes are in its file after detach.
BOOST_DATA_TEST_CASE(region_with_a_forced_engine, kEngines * test::backing_data(test::BackingSet::memory_file),
                     engine_name, backing_name) {
    const EngineKind kind = engine_named(engine_name);
    const Backing backing = test::backing_named(backing_name);
    test::TempHome home;
    Options o = test::options(home, backing, 4 * MiB);
    o.io_engine = kind;
    if (!engine_works(kind)) {
        if (kind == EngineKind::sync) BOOST_ERROR("the sync engine must always work");
        BOOST_TEST_MESSAGE("engine " << engine_name << " cannot run here: a forced attach must be refused");
        expect_attach_fails(o, code(errc::engine_unavailable), {std::string(engine_name)});
        BOOST_TEST(fs::is_empty(home.path()));
        return;
    }
    Region r = Region::attach(o);
    BOOST_REQUIRE(r.created());
    BOOST_TEST(r.io_engine() == kind);
    BOOST_REQUIRE(r.size() == 4 * MiB);
    BOOST_TEST(!r.background_prefault().valid());
    auto* data = static_cast<unsigned char*>(r.data());
    BOOST_TEST(first_nonzero(data, r.size()) == r.size(), "a new region is not zero-filled");

    fill(data, r.size(), 77);
    BOOST_CHECK_NO_THROW(r.prefault());
    BOOST_TEST(pattern_difference(data, r.size(), 77) == "", "prefault changed the region's bytes");
    BOOST_TEST(pages_not_resident(data, r.size()) == 0u);
    expect_ec([&](std::error_code& ec) { r.prefault(ec); }, {});
    BOOST_CHECK_NO_THROW(r.flush());
    expect_ec([&](std::error_code& ec) { r.flush(ec); }, {});
    BOOST_TEST(pattern_difference(data, r.size(), 77) == "");

    if (backing == Backing::file) {
        const RegionInfo info = inspect(home, o.name);
        BOOST_TEST(info.size == 4 * MiB);
        BOOST_REQUIRE(info.header_size > 0u);
        r.detach();
        const int fd = ::open(region_file(home, o.name).c_str(), O_RDONLY | O_CLOEXEC);
        BOOST_REQUIRE(fd >= 0);
        const auto bytes = pread_bytes(fd, 4 * MiB, info.header_size);
        ::close(fd);
        BOOST_REQUIRE(bytes.size() == 4 * MiB);
        BOOST_TEST(pattern_difference(bytes.data(), bytes.size(), 77) == "",
                   "the region file does not hold the bytes written through data()");
    } else {
        r.detach();
    }
}

// Prefault::wait: attach returns with every page resident, contents zero, no background job.
BOOST_DATA_TEST_CASE(prefault_wait_at_attach, test::backing_data(test::BackingSet::memory_file), backing_name) {
    test::TempHome home;
    Options o = test::options(home, test::backing_named(backing_name), 16 * MiB);
    o.prefault = Prefault::wait;
    Region r = Region::attach(o);
    BOOST_TEST(!r.background_prefault().valid());
    BOOST_TEST(pages_not_resident(r.data(), r.size()) == 0u);
    BOOST_TEST(first_nonzero(static_cast<unsigned char*>(r.data()), r.size()) == r.size());
    // A joiner with Prefault::wait keeps the creator's bytes.
    fill(static_cast<unsigned char*>(r.data()), kPage, 9);
    Region j = Region::attach(o);
    BOOST_TEST(!j.created());
    BOOST_TEST(pattern_difference(static_cast<unsigned char*>(j.data()), kPage, 9) == "");
}

// Prefault::background on a 256 MiB POSIX region: attach returns at once with a job; the
// region is usable while it runs; it ends with every byte done and no error, every page
// resident, and the bytes written meanwhile kept.
BOOST_AUTO_TEST_CASE(background_prefault_at_attach) {
    test::TempHome home;
    Options o = test::options(home, Backing::posix, 256 * MiB);
    o.prefault = Prefault::background;
    Region r = Region::attach(o);
    const io::PrefaultHandle h = r.background_prefault();
    BOOST_REQUIRE(h.valid());
    const bool running_at_first = !h.done();
    auto* data = static_cast<unsigned char*>(r.data());
    const std::size_t stride = 4 * MiB + 3 * kPage + 17;
    std::size_t spots = 0;
    for (std::size_t off = 0; off + kPage <= r.size(); off += stride, ++spots) {
        fill(data + off, kPage, static_cast<unsigned>(spots));
        BOOST_TEST(pattern_difference(data + off, kPage, static_cast<unsigned>(spots)) == "");
    }
    BOOST_TEST_MESSAGE("the background prefault was " << (running_at_first ? "" : "already ")
                                                      << (running_at_first ? "running" : "done")
                                                      << " when the first writes were made");
    BOOST_CHECK_NO_THROW(h.wait());
    BOOST_TEST(h.done());
    BOOST_TEST(h.bytes_total() >= r.size());
    BOOST_TEST(h.bytes_done() == h.bytes_total());
    BOOST_TEST(!h.error(), h.error().message());
    BOOST_TEST(h.wait_for(std::chrono::milliseconds(0)));
    BOOST_TEST(pages_not_resident(data, r.size()) == 0u);
    spots = 0;
    for (std::size_t off = 0; off + kPage <= r.size(); off += stride, ++spots) {
        BOOST_TEST(pattern_difference(data + off, kPage, static_cast<unsigned>(spots)) == "", "spot " << spots);
        std::memset(data + off, 0, kPage);
    }
    BOOST_TEST(first_nonzero(data, r.size()) == r.size(), "prefault wrote into the region");
    r.detach();
    BOOST_TEST(h.done());
}

// prefault_async() then cancel(): wait(ec) says success (it finished first) or
// operation_canceled; done() afterwards; the throwing wait() agrees.
BOOST_AUTO_TEST_CASE(prefault_async_cancelled) {
    test::TempHome home;
    Options o = test::options(home, Backing::posix, 256 * MiB);
    Region r = Region::attach(o);
    const io::PrefaultHandle h = r.prefault_async();
    BOOST_REQUIRE(h.valid());
    h.cancel();
    std::error_code ec = make_error_code(std::errc::interrupted);
    h.wait(ec);
    BOOST_TEST((!ec || ec == std::errc::operation_canceled), "wait(ec): " << ec.message());
    BOOST_TEST(h.done());
    BOOST_TEST(h.error() == ec);
    BOOST_TEST(h.bytes_done() <= h.bytes_total());
    if (ec) {
        expect_error([&] { h.wait(); }, code(std::errc::operation_canceled), {"prefault"});
        BOOST_TEST_MESSAGE("cancelled after " << h.bytes_done() << " of " << h.bytes_total() << " bytes");
    } else {
        BOOST_CHECK_NO_THROW(h.wait());
        BOOST_TEST(h.bytes_done() == h.bytes_total());
        BOOST_TEST_MESSAGE("the prefault finished before cancel() came");
    }
    // The region is still fine, and a later prefault completes.
    BOOST_TEST(first_nonzero(static_cast<unsigned char*>(r.data()), r.size()) == r.size());
    const io::PrefaultHandle h2 = r.prefault_async();
    BOOST_CHECK_NO_THROW(h2.wait());
    BOOST_TEST(h2.bytes_done() == h2.bytes_total());
    BOOST_TEST(pages_not_resident(r.data(), r.size()) == 0u);
}

// detach() right after prefault_async(), without waiting: neither crashes nor hangs; the job
// is over (cancelled or finished) when detach() returns. In a child under a watchdog, for
// POSIX (256 MiB) and file (64 MiB) regions; the handle outlives the Region.
BOOST_DATA_TEST_CASE(detach_right_after_prefault_async, test::backing_data(test::BackingSet::memory_file),
                     backing_name) {
    test::TempHome home;
    const Backing backing = test::backing_named(backing_name);
    const Options o = test::options(home, backing, backing == Backing::posix ? 256 * MiB : 64 * MiB);
    const pid_t child = test::spawn(
        [&]() -> int {
            io::PrefaultHandle h;
            {
                Region r = Region::attach(o);
                h = r.prefault_async();
                CHILD_CHECK(h.valid(), 10);
                std::error_code ec;
                r.detach(ec);
                CHILD_CHECK(!ec, 11);
                CHILD_CHECK(h.done(), 12);
            }
            std::error_code ec;
            h.wait(ec);
            CHILD_CHECK(!ec || ec == std::errc::operation_canceled, 13);
            // Once more, leaving it to the destructor.
            {
                Region r = Region::attach(o);
                h = r.prefault_async();
            }
            CHILD_CHECK(h.done(), 14);
            return 0;
        },
        60);
    const int rc = test::wait_exit(child);
    BOOST_TEST(rc == 0, "child exit " << rc << (rc == -SIGALRM ? " (hung: killed by its 60 s watchdog)" : ""));
}

// ---- regressions of the I/O review fixes --------------------------------------------------

namespace iotest {

/// Whether some mapping of this process (/proc/self/maps) contains the address p: 1 yes,
/// 0 no, -1 if the file cannot be read; `say` prints the mapping found on stderr. No
/// Boost.Test macros: usable in children.
int address_mapped(const void* p, bool say = false) {
    std::FILE* maps = std::fopen("/proc/self/maps", "re");
    if (!maps) return -1;
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    char line[4096];
    int found = 0;
    while (found == 0 && std::fgets(line, sizeof line, maps)) {
        unsigned long long lo = 0, hi = 0;
        if (std::sscanf(line, "%llx-%llx", &lo, &hi) == 2 && a >= lo && a < hi) {
            if (say) std::fprintf(stderr, "pid %d: %p lies in the mapping %s", static_cast<int>(::getpid()), p, line);
            found = 1;
        }
    }
    std::fclose(maps);
    return found;
}

/// A pipe, both ends closed on destruction (close_write() earlier for one end).
class Pipe {
public:
    Pipe() noexcept { ok_ = ::pipe2(fds_, O_CLOEXEC) == 0; }
    ~Pipe() {
        if (ok_) {
            ::close(fds_[0]);
            ::close(fds_[1]);
        }
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    bool ok() const noexcept { return ok_; }
    int read_end() const noexcept { return fds_[0]; }
    /// Writes one byte: a read waiting on the pipe completes.
    bool poke() const noexcept { return ::write(fds_[1], "x", 1) == 1; }

private:
    int fds_[2] = {-1, -1};
    bool ok_ = false;
};

}  // namespace iotest

// io::extend and io::flush refuse an engine with requests of its own in flight (EBUSY),
// instead of reaping those requests as their own (the caller lost the completions) or
// waiting for them. Per engine: a read of the file submitted and not reaped (every engine
// keeps it in flight until reaped, the sync one too); extend with every method and flush in
// both forms fail with device_or_resource_busy and leave the file as it was; the read is
// then reaped with its own result, and with the engine idle extend works.
BOOST_TEST_DECORATOR(*test::group_samples(kEngines, ByEngine{}))
BOOST_DATA_TEST_CASE(extend_and_flush_refuse_a_busy_engine, kEngines, engine_name) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    test::TempHome home;
    auto engine = open_engine(kind, 8);
    TestFile f(home.path());
    constexpr std::uint64_t kSize = 64 * KiB + 100;
    std::vector<unsigned char> image(kSize);
    fill(image.data(), image.size(), 12);
    pwrite_bytes(f.fd(), image.data(), image.size(), 0);
    const auto blocks_before = stat_of(f.fd()).st_blocks;

    Buffer back(100, false);
    const io::Request rd[] = {make(Op::read, f.fd(), back.data(), back.size(), 3, 77)};
    BOOST_REQUIRE(engine->submit(rd) == 1);
    BOOST_REQUIRE(engine->in_flight() == 1u);
    const auto busy = code(std::errc::device_or_resource_busy);
    for (const char* m : {"automatic", "fallocate", "zero_writes"}) {
        BOOST_TEST_CONTEXT("extend method " << m) {
            expect_ec([&](std::error_code& ec) {
                io::extend(*engine, f.fd(), kSize, kSize + 4 * MiB, f.path(), method_named(m), ec);
            }, busy);
            expect_error([&] { io::extend(*engine, f.fd(), kSize, kSize + 4 * MiB, f.path(), method_named(m)); },
                         busy, {f.path().string(), "extend"});
            BOOST_TEST(engine->in_flight() == 1u, "extend reaped the caller's request");
            BOOST_TEST(static_cast<std::uint64_t>(stat_of(f.fd()).st_size) == kSize);
        }
    }
    for (bool data_only : {true, false}) {
        BOOST_TEST_CONTEXT("flush, data_only " << data_only) {
            expect_ec([&](std::error_code& ec) { io::flush(*engine, f.fd(), f.path(), data_only, ec); }, busy);
            expect_error([&] { io::flush(*engine, f.fd(), f.path(), data_only); }, busy,
                         {f.path().string(), "flush"});
            BOOST_TEST(engine->in_flight() == 1u, "flush reaped the caller's request");
        }
    }
    BOOST_TEST(static_cast<std::uint64_t>(stat_of(f.fd()).st_size) == kSize);
    BOOST_TEST(stat_of(f.fd()).st_blocks == blocks_before);
    BOOST_TEST((pread_bytes(f.fd(), kSize + 1, 0) == image), "the file's bytes changed");

    BOOST_REQUIRE_MESSAGE(engine->in_flight() == 1u, "the caller's read is no longer in flight");
    const auto done = reap_n(*engine, 1);
    BOOST_TEST(done[0].user_data == 77u);
    BOOST_TEST(done[0].result == 100, errno_text(done[0].result));
    BOOST_TEST(std::memcmp(back.data(), image.data() + 3, back.size()) == 0);

    // Idle again: both work.
    expect_ec([&](std::error_code& ec) {
        io::extend(*engine, f.fd(), kSize, kSize + 1 * MiB, f.path(), io::ExtendMethod::automatic, ec);
    }, {});
    BOOST_TEST(static_cast<std::uint64_t>(stat_of(f.fd()).st_size) == kSize + 1 * MiB);
    expect_ec([&](std::error_code& ec) { io::flush(*engine, f.fd(), f.path(), true, ec); }, {});
    BOOST_TEST(engine->in_flight() == 0u);
}

// The same with a request that really stays in flight: an io_uring read of an empty pipe.
// extend (every method) and flush fail at once with EBUSY (they used to wait for that read
// forever) and leave the file as it was; after a byte is written to the pipe the read
// completes and the engine drains; then extend works. In a child under a 20 s watchdog, so
// that a hang is a failure rather than a stuck run.
BOOST_AUTO_TEST_CASE(extend_and_flush_refuse_a_uring_read_stuck_on_a_pipe, *boost::unit_test::label("needs_uring")) {
    if (!usable_or_skip(EngineKind::uring)) return;
    test::TempHome home;
    TestFile f(home.path());
    constexpr std::uint64_t kSize = 3 * kPage + 5;
    std::vector<unsigned char> image(kSize);
    fill(image.data(), image.size(), 13);
    pwrite_bytes(f.fd(), image.data(), image.size(), 0);
    const int fd = f.fd();
    const fs::path& path = f.path();
    const pid_t child = test::spawn(
        [&]() -> int {
            std::error_code ec;
            auto engine = io::open(EngineKind::uring, 8, ec);
            CHILD_CHECK(!ec && engine, 10);
            Pipe pipe;
            CHILD_CHECK(pipe.ok(), 11);
            char in[16] = {};
            const io::Request rd[] = {make(Op::read, pipe.read_end(), in, sizeof in, 0, 5)};
            CHILD_CHECK(engine->submit(rd) == 1, 12);
            io::Completion c{};
            CHILD_CHECK(engine->reap(std::span<io::Completion>(&c, 1), 0) == 0, 13);  // still waiting
            CHILD_CHECK(engine->in_flight() == 1u, 14);
            for (const char* m : {"automatic", "fallocate", "zero_writes"}) {
                io::extend(*engine, fd, kSize, kSize + 2 * MiB, path, method_named(m), ec);
                if (ec != std::errc::device_or_resource_busy)
                    std::fprintf(stderr, "child: extend (%s) with a read in flight: %s\n", m,
                                 ec ? ec.message().c_str() : "succeeded");
                CHILD_CHECK(ec == std::errc::device_or_resource_busy, 15);
                CHILD_CHECK(engine->in_flight() == 1u, 16);
            }
            for (bool data_only : {true, false}) {
                io::flush(*engine, fd, path, data_only, ec);
                CHILD_CHECK(ec == std::errc::device_or_resource_busy, 17);
                CHILD_CHECK(engine->in_flight() == 1u, 18);
            }
            struct stat st {};
            CHILD_CHECK(::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == kSize, 19);
            std::vector<unsigned char> now(kSize + 1);
            CHILD_CHECK(::pread(fd, now.data(), now.size(), 0) == static_cast<ssize_t>(kSize), 20);
            CHILD_CHECK(std::memcmp(now.data(), image.data(), kSize) == 0, 21);

            CHILD_CHECK(pipe.poke(), 22);
            CHILD_CHECK(engine->reap(std::span<io::Completion>(&c, 1), 1) == 1, 23);
            CHILD_CHECK(c.user_data == 5u && c.result == 1 && in[0] == 'x', 24);
            CHILD_CHECK(engine->in_flight() == 0u && engine->drain() == 0, 25);
            io::extend(*engine, fd, kSize, kSize + 2 * MiB, path, io::ExtendMethod::automatic, ec);
            CHILD_CHECK(!ec, 26);
            CHILD_CHECK(::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == kSize + 2 * MiB, 27);
            return 0;
        },
        20);
    const int rc = test::wait_exit(child);
    BOOST_TEST(rc == 0, "child exit " << rc
                                      << (rc == -SIGALRM ? " (hung: extend or flush waited for the engine's own read)"
                                                         : " (its stderr names the failed check)"));
}

// io::extend checks that `from` is the file's real size before touching it: a `from` below
// it, above it, and 0, with every method, fail with errc::size_mismatch in both forms (the
// message names the file), and the file keeps its size, blocks and bytes. (It used to
// allocate or write zeros from the wrong offset.)
BOOST_TEST_DECORATOR(*test::group_samples(kEngines, ByEngine{}))
BOOST_DATA_TEST_CASE(extend_refuses_a_from_that_is_not_the_file_size, kEngines, engine_name) {
    const EngineKind kind = engine_named(engine_name);
    if (!usable_or_skip(kind)) return;
    test::TempHome home;
    auto engine = open_engine(kind, 8);
    TestFile f(home.path());
    constexpr std::uint64_t kReal = 2 * MiB + 100;
    std::vector<unsigned char> image(kReal);
    fill(image.data(), image.size(), 14);
    pwrite_bytes(f.fd(), image.data(), image.size(), 0);
    const auto blocks_before = stat_of(f.fd()).st_blocks;
    for (std::uint64_t from : {kReal - kPage - 1, kReal + kPage + 1, std::uint64_t{0}}) {
        for (const char* m : {"automatic", "fallocate", "zero_writes"}) {
            BOOST_TEST_CONTEXT("from " << from << " (the file has " << kReal << " bytes), method " << m) {
                const std::uint64_t to = kReal + 3 * MiB;
                expect_ec([&](std::error_code& ec) {
                    io::extend(*engine, f.fd(), from, to, f.path(), method_named(m), ec);
                }, code(errc::size_mismatch));
                expect_error([&] { io::extend(*engine, f.fd(), from, to, f.path(), method_named(m)); },
                             code(errc::size_mismatch), {f.path().string()});
                BOOST_TEST(static_cast<std::uint64_t>(stat_of(f.fd()).st_size) == kReal);
                BOOST_TEST(engine->in_flight() == 0u);
            }
        }
    }
    BOOST_TEST(stat_of(f.fd()).st_blocks == blocks_before);
    BOOST_TEST((pread_bytes(f.fd(), kReal + 1, 0) == image), "the file's bytes changed");
}

// PrefaultHandle::wait_for(milliseconds::max()) means "as long as it takes": on a running
// background prefault of a 512 MiB POSIX region it blocks until the job is over and returns
// true, done() afterwards (the deadline arithmetic overflowed and it returned false at once).
BOOST_AUTO_TEST_CASE(wait_for_max_waits_until_done) {
    test::TempHome home;
    Options o = test::options(home, Backing::posix, 512 * MiB);
    o.remove_on_last_detach = true;
    Region r = Region::attach(o);
    const io::PrefaultHandle h = r.prefault_async();
    BOOST_REQUIRE(h.valid());
    const bool running = !h.done();
    const auto start = std::chrono::steady_clock::now();
    const bool over = h.wait_for(std::chrono::milliseconds::max());
    const long long ms = elapsed_ms(start);
    BOOST_TEST_MESSAGE("wait_for(milliseconds::max()) returned " << over << " after " << ms << " ms; the job was "
                                                                 << (running ? "running" : "already done")
                                                                 << " when it was called");
    BOOST_TEST(over, "wait_for(milliseconds::max()) returned false after " << ms << " ms");
    BOOST_TEST(h.done());
    BOOST_TEST(!h.error(), h.error().message());
    BOOST_TEST(h.bytes_done() == h.bytes_total());
    BOOST_TEST(h.wait_for(std::chrono::milliseconds::max()));
    BOOST_TEST(pages_not_resident(r.data(), r.size()) == 0u);
    r.detach();
}

// fork() while a background prefault of this process runs (a 1 GiB file region): the child
// has the Region and the job's handle but not the job's thread. Its detach() must unmap its
// copy of the region (the job's hold on the mapping used to keep it mapped in the child for
// good): the former data() address is in no mapping of /proc/self/maps afterwards. One child
// detaches at once, another after join_after_fork(); both are forked right after
// prefault_async() and report whether the job was still running at their fork. The parent's
// job is not disturbed: it completes, and the parent detaches (and unmaps) normally.
BOOST_AUTO_TEST_CASE(detach_in_a_child_forked_during_a_background_prefault_unmaps) {
    test::TempHome home;
    Options o = test::options(home, Backing::file, 1024 * MiB);
    o.remove_on_last_detach = true;
    Region r = Region::attach(o);
    test::SharedMemory shared(2 * sizeof(std::uint32_t));
    auto* running_at_fork = shared.as<std::uint32_t>();  // per child: 1 if the job had not finished
    running_at_fork[0] = running_at_fork[1] = 2;
    const io::PrefaultHandle h = r.prefault_async();
    BOOST_REQUIRE(h.valid());

    const pid_t plain = test::spawn(
        [&]() -> int {
            running_at_fork[0] = h.bytes_done() < h.bytes_total() ? 1 : 0;
            CHILD_CHECK(h.done(), 10);  // not this process's job
            CHILD_CHECK(h.error() == errc::wrong_process, 11);
            void* const p = r.data();
            CHILD_CHECK(p != nullptr && address_mapped(p) == 1, 12);
            std::error_code ec;
            r.detach(ec);
            CHILD_CHECK(!ec, 13);
            CHILD_CHECK(!r.attached(), 14);
            CHILD_CHECK(address_mapped(p, true) == 0, 15);
            h.wait(ec);
            CHILD_CHECK(ec == errc::wrong_process, 16);
            return 0;
        },
        30);
    const pid_t joined = test::spawn(
        [&]() -> int {
            running_at_fork[1] = h.bytes_done() < h.bytes_total() ? 1 : 0;
            std::error_code ec;
            r.join_after_fork(ec);
            CHILD_CHECK(!ec, 20);
            CHILD_CHECK(h.done(), 21);
            void* const p = r.data();
            CHILD_CHECK(p != nullptr && address_mapped(p) == 1, 22);
            r.detach(ec);
            CHILD_CHECK(!ec, 23);
            CHILD_CHECK(!r.attached(), 24);
            CHILD_CHECK(address_mapped(p, true) == 0, 25);
            return 0;
        },
        30);
    const int rc_plain = test::wait_exit(plain);
    const int rc_joined = test::wait_exit(joined);
    BOOST_TEST(rc_plain == 0,
               "child detaching without join_after_fork(): exit " << rc_plain << " (its stderr names the failed check)");
    BOOST_TEST(rc_joined == 0,
               "child detaching after join_after_fork(): exit " << rc_joined << " (its stderr names the failed check)");
    for (int i = 0; i < 2; ++i)
        BOOST_TEST_MESSAGE("child " << i << ": the prefault job was "
                                    << (running_at_fork[i] == 1   ? "running"
                                        : running_at_fork[i] == 0 ? "already over (the case proves little)"
                                                                  : "never looked at")
                                    << " at its fork");

    void* const p = r.data();
    BOOST_CHECK_NO_THROW(h.wait());
    BOOST_TEST(h.done());
    BOOST_TEST(!h.error(), h.error().message());
    BOOST_TEST(h.bytes_done() == h.bytes_total());
    BOOST_TEST(address_mapped(p) == 1);
    BOOST_CHECK_NO_THROW(r.detach());
    BOOST_TEST(address_mapped(p, true) == 0);
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
}

// A process fork()ed while POSIX AIO requests of its parent are in flight inherits glibc's
// queues without the threads that run them, so the posix engine must refuse to open there:
// at once (not after a 1 s self-test, nor by opening an engine whose requests may never
// run), with engine_unavailable and a message that names fork(). The automatic choice still
// works there (uring or libaio where one works here, else sync), a Region forcing posix is
// refused without creating anything, and an automatic Region works. All inside a child, so
// that this test process's own POSIX AIO state stays clean: the child keeps a read of an
// empty pipe in flight while it forks the grandchild, then writes to the pipe, reaps the read
// and reaps the grandchild. Children under 10/20 s watchdogs. Last in the file: the child
// needs POSIX AIO of its own, which it cannot have if this process used POSIX AIO in the
// last second (see posix_engine_in_a_child_forked_right_after_the_parent_used_it); if it did
// anyway, the case waits for glibc's idle threads to retire and tries once more.
BOOST_AUTO_TEST_CASE(posix_engine_refused_in_a_child_forked_with_requests_in_flight,
                     *boost::unit_test::label("needs_posix_aio")) {
    if (!usable_or_skip(EngineKind::posix)) return;
    test::TempHome home;
    Options forced = test::options(home, Backing::file, 1 * MiB);
    forced.io_engine = EngineKind::posix;
    Options automatic = test::options(home, Backing::file, 1 * MiB);
    automatic.remove_on_last_detach = true;
    const bool native_works = engine_works(EngineKind::uring) || engine_works(EngineKind::libaio);
    constexpr int kCannotStart = 3;  // the child could not open a posix engine of its own

    auto run_child = [&]() -> int {
        const pid_t child = test::spawn(
            [&]() -> int {
                ::unsetenv("SHMREGION_IO_ENGINE");
                std::error_code ec;
                auto engine = io::open(EngineKind::posix, 8, ec);
                if (ec || !engine) {
                    std::fprintf(stderr, "child: io::open(posix): %s\n", ec.message().c_str());
                    return kCannotStart;
                }
                Pipe pipe;
                CHILD_CHECK(pipe.ok(), 10);
                char in[8] = {};
                const io::Request rd[] = {make(Op::read, pipe.read_end(), in, sizeof in, 0, 9)};
                CHILD_CHECK(engine->submit(rd) == 1, 11);
                io::Completion c{};
                CHILD_CHECK(engine->reap(std::span<io::Completion>(&c, 1), 0) == 0, 12);  // still waiting
                CHILD_CHECK(engine->in_flight() == 1u, 13);

                const pid_t grandchild = test::spawn(
                    [&]() -> int {
                        std::error_code gec;
                        const auto start = std::chrono::steady_clock::now();
                        auto refused = io::open(EngineKind::posix, 8, gec);
                        const long long ms = elapsed_ms(start);
                        std::fprintf(stderr, "grandchild: io::open(posix) took %lld ms: %s\n", ms,
                                     gec ? gec.message().c_str() : "opened");
                        CHILD_CHECK(gec == errc::engine_unavailable, 30);
                        CHILD_CHECK(!refused, 31);
                        CHILD_CHECK(ms < 500, 32);
                        try {
                            (void)io::open(EngineKind::posix, 8);
                            return 33;
                        } catch (const Error& e) {
                            std::fprintf(stderr, "grandchild: io::open(posix): %s\n", e.what());
                            CHILD_CHECK(e.code() == errc::engine_unavailable, 34);
                            CHILD_CHECK(contains(e.what(), "fork()"), 35);
                        }
                        const io::Choice choice = io::choose(EngineKind::automatic, gec);
                        std::fprintf(stderr, "grandchild: automatic choice: %s (%s)\n",
                                     io::to_string(choice.engine).data(), choice.reason.c_str());
                        CHILD_CHECK(!gec, 36);
                        CHILD_CHECK(choice.engine != EngineKind::posix, 37);
                        if (native_works)
                            CHILD_CHECK(
                                choice.engine == EngineKind::uring || choice.engine == EngineKind::libaio, 38);
                        auto chosen = io::open(EngineKind::automatic, 8, gec);
                        CHILD_CHECK(!gec && chosen && chosen->kind() == choice.engine, 39);

                        Region rf = Region::attach(forced, gec);
                        CHILD_CHECK(gec == errc::engine_unavailable, 40);
                        CHILD_CHECK(!rf.attached(), 41);
                        CHILD_CHECK(!fs::exists(region_file(forced.home, forced.name)), 42);
                        Region ra = Region::attach(automatic, gec);
                        CHILD_CHECK(!gec, 43);
                        CHILD_CHECK(ra.io_engine() != EngineKind::posix, 44);
                        ra.flush(gec);
                        CHILD_CHECK(!gec, 45);
                        ra.prefault(gec);
                        CHILD_CHECK(!gec, 46);
                        ra.detach(gec);
                        CHILD_CHECK(!gec, 47);
                        return 0;
                    },
                    10);
                const int grc = test::wait_exit(grandchild);

                // The child's own request completes once the pipe has a byte; drain it.
                CHILD_CHECK(pipe.poke(), 14);
                CHILD_CHECK(engine->reap(std::span<io::Completion>(&c, 1), 1) == 1, 15);
                CHILD_CHECK(c.user_data == 9u && c.result == 1 && in[0] == 'x', 16);
                CHILD_CHECK(engine->in_flight() == 0u, 17);
                CHILD_CHECK(engine->drain() == 0, 18);
                if (grc != 0) {
                    std::fprintf(stderr, "child: the grandchild exited with %d%s\n", grc,
                                 grc == -SIGALRM ? " (hung: killed by its 10 s watchdog)" : "");
                    return grc > 0 ? grc : 19;
                }
                return 0;
            },
            20);
        return test::wait_exit(child);
    };

    int rc = run_child();
    if (rc == kCannotStart) {
        // glibc's idle AIO threads of this process (from earlier cases) were counted when the
        // child was forked: its POSIX AIO cannot run at all. They retire after 1 s idle.
        BOOST_TEST_MESSAGE("the child could not use POSIX AIO (this process's idle glibc AIO threads were "
                           "inherited); retrying once they have retired");
        ::usleep(1'200'000);
        rc = run_child();
    }
    BOOST_TEST(rc == 0, "child exit " << rc << " (its stderr names the failed check; 30-47 are the grandchild's)");
    BOOST_TEST(!fs::exists(region_file(automatic.home, automatic.name)));
}
