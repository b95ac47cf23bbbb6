// regiontool unlink [--force] HOME NAME
#include "cli.hpp"

#include <iostream>

namespace regiontool {

Command unlink_command() {
    Command c{"unlink", "unlink [--force] [--any-owner] [--foreign] HOME NAME",
              "remove a region (at last detach, or at once with --force)",
              "Without --force: attaches, marks the region for removal and detaches; it is removed\n"
              "when its last attacher detaches (at once if nobody else is attached).\n"
              "With --force: never attaches or locks (the holder may be dead). Removes the segment\n"
              "named by the region's file, then the file. Processes still attached keep their\n"
              "memory until they detach. A file that is not a shmregion file is left alone.\n"
              "Only the caller's own regions are removed, root included: --any-owner removes\n"
              "another user's. A region whose segment lives in another /dev/shm or IPC\n"
              "namespace is refused (run it there); with --force, --foreign removes its file\n"
              "anyway, leaving the segment, if it still exists, where it is.\n",
              Spec{{}, {"force", "any-owner", "foreign"}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional[0];
        const std::string name = a.positional[1];
        shmregion::RemoveOptions how;
        how.force = a.flag("force") ? shmregion::Force::yes : shmregion::Force::no;
        how.require_same_owner = !a.flag("any-owner");
        how.allow_foreign = a.flag("foreign");
        if (how.allow_foreign && how.force != shmregion::Force::yes)
            throw UsageError{"--foreign needs --force (a gentle unlink attaches, which a foreign region cannot)"};
        shmregion::unlink(home, name, how);
        std::error_code ec;
        const bool gone = !std::filesystem::exists(shmregion::region_file(home, name), ec);
        const bool force = how.force == shmregion::Force::yes;
        std::cout << (force ? "force-unlinked " : gone ? "unlinked " : "marked for removal at last detach: ")
                  << name << "\n";
        return kOk;
    };
    return c;
}

}  // namespace regiontool
