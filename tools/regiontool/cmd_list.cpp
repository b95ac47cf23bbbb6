// regiontool list [HOME] [--json]: one row per region in the home.
#include "cli.hpp"

#include <iostream>

namespace regiontool {

Command list_command() {
    Command c{"list", "list [HOME] [--json]", "list the regions in a home and their health",
              "Shows one row per region in HOME (default: the current directory): name, backing,\n"
              "usable size, growth ceiling, reference count, live attachers and state:\n"
              "  ok          healthy\n"
              "  stale       attached only by dead processes, or its lock holder died\n"
              "  incomplete  the creator died before it finished initialising\n"
              "  corrupt     the header fails validation (the reason says which field)\n"
              "  orphan      the locator names a segment that no longer exists\n"
              "Reads only; changes nothing. Exit status 1 if any region is not ok.\n",
              Spec{{}, {"json"}, 0, 1}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional.empty() ? "." : a.positional[0];
        const auto names = shmregion::list(home);
        bool all_ok = true;
        Json j;
        Table t({"NAME", "BACKING", "SIZE", "CEILING", "REFS", "LIVE", "STATE"});
        j.begin_object().key("home").value(home.string()).key("regions").begin_array();
        for (const auto& name : names) {
            const Health h = assess(home, name);
            all_ok = all_ok && h.state == "ok";
            j.begin_object().key("name").value(name).key("state").value(h.state);
            if (!h.reason.empty()) j.key("reason").value(h.reason);
            std::vector<std::string> row{name, "-", "-", "-", "-", "-", h.state + (h.reason.empty() ? "" : " (" + h.reason + ")")};
            if (h.info) {
                const auto& i = *h.info;
                j.key("backing").value(std::string(shmregion::to_string(i.backing)))
                    .key("size").value(i.size)
                    .key("max_size").value(i.max_size)
                    .key("ref_count").value(i.ref_count)
                    .key("live_attachers").value(static_cast<std::uint64_t>(i.live_attachers()));
                row[1] = std::string(shmregion::to_string(i.backing));
                row[2] = human_size(i.size);
                row[3] = human_size(i.max_size);
                row[4] = std::to_string(i.ref_count);
                row[5] = std::to_string(i.live_attachers());
            }
            j.end_object();
            t.row(std::move(row));
        }
        j.end_array().end_object();
        print_regions(a, j, t, names.empty(), home);
        return all_ok ? kOk : kUnhealthy;
    };
    return c;
}

}  // namespace regiontool
