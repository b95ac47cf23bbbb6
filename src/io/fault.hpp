// Test builds only (SHMREGION_TEST_HOOKS): a fault-injecting I/O engine, so that the error
// paths of extension, prefault and flush can be tested without a full disk, a failing
// device or CAP_SYS_ADMIN, and a test can see which requests an operation really issued.
//
// FaultEngine is a forwarding wrapper over a real engine (any of the four): every request
// the Plan does not change goes to the real engine and really happens. A Plan says which
// requests to change (the Nth write, every fallocate, ...) and how: fail it with -errno
// (it does not run), refuse it at submit(), or run a write or read for fewer bytes than
// asked (a short transfer). It records every request it saw, with the file's identity and
// the order of submissions and completions, so a test can assert "an fdatasync of this
// file was issued after the writes had completed".
//
// Counting: each request is counted when submit() takes it up (or when it runs beside the
// engine, below), in the count of its op and in the overall count; a request left out
// because the queue is full is not counted, a refused one submitted again counts again. A
// Rule with an op counts in that op's count, one without in the overall count. The first
// rule that hits a request decides; a request no rule hits is forwarded unchanged.
// Requests are forwarded to the real engine one at a time (in order), not as one batch.
//
// Beside the engine: where an engine lacks an op, extension runs it itself (fallocate on
// libaio and posix). When extension's engine is a FaultEngine such a request goes through
// the plan too (counted, recorded with direct = true, run with the same system call).
//
// Installing: ScopedFaultPlan makes the library's own engines wrappers over the real ones
// for the whole process (every thread, prefault's worker threads included) while it
// lives: the engine each thread keeps for extension and flush (io::detail::thread_engine:
// region creation, Region::grow, Region::flush) and the io_uring engine of
// PrefaultMethod::madvise_uring. The other prefault methods do not use an engine at all
// (madvise or a touch loop on worker threads): a plan never sees them. Probing is never
// affected. A test calling io::extend() or io::flush() itself can also wrap an engine of
// its own: FaultEngine fe(*engine, plan).
//
// Thread safety: a Plan is shared by every thread and locked inside; a FaultEngine, like
// any Engine, is used by one thread at a time. fork(): a child has a copy of the plan.
#pragma once

#ifndef SHMREGION_TEST_HOOKS
#error "io/fault.hpp is a test hook: only shmregion_testing and the tests that link it define SHMREGION_TEST_HOOKS"
#endif

#include "io/engine.hpp"

#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

SHMREGION_NAMESPACE_BEGIN
namespace io::fault {

/// Rule::times: every request from the nth on.
inline constexpr std::uint64_t every = 0;

enum class Action : std::uint8_t {
    fail,            ///< not run; its completion carries -error
    reject,          ///< not started: submit() returns -error, or if requests before it in the
                     ///< batch started, their number (a partial submission, as io_submit's)
    short_transfer,  ///< a write or read run for `bytes` bytes only (0: not run, completes 0)
};

struct Rule {
    std::optional<Op> op;     ///< counts requests of this op only; none: every request
    std::uint64_t nth = 1;    ///< the first request it hits, counting from 1
    std::uint64_t times = 1;  ///< how many in a row it hits; `every`: all from nth on
    Action action = Action::fail;
    int error = EIO;          ///< fail, reject: a positive errno
    std::uint64_t bytes = 0;  ///< short_transfer: bytes really moved (hits writes and reads only)
};

/// One request the plan saw.
struct Record {
    Op op = Op::write;
    int fd = -1;
    dev_t dev = 0;  ///< the file behind fd at submission (0, 0 if fstat failed)
    ino_t ino = 0;
    const void* addr = nullptr;    ///< the buffer (write, read) or range (madvise)
    std::uint64_t offset = 0;
    std::uint64_t length = 0;      ///< as asked
    std::uint64_t forwarded = 0;   ///< as passed to the real engine (less if shortened)
    int arg = 0;
    EngineKind engine = EngineKind::sync;  ///< the real engine's kind
    bool direct = false;           ///< run beside the engine (it lacks the op)
    std::uint64_t nth_of_op = 0;   ///< its place in its op's count (from 1)
    std::uint64_t nth = 0;         ///< its place in the overall count (from 1)
    std::optional<Action> fault;   ///< what the plan did; none: forwarded as asked
    std::uint64_t submitted = 0;   ///< event number of its submission (events count from 1)
    std::uint64_t completed = 0;   ///< event number of its completion reaped; 0: not (yet)
    std::int64_t result = 0;       ///< as reaped: bytes, 0 or -errno
};

class FaultEngine;

/// What to change and what was seen. Rules may be added while installed.
class Plan {
public:
    Plan() = default;
    Plan(const Plan&) = delete;
    Plan& operator=(const Plan&) = delete;

    Plan& add(const Rule& rule);
    /// The nth request of `op` (and the times-1 after it) fails with -error.
    Plan& fail(Op op, std::uint64_t nth, int error, std::uint64_t times = 1);
    /// The nth request of any op fails with -error.
    Plan& fail_any(std::uint64_t nth, int error, std::uint64_t times = 1);
    /// submit() refuses the nth request of `op` with -error.
    Plan& reject(Op op, std::uint64_t nth, int error, std::uint64_t times = 1);
    /// The nth write moves `bytes` bytes only (0: none; it completes with 0).
    Plan& short_write(std::uint64_t nth, std::uint64_t bytes, std::uint64_t times = 1);

