// Growing a region in place (Region::grow) from STEP to TOTAL bytes in STEP increments while
// three other processes are attached and locking all along, against one extension of the
// same size (io::extend) and raw posix_fallocate of the same range (the limit), for the posix
// backing (/dev/shm) and the file backing (the current directory's file system), in one
// interleaved run. Usage: grow_bench --help
//
// Methods, per backing, each run once per round in turn (A B C D E F G H A B C D ...; the
// backings share the rounds), so drift of the machine hits all of them alike:
//   raw: posix_fallocate        a fresh file already allocated to STEP bytes is extended to
//                               TOTAL by one posix_fallocate (a file in /dev/shm for the posix
//                               backing, in the scratch home for the file backing)
//   io::extend, one call        the same through io::extend (engine from io::open(automatic))
//   grow, no other attacher     a fresh region of STEP usable bytes (max_size TOTAL + STEP)
//                               grown to TOTAL by Region::grow in STEP increments
//   grow, 3 attachers locking   the same while three forked processes, attached by name
//                               (OpenMode::join_only), loop lock(), read a word, unlock(),
//                               refresh() until told to stop through shared memory
// Only the extension or the grow loop is timed: not the creation of the file or region, the
// attachers' start and stop, the checks, the detach, the unlink, nor the syncfs() after each
// operation (so that its aftermath does not land in the next one's time).
//
// Checks, untimed, after every grow loop: size() after each grow; the region's header and
// backing (inspect); the data written before growth (every word of the first STEP bytes, in
// the parent and in every attacher); the grown part reads zero (one word per MiB); a marker the
// parent writes in the last word after growth is seen by every attacher, whose size() after a
// final refresh() must be TOTAL; attachers exit cleanly; unlink leaves nothing behind (region
// file, segment, pending files). Baselines: the file's size and allocated blocks cover TOTAL.
#include "bench_util.hpp"
#include "io/engine.hpp"
#include "io/ops.hpp"

#include <shmregion/error.hpp>
#include <shmregion/shmregion.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
namespace io = shmregion::io;

namespace {

using namespace benchutil;
constexpr int kAttachers = 3;
constexpr int kMaxAttachers = 8;
constexpr unsigned kWatchdogSeconds = 300;    // one operation taking longer is reported as a hang
constexpr double kChildTimeoutSeconds = 60;   // attachers' start and exit
constexpr std::uint64_t kMinLoopsBeforeTiming = 20;

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- cleanup on exit, error, interrupt and hang ----------------------------------------------
// Scratch directories are flat (files only). They are removed by their destructors on every
// normal or exceptional path. SIGINT/SIGTERM/SIGHUP only set a flag, checked between
// operations and while waiting for the attachers (so that the usual path stops the attachers,
// detaches, unlinks and removes everything); a second one, a fatal signal, std::terminate or
// the watchdog (an operation that takes longer than kWatchdogSeconds: a hang) do it the
// async-signal-safe way: kill the attachers, unlink every file of the scratch directories
// (getdents64 + unlinkat), remove the directories and this run's segments in /dev/shm.

struct DirSlot {
    char path[PATH_MAX];
    volatile sig_atomic_t used;
};
DirSlot g_dirs[2];
volatile sig_atomic_t g_child_pids[kMaxAttachers];
char g_shm_prefix[96];                   // "shmregion.gb-<pid>-": this run's segments
volatile sig_atomic_t g_interrupted = 0; // the signal number of the first SIGINT/SIGTERM/SIGHUP
volatile sig_atomic_t g_is_child = 0;
const char* volatile g_phase = "start";  // string literals only: read by the watchdog

struct Interrupted {
    int sig;
};

void check_interrupted() {
    if (g_interrupted) throw Interrupted{g_interrupted};
}

void write_str(const char* s) noexcept {
    const ssize_t n = ::write(STDERR_FILENO, s, std::strlen(s));
    (void)n;
}

/// Unlinks the entries of `dir` (those starting with `prefix`, if given); removes `dir` itself
/// if asked. Async-signal-safe: system calls only.
void wipe_dir(const char* dir, const char* prefix, bool remove_dir) noexcept {
    const int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    const std::size_t plen = prefix ? std::strlen(prefix) : 0;
    alignas(8) char buf[8192];
    for (int pass = 0; pass < 4; ++pass) {  // unlinking while reading may skip entries
        bool removed = false;
        ::lseek(fd, 0, SEEK_SET);
        for (;;) {
            const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
            if (n <= 0) break;
            for (long off = 0; off < n;) {
                // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, name
                unsigned short reclen = 0;
                std::memcpy(&reclen, buf + off + 16, sizeof reclen);
                const char* name = buf + off + 19;
                off += reclen;
                if (reclen == 0) break;
                if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
                if (prefix && std::strncmp(name, prefix, plen) != 0) continue;
                if (::unlinkat(fd, name, 0) == 0) removed = true;
            }
        }
        if (!removed) break;
    }
    ::close(fd);
    if (remove_dir) ::rmdir(dir);
}

void emergency_cleanup() noexcept {
    if (g_is_child) return;
    for (auto& p : g_child_pids)
        if (p > 0) ::kill(static_cast<pid_t>(p), SIGKILL);
    for (auto& d : g_dirs) {
        if (!d.used) continue;
        wipe_dir(d.path, nullptr, true);
        d.used = 0;
    }
    if (g_shm_prefix[0]) wipe_dir("/dev/shm", g_shm_prefix, false);
}

extern "C" void on_stop_signal(int sig) {
    if (g_is_child) return;
    if (!g_interrupted) {
        g_interrupted = sig;
        write_str("\ngrow_bench: interrupted: stopping after the current step and cleaning up (again to force)\n");
        return;
    }
    emergency_cleanup();
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

extern "C" void on_fatal_signal(int sig) {
    emergency_cleanup();
    ::raise(sig);  // SA_RESETHAND restored the default action: dies by the same signal
}

extern "C" void on_watchdog(int) {
    write_str("\ngrow_bench: WATCHDOG: no progress for ");
    char num[16];
    unsigned v = kWatchdogSeconds;
    int i = sizeof num - 1;
    num[i] = '\0';
    do {
        num[--i] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0 && i > 0);
    write_str(num + i);
    write_str(" s during: ");
    write_str(g_phase);
    write_str(" (a hang; killing the attachers and removing the scratch files)\n");
    emergency_cleanup();
    ::_exit(124);
}

void install_handlers() {
    struct sigaction stop {};
    stop.sa_handler = on_stop_signal;
    sigemptyset(&stop.sa_mask);
    stop.sa_flags = SA_RESTART;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &stop, nullptr);
    struct sigaction fatal {};
    fatal.sa_handler = on_fatal_signal;
    sigemptyset(&fatal.sa_mask);
    fatal.sa_flags = SA_RESETHAND;
    for (int sig : {SIGQUIT, SIGPIPE, SIGABRT, SIGBUS, SIGSEGV, SIGFPE, SIGILL}) ::sigaction(sig, &fatal, nullptr);
    struct sigaction watchdog {};
    watchdog.sa_handler = on_watchdog;
    sigemptyset(&watchdog.sa_mask);
    ::sigaction(SIGALRM, &watchdog, nullptr);
    std::set_terminate([] {
        emergency_cleanup();
        std::abort();
    });
}

/// Starts the watchdog for one operation (alarm(0) stops it).
void watch(const char* phase) {
    g_phase = phase;
    ::alarm(kWatchdogSeconds);
}

// ---- file systems --------------------------------------------------------------------------

/// A new flat directory parent/grow_bench.XXXXXX, registered for the emergency cleanup,
/// removed with its files by the destructor.
class Scratch {
public:
    Scratch(int slot, const fs::path& parent) : slot_(slot) {
        const std::string tmpl = (fs::absolute(parent) / "grow_bench.XXXXXX").lexically_normal().string();
        if (tmpl.size() + 64 >= PATH_MAX) throw std::runtime_error("path too long: " + tmpl);
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        auto& s = g_dirs[slot_];
        s.used = 0;
        if (!::mkdtemp(buf.data())) fail("mkdtemp " + tmpl, errno);
        dir_ = buf.data();
        std::snprintf(s.path, sizeof s.path, "%s", dir_.c_str());
        s.used = 1;
        file_ = dir_ / "data";
        dirfd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd_ < 0) {
            const int e = errno;
            cleanup();
            fail("open " + dir_.string(), e);
        }
    }
    ~Scratch() { cleanup(); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    const fs::path& dir() const { return dir_; }
    /// The scratch file of the baselines (one at a time).
    const fs::path& file() const { return file_; }
    /// Untimed, after each operation: commits what the last one left to the file system
    /// (journal, freed blocks), so that it does not land in the next operation's time.
    void settle() const { ::syncfs(dirfd_); }
    /// Names of what the directory holds now.
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir_, ec)) out.push_back(e.path().filename().string());
        return out;
    }

