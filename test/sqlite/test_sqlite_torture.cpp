// SQLite through the shmregion VFS under SIGKILL: a supervisor runs writer, reader and
// checkpointer processes on one WAL database and kills them at random, preferring those that
// hold one of SQLite's lock slots exclusively, then starts new ones; half of the writers carry an
// armed crash point of the library's growth (grow.after_record, after_extend, after_map,
// after_publish) and die inside the index's growth when they are the grower. After the kills,
// the writers (all armed now) run on without checkpoints until 3 have died inside a growth.
//  - Writers insert rows (writer, seq) in transactions of 1..8 rows; after each COMMIT that
//    returned SQLITE_OK they append its last seq to their log and fdatasync it.
//  - Readers, in one read transaction, check every writer's rows are exactly 1..max (no
//    half transaction, no gap), that max covers what the logs said was committed before the
//    transaction began, and that no max ever goes down (a committed row never disappears).
//  - Afterwards: PRAGMA integrity_check is ok, every logged commit is present, and when the
//    last connection closes, nothing is left (region, /dev/shm, System V, the WAL).
// SHMREGION_SQLITE_TORTURE_KILLS sets the number of kills (default 300).
#define BOOST_TEST_MODULE sqlite_torture
#include <boost/test/unit_test.hpp>

#include "mp_support.hpp"
#include "sqlite_support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

using namespace shmregion;
using namespace shmregion::mptest;
using namespace shmregion::sqltest;

namespace {

using Clock = std::chrono::steady_clock;

enum class Role { writer, reader, checkpointer };

const char* const kGrowPoints[] = {"grow.after_record", "grow.after_extend", "grow.after_map", "grow.after_publish"};

/// What the children count, in memory shared with the supervisor.
struct Stats {
    std::atomic<int> stop{0};
    // Set once the kills are done: the checkpointer pauses and the writers commit bigger
    // transactions, so the WAL (and with it the index) grows past its high-water mark however
    // slow this machine's fsync is against the checkpoints (CI: one growth death in 150 s).
    std::atomic<int> grow_phase{0};
    std::atomic<std::uint64_t> commits{0}, reads{0}, checkpoints{0}, busy{0}, protocol{0};
};

bool busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

/// The last complete line of each writer log in home: writer -> the last seq it committed.
std::map<int, std::int64_t> read_logs(const fs::path& home) {
    std::map<int, std::int64_t> out;
    for (const auto& e : fs::directory_iterator(home)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("w", 0) != 0 || e.path().extension() != ".log") continue;
        const int writer = std::stoi(n.substr(1));
        std::ifstream in(e.path());
        std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto end = all.rfind('\n');  // a line cut by a kill does not count
        if (end == std::string::npos) continue;
        const auto begin = all.rfind('\n', end - 1);
        out[writer] = std::stoll(all.substr(begin == std::string::npos ? 0 : begin + 1, end));
    }
    return out;
}

/// writer -> (max seq, count) in one read transaction of c.
std::map<int, std::pair<std::int64_t, std::int64_t>> rows_by_writer(Db& c) {
    std::map<int, std::pair<std::int64_t, std::int64_t>> out;
    sqlite3_stmt* st = c.prepare("SELECT writer, max(seq), count(*) FROM rows GROUP BY writer");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        out[sqlite3_column_int(st, 0)] = {sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)};
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) throw SqliteError(rc, std::string("count rows: ") + sqlite3_errmsg(c.get()));
    return out;
}

