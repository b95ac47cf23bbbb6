// Issue 9's hardening, with real processes: what a container, a re-spelled home, a flipped
// mutex byte, a racing System V detach, an attacher in another PID namespace, a memory map
// that outlives its process, a creator killed mid-creation, a join meeting a removal and
// cleaners sweeping at every step of a creation must not do to a healthy region.
#define BOOST_TEST_MODULE mp_hardening
#include "backings.hpp"
#include "mp_support.hpp"
#include "private_tmpfs.hpp"
#include "traced_child.hpp"
#include "format/names.hpp"
#include "sys/os.hpp"

#include <boost/test/unit_test.hpp>

#include <sched.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace shmregion;
using namespace shmregion::mptest;
namespace fs = std::filesystem;

namespace {

std::error_code code(errc e) { return make_error_code(e); }

/// A detached region of backing b with a pattern in it, nobody attached.
Options made(const fs::path& home, Backing b, unsigned seed = 7) {
    Options o = test::options(home, b, 64 * 1024);
    Region r = Region::attach(o);
    fill_pattern(r.data(), r.size(), seed);
    r.detach();
    o.mode = OpenMode::join_only;
    return o;
}

/// The region is still there, with its pattern.
void check_intact(const Options& o, unsigned seed = 7) {
    Options j = o;
    j.mode = OpenMode::join_only;
    Region r = Region::attach(j);
    BOOST_TEST(!r.created());
    BOOST_TEST(check_pattern(r.data(), r.size(), seed), "the region's bytes changed");
}

/// In a child that left the caller's /dev/shm or IPC namespace: a region whose segment
/// lives in the parent's namespace is foreign to every operation, none removes anything.
int check_foreign_everywhere(const fs::path& home, const Options& o) {
    const fs::path file = region_file(home, o.name);
    const std::string locator = test::read_file(file);
    std::error_code ec;
    (void)inspect(home, o.name, ec);
    CHILD_CHECK(ec == errc::segment_foreign, 20);
    CHILD_CHECK(!remove_unused(home, o.name, ec), 21);
    CHILD_CHECK(ec == errc::segment_foreign, 22);
    unlink(home, o.name, Force::yes, ec);
    CHILD_CHECK(ec == errc::segment_foreign, 23);
    unlink(home, o.name, Force::no, ec);
    CHILD_CHECK(ec == errc::segment_foreign, 24);
    Options c = o;
    c.mode = OpenMode::create_or_join;  // must not take it for an orphan and create anew
    c.join_timeout = std::chrono::milliseconds(200);
    Region r = Region::attach(c, ec);
    CHILD_CHECK(ec == errc::segment_foreign, 25);
    CHILD_CHECK(orphan_segments(home).empty(), 26);
    // And so says regiontool: list and verify name the state, clean leaves it and says why.
    const auto tool = [&](const std::string& args, std::string& out) {
        FILE* p = ::popen((std::string(REGIONTOOL) + " " + args + " 2>&1").c_str(), "r");
        if (!p) return -1;
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
        const int st = ::pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    };
    std::string list_out, verify_out, clean_out;
    CHILD_CHECK(tool("list " + home.string() + " --json", list_out) == 1, 30);  // not ok
    CHILD_CHECK(list_out.find("\"state\":\"foreign\"") != std::string::npos, 31);
    CHILD_CHECK(tool("verify " + home.string() + " --json", verify_out) == 0, 32);  // not broken
    CHILD_CHECK(verify_out.find("\"state\":\"foreign\"") != std::string::npos, 33);
    CHILD_CHECK(tool("clean " + home.string() + " --json", clean_out) == 0, 34);
    CHILD_CHECK(clean_out.find("\"action\":\"left\"") != std::string::npos, 35);
    CHILD_CHECK(clean_out.find("lives in another") != std::string::npos, 36);
    CHILD_CHECK(clean_out.find("\"action\":\"removed\"") == std::string::npos, 37);
    CHILD_CHECK(test::read_file(file) == locator, 27);
    // Only an explicit allow_foreign would remove the file (not done: the parent checks).
    return 0;
}

}  // namespace