private:
    void cleanup() noexcept {
        if (dirfd_ >= 0) ::close(dirfd_);
        dirfd_ = -1;
        g_dirs[slot_].used = 0;
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }
    int slot_;
    int dirfd_ = -1;
    fs::path dir_, file_;
};

// ---- sizes ---------------------------------------------------------------------------------

std::string num(std::uint64_t v) { return std::to_string(v); }

// ---- what one operation yields ---------------------------------------------------------------

struct Sample {
    double seconds = 0;
    double worst_grow = 0;            // grow: the slowest single grow() of the loop
    std::uint64_t child_loops = 0;    // attachers: fewest lock cycles of one attacher during the loop
    std::uint64_t child_loops_max = 0;// attachers: most lock cycles of one attacher during the loop
    double idle_rate = 0;             // attachers: lock cycles per ms of all of them, untimed, after growth
    std::uint64_t child_changes = 0;  // attachers: fewest size changes one attacher saw
    std::vector<std::string> checks; // what was wrong; empty when everything looked right
};

// ---- the data pattern ----------------------------------------------------------------------

std::uint64_t pattern(std::uint64_t word, std::uint64_t seed) { return (word + 1) * 0x9E3779B97F4A7C15ull ^ seed; }
std::uint64_t marker(std::uint64_t seed) { return 0x67726f7762656e63ull ^ (seed * 0x100000001b3ull); }

void fill_pattern(void* data, std::uint64_t bytes, std::uint64_t seed) {
    auto* w = static_cast<std::uint64_t*>(data);
    for (std::uint64_t i = 0; i < bytes / 8; ++i) w[i] = pattern(i, seed);
}

/// Words of [0, bytes) that differ from the pattern; `first` gets the byte offset of the first.
std::uint64_t pattern_mismatches(const void* data, std::uint64_t bytes, std::uint64_t seed, std::uint64_t& first) {
    const auto* w = static_cast<const volatile std::uint64_t*>(data);
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < bytes / 8; ++i)
        if (w[i] != pattern(i, seed) && bad++ == 0) first = i * 8;
    return bad;
}

// ---- the attachers ---------------------------------------------------------------------------

enum ChildState : int { starting = 0, looping = 1, done = 2, failed = 3 };

struct alignas(64) ChildReport {
    std::atomic<int> state{starting};
    std::atomic<std::uint64_t> loops{0};       // lock/read/unlock/refresh cycles so far
    std::atomic<std::uint64_t> changes{0};     // times size() changed between cycles
    std::atomic<std::uint64_t> final_size{0};  // size() after the final refresh()
    std::atomic<std::uint64_t> pattern_bad{0}; // words of the first STEP bytes not as written
    std::atomic<std::uint64_t> pattern_first{0};
    std::atomic<int> marker_ok{0};
    std::atomic<int> owner_died{0};
    std::atomic<std::uint64_t> sink{0};        // the words read, summed (keeps the reads)
    char error[512]{};
};

