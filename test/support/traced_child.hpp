// A child the test traces (ptrace), for cases that stop another process at an exact point
// (between two system calls, or two instructions) and act meanwhile:
// - spawn_traced() forks it and returns once it has stopped itself where its body asked to;
//   where ptrace is not allowed, it says why, for the case to be skipped;
// - wait_stop() waits for its next stop (after PTRACE_SINGLESTEP, PTRACE_SYSCALL, ...).
#pragma once

#include "mp_support.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <new>
#include <string>

namespace shmregion::mptest {

/// Waits for the traced child's next stop; false if it ended instead (status in *st, the
/// child reaped).
inline bool wait_stop(pid_t p, int* st) {
    while (::waitpid(p, st, 0) < 0)
        if (errno != EINTR) return false;
    return WIFSTOPPED(*st);
}

/// In the traced child: asks the parent to trace it (PTRACE_TRACEME) and stops (SIGSTOP)
/// until the parent lets it go on. False if ptrace is not allowed here: the body then
/// returns 0 at once.
using TraceStop = std::function<bool()>;

/// Forks a child (through children) that runs body(stop) and returns its pid once the child
/// has stopped in stop(). 0 if ptrace is not allowed here: why_not says so, and the child has
/// ended (reaped and forgotten). A child that ends before it stops for any other reason fails
/// the test.
inline pid_t spawn_traced(Children& children, const std::function<int(const TraceStop&)>& body,
                          std::string& why_not) {
    test::SharedMemory mem(sizeof(int));
    int* traceme_errno = new (mem.get()) int(0);
    const pid_t p = children.spawn([&] {
        return body([traceme_errno] {
            if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) {
                *traceme_errno = errno;
                return false;
            }
            ::raise(SIGSTOP);
            return true;
        });
    });
    int st = 0;
    if (wait_stop(p, &st)) return p;
    children.forget(p);
    BOOST_REQUIRE_MESSAGE(*traceme_errno != 0, "the traced child ended before it stopped (wait status " << st << ")");
    why_not = std::string("ptrace(PTRACE_TRACEME) is not allowed here: ") + std::strerror(*traceme_errno);
    return 0;
}

}  // namespace shmregion::mptest
