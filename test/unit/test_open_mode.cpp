// OpenMode and Backing semantics, the format of error messages, heap regions, removal on
// last detach, and list().
#define BOOST_TEST_MODULE unit_open_mode
#include "backings.hpp"
#include "io/ops.hpp"
#include "unit_helpers.hpp"

#include <sys/shm.h>

#include <algorithm>
#include <cstddef>

using namespace shmregion;
using namespace shmregion::unit;

namespace {

/// The bytes of the region's file in home (the region for file backing, else the locator).
std::string home_bytes(const fs::path& home, const std::string& name) { return test::read_file(region_file(home, name)); }

/// True if nothing is left of the region: no file, no POSIX segment, no System V segment.
void check_region_gone(const fs::path& home, const std::string& name, const RegionInfo& before) {
    BOOST_TEST(!fs::exists(region_file(home, name)));
    BOOST_TEST(posix_segments_of(name).empty());
    if (before.backing == Backing::sysv) BOOST_TEST(!sysv_segment_exists(before.sysv_id, before.sysv_key));
}

}  // namespace

// ---- OpenMode ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(join_only_on_a_missing_region_creates_nothing) {
    test::TempHome home;
    std::vector<Backing> asked = test::backings(test::BackingSet::named);
    asked.push_back(Backing::any);  // a join that takes whatever backing it finds
    for (Backing b : asked) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            o.mode = OpenMode::join_only;
            auto e = expect_attach_fails(o, code(errc::region_not_found), {region_file(home, o.name).string()});
            if (e) {
                BOOST_TEST(e->file() == region_file(home, o.name));
                BOOST_TEST((e->code() == std::errc::no_such_file_or_directory));
            }
            BOOST_TEST(fs::is_empty(home.path()));
            BOOST_TEST(posix_segments_of(o.name).empty());
        }
    }
    auto o = test::options(home, Backing::heap);
    o.mode = OpenMode::join_only;
    expect_attach_fails(o, code(errc::region_not_found), {"heap region"});
    // ...and a join_only attempt did not leave a heap region behind either.
    o.mode = OpenMode::create_only;
    Region r = Region::attach(o);
    BOOST_TEST(r.created());
}

BOOST_AUTO_TEST_CASE(create_only_on_an_existing_region_fails_and_changes_nothing) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            o.mode = OpenMode::create_only;
            Region first = Region::attach(o);
            BOOST_TEST(first.created());
            std::memset(first.data(), 0x5a, first.size());
            const std::string file_before = home_bytes(home, o.name);
            const auto segments_before = posix_segments_of(o.name);
            BOOST_TEST(segments_before.size() == (b == Backing::posix ? 1u : 0u));

            for (Backing asked : test::backings(test::BackingSet::named)) {
                auto again = o;
                again.backing = asked;
                auto e = expect_attach_fails(again, code(errc::region_exists), {region_file(home, o.name).string()});
                if (e) BOOST_TEST((e->code() == std::errc::file_exists));
            }
            UNIT_CHECK_SAME_BYTES(file_before, home_bytes(home, o.name));
            BOOST_TEST((posix_segments_of(o.name) == segments_before));  // the loser removed its segment
            auto info = inspect(home, o.name);
            BOOST_TEST(info.ref_count == 1u);
            BOOST_TEST(info.attachers.size() == 1u);
            const auto* p = static_cast<const unsigned char*>(first.data());
            BOOST_TEST((std::all_of(p, p + first.size(), [](unsigned char c) { return c == 0x5a; })));
            first.detach();
            unlink(home, o.name);
            check_region_gone(home, o.name, info);
        }
    }
}

BOOST_AUTO_TEST_CASE(create_or_join_joins_and_shares_memory) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region a = Region::attach(o);
            BOOST_TEST(a.created());
            BOOST_TEST((a.backing() == b));
            auto j = o;
            j.size = 4096;  // ignored on join
            Region c = Region::attach(j);
            BOOST_TEST(!c.created());
            BOOST_TEST(c.size() == a.size());
            BOOST_TEST(c.slot() != a.slot());
            static_cast<char*>(a.data())[100] = 'A';
            BOOST_TEST(static_cast<char*>(c.data())[100] == 'A');
            static_cast<char*>(c.data())[c.size() - 1] = 'C';
            BOOST_TEST(static_cast<char*>(a.data())[a.size() - 1] == 'C');
            BOOST_TEST(inspect(home, o.name).ref_count == 2u);
            c.detach();
            BOOST_TEST(inspect(home, o.name).ref_count == 1u);
            BOOST_TEST(!c.attached());
        }
    }
}

