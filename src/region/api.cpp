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

bool LockGuardBase::owns_lock() const noexcept { return node_.impl && node_.impl->holds(node_); }

void LockGuardBase::mark_consistent() noexcept {
    if (owns_lock()) node_.impl->mark_consistent(node_);
}

LockGuard& LockGuard::operator=(LockGuard&& other) noexcept {
    if (this != &other) {
        unlock();
        node_ = std::exchange(other.node_, {});
    }
    return *this;
}

LockGuard::~LockGuard() { unlock(); }

void LockGuard::unlock() noexcept {
    if (!node_.impl) return;
    // Another thread's lock cannot be released here (error-checking): the guard lets go.
    if (node_.impl->release(node_) != 0) node_.impl->forget(node_);
}

SharedLockGuard& SharedLockGuard::operator=(SharedLockGuard&& other) noexcept {
    if (this != &other) {
        unlock();
        node_ = std::exchange(other.node_, {});
    }
    return *this;
}

SharedLockGuard::~SharedLockGuard() { unlock(); }

void SharedLockGuard::unlock() noexcept {
    RegionImpl* r = node_.impl;
    if (!r) return;
    if (r->holds(node_)) [[likely]]
        detail::shared_release(r->table, node_.index);
    r->forget(node_);
}

// ---- Region ------------------------------------------------------------------------------

Region::Region() noexcept = default;
Region::Region(std::unique_ptr<RegionImpl> impl) noexcept : impl_(std::move(impl)) {}
Region::Region(Region&& other) noexcept = default;

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

// The blocking and try forms start with the uncontended path, which cannot fail or wait
// (RegionImpl::*_fast*); anything else takes the full path, with the checks and errors.

LockGuard Region::try_lock_for(std::chrono::nanoseconds timeout) {
    return on("try_lock_for", impl_, region_lock(Wait::within(timeout)));
}
LockGuard Region::try_lock_for(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
    return on("try_lock_for", impl_, ec, region_lock(Wait::within(timeout)));
}

std::uint32_t Region::lock_count() const noexcept { return attached() ? impl_->table.count : 0; }

namespace {
// The full paths, out of line so that the uncontended ones need no saved registers or stack.
[[gnu::noinline]] LockGuard exclusive_full(const std::unique_ptr<RegionImpl>& impl, const char* op,
                                           std::uint32_t index, Wait w, int fast) {
    return on(op, impl, [&](RegionImpl& r) { return r.exclusive_guard(index, w, fast); });
}
[[gnu::noinline]] LockGuard exclusive_full(const std::unique_ptr<RegionImpl>& impl, const char* op,
                                           std::uint32_t index, Wait w, int fast, std::error_code& ec) noexcept {
    return on(op, impl, ec, [&](RegionImpl& r) { return r.exclusive_guard(index, w, fast); });
}
[[gnu::noinline]] SharedLockGuard shared_full(const std::unique_ptr<RegionImpl>& impl, const char* op,
                                              std::uint32_t index, Wait w) {
    return on(op, impl, shared(index, w));
}
[[gnu::noinline]] SharedLockGuard shared_full(const std::unique_ptr<RegionImpl>& impl, const char* op,
                                              std::uint32_t index, Wait w, std::error_code& ec) noexcept {
    return on(op, impl, ec, shared(index, w));
}
[[gnu::noinline]] LockGuard region_full(const std::unique_ptr<RegionImpl>& impl, Wait w, int rc) {
    return on("lock", impl, [&](RegionImpl& r) { return r.region_guard_from(w, rc); });
}
[[gnu::noinline]] LockGuard region_full(const std::unique_ptr<RegionImpl>& impl, Wait w, int rc,
                                        std::error_code& ec) noexcept {
    return on("lock", impl, ec, [&](RegionImpl& r) { return r.region_guard_from(w, rc); });
}
}  // namespace

LockGuard Region::lock() {
    LockGuard g;
    int rc = -1;
    if (impl_ && impl_->region_fast(g, rc)) [[likely]]
        return g;
    g = region_full(impl_, Wait::for_ever(), rc);
    return g;
}
LockGuard Region::lock(std::error_code& ec) noexcept {
    ec.clear();
    LockGuard g;
    int rc = -1;
    if (impl_ && impl_->region_fast(g, rc)) [[likely]]
        return g;
    g = region_full(impl_, Wait::for_ever(), rc, ec);
    return g;
}
// The uncontended path inline; anything else (waiting, errors) out of line.
#define SHMREGION_EXCLUSIVE(op, wait, ...)                                   \
    LockGuard g;                                                             \
    int fast = detail::kFastNotTried;                                        \
    if (impl_ && impl_->exclusive_fast_into(index, g, fast)) [[likely]]      \
        return g;                                                            \
    g = exclusive_full(impl_, op, index, wait, fast __VA_OPT__(, ) __VA_ARGS__); \
    return g
#define SHMREGION_SHARED(op, wait, ...)                                      \
    SharedLockGuard g;                                                       \
    if (impl_ && impl_->shared_fast_into(index, g)) [[likely]]               \
        return g;                                                            \
    g = shared_full(impl_, op, index, wait __VA_OPT__(, ) __VA_ARGS__);      \
    return g

LockGuard Region::lock(std::uint32_t index) { SHMREGION_EXCLUSIVE("lock", Wait::for_ever()); }
LockGuard Region::lock(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    SHMREGION_EXCLUSIVE("lock", Wait::for_ever(), ec);
}
LockGuard Region::try_lock(std::uint32_t index) { SHMREGION_EXCLUSIVE("try_lock", Wait::try_only()); }
LockGuard Region::try_lock(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    SHMREGION_EXCLUSIVE("try_lock", Wait::try_only(), ec);
}
LockGuard Region::try_lock_for(std::uint32_t index, std::chrono::nanoseconds timeout) {
    return on("try_lock_for", impl_, exclusive(index, Wait::within(timeout)));
}
LockGuard Region::try_lock_for(std::uint32_t index, std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
    return on("try_lock_for", impl_, ec, exclusive(index, Wait::within(timeout)));
}
SharedLockGuard Region::lock_shared(std::uint32_t index) { SHMREGION_SHARED("lock_shared", Wait::for_ever()); }
SharedLockGuard Region::lock_shared(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    SHMREGION_SHARED("lock_shared", Wait::for_ever(), ec);
}
SharedLockGuard Region::try_lock_shared(std::uint32_t index) { SHMREGION_SHARED("try_lock_shared", Wait::try_only()); }
SharedLockGuard Region::try_lock_shared(std::uint32_t index, std::error_code& ec) noexcept {
    ec.clear();
    SHMREGION_SHARED("try_lock_shared", Wait::try_only(), ec);
}
#undef SHMREGION_EXCLUSIVE
#undef SHMREGION_SHARED
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
    Retire retire{impl};
    detail::entry(context("detach", impl), [&] { impl->detach(); });
}
void Region::detach(std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) return;
    auto impl = std::move(impl_);
    Retire retire{impl};
    detail::entry(context("detach", impl), ec, [&] { impl->detach(); });
}

SHMREGION_NAMESPACE_END
