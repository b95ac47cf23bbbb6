// Extension and prefault of fresh files through the I/O engine (io::extend, io::prefault),
// against the raw system calls (the limit) and Berkeley DB's way, on the build tree's file
// system and on /dev/shm, in one interleaved run. Usage: io_bench --help
//
// Every method runs one operation per round, in turn (A B C A B C ...), so drift of the
// machine hits all methods alike; the report gives the median time, the min..max spread over
// rounds, the rate, the time ratio to the raw system call and the speedup over Berkeley DB.
// Only the extension or the prefault itself is timed: creating, mapping, unmapping, closing
// and unlinking the fresh file of each operation are not. Prefault starts from an empty file
// mapped at its final size: each method sizes it (ftruncate, posix_fallocate, io::extend) and
// faults every page in, so the pages are fresh, never allocated before.
#include "bench_util.hpp"
#include "io/engine.hpp"
#include "io/ops.hpp"

#include <shmregion/error.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
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
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace fs = std::filesystem;
namespace io = shmregion::io;

namespace {

using namespace benchutil;
constexpr std::uint64_t bdb_page = 4096;  // Berkeley DB extends by one 4 KiB page per write

// ---- scratch directories --------------------------------------------------------------------
// Each holds at most one file at a time, always named "data". They are removed at exit, on an
// exception, and on a fatal signal: the handler may use only async-signal-safe calls, so it
// unlinks that one file and removes the directory from paths kept in static buffers.

struct Slot {
    char dir[PATH_MAX];
    char file[PATH_MAX];
    volatile sig_atomic_t used;
};
Slot g_slots[2];

void cleanup_slots() noexcept {
    for (auto& s : g_slots) {
        if (!s.used) continue;
        ::unlink(s.file);
        ::rmdir(s.dir);
        s.used = 0;
    }
}

extern "C" void on_fatal_signal(int sig) {
    cleanup_slots();
    ::raise(sig);  // SA_RESETHAND restored the default action: dies by the same signal
}

void install_cleanup_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGABRT, SIGBUS, SIGSEGV, SIGFPE, SIGILL})
        ::sigaction(sig, &sa, nullptr);
    std::set_terminate([] {
        cleanup_slots();
        std::abort();
    });
}

class Scratch {
public:
    Scratch(int slot, const fs::path& parent) : slot_(slot) {
        std::string tmpl = (fs::absolute(parent) / "io_bench.XXXXXX").lexically_normal().string();
        if (tmpl.size() + 8 >= PATH_MAX) throw std::runtime_error("path too long: " + tmpl);
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) fail("mkdtemp " + tmpl, errno);
        dir_ = buf.data();
        file_ = dir_ / "data";
        auto& s = g_slots[slot_];
        s.used = 0;
        std::snprintf(s.dir, sizeof s.dir, "%s", dir_.c_str());
        std::snprintf(s.file, sizeof s.file, "%s", file_.c_str());
        s.used = 1;
        dirfd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd_ < 0) fail("open " + dir_.string(), errno);
    }
    ~Scratch() {
        ::close(dirfd_);
        g_slots[slot_].used = 0;
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    const fs::path& dir() const { return dir_; }
    const fs::path& file() const { return file_; }
    /// Untimed, after each operation: commits what the last unlink left to the file system
    /// (journal, freed blocks), so that it does not land in the next operation's time.
    void settle() const { ::syncfs(dirfd_); }

private:
    int slot_;
    int dirfd_ = -1;
    fs::path dir_, file_;
};

// ---- sizes --------------------------------------------------------------------------------

// ---- one operation on a fresh file -------------------------------------------------------

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// A new file (O_CREAT|O_EXCL|O_TRUNC: a new inode every time), closed and unlinked at the end.
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

class Mapping {
public:
    Mapping(int fd, std::size_t len) : len_(len) {
        addr_ = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (addr_ == MAP_FAILED) fail("mmap", errno);
    }
    ~Mapping() { ::munmap(addr_, len_); }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    void* addr() const { return addr_; }

private:
    void* addr_ = nullptr;
    std::size_t len_;
};

