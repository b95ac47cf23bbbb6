// SQLite through the shmregion VFS against SQLite's own "unix" VFS, in one run (issue 13;
// docs/performance.md, "SQLite through the shmregion VFS (issue 13)"): commits per second of
// the same workload through both, the goal being at least 0.95x of unix.
//
// The workload: one database in WAL mode (a fresh one for every round), P writer processes
// (fork()ed, one connection each) committing small transactions, each one autocommit INSERT of
// a row with a 100-byte blob, under synchronous=NORMAL (and FULL: an fsync per commit), with
// P = 1, 2 and 4; optionally R reader processes (point reads by rowid, and a count(*) every
// 64th read) running while the writers commit, as fast as they can or paced at a fixed rate
// (the same read load for both VFSes: readers flat out read more through the faster VFS, and
// more readers in the WAL keep SQLite's checkpoints from finishing, which costs the writer). Every connection has a busy handler that waits
// as busy_timeout(10000) does (1, 2, 5, 10, ... ms) and counts its waits. A round lasts a fixed
// time from the start signal (the connections are opened, and the WAL index mapped, before);
// the commits that ended within it count (with --commits N instead: each writer makes its
// share of N commits, and the round ends with the last writer's last commit). The two VFSes run
// in interleaved rounds (unix, shmregion, then shmregion, unix, ...) per configuration; the
// report gives commits/s, median and min..max over the rounds, the ratio shmregion / unix (of
// the medians, and the median of the per-round-pair ratios), the busy handler's waits per 1000
// commits, the writers' fairness (the fewest commits of a writer over the most), and per
// commit the writers' CPU time and run-queue wait, the WAL's mean length and the automatic
// checkpoints (SQLite's default hook, replaced by the same one counting) per 1000 commits.
//
// Checked in passing, every round: the rows equal the commits made, per writer and in all
// (count(*), max(seq)); PRAGMA quick_check is "ok"; no reader saw count(*) go backwards; and
// after the last connection closed, the database's directory holds the database file alone
// (no -wal, no -shm file, no region locator left). Any failure fails the run (exit status 1).
//
// Usage: sqlite_bench [--rounds N] [--ms MS] [--full-ms MS] [--commits N] [--writers 1,2,4]
//                     [--readers 0,2,2@50000] [--sync normal,full] [--only unix|shmregion]
//                     [--row-bytes N] [--dir DIR] [--vfs-lib PATH] [--verbose]
#include "bench_util.hpp"

#include <shmregion/shmregion.hpp>

#include <sqlite3.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#ifndef SHMREGION_VFS_PATH
#error "SHMREGION_VFS_PATH (the path of libshmregionvfs.so) must be defined"
#endif

namespace fs = std::filesystem;

