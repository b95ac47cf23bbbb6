// The regiontool binary itself (run from CTest), for the commands that clean up after
// crashes and read bytes:
//  - clean removes stale regions (a holder killed with SIGKILL) and leaves nothing of them
//    in home, /dev/shm or ipcs; it never removes a region with a live attacher, nor a
//    healthy one; --dry-run removes nothing; --json parses as the documented object;
//  - remove_unused() (what clean uses) refuses a region in use;
//  - a segment whose region file was deleted is listed as orphan and cleaned, unless a live
//    process is attached to it;
//  - dump prints the bytes and changes none;
//  - doctor reports every check, as JSON, with advice for every warning;
//  - usage errors exit 2 with one line and the usage hint.
#define BOOST_TEST_MODULE tool_regiontool
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "tool_support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

using namespace shmregion;
using namespace shmregion::mptest;
using namespace shmregion::tooltest;
namespace bdata = boost::unit_test::data;
namespace pt = boost::property_tree;

namespace {


/// Creates a region that outlives this call (reference count 0).
Options make_region(const fs::path& home, Backing b) {
    Options o = test::options(home, b, 64 * 1024);
    Region r = Region::attach(o);
    std::memcpy(r.data(), "hello, region", 13);
    r.detach();
    o.mode = OpenMode::join_only;
    return o;
}

/// A child attaches, takes the lock if asked, says so and waits (to be killed, or forever).
pid_t attach_in_child(Children& children, const Options& o, bool lock) {
    test::Signal ready;
    const pid_t pid = children.spawn([&] {
        Region r = Region::attach(o);
        LockGuard g;
        if (lock) g = r.lock();
        ready.notify();
        for (;;) ::pause();
        return 0;
    });
    BOOST_REQUIRE(ready.wait());
    return pid;
}

/// What clean did to `name`, from its --json output.
std::string action_of(const pt::ptree& clean, const std::string& name) {
    for (const auto& [key, region] : clean.get_child("regions"))
        if (region.get<std::string>("name") == name) return region.get<std::string>("action");
    return "absent";
}

}  // namespace