struct Sample {
    double seconds = 0;
    std::string check;               // empty when the result looked right
    std::uint64_t faults_left = 0;   // prefault: faults of a write pass afterwards (0 expected)
};

using ExtendFn = std::function<void(int fd, std::uint64_t size, const fs::path& file)>;
/// Makes a fresh, empty file `fd` of `size` bytes resident and writable through `addr` (a
/// MAP_SHARED mapping of `size` bytes made while the file was still empty): each method
/// sizes the file its own way (ftruncate, posix_fallocate or io::extend) inside the timing.
using PrefaultFn = std::function<void(int fd, void* addr, std::size_t size)>;

/// Creates a fresh file, times `extend` from 0 to `size`, checks size and allocated blocks,
/// then closes and unlinks it (untimed).
Sample timed_extend(const Scratch& sc, std::uint64_t size, const ExtendFn& extend) {
    Sample s;
    const fs::path& file = sc.file();
    FreshFile f(file);
    const auto t0 = Clock::now();
    extend(f.fd(), size, file);
    s.seconds = since(t0);
    struct stat st {};
    if (::fstat(f.fd(), &st) != 0) fail("fstat", errno);
    const auto blocks = static_cast<std::uint64_t>(st.st_blocks) * 512;
    if (static_cast<std::uint64_t>(st.st_size) != size)
        s.check = "file size " + std::to_string(st.st_size) + " after extending to " + std::to_string(size);
    else if (blocks < size)
        s.check = "only " + std::to_string(blocks) + " of " + std::to_string(size) + " bytes allocated (st_blocks)";
    return s;
}

Sample settled(const Scratch& sc, const std::function<Sample()>& op) {
    Sample s = op();  // the fresh file is closed and unlinked by now
    sc.settle();
    return s;
}

/// Page faults (minor and major) of this thread while it writes one byte per page, each
/// byte with its own value: 0 when every page was already resident and writable.
std::uint64_t faults_on_write_pass(void* addr, std::size_t size, std::size_t page) {
    rusage a {}, b {};
    ::getrusage(RUSAGE_THREAD, &a);
    auto* p = static_cast<volatile unsigned char*>(addr);
    for (std::size_t off = 0; off < size; off += page) p[off] = p[off];
    ::getrusage(RUSAGE_THREAD, &b);
    return static_cast<std::uint64_t>((b.ru_minflt - a.ru_minflt) + (b.ru_majflt - a.ru_majflt));
}

/// Creates a fresh empty file and maps `size` bytes of it MAP_SHARED (untimed), times
/// `prefault` (which sizes the file and faults every page in: fresh pages, never allocated
/// before), checks with a write pass that every page is resident and writable, then unmaps,
/// closes and unlinks (untimed).
Sample timed_prefault(const Scratch& sc, std::uint64_t size, std::size_t page, const PrefaultFn& prefault) {
    Sample s;
    FreshFile f(sc.file());
    Mapping m(f.fd(), static_cast<std::size_t>(size));
    const auto t0 = Clock::now();
    prefault(f.fd(), m.addr(), static_cast<std::size_t>(size));
    s.seconds = since(t0);
    s.faults_left = faults_on_write_pass(m.addr(), static_cast<std::size_t>(size), page);
    if (s.faults_left != 0)
        s.check = std::to_string(s.faults_left) + " of " + std::to_string(size / page) +
                  " pages still faulted on a write pass afterwards";
    return s;
}

void size_sparse(int fd, std::uint64_t size) {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail("ftruncate", errno);
}

// ---- the raw and Berkeley DB methods -----------------------------------------------------

void raw_fallocate(int fd, std::uint64_t size) {
    if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); e != 0) fail("posix_fallocate", e);
}

/// Berkeley DB's extension: one synchronous pwrite() of a 4 KiB page of zeros per page.
void bdb_extend(int fd, std::uint64_t size) {
    static const std::vector<char> zeros(bdb_page, 0);
    for (std::uint64_t off = 0; off < size; off += bdb_page) {
        const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(bdb_page, size - off));
        std::size_t done = 0;
        while (done < len) {
            const ssize_t n = ::pwrite(fd, zeros.data() + done, len - done, static_cast<off_t>(off + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("pwrite", errno);
            }
            done += static_cast<std::size_t>(n);
        }
    }
}