BOOST_AUTO_TEST_CASE(another_backing_than_the_region_has_is_a_mismatch) {
    test::TempHome home;
    for (Backing have : test::backings(test::BackingSet::named)) {
        auto o = test::options(home, have);
        Region owner = Region::attach(o);
        static_cast<char*>(owner.data())[0] = 'q';
        const std::string before = home_bytes(home, o.name);
        for (Backing asked : test::backings(test::BackingSet::named)) {
            if (asked == have) continue;
            for (OpenMode mode : {OpenMode::create_or_join, OpenMode::join_only}) {
                BOOST_TEST_CONTEXT("region " << backing_name(have) << ", asked " << backing_name(asked)
                                             << ", mode " << static_cast<int>(mode)) {
                    auto j = o;
                    j.backing = asked;
                    j.mode = mode;
                    auto e = expect_attach_fails(j, code(errc::backing_mismatch),
                                                 {region_file(home, o.name).string(),
                                                  std::string("a ") + backing_name(have) + " region",
                                                  std::string("not the ") + backing_name(asked)});
                    if (e) BOOST_TEST(e->file() == region_file(home, o.name));
                }
            }
        }
        // The region is untouched: same bytes, one attacher.
        UNIT_CHECK_SAME_BYTES(before, home_bytes(home, o.name));
        BOOST_TEST(inspect(home, o.name).ref_count == 1u);
        BOOST_TEST(posix_segments_of(o.name).size() == (have == Backing::posix ? 1u : 0u));

        BOOST_TEST_CONTEXT("Backing::any joins a " << backing_name(have) << " region") {
            auto j = o;
            j.backing = Backing::any;
            j.mode = OpenMode::join_only;
            Region any = Region::attach(j);
            BOOST_TEST(!any.created());
            BOOST_TEST((any.backing() == have));
            BOOST_TEST(static_cast<char*>(any.data())[0] == 'q');
            BOOST_TEST(inspect(home, o.name).ref_count == 2u);
        }
    }
}

// ---- error messages -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(error_messages_name_operation_region_home_and_file) {
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    o.mode = OpenMode::join_only;
    const fs::path file = region_file(home, o.name);
    const std::string prefix = "attach '" + o.name + "' (home " + home.path().string() + "): ";
    auto e = expect_error([&] { Region::attach(o); }, code(errc::region_not_found), {});
    BOOST_REQUIRE(e);
    BOOST_TEST(std::string(e->what()).rfind(prefix, 0) == 0u, "what() is \"" << e->what() << "\"");
    BOOST_TEST(e->what() == prefix + e->detail());
    BOOST_TEST(contains(e->detail(), file.string()));
    BOOST_TEST(e->operation() == "attach");
    BOOST_TEST(e->region() == o.name);
    BOOST_TEST(e->home() == home.path());
    BOOST_TEST(e->file() == file);

    // The other operations say which they were.
    auto ie = expect_error([&] { (void)inspect(home, o.name); }, code(errc::region_not_found), {});
    BOOST_REQUIRE(ie);
    BOOST_TEST(std::string(ie->what()).rfind("inspect '" + o.name + "' (home " + home.path().string() + "): ", 0) == 0u,
               ie->what());
    BOOST_TEST(ie->file() == file);
    auto ue = expect_error([&] { unlink(home, o.name); }, code(errc::region_not_found), {});
    BOOST_REQUIRE(ue);
    BOOST_TEST(std::string(ue->what()).rfind("unlink '" + o.name + "' (home " + home.path().string() + "): ", 0) == 0u,
               ue->what());
    BOOST_TEST(ue->operation() == "unlink");
    BOOST_TEST(ue->file() == file);
    auto fe = expect_error([&] { unlink(home, o.name, Force::yes); }, code(errc::region_not_found), {});
    BOOST_REQUIRE(fe);
    BOOST_TEST(std::string(fe->what()).rfind("unlink --force '" + o.name + "' (home ", 0) == 0u, fe->what());
    BOOST_TEST(fe->file() == file);

    // A library error code has a message of its own and a name for its category.
    BOOST_TEST(code(errc::header_corrupt).category().name() == std::string("shmregion"));
    BOOST_TEST(!code(errc::header_corrupt).message().empty());
    BOOST_TEST(code(errc::header_corrupt).message() != code(errc::bad_magic).message());
}

