// The C API (include/shmregion/shmregion.h): a thin layer over the public C++ API's
// error_code& forms. It converts arguments and results, maps std::error_code to the C
// codes, and lets the C++ calls word the messages (last_error_message()). Failures of its
// own (a NULL argument, an enum value out of range) are worded the same way through
// detail::store_failure. No exception leaves a function here.
#include "sys/failure.hpp"

#include <shmregion/shmregion.h>
#include <shmregion/shmregion.hpp>

#include <array>
#include <chrono>
#include <vector>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <pthread.h>
#include <string>
#include <utility>

namespace sr = shmregion;

// The handle: an attach and the locks it holds: the region lock, and per table lock an
// exclusive guard and a stack of shares (sized at the first table lock call). An exclusive
// lock belongs to the thread that took it (a robust mutex): its thread is kept beside it, so
// an unlock from another thread is refused (-EPERM) and the lock stays held and known.
struct shmregion_region {
    sr::Region region;
    sr::LockGuard guard;
    pthread_t guard_thread{};
    std::vector<sr::LockGuard> exclusive;
    std::vector<pthread_t> exclusive_thread;
    std::vector<std::vector<sr::SharedLockGuard>> shared;
    ~shmregion_region() {  // guards first: they release into the attach
        shared.clear();
        exclusive.clear();
        guard.unlock();
    }
};

namespace {

// The C enumerations carry the C++ values; keep them in step.
static_assert(SHMREGION_BACKING_ANY == static_cast<int>(sr::Backing::any));
static_assert(SHMREGION_BACKING_FILE == static_cast<int>(sr::Backing::file));
static_assert(SHMREGION_BACKING_POSIX == static_cast<int>(sr::Backing::posix));
static_assert(SHMREGION_BACKING_SYSV == static_cast<int>(sr::Backing::sysv));
static_assert(SHMREGION_BACKING_ANONYMOUS == static_cast<int>(sr::Backing::anonymous));
static_assert(SHMREGION_BACKING_HEAP == static_cast<int>(sr::Backing::heap));
static_assert(SHMREGION_ENGINE_AUTO == static_cast<int>(sr::io::EngineKind::automatic));
static_assert(SHMREGION_ENGINE_URING == static_cast<int>(sr::io::EngineKind::uring));
static_assert(SHMREGION_ENGINE_LIBAIO == static_cast<int>(sr::io::EngineKind::libaio));
static_assert(SHMREGION_ENGINE_POSIX == static_cast<int>(sr::io::EngineKind::posix));
static_assert(SHMREGION_ENGINE_SYNC == static_cast<int>(sr::io::EngineKind::sync));
// One C code per errc, SHMREGION_EBASE - value, the last one SHMREGION_ELAST.
static_assert(SHMREGION_EINVALID_NAME == SHMREGION_EBASE - static_cast<int>(sr::errc::invalid_name));
static_assert(SHMREGION_ENOT_FOUND == SHMREGION_EBASE - static_cast<int>(sr::errc::region_not_found));
static_assert(SHMREGION_EWRONG_PROCESS == SHMREGION_EBASE - static_cast<int>(sr::errc::wrong_process));
static_assert(SHMREGION_EENGINE_UNAVAILABLE == SHMREGION_EBASE - static_cast<int>(sr::errc::engine_unavailable));
static_assert(SHMREGION_ELAST == SHMREGION_EBASE - static_cast<int>(sr::errc::segment_foreign));

constexpr int kErrcCount = SHMREGION_EBASE - SHMREGION_ELAST;  // errc values 1..kErrcCount

// The size of the first version's structs: the least a caller may pass.
constexpr std::size_t kOptionsV1Size = offsetof(shmregion_options, locks);
constexpr std::size_t kInfoV1Size = offsetof(shmregion_info, lock_count);
// This version's: what it reads and fills.
constexpr std::size_t kOptionsSize = sizeof(shmregion_options);

int to_code(const std::error_code& ec) noexcept {
    if (!ec) return 0;
    const int v = ec.value();
    if (ec.category() == sr::category()) return v >= 1 && v <= kErrcCount ? SHMREGION_EBASE - v : SHMREGION_EUNKNOWN;
    if (ec.category() == std::generic_category() || ec.category() == std::system_category())
        return v > 0 && v < -SHMREGION_EBASE ? -v : SHMREGION_EUNKNOWN;
    return SHMREGION_EUNKNOWN;
}

// A failure found here, worded as the C++ API words its own:
// "<operation> '<region>' (home <home>): <detail>".
int fail(std::string_view operation, std::string_view region, const std::filesystem::path* home,
         std::error_code code, std::string detail) noexcept {
    try {
        std::error_code ec;
        sr::detail::Context ctx{operation, region, home};
        sr::detail::store_failure(ec, code, sr::detail::error_for(ctx, sr::detail::Failure{code, {}, std::move(detail)}).what());
    } catch (...) {
        std::error_code ec;
        sr::detail::store_failure(ec, code, std::string(operation));
    }
    return to_code(code);
}

int fail_errno(std::string_view operation, int err, std::string detail) noexcept {
    return fail(operation, {}, nullptr, std::error_code(err, std::generic_category()), std::move(detail));
}

int fail_on(const shmregion_region* r, std::string_view operation, std::error_code code, std::string detail) noexcept {
    if (!r || !r->region.attached()) return fail(operation, {}, nullptr, code, std::move(detail));
    return fail(operation, r->region.name(), &r->region.home(), code, std::move(detail));
}

// Runs fn (which returns an int code), turning an exception (out of memory while converting
// arguments) into a code with a message.
template <class Fn>
int guarded(std::string_view operation, Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return fail_errno(operation, ENOMEM, "out of memory");
    } catch (...) {
        return fail_errno(operation, EIO, "unexpected exception");
    }
}

