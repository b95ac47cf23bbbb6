/* shmregion VFS: SQLite's WAL index in a shmregion region, as a loadable SQLite extension.
 *
 * A VFS named "shmregion" that wraps the default "unix" VFS and replaces only its four
 * shared-memory methods (xShmMap, xShmLock, xShmBarrier, xShmUnmap). Everything else (the
 * database, journal and WAL files, their POSIX locks, fsync) is unix's own code, called
 * through. Written in C against shmregion's C API (<shmregion/shmregion.h>) and SQLite's
 * extension interface (<sqlite3ext.h>), so any SQLite client can load it without being
 * recompiled: the sqlite3 shell's `.load`, Python's `load_extension`, sqlite3_load_extension().
 * README.md beside this file shows both; docs/architecture.md says where it sits.
 *
 * The WAL index of database <dir>/<file> is the region "<file>-shm" in <dir> (a POSIX
 * shared-memory segment located by <dir>/<file>-shm.region; `regiontool list <dir>` shows it).
 * SQLite maps it in 32 KiB pieces; the region grows in place piece by piece as SQLite asks,
 * so the pointer xShmMap returns for piece i, data + 4096 + i * 32768, never moves. The first
 * page is the VFS's own: who holds each exclusive slot (below).
 *
 * Locks: SQLite's 8 lock slots are the region's table locks 0..7, taken shared or
 * exclusively with the try forms (busy: SQLITE_BUSY; SQLite's busy handler retries). Lock 8
 * is the "dead man's switch": every connection holds a share of it while it has the index
 * mapped. A connection that can take it exclusively is alone, so the index may be stale (its
 * processes died, and the WAL may have been changed since by a client of another VFS): it
 * zeroes the index, which makes SQLite rebuild it from the WAL file, as unix does when it
 * truncates a -shm file nobody holds.
 *
 * A process killed holding a slot never blocks the others. Its shares are released by the
 * library. Its exclusive holds are reported to the next acquirer as SHMREGION_OWNER_DIED;
 * the VFS then marks the lock consistent and grants it like any other acquisition (unless the
 * slot's owner record shows the holder's process alive: see Threads below). That is
 * safe because it is exactly what SQLite gets from unix, whose POSIX locks simply vanish with
 * a dead process: SQLite never trusts the index because a lock was free. Every reader checks
 * the index header (two copies and a checksum) and rebuilds the index from the WAL file
 * (walIndexRecover, under exclusive locks) when a writer died mid-update; frames a dead
 * writer appended but never committed lie beyond the header's mxFrame, are ignored by
 * readers and overwritten by the next writer; a checkpointer killed part way leaves the WAL
 * intact and nBackfill unchanged, so the next checkpoint copies those frames again.
 *
 * Threads: an exclusive slot belongs to the thread that took it (a robust mutex), while
 * SQLite's locks belong to the connection. Two misuses follow, and neither may make two
 * writers. A transaction that begins on one thread and commits on another: the unlock is
 * refused, the connection lets the slot go all the same (logged through sqlite3_log), and the
 * slot stays busy for everyone until the first thread ends. A thread that ends inside its
 * connection's transaction: the next taker is told OWNER_DIED, finds in the slot's owner record
 * that the holder's process lives, and reports busy until that connection lets go. So use a
 * connection from one thread per transaction (Python's default check_same_thread does). Shares
 * belong to the attach and may go from any thread.
 *
 * Mixing VFSes: a database used through this VFS must not be used through another one
 * (unix's own -shm file) at the same time; their WAL indexes would disagree. */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <shmregion/shmregion.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SRV_NAME "shmregion"
#define SRV_SLOTS SQLITE_SHM_NLOCK /* SQLite's lock slots: table locks 0..7 */
#define SRV_DMS SRV_SLOTS          /* the dead man's switch: table lock 8 */
#define SRV_LOCKS (SRV_SLOTS + 1)
/* Address space reserved per connection for the index to grow into: 8192 pieces of 32 KiB,
 * enough for a WAL of 33 million frames. Only address space; memory is what SQLite maps. */