struct Control {
    std::atomic<int> stop{0};
    ChildReport child[kMaxAttachers];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the control block is shared between processes: its atomics must be lock-free");

/// In a forked attacher: attach by name, loop until told to stop, report, detach, _exit.
[[noreturn]] void child_main(const shmregion::Options& created, Control* ctl, int idx, pid_t parent,
                             std::uint64_t seed, std::uint64_t initial) {
    g_is_child = 1;
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;  // the parent stops the attachers; a terminal's ^C reaches them too
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
    sa.sa_handler = SIG_DFL;  // never the parent's cleanup
    for (int sig : {SIGPIPE, SIGABRT, SIGBUS, SIGSEGV, SIGFPE, SIGILL, SIGALRM}) ::sigaction(sig, &sa, nullptr);
    std::set_terminate([] { ::_exit(6); });
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(5);

    ChildReport& rep = ctl->child[idx];
    int rc = 0;
    try {
        shmregion::Options o = created;
        o.mode = shmregion::OpenMode::join_only;
        o.size = 0;
        o.max_size = 0;
        shmregion::Region r = shmregion::Region::attach(o);
        const auto* words = static_cast<const volatile std::uint64_t*>(r.data());
        std::uint64_t sink = 0, loops = 0, changes = 0;
        std::size_t seen = r.size();
        rep.state.store(looping, std::memory_order_release);
        while (!ctl->stop.load(std::memory_order_acquire)) {
            {
                auto g = r.lock();
                if (g.owner_died()) rep.owner_died.store(1, std::memory_order_relaxed);
                sink += words[r.size() / 8 - 1];  // the last word this attach has mapped
            }
            r.refresh();
            if (r.size() != seen) {
                ++changes;
                seen = r.size();
            }
            rep.loops.store(++loops, std::memory_order_relaxed);
        }
        rep.changes.store(changes, std::memory_order_relaxed);
        r.refresh();  // growth published after this attacher's last cycle
        const std::uint64_t size = r.size();
        rep.final_size.store(size, std::memory_order_relaxed);
        rep.marker_ok.store(size >= 8 && words[size / 8 - 1] == marker(seed) ? 1 : 0, std::memory_order_relaxed);
        std::uint64_t first = 0;
        rep.pattern_bad.store(pattern_mismatches(r.data(), std::min<std::uint64_t>(initial, size), seed, first),
                              std::memory_order_relaxed);
        rep.pattern_first.store(first, std::memory_order_relaxed);
        rep.sink.store(sink, std::memory_order_relaxed);
        r.detach();
        rep.state.store(done, std::memory_order_release);
    } catch (const std::exception& e) {
        std::snprintf(rep.error, sizeof rep.error, "%s", e.what());
        rep.state.store(failed, std::memory_order_release);
        rc = 1;
    } catch (...) {
        std::snprintf(rep.error, sizeof rep.error, "unknown exception");
        rep.state.store(failed, std::memory_order_release);
        rc = 1;
    }
    ::_exit(rc);
}

const char* state_name(int s) {
    switch (s) {
    case starting: return "starting";
    case looping: return "looping";
    case done: return "done";
    case failed: return "failed";
    default: return "?";
    }
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                    strsignal(WTERMSIG(status)) + ")";
    return "status " + std::to_string(status);
}

/// Forked attachers of one region and their shared control block. The destructor (and an
/// error path) kills whatever still runs.
class Attachers {
public:
    Attachers() {
        void* p = ::mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) fail("mmap control block", errno);
        ctl_ = new (p) Control{};
    }
    ~Attachers() {
        kill_all();
        ctl_->~Control();
        ::munmap(ctl_, sizeof(Control));
    }
    Attachers(const Attachers&) = delete;
    Attachers& operator=(const Attachers&) = delete;

    void start(int n, const shmregion::Options& o, std::uint64_t seed, std::uint64_t initial) {
        const pid_t parent = ::getpid();
        std::fflush(stdout);
        std::fflush(stderr);
        for (int i = 0; i < n; ++i) {
            const pid_t pid = ::fork();
            if (pid < 0) fail("fork", errno);
            if (pid == 0) child_main(o, ctl_, i, parent, seed, initial);
            pids_.push_back(pid);
            g_child_pids[i] = pid;
        }
    }

    /// Waits until every attacher has joined and looped a few times.
    void wait_looping() {
        const auto t0 = Clock::now();
        for (;;) {
            check_interrupted();
            bool all = true;
            for (std::size_t i = 0; i < pids_.size(); ++i) {
                const ChildReport& c = ctl_->child[i];
                const int st = c.state.load(std::memory_order_acquire);
                if (st == failed)
                    throw std::runtime_error("attacher " + num(i + 1) + " (pid " + std::to_string(pids_[i]) +
                                             "): " + c.error);
                int status = 0;
                if (pids_[i] > 0 && ::waitpid(pids_[i], &status, WNOHANG) == pids_[i]) {
                    forget(i);
                    throw std::runtime_error("attacher " + num(i + 1) + " died while starting: " +
                                             describe_status(status) + "; state " + state_name(st));
                }
                if (st != looping || c.loops.load(std::memory_order_relaxed) < kMinLoopsBeforeTiming) all = false;
            }
            if (all) return;
            if (since(t0) > kChildTimeoutSeconds) {
                std::string s = "attachers not looping after " + num(static_cast<std::uint64_t>(kChildTimeoutSeconds)) + " s:";
                for (std::size_t i = 0; i < pids_.size(); ++i)
                    s += " [" + num(i + 1) + ": " + state_name(ctl_->child[i].state.load()) + ", " +
                         num(ctl_->child[i].loops.load()) + " cycles]";
                throw std::runtime_error(s);
            }
            ::usleep(1000);
        }
    }

    std::vector<std::uint64_t> loops() const {
        std::vector<std::uint64_t> v;
        for (std::size_t i = 0; i < pids_.size(); ++i) v.push_back(ctl_->child[i].loops.load(std::memory_order_relaxed));
        return v;
    }

