// The on-disk / in-memory layout of a region header and of a locator file.
// docs/format.md describes both byte by byte; keep it in step with this file.
#pragma once

#include "format/names.hpp"

#include <shmregion/detail/inline_locks.hpp>
#include <shmregion/options.hpp>

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace shmregion::detail {

inline constexpr char kRegionMagic[8] = {'S', 'H', 'M', 'R', 'E', 'G', 'N', '\x01'};
inline constexpr char kLocatorMagic[8] = {'S', 'H', 'M', 'R', 'L', 'O', 'C', '\x01'};
/// 2: 64-byte attacher slots with a generation, the lock table and its share records.
inline constexpr std::uint32_t kLayoutVersion = 2;
/// Packs what must agree between builds that share a region: the size of pthread_mutex_t,
/// the pointer size and a byte-order marker (a byte-swapped reader sees another value).
inline constexpr std::uint32_t kLayoutWord =
    (0xA5u << 24) | (static_cast<std::uint32_t>(sizeof(pthread_mutex_t)) << 8) |
    static_cast<std::uint32_t>(sizeof(void*));

/// Values of RegionHeader::valid. Written last by the creator (release), cleared to
/// kRemoved by the process that removes the region, so late joiners start over.
inline constexpr std::uint32_t kValidInitialising = 0;
inline constexpr std::uint32_t kValidReady = 0x52454459;    // "REDY"
inline constexpr std::uint32_t kValidRemoved = 0x44454144;  // "DEAD"

/// RegionHeader::flags
/// Policy chosen at attach (Options::remove_on_last_detach): removed when the last attacher
/// detaches; others may still join until then.
inline constexpr std::uint32_t kFlagRemoveOnLastDetach = 1u << 0;
/// A region lock holder died: every Region::lock() reports owner_died() to the application
/// until a holder calls LockGuard::mark_consistent(), which clears it. Set by whoever
/// recovered the mutex, the library's own bookkeeping (attach, detach, reap) included.
// kFlagOwnerDiedUnreported = 1u << 1 (shmregion/detail/inline_locks.hpp, read inline by lock()).
/// unlink() / mark_for_removal() asked for removal: no new joins; removed at last detach.
inline constexpr std::uint32_t kFlagUnlinkRequested = 1u << 2;
inline constexpr std::uint32_t kRemoveAtLastDetach = kFlagRemoveOnLastDetach | kFlagUnlinkRequested;
inline constexpr std::uint32_t kKnownFlags = kFlagRemoveOnLastDetach | kFlagOwnerDiedUnreported | kFlagUnlinkRequested;

/// AttacherSlot::state
inline constexpr std::uint32_t kSlotFree = 0;
inline constexpr std::uint32_t kSlotInUse = 1;
/// Reaped (its process died) while its share records still count shares of table locks:
/// not reusable until the library has released them (sync/lock_table.hpp).
inline constexpr std::uint32_t kSlotDead = 2;

inline constexpr std::size_t kSegmentNameSize = 96;
inline constexpr std::size_t kOriginSize = 512;
/// Largest region (header included) we accept: 2^46 bytes (64 TiB), well inside the
/// 47-bit user address space of x86-64 and arm64.
inline constexpr std::uint64_t kMaxRegionBytes = 1ull << 46;

struct AttacherSlot {
    std::uint32_t state;           //  0  kSlotFree / kSlotInUse / kSlotDead
    std::int32_t pid;              //  4  for display and for regions without a file
    std::uint64_t start_time;      //  8  /proc/PID/stat field 22 (clock ticks after boot)
    std::uint64_t pid_namespace;   // 16  inode of /proc/PID/ns/pid
    std::uint64_t attached_at_ns;  // 24  CLOCK_REALTIME
    std::uint32_t generation;      // 32  bumped each time the slot is taken; kept when freed
    std::uint8_t reserved[28];     // 36  zero
};
static_assert(sizeof(AttacherSlot) == 64);
static_assert(offsetof(AttacherSlot, generation) == 32);

/// The grow-in-progress record (RegionHeader::grow), written under the region lock by a
/// grower before it extends the backing and cleared after it published the new size. A
/// holder of the lock that finds it set (its writer died: the robust mutex said so) rolls
/// the growth back or forward; see docs/format.md, "Growth".
struct GrowRecord {
    std::uint32_t state;              //   0  kGrowIdle or kGrowExtending
    std::int32_t pid;                 //   4  the grower
    std::uint64_t old_region_size;    //   8  region_size before (what it still is until published)
    std::uint64_t new_region_size;    //  16  region_size after
    std::uint64_t started_at_ns;      //  24  CLOCK_REALTIME
    std::uint8_t reserved[32];        //  32  zero
};
static_assert(sizeof(GrowRecord) == 64);
inline constexpr std::uint32_t kGrowIdle = 0;
inline constexpr std::uint32_t kGrowExtending = 0x47524f57;  // "WORG"

/// Offset 0 of every region. Fixed-width fields only; the attacher table follows at
/// kSlotTableOffset and the header (with its table) is rounded up to whole pages.
struct RegionHeader {
    char magic[8];                    //   0  kRegionMagic
    std::uint32_t version;            //   8  kLayoutVersion
    std::uint32_t layout;             //  12  kLayoutWord
    std::uint32_t header_size;        //  16  bytes before the usable area (page multiple)
    std::uint32_t backing;            //  20  shmregion::Backing
    std::uint32_t valid;              //  24  kValid*; written last by the creator
    std::uint32_t flags;              //  28  kFlag*
    std::uint64_t region_size;        //  32  bytes in use, header included (page multiple)
    std::uint64_t max_region_size;    //  40  growth ceiling, header included
    std::uint64_t generation;         //  48  bumped by every change of region_size
    std::uint32_t page_size;          //  56
    std::uint32_t max_attachers;      //  60  slots in the attacher table
    std::uint32_t ref_count;          //  64  attached processes (under the mutex)
    std::int32_t lock_holder;         //  68  zero (the mutex's futex word names its owner's thread)
    std::int32_t creator_pid;         //  72
    std::uint32_t creator_uid;        //  76
    std::uint64_t created_at_ns;      //  80  CLOCK_REALTIME
    std::int32_t sysv_key;            //  88  System V key (sysv backing), else 0
    std::int32_t sysv_id;             //  92  System V shmid (sysv backing), else -1
    char segment[kSegmentNameSize];   //  96  POSIX segment name, NUL-terminated
    GrowRecord grow;                  // 192  the grow-in-progress record (all zero when idle)
    union {                           // 256  robust, process-shared, error-checking
        pthread_mutex_t mutex;
        std::uint8_t mutex_space[128];
    };
    std::uint64_t home_dev;           // 384  st_dev of the home directory at creation (0: unknown)
    std::uint64_t home_ino;           // 392  st_ino of the home directory at creation (0: unknown)
    std::uint32_t lock_count;         // 400  entries in the lock table (Options::locks)
    std::uint32_t lock_deaths;        // 404  region mutex holders that died holding it
    std::uint8_t reserved[104];       // 408  zero
    char origin[kOriginSize];         // 512  canonical path of the region's file at creation
};
inline constexpr std::size_t kSlotTableOffset = 1024;
static_assert(sizeof(pthread_mutex_t) <= 128);
static_assert(sizeof(RegionHeader) == kSlotTableOffset);
static_assert(offsetof(RegionHeader, valid) == 24);
static_assert(offsetof(RegionHeader, region_size) == 32);
static_assert(offsetof(RegionHeader, generation) == 48);
static_assert(offsetof(RegionHeader, ref_count) == 64);
static_assert(offsetof(RegionHeader, segment) == 96);
static_assert(offsetof(RegionHeader, grow) == 192);
static_assert(offsetof(RegionHeader, mutex) == 256);
static_assert(offsetof(RegionHeader, home_dev) == 384);
static_assert(offsetof(RegionHeader, home_ino) == 392);
static_assert(offsetof(RegionHeader, lock_count) == 400);
static_assert(offsetof(RegionHeader, origin) == 512);

/// One lock of the lock table (docs/format.md, "Lock table"): a robust mutex that exclusive
/// holders hold and that admits writers, and the lock word counting the shares.
struct LockEntry {
    union {                           //   0  robust, process-shared, error-checking (as the region's)
        pthread_mutex_t mutex;
        std::uint8_t mutex_space[48];
    };
    std::uint64_t word;               //  48  kShare* bits; same cache line as the mutex
    std::uint32_t transient;          //  56  1 while the mutex is held by a reader adding its share or
                                      //      a writer waiting for shares to drain (not a holder)
    std::uint32_t reserved0;          //  60  zero
    std::uint32_t exclusive_deaths;   //  64  exclusive holders that died holding it
    std::uint32_t shared_deaths;      //  68  shares released for dead holders
    std::uint64_t last_sweep_ns;      //  72  CLOCK_MONOTONIC of the last search for dead shares
    std::uint8_t reserved[48];        //  80  zero
};
static_assert(sizeof(pthread_mutex_t) <= 48);
// The lock word's bits, the share record's and the entry's layout are defined with the
// inline lock paths (shmregion/detail/inline_locks.hpp), which compile them into callers:
// kShareCountMask, kShareOwnerDied, kShareWriterWaiting, kShareSeqOne, kShareAcquire,
// kShareRelease (LockEntry::word: its low 32 bits are the futex a writer sleeps on while
// shares drain), ShareRecord, kRecordBusy, kRecordCountMask.
static_assert(sizeof(LockEntry) == kLockEntryBytes);
static_assert(offsetof(LockEntry, mutex) == 0);
static_assert(offsetof(LockEntry, word) == kLockWordOffset);

/// Where the lock table and the share records lie in the header (all offsets from the
/// header's start; docs/format.md).
struct LockTableLayout {
    std::uint64_t table_offset = 0;    ///< LockEntry[lock_count], 128-byte aligned
    std::uint64_t records_offset = 0;  ///< one row of ShareRecord per attacher slot
    std::uint64_t row_stride = 0;      ///< bytes per row (lock_count records, rounded to 64)
    std::uint64_t end = 0;             ///< first byte after the records
};
LockTableLayout lock_table_layout(std::uint32_t max_attachers, std::uint32_t lock_count) noexcept;
inline LockEntry* lock_at(RegionHeader* h, const LockTableLayout& l, std::uint32_t i) noexcept {
    return reinterpret_cast<LockEntry*>(reinterpret_cast<char*>(h) + l.table_offset) + i;
}
inline ShareRecord* record_at(RegionHeader* h, const LockTableLayout& l, std::uint32_t slot, std::uint32_t i) noexcept {
    return reinterpret_cast<ShareRecord*>(reinterpret_cast<char*>(h) + l.records_offset + slot * l.row_stride) + i;
}

/// The small file in home that locates a POSIX or System V segment.
struct Locator {
    char magic[8];                    //   0  kLocatorMagic
    std::uint32_t version;            //   8  kLayoutVersion
    std::uint32_t backing;            //  12  posix or sysv
    std::uint64_t size_at_creation;   //  16  region_size when created (informational)
    std::int32_t sysv_key;            //  24
    std::int32_t sysv_id;             //  28
    std::int32_t creator_pid;         //  32
    std::uint32_t creator_uid;        //  36
    std::uint64_t created_at_ns;      //  40
    char segment[kSegmentNameSize];   //  48  POSIX segment name, NUL-terminated
    std::uint64_t namespace_id;       // 144  where the segment is visible: st_dev of /dev/shm
                                      //      (posix) or the IPC namespace inode (sysv); 0 unknown
    std::uint8_t boot_id[16];         // 152  the creator's boot (kernel random boot_id); 0 unknown
    std::uint8_t reserved[84];        // 168  zero
    std::uint32_t checksum;           // 252  locator_checksum() of the other 252 bytes; 0: none
};
static_assert(sizeof(Locator) == 256);
static_assert(offsetof(Locator, namespace_id) == 144);
static_assert(offsetof(Locator, boot_id) == 152);
static_assert(offsetof(Locator, checksum) == 252);

/// FNV-1a (32 bits) of the locator's first 252 bytes, never 0 (0 means "not recorded").
std::uint32_t locator_checksum(const Locator& l) noexcept;
static_assert(offsetof(Locator, segment) == 48);

/// The mutex a header carries (RegionHeader::mutex): process-shared, robust,
/// error-checking. Sets those attributes on `a` (initialised by the caller); 0 or the
/// pthread error. sync/robust_mutex.hpp initialises and locks the mutex with them.
int region_mutex_attributes(pthread_mutexattr_t* a) noexcept;
/// The mutex's kind word (glibc's __data.__kind: type, robust and process-shared bits) as
/// pthread_mutex_init writes it with those attributes (-1 if that fails), and a mutex's
/// own. A mutex whose word differs is not the robust mutex it must be: without the robust
/// bit a dead holder is never reported and every later lock waits forever. Checked by
/// validate_header and before every lock.
int region_mutex_expected_kind() noexcept;
inline int region_mutex_kind(const pthread_mutex_t* m) noexcept {
    return std::atomic_ref<int>(const_cast<int&>(m->__data.__kind)).load(std::memory_order_relaxed);
}
/// region_mutex_expected_kind() once computed (0 before): the check before every lock is
/// then one load and one compare.
extern std::atomic<int> g_region_mutex_kind;
inline int region_mutex_kind_wanted() noexcept {
    const int want = g_region_mutex_kind.load(std::memory_order_relaxed);
    return want != 0 ? want : region_mutex_expected_kind();
}
inline bool region_mutex_kind_ok(const pthread_mutex_t* m) noexcept { return mutex_kind_is(m, region_mutex_kind_wanted()); }
/// Why a mutex's kind word is wrong ("has kind 130, not the robust, ... kind 146 ..."), for
/// the header_corrupt messages of validate_header and of the lock.
std::string region_mutex_kind_problem(const pthread_mutex_t* m);

/// Header bytes (rounded to pages) for a table of n slots and a lock table of `locks` locks.
std::uint64_t header_bytes(std::uint32_t max_attachers, std::uint32_t locks) noexcept;

inline AttacherSlot* slot_at(RegionHeader* h, std::uint32_t i) noexcept {
    return reinterpret_cast<AttacherSlot*>(reinterpret_cast<char*>(h) + kSlotTableOffset) + i;
}
inline const AttacherSlot* slot_at(const RegionHeader* h, std::uint32_t i) noexcept {
    return reinterpret_cast<const AttacherSlot*>(reinterpret_cast<const char*>(h) + kSlotTableOffset) + i;
}
/// Byte of the region's file on which every attacher holds a shared OFD lock (presence).
inline constexpr off_t kPresenceLockOffset = 8;
/// Byte offset, in the region's file, of the byte an attacher in slot i keeps locked.
inline off_t slot_lock_offset(std::uint32_t i) noexcept {
    return static_cast<off_t>(kSlotTableOffset + i * sizeof(AttacherSlot));
}

/// Shared fields that other processes change while we read them.
template <class T>
T load_acquire(const T& field) noexcept {
    return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_acquire);
}
template <class T>
void store_release(T& field, T value) noexcept {
    std::atomic_ref<T>(field).store(value, std::memory_order_release);
}
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

