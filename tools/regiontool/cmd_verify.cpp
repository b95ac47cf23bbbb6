// regiontool verify HOME [NAME] [--json]: validate headers read-only.
#include "cli.hpp"

#include <iostream>

namespace regiontool {

Command verify_command() {
    Command c{"verify", "verify HOME [NAME] [--json]", "validate region headers without changing them",
              "Validates the header of region NAME in HOME (default: every region there): magic,\n"
              "version, layout, every size against the real size of the file or segment, and\n"
              "that the creator finished. Reads only; changes nothing.\n"
              "Exit status 0 if every region is healthy (ok or stale: a stale region's header is\n"
              "valid and is repaired by its next user; or foreign: its segment lives in another\n"
              "/dev/shm or IPC namespace, where it must be verified), 1 if any is corrupt,\n"
              "incomplete or orphan.\n",
              Spec{{}, {"json"}, 1, 2}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional[0];
        std::vector<std::string> names;
        if (a.positional.size() == 2)
            names.push_back(a.positional[1]);
        else
            names = shmregion::list(home);
        bool healthy = true;
        Json j;
        j.begin_object().key("home").value(home.string()).key("regions").begin_array();
        Table t({"NAME", "RESULT", "DETAIL"});
        for (const auto& name : names) {
            const Health h = assess(home, name);
            const bool ok = h.state == "ok" || h.state == "stale" || h.state == "foreign";
            healthy = healthy && ok;
            j.begin_object().key("name").value(name).key("healthy").value(ok).key("state").value(h.state);
            if (!h.reason.empty()) j.key("reason").value(h.reason);
            j.end_object();
            t.row({name, ok ? "healthy" : "UNHEALTHY", h.state + (h.reason.empty() ? "" : ": " + h.reason)});
        }
        j.end_array().key("healthy").value(healthy).end_object();
        print_regions(a, j, t, names.empty(), home);
        return healthy ? kOk : kUnhealthy;
    };
    return c;
}

}  // namespace regiontool
