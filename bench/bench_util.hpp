// Pieces the benchmarks share: sizes and their labels, the file system and free space of a
// directory, the load average, JSON values, failing with errno, and leaving nothing behind
// (die() and the signal handlers run the program's cleanup).
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace benchutil {

namespace fs = std::filesystem;

inline constexpr std::uint64_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;

[[noreturn]] inline void fail(const std::string& what, int err) {
    throw std::system_error(err, std::generic_category(), what);
}

/// A benchmark's command line, option by option: `--name VALUE` options take value() or
/// positive(); a missing value or a number that is not positive prints the usage (or says
/// which option) and exits with status 2.
class Args {
public:
    Args(int argc, char** argv, void (*usage)(const char* argv0)) : argc_(argc), argv_(argv), usage_(usage) {}

    /// Moves to the next option; false when there is none left.
    bool next() { return ++i_ < argc_; }
    std::string_view option() const { return argv_[i_]; }
    std::string value() {
        if (i_ + 1 >= argc_) {
            usage_(argv_[0]);
            std::exit(2);
        }
        return argv_[++i_];
    }
    int positive() {
        const std::string what(option());
        const int v = std::atoi(value().c_str());
        if (v <= 0) {
            std::fprintf(stderr, "%s: %s needs a positive number\n", argv_[0], what.c_str());
            std::exit(2);
        }
        return v;
    }
    /// For an option none of the program's: --help / -h prints the usage and exits 0; anything
    /// else prints it and exits 2.
    [[noreturn]] void help_or_unknown() const {
        usage_(argv_[0]);
        std::exit(option() == "--help" || option() == "-h" ? 0 : 2);
    }

private:
    int argc_;
    char** argv_;
    void (*usage_)(const char*);
    int i_ = 0;
};

/// What a benchmark must not leave behind when it stops early (its temporary home, its
/// regions and segments): its name for messages and its cleanup, set by on_exit_cleanup().
struct ExitCleanup {
    const char* program = "bench";
    void (*cleanup)() noexcept = nullptr;
};
inline ExitCleanup& exit_cleanup() noexcept {
    static ExitCleanup c;
    return c;
}

extern "C" inline void run_cleanup_and_reraise(int sig) {
    if (auto f = exit_cleanup().cleanup) f();  // children die with the parent (PR_SET_PDEATHSIG)
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

/// Names the program and its cleanup, and runs the cleanup on SIGINT, SIGTERM and SIGHUP
/// before dying of the signal. The cleanup must do nothing in a fork()ed child.
inline void on_exit_cleanup(const char* program, void (*cleanup)() noexcept) {
    exit_cleanup() = {program, cleanup};
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, run_cleanup_and_reraise);
}

/// Reports `what` as "PROGRAM: what", runs the cleanup and exits with status 1.
[[noreturn]] inline void die(const std::string& what) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", exit_cleanup().program, what.c_str());
    if (auto f = exit_cleanup().cleanup) f();
    std::_Exit(1);
}

/// "0.85 1.91 0.81" from /proc/loadavg: the machine's load, printed so noise can be judged.
inline std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

/// The file system type of the mount holding `p` ("ext4", "tmpfs"), from /proc/self/mounts.
inline std::string fs_type(const fs::path& p) {
    std::error_code ec;
    const std::string path = fs::weakly_canonical(p, ec).string();
    std::ifstream in("/proc/self/mounts");
    std::string dev, mnt, type, rest, best_type = "unknown";
    std::size_t best = 0;
    auto unescape = [](const std::string& s) {  // \040 for space, \011 tab, \012, \134
        std::string o;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '\\' && i + 3 < s.size()) {
                o.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
                i += 3;
            } else {
                o.push_back(s[i]);
            }
        }
        return o;
    };
    while (in >> dev >> mnt >> type) {
        std::getline(in, rest);
        const std::string m = unescape(mnt);
        const bool under = m == "/" || path == m ||
                           (path.compare(0, m.size(), m) == 0 && path.size() > m.size() && path[m.size()] == '/');
        if (under && m.size() >= best) {  // the last mount over a path wins
            best = m.size();
            best_type = type;
        }
    }
    return best_type;
}

inline std::uint64_t free_bytes(const fs::path& dir) {
    struct statvfs v {};
    if (::statvfs(dir.c_str(), &v) != 0) fail("statvfs " + dir.string(), errno);
    return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

inline std::uint64_t parse_size(const std::string& text) {
    std::size_t used = 0;
    unsigned long long n = 0;
    try {
        n = std::stoull(text, &used);
    } catch (const std::exception&) {
        throw std::invalid_argument("bad size '" + text + "'");
    }
    std::string unit = text.substr(used);  // "M", "MiB" and "MB" all mean 2^20
    if (unit.ends_with("iB")) unit.resize(unit.size() - 2);
    else if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
    std::uint64_t mult = 1;
    if (unit == "" || unit == "B") mult = 1;
    else if (unit == "K" || unit == "k") mult = KiB;
    else if (unit == "M" || unit == "m") mult = MiB;
    else if (unit == "G" || unit == "g") mult = GiB;
    else if (unit == "T" || unit == "t") mult = GiB * 1024;
    else throw std::invalid_argument("bad size unit in '" + text + "' (use K, M, G or T: binary)");
    return static_cast<std::uint64_t>(n) * mult;
}

inline std::string size_label(std::uint64_t n) {
    char b[64];
    if (n != 0 && n % GiB == 0) std::snprintf(b, sizeof b, "%llu GiB", static_cast<unsigned long long>(n / GiB));
    else if (n != 0 && n % MiB == 0) std::snprintf(b, sizeof b, "%llu MiB", static_cast<unsigned long long>(n / MiB));
    else if (n != 0 && n % KiB == 0) std::snprintf(b, sizeof b, "%llu KiB", static_cast<unsigned long long>(n / KiB));
    else std::snprintf(b, sizeof b, "%llu B", static_cast<unsigned long long>(n));
    return b;
}

inline std::string json_string(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\t': o += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char b[8];
                std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
                o += b;
            } else {
                o.push_back(c);
            }
        }
    }
    return o + "\"";
}

/// A number, or null for none and for what JSON cannot spell (infinities, NaN).
inline std::string json_number(std::optional<double> v) {
    if (!v || !std::isfinite(*v)) return "null";
    char b[40];
    std::snprintf(b, sizeof b, "%.9g", *v);
    return b;
}

/// Forks a worker of the benchmark: it dies with its parent (PR_SET_PDEATHSIG), runs body()
/// and leaves with its status, never returning into the caller's code. An exception is
/// reported as "PROGRAM worker PID: what" (status 1); a non-zero status also sets `failed`,
/// the flag the parent's waits watch.
template <class Body>
pid_t spawn_worker(std::atomic<int>& failed, Body body) {
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) die(std::string("fork: ") + std::strerror(errno));
    if (pid > 0) return pid;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(9);  // the parent died before the line above
    int rc = 0;
    try {
        rc = body();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s worker %d: %s\n", exit_cleanup().program, static_cast<int>(::getpid()), e.what());
        rc = 1;
    }
    if (rc != 0) failed = 1;
    std::fflush(stderr);
    std::_Exit(rc);
}

/// Waits for a worker of spawn_worker(); dies unless it exited with status 0.
inline void reap_worker(pid_t pid) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) die(std::string("waitpid: ") + std::strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("a worker failed (status " + std::to_string(st) + ")");
}

}  // namespace benchutil
