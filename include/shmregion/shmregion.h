/* shmregion: the C API. Shared-memory regions for multi-process databases, for programs
 * written in C (and anything with a C FFI). Compiles as C99 and as C++; link the library
 * (libshmregion) as for the C++ API. docs/c-api.md has an example and the rules in full.
 *
 *   shmregion_options o;
 *   shmregion_options_init(&o);
 *   o.home = "/var/db"; o.name = "jobs"; o.backing = SHMREGION_BACKING_POSIX; o.size = 1 << 20;
 *   shmregion_region* r;
 *   int rc = shmregion_attach(&o, &r);
 *   if (rc < 0) { fprintf(stderr, "%s\n", shmregion_last_error()); return 1; }
 *   rc = shmregion_lock(r);             // 0, or SHMREGION_OWNER_DIED: held either way
 *   ...                                 // shmregion_data(r), shmregion_size(r) bytes
 *   shmregion_unlock(r);
 *   shmregion_detach(r);                // frees r
 *
 * Errors. Every function that can fail returns an int: 0 on success, a negative code on
 * failure, never touching errno and never printing. A negative code is either -errno (a
 * failure of the operating system: -ENOSPC, -EACCES, ...) or one of the SHMREGION_E...
 * codes below (a failure only this library detects; each is one shmregion::errc of the C++
 * API, all at or below -1000, outside the errno range). One function also returns a
 * positive value, which is a success: shmregion_lock() (SHMREGION_OWNER_DIED, the lock is
 * held). shmregion_strerror(code) says what a code means; shmregion_last_error() gives the
 * whole message of the calling thread's last failure, naming the operation, the region and
 * the cause ("attach 'jobs' (home /var/db): open /var/db/jobs.region: Permission denied").
 * Accessors that cannot fail (shmregion_data(), shmregion_size(), ...) return their value.
 *
 * Thread safety: the functions taking no shmregion_region* may be called from any thread.
 * A shmregion_region is not synchronised: use one from one thread at a time (or under your
 * own lock); two attaches of one region, even in one process, are independent attachers.
 *
 * fork(): an attach belongs to the process that made it. A child that inherits a
 * shmregion_region* must call shmregion_join_after_fork() before anything else (that is
 * how anonymous regions are shared); otherwise its calls fail with SHMREGION_EWRONG_PROCESS
 * and its shmregion_detach() only unmaps its copy. */
#ifndef SHMREGION_SHMREGION_H
#define SHMREGION_SHMREGION_H

#include <shmregion/export.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Codes -------------------------------------------------------------------------- */

/** Returned by the lock calls (a success: the lock is held): an exclusive holder of that
 *  lock died holding it, and no holder has called shmregion_mark_consistent() since. The
 *  library has repaired its own state; the application's data in the region may be
 *  half-updated. Every acquisition (shared or exclusive, any process) says so until a holder
 *  marks the lock consistent. */
#define SHMREGION_OWNER_DIED 1

/** The index that names the region lock (not a lock of the table) in shmregion_mark_consistent(). */
#define SHMREGION_REGION_LOCK UINT32_MAX

/** The first library code: every SHMREGION_E... code is SHMREGION_EBASE - n, n >= 1 (n is
 *  the value of the C++ shmregion::errc). Codes above SHMREGION_EBASE and below 0 are -errno. */
