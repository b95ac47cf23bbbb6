// The public Region and LockGuard: thin wrappers over RegionImpl. Each operation is one
// function run both ways by detail::entry (sys/failure.hpp): throwing, or into an
// std::error_code with the message kept in last_error_message().
#include "region/region_impl.hpp"

#include "sys/failure.hpp"

#include <shmregion/region.hpp>

#include <unistd.h>

#include <utility>

SHMREGION_NAMESPACE_BEGIN

using detail::RegionImpl;

// ---- LockGuard and SharedLockGuard -------------------------------------------------------

namespace {
RegionImpl* attach_of(const detail::GuardNode& n) noexcept { return static_cast<RegionImpl*>(n.impl); }
}  // namespace

bool LockGuardBase::owns_lock() const noexcept { return node_.impl && attach_of(node_)->holds(node_); }

void LockGuardBase::mark_consistent() noexcept {
    if (owns_lock()) attach_of(node_)->mark_consistent(node_);
}

LockGuard& LockGuard::operator=(LockGuard&& other) noexcept {
    if (this != &other) {
        unlock();
        node_ = std::exchange(other.node_, {});
    }
    return *this;
}

void LockGuardBase::unlock_slow() noexcept {
    // Another thread's lock cannot be released here (error-checking): the guard lets go.
    if (attach_of(node_)->release(node_) != 0) detail::forget(node_);
}

SharedLockGuard& SharedLockGuard::operator=(SharedLockGuard&& other) noexcept {
    if (this != &other) {
        unlock();
        node_ = std::exchange(other.node_, {});
    }
    return *this;
}


// ---- Region ------------------------------------------------------------------------------

Region::Region() noexcept = default;
Region::Region(std::unique_ptr<RegionImpl> impl) noexcept : impl_(std::move(impl)), inline_(impl_.get()) {}
Region::Region(Region&& other) noexcept
    : impl_(std::move(other.impl_)), inline_(std::exchange(other.inline_, nullptr)) {}

namespace {
/// At the end of a detach: an attach that guards still point at is left to the last of
/// them (RegionImpl::forget), never freed under them.
struct Retire {
    std::unique_ptr<RegionImpl>& impl;
    ~Retire() {
        if (impl && impl->guard_count != 0) {
            impl->orphaned = true;
            (void)impl.release();
        }
    }
};
}  // namespace

Region& Region::operator=(Region&& other) noexcept {
    if (this != &other) {
        std::error_code ignored;
        detach(ignored);
        impl_ = std::move(other.impl_);
        inline_ = std::exchange(other.inline_, nullptr);
    }
    return *this;
}

Region::~Region() {
    std::error_code ignored;
    detach(ignored);
}

namespace {

detail::Context context(const char* operation, const std::unique_ptr<RegionImpl>& impl) {
    if (!impl) return {operation};
    return {operation, impl->name, &impl->home};
}

[[noreturn]] void throw_not_attached() { detail::throw_failure(errc::not_attached, {}, "the Region is not attached"); }

[[gnu::always_inline]] inline RegionImpl& require(const std::unique_ptr<RegionImpl>& impl) {
    if (!impl || !impl->hdr) [[unlikely]]
        throw_not_attached();
    impl->check_owner();
    return *impl;
}

/// Runs fn(attach) for an operation on an attached Region, throwing. The context (naming
/// the region in an error) is made only if the operation fails.
template <class Fn>
[[gnu::always_inline]] inline decltype(auto) on(const char* operation, const std::unique_ptr<RegionImpl>& impl, Fn&& fn) {
    return detail::entry([&] { return context(operation, impl); }, [&]() -> decltype(auto) { return fn(require(impl)); });
}
/// The same into ec.
template <class Fn>
[[gnu::always_inline]] inline decltype(auto) on(const char* operation, const std::unique_ptr<RegionImpl>& impl,
                                                std::error_code& ec, Fn&& fn) noexcept {
    return detail::entry([&] { return context(operation, impl); }, ec,
                         [&]() -> decltype(auto) { return fn(require(impl)); });
}

/// The same, into *ec, or throwing when ec is nullptr (the lock calls' full paths).
template <class Fn>
decltype(auto) on(const char* operation, const std::unique_ptr<RegionImpl>& impl, std::error_code* ec, Fn&& fn) {
    return ec ? on(operation, impl, *ec, fn) : on(operation, impl, fn);
}

const std::string kEmptyString;
const std::filesystem::path kEmptyPath;


}  // namespace

