// Attach + detach of an existing 64 KiB region, against the raw system calls (the limit)
// and Boost.Interprocess, in one interleaved run. Usage: attach_bench [rounds] [batch]
#include "harness.hpp"

#include <shmregion/shmregion.hpp>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace bip = boost::interprocess;

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 31;
    const int batch = argc > 2 ? std::atoi(argv[2]) : 200;
    const std::size_t size = 64 * 1024;
    char tmpl[] = "/tmp/shmregion-bench.XXXXXX";
    if (!::mkdtemp(tmpl)) return 1;
    const std::filesystem::path home = tmpl;

    auto opts = [&](shmregion::Backing b, const char* name) {
        shmregion::Options o;
        o.home = home;
        o.name = name;
        o.backing = b;
        o.size = size;
        return o;
    };
    // Create the regions once and detach: the benchmark measures joins of existing regions.
    for (auto [b, n] : {std::pair{shmregion::Backing::posix, "p"}, {shmregion::Backing::file, "f"},
                        {shmregion::Backing::sysv, "s"}})
        shmregion::Region::attach(opts(b, n)).detach();
    const auto pinfo = shmregion::inspect(home, "p");
    const auto sinfo = shmregion::inspect(home, "s");
    const std::string seg = pinfo.segment;                  // "/shmregion.p.<hex>"
    const std::string ffile = (home / "f.region").string();
    const std::string bip_name = "shmregion-bench-bip-" + std::to_string(::getpid());
    {
        bip::shared_memory_object s(bip::create_only, bip_name.c_str(), bip::read_write);
        s.truncate(static_cast<bip::offset_t>(size));
    }

    std::vector<bench::Method> m{
        {"raw posix: shm_open+mmap+munmap+close", [&] {
             int fd = ::shm_open(seg.c_str(), O_RDWR, 0);
             void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
             ::munmap(p, size);
             ::close(fd);
         }, {}},
        {"boost: shared_memory_object+mapped_region", [&] {
             bip::shared_memory_object s(bip::open_only, bip_name.c_str(), bip::read_write);
             bip::mapped_region r(s, bip::read_write);
         }, {}},
        {"shmregion posix: attach+detach", [&] { shmregion::Region::attach(opts(shmregion::Backing::posix, "p")); }, {}},
        {"raw file: open+mmap+munmap+close", [&] {
             int fd = ::open(ffile.c_str(), O_RDWR | O_CLOEXEC);
             void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
             ::munmap(p, size);
             ::close(fd);
         }, {}},
        {"shmregion file: attach+detach", [&] { shmregion::Region::attach(opts(shmregion::Backing::file, "f")); }, {}},
        {"raw sysv: shmat+shmdt", [&] {
             void* p = ::shmat(sinfo.sysv_id, nullptr, 0);
             ::shmdt(p);
         }, {}},
        {"shmregion sysv: attach+detach", [&] { shmregion::Region::attach(opts(shmregion::Backing::sysv, "s")); }, {}},
    };
    auto results = bench::run_interleaved(m, rounds, batch);
    std::printf("attach + detach of an existing 64 KiB region; %d rounds x %d ops, interleaved\n", rounds, batch);
    bench::print(results, "raw posix: shm_open+mmap+munmap+close");

    bip::shared_memory_object::remove(bip_name.c_str());
    for (const char* n : {"p", "f", "s"}) shmregion::unlink(home, n, shmregion::Force::yes);
    std::filesystem::remove_all(home);
    return 0;
}
