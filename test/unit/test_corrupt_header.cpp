// Corrupt and foreign region files (file backing: the file is the region, its header at
// offset 0). Every corruption is an error with the documented code and a message naming
// the file and the field, from attach (every mode), inspect and unlink, and the file is
// byte-for-byte unchanged afterwards. Also: a creator that never set `valid`, and one
// that sets it late.
#define BOOST_TEST_MODULE unit_corrupt_header
#include "child_check.hpp"
#include "unit_helpers.hpp"

#include <fcntl.h>

// g++ 12 with -fsanitize=address,undefined warns that xrange's iterator "may be used
// uninitialized" inside Boost's own header (a false positive); -Werror would stop the build.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#pragma GCC diagnostic pop

#include <functional>
#include <limits>
#include <random>
#include <thread>

using namespace shmregion;
using namespace shmregion::unit;
using detail::RegionHeader;
namespace bdata = boost::unit_test::data;

// A named namespace, not an anonymous one: the data test case's template would otherwise
// hold a type with internal linkage (g++ -Wsubobject-linkage).
namespace corrupt_header_test {

constexpr std::uint64_t kSize = 64 * 1024;
constexpr std::uint64_t kMaxSize = 256 * 1024;

std::uint64_t page() { return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)); }

/// A file region made and left (detached) in a fresh home; its bytes and header saved.
struct Pristine {
    test::TempHome home;
    Options o;
    fs::path file;
    std::string bytes;
    RegionHeader h{};

    Pristine() {
        o = test::options(home, Backing::file, kSize);
        o.max_size = kMaxSize;  // growable: region_size can be raised below the ceiling
        o.join_timeout = 300ms;
        {
            Region r = Region::attach(o);
            BOOST_REQUIRE(r.created());
            std::memset(r.data(), 0xa5, r.size());
        }
        file = region_file(home, o.name);
        bytes = test::read_file(file);
        h = get_struct<RegionHeader>(bytes);
        BOOST_REQUIRE_EQUAL(h.valid, detail::kValidReady);
        BOOST_REQUIRE_EQUAL(h.ref_count, 0u);
        BOOST_REQUIRE_EQUAL(bytes.size(), h.region_size);
    }
};

struct Corruption {
    std::string what;
    std::function<void(std::string& bytes, const RegionHeader& pristine)> mutate;
    errc code;
    /// The message must mention at least one of these (usually the field, quoted).
    std::vector<std::string> any_of;
};

/// A corruption of header fields.
std::function<void(std::string&, const RegionHeader&)> fields(std::function<void(RegionHeader&)> f) {
    return [f](std::string& bytes, const RegionHeader&) {
        auto h = get_struct<RegionHeader>(bytes);
        f(h);
        put_struct(bytes, h);
    };
}

std::function<void(std::string&, const RegionHeader&)> truncate_to(std::function<std::size_t(const RegionHeader&)> n) {
    return [n](std::string& bytes, const RegionHeader& h) { bytes.resize(n(h)); };
}

