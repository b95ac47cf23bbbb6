// Helpers shared by every shmregion test binary.
//
// - TempHome: a home directory unique to this run and process
//   (${TMPDIR:-/tmp}/shmregion-test-<pid>-<n>), removed with every region in it
//   (force-unlinked: segments first) on destruction, even when the test failed.
// - unique_name(): region names unique per run ("t<pid>-<n>").
// - fork helpers: a child runs a lambda and _exit()s with its return value; it never calls
//   Boost.Test macros. Every child runs under an alarm() watchdog.
// - SharedBarrier / SharedMemory: process-shared state in MAP_SHARED anonymous memory, for
//   hand-offs between parent and children without sleeps.
#pragma once

#include <shmregion/shmregion.hpp>

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace shmregion::test {

/// The directory under which every test home is made: ${TMPDIR:-/tmp}.
std::filesystem::path temp_root();
/// Prefix of every test home directory's name.
inline constexpr const char* kHomePrefix = "shmregion-test-";

std::string unique_name(const std::string& stem = "t");

class TempHome {
public:
    TempHome();
    ~TempHome();
    TempHome(const TempHome&) = delete;
    TempHome& operator=(const TempHome&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    operator const std::filesystem::path&() const noexcept { return path_; }
    /// Force-unlinks every region in the home and removes every other file in it.
    void clear() noexcept;

private:
    std::filesystem::path path_;
};

/// Options for a region in home with the given backing and a unique name.
Options options(const std::filesystem::path& home, Backing backing, std::uint64_t size = 64 * 1024);

/// Starts a child that runs fn() and _exit()s with its result (an uncaught exception exits
/// 250, after printing it to stderr). The child is killed by SIGALRM after watchdog_s.
pid_t spawn(const std::function<int()>& fn, unsigned watchdog_s = 60);
/// Waits for pid; returns the raw wait status.
int wait_status(pid_t pid);
/// Waits for pid and returns its exit code, or -signal if it was killed.
int wait_exit(pid_t pid);
/// Kills with SIGKILL and reaps.
void kill_and_reap(pid_t pid);

/// Memory shared with fork()ed children (MAP_SHARED|MAP_ANONYMOUS), unmapped on destruction.
class SharedMemory {
public:
    explicit SharedMemory(std::size_t bytes);
    ~SharedMemory();
    SharedMemory(const SharedMemory&) = delete;
    SharedMemory& operator=(const SharedMemory&) = delete;
    void* get() const noexcept { return p_; }
    template <class T>
    T* as() const noexcept { return static_cast<T*>(p_); }

private:
    void* p_;
    std::size_t n_;
};

/// A process-shared pthread barrier in shared memory for `count` participants.
class SharedBarrier {
public:
    explicit SharedBarrier(unsigned count);
    ~SharedBarrier();
    void wait() noexcept;

private:
    SharedMemory mem_;
    pthread_barrier_t* b_;
};

/// A one-way pipe for "I am ready" hand-offs between a child and its parent.
class Signal {
public:
    Signal();
    ~Signal();
    void notify() noexcept;            // child: write one byte
    bool wait(int timeout_ms = 30000) noexcept;  // parent: true if a byte came
private:
    int fds_[2];
};

/// The whole content of a file (for byte-for-byte comparisons).
std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& bytes);

/// /dev/shm entries of region `name`'s segments ("shmregion.<name>.<16 hex>").
std::vector<std::string> posix_segments_of(const std::string& name);

/// /dev/shm entries (names without '/') and System V segment ids whose region header's
/// origin path starts with `prefix`. System V segments already removed (still attached
/// somewhere) are skipped, and so are those whose creator pid `made_by` rejects: attaching
/// to read another program's segment would keep it alive while that program checks it went.
std::vector<std::string> posix_segments_with_origin(const std::string& prefix);
std::vector<int> sysv_segments_with_origin(const std::string& prefix,
                                           const std::function<bool(pid_t)>& made_by = {});

/// /dev/shm entries and System V segments that belong to test homes (their header's
/// origin path lies under temp_root()/kHomePrefix*). Used by the leak check.
std::vector<std::string> leaked_posix_segments();
std::vector<int> leaked_sysv_segments();

}  // namespace shmregion::test