    /// Tells the attachers to stop, waits for them and checks what they report.
    void stop_and_check(Sample& s, std::uint64_t total, std::uint64_t initial) {
        ctl_->stop.store(1, std::memory_order_release);
        std::vector<int> status(pids_.size(), 0);
        std::vector<bool> exited(pids_.size(), false);
        const auto t0 = Clock::now();
        for (;;) {
            bool all = true;
            for (std::size_t i = 0; i < pids_.size(); ++i) {
                if (exited[i]) continue;
                const pid_t w = ::waitpid(pids_[i], &status[i], WNOHANG);
                if (w == pids_[i] || (w < 0 && errno == ECHILD)) exited[i] = true;
                else all = false;
            }
            if (all) break;
            if (since(t0) > kChildTimeoutSeconds) {
                for (std::size_t i = 0; i < pids_.size(); ++i) {
                    if (exited[i]) continue;
                    s.checks.push_back("attacher " + num(i + 1) + " (pid " + std::to_string(pids_[i]) +
                                       ") still running " + num(static_cast<std::uint64_t>(kChildTimeoutSeconds)) +
                                       " s after being told to stop (state " +
                                       state_name(ctl_->child[i].state.load()) + "); killed");
                    ::kill(pids_[i], SIGKILL);
                    ::waitpid(pids_[i], &status[i], 0);
                    exited[i] = true;
                    status[i] = -1;
                }
                break;
            }
            ::usleep(1000);
        }
        std::uint64_t min_changes = UINT64_MAX;
        for (std::size_t i = 0; i < pids_.size(); ++i) {
            const ChildReport& c = ctl_->child[i];
            const std::string who = "attacher " + num(i + 1);
            if (status[i] != -1 && !(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0))
                s.checks.push_back(who + ": " + describe_status(status[i]));
            const int st = c.state.load(std::memory_order_acquire);
            if (st == failed) {
                s.checks.push_back(who + " failed: " + c.error);
            } else if (st != done) {
                s.checks.push_back(who + " ended in state " + state_name(st));
            } else {
                if (c.final_size.load() != total)
                    s.checks.push_back(who + ": size() after refresh() is " + num(c.final_size.load()) + ", not " +
                                       num(total));
                if (!c.marker_ok.load())
                    s.checks.push_back(who + ": the marker written in the last word after growth is not seen");
                if (c.pattern_bad.load() != 0)
                    s.checks.push_back(who + ": " + num(c.pattern_bad.load()) + " words of the first " +
                                       size_label(initial) + " changed (first at byte " +
                                       num(c.pattern_first.load()) + ")");
            }
            if (c.owner_died.load()) s.checks.push_back(who + ": lock() reported owner_died");
            min_changes = std::min<std::uint64_t>(min_changes, c.changes.load());
            g_child_pids[i] = 0;
        }
        s.child_changes = pids_.empty() ? 0 : min_changes;
        pids_.clear();
    }

    void kill_all() noexcept {
        for (std::size_t i = 0; i < pids_.size(); ++i) {
            if (pids_[i] <= 0) continue;
            ::kill(pids_[i], SIGKILL);
            int st = 0;
            ::waitpid(pids_[i], &st, 0);
            g_child_pids[i] = 0;
        }
        pids_.clear();
    }

private:
    void forget(std::size_t i) {
        pids_[i] = -1;
        g_child_pids[i] = 0;
    }
    Control* ctl_ = nullptr;
    std::vector<pid_t> pids_;
};

// ---- the operations --------------------------------------------------------------------------

struct Backend {
    shmregion::Backing backing;
    std::string label;       // "posix", "file"
    std::string fs;          // file system type where the bytes live
    std::string where;       // where the bytes live, for the report
    const Scratch* home;     // the regions' home (locators, region files)
    const Scratch* files;    // the baselines' scratch directory
    std::string region_name;
};

/// Removes a region after a failure: detach, unlink (then forced), whatever state it is in.
void discard_region(shmregion::Region& r, const Backend& be) noexcept {
    std::error_code ec;
    r.detach(ec);
    ec.clear();
    shmregion::unlink(be.home->dir(), be.region_name, shmregion::Force::no, ec);
    if (ec && ec != shmregion::errc::region_not_found) {
        ec.clear();
        shmregion::unlink(be.home->dir(), be.region_name, shmregion::Force::yes, ec);
    }
}

/// Creates a region of `initial` usable bytes, writes the pattern, starts `attachers`
/// attachers (untimed), times growing it to `total` in `step` increments, checks.
Sample grow_op(const Backend& be, std::uint64_t initial, std::uint64_t step, std::uint64_t total, int attachers,
               std::uint64_t seed) {
    Sample s;
    shmregion::Options o;
    o.home = be.home->dir();
    o.name = be.region_name;
    o.backing = be.backing;
    o.mode = shmregion::OpenMode::create_only;
    o.size = initial;
    o.max_size = total + step;  // slack: the ceiling is not what is measured
    Attachers kids;
    shmregion::Region r;
    try {
        watch("grow: create the region and start the attachers");
        r = shmregion::Region::attach(o);
        if (r.size() != initial) s.checks.push_back("size() " + num(r.size()) + " after creation, not " + num(initial));
        if (r.max_size() < total) s.checks.push_back("max_size() " + num(r.max_size()) + " below " + num(total));
        std::string segment;
        if (be.backing == shmregion::Backing::posix) segment = shmregion::inspect(o.home, o.name).segment;
        fill_pattern(r.data(), initial, seed);
        be.home->settle();
        if (attachers > 0) {
            kids.start(attachers, o, seed, initial);
            kids.wait_looping();
        }
        const auto loops0 = kids.loops();

        watch("grow: the timed grow() loop");
        std::uint64_t target = initial, bad_target = 0, bad_size = 0;
        const auto t0 = Clock::now();
        while (target < total) {
            target = std::min(total, target + step);
            const auto a = Clock::now();
            r.grow(target);
            const double d = since(a);
            if (d > s.worst_grow) s.worst_grow = d;
            if (r.size() != target && bad_target == 0) {
                bad_target = target;
                bad_size = r.size();
            }
        }
        s.seconds = since(t0);
        const auto loops1 = kids.loops();
        if (!loops1.empty()) {  // for context: how fast the attachers cycle when nothing grows
            const auto i0 = Clock::now();
            ::usleep(20000);
            const auto loops2 = kids.loops();
            const double ms = since(i0) * 1e3;
            std::uint64_t sum = 0;
            for (std::size_t i = 0; i < loops1.size(); ++i) sum += loops2[i] - loops1[i];
            s.idle_rate = static_cast<double>(sum) / ms;
        }

        watch("grow: checks, stopping the attachers, detach and unlink");
        if (bad_target != 0) s.checks.push_back("size() " + num(bad_size) + " after grow(" + num(bad_target) + ")");
        if (!loops0.empty()) {
            std::uint64_t lo = UINT64_MAX, hi = 0;
            for (std::size_t i = 0; i < loops0.size(); ++i) {
                lo = std::min(lo, loops1[i] - loops0[i]);
                hi = std::max(hi, loops1[i] - loops0[i]);
            }
            s.child_loops = lo;
            s.child_loops_max = hi;
        }
        auto* words = static_cast<std::uint64_t*>(r.data());
        if (r.size() >= total) words[total / 8 - 1] = marker(seed);
        kids.stop_and_check(s, total, initial);

        std::uint64_t first = 0;
        if (const auto bad = pattern_mismatches(r.data(), initial, seed, first); bad != 0)
            s.checks.push_back("parent: " + num(bad) + " words of the first " + size_label(initial) +
                               " changed (first at byte " + num(first) + ")");
        if (r.size() >= total) {
            std::uint64_t nonzero = 0;
            for (std::uint64_t off = initial; off < total; off += MiB)
                if (static_cast<const volatile std::uint64_t*>(r.data())[off / 8] != 0) ++nonzero;
            if (nonzero) s.checks.push_back("parent: " + num(nonzero) + " sampled words of the grown part are not zero");
        }
        const auto info = shmregion::inspect(o.home, o.name);
        if (info.size != total || info.region_size != info.header_size + total || info.backing_size != info.region_size)
            s.checks.push_back("inspect: size " + num(info.size) + ", region_size " + num(info.region_size) +
                               ", header " + num(info.header_size) + ", backing_size " + num(info.backing_size) +
                               " (expected size " + num(total) + ")");
        if (info.ref_count != 1 || info.live_attachers() != 1)
            s.checks.push_back("inspect after the attachers detached: ref_count " + num(info.ref_count) + ", " +
                               num(info.live_attachers()) + " live attachers (expected 1 and 1)");

        r.detach();
        shmregion::unlink(o.home, o.name);
        if (fs::exists(shmregion::region_file(o.home, o.name)))
            s.checks.push_back("the region file is still there after unlink");
        if (!segment.empty() && fs::exists("/dev/shm" + segment))
            s.checks.push_back("segment /dev/shm" + segment + " is still there after unlink");
        for (const auto& e : be.home->entries()) s.checks.push_back("left in home after unlink: " + e);
        ::alarm(0);
    } catch (...) {
        kids.kill_all();
        discard_region(r, be);
        ::alarm(0);
        throw;
    }
    return s;
}

