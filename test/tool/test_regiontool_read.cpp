// The regiontool binary's read commands and its life-cycle commands, against the man page
// (docs/regiontool.1), for the file, posix and sysv backings:
//  - list, stat, verify (table and --json): exit 0 on a healthy region, every documented
//    JSON key present with the right values; create, grow (sysv refuses: exit 1), prefault,
//    unlink;
//  - a `regiontool hold --lock` killed with SIGKILL: list says stale, stat says the lock
//    owner is dead, verify still exits 0, clean removes every trace (home, /dev/shm, ipcs);
//  - verify on a header corrupted field by field exits 1, names the field and changes no
//    byte of the file.
#define BOOST_TEST_MODULE tool_regiontool_read
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "tool_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <sstream>

using namespace shmregion;
using namespace shmregion::mptest;
using namespace shmregion::tooltest;
using detail::RegionHeader;
namespace bdata = boost::unit_test::data;
namespace pt = boost::property_tree;

namespace regiontool_read_test {


bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

/// Force-unlinks a region on scope exit (errors ignored: it may be gone already).
struct Unlinker {
    fs::path home;
    std::string name;
    ~Unlinker() {
        std::error_code ec;
        shmregion::unlink(home, name, Force::yes, ec);
    }
};

/// `regiontool create` of a 64K region; file and posix get a 256K ceiling.
void create(const fs::path& home, const std::string& name, const std::string& backing) {
    std::vector<std::string> args{"create", home.string(), name, "--backing", backing, "--size", "64K"};
    if (backing != "sysv") {
        args.push_back("--max-size");
        args.push_back("256K");
    }
    const Run r = regiontool(args);
    BOOST_REQUIRE_MESSAGE(r.status == 0, "create: exit " << r.status << ": " << r.err);
}

const pt::ptree* region_in(const pt::ptree& doc, const std::string& name) {
    for (const auto& kv : doc.get_child("regions"))
        if (kv.second.get<std::string>("name", "") == name) return &kv.second;
    return nullptr;
}

void require_keys(const pt::ptree& t, const std::vector<std::string>& keys, const std::string& what) {
    for (const auto& k : keys) BOOST_TEST(t.get_child_optional(k).has_value(), what << ": no key \"" << k << "\"");
}

const std::vector<std::string> kStatKeys = {
    "name", "file", "state", "backing", "version", "valid", "header_size", "page_size", "size", "max_size",
    "region_size", "max_region_size", "backing_size", "generation", "flags", "remove_on_last_detach", "ref_count",
    "max_attachers", "segment", "sysv_key", "sysv_id", "creator_pid", "creator_uid", "created_at",
    "lock.state", "lock.holder_pid", "lock.owner_died_unreported", "grow.in_progress", "grow.to", "grow.pid",
    "io_engine.engine", "io_engine.reason", "attachers"};
const std::vector<std::string> kListKeys = {"name", "state", "backing", "size", "max_size", "ref_count",
                                            "live_attachers"};

/// A `regiontool hold HOME NAME --lock` child (killed and reaped by Children on failure).
pid_t hold_locked(Children& children, const fs::path& home, const std::string& name) {
    int out[2];
    BOOST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const std::vector<std::string> args{"hold", home.string(), name, "--lock"};
    const pid_t pid = children.spawn([&] {
        ::dup2(out[1], 1);
        exec_regiontool(args);
        return 127;
    });
    ::close(out[1]);
    std::string said;
    char buf[256];
    while (!contains(said, "holding")) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 30000) <= 0) break;
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        said.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    BOOST_REQUIRE_MESSAGE(contains(said, "holding " + name), "hold said: \"" << said << "\"");
    return pid;
}

}  // namespace regiontool_read_test

using namespace regiontool_read_test;

