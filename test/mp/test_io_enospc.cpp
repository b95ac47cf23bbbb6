// ENOSPC on a small tmpfs (16 MiB) mounted for the test. Each case runs in a fork()ed child
// that enters a private mount namespace (unshare(CLONE_NEWNS), "/" made private) and mounts
// the tmpfs there, so the mount is invisible to everyone else and goes with the child
// (it is still unmounted at the end). Without the privilege to do so (EPERM) the child
// exits kSkipped and the case says why and is skipped (group needs_tmpfs_mount). Checks, for every engine that works
// here (sync at least), each engine forced through Options::io_engine or used directly:
//  - file regions in the tmpfs: a 4 MiB region is created and written; creating a 64 MiB
//    one fails with no_space_on_device naming its file, leaves nothing in home and no
//    space taken; the first region's bytes are intact and every page of it can be read and
//    written without SIGBUS;
//  - io::extend(4 MiB -> 64 MiB) of a mapped file in the tmpfs fails with ENOSPC (every
//    ExtendMethod) and undoes itself: size 4 MiB, bytes intact (pread and mapping), every
//    page touchable, the tmpfs's free space back to what it was;
//  - POSIX regions with a 16 MiB tmpfs over /dev/shm: 64 MiB fails with no_space_on_device
//    and leaves no segment and no file in home; 4 MiB works.
// Child exit codes: 0 success, kSkipped, kSigbus (SIGBUS touching a page), 250 uncaught
// exception, others one per check (the child's stderr prints the condition and engine).
#define BOOST_TEST_MODULE mp_io_enospc
#include <boost/test/unit_test.hpp>

#include "io/engine.hpp"
#include "io/ops.hpp"
#include "private_tmpfs.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace shmregion;
using namespace shmregion::mptest;
using io::EngineKind;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t kSmall = 4 * MiB;
constexpr std::uint64_t kBig = 64 * MiB;

// ---- in the child ---------------------------------------------------------------------

// Which engine the child is at (for its stderr lines; a failed CHILD_CHECK names it through
// the ChildCheckContext set in in_small_tmpfs()).
const char* g_engine = "-";

