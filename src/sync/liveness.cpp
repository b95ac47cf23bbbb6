#include "sync/liveness.hpp"

#include "sys/failure.hpp"
#include "sys/os.hpp"

#include <fcntl.h>

#include <cerrno>

namespace shmregion::detail {
namespace {

struct flock byte_lock(short type, std::uint32_t slot) noexcept {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = slot_lock_offset(slot);
    fl.l_len = 1;
    fl.l_pid = 0;  // required for OFD locks
    return fl;
}

}  // namespace

bool presence_try_exclusive(int fd) {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = kPresenceLockOffset;
    fl.l_len = 1;
    while (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EACCES) return false;
        throw_errno(errno, "fcntl(F_OFD_SETLK) on the presence byte");
    }
    return true;
}

void presence_share(int fd, const std::filesystem::path& file) {
    struct flock fl {};
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = kPresenceLockOffset;
    fl.l_len = 1;
    while (::fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
        if (errno == EINTR) continue;
        throw_errno(errno, "fcntl(F_OFD_SETLKW, shared) on the presence byte of", file);
    }
}

bool slot_lock_acquire(int fd, std::uint32_t slot) {
    auto fl = byte_lock(F_WRLCK, slot);
    while (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EACCES) return false;
        throw_errno(errno, "fcntl(F_OFD_SETLK) on attacher slot " + std::to_string(slot));
    }
    return true;
}

bool slot_lock_held(int fd, std::uint32_t slot) noexcept {
    auto fl = byte_lock(F_WRLCK, slot);
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
