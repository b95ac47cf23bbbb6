#include "backing/backing.hpp"

#include "io/engine_impl.hpp"

#include "sync/liveness.hpp"
#include "sys/failure.hpp"
#include "sys/fork_safety.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <chrono>
#include <cstring>

namespace shmregion::detail {

// ---- Mapping ---------------------------------------------------------------------------
// Done with mmap directly rather than boost::interprocess::mapped_region: a mapped_region
// owns and unmaps its own range, which would punch holes in the reservation that keeps the
// base address stable when the region grows.

Mapping::Mapping(std::uint64_t reserve_bytes) : reserved_(reserve_bytes) {}

Mapping::~Mapping() {
    // One munmap for everything, System V segments included (munmap detaches them exactly
    // as shmdt does): a shmdt first would leave a hole that another thread's mmap could
    // take before our munmap of the reservation removed it again.
    if (base_) ::munmap(base_, std::max(reserved_, mapped_));
}

void* Mapping::place(std::uint64_t bytes, int& fixed) {
    fixed = 0;
    if (base_) {
        fixed = MAP_FIXED;
        return base_;
    }
    // A region that cannot grow needs no reservation: map it wherever the kernel likes and
    // save the mmap that reserving and then replacing would cost.
    if (bytes >= reserved_) return nullptr;
    void* p = ::mmap(nullptr, reserved_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        throw_errno(err, "mmap(PROT_NONE) reserving " + std::to_string(reserved_) +
                             " bytes of address space for the growth ceiling (max_size)" +
                             (err == ENOMEM ? " failed: the process's address space limit (RLIMIT_AS, ulimit -v) "
                                              "or vm.max_map_count leaves no room for it"
                                            : ""));
    }
    base_ = static_cast<char*>(p);
    fixed = MAP_FIXED;
    return base_;
}

void Mapping::map(int fd, int flags, std::uint64_t bytes, const std::string& what,
                  const std::filesystem::path& file) {
    int fixed = 0;
    void* at = place(bytes, fixed);
    void* p = ::mmap(at, bytes, PROT_READ | PROT_WRITE, flags | fixed, fd, 0);
    if (p == MAP_FAILED) {
        if (file.empty()) throw_errno(errno, what);
        throw_errno(errno, what, file);
    }
    base_ = static_cast<char*>(p);
    mapped_ = bytes;
}

void Mapping::map_shared_fd(int fd, std::uint64_t bytes, const std::filesystem::path& what) {
    map(fd, MAP_SHARED, bytes, "mmap", what);
}

void Mapping::map_shared_anonymous(std::uint64_t bytes) {
    map(-1, MAP_SHARED | MAP_ANONYMOUS, bytes, "mmap(MAP_SHARED|MAP_ANONYMOUS)", {});
}

void Mapping::map_private(std::uint64_t bytes) {
    map(-1, MAP_PRIVATE | MAP_ANONYMOUS, bytes, "mmap(MAP_PRIVATE|MAP_ANONYMOUS)", {});
}

void Mapping::extend(int fd, int flags, std::uint64_t bytes, const std::filesystem::path& what) {
    std::lock_guard lock(extend_mutex_);
    if (bytes <= mapped_) return;  // another attach sharing this mapping got there first
    if (!base_ || bytes > reserved_)
        throw_failure(errc::invalid_size, what,
                      "cannot map " + std::to_string(bytes) + " bytes in place: " + std::to_string(reserved_) +
                          " bytes of address space are reserved");
    void* at = base_ + mapped_;
    void* p = ::mmap(at, bytes - mapped_, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd,
                     fd >= 0 ? static_cast<off_t>(mapped_) : 0);
    if (p == MAP_FAILED) {
        if (what.empty()) throw_errno(errno, "mmap of the grown part");
        throw_errno(errno, "mmap of the grown part of", what);
    }
    mapped_ = bytes;
}

void Mapping::extend_shared_fd(int fd, std::uint64_t bytes, const std::filesystem::path& what) {
    extend(fd, MAP_SHARED, bytes, what);
}

void Mapping::extend_private(std::uint64_t bytes) { extend(-1, MAP_PRIVATE | MAP_ANONYMOUS, bytes, {}); }

bool Mapping::adopt_sysv(void* attached, std::uint64_t bytes) noexcept {
    if (base_ || bytes < reserved_) return false;
    base_ = static_cast<char*>(attached);
    mapped_ = bytes;
    return true;
}

void Mapping::attach_sysv(int shmid, std::uint64_t bytes) {
    int fixed = 0;
    void* at = place(bytes, fixed);
    // SHM_REMAP lets the segment replace part of our PROT_NONE reservation.
    void* p = ::shmat(shmid, at, fixed ? SHM_REMAP : 0);
    if (p == reinterpret_cast<void*>(-1))
        throw_errno(errno, "shmat of System V segment id " + std::to_string(shmid));
    base_ = static_cast<char*>(p);
    mapped_ = bytes;
}

// ---- Store -----------------------------------------------------------------------------

[[noreturn]] void throw_not_growable(const Store& s) {
    const std::string_view why = s.traits().cannot_grow_because;
    throw_failure(errc::not_growable, s.file(), why.empty() ? std::string("this backing cannot grow") : std::string(why));
}

void Store::map_more(Mapping&, std::uint64_t) { throw_not_growable(*this); }
std::uint64_t Store::extend(const EngineSource&, std::uint64_t, std::uint64_t) { throw_not_growable(*this); }

std::uint64_t extend_descriptor(int fd, const EngineSource& engine, std::uint64_t from, std::uint64_t to,
                                const std::filesystem::path& what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno(errno, "fstat", what);
    const auto have = static_cast<std::uint64_t>(st.st_size);
    if (have > from) {
        const std::uint64_t upto = std::min(have, to);
        if (::fallocate(fd, 0, static_cast<off_t>(from), static_cast<off_t>(upto - from)) != 0 && errno != EOPNOTSUPP)
            throw_errno(errno,
                        "fallocate " + std::to_string(upto - from) + " bytes at offset " + std::to_string(from) + " of",
                        what);
    }
    if (have >= to) return 0;
    io::detail::extend_or_throw(engine(), fd, have, to, what, io::ExtendMethod::automatic);
    return have;
}

void truncate_descriptor(int fd, std::uint64_t bytes) noexcept {
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > bytes)
        (void)::ftruncate(fd, static_cast<off_t>(bytes));
}