#define SHMREGION_EBASE (-1000)
#define SHMREGION_EINVALID_NAME (-1001)        /**< empty, too long, '/', NUL, control char, "." or "..", leading '.' */
#define SHMREGION_EINVALID_SIZE (-1002)        /**< 0, beyond the address space, or max_size below size */
#define SHMREGION_EINVALID_OPTIONS (-1003)     /**< an option value or combination that cannot work */
#define SHMREGION_EBAD_MAGIC (-1004)           /**< the file is not a shmregion region or locator */
#define SHMREGION_EVERSION_MISMATCH (-1005)    /**< written by an incompatible layout version */
#define SHMREGION_ELAYOUT_MISMATCH (-1006)     /**< written by a build with another mutex or page size */
#define SHMREGION_EHEADER_CORRUPT (-1007)      /**< a header field is out of range (the message names it) */
#define SHMREGION_EHEADER_INCOMPLETE (-1008)   /**< the creator never finished before the join timeout */
#define SHMREGION_ESIZE_MISMATCH (-1009)       /**< the header's sizes disagree with the backing's real size */
#define SHMREGION_EBACKING_MISMATCH (-1010)    /**< the region exists with another backing */
#define SHMREGION_EEXISTS (-1011)              /**< SHMREGION_CREATE_ONLY and the region exists */
#define SHMREGION_ENOT_FOUND (-1012)           /**< SHMREGION_JOIN_ONLY, unlink or inspect: no such region */
#define SHMREGION_EMARKED_FOR_REMOVAL (-1013)  /**< the region is being removed; it cannot be joined */
#define SHMREGION_ETABLE_FULL (-1014)          /**< every attacher slot is held by a live process */
#define SHMREGION_ELOCK_NOT_RECOVERABLE (-1015)/**< the robust mutex is not recoverable */
#define SHMREGION_ELOCK_TIMEOUT (-1016)        /**< the region lock was not acquired before the join timeout */
#define SHMREGION_ESEGMENT_MISSING (-1017)     /**< the locator names a segment that no longer exists */
#define SHMREGION_ENOT_ATTACHED (-1018)        /**< the region handle is not attached */
#define SHMREGION_EWRONG_PROCESS (-1019)       /**< handle inherited across fork() used before shmregion_join_after_fork() */
#define SHMREGION_ENOT_GROWABLE (-1020)        /**< the backing cannot change size (System V, anonymous) */
#define SHMREGION_EWRONG_OWNER (-1021)         /**< the region's file or segment belongs to another user */
#define SHMREGION_EENGINE_UNAVAILABLE (-1022)  /**< the I/O engine asked for is not built or cannot run here */
#define SHMREGION_ESEGMENT_FOREIGN (-1023)     /**< the segment lives in another /dev/shm or IPC namespace */
/** The last library code, for range checks (a later version may add codes below it). */
#define SHMREGION_ELAST (-1023)
/** A failure the library could not classify (an error of an unknown kind); rare. */
#define SHMREGION_EUNKNOWN (-1999)

/* ---- Enumerations (the numeric values are those of the C++ API; never renumbered) ------ */

/** Where a region's memory lives (C++ shmregion::Backing). */
enum shmregion_backing {
    SHMREGION_BACKING_ANY = 0,       /**< join only: whatever backing the region has */
    SHMREGION_BACKING_FILE = 1,      /**< mmap of <home>/<name>.region */
    SHMREGION_BACKING_POSIX = 2,     /**< shm_open segment, located by <home>/<name>.region */
    SHMREGION_BACKING_SYSV = 3,      /**< shmget segment, located by <home>/<name>.region; fixed size */
    SHMREGION_BACKING_ANONYMOUS = 4, /**< MAP_SHARED|MAP_ANONYMOUS, shared with fork()ed children only */
    SHMREGION_BACKING_HEAP = 5       /**< private memory of this process */
};

/** How shmregion_attach() treats an existing or missing region (C++ shmregion::OpenMode). */
enum shmregion_open_mode {
    SHMREGION_CREATE_OR_JOIN = 0, /**< join it if it exists, else create it (exactly one racer creates) */
    SHMREGION_CREATE_ONLY = 1,    /**< SHMREGION_EEXISTS if it exists */
    SHMREGION_JOIN_ONLY = 2       /**< SHMREGION_ENOT_FOUND if it does not exist */
};

/** The I/O engine of extension, prefault and flush (C++ shmregion::io::EngineKind). */
enum shmregion_io_engine {
    SHMREGION_ENGINE_AUTO = 0,   /**< SHMREGION_IO_ENGINE from the environment, else the first that works */
    SHMREGION_ENGINE_URING = 1,  /**< io_uring */
    SHMREGION_ENGINE_LIBAIO = 2, /**< Linux native AIO */
    SHMREGION_ENGINE_POSIX = 3,  /**< POSIX AIO */
    SHMREGION_ENGINE_SYNC = 4    /**< plain system calls; always works */
};