#define SRV_MAX_INDEX (256ull << 20)
#define SRV_DEFAULT_CONNECTIONS 256 /* attachers: connections with the index mapped at once */
#define SRV_DMS_WAIT_NS 100000000LL /* a zeroing of the index takes microseconds */
#define SRV_DMS_ATTEMPTS 100
/* The region: the VFS's own page (the owner records), then SQLite's pieces. */
#define SRV_META 4096
#define SRV_PIECE 32768
#define SRV_REGION_NAME_MAX 64

/* A database file of this VFS: the unix file it wraps, and its WAL index. Files other than
 * main databases are unix's files, opened in place (no wrapping, no cost). */
typedef struct srv_file {
    sqlite3_file base;     /* pMethods = &srv_io_methods */
    sqlite3_file* real;    /* unix's file, in the same allocation, after this struct */
    char* path;            /* the database's file */
    char* home;            /* its directory */
    char* region;          /* the index's region name */
    int backing;           /* SHMREGION_BACKING_POSIX, or _FILE (URI parameter shm_backing=file) */
    uint32_t connections;  /* max_attachers at creation (URI parameter shm_connections) */
    int any_owner;         /* join another user's index (URI parameter shm_any_owner=1) */
    shmregion_region* shm; /* the index, attached at the first xShmMap */
    uint32_t my_slot;      /* this attach's identity (shmregion_identity), for owner records */
    uint32_t my_generation;
    uint16_t shared_mask;  /* slots this connection holds shared */
    uint16_t excl_mask;    /* slots this connection holds exclusively */
} srv_file;

static sqlite3_vfs srv_vfs;
static sqlite3_vfs* srv_unix;
static sqlite3_io_methods srv_io_methods;

static sqlite3_file* real_of(sqlite3_file* f) { return ((srv_file*)f)->real; }

/* Logs a failure of the C API (sqlite3_log: SQLITE_CONFIG_LOG) and returns `code`. */
static int srv_fail(srv_file* p, int code, const char* what, int rc) {
    sqlite3_log(code, "shmregion VFS: %s of the WAL index '%s' (home %s): %s", what, p->region, p->home,
                rc < 0 ? shmregion_last_error() : "failed");
    return code;
}

/* ---- Region names -------------------------------------------------------------------- */

/* The region of database file `base`: "<base>-shm" where that is a valid region name (1..64
 * bytes, no control character, not starting with '.'); otherwise the name's printable part,
 * shortened, with a hash of the whole name: "db-<part>-<16 hex>-shm". */
static void region_name(const char* base, char* out, size_t out_size) {
    size_t n = strlen(base);
    int plain = n > 0 && n + 4 <= SRV_REGION_NAME_MAX && base[0] != '.';
    size_t i;
    for (i = 0; plain && i < n; ++i)
        if ((unsigned char)base[i] < 0x20 || base[i] == 0x7f) plain = 0;
    if (plain) {
        snprintf(out, out_size, "%s-shm", base);
    } else {
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        char part[37];
        size_t k = 0;
        for (i = 0; i < n; ++i) h = (h ^ (unsigned char)base[i]) * 1099511628211ull;
        for (i = 0; i < n && k + 1 < sizeof part; ++i) {
            const unsigned char c = (unsigned char)base[i];
            if (c >= 0x20 && c != 0x7f && !(k == 0 && c == '.')) part[k++] = (char)c;
        }
        part[k] = '\0';
        snprintf(out, out_size, "db-%s-%016llx-shm", part, (unsigned long long)h);
    }
}

/* ---- The WAL index ------------------------------------------------------------------- */

/* Who holds an exclusive slot: the attach (slot, generation) that took it, written by the
 * holder under the slot's lock and cleared before it lets go. It tells the next taker of a
 * lock whose holder *thread* died whether the holder's *process* is still there. */
typedef struct srv_owner {
    uint32_t slot;
    uint32_t generation; /* 0: nobody (generations start at 1) */
} srv_owner;

static srv_owner* owner_of(srv_file* p, uint32_t i) { return (srv_owner*)shmregion_data(p->shm) + i; }

static void set_owner(srv_file* p, uint32_t i, int held) {
    srv_owner* o = owner_of(p, i);
    __atomic_store_n(&o->slot, held ? p->my_slot : 0u, __ATOMIC_RELAXED);
    __atomic_store_n(&o->generation, held ? p->my_generation : 0u, __ATOMIC_RELEASE);
}