BOOST_DATA_TEST_CASE(clean_removes_stale_regions_and_never_one_in_use, test::backing_data(test::BackingSet::named),
                     backing_name) {
    Home home;
    Children children;
    const Backing b = backing_named(backing_name);
    const Options healthy = make_region(home, b);
    const Options stale = make_region(home, b);
    const Options in_use = make_region(home, b);
    const RegionInfo stale_before = inspect(home, stale.name);

    // stale: its lock holder killed; in_use: a live attacher plus a lock holder killed.
    children.kill(attach_in_child(children, stale, true));
    const pid_t live = attach_in_child(children, in_use, false);
    children.kill(attach_in_child(children, in_use, true));

    const Run list = regiontool({"list", home.path().string(), "--json"});
    BOOST_TEST(list.status == 1, list.err);  // unhealthy regions: exit 1
    const auto listed = parse_json(list.out);
    std::map<std::string, std::string> state;
    for (const auto& kv : listed.get_child("regions")) {
        const pt::ptree& region = kv.second;
        state[region.get<std::string>("name")] = region.get<std::string>("state");
    }
    BOOST_TEST(state[healthy.name] == "ok");
    BOOST_TEST(state[stale.name] == "stale");
    BOOST_TEST(state[in_use.name] == "stale");

    // A file region's bytes are its data: clean repairs it and keeps it. A shared-memory
    // region, whose memory would not outlive a reboot, goes.
    const bool keeps = b == Backing::file;
    const Run dry = regiontool({"clean", home.path().string(), "--dry-run", "--json"});
    BOOST_TEST(dry.status == 0, dry.err);
    const auto dry_json = parse_json(dry.out);
    BOOST_TEST(dry_json.get<bool>("dry_run"));
    BOOST_TEST(action_of(dry_json, stale.name) == (keeps ? "would repair" : "would remove"));
    BOOST_TEST(action_of(dry_json, in_use.name) == "left");
    BOOST_TEST(action_of(dry_json, healthy.name) == "left");
    BOOST_TEST(fs::exists(region_file(home, stale.name)), "--dry-run removed something");
    BOOST_TEST(inspect(home, stale.name).lock_state == LockState::owner_dead, "--dry-run repaired something");

    const Run clean = regiontool({"clean", home.path().string(), "--json"});
    BOOST_TEST(clean.status == 0, clean.err);
    const auto cleaned = parse_json(clean.out);
    BOOST_TEST(action_of(cleaned, stale.name) == (keeps ? "repaired" : "removed"));
    BOOST_TEST(action_of(cleaned, in_use.name) == "left");
    BOOST_TEST(action_of(cleaned, healthy.name) == "left");
    if (keeps) {
        BOOST_TEST(fs::exists(region_file(home, stale.name)));
        const RegionInfo repaired = inspect(home, stale.name);
        BOOST_TEST((repaired.lock_state == LockState::free));
        BOOST_TEST(repaired.ref_count == 0u);
        BOOST_TEST(repaired.attachers.empty());
        BOOST_TEST(repaired.owner_died_unreported, "the application must still hear of the death");
        Region r = Region::attach(stale);
        BOOST_TEST(!r.created());
        BOOST_TEST(r.lock().owner_died());
        BOOST_TEST(std::memcmp(r.data(), "hello, region", 13) == 0, "the repair lost the data");
    } else {
        BOOST_TEST(!fs::exists(region_file(home, stale.name)));
        BOOST_TEST(!segment_exists(stale_before), "the stale region's segment is still there");
    }
    BOOST_TEST(fs::exists(region_file(home, in_use.name)));
    BOOST_TEST(fs::exists(region_file(home, healthy.name)));
    {  // the live attacher's region still works
        Region r = Region::attach(in_use);
        auto g = r.lock();
        BOOST_TEST(g.owner_died());
        BOOST_TEST(std::memcmp(r.data(), "hello, region", 13) == 0);
    }

    // Once its last live attacher is gone too, the next clean takes it (a file region only
    // with --remove-stale-files); healthy stays.
    const RegionInfo in_use_before = inspect(home, in_use.name);
    children.kill(live);
    const Run again = regiontool({"clean", home.path().string()});
    BOOST_TEST(again.status == 0, again.err);
    BOOST_TEST(again.out.find(keeps ? "repaired" : "removed") != std::string::npos, again.out);
    BOOST_TEST(fs::exists(region_file(home, in_use.name)) == keeps);
    if (keeps) {
        BOOST_TEST(inspect(home, in_use.name).attachers.empty());
        // The repaired region is healthy now; even --remove-stale-files leaves a healthy one.
        const Run files = regiontool({"clean", home.path().string(), "--remove-stale-files", "--json"});
        BOOST_TEST(files.status == 0, files.err);
        BOOST_TEST(action_of(parse_json(files.out), in_use.name) == "left");
        BOOST_TEST(fs::exists(region_file(home, in_use.name)));
    } else {
        BOOST_TEST(!segment_exists(in_use_before));
    }
    BOOST_TEST(fs::exists(region_file(home, healthy.name)));
    BOOST_TEST(segments_for(region_file(home, stale.name)).size() == 0u);
    std::error_code ec;  // some are gone already
    for (const auto& n : {healthy.name, stale.name, in_use.name}) unlink(home, n, Force::yes, ec);
}

// --remove-stale-files: a stale file region goes (the operator asked for it).
BOOST_AUTO_TEST_CASE(clean_removes_a_stale_file_region_only_when_asked) {
    Home home;
    Children children;
    const Options stale = make_region(home, Backing::file);
    children.kill(attach_in_child(children, stale, true));
    const Run dry = regiontool({"clean", home.path().string(), "--dry-run", "--remove-stale-files", "--json"});
    BOOST_TEST(dry.status == 0, dry.err);
    BOOST_TEST(action_of(parse_json(dry.out), stale.name) == "would remove");
    BOOST_TEST(fs::exists(region_file(home, stale.name)));
    const Run clean = regiontool({"clean", home.path().string(), "--remove-stale-files", "--json"});
    BOOST_TEST(clean.status == 0, clean.err);
    BOOST_TEST(action_of(parse_json(clean.out), stale.name) == "removed");
    BOOST_TEST(!fs::exists(region_file(home, stale.name)));
}


