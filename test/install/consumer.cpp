// A program of a user of the installed shmregion: only the public headers, linked against
// the installed library (static or shared; test/install/check_install.sh builds it both
// ways, with CMake's find_package and with pkg-config). Exercises attach, grow, lock,
// inspect, the error_code& form and an exception crossing the library boundary.
//   consumer HOME
#include <shmregion/shmregion.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: consumer HOME\n");
        return 2;
    }
    if (std::string(shmregion::version()) != SHMREGION_VERSION_STRING) {
        std::fprintf(stderr, "library %s, headers %s\n", shmregion::version(), SHMREGION_VERSION_STRING);
        return 1;
    }
    shmregion::Options o;
    o.home = argv[1];
    o.name = "consumer";
    o.backing = shmregion::Backing::file;
    o.size = 1 << 16;
    o.max_size = 1 << 20;
    o.io_engine = shmregion::io::EngineKind::sync;
    auto r = shmregion::Region::attach(o);
    std::memcpy(r.data(), "hello", 6);
    r.grow(1 << 18);
    {
        auto g = r.lock();
        if (!g.owns_lock()) return 1;
    }
    auto info = shmregion::inspect(o.home, o.name);
    if (info.size < (1u << 18) || info.live_attachers() != 1) {
        std::fprintf(stderr, "inspect: size %llu, %zu live attachers\n",
                     static_cast<unsigned long long>(info.size), info.live_attachers());
        return 1;
    }
    r.detach();
    shmregion::unlink(o.home, o.name, shmregion::Force::yes);

    // The non-throwing form, and the library's own error category.
    std::error_code ec;
    shmregion::inspect(o.home, o.name, ec);
    if (ec != shmregion::errc::region_not_found) {
        std::fprintf(stderr, "inspect of a removed region: %s\n", ec.message().c_str());
        return 1;
    }
    // An exception thrown inside the library, caught here by its type.
    try {
        o.mode = shmregion::OpenMode::join_only;
        shmregion::Region::attach(o);
        std::fprintf(stderr, "join_only of a removed region succeeded\n");
        return 1;
    } catch (const shmregion::Error& e) {
        if (e.code() != shmregion::errc::region_not_found) return 1;
        std::printf("expected failure: %s\n", e.what());
    }
    std::printf("shmregion %s: ok\n", shmregion::version());
    return 0;
}