int populate_write(void* addr, std::size_t len) noexcept {
    while (::madvise(addr, len, MADV_POPULATE_WRITE) != 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return errno;
    }
    return 0;
}

void raw_populate_1(void* addr, std::size_t size) {
    if (int e = populate_write(addr, size); e != 0) fail("madvise(MADV_POPULATE_WRITE)", e);
}

/// Two std::threads, each MADV_POPULATE_WRITE over one half (split on a page boundary).
void raw_populate_2(void* addr, std::size_t size, std::size_t page) {
    const std::size_t half = size / 2 / page * page;
    auto* base = static_cast<char*>(addr);
    int e1 = 0, e2 = 0;
    std::thread a([&] { e1 = populate_write(base, half); });
    std::thread b([&] { e2 = populate_write(base + half, size - half); });
    a.join();
    b.join();
    if (e1 != 0 || e2 != 0) fail("madvise(MADV_POPULATE_WRITE)", e1 != 0 ? e1 : e2);
}

/// Berkeley DB's prefault: one thread writes one byte (a zero) on each page.
void bdb_touch(void* addr, std::size_t size, std::size_t page) {
    auto* p = static_cast<volatile unsigned char*>(addr);
    for (std::size_t off = 0; off < size; off += page) p[off] = 0;
}

// ---- interleaved runs ---------------------------------------------------------------------

enum class Role { raw, lib, other, bdb };

struct Method {
    std::string name;
    Role role = Role::lib;
    std::function<Sample(std::uint64_t size)> run;
    std::string unavailable;  // not run: why
    std::string error;        // failed: the message; its samples are dropped
    std::vector<double> seconds;
    std::vector<std::string> checks;
    std::uint64_t faults_left = 0;
    bool ran_ok_unexpectedly = false;
};

/// True if a method limited to k of n rounds runs in round r (k rounds spread evenly).
bool runs_in_round(int r, int k, int n) {
    if (k >= n) return true;
    return (r * k) / n != ((r + 1) * k) / n;
}

void record_failure(Method& m, const std::string& where) {
    try {
        throw;
    } catch (const std::system_error& e) {
        if (e.code() == shmregion::errc::engine_unavailable) m.unavailable = where + e.what();
        else m.error = where + e.what();
    } catch (const std::exception& e) {
        m.error = where + e.what();
    } catch (...) {
        m.error = where + "unknown exception";
    }
}

void run_interleaved(std::vector<Method>& ms, std::uint64_t size, std::uint64_t warm_size, int rounds, int bdb_rounds) {
    for (auto& m : ms) {  // warm up, at a small size
        if (!m.unavailable.empty()) continue;
        try {
            m.run(warm_size);
        } catch (...) {
            record_failure(m, "warm-up (" + size_label(warm_size) + "): ");
        }
    }
    for (int r = 0; r < rounds; ++r) {
        for (auto& m : ms) {
            if (!m.unavailable.empty() || !m.error.empty()) continue;
            if (m.role == Role::bdb && !runs_in_round(r, bdb_rounds, rounds)) continue;
            try {
                const Sample s = m.run(size);
                m.seconds.push_back(s.seconds);
                m.faults_left = std::max(m.faults_left, s.faults_left);
                if (!s.check.empty()) m.checks.push_back("round " + std::to_string(r + 1) + ": " + s.check);
            } catch (...) {
                record_failure(m, "round " + std::to_string(r + 1) + ": ");
                m.seconds.clear();
            }
        }
    }
}

// ---- report -------------------------------------------------------------------------------

struct Stats {
    bool ok = false;
    double median = 0, min = 0, max = 0;
};

Stats stats_of(const Method& m) {
    Stats s;
    if (m.seconds.empty() || !m.error.empty() || !m.unavailable.empty()) return s;
    auto v = m.seconds;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    s.ok = true;
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    s.min = v.front();
    s.max = v.back();
    return s;
}

