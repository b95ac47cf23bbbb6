// regiontool grow HOME NAME SIZE [--engine E]: grow a region in place.
#include "cli.hpp"

#include <iostream>

namespace regiontool {

Command grow_command() {
    Command c{"grow", "grow HOME NAME SIZE [--engine E]", "grow a region in place, while others stay attached",
              "Attaches to region NAME in HOME and grows it to SIZE usable bytes (K, M, G, T\n"
              "suffixes; rounded up to pages), at most to its ceiling (max size, fixed at\n"
              "creation). The new space is allocated first, so a full disk or /dev/shm fails\n"
              "here (ENOSPC, exit 1) and leaves the region as it was. Processes attached keep\n"
              "their addresses and see the new size at their next lock. A SIZE at or below the\n"
              "current size changes nothing. System V regions cannot grow. Large growth shows\n"
              "a progress bar on stderr when it is a terminal (it then grows in 64M steps).\n",
              Spec{{"engine"}, {}, 3, 3}, nullptr};
    c.run = [](const Args& a) {
        const shmregion::Options o = join_options(a);
        const std::uint64_t size = parse_size(a.positional[2]);
        auto r = shmregion::Region::attach(o);
        const std::size_t before = r.size();
        grow_with_progress(r, size);  // a bar on a terminal for large growth
        std::cout << (r.size() > before ? "grew " : "unchanged ") << o.name << ": " << human_size(before) << " -> "
                  << human_size(r.size()) << " usable (ceiling " << human_size(r.max_size()) << ")\n";
        r.detach();
        return kOk;
    };
    return c;
}

}  // namespace regiontool
