// regiontool clean HOME [--dry-run] [--remove-stale-files] [--any-owner] [--json]: remove or
// repair what crashes left, never a region in use, never a file region's data unless asked.
#include "cli.hpp"

#include <cstdio>
#include <iostream>

namespace regiontool {
namespace {

struct Outcome {
    std::string action = "left";
    std::string why;
    bool failed = false;
};

/// A refusal by the removal rule (another user's, a foreign segment) leaves the region and
/// says why; anything else is a failure.
void refused_or_failed(Outcome& out, const std::error_code& ec) {
    if (ec == shmregion::errc::wrong_owner) {
        out.why = "belongs to another user (--any-owner removes it)";
    } else if (ec == shmregion::errc::segment_foreign) {
        out.why = "its segment lives in another /dev/shm or IPC namespace: clean it there";
    } else {
        out.action = "FAILED";
        out.why = shmregion::last_error_message();  // the step and the cause, not only the code's meaning
        out.failed = true;
    }
}

Outcome remove(const std::filesystem::path& home, const std::string& name, const shmregion::RemoveOptions& how) {
    Outcome out;
    std::error_code ec;
    if (shmregion::remove_unused(home, name, how, ec)) {
        out.action = "removed";
    } else if (!ec) {
        out.why = "in use (a process attached or is joining)";
    } else if (ec == shmregion::errc::region_not_found) {
        out.action = "removed";
        out.why = "already gone";
    } else {
        refused_or_failed(out, ec);
    }
    return out;
}

Outcome repair(const std::filesystem::path& home, const std::string& name, const shmregion::RemoveOptions& how) {
    Outcome out;
    std::error_code ec;
    const shmregion::RepairReport r = shmregion::repair(home, name, how.require_same_owner, ec);
    if (ec) {
        refused_or_failed(out, ec);
        return out;
    }
    if (r.removed) {
        out.action = "removed";
        out.why = "it was marked for removal and its last attacher had died: removed as that detach would have";
        return out;
    }
    out.action = "repaired";
    std::vector<std::string> parts;
    if (r.dead_attachers) parts.push_back("dropped " + std::to_string(r.dead_attachers) + " dead attacher(s)");
    if (r.lock_recovered) parts.push_back("recovered the lock of a dead holder (the next lock() reports owner_died)");
    if (r.growth_recovered) parts.push_back("finished or undid a dead grower's growth");
    if (parts.empty()) parts.push_back("nothing left to mend");
    for (std::size_t i = 0; i < parts.size(); ++i) out.why += (i ? "; " : "") + parts[i];
    out.why += "; data kept";
    return out;
}

/// One line for an abandoned creation: what went, would go, or why it stays.
std::string abandoned_line(const std::filesystem::path& home, const shmregion::AbandonedCreation& c) {
    using Action = shmregion::AbandonedCreation::Action;
    const std::string pending = c.pending_file.string();
    if (c.action == Action::skipped) return "skipped " + pending + ": " + c.message;
    const bool dry = c.action == Action::would_remove;
    std::string what;  // the segment, if one went or would go
    if (c.backing == shmregion::Backing::posix && (dry || c.segment_removed)) {
        what = "POSIX segment " + c.segment + " (if it was made) and ";
    } else if (c.backing == shmregion::Backing::sysv && (dry || c.segment_removed)) {
        char key[16];
        std::snprintf(key, sizeof key, "0x%08x", static_cast<unsigned>(c.sysv_key));
        what = std::string("System V segment key ") + key + (dry ? " (if it was made)" : "") + " and ";
    }
    const std::string unpublished =
        " (its creator died before publishing " + shmregion::region_file(home, c.name).filename().string() + ")";
    if (dry) return "would remove " + what + pending + unpublished;
    return "removed " + what + pending + (c.published ? " (the region was published; left alone)" : unpublished);
}

}  // namespace

Command clean_command() {
    Command c{"clean", "clean HOME [--dry-run] [--remove-stale-files] [--any-owner] [--json]",
              "repair or remove what crashes left, never a region in use",
              "Mends or removes, in HOME, what crashes left behind, and says for each region what\n"
              "it did and why:\n"
              "  stale file region      repaired as its next joiner would (dead attachers dropped,\n"
              "                         the count rebuilt, a dead holder's lock recovered, a dead\n"
              "                         grower's growth finished or undone); its bytes are the\n"
              "                         data, so it is kept. --remove-stale-files removes it (and\n"
              "                         incomplete file regions) instead.\n"
              "  stale shm region       removed (its memory would not survive a reboot anyway)\n"
              "  incomplete, orphan     removed (the creator never finished; the segment is gone)\n"
              "  foreign                left: the segment lives in another /dev/shm or IPC\n"
              "                         namespace, where it may be alive; clean it there\n"
              "  ok, corrupt            left (inspect a corrupt one, then unlink --force)\n"
              "  any with a live attacher  left: its attachers repair it at their next lock()\n"
              "It also removes segments of HOME's regions whose file is gone (orphan segments)\n"
              "and undoes creations whose creator died before publishing (hidden pending files\n"
              "and their segments). A region with a live attacher is never removed: removal\n"
              "takes the lock every attacher shares on the region's file, so it cannot race an\n"
              "attach either. Only the caller's own regions are touched, root included:\n"
              "--any-owner also handles other users'. --dry-run only says what it would do,\n"
              "abandoned creations included. Exit 0, or 1 if a removal or repair failed.\n",
              Spec{{}, {"dry-run", "json", "remove-stale-files", "any-owner"}, 1, 1}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional[0];
        const bool dry = a.flag("dry-run");
        const bool remove_files = a.flag("remove-stale-files");
        shmregion::RemoveOptions how;
        how.require_same_owner = !a.flag("any-owner");
        bool failed = false;
        Json j;
        j.begin_object().key("home").value(home.string()).key("dry_run").value(dry).key("regions").begin_array();
        Table t({"NAME", "STATE", "ACTION", "WHY"});
        const auto names = shmregion::list(home);
        for (const auto& name : names) {
            const Health h = assess(home, name);
            Outcome out;
            out.why = h.reason.empty() ? "healthy" : h.reason;
            const bool file = h.info && h.info->backing == shmregion::Backing::file;
            const std::size_t live = h.info ? h.info->live_attachers() : 0;
            enum { leave, mend, drop } plan = leave;
            if (h.state == "corrupt") {
                out.why += " (not removed: inspect it, then unlink --force)";
            } else if (h.state == "foreign") {
                out.why += " (not removed: clean it where it was made)";
            } else if (live > 0 && h.state != "ok") {
                // Its live attachers mend it themselves at their next lock().
                out.why = std::to_string(live) + " live attacher(s)";
            } else if (h.state == "stale") {
                plan = file && !remove_files ? mend : drop;
            } else if (h.state == "incomplete" || h.state == "orphan") {
                if (file && !remove_files) {
                    out.why += " (a file region's bytes are its data: --remove-stale-files removes it)";
                } else {
                    plan = drop;
                }
            }
            if (plan != leave && dry) {
                out.action = plan == mend ? "would repair" : "would remove";
            } else if (plan != leave) {
                const std::string reason = out.why;
                out = plan == mend ? repair(home, name, how) : remove(home, name, how);
                if (out.why.empty()) out.why = reason;
            }
            failed = failed || out.failed;
            j.begin_object().key("name").value(name).key("state").value(h.state).key("action").value(out.action)
                .key("why").value(out.why).end_object();
            t.row({name, h.state, out.action, out.why});
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
                    why = shmregion::last_error_message();
                    failed = true;
                }
            }
            j.begin_object().key("name").value(o.name).key("state").value("orphan").key("action").value(action)
                .key("why").value(why).key("segment").value(o.segment).end_object();
            t.row({o.name, "orphan", action, why});
        }
        j.end_array().key("abandoned").begin_array();
        // Creations whose creator died before publishing: hidden pending files, segments.
        std::error_code ec;
        std::vector<std::string> abandoned;
        for (const auto& creation : dry ? shmregion::abandoned_creations(home, ec) : shmregion::remove_abandoned(home, ec))
            abandoned.push_back(abandoned_line(home, creation));
        if (ec) {
            abandoned.push_back("FAILED: " + shmregion::last_error_message());
            failed = true;
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