namespace {

// ---- settings, cleanup ---------------------------------------------------------------------

struct Settings {
    int rounds = 11;
    int ms = 400;              // a round with synchronous=NORMAL
    int full_ms = 800;         // a round with synchronous=FULL
    int commits = 0;           // instead: commits a round, all writers together
    std::vector<int> writers{1, 2, 4};
    // Reader variants, with synchronous=NORMAL (FULL runs without readers): {processes, reads/s
    // each, 0: as fast as they can}.
    std::vector<std::pair<int, int>> readers{{0, 0}, {2, 0}, {2, 50000}};
    std::vector<std::string> syncs{"normal", "full"};
    std::string only;          // one VFS alone (for strace / perf)
    int row_bytes = 100;
    std::string dir;           // where the databases go (default: a fresh directory in $TMPDIR)
    std::string vfs_lib = SHMREGION_VFS_PATH;
    bool verbose = false;
};

constexpr int kMaxProcs = 32;
constexpr const char* kDbName = "bench.db";
constexpr const char* kRegion = "bench.db-shm";  // the VFS's region for bench.db
constexpr int kBusyTimeoutMs = 10000;

fs::path g_top;       // the run's directory: one sub-directory per round
pid_t g_parent = 0;

/// Removes every round's region (forced: its holders may be dead) and the run's directory;
/// safe to call twice and from a signal handler's best effort.
void cleanup() noexcept {
    if (g_top.empty() || ::getpid() != g_parent) return;
    std::error_code ec;
    for (fs::directory_iterator it(g_top, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code ec2;
        if (it->is_directory(ec2)) shmregion::unlink(it->path(), kRegion, shmregion::Force::yes, ec2);
    }
    fs::remove_all(g_top, ec);
    g_top.clear();
}

using benchutil::die;  // cleanup() runs there and on SIGINT, SIGTERM, SIGHUP (main)

std::int64_t mono_ns() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

/// The time this process has waited, runnable, for a CPU (/proc/self/schedstat's second field).
std::int64_t run_delay_ns() {
    std::FILE* f = std::fopen("/proc/self/schedstat", "r");
    long long on_cpu = 0, delay = 0;
    if (f) {
        if (std::fscanf(f, "%lld %lld", &on_cpu, &delay) != 2) delay = 0;
        std::fclose(f);
    }
    return delay;
}

std::int64_t cpu_ns() {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// ---- the shared control block (an anonymous shared mapping) ------------------------------

struct Proc {
    std::atomic<std::int64_t> ops;          // commits (writer) or reads (reader) that ended in time
    std::atomic<std::int64_t> made;         // writer: all commits made (rows)
    std::atomic<std::int64_t> busy_waits;   // the busy handler's waits
    std::atomic<std::int64_t> busy_errors;  // SQLITE_BUSY returned all the same (retried)
    std::atomic<std::int64_t> end_ns;       // the last commit's end (CLOCK_MONOTONIC)
    std::atomic<std::int64_t> cpu_ns;       // CPU time from the start signal to the end
    std::atomic<std::int64_t> backwards;    // reader: count(*) smaller than before
    std::atomic<std::int64_t> run_delay_ns; // waiting for a CPU, runnable, from the start to the end
    std::atomic<std::int64_t> wal_frames;   // writer: the WAL's frames after each commit, summed
    std::atomic<std::int64_t> ckpt_runs;    // writer: automatic checkpoints run (WAL >= 1000 frames)
    std::atomic<std::int64_t> ckpt_partial; // ... that could not copy the whole WAL (a reader's mark)
};

struct Ctl {
    std::atomic<std::int64_t> deadline_ns;  // the round's end (CLOCK_MONOTONIC); max with --commits
    std::atomic<int> ready;
    std::atomic<int> writers_done;
    std::atomic<int> failed;
    Proc p[kMaxProcs];
};

Ctl* C = nullptr;

// ---- SQLite helpers ------------------------------------------------------------------------

enum class Vfs { unix_vfs, shmregion };
const char* vfs_name(Vfs v) { return v == Vfs::unix_vfs ? "unix" : "shmregion"; }

struct SqlError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check(sqlite3* db, int rc, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw SqlError(std::string(what) + ": " + sqlite3_errstr(rc) + " (" + (db ? sqlite3_errmsg(db) : "") + ")");
}

void exec(sqlite3* db, const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string m = std::string(sql) + ": " + (err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        throw SqlError(m);
    }
}

/// The busy handler of busy_timeout(kBusyTimeoutMs) (SQLite's sqliteDefaultBusyCallback: 1, 2,
/// 5, 10, 15, 20, 25, 25, 25, 50, 50, 100, 100, ... ms), counting its waits in `arg`.
extern "C" int busy_handler(void* arg, int count) {
    static const int delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    static const int totals[] = {0, 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228};
    constexpr int n = static_cast<int>(sizeof delays / sizeof delays[0]);
    int delay, prior;
    if (count < n) {
        delay = delays[count];
        prior = totals[count];
    } else {
        delay = delays[n - 1];
        prior = totals[n - 1] + delay * (count - (n - 1));
    }
    if (mono_ns() >= C->deadline_ns.load(std::memory_order_relaxed)) return 0;  // the round is over
    if (prior + delay > kBusyTimeoutMs) {
        delay = kBusyTimeoutMs - prior;
        if (delay <= 0) return 0;
    }
    static_cast<std::atomic<std::int64_t>*>(arg)->fetch_add(1, std::memory_order_relaxed);
    sqlite3_sleep(delay);
    return 1;
}

/// SQLite's automatic checkpoint (sqlite3WalDefaultHook with the default 1000 frames: a
/// PASSIVE checkpoint after a commit that leaves the WAL at 1000 frames or more), counting
/// the WAL's length, the checkpoints and those readers kept from copying the whole WAL.
extern "C" int wal_hook(void* arg, sqlite3* db, const char* name, int frames) {
    Proc& me = *static_cast<Proc*>(arg);
    me.wal_frames.fetch_add(frames, std::memory_order_relaxed);
    if (frames >= 1000) {
        int log = 0, ckpt = 0;
        me.ckpt_runs.fetch_add(1, std::memory_order_relaxed);
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt) != SQLITE_OK || ckpt < log)
            me.ckpt_partial.fetch_add(1, std::memory_order_relaxed);
    }
    return SQLITE_OK;
}

struct Db {
    sqlite3* db = nullptr;
    Db(const fs::path& path, Vfs vfs, std::atomic<std::int64_t>* busy_counter) {
        const std::string uri = "file:" + path.string() + "?vfs=" + vfs_name(vfs);
        const int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                       nullptr);
        if (rc != SQLITE_OK) {
            std::string m = "open " + uri + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
            sqlite3_close(db);
            db = nullptr;
            throw SqlError(m);
        }
        if (busy_counter) sqlite3_busy_handler(db, busy_handler, busy_counter);
        else sqlite3_busy_timeout(db, kBusyTimeoutMs);
    }
    ~Db() {
        if (db) sqlite3_close(db);
    }
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    void close() {
        const int rc = sqlite3_close(db);
        if (rc != SQLITE_OK) throw SqlError(std::string("close: ") + sqlite3_errstr(rc));
        db = nullptr;
    }
};

