// regiontool hold HOME NAME [--lock] [--seconds N]: stay attached until told to stop.
#include "cli.hpp"

#include <signal.h>

#include <cerrno>
#include <ctime>
#include <iostream>

namespace regiontool {

Command hold_command() {
    Command c{"hold", "hold HOME NAME [--lock] [--seconds N]", "stay attached (and locked) until killed or timed out",
              "Attaches to region NAME in HOME (any backing) and, with --lock, takes the region\n"
              "lock; then waits until SIGINT or SIGTERM arrives or N seconds pass, and releases\n"
              "cleanly. Prints 'holding NAME (pid P)' on stdout once attached (and locked), so a\n"
              "script can wait for that line. For keeping a region alive from a shell and for\n"
              "rehearsing crash recovery: kill -9 it and see what list and stat report.\n",
              Spec{{"seconds"}, {"lock"}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        long seconds = -1;
        if (auto s = a.value("seconds")) {
            std::size_t used = 0;
            try {
                seconds = std::stol(*s, &used);
            } catch (...) {
                used = 0;
            }
            if (used != s->size() || seconds < 0) throw UsageError{"bad --seconds '" + *s + "'"};
        }
        // Block the signals first, then wait for them synchronously: no handler races.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);

        const shmregion::Options o = join_options(a);
        auto r = shmregion::Region::attach(o);
        shmregion::LockGuard g;
        if (a.flag("lock")) {
            g = r.lock();
            if (g.owner_died()) std::cout << "previous lock holder had died; header repaired\n";
        }
        std::cout << "holding " << o.name << (a.flag("lock") ? " locked" : "") << " (pid " << ::getpid() << ")"
                  << std::endl;
        int sig = 0;
        if (seconds >= 0) {
            timespec ts{static_cast<time_t>(seconds), 0};
            do {
                sig = sigtimedwait(&set, nullptr, &ts);
            } while (sig < 0 && errno == EINTR);
        } else {
            sigwait(&set, &sig);
        }
        g.unlock();
        r.detach();
        std::cout << "released " << o.name << "\n";
        return kOk;
    };
    return c;
}

}  // namespace regiontool