/** Prefaulting at attach (C++ shmregion::Prefault). */
enum shmregion_prefault {
    SHMREGION_PREFAULT_NONE = 0,      /**< pages fault in as the application touches them */
    SHMREGION_PREFAULT_WAIT = 1,      /**< attach returns once every page is resident */
    SHMREGION_PREFAULT_BACKGROUND = 2 /**< attach starts it and returns (shmregion_prefault_wait()) */
};

/** The region lock's state as shmregion_inspect() read it. */
enum shmregion_lock_state {
    SHMREGION_LOCK_FREE = 0,      /**< nobody holds it */
    SHMREGION_LOCK_HELD = 1,      /**< a live process holds it */
    SHMREGION_LOCK_OWNER_DEAD = 2 /**< its holder died; the next locker recovers it */
};

/** Flags of shmregion_unlink(), or-ed. */
enum shmregion_unlink_flags {
    /** Never attach or lock (the holder may be dead): remove the segment the region's file
     *  names, then the file. Without it: attach, mark for removal, detach (the region goes
     *  when its last attacher detaches). */
    SHMREGION_UNLINK_FORCE = 1,
    /** Remove a region whose file belongs to another user too (RemoveOptions::require_same_owner = false). */
    SHMREGION_UNLINK_ANY_OWNER = 2,
    /** Forced: remove the file of a region whose segment lives in another namespace
     *  (RemoveOptions::allow_foreign). */
    SHMREGION_UNLINK_ALLOW_FOREIGN = 4
};

/* ---- Options ----------------------------------------------------------------------- */

/** What to attach to, and how (C++ shmregion::Options). Fill it with
 *  shmregion_options_init(), then set the fields you need.
 *
 *  ABI: the struct may gain fields at its end in later versions. struct_size, its first
 *  field, records the size the caller was compiled with (shmregion_options_init() sets it):
 *  a newer library gives the fields an older caller does not know their defaults, and an
 *  older library accepts a newer caller's struct as long as the fields it does not know
 *  are zero (SHMREGION_EINVALID_OPTIONS otherwise), as openat2(2) and perf_event_open(2)
 *  do. So never copy the struct between programs built against different headers without
 *  its struct_size, and never set struct_size by hand. */
typedef struct shmregion_options {
    size_t struct_size;          /**< sizeof(shmregion_options) of the caller; set by shmregion_options_init() */
    const char* home;            /**< directory of the region's file; must exist (ignored by anonymous, heap) */
    const char* name;            /**< 1..64 bytes, no '/', NUL, control chars; not starting with '.' */
    int backing;                 /**< enum shmregion_backing; default SHMREGION_BACKING_FILE */
    int open_mode;               /**< enum shmregion_open_mode; default SHMREGION_CREATE_OR_JOIN */
    uint64_t size;               /**< usable bytes, rounded up to pages; needed to create, ignored on join */
    uint64_t max_size;           /**< growth ceiling in usable bytes; 0 = same as size (address space only) */
    uint32_t max_attachers;      /**< attacher table size, fixed at creation, 1..4096; default 128 */
    uint32_t permissions;        /**< mode bits of the file and segment, within 0777, umask ignored; default 0600 */
    int64_t join_timeout_ms;     /**< wait for a creator, a removal, the lock during attach; default 5000 */
    int io_engine;               /**< enum shmregion_io_engine; default SHMREGION_ENGINE_AUTO */
    int prefault;                /**< enum shmregion_prefault; default SHMREGION_PREFAULT_NONE */
    int remove_on_last_detach;   /**< nonzero: the region goes when its last attacher detaches; default 0 */
    int require_same_owner;      /**< nonzero: join only regions of this user (SHMREGION_EWRONG_OWNER); default 1 */
    /* Version 2 (0.2): */
    uint32_t locks;              /**< locks in the region's lock table, fixed at creation, 0..4096; default 0 */
} shmregion_options;