/// A new file (O_CREAT|O_EXCL: a new inode every time), closed and unlinked at the end.
class FreshFile {
public:
    explicit FreshFile(const fs::path& p) : path_(p) {
        fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0600);
        if (fd_ < 0) fail("open " + p.string(), errno);
    }
    ~FreshFile() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    FreshFile(const FreshFile&) = delete;
    FreshFile& operator=(const FreshFile&) = delete;
    int fd() const { return fd_; }

private:
    fs::path path_;
    int fd_ = -1;
};

/// A fresh file allocated to `initial` bytes (untimed); times its extension to `total` by
/// posix_fallocate (raw) or by one io::extend through io::open(automatic) (engine opened
/// untimed); checks size and allocated blocks.
Sample extend_op(const Scratch& sc, std::uint64_t initial, std::uint64_t total, bool raw) {
    Sample s;
    watch(raw ? "raw posix_fallocate" : "io::extend");
    FreshFile f(sc.file());
    if (int e = ::posix_fallocate(f.fd(), 0, static_cast<off_t>(initial)); e != 0) fail("posix_fallocate (setup)", e);
    std::unique_ptr<io::Engine> engine;
    if (!raw) engine = io::open(io::EngineKind::automatic);
    const auto t0 = Clock::now();
    if (raw) {
        if (int e = ::posix_fallocate(f.fd(), static_cast<off_t>(initial), static_cast<off_t>(total - initial)); e != 0)
            fail("posix_fallocate", e);
    } else {
        io::extend(*engine, f.fd(), initial, total, sc.file());
    }
    s.seconds = since(t0);
    struct stat st {};
    if (::fstat(f.fd(), &st) != 0) fail("fstat", errno);
    const auto blocks = static_cast<std::uint64_t>(st.st_blocks) * 512;
    if (static_cast<std::uint64_t>(st.st_size) != total)
        s.checks.push_back("file size " + std::to_string(st.st_size) + " after extending to " + num(total));
    else if (blocks < total)
        s.checks.push_back("only " + num(blocks) + " of " + num(total) + " bytes allocated (st_blocks)");
    ::alarm(0);
    return s;
}

// ---- interleaved runs ----------------------------------------------------------------------

enum class Kind { raw, extend, grow };

struct Method {
    std::string name;
    const Backend* be = nullptr;
    Kind kind = Kind::grow;
    int attachers = 0;
    std::function<Sample(std::uint64_t total, std::uint64_t seed)> run;
    std::string error;  // failed: the message; its samples are dropped
    std::vector<Sample> samples;
    std::vector<std::string> checks;
};

void record_failure(Method& m, const std::string& where) {
    try {
        throw;
    } catch (const Interrupted&) {
        throw;
    } catch (const std::exception& e) {
        m.error = where + e.what();
    } catch (...) {
        m.error = where + "unknown exception";
    }
}

void run_interleaved(std::vector<Method>& ms, std::uint64_t total, std::uint64_t warm_total, int rounds) {
    std::uint64_t seed = 0x5eed0000ull ^ static_cast<std::uint64_t>(::getpid());
    auto settle = [](const Method& m) {
        m.be->home->settle();
        m.be->files->settle();
    };
    for (auto& m : ms) {  // warm up, at a small size
        check_interrupted();
        try {
            const Sample s = m.run(warm_total, ++seed);
            for (const auto& c : s.checks) m.checks.push_back("warm-up (" + size_label(warm_total) + "): " + c);
        } catch (...) {
            record_failure(m, "warm-up (" + size_label(warm_total) + "): ");
        }
        settle(m);
    }
    for (int r = 0; r < rounds; ++r) {
        for (auto& m : ms) {
            check_interrupted();
            if (!m.error.empty()) continue;
            try {
                Sample s = m.run(total, ++seed);
                for (const auto& c : s.checks) m.checks.push_back("round " + std::to_string(r + 1) + ": " + c);
                m.samples.push_back(std::move(s));
            } catch (...) {
                record_failure(m, "round " + std::to_string(r + 1) + ": ");
                m.samples.clear();
            }
            settle(m);
        }
        std::printf("  round %d of %d done; load average %s\n", r + 1, rounds, load_average().c_str());
        std::fflush(stdout);
    }
}

// ---- report --------------------------------------------------------------------------------

struct Stats {
    bool ok = false;
    double median = 0, min = 0, max = 0;
};

Stats stats(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    s.ok = true;
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    s.min = v.front();
    s.max = v.back();
    return s;
}

