// The shmregion VFS (examples/sqlite-vfs) as SQLite's users see it, through the real SQLite
// library and the loadable extension as built for installation, in real processes:
//  - the WAL index is the region "<db>-shm" in the database's directory (posix backing, 9
//    table locks), no unix -shm file appears, and the last close removes it with the WAL;
//  - connections in several processes, and two in one process, see each other's commits;
//  - the index grows in place, piece by piece, and other processes read through the growth;
//  - a writer killed holding the WAL write lock, and a reader killed holding a read mark,
//    block nobody; the dead writer's transaction is gone, integrity_check is ok;
//  - an index left by dead processes is rebuilt, not trusted, when the WAL changed meanwhile
//    (through the unix VFS): the dead man's switch;
//  - a database name that is no region name gets a hashed one;
//  - the stock clients load it: the sqlite3 shell (.load) and Python's sqlite3 module.
#define BOOST_TEST_MODULE sqlite_vfs
#include <boost/test/unit_test.hpp>

#include "child_check.hpp"
#include "mp_support.hpp"
#include "skip.hpp"
#include "sqlite_support.hpp"
#include "tool_support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>

using namespace shmregion;
using namespace shmregion::mptest;
using namespace shmregion::sqltest;

namespace {

struct Fixture {
    Fixture() { load_vfs(); }
    Home home;
    fs::path db(const std::string& file = "app.db") const { return home.path() / file; }
};

/// Creates a WAL database with table t(id INTEGER PRIMARY KEY, v) through the VFS.
void create_table(const fs::path& db) {
    Db c(uri(db));
    BOOST_REQUIRE_EQUAL(c.text("PRAGMA journal_mode=wal"), "wal");
    c.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)");
}

const LockInfo& lock_of(const RegionInfo& info, std::uint32_t i) {
    BOOST_REQUIRE_GT(info.locks.size(), i);
    return info.locks[i];
}

/// Polls inspect() until pid holds lock `slot` of the index exclusively (or 10 s pass).
bool wait_exclusive_holder(const fs::path& home, const std::string& region, std::uint32_t slot, pid_t pid) {
    for (int i = 0; i < 2000; ++i) {
        const RegionInfo info = inspect(home, region);
        if (info.locks.size() > slot && info.locks[slot].state == LockInfo::State::exclusive &&
            info.locks[slot].holder_pid == pid)
            return true;
        ::usleep(5000);
    }
    return false;
}

/// What the shell command cmd writes (stdout and stderr); a failure if it exits nonzero.
std::string output_of(const std::string& cmd) {
    FILE* out = ::popen(cmd.c_str(), "r");
    BOOST_REQUIRE(out);
    std::string text;
    char buf[512];
    while (std::fgets(buf, sizeof buf, out)) text += buf;
    const int status = ::pclose(out);
    BOOST_TEST(status == 0, cmd << " exited with status " << status << ": " << text);
    return text;
}

/// Starts a child with a connection of its own that runs `work` (nonzero: a failure, its exit
/// code) and then stays, holding what it holds, until killed; returns once `work` is done.
pid_t spawn_parked(Children& kids, const fs::path& db, const std::function<int(Db&)>& work) {
    test::Signal done;
    const pid_t p = kids.spawn([&]() -> int {
        Db d(uri(db));
        if (const int rc = work(d); rc != 0) return rc;
        done.notify();
        for (;;) ::pause();
    });
    BOOST_REQUIRE(done.wait());
    return p;
}

/// SQLite's primary result code of one INSERT of v into t by another process, whose busy
/// handler waits busy_ms.
int insert_from_another_process(Children& kids, const fs::path& db, const std::string& v, int busy_ms) {
    const pid_t p = kids.spawn([&] {
        Db d(uri(db), busy_ms);
        return d.try_exec("INSERT INTO t(v) VALUES('" + v + "')") & 0xff;
    });
    return kids.wait(p);
}

