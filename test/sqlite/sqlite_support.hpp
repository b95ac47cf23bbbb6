// Running SQLite through the shmregion VFS in tests (test/sqlite). SHMREGION_VFS is the path
// of the loadable extension the binary loads (set by CMake): the installed one's build for
// the functional tests, its test-hook build for the torture.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace shmregion::sqltest {

/// An error of SQLite, with its message.
struct SqliteError : std::runtime_error {
    int code;
    SqliteError(int c, const std::string& what) : std::runtime_error(what), code(c) {}
};

/// Loads SHMREGION_VFS once in this process (children fork()ed later inherit it): the VFS
/// "shmregion" is registered from then on.
inline void load_vfs() {
    static bool loaded = false;
    if (loaded) return;
    sqlite3* db = nullptr;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) throw SqliteError(SQLITE_ERROR, "sqlite3_open(:memory:)");
    sqlite3_enable_load_extension(db, 1);
    char* err = nullptr;
    const int rc = sqlite3_load_extension(db, SHMREGION_VFS, nullptr, &err);
    const std::string why = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw SqliteError(rc, std::string("load ") + SHMREGION_VFS + ": " + why);
    if (!sqlite3_vfs_find("shmregion")) throw SqliteError(SQLITE_ERROR, "the extension registered no VFS 'shmregion'");
    loaded = true;
}

/// The URI that opens `db` through `vfs` ("shmregion" or "unix"), with extra parameters.
inline std::string uri(const std::filesystem::path& db, const std::string& vfs = "shmregion",
                       const std::string& extra = "") {
    return "file:" + db.string() + "?vfs=" + vfs + (extra.empty() ? "" : "&" + extra);
}

/// A connection; every failure throws SqliteError naming the statement.
class Db {
public:
    explicit Db(const std::string& uri, int busy_ms = 10000) {
        const int rc = sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                       nullptr);
        if (rc != SQLITE_OK) {
            const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            sqlite3_close(db_);
            db_ = nullptr;
            throw SqliteError(rc, "open " + uri + ": " + why);
        }
        sqlite3_busy_timeout(db_, busy_ms);
        sqlite3_extended_result_codes(db_, 1);
    }
    ~Db() {
        if (db_) sqlite3_close(db_);
    }
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    sqlite3* get() const noexcept { return db_; }

    /// Runs sql; returns SQLite's code (no throw) for the caller to judge.
    int try_exec(const std::string& sql) noexcept { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
    void exec(const std::string& sql) {
        const int rc = try_exec(sql);
        if (rc != SQLITE_OK) throw SqliteError(rc, sql + ": " + sqlite3_errmsg(db_));
    }
    /// The first column of the first row of sql, as text ("" if no row).
    std::string text(const std::string& sql) {
        sqlite3_stmt* st = prepare(sql);
        std::string out;
        const int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw SqliteError(rc, sql + ": " + sqlite3_errmsg(db_));
        return out;
    }
    std::int64_t integer(const std::string& sql) {
        const std::string t = text(sql);
        return t.empty() ? 0 : std::stoll(t);
    }
    sqlite3_stmt* prepare(const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        const int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
        if (rc != SQLITE_OK) throw SqliteError(rc, "prepare " + sql + ": " + sqlite3_errmsg(db_));
        return st;
    }
    /// The VFS the main database was opened with ("shmregion/unix" through ours).
    std::string vfs_name() {
        char* name = nullptr;
        sqlite3_file_control(db_, "main", SQLITE_FCNTL_VFSNAME, &name);
        std::string out = name ? name : "";
        sqlite3_free(name);
        return out;
    }

private:
    sqlite3* db_ = nullptr;
};

/// The region of database file `db`'s WAL index, for names that are valid region names.
inline std::string index_region(const std::filesystem::path& db) { return db.filename().string() + "-shm"; }

}  // namespace shmregion::sqltest