const std::vector<Corruption>& corruptions() {
    static const std::vector<Corruption> all = [] {
        const std::uint64_t ps = page();
        std::vector<Corruption> v = {
            // magic
            {"magic: one byte flipped", [](std::string& b, const RegionHeader&) { b[3] = static_cast<char>(b[3] ^ 0x20); },
             errc::bad_magic, {"'magic'"}},
            {"magic: all zero", fields([](RegionHeader& h) { std::memset(h.magic, 0, sizeof h.magic); }),
             errc::bad_magic, {"'magic'"}},
            {"magic: the locator's magic on a region", fields([](RegionHeader& h) {
                 std::memcpy(h.magic, detail::kLocatorMagic, sizeof h.magic);
             }),
             errc::header_corrupt, {"'locator.backing'"}},
            // version and layout
            {"version + 1", fields([](RegionHeader& h) { h.version = detail::kLayoutVersion + 1; }), errc::version_mismatch, {"'version'"}},
            {"version 0", fields([](RegionHeader& h) { h.version = 0; }), errc::version_mismatch, {"'version'"}},
            {"version byte-swapped", fields([](RegionHeader& h) { h.version = __builtin_bswap32(detail::kLayoutVersion); }),
             errc::version_mismatch, {"'version'"}},
            {"layout: another mutex size", fields([](RegionHeader& h) { h.layout = detail::kLayoutWord + (8u << 8); }),
             errc::layout_mismatch, {"'layout'"}},
            {"layout: another pointer size", fields([](RegionHeader& h) { h.layout = (detail::kLayoutWord & ~0xffu) | 4u; }),
             errc::layout_mismatch, {"'layout'"}},
            {"layout byte-swapped", fields([](RegionHeader& h) { h.layout = __builtin_bswap32(detail::kLayoutWord); }),
             errc::layout_mismatch, {"'layout'"}},
            {"page_size twice the real one", fields([ps](RegionHeader& h) { h.page_size = static_cast<std::uint32_t>(2 * ps); }),
             errc::layout_mismatch, {"'page_size'"}},
            {"page_size 0", fields([](RegionHeader& h) { h.page_size = 0; }), errc::layout_mismatch, {"'page_size'"}},
            {"page_size 1", fields([](RegionHeader& h) { h.page_size = 1; }), errc::layout_mismatch, {"'page_size'"}},
            // header_size, max_attachers, ref_count
            {"header_size one page more", fields([ps](RegionHeader& h) { h.header_size += static_cast<std::uint32_t>(ps); }),
             errc::header_corrupt, {"'header_size'"}},
            {"header_size 0", fields([](RegionHeader& h) { h.header_size = 0; }), errc::header_corrupt, {"'header_size'"}},
            {"header_size not a page multiple", fields([](RegionHeader& h) { h.header_size -= 1; }),
             errc::header_corrupt, {"'header_size'"}},
            {"max_attachers 0", fields([](RegionHeader& h) { h.max_attachers = 0; }), errc::header_corrupt, {"'max_attachers'"}},
            {"max_attachers above the limit", fields([](RegionHeader& h) { h.max_attachers = max_attachers_limit + 1; }),
             errc::header_corrupt, {"'max_attachers'"}},
            {"max_attachers 0xffffffff", fields([](RegionHeader& h) { h.max_attachers = 0xffffffffu; }),
             errc::header_corrupt, {"'max_attachers'"}},
            {"max_attachers disagrees with header_size", fields([](RegionHeader& h) { h.max_attachers = 4096; }),
             errc::header_corrupt, {"'header_size'", "'max_attachers'"}},
            {"lock_count above the limit", fields([](RegionHeader& h) { h.lock_count = max_locks_limit + 1; }),
             errc::header_corrupt, {"'lock_count'"}},
            {"lock_count disagrees with header_size", fields([](RegionHeader& h) { h.lock_count = 1024; }),
             errc::header_corrupt, {"'header_size'"}},
            {"ref_count above max_attachers", fields([](RegionHeader& h) { h.ref_count = h.max_attachers + 1; }),
             errc::header_corrupt, {"'ref_count'"}},
            {"ref_count 0xffffffff", fields([](RegionHeader& h) { h.ref_count = 0xffffffffu; }),
             errc::header_corrupt, {"'ref_count'"}},
            // backing
            {"backing 0 (any)", fields([](RegionHeader& h) { h.backing = 0; }), errc::header_corrupt, {"'backing'"}},
            {"backing 99", fields([](RegionHeader& h) { h.backing = 99; }), errc::header_corrupt, {"'backing'"}},
            {"backing 0xffffffff", fields([](RegionHeader& h) { h.backing = 0xffffffffu; }), errc::header_corrupt, {"'backing'"}},
            {"backing anonymous in a file", fields([](RegionHeader& h) { h.backing = static_cast<std::uint32_t>(Backing::anonymous); }),
             errc::header_corrupt, {"'backing'"}},
            {"backing heap in a file", fields([](RegionHeader& h) { h.backing = static_cast<std::uint32_t>(Backing::heap); }),
             errc::header_corrupt, {"'backing'"}},
            {"backing posix in a file", fields([](RegionHeader& h) { h.backing = static_cast<std::uint32_t>(Backing::posix); }),
             errc::header_corrupt, {"'backing'", "'segment'"}},
            {"backing posix in a file, with a segment name", fields([](RegionHeader& h) {
                 h.backing = static_cast<std::uint32_t>(Backing::posix);
                 std::strcpy(h.segment, "/shmregion.not-this-one.0000000000000000");
             }),
             errc::header_corrupt, {"'backing'", "'segment'"}},
            {"backing sysv in a growable file region", fields([](RegionHeader& h) { h.backing = static_cast<std::uint32_t>(Backing::sysv); }),
             errc::header_corrupt, {"'backing'", "'max_region_size'"}},
            {"backing sysv in a file region of fixed size", fields([](RegionHeader& h) {
                 h.backing = static_cast<std::uint32_t>(Backing::sysv);
                 h.max_region_size = h.region_size;
             }),
             errc::header_corrupt, {"'backing'"}},
            // valid and flags
            {"valid holds an unknown value", fields([](RegionHeader& h) { h.valid = 12345; }), errc::header_corrupt, {"'valid'"}},
            {"valid 0xffffffff", fields([](RegionHeader& h) { h.valid = 0xffffffffu; }), errc::header_corrupt, {"'valid'"}},
            {"valid byte-swapped", fields([](RegionHeader& h) { h.valid = __builtin_bswap32(detail::kValidReady); }),
             errc::header_corrupt, {"'valid'"}},
            {"flags with an unknown bit", fields([](RegionHeader& h) { h.flags |= 1u << 5; }), errc::header_corrupt, {"'flags'"}},
            {"flags with the top bit", fields([](RegionHeader& h) { h.flags |= 1u << 31; }), errc::header_corrupt, {"'flags'"}},
            // sizes
            {"region_size not a page multiple (+1)", fields([](RegionHeader& h) { h.region_size += 1; }),
             errc::header_corrupt, {"'region_size'"}},
            {"region_size not a page multiple (-1)", fields([](RegionHeader& h) { h.region_size -= 1; }),
             errc::header_corrupt, {"'region_size'"}},
            {"region_size 0", fields([](RegionHeader& h) { h.region_size = 0; }), errc::header_corrupt, {"'region_size'"}},
            {"region_size equal to header_size", fields([](RegionHeader& h) { h.region_size = h.header_size; }),
             errc::header_corrupt, {"'region_size'"}},
            {"region_size one page larger than the file", fields([ps](RegionHeader& h) { h.region_size += ps; }),
             errc::size_mismatch, {"'region_size'"}},
            {"region_size at the ceiling, beyond the file", fields([](RegionHeader& h) { h.region_size = h.max_region_size; }),
             errc::size_mismatch, {"'region_size'"}},
            {"region_size above max_region_size", fields([ps](RegionHeader& h) { h.region_size = h.max_region_size + ps; }),
             errc::header_corrupt, {"'region_size'"}},
            {"region_size 2^60", fields([](RegionHeader& h) { h.region_size = 1ull << 60; }),
             errc::header_corrupt, {"'region_size'"}},
            {"max_region_size below region_size", fields([ps](RegionHeader& h) { h.max_region_size = h.region_size - ps; }),
             errc::header_corrupt, {"'region_size'", "'max_region_size'"}},
            {"max_region_size not a page multiple", fields([](RegionHeader& h) { h.max_region_size += 1; }),
             errc::header_corrupt, {"'max_region_size'"}},
            {"max_region_size 2^50", fields([](RegionHeader& h) { h.max_region_size = 1ull << 50; }),
             errc::header_corrupt, {"'max_region_size'"}},
            {"max_region_size 2^64 - page", fields([ps](RegionHeader& h) { h.max_region_size = 0 - ps; }),
             errc::header_corrupt, {"'max_region_size'"}},
            {"max_region_size UINT64_MAX", fields([](RegionHeader& h) { h.max_region_size = std::numeric_limits<std::uint64_t>::max(); }),
             errc::header_corrupt, {"'max_region_size'"}},
            // strings
            {"segment not NUL-terminated", fields([](RegionHeader& h) { std::memset(h.segment, 'S', sizeof h.segment); }),
             errc::header_corrupt, {"'segment'"}},
            {"origin not NUL-terminated", fields([](RegionHeader& h) { std::memset(h.origin, 'O', sizeof h.origin); }),
             errc::header_corrupt, {"'origin'"}},
            // the file itself
            {"truncated by a page", truncate_to([ps](const RegionHeader& h) { return h.region_size - ps; }),
             errc::size_mismatch, {"'region_size'"}},
            {"truncated to the header's first page", truncate_to([ps](const RegionHeader&) { return ps; }),
             errc::size_mismatch, {"'region_size'"}},
            {"truncated to the header struct", truncate_to([](const RegionHeader&) { return sizeof(RegionHeader); }),
             errc::size_mismatch, {"'region_size'"}},
            {"truncated inside the header struct", truncate_to([](const RegionHeader&) { return sizeof(RegionHeader) - 1; }),
             errc::size_mismatch, {"less than a header"}},
            {"truncated to 100 bytes", truncate_to([](const RegionHeader&) { return 100; }), errc::size_mismatch,
             {"less than a header"}},
            {"truncated to 8 bytes (just the magic)", truncate_to([](const RegionHeader&) { return 8; }),
             errc::size_mismatch, {"less than a header"}},
            {"truncated to 7 bytes", truncate_to([](const RegionHeader&) { return 7; }), errc::bad_magic, {"too short"}},
            {"truncated to 1 byte", truncate_to([](const RegionHeader&) { return 1; }), errc::bad_magic, {"too short"}},
            {"empty", truncate_to([](const RegionHeader&) { return 0; }), errc::bad_magic, {"too short"}},
            {"random bytes", [](std::string& b, const RegionHeader&) {
                 std::mt19937_64 rng(20240601);
                 for (char& c : b) c = static_cast<char>(rng());
             },
             errc::bad_magic, {"'magic'"}},
            {"zeros", [](std::string& b, const RegionHeader&) { std::fill(b.begin(), b.end(), '\0'); },
             errc::bad_magic, {"'magic'"}},
            {"text", [](std::string& b, const RegionHeader&) { b = "hello, I am not a region\n"; }, errc::bad_magic, {"'magic'"}},
        };
        return v;
    }();
    return all;
}

