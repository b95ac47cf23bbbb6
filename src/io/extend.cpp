// Extension and flush through an engine.
//
// Extension must make the new space real: fallocate allocates every block (a full disk or
// a full /dev/shm is ENOSPC now, never a SIGBUS at a later page fault). One fallocate for
// the whole range: the file system serialises allocation per inode anyway, so splitting it
// gains nothing. Where the file system has no fallocate (EOPNOTSUPP), zeros are written in
// 1 MiB requests kept in flight together. Any failure cuts the file back to its old size.
#include "io/engine_impl.hpp"

#include "sys/failure.hpp"
#ifdef SHMREGION_TEST_HOOKS
#include "io/fault.hpp"
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

SHMREGION_NAMESPACE_BEGIN
namespace io {
namespace detail {
namespace {

using shmregion::detail::throw_errno;
using shmregion::detail::Failure;
using shmregion::detail::throw_failure;

constexpr std::uint64_t kZeroChunk = 1u << 20;

std::string range(std::uint64_t from, std::uint64_t to) {
    return std::to_string(to - from) + " bytes at offset " + std::to_string(from) + " of";
}

/// Runs one request through the engine (or directly where the engine lacks the
/// operation) and waits for it. 0 or -errno; `stranded` is set if the engine failed while
/// the request was in flight (it may still run later).
int run_one(Engine& engine, const Request& r, bool& stranded) {
    if (!engine.supports(r.op)) {
        std::int64_t done = 0;
#ifdef SHMREGION_TEST_HOOKS
        if (!fault::direct_request_hook(engine, r, done))  // a test's plan sees it too
#endif
            done = run_now(r);
        return static_cast<int>(std::min<std::int64_t>(done, 0));
    }
    int rc = engine.submit(std::span<const Request>(&r, 1));
    if (rc < 0) return rc;
    if (rc == 0) return -EAGAIN;
    Completion c;
    int n;
    do n = engine.reap(std::span<Completion>(&c, 1), 1);
    while (n == 0);
    if (n < 0) {
        stranded = true;
        return n;
    }
    return c.result < 0 ? static_cast<int>(c.result) : 0;
}

/// Writes zeros over [from, to), up to the engine's capacity (at most 16) in flight.
/// 0 or -errno (a short write is retried for the rest). Never returns with writes in flight
/// unless the engine itself failed (`stranded`): then the buffer is left allocated for them.
int write_zeros(Engine& engine, int fd, std::uint64_t from, std::uint64_t to, bool& stranded) {
    struct Free {
        void operator()(void* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<void, Free> zeros(std::aligned_alloc(4096, kZeroChunk));
    if (!zeros) return -ENOMEM;
    std::memset(zeros.get(), 0, kZeroChunk);
    const std::size_t window = std::min<std::size_t>(engine.capacity(), 16);
    // Each request's user_data is its offset; a short write resubmits the rest.
    std::uint64_t next = from;
    int error = 0;
    std::array<Completion, 16> done;
    auto request_at = [&](std::uint64_t off, std::uint64_t len) {
        return Request{Op::write, fd, zeros.get(), len, off, 0, off};
    };
    std::array<Request, 16> pending;
    std::size_t npending = 0;
    while ((next < to && error == 0) || engine.in_flight() > 0 || npending > 0) {
        while (error == 0 && next < to && npending + engine.in_flight() < window) {
            std::uint64_t len = std::min(kZeroChunk - next % kZeroChunk, to - next);
            pending[npending++] = request_at(next, len);
            next += len;
        }
        if (npending > 0 && error == 0) {
            int rc = engine.submit(std::span<const Request>(pending.data(), npending));
            if (rc < 0 && engine.in_flight() == 0) return rc;
            std::size_t started = rc > 0 ? static_cast<std::size_t>(rc) : 0;
            std::move(pending.begin() + static_cast<std::ptrdiff_t>(started),
                      pending.begin() + static_cast<std::ptrdiff_t>(npending), pending.begin());
            npending -= started;
        } else if (error != 0) {
            npending = 0;
        }
        if (engine.in_flight() == 0) continue;
        int n = engine.reap(done, 1);
        if (n < 0) {
            stranded = true;
            (void)zeros.release();  // the writes still in flight read it
            return n;
        }
        for (int i = 0; i < n; ++i) {
            const std::uint64_t off = done[i].user_data;
            const std::int64_t res = done[i].result;
            if (res < 0) {
                if (error == 0) error = static_cast<int>(res);
                continue;
            }
            const std::uint64_t len = std::min(kZeroChunk - off % kZeroChunk, to - off);
            if (res == 0 && error == 0) error = -EIO;  // no progress: give up rather than spin
            else if (static_cast<std::uint64_t>(res) < len && error == 0 && npending < pending.size())
                pending[npending++] = request_at(off + static_cast<std::uint64_t>(res),
                                                 len - static_cast<std::uint64_t>(res));
        }
    }
    return error;
}

}  // namespace

void extend_or_throw(Engine& engine, int fd, std::uint64_t from, std::uint64_t to,
                     const std::filesystem::path& what, ExtendMethod method) {
    if (to == from) return;
    if (to < from)
        throw_failure(errc::invalid_size, what,
                      "extend " + what.string() + " to " + std::to_string(to) + " bytes: below its size " +
                          std::to_string(from) + " (extension never shrinks)");
    if (to > static_cast<std::uint64_t>(INT64_MAX))
        throw_errno(EFBIG, "extend to " + std::to_string(to) + " bytes:", what);
    if (engine.in_flight() != 0)
        throw_errno(EBUSY, "extend: the I/O engine has requests of its own in flight; extending", what);
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno(errno, "fstat", what);
    if (static_cast<std::uint64_t>(st.st_size) != from)
        throw_failure(errc::size_mismatch, what,
                      "extend " + what.string() + " from " + std::to_string(from) + " bytes: it is " +
                          std::to_string(st.st_size) + " bytes (was it changed without the region lock?)");
    int rc = -EOPNOTSUPP;
    bool stranded = false;
    std::string how = "fallocate";
    if (method != ExtendMethod::zero_writes)
        rc = run_one(engine, Request{Op::fallocate, fd, nullptr, to - from, from, 0, 0}, stranded);
    if (rc == -EOPNOTSUPP && method != ExtendMethod::fallocate && !stranded) {
        how = "write zeros:";
        rc = write_zeros(engine, fd, from, to, stranded);
        // Written is not allocated on every file system (NFS and FUSE report a full disk at
        // writeback): the space is real once the data is.
        if (rc == 0) {
            how = "fdatasync after writing zeros:";
            rc = run_one(engine, Request{Op::fdatasync, fd, nullptr, 0, 0, 0, 0}, stranded);
        }
    }
    if (rc == 0) return;
    std::string message = how + " " + range(from, to) + " " + what.string() + ": " + std::strerror(-rc);
    if (stranded) {
        // Requests may still land: cutting the file now could be undone by them.
        message += "; the I/O engine failed with requests in flight, so the file was not cut back to " +
                   std::to_string(from) + " bytes";
    } else {
        // Give back whatever part was allocated or written: the file ends where it did.
        int cut;
        while ((cut = ::ftruncate(fd, static_cast<off_t>(from))) != 0 && errno == EINTR) {
        }
        if (cut != 0)
            message += "; cutting it back to " + std::to_string(from) + " bytes failed too: " + std::strerror(errno);
    }
    throw Failure{std::error_code(-rc, std::generic_category()), what, std::move(message)};
}

void flush_or_throw(Engine& engine, int fd, const std::filesystem::path& what, bool data_only) {
    if (engine.in_flight() != 0)
        throw_errno(EBUSY, "flush: the I/O engine has requests of its own in flight; flushing", what);
    bool stranded = false;
    int rc = run_one(engine, Request{data_only ? Op::fdatasync : Op::fsync, fd, nullptr, 0, 0, 0, 0}, stranded);
    if (rc < 0) throw_errno(-rc, data_only ? "fdatasync" : "fsync", what);
}

}  // namespace detail

void extend(Engine& engine, int fd, std::uint64_t from, std::uint64_t to, const std::filesystem::path& what,
            ExtendMethod method) {
    shmregion::detail::entry({"extend"}, [&] { detail::extend_or_throw(engine, fd, from, to, what, method); });
}

void extend(Engine& engine, int fd, std::uint64_t from, std::uint64_t to, const std::filesystem::path& what,
            ExtendMethod method, std::error_code& ec) noexcept {
    shmregion::detail::entry({"extend"}, ec, [&] { detail::extend_or_throw(engine, fd, from, to, what, method); });
}

void flush(Engine& engine, int fd, const std::filesystem::path& what, bool data_only) {
    shmregion::detail::entry({"flush"}, [&] { detail::flush_or_throw(engine, fd, what, data_only); });
}

void flush(Engine& engine, int fd, const std::filesystem::path& what, bool data_only, std::error_code& ec) noexcept {
    shmregion::detail::entry({"flush"}, ec, [&] { detail::flush_or_throw(engine, fd, what, data_only); });
}

}  // namespace io
SHMREGION_NAMESPACE_END
