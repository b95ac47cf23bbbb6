// Prefault: make a mapping's pages resident and writable before the application needs them.
//
// The range is cut into chunks that workers take in turn (so progress and cancel work per
// chunk, and a slow chunk does not idle the others). A worker faults a chunk in with
// MADV_POPULATE_WRITE (Linux 5.14+: one call, no byte changes), on our own worker threads
// (one per CPU, at most 8). On request (PrefaultMethod::madvise_uring) the chunks are io_uring
// madvise requests instead, run by the kernel's io-wq workers; it is not the default because
// io-wq starts another worker only when one blocks, and faulting pages in is mostly CPU work,
// so the requests ran nearly one at a time. A kernel without MADV_POPULATE_WRITE gets a touch loop: one atomic add
// of zero per page, which write-faults the page and leaves its bytes alone even while
// another thread or process writes them (Berkeley DB wrote a byte, which could clobber).
#include "io/engine_impl.hpp"
#include "sys/fork_safety.hpp"

#include "sys/failure.hpp"
#include "sys/os.hpp"
#ifdef SHMREGION_TEST_HOOKS
#include "io/fault.hpp"
#endif

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

SHMREGION_NAMESPACE_BEGIN
namespace io {

class PrefaultState {
public:
    char* addr = nullptr;
    std::size_t length = 0;
    std::size_t chunk = 0;
    unsigned workers = 1;
    PrefaultMethod method = PrefaultMethod::madvise_threads;
    pid_t pid = 0;  // the process whose threads do the work
    std::shared_ptr<void> keep_alive;

    std::atomic<std::size_t> next_chunk{0};
    std::atomic<std::uint64_t> done_bytes{0};
    std::atomic<bool> cancel{false};
    std::atomic<int> first_error{0};       // errno of the first failed chunk
    std::atomic<std::uint64_t> error_at{0};  // its offset
    std::atomic<std::uint32_t> finished{0};  // futex word: 1 once the job is over
    shmregion::detail::Failure failure;      // the outcome; written before finished = 1
    bool failed_early = false;               // failure holds why the job could not run

