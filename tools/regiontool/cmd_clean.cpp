// regiontool clean HOME [--dry-run] [--json]: remove what crashes left, never a region in use.
#include "cli.hpp"

#include <iostream>

namespace regiontool {

Command clean_command() {
    Command c{"clean", "clean HOME [--dry-run] [--json]", "remove stale, incomplete and orphan regions",
              "Removes from HOME every region that crashes left behind: stale (attached only by\n"
              "dead processes, or locked by a dead holder), incomplete (its creator never\n"
              "finished) and orphan (its segment is gone), and undoes creations whose creator\n"
              "died before publishing (hidden pending files and their segments). A region with\n"
              "a live attacher is never removed: removal takes the lock every attacher shares\n"
              "on the region's file, so it cannot race an attach either. Healthy regions and\n"
              "corrupt ones (inspect them, then unlink --force) are left, and the output says\n"
              "why. --dry-run only says what would go. Exit 0, or 1 if a removal failed.\n",
              Spec{{}, {"dry-run", "json"}, 1, 1}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional[0];
        const bool dry = a.flag("dry-run");
        bool failed = false;
        Json j;
        j.begin_object().key("home").value(home.string()).key("dry_run").value(dry).key("regions").begin_array();
        Table t({"NAME", "STATE", "ACTION", "WHY"});
        const auto names = shmregion::list(home);
        for (const auto& name : names) {
            const Health h = assess(home, name);
            std::string action = "left", why = h.reason.empty() ? "healthy" : h.reason;
            const bool debris = h.state == "stale" || h.state == "incomplete" || h.state == "orphan";
            if (h.state == "corrupt") why += " (not removed: inspect it, then unlink --force)";
            if (debris && h.info && h.info->live_attachers() > 0) {
                why = std::to_string(h.info->live_attachers()) + " live attacher(s)";
            } else if (debris && dry) {
                action = "would remove";
            } else if (debris) {
                std::error_code ec;
                if (shmregion::remove_unused(home, name, ec)) {
                    action = "removed";
                } else if (!ec) {
                    why = "in use (a process attached or is joining)";
                } else if (ec == shmregion::errc::region_not_found) {
                    action = "removed";
                    why = "already gone";
                } else {
                    action = "FAILED";
                    why = ec.message();
                    failed = true;
                }
            }
            j.begin_object().key("name").value(name).key("state").value(h.state).key("action").value(action)
                .key("why").value(why).end_object();
            t.row({name, h.state, action, why});
        }
        // Segments of this home's regions whose file is gone.
        std::error_code oec;
        for (const auto& o : shmregion::orphan_segments(home, oec)) {
            std::string action = "left", why = "segment " + o.segment + " has no region file in home";
            if (o.live_attachers > 0) {
                why += "; " + std::to_string(o.live_attachers) + " live attacher(s)";
            } else if (dry) {
                action = "would remove";
            } else {
                std::error_code ec;
                if (shmregion::remove_orphan_segment(home, o, ec)) {
                    action = "removed";
                } else if (!ec) {
                    why += "; in use";
                } else {
                    action = "FAILED";
                    why = ec.message();
                    failed = true;
                }
            }
            j.begin_object().key("name").value(o.name).key("state").value("orphan").key("action").value(action)
                .key("why").value(why).key("segment").value(o.segment).end_object();
            t.row({o.name, "orphan", action, why});
        }
        j.end_array().key("abandoned").begin_array();
        // Creations whose creator died before publishing: hidden pending files, segments.
        std::vector<std::string> abandoned;
        if (!dry) {
            std::error_code ec;
            abandoned = shmregion::remove_abandoned(home, ec);
            if (ec) {
                abandoned.push_back("FAILED: " + ec.message());
                failed = true;
            }
        }
        for (const auto& line : abandoned) j.value(line);
        j.end_array().end_object();
        if (a.flag("json")) {
            std::cout << j.str() << "\n";
        } else {
            if (t.str().find('\n') == t.str().rfind('\n')) std::cout << "no regions in " << home.string() << "\n";
            else std::cout << t.str();
            for (const auto& line : abandoned) std::cout << line << "\n";
        }
        return failed ? kUnhealthy : kOk;
    };
    return c;
}

}  // namespace regiontool
