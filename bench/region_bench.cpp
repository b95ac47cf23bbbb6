// The region operations against the raw system calls (the limit) and Boost.Interprocess (the
// peer), in one run (docs/performance.md, "The suite (issue 14)"):
//   1. attach + detach of an existing region, 64 KiB and 1 GiB, for each named backing
//      (posix, file, sysv), while another attach of this process keeps the region in use, as
//      a database's other processes do. Beside the raw calls of the same backing and Boost,
//      "raw, shmregion's system calls" makes, without the library, exactly the system calls
//      an attach + detach makes (docs/performance.md lists them): the floor of what the
//      guarantees cost, so the rest of the ratio is the library's own code;
//   2. create + unlink of a new 64 KiB region, each backing;
//   3. the create race: 16 processes attach one new name at the same moment (one creates,
//      15 join) until all 16 are attached, against 16 attaches of a new name one after
//      another in one process; Boost's managed_shared_memory open_or_create beside.
// Methods are interleaved round by round (harness.hpp); the report gives medians with the
// min..max over rounds and the time ratio to the raw method of the group.
//
// Usage: region_bench [--rounds N] [--batch N] [--race-rounds N] [--racers N]
//                     [--only attach|create|race] [--no-large] [--json FILE]
#include "harness.hpp"

#include <shmregion/shmregion.hpp>

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/managed_mapped_file.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <boost/interprocess/xsi_shared_memory.hpp>

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bip = boost::interprocess;
namespace fs = std::filesystem;
using benchutil::GiB;
using benchutil::KiB;

namespace {

struct Settings {
    int rounds = 31;       // attach and create: rounds of the interleaved harness
    int batch = 200;       // operations per method per round
    int race_rounds = 31;  // the create race: rounds (one new name each)
    int racers = 16;
    bool large = true;     // also attach + detach of 1 GiB regions
    std::string only;      // attach, create, race or "" for all
    std::string json;
};

fs::path g_home;                       // the benchmark's home (removed at exit)
std::vector<std::string> g_segments;   // Boost POSIX segments to remove at exit
std::vector<int> g_sysv;               // System V segments to remove at exit
pid_t g_parent = 0;

void cleanup() noexcept {
    if (::getpid() != g_parent) return;
    for (const auto& s : g_segments) bip::shared_memory_object::remove(s.c_str());
    for (int id : g_sysv) ::shmctl(id, IPC_RMID, nullptr);
    std::error_code ec;
    if (!g_home.empty()) {
        for (const auto& e : fs::directory_iterator(g_home, ec)) {
            if (e.path().extension() == ".region")
                shmregion::unlink(g_home, e.path().stem().string(), shmregion::Force::yes, ec);
        }
        fs::remove_all(g_home, ec);
    }
}

using benchutil::die;  // cleanup() runs there and on SIGINT, SIGTERM, SIGHUP (main)

void check(bool ok, const char* what) {
    if (!ok) die(std::string(what) + ": " + std::strerror(errno));
}

shmregion::Options options(shmregion::Backing b, const std::string& name, std::uint64_t size) {
    shmregion::Options o;
    o.home = g_home;
    o.name = name;
    o.backing = b;
    o.size = size;
    return o;
}

const char* backing_name(shmregion::Backing b) { return shmregion::to_string(b).data(); }

/// The raw methods' mapping: map `bytes` of fd shared, write its first byte if `touch` (a
/// creation's first write), unmap, close.
void map_unmap_close(int fd, std::size_t bytes, bool touch) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (touch) static_cast<volatile char*>(p)[0] = 1;
    ::munmap(p, bytes);
    ::close(fd);
}

void report(bench::Report& out, const std::string& group, const std::vector<bench::Result>& rs,
            const std::string& baseline) {
    std::printf("\n%s\n", group.c_str());
    bench::print(rs, baseline);
    out.add(group, rs, baseline);
}

// ---- 1. attach + detach ----------------------------------------------------------------------

/// The system calls an attach + detach of an existing region makes while another attach
/// keeps it in use (docs/performance.md, "System calls per attach + detach"), made directly:
/// no validation, no header logic, one write to the first page (the header's lock and slot).
struct SameCalls {
    shmregion::Backing backing;
    std::string locator;  // <home>/<name>.region
    std::string segment;  // POSIX segment name ("/shmregion...."); empty otherwise
    int sysv_id = -1;
    std::size_t bytes = 0;  // the mapping (header + data)