struct Stmt {
    sqlite3_stmt* s = nullptr;
    sqlite3* db;
    Stmt(sqlite3* d, const char* sql) : db(d) { check(db, sqlite3_prepare_v2(db, sql, -1, &s, nullptr), sql); }
    ~Stmt() { sqlite3_finalize(s); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
};

std::int64_t query_int(sqlite3* db, const char* sql) {
    Stmt st(db, sql);
    const int rc = sqlite3_step(st.s);
    if (rc != SQLITE_ROW) check(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql);
    return sqlite3_column_int64(st.s, 0);
}

void load_extension(const std::string& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) die("open :memory:");
    sqlite3_enable_load_extension(db, 1);
    char* err = nullptr;
    if (sqlite3_load_extension(db, path.c_str(), nullptr, &err) != SQLITE_OK) {
        std::string m = "load_extension " + path + ": " + (err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        die(m);
    }
    sqlite3_close(db);  // the VFS stays registered (SQLITE_OK_LOAD_PERMANENTLY)
    if (!sqlite3_vfs_find("shmregion")) die("the extension registered no VFS named shmregion");
}

// ---- one round -----------------------------------------------------------------------------

struct Config {
    std::string sync;  // "normal" or "full"
    int writers;
    int readers;
    int read_rate;     // reads/s per reader, 0: flat out
    int ms;            // a round's time, or
    int commits;       // a round's commits, all writers together (if > 0)
};

struct RoundResult {
    double commits_per_s = 0;
    double reads_per_s = 0;
    double busy_waits_per_kcommit = 0;
    double fairness = 1;   // the fewest commits of a writer / the most
    double writer_cpu_us = 0;  // the writers' CPU time per commit (user + system), µs
    double writer_wait_us = 0; // the writers' time runnable but off the CPUs per commit, µs
    double wal_frames = 0;     // the WAL's mean length after a commit, frames
    double ckpt_per_k = 0;     // automatic checkpoints per 1000 commits
    double partial_per_k = 0;  // ... of which partial
    double cpu_share = 0;  // CPU time of all workers / (elapsed x CPUs)
};

/// Forks a worker that dies with the parent and leaves with body()'s status.
template <class Body>
pid_t spawn(Body body) {
    return benchutil::spawn_worker(C->failed, body);
}

/// Waits for the start signal: the pipe's write end closed by the parent.
void wait_for_go(int go_fd) {
    char c;
    while (::read(go_fd, &c, 1) < 0 && errno == EINTR) {
    }
    ::close(go_fd);
}

int writer_main(int w, const Config& cfg, Vfs vfs, const fs::path& db_path, int go_fd, int row_bytes) {
    Proc& me = C->p[w];
    ::prctl(PR_SET_NAME, "sqlb-writer");  // for perf report --comm, ps
    const std::int64_t n = cfg.commits > 0 ? cfg.commits / cfg.writers : INT64_MAX;
    Db db(db_path, vfs, &me.busy_waits);
    sqlite3_wal_hook(db.db, wal_hook, &me);
    exec(db.db, cfg.sync == "full" ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    query_int(db.db, "SELECT count(*) FROM t");  // maps the WAL index before the start
    Stmt ins(db.db, "INSERT INTO t(w, seq, v) VALUES(?1, ?2, ?3)");
    std::vector<unsigned char> row(static_cast<std::size_t>(row_bytes));
    for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<unsigned char>(i * 31u + static_cast<unsigned>(w));
    C->ready.fetch_add(1);
    wait_for_go(go_fd);
    const std::int64_t c0 = cpu_ns(), d0 = run_delay_ns();
    const std::int64_t deadline = C->deadline_ns;
    std::int64_t made = 0, in_time = 0, end = mono_ns();
    while (made < n && end < deadline) {
        const std::int64_t seq = made + 1;
        sqlite3_bind_int(ins.s, 1, w);
        sqlite3_bind_int64(ins.s, 2, seq);
        std::memcpy(row.data(), &seq, sizeof seq);
        sqlite3_bind_blob(ins.s, 3, row.data(), row_bytes, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(ins.s)) == SQLITE_BUSY) {  // the busy handler gave up
            sqlite3_reset(ins.s);
            if (mono_ns() >= deadline) break;  // the round is over: not committed
            me.busy_errors.fetch_add(1, std::memory_order_relaxed);
        }
        end = mono_ns();
        if (rc == SQLITE_BUSY) break;
        if (rc != SQLITE_DONE) check(db.db, rc, "INSERT");
        sqlite3_reset(ins.s);
        made = seq;
        if (end <= deadline) in_time = seq;
    }
    me.made = made;
    me.ops = in_time;
    me.end_ns = end;
    me.cpu_ns = cpu_ns() - c0;
    me.run_delay_ns = run_delay_ns() - d0;
    C->writers_done.fetch_add(1);
    return 0;
}

int reader_main(int r, const Config& cfg, Vfs vfs, const fs::path& db_path, int go_fd) {
    Proc& me = C->p[kMaxProcs / 2 + r];
    ::prctl(PR_SET_NAME, "sqlb-reader");
    Db db(db_path, vfs, &me.busy_waits);
    Stmt point(db.db, "SELECT length(v) FROM t WHERE id = ?1");
    Stmt count(db.db, "SELECT count(*) FROM t");
    std::int64_t rows = query_int(db.db, "SELECT count(*) FROM t");
    std::mt19937_64 rng(static_cast<std::uint64_t>(r) * 7919u + 1);
    C->ready.fetch_add(1);
    wait_for_go(go_fd);
    const std::int64_t c0 = cpu_ns();
    std::int64_t reads = 0;
    const std::int64_t start = mono_ns();
    auto step_all = [&](sqlite3_stmt* s, const char* what) {
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_BUSY) {
            me.busy_errors.fetch_add(1, std::memory_order_relaxed);
            sqlite3_reset(s);
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) check(db.db, rc, what);
        const std::int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
        sqlite3_reset(s);
        return v;
    };
    const std::int64_t deadline = C->deadline_ns;
    while (C->writers_done.load(std::memory_order_relaxed) < cfg.writers && (reads % 64 != 0 || mono_ns() < deadline)) {
        if (reads % 64 == 0) {
            const std::int64_t now = step_all(count.s, "SELECT count(*)");
            if (now < rows) me.backwards.fetch_add(1);
            rows = std::max(rows, now);
        } else if (rows > 0) {
            sqlite3_bind_int64(point.s, 1, static_cast<sqlite3_int64>(rng() % static_cast<std::uint64_t>(rows)) + 1);
            step_all(point.s, "SELECT point");
        }
        ++reads;
        if (cfg.read_rate > 0 && reads % 16 == 0) {  // paced: sleep until the next read is due
            const std::int64_t due = start + reads * 1000000000 / cfg.read_rate;
            if (mono_ns() < due) {
                const timespec ts{static_cast<time_t>(due / 1000000000), static_cast<long>(due % 1000000000)};
                while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
                }
            }
        }
    }
    me.ops = reads;
    me.end_ns = mono_ns();
    me.cpu_ns = cpu_ns() - c0;
    return 0;
}


