// POSIX and System V regions: the file in home is a 256-byte locator. A corrupt locator, a
// locator whose segment is gone, and a corrupt segment header are errors that change
// nothing; a forced unlink cleans up after a lost segment.
#define BOOST_TEST_MODULE unit_locator
#include "backings.hpp"
#include "unit_helpers.hpp"

#include <fcntl.h>

#include <sys/mman.h>

#include <functional>

using namespace shmregion;
using namespace shmregion::unit;
using detail::Locator;
using detail::RegionHeader;

namespace {

/// A POSIX or System V region made and left (detached) in a fresh home.
struct Made {
    test::TempHome home;
    Options o;
    fs::path file;
    std::string locator;  // the locator's bytes
    RegionInfo info;

    explicit Made(Backing b) {
        o = test::options(home, b);
        o.join_timeout = 200ms;
        {
            Region r = Region::attach(o);
            BOOST_REQUIRE(r.created());
            std::memset(r.data(), 0x3c, r.size());
        }
        file = region_file(home, o.name);
        locator = test::read_file(file);
        BOOST_REQUIRE_EQUAL(locator.size(), sizeof(Locator));
        info = inspect(home, o.name);
    }

    /// The segment's bytes (the region, header included).
    std::string segment_bytes() const {
        if (o.backing == Backing::posix) return test::read_file(posix_path());
        return read_sysv_segment(info.sysv_id);
    }
    fs::path posix_path() const { return "/dev/shm" + info.segment; }
    bool segment_exists() const {
        if (o.backing == Backing::posix) return fs::exists(posix_path());
        return sysv_segment_exists(info.sysv_id, info.sysv_key);
    }
    /// Removes the segment behind the region's back (a reboot, RemoveIPC), leaving the locator.
    void drop_segment() const {
        if (o.backing == Backing::posix)
            BOOST_REQUIRE(::shm_unlink(info.segment.c_str()) == 0);
        else
            BOOST_REQUIRE(::shmctl(info.sysv_id, IPC_RMID, nullptr) == 0);
        BOOST_REQUIRE(!segment_exists());
    }
    /// Puts the original locator back and removes everything.
    void restore_and_remove() {
        test::write_file(file, locator);
        unlink(home, o.name, Force::yes);
        BOOST_TEST(!fs::exists(file));
        BOOST_TEST(!segment_exists());
    }
};

struct LocatorCorruption {
    std::string what;
    std::function<void(std::string&)> mutate;
    errc code;
    std::string mention;
};

/// Changes fields and seals the locator again (a fresh checksum), so the field's own check
/// is what answers: a forged locator can carry a right checksum.
std::function<void(std::string&)> loc_fields(std::function<void(Locator&)> f) {
    return [f](std::string& bytes) {
        auto l = get_struct<Locator>(bytes);
        f(l);
        l.checksum = detail::locator_checksum(l);
        put_struct(bytes, l);
    };
}

/// Changes fields and leaves the checksum as it was: what a flipped bit on disk does.
std::function<void(std::string&)> loc_damage(std::function<void(Locator&)> f) {
    return [f](std::string& bytes) {
        auto l = get_struct<Locator>(bytes);
        f(l);
        put_struct(bytes, l);
    };
}

std::vector<LocatorCorruption> locator_corruptions(Backing b) {
    std::vector<LocatorCorruption> v = {
        {"magic flipped", [](std::string& s) { s[0] = static_cast<char>(s[0] ^ 1); }, errc::bad_magic, "'magic'"},
        {"magic zero", loc_fields([](Locator& l) { std::memset(l.magic, 0, sizeof l.magic); }), errc::bad_magic, "'magic'"},
        {"version + 1", loc_fields([](Locator& l) { l.version = detail::kLayoutVersion + 1; }), errc::version_mismatch, "'version'"},
        {"version 0", loc_fields([](Locator& l) { l.version = 0; }), errc::version_mismatch, "'version'"},
        {"backing file", loc_fields([](Locator& l) { l.backing = static_cast<std::uint32_t>(Backing::file); }),
         errc::header_corrupt, "'locator.backing'"},
        {"backing heap", loc_fields([](Locator& l) { l.backing = static_cast<std::uint32_t>(Backing::heap); }),
         errc::header_corrupt, "'locator.backing'"},
        {"backing 99", loc_fields([](Locator& l) { l.backing = 99; }), errc::header_corrupt, "'locator.backing'"},
        {"segment not NUL-terminated", loc_fields([](Locator& l) { std::memset(l.segment, 'x', sizeof l.segment); }),
         errc::header_corrupt, "'locator.segment'"},
        {"truncated to 255 bytes", [](std::string& s) { s.resize(255); }, errc::size_mismatch, "truncated"},
        {"truncated to 100 bytes", [](std::string& s) { s.resize(100); }, errc::size_mismatch, "truncated"},
        {"truncated to the magic", [](std::string& s) { s.resize(8); }, errc::size_mismatch, "truncated"},
        {"truncated to 3 bytes", [](std::string& s) { s.resize(3); }, errc::bad_magic, "too short"},
        {"empty", [](std::string& s) { s.clear(); }, errc::bad_magic, "too short"},
        // Damage the checksum sees: no field check could tell these from a real locator,
        // and a plain join would take the locator for an orphan and remove it.
        {"size flipped", loc_damage([](Locator& l) { l.size_at_creation ^= 1u << 12; }), errc::header_corrupt,
         "'locator.checksum'"},
        {"checksum wrong", loc_damage([](Locator& l) { l.checksum ^= 0x100; }), errc::header_corrupt,
         "'locator.checksum'"},
    };
    if (b == Backing::posix) {
        v.push_back({"segment name without '/'", loc_fields([](Locator& l) { l.segment[0] = 'x'; }), errc::header_corrupt,
                     "'locator.segment'"});
        v.push_back({"segment name empty", loc_fields([](Locator& l) { std::memset(l.segment, 0, sizeof l.segment); }),
                     errc::header_corrupt, "'locator.segment'"});
        v.push_back({"a byte of the segment's hex flipped",
                     loc_damage([](Locator& l) { l.segment[std::strlen(l.segment) - 1] ^= 0x01; }),
                     errc::header_corrupt, "'locator.checksum'"});
        v.push_back({"a byte of the segment's region name flipped",
                     loc_damage([](Locator& l) { l.segment[std::strlen("/shmregion.")] ^= 0x02; }),
                     errc::header_corrupt, "'locator.checksum'"});
        // Sealed again (a checksum that fits), but naming another region's segment: a
        // locator is only ever made for its own region's segment.
        v.push_back({"segment of another region",
                     loc_fields([](Locator& l) { l.segment[std::strlen("/shmregion.")] ^= 0x02; }),
                     errc::header_corrupt, "not a segment of region"});
        v.push_back({"claims System V without an id",
                     loc_fields([](Locator& l) { l.backing = static_cast<std::uint32_t>(Backing::sysv); }),
                     errc::header_corrupt, "'locator.sysv_id'"});
    } else {
        v.push_back({"sysv_id negative", loc_fields([](Locator& l) { l.sysv_id = -1; }), errc::header_corrupt,
                     "'locator.sysv_id'"});
        v.push_back({"sysv_id flipped", loc_damage([](Locator& l) { l.sysv_id ^= 1; }), errc::header_corrupt,
                     "'locator.checksum'"});
        v.push_back({"sysv_key flipped", loc_damage([](Locator& l) { l.sysv_key ^= 1 << 20; }), errc::header_corrupt,
                     "'locator.checksum'"});
        v.push_back({"claims POSIX without a segment name",
                     loc_fields([](Locator& l) { l.backing = static_cast<std::uint32_t>(Backing::posix); }),
                     errc::header_corrupt, "'locator.segment'"});
    }
    return v;
}

void check_all_operations_fail(const Made& m, errc want, const std::vector<std::string>& mentions) {
    for (OpenMode mode : {OpenMode::join_only, OpenMode::create_or_join}) {
        for (Backing b : {m.o.backing, Backing::any}) {
            if (b == Backing::any && mode != OpenMode::join_only) continue;
            BOOST_TEST_CONTEXT("attach, backing " << backing_name(b) << ", mode " << static_cast<int>(mode)) {
                auto o = m.o;
                o.mode = mode;
                o.backing = b;
                auto e = expect_attach_fails(o, code(want), mentions);
                if (e) BOOST_TEST(e->file() == m.file);
            }
        }
    }
    BOOST_TEST_CONTEXT("inspect") { expect_inspect_fails(m.home, m.o.name, code(want), mentions); }
    BOOST_TEST_CONTEXT("unlink") {
        expect_error([&] { unlink(m.home, m.o.name); }, code(want), mentions);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(corrupt_locators_are_refused_and_left_unchanged) {
    for (Backing b : test::backings(test::BackingSet::shm)) {
        Made m(b);
        const std::string segment_before = m.segment_bytes();
        BOOST_REQUIRE(!segment_before.empty());
        for (const auto& c : locator_corruptions(b)) {
            BOOST_TEST_CONTEXT("backing " << backing_name(b) << ", locator corruption: " << c.what) {
                std::string corrupt = m.locator;
                c.mutate(corrupt);
                BOOST_REQUIRE(corrupt != m.locator);
                test::write_file(m.file, corrupt);
                check_all_operations_fail(m, c.code, {m.file.string(), c.mention});
                // A forced unlink needs a readable locator: it leaves this one alone.
                BOOST_TEST_CONTEXT("unlink --force") {
                    expect_error([&] { unlink(m.home, m.o.name, Force::yes); }, code(c.code),
                                 {"unlink --force", m.file.string(), c.mention});
                }
                UNIT_CHECK_SAME_BYTES(corrupt, test::read_file(m.file));
                BOOST_TEST(m.segment_exists());
                UNIT_CHECK_SAME_BYTES(segment_before, m.segment_bytes());
            }
        }
        // Put back, the locator works again.
        test::write_file(m.file, m.locator);
        {
            auto o = m.o;
            o.mode = OpenMode::join_only;
            Region r = Region::attach(o);
            BOOST_TEST(static_cast<unsigned char*>(r.data())[0] == 0x3c);
        }
        m.restore_and_remove();
    }
}

BOOST_AUTO_TEST_CASE(a_locator_whose_segment_is_gone) {
    for (Backing b : test::backings(test::BackingSet::shm)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            Made m(b);
            m.drop_segment();
            {
                // Someone is attached: the segment may be on its way (a removal in
                // progress), so joiners wait, then report it; nothing is touched.
                PresenceWitness attached(m.file);
                for (OpenMode mode : {OpenMode::join_only, OpenMode::create_or_join}) {
                    BOOST_TEST_CONTEXT("mode " << static_cast<int>(mode)) {
                        auto o = m.o;
                        o.mode = mode;
                        o.join_timeout = 200ms;
                        const auto t0 = std::chrono::steady_clock::now();
                        auto e = expect_error([&] { Region::attach(o); }, code(errc::segment_missing),
                                              {m.file.string(), b == Backing::posix ? m.info.segment : "System V segment"});
                        const auto waited = elapsed_ms(t0);
                        BOOST_TEST(waited >= 200, "gave up after " << waited << " ms, before the join timeout");
                        BOOST_TEST(waited < 3000);
                        if (e) BOOST_TEST(e->file() == m.file);
                        expect_ec([&](std::error_code& ec) { Region::attach(o, ec); }, code(errc::segment_missing));
                    }
                }
                expect_inspect_fails(m.home, m.o.name, code(errc::segment_missing), {m.file.string()});
                UNIT_CHECK_SAME_BYTES(m.locator, test::read_file(m.file));
                BOOST_TEST(!m.segment_exists());  // nothing was recreated
                BOOST_TEST(posix_segments_of(m.o.name).empty());
            }
            // Nobody attached: an orphan locator (a reboot, RemoveIPC, a crashed remover)
            // holds nothing that could be lost, so a joiner clears it.
            {
                auto o = m.o;
                o.mode = OpenMode::join_only;
                expect_attach_fails(o, code(errc::region_not_found), {m.file.string()});
            }
            BOOST_TEST(!fs::exists(m.file));
            BOOST_TEST(list(m.home).empty());
            Region r = Region::attach(m.o);  // ...and the name can be created afresh
            BOOST_TEST(r.created());
        }
    }
}

// A forced unlink removes an orphan locator too (a missing segment is not an error).
BOOST_AUTO_TEST_CASE(force_unlink_of_an_orphan_locator) {
    for (Backing b : test::backings(test::BackingSet::shm)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            Made m(b);
            m.drop_segment();
            std::error_code ec = make_error_code(std::errc::interrupted);
            unlink(m.home, m.o.name, Force::yes, ec);
            BOOST_TEST(!ec, ec.message());
            BOOST_TEST(!fs::exists(m.file));
            BOOST_TEST(list(m.home).empty());
        }
    }
}

namespace {

/// Flips the first byte of the segment's header in place.
void flip_segment_magic(const Made& m) {
    if (m.o.backing == Backing::posix) {
        int fd = ::open(m.posix_path().c_str(), O_RDWR | O_CLOEXEC);
        BOOST_REQUIRE(fd >= 0);
        char c = 0;
        BOOST_REQUIRE(::pread(fd, &c, 1, 0) == 1);
        c = static_cast<char>(c ^ 0x40);
        BOOST_REQUIRE(::pwrite(fd, &c, 1, 0) == 1);
        ::close(fd);
    } else {
        void* p = ::shmat(m.info.sysv_id, nullptr, 0);
        BOOST_REQUIRE(p != reinterpret_cast<void*>(-1));
        static_cast<char*>(p)[0] = static_cast<char>(static_cast<char*>(p)[0] ^ 0x40);
        ::shmdt(p);
    }
}

void write_segment_header(const Made& m, const RegionHeader& h) {
    if (m.o.backing == Backing::posix) {
        int fd = ::open(m.posix_path().c_str(), O_RDWR | O_CLOEXEC);
        BOOST_REQUIRE(fd >= 0);
        BOOST_REQUIRE(::pwrite(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h));
        ::close(fd);
    } else {
        void* p = ::shmat(m.info.sysv_id, nullptr, 0);
        BOOST_REQUIRE(p != reinterpret_cast<void*>(-1));
        std::memcpy(p, &h, sizeof h);
        ::shmdt(p);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_corrupt_segment_header_is_refused_and_left_unchanged) {
    for (Backing b : test::backings(test::BackingSet::shm)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            Made m(b);
            flip_segment_magic(m);
            const std::string corrupt = m.segment_bytes();
            check_all_operations_fail(m, errc::bad_magic, {m.file.string(), "'magic'"});
            UNIT_CHECK_SAME_BYTES(corrupt, m.segment_bytes());
            UNIT_CHECK_SAME_BYTES(m.locator, test::read_file(m.file));
            m.restore_and_remove();
        }
    }
}

BOOST_AUTO_TEST_CASE(a_segment_header_that_disagrees_with_its_locator) {
    for (Backing b : test::backings(test::BackingSet::shm)) {
        BOOST_TEST_CONTEXT("backing " << backing_name(b)) {
            Made m(b);
            const std::string pristine = m.segment_bytes();
            auto h = get_struct<RegionHeader>(pristine);
            std::string mention;
            std::string where = m.file.string();
            if (b == Backing::posix) {
                std::strcpy(h.segment, "/shmregion.someone-else.0123456789abcdef");
                mention = "field 'segment'";
                where = m.info.segment;  // the message names the segment and the locator file
            } else {
                h.sysv_id += 1;
                mention = "field 'sysv_id'";
            }
            write_segment_header(m, h);
            const std::string corrupt = m.segment_bytes();
            {
                auto o = m.o;
                o.mode = OpenMode::join_only;
                auto e = expect_attach_fails(o, code(errc::header_corrupt), {where, mention});
                if (e) BOOST_TEST(e->file() == m.file);
            }
            expect_inspect_fails(m.home, m.o.name, code(errc::header_corrupt), {where, mention});
            UNIT_CHECK_SAME_BYTES(corrupt, m.segment_bytes());
            m.restore_and_remove();
        }
    }
}

BOOST_AUTO_TEST_CASE(a_truncated_posix_segment_is_a_size_mismatch) {
    Made m(Backing::posix);
    int fd = ::open(m.posix_path().c_str(), O_RDWR | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::ftruncate(fd, static_cast<off_t>(m.info.region_size - 4096)) == 0);
    ::close(fd);
    const std::string truncated = m.segment_bytes();
    check_all_operations_fail(m, errc::size_mismatch, {m.file.string(), "'region_size'"});
    UNIT_CHECK_SAME_BYTES(truncated, m.segment_bytes());
    // Shorter than a header.
    fd = ::open(m.posix_path().c_str(), O_RDWR | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::ftruncate(fd, 512) == 0);
    ::close(fd);
    check_all_operations_fail(m, errc::size_mismatch, {m.file.string(), "less than a header"});
    BOOST_TEST(m.segment_bytes().size() == 512u);
    m.restore_and_remove();
}