/* Holds a share of the dead man's switch. Whoever finds it free is alone with the index
 * (creator or not) and zeroes it first, as unix truncates an unheld -shm file. */
static int join_index(srv_file* p) {
    int attempt;
    for (attempt = 0; attempt < SRV_DMS_ATTEMPTS; ++attempt) {
        int rc;
        shmregion_reap_dead_attachers(p->shm, NULL); /* so dead connections' shares go now */
        rc = shmregion_try_lock_index(p->shm, SRV_DMS);
        if (rc >= 0) {
            /* Alone: nobody else has the index mapped. SQLite rebuilds it from the WAL. */
            const int r = shmregion_refresh(p->shm, NULL);
            if (r < 0) { /* not zeroed: not marked consistent either, the next joiner zeroes */
                shmregion_unlock_index(p->shm, SRV_DMS);
                return srv_fail(p, SQLITE_IOERR_SHMOPEN, "refresh", r);
            }
            memset(shmregion_data(p->shm), 0, (size_t)shmregion_size(p->shm));
            if (rc == SHMREGION_OWNER_DIED) shmregion_mark_consistent(p->shm, SRV_DMS);
            shmregion_unlock_index(p->shm, SRV_DMS);
        } else if (rc != -EBUSY && rc != -EDEADLK) {
            return srv_fail(p, SQLITE_IOERR_SHMOPEN, "locking the dead man's switch", rc);
        }
        rc = shmregion_try_lock_shared_for(p->shm, SRV_DMS, SRV_DMS_WAIT_NS);
        if (rc == 0) {
            p->shared_mask |= (uint16_t)(1u << SRV_DMS); /* released by xShmUnmap */
            return SQLITE_OK;
        }
        if (rc == SHMREGION_OWNER_DIED) {
            /* A connection died zeroing the index: zero it again (it may be half done). */
            shmregion_unlock_shared(p->shm, SRV_DMS);
            continue;
        }
        if (rc != -ETIMEDOUT) return srv_fail(p, SQLITE_IOERR_SHMOPEN, "sharing the dead man's switch", rc);
    }
    return SQLITE_BUSY; /* SQLite retries (WAL_RETRY), as after unix's busy DMS lock */
}

static int open_index(srv_file* p) {
    shmregion_options o;
    struct stat st;
    int rc;
    shmregion_options_init(&o);
    o.home = p->home;
    o.name = p->region;
    o.backing = p->backing;
    o.size = SRV_META + SRV_PIECE;
    o.max_size = SRV_META + SRV_MAX_INDEX;
    o.locks = SRV_LOCKS;
    o.max_attachers = p->connections;
    o.require_same_owner = !p->any_owner;
    /* The index gets the database's permission bits, as unix's -shm file does. */
    if (stat(p->path, &st) == 0) o.permissions = st.st_mode & 0777;
    rc = shmregion_attach(&o, &p->shm);
    if (rc < 0) {
        p->shm = NULL;
        /* No read-only attach exists: a connection that may not write the index cannot open it. */
        return srv_fail(p, rc == -EACCES || rc == -EROFS ? SQLITE_CANTOPEN : SQLITE_IOERR_SHMOPEN, "attach", rc);
    }
    rc = shmregion_identity(p->shm, &p->my_slot, &p->my_generation);
    if (rc < 0) rc = srv_fail(p, SQLITE_IOERR_SHMOPEN, "identity", rc);
    else rc = join_index(p);
    if (rc != SQLITE_OK) {
        shmregion_detach(p->shm);
        p->shm = NULL;
    }
    return rc;
}