    void operator()() const {
        int lf = ::open(locator.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        struct stat st {};
        ::fstat(lf, &st);
        char buf[1024];
        ::pread(lf, buf, 256, 0);  // the locator, or the file region's first bytes
        (void)::geteuid();
        struct flock fl {};
        fl.l_whence = SEEK_SET;
        fl.l_len = 1;
        fl.l_start = 8;
        fl.l_type = F_WRLCK;
        (void)::fcntl(lf, F_OFD_SETLK, &fl);  // "alone?": fails, another attach holds its share
        void* p = nullptr;
        int sf = -1;
        if (backing == shmregion::Backing::posix) {
            sf = ::shm_open(segment.c_str() + 1, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
            ::pread(sf, buf, sizeof buf, 0);
            ::fstat(sf, &st);
            p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, sf, 0);
        } else if (backing == shmregion::Backing::file) {
            ::pread(lf, buf, sizeof buf, 0);  // the header
            ::fstat(lf, &st);
            sf = ::open(locator.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);  // the unlocked description
            ::fstat(sf, &st);
            p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, sf, 0);
        } else {
            struct shmid_ds ds {};
            ::shmctl(sysv_id, IPC_STAT, &ds);
            p = ::shmat(sysv_id, nullptr, 0);
            std::memcpy(buf, p, sizeof buf);
        }
        fl.l_type = F_RDLCK;
        (void)::fcntl(lf, F_OFD_SETLK, &fl);  // the presence share
        ::stat(locator.c_str(), &st);          // still named?
        fl.l_start = 1024;
        fl.l_type = F_WRLCK;
        (void)::fcntl(lf, F_OFD_GETLK, &fl);  // the other attacher alive?
        fl.l_start = 1088;
        fl.l_type = F_WRLCK;
        (void)::fcntl(lf, F_OFD_SETLK, &fl);  // our slot's liveness lock
        static_cast<volatile char*>(p)[64] = 1;  // the header page, faulted in
        fl.l_type = F_UNLCK;
        (void)::fcntl(lf, F_OFD_SETLK, &fl);
        fl.l_start = 8;
        (void)::fcntl(lf, F_OFD_SETLK, &fl);
        if (backing == shmregion::Backing::sysv) ::shmdt(p);
        else ::munmap(p, bytes);
        if (sf >= 0) ::close(sf);
        ::close(lf);
    }
};