struct Table {
    std::string fs, dir, op;  // op: "extend" or "prefault"
    std::uint64_t size = 0;
};

void report(const Table& t, const std::vector<Method>& ms, int rounds, int bdb_rounds,
            std::vector<std::string>& json) {
    std::optional<double> raw, bdb;
    for (const auto& m : ms) {
        const Stats s = stats_of(m);
        if (!s.ok) continue;
        if (m.role == Role::raw && (!raw || s.median < *raw)) raw = s.median;  // the fastest raw method
        if (m.role == Role::bdb) bdb = s.median;
    }
    std::printf("\n%s, %s (%s), %s: %d rounds (bdb %d), interleaved\n", t.op.c_str(), t.fs.c_str(), t.dir.c_str(),
                size_label(t.size).c_str(), rounds, std::min(bdb_rounds, rounds));
    std::printf("%-46s %12s %21s %9s %9s %10s  %s\n", "method", "median", "min..max (ms)", "GiB/s", "vs raw",
                "vs bdb", "check");
    const double gib = static_cast<double>(t.size) / static_cast<double>(GiB);
    for (const auto& m : ms) {
        const Stats s = stats_of(m);
        std::optional<double> gbps, ratio, speedup;
        std::string status = "ok", detail;
        if (!m.unavailable.empty()) {
            status = "unavailable";
            detail = m.unavailable;
            std::printf("%-46s unavailable: %s\n", m.name.c_str(), m.unavailable.c_str());
        } else if (!m.error.empty()) {
            status = "error";
            detail = m.error;
            std::printf("%-46s ERROR: %s\n", m.name.c_str(), m.error.c_str());
        } else if (!s.ok) {
            status = "not run";
            std::printf("%-46s not run\n", m.name.c_str());
        } else {
            gbps = gib / s.median;
            if (raw) ratio = s.median / *raw;
            if (bdb) speedup = *bdb / s.median;
            char rs[32] = "-", bs[32] = "-";
            if (ratio) std::snprintf(rs, sizeof rs, "%.3fx", *ratio);
            if (speedup) std::snprintf(bs, sizeof bs, "%.1fx", *speedup);
            std::string check = "ok";
            if (t.op == "prefault" && m.faults_left != 0) check = std::to_string(m.faults_left) + " faults left";
            else if (!m.checks.empty()) check = "FAIL";
            std::printf("%-46s %9.3f ms %9.3f..%-10.3f %9.2f %9s %10s  %s\n", m.name.c_str(), s.median * 1e3,
                        s.min * 1e3, s.max * 1e3, *gbps, rs, bs, check.c_str());
        }
        std::string checks;
        for (const auto& c : m.checks) checks += (checks.empty() ? "" : "; ") + c;
        if (m.ran_ok_unexpectedly) detail = "probe() says this engine does not work here, yet the call succeeded";
        json.push_back(
            "{\"fs\": " + json_string(t.fs) + ", \"dir\": " + json_string(t.dir) +
            ", \"size\": " + std::to_string(t.size) + ", \"size_label\": " + json_string(size_label(t.size)) +
            ", \"op\": " + json_string(t.op) + ", \"method\": " + json_string(m.name) +
            ", \"status\": " + json_string(status) + ", \"detail\": " + json_string(detail) +
            ", \"rounds\": " + std::to_string(s.ok ? m.seconds.size() : 0) +
            ", \"median_s\": " + json_number(s.ok ? std::optional(s.median) : std::nullopt) +
            ", \"min_s\": " + json_number(s.ok ? std::optional(s.min) : std::nullopt) +
            ", \"max_s\": " + json_number(s.ok ? std::optional(s.max) : std::nullopt) +
            ", \"gbps\": " + json_number(gbps) + ", \"gbps_unit\": \"GiB/s\"" +
            ", \"ratio_to_raw\": " + json_number(ratio) + ", \"speedup_vs_bdb\": " + json_number(speedup) +
            (t.op == "prefault" ? ", \"faults_left\": " + std::to_string(m.faults_left) : std::string()) +
            ", \"check\": " + json_string(checks.empty() ? "ok" : checks) + "}");
    }
    for (const auto& m : ms) {
        for (const auto& c : m.checks) std::printf("  note: %s: %s\n", m.name.c_str(), c.c_str());
        if (m.ran_ok_unexpectedly)
            std::printf("  note: %s: probe() says this engine does not work here, yet the call succeeded\n",
                        m.name.c_str());
    }
    std::fflush(stdout);
}

