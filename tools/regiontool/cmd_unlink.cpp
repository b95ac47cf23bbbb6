// regiontool unlink [--force] HOME NAME
#include "cli.hpp"

#include <iostream>

namespace regiontool {

Command unlink_command() {
    Command c{"unlink", "unlink [--force] HOME NAME", "remove a region (at last detach, or at once with --force)",
              "Without --force: attaches, marks the region for removal and detaches; it is removed\n"
              "when its last attacher detaches (at once if nobody else is attached).\n"
              "With --force: never attaches or locks (the holder may be dead). Removes the segment\n"
              "named by the region's file, then the file. Processes still attached keep their\n"
              "memory until they detach. A file that is not a shmregion file is left alone.\n",
              Spec{{}, {"force"}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional[0];
        const std::string name = a.positional[1];
        const bool force = a.flag("force");
        shmregion::unlink(home, name, force ? shmregion::Force::yes : shmregion::Force::no);
        std::error_code ec;
        const bool gone = !std::filesystem::exists(shmregion::region_file(home, name), ec);
        std::cout << (force ? "force-unlinked " : gone ? "unlinked " : "marked for removal at last detach: ")
                  << name << "\n";
        return kOk;
    };
    return c;
}

}  // namespace regiontool