/** Fills *o with the defaults for a caller whose shmregion_options is struct_size bytes
 *  (use shmregion_options_init(), which passes sizeof). home and name are NULL. Returns 0,
 *  or -EINVAL if o is NULL or struct_size is smaller than the first version's struct. */
SHMREGION_API int shmregion_options_init_sized(shmregion_options* o, size_t struct_size);

/** Fills *o with the defaults (see shmregion_options_init_sized()). */
static inline int shmregion_options_init(shmregion_options* o) {
    return shmregion_options_init_sized(o, sizeof(shmregion_options));
}

/* ---- Attach and detach --------------------------------------------------------------- */

/** An attach of a region: opaque; made by shmregion_attach(), freed by shmregion_detach(). */
typedef struct shmregion_region shmregion_region;

/** Creates or joins the region *o describes (see open_mode); of any number of processes
 *  racing to create one name, exactly one creates. o's strings are copied; they need not
 *  outlive the call. On success stores the new handle in *out and returns 0; on failure
 *  stores NULL and returns a negative code: SHMREGION_EINVALID_NAME / _SIZE / _OPTIONS
 *  (the message names the field), SHMREGION_EEXISTS, SHMREGION_ENOT_FOUND,
 *  SHMREGION_EHEADER_INCOMPLETE, SHMREGION_EBAD_MAGIC, -EACCES, -ENOSPC, ... */
SHMREGION_API int shmregion_attach(const shmregion_options* o, shmregion_region** out);

/** Leaves the region and frees r, whatever the outcome (r is invalid afterwards): releases
 *  the lock if r holds it, frees the slot, decrements the reference count and, if this
 *  was the last attacher of a region marked for removal, removes it. Unmaps in every case,
 *  so pointers from shmregion_data() become invalid. NULL is a no-op that returns 0.
 *  Returns 0 or the negative code of a failed step (the detach is complete all the same). */
SHMREGION_API int shmregion_detach(shmregion_region* r);

/** In a fork()ed child that inherited r: become an attacher of its own. No-op in the process
 *  that attached. Returns 0 or a negative code (SHMREGION_ETABLE_FULL, ...). */
SHMREGION_API int shmregion_join_after_fork(shmregion_region* r);

/* ---- Accessors (cannot fail; a NULL handle gives NULL or 0) ----------------------------- */

/** The usable memory: page-aligned, shmregion_size(r) bytes, zero-filled at creation and
 *  where it grew. Never moves while r is attached, however the region grows. */
SHMREGION_API void* shmregion_data(const shmregion_region* r);
/** Usable bytes mapped by this attach, as of its last attach, lock, grow or refresh. */
SHMREGION_API uint64_t shmregion_size(const shmregion_region* r);
/** The growth ceiling in usable bytes (the address space this attach reserved). */
SHMREGION_API uint64_t shmregion_max_size(const shmregion_region* r);
/** 1 if this attach created the region, else 0. */
SHMREGION_API int shmregion_created(const shmregion_region* r);
/** The region's backing (enum shmregion_backing; never SHMREGION_BACKING_ANY once attached). */
SHMREGION_API int shmregion_backing(const shmregion_region* r);
/** The region's name; valid while r is. */
SHMREGION_API const char* shmregion_name(const shmregion_region* r);
/** The region's file in home; "" for anonymous and heap regions. Valid while r is. */
SHMREGION_API const char* shmregion_file(const shmregion_region* r);

/* ---- Operations on an attach ------------------------------------------------------ */

/** Grows the region to at least new_size usable bytes (rounded up to pages), in place:
 *  shmregion_data() does not move. Other processes see it at their next lock or refresh. A
 *  size at or below the current one succeeds and does nothing. Takes the region lock, or
 *  uses it if r holds it. Errors: SHMREGION_EINVALID_SIZE (beyond max_size),
 *  SHMREGION_ENOT_GROWABLE (System V, anonymous), -ENOSPC, -EFBIG, -EDQUOT. */
