// The hot paths, N times, for counting their system calls with strace (docs/performance.md):
//   strace -f -c ./syscall_probe attach posix 1000   # attach + detach of an existing region
//   strace -f -c ./syscall_probe lock posix 1000     # lock() + unlock()
//   strace -f -c ./syscall_probe table posix 1000    # lock(0) + unlock(): a lock of the lock table
//   strace -f -c ./syscall_probe shared posix 1000   # lock_shared(0) + unlock()
// The setup (creating the region, one warm-up round, removing it) adds a fixed few dozen
// calls; with 1000 rounds the count per round is the total / 1000, rounded.
#include <shmregion/shmregion.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s attach|lock|table|shared file|posix|sysv ROUNDS\n", argv[0]);
        return 2;
    }
    const std::string_view what = argv[1];
    const bool known = what == "attach" || what == "lock" || what == "table" || what == "shared";
    shmregion::Options o;
    if (!shmregion::parse_backing(argv[2], o.backing) || !known) {
        std::fprintf(stderr, "usage: %s attach|lock|table|shared file|posix|sysv ROUNDS\n", argv[0]);
        return 2;
    }
    const long rounds = std::strtol(argv[3], nullptr, 10);
    const auto home = std::filesystem::temp_directory_path() / ("shmregion-probe-" + std::to_string(::getpid()));
    std::filesystem::create_directory(home);
    o.home = home;
    o.name = "probe";
    o.size = 64 * 1024;
    o.locks = 1;
    int rc = 0;
    try {
        shmregion::Region keep = shmregion::Region::attach(o);
        { shmregion::Region warm = shmregion::Region::attach(o); }
        { auto warm = keep.lock(0u); }         // the table's page faulted in before the loop
        { auto warm = keep.lock_shared(0u); }
        for (long i = 0; i < rounds; ++i) {
            if (what == "attach") {
                shmregion::Region r = shmregion::Region::attach(o);
                r.detach();
            } else if (what == "table") {
                auto g = keep.lock(0u);
            } else if (what == "shared") {
                auto g = keep.lock_shared(0u);
            } else {
                auto g = keep.lock();
            }
        }
        keep.detach();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        rc = 1;
    }
    std::error_code ec;
    shmregion::unlink(home, "probe", shmregion::Force::yes, ec);
    std::filesystem::remove_all(home, ec);
    return rc;
}
