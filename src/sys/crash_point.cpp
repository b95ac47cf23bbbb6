#include "sys/crash_point.hpp"

#ifdef SHMREGION_TEST_HOOKS
#include <signal.h>

#include <cstdlib>
#include <cstring>

namespace shmregion::detail {

void crash_point(const char* name) noexcept {
    // Read each time (not cached): tests arm it in a fork()ed child with setenv().
    const char* armed = std::getenv("SHMREGION_CRASH_AT");
    if (armed && std::strcmp(armed, name) == 0) ::raise(SIGKILL);
}

}  // namespace shmregion::detail
#endif