// Item 1: a container with its own /dev/shm shares the home (bind-mounted) with the host.
BOOST_AUTO_TEST_CASE(another_dev_shm_sees_a_posix_region_as_foreign_and_removes_nothing,
                     *boost::unit_test::label("needs_tmpfs_mount")) {
    Home home;
    const Options o = made(home, Backing::posix);
    auto child = [&](const fs::path& h, char* reason) {
        struct sigaction sa {};
        sa.sa_handler = on_sigbus;
        ::sigaction(SIGBUS, &sa, nullptr);
        if (::unshare(CLONE_NEWNS) != 0) return skip(reason, std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno));
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return skip(reason, std::string("mount(/, MS_PRIVATE): ") + std::strerror(errno));
        TmpfsMount shm;
        if (const int e = shm.mount("/dev/shm", "size=16m,mode=1777"); e != 0)
            return skip(reason, std::string("mount tmpfs on /dev/shm: ") + std::strerror(e));
        return check_foreign_everywhere(h, o);
    };
    if (!run_skippable(home.path(), child, 60)) return;
    check_intact(o);
}

// Item 1, System V: unshare -i.
BOOST_AUTO_TEST_CASE(another_ipc_namespace_sees_a_sysv_region_as_foreign_and_removes_nothing,
                     *boost::unit_test::label("needs_ipc_namespace")) {
    Home home;
    const Options o = made(home, Backing::sysv);
    auto child = [&](const fs::path& h, char* reason) {
        if (::unshare(CLONE_NEWIPC) != 0) return skip(reason, std::string("unshare(CLONE_NEWIPC): ") + std::strerror(errno));
        return check_foreign_everywhere(h, o);
    };
    if (!run_skippable(home.path(), child, 60)) return;
    check_intact(o);
}

// Item 3: a home is one directory however it is spelled; a symlink repointed later names
// another home.
BOOST_AUTO_TEST_CASE(orphans_are_found_however_the_home_is_spelled) {
    Home base;
    const fs::path real = base.path() / "real";
    const fs::path other = base.path() / "other";
    const fs::path link = base.path() / "link";
    fs::create_directory(real);
    fs::create_directory(other);
    fs::create_directory_symlink(real, link);
    for (Backing b : test::backings(test::BackingSet::shm)) {
        BOOST_TEST_CONTEXT("backing " << to_string(b)) {
            Options o = test::options(link / "." / "", b);  // created through the link, re-spelled
            Region live = Region::attach(o);
            const RegionInfo info = inspect(real, o.name);
            const fs::path spellings[] = {real, real / "", link, link / "", real / ".." / "real", base.path() / "." / "link" / ""};
            // Live and located: nobody's orphan, under any spelling.
            for (const auto& h : spellings) BOOST_TEST(orphan_segments(h).empty(), h);
            // The file goes (by hand): under every spelling it is this home's orphan, with
            // its live attacher counted.
            fs::copy_file(region_file(real, o.name), base.path() / "saved");
            fs::remove(region_file(real, o.name));
            for (const auto& h : spellings) {
                const auto found = orphan_segments(h);
                BOOST_TEST_REQUIRE(found.size() == 1u, h);
                BOOST_TEST(found[0].name == o.name);
                BOOST_TEST(found[0].live_attachers == 1u);
                BOOST_TEST(!remove_orphan_segment(h, found[0]));
            }
            // The link now names another directory: the segment is not its orphan.
            fs::remove(link);
            fs::create_directory_symlink(other, link);
            BOOST_TEST(orphan_segments(link).empty());
            BOOST_TEST(orphan_segments(other).empty());
            live.detach();
            BOOST_TEST(orphan_segments(link).empty(), "a repointed link must not reach the old home's segments");
            BOOST_TEST(segment_exists(info));
            // From the real home, with nobody attached: an orphan, and clean may take it.
            const auto found = orphan_segments(real / "");
            BOOST_TEST_REQUIRE(found.size() == 1u);
            BOOST_TEST(remove_orphan_segment(real, found[0]));
            BOOST_TEST(!segment_exists(info));
            fs::remove(base.path() / "saved");
            fs::remove(link);
            fs::create_directory_symlink(real, link);
        }
    }
}

