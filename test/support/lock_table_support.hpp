// Helpers for the tests of the lock table (Options::locks; Region::lock(index),
// lock_shared(index) and their try and timed forms), shared by test/unit, test/mp and
// test/torture:
//
// - ChildAttach: a fork()ed child's own attach of the parent's region (by name, or the
//   inherited anonymous Region after join_after_fork()).
// - peek_lock(): lock i of an attached region's table read in place, without taking
//   anything (is its mutex held, does a writer wait for shares, how many shares): for
//   telling that a child got as far as waiting, not for checking the library's results.
// - wait_until(): polls a condition with a generous deadline (never a timing assertion).
// - mentions_number(): does a message name a number, once the home and region name (full
//   of digits of their own) are taken out?
#pragma once

#include "format/header.hpp"
#include "mp_support.hpp"
#include "sync/robust_mutex.hpp"

#include <shmregion/shmregion.hpp>

#include <linux/futex.h>
#include <time.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace shmregion {
// How Boost.Test prints an AttacherIdentity in failed checks (found by ADL).
inline std::ostream& boost_test_print_type(std::ostream& os, const AttacherIdentity& id) {
    return os << "{slot " << id.slot << ", generation " << id.generation << "}";
}
}  // namespace shmregion

namespace shmregion::locktest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Options for a region of `locks` table locks in home (test::options otherwise).
inline Options table_options(const std::filesystem::path& home, Backing b, std::uint32_t locks,
                             std::uint64_t size = 64 * 1024) {
    Options o = test::options(home, b, size);
    o.locks = locks;
    return o;
}

/// A fork()ed child's own attach of the region `inherited` (made from `o`): joined by name,
/// or, for an anonymous region, the inherited Region after join_after_fork().
class ChildAttach {
public:
    ChildAttach(Region& inherited, const Options& o) {
        if (o.backing == Backing::anonymous) {
            inherited.join_after_fork();
            r_ = &inherited;
        } else {
            own_ = Region::attach(o);
            r_ = &own_;
        }
    }
    Region& operator*() const noexcept { return *r_; }
    Region* operator->() const noexcept { return r_; }
    Region& region() const noexcept { return *r_; }
    /// Detaches (the inherited Region too, for anonymous regions).
    void detach() { r_->detach(); }

private:
    Region own_;
    Region* r_ = nullptr;
};

/// Lock i of an attached region, read in place (atomically, field by field).
struct LockPeek {
    bool mutex_held = false;      ///< the robust mutex has an owner: a writer, in or waiting for shares
    bool mutex_waiters = false;   ///< FUTEX_WAITERS: somebody sleeps on the mutex
    bool mutex_owner_died = false;///< the kernel marked the mutex's dead owner (nobody took it since)
    bool writer_waiting = false;  ///< a writer holding the mutex waits for the shares to drain
    bool owner_died = false;      ///< the word's owner-died bit (until mark_consistent())
    std::uint32_t shares = 0;     ///< shares counted in the word
    std::int32_t holder_pid = 0;  ///< the exclusive holder's thread (the futex word), once it is in
    std::uint32_t exclusive_deaths = 0;
    std::uint32_t shared_deaths = 0;
};

inline const detail::LockEntry* lock_entry_of(const Region& r, std::uint32_t max_attachers, std::uint32_t i) {
    auto* h = const_cast<detail::RegionHeader*>(mptest::header_of(r, max_attachers));
    return detail::lock_at(h, detail::lock_table_layout(max_attachers, r.lock_count()), i);
}

inline LockPeek peek_lock(const Region& r, std::uint32_t max_attachers, std::uint32_t i) {
    const detail::LockEntry* e = lock_entry_of(r, max_attachers, i);
    LockPeek p;
    const int m = detail::robust_mutex_word(&e->mutex);
    p.mutex_held = (m & FUTEX_TID_MASK) != 0;
    p.mutex_waiters = (m & FUTEX_WAITERS) != 0;
    p.mutex_owner_died = (m & FUTEX_OWNER_DIED) != 0;
    const std::uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
    p.writer_waiting = (w & detail::kShareWriterWaiting) != 0;
    p.owner_died = (w & detail::kShareOwnerDied) != 0;
    p.shares = static_cast<std::uint32_t>(w & detail::kShareCountMask);
    p.holder_pid = __atomic_load_n(&e->transient, __ATOMIC_ACQUIRE) == 0 ? (m & FUTEX_TID_MASK) : 0;
    p.exclusive_deaths = __atomic_load_n(&e->exclusive_deaths, __ATOMIC_ACQUIRE);
    p.shared_deaths = __atomic_load_n(&e->shared_deaths, __ATOMIC_ACQUIRE);
    return p;
}

/// Polls pred every millisecond until it holds or `timeout` passes; returns its last value.
template <class Pred>
bool wait_until(Pred&& pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (Clock::now() > deadline) return pred();
        timespec ts{0, 1000000};
        ::nanosleep(&ts, nullptr);
    }
}

inline void sleep_for(std::chrono::microseconds us) {
    timespec ts{static_cast<time_t>(us.count() / 1000000), static_cast<long>((us.count() % 1000000) * 1000)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/// Milliseconds since t0.
inline long long ms_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

/// Does `text` name the number n as a whole number (not inside a longer run of letters and
/// digits), once every occurrence of the home's path and of the region's name is removed?
inline bool mentions_number(std::string text, const Options& o, std::uint64_t n) {
    for (const std::string& noise : {o.home.string(), o.name}) {
        if (noise.empty()) continue;
        for (std::size_t at; (at = text.find(noise)) != std::string::npos;) text.erase(at, noise.size());
    }
    const std::string want = std::to_string(n);
    auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    for (std::size_t at = text.find(want); at != std::string::npos; at = text.find(want, at + 1)) {
        const bool left = at == 0 || !alnum(text[at - 1]);
        const bool right = at + want.size() == text.size() || !alnum(text[at + want.size()]);
        if (left && right) return true;
    }
    return false;
}

}  // namespace shmregion::locktest