BOOST_DATA_TEST_CASE(read_commands_on_a_healthy_region, test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    const std::string name = test::unique_name();
    Unlinker guard{home.path(), name};
    const std::string h = home.path().string();
    create(home, name, backing_name);
    const RegionInfo info = inspect(home, name);
    BOOST_TEST(info.size == 64u * 1024);

    // list
    const Run list = regiontool({"list", h});
    BOOST_TEST(list.status == 0, list.err);
    BOOST_TEST(contains(list.out, name), list.out);
    BOOST_TEST(contains(list.out, backing_name), list.out);
    const Run list_j = regiontool({"list", h, "--json"});
    BOOST_TEST(list_j.status == 0, list_j.err);
    {
        const auto doc = parse_json(list_j.out);
        BOOST_TEST(doc.get<std::string>("home") == h);
        BOOST_TEST(doc.get_child("regions").size() == 1u);
        const pt::ptree* r = region_in(doc, name);
        BOOST_REQUIRE_MESSAGE(r, "list --json: no region " << name << ": " << list_j.out);
        require_keys(*r, kListKeys, "list --json");
        BOOST_TEST(r->get<std::string>("state") == "ok");
        BOOST_TEST(r->get<std::string>("backing") == backing_name);
        BOOST_TEST(r->get<std::uint64_t>("size") == 64u * 1024);
        BOOST_TEST(r->get<std::uint64_t>("max_size") == (std::string(backing_name) == "sysv" ? 64u : 256u) * 1024);
        BOOST_TEST(r->get<std::uint32_t>("ref_count") == 0u);
        BOOST_TEST(r->get<std::uint32_t>("live_attachers") == 0u);
        BOOST_TEST(!r->get_child_optional("reason"));
    }

    // stat
    const Run stat = regiontool({"stat", h, name});
    BOOST_TEST(stat.status == 0, stat.err);
    BOOST_TEST(contains(stat.out, name), stat.out);
    BOOST_TEST(contains(stat.out, "65536 bytes"), stat.out);
    const Run stat_j = regiontool({"stat", h, name, "--json"});
    BOOST_TEST(stat_j.status == 0, stat_j.err);
    {
        const auto s = parse_json(stat_j.out);
        require_keys(s, kStatKeys, "stat --json");
        BOOST_TEST(s.get<std::string>("name") == name);
        BOOST_TEST(s.get<std::string>("file") == region_file(home, name).string());
        BOOST_TEST(s.get<std::string>("state") == "ok");
        BOOST_TEST(s.get<std::string>("backing") == backing_name);
        BOOST_TEST(s.get<bool>("valid"));
        BOOST_TEST(s.get<std::uint64_t>("size") == 64u * 1024);
        BOOST_TEST(s.get<std::uint64_t>("region_size") == s.get<std::uint64_t>("size") + s.get<std::uint64_t>("header_size"));
        BOOST_TEST(s.get<std::uint64_t>("max_size") == info.max_size);
        BOOST_TEST(s.get<std::uint64_t>("generation") == info.generation);
        BOOST_TEST(s.get<std::uint32_t>("ref_count") == 0u);
        BOOST_TEST(s.get<std::uint32_t>("max_attachers") == info.max_attachers);
        BOOST_TEST(s.get<std::string>("segment") == info.segment);
        BOOST_TEST(s.get<std::int64_t>("sysv_id") == info.sysv_id);
        BOOST_TEST(s.get<std::string>("lock.state") == "free");
        BOOST_TEST(s.get<std::int64_t>("lock.holder_pid") == 0);
        BOOST_TEST(!s.get<bool>("grow.in_progress"));
        BOOST_TEST(s.get_child("attachers").size() == 0u);
        BOOST_TEST(!s.get<std::string>("created_at").empty());
    }

    // verify, every region and one
    for (const bool one : {false, true}) {
        std::vector<std::string> args{"verify", h};
        if (one) args.push_back(name);
        const Run v = regiontool(args);
        BOOST_TEST(v.status == 0, v.err);
        BOOST_TEST(contains(v.out, name), v.out);
        args.push_back("--json");
        const Run vj = regiontool(args);
        BOOST_TEST(vj.status == 0, vj.err);
        const auto doc = parse_json(vj.out);
        require_keys(doc, {"home", "regions", "healthy"}, "verify --json");
        BOOST_TEST(doc.get<bool>("healthy"));
        const pt::ptree* r = region_in(doc, name);
        BOOST_REQUIRE_MESSAGE(r, "verify --json: no region " << name << ": " << vj.out);
        require_keys(*r, {"name", "healthy", "state"}, "verify --json region");
        BOOST_TEST(r->get<bool>("healthy"));
        BOOST_TEST(r->get<std::string>("state") == "ok");
    }

    // grow
    const Run grow = regiontool({"grow", h, name, "128K"});
    if (std::string(backing_name) == "sysv") {
        BOOST_TEST(grow.status == 1, grow.out << grow.err);
        // The library says "System V segments have a fixed size (shmget); use the posix or
        // file backing to grow", naming the region.
        BOOST_TEST((contains(grow.err, "cannot grow") || contains(grow.err, "fixed size")), grow.err);
        BOOST_TEST(contains(grow.err, name), grow.err);
        BOOST_TEST(grow.out.empty(), grow.out);
        const auto s = parse_json(regiontool({"stat", h, name, "--json"}).out);
        BOOST_TEST(s.get<std::uint64_t>("size") == 64u * 1024);
        BOOST_TEST(s.get<std::uint64_t>("generation") == info.generation);
    } else {
        BOOST_TEST(grow.status == 0, grow.err);
        const Run st = regiontool({"stat", h, name, "--json"});
        BOOST_TEST(st.status == 0, st.err);
        const auto s = parse_json(st.out);
        BOOST_TEST(s.get<std::uint64_t>("size") == 128u * 1024);
        BOOST_TEST(s.get<std::uint64_t>("generation") == 2u);
        BOOST_TEST(s.get<std::uint64_t>("region_size") == 128u * 1024 + s.get<std::uint64_t>("header_size"));
        BOOST_TEST(s.get<std::uint32_t>("ref_count") == 0u);
    }
    const std::uint64_t size_now = inspect(home, name).size;

    // prefault
    const Run pf = regiontool({"prefault", h, name, "--json"});
    BOOST_TEST(pf.status == 0, pf.err);
    {
        const auto p = parse_json(pf.out);
        require_keys(p, {"name", "bytes", "microseconds", "io_engine"}, "prefault --json");
        BOOST_TEST(p.get<std::string>("name") == name);
        BOOST_TEST(p.get<std::uint64_t>("bytes") >= size_now);
    }

    // unlink
    const RegionInfo before = inspect(home, name);
    const Run un = regiontool({"unlink", h, name});
    BOOST_TEST(un.status == 0, un.err);
    BOOST_TEST(!fs::exists(region_file(home, name)));
    BOOST_TEST(!segment_exists(before), "unlink left the segment");
    BOOST_TEST(segments_for(region_file(home, name)).size() == 0u);
    const Run gone = regiontool({"list", h, "--json"});
    BOOST_TEST(gone.status == 0, gone.err);
    BOOST_TEST(parse_json(gone.out).get_child("regions").size() == 0u);
}