// Item 4: one byte of the mutex's kind word flipped must never disarm the lock silently.
BOOST_AUTO_TEST_CASE(a_mutex_without_its_robust_bit_is_corrupt_not_a_hang) {
    Home home;
    for (Backing b : test::backings(test::BackingSet::memory_file)) {
        BOOST_TEST_CONTEXT("backing " << to_string(b)) {
            const Options o = made(home, b);
            const RegionInfo info = inspect(home, o.name);
            const fs::path mem = b == Backing::file ? region_file(home, o.name) : fs::path("/dev/shm" + info.segment);
            const off_t at = static_cast<off_t>(offsetof(detail::RegionHeader, mutex) + offsetof(pthread_mutex_t, __data.__kind));
            detail::Fd fd(::open(mem.c_str(), O_RDWR | O_CLOEXEC));
            BOOST_REQUIRE(fd);
            unsigned char kind = 0;
            BOOST_REQUIRE(::pread(fd.get(), &kind, 1, at) == 1);
            BOOST_TEST(kind == 0x92u);  // error-checking | robust | process-shared
            const unsigned char disarmed = static_cast<unsigned char>(kind & ~0x10u);  // robust bit off
            BOOST_REQUIRE(::pwrite(fd.get(), &disarmed, 1, at) == 1);
            std::error_code ec;
            (void)inspect(home, o.name, ec);
            BOOST_TEST((ec == code(errc::header_corrupt)), ec.message());
            try {
                Region::attach(o);
                BOOST_TEST(false, "attach accepted a mutex without its robust bit");
            } catch (const Error& e) {
                BOOST_TEST((e.code() == code(errc::header_corrupt)));
                BOOST_TEST(std::string(e.what()).find("'mutex'") != std::string::npos, e.what());
                BOOST_TEST(std::string(e.what()).find(region_file(home, o.name).string()) != std::string::npos, e.what());
            }
            // Flipped while attached: the next lock refuses instead of trusting it.
            BOOST_REQUIRE(::pwrite(fd.get(), &kind, 1, at) == 1);
            Region r = Region::attach(o);
            BOOST_REQUIRE(::pwrite(fd.get(), &disarmed, 1, at) == 1);
            LockGuard g = r.lock(ec);
            BOOST_TEST(!g.owns_lock());
            BOOST_TEST((ec == code(errc::header_corrupt)), ec.message());
            BOOST_REQUIRE(::pwrite(fd.get(), &kind, 1, at) == 1);
            r.detach();
            check_intact(o);
        }
    }
}

// Item 5: joins racing the last detach of a System V region retry; none fails.
BOOST_AUTO_TEST_CASE(joins_survive_a_concurrent_last_detach) {
    for (Backing b : test::backings(test::BackingSet::shm)) {
        BOOST_TEST_CONTEXT("backing " << to_string(b)) {
            Home home;
            Children children;
            Options o = test::options(home, b, 16 * 1024);
            o.remove_on_last_detach = true;
            o.join_timeout = std::chrono::milliseconds(20000);
            constexpr int kProcs = 12, kRounds = 400;
            test::SharedBarrier start(kProcs + 1);
            std::vector<pid_t> pids;
            for (int p = 0; p < kProcs; ++p)
                pids.push_back(children.spawn([&] {
                    start.wait();
                    for (int i = 0; i < kRounds; ++i) {
                        std::error_code ec;
                        Region r = Region::attach(o, ec);
                        if (ec) {
                            std::fprintf(stderr, "child %d round %d: attach: %s (%s)\n", static_cast<int>(::getpid()), i,
                                         ec.message().c_str(), last_error_message().c_str());
                            return 10;
                        }
                        r.detach(ec);
                        if (ec) {
                            std::fprintf(stderr, "child %d round %d: detach: %s (%s)\n", static_cast<int>(::getpid()), i,
                                         ec.message().c_str(), last_error_message().c_str());
                            return 11;
                        }
                    }
                    return 0;
                }, 120));
            start.wait();
            for (pid_t p : pids) BOOST_TEST(children.wait(p) == 0);
            BOOST_TEST(!fs::exists(region_file(home, o.name)));
        }
    }
}

