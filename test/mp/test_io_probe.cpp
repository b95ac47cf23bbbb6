// The engine probe falls back when an engine is forbidden. Each case runs in a fork()ed
// child that installs a seccomp filter (native architecture only) making one or two system
// calls fail with a chosen errno, everything else allowed:
//  - io_uring_setup -> EPERM (what container runtimes' default profiles do), and -> ENOSYS
//    (a kernel built without io_uring): probe() says uring does not work and why; the
//    automatic choice is the next engine that works here and its reason says why uring was
//    rejected; Region::attach with io_engine automatic uses that engine; forcing
//    io_engine = uring fails with engine_unavailable (and creates nothing); io::open(uring)
//    too;
//  - io_setup -> EAGAIN (fs.aio-max-nr exhausted) as well: the choice is posix;
//  - io_uring_setup -> EPERM, with io_uring found working (and a region attached) before
//    the filter came, and without: an automatic prefault falls back to worker threads
//    (Region::prefault, prefault_async().wait(), io::prefault), a region created after the
//    filter works, and a prefault naming madvise_uring fails with engine_unavailable in the
//    foreground and in the background (not EPERM or EIO).
// The child reports through its exit code (one per failed check, printed on its stderr with
// the condition) and prints what it saw on stderr. Where io_uring does not work here at all
// the uring cases say so and return (nothing to fall back from).
#define BOOST_TEST_MODULE mp_io_probe
#include <boost/test/unit_test.hpp>

#include "io/engine.hpp"
#include "io/ops.hpp"
#include "mp_support.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

using namespace shmregion;
using namespace shmregion::mptest;
using io::EngineKind;

namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t kAuditArch = 0;  // no filter for this architecture: the cases skip
#endif

constexpr EngineKind kOrder[] = {EngineKind::uring, EngineKind::libaio, EngineKind::posix, EngineKind::sync};
constexpr std::size_t index_of(EngineKind k) { return static_cast<std::size_t>(k) - 1; }

/// What probe() says on this machine without a filter.
struct Reference {
    bool done = false;
    bool built[4] = {};
    bool works[4] = {};
    char detail[4][256] = {};
};

/// Takes the reference probe in a child, so that this process never runs POSIX AIO: a
/// child forked within about a second of that inherits glibc's idle AIO bookkeeping without
/// its threads (unit_io_engines checks that case on its own); these children must test
/// only their filter.
Reference reference_probe(Children& children) {
    test::SharedMemory shared(sizeof(Reference));
    auto* ref = shared.as<Reference>();
    new (ref) Reference();
    const pid_t child = children.spawn([&]() -> int {
        ::unsetenv("SHMREGION_IO_ENGINE");
        for (const auto& p : io::probe()) {
            const std::size_t i = index_of(p.kind);
            CHILD_CHECK(i < 4, 10);
            ref->built[i] = p.built;
            ref->works[i] = p.works;
            std::snprintf(ref->detail[i], sizeof ref->detail[i], "%s", p.detail.c_str());
        }
        ref->done = true;
        return 0;
    });
    BOOST_REQUIRE_EQUAL(children.wait(child), 0);
    BOOST_REQUIRE(ref->done);
    for (EngineKind k : kOrder) {
        const std::size_t i = index_of(k);
        BOOST_TEST_MESSAGE("probe here: " << io::to_string(k) << (ref->built[i] ? " built" : " not built")
                                          << (ref->works[i] ? ", works: " : ", does not work: ") << ref->detail[i]);
    }
    return *ref;
}

/// The first engine after `after` (in preference order) that works here.
EngineKind next_working(const Reference& ref, EngineKind after) {
    bool past = false;
    for (EngineKind k : kOrder) {
        if (past && ref.works[index_of(k)]) return k;
        if (k == after) past = true;
    }
    return EngineKind::sync;
}

struct Blocked {
    long nr;  ///< system call number (native architecture)
    int err;  ///< errno it returns
};

/// Installs a seccomp filter: the native architecture's calls in `blocked` fail with their
/// errno, everything else is allowed. Returns 0 or the errno of prctl/seccomp.
int install_filter(const std::vector<Blocked>& blocked) {
    std::vector<sock_filter> prog;
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));  // another ABI: not ours to judge
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    for (const auto& b : blocked) {
        prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(b.nr), 0, 1));
        prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(b.err) & SECCOMP_RET_DATA)));
    }
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(prog.size());
    fprog.filter = prog.data();
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) return errno;
    return 0;
}

struct Rejection {
    EngineKind kind;
    std::string why;  ///< what its probe detail and the choice's reason must mention
};