void bench_attach(const Settings& s, std::uint64_t size, bench::Report& out) {
    using shmregion::Backing;
    const std::string label = benchutil::size_label(size);
    const std::string tag = size >= GiB ? "g" : "k";
    for (Backing b : {Backing::posix, Backing::file, Backing::sysv}) {
        const std::string name = std::string("a") + tag + backing_name(b);
        shmregion::Region keep = shmregion::Region::attach(options(b, name, size));  // another attacher
        const auto info = shmregion::inspect(g_home, name);
        const std::size_t bytes = info.region_size;
        const std::string file = (g_home / (name + ".region")).string();
        SameCalls same{b, file, info.segment, info.sysv_id, bytes};
        std::vector<bench::Method> m;
        std::string raw;
        int boost_sysv = -1;  // removed with the group: a later file may get this inode, and its key
        // Boost's objects: its own segment or file of the same size.
        const std::string bname = "shmregion-bench-" + std::to_string(::getpid()) + "-" + name;
        const std::string bfile = (g_home / (name + ".boost")).string();
        const std::string bmanaged = bname + "-managed";
        const std::string bmfile = (g_home / (name + ".boost-managed")).string();
        if (b == Backing::posix) {
            raw = "raw posix: shm_open+mmap+munmap+close";
            const std::string seg = info.segment;
            m.push_back({raw, [seg, bytes] {
                             map_unmap_close(::shm_open(seg.c_str() + 1, O_RDWR, 0), bytes, false);
                         }, {}});
            {
                bip::shared_memory_object o(bip::create_only, bname.c_str(), bip::read_write);
                g_segments.push_back(bname);
                o.truncate(static_cast<bip::offset_t>(bytes));
            }
            g_segments.push_back(bmanaged);
            { bip::managed_shared_memory ms(bip::create_only, bmanaged.c_str(), bytes); }
            m.push_back({"boost: shared_memory_object+mapped_region", [bname] {
                             bip::shared_memory_object o(bip::open_only, bname.c_str(), bip::read_write);
                             bip::mapped_region r(o, bip::read_write);
                         }, {}});
            m.push_back({"boost: managed_shared_memory open_only", [bmanaged] {
                             bip::managed_shared_memory ms(bip::open_only, bmanaged.c_str());
                         }, {}});
        } else if (b == Backing::file) {
            raw = "raw file: open+mmap+munmap+close";
            m.push_back({raw, [file, bytes] {
                             map_unmap_close(::open(file.c_str(), O_RDWR | O_CLOEXEC), bytes, false);
                         }, {}});
            {
                int fd = ::open(bfile.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                check(fd >= 0 && ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) == 0, "creating Boost's file");
                ::close(fd);
            }
            { bip::managed_mapped_file mf(bip::create_only, bmfile.c_str(), bytes); }
            m.push_back({"boost: file_mapping+mapped_region", [bfile] {
                             bip::file_mapping f(bfile.c_str(), bip::read_write);
                             bip::mapped_region r(f, bip::read_write);
                         }, {}});
            m.push_back({"boost: managed_mapped_file open_only", [bmfile] {
                             bip::managed_mapped_file mf(bip::open_only, bmfile.c_str());
                         }, {}});
        } else {
            raw = "raw sysv: shmat+shmdt";
            const int id = info.sysv_id;
            m.push_back({raw, [id] {
                             void* p = ::shmat(id, nullptr, 0);
                             ::shmdt(p);
                         }, {}});
            // Boost opens System V memory by key: one made from the region's file, as ftok() does.
            const bip::xsi_key key(file.c_str(), 'B');
            {
                bip::xsi_shared_memory x(bip::create_only, key, bytes);
                boost_sysv = x.get_shmid();
                g_sysv.push_back(boost_sysv);
            }
            m.push_back({"boost: xsi_shared_memory+mapped_region", [key] {
                             bip::xsi_shared_memory x(bip::open_only, key);
                             bip::mapped_region r(x, bip::read_write);
                         }, {}});
        }
        m.push_back({"raw, shmregion's system calls", same, {}});
        const shmregion::Options o = options(b, name, size);
        m.push_back({std::string("shmregion ") + backing_name(b) + ": attach+detach",
                     [o] { shmregion::Region::attach(o).detach(); }, {}});
        auto rs = bench::run_interleaved(m, s.rounds, s.batch);
        report(out, std::string("attach+detach, ") + backing_name(b) + ", " + label, rs, raw);
        keep.detach();
        shmregion::unlink(g_home, name, shmregion::Force::yes);
        std::error_code ec;
        fs::remove(bfile, ec);
        fs::remove(bmfile, ec);
        bip::shared_memory_object::remove(bname.c_str());
        bip::shared_memory_object::remove(bmanaged.c_str());
        if (boost_sysv >= 0) {
            ::shmctl(boost_sysv, IPC_RMID, nullptr);
            std::erase(g_sysv, boost_sysv);
        }
    }
}

// ---- 2. create + unlink ------------------------------------------------------------------------

