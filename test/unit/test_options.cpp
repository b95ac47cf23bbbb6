// Bad input refused before anything is created: region names, sizes, option combinations,
// a home directory that is missing or is not a directory.
#define BOOST_TEST_MODULE unit_options
#include "backings.hpp"
#include "unit_helpers.hpp"

#include <sys/stat.h>

#include <sstream>

#include <cstdint>
#include <limits>

using namespace shmregion;
using namespace shmregion::unit;

namespace {

bool dir_empty(const fs::path& p) { return fs::is_empty(p); }

struct BadName {
    std::string name;
    std::string why;  // what the message must say
};

std::vector<BadName> bad_names() {
    return {
        {"", "is empty"},
        {"a/b", "contains '/'"},
        {"/abs", "contains '/'"},
        {"trailing/", "contains '/'"},
        {"..", "begins with '.'"},
        {".", "begins with '.'"},
        {".hidden", "begins with '.'"},
        {std::string("ab\0cd", 5), "contains a NUL byte"},
        {std::string("\0", 1), "contains a NUL byte"},
        {"a\tb", "contains a control character"},
        {"line\nbreak", "contains a control character"},
        {"\x01", "contains a control character"},
        {"del\x7f", "contains a control character"},
        {"esc\x1b[31m", "contains a control character"},
        {std::string(65, 'n'), "65 bytes long"},
        {std::string(1000, 'n'), "1000 bytes long"},
    };
}

}  // namespace

BOOST_AUTO_TEST_CASE(bad_names_are_refused_by_every_backing_and_mode) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::all)) {
        for (OpenMode mode : {OpenMode::create_or_join, OpenMode::create_only, OpenMode::join_only}) {
            if (b == Backing::anonymous && mode == OpenMode::join_only) continue;  // invalid_options
            for (const auto& bad : bad_names()) {
                BOOST_TEST_CONTEXT("backing " << backing_name(b) << ", mode " << static_cast<int>(mode)
                                              << ", name of " << bad.name.size() << " bytes: " << bad.why) {
                    auto o = test::options(home, b);
                    o.name = bad.name;
                    o.mode = mode;
                    auto e = expect_attach_fails(o, code(errc::invalid_name), {"region name", bad.why});
                    if (e) {
                        BOOST_TEST(e->operation() == "attach");
                        BOOST_TEST(e->region() == bad.name);
                        // invalid_name also compares equal to the standard condition.
                        BOOST_TEST((e->code() == std::errc::invalid_argument));
                    }
                }
            }
        }
    }
    BOOST_TEST(dir_empty(home.path()));
}

BOOST_AUTO_TEST_CASE(bad_names_are_refused_by_inspect_and_unlink) {
    test::TempHome home;
    for (const auto& bad : bad_names()) {
        BOOST_TEST_CONTEXT("name of " << bad.name.size() << " bytes: " << bad.why) {
            expect_inspect_fails(home, bad.name, code(errc::invalid_name), {"inspect", bad.why});
            for (Force f : {Force::no, Force::yes}) {
                expect_error([&] { unlink(home, bad.name, f); }, code(errc::invalid_name), {"unlink", bad.why});
                expect_ec([&](std::error_code& ec) { unlink(home, bad.name, f, ec); }, code(errc::invalid_name));
            }
        }
    }
    BOOST_TEST(dir_empty(home.path()));
}

