#include "sync/liveness.hpp"

#include "sys/failure.hpp"
#include "sys/os.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

namespace shmregion::detail {
namespace {

struct flock byte_lock(short type, off_t offset) noexcept {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = offset;
    fl.l_len = 1;
    fl.l_pid = 0;  // required for OFD locks
    return fl;
}

/// F_OFD_SETLK on one byte: false if another open file description holds it.
bool try_lock_byte(int fd, short type, off_t offset, const char* what) {
    auto fl = byte_lock(type, offset);
    while (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EACCES) return false;
        throw_errno(errno, std::string("fcntl(F_OFD_SETLK) on ") + what);
    }
    return true;
}

}  // namespace

bool presence_try_exclusive(int fd) { return try_lock_byte(fd, F_WRLCK, kPresenceLockOffset, "the presence byte"); }

void presence_share(int fd, const std::filesystem::path& file,
                    std::optional<std::chrono::steady_clock::time_point> deadline) {
    if (!deadline) {
        auto fl = byte_lock(F_RDLCK, kPresenceLockOffset);
        while (::fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
            if (errno == EINTR) continue;
            throw_errno(errno, "fcntl(F_OFD_SETLKW, shared) on the presence byte of", file);
        }
        return;
    }
    // Bounded: a lone joiner holds the byte exclusively only for its checks, but it could
    // be stopped (SIGSTOP, a debugger) in between.
    Backoff backoff(std::chrono::microseconds(100), std::chrono::microseconds(20'000));
    while (!try_lock_byte(fd, F_RDLCK, kPresenceLockOffset, "the presence byte")) {
        if (std::chrono::steady_clock::now() >= *deadline)
            throw_failure(errc::lock_timeout, file,
                          file.string() + ": another process kept the presence byte past the join timeout");
        backoff.wait();
    }
}

void release_attacher_locks(int fd, std::uint32_t slot) noexcept {
    for (off_t offset : {slot_lock_offset(slot), kPresenceLockOffset}) {
        auto fl = byte_lock(F_UNLCK, offset);
        ::fcntl(fd, F_OFD_SETLK, &fl);
    }
}

bool slot_lock_acquire(int fd, std::uint32_t slot) {
    return try_lock_byte(fd, F_WRLCK, slot_lock_offset(slot), "an attacher slot's byte");
}

bool slot_lock_held(int fd, std::uint32_t slot) noexcept {
    auto fl = byte_lock(F_WRLCK, slot_lock_offset(slot));
    if (::fcntl(fd, F_OFD_GETLK, &fl) != 0) return true;  // cannot tell: assume alive
    return fl.l_type != F_UNLCK;
}

bool slot_alive(const AttacherSlot& s, std::uint32_t slot, int lock_fd) noexcept {
    if (lock_fd >= 0) return slot_lock_held(lock_fd, slot);
    if (s.pid_namespace != 0 && s.pid_namespace != self_identity().pid_namespace) return true;
    return process_alive(s.pid, s.start_time);
}

void slot_fill_self(AttacherSlot& s) noexcept {
    const SelfIdentity& me = self_identity();
    s.pid = me.pid;
    s.start_time = me.start_time;
    s.pid_namespace = me.pid_namespace;
    s.attached_at_ns = now_ns();
    store_release(s.state, kSlotInUse);
}

}  // namespace shmregion::detail