/// In the child: with `blocked` forbidden, every engine in `rejected` is refused for the
/// stated reason and the automatic choice (probe, choose, open, Region) is `next`.
/// Exit codes: 10 filter not installed, 11 a blocked call still works, 12-14 probe, 15-18
/// choose, 19-22 automatic attach, 23-30 forcing a rejected engine.
int filtered_child(const fs::path& home, const std::vector<Blocked>& blocked, EngineKind next,
                   const std::vector<Rejection>& rejected) {
    ::unsetenv("SHMREGION_IO_ENGINE");
    const int rc = install_filter(blocked);
    if (rc != 0) std::fprintf(stderr, "child: installing the seccomp filter: %s\n", std::strerror(rc));
    CHILD_CHECK(rc == 0, 10);
    for (const auto& b : blocked) {
        errno = 0;
        const long r = ::syscall(b.nr, 0, nullptr, nullptr);
        CHILD_CHECK(r == -1 && errno == b.err, 11);
    }

    const std::vector<io::ProbeResult> probe = io::probe();
    for (const auto& p : probe)
        std::fprintf(stderr, "child: probe with the filter: %s %s: %s\n", io::to_string(p.kind).data(),
                     p.works ? "works" : "does not work", p.detail.c_str());
    CHILD_CHECK(probe.size() == 4u, 12);
    for (const auto& r : rejected) {
        const io::ProbeResult& p = probe[index_of(r.kind)];
        CHILD_CHECK(p.kind == r.kind, 12);
        CHILD_CHECK(!p.works, 13);
        CHILD_CHECK(p.detail.find(r.why) != std::string::npos, 14);
    }

    std::error_code ec;
    const io::Choice choice = io::choose(EngineKind::automatic, ec);
    std::fprintf(stderr, "child: automatic choice with the filter: %s (%s)\n", io::to_string(choice.engine).data(),
                 choice.reason.c_str());
    CHILD_CHECK(!ec, 15);
    CHILD_CHECK(choice.engine == next, 16);
    for (const auto& r : rejected) {
        CHILD_CHECK(choice.reason.find(std::string(io::to_string(r.kind))) != std::string::npos, 17);
        CHILD_CHECK(choice.reason.find(r.why) != std::string::npos, 18);
    }

    Options o = test::options(home, Backing::file, 1 << 20);
    o.remove_on_last_detach = true;
    Region region = Region::attach(o, ec);
    if (ec) std::fprintf(stderr, "child: automatic attach: %s\n", ec.message().c_str());
    CHILD_CHECK(!ec, 19);
    CHILD_CHECK(region.io_engine() == next, 20);
    region.flush(ec);
    CHILD_CHECK(!ec, 21);
    region.detach(ec);
    CHILD_CHECK(!ec, 22);

    for (const auto& r : rejected) {
        Options forced = test::options(home, Backing::file, 1 << 20);
        forced.io_engine = r.kind;
        Region f = Region::attach(forced, ec);
        CHILD_CHECK(ec == errc::engine_unavailable, 23);
        CHILD_CHECK(!f.attached(), 24);
        try {
            Region again = Region::attach(forced);
            std::fprintf(stderr, "child: attach forcing %s did not throw\n", io::to_string(r.kind).data());
            return 25;
        } catch (const Error& e) {
            std::fprintf(stderr, "child: attach forcing %s: %s\n", io::to_string(r.kind).data(), e.what());
            CHILD_CHECK(e.code() == errc::engine_unavailable, 26);
            CHILD_CHECK(std::string(e.what()).find(r.why) != std::string::npos, 27);
        }
        CHILD_CHECK(!fs::exists(region_file(home, forced.name)), 28);
        auto engine = io::open(r.kind, 8, ec);
        CHILD_CHECK(ec == errc::engine_unavailable, 29);
        CHILD_CHECK(!engine, 30);
    }
    CHILD_CHECK(fs::is_empty(home), 31);
    return 0;
}

void run_filtered(const std::vector<Blocked>& blocked, EngineKind next, const std::vector<Rejection>& rejected,
                  Children& children) {
    Home home;
    const pid_t child = children.spawn([&] { return filtered_child(home, blocked, next, rejected); });
    const int rc = children.wait(child);
    BOOST_TEST(rc == 0, "child exit " << rc << " (its stderr names the failed check); expected the automatic "
                                      << "choice " << io::to_string(next));
}