// A segment whose region file was deleted by hand: list shows it, clean removes it, but
// never while a live process is in its attacher table.
BOOST_DATA_TEST_CASE(orphan_segments_are_listed_and_cleaned_unless_in_use, test::backing_data(test::BackingSet::shm),
                     backing_name) {
    Home home;
    Children children;
    const Options gone = make_region(home, backing_named(backing_name));
    const Options busy = make_region(home, backing_named(backing_name));
    const RegionInfo gone_info = inspect(home, gone.name);
    const RegionInfo busy_info = inspect(home, busy.name);
    const pid_t live = attach_in_child(children, busy, false);
    fs::remove(region_file(home, gone.name));
    fs::remove(region_file(home, busy.name));

    const Run list = regiontool({"list", home.path().string(), "--json"});
    BOOST_TEST(list.status == 1, list.err);
    std::map<std::string, std::string> segment_of;
    const auto listed = parse_json(list.out);
    for (const auto& kv : listed.get_child("regions")) {
        const pt::ptree& region = kv.second;
        BOOST_TEST(region.get<std::string>("state") == "orphan");
        segment_of[region.get<std::string>("name")] = region.get<std::string>("segment");
    }
    BOOST_TEST(segment_of.size() == 2u);
    if (backing_named(backing_name) == Backing::posix) BOOST_TEST(segment_of[gone.name] == gone_info.segment);

    const Run clean = regiontool({"clean", home.path().string(), "--json"});
    BOOST_TEST(clean.status == 0, clean.err);
    const auto cleaned = parse_json(clean.out);
    BOOST_TEST(action_of(cleaned, gone.name) == "removed");
    BOOST_TEST(action_of(cleaned, busy.name) == "left");
    BOOST_TEST(!segment_exists(gone_info));
    BOOST_TEST(segment_exists(busy_info), "clean removed a segment a live process is attached to");

    children.kill(live);
    const Run again = regiontool({"clean", home.path().string(), "--json"});
    BOOST_TEST(again.status == 0, again.err);
    BOOST_TEST(action_of(parse_json(again.out), busy.name) == "removed");
    BOOST_TEST(!segment_exists(busy_info));
}

BOOST_DATA_TEST_CASE(remove_unused_refuses_a_region_in_use, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    const Options o = make_region(home, backing_named(backing_name));
    {
        Region r = Region::attach(o);
        BOOST_TEST(!remove_unused(home, o.name));
        BOOST_TEST(fs::exists(region_file(home, o.name)));
        BOOST_TEST(std::memcmp(r.data(), "hello, region", 13) == 0);
    }
    const RegionInfo before = inspect(home, o.name);
    BOOST_TEST(remove_unused(home, o.name));
    BOOST_TEST(!fs::exists(region_file(home, o.name)));
    BOOST_TEST(!segment_exists(before));
    std::error_code ec;
    BOOST_TEST(!remove_unused(home, o.name, ec));
    BOOST_TEST(ec == errc::region_not_found);
}

BOOST_DATA_TEST_CASE(dump_prints_the_bytes_and_changes_none, test::backing_data(test::BackingSet::named),
                     backing_name) {
    Home home;
    const Options o = make_region(home, backing_named(backing_name));
    const RegionInfo before = inspect(home, o.name);
    const std::string file_before = test::read_file(region_file(home, o.name));
    const Run d = regiontool({"dump", home.path().string(), o.name, "--length", "16"});
    BOOST_TEST(d.status == 0, d.err);
    BOOST_TEST(d.out.find("68 65 6c 6c 6f 2c 20 72") != std::string::npos, d.out);
    BOOST_TEST(d.out.find("|hello, region...|") != std::string::npos, d.out);
    const Run j = regiontool({"dump", home.path().string(), o.name, "--offset", "7", "--length", "6", "--json"});
    BOOST_TEST(j.status == 0, j.err);
    const auto dumped = parse_json(j.out);
    BOOST_TEST(dumped.get<std::string>("name") == o.name);
    BOOST_TEST(dumped.get<std::uint64_t>("offset") == 7u);
    BOOST_TEST(dumped.get<std::uint64_t>("length") == 6u);
    BOOST_TEST(dumped.get<std::string>("hex") == "726567696f6e");  // "region"
    const Run tail = regiontool({"dump", home.path().string(), o.name, "--offset", "64K", "--length", "1"});
    BOOST_TEST(tail.status == 1);
    BOOST_TEST(tail.err.find(region_file(home, o.name).string()) != std::string::npos, tail.err);
    BOOST_TEST(test::read_file(region_file(home, o.name)) == file_before, "dump changed the region's file");
    const RegionInfo after = inspect(home, o.name);
    BOOST_TEST(after.ref_count == before.ref_count);
    BOOST_TEST(after.generation == before.generation);
    unlink(home, o.name, Force::yes);
}