SHMREGION_API int shmregion_grow(shmregion_region* r, uint64_t new_size);

/** Maps what other processes' growth added (cheap when nothing changed). If changed is not
 *  NULL, stores 1 there if the size changed, else 0. Call it before using bytes beyond the
 *  shmregion_size() you know when reading without the lock. Returns 0 or a negative code
 *  (SHMREGION_EHEADER_CORRUPT, SHMREGION_ESIZE_MISMATCH). */
SHMREGION_API int shmregion_refresh(shmregion_region* r, int* changed);

/** Takes the region's robust process-shared mutex; blocks. Returns 0 (held), or
 *  SHMREGION_OWNER_DIED (also held: a previous holder died holding it; the library repaired
 *  its header, the application's data may need checking; reported until a holder calls
 *  shmregion_mark_consistent(r, SHMREGION_REGION_LOCK)), or a negative code, the lock not
 *  held: SHMREGION_ELOCK_NOT_RECOVERABLE, -EDEADLK if r already holds it,
 *  SHMREGION_EWRONG_PROCESS. Release it with shmregion_unlock() on the same thread. */
SHMREGION_API int shmregion_lock(shmregion_region* r);

/** As shmregion_lock(), waiting at most timeout_ns: -ETIMEDOUT (not held, no error message)
 *  if the lock was not acquired in time. */
SHMREGION_API int shmregion_try_lock_for(shmregion_region* r, int64_t timeout_ns);

/** Releases the lock r holds. Returns 0, or -EPERM if r does not hold it or another thread
 *  took it (a mutex belongs to its thread: it stays held, to be released on that thread). */
SHMREGION_API int shmregion_unlock(shmregion_region* r);

/* ---- The lock table (shmregion_options.locks) ----------------------------------------
 * Each lock is taken exclusively or shared. Results of the acquisitions: 0 or
 * SHMREGION_OWNER_DIED (held; see there), -EBUSY (a try found it held: not held, not a
 * failure, no error message), -ETIMEDOUT (a timed try ran out: the same), or a failure:
 * -EINVAL for an index not below shmregion_lock_count() (the message names both), -EDEADLK
 * (exclusive: r already holds it, shared or exclusive; shared: this thread holds it
 * exclusively), SHMREGION_EWRONG_PROCESS, SHMREGION_ENOT_ATTACHED. A shared holder that dies is
 * released by the library; an exclusive one's death is SHMREGION_OWNER_DIED. One handle's
 * lock calls must not run on several threads at once: give each thread its own attach. */

/** Number of locks in the region's lock table (the creator's shmregion_options.locks). */
SHMREGION_API uint32_t shmregion_lock_count(const shmregion_region* r);
/** Lock `index` exclusively; blocks. */
SHMREGION_API int shmregion_lock_index(shmregion_region* r, uint32_t index);
/** Lock `index` exclusively if that needs no waiting (-EBUSY otherwise). */
SHMREGION_API int shmregion_try_lock_index(shmregion_region* r, uint32_t index);
/** Lock `index` exclusively, waiting at most timeout_ns (-ETIMEDOUT otherwise). */
SHMREGION_API int shmregion_try_lock_index_for(shmregion_region* r, uint32_t index, int64_t timeout_ns);
/** Releases r's exclusive hold of `index`: 0, or -EPERM if r does not hold it, or another
 *  thread took it (it stays held, to be released on that thread). */
SHMREGION_API int shmregion_unlock_index(shmregion_region* r, uint32_t index);
/** A share of lock `index`; blocks while an exclusive holder has it or waits for it. A share
 *  more of a lock r holds shared is granted at once. */
