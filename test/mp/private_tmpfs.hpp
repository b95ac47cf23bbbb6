// A private mount namespace with a small tmpfs, for tests of a full disk or /dev/shm:
// used in a fork()ed child (test::spawn), whose mounts vanish with it. Where mounting is
// not permitted the child says why and exits kSkipped, and the case is skipped with the
// reason (skip.hpp: such cases are in capability group needs_tmpfs_mount).
#pragma once

#include "mp_support.hpp"

#include <boost/test/unit_test.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace shmregion::mptest {

inline constexpr int kSkipped = 77;
inline constexpr int kSigbus = 90;
inline constexpr std::size_t kReasonSize = 512;

inline void on_sigbus(int) {
    static const char msg[] = "child: SIGBUS touching a page of a mapping\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(kSigbus);
}

/// Reads and writes back one byte of every page (a SIGBUS ends the child with kSigbus).
inline void touch_every_page(void* p, std::size_t n) {
    auto* b = static_cast<volatile unsigned char*>(p);
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t off = 0; off < n; off += page) {
        const unsigned char v = b[off];
        b[off] = static_cast<unsigned char>(v ^ 0xffu);
        b[off] = v;
    }
}

/// Free bytes of the file system at p.
inline std::uint64_t free_bytes(const fs::path& p) {
    struct statvfs s {};
    if (::statvfs(p.c_str(), &s) != 0) return 0;
    return static_cast<std::uint64_t>(s.f_bfree) * s.f_frsize;
}

/// A tmpfs mounted by the child; lazily unmounted on destruction.
class TmpfsMount {
public:
    TmpfsMount() = default;
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;
    ~TmpfsMount() {
        if (!at_.empty()) ::umount2(at_.c_str(), MNT_DETACH);
    }
    /// 0, or the errno of mount(2).
    int mount(const fs::path& at, const char* options) {
        if (::mount("tmpfs", at.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) return errno;
        at_ = at;
        return 0;
    }
    /// 0, or the errno of umount(2).
    int unmount() {
        if (at_.empty()) return 0;
        const int rc = ::umount2(at_.c_str(), 0) == 0 ? 0 : errno;
        if (rc == 0) at_.clear();
        return rc;
    }

private:
    fs::path at_;
};

/// In the child: says why the case is skipped, for the parent (reason holds kReasonSize).
inline int skip(char* reason, const std::string& why) {
    std::snprintf(reason, kReasonSize, "%s", why.c_str());
    std::fprintf(stderr, "child: skipped: %s\n", why.c_str());
    return kSkipped;
}

/// In the child: SIGBUS ends it with kSigbus; enters a private mount namespace ("/" made
/// private) and mounts a 16 MiB tmpfs on a new directory under home (`at`). Returns 0,
/// kSkipped (not privileged) or a failure code (5..8).
inline int enter_private_tmpfs(const fs::path& home, TmpfsMount& m, fs::path& at, char* reason) {
    struct sigaction sa {};
    sa.sa_handler = on_sigbus;
    ::sigaction(SIGBUS, &sa, nullptr);
    if (::unshare(CLONE_NEWNS) != 0) {
        const int e = errno;
        if (e == EPERM) return skip(reason, std::string("unshare(CLONE_NEWNS): ") + std::strerror(e) +
                                                " (needs CAP_SYS_ADMIN)");
        std::fprintf(stderr, "child: unshare(CLONE_NEWNS): %s\n", std::strerror(e));
        return 5;
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        const int e = errno;
        if (e == EPERM) return skip(reason, std::string("mount(/, MS_REC|MS_PRIVATE): ") + std::strerror(e));
        std::fprintf(stderr, "child: making / private: %s\n", std::strerror(e));
        return 6;
    }
    std::string tmpl = (home / "tmpfs-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::fprintf(stderr, "child: mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
        return 7;
    }
    at = tmpl;
    if (const int e = m.mount(at, "size=16m,mode=0700"); e != 0) {
        if (e == EPERM) return skip(reason, "mount tmpfs on " + at.string() + ": " + std::strerror(e));
        std::fprintf(stderr, "child: mount tmpfs on %s: %s\n", at.c_str(), std::strerror(e));
        return 8;
    }
    return 0;
}

/// In the parent: runs child_fn(home, reason) in a child under a watchdog. If the child
/// skipped, skips the case (test::skip_test) and returns false; otherwise checks that it
/// exited 0 and returns true.
template <class Fn>
bool run_skippable(const fs::path& home, Fn&& child_fn, unsigned watchdog_s) {
    Children children;
    test::SharedMemory reason(kReasonSize);
    char* why = reason.as<char>();
    const pid_t child = children.spawn([&] { return child_fn(home, why); }, watchdog_s);
    const int rc = children.wait(child);
    if (rc == kSkipped) {
        test::skip_test(why);
        return false;
    }
    BOOST_TEST(rc == 0, "child exit " << rc
                                      << (rc == kSigbus ? " (SIGBUS touching a page)"
                                          : rc == 250   ? " (uncaught exception, see its stderr)"
                                          : rc < 0      ? " (killed by a signal)"
                                                        : " (its stderr names the failed check)"));
    return true;
}

}  // namespace shmregion::mptest