static int srv_shm_map(sqlite3_file* f, int piece, int piece_size, int extend, void volatile** pp) {
    srv_file* p = (srv_file*)f;
    const uint64_t need = SRV_META + (uint64_t)(piece + 1) * (uint64_t)piece_size;
    int rc;
    *pp = NULL;
    if (!p->shm && (rc = open_index(p)) != SQLITE_OK) return rc;
    if (shmregion_size(p->shm) < need) {
        /* Another connection may have grown it: map what it added (cheap if nothing). */
        rc = shmregion_refresh(p->shm, NULL);
        if (rc < 0) return srv_fail(p, SQLITE_IOERR_SHMMAP, "refresh", rc);
        if (shmregion_size(p->shm) < need) {
            if (!extend) return SQLITE_OK; /* not there yet, and not asked to add it */
            if (need > shmregion_max_size(p->shm)) {
                sqlite3_log(SQLITE_IOERR_SHMSIZE, "shmregion VFS: the WAL index '%s' would exceed %llu bytes",
                            p->region, (unsigned long long)shmregion_max_size(p->shm));
                return SQLITE_IOERR_SHMSIZE;
            }
            rc = shmregion_grow(p->shm, need);
            if (rc < 0) return srv_fail(p, rc == -ENOSPC ? SQLITE_FULL : SQLITE_IOERR_SHMSIZE, "grow", rc);
        }
    }
    *pp = (char*)shmregion_data(p->shm) + SRV_META + (size_t)piece * (size_t)piece_size;
    return SQLITE_OK;
}

/* Maps one table-lock result to SQLite's: held, busy, or an error. An OWNER_DIED acquisition
 * is acknowledged at once (see the top of this file), unless the holder's process lives on:
 * then only its thread ended, and its connection may still be inside its transaction. Handing
 * the slot over would make two writers, so it stays busy (not marked consistent: every taker
 * checks again) until that connection lets go or its process ends. */
static int lock_result(srv_file* p, uint32_t slot, int shared, int rc) {
    if (rc == SHMREGION_OWNER_DIED) {
        const srv_owner* o = owner_of(p, slot);
        const uint32_t generation = __atomic_load_n(&o->generation, __ATOMIC_ACQUIRE);
        const uint32_t who = __atomic_load_n(&o->slot, __ATOMIC_RELAXED);
        if (generation != 0 && !(who == p->my_slot && generation == p->my_generation) &&
            shmregion_alive(p->shm, who, generation) == 1) {
            sqlite3_log(SQLITE_MISUSE,
                        "shmregion VFS: lock %u of the WAL index '%s' (home %s): the thread that took it "
                        "ended, but its connection lives on (attacher slot %u); busy until it lets go",
                        slot, p->region, p->home, who);
            if (shared) shmregion_unlock_shared(p->shm, slot);
            else shmregion_unlock_index(p->shm, slot);
            return SQLITE_BUSY;
        }
        shmregion_mark_consistent(p->shm, slot);
        if (!shared) set_owner(p, slot, 1);
        return SQLITE_OK;
    }
    if (rc == 0) {
        if (!shared) set_owner(p, slot, 1);
        return SQLITE_OK;
    }
    /* -EDEADLK: this thread holds it exclusively through another connection: busy for us. */
    if (rc == -EBUSY || rc == -EDEADLK) return SQLITE_BUSY;
    return srv_fail(p, SQLITE_IOERR_SHMLOCK, "lock", rc);
}

/* Releases the slots of `mask` this connection holds. An exclusive slot taken on another
 * thread cannot be released here (the C API refuses): the connection lets it go all the same,
 * and its owner record with it, so the slot is busy while that thread lives and is handed on
 * when it ends. Never two writers: this connection no longer counts itself one. */
static void release_slots(srv_file* p, uint16_t mask) {
    uint32_t i;
    for (i = 0; i < SRV_LOCKS; ++i) {
        const uint16_t bit = (uint16_t)(1u << i);
        if (!(mask & bit)) continue;
        if (p->excl_mask & bit) {
            int rc;
            set_owner(p, i, 0);
            rc = shmregion_unlock_index(p->shm, i);
            if (rc < 0)
                sqlite3_log(SQLITE_MISUSE,
                            "shmregion VFS: lock %u of the WAL index '%s' (home %s) was taken on another thread "
                            "and stays held until that thread ends: use a connection from one thread per "
                            "transaction (%s)",
                            i, p->region, p->home, shmregion_last_error());
            p->excl_mask = (uint16_t)(p->excl_mask & ~bit);
        } else if (p->shared_mask & bit) {
            shmregion_unlock_shared(p->shm, i);
            p->shared_mask = (uint16_t)(p->shared_mask & ~bit);
        }
    }
}