void bench_create(const Settings& s, bench::Report& out) {
    using shmregion::Backing;
    const std::uint64_t size = 64 * KiB;
    for (Backing b : {Backing::posix, Backing::file, Backing::sysv}) {
        const std::string bn = backing_name(b);
        std::vector<bench::Method> m;
        std::string raw;
        auto n = std::make_shared<std::uint64_t>(0);  // a fresh name for every operation
        const std::string prefix = "shmregion-bench-" + std::to_string(::getpid()) + "-c" + bn + "-";
        const std::size_t bytes = size + 64 * KiB;  // about what a region of `size` maps
        if (b == Backing::posix) {
            raw = "raw posix: shm_open(O_EXCL)+posix_fallocate+mmap+munmap+close+shm_unlink";
            m.push_back({raw, [n, prefix, bytes] {
                             const std::string nm = "/" + prefix + std::to_string((*n)++);
                             int fd = ::shm_open(nm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                             check(fd >= 0, "shm_open");
                             check(::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) == 0, "posix_fallocate");
                             map_unmap_close(fd, bytes, true);
                             ::shm_unlink(nm.c_str());
                         }, {}});
            m.push_back({"boost: shared_memory_object create+truncate+mapped_region+remove", [n, prefix, bytes] {
                             const std::string nm = prefix + std::to_string((*n)++);
                             {
                                 bip::shared_memory_object o(bip::create_only, nm.c_str(), bip::read_write);
                                 o.truncate(static_cast<bip::offset_t>(bytes));
                                 bip::mapped_region r(o, bip::read_write);
                                 static_cast<volatile char*>(r.get_address())[0] = 1;
                             }
                             bip::shared_memory_object::remove(nm.c_str());
                         }, {}});
            m.push_back({"boost: managed_shared_memory create_only+remove", [n, prefix, bytes] {
                             const std::string nm = prefix + std::to_string((*n)++);
                             { bip::managed_shared_memory ms(bip::create_only, nm.c_str(), bytes); }
                             bip::shared_memory_object::remove(nm.c_str());
                         }, {}});
        } else if (b == Backing::file) {
            raw = "raw file: open(O_EXCL)+posix_fallocate+mmap+munmap+close+unlink";
            m.push_back({raw, [n, bytes] {
                             const std::string nm = (g_home / ("raw-" + std::to_string((*n)++))).string();
                             int fd = ::open(nm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                             check(fd >= 0, "open");
                             check(::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) == 0, "posix_fallocate");
                             map_unmap_close(fd, bytes, true);
                             ::unlink(nm.c_str());
                         }, {}});
            m.push_back({"boost: managed_mapped_file create_only+remove", [n, bytes] {
                             const std::string nm = (g_home / ("boost-" + std::to_string((*n)++))).string();
                             { bip::managed_mapped_file mf(bip::create_only, nm.c_str(), bytes); }
                             ::unlink(nm.c_str());
                         }, {}});
        } else {
            raw = "raw sysv: shmget(IPC_CREAT|IPC_EXCL)+shmat+shmdt+IPC_RMID";
            m.push_back({raw, [bytes] {
                             int id = ::shmget(IPC_PRIVATE, bytes, IPC_CREAT | IPC_EXCL | 0600);
                             check(id >= 0, "shmget");
                             void* p = ::shmat(id, nullptr, 0);
                             static_cast<volatile char*>(p)[0] = 1;
                             ::shmdt(p);
                             ::shmctl(id, IPC_RMID, nullptr);
                         }, {}});
            const std::string keyfile = (g_home / "boost-sysv-key").string();
            ::close(::open(keyfile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
            m.push_back({"boost: xsi_shared_memory create_only+mapped_region+remove", [keyfile, bytes] {
                             const bip::xsi_key key(keyfile.c_str(), 'C');
                             bip::xsi_shared_memory x(bip::create_only, key, bytes);
                             {
                                 bip::mapped_region r(x, bip::read_write);
                                 static_cast<volatile char*>(r.get_address())[0] = 1;
                             }
                             bip::xsi_shared_memory::remove(x.get_shmid());
                         }, {}});
        }
        m.push_back({"shmregion " + bn + ": attach(create_only)+detach, removed at the last detach", [n, b, size] {
                         shmregion::Options o = options(b, "c" + std::to_string((*n)++), size);
                         o.mode = shmregion::OpenMode::create_only;
                         o.remove_on_last_detach = true;
                         shmregion::Region::attach(o).detach();
                     }, {}});
        const int batch = std::max(1, s.batch / 4);  // creation is slower: fewer per round
        auto rs = bench::run_interleaved(m, s.rounds, batch);
        report(out, "create+unlink, " + bn + ", 64 KiB", rs, raw);
    }
}

// ---- 3. the create race --------------------------------------------------------------------------

/// What the parent and its racers share (an anonymous shared mapping made before fork()).
struct RaceBoard {
    std::atomic<std::uint32_t> go;        // the round the racers may start (futex word)
    std::atomic<std::uint32_t> attached;  // racers attached this round (futex word)
    std::atomic<std::uint32_t> left;      // racers detached this round (futex word)
    std::atomic<std::int64_t> start_ns;   // when the parent let them go
    std::atomic<std::int64_t> end_ns;     // when the last racer was attached
    std::atomic<std::uint32_t> method;    // what the racers do this round (0 shmregion, 1 Boost)
    std::atomic<std::uint32_t> failed;
    char error[256];
};

std::int64_t now_ns() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void futex_wait(std::atomic<std::uint32_t>& w, std::uint32_t seen) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAIT, seen, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<std::uint32_t>& w) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}
/// Waits until w reaches `target` (w only grows within a round).
void wait_for(std::atomic<std::uint32_t>& w, std::uint32_t target) {
    for (std::uint32_t v = w.load(); v < target; v = w.load()) futex_wait(w, v);
}

