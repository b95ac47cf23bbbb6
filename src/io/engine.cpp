// The engine factory: names, probing, the automatic choice and opening. The only place
// that knows which optional engines this build has (the #if below).
#include "io/engine_impl.hpp"
#include "sys/fork_safety.hpp"

#include "shmregion_config.hpp"
#include "sys/failure.hpp"
#include "sys/os.hpp"
#ifdef SHMREGION_TEST_HOOKS
#include "io/fault.hpp"
#endif

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

SHMREGION_NAMESPACE_BEGIN
namespace io {

int Engine::drain() noexcept {
    int first = 0;
    std::array<Completion, 32> buf;
    while (in_flight_ > 0) {
        int n = reap(buf, 1);
        if (n < 0) return n;
        for (int i = 0; i < n; ++i)
            if (buf[i].result < 0 && first == 0) first = static_cast<int>(buf[i].result);
    }
    return first;
}

std::string_view to_string(EngineKind kind) noexcept {
    switch (kind) {
        case EngineKind::automatic: return "auto";
        case EngineKind::uring: return "uring";
        case EngineKind::libaio: return "libaio";
        case EngineKind::posix: return "posix";
        case EngineKind::sync: return "sync";
    }
    return "unknown";
}

bool parse_engine(std::string_view text, EngineKind& out) noexcept {
    struct Name {
        std::string_view text;
        EngineKind kind;
    };
    static constexpr Name names[] = {
        {"auto", EngineKind::automatic}, {"automatic", EngineKind::automatic}, {"uring", EngineKind::uring},
        {"io_uring", EngineKind::uring}, {"libaio", EngineKind::libaio},       {"posix", EngineKind::posix},
        {"posix_aio", EngineKind::posix}, {"sync", EngineKind::sync},
    };
    for (const auto& n : names)
        if (n.text == text) {
            out = n.kind;
            return true;
        }
    return false;
}

namespace detail {

using shmregion::detail::Failure;
using shmregion::detail::throw_errno;
using shmregion::detail::throw_failure;

int check_request(const Request& r) noexcept {
    switch (r.op) {
        case Op::write:
        case Op::read:
            // An offset that does not fit off_t would reach io_uring as -1: "the file position".
            if (r.length > max_transfer || (r.addr == nullptr && r.length > 0) ||
                r.offset > static_cast<std::uint64_t>(INT64_MAX) - r.length)
                return -EINVAL;
            return 0;
        case Op::fallocate:
            if (r.length == 0 || r.length > static_cast<std::uint64_t>(INT64_MAX) ||
                r.offset > static_cast<std::uint64_t>(INT64_MAX) - r.length)
                return -EINVAL;
            return 0;
        case Op::fsync:
        case Op::fdatasync: return 0;
        case Op::madvise:
            if (r.length > max_madvise || r.addr == nullptr) return -EINVAL;
            return 0;
    }
    return -EINVAL;
}

int check_batch(const Engine& engine, std::span<const Request> batch) noexcept {
    for (const auto& r : batch) {
        if (!engine.supports(r.op)) return -EOPNOTSUPP;
        if (int rc = check_request(r); rc < 0) return rc;
    }
    return 0;
}

std::int64_t run_now(const Request& r) noexcept {
    for (;;) {
        long rc = 0;
        switch (r.op) {
            case Op::write: rc = ::pwrite(r.fd, r.addr, r.length, static_cast<off_t>(r.offset)); break;
            case Op::read: rc = ::pread(r.fd, r.addr, r.length, static_cast<off_t>(r.offset)); break;
            case Op::fallocate:
                rc = ::fallocate(r.fd, r.arg, static_cast<off_t>(r.offset), static_cast<off_t>(r.length));
                break;
            case Op::fsync: rc = ::fsync(r.fd); break;
            case Op::fdatasync: rc = ::fdatasync(r.fd); break;
            case Op::madvise: rc = ::madvise(r.addr, r.length, r.arg); break;
        }
        if (rc >= 0) return rc;
        if (errno != EINTR) return -errno;
    }
}

bool built(EngineKind kind) noexcept {
    switch (kind) {
        case EngineKind::uring: return SHMREGION_HAVE_LIBURING != 0;
        case EngineKind::libaio: return SHMREGION_HAVE_LIBAIO != 0;
        case EngineKind::posix:
        case EngineKind::sync: return true;
        case EngineKind::automatic: return false;
    }
    return false;
}

namespace {

Opened open_kind(EngineKind kind, unsigned depth) {
    switch (kind) {
#if SHMREGION_HAVE_LIBURING
        case EngineKind::uring: return open_uring(depth);
#endif
#if SHMREGION_HAVE_LIBAIO
        case EngineKind::libaio: return open_libaio(depth);
#endif
        case EngineKind::posix: return open_posix_aio(depth);
        case EngineKind::sync: return open_sync(depth);
        default: break;
    }
    Opened o;
    o.err = ENOSYS;
    o.why = kind == EngineKind::uring ? "not built (configure found no liburing; install liburing-dev)"
            : kind == EngineKind::libaio ? "not built (configure found no libaio; install libaio-dev)"
                                         : "not a concrete engine";
    return o;
}

constexpr EngineKind kPreference[] = {EngineKind::uring, EngineKind::libaio, EngineKind::posix, EngineKind::sync};

/// A scratch file for the probe's real request: a memfd, or an unnamed file in /tmp.
int scratch_fd() noexcept {
    int fd = ::memfd_create("shmregion-io-probe", MFD_CLOEXEC);
    if (fd < 0) fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    return fd;
}

/// Opens the engine and runs a write, a read and an fdatasync through it.
ProbeResult probe_one(EngineKind kind) {
    ProbeResult r;
    r.kind = kind;
    r.built = built(kind);
    Opened o = open_kind(kind, 4);
    if (!o.engine) {
        r.detail = o.why;
        return r;
    }
    shmregion::detail::Fd fd(scratch_fd());
    if (!fd) {  // nothing to test with; opening it is the best evidence there is
        r.works = true;
        r.detail = o.what + " (opened; no scratch file for a test request)";
        return r;
    }
    char out[8] = {'s', 'h', 'm', 'r', 'e', 'g', 'n', '!'};
    char in[8] = {};
    const Request reqs[] = {{Op::write, fd.get(), out, sizeof out, 0, 0, 1}};
    const Request reads[] = {{Op::read, fd.get(), in, sizeof in, 0, 0, 2}, {Op::fdatasync, fd.get(), nullptr, 0, 0, 0, 3}};
    auto fail = [&](const char* step, long rc) {
        r.detail = std::string("opened, but a test ") + step + " failed: " +
                   (rc < 0 ? std::strerror(static_cast<int>(-rc)) : "short transfer");
        return r;
    };
    Completion c[2];
    int n = o.engine->submit(reqs);
    if (n != 1) return fail("write", n < 0 ? n : -EIO);
    n = o.engine->reap(std::span<Completion>(c, 1), 1);
    if (n != 1 || c[0].result != sizeof out) return fail("write", n < 0 ? n : c[0].result < 0 ? c[0].result : 0);
    n = o.engine->submit(reads);
    if (n != 2) return fail("read", n < 0 ? n : -EIO);
    if (int rc = o.engine->drain(); rc < 0) return fail("read or fdatasync", rc);
    if (std::memcmp(in, out, sizeof in) != 0) return fail("read", 0);
    r.works = true;
    r.detail = o.what;
    return r;
}

std::string engine_list() { return "uring, libaio, posix, sync or auto"; }

}  // namespace

/// Probe results of this process, one slot per engine, filled on first need. A result is
/// never freed (an older one may still be read by another thread); a fork()ed child, whose
/// seccomp filter or limits may differ, probes again.
struct ProbeCache {
    pid_t pid;
    ProbeResult result;
    ProbeCache* older;
};
std::atomic<ProbeCache*> g_probe_cache[5];  // indexed by EngineKind

Engine& thread_engine(EngineKind kind) {
    struct Cache {
        pid_t pid = 0;
        std::unique_ptr<Engine> engines[5];
    };
    thread_local Cache cache;
    const pid_t self = shmregion::detail::current_pid();
    if (cache.pid != self) {  // a fork()ed child: the parent's rings and contexts are not ours
        for (auto& e : cache.engines) e.reset();
        cache.pid = self;
    }
    auto& slot = cache.engines[static_cast<std::size_t>(kind)];
    if (slot && slot->in_flight() != 0) slot.reset();  // left busy by a failed operation
    if (!slot) slot = open_concrete(kind, 64);
#ifdef SHMREGION_TEST_HOOKS
    return fault::thread_engine_hook(*slot);  // a FaultEngine over it while a test's plan is installed
#else
    return *slot;
#endif
}

const ProbeResult& probe_cached(EngineKind kind) {
    auto& slot = g_probe_cache[static_cast<std::size_t>(kind)];
    const pid_t self = shmregion::detail::current_pid();
    ProbeCache* c = slot.load(std::memory_order_acquire);
    if (c && c->pid == self) return c->result;
    auto* fresh = new ProbeCache{self, probe_one(kind), c};
    if (slot.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) return fresh->result;
    delete fresh;  // another thread published first; c is its result
    return c->result;
}

std::unique_ptr<Engine> open_concrete(EngineKind kind, unsigned depth) {
    if (depth == 0 || depth > 4096)
        throw_failure(errc::invalid_options, {}, "queue depth " + std::to_string(depth) + " is not in 1..4096");
    Opened o = open_kind(kind, depth);
    if (o.engine) return std::move(o.engine);
    if (!built(kind))
        throw_failure(errc::engine_unavailable, {},
                      "I/O engine '" + std::string(to_string(kind)) + "' " + o.why);
    throw Failure{std::error_code(o.err, std::generic_category()), {},
                  "open I/O engine '" + std::string(to_string(kind)) + "': " + o.why};
}

Choice choose_or_throw(EngineKind requested) {
    Choice choice;
    std::string forced_by = "options";
    if (requested == EngineKind::automatic) {
        if (const char* env = std::getenv("SHMREGION_IO_ENGINE"); env && *env) {
            if (!parse_engine(env, requested))
                throw_failure(errc::invalid_options, {},
                              "SHMREGION_IO_ENGINE='" + std::string(env) + "' names no I/O engine (" +
                                  engine_list() + ")");
            forced_by = "SHMREGION_IO_ENGINE=" + std::string(env);
        }
    }
    if (requested != EngineKind::automatic) {
        const ProbeResult& p = probe_cached(requested);
        choice.tried.push_back(p);
        if (!p.works)
            throw_failure(errc::engine_unavailable, {},
                          "I/O engine '" + std::string(to_string(requested)) + "' (forced by " + forced_by +
                              ") cannot run here: " + p.detail);
        choice.engine = requested;
        choice.forced = true;
        choice.reason = "forced by " + forced_by;
        return choice;
    }
    // In order of preference, probing each only when the ones before it failed.
    std::string rejected;
    for (EngineKind k : kPreference) {
        const ProbeResult& p = probe_cached(k);
        choice.tried.push_back(p);
        if (p.works) {
            choice.engine = p.kind;
            choice.reason = rejected.empty() ? "automatic: the first engine, and it works"
                                             : "automatic: " + rejected;
            return choice;
        }
        if (!rejected.empty()) rejected += "; ";
        rejected += std::string(to_string(p.kind)) + " rejected (" + p.detail + ")";
    }
    // The sync engine cannot fail to open; only a failed test request can get here.
    throw_failure(errc::engine_unavailable, {}, "no I/O engine works here: " + rejected);
}

}  // namespace detail

std::vector<ProbeResult> probe() {
    std::vector<ProbeResult> out;
    for (EngineKind k : detail::kPreference) out.push_back(detail::probe_one(k));
    return out;
}

Choice choose(EngineKind requested) {
    return shmregion::detail::entry({"choose I/O engine"}, [&] { return detail::choose_or_throw(requested); });
}

Choice choose(EngineKind requested, std::error_code& ec) noexcept {
    return shmregion::detail::entry({"choose I/O engine"}, ec, [&] { return detail::choose_or_throw(requested); });
}

std::unique_ptr<Engine> open(EngineKind requested, unsigned queue_depth) {
    return shmregion::detail::entry({"open I/O engine"}, [&] {
        return detail::open_concrete(detail::choose_or_throw(requested).engine, queue_depth);
    });
}

std::unique_ptr<Engine> open(EngineKind requested, unsigned queue_depth, std::error_code& ec) noexcept {
    return shmregion::detail::entry({"open I/O engine"}, ec, [&] {
        return detail::open_concrete(detail::choose_or_throw(requested).engine, queue_depth);
    });
}

}  // namespace io
SHMREGION_NAMESPACE_END
