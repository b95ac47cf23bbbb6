// The POSIX AIO engine: every request of a batch is started with aio_write, aio_read or
// aio_fsync (O_SYNC / O_DSYNC); completions are found with aio_error/aio_return, waiting in
// aio_suspend. Not lio_listio: glibc's is the same per-request loop under the same lock, and
// an entry it fails to queue keeps a zero status that reads as "done, 0 bytes"; one call per
// request tells exactly which failed. glibc runs the requests on a pool of its own threads
// (requests on one descriptor one after the other), so this works wherever threads do, but
// costs a thread hand-off per request. No fallocate, no madvise.
#include "io/engine_impl.hpp"
#include "sys/fork_safety.hpp"

#include "sys/os.hpp"

#include <aio.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <new>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

SHMREGION_NAMESPACE_BEGIN
namespace io::detail {
namespace {

/// POSIX AIO requests of this process started and not yet reaped (every engine).
std::atomic<long> g_requests_in_flight{0};
/// A process fork()ed with requests in flight (see below), and one whose test request hung
/// (see open_posix_aio): neither can run POSIX AIO.
std::atomic<pid_t> g_forked_busy_pid{0};
std::atomic<pid_t> g_hung_pid{0};

/// fork() while requests are queued or running: the child inherits glibc's queues (and its
/// per-descriptor ordering) without the threads, so a later request on the same descriptor
/// would wait forever behind one nobody runs. Such a child does not use POSIX AIO at all.
void mark_child_if_requests_in_flight(void*) noexcept {
    if (g_requests_in_flight.load(std::memory_order_relaxed) > 0) g_forked_busy_pid.store(shmregion::detail::current_pid());
}

class PosixAioEngine final : public Engine {
public:
    explicit PosixAioEngine(unsigned depth) : Engine(depth), slots_(depth), free_(depth), busy_(depth) {
        for (unsigned i = 0; i < depth; ++i) free_[i] = depth - 1 - i;
        busy_.clear();
    }
    ~PosixAioEngine() override {
        if (owner_ == shmregion::detail::current_pid()) {
            (void)drain();
        } else if (in_flight_ > 0) {
            // A fork()ed child: glibc's inherited request list still points into the control
            // blocks, so they must outlive every later AIO call of this process.
            (void)cbs_.release();
        }
    }

    EngineKind kind() const noexcept override { return EngineKind::posix; }
    bool supports(Op op) const noexcept override {
        return op == Op::write || op == Op::read || op == Op::fsync || op == Op::fdatasync;
    }

    int submit(std::span<const Request> batch) noexcept override {
        if (int rc = check_batch(*this, batch); rc < 0) return rc;
        int started = 0;
        for (const auto& r : batch) {
            if (free_.empty()) break;
            unsigned slot = free_.back();
            free_.pop_back();
            aiocb* cb = &cbs_[slot];
            std::memset(cb, 0, sizeof(aiocb));
            cb->aio_fildes = r.fd;
            cb->aio_buf = r.addr;
            cb->aio_nbytes = r.length;
            cb->aio_offset = static_cast<off_t>(r.offset);
            cb->aio_sigevent.sigev_notify = SIGEV_NONE;
            int rc = r.op == Op::write  ? ::aio_write(cb)
                     : r.op == Op::read ? ::aio_read(cb)
                                        : ::aio_fsync(r.op == Op::fsync ? O_SYNC : O_DSYNC, cb);
            slots_[slot] = {r.user_data, rc != 0 ? errno : 0};  // never queued: completes at the next reap
            busy_.push_back(slot);
            ++in_flight_;
            g_requests_in_flight.fetch_add(1, std::memory_order_relaxed);
            ++started;
        }
        return started > 0 || batch.empty() ? started : -EAGAIN;  // -EAGAIN: the queue is full
    }