// ---- engines ------------------------------------------------------------------------------

struct EngineSlot {
    io::EngineKind kind;
    bool works = false;
    std::string detail;  // probe's
    std::unique_ptr<io::Engine> engine;
    std::string unavailable;
};

std::vector<EngineSlot> open_engines(unsigned depth) {
    std::vector<EngineSlot> out;
    const auto probed = io::probe();
    std::printf("I/O engines (io::probe):\n");
    for (const auto& p : probed)
        std::printf("  %-7s built %-3s works %-3s %s\n", std::string(io::to_string(p.kind)).c_str(),
                    p.built ? "yes" : "no", p.works ? "yes" : "no", p.detail.c_str());
    std::error_code ec;
    const auto choice = io::choose(io::EngineKind::automatic, ec);
    if (ec) std::printf("  automatic choice: error: %s\n", ec.message().c_str());
    else std::printf("  automatic choice: %s (%s)\n", std::string(io::to_string(choice.engine)).c_str(), choice.reason.c_str());
    for (auto kind : {io::EngineKind::uring, io::EngineKind::libaio, io::EngineKind::posix, io::EngineKind::sync}) {
        EngineSlot s{kind, false, "not reported by probe()", nullptr, {}};
        for (const auto& p : probed)
            if (p.kind == kind) {
                s.works = p.works;
                s.detail = p.detail;
                if (!p.built) s.unavailable = "not built" + (p.detail.empty() ? std::string() : " (" + p.detail + ")");
                else if (!p.works) s.unavailable = p.detail.empty() ? std::string("probe: does not work") : p.detail;
            }
        if (s.unavailable.empty()) {
            try {
                s.engine = io::open(kind, depth);
            } catch (const std::exception& e) {
                s.unavailable = std::string("io::open: ") + e.what();
            }
        }
        out.push_back(std::move(s));
    }
    std::fflush(stdout);
    return out;
}

// ---- the benchmarks ------------------------------------------------------------------------

struct Config {
    fs::path dir = ".";
    fs::path shm_dir = "/dev/shm";
    std::vector<std::uint64_t> sizes{256 * MiB, GiB};
    int rounds = 5;
    int bdb_rounds = 3;
    unsigned depth = 64;
    std::string json;
};

std::vector<Method> extend_methods(std::vector<EngineSlot>& engines, const Scratch& sc) {
    std::vector<Method> ms;
    auto add = [&](std::string name, Role role, ExtendFn fn, std::string unavailable = {}) {
        Method m;
        m.name = std::move(name);
        m.role = role;
        m.unavailable = std::move(unavailable);
        m.run = [fn = std::move(fn), &sc](std::uint64_t size) {
            return settled(sc, [&] { return timed_extend(sc, size, fn); });
        };
        ms.push_back(std::move(m));
    };
    add("raw: posix_fallocate", Role::raw, [](int fd, std::uint64_t size, const fs::path&) { raw_fallocate(fd, size); });
    for (auto method : {io::ExtendMethod::fallocate, io::ExtendMethod::zero_writes}) {
        for (auto& e : engines) {
            const std::string name = std::string(io::to_string(e.kind)) + ": io::extend " +
                                     (method == io::ExtendMethod::fallocate ? "fallocate" : "zero_writes");
            io::Engine* eng = e.engine.get();
            add(name, Role::lib,
                [eng, method](int fd, std::uint64_t size, const fs::path& f) { io::extend(*eng, fd, 0, size, f, method); },
                e.unavailable);
        }
    }
    add("bdb: 4 KiB pwrite of zeros per page", Role::bdb, [](int fd, std::uint64_t size, const fs::path&) { bdb_extend(fd, size); });
    return ms;
}