Region Region::attach(const Options& opts) {
    return detail::entry({"attach", opts.name, &opts.home}, [&] { return Region(detail::attach(opts)); });
}
Region Region::attach(const Options& opts, std::error_code& ec) noexcept {
    return detail::entry({"attach", opts.name, &opts.home}, ec, [&] { return Region(detail::attach(opts)); });
}

bool Region::attached() const noexcept { return impl_ && impl_->hdr; }
void* Region::data() const noexcept { return attached() ? impl_->mapping->base() + impl_->header_bytes : nullptr; }
std::size_t Region::size() const noexcept { return attached() ? impl_->usable_size() : 0; }
std::size_t Region::max_size() const noexcept { return attached() ? impl_->usable_max() : 0; }
bool Region::created() const noexcept { return impl_ && impl_->created; }
Backing Region::backing() const noexcept { return attached() ? impl_->store->kind() : Backing::any; }
std::uint32_t Region::slot() const noexcept { return impl_ ? impl_->slot : 0; }
const std::string& Region::name() const noexcept { return impl_ ? impl_->name : kEmptyString; }
const std::filesystem::path& Region::home() const noexcept { return impl_ ? impl_->home : kEmptyPath; }
const std::filesystem::path& Region::file() const noexcept { return impl_ ? impl_->file : kEmptyPath; }
io::PrefaultHandle Region::background_prefault() const noexcept { return impl_ ? impl_->background : io::PrefaultHandle(); }

io::EngineKind Region::io_engine() const noexcept {
    if (!impl_) return io::EngineKind::sync;
    if (!impl_->engine_chosen) {
        // An accessor: a failed choice is not a failed call, so last_error_message() stays
        // as it was; the operation that needs an engine reports why none can be chosen.
        try {
            impl_->choose_engine();
        } catch (...) {
            return io::EngineKind::automatic;
        }
    }
    return impl_->engine_kind;
}

// ---- locks ---------------------------------------------------------------------------------

namespace {
using detail::Wait;
auto region_lock(const Wait& w) {
    return [w](RegionImpl& r) { return r.region_guard(w); };
}
auto exclusive(std::uint32_t index, const Wait& w) {
    return [index, w](RegionImpl& r) { return r.exclusive_guard(index, w); };
}
auto shared(std::uint32_t index, const Wait& w) {
    return [index, w](RegionImpl& r) { return r.shared_guard(index, w); };
}
}  // namespace

LockGuard Region::try_lock_for(std::chrono::nanoseconds timeout) {
    return on("try_lock_for", impl_, region_lock(Wait::within(timeout)));
}
LockGuard Region::try_lock_for(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
    return on("try_lock_for", impl_, ec, region_lock(Wait::within(timeout)));
}

std::uint32_t Region::lock_count() const noexcept { return attached() ? impl_->table.count : 0; }

// The full paths of the calls whose uncontended path is inline (region.hpp): `rc` / `fast`
// say what the inline attempt did.
void Region::lock_slow(LockGuard& g, int rc, std::error_code* ec) {
    g = on("lock", impl_, ec, [&](RegionImpl& r) { return r.region_guard_from(Wait::for_ever(), rc); });
}
void Region::lock_slow(LockGuard& g, const char* op, std::uint32_t index, int fast, bool try_only,
                       std::error_code* ec) {
    const Wait w = try_only ? Wait::try_only() : Wait::for_ever();
    g = on(op, impl_, ec, [&](RegionImpl& r) { return r.exclusive_guard(index, w, fast); });
}
void Region::lock_shared_slow(SharedLockGuard& g, const char* op, std::uint32_t index, bool try_only,
                              std::error_code* ec) {
    g = on(op, impl_, ec, shared(index, try_only ? Wait::try_only() : Wait::for_ever()));
}
LockGuard Region::try_lock_for(std::uint32_t index, std::chrono::nanoseconds timeout) {
    return on("try_lock_for", impl_, exclusive(index, Wait::within(timeout)));
}
LockGuard Region::try_lock_for(std::uint32_t index, std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
    return on("try_lock_for", impl_, ec, exclusive(index, Wait::within(timeout)));
}
SharedLockGuard Region::try_lock_shared_for(std::uint32_t index, std::chrono::nanoseconds timeout) {
    return on("try_lock_shared_for", impl_, shared(index, Wait::within(timeout)));
}
SharedLockGuard Region::try_lock_shared_for(std::uint32_t index, std::chrono::nanoseconds timeout,
                                            std::error_code& ec) noexcept {
    return on("try_lock_shared_for", impl_, ec, shared(index, Wait::within(timeout)));
}