    /// Copies of the records, in submission order (all, or those of one op).
    std::vector<Record> records() const;
    std::vector<Record> records(Op op) const;
    /// Requests seen: of one op, or all.
    std::uint64_t count(Op op) const;
    std::uint64_t count() const;
    /// Requests the plan changed.
    std::uint64_t injected() const;
    /// Forgets records and counts (the rules stay): the next request is the first again.
    void clear();

private:
    friend class FaultEngine;
    /// A request counted and recorded: the record's index and the action, if any.
    struct Hit {
        std::size_t record = 0;
        std::optional<Action> action;
        int error = 0;
        std::uint64_t bytes = 0;
    };
    // Called with mu_ held.
    Hit enter(const Request& r, EngineKind engine, bool direct) noexcept;
    void undo(const Hit& h) noexcept;  // the last enter(), whose request did not start
    void complete(std::size_t record, std::uint64_t epoch, std::int64_t result) noexcept;

    mutable std::mutex mu_;
    std::vector<Rule> rules_;
    std::vector<Record> records_;
    std::uint64_t counts_[6] = {};  // by Op
    std::uint64_t total_ = 0;
    std::uint64_t events_ = 0;
    std::uint64_t injected_ = 0;
    std::uint64_t epoch_ = 0;  // bumped by clear(): completions of older requests are not recorded
};

/// A forwarding wrapper over a real engine that applies a plan. kind(), supports() and
/// capacity() are the real engine's; the real engine must be idle when wrapped, and used
/// only through the wrapper while it is.
class FaultEngine final : public Engine {
public:
    FaultEngine(Engine& real, std::shared_ptr<Plan> plan);
    /// Owns the real engine (prefault's).
    FaultEngine(std::unique_ptr<Engine> real, std::shared_ptr<Plan> plan);
    ~FaultEngine() override = default;

    EngineKind kind() const noexcept override { return real_->kind(); }
    bool supports(Op op) const noexcept override { return real_->supports(op); }
    int submit(std::span<const Request> batch) noexcept override;
    int reap(std::span<Completion> out, std::size_t min_complete) noexcept override;

    /// Runs a request the real engine lacks the op for, synchronously, through the plan.
    /// Bytes moved, 0 or -errno.
    std::int64_t run_direct(const Request& r) noexcept;

    Engine& real() const noexcept { return *real_; }
    const std::shared_ptr<Plan>& plan() const noexcept { return plan_; }

private:
    struct Slot {
        std::uint64_t user_data = 0;  // the caller's
        std::size_t record = 0;
        std::uint64_t epoch = 0;
        bool used = false;
    };
    std::size_t take_slot(std::uint64_t user_data, std::size_t record, std::uint64_t epoch) noexcept;
    Completion finish(Completion c) noexcept;  // the caller's user_data back, the record completed
    void count_in_flight() noexcept { in_flight_ = injected_n_ + real_->in_flight(); }

    std::unique_ptr<Engine> owned_;  // first: destroyed last
    Engine* real_;
    std::shared_ptr<Plan> plan_;
    std::vector<Slot> slots_;              // capacity_ of them; a request carries its index
    std::vector<Completion> injected_;     // a ring of capacity_ completions of failed requests
    std::size_t injected_head_ = 0;
    std::size_t injected_n_ = 0;
};

/// The plan installed for this process, or null.
std::shared_ptr<Plan> installed() noexcept;

/// Installs a plan for the whole process while it lives; restores the one before (plans
/// nest). Not to be created or destroyed while another thread starts an operation that
/// must see one plan or the other.
class ScopedFaultPlan {
public:
    explicit ScopedFaultPlan(std::shared_ptr<Plan> plan = std::make_shared<Plan>());
    ~ScopedFaultPlan();
    ScopedFaultPlan(const ScopedFaultPlan&) = delete;
    ScopedFaultPlan& operator=(const ScopedFaultPlan&) = delete;

    Plan& plan() const noexcept { return *plan_; }
    Plan* operator->() const noexcept { return plan_.get(); }
    const std::shared_ptr<Plan>& shared() const noexcept { return plan_; }

private:
    std::shared_ptr<Plan> plan_;
    std::shared_ptr<Plan> previous_;
};

// ---- where the library calls in (io/engine.cpp, io/extend.cpp, io/prefault.cpp) ---------

/// thread_engine(): while a plan is installed, this thread's FaultEngine over `real`;
/// otherwise `real`.
Engine& thread_engine_hook(Engine& real);
/// Prefault's own engine: wrapped (owning) while a plan is installed.
std::unique_ptr<Engine> owned_engine_hook(std::unique_ptr<Engine> real);
/// Extension's request for an op its engine lacks: if the engine is a FaultEngine, runs it
/// through the plan and returns true with the result; false otherwise (run it yourself).
bool direct_request_hook(Engine& engine, const Request& r, std::int64_t& result) noexcept;

}  // namespace io::fault
SHMREGION_NAMESPACE_END
