#include "sys/os.hpp"
#include "sys/fork_safety.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <charconv>
#include <cstring>
#include <ctime>
#include <string_view>
#include <algorithm>
#include <fstream>
#include <sstream>

namespace shmregion::detail {
namespace {
/// The fixed part of the kernel's struct linux_dirent64 (d_ino, d_off, d_reclen, d_type,
/// then the NUL-terminated name).
struct linux_dirent64_view {
    std::uint64_t ino;
    std::int64_t off;
    unsigned short reclen;
    unsigned char type;
};
constexpr std::size_t kDirentNameOffset = 19;
static_assert(offsetof(linux_dirent64_view, type) == 18);
}  // namespace

void Fd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

ProcFdPath::ProcFdPath(int fd) noexcept : str("/proc/self/fd/") {
    char digits[12];
    int n = 0;
    for (unsigned v = static_cast<unsigned>(fd); n == 0 || v != 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    std::size_t len = std::strlen(str);
    while (n > 0) str[len++] = digits[--n];
    str[len] = '\0';
}

int reopen_description(int fd, int flags) noexcept { return ::open(ProcFdPath(fd).c_str(), flags | O_CLOEXEC); }

std::uint32_t page_size() noexcept {
    static const std::uint32_t ps = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
    return ps;
}

std::optional<std::uint64_t> round_up(std::uint64_t value, std::uint64_t unit) noexcept {
    std::uint64_t sum;
    if (__builtin_add_overflow(value, unit - 1, &sum)) return std::nullopt;
    return sum & ~(unit - 1);
}

std::uint64_t now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

pid_t thread_group_of(pid_t tid) noexcept {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
    Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return 0;
    char buf[2048];
    ssize_t n;
    do {
        n = ::read(fd.get(), buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char* at = std::strstr(buf, "\nTgid:");
    return at ? static_cast<pid_t>(std::strtol(at + 6, nullptr, 10)) : 0;
}

std::optional<std::uint64_t> process_start_time(pid_t pid) noexcept {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;  // errno says why (ENOENT: no such process)
    char buf[1024];
    ssize_t n;
    do {
        n = ::read(fd.get(), buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (n == 0) errno = ESRCH;  // the process went while we read
        return std::nullopt;
    }
    errno = EINVAL;  // from here on, a failure means "unparsable", not "gone"
    std::string_view s(buf, static_cast<std::size_t>(n));
    // The command name (field 2) may contain spaces and parentheses: fields restart after
    // the last ')'. Field 3 (state) follows it; start time is field 22.
    auto close = s.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    // Field 3: a zombie (exited, not yet reaped) or a dying process is no process any more:
    // it holds nothing, and its parent may be the very process waiting for its shares.
    if (close + 2 < s.size() && (s[close + 2] == 'Z' || s[close + 2] == 'X')) {
        errno = ESRCH;
        return std::nullopt;
    }
    s.remove_prefix(close + 1);
    int field = 2;
    std::size_t pos = 0;
    while (field < 22) {
        pos = s.find(' ', pos);
        if (pos == std::string_view::npos) return std::nullopt;
        ++pos;
        ++field;
    }
    std::uint64_t value = 0;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + s.size(), value);
    if (ec != std::errc()) return std::nullopt;
    return value;
}

std::uint64_t pid_namespace() noexcept {
    struct stat st {};
    if (::stat("/proc/self/ns/pid", &st) != 0) return 0;
    return st.st_ino;
}

std::uint64_t dev_shm_device() noexcept {
    struct stat st {};
    return ::stat("/dev/shm", &st) == 0 ? static_cast<std::uint64_t>(st.st_dev) : 0;
}

std::uint64_t ipc_namespace() noexcept {
    struct stat st {};
    return ::stat("/proc/self/ns/ipc", &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

bool BootId::known() const noexcept {
    for (auto b : bytes)
        if (b) return true;
    return false;
}

namespace {
BootId read_boot_id() noexcept {
    BootId id;
    Fd fd(::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC));
    char text[64] = {};
    if (!fd || ::read(fd.get(), text, sizeof text - 1) < 36) return id;
    // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\n": 32 hex digits and four dashes.
    int n = 0;
    for (const char* p = text; *p && n < 32; ++p) {
        int v;
        if (*p >= '0' && *p <= '9') v = *p - '0';
        else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
        else if (*p == '-') continue;
        else break;
        id.bytes[n / 2] = static_cast<std::uint8_t>(id.bytes[n / 2] | (v << (n % 2 ? 0 : 4)));
        ++n;
    }
    if (n != 32) return BootId{};
    return id;
}
}  // namespace

const BootId& boot_id() noexcept {
    static const BootId id = read_boot_id();
    return id;
}

std::optional<DirId> dir_id(const std::filesystem::path& dir) noexcept {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return std::nullopt;
    return DirId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

bool for_each_entry_impl(const std::filesystem::path& dir, std::string_view prefix,
                         bool (*fn)(void*, std::string_view), void* ctx) noexcept {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return false;
    // getdents64 fills the buffer with whole entries: if it leaves room for the largest
    // entry there can be, it has returned the last one, and no second call is needed.
    alignas(8) char buf[32768];
    constexpr std::size_t kLargest = 19 + 256 + 5;  // header, NAME_MAX + NUL, alignment
    for (;;) {
        const long n = ::syscall(SYS_getdents64, fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        for (long off = 0; off < n;) {
            const auto* d = reinterpret_cast<const struct linux_dirent64_view*>(buf + off);
            const std::string_view name(buf + off + kDirentNameOffset);
            if (name.compare(0, prefix.size(), prefix) == 0 && !fn(ctx, name))
                return true;
            off += d->reclen;
        }
        if (n == 0 || static_cast<std::size_t>(n) + kLargest <= sizeof buf) return true;
    }
}

void Backoff::wait() noexcept {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(delay_.count() / 1'000'000);
    ts.tv_nsec = static_cast<long>(delay_.count() % 1'000'000) * 1000;
    ::nanosleep(&ts, nullptr);
    delay_ = std::min(delay_ * 2, cap_);
}

std::vector<SysvSegmentRow> sysv_segments() {
    std::vector<SysvSegmentRow> rows;
    std::ifstream in("/proc/sysvipc/shm");
    std::string line;
    std::getline(in, line);  // column titles
    while (std::getline(in, line)) {
        std::istringstream f(line);
        SysvSegmentRow r;
        long long size = 0, cpid = 0, lpid = 0, nattch = 0;
        if (!(f >> r.key >> r.id >> std::oct >> r.perms >> std::dec >> size >> cpid >> lpid >> nattch >> r.uid)) continue;
        r.size = static_cast<std::uint64_t>(size);
        r.cpid = static_cast<pid_t>(cpid);
        rows.push_back(r);
    }
    return rows;
}

const SelfIdentity& self_identity() noexcept {
    thread_local SelfIdentity cached;
    const pid_t pid = current_pid();
    if (cached.pid != pid) {
        cached.start_time = process_start_time(pid).value_or(0);
        cached.pid_namespace = pid_namespace();
        cached.pid = pid;
    }
    return cached;
}

bool process_alive(pid_t pid, std::uint64_t start_time) noexcept {
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    auto st = process_start_time(pid);  // ESRCH for a zombie too
    // Unreadable /proc (hidepid=, no /proc): cannot tell, so alive. Only "no such
    // process" is death; reaping a live attacher would hand its slot to another.
    if (!st) return errno != ENOENT && errno != ESRCH;
    return start_time == 0 || *st == start_time;
}

std::uint64_t random64() noexcept {
    std::uint64_t v = 0;
    if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof v)) return v;
    v = now_ns() ^ (static_cast<std::uint64_t>(current_pid()) << 32);
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    return v;
}

bool pread_all(int fd, void* buf, std::size_t len, off_t offset) noexcept {
    auto* p = static_cast<char*>(buf);
    while (len > 0) {
        ssize_t n = ::pread(fd, p, len, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (n == 0) {
            errno = 0;
            return false;
        }
        p += n;
        len -= static_cast<std::size_t>(n);
        offset += n;
    }
    return true;
}

bool pwrite_all(int fd, const void* buf, std::size_t len, off_t offset) noexcept {
    const auto* p = static_cast<const char*>(buf);
    while (len > 0) {
        ssize_t n = ::pwrite(fd, p, len, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        len -= static_cast<std::size_t>(n);
        offset += n;
    }
    return true;
}

}  // namespace shmregion::detail