BOOST_DATA_TEST_CASE(a_lock_holder_killed_leaves_a_stale_region_clean_removes,
                     test::backing_data(test::BackingSet::named), backing_name) {
    Home home;
    Children children;
    const std::string name = test::unique_name();
    Unlinker guard{home.path(), name};
    const std::string h = home.path().string();
    create(home, name, backing_name);
    const RegionInfo before = inspect(home, name);

    const pid_t holder = hold_locked(children, home, name);
    {
        const RegionInfo held = inspect(home, name);
        BOOST_TEST(held.ref_count == 1u);
        BOOST_TEST(held.lock_state == LockState::held);
    }
    children.kill(holder);

    const Run list = regiontool({"list", h, "--json"});
    BOOST_TEST(list.status == 1, list.err);  // not ok: exit 1
    {
        const auto doc = parse_json(list.out);
        const pt::ptree* r = region_in(doc, name);
        BOOST_REQUIRE_MESSAGE(r, list.out);
        BOOST_TEST(r->get<std::string>("state") == "stale");
        BOOST_TEST(r->get<std::uint32_t>("live_attachers") == 0u);
        BOOST_TEST(r->get<std::uint32_t>("ref_count") == 1u);
    }
    const Run stat = regiontool({"stat", h, name, "--json"});
    BOOST_TEST(stat.status == 1, stat.err);  // not ok: exit 1
    {
        const auto s = parse_json(stat.out);
        require_keys(s, kStatKeys, "stat --json (stale)");
        BOOST_TEST(s.get<std::string>("state") == "stale");
        BOOST_TEST(s.get<std::string>("lock.state") == "owner dead");
        // The kernel clears a dead owner's thread id from the futex word: nobody holds it.
        BOOST_TEST(s.get<std::int64_t>("lock.holder_pid") == 0);
        BOOST_TEST(s.get_child("attachers").size() == 1u);
        for (const auto& kv : s.get_child("attachers")) {
            require_keys(kv.second, {"slot", "pid", "start_time", "pid_namespace", "attached_at", "alive"},
                         "stat --json attacher");
            BOOST_TEST(kv.second.get<std::int64_t>("pid") == holder);
            BOOST_TEST(!kv.second.get<bool>("alive"));
        }
    }
    for (const bool json : {false, true}) {
        std::vector<std::string> args{"verify", h, name};
        if (json) args.push_back("--json");
        const Run v = regiontool(args);
        BOOST_TEST(v.status == 0, "verify of a stale region: exit " << v.status << ": " << v.out << v.err);
        if (json) {
            const auto doc = parse_json(v.out);
            BOOST_TEST(doc.get<bool>("healthy"));
            const pt::ptree* r = region_in(doc, name);
            BOOST_REQUIRE(r);
            BOOST_TEST(r->get<bool>("healthy"));
            BOOST_TEST(r->get<std::string>("state") == "stale");
        }
    }

    if (before.backing == Backing::file) {
        // A file region's bytes are its data: repaired and kept, not removed.
        const Run clean = regiontool({"clean", h});
        BOOST_TEST(clean.status == 0, clean.err);
        BOOST_TEST(contains(clean.out, "repaired"), clean.out);
        BOOST_TEST(contains(clean.out, "recovered the lock of a dead holder"), clean.out);
        BOOST_TEST(fs::exists(region_file(home, name)));
        const RegionInfo after = inspect(home, name);
        BOOST_TEST((after.lock_state == LockState::free));
        BOOST_TEST(after.attachers.empty());
        BOOST_TEST(after.region_size == before.region_size);
        const Run v = regiontool({"list", h, "--json"});
        BOOST_TEST(v.status == 0, "after the repair the region is ok: " << v.out << v.err);
        unlink(home, name, Force::yes);
        return;
    }
    const Run clean = regiontool({"clean", h});
    BOOST_TEST(clean.status == 0, clean.err);
    BOOST_TEST(contains(clean.out, "removed"), clean.out);
    BOOST_TEST(!fs::exists(region_file(home, name)));
    for (const auto& e : fs::directory_iterator(home.path()))
        BOOST_TEST(!contains(e.path().filename().string(), name), "left in home: " << e.path());
    BOOST_TEST(!segment_exists(before), "the stale region's segment is still there");
    BOOST_TEST(segments_for(region_file(home, name)).size() == 0u);
    if (before.backing == Backing::posix) BOOST_TEST(test::posix_segments_of(name).empty());
    if (before.backing == Backing::sysv) BOOST_TEST(sysv_segment_removed(before.sysv_id));
}

