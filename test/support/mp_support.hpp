// Helpers for the test binaries that fork real processes (test/mp, test/crash, test/tool,
// test/torture, and the unit tests that need them):
//
// - Children: spawns fork()ed children (test::spawn) and kills + reaps every one still
//   running when it goes out of scope, so a failing test never leaves a process behind.
//   (A child traced with ptrace: traced_child.hpp.)
// - CHILD_CHECK (child_check.hpp): in a child, prints the failed condition to stderr and
//   returns a code (children never call Boost.Test macros; the parent checks the exit code).
// - backing_named() and the lists of backings (backings.hpp).
// - Home: a TempHome that also removes every POSIX or System V segment whose header says it
//   was made for a region of this home, published or not (a creator killed before publish
//   leaves such a segment where no locator points to it).
// - segment_exists(): is the segment a RegionInfo names still there?
// - header_of(): the header of an attached region read in place (anonymous regions have no
//   file for inspect()).
#pragma once

#include "backings.hpp"
#include "child_check.hpp"
#include "format/header.hpp"
#include "skip.hpp"
#include "sync/robust_mutex.hpp"
#include "test_support.hpp"

#include <shmregion/shmregion.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shmregion {
// How Boost.Test prints a LockState in failed checks (its customisation point, found by ADL;
// Backing's is in backings.hpp).
inline std::ostream& boost_test_print_type(std::ostream& os, LockState s) {
    return os << (s == LockState::free ? "free" : s == LockState::held ? "held" : "owner_dead");
}
}  // namespace shmregion

namespace shmregion::mptest {

namespace fs = std::filesystem;

using test::backing_named;

/// Every process this test binary forked (through Children), for telling our System V
/// segments from other programs' by their creator pid without attaching to theirs.
inline std::vector<pid_t>& spawned_pids() {
    static std::vector<pid_t> pids;
    return pids;
}

/// fork()ed children of one test; the survivors are killed and reaped on destruction.
class Children {
public:
    Children() = default;
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;
    ~Children() {
        for (pid_t p : pids_) test::kill_and_reap(p);
    }

