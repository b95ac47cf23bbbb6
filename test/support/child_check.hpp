// CHILD_CHECK: the check of a fork()ed test child. Children never call Boost.Test macros
// (the framework belongs to the parent): a child that finds a condition false prints it to
// stderr and returns `code` from the function it runs (test::spawn, Children::spawn, which
// _exit() with it), and the parent checks the exit code. Give every check of one child its
// own code, so that the code alone says which one failed:
//
//     const pid_t child = children.spawn([&]() -> int {
//         Region r = Region::attach(o, ec);
//         CHILD_CHECK(!ec, 10);
//         return 0;
//     });
//     BOOST_TEST(children.wait(child) == 0);
//
// A ChildCheckContext in the child adds a line of context to the failures under it (the
// engine or backing a loop is at).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

namespace shmregion::test {

/// While it lives, CHILD_CHECK failures in this process also print `what`. Nests.
class ChildCheckContext {
public:
    explicit ChildCheckContext(std::string what) : what_(std::move(what)), outer_(current()) { current() = this; }
    ~ChildCheckContext() { current() = outer_; }
    ChildCheckContext(const ChildCheckContext&) = delete;
    ChildCheckContext& operator=(const ChildCheckContext&) = delete;

    /// The innermost context, or nullptr.
    static ChildCheckContext*& current() noexcept {
        static ChildCheckContext* c = nullptr;
        return c;
    }
    const std::string& what() const noexcept { return what_; }
    const ChildCheckContext* outer() const noexcept { return outer_; }

private:
    std::string what_;
    ChildCheckContext* outer_;
};

/// What CHILD_CHECK prints for a failed condition (one line, plus one per context).
inline void report_child_check(const char* cond, const char* file, int line, int code) noexcept {
    for (const ChildCheckContext* c = ChildCheckContext::current(); c; c = c->outer())
        std::fprintf(stderr, "child %d: %s:\n", static_cast<int>(::getpid()), c->what().c_str());
    std::fprintf(stderr, "child %d: check failed: %s (%s:%d), exit %d\n", static_cast<int>(::getpid()), cond, file,
                 line, code);
}

}  // namespace shmregion::test

/// In a fork()ed child: if cond is false, prints it (with file, line and the contexts) to
/// stderr and returns `code` from the enclosing function.
#define CHILD_CHECK(cond, code)                                                             \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            ::shmregion::test::report_child_check(#cond, __FILE__, __LINE__, (code));      \
            return (code);                                                                  \
        }                                                                                   \
    } while (0)