/// Checks every field of a header copy before anything trusts it. `backing_size` is the
/// real size of the file or segment; `file` names it in errors. Throws Failure with
/// bad_magic, version_mismatch, layout_mismatch, header_corrupt (naming the field) or
/// size_mismatch. Does not look at `valid` beyond checking it holds a known value.
/// `expected` is the backing the region's file says (file, posix, sysv; heap for heap
/// regions); a header claiming another is header_corrupt naming the field 'backing'.
void validate_header(const RegionHeader& h, std::uint64_t backing_size,
                     const std::filesystem::path& file, Backing expected);
/// The grow record alone (validate_header checks it too): idle, or an extension in
/// progress whose ends bracket region_size. Throws Failure(header_corrupt) naming it.
void validate_grow_record(const RegionHeader& h, const std::filesystem::path& file);
/// Checks that a segment's header and the locator naming it agree (segment name, or
/// System V key and id). Throws Failure(header_corrupt).
/// True if the header is the one of the segment the locator names (POSIX: the segment
/// name; System V: key and id): what check_header_matches_locator() checks, as a test.
bool locator_names(const Locator& loc, const RegionHeader& h) noexcept;
void check_header_matches_locator(const RegionHeader& h, const Locator& loc,
                                  const std::filesystem::path& file);