#define SHMREGION_C_REQUIRE_HANDLE(r, op) \
    if (!(r)) return fail_errno(op, EINVAL, "the shmregion_region* is NULL")

std::string str(const char* s) { return s ? std::string(s) : std::string(); }

}  // namespace

extern "C" {

SHMREGION_API int shmregion_options_init_sized(shmregion_options* o, size_t struct_size) {
    if (!o) return fail_errno("options_init", EINVAL, "the shmregion_options* is NULL");
    if (struct_size < kOptionsV1Size)
        return fail_errno("options_init", EINVAL,
                          "struct_size " + std::to_string(struct_size) + " is smaller than any shmregion_options (" +
                              std::to_string(kOptionsV1Size) + ")");
    // Fields a newer header has and this library does not know: zero (their defaults must be
    // zero, the rule for every field added later).
    std::memset(o, 0, struct_size);
    const sr::Options d;
    o->struct_size = struct_size;
    o->home = nullptr;
    o->name = nullptr;
    o->backing = static_cast<int>(d.backing);
    o->open_mode = SHMREGION_CREATE_OR_JOIN;
    o->size = d.size;
    o->max_size = d.max_size;
    o->max_attachers = d.max_attachers;
    o->permissions = static_cast<uint32_t>(d.permissions);
    o->join_timeout_ms = static_cast<int64_t>(d.join_timeout.count());
    o->io_engine = static_cast<int>(d.io_engine);
    o->prefault = SHMREGION_PREFAULT_NONE;
    o->remove_on_last_detach = d.remove_on_last_detach ? 1 : 0;
    o->require_same_owner = d.require_same_owner ? 1 : 0;
    if (struct_size >= offsetof(shmregion_options, locks) + sizeof o->locks) o->locks = d.locks;
    return 0;
}

SHMREGION_API int shmregion_attach(const shmregion_options* o, shmregion_region** out) {
    if (!out) return fail_errno("attach", EINVAL, "the shmregion_region** is NULL");
    *out = nullptr;
    if (!o) return fail_errno("attach", EINVAL, "the shmregion_options* is NULL");
    return guarded("attach", [&] {
        const std::string name = str(o->name);
        const std::filesystem::path home = str(o->home);
        auto invalid = [&](std::string detail) {
            return fail("attach", name, &home, sr::make_error_code(sr::errc::invalid_options), std::move(detail));
        };
        if (o->struct_size < kOptionsV1Size)
            return invalid("options struct_size " + std::to_string(o->struct_size) +
                           " is too small: fill the options with shmregion_options_init()");
        if (o->struct_size > kOptionsSize) {
            const auto* extra = reinterpret_cast<const unsigned char*>(o) + kOptionsSize;
            for (std::size_t i = 0; i < o->struct_size - kOptionsSize; ++i)
                if (extra[i] != 0)
                    return invalid("options set a field this library (" + std::string(sr::version()) +
                                   ") does not know (byte " + std::to_string(kOptionsSize + i) + " of struct_size " +
                                   std::to_string(o->struct_size) + ")");
        }
        sr::Options opts;
        opts.home = home;
        opts.name = name;
        if (o->backing < SHMREGION_BACKING_ANY || o->backing > SHMREGION_BACKING_HEAP)
            return invalid("backing " + std::to_string(o->backing) + " is not an enum shmregion_backing");
        opts.backing = static_cast<sr::Backing>(o->backing);
        switch (o->open_mode) {
            case SHMREGION_CREATE_OR_JOIN: opts.mode = sr::OpenMode::create_or_join; break;
            case SHMREGION_CREATE_ONLY: opts.mode = sr::OpenMode::create_only; break;
            case SHMREGION_JOIN_ONLY: opts.mode = sr::OpenMode::join_only; break;
            default: return invalid("open_mode " + std::to_string(o->open_mode) + " is not an enum shmregion_open_mode");
        }
        opts.size = o->size;
        opts.max_size = o->max_size;
        opts.max_attachers = o->max_attachers;
        if (o->struct_size >= offsetof(shmregion_options, locks) + sizeof o->locks) opts.locks = o->locks;
        opts.permissions = static_cast<::mode_t>(o->permissions);
        if (o->join_timeout_ms < 0) return invalid("join_timeout_ms " + std::to_string(o->join_timeout_ms) + " is negative");
        opts.join_timeout = std::chrono::milliseconds(o->join_timeout_ms);
        if (o->io_engine < SHMREGION_ENGINE_AUTO || o->io_engine > SHMREGION_ENGINE_SYNC)
            return invalid("io_engine " + std::to_string(o->io_engine) + " is not an enum shmregion_io_engine");
        opts.io_engine = static_cast<sr::io::EngineKind>(o->io_engine);
        switch (o->prefault) {
            case SHMREGION_PREFAULT_NONE: opts.prefault = sr::Prefault::none; break;
            case SHMREGION_PREFAULT_WAIT: opts.prefault = sr::Prefault::wait; break;
            case SHMREGION_PREFAULT_BACKGROUND: opts.prefault = sr::Prefault::background; break;
            default: return invalid("prefault " + std::to_string(o->prefault) + " is not an enum shmregion_prefault");
        }
        opts.remove_on_last_detach = o->remove_on_last_detach != 0;
        opts.require_same_owner = o->require_same_owner != 0;

        auto* h = new shmregion_region;
        std::error_code ec;
        h->region = sr::Region::attach(opts, ec);
        if (ec) {
            delete h;
            return to_code(ec);
        }
        *out = h;
        return 0;
    });
}

SHMREGION_API int shmregion_detach(shmregion_region* r) {
    if (!r) return 0;
    std::error_code ec;
    r->region.detach(ec);  // releases r->guard first
    delete r;
    return to_code(ec);
}

SHMREGION_API int shmregion_join_after_fork(shmregion_region* r) {
    SHMREGION_C_REQUIRE_HANDLE(r, "join_after_fork");
    std::error_code ec;
    r->region.join_after_fork(ec);
    return to_code(ec);
}

SHMREGION_API void* shmregion_data(const shmregion_region* r) { return r ? r->region.data() : nullptr; }
SHMREGION_API uint64_t shmregion_size(const shmregion_region* r) { return r ? r->region.size() : 0; }
SHMREGION_API uint64_t shmregion_max_size(const shmregion_region* r) { return r ? r->region.max_size() : 0; }
SHMREGION_API int shmregion_created(const shmregion_region* r) { return r && r->region.created() ? 1 : 0; }
SHMREGION_API int shmregion_backing(const shmregion_region* r) {
    return r && r->region.attached() ? static_cast<int>(r->region.backing()) : SHMREGION_BACKING_ANY;
}
SHMREGION_API const char* shmregion_name(const shmregion_region* r) {
    return r && r->region.attached() ? r->region.name().c_str() : "";
}
SHMREGION_API const char* shmregion_file(const shmregion_region* r) {
    return r && r->region.attached() ? r->region.file().c_str() : "";
}

SHMREGION_API int shmregion_grow(shmregion_region* r, uint64_t new_size) {
    SHMREGION_C_REQUIRE_HANDLE(r, "grow");
    std::error_code ec;
    r->region.grow(new_size, ec);
    return to_code(ec);
}

SHMREGION_API int shmregion_refresh(shmregion_region* r, int* changed) {
    if (changed) *changed = 0;
    SHMREGION_C_REQUIRE_HANDLE(r, "refresh");
    std::error_code ec;
    const bool c = r->region.refresh(ec);
    if (changed) *changed = c ? 1 : 0;
    return to_code(ec);
}

SHMREGION_API int shmregion_lock(shmregion_region* r) {
    SHMREGION_C_REQUIRE_HANDLE(r, "lock");
    std::error_code ec;
    sr::LockGuard g = r->region.lock(ec);
    if (ec) return to_code(ec);
    const bool died = g.owner_died();
    r->guard = std::move(g);
    r->guard_thread = pthread_self();
    return died ? SHMREGION_OWNER_DIED : 0;
}

SHMREGION_API int shmregion_try_lock_for(shmregion_region* r, int64_t timeout_ns) {
    SHMREGION_C_REQUIRE_HANDLE(r, "try_lock_for");
    std::error_code ec;
    sr::LockGuard g = r->region.try_lock_for(std::chrono::nanoseconds(timeout_ns), ec);
    if (ec) return to_code(ec);
    if (!g.owns_lock()) return -ETIMEDOUT;
    const bool died = g.owner_died();
    r->guard = std::move(g);
    r->guard_thread = pthread_self();
    return died ? SHMREGION_OWNER_DIED : 0;
}

SHMREGION_API int shmregion_unlock(shmregion_region* r) {
    SHMREGION_C_REQUIRE_HANDLE(r, "unlock");
    if (!r->guard.owns_lock())
        return fail_on(r, "unlock", std::make_error_code(std::errc::operation_not_permitted),
                       "this shmregion_region does not hold the region lock");
    if (!pthread_equal(r->guard_thread, pthread_self()))
        return fail_on(r, "unlock", std::make_error_code(std::errc::operation_not_permitted),
                       "the region lock is held by another thread of this process; release it on that thread");
    r->guard.unlock();
    return 0;
}

// ---- the lock table ---------------------------------------------------------------------

}  // extern "C"