bool region_exists(const fs::path& home, const std::string& name) {
    const auto names = list(home);
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(sqlite_vfs, Fixture)

BOOST_AUTO_TEST_CASE(the_wal_index_is_a_region_named_after_the_database_and_goes_at_the_last_close) {
    const fs::path file = db();
    const std::string region = index_region(file);
    {
        Db c(uri(file));
        BOOST_TEST(c.vfs_name() == "shmregion/unix");
        BOOST_REQUIRE_EQUAL(c.text("PRAGMA journal_mode=wal"), "wal");
        c.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES('a'),('b')");
        BOOST_TEST(c.integer("SELECT count(*) FROM t") == 2);

        const RegionInfo info = inspect(home.path(), region);
        BOOST_TEST(info.backing == Backing::posix);
        BOOST_TEST(info.size == 4096u + 32768u);  // the VFS's page, then SQLite's first piece
        BOOST_TEST(info.locks.size() == 9u);
        BOOST_TEST(info.live_attachers() == 1u);
        // The dead man's switch: this connection's share of lock 8.
        BOOST_TEST((lock_of(info, 8).state == LockInfo::State::shared));
        BOOST_TEST(lock_of(info, 8).shared_pids == std::vector<pid_t>{::getpid()});
        BOOST_TEST(!test::posix_segments_of(region).empty());
        BOOST_TEST(!fs::exists(home.path() / "app.db-shm"));  // no unix -shm file
        BOOST_TEST(fs::exists(home.path() / "app.db-wal"));
    }
    // The last connection checkpointed, deleted the WAL and removed the region.
    BOOST_TEST(!region_exists(home.path(), region));
    BOOST_TEST(test::posix_segments_of(region).empty());
    BOOST_TEST(!fs::exists(home.path() / "app.db-wal"));
    Db again(uri(file));
    BOOST_TEST(again.integer("SELECT count(*) FROM t") == 2);
}

BOOST_AUTO_TEST_CASE(connections_in_several_processes_and_in_one_see_each_others_commits) {
    const fs::path file = db();
    create_table(file);
    Db a(uri(file));
    Db b(uri(file));  // a second attach in this process
    a.exec("INSERT INTO t(v) VALUES('from a')");
    BOOST_TEST(b.integer("SELECT count(*) FROM t") == 1);
    Children kids;
    constexpr int kWriters = 3, kRows = 200;
    std::vector<pid_t> pids;
    for (int w = 0; w < kWriters; ++w)
        pids.push_back(kids.spawn([&] {
            Db c(uri(file));
            for (int i = 0; i < kRows; ++i) c.exec("INSERT INTO t(v) VALUES('child')");
            return 0;
        }));
    // Readers here while they write: counts only grow.
    std::int64_t last = 0;
    for (int i = 0; i < 50; ++i) {
        const std::int64_t n = (i % 2 ? a : b).integer("SELECT count(*) FROM t");
        BOOST_TEST(n >= last);
        last = n;
    }
    for (pid_t p : pids) BOOST_TEST(kids.wait(p) == 0);
    BOOST_TEST(a.integer("SELECT count(*) FROM t") == 1 + kWriters * kRows);
    BOOST_TEST(b.integer("SELECT count(*) FROM t WHERE v = 'child'") == kWriters * kRows);
    BOOST_TEST(a.text("PRAGMA integrity_check") == "ok");
    const RegionInfo info = inspect(home.path(), index_region(file));
    BOOST_TEST(lock_of(info, 8).shared_count == 2u);  // a and b
}

BOOST_AUTO_TEST_CASE(the_index_grows_in_place_and_other_processes_read_through_the_growth) {
    const fs::path file = db();
    const std::string region = index_region(file);
    {
        Db c(uri(file));
        c.exec("PRAGMA page_size=512");
        BOOST_REQUIRE_EQUAL(c.text("PRAGMA journal_mode=wal"), "wal");
        c.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
    }
    Db reader(uri(file));
    BOOST_TEST(reader.integer("SELECT count(*) FROM t") == 0);  // maps piece 0 before the growth
    Children kids;
    constexpr int kRows = 12000;  // a frame or more each: over 3 pieces of 4096 frames
    const pid_t w = kids.spawn([&] {
        Db c(uri(file));
        c.exec("PRAGMA wal_autocheckpoint=0");
        for (int i = 0; i < kRows; i += 100) {
            c.exec("BEGIN");
            for (int k = 0; k < 100; ++k) c.exec("INSERT INTO t(v) VALUES(randomblob(400))");
            c.exec("COMMIT");
        }
        return 0;
    });
    BOOST_REQUIRE_EQUAL(kids.wait(w), 0);
    const RegionInfo info = inspect(home.path(), region);
    BOOST_TEST(info.size >= 4096u + 4u * 32768u);
    BOOST_TEST((info.size - 4096u) % 32768u == 0u);
    BOOST_TEST(info.generation > 1u);
    BOOST_TEST(reader.integer("SELECT count(*) FROM t") == kRows);
    BOOST_TEST(reader.integer("SELECT count(*) FROM t WHERE length(v) = 400") == kRows);
    BOOST_TEST(reader.text("PRAGMA integrity_check") == "ok");
}

BOOST_AUTO_TEST_CASE(a_writer_killed_holding_the_write_lock_blocks_nobody) {
    const fs::path file = db();
    const std::string region = index_region(file);
    create_table(file);
    Db c(uri(file), 15000);
    c.exec("INSERT INTO t(v) VALUES('kept')");
    Children kids;
    const pid_t w = spawn_parked(kids, file, [](Db& d) {
        d.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES('lost'); INSERT INTO t(v) VALUES('lost')");
        // Enough rows that some frames reach the WAL before the commit (a spill).
        d.exec("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000) "
               "INSERT INTO t(v) SELECT hex(randomblob(2000)) FROM s");
        return 0;
    });
    BOOST_REQUIRE(wait_exclusive_holder(home.path(), region, 0, w));  // WAL_WRITE_LOCK
    {
        Db quick(uri(file), 100);
        BOOST_TEST((quick.try_exec("INSERT INTO t(v) VALUES('busy')") & 0xff) == SQLITE_BUSY);
    }
    kids.kill(w);
    // The next writer gets the slot (owner_died, acknowledged by the VFS) and commits.
    c.exec("INSERT INTO t(v) VALUES('after')");
    BOOST_TEST(c.integer("SELECT count(*) FROM t WHERE v = 'lost'") == 0);
    BOOST_TEST(c.integer("SELECT count(*) FROM t WHERE v IN ('kept', 'after')") == 2);
    BOOST_TEST(c.text("PRAGMA integrity_check") == "ok");
    const RegionInfo info = inspect(home.path(), region);
    BOOST_TEST(lock_of(info, 0).exclusive_deaths == 1u);
    BOOST_TEST(!lock_of(info, 0).owner_died);  // acknowledged
    Db fresh(uri(file));
    BOOST_TEST(fresh.integer("SELECT count(*) FROM t") == c.integer("SELECT count(*) FROM t"));
}

BOOST_AUTO_TEST_CASE(a_reader_killed_holding_a_read_mark_blocks_no_checkpoint) {
    const fs::path file = db();
    const std::string region = index_region(file);
    create_table(file);
    Db c(uri(file), 15000);
    c.exec("INSERT INTO t(v) VALUES('x')");
    Children kids;
    const pid_t r = spawn_parked(kids, file, [](Db& d) {
        d.exec("BEGIN");
        return d.integer("SELECT count(*) FROM t") == 1 ? 0 : 3;  // holds a read mark now
    });
    c.exec("INSERT INTO t(v) VALUES('y')");
    bool reader_share = false;
    const RegionInfo before = inspect(home.path(), region);
    for (std::uint32_t i = 3; i < 8; ++i)  // WAL_READ_LOCK(0..4)
        for (pid_t p : lock_of(before, i).shared_pids) reader_share |= p == r;
    BOOST_TEST(reader_share);
    kids.kill(r);
    // TRUNCATE waits (busy handler) for every reader; the dead one's share is released.
    sqlite3_stmt* st = c.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    BOOST_REQUIRE_EQUAL(sqlite3_step(st), SQLITE_ROW);
    BOOST_TEST(sqlite3_column_int(st, 0) == 0);  // not busy
    sqlite3_finalize(st);
    BOOST_TEST(fs::file_size(home.path() / "app.db-wal") == 0u);
    BOOST_TEST(c.integer("SELECT count(*) FROM t") == 2);
}

// SQLite's locks belong to the connection, the table's exclusive locks to a thread: a
// connection moved between threads inside a transaction must never make two writers.
BOOST_AUTO_TEST_CASE(a_transaction_committed_on_another_thread_makes_no_second_writer) {
    const fs::path file = db();
    create_table(file);
    Db c(uri(file));
    std::mutex m;
    std::condition_variable cv;
    bool began = false, may_end = false;
    std::thread t([&] {
        c.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES('moved')");  // takes the write slot here
        std::unique_lock<std::mutex> l(m);
        began = true;
        cv.notify_all();
        cv.wait(l, [&] { return may_end; });  // this thread lives on, idle, as a pool's would
    });
    {
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return began; });
    }
    c.exec("COMMIT");  // here: the unlock is refused, the connection lets the slot go
    Children kids;
    BOOST_TEST(insert_from_another_process(kids, file, "other", 300) == SQLITE_BUSY);  // held by the idle thread
    {
        std::lock_guard<std::mutex> l(m);
        may_end = true;
    }
    cv.notify_all();
    t.join();  // the holder thread ends: the slot is handed on
    BOOST_TEST(insert_from_another_process(kids, file, "other", 10000) == SQLITE_OK);
    BOOST_TEST(c.integer("SELECT count(*) FROM t WHERE v IN ('moved', 'other')") == 2);
    BOOST_TEST(c.text("PRAGMA integrity_check") == "ok");
}