int g_round_no = 0;
int g_failures = 0;

void fail_check(const std::string& what) {
    std::fprintf(stderr, "sqlite_bench: CHECK FAILED: %s\n", what.c_str());
    ++g_failures;
}

RoundResult run_round(const Config& cfg, Vfs vfs, const Settings& s) {
    const fs::path dir = g_top / ("round-" + std::to_string(++g_round_no));
    fs::create_directory(dir);
    const fs::path db_path = dir / kDbName;
    {  // the schema; WAL mode is persistent in the file
        Db db(db_path, vfs, nullptr);
        exec(db.db, "PRAGMA journal_mode=WAL");
        exec(db.db, "CREATE TABLE t(id INTEGER PRIMARY KEY, w INTEGER NOT NULL, seq INTEGER NOT NULL, v BLOB NOT NULL)");
        db.close();  // no connection crosses a fork()
    }
    new (C) Ctl{};
    C->deadline_ns = INT64_MAX;
    int go[2];
    if (::pipe(go) != 0) die(std::string("pipe: ") + std::strerror(errno));
    std::vector<pid_t> writers, readers;
    for (int r = 0; r < cfg.readers; ++r)
        readers.push_back(spawn([&, r] {
            ::close(go[1]);
            return reader_main(r, cfg, vfs, db_path, go[0]);
        }));
    for (int w = 0; w < cfg.writers; ++w)
        writers.push_back(spawn([&, w] {
            ::close(go[1]);
            return writer_main(w, cfg, vfs, db_path, go[0], s.row_bytes);
        }));
    ::close(go[0]);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (C->ready.load() < cfg.writers + cfg.readers) {
        if (C->failed.load() || std::chrono::steady_clock::now() > give_up) {
            ::close(go[1]);
            die("workers did not start");
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const std::int64_t t0 = mono_ns();
    if (cfg.commits <= 0) C->deadline_ns = t0 + static_cast<std::int64_t>(cfg.ms) * 1000000;
    ::close(go[1]);  // go
    for (pid_t p : writers) benchutil::reap_worker(p);
    for (pid_t p : readers) benchutil::reap_worker(p);

    RoundResult res;
    std::int64_t end = t0, commits = 0, made = 0, busy = 0, cpu = 0, reads = 0, read_end = t0, wcpu = 0, wdelay = 0;
    std::int64_t frames = 0, ckpts = 0, partial = 0;
    std::int64_t fewest = INT64_MAX, most = 0;
    for (int w = 0; w < cfg.writers; ++w) {
        end = std::max(end, C->p[w].end_ns.load());
        commits += C->p[w].ops;
        made += C->p[w].made;
        fewest = std::min(fewest, C->p[w].ops.load());
        most = std::max(most, C->p[w].ops.load());
        busy += C->p[w].busy_waits + C->p[w].busy_errors;
        cpu += C->p[w].cpu_ns;
        wcpu += C->p[w].cpu_ns;
        wdelay += C->p[w].run_delay_ns;
        frames += C->p[w].wal_frames;
        ckpts += C->p[w].ckpt_runs;
        partial += C->p[w].ckpt_partial;
    }
    for (int r = 0; r < cfg.readers; ++r) {
        const Proc& p = C->p[kMaxProcs / 2 + r];
        reads += p.ops;
        read_end = std::max(read_end, p.end_ns.load());
        cpu += p.cpu_ns;
        if (p.backwards) fail_check("a reader saw count(*) go backwards");
    }
    if (cfg.commits <= 0) end = C->deadline_ns;
    const double secs = static_cast<double>(end - t0) / 1e9;
    res.fairness = most ? static_cast<double>(fewest) / static_cast<double>(most) : 0;
    res.commits_per_s = static_cast<double>(commits) / secs;
    res.reads_per_s = cfg.readers ? static_cast<double>(reads) / (static_cast<double>(read_end - t0) / 1e9) : 0;
    res.writer_cpu_us = made ? static_cast<double>(wcpu) / 1e3 / static_cast<double>(made) : 0;
    if (made) {
        res.wal_frames = static_cast<double>(frames) / static_cast<double>(made);
        res.ckpt_per_k = 1000.0 * static_cast<double>(ckpts) / static_cast<double>(made);
        res.partial_per_k = 1000.0 * static_cast<double>(partial) / static_cast<double>(made);
    }
    res.writer_wait_us = made ? static_cast<double>(wdelay) / 1e3 / static_cast<double>(made) : 0;
    res.busy_waits_per_kcommit = commits ? 1000.0 * static_cast<double>(busy) / static_cast<double>(commits) : 0;
    res.cpu_share = static_cast<double>(cpu) / 1e9 / (std::max(secs, static_cast<double>(read_end - t0) / 1e9) *
                                                       std::max(1u, std::thread::hardware_concurrency()));

    {  // correctness: every commit is a row, per writer and in all; the file is sound
        Db db(db_path, vfs, nullptr);
        const std::int64_t rows = query_int(db.db, "SELECT count(*) FROM t");
        const std::int64_t expect = cfg.commits > 0 ? cfg.commits / cfg.writers * cfg.writers : made;
        if (rows != made || made != expect)
            fail_check(std::string(vfs_name(vfs)) + ": " + std::to_string(rows) + " rows, " + std::to_string(made) +
                       " commits made, " + std::to_string(expect) + " expected");
        for (int w = 0; w < cfg.writers; ++w) {
            const std::string q = "SELECT count(*) * 1000000000 + max(seq) FROM t WHERE w = " + std::to_string(w);
            const std::int64_t v = query_int(db.db, q.c_str());
            const std::int64_t n = C->p[w].made;
            if (v != n * 1000000000 + n) fail_check("writer " + std::to_string(w) + ": rows/max(seq) do not match its commits");
        }
        Stmt qc(db.db, "PRAGMA quick_check");
        if (sqlite3_step(qc.s) != SQLITE_ROW || std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(qc.s, 0))) != "ok")
            fail_check("quick_check is not ok");
        sqlite3_finalize(qc.s);
        qc.s = nullptr;
        db.close();  // the last connection: checkpoint, the WAL and the WAL index removed
    }
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename() != kDbName) left.push_back(e.path().filename().string());
    if (!left.empty()) {
        std::string l;
        for (const auto& x : left) l += " " + x;
        fail_check(std::string(vfs_name(vfs)) + ": left after the last close:" + l);
        std::error_code ec;
        shmregion::unlink(dir, kRegion, shmregion::Force::yes, ec);
    }
    fs::remove_all(dir);
    return res;
}