void check_message(const std::optional<Error>& e, const fs::path& file, const Corruption& c) {
    if (!e) return;
    BOOST_TEST(e->file() == file);
    BOOST_TEST(contains(e->detail(), file.string()), "detail() \"" << e->detail() << "\" does not name the file");
    BOOST_TEST((std::any_of(c.any_of.begin(), c.any_of.end(), [&](const std::string& m) { return contains(e->what(), m); })),
               "what() \"" << e->what() << "\" mentions none of the expected words, e.g. " << c.any_of.front());
}

}  // namespace corrupt_header_test

using namespace corrupt_header_test;

BOOST_DATA_TEST_CASE(corrupt_region_file_is_refused_and_left_unchanged, bdata::xrange(corruptions().size()), index) {
    const Corruption& c = corruptions()[index];
    BOOST_TEST_CONTEXT("corruption: " << c.what) {
        Pristine p;
        std::string corrupt = p.bytes;
        c.mutate(corrupt, p.h);
        BOOST_REQUIRE(corrupt != p.bytes);
        test::write_file(p.file, corrupt);
        BOOST_REQUIRE(test::read_file(p.file) == corrupt);

        for (OpenMode mode : {OpenMode::join_only, OpenMode::create_or_join}) {
            for (Backing b : {Backing::file, Backing::any}) {
                if (b == Backing::any && mode != OpenMode::join_only) continue;
                BOOST_TEST_CONTEXT("attach, backing " << backing_name(b) << ", mode " << static_cast<int>(mode)) {
                    auto o = p.o;
                    o.mode = mode;
                    o.backing = b;
                    o.join_timeout = 2000ms;  // retrying until the timeout would take >= 4 s
                    const auto t0 = std::chrono::steady_clock::now();
                    auto e = expect_attach_fails(o, code(c.code), {"attach '" + o.name + "'"});
                    check_message(e, p.file, c);
                    BOOST_TEST(elapsed_ms(t0) < 1500, "a corrupt header must be refused at once, not retried");
                }
            }
        }
        BOOST_TEST_CONTEXT("inspect") {
            auto e = expect_inspect_fails(p.home, p.o.name, code(c.code), {"inspect '" + p.o.name + "'"});
            check_message(e, p.file, c);
        }
        BOOST_TEST_CONTEXT("unlink without force") {
            auto e = expect_error([&] { unlink(p.home, p.o.name); }, code(c.code), {"unlink '" + p.o.name + "'"});
            check_message(e, p.file, c);
        }
        UNIT_CHECK_SAME_BYTES(corrupt, test::read_file(p.file));
        auto names = list(p.home);
        BOOST_TEST((names == std::vector<std::string>{p.o.name}));
    }
}

