#include "sys/fork_safety.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <utility>

SHMREGION_NAMESPACE_BEGIN
std::atomic<pid_t> inline_abi::g_current_pid{0};
SHMREGION_NAMESPACE_END

namespace shmregion::detail {

namespace {

struct Registry {
    std::mutex mu;
    std::set<std::pair<ForkChildFn, void*>> hooks;
};

Registry& registry() {
    static Registry* r = [] {
        auto* reg = new Registry;  // never destroyed: atfork handlers outlive statics
        // The registry is locked across fork(), so the child sees it consistent.
        ::pthread_atfork([] { registry().mu.lock(); }, [] { registry().mu.unlock(); },
                         [] {
                             g_current_pid.store(::getpid(), std::memory_order_relaxed);  // first: the hooks may ask
                             Registry& g = registry();
                             for (const auto& [fn, arg] : g.hooks) fn(arg);
                             g.mu.unlock();
                         });
        return reg;
    }();
    return *r;
}

}  // namespace

pid_t current_pid_first() noexcept {
    (void)registry();  // the atfork handler first, so no fork() after this read goes unseen
    const pid_t pid = ::getpid();
    g_current_pid.store(pid, std::memory_order_relaxed);
    return pid;
}

void fork_child_register(ForkChildFn fn, void* arg) {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    r.hooks.emplace(fn, arg);
}

void fork_child_unregister(ForkChildFn fn, void* arg) noexcept {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    r.hooks.erase({fn, arg});
}

}  // namespace shmregion::detail