// ---- statistics and the report -------------------------------------------------------------

struct Stat {
    double median = 0, min = 0, max = 0;
};
Stat stat_of(std::vector<double> v) {
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    const double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return {med, v.front(), v.back()};
}

struct ConfigResult {
    Config cfg;
    std::vector<RoundResult> r[2];  // by Vfs
};

std::vector<double> pick(const std::vector<RoundResult>& v, double RoundResult::*f) {
    std::vector<double> o;
    for (const auto& x : v) o.push_back(x.*f);
    return o;
}

std::string readers_label(const Config& c) {
    return std::to_string(c.readers) + (c.readers && c.read_rate ? " at " + std::to_string(c.read_rate) + "/s" : "");
}

std::string label(const Config& c) {
    return "sync=" + c.sync + " writers=" + std::to_string(c.writers) + " readers=" + readers_label(c);
}

void report(const ConfigResult& cr) {
    const std::string len = cr.cfg.commits > 0 ? std::to_string(cr.cfg.commits) + " commits" : std::to_string(cr.cfg.ms) + " ms";
    std::printf("\n%s (%s a round, %zu rounds)\n", label(cr.cfg).c_str(), len.c_str(), std::max(cr.r[0].size(), cr.r[1].size()));
    std::printf("  %-10s %12s %22s %10s %8s %10s %6s %14s %14s %7s %7s %7s\n", "vfs", "commits/s", "min..max", "busy/1k", "fair", "reads/s",
                "cpu", "w cpu/commit", "w runq/commit", "WAL", "ckpt/1k", "part/1k");
    for (int v = 0; v < 2; ++v) {
        if (cr.r[v].empty()) continue;
        const Stat c = stat_of(pick(cr.r[v], &RoundResult::commits_per_s));
        const Stat b = stat_of(pick(cr.r[v], &RoundResult::busy_waits_per_kcommit));
        const Stat rd = stat_of(pick(cr.r[v], &RoundResult::reads_per_s));
        const Stat cpu = stat_of(pick(cr.r[v], &RoundResult::cpu_share));
        const Stat f = stat_of(pick(cr.r[v], &RoundResult::fairness));
        const Stat wc = stat_of(pick(cr.r[v], &RoundResult::writer_cpu_us));
        const Stat wd = stat_of(pick(cr.r[v], &RoundResult::writer_wait_us));
        std::printf("  %-10s %12.0f %10.0f..%-10.0f %10.1f %8.2f %10.0f %6.2f %11.1f us %11.1f us %7.0f %7.1f %7.1f\n",
                    vfs_name(static_cast<Vfs>(v)), c.median, c.min, c.max, b.median, f.median, rd.median, cpu.median, wc.median,
                    wd.median, stat_of(pick(cr.r[v], &RoundResult::wal_frames)).median,
                    stat_of(pick(cr.r[v], &RoundResult::ckpt_per_k)).median,
                    stat_of(pick(cr.r[v], &RoundResult::partial_per_k)).median);
    }
    if (!cr.r[0].empty() && cr.r[0].size() == cr.r[1].size()) {
        const double u = stat_of(pick(cr.r[0], &RoundResult::commits_per_s)).median;
        const double m = stat_of(pick(cr.r[1], &RoundResult::commits_per_s)).median;
        std::vector<double> pr;
        for (std::size_t i = 0; i < cr.r[0].size(); ++i) pr.push_back(cr.r[1][i].commits_per_s / cr.r[0][i].commits_per_s);
        const Stat p = stat_of(pr);
        std::printf("  shmregion/unix: %.3fx (medians); per round pair: median %.3fx, %.3f..%.3f\n", m / u, p.median, p.min,
                    p.max);
        if (cr.cfg.readers) {
            const double ru = stat_of(pick(cr.r[0], &RoundResult::reads_per_s)).median;
            const double rm = stat_of(pick(cr.r[1], &RoundResult::reads_per_s)).median;
            std::printf("  reads shmregion/unix: %.3fx (medians)\n", rm / ru);
        }
    }
}