static int srv_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    srv_file* p = (srv_file*)f;
    uint16_t mask, taken = 0;
    int i;
    if (!p->shm || offset < 0 || n < 1 || offset + n > SRV_SLOTS) return SQLITE_IOERR_SHMLOCK;
    mask = (uint16_t)(((1u << n) - 1u) << offset);
    if (flags & SQLITE_SHM_UNLOCK) {
        release_slots(p, mask);
        return SQLITE_OK;
    }
    if (flags & SQLITE_SHM_SHARED) { /* n == 1 */
        int rc;
        if (p->shared_mask & mask) return SQLITE_OK;
        if (p->excl_mask & mask) return SQLITE_BUSY; /* as unix: no shared beside our exclusive */
        rc = lock_result(p, (uint32_t)offset, 1, shmregion_try_lock_shared(p->shm, (uint32_t)offset));
        if (rc == SQLITE_OK) p->shared_mask |= mask;
        return rc;
    }
    /* Exclusive, slots offset .. offset+n-1: all of them or none. */
    if (p->shared_mask & mask) return SQLITE_BUSY;
    for (i = offset; i < offset + n; ++i) {
        const uint16_t bit = (uint16_t)(1u << i);
        int rc;
        if (p->excl_mask & bit) continue;
        rc = lock_result(p, (uint32_t)i, 0, shmregion_try_lock_index(p->shm, (uint32_t)i));
        if (rc != SQLITE_OK) {
            release_slots(p, taken); /* only what this call took */
            return rc;
        }
        p->excl_mask |= bit;
        taken |= bit;
    }
    return SQLITE_OK;
}

