// Thin helpers over system calls: an owning file descriptor, facts about processes, time.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace shmregion::detail {

/// An owned file descriptor, closed on destruction.
class Fd {
public:
    Fd() noexcept = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept {
        int f = fd_;
        fd_ = -1;
        return f;
    }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

/// "/proc/self/fd/<fd>", built without snprintf so it is async-signal-safe.
struct ProcFdPath {
    explicit ProcFdPath(int fd) noexcept;
    const char* c_str() const noexcept { return str; }
    char str[32];
};

/// Opens `fd`'s file again through /proc/self/fd: a new open file description of the same
/// inode, holding none of the old one's locks. Returns the new descriptor (close-on-exec),
/// or -1 with errno set. Async-signal-safe.
int reopen_description(int fd, int flags) noexcept;

/// sysconf(_SC_PAGESIZE), cached.
std::uint32_t page_size() noexcept;

/// Rounds up to a multiple of `unit` (a power of two); nullopt on overflow.
std::optional<std::uint64_t> round_up(std::uint64_t value, std::uint64_t unit) noexcept;

/// CLOCK_REALTIME in nanoseconds.
std::uint64_t now_ns() noexcept;

/// Start time of a process in clock ticks after boot (field 22 of /proc/PID/stat);
/// nullopt if the process does not exist (errno ENOENT or ESRCH; a zombie, state Z or X,
/// exited and not yet reaped, counts as gone: ESRCH) or /proc cannot tell (other errno).
std::optional<std::uint64_t> process_start_time(pid_t pid) noexcept;
/// The process (thread group) of thread `tid`, from /proc/TID/status; 0 if it is gone or
/// cannot be read. A futex word names its owner's thread, not its process.
pid_t thread_group_of(pid_t tid) noexcept;

/// Inode of /proc/self/ns/pid (0 if unknown).
std::uint64_t pid_namespace() noexcept;

/// Where this process sees shared-memory segments: st_dev of /dev/shm (POSIX shm), and the
/// inode of /proc/self/ns/ipc (System V). 0 if unknown.
std::uint64_t dev_shm_device() noexcept;
std::uint64_t ipc_namespace() noexcept;

/// This boot's identity: /proc/sys/kernel/random/boot_id as 16 bytes (read once). All zero
/// if unknown.
struct BootId {
    std::uint8_t bytes[16] = {};
    bool known() const noexcept;
};
const BootId& boot_id() noexcept;

/// Identity of a directory (st_dev, st_ino), however its path is spelled: through
/// symlinks, "./", "..", a trailing '/', or a bind mount. nullopt with errno if stat fails.
struct DirId {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    bool operator==(const DirId&) const = default;
};
std::optional<DirId> dir_id(const std::filesystem::path& dir) noexcept;

/// Calls fn(name) for every entry of directory `dir` whose name starts with `prefix`, with
/// as few system calls as the kernel allows (open, one getdents64 for a directory that fits
/// in 32 KiB, close): the hot-path form of a directory scan. False with errno if the
/// directory cannot be read. fn returns false to stop early.
template <class Fn>
bool for_each_entry(const std::filesystem::path& dir, std::string_view prefix, Fn&& fn);
bool for_each_entry_impl(const std::filesystem::path& dir, std::string_view prefix,
                         bool (*fn)(void*, std::string_view), void* ctx) noexcept;
template <class Fn>
bool for_each_entry(const std::filesystem::path& dir, std::string_view prefix, Fn&& fn) {
    return for_each_entry_impl(
        dir, prefix, [](void* c, std::string_view n) { return (*static_cast<std::remove_reference_t<Fn>*>(c))(n); },
        &fn);
}

/// Exponential backoff for the retry loops (a lock held elsewhere, a creator not finished):
/// wait() sleeps the current delay, then doubles it up to the cap. One helper, so every
/// loop backs off alike; each picks its start and cap for what it waits on.
class Backoff {
public:
    Backoff(std::chrono::microseconds initial, std::chrono::microseconds cap) noexcept : delay_(initial), cap_(cap) {}
    void wait() noexcept;

private:
    std::chrono::microseconds delay_;
    std::chrono::microseconds cap_;
};

/// n CPU pause (spin-wait hint) instructions: a delay that touches no memory, for short
/// waits on another core (a lock's holder, shares being released).
inline void cpu_relax(int n = 1) noexcept {
    for (int i = 0; i < n; ++i) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield" ::: "memory");
#endif
    }
}

/// One row of /proc/sysvipc/shm: the System V segments this IPC namespace has.
struct SysvSegmentRow {
    long long key = 0;
    int id = -1;
    unsigned perms = 0;  // with the SHM_DEST bit once IPC_RMID was done
    std::uint64_t size = 0;
    pid_t cpid = 0;
    unsigned uid = 0;
};
/// Every row of /proc/sysvipc/shm (empty if it cannot be read). The one parser of it.
std::vector<SysvSegmentRow> sysv_segments();

/// The calling process: pid, start time and pid namespace, read from /proc once per
/// process (recomputed after fork(), when the pid changes).
struct SelfIdentity {
    pid_t pid = 0;
    std::uint64_t start_time = 0;
    std::uint64_t pid_namespace = 0;
};
const SelfIdentity& self_identity() noexcept;

/// True if a process with this pid and start time exists in our pid namespace.
bool process_alive(pid_t pid, std::uint64_t start_time) noexcept;

/// 64 random bits from getrandom() (falls back to time and pid mixing).
std::uint64_t random64() noexcept;

/// pread/pwrite the whole buffer, retrying on EINTR and short transfers. Return false with
/// errno set on error; a short read at end of file sets errno to 0.
bool pread_all(int fd, void* buf, std::size_t len, off_t offset) noexcept;
bool pwrite_all(int fd, const void* buf, std::size_t len, off_t offset) noexcept;

}  // namespace shmregion::detail