template <class F>
Stats stats_of(const Method& m, F field) {
    if (!m.error.empty()) return {};
    std::vector<double> v;
    for (const auto& s : m.samples) v.push_back(field(s));
    return stats(v);
}

Stats time_stats(const Method& m) {
    return stats_of(m, [](const Sample& s) { return s.seconds; });
}

struct Shape {
    std::uint64_t initial, step, total, grows;
    int rounds;
};

/// Prints one backing's table; appends its JSON objects. Returns false if anything failed.
bool report(const Backend& be, const std::vector<Method>& all, const Shape& sh, std::vector<std::string>& json) {
    std::vector<const Method*> ms;
    for (const auto& m : all)
        if (m.be == &be) ms.push_back(&m);
    std::optional<double> raw, ext;
    for (const Method* m : ms) {
        const Stats s = time_stats(*m);
        if (!s.ok) continue;
        if (m->kind == Kind::raw) raw = s.median;
        if (m->kind == Kind::extend) ext = s.median;
    }
    const std::uint64_t growth = sh.total - sh.initial;
    std::printf("\n%s backing: %s (%s)\n", be.label.c_str(), be.fs.c_str(), be.where.c_str());
    std::printf("%s -> %s: %s of growth (%llu grows of %s for the grow methods); %d rounds, interleaved\n",
                size_label(sh.initial).c_str(), size_label(sh.total).c_str(), size_label(growth).c_str(),
                static_cast<unsigned long long>(sh.grows), size_label(sh.step).c_str(), sh.rounds);
    std::printf("%-38s %12s %23s %8s %8s %9s %12s  %s\n", "method", "median", "min..max (ms)", "GiB/s", "vs raw",
                "vs extend", "worst grow", "check");
    const double gib = static_cast<double>(growth) / static_cast<double>(GiB);
    bool ok = true;
    for (const Method* m : ms) {
        const Stats s = time_stats(*m);
        const Stats worst = stats_of(*m, [](const Sample& x) { return x.worst_grow; });
        const Stats loops = stats_of(*m, [](const Sample& x) { return static_cast<double>(x.child_loops); });
        const Stats loops_max = stats_of(*m, [](const Sample& x) { return static_cast<double>(x.child_loops_max); });
        const Stats changes = stats_of(*m, [](const Sample& x) { return static_cast<double>(x.child_changes); });
        const Stats idle = stats_of(*m, [](const Sample& x) { return x.idle_rate; });
        std::optional<double> gbps, vs_raw, vs_ext;
        std::string status = "ok";
        if (!m->error.empty()) {
            status = "error";
            ok = false;
            std::printf("%-38s ERROR: %s\n", m->name.c_str(), m->error.c_str());
        } else if (!s.ok) {
            status = "not run";
            std::printf("%-38s not run\n", m->name.c_str());
        } else {
            gbps = gib / s.median;
            if (raw) vs_raw = s.median / *raw;
            if (ext) vs_ext = s.median / *ext;
            char rs[32] = "-", es[32] = "-", ws[32] = "-";
            if (vs_raw) std::snprintf(rs, sizeof rs, "%.3fx", *vs_raw);
            if (vs_ext) std::snprintf(es, sizeof es, "%.3fx", *vs_ext);
            if (m->kind == Kind::grow) std::snprintf(ws, sizeof ws, "%.3f ms", worst.median * 1e3);
            if (!m->checks.empty()) ok = false;
            std::printf("%-38s %9.3f ms %10.3f..%-12.3f %8.2f %8s %9s %12s  %s\n", m->name.c_str(), s.median * 1e3,
                        s.min * 1e3, s.max * 1e3, *gbps, rs, es, ws, m->checks.empty() ? "ok" : "FAIL");
        }
        std::string checks, samples;
        for (const auto& c : m->checks) checks += (checks.empty() ? "" : "; ") + c;
        for (const auto& x : m->samples) samples += (samples.empty() ? "" : ", ") + json_number(x.seconds);
        const bool grow = m->kind == Kind::grow;
        json.push_back(
            "{\"backing\": " + json_string(be.label) + ", \"fs\": " + json_string(be.fs) +
            ", \"where\": " + json_string(be.where) + ", \"method\": " + json_string(m->name) +
            ", \"kind\": " + json_string(m->kind == Kind::raw ? "raw" : m->kind == Kind::extend ? "extend" : "grow") +
            ", \"attachers\": " + std::to_string(m->attachers) + ", \"status\": " + json_string(status) +
            ", \"error\": " + json_string(m->error) + ", \"initial\": " + num(sh.initial) +
            ", \"total\": " + num(sh.total) + ", \"step\": " + num(sh.step) +
            ", \"grows\": " + (grow ? num(sh.grows) : std::string("1")) + ", \"growth_bytes\": " + num(growth) +
            ", \"rounds\": " + std::to_string(s.ok ? m->samples.size() : 0) +
            ", \"median_s\": " + json_number(s.ok ? std::optional(s.median) : std::nullopt) +
            ", \"min_s\": " + json_number(s.ok ? std::optional(s.min) : std::nullopt) +
            ", \"max_s\": " + json_number(s.ok ? std::optional(s.max) : std::nullopt) +
            ", \"samples_s\": [" + samples + "]" + ", \"gbps\": " + json_number(gbps) +
            ", \"gbps_unit\": \"GiB/s of growth\"" + ", \"ratio_to_raw_fallocate\": " + json_number(vs_raw) +
            ", \"ratio_to_io_extend\": " + json_number(vs_ext) +
            ", \"worst_grow_median_s\": " + json_number(grow && worst.ok ? std::optional(worst.median) : std::nullopt) +
            ", \"attacher_cycles_during_growth_min_median\": " +
            json_number(m->attachers > 0 && loops.ok ? std::optional(loops.median) : std::nullopt) +
            ", \"attacher_cycles_during_growth_max_median\": " +
            json_number(m->attachers > 0 && loops_max.ok ? std::optional(loops_max.median) : std::nullopt) +
            ", \"attacher_cycles_per_ms_idle_all_median\": " +
            json_number(m->attachers > 0 && idle.ok ? std::optional(idle.median) : std::nullopt) +
            ", \"attacher_size_changes_seen_min_median\": " +
            json_number(m->attachers > 0 && changes.ok ? std::optional(changes.median) : std::nullopt) +
            ", \"check\": " + json_string(checks.empty() ? "ok" : checks) + "}");
    }
    for (const Method* m : ms) {
        if (m->attachers > 0 && m->error.empty() && !m->samples.empty()) {
            const Stats lo = stats_of(*m, [](const Sample& x) { return static_cast<double>(x.child_loops); });
            const Stats hi = stats_of(*m, [](const Sample& x) { return static_cast<double>(x.child_loops_max); });
            const Stats changes = stats_of(*m, [](const Sample& x) { return static_cast<double>(x.child_changes); });
            const Stats idle = stats_of(*m, [](const Sample& x) { return x.idle_rate; });
            std::printf("  note: %s: lock/read/unlock/refresh cycles per attacher during the timed growth: %.0f..%.0f\n"
                        "        (least..most busy attacher); %.0f cycles/ms of the %d together in 20 ms right after it\n"
                        "        (untimed); size changes seen by the least busy attacher: %.0f of %llu grows (medians\n"
                        "        over rounds)\n",
                        m->name.c_str(), lo.median, hi.median, idle.median, m->attachers, changes.median,
                        static_cast<unsigned long long>(sh.grows));
        }
        for (const auto& c : m->checks) std::printf("  CHECK FAILED: %s: %s\n", m->name.c_str(), c.c_str());
    }
    std::fflush(stdout);
    return ok;
}