BOOST_AUTO_TEST_CASE(error_message_of_a_name_with_control_characters_is_whole) {
    // The name is quoted in what(); a NUL or a control character in it must neither cut the
    // message short nor reach a terminal or log raw.
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    o.name = std::string("bad\0name\n\x1b", 10);
    auto e = expect_attach_fails(o, code(errc::invalid_name), {"contains a NUL byte"});
    BOOST_REQUIRE(e);
    const std::string what = e->what();
    BOOST_TEST(what.rfind("attach '", 0) == 0u, what);
    BOOST_TEST((std::none_of(what.begin(), what.end(), [](char c) { return c == '\n' || c == '\x1b'; })), what);
    BOOST_TEST(e->region() == o.name);  // the accessor keeps the exact bytes
}

// ---- heap regions ---------------------------------------------------------------------------

namespace {
const detail::RegionHeader& heap_header(const Region& r, std::uint32_t max_attachers) {
    return *reinterpret_cast<const detail::RegionHeader*>(static_cast<const char*>(r.data()) -
                                                          detail::header_bytes(max_attachers, 0));
}
}  // namespace

BOOST_AUTO_TEST_CASE(heap_regions_of_one_name_share_memory_in_the_process) {
    test::TempHome home;
    auto o = test::options(home, Backing::heap, 3 * 4096);
    Region a = Region::attach(o);
    BOOST_TEST(a.created());
    BOOST_TEST(a.file().empty());
    BOOST_TEST((a.backing() == Backing::heap));
    BOOST_TEST(heap_header(a, o.max_attachers).ref_count == 1u);

    Region b = Region::attach(o);
    BOOST_TEST(!b.created());
    BOOST_TEST(b.data() == a.data());
    BOOST_TEST(heap_header(a, o.max_attachers).ref_count == 2u);
    static_cast<char*>(a.data())[5] = 'h';
    BOOST_TEST(static_cast<char*>(b.data())[5] == 'h');

    auto c = o;
    c.mode = OpenMode::create_only;
    auto e = expect_attach_fails(c, code(errc::region_exists), {"already exists"});
    BOOST_TEST(heap_header(a, o.max_attachers).ref_count == 2u);

    auto j = o;
    j.mode = OpenMode::join_only;
    {
        Region third = Region::attach(j);
        BOOST_TEST(heap_header(a, o.max_attachers).ref_count == 3u);
    }
    BOOST_TEST(heap_header(a, o.max_attachers).ref_count == 2u);

    // Heap regions have nothing in home.
    BOOST_TEST(fs::is_empty(home.path()));
    BOOST_TEST(list(home).empty());

    a.detach();
    BOOST_TEST(heap_header(b, o.max_attachers).ref_count == 1u);
    BOOST_TEST(static_cast<char*>(b.data())[5] == 'h');  // b's memory lives on
    b.detach();

    // After the last detach the name is free: join_only fails, an attach creates afresh.
    expect_attach_fails(j, code(errc::region_not_found), {});
    Region fresh = Region::attach(o);
    BOOST_TEST(fresh.created());
    const auto* p = static_cast<const unsigned char*>(fresh.data());
    BOOST_TEST((std::all_of(p, p + fresh.size(), [](unsigned char ch) { return ch == 0; })));
    BOOST_TEST(heap_header(fresh, o.max_attachers).ref_count == 1u);
}

BOOST_AUTO_TEST_CASE(heap_regions_of_different_names_are_independent) {
    auto o1 = test::options("", Backing::heap);
    auto o2 = test::options("", Backing::heap);
    Region a = Region::attach(o1);
    Region b = Region::attach(o2);
    BOOST_TEST(a.created());
    BOOST_TEST(b.created());
    BOOST_TEST(a.data() != b.data());
    static_cast<char*>(a.data())[0] = 1;
    BOOST_TEST(static_cast<char*>(b.data())[0] == 0);
}