// Item 7: a segment without a file judges its attachers by the one rule for regions
// without a file: pid, start time and pid namespace. An attacher in another PID namespace
// (pid 1 there) cannot be checked from here and counts as alive.
BOOST_AUTO_TEST_CASE(an_orphan_segment_attached_from_another_pid_namespace_is_in_use,
                     *boost::unit_test::label("needs_pid_namespace")) {
    Home home;
    const Options o = made(home, Backing::posix);
    const RegionInfo info = inspect(home, o.name);
    test::SharedMemory shared(sizeof(pid_t) + kReasonSize);
    auto* grandchild = shared.as<pid_t>();
    *grandchild = 0;
    test::Signal attached;
    test::Signal known;  // the grandchild's pid (ours) is in shared memory
    Children children;
    const pid_t child = children.spawn([&] {
        // A container: its own PID namespace and its own /proc (so its pid 1 has its own
        // start time there, while pid 1 here is another process).
        if (::unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) return 77;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 77;
        const pid_t gc = ::fork();
        CHILD_CHECK(gc >= 0, 12);
        if (gc == 0) {  // pid 1 of the new namespace
            if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) ::_exit(14);
            std::error_code ec;
            Region r = Region::attach(o, ec);
            if (ec) ::_exit(13);
            attached.notify();
            for (;;) ::pause();
        }
        *grandchild = gc;
        known.notify();
        int st = 0;
        ::waitpid(gc, &st, 0);  // reaped here, killed by the parent
        return 0;
    });
    if (!known.wait(10000) || !attached.wait(10000)) {
        const int rc = children.wait(child);
        if (rc == 77) SHMREGION_SKIP("unshare(CLONE_NEWPID|CLONE_NEWNS) is not permitted here");
        BOOST_FAIL("the attacher in a new PID namespace did not attach: exit " << rc);
    }
    struct Reap {  // the grandchild is killed, then reaped by its parent, which exits
        pid_t gc;
        Children& children;
        pid_t child;
        ~Reap() {
            ::kill(gc, SIGKILL);
            (void)children.wait(child);
        }
    } reap{*grandchild, children, child};
    const RegionInfo now = inspect(home, o.name);
    BOOST_TEST(now.live_attachers() == 1u);
    fs::remove(region_file(home, o.name));  // by hand: the segment is an orphan now
    const auto found = orphan_segments(home);
    BOOST_TEST_REQUIRE(found.size() == 1u);
    BOOST_TEST(found[0].live_attachers == 1u, "an attacher in another PID namespace was taken for dead");
    BOOST_TEST(!remove_orphan_segment(home, found[0]));
    BOOST_TEST(segment_exists(info));
}

namespace {

/// The body of a CLONE_VM child: it shares the attacher's memory map, not its descriptors;
/// it closes its copies of them and waits to be killed. Raw system calls only.
int hold_the_memory_map(void* arg) {
    const int keep = *static_cast<int*>(arg);  // the pipe to say "closed"
    ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
    ::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
    const char c = 'c';
    ::syscall(SYS_write, keep, &c, 1);
    for (;;) ::syscall(SYS_pause);
    return 0;
}

}  // namespace