BOOST_AUTO_TEST_CASE(a_thread_that_ends_inside_its_connections_transaction_makes_no_second_writer) {
    const fs::path file = db();
    create_table(file);
    Db c(uri(file));
    std::thread([&] { c.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES('first')"); }).join();
    // The thread that took the write slot is gone; the kernel marked its mutex owner-dead.
    // Another process may not write now: the connection is still inside its transaction.
    Children kids;
    BOOST_TEST(insert_from_another_process(kids, file, "second", 300) == SQLITE_BUSY);
    c.exec("INSERT INTO t(v) VALUES('first, more'); COMMIT");
    BOOST_TEST(insert_from_another_process(kids, file, "second", 10000) == SQLITE_OK);
    BOOST_TEST(c.integer("SELECT count(*) FROM t WHERE v IN ('first', 'first, more', 'second')") == 3);
    BOOST_TEST(c.text("PRAGMA integrity_check") == "ok");
    Db fresh(uri(file));
    BOOST_TEST(fresh.integer("SELECT count(*) FROM t") == 3);
}

BOOST_AUTO_TEST_CASE(an_index_left_by_dead_processes_is_rebuilt_when_the_wal_changed_meanwhile) {
    const fs::path file = db();
    const std::string region = index_region(file);
    create_table(file);
    {
        Children kids;
        const pid_t p = spawn_parked(kids, file, [](Db& d) {
            d.exec("PRAGMA wal_autocheckpoint=0");
            for (int i = 0; i < 50; ++i) d.exec("INSERT INTO t(v) VALUES(hex(randomblob(300)))");
            return 0;
        });
        kids.kill(p);  // the index stays, describing 50 commits of this WAL
    }
    BOOST_REQUIRE(region_exists(home.path(), region));
    {
        // Another VFS: checkpoints, rewrites, and deletes the WAL at its close.
        Db u(uri(file, "unix"));
        BOOST_TEST(u.integer("SELECT count(*) FROM t") == 50);
        u.exec("DELETE FROM t WHERE id > 10; INSERT INTO t(v) VALUES('unix')");
    }
    BOOST_REQUIRE(!fs::exists(home.path() / "app.db-wal"));
    BOOST_REQUIRE(region_exists(home.path(), region));  // stale, with 50 commits' frames
    Db c(uri(file));
    BOOST_TEST(c.integer("SELECT count(*) FROM t") == 11);
    BOOST_TEST(c.integer("SELECT count(*) FROM t WHERE v = 'unix'") == 1);
    BOOST_TEST(c.text("PRAGMA integrity_check") == "ok");
    c.exec("INSERT INTO t(v) VALUES('after')");
    BOOST_TEST(c.integer("SELECT count(*) FROM t") == 12);
}

BOOST_AUTO_TEST_CASE(a_database_name_that_is_no_region_name_gets_a_hashed_one) {
    const std::string long_name(70, 'n');
    for (const std::string& name : {std::string(".hidden.db"), long_name + ".db"}) {
        const fs::path file = db(name);
        {
            Db c(uri(file));
            BOOST_REQUIRE_EQUAL(c.text("PRAGMA journal_mode=wal"), "wal");
            c.exec("CREATE TABLE t(v); INSERT INTO t VALUES(1)");
            const auto names = list(home.path());
            BOOST_REQUIRE_EQUAL(names.size(), 1u);
            BOOST_TEST_INFO("region " << names[0] << " for " << name);
            BOOST_TEST(names[0].rfind("db-", 0) == 0u);
            BOOST_TEST(names[0].size() <= 64u);
            BOOST_TEST(names[0].substr(names[0].size() - 4) == "-shm");
            Db d(uri(file));  // the same name again
            BOOST_TEST(d.integer("SELECT count(*) FROM t") == 1);
        }
        BOOST_TEST(list(home.path()).empty());
    }
}

BOOST_AUTO_TEST_CASE(another_users_connection_is_refused_the_index_unless_it_asks, *boost::unit_test::label("needs_root")) {
    if (::geteuid() != 0) SHMREGION_SKIP("needs root to run a connection as another user");
    const fs::path file = db();
    {
        Db u(uri(file, "unix"));  // a database that every user may write
        u.exec("CREATE TABLE t(v)");
    }
    fs::permissions(home.path(), fs::perms::all);
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::group_write | fs::perms::others_read | fs::perms::others_write);
    Db c(uri(file));
    BOOST_REQUIRE_EQUAL(c.text("PRAGMA journal_mode=wal"), "wal");
    c.exec("INSERT INTO t VALUES(1)");
    fs::permissions(home.path() / "app.db-wal", fs::perms::owner_read | fs::perms::owner_write |
                                                     fs::perms::group_read | fs::perms::group_write |
                                                     fs::perms::others_read | fs::perms::others_write);
    const RegionInfo info = inspect(home.path(), index_region(file));
    BOOST_TEST(info.creator_uid == 0u);
    Children kids;
    const pid_t p = kids.spawn([&]() -> int {
        const uid_t stranger = 54321;
        CHILD_CHECK(::setresgid(stranger, stranger, stranger) == 0 && ::setresuid(stranger, stranger, stranger) == 0, 2);
        sqlite3* d = nullptr;
        CHILD_CHECK(sqlite3_open_v2(uri(file).c_str(), &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, nullptr) == SQLITE_OK, 3);
        sqlite3_extended_result_codes(d, 1);
        const int rc = sqlite3_exec(d, "SELECT count(*) FROM t", nullptr, nullptr, nullptr);
        std::fprintf(stderr, "stranger: %d %s\n", rc, sqlite3_errmsg(d));
        sqlite3_close(d);
        CHILD_CHECK(rc == SQLITE_IOERR_SHMOPEN, 4);  // the region is root's: wrong_owner
        // Asked for (shm_any_owner=1), it joins root's index, which the database's mode
        // bits (0666 here) let every user write.
        Db other(uri(file, "shmregion", "shm_any_owner=1"));
        CHILD_CHECK(other.integer("SELECT count(*) FROM t") == 1, 5);
        other.exec("INSERT INTO t VALUES(2)");
        return 0;
    });
    BOOST_TEST(kids.wait(p) == 0);
    BOOST_TEST(c.integer("SELECT count(*) FROM t") == 2);  // the owner's connection sees its row
}

BOOST_AUTO_TEST_CASE(the_sqlite3_shell_loads_it, *boost::unit_test::label("needs_sqlite3_shell")) {
#ifdef SHMREGION_SANITIZED
    SHMREGION_SKIP("the extension is built with sanitizers, which the stock sqlite3 cannot load");
#endif
    if (::system("command -v sqlite3 >/dev/null 2>&1") != 0) SHMREGION_SKIP("no sqlite3 shell (apt-get install sqlite3)");
    const fs::path file = db();
    const fs::path script = home.path() / "script.sql";
    std::ofstream(script) << ".load " << SHMREGION_VFS << "\n"
                          << ".open " << uri(file) << "\n"
                          << "PRAGMA journal_mode=wal;\n"
                          << "CREATE TABLE t(v);\nINSERT INTO t VALUES(1),(2),(3);\n"
                          << ".vfsname\n"
                          << "SELECT count(*) FROM t;\n"
                          << ".shell " << REGIONTOOL << " list " << home.path().string() << "\n";
    const std::string cmd = "sqlite3 < " + script.string() + " 2>&1";
    const std::string text = output_of(cmd);
    BOOST_TEST_INFO(text);
    BOOST_TEST(text.find("shmregion/unix") != std::string::npos);
    BOOST_TEST(text.find("\n3\n") != std::string::npos);
    BOOST_TEST(text.find("app.db-shm") != std::string::npos);  // regiontool list, while open
    BOOST_TEST(list(home.path()).empty());                     // gone at the shell's close
    Db c(uri(file));
    BOOST_TEST(c.integer("SELECT sum(v) FROM t") == 6);
}

BOOST_AUTO_TEST_CASE(pythons_sqlite3_module_loads_it, *boost::unit_test::label("needs_python_sqlite3")) {
#ifdef SHMREGION_SANITIZED
    SHMREGION_SKIP("the extension is built with sanitizers, which the stock python3 cannot load");
#endif
    if (::system("python3 -c 'import sqlite3, ctypes' >/dev/null 2>&1") != 0)
        SHMREGION_SKIP("no python3 with its sqlite3 module");
    const fs::path file = db();
    const fs::path script = home.path() / "use.py";
    // As the example's README shows: Connection.load_extension where Python's sqlite3 module
    // was built with it; otherwise (Debian 12's python3) the same call of SQLite's C API
    // through ctypes, on the libsqlite3 the module itself uses.
    std::ofstream(script) << "import ctypes, sqlite3, sys\n"
                          << "boot = sqlite3.connect(':memory:')\n"
                          << "if hasattr(boot, 'enable_load_extension'):\n"
                          << "    boot.enable_load_extension(True)\n"
                          << "    boot.load_extension(sys.argv[1])\n"
                          << "else:\n"
                          << "    lib = ctypes.CDLL('libsqlite3.so.0')\n"
                          << "    h = ctypes.c_void_p()\n"
                          << "    assert lib.sqlite3_open(b':memory:', ctypes.byref(h)) == 0\n"
                          << "    lib.sqlite3_enable_load_extension(h, 1)\n"
                          << "    err = ctypes.c_char_p()\n"
                          << "    rc = lib.sqlite3_load_extension(h, sys.argv[1].encode(), None, ctypes.byref(err))\n"
                          << "    assert rc == 0, err.value\n"
                          << "    lib.sqlite3_close(h)\n"
                          << "db = sqlite3.connect('file:' + sys.argv[2] + '?vfs=shmregion', uri=True)\n"
                          << "assert db.execute('PRAGMA journal_mode=wal').fetchone()[0] == 'wal'\n"
                          << "db.execute('CREATE TABLE t(v)')\n"
                          << "with db:\n"
                          << "    db.executemany('INSERT INTO t VALUES(?)', [(i,) for i in range(100)])\n"
                          << "print(db.execute('SELECT count(*) FROM t').fetchone()[0])\n"
                          << "db.close()\n";
    const std::string cmd = "python3 " + script.string() + " " + SHMREGION_VFS + " " + file.string() + " 2>&1";
    const std::string text = output_of(cmd);
    BOOST_TEST(text == "100\n");
    BOOST_TEST(list(home.path()).empty());
    Db c(uri(file));
    BOOST_TEST(c.integer("SELECT count(*) FROM t") == 100);
}

BOOST_AUTO_TEST_SUITE_END()