namespace regiontool_read_test {

struct FieldCorruption {
    const char* field;  // the name verify must print
    std::size_t offset;
    std::string bytes;  // written at offset
};

template <class T>
std::string bytes_of(T v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

std::vector<FieldCorruption> field_corruptions(const RegionHeader& h) {
    const auto ps = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
    return {
        {"magic", offsetof(RegionHeader, magic) + 3, std::string(1, static_cast<char>(h.magic[3] ^ 0x20))},
        {"version", offsetof(RegionHeader, version), bytes_of<std::uint32_t>(detail::kLayoutVersion + 1)},
        {"layout", offsetof(RegionHeader, layout), bytes_of<std::uint32_t>(__builtin_bswap32(h.layout))},
        {"header_size", offsetof(RegionHeader, header_size), bytes_of<std::uint32_t>(h.header_size + ps)},
        {"backing", offsetof(RegionHeader, backing), bytes_of<std::uint32_t>(99)},
        {"valid", offsetof(RegionHeader, valid), bytes_of<std::uint32_t>(12345)},
        {"region_size", offsetof(RegionHeader, region_size), bytes_of<std::uint64_t>(h.region_size + 1)},
        {"max_region_size", offsetof(RegionHeader, max_region_size), bytes_of<std::uint64_t>(h.max_region_size + 1)},
        {"max_attachers", offsetof(RegionHeader, max_attachers), bytes_of<std::uint32_t>(0)},
        {"lock_count", offsetof(RegionHeader, lock_count), bytes_of<std::uint32_t>(max_locks_limit + 1)},
        {"ref_count", offsetof(RegionHeader, ref_count), bytes_of<std::uint32_t>(0xffffffffu)},
        {"grow.state", offsetof(RegionHeader, grow) + offsetof(detail::GrowRecord, state),
         bytes_of<std::uint32_t>(0x12345678u)},
    };
}

void pwrite_at(const fs::path& p, std::size_t offset, const std::string& bytes) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "open " << p << ": " << std::strerror(errno));
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    ::close(fd);
    BOOST_REQUIRE(n == static_cast<ssize_t>(bytes.size()));
}

