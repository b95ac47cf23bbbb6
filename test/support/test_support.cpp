#include "test_support.hpp"

#include "format/header.hpp"
#include "sys/os.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace shmregion::test {
namespace {

std::atomic<unsigned> counter{0};

bool origin_under(const char* header, const std::string& prefix) {
    if (std::memcmp(header, detail::kRegionMagic, sizeof detail::kRegionMagic) != 0) return false;
    const char* origin = header + offsetof(detail::RegionHeader, origin);
    std::string o(origin, strnlen(origin, detail::kOriginSize));
    return o.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::filesystem::path temp_root() {
    const char* t = std::getenv("TMPDIR");
    return std::filesystem::path(t && *t ? t : "/tmp");
}

std::string unique_name(const std::string& stem) {
    return stem + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

TempHome::TempHome() {
    path_ = temp_root() / (std::string(kHomePrefix) + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
}

TempHome::~TempHome() {
    clear();
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void TempHome::clear() noexcept {
    std::error_code ec;
    shmregion::remove_abandoned(path_, ec);
    // Whatever a test did to them (given to another user, a segment made in another
    // namespace): everything in a test home goes.
    RemoveOptions all;
    all.force = Force::yes;
    all.require_same_owner = false;
    all.allow_foreign = true;
    for (const auto& name : shmregion::list(path_, ec)) shmregion::unlink(path_, name, all, ec);
    for (std::filesystem::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec))
        std::filesystem::remove_all(it->path(), ec);
}

Options options(const std::filesystem::path& home, Backing backing, std::uint64_t size) {
    Options o;
    o.home = home;
    o.name = unique_name();
    o.backing = backing;
    o.size = size;
    return o;
}

pid_t spawn(const std::function<int()>& fn, unsigned watchdog_s) {
    std::cout.flush();
    std::cerr.flush();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::alarm(watchdog_s);
        int rc = 251;
        try {
            rc = fn();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child %d: uncaught exception: %s\n", static_cast<int>(::getpid()), e.what());
            rc = 250;
        } catch (...) {
            rc = 250;
        }
        ::_exit(rc);
    }
    return pid;
}

int wait_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}

int wait_exit(pid_t pid) {
    int status = wait_status(pid);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return -1000;
}

void kill_and_reap(pid_t pid) {
    ::kill(pid, SIGKILL);
    wait_status(pid);
}

SharedMemory::SharedMemory(std::size_t bytes) : n_(bytes) {
    p_ = ::mmap(nullptr, n_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p_ == MAP_FAILED) throw std::runtime_error("mmap shared test memory failed");
}

SharedMemory::~SharedMemory() { ::munmap(p_, n_); }

SharedBarrier::SharedBarrier(unsigned count) : mem_(sizeof(pthread_barrier_t)), b_(mem_.as<pthread_barrier_t>()) {
    pthread_barrierattr_t a;
    pthread_barrierattr_init(&a);
    pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(b_, &a, count);
    pthread_barrierattr_destroy(&a);
}

SharedBarrier::~SharedBarrier() { pthread_barrier_destroy(b_); }

void SharedBarrier::wait() noexcept { pthread_barrier_wait(b_); }

Signal::Signal() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
}

Signal::~Signal() {
    ::close(fds_[0]);
    ::close(fds_[1]);
}

void Signal::notify() noexcept {
    char c = 1;
    (void)!::write(fds_[1], &c, 1);
}

bool Signal::wait(int timeout_ms) noexcept {
    pollfd p{fds_[0], POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return ::read(fds_[0], &c, 1) == 1;
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::vector<std::string> posix_segments_of(const std::string& name) {
    std::vector<std::string> found;
    const std::string prefix = "shmregion." + name + ".";
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/dev/shm", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string f = it->path().filename().string();
        if (f.rfind(prefix, 0) == 0 && f.size() == prefix.size() + 16) found.push_back(f);
    }
    return found;
}

std::vector<std::string> posix_segments_with_origin(const std::string& prefix) {
    std::vector<std::string> found;
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/dev/shm", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.rfind("shmregion.", 0) != 0) continue;
        int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        char header[sizeof(detail::RegionHeader)] = {};
        bool ours = ::pread(fd, header, sizeof header, 0) == static_cast<ssize_t>(sizeof header) &&
                    origin_under(header, prefix);
        ::close(fd);
        if (ours) found.push_back(name);
    }
    return found;
}

std::vector<int> sysv_segments_with_origin(const std::string& prefix, const std::function<bool(pid_t)>& made_by) {
    std::vector<int> found;
    for (const auto& row : detail::sysv_segments()) {
        const int id = row.id;
        if (row.size < sizeof(detail::RegionHeader)) continue;
        const long long key = row.key;
        const unsigned perms = row.perms;
        const pid_t cpid = row.cpid;
        if (key == 0 || (perms & SHM_DEST)) continue;  // removed, still attached somewhere
        if (made_by && !made_by(cpid)) continue;
        void* p = ::shmat(id, nullptr, SHM_RDONLY);
        if (p == reinterpret_cast<void*>(-1)) continue;
        if (origin_under(static_cast<const char*>(p), prefix)) found.push_back(id);
        ::shmdt(p);
    }
    return found;
}

std::vector<std::string> leaked_posix_segments() {
    return posix_segments_with_origin((temp_root() / kHomePrefix).string());
}

std::vector<int> leaked_sysv_segments() { return sysv_segments_with_origin((temp_root() / kHomePrefix).string()); }

}  // namespace shmregion::test
