// Helpers shared by the unit test binaries (test/unit only): expecting an error in both the
// throwing and the std::error_code form, comparing files byte for byte, poking at header
// fields of a region file through the layout in src/region/header.hpp.
#pragma once

#include <boost/test/unit_test.hpp>

#include "format/header.hpp"
#include "skip.hpp"
#include "test_support.hpp"

#include <shmregion/shmregion.hpp>

#include <fcntl.h>
#include <sys/shm.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace shmregion::unit {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::posix_segments_of;

inline std::error_code code(errc e) { return make_error_code(e); }
inline std::error_code code(std::errc e) { return std::make_error_code(e); }

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

/// Runs fn, which must throw shmregion::Error carrying `want`, with a what() that mentions
/// every string in `mentions`. Returns the Error for further checks (nullopt if none came).
template <class Fn>
std::optional<Error> expect_error(Fn&& fn, std::error_code want, const std::vector<std::string>& mentions) {
    try {
        fn();
    } catch (const Error& e) {
        BOOST_TEST(e.code() == want, "error " << e.code() << " (" << e.code().message() << "), expected "
                                              << want << " (" << want.message() << "); what(): " << e.what());
        for (const auto& m : mentions)
            BOOST_TEST(contains(e.what(), m), "what() \"" << e.what() << "\" does not mention \"" << m << "\"");
        return e;
    } catch (const std::exception& e) {
        BOOST_ERROR("expected shmregion::Error " << want << ", got another exception: " << e.what());
        return std::nullopt;
    }
    BOOST_ERROR("expected shmregion::Error " << want << " (" << want.message() << "), nothing was thrown");
    return std::nullopt;
}

/// The std::error_code form: fn(ec) must set ec to `want`.
template <class Fn>
void expect_ec(Fn&& fn, std::error_code want) {
    std::error_code ec = make_error_code(std::errc::interrupted);  // must be overwritten
    fn(ec);
    BOOST_TEST(ec == want, "error_code " << ec << " (" << ec.message() << "), expected " << want << " ("
                                         << want.message() << ")");
}

/// Region::attach(o) in both forms must fail with `want`; the throwing form's message must
/// mention every string in `mentions`. The non-throwing form must return an empty Region.
inline std::optional<Error> expect_attach_fails(const Options& o, std::error_code want,
                                                const std::vector<std::string>& mentions) {
    auto e = expect_error([&] { Region r = Region::attach(o); }, want, mentions);
    expect_ec(
        [&](std::error_code& ec) {
            Region r = Region::attach(o, ec);
            BOOST_TEST(!r.attached());
            BOOST_TEST(r.data() == nullptr);
        },
        want);
    // The error_code form keeps the message the exception carried.
    if (e) BOOST_TEST(last_error_message() == std::string(e->what()));
    return e;
}

/// inspect(home, name) in both forms must fail with `want`.
inline std::optional<Error> expect_inspect_fails(const fs::path& home, const std::string& name,
                                                 std::error_code want, const std::vector<std::string>& mentions) {
    auto e = expect_error([&] { (void)inspect(home, name); }, want, mentions);
    expect_ec([&](std::error_code& ec) { (void)inspect(home, name, ec); }, want);
    return e;
}

/// "" when equal, else where they first differ.
inline std::string difference(const std::string& before, const std::string& after) {
    if (before == after) return {};
    if (before.size() != after.size())
        return "size changed from " + std::to_string(before.size()) + " to " + std::to_string(after.size());
    for (std::size_t i = 0; i < before.size(); ++i)
        if (before[i] != after[i]) return "first difference at byte " + std::to_string(i);
    return "differs";
}

#define UNIT_CHECK_SAME_BYTES(before, after)                                   \
    do {                                                                       \
        const std::string diff_ = ::shmregion::unit::difference(before, after); \
        BOOST_TEST(diff_.empty(), "bytes changed: " << diff_);                 \
    } while (0)


/// True if the System V segment `id` exists and still has `key`.
inline bool sysv_segment_exists(int id, int key) {
    struct shmid_ds ds {};
    return ::shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == key;
}

/// The whole content of a System V segment.
inline std::string read_sysv_segment(int id) {
    struct shmid_ds ds {};
    if (::shmctl(id, IPC_STAT, &ds) != 0) return {};
    void* p = ::shmat(id, nullptr, SHM_RDONLY);
    if (p == reinterpret_cast<void*>(-1)) return {};
    std::string bytes(static_cast<const char*>(p), ds.shm_segsz);
    ::shmdt(p);
    return bytes;
}

/// Copies a struct out of / into the first bytes of a file image.
template <class T>
T get_struct(const std::string& bytes) {
    T t;
    std::memset(static_cast<void*>(&t), 0, sizeof t);
    std::memcpy(static_cast<void*>(&t), bytes.data(), std::min(bytes.size(), sizeof t));
    return t;
}
template <class T>
void put_struct(std::string& bytes, const T& t) {
    if (bytes.size() < sizeof t) bytes.resize(sizeof t);
    std::memcpy(bytes.data(), static_cast<const void*>(&t), sizeof t);
}

/// Writes `value` at byte `offset` of an existing file, in place (same inode).
template <class T>
void poke(const fs::path& file, off_t offset, const T& value) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "open " << file << ": " << std::strerror(errno));
    const ssize_t n = ::pwrite(fd, &value, sizeof value, offset);
    ::close(fd);
    BOOST_REQUIRE_MESSAGE(n == static_cast<ssize_t>(sizeof value), "pwrite " << file);
}

/// Milliseconds since `start`.
inline long long elapsed_ms(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

inline const char* backing_name(Backing b) { return to_string(b).data(); }

// Holds a shared lock on the presence byte of a region's file, as a live attacher does
// (docs/format.md), so that a joiner knows it is not alone.
struct PresenceWitness {
    explicit PresenceWitness(const fs::path& file) : fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC)) {
        struct flock fl {};
        fl.l_type = F_RDLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = detail::kPresenceLockOffset;
        fl.l_len = 1;
        BOOST_REQUIRE(fd >= 0);
        BOOST_REQUIRE(::fcntl(fd, F_OFD_SETLK, &fl) == 0);
    }
    ~PresenceWitness() { ::close(fd); }
    int fd;
};


/// A file made for one test, in the test home or in /dev/shm (a unique name starting with
/// `stem`; under /dev/shm with "shmregion-" in front, so the leak check sees it), opened
/// read-write and holding `bytes`; removed on destruction.
class TestFile {
public:
    explicit TestFile(const fs::path& dir, const std::string& bytes = {}, const std::string& stem = "iotest-") {
        path_ = dir / test::unique_name(dir == "/dev/shm" ? "shmregion-" + stem : stem);
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        BOOST_REQUIRE_MESSAGE(fd_ >= 0, "open " << path_ << ": " << std::strerror(errno));
        BOOST_REQUIRE(::pwrite(fd_, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
    }
    ~TestFile() {
        if (fd_ >= 0) ::close(fd_);
        ::unlink(path_.c_str());
    }
    TestFile(const TestFile&) = delete;
    TestFile& operator=(const TestFile&) = delete;
    int fd() const noexcept { return fd_; }
    const fs::path& path() const noexcept { return path_; }

private:
    fs::path path_;
    int fd_ = -1;
};

/// The directory a data-driven I/O case runs in: "dev_shm" or the test home.
inline fs::path place_dir(const test::TempHome& home, const std::string& place) {
    return place == "dev_shm" ? fs::path("/dev/shm") : home.path();
}

}  // namespace shmregion::unit