// ---- removal ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(mark_for_removal_then_last_detach_removes_the_region) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region r = Region::attach(o);
            const RegionInfo before = inspect(home, o.name);
            BOOST_TEST(!before.remove_on_last_detach);
            r.mark_for_removal();
            BOOST_TEST(inspect(home, o.name).remove_on_last_detach);
            BOOST_TEST(fs::exists(region_file(home, o.name)));
            r.detach();
            check_region_gone(home, o.name, before);
            BOOST_TEST(list(home).empty());

            // The error_code form does the same.
            Region r2 = Region::attach(o);
            BOOST_TEST(r2.created());
            const RegionInfo before2 = inspect(home, o.name);
            std::error_code ec = make_error_code(std::errc::interrupted);
            r2.mark_for_removal(ec);
            BOOST_TEST(!ec);
            r2.detach(ec);
            BOOST_TEST(!ec);
            check_region_gone(home, o.name, before2);
        }
    }
}

BOOST_AUTO_TEST_CASE(remove_on_last_detach_option_removes_the_region) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            o.remove_on_last_detach = true;
            Region r = Region::attach(o);
            const RegionInfo before = inspect(home, o.name);
            BOOST_TEST(before.remove_on_last_detach);
            r.detach();
            check_region_gone(home, o.name, before);
        }
    }
    // Heap: the name is gone at once too.
    auto h = test::options(home, Backing::heap);
    h.remove_on_last_detach = true;
    {
        Region r = Region::attach(h);
        static_cast<char*>(r.data())[0] = 7;
    }
    Region again = Region::attach(h);
    BOOST_TEST(again.created());
    BOOST_TEST(static_cast<char*>(again.data())[0] == 0);
}

// The option is a policy, not an unlink: others still join until the last one detaches.
BOOST_AUTO_TEST_CASE(remove_on_last_detach_option_still_lets_others_join) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            o.remove_on_last_detach = true;
            Region first = Region::attach(o);
            auto plain = o;
            plain.remove_on_last_detach = false;
            Region second = Region::attach(plain);
            BOOST_TEST(!second.created());
            const RegionInfo info = inspect(home, o.name);
            BOOST_TEST(info.remove_on_last_detach);
            BOOST_TEST(!info.unlink_requested);
            BOOST_TEST(info.ref_count == 2u);
            unlink(home, o.name);  // a gentle unlink of such a region works too
            BOOST_TEST(inspect(home, o.name).unlink_requested);
            first.detach();
            BOOST_TEST(fs::exists(region_file(home, o.name)));
            second.detach();
            check_region_gone(home, o.name, info);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_region_marked_for_removal_cannot_be_joined) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region first = Region::attach(o);
            Region second = Region::attach(o);
            const RegionInfo before = inspect(home, o.name);
            second.mark_for_removal();
            auto t0 = std::chrono::steady_clock::now();
            auto j = o;
            j.mode = OpenMode::join_only;
            expect_attach_fails(j, code(errc::marked_for_removal),
                                {region_file(home, o.name).string(), "marked for removal"});
            auto any = o;
            any.backing = Backing::any;
            any.mode = OpenMode::join_only;
            expect_attach_fails(any, code(errc::marked_for_removal), {});
            BOOST_TEST(elapsed_ms(t0) < 2000, "join_only must refuse a marked region without waiting");
            // create_or_join waits for the removal up to its join timeout; with both still
            // attached it does not come, and the answer is the same.
            auto c = o;
            c.join_timeout = std::chrono::milliseconds(100);
            expect_attach_fails(c, code(errc::marked_for_removal),
                                {region_file(home, o.name).string(), "marked for removal"});
            BOOST_TEST(inspect(home, o.name).ref_count == 2u);

            second.detach();
            BOOST_TEST(fs::exists(region_file(home, o.name)));  // first is still attached
            BOOST_TEST(static_cast<char*>(first.data())[0] == 0);
            first.detach();
            check_region_gone(home, o.name, before);

            // The name is free again.
            Region next = Region::attach(o);
            BOOST_TEST(next.created());
        }
    }
}

BOOST_AUTO_TEST_CASE(gentle_unlink_waits_for_the_last_attacher) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region r = Region::attach(o);
            const RegionInfo before = inspect(home, o.name);
            unlink(home, o.name);
            BOOST_TEST(fs::exists(region_file(home, o.name)));
            BOOST_TEST(inspect(home, o.name).remove_on_last_detach);
            BOOST_TEST(inspect(home, o.name).ref_count == 1u);
            r.detach();
            check_region_gone(home, o.name, before);
            expect_ec([&](std::error_code& ec) { unlink(home, o.name, Force::no, ec); }, code(errc::region_not_found));
        }
    }
}

