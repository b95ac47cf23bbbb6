// The synchronous engine: every request runs inside submit(), one system call each; reap()
// hands the results back. Always works: the fallback at the end of the automatic choice.
#include "io/engine_impl.hpp"

#include <algorithm>
#include <vector>

SHMREGION_NAMESPACE_BEGIN
namespace io::detail {
namespace {

class SyncEngine final : public Engine {
public:
    explicit SyncEngine(unsigned depth) : Engine(depth), done_(depth) {}

    EngineKind kind() const noexcept override { return EngineKind::sync; }
    bool supports(Op) const noexcept override { return true; }

    int submit(std::span<const Request> batch) noexcept override {
        if (int rc = check_batch(*this, batch); rc < 0) return rc;
        int started = 0;
        for (const auto& r : batch) {
            if (in_flight_ == capacity_) break;
            done_[(head_ + in_flight_) % capacity_] = {r.user_data, run_now(r)};
            ++in_flight_;
            ++started;
        }
        return started > 0 || batch.empty() ? started : -EAGAIN;  // -EAGAIN: the queue is full
    }

    int reap(std::span<Completion> out, std::size_t) noexcept override {
        std::size_t n = std::min(out.size(), in_flight_);
        for (std::size_t i = 0; i < n; ++i) out[i] = done_[(head_ + i) % capacity_];
        head_ = (head_ + n) % capacity_;
        in_flight_ -= n;
        return static_cast<int>(n);
    }

private:
    std::vector<Completion> done_;  // a ring of capacity_ results, the oldest at head_
    std::size_t head_ = 0;
};

}  // namespace

Opened open_sync(unsigned queue_depth) {
    Opened o;
    o.engine = std::make_unique<SyncEngine>(queue_depth);
    o.what = "synchronous pwrite/pread/fallocate/fsync/madvise";
    return o;
}

}  // namespace io::detail
SHMREGION_NAMESPACE_END