int writer(const fs::path& db, const fs::path& home, int id, Stats& stats, unsigned seed) {
    Db c(uri(db), 30000);
    c.exec("PRAGMA wal_autocheckpoint=0");  // the checkpointer's job, so the WAL grows
    const int log = ::open((home / ("w" + std::to_string(id) + ".log")).c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    CHILD_CHECK(log >= 0, 11);
    sqlite3_stmt* ins = c.prepare("INSERT INTO rows(writer, seq, payload) VALUES(?, ?, randomblob(1500))");  // 3 overflow pages a row
    std::mt19937 rng(seed);
    std::int64_t seq = 1;
    while (!stats.stop.load()) {
        const int n = static_cast<int>(stats.grow_phase.load() ? 32 + rng() % 33 : rng() % 8 + 1);
        int rc = c.try_exec("BEGIN IMMEDIATE");
        for (int k = 0; rc == SQLITE_OK && k < n; ++k) {
            sqlite3_bind_int(ins, 1, id);
            sqlite3_bind_int64(ins, 2, seq + k);
            rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc == SQLITE_DONE) rc = SQLITE_OK;
        }
        if (rc == SQLITE_OK) rc = c.try_exec("COMMIT");
        if (rc == SQLITE_OK) {
            const std::string line = std::to_string(seq + n - 1) + "\n";
            CHILD_CHECK(::write(log, line.data(), line.size()) == static_cast<ssize_t>(line.size()), 12);
            CHILD_CHECK(::fdatasync(log) == 0, 13);
            seq += n;
            stats.commits.fetch_add(1);
            continue;
        }
        c.try_exec("ROLLBACK");  // the same seqs again
        if (busy(rc)) {
            stats.busy.fetch_add(1);
        } else if ((rc & 0xff) == SQLITE_PROTOCOL) {
            stats.protocol.fetch_add(1);
        } else {
            std::fprintf(stderr, "writer %d: %s (%d)\n", id, sqlite3_errmsg(c.get()), rc);
            return 14;
        }
    }
    sqlite3_finalize(ins);
    ::close(log);
    return 0;
}

int reader(const fs::path& db, const fs::path& home, Stats& stats) {
    Db c(uri(db), 30000);
    std::map<int, std::int64_t> seen;  // a max never goes down
    while (!stats.stop.load()) {
        const auto logged = read_logs(home);  // committed before the transaction below
        int rc = c.try_exec("BEGIN");
        std::map<int, std::pair<std::int64_t, std::int64_t>> rows;
        if (rc == SQLITE_OK) {
            try {
                rows = rows_by_writer(c);
            } catch (const SqliteError& e) {
                rc = e.code;
            }
        }
        c.try_exec("COMMIT");
        if (rc != SQLITE_OK) {
            if (busy(rc)) stats.busy.fetch_add(1);
            else if ((rc & 0xff) == SQLITE_PROTOCOL) stats.protocol.fetch_add(1);
            else {
                std::fprintf(stderr, "reader: %s (%d)\n", sqlite3_errmsg(c.get()), rc);
                return 21;
            }
            continue;
        }
        for (const auto& [w, mc] : rows) {
            if (mc.first != mc.second) {
                std::fprintf(stderr, "reader: writer %d has %lld rows up to seq %lld\n", w,
                             static_cast<long long>(mc.second), static_cast<long long>(mc.first));
                return 22;
            }
            if (mc.first < seen[w]) {
                std::fprintf(stderr, "reader: writer %d went back from %lld to %lld\n", w,
                             static_cast<long long>(seen[w]), static_cast<long long>(mc.first));
                return 23;
            }
            seen[w] = mc.first;
        }
        for (const auto& [w, last] : logged) {
            const auto it = rows.find(w);
            if (it == rows.end() || it->second.first < last) {
                std::fprintf(stderr, "reader: writer %d logged seq %lld, the database has %lld\n", w,
                             static_cast<long long>(last), static_cast<long long>(it == rows.end() ? 0 : it->second.first));
                return 24;
            }
        }
        stats.reads.fetch_add(1);
    }
    return 0;
}

int checkpointer(const fs::path& db, Stats& stats, unsigned seed) {
    Db c(uri(db), 30000);
    std::mt19937 rng(seed);
    while (!stats.stop.load()) {
        ::usleep(static_cast<useconds_t>(20000 + rng() % 100000));
        if (stats.grow_phase.load()) continue;
        // Mostly PASSIVE (the WAL and the index keep growing); now and then the WAL restarts.
        const auto pick = rng() % 200;
        const char* sql = pick == 0 ? "PRAGMA wal_checkpoint(TRUNCATE)" : pick == 1 ? "PRAGMA wal_checkpoint(RESTART)"
                                                                                   : "PRAGMA wal_checkpoint(PASSIVE)";
        const int rc = c.try_exec(sql);
        if (rc == SQLITE_OK) stats.checkpoints.fetch_add(1);
        else if (busy(rc)) stats.busy.fetch_add(1);
        else if ((rc & 0xff) == SQLITE_PROTOCOL) stats.protocol.fetch_add(1);
        else {
            std::fprintf(stderr, "checkpointer: %s (%d)\n", sqlite3_errmsg(c.get()), rc);
            return 31;
        }
    }
    return 0;
}

