// The backing side of one region: where its bytes live, how they are mapped, extended,
// named and removed. One implementation per backing (file.cpp, posix_shm.cpp, sysv_shm.cpp,
// anonymous.cpp, heap.cpp), made through its BackingType (backing.hpp); the region layer
// drives them through this interface and never asks which backing it has.
//
// What a new backing must provide (docs/architecture.md repeats this):
//   - creation that is invisible until publish(), and publish() that is atomic and
//     exclusive (returns false when the name exists), so exactly one racer creates;
//   - map(): the first `bytes` of the backing at the start of a Mapping's reservation;
//   - read(): copy bytes without mapping (validation before trust; inspect);
//   - remove_segment() then remove_file(): the segment first, then the file in home, never touching a
//     newer region that reused the name.
#pragma once

#include "format/header.hpp"
#include "io/engine.hpp"
#include "sys/os.hpp"

#include <shmregion/options.hpp>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <optional>
#include <string>

namespace shmregion::detail {

struct BackingTraits;

/// The I/O engine for one operation, opened (and chosen) only when the operation needs one.
using EngineSource = std::function<io::Engine&()>;

/// Unlinks `file` only if it is still the inode `fd` refers to. Never throws on ENOENT.
void unlink_if_same(const std::filesystem::path& file, int fd);

/// Address space reserved up to the growth ceiling (PROT_NONE, MAP_NORESERVE: no memory),
/// with the backing mapped in place at its start. The base never moves.
/// A region that cannot grow (ceiling == size) is mapped without a reservation.
class Mapping {
public:
    /// Remembers the ceiling; the first map call reserves (or not) and maps.
    explicit Mapping(std::uint64_t reserve_bytes);
    ~Mapping();
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    char* base() const noexcept { return base_; }
    std::uint64_t reserved() const noexcept { return reserved_; }
    std::uint64_t mapped() const noexcept { return mapped_; }

    /// MAP_SHARED|MAP_FIXED of fd's first `bytes` at base.
    void map_shared_fd(int fd, std::uint64_t bytes, const std::filesystem::path& what);
    /// MAP_SHARED|MAP_ANONYMOUS (shared with fork()ed children) at base.
    void map_shared_anonymous(std::uint64_t bytes);
    /// MAP_PRIVATE|MAP_ANONYMOUS at base.
    void map_private(std::uint64_t bytes);
    /// shmat(SHM_REMAP) of a System V segment at base.
    void attach_sysv(int shmid, std::uint64_t bytes);
    /// Takes over an existing attach of a System V segment of `bytes` bytes, if nothing is
    /// mapped yet and no reservation is needed (the ceiling is the size); false otherwise.
    bool adopt_sysv(void* attached, std::uint64_t bytes) noexcept;
    /// Growth: maps fd's bytes [mapped(), bytes) right after what is mapped, inside the
    /// reservation (MAP_FIXED), so the base never moves. bytes <= reserved().
    void extend_shared_fd(int fd, std::uint64_t bytes, const std::filesystem::path& what);
    /// The same with private anonymous memory (heap regions).
    void extend_private(std::uint64_t bytes);

private:
    void extend(int fd, int flags, std::uint64_t bytes, const std::filesystem::path& what);
    /// Where to map `bytes`: the reservation (made now if the ceiling leaves room to
    /// grow; fixed = MAP_FIXED), or nullptr for "anywhere".
    void* place(std::uint64_t bytes, int& fixed);
    void map(int fd, int flags, std::uint64_t bytes, const std::string& what, const std::filesystem::path& file);

    char* base_ = nullptr;
    std::uint64_t reserved_ = 0;
    std::uint64_t mapped_ = 0;
    std::mutex extend_mutex_;  // heap regions: several attaches (threads) share one Mapping
};

class Store {
public:
    virtual ~Store() = default;
    virtual Backing kind() const noexcept = 0;

    /// The region's file in home (the region itself or its locator); empty if none.
    const std::filesystem::path& file() const noexcept { return file_; }
    /// The descriptor whose bytes carry the attachers' liveness locks; -1 if none.
    int lock_fd() const noexcept { return lock_fd_.get(); }
    /// Gives this process its own open file description for the liveness locks (after fork).
    void reopen_lock_fd();
    /// In a fork()ed child: puts a fresh open file description (holding no locks) behind
    /// the lock descriptor's number, so the child's copy cannot keep the parent's liveness
    /// and presence locks alive after the parent dies. Async-signal-safe.
    void disown_locks_after_fork() noexcept;

    /// Real size of the backing now (fstat, IPC_STAT).
    virtual std::uint64_t backing_size() const = 0;
    /// The user owning the memory (the file, or the segment). Throws Failure.
    virtual uid_t owner() const;
    /// Both, in one system call where the backing allows (a join checks them together).
    virtual std::pair<std::uint64_t, uid_t> size_and_owner() const { return {backing_size(), owner()}; }
    /// Copies bytes of the backing without mapping it. Throws Failure.
    virtual void read(void* buf, std::size_t len, std::uint64_t offset) const = 0;
    /// Maps the first `bytes` of the backing at the start of m.
    virtual void map(Mapping& m, std::uint64_t bytes) = 0;
    /// The mapping to use instead of a fresh one (heap regions shared inside a process).
    virtual std::shared_ptr<Mapping> shared_mapping() const { return nullptr; }

    /// What this backing is (backing.hpp).
    const BackingTraits& traits() const noexcept;
    /// What names the bytes in messages: the region's file, or the segment.
    virtual std::filesystem::path where() const { return file_; }