void markdown(const std::vector<ConfigResult>& all) {
    std::printf("\n| sync | writers | readers | unix commits/s | min..max | shmregion commits/s | min..max | shmregion/unix "
                "| per-round ratio min..max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& cr : all) {
        if (cr.r[0].empty() || cr.r[1].empty()) continue;
        const Stat u = stat_of(pick(cr.r[0], &RoundResult::commits_per_s));
        const Stat m = stat_of(pick(cr.r[1], &RoundResult::commits_per_s));
        std::vector<double> pr;
        for (std::size_t i = 0; i < cr.r[0].size(); ++i) pr.push_back(cr.r[1][i].commits_per_s / cr.r[0][i].commits_per_s);
        const Stat p = stat_of(pr);
        std::printf("| %s | %d | %s | %.0f | %.0f..%.0f | %.0f | %.0f..%.0f | **%.2fx** | %.2f..%.2f |\n",
                    cr.cfg.sync == "full" ? "FULL" : "NORMAL", cr.cfg.writers, readers_label(cr.cfg).c_str(), u.median, u.min, u.max,
                    m.median, m.min, m.max, m.median / u.median, p.min, p.max);
    }
    std::printf("\n| sync | writers | readers | busy waits / 1000 commits: unix | shmregion | fairness: unix | shmregion "
                "| reads/s: unix | shmregion | shmregion/unix |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& cr : all) {
        if (cr.r[0].empty() || cr.r[1].empty()) continue;
        auto med = [&](int v, double RoundResult::*f) { return stat_of(pick(cr.r[v], f)).median; };
        const double ru = med(0, &RoundResult::reads_per_s), rm = med(1, &RoundResult::reads_per_s);
        std::printf("| %s | %d | %s | %.1f | %.1f | %.2f | %.2f | %s | %s | %s |\n", cr.cfg.sync == "full" ? "FULL" : "NORMAL",
                    cr.cfg.writers, readers_label(cr.cfg).c_str(), med(0, &RoundResult::busy_waits_per_kcommit),
                    med(1, &RoundResult::busy_waits_per_kcommit), med(0, &RoundResult::fairness),
                    med(1, &RoundResult::fairness), cr.cfg.readers ? std::to_string(static_cast<long>(ru)).c_str() : "",
                    cr.cfg.readers ? std::to_string(static_cast<long>(rm)).c_str() : "",
                    cr.cfg.readers ? (std::to_string(rm / ru).substr(0, 4) + "x").c_str() : "");
    }
}