uid_t Store::owner() const {
    struct stat st {};
    if (::fstat(lock_fd_.get(), &st) != 0) throw_errno(errno, "fstat", file_);
    return st.st_uid;
}

void Store::reopen_lock_fd() {
    if (!lock_fd_) return;
    // Opening /proc/self/fd/N creates a new open file description for the same inode, so
    // the child's liveness lock is its own, not the one it shares with its parent.
    Fd fresh(reopen_description(lock_fd_.get(), O_RDWR));
    if (!fresh) throw_errno(errno, "reopen (after fork)", file_);
    lock_fd_ = std::move(fresh);
}

void Store::disown_locks_after_fork() noexcept {
    const int fd = lock_fd_.get();
    if (fd < 0) return;
    const int fresh = reopen_description(fd, O_RDWR);
    if (fresh < 0) return;
    ::dup3(fresh, fd, O_CLOEXEC);  // drops the child's reference to the shared description
    ::close(fresh);
}

HomeFile open_home_file(const std::filesystem::path& file, bool writable) {
    HomeFile h;
    h.fd.reset(::open(file.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW));
    if (!h.fd) {
        if (errno == ENOENT)
            throw_failure(errc::region_not_found, file, "open " + file.string() + ": no such region");
        if (errno == EISDIR)  // the same answer a read-only open gets from the S_ISREG check
            throw_failure(errc::bad_magic, file, file.string() + " is not a regular file");
        throw_errno(errno, "open", file);
    }
    struct stat st {};
    if (::fstat(h.fd.get(), &st) != 0) throw_errno(errno, "fstat", file);
    if (!S_ISREG(st.st_mode))
        throw_failure(errc::bad_magic, file, file.string() + " is not a regular file");
    h.dev = st.st_dev;
    h.ino = st.st_ino;
    h.uid = st.st_uid;
    // One read serves both: the magic, and the whole locator if it is one.
    Locator loc{};
    const auto have = static_cast<std::size_t>(std::min<off_t>(st.st_size, static_cast<off_t>(sizeof loc)));
    if (have > 0 && !pread_all(h.fd.get(), &loc, have, 0)) {
        if (errno != 0) throw_errno(errno, "read", file);
        throw_failure(errc::size_mismatch, file, file.string() + ": shrank while being read");
    }
    if (have < sizeof loc.magic)
        throw_failure(errc::bad_magic, file,
                      file.string() + ": " + std::to_string(st.st_size) +
                          " bytes, too short to hold a magic number");
    if (std::memcmp(loc.magic, kRegionMagic, sizeof loc.magic) == 0) {
        h.kind = Backing::file;
        return h;
    }
    if (std::memcmp(loc.magic, kLocatorMagic, sizeof loc.magic) != 0)
        throw_failure(errc::bad_magic, file,
                      file.string() + ": field 'magic' holds neither the region nor the locator magic number");
    if (have < sizeof loc)
        throw_failure(errc::size_mismatch, file,
                      file.string() + ": locator truncated to " + std::to_string(st.st_size) +
                          " bytes (needs " + std::to_string(sizeof loc) + ")");
    validate_locator(loc, file);
    h.kind = static_cast<Backing>(loc.backing);
    h.locator = loc;
    return h;
}

