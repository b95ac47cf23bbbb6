// What a fork()ed child must undo before it runs. Descriptors are shared with the parent
// across fork(), and with them the parent's OFD and flock locks: a child that keeps them
// would keep a killed parent looking alive, or hold a lock its parent was about to drop.
// Objects that own such descriptors register a callback here; it runs in the child from a
// pthread_atfork handler, so it must be async-signal-safe.
//
// It is also the library's one fork detector: current_pid() is this process's pid, kept in
// memory and set again by the same handler in every fork()ed child, so that the checks
// "does this attach / engine / cache / job belong to this process?" cost a load instead of
// a getpid() system call (glibc does not cache it). A child made without fork()'s atfork
// handlers (the raw clone system call, glibc's _Fork) must exec, or call nothing of ours.
#pragma once

#include <shmregion/detail/inline_locks.hpp>  // g_current_pid, read by the inline lock paths

#include <sys/types.h>

#include <atomic>

namespace shmregion::detail {

// g_current_pid (shmregion/detail/inline_locks.hpp): this process's pid once read (0
// before); set again in every fork()ed child.
/// Reads it the first time (and installs the atfork handler that keeps it true).
pid_t current_pid_first() noexcept;
/// The calling process's pid, without a system call (see above): one load on the hot path.
inline pid_t current_pid() noexcept {
    const pid_t pid = g_current_pid.load(std::memory_order_relaxed);
    return pid != 0 ? pid : current_pid_first();
}

using ForkChildFn = void (*)(void* arg) noexcept;

/// Registers fn(arg) to run in every child forked while the registration lasts.
void fork_child_register(ForkChildFn fn, void* arg);
void fork_child_unregister(ForkChildFn fn, void* arg) noexcept;

/// RAII registration.
class ForkChildHook {
public:
    ForkChildHook(ForkChildFn fn, void* arg) : fn_(fn), arg_(arg) { fork_child_register(fn, arg); }
    ~ForkChildHook() { fork_child_unregister(fn_, arg_); }
    ForkChildHook(const ForkChildHook&) = delete;
    ForkChildHook& operator=(const ForkChildHook&) = delete;

private:
    ForkChildFn fn_;
    void* arg_;
};

}  // namespace shmregion::detail
