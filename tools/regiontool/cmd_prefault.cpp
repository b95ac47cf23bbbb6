// regiontool prefault HOME NAME [--engine E] [--json]: make every page resident now.
#include "cli.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace regiontool {
Command prefault_command() {
    Command c{"prefault", "prefault HOME NAME [--engine E] [--json]", "make every page of a region resident",
              "Attaches to region NAME in HOME, makes every page resident and writable\n"
              "(MADV_POPULATE_WRITE on worker threads, one per CPU; no byte changes), and\n"
              "detaches. Pages of a POSIX or System V region stay\n"
              "resident while the region exists; those of a file region stay in the page cache\n"
              "until memory is short. --engine names the I/O engine of the attach (uring, libaio,\n"
              "posix, sync).\n"
              "A progress bar goes to stderr when it is a terminal.\n",
              Spec{{"engine"}, {"json"}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        const shmregion::Options o = join_options(a);
        auto r = shmregion::Region::attach(o);
        const auto t0 = std::chrono::steady_clock::now();
        auto job = r.prefault_async();
        const bool bar = ::isatty(STDERR_FILENO) && !a.flag("json");
        while (!job.wait_for(std::chrono::milliseconds(100)))
            if (bar) draw_bar(job.bytes_done(), job.bytes_total());
        if (bar) {
            draw_bar(job.bytes_done(), job.bytes_total());
            std::fputc('\n', stderr);
        }
        job.wait();  // throws with the cause if it failed
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const std::string engine(shmregion::io::to_string(r.io_engine()));
        if (a.flag("json")) {
            Json j;
            j.begin_object()
                .key("name").value(o.name)
                .key("bytes").value(job.bytes_total())
                .key("microseconds").value(static_cast<std::uint64_t>(s * 1e6))
                .key("io_engine").value(engine)
                .end_object();
            std::cout << j.str() << "\n";
        } else {
            std::printf("prefaulted %s: %s in %.3f s (%.2f GB/s)\n", o.name.c_str(), human_size(job.bytes_total()).c_str(),
                        s, s > 0 ? static_cast<double>(job.bytes_total()) / s / 1e9 : 0.0);
        }
        r.detach();
        return kOk;
    };
    return c;
}

}  // namespace regiontool