void throw_segment_absent(const Locator& loc, const std::filesystem::path& file, const std::string& what) {
    const SegmentPlace place = segment_place(loc);
    if (missing_means_gone(place))
        throw_failure(errc::segment_missing, file,
                      file.string() + ": " + what + (place == SegmentPlace::gone ? " (made before the last reboot)" : ""));
    throw_failure(errc::segment_foreign, file, file.string() + ": " + what + ", but " + describe_place(loc, place));
}

Locator make_locator(Backing kind, std::uint64_t region_bytes) {
    Locator loc{};
    std::memcpy(loc.magic, kLocatorMagic, sizeof loc.magic);
    loc.version = kLayoutVersion;
    loc.backing = static_cast<std::uint32_t>(kind);
    loc.size_at_creation = region_bytes;
    loc.sysv_id = -1;
    loc.creator_pid = current_pid();
    loc.creator_uid = ::geteuid();
    loc.created_at_ns = now_ns();
    loc.namespace_id = segment_namespace(kind);
    std::memcpy(loc.boot_id, boot_id().bytes, sizeof loc.boot_id);
    return loc;
}

void write_locator(int fd, const Locator& loc, const std::filesystem::path& file) {
    Locator sealed = loc;
    sealed.checksum = locator_checksum(sealed);
    if (!pwrite_all(fd, &sealed, sizeof sealed, 0)) throw_errno(errno, "write locator", file);
}