/// True (and the case is skipped, saying why) if it cannot run here. Cases that call it are
/// in capability group needs_uring.
bool skip_unless_uring_works(const Reference& ref) {
    if (kAuditArch == 0) {
        test::skip_test("no seccomp architecture constant for this build's architecture");
        return true;
    }
    if (!ref.works[index_of(EngineKind::uring)]) {
        test::skip_test(std::string("io_uring does not work here at all (") + ref.detail[index_of(EngineKind::uring)] +
                        "), so there is nothing to fall back from");
        return true;
    }
    return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(uring_forbidden_by_seccomp_eperm, *boost::unit_test::label("needs_uring")) {
    Children children;
    const Reference ref = reference_probe(children);
    if (skip_unless_uring_works(ref)) return;
    run_filtered({{__NR_io_uring_setup, EPERM}}, next_working(ref, EngineKind::uring),
                 {{EngineKind::uring, std::strerror(EPERM)}}, children);
}

BOOST_AUTO_TEST_CASE(uring_missing_enosys, *boost::unit_test::label("needs_uring")) {
    Children children;
    const Reference ref = reference_probe(children);
    if (skip_unless_uring_works(ref)) return;
    run_filtered({{__NR_io_uring_setup, ENOSYS}}, next_working(ref, EngineKind::uring),
                 {{EngineKind::uring, std::strerror(ENOSYS)}}, children);
}

// io_uring forbidden and io_setup failing with EAGAIN (fs.aio-max-nr exhausted): posix.
BOOST_AUTO_TEST_CASE(uring_forbidden_and_aio_exhausted_choose_posix, *boost::unit_test::label("needs_seccomp_arch")) {
    Children children;
    const Reference ref = reference_probe(children);
    if (kAuditArch == 0) SHMREGION_SKIP("no seccomp architecture constant for this build's architecture");
    std::vector<Rejection> rejected;
    if (ref.works[index_of(EngineKind::uring)]) rejected.push_back({EngineKind::uring, std::strerror(EPERM)});
    if (ref.works[index_of(EngineKind::libaio)]) rejected.push_back({EngineKind::libaio, std::strerror(EAGAIN)});
    if (rejected.empty()) {
        BOOST_TEST_MESSAGE("neither io_uring nor libaio works here; checking only that the choice is "
                           << io::to_string(next_working(ref, EngineKind::libaio)));
    }
    run_filtered({{__NR_io_uring_setup, EPERM}, {__NR_io_setup, EAGAIN}}, next_working(ref, EngineKind::libaio),
                 rejected, children);
}

// ---- prefault where io_uring cannot run -----------------------------------------------------

namespace {

/// In the child: io_uring_setup fails with EPERM. `probe_first`: io_uring was found working
/// (and cached) and the region attached before the filter came, as where a ring stops
/// opening later (a filter, or RLIMIT_MEMLOCK); a region created after the filter still
/// works (its engine falls back to sync). Otherwise the filter comes first and nothing is
/// cached. Prefault with the automatic method falls back to worker threads:
/// Region::prefault() in both forms, Region::prefault_async().wait() and io::prefault with
/// default options succeed. A prefault naming PrefaultMethod::madvise_uring fails with
/// engine_unavailable: in the foreground (both forms) and in the background (refused at
/// once, or the job ends with that code; not the EPERM of io_uring_setup, nor EIO).
/// Exit codes 40-69.
int prefault_child(const fs::path& home, bool probe_first) {
    ::unsetenv("SHMREGION_IO_ENGINE");
    std::error_code ec;
    Options o = test::options(home, Backing::file, 8 << 20);
    o.remove_on_last_detach = true;
    Region region;
    if (probe_first) {
        const io::Choice c = io::choose(EngineKind::uring, ec);
        CHILD_CHECK(!ec && c.engine == EngineKind::uring, 40);
        region = Region::attach(o, ec);  // the automatic choice: uring, which still works
        CHILD_CHECK(!ec && region.io_engine() == EngineKind::uring, 69);
    }
    const int rc = install_filter({{__NR_io_uring_setup, EPERM}});
    if (rc != 0) std::fprintf(stderr, "child: installing the seccomp filter: %s\n", std::strerror(rc));
    CHILD_CHECK(rc == 0, 41);
    errno = 0;
    CHILD_CHECK(::syscall(__NR_io_uring_setup, 0, nullptr) == -1 && errno == EPERM, 42);

    if (probe_first) {
        // A region created now still works: its engine falls back to sync.
        Options other = test::options(home, Backing::file, 1 << 20);
        other.remove_on_last_detach = true;
        Region r2 = Region::attach(other, ec);
        if (ec) std::fprintf(stderr, "child: automatic attach after the filter: %s\n", ec.message().c_str());
        CHILD_CHECK(!ec, 66);
        r2.flush(ec);
        CHILD_CHECK(!ec, 67);
        r2.detach(ec);
        CHILD_CHECK(!ec, 68);
    } else {
        region = Region::attach(o, ec);
        if (ec) std::fprintf(stderr, "child: automatic attach: %s\n", ec.message().c_str());
        CHILD_CHECK(!ec, 43);
    }
    region.prefault(ec);
    if (ec) std::fprintf(stderr, "child: Region::prefault(ec): %s\n", ec.message().c_str());
    CHILD_CHECK(!ec, 44);
    try {
        region.prefault();
    } catch (const Error& e) {
        std::fprintf(stderr, "child: Region::prefault(): %s\n", e.what());
        return 45;
    }
    io::PrefaultHandle h = region.prefault_async(ec);
    CHILD_CHECK(!ec && h.valid(), 46);
    h.wait(ec);
    if (ec) std::fprintf(stderr, "child: Region::prefault_async().wait(ec): %s\n", ec.message().c_str());
    CHILD_CHECK(!ec, 47);
    CHILD_CHECK(h.done() && !h.error(), 48);
    CHILD_CHECK(h.bytes_done() == h.bytes_total() && h.bytes_total() >= region.size(), 49);
    try {
        region.prefault_async().wait();
    } catch (const Error& e) {
        std::fprintf(stderr, "child: Region::prefault_async().wait(): %s\n", e.what());
        return 50;
    }

    // The free functions, on memory of their own.
    constexpr std::size_t kBytes = 4u << 20;
    void* mem = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHILD_CHECK(mem != MAP_FAILED, 51);
    io::prefault(mem, kBytes, io::PrefaultOptions{}, ec);
    if (ec) std::fprintf(stderr, "child: io::prefault (automatic): %s\n", ec.message().c_str());
    CHILD_CHECK(!ec, 52);
    io::PrefaultOptions uring;
    uring.method = io::PrefaultMethod::madvise_uring;
    io::prefault(mem, kBytes, uring, ec);
    std::fprintf(stderr, "child: io::prefault (madvise_uring): %s\n", ec ? ec.message().c_str() : "succeeded");
    CHILD_CHECK(ec == errc::engine_unavailable, 53);
    try {
        io::prefault(mem, kBytes, uring);
        return 54;
    } catch (const Error& e) {
        std::fprintf(stderr, "child: io::prefault (madvise_uring): %s\n", e.what());
        CHILD_CHECK(e.code() == errc::engine_unavailable, 55);
    }
    try {
        const io::PrefaultHandle job = io::prefault_async(mem, kBytes, uring);
        CHILD_CHECK(job.valid(), 56);
        job.wait(ec);
        std::fprintf(stderr, "child: io::prefault_async (madvise_uring).wait(ec): %s\n",
                     ec ? ec.message().c_str() : "succeeded");
        CHILD_CHECK(ec == errc::engine_unavailable, 57);
        CHILD_CHECK(job.done(), 58);
        CHILD_CHECK(job.error() == errc::engine_unavailable, 59);
        try {
            job.wait();
            return 60;
        } catch (const Error& e) {
            std::fprintf(stderr, "child: io::prefault_async (madvise_uring).wait(): %s\n", e.what());
            CHILD_CHECK(e.code() == errc::engine_unavailable, 61);
        }
    } catch (const Error& e) {  // refused before a job started
        std::fprintf(stderr, "child: io::prefault_async (madvise_uring): %s\n", e.what());
        CHILD_CHECK(e.code() == errc::engine_unavailable, 62);
    }
    CHILD_CHECK(::munmap(mem, kBytes) == 0, 63);

    region.detach(ec);
    CHILD_CHECK(!ec, 64);
    CHILD_CHECK(fs::is_empty(home), 65);
    return 0;
}

void run_prefault_child(bool probe_first) {
    Children children;
    const Reference ref = reference_probe(children);
    if (skip_unless_uring_works(ref)) return;
    Home home;
    const pid_t child = children.spawn([&] { return prefault_child(home, probe_first); });
    const int rc = children.wait(child);
    BOOST_TEST(rc == 0, "child exit " << rc << " (its stderr names the failed check)");
}

}  // namespace

// io_uring was found working, then io_uring_setup fails with EPERM.
BOOST_AUTO_TEST_CASE(prefault_falls_back_when_a_ring_no_longer_opens, *boost::unit_test::label("needs_uring")) {
    run_prefault_child(true);
}

// io_uring_setup fails with EPERM from the start.
BOOST_AUTO_TEST_CASE(prefault_without_io_uring_eperm, *boost::unit_test::label("needs_uring")) {
    run_prefault_child(false);
}