    pid_t spawn(const std::function<int()>& fn, unsigned watchdog_s = 60) {
        pid_t p = test::spawn(fn, watchdog_s);
        pids_.push_back(p);
        spawned_pids().push_back(p);
        return p;
    }
    /// Exit code, or -signal (see test::wait_exit).
    int wait(pid_t p) {
        forget(p);
        return test::wait_exit(p);
    }
    /// SIGKILL and reap.
    void kill(pid_t p) {
        forget(p);
        test::kill_and_reap(p);
    }
    /// p was reaped by the caller (a traced child's end, seen by wait_stop()): not to be killed.
    void forget(pid_t p) { pids_.erase(std::remove(pids_.begin(), pids_.end(), p), pids_.end()); }

private:
    std::vector<pid_t> pids_;
};

// ---- segments ---------------------------------------------------------------------------

/// System V segments with the origin `prefix`, made by this process or its children only.
inline std::vector<int> sysv_segments_with_origin(const std::string& prefix) {
    return test::sysv_segments_with_origin(prefix, [](pid_t cpid) {
        const auto& ours = spawned_pids();
        return cpid == ::getpid() || std::find(ours.begin(), ours.end(), cpid) != ours.end();
    });
}
using test::posix_segments_with_origin;

/// Segments (of either kind) made for the region file `file`, published or not.
struct Segments {
    std::vector<std::string> posix;
    std::vector<int> sysv;
    std::size_t size() const noexcept { return posix.size() + sysv.size(); }
};
inline Segments segments_for(const fs::path& file) {
    const std::string f = fs::absolute(file).string();
    return {posix_segments_with_origin(f), sysv_segments_with_origin(f)};
}
inline Segments segments_of_home(const fs::path& home) {
    const std::string prefix = fs::absolute(home).string() + "/";
    return {posix_segments_with_origin(prefix), sysv_segments_with_origin(prefix)};
}
inline void remove_segments(const Segments& s) {
    for (const auto& n : s.posix) ::shm_unlink(("/" + n).c_str());
    for (int id : s.sysv) ::shmctl(id, IPC_RMID, nullptr);
}

/// Is the segment described by a RegionInfo (taken while the region existed) still there?
/// A System V segment removed while still attached lingers with key IPC_PRIVATE: gone too.
inline bool segment_exists(const RegionInfo& info) {
    if (info.backing == Backing::posix) {
        struct stat st {};
        return ::stat(("/dev/shm" + info.segment).c_str(), &st) == 0;
    }
    if (info.backing == Backing::sysv) {
        struct shmid_ds ds {};
        if (::shmctl(info.sysv_id, IPC_STAT, &ds) != 0) return false;
        return ds.shm_perm.__key == info.sysv_key && !(ds.shm_perm.mode & SHM_DEST);
    }
    return false;
}
/// The System V segment is removed: IPC_STAT of the id fails (destroyed), or it is marked
/// SHM_DEST (IPC_RMID was done; it goes when the last process attached to it, perhaps a
/// leak scanner of a test running in parallel, detaches).
inline bool sysv_segment_removed(int id) {
    struct shmid_ds ds {};
    if (::shmctl(id, IPC_STAT, &ds) != 0) return true;
    return (ds.shm_perm.mode & SHM_DEST) != 0;
}

/// A TempHome that also removes stray segments made for its regions.
class Home {
public:
    Home() = default;
    ~Home() { remove_segments(segments_of_home(home_.path())); }
    const fs::path& path() const noexcept { return home_.path(); }
    operator const fs::path&() const noexcept { return home_.path(); }

private:
    test::TempHome home_;
};

// ---- the header of an attached region ----------------------------------------------------

/// The header of an attached region, found in front of data() (the header is
/// header_bytes(max_attachers, r.lock_count()) long). Throws if the magic is not there.
inline const detail::RegionHeader* header_of(const Region& r, std::uint32_t max_attachers) {
    auto* h = reinterpret_cast<const detail::RegionHeader*>(static_cast<const char*>(r.data()) -
                                                            detail::header_bytes(max_attachers, r.lock_count()));
    if (std::memcmp(h->magic, detail::kRegionMagic, sizeof h->magic) != 0)
        throw std::runtime_error("no region header in front of data()");
    return h;
}
inline std::uint32_t ref_count_of(const Region& r, std::uint32_t max_attachers) {
    return detail::load_acquire(header_of(r, max_attachers)->ref_count);
}
inline std::uint32_t slots_in_use(const Region& r, std::uint32_t max_attachers) {
    const auto* h = header_of(r, max_attachers);
    std::uint32_t n = 0;
    for (std::uint32_t i = 0; i < h->max_attachers; ++i)
        if (detail::load_acquire(detail::slot_at(h, i)->state) == detail::kSlotInUse) ++n;
    return n;
}
/// RegionHeader::lock_deaths: region lock holders that died holding it, ever.
inline std::uint32_t lock_deaths_of(const Region& r, std::uint32_t max_attachers) {
    return detail::load_acquire(header_of(r, max_attachers)->lock_deaths);
}
/// The header's kFlagOwnerDiedUnreported: a region lock holder died and nobody has called
/// mark_consistent() since (RegionInfo::owner_died_unreported, for regions without a name).
inline bool owner_died_unreported_of(const Region& r, std::uint32_t max_attachers) {
    return (detail::load_acquire(header_of(r, max_attachers)->flags) & detail::kFlagOwnerDiedUnreported) != 0;
}
/// The lock word says: held by a thread (owner_tid != 0), free, or free with OWNER_DIED.
inline detail::MutexPeek lock_word_of(const Region& r, std::uint32_t max_attachers) {
    return detail::robust_mutex_peek(&header_of(r, max_attachers)->mutex);
}

inline std::size_t dead_attachers(const RegionInfo& info) {
    return static_cast<std::size_t>(std::count_if(info.attachers.begin(), info.attachers.end(),
                                                  [](const AttacherInfo& a) { return !a.alive; }));
}
inline bool has_attacher(const RegionInfo& info, pid_t pid, bool alive) {
    return std::any_of(info.attachers.begin(), info.attachers.end(),
                       [&](const AttacherInfo& a) { return a.pid == pid && a.alive == alive; });
}

inline const char* lock_state_name(LockState s) {
    switch (s) {
        case LockState::free: return "free";
        case LockState::held: return "held";
        case LockState::owner_dead: return "owner_dead";
    }
    return "?";
}

/// Fills the first n bytes of p with a pattern derived from seed; check_pattern verifies it.
inline void fill_pattern(void* p, std::size_t n, unsigned seed) {
    auto* b = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>((i * 31u + seed) & 0xffu);
}
inline bool check_pattern(const void* p, std::size_t n, unsigned seed) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        if (b[i] != static_cast<unsigned char>((i * 31u + seed) & 0xffu)) return false;
    return true;
}

}  // namespace shmregion::mptest
