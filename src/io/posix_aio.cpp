// The POSIX AIO engine: writes and reads are started in batches with lio_listio(LIO_NOWAIT)
// (a batch of one with aio_write / aio_read),
// fsync and fdatasync with aio_fsync(O_SYNC / O_DSYNC); completions are found with
// aio_error/aio_return, waiting in aio_suspend. glibc runs the requests on a pool of its
// own threads, so this works wherever threads do, but costs a thread hand-off per request.
// No fallocate, no madvise.
#include "io/engine_impl.hpp"

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

namespace shmregion::io::detail {
namespace {

class PosixAioEngine final : public Engine {
public:
    explicit PosixAioEngine(unsigned depth) : Engine(depth), slots_(depth), free_(depth), busy_(depth) {
        for (unsigned i = 0; i < depth; ++i) free_[i] = depth - 1 - i;
        busy_.clear();
    }
    ~PosixAioEngine() override {
        if (owner_ == ::getpid()) (void)drain();  // a fork()ed child has no requests here
    }

    EngineKind kind() const noexcept override { return EngineKind::posix; }
    bool supports(Op op) const noexcept override {
        return op == Op::write || op == Op::read || op == Op::fsync || op == Op::fdatasync;
    }

    int submit(std::span<const Request> batch) noexcept override {
        for (const auto& r : batch) {
            if (!supports(r.op)) return -EOPNOTSUPP;
            if (int rc = check_request(r); rc < 0) return rc;
        }
        aiocb* list[64];
        std::size_t n = 0;
        int started = 0;
        int first_error = 0;
        auto flush_list = [&] {
            if (n == 0) return;
            if (n == 1) {  // one request: aio_write / aio_read, no list to walk
                aiocb* cb = list[0];
                int rc = cb->aio_lio_opcode == LIO_WRITE ? ::aio_write(cb) : ::aio_read(cb);
                if (rc != 0) slots_[static_cast<std::size_t>(cb - cbs_.get())].failed = errno;
            } else if (::lio_listio(LIO_NOWAIT, list, static_cast<int>(n), nullptr) != 0 && errno != EIO &&
                       errno != EAGAIN && first_error == 0) {
                // Entries that could not be queued get their own error status (aio_error),
                // so each is reaped like any other; the call's own -1/EIO says no more.
                first_error = errno;
            }
            n = 0;
        };
        for (const auto& r : batch) {
            if (free_.empty()) break;
            unsigned slot = free_.back();
            free_.pop_back();
            Slot& s = slots_[slot];
            std::memset(&cbs_[slot], 0, sizeof(aiocb));
            cbs_[slot].aio_fildes = r.fd;
            cbs_[slot].aio_buf = r.addr;
            cbs_[slot].aio_nbytes = r.length;
            cbs_[slot].aio_offset = static_cast<off_t>(r.offset);
            cbs_[slot].aio_sigevent.sigev_notify = SIGEV_NONE;
            s.user_data = r.user_data;
            busy_.push_back(slot);
            ++in_flight_;
            ++started;
            if (r.op == Op::write || r.op == Op::read) {
                cbs_[slot].aio_lio_opcode = r.op == Op::write ? LIO_WRITE : LIO_READ;
                list[n++] = &cbs_[slot];
                if (n == 64) flush_list();
            } else {
                flush_list();  // keep the order of the batch
                if (::aio_fsync(r.op == Op::fsync ? O_SYNC : O_DSYNC, &cbs_[slot]) != 0) {
                    s.failed = errno;  // never queued: complete it at the next reap
                } else {
                    s.failed = 0;
                }
            }
        }
        flush_list();
        if (started == 0 && first_error) return -first_error;
        return started;
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
    pid_t owner_ = ::getpid();
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
std::atomic<pid_t> g_broken_pid{0};
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
    const pid_t self = ::getpid();
    if (g_verified_pid.load() != self) {
        int err = g_broken_pid.load() == self ? ETIMEDOUT : self_test();
        if (err != 0) {
            g_broken_pid.store(self);
            o.err = err;
            o.why = err == ETIMEDOUT ? kInherited : std::string("aio_write: ") + std::strerror(err);
            return o;
        }
        g_verified_pid.store(self);
    }
    o.engine = std::make_unique<PosixAioEngine>(queue_depth);
    o.what = "POSIX AIO (lio_listio write read, aio_fsync; glibc threads)";
    return o;
}

}  // namespace shmregion::io::detail