namespace {

/// The handle's guards for the table, sized once the region is attached.
void size_table(shmregion_region* r) {
    const std::uint32_t n = r->region.lock_count();
    if (r->exclusive.size() != n) {
        r->exclusive.resize(n);
        r->exclusive_thread.resize(n);
        r->shared.resize(n);
    }
}

/// What an acquisition returns to C: the code of a failure, busy (try_code) for an empty
/// guard, else 0 or SHMREGION_OWNER_DIED, the guard kept in `slot`.
template <class Guard>
int acquired(Guard&& g, const std::error_code& ec, int try_code, Guard& slot) {
    if (ec) return to_code(ec);
    if (!g.owns_lock()) return try_code;
    const bool died = g.owner_died();
    slot = std::move(g);
    return died ? SHMREGION_OWNER_DIED : 0;
}

template <class Take>
int exclusive_c(shmregion_region* r, std::uint32_t index, int try_code, Take&& take) {
    std::error_code ec;
    sr::LockGuard g = take(ec);
    if (ec) return to_code(ec);
    size_table(r);
    const int rc = acquired(std::move(g), ec, try_code, r->exclusive[index]);
    if (rc >= 0 && r->exclusive[index].owns_lock()) r->exclusive_thread[index] = pthread_self();
    return rc;
}

template <class Take>
int shared_c(shmregion_region* r, std::uint32_t index, int try_code, Take&& take) {
    std::error_code ec;
    sr::SharedLockGuard g = take(ec);
    if (ec) return to_code(ec);
    size_table(r);
    auto& stack = r->shared[index];
    stack.emplace_back();
    const int rc = acquired(std::move(g), ec, try_code, stack.back());
    if (rc < 0) stack.pop_back();
    return rc;
}

}  // namespace