BOOST_AUTO_TEST_CASE(doctor_reports_every_check_with_advice) {
    Home home;
    const Options o = make_region(home, Backing::posix);
    const Run d = regiontool({"doctor", home.path().string(), "--json"});
    BOOST_TEST((d.status == 0 || d.status == 1), d.err);
    const auto report = parse_json(d.out);
    std::map<std::string, std::string> status;
    bool failed = false;
    for (const auto& kv : report.get_child("findings")) {
        const pt::ptree& f = kv.second;
        const auto s = f.get<std::string>("status");
        BOOST_TEST((s == "ok" || s == "warn" || s == "fail" || s == "info"), s);
        BOOST_TEST(!f.get<std::string>("detail").empty());
        if (s == "warn" || s == "fail") BOOST_TEST(!f.get<std::string>("advice").empty(), f.get<std::string>("check"));
        failed = failed || s == "fail";
        status[f.get<std::string>("check")] = s;
    }
    BOOST_TEST(report.get<bool>("healthy") == !failed);
    BOOST_TEST(d.status == (failed ? 1 : 0));
    for (const char* check : {"/dev/shm space", "home space", "System V limits", "systemd RemoveIPC",
                              "I/O engine uring", "I/O engine libaio", "I/O engine posix", "I/O engine sync",
                              "chosen engine", "robust mutexes", "transparent huge pages", "explicit huge pages"})
        BOOST_TEST(status.count(check) == 1u, check);
    // What the library relies on works on every machine it is tested on.
    BOOST_TEST(status["robust mutexes"] == "ok");
    BOOST_TEST(status["I/O engine sync"] == "ok");
    const Run table = regiontool({"doctor", home.path().string()});
    BOOST_TEST(table.out.find("CHECK") != std::string::npos, table.out);
    unlink(home, o.name, Force::yes);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_the_hint) {
    Home home;
    const std::vector<std::vector<std::string>> bad = {
        {"frobnicate"},
        {"dump", home.path().string()},
        {"clean"},
        {"grow", home.path().string(), "x", "12Q"},
        {"clean", home.path().string(), "--bogus"},
    };
    for (const auto& args : bad) {
        const Run r = regiontool(args);
        BOOST_TEST(r.status == 2, args.front() << ": exit " << r.status);
        BOOST_TEST(r.err.rfind("regiontool", 0) == 0u, args.front() << ": " << r.err);
        BOOST_TEST(r.err.find("Try 'regiontool") != std::string::npos, args.front() << ": " << r.err);
        BOOST_TEST(r.out.empty());
    }
}

// With SHMREGION_IO_ENGINE naming no engine, doctor and stat say why no engine can be
// chosen in the library's own words (the failed step and the value), not only what the
// error code means ("invalid options"): what last_error_message() is for.
BOOST_AUTO_TEST_CASE(a_failed_engine_choice_is_reported_with_its_cause) {
    Home home;
    const Options o = make_region(home, Backing::posix);
    ::setenv("SHMREGION_IO_ENGINE", "bogus-engine", 1);
    const Run d = regiontool({"doctor", home.path().string(), "--json"});
    const Run s = regiontool({"stat", home.path().string(), o.name, "--json"});
    ::unsetenv("SHMREGION_IO_ENGINE");
    std::string chosen;
    const auto report = parse_json(d.out);
    for (const auto& kv : report.get_child("findings"))
        if (kv.second.get<std::string>("check") == "chosen engine") {
            BOOST_TEST(kv.second.get<std::string>("status") == "fail");
            chosen = kv.second.get<std::string>("detail");
        }
    BOOST_TEST(chosen.find("SHMREGION_IO_ENGINE") != std::string::npos, chosen);
    BOOST_TEST(chosen.find("bogus-engine") != std::string::npos, chosen);
    BOOST_TEST(s.status == 0, s.err);
    const std::string stat_out = s.out;
    BOOST_TEST(stat_out.find("bogus-engine") != std::string::npos, stat_out);
    unlink(home, o.name, Force::yes);
}