// A forced unlink reads only the magic: it removes a corrupt region of ours, and leaves a
// file that is not ours alone.
BOOST_AUTO_TEST_CASE(force_unlink_removes_a_corrupt_region_but_not_a_foreign_file) {
    {
        Pristine p;
        auto h = p.h;
        h.region_size = 12345;
        h.ref_count = 77777;
        std::string corrupt = p.bytes;
        put_struct(corrupt, h);
        test::write_file(p.file, corrupt);
        unlink(p.home, p.o.name, Force::yes);
        BOOST_TEST(!fs::exists(p.file));
    }
    {
        Pristine p;
        const std::string foreign = "GIF89a: some other program's file";
        test::write_file(p.file, foreign);
        auto e = expect_error([&] { unlink(p.home, p.o.name, Force::yes); }, code(errc::bad_magic),
                              {"unlink --force", p.file.string()});
        expect_ec([&](std::error_code& ec) { unlink(p.home, p.o.name, Force::yes, ec); }, code(errc::bad_magic));
        BOOST_TEST(test::read_file(p.file) == foreign);
    }
}

BOOST_AUTO_TEST_CASE(a_directory_in_place_of_the_region_file) {
    Pristine p;
    fs::remove(p.file);
    fs::create_directory(p.file);
    test::write_file(p.file / "inside", "keep me");
    for (OpenMode mode : {OpenMode::join_only, OpenMode::create_or_join}) {
        BOOST_TEST_CONTEXT("mode " << static_cast<int>(mode)) {
            auto o = p.o;
            o.mode = mode;
            std::error_code ec;
            Region r = Region::attach(o, ec);
            BOOST_TEST(!r.attached());
            BOOST_TEST((ec == code(errc::bad_magic)), "attach of a directory: " << ec.message());
            auto e = expect_error([&] { Region::attach(o); }, code(errc::bad_magic),
                                  {p.file.string(), "not a regular file"});
        }
    }
    {
        auto o = p.o;
        o.mode = OpenMode::create_only;
        expect_attach_fails(o, code(errc::region_exists), {p.file.string()});
    }
    expect_inspect_fails(p.home, p.o.name, code(errc::bad_magic), {p.file.string(), "not a regular file"});
    std::error_code ec;
    unlink(p.home, p.o.name, Force::yes, ec);
    BOOST_TEST(ec, "force unlink of a directory succeeded");
    BOOST_TEST(fs::is_directory(p.file));
    BOOST_TEST(test::read_file(p.file / "inside") == "keep me");
}