// Item 12: a file region's attacher is dead when its process is, even while something
// else keeps its memory map alive (here a CLONE_VM child; in life ps, top or an agent
// reading /proc/PID/smaps).
BOOST_AUTO_TEST_CASE(a_dead_file_attacher_is_dead_while_its_memory_map_lives_on) {
    Home home;
    Options o = made(home, Backing::file);
    Children children;
    test::SharedMemory shared(sizeof(pid_t));
    auto* keeper = shared.as<pid_t>();
    *keeper = 0;
    test::Signal ready;
    int to_parent[2];
    BOOST_REQUIRE(::pipe2(to_parent, O_CLOEXEC) == 0);
    const pid_t attacher = children.spawn([&] {
        Region r = Region::attach(o);
        static char stack[64 * 1024];
        int fd = to_parent[1];
        const pid_t k = ::clone(hold_the_memory_map, stack + sizeof stack, CLONE_VM | SIGCHLD, &fd);
        CHILD_CHECK(k >= 0, 12);
        *keeper = k;
        ready.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(ready.wait());
    char c = 0;
    BOOST_REQUIRE(::read(to_parent[0], &c, 1) == 1);  // the keeper closed its descriptors
    ::close(to_parent[0]);
    ::close(to_parent[1]);
    struct Reap {
        pid_t* k;
        ~Reap() {
            if (*k > 0) ::kill(*k, SIGKILL);
        }
    } reap{keeper};
    BOOST_TEST(inspect(home, o.name).live_attachers() == 1u);
    children.kill(attacher);
    const RegionInfo after = inspect(home, o.name);
    BOOST_TEST(after.attachers.size() == 1u);
    BOOST_TEST(after.live_attachers() == 0u, "the killed attacher still looks alive while its memory map lives");
    // The last live attacher's mark + detach removes the region, as it must.
    Region last = Region::attach(o);
    last.mark_for_removal();
    last.detach();
    BOOST_TEST(!fs::exists(region_file(home, o.name)), "the region stayed: a dead attacher was counted");
}

// Item 13: a POSIX creator killed after making its segment, before writing the header.
BOOST_AUTO_TEST_CASE(a_creator_killed_while_creating_leaves_nothing_for_long) {
    Home home;
    Options o = test::options(home, Backing::posix, 1 << 20);
    o.mode = OpenMode::create_only;
    auto die_creating = [&] {
        Children children;
        const pid_t c = children.spawn([&] {
            ::setenv("SHMREGION_CRASH_AT", "create.posix_after_birth", 1);
            Region r = Region::attach(o);
            return 1;  // not reached
        });
        BOOST_REQUIRE(children.wait(c) == -SIGKILL);
        BOOST_REQUIRE(test::posix_segments_of(o.name).size() == 1u);
    };
    // 1. The next create of the name sweeps it.
    die_creating();
    {
        const auto would = abandoned_creations(home);
        BOOST_TEST_REQUIRE(would.size() == 1u);
        BOOST_TEST((would[0].action == AbandonedCreation::Action::would_remove), would[0].pending_file.string());
        BOOST_TEST((would[0].backing == Backing::posix), would[0].pending_file.string());
        BOOST_TEST(would[0].segment.rfind("/shmregion." + o.name, 0) == 0, would[0].segment);
        BOOST_TEST(test::posix_segments_of(o.name).size() == 1u, "the dry run removed something");
        Region r = Region::attach(o);
        BOOST_TEST(r.created());
        BOOST_TEST(test::posix_segments_of(o.name).size() == 1u, "the dead creator's segment is still there");
        BOOST_TEST(abandoned_creations(home).empty());
        r.mark_for_removal();
    }
    BOOST_TEST(test::posix_segments_of(o.name).empty());
    // 2. The home emptied by hand (rm -rf of a database directory): the birth record ties
    // the segment to its home, and it goes once its creator is dead.
    die_creating();
    for (const auto& e : fs::directory_iterator(home.path())) fs::remove_all(e.path());
    const auto found = orphan_segments(home);
    BOOST_TEST_REQUIRE(found.size() == 1u);
    BOOST_TEST(found[0].name == o.name);
    BOOST_TEST(found[0].live_attachers == 0u);
    BOOST_TEST(remove_orphan_segment(home, found[0]));
    BOOST_TEST(test::posix_segments_of(o.name).empty());
}

// A live creator's pending file is never taken for an abandoned one. A cleaner takes a
// pending file whose slot 0 lock is free for a dead creator's and removes it. The hidden name
// used to be made before the lock was taken: a cleaner that came between the two calls
// removed a live creator's file, and under load, racers that sweep while they wait for a
// creator did so eight times in a row (joins_survive_a_concurrent_last_detach saw the
// creation fail with EAGAIN). Here the creator is traced and stopped at every system call's
// entry and exit (PTRACE_SYSCALL); at each stop where its pending file exists, the parent
// sweeps home as a cleaner would. The creation must succeed with its file never taken.
BOOST_TEST_DECORATOR(*boost::unit_test::label("needs_ptrace"))
BOOST_AUTO_TEST_CASE(a_creator_stopped_at_any_system_call_keeps_its_pending_file) {
    for (Backing b : test::backings(test::BackingSet::shm)) {
        BOOST_TEST_CONTEXT("backing " << to_string(b)) {
            Home home;
            Children children;
            Options o = test::options(home, b, 64 * 1024);
            o.mode = OpenMode::create_only;
            std::string why_not;
            const pid_t c = spawn_traced(children, [&](const TraceStop& stop) {
                if (!stop()) return 0;  // traced from here
                std::error_code ec;
                Region r = Region::attach(o, ec);
                if (ec) {
                    std::fprintf(stderr, "creator: %s\n", last_error_message().c_str());
                    return 10;
                }
                ::raise(SIGSTOP);  // created: the parent stops tracing
                r.mark_for_removal();
                return 0;
            }, why_not);
            if (!c) SHMREGION_SKIP(why_not);
            int st = 0;
            BOOST_REQUIRE(::ptrace(PTRACE_SETOPTIONS, c, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) == 0);
            const std::string prefix = detail::pending_prefix(o.name);
            auto pending = [&] {
                for (const auto& e : fs::directory_iterator(home.path()))
                    if (e.path().filename().string().rfind(prefix, 0) == 0) return true;
                return false;
            };
            int stops = 0, swept = 0;
            bool created = false, ended = false;
            std::vector<std::string> taken;
            while (::ptrace(PTRACE_SYSCALL, c, nullptr, nullptr) == 0) {
                if (!wait_stop(c, &st)) {
                    children.forget(c);  // reaped there
                    ended = true;
                    break;
                }
                if (WSTOPSIG(st) == SIGSTOP) {
                    created = true;
                    break;
                }
                BOOST_REQUIRE_MESSAGE(WSTOPSIG(st) == (SIGTRAP | 0x80), "the creator stopped on signal " << WSTOPSIG(st));
                ++stops;
                if (!pending()) continue;
                ++swept;
                for (const AbandonedCreation& a : remove_abandoned(home))
                    if (a.creator_pid == c) taken.push_back(a.pending_file.filename().string());
            }
            if (created) {
                BOOST_REQUIRE(::ptrace(PTRACE_DETACH, c, nullptr, nullptr) == 0);
                BOOST_TEST(children.wait(c) == 0);
            } else if (!ended) {
                BOOST_ERROR("ptrace(PTRACE_SYSCALL) of the creator failed: " << std::strerror(errno));
            } else {
                BOOST_TEST(WIFEXITED(st));
                BOOST_TEST(WEXITSTATUS(st) == 0, "the creation failed (exit " << WEXITSTATUS(st) << ")");
            }
            BOOST_TEST_MESSAGE(to_string(b) << ": " << stops << " system call stops, " << swept
                                            << " with the pending file there, each swept");
            BOOST_TEST(swept > 0);
            BOOST_TEST(taken.empty(), "a sweep took the live creator's pending file " << taken.size()
                                          << " times, first " << (taken.empty() ? "" : taken.front()));
            BOOST_TEST(created);
        }
    }
}

// Item 14: create_or_join meeting a region marked for removal waits for the removal and
// then creates the region afresh.
BOOST_AUTO_TEST_CASE(create_or_join_waits_for_a_removal_and_creates_afresh) {
    Home home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << to_string(b)) {
            Options o = test::options(home, b);
            Region last = Region::attach(o);
            fill_pattern(last.data(), last.size(), 3);
            last.mark_for_removal();
            Children children;
            test::Signal starting;
            const pid_t opener = children.spawn([&] {
                Options c = o;
                c.join_timeout = std::chrono::milliseconds(20000);
                starting.notify();
                std::error_code ec;
                Region r = Region::attach(c, ec);
                CHILD_CHECK(!ec, 10);
                CHILD_CHECK(r.created(), 11);  // a new region, not the old one
                CHILD_CHECK(!check_pattern(r.data(), r.size(), 3), 12);
                return 0;
            });
            BOOST_REQUIRE(starting.wait());
            // It must be waiting, not failing at once (marked_for_removal) as it used to.
            int st = 0;
            for (int i = 0; i < 30 && ::waitpid(opener, &st, WNOHANG) == 0; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            BOOST_TEST(::waitpid(opener, &st, WNOHANG) == 0, "create_or_join gave up on a region being removed");
            last.detach();  // the last attacher leaves: the region goes
            BOOST_TEST(children.wait(opener) == 0);
            unlink(home, o.name, Force::yes);
        }
    }
}
