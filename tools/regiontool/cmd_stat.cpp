// regiontool stat HOME NAME [--json]: every header field, the attachers and the lock.
#include "cli.hpp"

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace regiontool {
namespace {

const char* lock_text(shmregion::LockState s) {
    switch (s) {
        case shmregion::LockState::free: return "free";
        case shmregion::LockState::held: return "held";
        case shmregion::LockState::owner_dead: return "owner dead";
    }
    return "?";
}

std::string hex(std::int64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
    return buf;
}

/// The names of the header's flags that are set, in bit order (docs/format.md).
std::vector<std::string> flag_names(const shmregion::RegionInfo& i) {
    std::vector<std::string> names;
    if (i.remove_on_last_detach_option) names.push_back("remove_on_last_detach");
    if (i.owner_died_unreported) names.push_back("owner_died_unreported");
    if (i.unlink_requested) names.push_back("unlink_requested");
    return names;
}

const char* lock_text(shmregion::LockInfo::State s) {
    switch (s) {
        case shmregion::LockInfo::State::free: return "free";
        case shmregion::LockInfo::State::exclusive: return "exclusive";
        case shmregion::LockInfo::State::shared: return "shared";
        case shmregion::LockInfo::State::owner_dead: return "owner dead";
    }
    return "?";
}

std::string pid_list(const std::vector<pid_t>& pids) {
    std::string out;
    for (pid_t p : pids) out += (out.empty() ? "" : " ") + std::to_string(p);
    return out;
}

void lock_table_json(Json& j, const shmregion::RegionInfo& i) {
    j.key("lock_table").begin_array();
    for (const auto& l : i.locks) {
        j.begin_object()
            .key("index").value(l.index)
            .key("state").value(lock_text(l.state))
            .key("holder_pid").value(static_cast<std::int64_t>(l.holder_pid))
            .key("holder_tid").value(static_cast<std::int64_t>(l.holder_tid))
            .key("shared_count").value(l.shared_count)
            .key("shared_pids").begin_array();
        for (pid_t p : l.shared_pids) j.value(static_cast<std::int64_t>(p));
        j.end_array()
            .key("writer_waiting").value(l.writer_waiting)
            .key("owner_died").value(l.owner_died)
            .key("exclusive_deaths").value(l.exclusive_deaths)
            .key("shared_deaths").value(l.shared_deaths)
            .end_object();
    }
    j.end_array();
}

/// The locks that are held, or ever lost a holder; a line for the others.
std::string lock_table_text(const shmregion::RegionInfo& i) {
    Table t({"LOCK", "STATE", "HOLDERS", "DEATHS (EXCL/SHARED)", "NOTE"});
    std::size_t quiet = 0;
    for (const auto& l : i.locks) {
        const bool idle = l.state == shmregion::LockInfo::State::free && !l.owner_died && l.exclusive_deaths == 0 &&
                          l.shared_deaths == 0;
        if (idle) {
            ++quiet;
            continue;
        }
        std::string holders;
        if (l.state == shmregion::LockInfo::State::exclusive || l.state == shmregion::LockInfo::State::owner_dead)
            holders = l.holder_tid == 0 ? std::string()
                      : "pid " + std::to_string(l.holder_pid) +
                            (l.holder_tid != l.holder_pid ? " (thread " + std::to_string(l.holder_tid) + ")" : "");
        else if (l.shared_count != 0)
            holders = std::to_string(l.shared_count) + " share(s): pid " + pid_list(l.shared_pids);
        std::string note;
        if (l.owner_died) note = "owner died, not yet marked consistent";
        if (l.writer_waiting) note += std::string(note.empty() ? "" : "; ") + "a writer waits for the shares";
        t.row({std::to_string(l.index), lock_text(l.state), holders.empty() ? "-" : holders,
               std::to_string(l.exclusive_deaths) + "/" + std::to_string(l.shared_deaths), note.empty() ? "-" : note});
    }
    std::string out = quiet == i.locks.size() ? std::string() : t.str();
    if (quiet != 0)
        out += (out.empty() ? "" : "") + std::to_string(quiet) + (quiet == i.locks.size() ? " lock(s), all" : " other lock(s)") +
               " free, no holder ever died\n";
    return out;
}

}  // namespace

Command stat_command() {
    Command c{"stat", "stat HOME NAME [--json]", "show a region's header, attachers and locks",
              "Prints every header field of region NAME in HOME, each attacher (slot, pid,\n"
              "process start time, pid namespace, attach time, alive or dead), the state of\n"
              "the region lock (free, held by pid N, owner dead) and of each lock of the lock\n"
              "table (free, exclusive by pid N, shared by N holders and their pids, owner\n"
              "dead; whether a death awaits mark_consistent; deaths of exclusive and shared\n"
              "holders). Reads only; changes nothing.\n",
              Spec{{}, {"json"}, 2, 2}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional[0];
        const std::string name = a.positional[1];
        const Health h = assess(home, name);
        if (!h.info) {
            // Re-run to get the full error (assess keeps only the detail).
            shmregion::inspect(home, name);
        }
        const auto& i = *h.info;
        // What an attach from here would use (a read-only probe of this machine).
        std::error_code ec;
        const shmregion::io::Choice engine = shmregion::io::choose(shmregion::io::EngineKind::automatic, ec);
        const std::string engine_name = ec ? "none" : std::string(shmregion::io::to_string(engine.engine));
        const std::string engine_reason = ec ? shmregion::last_error_message() : engine.reason;
        const std::vector<std::string> flags = flag_names(i);
        if (a.flag("json")) {
            Json j;
            j.begin_object()
                .key("name").value(i.name)
                .key("file").value(i.file.string())
                .key("state").value(h.state)
                .key("backing").value(std::string(shmregion::to_string(i.backing)))
                .key("version").value(i.version)
                .key("valid").value(i.valid)
                .key("header_size").value(i.header_size)
                .key("page_size").value(i.page_size)
                .key("size").value(i.size)
                .key("max_size").value(i.max_size)
                .key("region_size").value(i.region_size)
                .key("max_region_size").value(i.max_region_size)
                .key("backing_size").value(i.backing_size)
                .key("generation").value(i.generation)
                .key("flags").begin_array();
            for (const auto& f : flags) j.value(f);
            j.end_array()
                .key("remove_on_last_detach").value(i.remove_on_last_detach)
                .key("ref_count").value(i.ref_count)
                .key("max_attachers").value(i.max_attachers)
                .key("segment").value(i.segment)
                .key("sysv_key").value(static_cast<std::int64_t>(i.sysv_key))
                .key("sysv_id").value(static_cast<std::int64_t>(i.sysv_id))
                .key("creator_pid").value(static_cast<std::int64_t>(i.creator_pid))
                .key("creator_uid").value(static_cast<std::uint64_t>(i.creator_uid))
                .key("created_at").value(iso_time(i.created_at_ns))
                .key("lock").begin_object()
                .key("state").value(lock_text(i.lock_state))
                .key("holder_pid").value(static_cast<std::int64_t>(i.lock_holder))
                .key("owner_died_unreported").value(i.owner_died_unreported)
                .key("deaths").value(i.lock_deaths)
                .end_object();
            lock_table_json(j, i);
            j
                .key("grow").begin_object()
                .key("in_progress").value(i.grow_in_progress)
                .key("to").value(i.grow_to)
                .key("pid").value(static_cast<std::int64_t>(i.grow_pid))
                .end_object()
                .key("io_engine").begin_object()
                .key("engine").value(engine_name)
                .key("reason").value(engine_reason)
                .end_object()
                .key("attachers").begin_array();
            for (const auto& at : i.attachers) {
                j.begin_object()
                    .key("slot").value(at.slot)
                    .key("pid").value(static_cast<std::int64_t>(at.pid))
                    .key("start_time").value(at.start_time)
                    .key("pid_namespace").value(at.pid_namespace)
                    .key("attached_at").value(iso_time(at.attached_at_ns))
                    .key("alive").value(at.alive)
                    .key("generation").value(at.generation)
                    .key("dead_with_shares").value(at.dead_with_shares)
                    .end_object();
            }
            j.end_array().end_object();
            std::cout << j.str() << "\n";
        } else {
            Table t({"FIELD", "VALUE"});
            t.row({"name", i.name});
            t.row({"file", i.file.string()});
            t.row({"state", h.state + (h.reason.empty() ? "" : " (" + h.reason + ")")});
            t.row({"backing", std::string(shmregion::to_string(i.backing))});
            if (!i.segment.empty()) t.row({"segment", "/dev/shm" + i.segment});
            if (i.backing == shmregion::Backing::sysv)
                t.row({"sysv key / id", hex(i.sysv_key) + " / " + std::to_string(i.sysv_id)});
            t.row({"version", std::to_string(i.version)});
            t.row({"size", human_size(i.size) + " usable (" + std::to_string(i.size) + " bytes)"});
            t.row({"ceiling", human_size(i.max_size) + " usable"});
            t.row({"header", std::to_string(i.header_size) + " bytes, " + std::to_string(i.max_attachers) + " attacher slots"});
            t.row({"backing size", std::to_string(i.backing_size) + " bytes"});
            t.row({"generation", std::to_string(i.generation)});
            std::string flag_text;
            for (const auto& f : flags) flag_text += (flag_text.empty() ? "" : ", ") + f;
            t.row({"flags", flag_text.empty() ? "none" : flag_text});
            if (i.grow_in_progress)
                t.row({"growth", "to " + human_size(i.grow_to) + " by pid " + std::to_string(i.grow_pid) +
                                     " in progress (or its grower died: the next lock finishes or undoes it)"});
            t.row({"remove on last detach", i.remove_on_last_detach ? "yes" : "no"});
            t.row({"reference count", std::to_string(i.ref_count)});
            t.row({"live attachers", std::to_string(i.live_attachers())});
            std::string lock = lock_text(i.lock_state);
            if (i.lock_holder) lock += " (pid " + std::to_string(i.lock_holder) + ")";
            if (i.owner_died_unreported) lock += "; a holder died, not yet marked consistent";
            if (i.lock_deaths) lock += "; " + std::to_string(i.lock_deaths) + " holder death(s)";
            t.row({"lock", lock});
            t.row({"lock table", std::to_string(i.locks.size()) + " lock(s)"});
            t.row({"I/O engine", engine_name + " (" + engine_reason + ")"});
            t.row({"created", iso_time(i.created_at_ns) + " by pid " + std::to_string(i.creator_pid) + ", uid " +
                                  std::to_string(i.creator_uid)});
            std::cout << t.str();
            if (!i.attachers.empty()) {
                Table at({"SLOT", "GEN", "PID", "START", "PIDNS", "ATTACHED", "STATUS"});
                for (const auto& x : i.attachers)
                    at.row({std::to_string(x.slot), std::to_string(x.generation), std::to_string(x.pid),
                            std::to_string(x.start_time), std::to_string(x.pid_namespace), iso_time(x.attached_at_ns),
                            x.alive ? "alive" : x.dead_with_shares ? "dead (shares not yet released)" : "dead"});
                std::cout << "\n" << at.str();
            }
            if (!i.locks.empty()) std::cout << "\n" << lock_table_text(i);
        }
        return h.state == "ok" ? kOk : kUnhealthy;
    };
    return c;
}

}  // namespace regiontool