namespace {

/// flock(2) on the home directory, held around the few operations that give a region's
/// file its name or take it away (link, and the check-then-unlink below), so that a remover
/// can never unlink a newer region that took the name between its check and its unlink.
///
/// Best effort, never a new way to fail: a home we may not read (link and unlink need only
/// write and search permission) or a lock held elsewhere for more than a few seconds
/// (somebody's `flock -x home ...`) means going on unserialised, as without the lock. A
/// child forked while it is held closes its copy at once (fork_safety.hpp).
class HomeLock {
public:
    explicit HomeLock(const std::filesystem::path& home)
        : fd_(::open(home.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), hook_(&close_in_child, this) {
        if (!fd_) return;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        Backoff backoff(std::chrono::microseconds(50), std::chrono::microseconds(10'000));
        while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
            if ((errno != EWOULDBLOCK && errno != EINTR) || std::chrono::steady_clock::now() >= give_up) {
                fd_.reset();
                return;
            }
            backoff.wait();
        }
    }

private:
    static void close_in_child(void* self) noexcept {
        auto* lock = static_cast<HomeLock*>(self);
        if (lock->fd_) ::close(lock->fd_.release());
    }

    Fd fd_;  // closing it releases the lock
    ForkChildHook hook_;
};

std::filesystem::path home_of(const std::filesystem::path& file) {
    return file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
}

}  // namespace

void unlink_if_same(const std::filesystem::path& file, int fd) {
    HomeLock serialised(home_of(file));
    struct stat mine {}, now {};
    if (::fstat(fd, &mine) != 0) throw_errno(errno, "fstat", file);
    if (::stat(file.c_str(), &now) != 0) {
        if (errno == ENOENT) return;
        throw_errno(errno, "stat", file);
    }
    if (mine.st_dev != now.st_dev || mine.st_ino != now.st_ino) return;  // a newer region's
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw_errno(errno, "unlink", file);
}

// ---- PendingFile -----------------------------------------------------------------------

PendingFile::PendingFile(const std::filesystem::path& home, const std::filesystem::path& final_path,
                         ::mode_t permissions, Fd& fd, Visibility visibility)
    : final_(final_path) {
    const std::string region = region_name_of(final_path);
    const auto hidden_name = [&] { return home / pending_file_name(region, static_cast<long>(current_pid()), random64()); };
    fd.reset(::open(home.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, permissions));
    if (!fd && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        throw_errno(errno, "open(O_TMPFILE) in", home);
    // Slot 0's liveness lock, held from the start: while it is held, the creator is alive and
    // remove_abandoned() leaves its pending file and segment alone.
    if (fd && !slot_lock_acquire(fd.get(), 0))
        throw_failure(errc::header_corrupt, final_path, "a new file is locked by another process");
    // A hidden name (it records what a creator is making, for remove_abandoned), given only
    // now that the lock is held. A cleaner takes a pending file whose lock is free for a dead
    // creator's and removes it: racers sweeping while they wait for a creator took names made
    // before the lock from live creators, eight times in a row once (the creation failed).
    for (int attempt = 0; fd && visibility == Visibility::hidden_name && temp_.empty(); ++attempt) {
        const auto temp = hidden_name();
        if (::linkat(AT_FDCWD, ProcFdPath(fd.get()).c_str(), AT_FDCWD, temp.c_str(), AT_SYMLINK_FOLLOW) == 0)
            temp_ = temp;
        else if (errno == ENOENT)
            fd.reset();  // no /proc: name first, as without O_TMPFILE (no home: its create says so)
        else if (errno != EEXIST || attempt == 8)  // EEXIST: another creator's random name
            throw_errno(errno, "link", temp);
    }
    // Without O_TMPFILE, the name comes first. Between creating it and locking it a cleaner
    // could take it for a dead creator's and remove it: then the name is gone (no links
    // left) and we make another.
    for (int attempt = 0; !fd && attempt < 8; ++attempt) {
        const auto temp = hidden_name();
        fd.reset(::open(temp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, permissions));
        if (!fd) throw_errno(errno, "create", temp);
        struct stat st {};
        if (slot_lock_acquire(fd.get(), 0) && ::fstat(fd.get(), &st) == 0 && st.st_nlink > 0) {
            temp_ = temp;
            break;
        }
        fd.reset();
    }
    if (!fd) throw_errno(EAGAIN, "create a pending file in", home);
    fd_ = fd.get();
    try {
        // The mode is applied exactly, whatever the umask.
        if (::fchmod(fd_, permissions) != 0) throw_errno(errno, "fchmod", final_path);
        presence_share(fd_, final_path, std::nullopt);  // the creator is an attacher like any other
    } catch (...) {
        if (!temp_.empty()) ::unlink(temp_.c_str());  // the destructor will not run
        throw;
    }
}

PendingFile::~PendingFile() {
    if (!temp_.empty()) ::unlink(temp_.c_str());
}

bool PendingFile::link_into_place() {
    HomeLock serialised(home_of(final_));
    int rc;
    if (temp_.empty()) {
        rc = ::linkat(AT_FDCWD, ProcFdPath(fd_).c_str(), AT_FDCWD, final_.c_str(), AT_SYMLINK_FOLLOW);
    } else {
        rc = ::link(temp_.c_str(), final_.c_str());
    }
    if (rc == 0) return true;
    if (errno == EEXIST) return false;
    throw_errno(errno, "link", final_);
}

}  // namespace shmregion::detail