// ---- options -------------------------------------------------------------------------------

void usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s [options]\n"
                 "  --rounds N        rounds per VFS and configuration (default 11)\n"
                 "  --ms MS           a round with synchronous=NORMAL (default 400)\n"
                 "  --full-ms MS      a round with synchronous=FULL (800)\n"
                 "  --commits N       instead: N commits a round, all writers together, then the round ends\n"
                 "  --writers LIST    writer processes, e.g. 1,2,4 (default)\n"
                 "  --readers LIST    reader processes beside them, synchronous=NORMAL only; R or R@RATE, RATE\n"
                 "                    reads/s per reader (default 0,2,2@50000: none, 2 flat out, 2 paced)\n"
                 "  --sync LIST       normal,full (default)\n"
                 "  --only VFS        unix or shmregion alone (for strace -f -c, perf)\n"
                 "  --row-bytes N     the blob of each row (100)\n"
                 "  --dir DIR         where the databases go (default: a new directory in $TMPDIR or /tmp)\n"
                 "  --vfs-lib PATH    the extension (default %s)\n"
                 "  --verbose         every round's figures\n",
                 argv0, SHMREGION_VFS_PATH);
}

std::vector<int> int_list(const std::string& s) {
    std::vector<int> o;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const std::size_t comma = s.find(',', pos);
        const std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        const int v = std::atoi(part.c_str());
        if (v < 0 || (v == 0 && part != "0")) throw std::invalid_argument("bad list '" + s + "'");
        o.push_back(v);
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return o;
}