    int reap(std::span<Completion> out, std::size_t min_complete) noexcept override {
        std::size_t want = std::min({min_complete, in_flight_, out.size()});
        std::size_t got = 0;
        std::vector<const aiocb*>& waitlist = waitlist_;
        for (;;) {
            for (std::size_t i = 0; i < busy_.size() && got < out.size();) {
                const unsigned slot = busy_[i];
                Slot& s = slots_[slot];
                int err = s.failed ? s.failed : ::aio_error(&cbs_[slot]);
                if (err == EINPROGRESS) {
                    ++i;
                    continue;
                }
                std::int64_t res;
                if (s.failed) res = -s.failed;
                else {
                    ssize_t rv = ::aio_return(&cbs_[slot]);
                    res = rv < 0 ? -static_cast<std::int64_t>(err ? err : EIO) : rv;
                }
                s.failed = 0;
                out[got++] = {s.user_data, res};
                free_.push_back(busy_[i]);
                busy_[i] = busy_.back();
                busy_.pop_back();
                --in_flight_;
                g_requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
            }
            if (got >= want || got == out.size() || in_flight_ == 0) return static_cast<int>(got);
            waitlist.clear();
            for (unsigned b : busy_) waitlist.push_back(&cbs_[b]);
            if (::aio_suspend(waitlist.data(), static_cast<int>(waitlist.size()), nullptr) != 0 && errno != EINTR &&
                errno != EAGAIN)
                return got ? static_cast<int>(got) : -errno;
        }
    }

private:
    pid_t owner_ = shmregion::detail::current_pid();
    struct Slot {
        std::uint64_t user_data = 0;
        int failed = 0;  // errno of a request that was never queued
    };
    // Fixed arrays: glibc's threads hold pointers to the control blocks. (aiocb ends in a
    // zero-size array, so it cannot be a member of Slot.)
    std::unique_ptr<aiocb[]> cbs_ = std::make_unique<aiocb[]>(capacity_);
    std::vector<Slot> slots_;
    std::vector<unsigned> free_;
    std::vector<unsigned> busy_;
    std::vector<const aiocb*> waitlist_ = std::vector<const aiocb*>(capacity_);
};

}  // namespace

namespace {

// glibc keeps finished AIO workers idle for a while (aio_init's aio_idle_time, 1 s by
// default) and counts them. A child fork()ed while the count is not zero inherits the count
// but not the threads: glibc then starts no worker for the child's requests, which never
// run, and aio_suspend waits forever. Nothing outside glibc can reset that count, so each
// process checks once, with a time limit, that a request completes before it trusts POSIX
// AIO; a process where it does not gets an engine that refuses to open, with the reason.
std::atomic<pid_t> g_verified_pid{0};
constexpr const char* kInherited =
    "POSIX AIO does not run requests in this process: a test request did not complete in 1 s "
    "(glibc's count of idle AIO threads was inherited through fork() without the threads)";

/// 0 if a request completes within a second; else errno (ETIMEDOUT when it hangs).
int self_test() noexcept {
    shmregion::detail::Fd fd(::memfd_create("shmregion-aio-test", MFD_CLOEXEC));
    if (!fd) return 0;  // nothing to test with: trust it
    std::unique_ptr<aiocb> cb(new (std::nothrow) aiocb{});
    std::unique_ptr<char> byte(new (std::nothrow) char{});
    if (!cb || !byte) return ENOMEM;
    cb->aio_fildes = fd.get();
    cb->aio_buf = byte.get();
    cb->aio_nbytes = 1;
    cb->aio_sigevent.sigev_notify = SIGEV_NONE;
    if (::aio_write(cb.get()) != 0) return errno;
    const aiocb* list[] = {cb.get()};
    timespec limit{1, 0};
    while (::aio_error(cb.get()) == EINPROGRESS) {
        if (::aio_suspend(list, 1, &limit) != 0 && errno == EAGAIN) {
            // glibc keeps the request queued: its control block, buffer and descriptor
            // must stay valid for the life of the process.
            (void)cb.release();
            (void)byte.release();
            (void)fd.release();
            return ETIMEDOUT;
        }
    }
    (void)::aio_return(cb.get());
    return 0;
}

}  // namespace

Opened open_posix_aio(unsigned queue_depth) {
    Opened o;
    // Registered once, for good: with the library's other fork() hooks (sys/fork_safety.hpp).
    static const bool hooked = (shmregion::detail::fork_child_register(mark_child_if_requests_in_flight, nullptr), true);
    (void)hooked;
    const pid_t self = shmregion::detail::current_pid();
    if (g_forked_busy_pid.load() == self) {
        o.err = EAGAIN;
        o.why = "POSIX AIO cannot run in this process: it was fork()ed while POSIX AIO requests were in "
                "flight (glibc's queues are inherited without its threads)";
        return o;
    }
    if (g_verified_pid.load() != self) {
        int err = g_hung_pid.load() == self ? ETIMEDOUT : self_test();
        if (err != 0) {
            if (err == ETIMEDOUT) g_hung_pid.store(self);  // for good; other errors may pass
            o.err = err;
            o.why = err == ETIMEDOUT ? kInherited : std::string("aio_write: ") + std::strerror(err);
            return o;
        }
        g_verified_pid.store(self);
    }
    o.engine = std::make_unique<PosixAioEngine>(queue_depth);
    o.what = "POSIX AIO (aio_write aio_read aio_fsync; glibc threads)";
    return o;
}

}  // namespace io::detail
SHMREGION_NAMESPACE_END