// ---- options -------------------------------------------------------------------------------

struct Config {
    fs::path dir = ".";
    int rounds = 5;
    std::uint64_t step = 64 * MiB;
    std::uint64_t total = GiB;
    std::string json;
};

void usage(FILE* out) {
    std::fprintf(out,
        "usage: grow_bench [options]\n"
        "Times growing a region in place with Region::grow from STEP to TOTAL bytes in STEP steps,\n"
        "with three other processes attached (each looping lock(), read a word, unlock(),\n"
        "refresh()) and with no other attacher, against one extension of the same size: one\n"
        "io::extend call (engine from io::open(automatic)) and raw posix_fallocate (the limit),\n"
        "for the posix backing (/dev/shm) and the file backing (a scratch home directory), with\n"
        "all methods interleaved round by round. Only the extension or the grow loop is timed:\n"
        "not creation, the attachers' start and stop, the checks, detach, unlink, nor a syncfs()\n"
        "after each operation.\n"
        "\n"
        "  --dir DIR      parent of the scratch home directory (default: the current directory);\n"
        "                 a new grow_bench.XXXXXX directory is made there (and one in /dev/shm for\n"
        "                 the posix baselines) and removed at exit, also on error and on SIGINT\n"
        "  --step SIZE    the initial size and the growth step (default: 64M; binary units K M G T)\n"
        "  --total SIZE   the final size (default: 1G)\n"
        "  --rounds N     rounds per method (default: 5)\n"
        "  --json FILE    also write every result as JSON to FILE\n"
        "  --help         this text\n"
        "\n"
        "Columns: median and min..max time over rounds; GiB/s = (TOTAL - STEP) / median (2^30 B);\n"
        "vs raw = median / median of raw posix_fallocate of the same range, vs extend = median /\n"
        "median of the single io::extend (time ratios: above 1 is slower); worst grow = median over\n"
        "rounds of the slowest single grow() of a round. A backing is skipped where less than\n"
        "2.5 x TOTAL is free.\n");
}