static void srv_shm_barrier(sqlite3_file* f) {
    (void)f;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Detaches; if SQLite asks (it holds the database's EXCLUSIVE lock: no other connection
 * exists, and it is about to delete the WAL), removes the region at this last detach. */
static int srv_shm_unmap(sqlite3_file* f, int delete_flag) {
    srv_file* p = (srv_file*)f;
    int rc = SQLITE_OK;
    if (!p->shm) return SQLITE_OK;
    release_slots(p, (uint16_t)(p->shared_mask | p->excl_mask));
    if (delete_flag) {
        /* Only if this is the last live attacher (SQLite holds the database's EXCLUSIVE lock,
         * so it should be): a removal would make every other connection's joins fail. */
        shmregion_info info;
        shmregion_reap_dead_attachers(p->shm, NULL); /* killed connections count no more */
        if (shmregion_inspect(p->home, p->region, &info, sizeof info) == 0 && info.live_attachers == 1) {
            const int r = shmregion_mark_for_removal(p->shm);
            if (r < 0) rc = srv_fail(p, SQLITE_IOERR_DELETE, "removal", r);
        }
    }
    if (shmregion_detach(p->shm) < 0 && rc == SQLITE_OK) rc = srv_fail(p, SQLITE_IOERR_SHMMAP, "detach", -1);
    p->shm = NULL;
    p->shared_mask = p->excl_mask = 0;
    return rc;
}

/* ---- The database file: unix's, called through ------------------------------------- */

static int srv_close(sqlite3_file* f) {
    srv_file* p = (srv_file*)f;
    int rc;
    if (p->shm) srv_shm_unmap(f, 0);
    rc = p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
    sqlite3_free(p->path);
    sqlite3_free(p->home);
    sqlite3_free(p->region);
    p->path = p->home = p->region = NULL;
    return rc;
}
static int srv_read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
    return real_of(f)->pMethods->xRead(real_of(f), b, n, o);
}
static int srv_write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
    return real_of(f)->pMethods->xWrite(real_of(f), b, n, o);
}
static int srv_truncate(sqlite3_file* f, sqlite3_int64 size) {
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
static int srv_sync(sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); }
static int srv_file_size(sqlite3_file* f, sqlite3_int64* size) {
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
static int srv_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
static int srv_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
static int srv_check_reserved(sqlite3_file* f, int* out) {
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
static int srv_file_control(sqlite3_file* f, int op, void* arg) {
    int rc;
    /* unix would answer from its own -shm locks, which this VFS does not take: unknown here. */
    if (op == SQLITE_FCNTL_EXTERNAL_READER) return SQLITE_NOTFOUND;
    rc = real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK) {
        char* inner = *(char**)arg;
        *(char**)arg = sqlite3_mprintf(SRV_NAME "/%z", inner);
    }
    return rc;
}
static int srv_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
static int srv_device_characteristics(sqlite3_file* f) {
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
static int srv_fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** pp) {
    sqlite3_file* r = real_of(f);
    if (r->pMethods->iVersion < 3 || !r->pMethods->xFetch) {
        *pp = NULL;
        return SQLITE_OK;
    }
    return r->pMethods->xFetch(r, o, n, pp);
}
static int srv_unfetch(sqlite3_file* f, sqlite3_int64 o, void* page) {
    sqlite3_file* r = real_of(f);
    if (r->pMethods->iVersion < 3 || !r->pMethods->xUnfetch) return SQLITE_OK;
    return r->pMethods->xUnfetch(r, o, page);
}

/* URI parameter `name` of the database, as an unsigned number in [lo, hi]; else `fallback`. */
static uint32_t uri_number(const char* db, const char* name, uint32_t lo, uint32_t hi, uint32_t fallback) {
    const sqlite3_int64 v = sqlite3_uri_int64(db, name, (sqlite3_int64)fallback);
    return v < (sqlite3_int64)lo || v > (sqlite3_int64)hi ? fallback : (uint32_t)v;
}

static int srv_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    srv_file* p = (srv_file*)f;
    const char* slash;
    const char* backing;
    char region[SRV_REGION_NAME_MAX + 1];
    int rc;
    (void)vfs;
    if (!(flags & SQLITE_OPEN_MAIN_DB) || !name) /* journals, WALs, temp files: unix's own */
        return srv_unix->xOpen(srv_unix, name, f, flags, out_flags);
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file*)&p[1];
    slash = strrchr(name, '/'); /* SQLite gives xOpen a full path (xFullPathname) */
    region_name(slash ? slash + 1 : name, region, sizeof region);
    p->home = slash ? sqlite3_mprintf("%.*s", (int)(slash == name ? 1 : slash - name), name) : sqlite3_mprintf(".");
    p->region = sqlite3_mprintf("%s", region);
    p->path = sqlite3_mprintf("%s", name);
    backing = sqlite3_uri_parameter(name, "shm_backing");
    p->backing = backing && strcmp(backing, "file") == 0 ? SHMREGION_BACKING_FILE : SHMREGION_BACKING_POSIX;
    p->connections = uri_number(name, "shm_connections", 1, 4096, SRV_DEFAULT_CONNECTIONS);
    p->any_owner = sqlite3_uri_boolean(name, "shm_any_owner", 0);
    rc = p->home && p->region && p->path ? srv_unix->xOpen(srv_unix, name, p->real, flags, out_flags)
                                         : SQLITE_NOMEM;
    if (rc != SQLITE_OK) {
        sqlite3_free(p->path);
        sqlite3_free(p->home);
        sqlite3_free(p->region);
        p->base.pMethods = NULL; /* SQLite calls no xClose then */
        return rc;
    }
    p->base.pMethods = &srv_io_methods;
    return SQLITE_OK;
}

/* ---- The VFS: unix's, but for xOpen ------------------------------------------------ */