std::vector<Method> prefault_methods(const std::vector<EngineSlot>& engines, const Scratch& sc, std::size_t page) {
    std::vector<Method> ms;
    auto add = [&](std::string name, Role role, PrefaultFn fn) {
        Method m;
        m.name = std::move(name);
        m.role = role;
        m.run = [fn = std::move(fn), &sc, page](std::uint64_t size) {
            return settled(sc, [&] { return timed_prefault(sc, size, page, fn); });
        };
        ms.push_back(std::move(m));
    };
    auto lib = [](io::EngineKind engine, io::PrefaultMethod method, unsigned threads) {
        io::PrefaultOptions o;
        o.engine = engine;
        o.method = method;
        o.threads = threads;
        return [o](int, void* addr, std::size_t size) { io::prefault(addr, size, o); };
    };
    // Raw candidates for the limit (the fastest of them is "raw"): what this machine showed
    // to be fastest is either two threads faulting fresh pages in, or allocating them all
    // with posix_fallocate first and then faulting them in.
    add("raw: ftruncate + 2 threads POPULATE_WRITE", Role::raw, [page](int fd, void* a, std::size_t n) {
        size_sparse(fd, n);
        raw_populate_2(a, n, page);
    });
    add("raw: posix_fallocate + POPULATE_WRITE", Role::raw, [](int fd, void* a, std::size_t n) {
        raw_fallocate(fd, n);
        raw_populate_1(a, n);
    });
    add("raw: posix_fallocate + 2 threads POPULATE", Role::raw, [page](int fd, void* a, std::size_t n) {
        raw_fallocate(fd, n);
        raw_populate_2(a, n, page);
    });
    add("raw: ftruncate + 1 thread POPULATE_WRITE", Role::other, [](int fd, void* a, std::size_t n) {
        size_sparse(fd, n);
        raw_populate_1(a, n);
    });
    // What a region's creation and prefault do: io::extend (space allocated through the
    // automatic engine), then io::prefault with the automatic method.
    {
        std::error_code ec;
        std::shared_ptr<io::Engine> eng(io::open(io::EngineKind::automatic, 64, ec).release());
        add("lib: io::extend + io::prefault (automatic)", Role::lib,
            [eng](int fd, void* a, std::size_t n) {
                io::extend(*eng, fd, 0, n, "bench file");
                io::prefault(a, n);
            });
    }
    auto sparse_then = [](PrefaultFn fn) {
        return [fn = std::move(fn)](int fd, void* a, std::size_t n) {
            size_sparse(fd, n);
            fn(fd, a, n);
        };
    };
    add("lib: ftruncate + madvise_uring", Role::lib,
        sparse_then(lib(io::EngineKind::uring, io::PrefaultMethod::madvise_uring, 0)));
    // Where probe() says io_uring does not work, this must fail with engine_unavailable (no
    // silent fallback): flagged now, cleared after the run if it did fail.
    for (const auto& e : engines)
        if (e.kind == io::EngineKind::uring && !e.works) ms.back().ran_ok_unexpectedly = true;
    add("lib: ftruncate + madvise_threads, 2", Role::lib,
        sparse_then(lib(io::EngineKind::automatic, io::PrefaultMethod::madvise_threads, 2)));
    add("lib: ftruncate + madvise_threads, 1", Role::lib,
        sparse_then(lib(io::EngineKind::automatic, io::PrefaultMethod::madvise_threads, 1)));
    add("lib: ftruncate + touch_threads (auto)", Role::lib,
        sparse_then(lib(io::EngineKind::automatic, io::PrefaultMethod::touch_threads, 0)));
    add("bdb: ftruncate + 1 byte per page, 1 thread", Role::bdb, [page](int fd, void* a, std::size_t n) {
        size_sparse(fd, n);
        bdb_touch(a, n, page);
    });
    return ms;
}