extern "C" {

SHMREGION_API uint32_t shmregion_lock_count(const shmregion_region* r) { return r ? r->region.lock_count() : 0; }

SHMREGION_API int shmregion_lock_index(shmregion_region* r, uint32_t index) {
    SHMREGION_C_REQUIRE_HANDLE(r, "lock");
    return exclusive_c(r, index, 0, [&](std::error_code& ec) { return r->region.lock(index, ec); });
}

SHMREGION_API int shmregion_try_lock_index(shmregion_region* r, uint32_t index) {
    SHMREGION_C_REQUIRE_HANDLE(r, "try_lock");
    return exclusive_c(r, index, -EBUSY, [&](std::error_code& ec) { return r->region.try_lock(index, ec); });
}

SHMREGION_API int shmregion_try_lock_index_for(shmregion_region* r, uint32_t index, int64_t timeout_ns) {
    SHMREGION_C_REQUIRE_HANDLE(r, "try_lock_for");
    return exclusive_c(r, index, -ETIMEDOUT, [&](std::error_code& ec) {
        return r->region.try_lock_for(index, std::chrono::nanoseconds(timeout_ns), ec);
    });
}

SHMREGION_API int shmregion_unlock_index(shmregion_region* r, uint32_t index) {
    SHMREGION_C_REQUIRE_HANDLE(r, "unlock");
    if (index >= r->exclusive.size() || !r->exclusive[index].owns_lock())
        return fail_on(r, "unlock", std::make_error_code(std::errc::operation_not_permitted),
                       "this shmregion_region does not hold lock " + std::to_string(index) + " exclusively");
    if (!pthread_equal(r->exclusive_thread[index], pthread_self()))
        return fail_on(r, "unlock", std::make_error_code(std::errc::operation_not_permitted),
                       "lock " + std::to_string(index) +
                           " is held by another thread of this process; release it on that thread");
    r->exclusive[index].unlock();
    return 0;
}

SHMREGION_API int shmregion_lock_shared(shmregion_region* r, uint32_t index) {
    SHMREGION_C_REQUIRE_HANDLE(r, "lock_shared");
    return shared_c(r, index, 0, [&](std::error_code& ec) { return r->region.lock_shared(index, ec); });
}

SHMREGION_API int shmregion_try_lock_shared(shmregion_region* r, uint32_t index) {
    SHMREGION_C_REQUIRE_HANDLE(r, "try_lock_shared");
    return shared_c(r, index, -EBUSY, [&](std::error_code& ec) { return r->region.try_lock_shared(index, ec); });
}

SHMREGION_API int shmregion_try_lock_shared_for(shmregion_region* r, uint32_t index, int64_t timeout_ns) {
    SHMREGION_C_REQUIRE_HANDLE(r, "try_lock_shared_for");
    return shared_c(r, index, -ETIMEDOUT, [&](std::error_code& ec) {
        return r->region.try_lock_shared_for(index, std::chrono::nanoseconds(timeout_ns), ec);
    });
}

SHMREGION_API int shmregion_unlock_shared(shmregion_region* r, uint32_t index) {
    SHMREGION_C_REQUIRE_HANDLE(r, "unlock_shared");
    if (index >= r->shared.size() || r->shared[index].empty())
        return fail_on(r, "unlock_shared", std::make_error_code(std::errc::operation_not_permitted),
                       "this shmregion_region holds no share of lock " + std::to_string(index));
    r->shared[index].pop_back();
    return 0;
}

SHMREGION_API int shmregion_mark_consistent(shmregion_region* r, uint32_t index) {
    SHMREGION_C_REQUIRE_HANDLE(r, "mark_consistent");
    if (index == SHMREGION_REGION_LOCK && r->guard.owns_lock()) {
        r->guard.mark_consistent();
        return 0;
    }
    if (index < r->exclusive.size() && r->exclusive[index].owns_lock()) {
        r->exclusive[index].mark_consistent();
        return 0;
    }
    if (index < r->shared.size() && !r->shared[index].empty()) {
        r->shared[index].back().mark_consistent();
        return 0;
    }
    return fail_on(r, "mark_consistent", std::make_error_code(std::errc::operation_not_permitted),
                   "this shmregion_region does not hold " +
                       (index == SHMREGION_REGION_LOCK ? std::string("the region lock") : "lock " + std::to_string(index)));
}

SHMREGION_API int shmregion_identity(const shmregion_region* r, uint32_t* slot, uint32_t* generation) {
    SHMREGION_C_REQUIRE_HANDLE(r, "identity");
    if (!r->region.attached())
        return fail_on(r, "identity", sr::make_error_code(sr::errc::not_attached), "the region is not attached");
    const sr::AttacherIdentity id = r->region.identity();
    if (slot) *slot = id.slot;
    if (generation) *generation = id.generation;
    return 0;
}

SHMREGION_API int shmregion_alive(const shmregion_region* r, uint32_t slot, uint32_t generation) {
    return r && r->region.alive({slot, generation}) ? 1 : 0;
}

SHMREGION_API int shmregion_flush(shmregion_region* r) {
    SHMREGION_C_REQUIRE_HANDLE(r, "flush");
    std::error_code ec;
    r->region.flush(ec);
    return to_code(ec);
}

SHMREGION_API int shmregion_prefault(shmregion_region* r) {
    SHMREGION_C_REQUIRE_HANDLE(r, "prefault");
    std::error_code ec;
    r->region.prefault(ec);
    return to_code(ec);
}

SHMREGION_API int shmregion_prefault_wait(shmregion_region* r) {
    SHMREGION_C_REQUIRE_HANDLE(r, "prefault");
    const sr::io::PrefaultHandle h = r->region.background_prefault();
    if (!h.valid()) return 0;
    std::error_code ec;
    h.wait(ec);
    return to_code(ec);
}

SHMREGION_API int shmregion_mark_for_removal(shmregion_region* r) {
    SHMREGION_C_REQUIRE_HANDLE(r, "mark_for_removal");
    std::error_code ec;
    r->region.mark_for_removal(ec);
    return to_code(ec);
}

SHMREGION_API int shmregion_reap_dead_attachers(shmregion_region* r, size_t* dropped) {
    if (dropped) *dropped = 0;
    SHMREGION_C_REQUIRE_HANDLE(r, "reap_dead_attachers");
    std::error_code ec;
    const std::size_t n = r->region.reap_dead_attachers(ec);
    if (dropped) *dropped = n;
    return to_code(ec);
}

SHMREGION_API int shmregion_unlink(const char* home, const char* name, int flags) {
    return guarded("unlink", [&] {
        const std::filesystem::path h = str(home);
        constexpr int known = SHMREGION_UNLINK_FORCE | SHMREGION_UNLINK_ANY_OWNER | SHMREGION_UNLINK_ALLOW_FOREIGN;
        if ((flags & ~known) != 0)
            return fail("unlink", str(name), &h, sr::make_error_code(sr::errc::invalid_options),
                        "flags " + std::to_string(flags) + " include bits that are no enum shmregion_unlink_flags");
        sr::RemoveOptions how;
        how.force = (flags & SHMREGION_UNLINK_FORCE) ? sr::Force::yes : sr::Force::no;
        how.require_same_owner = (flags & SHMREGION_UNLINK_ANY_OWNER) == 0;
        how.allow_foreign = (flags & SHMREGION_UNLINK_ALLOW_FOREIGN) != 0;
        std::error_code ec;
        sr::unlink(h, name ? std::string_view(name) : std::string_view(), how, ec);
        return to_code(ec);
    });
}

SHMREGION_API int shmregion_inspect(const char* home, const char* name, shmregion_info* info, size_t info_size) {
    return guarded("inspect", [&] {
        const std::filesystem::path h = str(home);
        if (!info) return fail("inspect", str(name), &h, std::make_error_code(std::errc::invalid_argument), "the shmregion_info* is NULL");
        if (info_size < kInfoV1Size)
            return fail("inspect", str(name), &h, std::make_error_code(std::errc::invalid_argument),
                        "info_size " + std::to_string(info_size) + " is smaller than any shmregion_info (" +
                            std::to_string(kInfoV1Size) + ")");
        std::error_code ec;
        const sr::RegionInfo ri = sr::inspect(h, name ? std::string_view(name) : std::string_view(), ec);
        if (ec) return to_code(ec);
        shmregion_info c;
        std::memset(&c, 0, sizeof c);
        c.struct_size = sizeof c;
        c.backing = static_cast<int>(ri.backing);
        switch (ri.lock_state) {
            case sr::LockState::free: c.lock_state = SHMREGION_LOCK_FREE; break;
            case sr::LockState::held: c.lock_state = SHMREGION_LOCK_HELD; break;
            case sr::LockState::owner_dead: c.lock_state = SHMREGION_LOCK_OWNER_DEAD; break;
        }
        c.version = ri.version;
        c.header_size = ri.header_size;
        c.page_size = ri.page_size;
        c.ref_count = ri.ref_count;
        c.max_attachers = ri.max_attachers;
        c.attachers = static_cast<uint32_t>(ri.attachers.size());
        c.live_attachers = static_cast<uint32_t>(ri.live_attachers());
        c.lock_holder = static_cast<int32_t>(ri.lock_holder);
        c.size = ri.size;
        c.max_size = ri.max_size;
        c.region_size = ri.region_size;
        c.max_region_size = ri.max_region_size;
        c.backing_size = ri.backing_size;
        c.generation = ri.generation;
        c.creator_pid = static_cast<int32_t>(ri.creator_pid);
        c.creator_uid = static_cast<uint32_t>(ri.creator_uid);
        c.created_at_ns = ri.created_at_ns;
        c.sysv_key = ri.sysv_key;
        c.sysv_id = ri.sysv_id;
        c.valid = ri.valid ? 1 : 0;
        c.remove_on_last_detach = ri.remove_on_last_detach ? 1 : 0;
        c.remove_on_last_detach_option = ri.remove_on_last_detach_option ? 1 : 0;
        c.unlink_requested = ri.unlink_requested ? 1 : 0;
        c.owner_died_unreported = ri.owner_died_unreported ? 1 : 0;
        c.grow_in_progress = ri.grow_in_progress ? 1 : 0;
        c.grow_to = ri.grow_to;
        c.grow_pid = static_cast<int32_t>(ri.grow_pid);
        std::snprintf(c.segment, sizeof c.segment, "%s", ri.segment.c_str());
        c.lock_count = static_cast<uint32_t>(ri.locks.size());
        c.lock_deaths = ri.lock_deaths;
        // A caller built against a newer header passes a bigger struct: the rest is zeroed;
        // one built against an older header gets the fields it knows.
        const std::size_t n = std::min(info_size, sizeof c);
        c.struct_size = n;
        std::memset(info, 0, info_size);
        std::memcpy(info, &c, n);
        return 0;
    });
}

SHMREGION_API int shmregion_list(const char* home, char*** names, size_t* count) {
    if (names) *names = nullptr;
    if (count) *count = 0;
    return guarded("list", [&] {
        const std::filesystem::path h = str(home);
        if (!names) return fail("list", {}, &h, std::make_error_code(std::errc::invalid_argument), "names is NULL");
        std::error_code ec;
        const std::vector<std::string> v = sr::list(h, ec);
        if (ec) return to_code(ec);
        auto** a = static_cast<char**>(std::calloc(v.size() + 1, sizeof(char*)));
        if (!a) throw std::bad_alloc();
        for (std::size_t i = 0; i < v.size(); ++i) {
            a[i] = static_cast<char*>(std::malloc(v[i].size() + 1));
            if (!a[i]) {
                shmregion_list_free(a);
                throw std::bad_alloc();
            }
            std::memcpy(a[i], v[i].c_str(), v[i].size() + 1);
        }
        *names = a;
        if (count) *count = v.size();
        return 0;
    });
}

SHMREGION_API void shmregion_list_free(char** names) {
    if (!names) return;
    for (char** p = names; *p; ++p) std::free(*p);
    std::free(names);
}

SHMREGION_API const char* shmregion_strerror(int code) {
    if (code == 0) return "success";
    if (code == SHMREGION_OWNER_DIED) return "success: the lock is held, and its previous holder died holding it";
    if (code == SHMREGION_EUNKNOWN) return "an error shmregion could not classify (see shmregion_last_error())";
    if (code <= SHMREGION_EBASE - 1 && code >= SHMREGION_ELAST) {
        // The C++ category's texts, made once (thread-safe static initialisation).
        static const std::array<std::string, kErrcCount + 1> texts = [] {
            std::array<std::string, kErrcCount + 1> t;
            for (int i = 1; i <= kErrcCount; ++i) t[i] = sr::category().message(i);
            return t;
        }();
        return texts[static_cast<std::size_t>(SHMREGION_EBASE - code)].c_str();
    }
    if (code < 0 && code > SHMREGION_EBASE) {
        if (const char* d = ::strerrordesc_np(-code)) return d;
    }
    thread_local char buffer[64];
    std::snprintf(buffer, sizeof buffer, "unknown shmregion error code %d", code);
    return buffer;
}

SHMREGION_API const char* shmregion_last_error(void) { return sr::last_error_message().c_str(); }

SHMREGION_API const char* shmregion_version(void) { return sr::version(); }

}  // extern "C"