    /// Growth in place (Region::grow), under the region lock: makes the backing hold `to`
    /// bytes with every block allocated, for a region of `from` bytes now (space a failed
    /// growth left past `from` may be sparse: it is allocated too, or a page fault there
    /// could SIGBUS). Returns the backing's size before if this call extended it (what
    /// truncate() gives back if the growth fails later), else 0. Through the engine; a
    /// failed extension leaves the backing as it was. Backings that cannot grow throw
    /// not_growable.
    virtual std::uint64_t extend(const EngineSource& engine, std::uint64_t from, std::uint64_t to);
    /// Cuts the backing back to `bytes` if it is larger (a growth undone). Never throws.
    virtual void truncate(std::uint64_t bytes) noexcept { (void)bytes; }
    /// Maps the backing up to `bytes` in m (after extending it).
    virtual void map_more(Mapping& m, std::uint64_t bytes);
    /// Writes the bytes back to storage and waits (durable backings; the others have
    /// nothing to write back).
    virtual void flush(io::Engine& engine) { (void)engine; }

    /// Creator: backing-specific header fields (segment name, System V key and id).
    virtual void describe(RegionHeader& h) const { (void)h; }
    /// Creator: makes the fully initialised region visible under its name. Atomic and
    /// exclusive: false if a region of that name exists (this creator lost the race).
    virtual bool publish(const std::shared_ptr<Mapping>& m) = 0;
    /// Creator that lost the race or failed: destroys what it made. Never throws.
    virtual void discard() noexcept = 0;
    /// Last detach of a region marked for removal: remove_segment(), then remove_file()
    /// (only if the file is still this region's: a newer region may have taken the name).
    /// A missing segment or file is not an error.
    virtual void remove_segment() {}
    virtual void remove_file() {
        if (!file_.empty()) unlink_if_same(file_, lock_fd_.get());
    }

protected:
    std::filesystem::path file_;
    Fd lock_fd_;
};

/// What the file in home says, read without mapping anything.
struct HomeFile {
    Fd fd;
    dev_t dev = 0;  // identity of the file opened
    ino_t ino = 0;
    uid_t uid = 0;  // its owner
    Backing kind = Backing::any;         // file, posix or sysv
    std::optional<Locator> locator;      // posix and sysv
};
/// Opens <home>/<name>.region (read-write or read-only) and tells region file from
/// locator by its magic. Throws Failure: region_not_found (ENOENT), bad_magic, locator
/// errors, or the errno of open/read.
HomeFile open_home_file(const std::filesystem::path& file, bool writable);

/// Creates the unpublished backing of `region_bytes` bytes for a new region.
struct CreateRequest {
    std::filesystem::path home;
    std::filesystem::path file;     // <home>/<name>.region
    std::string name;
    ::mode_t permissions = 0600;
    std::uint64_t region_bytes = 0; // header included
    /// Backings that extend at creation (BackingTraits::extends_at_creation) allocate the
    /// new file or segment's region_bytes through it, so a full disk or /dev/shm fails here,
    /// not as a SIGBUS.
    EngineSource engine;
};


/// A locator's segment cannot be found from here: segment_missing if it was made where we
/// look (or in an earlier boot), else segment_foreign. `what` says what was looked for
/// ("locator names segment /shmregion.a.0123..., which does not exist in /dev/shm").
[[noreturn]] void throw_segment_absent(const Locator& loc, const std::filesystem::path& file, const std::string& what);

/// A locator for a new region of `kind`, created by this process now (segment, key and
/// id still to fill in), and writing one at offset 0 of fd.
Locator make_locator(Backing kind, std::uint64_t region_bytes);
void write_locator(int fd, const Locator& loc, const std::filesystem::path& file);

/// errc::not_growable, saying why this store's backing cannot grow.
[[noreturn]] void throw_not_growable(const Store& s);
/// Store::extend() for backings whose bytes are a descriptor's (a file, a POSIX segment).
std::uint64_t extend_descriptor(int fd, const EngineSource& engine, std::uint64_t from, std::uint64_t to,
                                const std::filesystem::path& what);
/// Store::truncate() for the same.
void truncate_descriptor(int fd, std::uint64_t bytes) noexcept;

/// Shared by the creators that publish a file in home: a file that link_into_place() gives
/// its final name atomically and exclusively. Unnamed (O_TMPFILE) where nothing can outlive
/// a crashed creator (the file backing); otherwise, or where the file system lacks
/// O_TMPFILE, a hidden name that records what the creator is making, so that
/// remove_abandoned() can undo it if the creator dies. Either way the creator holds
/// slot 0's liveness lock on it from the start; with O_TMPFILE, the hidden name is linked
/// only once the lock is held, so no cleaner ever finds a live creator's file unlocked.
class PendingFile {
public:
    enum class Visibility { unnamed, hidden_name };
    /// Creates the file; `fd` receives its descriptor (the caller owns it and must keep it
    /// open until link_into_place()).
    PendingFile(const std::filesystem::path& home, const std::filesystem::path& final_path,
                ::mode_t permissions, Fd& fd, Visibility visibility);
    ~PendingFile();
    PendingFile(const PendingFile&) = delete;
    PendingFile& operator=(const PendingFile&) = delete;
    /// link(2) to the final path: false on EEXIST. Throws Failure on other errors. The
    /// hidden name, if any, goes when this object is destroyed.
    bool link_into_place();

private:
    std::filesystem::path final_;
    std::filesystem::path temp_;  // empty with O_TMPFILE
    int fd_ = -1;                 // not owned
};

}  // namespace shmregion::detail
