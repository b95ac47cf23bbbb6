// Named crash points for tests: SHMREGION_CRASH_POINT("grow.after_extend") kills the
// process with SIGKILL (no cleanup runs, exactly like kill -9) when the environment
// variable SHMREGION_CRASH_AT names that point. Compiled in only when the library is built
// with SHMREGION_TEST_HOOKS (the shmregion_testing library that test binaries link, never
// the installed one); otherwise the macro is empty.
#pragma once

#ifdef SHMREGION_TEST_HOOKS
namespace shmregion::detail {
void crash_point(const char* name) noexcept;
}
#define SHMREGION_CRASH_POINT(name) ::shmregion::detail::crash_point(name)
#else
#define SHMREGION_CRASH_POINT(name) ((void)0)
#endif