BOOST_AUTO_TEST_CASE(a_name_of_exactly_64_bytes_works) {
    test::TempHome home;
    BOOST_REQUIRE_EQUAL(max_name_length, 64u);
    const std::string tail = test::unique_name("-");
    for (Backing b : test::backings(test::BackingSet::all)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            std::string name = std::string(backing_name(b)) + tail;
            name += std::string(64 - name.size(), 'x');
            BOOST_REQUIRE_EQUAL(name.size(), 64u);
            o.name = name;
            Region r = Region::attach(o);
            BOOST_TEST(r.created());
            BOOST_TEST(r.name() == name);
            static_cast<char*>(r.data())[r.size() - 1] = 'z';
            if (b == Backing::file || b == Backing::posix || b == Backing::sysv) {
                BOOST_TEST(r.file() == region_file(home, name));
                BOOST_TEST(fs::exists(region_file(home, name)));
                auto names = list(home);
                BOOST_TEST((std::find(names.begin(), names.end(), name) != names.end()));
                auto info = inspect(home, name);
                BOOST_TEST(info.name == name);
                BOOST_TEST(info.ref_count == 1u);
                r.detach();
                unlink(home, name);
                BOOST_TEST(!fs::exists(region_file(home, name)));
                BOOST_TEST(posix_segments_of(name).empty());
            } else {
                BOOST_TEST(r.file().empty());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_sizes_are_refused) {
    test::TempHome home;
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    struct BadSize {
        std::uint64_t size, max_size;
        std::string mention;
    };
    const std::vector<BadSize> cases = {
        {0, 0, "size 0"},
        {0, 1 << 20, "size 0"},
        {1ull << 50, 0, "size 1125899906842624"},
        {1ull << 47, 0, "size 140737488355328"},
        {kMax, 0, "size 18446744073709551615"},                // rounding up to a page overflows
        {kMax - 4095, 0, "size 18446744073709547520"},         // ditto
        {64 * 1024, 4096, "max_size 4096 is below size 65536"},
        {64 * 1024, 64 * 1024 - 1, "max_size 65535 is below size 65536"},
        {64 * 1024, 1ull << 50, "max_size 1125899906842624"},
        {64 * 1024, kMax, "max_size 18446744073709551615"},
        {64 * 1024, kMax - 100, "max_size 18446744073709551515"},
    };
    for (Backing b : test::backings(test::BackingSet::all)) {
        for (OpenMode mode : {OpenMode::create_or_join, OpenMode::create_only}) {
            for (const auto& c : cases) {
                BOOST_TEST_CONTEXT("backing " << backing_name(b) << ", mode " << static_cast<int>(mode)
                                              << ", size " << c.size << ", max_size " << c.max_size) {
                    auto o = test::options(home, b, c.size);
                    o.max_size = c.max_size;
                    o.mode = mode;
                    auto e = expect_attach_fails(o, code(errc::invalid_size), {c.mention});
                    if (e) BOOST_TEST(contains(e->what(), "attach '" + o.name + "'"));
                }
            }
        }
    }
    BOOST_TEST(dir_empty(home.path()));
}

BOOST_AUTO_TEST_CASE(join_only_ignores_size) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            auto o = test::options(home, b);
            Region creator = Region::attach(o);
            auto j = o;
            j.mode = OpenMode::join_only;
            j.size = 0;  // would be invalid_size for a creation
            j.max_attachers = 0;  // would be invalid_options for a creation
            Region joiner = Region::attach(j);
            BOOST_TEST(!joiner.created());
            BOOST_TEST(joiner.size() == creator.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(system_v_regions_cannot_grow) {
    test::TempHome home;
    auto o = test::options(home, Backing::sysv, 64 * 1024);
    o.max_size = 128 * 1024;
    auto e = expect_attach_fails(o, code(errc::not_growable), {"System V", "max_size"});
    if (e) BOOST_TEST((e->code() == std::errc::operation_not_supported));
    BOOST_TEST(dir_empty(home.path()));

    // max_size equal to size, or rounding to the same number of pages, is fine.
    for (std::uint64_t max : {std::uint64_t{64 * 1024}, std::uint64_t{64 * 1024 - 100}}) {
        auto ok = test::options(home, Backing::sysv, 64 * 1024 - 200);
        ok.max_size = max;
        Region r = Region::attach(ok);
        BOOST_TEST(r.size() == 64u * 1024u);
        BOOST_TEST(r.max_size() == r.size());
        r.detach();
        unlink(home, ok.name);
    }
}

// Only the nine permission bits: setuid, setgid, sticky and file-type bits are refused
// (0100000 used to become 0000 silently), and nothing is created.
BOOST_AUTO_TEST_CASE(permissions_beyond_0777_are_refused) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::named)) {
        for (::mode_t m : {::mode_t{04600}, ::mode_t{02600}, ::mode_t{01600}, ::mode_t{07777}, ::mode_t{0100000},
                           ::mode_t{0100600}}) {
            BOOST_TEST_CONTEXT("backing " << backing_name(b) << ", permissions 0" << std::oct << m) {
                auto o = test::options(home, b);
                o.permissions = m;
                std::ostringstream text;
                text << "permissions 0" << std::oct << m;
                expect_attach_fails(o, code(errc::invalid_options), {text.str(), "0777"});
                BOOST_TEST(!fs::exists(region_file(home, o.name)));
                BOOST_TEST(test::posix_segments_of(o.name).empty());
            }
        }
        BOOST_TEST_CONTEXT("backing " << backing_name(b) << ", group and other bits") {
            auto o = test::options(home, b);
            o.permissions = 0664;
            Region r = Region::attach(o);
            struct stat st {};
            BOOST_TEST(::stat(region_file(home, o.name).c_str(), &st) == 0);
            BOOST_TEST((st.st_mode & 07777) == 0664u);
            r.mark_for_removal();
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_option_combinations_are_refused) {
    test::TempHome home;
    for (Backing b : test::backings(test::BackingSet::all)) {
        for (std::uint32_t n : {0u, max_attachers_limit + 1, 5000u, 0xffffffffu}) {
            BOOST_TEST_CONTEXT("backing " << backing_name(b) << ", max_attachers " << n) {
                auto o = test::options(home, b);
                o.max_attachers = n;
                auto e = expect_attach_fails(o, code(errc::invalid_options), {"max_attachers " + std::to_string(n)});
                if (e) BOOST_TEST((e->code() == std::errc::invalid_argument));
            }
        }
    }
    for (OpenMode mode : {OpenMode::create_or_join, OpenMode::create_only}) {
        BOOST_TEST_CONTEXT("Backing::any, mode " << static_cast<int>(mode)) {
            auto o = test::options(home, Backing::any);
            o.mode = mode;
            expect_attach_fails(o, code(errc::invalid_options), {"'any'", "join_only"});
        }
    }
    {
        auto o = test::options(home, Backing::anonymous);
        o.mode = OpenMode::join_only;
        expect_attach_fails(o, code(errc::invalid_options), {"anonymous"});
    }
    for (Backing b : test::backings(test::BackingSet::named)) {
        BOOST_TEST_CONTEXT("no home, backing " << backing_name(b)) {
            auto o = test::options("", b);
            expect_attach_fails(o, code(errc::invalid_options), {"no home directory"});
        }
    }
    BOOST_TEST(dir_empty(home.path()));
}

BOOST_AUTO_TEST_CASE(the_largest_attacher_table_works) {
    test::TempHome home;
    auto o = test::options(home, Backing::file, 4096);
    o.max_attachers = max_attachers_limit;
    Region r = Region::attach(o);
    auto info = inspect(home, o.name);
    BOOST_TEST(info.max_attachers == max_attachers_limit);
    BOOST_TEST(info.header_size == detail::header_bytes(max_attachers_limit, 0));
    BOOST_TEST(info.header_size % info.page_size == 0u);
    BOOST_TEST(r.size() == 4096u);
}

// A home that does not exist or is not a directory: the errno of the path lookup, in the
// generic category, with the home's path in the message. Nothing is created anywhere.
BOOST_AUTO_TEST_CASE(home_missing_or_not_a_directory) {
    test::TempHome parent;
    const fs::path missing = parent.path() / "missing";
    const fs::path regular = parent.path() / "regular";
    test::write_file(regular, "not a directory");

    struct Case {
        fs::path home;
        std::errc err;
    };
    for (const Case& c : {Case{missing, std::errc::no_such_file_or_directory}, Case{regular, std::errc::not_a_directory}}) {
        for (Backing b : test::backings(test::BackingSet::named)) {
            for (OpenMode mode : {OpenMode::create_or_join, OpenMode::create_only, OpenMode::join_only}) {
                BOOST_TEST_CONTEXT("home " << c.home << ", backing " << backing_name(b) << ", mode "
                                           << static_cast<int>(mode)) {
                    auto o = test::options(c.home, b);
                    o.mode = mode;
                    auto e = expect_attach_fails(o, code(c.err), {c.home.string()});
                    if (e) {
                        BOOST_TEST((e->code().category() == std::generic_category()));
                        BOOST_TEST(contains(e->detail(), c.home.string()),
                                   "detail() \"" << e->detail() << "\" does not name the home");
                        BOOST_TEST(e->home() == c.home);
                    }
                    BOOST_TEST(posix_segments_of(o.name).empty());
                }
            }
        }
        BOOST_TEST_CONTEXT("home " << c.home) {
            const std::string name = test::unique_name();
            expect_inspect_fails(c.home, name, code(c.err), {c.home.string()});
            expect_error([&] { (void)list(c.home); }, code(c.err), {c.home.string()});
            expect_ec([&](std::error_code& ec) { BOOST_TEST(list(c.home, ec).empty()); }, code(c.err));
            for (Force f : {Force::no, Force::yes}) {
                expect_error([&] { unlink(c.home, name, f); }, code(c.err), {c.home.string()});
                expect_ec([&](std::error_code& ec) { unlink(c.home, name, f, ec); }, code(c.err));
            }
        }
    }
    BOOST_TEST(!fs::exists(missing));
    BOOST_TEST(test::read_file(regular) == "not a directory");
    // Heap and anonymous regions have no file: home is ignored.
    for (Backing b : test::backings(test::BackingSet::unnamed)) {
        auto o = test::options(missing, b);
        Region r = Region::attach(o);
        BOOST_TEST(r.created());
    }
    BOOST_TEST(!fs::exists(missing));
}