BOOST_AUTO_TEST_CASE(a_symlink_in_place_of_the_region_file_is_not_followed) {
    Pristine p;
    test::TempHome elsewhere;
    const fs::path target = elsewhere.path() / "target.bin";
    fs::rename(p.file, target);
    fs::create_symlink(target, p.file);
    auto o = p.o;
    o.mode = OpenMode::join_only;
    auto e = expect_attach_fails(o, code(std::errc::too_many_symbolic_link_levels), {p.file.string()});
    expect_inspect_fails(p.home, p.o.name, code(std::errc::too_many_symbolic_link_levels), {p.file.string()});
    UNIT_CHECK_SAME_BYTES(p.bytes, test::read_file(target));
    fs::remove(p.file);
}

// ---- valid ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_creator_that_never_finished_times_out_as_header_incomplete) {
    Pristine p;
    auto h = p.h;
    h.valid = detail::kValidInitialising;
    std::string unfinished = p.bytes;
    put_struct(unfinished, h);
    test::write_file(p.file, unfinished);

    for (OpenMode mode : {OpenMode::join_only, OpenMode::create_or_join}) {
        BOOST_TEST_CONTEXT("mode " << static_cast<int>(mode)) {
            auto o = p.o;
            o.mode = mode;
            o.join_timeout = 200ms;
            auto t0 = std::chrono::steady_clock::now();
            auto e = expect_error([&] { Region::attach(o); }, code(errc::header_incomplete),
                                  {p.file.string(), "'valid'"});
            const auto waited = elapsed_ms(t0);
            BOOST_TEST(waited >= 200, "gave up after " << waited << " ms, before the join timeout");
            BOOST_TEST(waited < 3000, "waited " << waited << " ms for a 200 ms timeout");
            if (e) BOOST_TEST(e->file() == p.file);
            t0 = std::chrono::steady_clock::now();
            expect_ec([&](std::error_code& ec) { Region::attach(o, ec); }, code(errc::header_incomplete));
            BOOST_TEST(elapsed_ms(t0) >= 200);
        }
    }
    // inspect reports it without an error.
    for (int form = 0; form < 2; ++form) {
        RegionInfo info;
        if (form == 0) {
            info = inspect(p.home, p.o.name);
        } else {
            std::error_code ec = make_error_code(std::errc::interrupted);
            info = inspect(p.home, p.o.name, ec);
            BOOST_TEST(!ec);
        }
        BOOST_TEST(!info.valid);
        BOOST_TEST(info.size == kSize);
        BOOST_TEST(info.max_size == kMaxSize);
        BOOST_TEST(info.ref_count == 0u);
        BOOST_TEST((info.backing == Backing::file));
    }
    UNIT_CHECK_SAME_BYTES(unfinished, test::read_file(p.file));
}