std::string race_name(std::uint32_t round) { return "race" + std::to_string(round); }
std::string boost_race_name(std::uint32_t round) {
    return "shmregion-bench-" + std::to_string(g_parent) + "-race" + std::to_string(round);
}

constexpr std::uint64_t kRaceSize = 64 * KiB;

[[noreturn]] void racer(RaceBoard& board, int racers, int rounds) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
        // Warm: this process's caches (its start time, namespace ids) filled before any race.
        shmregion::Region::attach(options(shmregion::Backing::posix, "warm", kRaceSize)).detach();
        for (std::uint32_t round = 1; round <= static_cast<std::uint32_t>(rounds) * 2; ++round) {
            wait_for(board.go, round);
            const bool boost = board.method.load() == 1;
            shmregion::Region r;
            std::unique_ptr<bip::managed_shared_memory> ms;
            if (boost) {
                ms = std::make_unique<bip::managed_shared_memory>(bip::open_or_create, boost_race_name(round).c_str(),
                                                                  kRaceSize);
            } else {
                r = shmregion::Region::attach(options(shmregion::Backing::posix, race_name(round), kRaceSize));
            }
            if (board.attached.fetch_add(1) + 1 == static_cast<std::uint32_t>(racers)) {
                board.end_ns.store(now_ns());
                futex_wake_all(board.attached);
            }
            wait_for(board.attached, racers);  // all 16 attached at once, then leave
            if (!boost) r.detach();
            ms.reset();
            board.left.fetch_add(1);
            futex_wake_all(board.left);
        }
    } catch (const std::exception& e) {
        if (board.failed.exchange(1) == 0) std::snprintf(board.error, sizeof board.error, "%s", e.what());
        board.attached.fetch_add(1000);  // wakes everyone: the parent sees `failed`
        futex_wake_all(board.attached);
        board.left.fetch_add(1000);
        futex_wake_all(board.left);
        std::_Exit(1);
    }
    std::_Exit(0);
}