std::vector<std::string> entries_of(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

void print_entries(const char* what, const std::vector<std::string>& names) {
    std::fprintf(stderr, "child: %s holds %zu entries:", what, names.size());
    for (const auto& n : names) std::fprintf(stderr, " %s", n.c_str());
    std::fprintf(stderr, "\n");
}

/// The engines that work here, sync always among them.
std::vector<EngineKind> working_engines() {
    std::vector<EngineKind> kinds;
    for (const auto& p : io::probe()) {
        std::fprintf(stderr, "child: probe: %s %s: %s\n", io::to_string(p.kind).data(),
                     p.works ? "works" : "does not work", p.detail.c_str());
        if (p.works || p.kind == EngineKind::sync) kinds.push_back(p.kind);
    }
    return kinds;
}

// File regions in the tmpfs. Codes 20-39.
int region_case(const fs::path& mnt, EngineKind kind) {
    std::error_code ec;
    Options small;
    small.home = mnt;
    small.name = test::unique_name("small");
    small.backing = Backing::file;
    small.size = kSmall;
    small.io_engine = kind;
    Region r = Region::attach(small, ec);
    if (ec) std::fprintf(stderr, "child: attach 4 MiB: %s\n", ec.message().c_str());
    CHILD_CHECK(!ec, 20);
    CHILD_CHECK(r.io_engine() == kind, 21);
    fill_pattern(r.data(), r.size(), 7);
    const std::uint64_t free_before = free_bytes(mnt);

    Options big = small;
    big.name = test::unique_name("big");
    big.size = kBig;
    const std::string big_file = region_file(mnt, big.name).string();
    try {
        Region b = Region::attach(big);
        std::fprintf(stderr, "child: a 64 MiB region was created in a 16 MiB tmpfs (engine %s)\n", g_engine);
        return 22;
    } catch (const Error& e) {
        std::fprintf(stderr, "child: attach 64 MiB (engine %s): %s\n", g_engine, e.what());
        CHILD_CHECK(e.code() == std::errc::no_space_on_device, 23);
        CHILD_CHECK(std::string(e.what()).find(big_file) != std::string::npos, 24);
    }
    Region b = Region::attach(big, ec);
    CHILD_CHECK(ec == std::errc::no_space_on_device, 25);
    CHILD_CHECK(!b.attached(), 26);

    const auto names = entries_of(mnt);
    const std::vector<std::string> only_small = {small.name + ".region"};
    if (names != only_small) print_entries("the tmpfs home", names);
    CHILD_CHECK(names == only_small, 27);
    const std::uint64_t free_after = free_bytes(mnt);
    if (free_after != free_before)
        std::fprintf(stderr, "child: free space %llu bytes before the failed attach, %llu after\n",
                     static_cast<unsigned long long>(free_before), static_cast<unsigned long long>(free_after));
    CHILD_CHECK(free_after == free_before, 28);

    CHILD_CHECK(check_pattern(r.data(), r.size(), 7), 29);
    touch_every_page(r.data(), r.size());
    CHILD_CHECK(check_pattern(r.data(), r.size(), 7), 30);
    r.flush(ec);
    CHILD_CHECK(!ec, 31);
    r.detach(ec);
    CHILD_CHECK(!ec, 32);
    unlink(mnt, small.name, Force::no, ec);
    CHILD_CHECK(!ec, 33);
    CHILD_CHECK(entries_of(mnt).empty(), 34);
    return 0;
}

// io::extend of a mapped file in the tmpfs. Codes 40-59.
int extend_case(const fs::path& mnt, EngineKind kind) {
    std::error_code ec;
    auto engine = io::open(kind, 64, ec);
    CHILD_CHECK(!ec && engine, 40);
    const fs::path path = mnt / test::unique_name("io");
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0, 41);
    std::shared_ptr<void> close_and_remove(nullptr, [fd, path](void*) {
        ::close(fd);
        ::unlink(path.c_str());
    });
    std::vector<unsigned char> pattern(kSmall);
    fill_pattern(pattern.data(), pattern.size(), 3);
    CHILD_CHECK(::pwrite(fd, pattern.data(), pattern.size(), 0) == static_cast<ssize_t>(pattern.size()), 42);
    void* map = ::mmap(nullptr, kSmall, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHILD_CHECK(map != MAP_FAILED, 43);
    std::shared_ptr<void> unmap(map, [](void* p) { ::munmap(p, kSmall); });

    const struct {
        io::ExtendMethod method;
        const char* name;
    } methods[] = {{io::ExtendMethod::automatic, "automatic"},
                   {io::ExtendMethod::zero_writes, "zero_writes"},
                   {io::ExtendMethod::fallocate, "fallocate"}};
    for (const auto& m : methods) {
        const std::uint64_t free_before = free_bytes(mnt);
        io::extend(*engine, fd, kSmall, kBig, path, m.method, ec);
        std::fprintf(stderr, "child: extend 4 MiB -> 64 MiB (engine %s, method %s): %s\n", g_engine, m.name,
                     ec.message().c_str());
        CHILD_CHECK(ec == std::errc::no_space_on_device, 44);
        struct stat st {};
        CHILD_CHECK(::fstat(fd, &st) == 0, 45);
        if (static_cast<std::uint64_t>(st.st_size) != kSmall)
            std::fprintf(stderr, "child: size after the failed extension: %lld\n", static_cast<long long>(st.st_size));
        CHILD_CHECK(static_cast<std::uint64_t>(st.st_size) == kSmall, 46);
        std::vector<unsigned char> back(kSmall + 1);
        CHILD_CHECK(::pread(fd, back.data(), back.size(), 0) == static_cast<ssize_t>(kSmall), 47);
        CHILD_CHECK(check_pattern(back.data(), kSmall, 3), 48);
        CHILD_CHECK(check_pattern(map, kSmall, 3), 49);
        touch_every_page(map, kSmall);
        CHILD_CHECK(check_pattern(map, kSmall, 3), 50);
        const std::uint64_t free_after = free_bytes(mnt);
        if (free_after != free_before)
            std::fprintf(stderr, "child: free space %llu bytes before the failed extension (%s), %llu after\n",
                         static_cast<unsigned long long>(free_before), m.name,
                         static_cast<unsigned long long>(free_after));
        CHILD_CHECK(free_after == free_before, 51);
        CHILD_CHECK(engine->in_flight() == 0u, 52);
    }
    try {
        io::extend(*engine, fd, kSmall, kBig, path);
        std::fprintf(stderr, "child: extend to 64 MiB in a 16 MiB tmpfs did not throw (engine %s)\n", g_engine);
        return 53;
    } catch (const Error& e) {
        CHILD_CHECK(e.code() == std::errc::no_space_on_device, 54);
        CHILD_CHECK(std::string(e.what()).find(path.string()) != std::string::npos, 55);
        CHILD_CHECK(std::string(e.what()).find("extend") != std::string::npos, 56);
    }
    // The space that is there can still be had.
    io::extend(*engine, fd, kSmall, kSmall + 2 * MiB, path, io::ExtendMethod::automatic, ec);
    CHILD_CHECK(!ec, 57);
    return 0;
}

// POSIX regions with /dev/shm a 16 MiB tmpfs. Codes 60-79 (not 77).
int posix_case(const fs::path& home, EngineKind kind) {
    std::error_code ec;
    Options big;
    big.home = home;
    big.name = test::unique_name("pbig");
    big.backing = Backing::posix;
    big.size = kBig;
    big.io_engine = kind;
    try {
        Region b = Region::attach(big);
        std::fprintf(stderr, "child: a 64 MiB POSIX region was created in a 16 MiB /dev/shm (engine %s)\n", g_engine);
        return 60;
    } catch (const Error& e) {
        std::fprintf(stderr, "child: attach 64 MiB POSIX (engine %s): %s\n", g_engine, e.what());
        CHILD_CHECK(e.code() == std::errc::no_space_on_device, 61);
    }
    Region b = Region::attach(big, ec);
    CHILD_CHECK(ec == std::errc::no_space_on_device, 62);
    CHILD_CHECK(!b.attached(), 63);
    if (!entries_of("/dev/shm").empty()) print_entries("/dev/shm", entries_of("/dev/shm"));
    CHILD_CHECK(entries_of("/dev/shm").empty(), 64);
    if (!entries_of(home).empty()) print_entries("home", entries_of(home));
    CHILD_CHECK(entries_of(home).empty(), 65);

    Options small = big;
    small.name = test::unique_name("psmall");
    small.size = kSmall;
    Region r = Region::attach(small, ec);
    if (ec) std::fprintf(stderr, "child: attach 4 MiB POSIX: %s\n", ec.message().c_str());
    CHILD_CHECK(!ec, 66);
    CHILD_CHECK(r.io_engine() == kind, 67);
    fill_pattern(r.data(), r.size(), 5);
    touch_every_page(r.data(), r.size());
    CHILD_CHECK(check_pattern(r.data(), r.size(), 5), 68);
    r.detach(ec);
    CHILD_CHECK(!ec, 69);
    unlink(home, small.name, Force::no, ec);
    CHILD_CHECK(!ec, 70);
    CHILD_CHECK(entries_of("/dev/shm").empty(), 71);
    CHILD_CHECK(entries_of(home).empty(), 72);
    return 0;
}

/// Runs `body(mount point, engine)` for every working engine inside the namespace.
template <class Body>
int in_small_tmpfs(const fs::path& home, char* reason, Body&& body) {
    TmpfsMount m;
    fs::path mnt;
    if (const int rc = enter_private_tmpfs(home, m, mnt, reason); rc != 0) return rc;
    for (EngineKind kind : working_engines()) {
        g_engine = io::to_string(kind).data();
        const test::ChildCheckContext context(std::string("with engine ") + g_engine);
        if (const int rc = body(mnt, kind); rc != 0) return rc;
    }
    g_engine = "-";
    const int e = m.unmount();
    if (e != 0) std::fprintf(stderr, "child: umount %s: %s\n", mnt.c_str(), std::strerror(e));
    CHILD_CHECK(e == 0, 9);
    ::rmdir(mnt.c_str());
    return 0;
}

// ---- in the parent --------------------------------------------------------------------

/// Runs child_fn(home, reason) in a child (see run_skippable); then checks that nothing of
/// its tmpfs is visible here.
template <class Fn>
void run_case(Fn&& child_fn) {
    Home home;
    if (!run_skippable(home.path(), child_fn, 100)) return;
    // Nothing of the tmpfs is visible here: the mount lived in the child's namespace.
    for (const auto& e : fs::directory_iterator(home.path())) {
        if (e.path().filename().string().rfind("tmpfs-", 0) != 0) continue;
        BOOST_TEST(fs::is_empty(e.path()), e.path() << " is not empty outside the child's namespace");
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(file_region_creation_hits_enospc, *boost::unit_test::label("needs_tmpfs_mount")) {
    run_case([](const fs::path& home, char* why) {
        return in_small_tmpfs(home, why, [](const fs::path& mnt, EngineKind k) { return region_case(mnt, k); });
    });
}

BOOST_AUTO_TEST_CASE(extend_hits_enospc_and_undoes_itself, *boost::unit_test::label("needs_tmpfs_mount")) {
    run_case([](const fs::path& home, char* why) {
        return in_small_tmpfs(home, why, [](const fs::path& mnt, EngineKind k) { return extend_case(mnt, k); });
    });
}

BOOST_AUTO_TEST_CASE(posix_region_creation_hits_enospc_in_dev_shm, *boost::unit_test::label("needs_tmpfs_mount")) {
    run_case([](const fs::path& home, char* why) {
        TmpfsMount shm;
        bool mounted = false;
        fs::path posix_home;
        return in_small_tmpfs(home, why, [&](const fs::path& mnt, EngineKind k) -> int {
            if (!mounted) {
                // Same private namespace: a 16 MiB tmpfs over /dev/shm, seen by this child only.
                const int e = shm.mount("/dev/shm", "size=16m,mode=1777");
                if (e != 0) std::fprintf(stderr, "child: mount tmpfs on /dev/shm: %s\n", std::strerror(e));
                CHILD_CHECK(e == 0, 73);
                mounted = true;
                posix_home = mnt / "home";
                CHILD_CHECK(::mkdir(posix_home.c_str(), 0700) == 0, 74);
            }
            return posix_case(posix_home, k);
        });
    });
}
