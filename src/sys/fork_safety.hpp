// What a fork()ed child must undo before it runs. Descriptors are shared with the parent
// across fork(), and with them the parent's OFD and flock locks: a child that keeps them
// would keep a killed parent looking alive, or hold a lock its parent was about to drop.
// Objects that own such descriptors register a callback here; it runs in the child from a
// pthread_atfork handler, so it must be async-signal-safe.
#pragma once

namespace shmregion::detail {

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