void bench_fs(const Config& cfg, const std::string& label, const Scratch& sc, std::vector<EngineSlot>& engines,
              std::size_t page, std::vector<std::string>& json) {
    const std::string type = fs_type(sc.dir());
    std::printf("\n=== %s: %s, scratch %s ===\n", label.c_str(), type.c_str(), sc.dir().c_str());
    for (const std::uint64_t size : cfg.sizes) {
        const std::uint64_t avail = free_bytes(sc.dir());
        const auto need = static_cast<std::uint64_t>(2.5 * static_cast<double>(size));
        if (avail < need) {
            std::printf("\nskipping %s on %s (%s): %s free, 2.5 x size = %s needed\n", size_label(size).c_str(),
                        type.c_str(), sc.dir().c_str(), size_label(avail / MiB * MiB).c_str(),
                        size_label(need / MiB * MiB).c_str());
            continue;
        }
        const std::uint64_t warm = std::min<std::uint64_t>(size, 16 * MiB);
        {
            auto ms = extend_methods(engines, sc);
            run_interleaved(ms, size, warm, cfg.rounds, cfg.bdb_rounds);
            report({type, sc.dir().string(), "extend", size}, ms, cfg.rounds, cfg.bdb_rounds, json);
        }
        {
            auto ms = prefault_methods(engines, sc, page);
            run_interleaved(ms, size, warm, cfg.rounds, cfg.bdb_rounds);
            for (auto& m : ms)
                if (m.ran_ok_unexpectedly && (!m.unavailable.empty() || !m.error.empty())) m.ran_ok_unexpectedly = false;
            report({type, sc.dir().string(), "prefault", size}, ms, cfg.rounds, cfg.bdb_rounds, json);
        }
    }
}

void usage(FILE* out) {
    std::fprintf(out,
        "usage: io_bench [options]\n"
        "Times extending a fresh file from 0 to SIZE bytes and prefaulting a fresh MAP_SHARED mapping\n"
        "of SIZE bytes, through shmregion::io (each engine, each method), the raw system calls (the\n"
        "limit) and Berkeley DB's way, on the file system of --dir and on tmpfs (--shm-dir), with the\n"
        "methods interleaved round by round. Only the extension or prefault itself is timed: not the\n"
        "creation, mapping, unmapping, closing or unlinking of each fresh file, nor the syncfs() that\n"
        "follows each operation so that its aftermath does not land in the next one's time.\n"
        "\n"
        "  --dir DIR         parent of the scratch directory on the disk file system (default: the\n"
        "                    current directory); a new io_bench.XXXXXX directory is made there and\n"
        "                    removed at exit (also on error and on SIGINT/SIGTERM)\n"
        "  --shm-dir DIR     the same for tmpfs (default: /dev/shm)\n"
        "  --sizes LIST      comma-separated sizes, binary units K M G T (default: 256M,1G)\n"
        "  --rounds N        rounds per method (default: 5)\n"
        "  --bdb-rounds N    rounds of the Berkeley DB methods, spread over the rounds (default: 3;\n"
        "                    0 skips them)\n"
        "  --depth N         queue depth of the engines (default: 64)\n"
        "  --json FILE       also write every result as a JSON array to FILE\n"
        "  --help            this text\n"
        "\n"
        "Columns: median and min..max time over rounds; GiB/s = size / median (1 GiB = 2^30 bytes);\n"
        "vs raw = median / raw median (a time ratio: below 1 is faster than raw, above 1 slower);\n"
        "vs bdb = bdb median / median (a speedup over Berkeley DB's way: above 1 is faster).\n"
        "Raw is posix_fallocate for extension; for prefault of fresh pages it is the fastest of\n"
        "ftruncate + two threads of MADV_POPULATE_WRITE and posix_fallocate + MADV_POPULATE_WRITE\n"
        "(on one or two threads). Each prefault method sizes the still empty file itself, timed.\n"
        "A size is skipped where less than 2.5 x size is free.\n");
}

