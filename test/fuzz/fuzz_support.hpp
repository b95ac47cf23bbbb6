// Shared by the libFuzzer targets of test/fuzz (see README.md there).
//
// - isolate(): once per fuzz process, private IPC and mount namespaces with a fresh tmpfs on
//   /dev/shm, so that a fuzzed locator naming any System V id or POSIX segment can only
//   reach what this process made, and nothing it made outlives it (a crash included). Where
//   that is not permitted (not root, no CAP_SYS_ADMIN) the process runs in the host's
//   namespaces and says so once on stderr: it still creates only names of its own, and the
//   library only reads what a fuzzed locator names (inspect opens read-only).
// - FuzzHome: the per-process temporary home, removed at exit (atexit: libFuzzer ends a
//   bounded run with exit()). Inside the private /dev/shm when isolated, so even a crash
//   leaves nothing; otherwise ${TMPDIR:-/tmp}/shmregion-fuzz-<pid>-XXXXXX.
// - write_file(), require(): small helpers. require() aborts with a message: a broken
//   property is a finding exactly like a crash (libFuzzer saves the input).
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace shmregion::fuzz {

/// The region name every target and the corpus generator use: a posix locator's segment
/// name must carry its region's name, so seeds only stay valid under the same one.
inline constexpr const char* kRegionName = "fuzz";

[[noreturn]] inline void die(const std::string& why) {
    std::fprintf(stderr, "shmregion fuzz: %s\n", why.c_str());
    std::fflush(stderr);
    std::abort();
}

/// A property the library promises; aborts (a finding) when it does not hold.
inline void require(bool ok, const char* what) {
    if (!ok) die(std::string("property violated: ") + what);
}

/// True if this process now has private IPC and mount namespaces and its own /dev/shm.
inline bool isolate() {
    static const bool isolated = [] {
        if (std::getenv("SHMREGION_FUZZ_NO_ISOLATION")) return false;
        if (::unshare(CLONE_NEWIPC | CLONE_NEWNS) != 0) {
            std::fprintf(stderr, "shmregion fuzz: no private namespaces (unshare: %s); running in the host's\n",
                         std::strerror(errno));
            return false;
        }
        // Our mounts must not propagate back to the host's namespace.
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777") != 0)
            die(std::string("private /dev/shm: ") + std::strerror(errno));
        return true;
    }();
    return isolated;
}

class FuzzHome {
public:
    /// The process's home (created on first use, removed at exit).
    static const std::filesystem::path& root() {
        static FuzzHome home;
        return home.path_;
    }
    /// A subdirectory of the home, created if needed.
    static std::filesystem::path sub(const std::string& name) {
        std::filesystem::path p = root() / name;
        std::error_code ec;
        std::filesystem::create_directories(p, ec);
        if (ec) die("mkdir " + p.string() + ": " + ec.message());
        return p;
    }

private:
    FuzzHome() {
        std::string tmpl;
        if (isolate()) {
            tmpl = "/dev/shm/shmregion-fuzz-" + std::to_string(::getpid()) + "-XXXXXX";
        } else {
            const char* t = std::getenv("TMPDIR");
            tmpl = std::string(t && *t ? t : "/tmp") + "/shmregion-fuzz-" + std::to_string(::getpid()) + "-XXXXXX";
        }
        if (!::mkdtemp(tmpl.data())) die("mkdtemp " + tmpl + ": " + std::strerror(errno));
        path_ = tmpl;
    }
    ~FuzzHome() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::filesystem::path path_;
};

/// Replaces the contents of `file` by the bytes [data, data + size).
inline void write_file(const std::filesystem::path& file, const void* data, std::size_t size) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("open " + file.string() + ": " + std::strerror(errno));
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("write " + file.string() + ": " + std::strerror(errno));
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    ::close(fd);
}

}  // namespace shmregion::fuzz