AttacherIdentity Region::identity() const noexcept {
    if (!attached() || !impl_->has_slot) return {};
    return {impl_->slot, detail::load_acquire(detail::slot_at(impl_->hdr, impl_->slot)->generation)};
}

bool Region::alive(AttacherIdentity who) const noexcept { return attached() && impl_->alive(who); }

void Region::grow(std::uint64_t new_size) {
    on("grow", impl_, [&](RegionImpl& r) { r.grow(new_size); });
}
void Region::grow(std::uint64_t new_size, std::error_code& ec) noexcept {
    on("grow", impl_, ec, [&](RegionImpl& r) { r.grow(new_size); });
}

bool Region::refresh() { return on("refresh", impl_, [](RegionImpl& r) { return r.refresh(); }); }
bool Region::refresh(std::error_code& ec) noexcept {
    return on("refresh", impl_, ec, [](RegionImpl& r) { return r.refresh(); });
}

void Region::prefault() { on("prefault", impl_, [](RegionImpl& r) { r.prefault(); }); }
void Region::prefault(std::error_code& ec) noexcept { on("prefault", impl_, ec, [](RegionImpl& r) { r.prefault(); }); }

io::PrefaultHandle Region::prefault_async() {
    return on("prefault", impl_, [](RegionImpl& r) { return r.start_prefault(); });
}
io::PrefaultHandle Region::prefault_async(std::error_code& ec) noexcept {
    return on("prefault", impl_, ec, [](RegionImpl& r) { return r.start_prefault(); });
}

void Region::flush() { on("flush", impl_, [](RegionImpl& r) { r.flush(); }); }
void Region::flush(std::error_code& ec) noexcept { on("flush", impl_, ec, [](RegionImpl& r) { r.flush(); }); }

void Region::mark_for_removal() {
    on("mark_for_removal", impl_, [](RegionImpl& r) { r.mark_for_removal(); });
}
void Region::mark_for_removal(std::error_code& ec) noexcept {
    on("mark_for_removal", impl_, ec, [](RegionImpl& r) { r.mark_for_removal(); });
}

std::size_t Region::reap_dead_attachers() {
    return on("reap_dead_attachers", impl_, [](RegionImpl& r) { return r.reap_dead_locked(); });
}
std::size_t Region::reap_dead_attachers(std::error_code& ec) noexcept {
    return on("reap_dead_attachers", impl_, ec, [](RegionImpl& r) { return r.reap_dead_locked(); });
}

namespace {
void join_after_fork_of(const std::unique_ptr<RegionImpl>& impl) {
    if (!impl) detail::throw_failure(errc::not_attached, {}, "the Region is not attached");
    impl->join_after_fork();
}
}  // namespace

void Region::join_after_fork() {
    detail::entry(context("join_after_fork", impl_), [&] { join_after_fork_of(impl_); });
}
void Region::join_after_fork(std::error_code& ec) noexcept {
    detail::entry(context("join_after_fork", impl_), ec, [&] { join_after_fork_of(impl_); });
}

void Region::detach() {
    if (!impl_) return;
    auto impl = std::move(impl_);
    inline_ = nullptr;
    Retire retire{impl};
    detail::entry(context("detach", impl), [&] { impl->detach(); });
}
void Region::detach(std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) return;
    auto impl = std::move(impl_);
    inline_ = nullptr;
    Retire retire{impl};
    detail::entry(context("detach", impl), ec, [&] { impl->detach(); });
}

SHMREGION_NAMESPACE_END