BOOST_AUTO_TEST_CASE(force_unlink_removes_at_once_while_attached) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region r = Region::attach(o);
            const RegionInfo before = inspect(home, o.name);
            unlink(home, o.name, Force::yes);
            check_region_gone(home, o.name, before);
            // The attacher keeps its memory.
            static_cast<char*>(r.data())[1] = 'k';
            BOOST_TEST(static_cast<char*>(r.data())[1] == 'k');
            r.detach();
            // A new region of the same name is a new one.
            Region n = Region::attach(o);
            BOOST_TEST(n.created());
        }
    }
}

// ---- list -------------------------------------------------------------------------------------

// read_bytes and io::prefault_async have error_code forms like every other call.
BOOST_AUTO_TEST_CASE(read_bytes_and_prefault_async_have_error_code_forms) {
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    Region r = Region::attach(o);
    std::memcpy(r.data(), "abcdef", 6);
    std::error_code ec = make_error_code(std::errc::interrupted);
    const auto bytes = read_bytes(home, o.name, 1, 4, ec);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(std::string(bytes.begin(), bytes.end()) == "bcde");
    const auto none = read_bytes(home, o.name, r.size(), 1, ec);  // beyond the region
    BOOST_TEST((ec == code(errc::invalid_size)), ec.message());
    BOOST_TEST(none.empty());
    (void)read_bytes(home, "no-such-region", 0, 1, ec);
    BOOST_TEST((ec == code(errc::region_not_found)), ec.message());

    ec = make_error_code(std::errc::interrupted);
    io::PrefaultHandle h = io::prefault_async(r.data(), r.size(), {}, nullptr, ec);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(h.valid());
    h.wait(ec);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(std::memcmp(r.data(), "abcdef", 6) == 0, "prefault changed the bytes");
    r.mark_for_removal();
}

BOOST_AUTO_TEST_CASE(list_returns_region_names_sorted) {
    test::TempHome home;
    BOOST_TEST(list(home).empty());
    std::vector<Region> regions;
    const std::vector<std::string> names = {"zeta", "alpha", "Mid", "m2", "m10", "b.region"};
    const std::vector<Backing> rotate = test::backings(test::BackingSet::named);
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto o = test::options(home, rotate[i % rotate.size()], 4096);
        o.name = names[i];
        regions.push_back(Region::attach(o));
    }
    // Things that are not regions.
    test::write_file(home.path() / "notes.txt", "x");
    test::write_file(home.path() / "region", "x");
    test::write_file(home.path() / ".region", "x");
    test::write_file(home.path() / ".hidden.region", "x");
    test::write_file(home.path() / "zeta.region.bak", "x");
    test::write_file(home.path() / "almost.regio", "x");
    fs::create_directory(home.path() / "subdir");
    // Heap regions have no file and are not listed.
    auto h = test::options(home, Backing::heap);
    regions.push_back(Region::attach(h));

    std::vector<std::string> want = names;
    std::sort(want.begin(), want.end());
    auto got = list(home);
    BOOST_TEST(got == want, boost::test_tools::per_element());
    std::error_code ec = make_error_code(std::errc::interrupted);
    BOOST_TEST(list(home, ec) == want, boost::test_tools::per_element());
    BOOST_TEST(!ec);
}