std::string pread_at(const fs::path& p, std::size_t offset, std::size_t n) {
    std::string s(n, '\0');
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "open " << p << ": " << std::strerror(errno));
    const ssize_t got = ::pread(fd, s.data(), n, static_cast<off_t>(offset));
    ::close(fd);
    BOOST_REQUIRE(got == static_cast<ssize_t>(n));
    return s;
}

/// Restores the bytes a corruption overwrote, whatever happens in between.
struct Restore {
    fs::path file;
    std::size_t offset;
    std::string original;
    ~Restore() {
        const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) return;
        [[maybe_unused]] ssize_t n = ::pwrite(fd, original.data(), original.size(), static_cast<off_t>(offset));
        ::close(fd);
    }
};

}  // namespace regiontool_read_test

BOOST_AUTO_TEST_CASE(verify_names_each_corrupt_field_of_a_file_region_and_changes_nothing) {
    Home home;
    const std::string name = test::unique_name();
    Unlinker guard{home.path(), name};
    const std::string h = home.path().string();
    create(home, name, "file");
    const fs::path file = region_file(home, name);
    const std::string pristine = test::read_file(file);
    BOOST_REQUIRE(pristine.size() >= sizeof(RegionHeader));
    RegionHeader hdr{};
    std::memcpy(&hdr, pristine.data(), sizeof hdr);

    for (const auto& c : field_corruptions(hdr)) {
        BOOST_TEST_CONTEXT("field " << c.field) {
            Restore restore{file, c.offset, pristine.substr(c.offset, c.bytes.size())};
            pwrite_at(file, c.offset, c.bytes);
            const std::string corrupted = test::read_file(file);
            BOOST_REQUIRE(corrupted != pristine);

            const Run v = regiontool({"verify", h, name});
            BOOST_TEST(v.status == 1, "exit " << v.status << ": " << v.out << v.err);
            BOOST_TEST((contains(v.out, c.field) || contains(v.err, c.field)),
                       "verify does not name the field: " << v.out << v.err);
            const Run vj = regiontool({"verify", h, name, "--json"});
            BOOST_TEST(vj.status == 1, "exit " << vj.status << ": " << vj.out << vj.err);
            const auto doc = parse_json(vj.out);
            BOOST_TEST(!doc.get<bool>("healthy"));
            if (const pt::ptree* r = region_in(doc, name)) {
                BOOST_TEST(!r->get<bool>("healthy"));
                BOOST_TEST(r->get<std::string>("state") != "ok");
                BOOST_TEST(contains(r->get<std::string>("reason", ""), c.field), vj.out);
            } else {
                BOOST_TEST(false, "verify --json: no region " << name << ": " << vj.out);
            }
            BOOST_TEST((test::read_file(file) == corrupted), "verify changed the region's file");
        }
        BOOST_REQUIRE(test::read_file(file) == pristine);
    }
    const Run v = regiontool({"verify", h, name});
    BOOST_TEST(v.status == 0, v.out << v.err);
}

BOOST_AUTO_TEST_CASE(verify_names_a_corrupt_region_size_of_a_posix_segment) {
    Home home;
    const std::string name = test::unique_name();
    Unlinker guard{home.path(), name};
    const std::string h = home.path().string();
    create(home, name, "posix");
    const RegionInfo info = inspect(home, name);
    BOOST_REQUIRE(!info.segment.empty());
    const fs::path seg = "/dev/shm" + info.segment;
    const std::size_t off = offsetof(RegionHeader, region_size);
    const std::string original = pread_at(seg, off, sizeof(std::uint64_t));
    {
        Restore restore{seg, off, original};
        pwrite_at(seg, off, bytes_of<std::uint64_t>(info.region_size + 1));
        const std::string corrupted = test::read_file(seg);
        const Run v = regiontool({"verify", h, name});
        BOOST_TEST(v.status == 1, "exit " << v.status << ": " << v.out << v.err);
        BOOST_TEST((contains(v.out, "region_size") || contains(v.err, "region_size")), v.out << v.err);
        BOOST_TEST((test::read_file(seg) == corrupted), "verify changed the segment");
    }
    BOOST_TEST(pread_at(seg, off, sizeof(std::uint64_t)) == original);
    const Run v = regiontool({"verify", h, name});
    BOOST_TEST(v.status == 0, v.out << v.err);
}
