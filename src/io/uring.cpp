// The io_uring engine (liburing): one ring per engine, every operation asynchronous. Which
// operations the kernel has is asked once at open (io_uring_get_probe_ring); write, read
// and fsync are required, fallocate and madvise are used when present. Blocking work
// (fallocate, madvise, buffered writes that must wait) runs on the kernel's io-wq workers,
// so several requests in flight proceed in parallel.
#include "io/engine_impl.hpp"
#include "sys/fork_safety.hpp"

#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

SHMREGION_NAMESPACE_BEGIN
namespace io::detail {
namespace {

class UringEngine final : public Engine {
public:
    UringEngine(const io_uring& ring, unsigned depth, unsigned ops) : Engine(depth), ring_(ring), ops_(ops) {}
    ~UringEngine() override {
        // Requests still in flight would write into buffers their owner is freeing: wait.
        if (owner_ == shmregion::detail::current_pid()) (void)drain();  // a fork()ed child has no requests here
        ::io_uring_queue_exit(&ring_);
    }

    EngineKind kind() const noexcept override { return EngineKind::uring; }
    bool supports(Op op) const noexcept override { return (ops_ & bit(op)) != 0; }
    static unsigned bit(Op op) noexcept { return 1u << static_cast<unsigned>(op); }

    int submit(std::span<const Request> batch) noexcept override {
        if (int rc = check_batch(*this, batch); rc < 0) return rc;
        int prepared = 0;
        for (const auto& r : batch) {
            if (in_flight_ == capacity_) break;
            io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
            if (!sqe) break;
            prep(sqe, r);
            ::io_uring_sqe_set_data64(sqe, r.user_data);
            ++in_flight_;
            ++prepared;
        }
        if (prepared == 0) return batch.empty() ? 0 : -EAGAIN;
        // A failed enter leaves the entries queued in the ring: the next reap's enter
        // submits them, so they count as started either way.
        int rc;
        do rc = ::io_uring_submit(&ring_);
        while (rc == -EINTR);
        return prepared;
    }

    int reap(std::span<Completion> out, std::size_t min_complete) noexcept override {
        std::size_t want = std::min({min_complete, in_flight_, out.size()});
        std::size_t got = 0;
        if (::io_uring_sq_ready(&ring_) > 0) (void)::io_uring_submit(&ring_);  // left by a failed enter
        for (;;) {
            io_uring_cqe* cqes[32];
            unsigned room = static_cast<unsigned>(std::min<std::size_t>(out.size() - got, 32));
            unsigned n = room ? ::io_uring_peek_batch_cqe(&ring_, cqes, room) : 0;
            for (unsigned i = 0; i < n; ++i) out[got + i] = {::io_uring_cqe_get_data64(cqes[i]), cqes[i]->res};
            ::io_uring_cq_advance(&ring_, n);
            got += n;
            in_flight_ -= n;
            if (got >= want || got == out.size() || in_flight_ == 0) return static_cast<int>(got);
            if (n > 0) continue;
            int rc = ::io_uring_submit_and_wait(&ring_, 1);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return got ? static_cast<int>(got) : rc;
        }
    }

private:
    static void prep(io_uring_sqe* sqe, const Request& r) noexcept {
        switch (r.op) {
            case Op::write:
                ::io_uring_prep_write(sqe, r.fd, r.addr, static_cast<unsigned>(r.length), r.offset);
                break;
            case Op::read:
                ::io_uring_prep_read(sqe, r.fd, r.addr, static_cast<unsigned>(r.length), r.offset);
                break;
            case Op::fallocate:
                ::io_uring_prep_fallocate(sqe, r.fd, r.arg, static_cast<off_t>(r.offset), static_cast<off_t>(r.length));
                break;
            case Op::fsync: ::io_uring_prep_fsync(sqe, r.fd, 0); break;
            case Op::fdatasync: ::io_uring_prep_fsync(sqe, r.fd, IORING_FSYNC_DATASYNC); break;
            case Op::madvise:
                ::io_uring_prep_madvise(sqe, r.addr, static_cast<off_t>(r.length), r.arg);
                break;
        }
    }

    io_uring ring_;
    unsigned ops_;
    pid_t owner_ = shmregion::detail::current_pid();
};

std::string setup_failure(int err) {
    std::string why = std::string("io_uring_setup: ") + std::strerror(err);
    int disabled = -1;
    if (FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "r")) {
        if (std::fscanf(f, "%d", &disabled) != 1) disabled = -1;
        std::fclose(f);
    }
    if (err == EPERM)
        why += disabled > 0 ? " (kernel.io_uring_disabled=" + std::to_string(disabled) + ")"
                            : " (forbidden, most likely by a seccomp filter: containers often block io_uring)";
    else if (err == ENOSYS)
        why += " (kernel without io_uring, or the system call is filtered)";
    else if (err == ENOMEM)
        why += " (RLIMIT_MEMLOCK too low for the ring?)";
    return why;
}

}  // namespace

Opened open_uring(unsigned queue_depth) {
    Opened o;
    io_uring ring;
    int rc = ::io_uring_queue_init(queue_depth, &ring, 0);
    if (rc < 0) {
        o.err = -rc;
        o.why = setup_failure(-rc);
        return o;
    }
    struct Need {
        Op op;
        int opcode;
        const char* name;
    };
    static constexpr Need ops[] = {
        {Op::write, IORING_OP_WRITE, "write"},         {Op::read, IORING_OP_READ, "read"},
        {Op::fallocate, IORING_OP_FALLOCATE, "fallocate"}, {Op::fsync, IORING_OP_FSYNC, "fsync"},
        {Op::fdatasync, IORING_OP_FSYNC, "fdatasync"}, {Op::madvise, IORING_OP_MADVISE, "madvise"},
    };
    unsigned have = 0;
    std::string names;
    io_uring_probe* probe = ::io_uring_get_probe_ring(&ring);
    for (const auto& n : ops) {
        if (probe && !::io_uring_opcode_supported(probe, n.opcode)) continue;
        have |= 1u << static_cast<unsigned>(n.op);
        names += std::string(names.empty() ? "" : " ") + n.name;
    }
    if (probe) ::io_uring_free_probe(probe);
    constexpr unsigned required = (1u << static_cast<unsigned>(Op::write)) | (1u << static_cast<unsigned>(Op::read)) |
                                  (1u << static_cast<unsigned>(Op::fsync));
    if ((have & required) != required) {
        ::io_uring_queue_exit(&ring);
        o.err = EOPNOTSUPP;
        o.why = "the kernel's io_uring lacks write, read or fsync (has: " + names + ")";
        return o;
    }
    o.engine = std::make_unique<UringEngine>(ring, queue_depth, have);
    o.what = "io_uring (" + names + ")";
    return o;
}

}  // namespace io::detail
SHMREGION_NAMESPACE_END