/// Checks a locator copy: magic, version, checksum, backing, a segment name of ours made
/// for this very region ("/shmregion.<name>.<16 hex>", <name> taken from `file`:
/// "<name>.region", or a pending ".<name>.region.pending.<pid>.<hex>"), a System V id. A
/// pending locator (written by a creator before it knows its System V id) may have sysv_id
/// -1. Throws Failure: bad_magic, version_mismatch, header_corrupt naming the field.
void validate_locator(const Locator& l, const std::filesystem::path& file, bool pending = false);


/// Where a locator's segment lives, as seen from the calling process.
enum class SegmentPlace {
    here,     ///< same boot, same /dev/shm or IPC namespace: a missing segment is really gone
    gone,     ///< made in an earlier boot: shared memory does not survive a reboot
    foreign,  ///< made in another /dev/shm or IPC namespace of this boot: may exist there
    unknown,  ///< the locator does not record enough to tell
};
/// Where segments of `kind` made by this process are visible (Locator::namespace_id):
/// st_dev of /dev/shm for posix, the IPC namespace inode for sysv; 0 if unknown.
std::uint64_t segment_namespace(Backing kind) noexcept;
/// Compares the locator's namespace_id and boot_id with the caller's.
SegmentPlace segment_place(const Locator& l) noexcept;
/// True where a segment that cannot be found is really gone (here, or an earlier boot):
/// the one condition under which a missing segment makes an orphan.
inline bool missing_means_gone(SegmentPlace p) noexcept { return p == SegmentPlace::here || p == SegmentPlace::gone; }
/// A sentence for a foreign or unknown place: "... lives in another /dev/shm (...)".
std::string describe_place(const Locator& l, SegmentPlace p);

/// Records where a region belongs: home_dev/home_ino (the home directory's identity) and
/// origin (the canonical path of its file), which tie a stray segment to its home however
/// the home is spelled later.
void stamp_home(RegionHeader& h, const std::filesystem::path& home, const std::filesystem::path& file);

/// A NUL-terminated fixed field as a string (up to the first NUL).
std::string fixed_string(const char* field, std::size_t size);

}  // namespace shmregion::detail
