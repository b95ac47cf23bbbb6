// The fault-injecting I/O engine (io/fault.hpp). Compiled into shmregion_testing only: the
// installed library has none of it (CTest shipped_library_has_no_hooks checks).
#ifdef SHMREGION_TEST_HOOKS
#include "io/fault.hpp"
#include "sys/fork_safety.hpp"

#include "io/engine_impl.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <new>

SHMREGION_NAMESPACE_BEGIN
namespace io::fault {

// ---- Plan -----------------------------------------------------------------------------------

Plan& Plan::add(const Rule& rule) {
    std::lock_guard lk(mu_);
    rules_.push_back(rule);
    return *this;
}

Plan& Plan::fail(Op op, std::uint64_t nth, int error, std::uint64_t times) {
    return add(Rule{op, nth, times, Action::fail, error, 0});
}

Plan& Plan::fail_any(std::uint64_t nth, int error, std::uint64_t times) {
    return add(Rule{std::nullopt, nth, times, Action::fail, error, 0});
}

Plan& Plan::reject(Op op, std::uint64_t nth, int error, std::uint64_t times) {
    return add(Rule{op, nth, times, Action::reject, error, 0});
}

Plan& Plan::short_write(std::uint64_t nth, std::uint64_t bytes, std::uint64_t times) {
    return add(Rule{Op::write, nth, times, Action::short_transfer, 0, bytes});
}

std::vector<Record> Plan::records() const {
    std::lock_guard lk(mu_);
    return records_;
}

std::vector<Record> Plan::records(Op op) const {
    std::lock_guard lk(mu_);
    std::vector<Record> out;
    for (const auto& r : records_)
        if (r.op == op) out.push_back(r);
    return out;
}

std::uint64_t Plan::count(Op op) const {
    std::lock_guard lk(mu_);
    return counts_[static_cast<std::size_t>(op)];
}

std::uint64_t Plan::count() const {
    std::lock_guard lk(mu_);
    return total_;
}

std::uint64_t Plan::injected() const {
    std::lock_guard lk(mu_);
    return injected_;
}

void Plan::clear() {
    std::lock_guard lk(mu_);
    records_.clear();
    for (auto& c : counts_) c = 0;
    total_ = 0;
    events_ = 0;
    injected_ = 0;
    ++epoch_;
}

Plan::Hit Plan::enter(const Request& r, EngineKind engine, bool direct) noexcept {
    const std::uint64_t of_op = ++counts_[static_cast<std::size_t>(r.op)];
    const std::uint64_t overall = ++total_;
    Hit h;
    for (const Rule& rule : rules_) {
        if (rule.op && *rule.op != r.op) continue;
        const std::uint64_t n = rule.op ? of_op : overall;
        if (n < rule.nth || (rule.times != every && n - rule.nth >= rule.times)) continue;
        if (rule.action == Action::short_transfer) {
            if (r.op != Op::write && r.op != Op::read) continue;
            if (rule.bytes >= r.length) continue;  // not short at all
        }
        h.action = rule.action;
        h.error = rule.error;
        h.bytes = rule.bytes;
        break;
    }
    Record rec;
    rec.op = r.op;
    rec.fd = r.fd;
    if (struct stat st {}; r.fd >= 0 && ::fstat(r.fd, &st) == 0) {
        rec.dev = st.st_dev;
        rec.ino = st.st_ino;
    }
    rec.addr = r.addr;
    rec.offset = r.offset;
    rec.length = r.length;
    rec.forwarded = h.action == Action::short_transfer ? h.bytes : h.action ? 0 : r.length;
    rec.arg = r.arg;
    rec.engine = engine;
    rec.direct = direct;
    rec.nth_of_op = of_op;
    rec.nth = overall;
    rec.fault = h.action;
    rec.submitted = ++events_;
    if (h.action) ++injected_;
    try {
        records_.push_back(rec);
    } catch (const std::bad_alloc&) {
        // A test that runs out of memory fails anyway; the request still goes through.
    }
    h.record = records_.size() - 1;
    return h;
}

void Plan::undo(const Hit& h) noexcept {
    if (!records_.empty() && h.record == records_.size() - 1) {
        const Record& rec = records_.back();
        --counts_[static_cast<std::size_t>(rec.op)];
        --total_;
        if (rec.fault) --injected_;
        records_.pop_back();
    }
}

void Plan::complete(std::size_t record, std::uint64_t epoch, std::int64_t result) noexcept {
    if (epoch != epoch_ || record >= records_.size()) return;
    records_[record].completed = ++events_;
    records_[record].result = result;
}

// ---- FaultEngine ----------------------------------------------------------------------------

FaultEngine::FaultEngine(Engine& real, std::shared_ptr<Plan> plan)
    : Engine(real.capacity()), real_(&real), plan_(std::move(plan)), slots_(real.capacity()),
      injected_(real.capacity()) {
    count_in_flight();
}

FaultEngine::FaultEngine(std::unique_ptr<Engine> real, std::shared_ptr<Plan> plan)
    : FaultEngine(*real, std::move(plan)) {
    owned_ = std::move(real);
}

std::size_t FaultEngine::take_slot(std::uint64_t user_data, std::size_t record, std::uint64_t epoch) noexcept {
    for (std::size_t i = 0; i < slots_.size(); ++i)
        if (!slots_[i].used) {
            slots_[i] = Slot{user_data, record, epoch, true};
            return i;
        }
    return slots_.size();  // cannot happen: in_flight() < capacity() when called
}

Completion FaultEngine::finish(Completion c) noexcept {
    if (c.user_data >= slots_.size() || !slots_[c.user_data].used) return c;  // not ours
    Slot& s = slots_[c.user_data];
    {
        std::lock_guard lk(plan_->mu_);
        plan_->complete(s.record, s.epoch, c.result);
    }
    s.used = false;
    return Completion{s.user_data, c.result};
}

int FaultEngine::submit(std::span<const Request> batch) noexcept {
    if (int rc = detail::check_batch(*this, batch); rc < 0) return rc;
    int started = 0;
    for (const Request& r : batch) {
        count_in_flight();
        if (in_flight_ >= capacity_) break;
        std::lock_guard lk(plan_->mu_);
        const Plan::Hit h = plan_->enter(r, real_->kind(), false);
        if (h.action == Action::reject) {
            // Not started. After others: a partial submission (as io_submit() reports one),
            // the caller submits the rest again; at the head: the error.
            if (h.record < plan_->records_.size()) plan_->records_[h.record].result = -h.error;
            if (started > 0) break;
            return -h.error;
        }
        const std::size_t slot = take_slot(r.user_data, h.record, plan_->epoch_);
        if (slot == slots_.size()) {
            plan_->undo(h);
            break;
        }
        if (h.action == Action::fail || (h.action == Action::short_transfer && h.bytes == 0)) {
            injected_[(injected_head_ + injected_n_) % injected_.size()] =
                Completion{slot, h.action == Action::fail ? -static_cast<std::int64_t>(h.error) : 0};
            ++injected_n_;
            ++started;
            continue;
        }
        Request forward = r;
        forward.user_data = slot;
        if (h.action == Action::short_transfer) forward.length = h.bytes;
        const int rc = real_->submit(std::span<const Request>(&forward, 1));
        if (rc != 1) {
            plan_->undo(h);
            slots_[slot].used = false;
            count_in_flight();
            return started > 0 ? started : rc;
        }
        ++started;
    }
    count_in_flight();
    return started > 0 || batch.empty() ? started : -EAGAIN;  // -EAGAIN: the queue is full
}

int FaultEngine::reap(std::span<Completion> out, std::size_t min_complete) noexcept {
    count_in_flight();
    const std::size_t want = std::min({min_complete, in_flight_, out.size()});
    std::size_t got = 0;
    while (got < out.size() && injected_n_ > 0) {
        out[got++] = finish(injected_[injected_head_]);
        injected_head_ = (injected_head_ + 1) % injected_.size();
        --injected_n_;
    }
    if (got < out.size() && real_->in_flight() > 0) {
        const int n = real_->reap(out.subspan(got), want > got ? want - got : 0);
        if (n < 0) {
            count_in_flight();
            return got > 0 ? static_cast<int>(got) : n;
        }
        for (int i = 0; i < n; ++i) out[got + static_cast<std::size_t>(i)] = finish(out[got + static_cast<std::size_t>(i)]);
        got += static_cast<std::size_t>(n);
    }
    count_in_flight();
    return static_cast<int>(got);
}

std::int64_t FaultEngine::run_direct(const Request& r) noexcept {
    if (int rc = detail::check_request(r); rc < 0) return rc;
    std::lock_guard lk(plan_->mu_);
    const Plan::Hit h = plan_->enter(r, real_->kind(), true);
    std::int64_t result;
    if (h.action == Action::fail || h.action == Action::reject) {
        result = -static_cast<std::int64_t>(h.error);
    } else if (h.action == Action::short_transfer) {
        Request shortened = r;
        shortened.length = h.bytes;
        result = h.bytes == 0 ? 0 : detail::run_now(shortened);
    } else {
        result = detail::run_now(r);
    }
    plan_->complete(h.record, plan_->epoch_, result);
    return result;
}

// ---- installing -----------------------------------------------------------------------------

namespace {

std::mutex g_mu;
std::shared_ptr<Plan> g_plan;

std::shared_ptr<Plan> swap_installed(std::shared_ptr<Plan> plan) {
    std::lock_guard lk(g_mu);
    std::swap(g_plan, plan);
    return plan;
}

}  // namespace

std::shared_ptr<Plan> installed() noexcept {
    std::lock_guard lk(g_mu);
    return g_plan;
}

ScopedFaultPlan::ScopedFaultPlan(std::shared_ptr<Plan> plan) : plan_(std::move(plan)) {
    if (!plan_) plan_ = std::make_shared<Plan>();
    previous_ = swap_installed(plan_);
}

ScopedFaultPlan::~ScopedFaultPlan() { (void)swap_installed(std::move(previous_)); }

// ---- the hooks ------------------------------------------------------------------------------

Engine& thread_engine_hook(Engine& real) {
    struct Cache {
        pid_t pid = 0;
        std::unique_ptr<FaultEngine> wrappers[5];  // by EngineKind
    };
    thread_local Cache cache;
    const pid_t self = shmregion::detail::current_pid();
    if (cache.pid != self) {  // a fork()ed child: the engines they wrapped were the parent's
        for (auto& w : cache.wrappers) w.reset();
        cache.pid = self;
    }
    auto& w = cache.wrappers[static_cast<std::size_t>(real.kind())];
    std::shared_ptr<Plan> plan = installed();
    if (!plan) {
        w.reset();
        return real;
    }
    // A wrapper left busy by a failed operation is replaced, as thread_engine() replaces
    // a real engine left busy (which it did before calling here).
    if (!w || w->plan() != plan || &w->real() != &real || w->in_flight() != 0)
        w = std::make_unique<FaultEngine>(real, std::move(plan));
    return *w;
}

std::unique_ptr<Engine> owned_engine_hook(std::unique_ptr<Engine> real) {
    std::shared_ptr<Plan> plan = installed();
    if (!plan || !real) return real;
    return std::make_unique<FaultEngine>(std::move(real), std::move(plan));
}

bool direct_request_hook(Engine& engine, const Request& r, std::int64_t& result) noexcept {
    auto* f = dynamic_cast<FaultEngine*>(&engine);
    if (!f) return false;
    result = f->run_direct(r);
    return true;
}

}  // namespace io::fault
SHMREGION_NAMESPACE_END
#endif