std::vector<std::string> str_list(const std::string& s) {
    std::vector<std::string> o;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t comma = s.find(',', pos);
        o.push_back(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string_view a = argv[i];
            auto arg = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(std::string(a) + " needs a value");
                return argv[++i];
            };
            auto positive = [&]() {
                const std::string v = arg();
                const int n = std::atoi(v.c_str());
                if (n <= 0) throw std::invalid_argument(std::string(a) + " needs a positive number");
                return n;
            };
            if (a == "--rounds") s.rounds = positive();
            else if (a == "--commits") s.commits = positive();
            else if (a == "--ms") s.ms = positive();
            else if (a == "--full-ms") s.full_ms = positive();
            else if (a == "--writers") s.writers = int_list(arg());
            else if (a == "--readers") {
                s.readers.clear();
                for (const auto& x : str_list(arg())) {
                    const auto at = x.find('@');
                    const int n = int_list(x.substr(0, at)).at(0);
                    const int rate = at == std::string::npos ? 0 : int_list(x.substr(at + 1)).at(0);
                    s.readers.emplace_back(n, rate);
                }
            }
            else if (a == "--sync") s.syncs = str_list(arg());
            else if (a == "--only") s.only = arg();
            else if (a == "--row-bytes") s.row_bytes = positive();
            else if (a == "--dir") s.dir = arg();
            else if (a == "--vfs-lib") s.vfs_lib = arg();
            else if (a == "--verbose") s.verbose = true;
            else if (a == "--help" || a == "-h") {
                usage(argv[0]);
                return 0;
            } else {
                throw std::invalid_argument("unknown option " + std::string(a));
            }
        }
        for (int w : s.writers)
            if (w < 1 || w > kMaxProcs / 2) throw std::invalid_argument("--writers: 1.." + std::to_string(kMaxProcs / 2));
        for (const auto& [r, rate] : s.readers)
            if (r > kMaxProcs / 2) throw std::invalid_argument("--readers: 0.." + std::to_string(kMaxProcs / 2));
        for (const auto& y : s.syncs)
            if (y != "normal" && y != "full") throw std::invalid_argument("--sync: normal or full");
        if (!s.only.empty() && s.only != "unix" && s.only != "shmregion")
            throw std::invalid_argument("--only: unix or shmregion");
        if (s.row_bytes < 8) throw std::invalid_argument("--row-bytes: at least 8");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        usage(argv[0]);
        return 2;
    }

    g_parent = ::getpid();
    const char* tmpdir = std::getenv("TMPDIR");
    std::string parent = !s.dir.empty() ? s.dir : std::string(tmpdir && *tmpdir ? tmpdir : "/tmp");
    std::string tmpl = parent + "/shmregion-sqlitebench.XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
        std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
        return 1;
    }
    g_top = fs::canonical(tmpl);
    benchutil::on_exit_cleanup("sqlite_bench", cleanup);

    int rc = 0;
    try {
        void* ctl = ::mmap(nullptr, sizeof(Ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (ctl == MAP_FAILED) die(std::string("mmap: ") + std::strerror(errno));
        C = new (ctl) Ctl{};
        load_extension(s.vfs_lib);

        std::vector<Config> configs;
        for (const auto& y : s.syncs) {
            const auto rs = y == "normal" ? s.readers : std::vector<std::pair<int, int>>{{0, 0}};
            for (const auto& [r, rate] : rs)
                for (int w : s.writers) configs.push_back({y, w, r, r ? rate : 0, y == "full" ? s.full_ms : s.ms, s.commits});
        }
        std::printf("sqlite_bench: SQLite %s, extension %s\n  databases in %s (%s); load average %s; %u CPUs\n",
                    sqlite3_libversion(), s.vfs_lib.c_str(), g_top.c_str(), benchutil::fs_type(g_top).c_str(),
                    benchutil::load_average().c_str(), std::thread::hardware_concurrency());
        std::printf("  WAL mode, autocommit INSERT of one %d-byte row per commit, busy handler = busy_timeout(%d), "
                    "%d rounds per VFS, interleaved\n",
                    s.row_bytes, kBusyTimeoutMs, s.rounds);
        const auto start = std::chrono::steady_clock::now();
        std::vector<ConfigResult> all;
        for (const auto& cfg : configs) {
            ConfigResult cr{cfg, {}};
            for (int round = 0; round < s.rounds; ++round) {
                // unix first in even rounds, shmregion first in odd ones
                for (int k = 0; k < 2; ++k) {
                    const Vfs v = static_cast<Vfs>((round + k) % 2);
                    if (!s.only.empty() && s.only != vfs_name(v)) continue;
                    const RoundResult r = run_round(cfg, v, s);
                    cr.r[static_cast<int>(v)].push_back(r);
                    if (s.verbose)
                        std::printf("    round %2d %-10s %9.0f commits/s  busy/1k %6.1f  fair %.2f  reads/s %8.0f  cpu %.2f"
                                    "  writer per commit: cpu %.1f us, runnable off-cpu %.1f us; WAL %.0f frames, "
                                    "checkpoints/1k %.1f (partial %.1f)\n",
                                    round, vfs_name(v), r.commits_per_s, r.busy_waits_per_kcommit, r.fairness, r.reads_per_s,
                                    r.cpu_share, r.writer_cpu_us, r.writer_wait_us, r.wal_frames, r.ckpt_per_k, r.partial_per_k);
                }
            }
            report(cr);
            std::fflush(stdout);
            all.push_back(std::move(cr));
        }
        if (s.only.empty()) markdown(all);
        std::printf("\ncorrectness: %d rounds; %s\n(%.1f s; load average %s)\n", g_round_no,
                    g_failures ? "FAILED (see above)"
                               : "rows = commits per writer and in all, quick_check ok, no count(*) went backwards, "
                                 "nothing left beside the database after the last close",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                    benchutil::load_average().c_str());
        if (g_failures) rc = 1;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "sqlite_bench: %s\n", e.what());
        rc = 1;
    }
    cleanup();
    return rc;
}
