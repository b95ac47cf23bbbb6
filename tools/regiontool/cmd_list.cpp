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
              "  orphan      the locator names a segment that no longer exists, or a segment\n"
              "              made for a region of HOME has no region file any more (its row\n"
              "              names the segment)\n"
              "  foreign     the segment was made in another /dev/shm or IPC namespace (a\n"
              "              container, a unit with PrivateDevices=, unshare -m/-i): it cannot\n"
              "              be seen from here and may well be alive there\n"
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
        // Segments of this home's regions whose file is gone (found by their headers).
        std::error_code ec;
        const auto orphans = shmregion::orphan_segments(home, ec);
        for (const auto& o : orphans) {
            all_ok = false;
            const std::string reason = "segment " + o.segment + " has no region file in home";
            j.begin_object().key("name").value(o.name).key("state").value("orphan").key("reason").value(reason)
                .key("backing").value(std::string(shmregion::to_string(o.backing))).key("segment").value(o.segment)
                .key("bytes").value(o.bytes).key("live_attachers").value(static_cast<std::uint64_t>(o.live_attachers))
                .end_object();
            t.row({o.name, std::string(shmregion::to_string(o.backing)), human_size(o.bytes), "-", "-",
                   std::to_string(o.live_attachers), "orphan (" + reason + ")"});
        }
        j.end_array().end_object();
        print_regions(a, j, t, names.empty() && orphans.empty(), home);
        return all_ok ? kOk : kUnhealthy;
    };
    return c;
}

}  // namespace regiontool