BOOST_AUTO_TEST_CASE(a_late_creator_is_waited_for) {
    Pristine p;
    auto h = p.h;
    h.valid = detail::kValidInitialising;
    std::string unfinished = p.bytes;
    put_struct(unfinished, h);
    test::write_file(p.file, unfinished);

    const fs::path file = p.file;
    const std::uint32_t ready = p.h.valid;
    test::Signal started;
    const pid_t child = test::spawn([&]() -> int {
        started.notify();
        std::this_thread::sleep_for(100ms);
        int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
        CHILD_CHECK(fd >= 0, 1);
        const bool ok = ::pwrite(fd, &ready, sizeof ready, offsetof(RegionHeader, valid)) == sizeof ready;
        ::close(fd);
        CHILD_CHECK(ok, 2);
        return 0;
    });
    BOOST_REQUIRE(started.wait());
    auto o = p.o;
    o.mode = OpenMode::join_only;
    o.join_timeout = 5000ms;
    const auto t0 = std::chrono::steady_clock::now();
    Region r = Region::attach(o);
    const auto waited = elapsed_ms(t0);
    BOOST_TEST(test::wait_exit(child) == 0);
    BOOST_TEST(r.attached());
    BOOST_TEST(!r.created());
    BOOST_TEST(waited >= 50, "joined after " << waited << " ms, before the creator finished");
    BOOST_TEST(waited < 4000);
    BOOST_TEST(r.size() == kSize);
    BOOST_TEST(static_cast<unsigned char*>(r.data())[0] == 0xa5);
    BOOST_TEST(inspect(p.home, p.o.name).ref_count == 1u);
}

BOOST_AUTO_TEST_CASE(a_region_being_removed_is_retried_then_reported) {
    // valid == "DEAD": a remover is at work; joiners start over until it is gone. If it never
    // goes, the join fails at its timeout with marked_for_removal.
    Pristine p;
    auto h = p.h;
    h.valid = detail::kValidRemoved;
    std::string dead = p.bytes;
    put_struct(dead, h);
    test::write_file(p.file, dead);
    auto o = p.o;
    o.join_timeout = 200ms;
    {
        // While someone is attached (it holds the presence byte, docs/format.md), the
        // remover may still be at work: joiners wait, then report it; nothing is touched.
        PresenceWitness attached(p.file);
        const auto t0 = std::chrono::steady_clock::now();
        expect_attach_fails(o, code(errc::marked_for_removal), {p.file.string()});
        BOOST_TEST(elapsed_ms(t0) >= 400);  // two attempts of 200 ms each
        RegionInfo info = inspect(p.home, p.o.name);
        BOOST_TEST(!info.valid);
        UNIT_CHECK_SAME_BYTES(dead, test::read_file(p.file));
    }
    // Nobody attached: its remover died half-way; the joiner finishes the removal and,
    // asked to create or join, creates afresh.
    Region r = Region::attach(o);
    BOOST_TEST(r.created());
    BOOST_TEST(inspect(p.home, p.o.name).valid);
}