SHMREGION_API int shmregion_lock_shared(shmregion_region* r, uint32_t index);
/** A share of lock `index` if that needs no waiting (-EBUSY otherwise). */
SHMREGION_API int shmregion_try_lock_shared(shmregion_region* r, uint32_t index);
/** A share of lock `index`, waiting at most timeout_ns (-ETIMEDOUT otherwise). */
SHMREGION_API int shmregion_try_lock_shared_for(shmregion_region* r, uint32_t index, int64_t timeout_ns);
/** Releases one of r's shares of `index`: 0, or -EPERM if r holds none. */
SHMREGION_API int shmregion_unlock_shared(shmregion_region* r, uint32_t index);
/** Declares lock `index` (or the region lock: SHMREGION_REGION_LOCK) consistent after an
 *  SHMREGION_OWNER_DIED acquisition: later acquisitions no longer report the death. r must
 *  hold it (exclusively, or shared); -EPERM otherwise. */
SHMREGION_API int shmregion_mark_consistent(shmregion_region* r, uint32_t index);

/** This attach's identity: its attacher slot and the slot's generation (which changes
 *  whenever the slot is taken again), for per-process state kept in the region. Returns 0,
 *  or SHMREGION_ENOT_ATTACHED. */
SHMREGION_API int shmregion_identity(const shmregion_region* r, uint32_t* slot, uint32_t* generation);
/** 1 while the attach (slot, generation) is attached and its process alive, else 0. Reads
 *  the mapped attacher table and makes one system call (a kill and a read of /proc for regions
 *  without a file); takes no lock. */
SHMREGION_API int shmregion_alive(const shmregion_region* r, uint32_t slot, uint32_t generation);

/** Makes the region's bytes durable (file backing: fdatasync through the I/O engine,
 *  waited for); does nothing for the other backings. Errors: -EIO, SHMREGION_EWRONG_PROCESS. */
SHMREGION_API int shmregion_flush(shmregion_region* r);

/** Makes every page resident and writable now, writing no byte; blocks. Errors: -ENOMEM,
 *  SHMREGION_EENGINE_UNAVAILABLE, SHMREGION_EWRONG_PROCESS. */
SHMREGION_API int shmregion_prefault(shmregion_region* r);

/** Waits for the background prefault started by SHMREGION_PREFAULT_BACKGROUND; 0 at once if
 *  there is none. Returns 0 or the job's negative code (-ECANCELED if cancelled). */
SHMREGION_API int shmregion_prefault_wait(shmregion_region* r);

/** Asks for the region's removal (what a gentle shmregion_unlink() does): nobody can join
 *  it from now on (SHMREGION_EMARKED_FOR_REMOVAL), and it goes at its last detach. */
SHMREGION_API int shmregion_mark_for_removal(shmregion_region* r);

/** Drops attachers that died without detaching and rebuilds the reference count. If
 *  dropped is not NULL, stores how many went. Returns 0 or a negative code. */
SHMREGION_API int shmregion_reap_dead_attachers(shmregion_region* r, size_t* dropped);

/* ---- Administration (no handle) -------------------------------------------------- */

/** Removes the region name in home. flags: or-ed enum shmregion_unlink_flags, 0 for the
 *  gentle removal (attach, mark for removal, detach: it goes at its last detach, at once if
 *  nobody else is attached). Errors: SHMREGION_ENOT_FOUND, SHMREGION_EBAD_MAGIC (not our
 *  file; left alone), SHMREGION_EWRONG_OWNER, SHMREGION_ESEGMENT_FOREIGN, SHMREGION_EINVALID_OPTIONS
 *  for an unknown flag. */
SHMREGION_API int shmregion_unlink(const char* home, const char* name, int flags);

/** A read-only snapshot of a region's header (C++ shmregion::RegionInfo), by shmregion_inspect().
 *  Fixed-width fields; flags are 0 or 1. Later versions may add fields at the end
 *  (struct_size says how many bytes the library filled). */
