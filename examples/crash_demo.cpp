// Two real processes share a region; one is killed with SIGKILL while it holds the region
// lock, and the survivor recovers. Usage: crash_demo HOME [file|posix|sysv]
#include <shmregion/shmregion.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace {

struct Shared {               // what the two processes keep in the region
    std::uint64_t counter;
    char last_writer[32];
};

void say(const char* who, const std::string& what) { std::cout << "[" << who << " " << ::getpid() << "] " << what << std::endl; }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s HOME [file|posix|sysv]\n", argv[0]);
        return 2;
    }
    shmregion::Options o;
    o.home = argv[1];
    o.name = "demo";
    o.size = 64 * 1024;
    if (argc > 2 && !shmregion::parse_backing(argv[2], o.backing)) {
        std::fprintf(stderr, "%s: unknown backing '%s'\n", argv[0], argv[2]);
        return 2;
    }
    try {
        auto region = shmregion::Region::attach(o);
        say("parent", std::string(region.created() ? "created" : "joined") + " region 'demo' (" +
                          std::string(shmregion::to_string(region.backing())) + ", " + std::to_string(region.size()) +
                          " bytes) at " + region.file().string());
        auto* shared = static_cast<Shared*>(region.data());

        int ready[2];
        if (::pipe(ready) != 0) return 1;
        pid_t child = ::fork();
        if (child == 0) {
            ::close(ready[0]);
            auto mine = shmregion::Region::attach(o);   // a separate attacher
            auto g = mine.lock();
            auto* s = static_cast<Shared*>(mine.data());
            s->counter += 1;
            std::snprintf(s->last_writer, sizeof s->last_writer, "child %d", static_cast<int>(::getpid()));
            say("child ", "joined, took the region lock, counter = " + std::to_string(s->counter) + "; now waiting to be killed");
            char c = 1;
            if (::write(ready[1], &c, 1) != 1) ::_exit(1);
            for (;;) ::pause();
        }
        ::close(ready[1]);
        char c;
        if (::read(ready[0], &c, 1) != 1) return 1;
        auto before = shmregion::inspect(o.home, o.name);
        say("parent", "attachers before the kill: " + std::to_string(before.ref_count) + ", lock held by pid " +
                          std::to_string(before.lock_holder));
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        say("parent", "killed the child (SIGKILL) while it held the lock");

        auto dead = shmregion::inspect(o.home, o.name);
        say("parent", std::string("inspect: lock is ") +
                          (dead.lock_state == shmregion::LockState::owner_dead ? "owner-dead" : "held/free") +
                          ", reference count " + std::to_string(dead.ref_count) + ", live attachers " +
                          std::to_string(dead.live_attachers()));
        {
            auto g = region.lock();
            say("parent", std::string("took the lock: owner_died = ") + (g.owner_died() ? "true" : "false") +
                              "; the header was repaired");
            shared->counter += 1;
            say("parent", "counter = " + std::to_string(shared->counter) + " (last writer before: " + shared->last_writer + ")");
        }
        auto after = shmregion::inspect(o.home, o.name);
        say("parent", "after recovery: reference count " + std::to_string(after.ref_count) + ", live attachers " +
                          std::to_string(after.live_attachers()) + ", lock " +
                          (after.lock_state == shmregion::LockState::free ? "free" : "not free"));
        region.detach();
        shmregion::unlink(o.home, o.name);
        say("parent", "detached and unlinked; the region is gone");
        return after.ref_count == 1 && after.live_attachers() == 1 ? 0 : 1;
    } catch (const shmregion::Error& e) {
        std::fprintf(stderr, "crash_demo: %s\n", e.what());
        return 1;
    }
}