void bench_race(const Settings& s, bench::Report& out) {
    auto* board = static_cast<RaceBoard*>(
        ::mmap(nullptr, sizeof(RaceBoard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    check(board != MAP_FAILED, "mmap of the race board");
    new (board) RaceBoard{};
    std::vector<pid_t> kids;
    for (int i = 0; i < s.racers; ++i) {
        const pid_t pid = ::fork();
        check(pid >= 0, "fork");
        if (pid == 0) racer(*board, s.racers, s.race_rounds);
        kids.push_back(pid);
    }
    shmregion::Region::attach(options(shmregion::Backing::posix, "warm", kRaceSize)).detach();
    std::vector<double> race, boost_race, seq, boost_seq;
    std::uint32_t round = 0;
    auto run_race = [&](std::uint32_t method) {
        ++round;
        board->method.store(method);
        board->attached.store(0);
        board->left.store(0);
        board->start_ns.store(now_ns());
        board->go.store(round);
        futex_wake_all(board->go);
        wait_for(board->left, s.racers);
        if (board->failed.load()) die(std::string("a racer failed: ") + board->error);
        const double ns = static_cast<double>(board->end_ns.load() - board->start_ns.load());
        if (method == 1) bip::shared_memory_object::remove(boost_race_name(round).c_str());
        else shmregion::unlink(g_home, race_name(round), shmregion::Force::yes);
        return ns;
    };
    auto run_sequential = [&](bool boost) {
        const std::string name = "seq" + std::to_string(round);
        const std::string bname = boost_race_name(round) + "-seq";
        std::vector<shmregion::Region> rs;
        std::vector<std::unique_ptr<bip::managed_shared_memory>> ms;
        rs.reserve(s.racers);
        ms.reserve(s.racers);
        const std::int64_t t0 = now_ns();
        for (int i = 0; i < s.racers; ++i) {
            if (boost)
                ms.push_back(std::make_unique<bip::managed_shared_memory>(bip::open_or_create, bname.c_str(), kRaceSize));
            else
                rs.push_back(shmregion::Region::attach(options(shmregion::Backing::posix, name, kRaceSize)));
        }
        const double ns = static_cast<double>(now_ns() - t0);
        for (auto& r : rs) r.detach();
        ms.clear();
        if (boost) bip::shared_memory_object::remove(bname.c_str());
        else shmregion::unlink(g_home, name, shmregion::Force::yes);
        return ns;
    };
    for (int r = 0; r < s.race_rounds; ++r) {  // interleaved, the order turned every round
        if (r % 2 == 0) {
            race.push_back(run_race(0));
            seq.push_back(run_sequential(false));
            boost_race.push_back(run_race(1));
            boost_seq.push_back(run_sequential(true));
        } else {
            boost_seq.push_back(run_sequential(true));
            boost_race.push_back(run_race(1));
            seq.push_back(run_sequential(false));
            race.push_back(run_race(0));
        }
    }
    for (pid_t k : kids) {
        int st = 0;
        ::waitpid(k, &st, 0);
    }
    ::munmap(board, sizeof(RaceBoard));
    const std::string n = std::to_string(s.racers);
    const std::string base = "raw: shmregion, " + n + " sequential attaches of a new name in one process";
    std::vector<bench::Result> rs{
        bench::summarize(base, seq),
        bench::summarize("shmregion: " + n + " processes race to attach a new name, until all are attached", race),
        bench::summarize("boost: managed_shared_memory open_or_create, " + n + " sequential", boost_seq),
        bench::summarize("boost: managed_shared_memory open_or_create, " + n + " processes racing", boost_race),
    };
    const std::string group = "create race, posix, " + n + " attachers of a new 64 KiB region";
    std::printf("\n%s (%d rounds; the baseline is shmregion's own sequential attaches)\n", group.c_str(),
                s.race_rounds);
    bench::print(rs, base);
    // The baseline is shmregion itself, not raw calls; its name starts "raw:" so that its
    // role (bench::role_by_name) makes it the group's 1 for the plot.
    out.add(group, rs, base);
}

void usage(const char* argv0) {
    std::printf(
        "usage: %s [options]\n"
        "  --rounds N       rounds of the interleaved attach and create runs (31)\n"
        "  --batch N        operations per method and round (200; create: a quarter)\n"
        "  --race-rounds N  rounds of the create race (31)\n"
        "  --racers N       processes in the create race (16)\n"
        "  --only WHAT      attach, create or race\n"
        "  --no-large       skip the 1 GiB attach + detach\n"
        "  --json FILE      also write every result to FILE (bench/harness.hpp's Report)\n",
        argv0);
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    for (benchutil::Args args(argc, argv, usage); args.next();) {
        const std::string_view a = args.option();
        if (a == "--rounds") s.rounds = args.positive();
        else if (a == "--batch") s.batch = args.positive();
        else if (a == "--race-rounds") s.race_rounds = args.positive();
        else if (a == "--racers") s.racers = args.positive();
        else if (a == "--only") s.only = args.value();
        else if (a == "--no-large") s.large = false;
        else if (a == "--json") s.json = args.value();
        else args.help_or_unknown();
    }
    if (!s.only.empty() && s.only != "attach" && s.only != "create" && s.only != "race") {
        usage(argv[0]);
        return 2;
    }
    g_parent = ::getpid();
    const char* tmpdir = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/shmregion-regionbench.XXXXXX";
    check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    g_home = tmpl;
    benchutil::on_exit_cleanup("region_bench", cleanup);

    bench::Report out("region_bench");
    std::printf("region_bench: home %s (%s), %d rounds x %d ops, interleaved; load average %s\n", g_home.c_str(),
                benchutil::fs_type(g_home).c_str(), s.rounds, s.batch, benchutil::load_average().c_str());
    try {
        if (s.only.empty() || s.only == "attach") {
            bench_attach(s, 64 * KiB, out);
            if (s.large) bench_attach(s, GiB, out);
        }
        if (s.only.empty() || s.only == "create") bench_create(s, out);
        if (s.only.empty() || s.only == "race") bench_race(s, out);
    } catch (const std::exception& e) {
        die(e.what());
    }
    std::printf("\nload average at end: %s\n", benchutil::load_average().c_str());
    cleanup();
    return out.write(s.json) ? 0 : 1;
}