typedef struct shmregion_info {
    size_t struct_size;             /**< bytes of this struct the library filled */
    int backing;                    /**< enum shmregion_backing */
    int lock_state;                 /**< enum shmregion_lock_state */
    uint32_t version;               /**< layout version */
    uint32_t header_size;           /**< bytes before the usable area */
    uint32_t page_size;             /**< the page size the creator laid the region out with */
    uint32_t ref_count;             /**< the header's reference count */
    uint32_t max_attachers;         /**< attacher table size */
    uint32_t attachers;             /**< slots in use */
    uint32_t live_attachers;        /**< of those, slots whose process is alive */
    int32_t lock_holder;            /**< the process whose thread holds the region lock; 0 if none */
    uint64_t size;                  /**< usable bytes */
    uint64_t max_size;              /**< usable growth ceiling */
    uint64_t region_size;           /**< bytes of the backing in use, header included */
    uint64_t max_region_size;       /**< growth ceiling in bytes of the backing, header included */
    uint64_t backing_size;          /**< real size of the file or segment */
    uint64_t generation;            /**< bumped on growth */
    int32_t creator_pid;            /**< the process that created the region */
    uint32_t creator_uid;           /**< the creator's effective user id */
    uint64_t created_at_ns;         /**< CLOCK_REALTIME */
    int32_t sysv_key;               /**< System V: the segment's key */
    int32_t sysv_id;                /**< System V: the segment's id; -1 otherwise */
    int valid;                      /**< the creator finished initialising */
    int remove_on_last_detach;      /**< goes at its last detach (option or unlink requested) */
    int remove_on_last_detach_option; /**< an attacher asked for remove_on_last_detach */
    int unlink_requested;           /**< unlink or mark for removal: no new joins */
    int owner_died_unreported;      /**< a region lock holder died; nobody marked it consistent since */
    int grow_in_progress;           /**< a growth is under way, or its grower died */
    uint64_t grow_to;               /**< its target in usable bytes */
    int32_t grow_pid;               /**< the grower */
    char segment[128];              /**< POSIX: the segment name ("/shmregion.<name>.<hex>"); "" otherwise */
    /* Version 2 (0.2): */
    uint32_t lock_count;            /**< locks in the lock table */
    uint32_t lock_deaths;           /**< region lock holders that died holding it, ever */
} shmregion_info;

/** Reads the header of the region name in home without attaching, locking or writing, into
 *  *info, whose size the caller gives (sizeof *info): the library fills at most that many
 *  bytes and sets info->struct_size to what it filled. An incomplete region (its creator
 *  did not finish) is a success with valid == 0. Errors: SHMREGION_ENOT_FOUND,
 *  SHMREGION_EBAD_MAGIC, SHMREGION_EHEADER_CORRUPT (the message names the field),
 *  -EINVAL if info_size is too small for the first version's struct. */
SHMREGION_API int shmregion_inspect(const char* home, const char* name, shmregion_info* info,
                                    size_t info_size);

/** The names of the regions in home (every <name>.region file), sorted. On success stores
 *  in *names a malloc()ed array of *count malloc()ed strings followed by a NULL, to be
 *  freed with shmregion_list_free(); count may be NULL. On failure stores NULL and 0.
 *  Errors: -ENOENT, -EACCES, ... for home. */
SHMREGION_API int shmregion_list(const char* home, char*** names, size_t* count);

/** Frees what shmregion_list() returned (NULL is fine). */
SHMREGION_API void shmregion_list_free(char** names);

/* ---- Errors and version ---------------------------------------------------------- */

/** What a code means ("no such region", "No space left on device", "success" for 0, ...).
 *  Never NULL, never empty; a static string, except for a code this library does not know,
 *  whose text lives in a buffer of the calling thread until its next call. */
SHMREGION_API const char* shmregion_strerror(int code);

/** The message of the calling thread's last failed call, naming the operation, the region
 *  and the cause ("attach 'jobs' (home /var/db): name must not be empty"). Successful calls
 *  leave it as it was (like errno); "" before the first failure. Valid until the thread's
 *  next failing call. */
SHMREGION_API const char* shmregion_last_error(void);

/** The version of the library linked in, "MAJOR.MINOR.PATCH". */
SHMREGION_API const char* shmregion_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHMREGION_SHMREGION_H */