// Files of the wrong owner: a region file or segment of another user is refused (unless
// the caller opts in), and a forced unlink does not remove a segment that belongs to
// someone other than the locator's owner. Needs root to give files away (CI runs as root).
BOOST_AUTO_TEST_CASE(files_of_another_user_are_refused, *boost::unit_test::label("needs_root")) {
    if (::geteuid() != 0) SHMREGION_SKIP("needs root to chown test files");
    const uid_t stranger = 54321;
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region::attach(o).detach();
            const fs::path file = region_file(home, o.name);
            BOOST_REQUIRE(::chown(file.c_str(), stranger, static_cast<gid_t>(-1)) == 0);
            const std::string before = test::read_file(file);
            expect_attach_fails(o, code(errc::wrong_owner), {file.string(), "54321"});
            UNIT_CHECK_SAME_BYTES(before, test::read_file(file));
            auto shared = o;
            shared.require_same_owner = false;
            {
                Region r = Region::attach(shared);
                BOOST_TEST(!r.created());
            }
            // That attach was allowed to write: it took slot 0 again, which bumps the slot's
            // generation (kept when the slot is freed). For a file region that is the only
            // field it may leave changed; the refusals below are compared with what it left.
            const std::string joined = test::read_file(file);
            if (b == Backing::file) {
                constexpr std::size_t gen = detail::kSlotTableOffset + offsetof(detail::AttacherSlot, generation);
                std::string masked = joined;
                masked.replace(gen, sizeof(std::uint32_t), before, gen, sizeof(std::uint32_t));
                UNIT_CHECK_SAME_BYTES(before, masked);
            } else {
                UNIT_CHECK_SAME_BYTES(before, joined);  // a locator: the attach writes only the segment
            }
            if (b != Backing::file) {
                // A locator of the stranger's that names our segment: not removed by force.
                const RegionInfo info = inspect(home, o.name);
                std::error_code ec;
                unlink(home, o.name, Force::yes, ec);
                BOOST_TEST((ec == code(errc::wrong_owner)), ec.message());
                BOOST_TEST(fs::exists(file));
                if (b == Backing::posix) BOOST_TEST(fs::exists("/dev/shm" + info.segment));
                // Give it back, and the segment's owner check on attach: the segment is ours,
                // the file a stranger's -> refused above; now the reverse for posix.
                BOOST_REQUIRE(::chown(file.c_str(), 0, static_cast<gid_t>(-1)) == 0);
                if (b == Backing::posix) {
                    BOOST_REQUIRE(::chown(("/dev/shm" + info.segment).c_str(), stranger, static_cast<gid_t>(-1)) == 0);
                    expect_attach_fails(o, code(errc::wrong_owner), {"segment", "54321"});
                    BOOST_REQUIRE(::chown(("/dev/shm" + info.segment).c_str(), 0, static_cast<gid_t>(-1)) == 0);
                }
                if (b == Backing::sysv) {  // the same through IPC_SET: the owner from the one IPC_STAT
                    auto set_owner = [&](uid_t uid) {
                        struct shmid_ds ds {};
                        BOOST_REQUIRE(::shmctl(info.sysv_id, IPC_STAT, &ds) == 0);
                        ds.shm_perm.uid = uid;
                        BOOST_REQUIRE(::shmctl(info.sysv_id, IPC_SET, &ds) == 0);
                    };
                    set_owner(stranger);
                    expect_attach_fails(o, code(errc::wrong_owner), {"segment", "54321"});
                    set_owner(0);
                    Region::attach(o).detach();
                }
            }
            // One owner rule for every removal, root included: a region file of another
            // user is removed only when the caller says so.
            if (b == Backing::file) {
                std::error_code ec;
                unlink(home, o.name, Force::yes, ec);
                BOOST_TEST((ec == code(errc::wrong_owner)), ec.message());
                BOOST_TEST(!remove_unused(home, o.name, ec));
                BOOST_TEST((ec == code(errc::wrong_owner)), ec.message());
                RemoveOptions gentle;
                unlink(home, o.name, gentle, ec);
                BOOST_TEST((ec == code(errc::wrong_owner)), ec.message());
                UNIT_CHECK_SAME_BYTES(joined, test::read_file(file));
                RemoveOptions any_owner;
                any_owner.force = Force::yes;
                any_owner.require_same_owner = false;
                unlink(home, o.name, any_owner);
            } else {
                unlink(home, o.name, Force::yes);
            }
            BOOST_TEST(!fs::exists(file));
        }
    }
}

// Gentle unlink of another user's region, with the owner check waived: it attaches as
// require_same_owner = false would, marks and detaches.
BOOST_AUTO_TEST_CASE(gentle_unlink_of_another_users_region_when_asked, *boost::unit_test::label("needs_root")) {
    if (::geteuid() != 0) SHMREGION_SKIP("needs root to chown test files");
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    Region::attach(o).detach();
    const fs::path file = region_file(home, o.name);
    BOOST_REQUIRE(::chown(file.c_str(), 54321, static_cast<gid_t>(-1)) == 0);
    RemoveOptions how;
    how.require_same_owner = false;
    unlink(home, o.name, how);
    BOOST_TEST(!fs::exists(file));
}