Config parse_args(int argc, char** argv) {
    Config c;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i], v;
        const bool has_value_option = a == "--dir" || a == "--shm-dir" || a == "--sizes" || a == "--rounds" ||
                                      a == "--bdb-rounds" || a == "--depth" || a == "--json";
        if (const auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
            v = a.substr(eq + 1);
            a.resize(eq);
        } else if (has_value_option) {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            v = argv[++i];
        }
        auto number = [&](int lo) {
            std::size_t used = 0;
            int n = 0;
            try {
                n = std::stoi(v, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used == 0 || used != v.size() || n < lo)
                throw std::invalid_argument(a + ": expected an integer >= " + std::to_string(lo) + ", got '" + v + "'");
            return n;
        };
        if (a == "--help" || a == "-h") {
            usage(stdout);
            std::exit(0);
        } else if (a == "--dir") c.dir = v;
        else if (a == "--shm-dir") c.shm_dir = v;
        else if (a == "--rounds") c.rounds = number(1);
        else if (a == "--bdb-rounds") c.bdb_rounds = number(0);
        else if (a == "--depth") c.depth = static_cast<unsigned>(number(1));
        else if (a == "--json") c.json = v;
        else if (a == "--sizes") {
            c.sizes.clear();
            std::size_t start = 0;
            while (start <= v.size()) {
                const auto comma = v.find(',', start);
                const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (!item.empty()) c.sizes.push_back(parse_size(item));
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            if (c.sizes.empty()) throw std::invalid_argument("--sizes: no size given");
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
        std::fprintf(stderr, "io_bench: %s\n", e.what());
        return 2;
    }
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (auto s : cfg.sizes)
        if (s == 0 || s % page != 0) {
            std::fprintf(stderr, "io_bench: size %llu is not a positive multiple of the page size (%zu)\n",
                         static_cast<unsigned long long>(s), page);
            return 2;
        }
    install_cleanup_handlers();

    std::vector<std::string> json;
    int rc = 0;
    try {
        utsname u {};
        ::uname(&u);
        const std::time_t now = std::time(nullptr);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
        std::printf("io_bench: %s, kernel %s, %u CPUs, page %zu B; %d rounds (bdb %d), queue depth %u\n", when,
                    u.release, std::thread::hardware_concurrency(), page, cfg.rounds, std::min(cfg.bdb_rounds, cfg.rounds),
                    cfg.depth);
        std::printf("times exclude creating/mapping/unmapping/closing/unlinking the fresh file of each operation,\n"
                    "and the syncfs() after each one (so its aftermath does not land in the next one's time);\n"
                    "GiB/s = size/median (2^30 bytes); vs raw = median/fastest raw median (time ratio, <1 = faster);\n"
                    "vs bdb = bdb median/median (speedup over Berkeley DB's way, >1 = faster); check: extension: size\n"
                    "and st_blocks cover the file; prefault: a write pass afterwards takes no page fault\n");
        std::printf("load average at start: %s (compare figures only within one run)\n\n", load_average().c_str());
        const auto started = Clock::now();
        auto engines = open_engines(cfg.depth);

        {
            Scratch disk(0, cfg.dir);
            bench_fs(cfg, "build tree file system", disk, engines, page, json);
        }
        {
            Scratch shm(1, cfg.shm_dir);
            bench_fs(cfg, "shared memory file system", shm, engines, page, json);
        }
        std::printf("\ndone in %.1f s; load average at end: %s\n", since(started), load_average().c_str());
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "io_bench: %s\n", e.what());
        rc = 1;
    }
    if (!cfg.json.empty()) {
        std::FILE* f = std::fopen(cfg.json.c_str(), "w");
        if (!f) {
            std::fprintf(stderr, "io_bench: cannot write %s: %s\n", cfg.json.c_str(), std::strerror(errno));
            return 1;
        }
        std::fprintf(f, "[\n");
        for (std::size_t i = 0; i < json.size(); ++i)
            std::fprintf(f, "  %s%s\n", json[i].c_str(), i + 1 < json.size() ? "," : "");
        std::fprintf(f, "]\n");
        std::fclose(f);
    }
    return rc;
}