static int srv_delete(sqlite3_vfs* v, const char* n, int sync_dir) {
    (void)v;
    return srv_unix->xDelete(srv_unix, n, sync_dir);
}
static int srv_access(sqlite3_vfs* v, const char* n, int flags, int* out) {
    (void)v;
    return srv_unix->xAccess(srv_unix, n, flags, out);
}
static int srv_full_pathname(sqlite3_vfs* v, const char* n, int size, char* out) {
    (void)v;
    return srv_unix->xFullPathname(srv_unix, n, size, out);
}
static void* srv_dl_open(sqlite3_vfs* v, const char* n) {
    (void)v;
    return srv_unix->xDlOpen(srv_unix, n);
}
static void srv_dl_error(sqlite3_vfs* v, int n, char* out) {
    (void)v;
    srv_unix->xDlError(srv_unix, n, out);
}
static void (*srv_dl_sym(sqlite3_vfs* v, void* h, const char* s))(void) {
    (void)v;
    return srv_unix->xDlSym(srv_unix, h, s);
}
static void srv_dl_close(sqlite3_vfs* v, void* h) {
    (void)v;
    srv_unix->xDlClose(srv_unix, h);
}
static int srv_randomness(sqlite3_vfs* v, int n, char* out) {
    (void)v;
    return srv_unix->xRandomness(srv_unix, n, out);
}
static int srv_sleep(sqlite3_vfs* v, int us) {
    (void)v;
    return srv_unix->xSleep(srv_unix, us);
}
static int srv_current_time(sqlite3_vfs* v, double* out) {
    (void)v;
    return srv_unix->xCurrentTime(srv_unix, out);
}
static int srv_get_last_error(sqlite3_vfs* v, int n, char* out) {
    (void)v;
    return srv_unix->xGetLastError ? srv_unix->xGetLastError(srv_unix, n, out) : 0;
}
static int srv_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
    (void)v;
    return srv_unix->xCurrentTimeInt64(srv_unix, out);
}
static int srv_set_system_call(sqlite3_vfs* v, const char* n, sqlite3_syscall_ptr fn) {
    (void)v;
    return srv_unix->xSetSystemCall(srv_unix, n, fn);
}
static sqlite3_syscall_ptr srv_get_system_call(sqlite3_vfs* v, const char* n) {
    (void)v;
    return srv_unix->xGetSystemCall(srv_unix, n);
}
static const char* srv_next_system_call(sqlite3_vfs* v, const char* n) {
    (void)v;
    return srv_unix->xNextSystemCall(srv_unix, n);
}

static pthread_once_t srv_once = PTHREAD_ONCE_INIT;

static void srv_build(void) {
    static const sqlite3_io_methods methods = {
        3,
        srv_close, srv_read, srv_write, srv_truncate, srv_sync, srv_file_size,
        srv_lock, srv_unlock, srv_check_reserved, srv_file_control, srv_sector_size,
        srv_device_characteristics,
        srv_shm_map, srv_shm_lock, srv_shm_barrier, srv_shm_unmap,
        srv_fetch, srv_unfetch,
    };
    srv_unix = sqlite3_vfs_find("unix");
    if (!srv_unix || srv_unix->iVersion < 3) return;
    srv_io_methods = methods;
    srv_vfs.iVersion = 3;
    srv_vfs.szOsFile = (int)sizeof(srv_file) + srv_unix->szOsFile;
    srv_vfs.mxPathname = srv_unix->mxPathname;
    srv_vfs.zName = SRV_NAME;
    srv_vfs.xOpen = srv_open;
    srv_vfs.xDelete = srv_delete;
    srv_vfs.xAccess = srv_access;
    srv_vfs.xFullPathname = srv_full_pathname;
    srv_vfs.xDlOpen = srv_dl_open;
    srv_vfs.xDlError = srv_dl_error;
    srv_vfs.xDlSym = srv_dl_sym;
    srv_vfs.xDlClose = srv_dl_close;
    srv_vfs.xRandomness = srv_randomness;
    srv_vfs.xSleep = srv_sleep;
    srv_vfs.xCurrentTime = srv_current_time;
    srv_vfs.xGetLastError = srv_get_last_error;
    srv_vfs.xCurrentTimeInt64 = srv_current_time_int64;
    srv_vfs.xSetSystemCall = srv_set_system_call;
    srv_vfs.xGetSystemCall = srv_get_system_call;
    srv_vfs.xNextSystemCall = srv_next_system_call;
}

/* The entry point SQLite derives from the file name libshmregionvfs.so. Registers the VFS
 * "shmregion" (not as the default: open databases with vfs=shmregion) for the life of the
 * process, whatever connection loaded it. */
__attribute__((visibility("default"))) int sqlite3_shmregionvfs_init(sqlite3* db, char** error,
                                                                     const sqlite3_api_routines* api) {
    int rc;
    (void)db;
    SQLITE_EXTENSION_INIT2(api);
    pthread_once(&srv_once, srv_build);
    if (!srv_unix || !srv_vfs.zName) {
        if (error) *error = sqlite3_mprintf("shmregion VFS: this SQLite has no \"unix\" VFS of version 3 to wrap");
        return SQLITE_ERROR;
    }
    rc = sqlite3_vfs_register(&srv_vfs, 0);
    if (rc != SQLITE_OK) return rc;
    return SQLITE_OK_LOAD_PERMANENTLY;
}
