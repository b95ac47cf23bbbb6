// regiontool create HOME NAME --backing B --size S [--max-size M] [--mode 0600] [--locks N]
#include "cli.hpp"

#include <iostream>

namespace regiontool {

Command create_command() {
    Command c{"create", "create HOME NAME --backing file|posix|sysv --size SIZE [--max-size SIZE] [--mode MODE] [--locks N] [--engine E]",
              "create a region that outlives the command",
              "Creates region NAME in HOME (which must exist) and detaches, leaving it with\n"
              "reference count 0 until it is unlinked, as Berkeley DB regions do. SIZE is the usable\n"
              "size (bytes, or with a suffix K, M, G, T), rounded up to pages; --max-size is the\n"
              "growth ceiling (default: SIZE; System V regions cannot grow). --mode sets the\n"
              "permission bits of the file and segment (octal, default 0600). Fails (exit 1) if\n"
              "the region exists. --locks N gives it a table of N application locks (0-4096,\n"
              "default 0), each taken shared or exclusive. The file or segment is extended with its space allocated\n"
              "(a full disk or /dev/shm fails here, with ENOSPC) through the I/O engine: --engine\n"
              "uring|libaio|posix|sync forces one, default automatic (or SHMREGION_IO_ENGINE).\n"
              "A large region shows a progress bar on stderr when it is a terminal.\n",
              Spec{{"backing", "size", "max-size", "mode", "locks", "engine"}, {}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        shmregion::Options o;
        o.home = a.positional[0];
        o.name = a.positional[1];
        o.mode = shmregion::OpenMode::create_only;
        o.io_engine = engine_option(a);
        auto backing = a.value("backing");
        if (!backing) throw UsageError{"create needs --backing file|posix|sysv"};
        if (!shmregion::parse_backing(*backing, o.backing) || (o.backing != shmregion::Backing::file &&
                                                               o.backing != shmregion::Backing::posix &&
                                                               o.backing != shmregion::Backing::sysv))
            throw UsageError{"bad backing '" + *backing + "' (use file, posix or sysv)"};
        auto size = a.value("size");
        if (!size) throw UsageError{"create needs --size SIZE"};
        o.size = parse_size(*size);
        if (auto m = a.value("max-size")) o.max_size = parse_size(*m);
        if (auto n = a.value("locks")) {
            std::size_t used = 0;
            unsigned long locks = 0;
            try {
                locks = std::stoul(*n, &used, 10);
            } catch (...) {
                used = 0;
            }
            if (used != n->size() || locks > shmregion::max_locks_limit)
                throw UsageError{"bad --locks '" + *n + "' (a number of locks, 0-" +
                                 std::to_string(shmregion::max_locks_limit) + ")"};
            o.locks = static_cast<std::uint32_t>(locks);
        }
        if (auto m = a.value("mode")) {
            std::size_t used = 0;
            unsigned long mode = 0;
            try {
                mode = std::stoul(*m, &used, 8);
            } catch (...) {
                used = 0;
            }
            if (used != m->size() || mode > 0777)
                throw UsageError{"bad mode '" + *m + "' (octal permission bits 0000-0777, e.g. 0600; no setuid, setgid or sticky bit)"};
            o.permissions = static_cast<mode_t>(mode);
        }
        // A large region on a terminal: create it at 64M, then grow it in steps behind a
        // progress bar (the result is the same region; its generation says it grew).
        const std::uint64_t target = o.size;
        const bool stepped = o.backing != shmregion::Backing::sysv && want_progress(target);
        if (stepped) {
            if (o.max_size == 0) o.max_size = target;
            o.size = 64ull << 20;
        }
        auto r = shmregion::Region::attach(o);
        if (stepped) {
            try {
                grow_with_progress(r, target);
            } catch (...) {
                r.mark_for_removal();  // never leave a half-sized region behind
                throw;
            }
        }
        std::cout << "created " << o.name << " (" << shmregion::to_string(r.backing()) << ", "
                  << human_size(r.size()) << " usable, ceiling " << human_size(r.max_size())
                  << (r.lock_count() ? ", " + std::to_string(r.lock_count()) + " locks" : std::string()) << ") at "
                  << r.file().string() << " (I/O engine " << shmregion::io::to_string(r.io_engine()) << ")\n";
        r.detach();
        return kOk;
    };
    return c;
}

}  // namespace regiontool