    std::size_t chunks() const noexcept { return (length + chunk - 1) / chunk; }
    bool foreign() const noexcept { return pid != shmregion::detail::current_pid(); }
};

namespace detail {
namespace {

using shmregion::detail::Failure;
using shmregion::detail::throw_failure;

bool populate_write_supported(void* page) noexcept {
    // madvise() checks the advice before the length: 0 bytes asks only "do you know it?".
    static const bool supported = ::madvise(page, 0, MADV_POPULATE_WRITE) == 0;
    return supported;
}

void record_error(PrefaultState& s, int err, std::uint64_t offset) noexcept {
    int none = 0;
    if (s.first_error.compare_exchange_strong(none, err)) s.error_at.store(offset);
    s.cancel.store(true);
}

/// Faults in [begin, end) of the range. 0 or errno.
int fault_in(PrefaultState& s, std::size_t begin, std::size_t end) noexcept {
    char* p = s.addr + begin;
    const std::size_t len = end - begin;
    if (s.method == PrefaultMethod::touch_threads) {
        const std::size_t page = shmregion::detail::page_size();
        for (std::size_t off = 0; off < len; off += page) std::atomic_ref<char>(p[off]).fetch_add(0, std::memory_order_relaxed);
        return 0;
    }
    while (::madvise(p, len, MADV_POPULATE_WRITE) != 0)
        if (errno != EINTR && errno != EAGAIN) return errno;
    return 0;
}

/// One worker: takes chunks until none are left, the job is cancelled or a chunk failed.
void work(PrefaultState& s) noexcept {
    const std::size_t n = s.chunks();
    for (;;) {
        if (s.cancel.load(std::memory_order_relaxed)) return;
        std::size_t i = s.next_chunk.fetch_add(1, std::memory_order_relaxed);
        if (i >= n) return;
        std::size_t begin = i * s.chunk, end = std::min(s.length, begin + s.chunk);
        if (int err = fault_in(s, begin, end); err != 0) return record_error(s, err, begin);
        s.done_bytes.fetch_add(end - begin, std::memory_order_relaxed);
    }
}

/// Runs s.workers workers, this thread being one of them. If a thread cannot be started
/// the others do its share.
void run_threads(PrefaultState& s) {
    std::vector<std::thread> threads;
    threads.reserve(s.workers);  // no allocation between starting threads: a throw would terminate
    for (unsigned i = 1; i < s.workers; ++i) {
        try {
            threads.emplace_back([&s] { work(s); });
        } catch (const std::system_error&) {
            break;
        }
    }
    work(s);
    for (auto& t : threads) t.join();
}

/// Chunks as io_uring madvise requests, two per worker in flight: io-wq starts its
/// workers lazily, and with only one request per CPU queued some CPUs sat idle here.
void run_uring(PrefaultState& s) {
    std::unique_ptr<Engine> engine;
    try {
        engine = open_concrete(EngineKind::uring, std::min(2 * s.workers, 4096u));
    } catch (const Failure& f) {
        throw Failure{make_error_code(errc::engine_unavailable), {}, f.message};
    }
    if (!engine->supports(Op::madvise))
        throw_failure(errc::engine_unavailable, {}, "this kernel's io_uring has no madvise operation");
#ifdef SHMREGION_TEST_HOOKS
    engine = fault::owned_engine_hook(std::move(engine));  // a FaultEngine while a test's plan is installed
#endif
    const std::size_t n = s.chunks();
    std::array<Completion, 16> done;
    auto request = [&](std::size_t i) {
        std::size_t begin = i * s.chunk, end = std::min(s.length, begin + s.chunk);
        return Request{Op::madvise, -1, s.addr + begin, end - begin, 0, MADV_POPULATE_WRITE, i};
    };
    std::size_t next = 0;
    for (;;) {
        while (next < n && engine->in_flight() < engine->capacity() && !s.cancel.load(std::memory_order_relaxed)) {
            Request r = request(next);
            int rc = engine->submit(std::span<const Request>(&r, 1));
            if (rc < 0) {
                record_error(s, -rc, next * s.chunk);
                break;
            }
            if (rc == 0) break;
            ++next;
        }
        if (engine->in_flight() == 0) break;
        int got = engine->reap(done, 1);
        if (got < 0) {
            record_error(s, -got, 0);
            break;  // the engine's destructor waits for what is left
        }
        for (int i = 0; i < got; ++i) {
            const Request r = request(done[i].user_data);
            if (done[i].result == -EINTR || done[i].result == -EAGAIN) {
                if (engine->submit(std::span<const Request>(&r, 1)) == 1) continue;
            }
            if (done[i].result < 0) record_error(s, static_cast<int>(-done[i].result), done[i].user_data * s.chunk);
            else s.done_bytes.fetch_add(r.length, std::memory_order_relaxed);
        }
    }
}

/// Runs the job; its outcome is in s.first_error / s.cancel.
void run(PrefaultState& s) {
    if (s.method == PrefaultMethod::madvise_uring) run_uring(s);
    else run_threads(s);
}

/// Fills a state for [addr, addr+length): checks the range, resolves the method and
/// the number of workers. Throws Failure.
std::shared_ptr<PrefaultState> plan(void* addr, std::size_t length, const PrefaultOptions& o) {
    const std::size_t page = shmregion::detail::page_size();
    if (reinterpret_cast<std::uintptr_t>(addr) % page != 0)
        throw_failure(errc::invalid_options, {}, "prefault: the address is not page-aligned");
    if (o.chunk == 0) throw_failure(errc::invalid_options, {}, "prefault: chunk size 0");
    auto s = std::make_shared<PrefaultState>();
    s->addr = static_cast<char*>(addr);
    s->length = (length + page - 1) / page * page;
    s->chunk = std::max<std::size_t>((o.chunk + page - 1) / page * page, page);
    s->pid = shmregion::detail::current_pid();
    unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    s->workers = o.threads ? std::min(o.threads, 256u) : std::min(cpus, 8u);
    s->workers = static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(s->workers, s->chunks())));
    s->method = o.method;
    if (s->method == PrefaultMethod::automatic) {
        // Threads, not io_uring: io-wq adds a worker only when one blocks, and populating
        // pages is mostly CPU work, so io_uring's madvise requests ran nearly one at a time
        // (bench/io_bench, docs/performance.md: up to 2x slower on ext4, never faster).
        s->method = populate_write_supported(addr) ? PrefaultMethod::madvise_threads : PrefaultMethod::touch_threads;
    } else if (s->method == PrefaultMethod::madvise_uring) {
        (void)choose_or_throw(EngineKind::uring);  // engine_unavailable, with the reason, if it cannot run
    }
    if (s->method == PrefaultMethod::madvise_uring)  // io_uring carries 32 bits of length
        s->chunk = std::min<std::size_t>(s->chunk, max_madvise / page * page);
    if (s->method != PrefaultMethod::touch_threads && !populate_write_supported(addr)) {
        throw_failure(errc::engine_unavailable, {}, "prefault: this kernel has no MADV_POPULATE_WRITE (Linux 5.14+)");
    }
    return s;
}

/// The outcome as a Failure (code empty on success).
Failure outcome(const PrefaultState& s) {
    if (int err = s.first_error.load(); err != 0) {
        char where[64];
        std::snprintf(where, sizeof where, "%p", static_cast<void*>(s.addr + s.error_at.load()));
        const char* how = s.method == PrefaultMethod::touch_threads ? "touch" : "madvise(MADV_POPULATE_WRITE)";
        return Failure{std::error_code(err, std::generic_category()), {},
                       std::string(how) + " of the chunk at " + where + ": " + std::strerror(err)};
    }
    if (s.cancel.load() && s.done_bytes.load() < s.length)
        return Failure{std::make_error_code(std::errc::operation_canceled), {},
                       "cancelled after " + std::to_string(s.done_bytes.load()) + " of " + std::to_string(s.length) +
                           " bytes"};
    return {};
}

void finish(PrefaultState& s) noexcept {
    try {
        if (!s.failed_early) s.failure = outcome(s);
    } catch (...) {
        s.failure = Failure{std::make_error_code(std::errc::not_enough_memory), {}, "prefault outcome"};
    }
    s.finished.store(1, std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&s.finished), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

/// Waits until the job is over or the timeout passes (nullptr: forever). True if over.
bool wait_finished(const PrefaultState& s, const timespec* timeout) noexcept {
    timespec deadline{};
    if (timeout) {
        ::clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout->tv_sec;
        deadline.tv_nsec += timeout->tv_nsec;
        if (deadline.tv_nsec >= 1'000'000'000) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1'000'000'000;
        }
    }
    while (s.finished.load(std::memory_order_acquire) == 0) {
        timespec left{};
        if (timeout) {
            timespec now{};
            ::clock_gettime(CLOCK_MONOTONIC, &now);
            long long ns = (deadline.tv_sec - now.tv_sec) * 1'000'000'000LL + (deadline.tv_nsec - now.tv_nsec);
            if (ns <= 0) return false;
            left.tv_sec = static_cast<time_t>(ns / 1'000'000'000LL);
            left.tv_nsec = static_cast<long>(ns % 1'000'000'000LL);
        }
        ::syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(&s.finished), FUTEX_WAIT_PRIVATE, 0,
                  timeout ? &left : nullptr, nullptr, 0);
    }
    return true;
}

}  // namespace

void prefault_or_throw(void* addr, std::size_t length, const PrefaultOptions& options) {
    if (length == 0) return;
    auto s = plan(addr, length, options);
    run(*s);
    Failure f = outcome(*s);
    if (f.code) throw f;
}

std::shared_ptr<PrefaultState> start_prefault(void* addr, std::size_t length, const PrefaultOptions& options,
                                              std::shared_ptr<void> keep_alive) {
    auto s = plan(addr, length, options);
    s->keep_alive = std::move(keep_alive);
    if (s->length == 0) {
        finish(*s);
        return s;
    }
    auto job = [s] {
        try {
            run(*s);
        } catch (const Failure& f) {  // could not start (no ring, no memory): say exactly why
            s->failure = f;
            s->failed_early = true;
        } catch (...) {
            s->failure = Failure{std::make_error_code(std::errc::not_enough_memory), {}, "prefault: out of memory"};
            s->failed_early = true;
        }
        s->keep_alive.reset();  // before finishing: a waiter may expect the range unmapped after
        finish(*s);
    };
    try {
        std::thread(std::move(job)).detach();
    } catch (const std::system_error& e) {
        throw Failure{e.code(), {}, std::string("prefault: cannot start its thread: ") + e.what()};
    }
    return s;
}

void cancel_and_wait(PrefaultState& s) noexcept {
    if (s.foreign()) {
        // Inherited through fork(): the job's thread does not exist here, so nothing uses
        // its hold on the mapping, which would otherwise keep the child's copy mapped.
        s.keep_alive.reset();
        return;
    }
    s.cancel.store(true);
    wait_finished(s, nullptr);
}

}  // namespace detail

// ---- PrefaultHandle ------------------------------------------------------------------------

bool PrefaultHandle::done() const noexcept {
    return !state_ || state_->foreign() || state_->finished.load(std::memory_order_acquire) != 0;
}
std::uint64_t PrefaultHandle::bytes_done() const noexcept { return state_ ? state_->done_bytes.load() : 0; }
std::uint64_t PrefaultHandle::bytes_total() const noexcept { return state_ ? state_->length : 0; }
void PrefaultHandle::cancel() const noexcept {
    if (state_) state_->cancel.store(true);
}

std::error_code PrefaultHandle::error() const noexcept {
    if (!state_) return {};
    if (state_->foreign()) return make_error_code(errc::wrong_process);
    if (state_->finished.load(std::memory_order_acquire) == 0) return {};
    return state_->failure.code;
}

bool PrefaultHandle::wait_for(std::chrono::milliseconds timeout) const noexcept {
    if (done()) return true;
    const std::int64_t ms = std::max<std::int64_t>(timeout.count(), 0);
    if (ms / 1000 > 1'000'000'000) return detail::wait_finished(*state_, nullptr);  // ~32 years: forever
    timespec t{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000L};
    return detail::wait_finished(*state_, &t);
}

namespace {
void wait_or_throw(PrefaultState& state) {
    if (state.foreign())
        shmregion::detail::throw_failure(errc::wrong_process, {}, "the prefault job belongs to the process that started it");
    detail::wait_finished(state, nullptr);
    if (state.failure.code) throw state.failure;
}
}  // namespace

void PrefaultHandle::wait() const {
    if (state_) shmregion::detail::entry({"prefault"}, [&] { wait_or_throw(*state_); });
}

void PrefaultHandle::wait(std::error_code& ec) const noexcept {
    ec.clear();
    if (state_) shmregion::detail::entry({"prefault"}, ec, [&] { wait_or_throw(*state_); });
}

// ---- free functions ---------------------------------------------------------------------------

void prefault(void* addr, std::size_t length, const PrefaultOptions& options) {
    shmregion::detail::entry({"prefault"}, [&] { detail::prefault_or_throw(addr, length, options); });
}

void prefault(void* addr, std::size_t length, const PrefaultOptions& options, std::error_code& ec) noexcept {
    shmregion::detail::entry({"prefault"}, ec, [&] { detail::prefault_or_throw(addr, length, options); });
}

PrefaultHandle prefault_async(void* addr, std::size_t length, const PrefaultOptions& options,
                              std::shared_ptr<void> keep_alive) {
    return shmregion::detail::entry({"prefault"}, [&] {
        return PrefaultHandle(detail::start_prefault(addr, length, options, std::move(keep_alive)));
    });
}

PrefaultHandle prefault_async(void* addr, std::size_t length, const PrefaultOptions& options,
                              std::shared_ptr<void> keep_alive, std::error_code& ec) noexcept {
    return shmregion::detail::entry({"prefault"}, ec, [&] {
        return PrefaultHandle(detail::start_prefault(addr, length, options, std::move(keep_alive)));
    });
}

}  // namespace io
SHMREGION_NAMESPACE_END