struct Child {
    Role role;
    const char* crash_point = nullptr;  // armed grow crash point, if any
};

}  // namespace

BOOST_AUTO_TEST_CASE(sqlite_survives_random_sigkills_of_writers_readers_and_checkpointers) {
    load_vfs();
    Home home;
    const fs::path db = home.path() / "torture.db";
    const std::string region = index_region(db);
    const char* env = std::getenv("SHMREGION_SQLITE_TORTURE_KILLS");
    const int want_kills = env ? std::atoi(env) : 300;
    constexpr int kWantGrowDeaths = 3;
    {
        Db c(uri(db));
        c.exec("PRAGMA page_size=512");  // several frames a row: the WAL and its index grow fast
        BOOST_REQUIRE_EQUAL(c.text("PRAGMA journal_mode=wal"), "wal");
        c.exec("CREATE TABLE rows(id INTEGER PRIMARY KEY, writer INT, seq INT, payload BLOB);"
               "CREATE INDEX by_writer ON rows(writer, seq)");
    }
    test::SharedMemory mem(sizeof(Stats));
    Stats& stats = *new (mem.get()) Stats;
    std::mt19937 rng(static_cast<unsigned>(::getpid()));
    std::map<pid_t, Child> kids;
    int next_writer = 1;
    auto start = [&](Role role) {
        Child c{role};
        if (role == Role::writer && (stats.grow_phase.load() || rng() % 2 == 0)) c.crash_point = kGrowPoints[rng() % 4];
        const int id = next_writer;
        if (role == Role::writer) ++next_writer;
        const unsigned seed = static_cast<unsigned>(rng());
        const pid_t pid = test::spawn(
            [&, role, id, seed, point = c.crash_point] {
                if (point) ::setenv("SHMREGION_CRASH_AT", point, 1);
                try {
                    switch (role) {
                    case Role::writer: return writer(db, home.path(), id, stats, seed);
                    case Role::reader: return reader(db, home.path(), stats);
                    case Role::checkpointer: return checkpointer(db, stats, seed);
                    }
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "child: %s\n", e.what());
                }
                return 40;
            },
            240);
        spawned_pids().push_back(pid);
        kids[pid] = c;
    };
    for (int i = 0; i < 3; ++i) start(Role::writer);
    for (int i = 0; i < 2; ++i) start(Role::reader);
    start(Role::checkpointer);

    int kills = 0, exclusive_kills = 0, shared_kills = 0, grow_deaths = 0, failures = 0;
    std::map<std::string, int> deaths_by_point;
    const auto deadline = Clock::now() + std::chrono::seconds(150);
    // A child that ended by itself: a crash point (SIGKILL it raised) or a failure.
    auto reap_finished = [&] {
        int status = 0;
        for (pid_t p; (p = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            const auto it = kids.find(p);
            if (it == kids.end()) continue;
            const Child c = it->second;
            kids.erase(it);
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && c.crash_point) {
                ++grow_deaths;
                ++deaths_by_point[c.crash_point];
            } else {
                ++failures;
                BOOST_ERROR("child " << p << " ended by itself: status " << status);
            }
            start(c.role);
        }
    };
    while ((kills < want_kills || grow_deaths < kWantGrowDeaths) && failures == 0 && Clock::now() < deadline) {
        ::usleep(static_cast<useconds_t>(2000 + rng() % 28000));
        reap_finished();
        // The kills done, let the writers run on until enough of them died inside a growth: all
        // of them armed (an unarmed one would do every growth unharmed), no checkpoints.
        if (kills >= want_kills) {
            if (!stats.grow_phase.exchange(1)) {
                std::vector<pid_t> unarmed;
                for (const auto& [pid, c] : kids)
                    if (c.role == Role::writer && !c.crash_point) unarmed.push_back(pid);
                for (pid_t p : unarmed) {
                    ::kill(p, SIGKILL);
                    BOOST_TEST(test::wait_exit(p) == -SIGKILL);
                    kids.erase(p);
                    start(Role::writer);
                }
            }
            continue;
        }
        // Prefer a holder of a slot: exclusive (the write lock, a checkpoint, a recovery), then shared.
        std::vector<pid_t> excl, shared;
        try {
            const RegionInfo info = inspect(home.path(), region);
            for (std::uint32_t i = 0; i < 8 && i < info.locks.size(); ++i) {
                const LockInfo& l = info.locks[i];
                if (l.state == LockInfo::State::exclusive && kids.count(l.holder_pid)) excl.push_back(l.holder_pid);
                for (pid_t p : l.shared_pids)
                    if (kids.count(p)) shared.push_back(p);
            }
        } catch (const std::exception&) {
            // not there yet, or caught mid-change: pick at random
        }
        pid_t victim = 0;
        const unsigned how = rng() % 4;
        if (how < 2 && !excl.empty()) {
            victim = excl[rng() % excl.size()];
            ++exclusive_kills;
        } else if (how == 2 && !shared.empty()) {
            victim = shared[rng() % shared.size()];
            ++shared_kills;
        } else {
            auto it = kids.begin();
            std::advance(it, static_cast<long>(rng() % kids.size()));
            victim = it->first;
        }
        const Child c = kids[victim];
        ::kill(victim, SIGKILL);
        int status = 0;
        ::waitpid(victim, &status, 0);
        kids.erase(victim);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            ++failures;
            BOOST_ERROR("child " << victim << " had ended before its kill: status " << status);
        }
        ++kills;
        start(c.role);
    }
    const RegionInfo info = inspect(home.path(), region);  // the growths, the slots' deaths
    // Stop: everyone closes its connection.
    stats.stop.store(1);
    for (const auto& [pid, c] : kids) {
        const int code = test::wait_exit(pid);
        if (code == -SIGKILL && c.crash_point) ++grow_deaths;  // died in a last growth
        else BOOST_TEST(code == 0, "child " << pid << " exited with " << code);
    }
    kids.clear();

    BOOST_TEST_MESSAGE("sqlite torture: " << kills << " kills (" << exclusive_kills << " of a process seen holding a slot exclusively, "
                                          << shared_kills << " holding one shared), " << grow_deaths
                                          << " deaths inside a growth, " << stats.commits.load() << " commits, "
                                          << stats.reads.load() << " checked reads, " << stats.checkpoints.load()
                                          << " checkpoints, " << stats.busy.load() << " busy, "
                                          << stats.protocol.load() << " SQLITE_PROTOCOL, index "
                                          << info.size / 32768 << " pieces after " << info.generation - 1
                                          << " growths, slot deaths "
                                          << [&] {
                                                 std::ostringstream s;
                                                 for (std::uint32_t i = 0; i < 8; ++i)
                                                     s << (i ? "/" : "") << info.locks[i].exclusive_deaths;
                                                 return s.str();
                                             }());
    BOOST_TEST(failures == 0);
    BOOST_TEST(kills >= want_kills);
    BOOST_TEST(exclusive_kills >= want_kills / 10);
    BOOST_TEST(grow_deaths >= kWantGrowDeaths);
    BOOST_TEST(stats.commits.load() > 0u);
    BOOST_TEST(stats.reads.load() > 0u);
    {
        Db c(uri(db));
        BOOST_TEST(c.text("PRAGMA integrity_check") == "ok");
        const auto rows = rows_by_writer(c);
        for (const auto& [w, last] : read_logs(home.path())) {
            const auto it = rows.find(w);
            BOOST_TEST_INFO("writer " << w << " logged seq " << last);
            BOOST_REQUIRE(it != rows.end());
            BOOST_TEST(it->second.first >= last);
        }
        for (const auto& [w, mc] : rows) {
            BOOST_TEST_INFO("writer " << w);
            BOOST_TEST(mc.first == mc.second);
        }
    }
    // This last connection closed: the index went with the WAL, nothing is left.
    BOOST_TEST(list(home.path()).empty());
    BOOST_TEST(test::posix_segments_with_origin(home.path().string()).empty());
    BOOST_TEST(test::sysv_segments_with_origin(home.path().string()).empty());
    BOOST_TEST(!fs::exists(home.path() / "torture.db-wal"));
}