Config parse_args(int argc, char** argv) {
    Config c;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i], v;
        const bool has_value = a == "--dir" || a == "--step" || a == "--total" || a == "--rounds" || a == "--json";
        if (const auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
            v = a.substr(eq + 1);
            a.resize(eq);
        } else if (has_value) {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            v = argv[++i];
        }
        if (a == "--help" || a == "-h") {
            usage(stdout);
            std::exit(0);
        } else if (a == "--dir") {
            c.dir = v;
        } else if (a == "--step") {
            c.step = parse_size(v);
        } else if (a == "--total") {
            c.total = parse_size(v);
        } else if (a == "--json") {
            c.json = v;
        } else if (a == "--rounds") {
            std::size_t used = 0;
            int n = 0;
            try {
                n = std::stoi(v, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used == 0 || used != v.size() || n < 1)
                throw std::invalid_argument("--rounds: expected an integer >= 1, got '" + v + "'");
            c.rounds = n;
        } else {
            throw std::invalid_argument("unknown option '" + a + "' (see --help)");
        }
    }
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    try {
        cfg = parse_args(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "grow_bench: %s\n", e.what());
        return 2;
    }
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    if (cfg.step == 0 || cfg.step % page != 0 || cfg.total % page != 0 || cfg.total <= cfg.step) {
        std::fprintf(stderr, "grow_bench: --step and --total must be multiples of the page size (%llu) with "
                             "0 < step < total\n", static_cast<unsigned long long>(page));
        return 2;
    }
    const Shape shape{cfg.step, cfg.step, cfg.total, (cfg.total - cfg.step + cfg.step - 1) / cfg.step, cfg.rounds};
    std::snprintf(g_shm_prefix, sizeof g_shm_prefix, "shmregion.gb-%ld-", static_cast<long>(::getpid()));
    install_handlers();

    std::vector<std::string> json;
    std::string meta;
    int rc = 0;
    int interrupted = 0;
    try {
        utsname u {};
        ::uname(&u);
        const std::time_t now = std::time(nullptr);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
        std::printf("grow_bench: %s, kernel %s, %u CPUs, page %llu B; %d rounds; grow %s -> %s in %s steps (%llu "
                    "grows)\n",
                    when, u.release, std::thread::hardware_concurrency(), static_cast<unsigned long long>(page),
                    cfg.rounds, size_label(shape.initial).c_str(), size_label(cfg.total).c_str(),
                    size_label(cfg.step).c_str(), static_cast<unsigned long long>(shape.grows));
        std::error_code ec;
        const io::Choice choice = io::choose(io::EngineKind::automatic, ec);
        std::string engine = ec ? "error: " + ec.message() : std::string(io::to_string(choice.engine));
        std::printf("I/O engine (io::choose): %s%s%s\n", engine.c_str(), ec ? "" : " -- ", ec ? "" : choice.reason.c_str());
        std::printf("load average at start: %s (compare figures only within one run)\n", load_average().c_str());
        std::fflush(stdout);
        meta = "\"date\": " + json_string(when) + ", \"kernel\": " + json_string(u.release) +
               ", \"cpus\": " + std::to_string(std::thread::hardware_concurrency()) + ", \"page\": " + num(page) +
               ", \"rounds\": " + std::to_string(cfg.rounds) + ", \"initial\": " + num(shape.initial) +
               ", \"step\": " + num(cfg.step) + ", \"total\": " + num(cfg.total) + ", \"grows\": " + num(shape.grows) +
               ", \"attachers\": " + std::to_string(kAttachers) + ", \"io_engine\": " + json_string(engine) +
               ", \"io_engine_reason\": " + json_string(ec ? std::string() : choice.reason) +
               ", \"load_average_start\": " + json_string(load_average());
        const auto started = Clock::now();

        const auto need = static_cast<std::uint64_t>(2.5 * static_cast<double>(cfg.total));
        Scratch home(0, cfg.dir);
        std::optional<Scratch> shm;
        std::vector<std::unique_ptr<Backend>> backends;
        const std::string home_fs = fs_type(home.dir());
        const std::string pid = std::to_string(::getpid());
        {
            const std::uint64_t avail = free_bytes("/dev/shm");
            if (avail < need) {
                std::printf("skipping the posix backing: /dev/shm has %s free, 2.5 x total = %s needed\n",
                            size_label(avail / MiB * MiB).c_str(), size_label(need / MiB * MiB).c_str());
            } else {
                shm.emplace(1, "/dev/shm");
                backends.push_back(std::make_unique<Backend>(Backend{
                    shmregion::Backing::posix, "posix", fs_type("/dev/shm"),
                    "segments in /dev/shm, locators in " + home.dir().string() + "; baseline files in " +
                        shm->dir().string(),
                    &home, &*shm, "gb-" + pid + "-posix"}));
            }
        }
        {
            const std::uint64_t avail = free_bytes(home.dir());
            if (avail < need) {
                std::printf("skipping the file backing: %s (%s) has %s free, 2.5 x total = %s needed\n",
                            home.dir().c_str(), home_fs.c_str(), size_label(avail / MiB * MiB).c_str(),
                            size_label(need / MiB * MiB).c_str());
            } else {
                backends.push_back(std::make_unique<Backend>(Backend{
                    shmregion::Backing::file, "file", home_fs, "regions and baseline files in " + home.dir().string(),
                    &home, &home, "gb-" + pid + "-file"}));
            }
        }

        std::vector<Method> ms;
        for (const auto& b : backends) {
            const Backend* be = b.get();
            const std::uint64_t init = shape.initial, step = cfg.step;
            ms.push_back({"raw: posix_fallocate " + size_label(cfg.total - init), be, Kind::raw, 0,
                          [be, init](std::uint64_t total, std::uint64_t) { return extend_op(*be->files, init, total, true); },
                          {}, {}, {}});
            ms.push_back({"io::extend, one call (automatic)", be, Kind::extend, 0,
                          [be, init](std::uint64_t total, std::uint64_t) { return extend_op(*be->files, init, total, false); },
                          {}, {}, {}});
            ms.push_back({"grow, no other attacher", be, Kind::grow, 0,
                          [be, init, step](std::uint64_t total, std::uint64_t seed) {
                              return grow_op(*be, init, step, total, 0, seed);
                          },
                          {}, {}, {}});
            ms.push_back({"grow, " + std::to_string(kAttachers) + " attachers locking", be, Kind::grow, kAttachers,
                          [be, init, step](std::uint64_t total, std::uint64_t seed) {
                              return grow_op(*be, init, step, total, kAttachers, seed);
                          },
                          {}, {}, {}});
        }
        if (!ms.empty()) {
            const std::uint64_t warm = std::min(cfg.total, shape.initial + 2 * cfg.step);
            std::printf("warm-up at %s, then %d rounds of %zu methods\n", size_label(warm).c_str(), cfg.rounds, ms.size());
            std::fflush(stdout);
            run_interleaved(ms, cfg.total, warm, cfg.rounds);
            std::printf("\ntimes: only the extension or the grow loop; GiB/s = growth / median; vs raw, vs extend: "
                        "median / the\nbaseline's median on the same backing (time ratio, >1 = slower); worst grow: "
                        "median over rounds of the\nslowest single grow() of a round\n");
            for (const auto& b : backends)
                if (!report(*b, ms, shape, json)) rc = 1;
        }
        // Segments of this run left in /dev/shm would be a library bug (unlink removes them).
        std::error_code dec;
        for (const auto& e : fs::directory_iterator("/dev/shm", dec)) {
            const std::string n = e.path().filename().string();
            if (n.starts_with(g_shm_prefix)) {
                std::printf("LEFTOVER: %s (removed)\n", e.path().c_str());
                std::error_code rec;
                fs::remove(e.path(), rec);
                rc = 1;
            }
        }
        std::printf("\ndone in %.1f s; load average at end: %s\n", since(started), load_average().c_str());
        meta += ", \"load_average_end\": " + json_string(load_average()) +
                ", \"seconds\": " + json_number(since(started));
    } catch (const Interrupted& i) {
        interrupted = i.sig;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "grow_bench: %s\n", e.what());
        rc = 1;
    }
    if (g_shm_prefix[0]) wipe_dir("/dev/shm", g_shm_prefix, false);
    if (interrupted) {
        std::fflush(stdout);
        std::fprintf(stderr, "grow_bench: interrupted by signal %d; scratch files removed\n", interrupted);
        ::signal(interrupted, SIG_DFL);
        ::raise(interrupted);
        return 128 + interrupted;
    }
    if (!cfg.json.empty()) {
        std::FILE* f = std::fopen(cfg.json.c_str(), "w");
        if (!f) {
            std::fprintf(stderr, "grow_bench: cannot write %s: %s\n", cfg.json.c_str(), std::strerror(errno));
            return 1;
        }
        std::fprintf(f, "{\n  \"meta\": {%s},\n  \"results\": [\n", meta.c_str());
        for (std::size_t i = 0; i < json.size(); ++i)
            std::fprintf(f, "    %s%s\n", json[i].c_str(), i + 1 < json.size() ? "," : "");
        std::fprintf(f, "  ]\n}\n");
        std::fclose(f);
    }
    return rc;
}
