// The Linux native AIO engine (libaio: io_setup, io_submit, io_getevents). Native AIO is
// asynchronous only for O_DIRECT: a buffered request completes inside io_submit. So a
// write or read whose buffer, offset and length are all 4 KiB-aligned goes through an
// O_DIRECT twin of its descriptor (a second open of the same file), where the file system
// accepts O_DIRECT; everything else goes through the descriptor as given. fsync and
// fdatasync use IOCB_CMD_FSYNC / IOCB_CMD_FDSYNC. No fallocate, no madvise.
#include "io/engine_impl.hpp"
#include "sys/fork_safety.hpp"

#include "sys/os.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <libaio.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

SHMREGION_NAMESPACE_BEGIN
namespace io::detail {
namespace {

constexpr std::uint64_t kDirectAlign = 4096;

class LibaioEngine final : public Engine {
public:
    LibaioEngine(io_context_t ctx, unsigned depth) : Engine(depth), ctx_(ctx), iocbs_(depth), free_(depth) {
        for (unsigned i = 0; i < depth; ++i) free_[i] = depth - 1 - i;
        twins_.reserve(4);
    }
    ~LibaioEngine() override {
        if (owner_ == shmregion::detail::current_pid()) (void)drain();  // a fork()ed child has no requests here
        ::io_destroy(ctx_);
    }

    EngineKind kind() const noexcept override { return EngineKind::libaio; }
    bool supports(Op op) const noexcept override {
        return op == Op::write || op == Op::read || op == Op::fsync || op == Op::fdatasync;
    }

    int submit(std::span<const Request> batch) noexcept override {
        if (int rc = check_batch(*this, batch); rc < 0) return rc;
        iocb* list[64];
        std::size_t started = 0;
        while (started < batch.size()) {
            std::size_t n = 0;
            while (started + n < batch.size() && n < 64 && !free_.empty()) {
                const Request& r = batch[started + n];
                unsigned slot = free_.back();
                free_.pop_back();
                iocb* cb = &iocbs_[slot];
                prep(cb, r);
                user_data_of(slot) = r.user_data;
                cb->data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(slot));
                list[n++] = cb;
            }
            if (n == 0) break;
            int rc;
            do rc = ::io_submit(ctx_, static_cast<long>(n), list);
            while (rc == -EINTR);
            std::size_t ok = rc > 0 ? static_cast<std::size_t>(rc) : 0;
            for (std::size_t i = ok; i < n; ++i)  // not started: give the slots back
                free_.push_back(static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(list[i]->data)));
            in_flight_ += ok;
            started += ok;
            if (ok < n) {
                if (started == 0) return rc < 0 ? rc : -EAGAIN;
                break;
            }
        }
        return static_cast<int>(started);
    }

    int reap(std::span<Completion> out, std::size_t min_complete) noexcept override {
        std::size_t want = std::min({min_complete, in_flight_, out.size()});
        io_event events[64];
        std::size_t got = 0;
        while (got < out.size() && in_flight_ > 0) {
            long max = static_cast<long>(std::min<std::size_t>(out.size() - got, 64));
            long min = static_cast<long>(std::min<std::size_t>(want > got ? want - got : 0, static_cast<std::size_t>(max)));
            int n = ::io_getevents(ctx_, min, max, events, nullptr);
            if (n == -EINTR) continue;
            if (n < 0) return got ? static_cast<int>(got) : n;
            for (int i = 0; i < n; ++i) {
                auto slot = static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(events[i].data));
                // res carries the byte count or -errno in an unsigned long.
                out[got++] = {user_data_of(slot), static_cast<std::int64_t>(static_cast<long>(events[i].res))};
                free_.push_back(slot);
            }
            in_flight_ -= static_cast<std::size_t>(n);
            if (got >= want) break;
        }
        return static_cast<int>(got);
    }

private:
    pid_t owner_ = shmregion::detail::current_pid();
    void prep(iocb* cb, const Request& r) noexcept {
        switch (r.op) {
            case Op::write: ::io_prep_pwrite(cb, fd_for(r), r.addr, r.length, static_cast<long long>(r.offset)); break;
            case Op::read: ::io_prep_pread(cb, fd_for(r), r.addr, r.length, static_cast<long long>(r.offset)); break;
            case Op::fsync: ::io_prep_fsync(cb, r.fd); break;
            case Op::fdatasync: ::io_prep_fdsync(cb, r.fd); break;
            default: break;  // refused by submit()
        }
    }

    // iocb::data carries the slot number; the caller's user_data lives beside the iocb.
    std::uint64_t& user_data_of(unsigned slot) noexcept { return user_data_[slot]; }

    /// The descriptor a write or read goes through: the O_DIRECT twin when everything is
    /// aligned and the file system takes O_DIRECT, else the request's own.
    int fd_for(const Request& r) noexcept {
        if (reinterpret_cast<std::uintptr_t>(r.addr) % kDirectAlign || r.offset % kDirectAlign ||
            r.length % kDirectAlign)
            return r.fd;
        struct stat st {};
        if (::fstat(r.fd, &st) != 0 || !S_ISREG(st.st_mode)) return r.fd;
        for (auto& t : twins_)
            if (t.fd == r.fd) {
                if (t.dev == st.st_dev && t.ino == st.st_ino) return t.twin.get() >= 0 ? t.twin.get() : r.fd;
                t.twin = shmregion::detail::Fd(open_twin(r.fd));  // the number now names another file
                t.dev = st.st_dev;
                t.ino = st.st_ino;
                return t.twin.get() >= 0 ? t.twin.get() : r.fd;
            }
        if (twins_.size() == twins_.capacity()) return r.fd;  // never allocate in submit()
        twins_.push_back({r.fd, st.st_dev, st.st_ino, shmregion::detail::Fd(open_twin(r.fd))});
        return twins_.back().twin.get() >= 0 ? twins_.back().twin.get() : r.fd;
    }

    static int open_twin(int fd) noexcept {
        int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0) return -1;
        // EINVAL: the file system refuses O_DIRECT; the request goes buffered then.
        return shmregion::detail::reopen_description(fd, (flags & O_ACCMODE) | O_DIRECT);
    }

    struct Twin {
        int fd;
        dev_t dev;
        ino_t ino;
        shmregion::detail::Fd twin;  // -1: O_DIRECT refused
    };

    io_context_t ctx_;
    std::vector<iocb> iocbs_;
    std::vector<std::uint64_t> user_data_ = std::vector<std::uint64_t>(capacity_);
    std::vector<unsigned> free_;  // free iocb slots; capacity never exceeded
    std::vector<Twin> twins_;
};

}  // namespace

Opened open_libaio(unsigned queue_depth) {
    Opened o;
    io_context_t ctx{};
    int rc = ::io_setup(static_cast<int>(queue_depth), &ctx);
    if (rc < 0) {
        o.err = -rc;
        o.why = std::string("io_setup: ") + std::strerror(-rc);
        if (-rc == EAGAIN) o.why += " (fs.aio-max-nr is exhausted: see /proc/sys/fs/aio-nr)";
        else if (-rc == ENOSYS) o.why += " (kernel without native AIO, or the system call is filtered)";
        else if (-rc == EPERM) o.why += " (forbidden, most likely by a seccomp filter)";
        return o;
    }
    o.engine = std::make_unique<LibaioEngine>(ctx, queue_depth);
    o.what = "Linux native AIO (write read fsync fdatasync; O_DIRECT for aligned requests)";
    return o;
}

}  // namespace io::detail
SHMREGION_NAMESPACE_END
