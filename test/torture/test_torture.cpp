// Torture: for every backing (file, posix, sysv, anonymous shared by fork()), a supervisor
// runs N worker processes on one region. Each worker loops over attach / lock / two-step
// checksummed record writes / grow (file and posix) / refresh / unlock / reap / detach.
// The supervisor SIGKILLs workers one kill event at a time: on purpose while it holds the
// region lock in the middle of a record write (it stops at one of five points of the write
// and says so through a pipe); at a random moment of a library call it was told to make
// (a burst of growths, detach + attach, reap); or at a random moment of its normal work
// (sometimes two workers at once). After every kill it checks:
//
//  - the next lock comes: every survivor reaches the gate (a worker blocked on the lock of
//    the dead holder must get it) and an auditor process attaches and locks, each under a
//    watchdog; a hang is a failure that prints every worker's phase and the lock's state;
//  - every death of a holder is counted once (the header's lock_deaths rises by exactly the
//    holder deaths of the kill) and reported by owner_died() to every application
//    acquisition (workers and auditor; lock() and try_lock_for()) from the first after it
//    until a holder calls mark_consistent(), and to none after that until the next death.
//    Each application holder checks that against a model kept under the lock (the
//    lock_deaths it last saw, and whether a death is still unmarked). A holder that hears
//    of a death checks the log and marks the lock consistent, except in the kill events
//    (about a third) in which the supervisor tells holders to leave it unmarked (as a
//    repairer killed before marking would): then the death stays reported, across kills,
//    and holders are killed while a death is unmarked. A holder killed on purpose held the
//    lock; for a random kill the supervisor SIGSTOPs every other worker first, and after the
//    kill reads the robust mutex's futex word (the kernel marks it OWNER_DIED when its owner
//    dies), which must agree with the victim's phase word when that phase is certain (held
//    by the application, or outside any call that may lock);
//  - the record log: every committed record intact (checksum), uncommitted records only
//    from writers that died holding the lock, no committed record lost (the workers count
//    their commits, under the lock, in memory the region does not share);
//  - the reference count equals the live attachers after reap_dead_attachers(), and
//    inspect() (or the header, for anonymous) is healthy: valid, lock free, a death
//    unmarked exactly when the model says so (never at the end of a round), no growth
//    pending;
//  - `regiontool verify HOME NAME` exits 0 (named backings);
//  - the lock table (Options::locks, --locks=N): workers also take table locks shared and
//    exclusive (by every form, sometimes with the region lock inside), each guarding a
//    record of two words (equal unless a writer died between them) and an update count
//    kept without atomics, in memory the region does not share. Besides the kills above
//    (whose victims may hold table locks too: their table phase word says what) the
//    supervisor kills table lock holders told to stop half-way through a record write or
//    holding shares (kill events of their own, after which the region lock's deaths must
//    not have moved). After every kill the supervisor takes every table lock, shared then
//    exclusive: owner_died() exactly when an exclusive holder died and nobody repaired it
//    (workers told owner_died() exclusively repair and call mark_consistent(); nobody else is
//    ever told), records whole, counts equal, nothing left held (no mutex owner, share or
//    writer waiting, in the header and by inspect()), each exclusive holder death counted
//    once in the lock's exclusive_deaths and each dead holder's share in its shared_deaths.
//
// Each round uses a fresh region; it ends with every worker detaching, a last audit, the
// supervisor's detach and unlink (or remove-on-last-detach, every other round), and a
// check that nothing is left: no file in home, no /dev/shm entry, no System V segment.
//
// Configurations (arguments after "--", or SHMREGION_TORTURE_CONFIG / _SEED):
//   torture                       short: what CTest runs
//   torture -- --config=long      long: docs/reliability.md
//   options: --workers=N --rounds=N --kills=N --seed=N --backings=file,posix,sysv,anonymous
//            --locks=N (table locks, 0..16; 0: none)
//            --no-tool (skip regiontool verify) --hang-s=N (watchdog, default 20)
//            --max-run-us=N (longest run before a random kill)
//            --inject=corrupt|hang|skip-mark|silent-mark|table-skip-mark (a deliberate
//            defect: the run must fail; skip-mark: a holder says it marked the lock
//            consistent but does not; silent-mark: a holder marks it but does not say so;
//            table-skip-mark: a table lock repairer says it repaired but does not mark)
// A failure's state dump ends with the last 200 table lock events of every process (lock,
// held, unlock, unlocked, exclusive and shared; detach and attach; the supervisor's account
// of each victim), each with the mutex's futex word and the lock word's low half as that
// process saw them right after: what docs/reliability.md's defect 2 was found with.
// The last line printed is the summary: kills, records, lock acquisitions, owner_died
// reports, mark_consistent() calls, failures.
#define BOOST_TEST_MODULE torture
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "backings.hpp"
#include "lock_table_support.hpp"
#include "tool_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace shmregion;
namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr unsigned kMaxWorkers = 32;
constexpr unsigned kMaxTableLocks = 16;

// ---- configuration ------------------------------------------------------------------------

struct Config {
    std::string name = "short";
    unsigned workers = 4;
    unsigned rounds = 4;             // regions per backing
#if defined(__SANITIZE_ADDRESS__)
    unsigned kills = 60;             // kill events per round (sanitizers: 3-5x slower forks)
#else
    unsigned kills = 100;            // kill events per round
#endif
    unsigned max_run_us = 30000;     // random run time before a random kill
    unsigned max_hold_us = 2000;     // random delay before killing the announced lock holder
    std::uint64_t size = 64 * 1024;  // initial size (file, posix)
    std::uint64_t max_size = 1024 * 1024;
    std::uint64_t fixed_size = 256 * 1024;  // sysv, anonymous
    std::uint64_t grow_step = 64 * 1024;    // a writer that finds the log full grows this much
    unsigned locks = 4;              // table locks (Options::locks); 0: no table lock work
    unsigned hang_s = 20;            // watchdog: the next lock, the gate, an auditor
    std::uint64_t seed = 0;
    bool tool = true;
    /// Self-check of the checker: "corrupt" (a worker damages a committed record once),
    /// "hang" (a worker keeps the lock forever once), "skip-mark" (a worker that hears of a
    /// death updates the model as if it marked the lock consistent, but does not, once),
    /// "silent-mark" (a worker marks the lock consistent without updating the model, once),
    /// "table-skip-mark" (a worker repairing a table lock does not call mark_consistent(),
    /// but says it repaired it, once). Each must make the run fail.
    std::string inject;
    /// The backings to torture: by default every one shared between processes.
    std::vector<std::string> backings = all_backings();

    static std::vector<std::string> all_backings() {
        const std::vector<const char*> names = test::backing_names(test::BackingSet::cross_process);
        return {names.begin(), names.end()};
    }
    bool selected(std::string_view b) const {
        return std::find(backings.begin(), backings.end(), b) != backings.end();
    }
    void make_long() {
        name = "long";
        workers = 6;
        rounds = 30;
        kills = 80;
        max_run_us = 50000;
        max_size = 2 * 1024 * 1024;
        fixed_size = 1024 * 1024;
        locks = 8;
    }
};

unsigned parse_unsigned(const std::string& key, const std::string& v) {
    try {
        std::size_t used = 0;
        const unsigned long n = std::stoul(v, &used);
        if (used == v.size()) return static_cast<unsigned>(n);
    } catch (const std::exception&) {
    }
    throw std::invalid_argument("torture: --" + key + " needs a number, not '" + v + "'");
}

Config parse_config() {
    Config c;
    std::vector<std::string> args;
    if (const char* e = std::getenv("SHMREGION_TORTURE_CONFIG"); e && *e) args.push_back(std::string("--config=") + e);
    if (const char* e = std::getenv("SHMREGION_TORTURE_SEED"); e && *e) args.push_back(std::string("--seed=") + e);
    auto& mts = boost::unit_test::framework::master_test_suite();
    for (int i = 1; i < mts.argc; ++i) args.emplace_back(mts.argv[i]);
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i];
        if (a.rfind("--", 0) != 0) throw std::invalid_argument("torture: unexpected argument '" + a + "'");
        a = a.substr(2);
        std::string key = a, value;
        if (auto eq = a.find('='); eq != std::string::npos) {
            key = a.substr(0, eq);
            value = a.substr(eq + 1);
        } else if (key != "no-tool") {
            if (i + 1 >= args.size()) throw std::invalid_argument("torture: --" + key + " needs a value");
            value = args[++i];
        }
        if (key == "config") {
            if (value == "long") c.make_long();
            else if (value != "short") throw std::invalid_argument("torture: --config is short or long");
        } else if (key == "workers") {
            c.workers = parse_unsigned(key, value);
            if (c.workers < 2 || c.workers > kMaxWorkers)
                throw std::invalid_argument("torture: --workers is 2.." + std::to_string(kMaxWorkers));
        } else if (key == "rounds") {
            c.rounds = parse_unsigned(key, value);
        } else if (key == "kills") {
            c.kills = parse_unsigned(key, value);
        } else if (key == "seed") {
            c.seed = std::stoull(value);
        } else if (key == "no-tool") {
            c.tool = false;
        } else if (key == "hang-s") {
            c.hang_s = std::max(2u, parse_unsigned(key, value));
        } else if (key == "locks") {
            c.locks = parse_unsigned(key, value);
            if (c.locks > kMaxTableLocks)
                throw std::invalid_argument("torture: --locks is 0.." + std::to_string(kMaxTableLocks));
        } else if (key == "max-run-us") {
            c.max_run_us = parse_unsigned(key, value);
        } else if (key == "inject") {
            if (value != "corrupt" && value != "hang" && value != "skip-mark" && value != "silent-mark" &&
                value != "table-skip-mark")
                throw std::invalid_argument("torture: --inject is corrupt, hang, skip-mark, silent-mark or table-skip-mark");
            c.inject = value;
        } else if (key == "backings") {
            c.backings.clear();
            std::stringstream in(value);
            const std::vector<std::string> known = Config::all_backings();
            for (std::string b; std::getline(in, b, ',');) {
                if (std::find(known.begin(), known.end(), b) == known.end())
                    throw std::invalid_argument("torture: unknown backing '" + b + "'");
                c.backings.push_back(b);
            }
        } else {
            throw std::invalid_argument("torture: unknown option --" + key);
        }
    }
    if (c.seed == 0) c.seed = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32) | 1u;
    return c;
}

const Config& config() {
    static const Config c = parse_config();
    return c;
}

// ---- the record log, kept in the region's data() ------------------------------------------
//
// offset 0: LogHeader. `state` packs epoch (high 32 bits) and head (low 32 bits: bytes used
// after the header) into one word, so a writer killed anywhere leaves a consistent state.
// Records follow, 8-aligned:  RecHead | payload (len bytes, padded to 8) | commit word.
// A record is written under the lock in two steps: (1) its header (with the checksum of
// header and payload), the allocation (state), the payload; (2) the commit word, a hash of
// checksum, epoch and offset, which a stale word from an earlier epoch cannot match. A
// record without its commit word is uncommitted: its writer died in the middle. When the
// log is full a writer grows the region (file, posix) or starts a new epoch at offset 0.

constexpr std::uint64_t kLogMagic = 0x31474f4c54524f54ull;  // "TORTLOG1"
constexpr std::uint32_t kRecMagic = 0x31434552u;            // "REC1"
constexpr std::uint32_t kMaxPayload = 1024;

struct LogHeader {
    std::uint64_t magic;
    std::uint64_t state;
    std::uint64_t reserved[6];
};
struct RecHead {
    std::uint32_t magic;
    std::uint32_t len;
    std::uint32_t epoch;
    std::uint32_t pid;
    std::uint64_t id;
    std::uint64_t checksum;
};
static_assert(sizeof(LogHeader) == 64 && sizeof(RecHead) == 32);
constexpr std::uint64_t kLogHeaderBytes = sizeof(LogHeader);

constexpr std::uint64_t pad8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
constexpr std::uint64_t rec_bytes(std::uint32_t len) { return sizeof(RecHead) + pad8(len) + 8; }

std::uint64_t load(const std::uint64_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void store(std::uint64_t* p, std::uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
std::uint64_t fnv1a(const void* p, std::size_t n, std::uint64_t h) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
std::uint64_t record_checksum(const RecHead& h, const unsigned char* payload) {
    RecHead c = h;
    c.checksum = 0;
    return fnv1a(payload, h.len, fnv1a(&c, sizeof c, 0xcbf29ce484222325ull));
}
std::uint64_t commit_word(std::uint64_t checksum, std::uint32_t epoch, std::uint64_t off) {
    return mix(checksum ^ ((std::uint64_t{epoch} << 32) | off)) ^ 0xc0417eddc0417eddull;
}
void fill_payload(unsigned char* p, std::uint32_t len, std::uint64_t id) {
    std::uint64_t s = 0;
    for (std::uint32_t i = 0; i < len; ++i) {
        if (i % 8 == 0) s = mix(id + i);
        p[i] = static_cast<unsigned char>(s >> (8 * (i % 8)));
    }
}

/// A generator for (seed, stream): through seed_seq, since mt19937_64 seeded with nearby
/// values gives correlated low bits.
std::mt19937_64 make_rng(std::uint64_t seed, std::uint64_t stream) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
    return std::mt19937_64(seq);
}

/// What a walk over the log found. Trivially copyable: it travels in shared memory.
struct Verdict {
    std::uint64_t committed = 0;
    std::uint64_t uncommitted = 0;
    std::uint64_t head = 0;
    std::uint32_t epoch = 0;
    bool corrupt = false;
    std::uint32_t n_pids = 0;
    std::int32_t uncommitted_pids[16] = {};
    char problem[240] = {};
};

Verdict verify_log(const void* data, std::uint64_t usable) {
    Verdict v;
    const auto* base = static_cast<const unsigned char*>(data);
    auto bad = [&](const char* fmt, auto... args) {
        v.corrupt = true;
        std::snprintf(v.problem, sizeof v.problem, fmt, args...);
        return v;
    };
    if (usable < kLogHeaderBytes) return bad("usable size %" PRIu64 " is below the log header", usable);
    const auto* lh = reinterpret_cast<const LogHeader*>(base);
    const std::uint64_t magic = load(&lh->magic);
    const std::uint64_t state = load(&lh->state);
    v.epoch = static_cast<std::uint32_t>(state >> 32);
    v.head = state & 0xffffffffu;
    if (magic == 0 && state == 0) return v;  // nobody wrote yet
    if (magic != kLogMagic) return bad("log magic is %#" PRIx64, magic);
    if (v.head > usable - kLogHeaderBytes)
        return bad("log head %" PRIu64 " beyond the region's %" PRIu64 " usable bytes", v.head, usable);
    const unsigned char* log = base + kLogHeaderBytes;
    std::uint64_t off = 0;
    while (off < v.head) {
        if (off + sizeof(RecHead) + 8 > v.head) return bad("record at %" PRIu64 " runs past head %" PRIu64, off, v.head);
        RecHead h;
        std::memcpy(&h, log + off, sizeof h);
        if (h.magic != kRecMagic || h.epoch != v.epoch || h.len > kMaxPayload || off + rec_bytes(h.len) > v.head)
            return bad("allocated record at %" PRIu64 " (epoch %" PRIu32 ") has a bad header: magic %#" PRIx32
                       " epoch %" PRIu32 " len %" PRIu32 " pid %" PRIu32,
                       off, v.epoch, h.magic, h.epoch, h.len, h.pid);
        const auto* commit = reinterpret_cast<const std::uint64_t*>(log + off + sizeof h + pad8(h.len));
        if (load(commit) == commit_word(h.checksum, v.epoch, off)) {
            if (record_checksum(h, log + off + sizeof h) != h.checksum)
                return bad("committed record at %" PRIu64 " (writer %" PRIu32 ", id %#" PRIx64 ", %" PRIu32
                           " bytes) fails its checksum",
                           off, h.pid, h.id, h.len);
            ++v.committed;
        } else {
            ++v.uncommitted;
            if (v.n_pids < 16) v.uncommitted_pids[v.n_pids++] = static_cast<std::int32_t>(h.pid);
        }
        off += rec_bytes(h.len);
    }
    return v;
}

// ---- state shared by the supervisor and its children (MAP_SHARED, not the region) ---------

enum Phase : std::uint32_t {
    kStarting, kIdle, kParked, kAttach, kJoin, kLock, kHeld, kUnlock, kGrow, kRefresh, kReap, kDetach, kExiting,
};
const char* phase_name(std::uint32_t p) {
    static const char* const names[] = {"starting", "idle", "parked", "attach", "join_after_fork", "lock",
                                        "held",     "unlock", "grow", "refresh", "reap", "detach", "exiting"};
    return p < sizeof names / sizeof names[0] ? names[p] : "?";
}
/// Did a process killed in this phase hold the region lock? attach, join, lock, unlock,
/// grow, reap and detach may hold it inside the library for part of the call: unknown
/// (the lock word tells).
enum class Truth { not_held, held, unknown };
Truth truth_of(std::uint32_t phase) {
    switch (phase) {
        case kHeld: return Truth::held;
        case kStarting: case kIdle: case kParked: case kRefresh: case kExiting: return Truth::not_held;
        default: return Truth::unknown;
    }
}

/// Where a lock holder ordered to die stops in its record write.
enum Stop : int { kStopHeader, kStopAllocated, kStopHalfPayload, kStopPayload, kStopCommitted, kStops };
/// Other orders (WorkerSlot::order): say so, then make this call; the kill comes at a
/// random moment during or after it.
enum Order : std::uint32_t { kOrderGrow = 100, kOrderReattach, kOrderReap, kOrderTableX, kOrderTableS };
const char* order_name(std::uint32_t o) {
    switch (o) {
        case kOrderGrow: return "grow";
        case kOrderReattach: return "detach + attach";
        case kOrderReap: return "reap_dead_attachers";
        default: return "?";
    }
}
const char* stop_name(int s) {
    static const char* const names[] = {"after the record header, before allocating",
                                        "after allocating, before the payload", "half-way through the payload",
                                        "after the payload, before the commit word",
                                        "after the commit word, before acknowledging"};
    return s >= 0 && s < kStops ? names[s] : "?";
}

struct WorkerSlot {
    std::atomic<std::uint32_t> phase{kStarting};
    std::atomic<std::uint32_t> attached{0};
    std::atomic<std::int32_t> pid{0};
    std::atomic<std::uint32_t> order{0};  // supervisor -> worker: 1 + Stop, or an Order
    char failure[400] = {};
    std::atomic<std::uint32_t> tphase{0};       // TablePhase: what it does with table lock tlock
    std::atomic<std::uint32_t> tlock{0};
    std::atomic<std::uint32_t> order_lock{0};   // kOrderTable*: which table lock
    std::atomic<std::uint32_t> order_shares{1}; // kOrderTableS: how many shares
    std::atomic<std::uint32_t> tshares{0};      // kTLockS..kTUnlockS: the shares it takes (holds in kTHeldS)
};

struct AuditResult {
    std::uint32_t stage = 0;  // how far the auditor got
    bool owner_died = false;
    bool marked = false;      // it called mark_consistent()
    std::uint64_t acked = 0;  // Control::acked, read under the lock
    std::uint64_t size = 0;
    Verdict verdict;
    std::uint64_t reaped = 0;
    std::uint32_t ref_count = 0;
    std::uint32_t live = 0;
    std::uint32_t dead = 0;
    char error[400] = {};
};
const char* audit_stage_name(std::uint32_t s) {
    static const char* const names[] = {"attaching", "locking", "checking the log", "unlocking", "reaping",
                                        "reading the header", "detaching", "done"};
    return s < sizeof names / sizeof names[0] ? names[s] : "?";
}

// ---- table locks ----------------------------------------------------------------------------

const char* lock_info_state_name(LockInfo::State s) {
    switch (s) {
        case LockInfo::State::free: return "free";
        case LockInfo::State::exclusive: return "exclusive";
        case LockInfo::State::shared: return "shared";
        case LockInfo::State::owner_dead: return "owner_dead";
    }
    return "?";
}

/// What a worker does with a table lock (WorkerSlot::tphase), beside its region lock phase.
enum TablePhase : std::uint32_t { kTNone, kTLockX, kTHeldX, kTUnlockX, kTLockS, kTHeldS, kTUnlockS };
const char* table_phase_name(std::uint32_t p) {
    static const char* const names[] = {"none", "lock", "held exclusive", "unlock", "lock_shared", "held shared",
                                        "unlock shared"};
    return p < sizeof names / sizeof names[0] ? names[p] : "?";
}

/// The record a table lock guards, and what is known of its deaths. `outstanding`: may the
/// lock carry an owner death nobody repaired? 0 no, 1 certainly (its exclusive holder died
/// in its critical section), 2 perhaps (it died inside a lock or unlock call). Written by the
/// supervisor while the victim held the lock exclusively or every other worker was stopped,
/// and by a repairer holding the lock exclusively.
struct TableRecord {
    std::uint64_t a = 0, b = 0;  // equal unless a writer died between its two stores
    std::uint64_t writes = 0;    // updates, counted without atomics under the lock
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint32_t> outstanding{0};
};
struct TableState {
    TableRecord rec[kMaxTableLocks];
    std::atomic<std::uint64_t> x_ops{0}, s_ops{0}, nested{0}, reports_x{0}, reports_s{0}, repairs{0};
};

std::uint64_t relaxed_load(const std::uint64_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void relaxed_store(std::uint64_t* p, std::uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/// The checks of an exclusive acquisition of table lock i (g holds it): owner_died()
/// against `outstanding`, the record, the counts; repairs and marks consistent when told
/// (skip_mark: --inject=table-skip-mark, repairs and says so, but does not mark). "" or
/// what is wrong.
std::string table_check_exclusive(TableState& t, std::uint32_t i, LockGuard& g, bool skip_mark = false) {
    TableRecord& r = t.rec[i];
    const std::uint32_t out = r.outstanding.load();
    char msg[300];
    if (g.owner_died()) {
        t.reports_x.fetch_add(1);
        if (out == 0) {
            std::snprintf(msg, sizeof msg, "owner_died() on an exclusive acquisition of table lock %u, but none of its holders died", i);
            return msg;
        }
        relaxed_store(&r.b, relaxed_load(&r.a));
        r.acked.store(relaxed_load(&r.writes));
        r.outstanding.store(2);  // dying from here to the end of the repair: perhaps unrepaired
        if (!skip_mark) g.mark_consistent();
        if (!skip_mark && g.owner_died()) return "owner_died() still true after mark_consistent()";
        r.outstanding.store(0);
        t.repairs.fetch_add(1);
        return {};
    }
    if (out == 1) {
        std::snprintf(msg, sizeof msg, "no owner_died() on an exclusive acquisition of table lock %u after its exclusive holder died holding it", i);
        return msg;
    }
    if (out == 2) r.outstanding.store(0);
    if (relaxed_load(&r.a) != relaxed_load(&r.b)) {
        std::snprintf(msg, sizeof msg, "table lock %u's record is half-written (%#" PRIx64 " / %#" PRIx64 ") and owner_died() did not say so",
                      i, relaxed_load(&r.a), relaxed_load(&r.b));
        return msg;
    }
    if (relaxed_load(&r.writes) != r.acked.load()) {
        std::snprintf(msg, sizeof msg, "table lock %u: %" PRIu64 " updates counted under it, %" PRIu64 " acknowledged: two writers were in at once",
                      i, relaxed_load(&r.writes), r.acked.load());
        return msg;
    }
    return {};
}

/// The checks of a shared acquisition of table lock i: owner_died() against `outstanding`,
/// the record.
std::string table_check_shared(TableState& t, std::uint32_t i, const SharedLockGuard& s) {
    const TableRecord& r = t.rec[i];
    const std::uint32_t out = r.outstanding.load();
    char msg[300];
    if (s.owner_died()) {
        t.reports_s.fetch_add(1);
        if (out != 0) return {};
        std::snprintf(msg, sizeof msg, "owner_died() on a shared acquisition of table lock %u, but none of its holders died", i);
        return msg;
    }
    if (out == 1) {
        std::snprintf(msg, sizeof msg, "no owner_died() on a shared acquisition of table lock %u after its exclusive holder died", i);
        return msg;
    }
    if (relaxed_load(&r.a) != relaxed_load(&r.b)) {
        std::snprintf(msg, sizeof msg, "a reader of table lock %u sees its record half-written (%#" PRIx64 " / %#" PRIx64 ")", i,
                      relaxed_load(&r.a), relaxed_load(&r.b));
        return msg;
    }
    return {};
}

/// The last table lock events of every process (a failure's dump prints them).
enum TraceOp : std::uint32_t {
    kTrLockX = 1, kTrHeldX, kTrUnlockX, kTrUnlockedX,  // lock: the index; a: owner_died() once held
    kTrLockS, kTrGotS, kTrUnlockS, kTrUnlockedS,        // a: the shares asked for, or owner_died() once got
    kTrDetach, kTrAttached,                             // lock: the attach's slot; a: its generation
    kTrVictim,                                          // the supervisor's account: a: table phase; b: pid
};
struct TraceEvent {
    std::atomic<std::uint64_t> seq{0};
    std::int32_t pid = 0;
    std::uint32_t op = 0, lock = 0, a = 0;
    std::uint64_t b = 0;
};
constexpr std::size_t kTraceEvents = 512;
struct Trace {
    std::atomic<std::uint64_t> n{0};
    TraceEvent ev[kTraceEvents];
    /// pid: the process the event is of (0: the supervisor's own account).
    void add(pid_t pid, std::uint32_t op, std::uint32_t lock, std::uint32_t a, std::uint64_t b) noexcept {
        const std::uint64_t k = n.fetch_add(1);
        TraceEvent& e = ev[k % kTraceEvents];
        e.seq.store(0);
        e.pid = pid;
        e.op = op;
        e.lock = lock;
        e.a = a;
        e.b = b;
        e.seq.store(k + 1);
    }
};

struct Control {
    std::atomic<std::uint32_t> gate{0};            // 1: park at the top of the loop
    std::atomic<std::uint32_t> quit{0};            // 1: detach and exit
    /// Supervisor -> holders: 1: a holder that hears of a death checks the log and calls
    /// mark_consistent(); 0: it leaves the lock unmarked (as a repairer killed first would).
    std::atomic<std::uint32_t> marking{1};
    /// The model of owner_died(), kept by the application holders of the region lock (workers
    /// and auditor) under the lock: the header's lock_deaths as the last of them saw it, and
    /// whether a death is unmarked (nobody called mark_consistent() since).
    std::atomic<std::uint32_t> seen_deaths{0};
    std::atomic<std::uint32_t> unmarked{0};
    std::atomic<std::uint64_t> reports{0};         // owner_died() seen (workers and auditor)
    std::atomic<std::uint64_t> marks{0};           // mark_consistent() calls (workers and auditor)
    std::atomic<std::uint64_t> timed_out{0};       // try_lock_for() that timed out (lock() then)
    /// Commits acknowledged in the log's current epoch: epoch << 40 | count. Written under
    /// the region lock, in one store.
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint64_t> commits{0}, locks{0}, grows{0}, refreshes{0}, reattaches{0}, reaps{0}, wraps{0},
        verifies{0};
    WorkerSlot w[kMaxWorkers];
    AuditResult audit;
    TableState table;
    Trace trace;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free);

constexpr unsigned char kMsgFailed = 0x80;  // | worker index: a worker's check failed
constexpr unsigned char kMsgExited = 0x40;  // | worker index: detached, exiting 0
constexpr unsigned char kMsgIndex = 0x3f;

void send_byte(int fd, unsigned char b) noexcept {
    while (::write(fd, &b, 1) < 0 && errno == EINTR) {
    }
}

/// Children must die of a fault rather than enter Boost.Test's handlers (which would go
/// on running tests in the child), and of SIGALRM, their watchdog.
void default_signals_in_child() {
    for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM}) ::signal(s, SIG_DFL);
}

std::uint64_t page_size() { return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)); }

// ---- owner_died(), checked against the model ------------------------------------------------

/// An application acquisition of the region lock (g, held): checks g.owner_died() against
/// the model and updates it; "" or what is wrong. `deaths` is the header's lock_deaths, read
/// under the lock. The death of a holder is recovered (and counted) by the next acquisition,
/// the library's own included, so a holder killed anywhere, even between this check and its
/// mark_consistent(), shows up here as a rise of lock_deaths.
std::string check_owner_died(Control& ctl, const LockGuard& g, std::uint32_t deaths) {
    const std::uint32_t seen = ctl.seen_deaths.load();
    const bool was_unmarked = ctl.unmarked.load() != 0;
    const bool died = g.owner_died();
    if (died) ctl.reports.fetch_add(1);
    const bool expect = was_unmarked || deaths != seen;
    ctl.seen_deaths.store(deaths);
    ctl.unmarked.store(expect || died ? 1 : 0);
    char msg[300] = {};
    if (deaths < seen)
        std::snprintf(msg, sizeof msg, "lock_deaths went down from %" PRIu32 " to %" PRIu32, seen, deaths);
    else if (died && !expect)
        std::snprintf(msg, sizeof msg,
                      "owner_died() reported, but the lock was marked consistent and no holder died since "
                      "(lock_deaths %" PRIu32 ", as the last holder saw it)",
                      deaths);
    else if (!died && expect)
        std::snprintf(msg, sizeof msg, "owner_died() not reported, but %s (lock_deaths %" PRIu32 ", last seen %" PRIu32 ")",
                      deaths != seen ? "a holder died since the last holder" : "nobody has marked the lock consistent",
                      deaths, seen);
    return msg;
}

/// After the check (and the holder's own check of the data): marks the lock consistent if the
/// supervisor says so. The model first: a holder killed between the two leaves the header
/// unmarked, and its death makes the next holder expect the report anyway.
bool mark_if_asked(Control& ctl, LockGuard& g) {
    if (!g.owner_died() || !ctl.marking.load()) return false;
    ctl.unmarked.store(0);
    g.mark_consistent();
    ctl.marks.fetch_add(1);
    return true;
}

// ---- a worker process ---------------------------------------------------------------------

class Worker {
public:
    Worker(const Config& cfg, Control& ctl, const Options& o, Region& inherited, unsigned idx, int parked_w,
           int holder_w, int resume_r)
        : cfg_(cfg), ctl_(ctl), o_(o), inherited_(inherited), idx_(idx), parked_w_(parked_w), holder_w_(holder_w),
          resume_r_(resume_r), me_(ctl.w[idx]), self_(::getpid()),
          rng_(make_rng(cfg.seed, 1000 + static_cast<std::uint64_t>(self_))) {}

    int run() {
        try {
            me_.pid.store(self_);
            if (o_.backing == Backing::anonymous) {
                me_.phase = kJoin;
                inherited_.join_after_fork();
                r_ = &inherited_;
            } else {
                me_.phase = kAttach;
                own_ = Region::attach(o_);
                r_ = &own_;
                if (own_.created()) return fail(20, "attach created the region: the supervisor's region was gone");
            }
            me_.attached = 1;
            me_.phase = kIdle;
            last_size_ = r_->size();
            for (;;) {
                ::alarm(cfg_.hang_s * 3);
                me_.phase = kIdle;
                if (ctl_.quit.load()) break;
                if (ctl_.gate.load()) {
                    if (int rc = park()) return rc;
                    continue;
                }
                if (const std::uint32_t order = me_.order.load()) {
                    if (order <= kStops) return hold_and_stop(static_cast<int>(order) - 1);
                    if (order == kOrderTableX || order == kOrderTableS) return table_hold(order);
                    me_.order = 0;
                    send_byte(holder_w_, static_cast<unsigned char>(idx_));
                    const int rc = order == kOrderGrow ? grow_burst() : order == kOrderReattach ? reattach_op() : reap_op();
                    if (rc) return rc;
                    continue;
                }
                if (int rc = one_op()) return rc;
            }
            me_.phase = kDetach;
            r_->detach();
            me_.attached = 0;
            me_.phase = kExiting;
            send_byte(parked_w_, static_cast<unsigned char>(kMsgExited | idx_));
            return 0;
        } catch (const std::exception& e) {
            return fail(250, "exception in phase %s: %s", phase_name(me_.phase), e.what());
        }
    }

private:
    int fail(int code, const char* fmt, ...) __attribute__((format(printf, 3, 4))) {
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        std::snprintf(me_.failure, sizeof me_.failure, "worker %u (pid %d): %s", idx_, static_cast<int>(self_), msg);
        std::fprintf(stderr, "torture: %s (exit %d)\n", me_.failure, code);
        send_byte(parked_w_, static_cast<unsigned char>(kMsgFailed | idx_));
        return code;
    }

    int park() {
        me_.phase = kParked;
        send_byte(parked_w_, static_cast<unsigned char>(idx_));
        char c = 0;
        ssize_t n;
        while ((n = ::read(resume_r_, &c, 1)) < 0 && errno == EINTR) {
        }
        if (n != 1) return fail(22, "the supervisor went away while this worker was parked");
        me_.phase = kIdle;
        return 0;
    }

    bool growable() const { return o_.backing == Backing::file || o_.backing == Backing::posix; }
    unsigned char* base() const { return static_cast<unsigned char*>(r_->data()); }

    /// Takes the lock: lock(), or a quarter of the time try_lock_for() (lock() if that
    /// times out, which only counts: the watchdogs judge hangs).
    LockGuard acquire() {
        if (rng_() % 4 == 0) {
            LockGuard g = r_->try_lock_for(std::chrono::seconds(cfg_.hang_s));
            if (g.owns_lock()) return g;
            ctl_.timed_out.fetch_add(1);
        }
        return r_->lock();
    }

    /// A holder that heard of a death: checks the log, then marks the lock consistent if the
    /// supervisor says so (--inject=skip-mark / silent-mark break this once).
    int repair(LockGuard& g) {
        if (!ctl_.marking.load()) return 0;  // left unmarked: the next holder hears of it
        if (const int rc = verify()) return rc;
        if (inject_mark_ && cfg_.inject == "skip-mark") {
            inject_mark_ = false;
            ctl_.unmarked.store(0);  // says it marked; does not
            std::fprintf(stderr, "torture: worker %u (pid %d) did not mark the lock consistent (--inject=skip-mark)\n",
                         idx_, static_cast<int>(self_));
            return 0;
        }
        if (inject_mark_ && cfg_.inject == "silent-mark") {
            inject_mark_ = false;
            g.mark_consistent();  // marks; does not say so
            std::fprintf(stderr, "torture: worker %u (pid %d) marked the lock consistent silently (--inject=silent-mark)\n",
                         idx_, static_cast<int>(self_));
            return 0;
        }
        mark_if_asked(ctl_, g);
        return 0;
    }

    /// Runs body with the lock held, phases recorded around every call.
    template <class Body>
    int locked(Body&& body) {
        me_.phase = kLock;
        LockGuard g = acquire();
        me_.phase = kHeld;
        ctl_.locks.fetch_add(1);
        const std::string problem = check_owner_died(ctl_, g, mptest::lock_deaths_of(*r_, o_.max_attachers));
        if (!problem.empty()) return fail(29, "%s", problem.c_str());
        if (g.owner_died())
            if (const int rc = repair(g)) return rc;
        if (r_->size() < last_size_)
            return fail(23, "size() went down from %" PRIu64 " to %zu", last_size_, r_->size());
        last_size_ = r_->size();
        const int rc = body();
        me_.phase = kUnlock;
        g.unlock();
        me_.phase = kIdle;
        return rc;
    }

    int one_op() {
        if (cfg_.locks > 0 && rng_() % 4 == 0) return table_op();
        const unsigned roll = static_cast<unsigned>(rng_() % 100);
        const bool named = o_.backing != Backing::anonymous;
        if (!cfg_.inject.empty() && idx_ == 0 && ++ops_ == 200) {
            if (cfg_.inject == "skip-mark" || cfg_.inject == "silent-mark") inject_mark_ = true;  // at the next death heard
            else if (cfg_.inject == "table-skip-mark") inject_table_ = true;  // at the next table repair
            else return locked([&] { return inject(); });
        }
        if (roll < 55) return locked([&] { return write_record(-1); });
        if (roll < 62) return locked([&] { return verify(); });
        if (roll < 72 && growable()) return grow_op();
        if (roll < 82) return refresh_op();
        if (roll < 89 && named) return reattach_op();
        if (roll < 94) return reap_op();
        return locked([&] {  // a burst: several records in one critical section
            const unsigned n = 2 + static_cast<unsigned>(rng_() % 4);
            for (unsigned i = 0; i < n; ++i)
                if (int rc = write_record(-1)) return rc;
            return 0;
        });
    }

    /// --inject: a deliberate defect, to show that the supervisor notices it.
    int inject() {
        if (cfg_.inject == "hang") {
            std::fprintf(stderr, "torture: worker %u (pid %d) keeps the lock forever (--inject=hang)\n", idx_,
                         static_cast<int>(self_));
            for (;;) ::pause();
        }
        const auto* lh = reinterpret_cast<const LogHeader*>(base());
        const std::uint64_t state = load(&lh->state);
        const auto epoch = static_cast<std::uint32_t>(state >> 32);
        unsigned char* log = base() + kLogHeaderBytes;
        std::uint64_t off = 0;
        for (; off < (state & 0xffffffffu); off += rec_bytes(std::min(kMaxPayload, reinterpret_cast<RecHead*>(log + off)->len))) {
            RecHead h;
            std::memcpy(&h, log + off, sizeof h);
            if (h.len > kMaxPayload) break;
            const auto* commit = reinterpret_cast<const std::uint64_t*>(log + off + sizeof h + pad8(h.len));
            if (h.len > 0 && load(commit) == commit_word(h.checksum, epoch, off)) break;
        }
        if (off >= (state & 0xffffffffu)) return write_record(-1);  // nothing to damage yet
        log[off + sizeof(RecHead)] = static_cast<unsigned char>(log[off + sizeof(RecHead)] ^ 0x5a);
        std::fprintf(stderr, "torture: worker %u (pid %d) damaged a committed record (--inject=corrupt)\n", idx_,
                     static_cast<int>(self_));
        return 0;
    }

    int verify() {
        const Verdict v = verify_log(r_->data(), r_->size());
        ctl_.verifies.fetch_add(1);
        if (v.corrupt) return fail(30, "log check under the lock: %s", v.problem);
        for (std::uint32_t i = 0; i < v.n_pids; ++i)
            if (v.uncommitted_pids[i] == self_) return fail(31, "an uncommitted record of this live writer");
        return 0;
    }

    int touch_last_byte() {
        const std::size_t n = r_->size();
        const volatile unsigned char* p = base();
        (void)p[n - 1];  // SIGBUS here if the mapping is not backed
        return 0;
    }

    int refresh_op() {
        me_.phase = kRefresh;
        r_->refresh();
        me_.phase = kIdle;
        ctl_.refreshes.fetch_add(1);
        if (r_->size() < last_size_)
            return fail(24, "refresh: size() went down from %" PRIu64 " to %zu", last_size_, r_->size());
        last_size_ = r_->size();
        return touch_last_byte();
    }

    /// One growth by `step` bytes (up to the ceiling), checked; 0 or a failure code.
    int grow_by(std::uint64_t step) {
        const std::uint64_t target = std::min<std::uint64_t>(r_->max_size(), r_->size() + step);
        me_.phase = kGrow;
        r_->grow(target);
        me_.phase = kIdle;
        ctl_.grows.fetch_add(1);
        if (r_->size() < target) return fail(25, "grow(%" PRIu64 ") returned with size() %zu", target, r_->size());
        last_size_ = r_->size();
        return 0;
    }

    int grow_op() {
        if (r_->size() >= r_->max_size()) return refresh_op();
        if (const int rc = grow_by((1 + rng_() % 16) * page_size())) return rc;
        return touch_last_byte();
    }

    /// Told to grow: several small growths in a row, so that the kill lands inside one.
    int grow_burst() {
        for (int i = 0; i < 16; ++i) {
            if (r_->size() >= r_->max_size()) return refresh_op();
            if (const int rc = grow_by(cfg_.grow_step)) return rc;
        }
        return touch_last_byte();
    }

    int reattach_op() {
        me_.phase = kDetach;
        trace_attach(kTrDetach);
        own_.detach();
        me_.attached = 0;
        me_.phase = kAttach;
        own_ = Region::attach(o_);
        trace_attach(kTrAttached);
        me_.attached = 1;
        me_.phase = kIdle;
        ctl_.reattaches.fetch_add(1);
        if (own_.created()) return fail(26, "re-attach created the region: the supervisor's region was gone");
        if (own_.size() < last_size_)
            return fail(27, "re-attach: size() %zu below the %" PRIu64 " seen before", own_.size(), last_size_);
        last_size_ = own_.size();
        return 0;
    }

    int reap_op() {
        me_.phase = kReap;
        r_->reap_dead_attachers();
        me_.phase = kIdle;
        ctl_.reaps.fetch_add(1);
        return 0;
    }

    // ---- table locks --------------------------------------------------------------------

    /// Table lock i exclusively, by a random form (lock, try_lock_for, try_lock or short
    /// timed tries in a loop); an empty guard after hang_s.
    LockGuard table_acquire_x(std::uint32_t i, bool blocking) {
        const unsigned form = blocking ? 0 : static_cast<unsigned>(rng_() % 4);
        if (form == 0) return r_->lock(i);
        if (form == 1) return r_->try_lock_for(i, std::chrono::seconds(cfg_.hang_s));
        LockGuard g;
        const auto deadline = Clock::now() + std::chrono::seconds(cfg_.hang_s);
        while (!g && Clock::now() < deadline) {
            g = form == 2 ? r_->try_lock(i) : r_->try_lock_for(i, std::chrono::milliseconds(10));
            if (!g && form == 2) ::sched_yield();
        }
        return g;
    }
    SharedLockGuard table_acquire_s(std::uint32_t i, bool blocking) {
        const unsigned form = blocking ? 0 : static_cast<unsigned>(rng_() % 4);
        if (form == 0) return r_->lock_shared(i);
        if (form == 1) return r_->try_lock_shared_for(i, std::chrono::seconds(cfg_.hang_s));
        SharedLockGuard s;
        const auto deadline = Clock::now() + std::chrono::seconds(cfg_.hang_s);
        while (!s && Clock::now() < deadline) {
            s = form == 2 ? r_->try_lock_shared(i) : r_->try_lock_shared_for(i, std::chrono::milliseconds(10));
            if (!s && form == 2) ::sched_yield();
        }
        return s;
    }

    /// Traces a table lock event of this worker on lock i, with the lock's futex word (high
    /// half) and lock word (low half) as they are now.
    void trace_table(TraceOp op, std::uint32_t i, std::uint32_t a = 0) noexcept {
        const detail::LockEntry* e = locktest::lock_entry_of(*r_, o_.max_attachers, i);
        const auto m = static_cast<std::uint32_t>(detail::robust_mutex_word(&e->mutex));
        const std::uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE) & 0xFFFFFFFFu;
        ctl_.trace.add(self_, op, i, a, (std::uint64_t{m} << 32) | w);
    }
    /// Traces a detach or attach of this worker's own attach, with its slot and generation.
    void trace_attach(TraceOp op) noexcept {
        const AttacherIdentity id = own_.identity();
        ctl_.trace.add(self_, op, id.slot, id.generation, 0);
    }

    int table_op() {
        const auto i = static_cast<std::uint32_t>(rng_() % cfg_.locks);
        const unsigned roll = static_cast<unsigned>(rng_() % 10);
        if (roll < 5) return table_exclusive(i, roll == 0, false);
        return table_shared(i, 1 + static_cast<unsigned>(rng_() % 2), roll == 5, false);
    }

    /// An exclusive critical section on table lock i: checks, then the record update (with a
    /// record written under the region lock in the middle, `nested`). stop: stop half-way
    /// through the update, say so and wait to be killed.
    int table_exclusive(std::uint32_t i, bool nested, bool stop) {
        me_.tlock = i;
        me_.tphase = kTLockX;
        trace_table(kTrLockX, i);
        LockGuard g = table_acquire_x(i, stop);
        if (!g) return fail(60, "table lock %u not acquired exclusively within %u s", i, cfg_.hang_s);
        me_.tphase = kTHeldX;
        trace_table(kTrHeldX, i, g.owner_died());
        ctl_.table.x_ops.fetch_add(1);
        const bool skip_mark = inject_table_ && g.owner_died();
        if (skip_mark) {
            inject_table_ = false;
            std::fprintf(stderr, "torture: worker %u (pid %d) repairs table lock %u without mark_consistent() (--inject=table-skip-mark)\n",
                         idx_, static_cast<int>(self_), i);
        }
        if (const std::string bad = table_check_exclusive(ctl_.table, i, g, skip_mark); !bad.empty())
            return fail(61, "%s", bad.c_str());
        TableRecord& t = ctl_.table.rec[i];
        const std::uint64_t v = (static_cast<std::uint64_t>(self_) << 32) | ++table_counter_;
        relaxed_store(&t.a, v);
        if (stop) stop_here();
        if (nested) {
            ctl_.table.nested.fetch_add(1);
            if (int rc = locked([&] { return write_record(-1); })) return rc;  // the region lock inside
        }
        const std::uint64_t w = relaxed_load(&t.writes);
        if (rng_() % 8 == 0) ::sched_yield();
        relaxed_store(&t.writes, w + 1);
        t.acked.fetch_add(1);
        relaxed_store(&t.b, v);
        me_.tphase = kTUnlockX;
        trace_table(kTrUnlockX, i);
        g.unlock();
        me_.tphase = kTNone;
        trace_table(kTrUnlockedX, i);
        return 0;
    }

    /// `shares` shares of table lock i, checked (before and after a verification of the log
    /// under the region lock, `nested`). stop: say so and wait to be killed.
    int table_shared(std::uint32_t i, unsigned shares, bool nested, bool stop) {
        me_.tlock = i;
        me_.tshares = shares;
        me_.tphase = kTLockS;
        trace_table(kTrLockS, i, shares);
        std::vector<SharedLockGuard> held;
        for (unsigned k = 0; k < shares; ++k) {
            held.push_back(table_acquire_s(i, stop));
            if (!held.back()) return fail(62, "table lock %u not acquired shared within %u s", i, cfg_.hang_s);
            trace_table(kTrGotS, i, held.back().owner_died());
        }
        me_.tphase = kTHeldS;
        ctl_.table.s_ops.fetch_add(1);
        if (const std::string bad = table_check_shared(ctl_.table, i, held.front()); !bad.empty())
            return fail(63, "%s", bad.c_str());
        if (stop) stop_here();
        if (nested) {
            ctl_.table.nested.fetch_add(1);
            if (int rc = locked([&] { return verify(); })) return rc;
        }
        if (const std::string bad = table_check_shared(ctl_.table, i, held.back()); !bad.empty())
            return fail(64, "%s (looking again)", bad.c_str());
        me_.tphase = kTUnlockS;
        trace_table(kTrUnlockS, i);
        held.clear();
        me_.tphase = kTNone;
        trace_table(kTrUnlockedS, i);
        return 0;
    }

    /// Told to hold a table lock: exclusively (stopping half-way through the update) or
    /// shared, then say so and wait to be killed.
    int table_hold(std::uint32_t order) {
        me_.order = 0;
        const std::uint32_t i = me_.order_lock.load();
        if (order == kOrderTableX) return table_exclusive(i, false, true);
        return table_shared(i, me_.order_shares.load(), false, true);
    }

    int hold_and_stop(int stop) {
        return locked([&] {
            if (int rc = write_record(stop)) return rc;
            return fail(28, "the record write did not stop %s", stop_name(stop));
        });
    }

    /// The victim of a holder kill: say so and wait, holding the lock, to be killed.
    [[noreturn]] void stop_here() {
        std::atomic_signal_fence(std::memory_order_seq_cst);
        send_byte(holder_w_, static_cast<unsigned char>(idx_));
        for (;;) ::pause();
    }

    /// Appends one record (the lock is held). stop >= 0: stop there for good (stop_here).
    int write_record(int stop) {
        auto* lh = reinterpret_cast<LogHeader*>(base());
        const std::uint64_t magic = load(&lh->magic);
        if (magic == 0) store(&lh->magic, kLogMagic);
        else if (magic != kLogMagic) return fail(40, "log magic is %#" PRIx64, magic);
        const std::uint64_t state = load(&lh->state);
        std::uint32_t epoch = static_cast<std::uint32_t>(state >> 32);
        std::uint64_t head = state & 0xffffffffu;
        const auto len = static_cast<std::uint32_t>(rng_() % 8 == 0 ? rng_() % (kMaxPayload + 1) : rng_() % 200);
        const std::uint64_t need = rec_bytes(len);
        auto capacity = [&] { return r_->size() - kLogHeaderBytes; };
        if (head > capacity()) return fail(41, "log head %" PRIu64 " beyond the capacity %" PRIu64, head, capacity());
        if (head + need > capacity() && growable() && r_->size() < r_->max_size()) {
            const std::uint64_t target = std::min<std::uint64_t>(r_->max_size(), r_->size() + cfg_.grow_step);
            r_->grow(target);  // under this thread's guard
            ctl_.grows.fetch_add(1);
            if (r_->size() < target)
                return fail(42, "grow(%" PRIu64 ") under the lock returned with size() %zu", target, r_->size());
            last_size_ = r_->size();
        }
        if (head + need > capacity()) {  // full: check everything, then a new epoch
            const Verdict v = verify_log(r_->data(), r_->size());
            if (v.corrupt) return fail(43, "log check before starting a new epoch: %s", v.problem);
            ++epoch;
            head = 0;
            store(&lh->state, std::uint64_t{epoch} << 32);
            ctl_.wraps.fetch_add(1);
        }
        unsigned char* at = base() + kLogHeaderBytes + head;
        RecHead h{kRecMagic, len, epoch, static_cast<std::uint32_t>(self_),
                  (static_cast<std::uint64_t>(self_) << 32) | ++counter_, 0};
        std::array<unsigned char, kMaxPayload> payload;
        fill_payload(payload.data(), len, h.id);
        h.checksum = record_checksum(h, payload.data());
        // Step 1: header, allocation, payload.
        std::memcpy(at, &h, sizeof h);
        if (stop == kStopHeader) stop_here();
        store(&lh->state, (std::uint64_t{epoch} << 32) | (head + need));
        if (stop == kStopAllocated) stop_here();
        const std::uint32_t half = len / 2;
        std::memcpy(at + sizeof h, payload.data(), half);
        if (stop == kStopHalfPayload) stop_here();
        std::memcpy(at + sizeof h + half, payload.data() + half, len - half);
        if (stop == kStopPayload) stop_here();
        // Step 2: the commit word.
        store(reinterpret_cast<std::uint64_t*>(at + sizeof h + pad8(len)), commit_word(h.checksum, epoch, head));
        if (stop == kStopCommitted) stop_here();
        std::uint64_t a = ctl_.acked.load();
        if ((a >> 40) != epoch) a = std::uint64_t{epoch} << 40;
        ctl_.acked.store(a + 1);
        ctl_.commits.fetch_add(1);
        return 0;
    }

    const Config& cfg_;
    Control& ctl_;
    const Options& o_;
    Region& inherited_;
    const unsigned idx_;
    const int parked_w_, holder_w_, resume_r_;
    WorkerSlot& me_;
    const pid_t self_;
    std::mt19937_64 rng_;
    Region own_;
    Region* r_ = nullptr;
    std::uint64_t counter_ = 0;
    std::uint64_t last_size_ = 0;
    std::uint64_t ops_ = 0;
    bool inject_mark_ = false;
    bool inject_table_ = false;
    std::uint64_t table_counter_ = 0;
};

// ---- the auditor process: attaches, locks, checks, reaps, reads the header, detaches ------

int audit_main(Control& ctl, const Options& o, Region& inherited) {
    AuditResult& out = ctl.audit;
    try {
        Region own;
        Region* r = &inherited;
        out.stage = 0;
        if (o.backing == Backing::anonymous) {
            inherited.join_after_fork();
        } else {
            own = Region::attach(o);
            r = &own;
            if (own.created()) throw std::runtime_error("attach created the region: it was gone");
        }
        out.stage = 1;
        LockGuard g = r->lock();
        ctl.locks.fetch_add(1);
        out.stage = 2;
        out.owner_died = g.owner_died();
        const std::string problem = check_owner_died(ctl, g, mptest::lock_deaths_of(*r, o.max_attachers));
        if (!problem.empty()) throw std::runtime_error(problem);
        out.acked = ctl.acked.load();
        out.size = r->size();
        out.verdict = verify_log(r->data(), r->size());
        // The log checked (the supervisor judges the verdict): marked if the supervisor says so.
        out.marked = mark_if_asked(ctl, g);
        out.stage = 3;
        g.unlock();
        out.stage = 4;
        out.reaped = r->reap_dead_attachers();
        out.stage = 5;
        if (o.backing == Backing::anonymous) {
            out.ref_count = mptest::ref_count_of(*r, o.max_attachers);
            out.live = mptest::slots_in_use(*r, o.max_attachers);
        } else {
            const RegionInfo info = inspect(o.home, o.name);
            out.ref_count = info.ref_count;
            out.live = static_cast<std::uint32_t>(info.live_attachers());
            out.dead = static_cast<std::uint32_t>(mptest::dead_attachers(info));
        }
        out.stage = 6;
        r->detach();
        out.stage = 7;
        return 0;
    } catch (const std::exception& e) {
        std::snprintf(out.error, sizeof out.error, "%s", e.what());
        return 3;
    }
}

// ---- figures --------------------------------------------------------------------------------

struct Stats {
    std::uint64_t rounds = 0, kills = 0, holder_kills = 0, call_kills = 0, random_kills = 0, pair_kills = 0, in_library_call = 0, holder_deaths = 0;
    std::uint64_t audits = 0, tool_runs = 0, commits = 0, locks = 0, reports = 0, marks = 0, unmarked_deaths = 0,
        timed_out = 0, grows = 0, refreshes = 0;
    std::uint64_t reattaches = 0, reaps = 0, wraps = 0, verifies = 0, uncommitted_seen = 0;
    std::uint64_t failures = 0;
    std::uint64_t by_phase[kExiting + 1] = {};  // victims by their phase when killed
    std::uint64_t table_kills = 0, table_victims = 0, table_deaths = 0, table_x = 0, table_s = 0, table_nested = 0,
                  table_reports = 0, table_repairs = 0, table_x_counted = 0, table_s_released = 0;
    double seconds = 0;

    void add(const Stats& s) {
        rounds += s.rounds; kills += s.kills; holder_kills += s.holder_kills; call_kills += s.call_kills; pair_kills += s.pair_kills; random_kills += s.random_kills;
        in_library_call += s.in_library_call; holder_deaths += s.holder_deaths; audits += s.audits; tool_runs += s.tool_runs;
        commits += s.commits; locks += s.locks; reports += s.reports; marks += s.marks; unmarked_deaths += s.unmarked_deaths;
        timed_out += s.timed_out; grows += s.grows; refreshes += s.refreshes;
        reattaches += s.reattaches; reaps += s.reaps; wraps += s.wraps; verifies += s.verifies;
        uncommitted_seen += s.uncommitted_seen; failures += s.failures; seconds += s.seconds;
        for (std::size_t i = 0; i <= kExiting; ++i) by_phase[i] += s.by_phase[i];
        table_kills += s.table_kills; table_victims += s.table_victims; table_deaths += s.table_deaths;
        table_x += s.table_x; table_s += s.table_s; table_nested += s.table_nested;
        table_reports += s.table_reports; table_repairs += s.table_repairs;
        table_x_counted += s.table_x_counted; table_s_released += s.table_s_released;
    }
    std::string line(const std::string& label) const {
        char buf[1000];
        std::snprintf(buf, sizeof buf,
                      "torture summary [%s]: kills %" PRIu64 " (holder mid-write %" PRIu64 ", in a call %" PRIu64
                      ", random %" PRIu64 " of which %" PRIu64 " two at once; in a library call when killed %" PRIu64
                      "), holder deaths %" PRIu64
                      ", records committed %" PRIu64 ", lock acquisitions %" PRIu64 ", owner_died reports %" PRIu64
                      ", marked consistent %" PRIu64 ", holder deaths while a death was unmarked %" PRIu64
                      ", timed locks that timed out %" PRIu64 ", uncommitted records seen %" PRIu64 ", grows %" PRIu64 ", log wraps %" PRIu64
                      ", re-attaches %" PRIu64 ", audits %" PRIu64 ", regiontool runs %" PRIu64 ", rounds %" PRIu64
                      ", failures %" PRIu64 ", %.1f s",
                      label.c_str(), kills, holder_kills, call_kills, random_kills, pair_kills, in_library_call, holder_deaths, commits, locks,
                      reports, marks, unmarked_deaths, timed_out, uncommitted_seen, grows, wraps, reattaches, audits, tool_runs, rounds, failures,
                      seconds);
        std::string out = buf;
        out += "\n  victims' phases when killed:";
        for (std::uint32_t i = 0; i <= kExiting; ++i)
            if (by_phase[i]) out += std::string(" ") + phase_name(i) + " " + std::to_string(by_phase[i]);
        std::snprintf(buf, sizeof buf,
                      "\n  table locks: holders killed %" PRIu64 ", other victims inside a table lock %" PRIu64
                      ", exclusive holder deaths %" PRIu64 ", exclusive sections %" PRIu64 ", shared %" PRIu64
                      " (with the region lock inside %" PRIu64 "), owner_died reports %" PRIu64 ", repairs %" PRIu64
                      ", exclusive_deaths counted %" PRIu64 ", dead holders' shares released %" PRIu64,
                      table_kills, table_victims, table_deaths, table_x, table_s, table_nested, table_reports,
                      table_repairs, table_x_counted, table_s_released);
        out += buf;
        return out;
    }
};

Stats& totals() {
    static Stats s;
    return s;
}

struct Abort {};  // a round cannot go on (thrown after the failure was reported)

// ---- one round: one region, N workers, K kills ---------------------------------------------

class Round {
public:
    Round(const Config& cfg, const fs::path& home, Backing backing, unsigned index, Stats& stats, std::mt19937_64& rng)
        : cfg_(cfg), home_(home), backing_(backing), index_(index), stats_(stats), rng_(rng),
          mem_(sizeof(Control)), ctl_(*new (mem_.get()) Control{}) {
        if (backing == Backing::anonymous) {
            o_.name = test::unique_name("torture");
            o_.backing = backing;
            o_.size = cfg.fixed_size;
        } else {
            o_ = test::options(home, backing, growable() ? cfg.size : cfg.fixed_size);
            if (growable()) o_.max_size = index % 2 == 1 ? 64 * cfg.max_size : cfg.max_size;  // growth all round long
        }
        o_.max_attachers = 64;
        o_.locks = cfg.locks;
        o_.join_timeout = std::chrono::milliseconds(std::chrono::seconds(cfg.hang_s) / 2);
        o_.remove_on_last_detach = index % 2 == 1;
        label_ = std::string(to_string(backing)) + " round " + std::to_string(index) + " (" + o_.name + "): ";
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        parked_r_ = p[0];
        parked_w_ = p[1];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        holder_r_ = p[0];
        holder_w_ = p[1];
    }

    ~Round() {
        for (unsigned i = 0; i < kMaxWorkers; ++i) {
            if (procs_[i].alive) test::kill_and_reap(procs_[i].pid);
            close_resume(i);
        }
        std::error_code ec;
        sup_.detach(ec);
        if (backing_ != Backing::anonymous && fs::exists(region_file(home_, o_.name)))
            shmregion::unlink(home_, o_.name, Force::yes, ec);
        for (int fd : {parked_r_, parked_w_, holder_r_, holder_w_}) ::close(fd);
        ctl_.~Control();
    }

    void run() {
        sup_ = Region::attach(o_);
        if (!sup_.created()) fatal("the supervisor's attach of a fresh name did not create it");
        if (!growable()) {
            std::error_code ec;
            sup_.grow(sup_.size() + page_size(), ec);
            if (ec != shmregion::errc::not_growable)
                fail("grow of a " + std::string(to_string(backing_)) + " region: expected not_growable, got '" +
                     ec.message() + "'");
        }
        if (backing_ != Backing::anonymous) first_info_ = inspect(home_, o_.name);
        for (unsigned i = 0; i < cfg_.workers; ++i) spawn_worker(i);
        for (unsigned k = 0; k < cfg_.kills; ++k) {
            kill_one(k);
            if (cfg_.locks > 0 && k % 4 == 3) kill_table_holder(k);
        }
        finish();
        collect();
    }

private:
    struct Proc {
        pid_t pid = 0;
        int resume_r = -1, resume_w = -1;
        bool alive = false;      // not reaped yet
        bool parked = false;     // at the gate (or, with quit, said it is exiting)
        bool said_exit = false;  // sent kMsgExited: detached, exiting 0
        int status = 0;          // once reaped: exit code or -signal
    };

    bool growable() const { return backing_ == Backing::file || backing_ == Backing::posix; }
    bool named() const { return backing_ != Backing::anonymous; }

    void fail(const std::string& msg) {
        ++stats_.failures;
        BOOST_ERROR(label_ + msg);
    }
    [[noreturn]] void fatal(const std::string& msg) {
        fail(msg);
        collect();
        throw Abort{};
    }

    void collect() {
        if (collected_) return;
        collected_ = true;
        stats_.commits += ctl_.commits;
        stats_.locks += ctl_.locks;
        stats_.reports += ctl_.reports;
        stats_.marks += ctl_.marks;
        stats_.timed_out += ctl_.timed_out;
        stats_.grows += ctl_.grows;
        stats_.refreshes += ctl_.refreshes;
        stats_.reattaches += ctl_.reattaches;
        stats_.reaps += ctl_.reaps;
        stats_.wraps += ctl_.wraps;
        stats_.verifies += ctl_.verifies;
        stats_.table_x += ctl_.table.x_ops;
        stats_.table_s += ctl_.table.s_ops;
        stats_.table_nested += ctl_.table.nested;
        stats_.table_reports += ctl_.table.reports_x + ctl_.table.reports_s;
        stats_.table_repairs += ctl_.table.repairs;
        stats_.table_deaths += table_certain_;
        ++stats_.rounds;
    }

    void close_resume(unsigned i) {
        for (int* fd : {&procs_[i].resume_r, &procs_[i].resume_w}) {
            if (*fd >= 0) ::close(*fd);
            *fd = -1;
        }
    }

    void spawn_worker(unsigned i) {
        close_resume(i);
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) fatal("pipe2 failed");
        procs_[i].resume_r = p[0];
        procs_[i].resume_w = p[1];
        WorkerSlot& s = ctl_.w[i];
        s.phase = kStarting;
        s.attached = 0;
        s.pid = 0;
        s.order = 0;
        s.failure[0] = 0;
        s.tphase = kTNone;
        s.tlock = 0;
        s.tshares = 0;
        const int resume_r = p[0];
        const pid_t pid = test::spawn(
            [&, i, resume_r] {
                default_signals_in_child();
                Worker w(cfg_, ctl_, o_, sup_, i, parked_w_, holder_w_, resume_r);
                return w.run();
            },
            cfg_.hang_s * 3);
        mptest::spawned_pids().push_back(pid);
        procs_[i].pid = pid;
        procs_[i].alive = true;
        procs_[i].parked = false;
        procs_[i].said_exit = false;
        procs_[i].status = 0;
    }

    std::string describe_status(int st) const {
        if (st >= 0) return "exit " + std::to_string(st);
        return std::string("signal ") + strsignal(-st);
    }

    /// Reaps workers that ended without being killed by us: a failure, unless the worker
    /// said it was exiting (quit) and exited 0.
    void check_unexpected_deaths() {
        for (unsigned i = 0; i < kMaxWorkers; ++i) {
            if (!procs_[i].alive) continue;
            int status = 0;
            const pid_t got = ::waitpid(procs_[i].pid, &status, WNOHANG);
            if (got != procs_[i].pid) continue;
            procs_[i].alive = false;
            procs_[i].status = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            drain();  // its last words may still be in the pipe
            if (procs_[i].status == 0 && procs_[i].said_exit) continue;
            fatal("worker " + std::to_string(i) + " (pid " + std::to_string(procs_[i].pid) + ") ended by itself with " +
                  describe_status(procs_[i].status) + " in phase " + phase_name(ctl_.w[i].phase) +
                  (ctl_.w[i].failure[0] ? std::string(": ") + ctl_.w[i].failure : std::string()) + "\n" + dump());
        }
    }

    /// Handles one byte from the parked pipe.
    void on_message(unsigned char b) {
        const unsigned i = b & kMsgIndex;
        if (i >= kMaxWorkers) fatal("garbage on the parked pipe");
        if (b & kMsgFailed) {
            if (procs_[i].alive) {
                procs_[i].status = test::wait_exit(procs_[i].pid);
                procs_[i].alive = false;
            }
            fatal(std::string(ctl_.w[i].failure) + " [" + describe_status(procs_[i].status) + "]\n" + dump());
        }
        if (b & kMsgExited) procs_[i].said_exit = true;
        procs_[i].parked = true;
    }

    void read_messages() {
        unsigned char buf[64];
        const ssize_t n = ::read(parked_r_, buf, sizeof buf);
        for (ssize_t j = 0; j < n; ++j) on_message(buf[j]);
    }
    void drain() {
        for (pollfd p{parked_r_, POLLIN, 0}; ::poll(&p, 1, 0) > 0; p.revents = 0) read_messages();
    }

    /// Reads what the workers said, for at most timeout_ms, and looks for deaths.
    void pump(int timeout_ms) {
        pollfd p{parked_r_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) > 0) read_messages();
        check_unexpected_deaths();
    }

    std::vector<unsigned> alive_not_parked() const {
        std::vector<unsigned> v;
        for (unsigned i = 0; i < kMaxWorkers; ++i)
            if (procs_[i].alive && !procs_[i].parked) v.push_back(i);
        return v;
    }

    /// Closes the gate and waits until every live worker is parked (or, with quit, gone).
    /// A worker that never arrives is stuck, usually on a lock that never comes.
    void wait_gate(const std::string& why) {
        const auto deadline = Clock::now() + std::chrono::seconds(cfg_.hang_s);
        for (std::vector<unsigned> missing; !(missing = alive_not_parked()).empty();) {
            if (Clock::now() > deadline) {
                std::string who;
                for (unsigned i : missing)
                    who += " worker " + std::to_string(i) + " (pid " + std::to_string(procs_[i].pid) + ", phase " +
                           phase_name(ctl_.w[i].phase) + ")";
                fatal("after " + why + ", within " + std::to_string(cfg_.hang_s) + " s these did not reach the gate:" +
                      who + " -- a lock that never came?\n" + dump());
            }
            pump(100);
        }
    }

    void resume_all() {
        ctl_.gate = 0;
        for (unsigned i = 0; i < kMaxWorkers; ++i) {
            if (!procs_[i].alive || !procs_[i].parked) continue;
            procs_[i].parked = false;
            send_byte(procs_[i].resume_w, 1);
        }
    }

    /// The trace's last 200 events, one line each.
    std::string trace_lines() {
        static const char* const ops[] = {"?", "lock", "held", "unlock", "unlocked", "lock_shared", "got share",
                                          "unlock_shared", "unlocked shares", "detach", "attached", "victim"};
        std::string out;
        const std::uint64_t n = ctl_.trace.n.load();
        for (std::uint64_t k = n > 200 ? n - 200 : 0; k < n; ++k) {
            const TraceEvent& e = ctl_.trace.ev[k % kTraceEvents];
            if (e.seq.load() != k + 1) continue;  // being overwritten
            char line[200];
            const char* op = e.op < sizeof ops / sizeof ops[0] ? ops[e.op] : "?";
            if (e.op == kTrDetach || e.op == kTrAttached)
                std::snprintf(line, sizeof line, "  trace %" PRIu64 ": pid %d %s, slot %u generation %u\n", k, e.pid, op,
                              e.lock, e.a);
            else if (e.op == kTrVictim)
                std::snprintf(line, sizeof line, "  trace %" PRIu64 ": supervisor: pid %d died %s table lock %u\n", k,
                              static_cast<int>(e.b), table_phase_name(e.a), e.lock);
            else
                std::snprintf(line, sizeof line, "  trace %" PRIu64 ": pid %d %s table lock %u (%u): mutex %#x, word %#x\n",
                              k, e.pid, op, e.lock, e.a, static_cast<unsigned>(e.b >> 32), static_cast<unsigned>(e.b));
            out += line;
        }
        return out;
    }

    std::string dump() {
        std::ostringstream s;
        s << "  state: gate " << ctl_.gate << ", marking " << ctl_.marking << ", model: lock_deaths "
          << ctl_.seen_deaths << (ctl_.unmarked ? ", a death unmarked" : ", marked") << ", lock_deaths now "
          << (sup_ ? std::to_string(mptest::lock_deaths_of(sup_, o_.max_attachers)) : std::string("?"))
          << ", owner_died reports " << ctl_.reports << ", marks " << ctl_.marks << ", commits " << ctl_.commits
          << ", locks " << ctl_.locks << "\n";
        for (unsigned i = 0; i < kMaxWorkers; ++i)
            if (procs_[i].alive)
                s << "  worker " << i << " pid " << procs_[i].pid << " phase " << phase_name(ctl_.w[i].phase)
                  << (ctl_.w[i].attached ? " attached" : " detached")
                  << (ctl_.w[i].tphase != kTNone ? std::string(", table lock ") + std::to_string(ctl_.w[i].tlock) + " " +
                                                       table_phase_name(ctl_.w[i].tphase)
                                                 : std::string())
                  << "\n";
        if (named()) {
            std::error_code ec;
            const RegionInfo info = inspect(home_, o_.name, ec);
            if (ec) {
                s << "  inspect: " << ec.message() << "\n";
            } else {
                s << "  inspect: valid " << info.valid << ", lock " << mptest::lock_state_name(info.lock_state)
                  << " (holder " << info.lock_holder << "), owner_died_unreported " << info.owner_died_unreported
                  << ", grow_in_progress " << info.grow_in_progress << " (pid " << info.grow_pid << "), ref_count "
                  << info.ref_count << ", size " << info.size << "/" << info.max_size << ", attachers:";
                for (const auto& a : info.attachers) s << " " << a.pid << (a.alive ? "" : "(dead)");
                s << "\n";
            }
        } else if (sup_) {
            const auto w = mptest::lock_word_of(sup_, o_.max_attachers);
            s << "  lock word: owner tid " << w.owner_tid << ", owner_died bit " << w.owner_died << ", ref_count "
              << mptest::ref_count_of(sup_, o_.max_attachers) << "\n";
        }
        if (sup_)
            for (std::uint32_t i = 0; i < cfg_.locks; ++i) {
                const locktest::LockPeek p = locktest::peek_lock(sup_, o_.max_attachers, i);
                s << "  table lock " << i << ": mutex " << (p.mutex_held ? "held" : "free")
                  << (p.mutex_owner_died ? " (owner died)" : "") << (p.mutex_waiters ? " (waiters)" : "")
                  << ", holder tid " << p.holder_pid << ", shares " << p.shares
                  << (p.writer_waiting ? ", writer waiting" : "") << (p.owner_died ? ", owner_died" : "")
                  << ", outstanding " << ctl_.table.rec[i].outstanding << ", deaths " << p.exclusive_deaths
                  << " exclusive / " << p.shared_deaths << " shared\n";
            }
        s << trace_lines();
        return s.str();
    }

    unsigned attached_workers() const {
        unsigned n = 0;
        for (unsigned i = 0; i < kMaxWorkers; ++i)
            if (procs_[i].alive && ctl_.w[i].attached) ++n;
        return n;
    }

    void delay_us(std::uint64_t us) {
        timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>((us % 1000000) * 1000)};
        while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }

    unsigned pick_victim() {
        std::vector<unsigned> alive;
        for (unsigned i = 0; i < kMaxWorkers; ++i)
            if (procs_[i].alive) alive.push_back(i);
        if (alive.empty()) fatal("no worker left to kill");
        return alive[rng_() % alive.size()];
    }

    /// Waits for the ordered holder to announce that it holds the lock mid-write.
    void wait_holder(unsigned v, const std::string& order) {
        const auto deadline = Clock::now() + std::chrono::seconds(cfg_.hang_s);
        for (;;) {
            pollfd p{holder_r_, POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                unsigned char b = 0;
                if (::read(holder_r_, &b, 1) == 1 && b == v) return;
                fatal("unexpected byte on the holder pipe");
            }
            pump(0);
            if (!procs_[v].alive) fatal("the worker told to " + order + " died before it said so");
            if (Clock::now() > deadline)
                fatal("worker " + std::to_string(v) + " was told to take the lock and stop " + order +
                      "; within " + std::to_string(cfg_.hang_s) + " s it did not say so (phase " +
                      phase_name(ctl_.w[v].phase) + ") -- a lock that never came?\n" + dump());
        }
    }

    /// SIGSTOPs every live worker but the victims and waits until each is stopped.
    void stop_others(const std::vector<unsigned>& victims) {
        auto spared = [&](unsigned i) { return std::find(victims.begin(), victims.end(), i) != victims.end(); };
        for (unsigned i = 0; i < kMaxWorkers; ++i)
            if (procs_[i].alive && !spared(i)) ::kill(procs_[i].pid, SIGSTOP);
        for (unsigned i = 0; i < kMaxWorkers; ++i) {
            if (!procs_[i].alive || spared(i)) continue;
            int status = 0;
            while (::waitpid(procs_[i].pid, &status, WUNTRACED) < 0 && errno == EINTR) {
            }
            if (WIFSTOPPED(status)) continue;
            procs_[i].alive = false;
            procs_[i].status = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            continue_others();
            fatal("worker " + std::to_string(i) + " (pid " + std::to_string(procs_[i].pid) + ") ended by itself with " +
                  describe_status(procs_[i].status) + " in phase " + phase_name(ctl_.w[i].phase) +
                  (ctl_.w[i].failure[0] ? std::string(": ") + ctl_.w[i].failure : std::string()));
        }
    }
    /// Two victims die together: stopped first, so that neither runs on (into a table lock
    /// the other held: an owner death not accounted yet) while the other dies.
    void stop_victims(const std::vector<unsigned>& victims) {
        for (unsigned i : victims) ::kill(procs_[i].pid, SIGSTOP);
        for (unsigned i : victims) {
            int status = 0;
            while (::waitpid(procs_[i].pid, &status, WUNTRACED) < 0 && errno == EINTR) {
            }
            if (WIFSTOPPED(status)) continue;
            procs_[i].alive = false;
            fatal("victim " + std::to_string(i) + " (pid " + std::to_string(procs_[i].pid) + ") ended by itself with " +
                  describe_status(WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)) + " in phase " +
                  phase_name(ctl_.w[i].phase) +
                  (ctl_.w[i].failure[0] ? std::string(": ") + ctl_.w[i].failure : std::string()));
        }
    }
    void continue_others() {
        for (unsigned i = 0; i < kMaxWorkers; ++i)
            if (procs_[i].alive) ::kill(procs_[i].pid, SIGCONT);
    }

    void kill_one(unsigned k) {
        pump(0);
        std::vector<unsigned> victims{pick_victim()};
        const unsigned v = victims[0];
        // 40% the holder mid-write, 25% a worker told to make a library call (grow half of
        // the time where it can), 35% random (a quarter of those: two workers at once).
        const unsigned kind = static_cast<unsigned>(rng_() % 20);
        const bool holder = kind < 8;
        std::uint32_t call = 0;
        if (kind >= 8 && kind < 13) {
            const std::uint32_t calls[] = {kOrderGrow, kOrderGrow, kOrderGrow, kOrderReattach, kOrderReap, kOrderReap};
            call = calls[rng_() % 6];
            if (call == kOrderGrow && !growable()) call = kOrderReattach;
            if (call == kOrderReattach && !named()) call = kOrderReap;
        }
        if (kind >= 13 && kind % 4 == 0 && cfg_.workers >= 3) {
            unsigned v2 = v;
            while (v2 == v) v2 = pick_victim();
            victims.push_back(v2);
        }
        // Holders mark the deaths they hear of, except in about a third of the kill events:
        // then a death stays unmarked (and reported) into the next event, whose victim may
        // die holding the lock while it is.
        ctl_.marking = rng_() % 3 != 0 ? 1u : 0u;
        const std::uint64_t reports0 = ctl_.reports;
        const std::uint32_t deaths0 = mptest::lock_deaths_of(sup_, o_.max_attachers);
        bool unmarked_at_kill = false;
        Truth truth = Truth::held;
        std::string what;
        if (holder) {
            const int stop = static_cast<int>(rng_() % kStops);
            ctl_.w[v].order = static_cast<std::uint32_t>(stop + 1);
            wait_holder(v, stop_name(stop));
            delay_us(rng_() % (cfg_.max_hold_us + 1));
            what = "kill " + std::to_string(k) + " (lock holder pid " + std::to_string(procs_[v].pid) + " stopped " +
                   stop_name(stop) + ")";
            ++stats_.holder_kills;
        } else if (call) {
            ctl_.w[v].order = call;
            wait_holder(v, std::string("and call ") + order_name(call));
            stop_others(victims);  // the victim runs alone until it dies
            delay_us(rng_() % (cfg_.max_hold_us + 1));
            ++stats_.call_kills;
        } else {
            delay_us(rng_() % (cfg_.max_run_us + 1));
            stop_others(victims);  // nobody may take the lock before its word is read
            ++stats_.random_kills;
            if (victims.size() > 1) ++stats_.pair_kills;
        }
        // The holder ordered to die holds the lock (nobody else changes the model now); after
        // a random or call kill everybody else is stopped (read below).
        if (holder) unmarked_at_kill = ctl_.unmarked != 0;
        if (victims.size() > 1) stop_victims(victims);  // neither may live to see the other's death
        for (unsigned i : victims) ::kill(procs_[i].pid, SIGKILL);
        std::vector<pid_t> pids;
        for (unsigned i : victims) {
            const pid_t vp = procs_[i].pid;
            pids.push_back(vp);
            const int st = test::wait_exit(vp);
            ++stats_.by_phase[std::min<std::uint32_t>(ctl_.w[i].phase, kExiting)];
            procs_[i].alive = false;
            close_resume(i);
            ++stats_.kills;
            if (st != -SIGKILL)
                fatal("victim pid " + std::to_string(vp) + " ended with " + describe_status(st) +
                      " instead of SIGKILL" +
                      (ctl_.w[i].failure[0] ? std::string(": ") + ctl_.w[i].failure : std::string()));
        }
        account_table(victims);  // before anybody else runs again (a holder's victim holds no table lock)
        if (!holder) {
            // The kernel's word decides: it marks a dead owner's robust mutex OWNER_DIED
            // (with no owner) as the process exits, and everybody else is stopped.
            const auto word = mptest::lock_word_of(sup_, o_.max_attachers);
            truth = word.owner_died && word.owner_tid == 0 ? Truth::held : Truth::not_held;
            what = "kill " + std::to_string(k) + " (" +
                   (call ? std::string("told to call ") + order_name(call) : std::string("random")) + ":";
            bool certain_holder = false, all_certainly_free = true;
            for (unsigned i : victims) {
                const std::uint32_t phase = ctl_.w[i].phase;
                what += std::string(" pid ") + std::to_string(procs_[i].pid) + " in phase " + phase_name(phase);
                const Truth by_phase = truth_of(phase);
                if (by_phase == Truth::unknown) ++stats_.in_library_call;
                if (by_phase == Truth::held) certain_holder = true;
                if (by_phase != Truth::not_held) all_certainly_free = false;
            }
            what += truth == Truth::held ? ", the lock held)" : ", the lock not held)";
            if ((certain_holder && truth != Truth::held) || (all_certainly_free && truth != Truth::not_held))
                fail("after " + what + ": the lock word (owner tid " + std::to_string(word.owner_tid) +
                     ", owner_died bit " + std::to_string(word.owner_died) + ") disagrees with the victims' phases");
            unmarked_at_kill = ctl_.unmarked != 0;
            continue_others();
        }
        if (truth != Truth::not_held) {
            for (unsigned j = 0; j < victims.size(); ++j)
                if (victims.size() == 1 || truth_of(ctl_.w[victims[j]].phase) != Truth::not_held)
                    dead_holders_.insert(pids[j]);
            ++stats_.holder_deaths;
            if (unmarked_at_kill) ++stats_.unmarked_deaths;
        }

        ctl_.gate = 1;
        wait_gate(what);
        audit(what, truth, reports0, deaths0);
        resume_all();
        for (unsigned i : victims) spawn_worker(i);
    }

    // ---- table locks --------------------------------------------------------------------

    /// What killed victims may have left in the table locks (they are dead, and every other
    /// worker is stopped or cannot be in the lock concerned): by each one's table phase.
    void account_table(const std::vector<unsigned>& victims) {
        for (unsigned v : victims) {
            if (ctl_.w[v].tphase == kTNone || ctl_.w[v].tlock >= cfg_.locks) continue;
            ++stats_.table_victims;
            account_table_victim(v);
        }
    }
    /// One dead victim's table lock, by its table phase: an exclusive holder's death is
    /// certain (counted once in the lock's exclusive_deaths, reported until repaired), one
    /// inside lock() or unlock() possible (it may have held the mutex past the drain, or not
    /// yet; a writer killed while waiting for shares to drain is no owner death), and so is
    /// one inside lock_shared() (see below); a shared
    /// holder's shares are all released and counted in shared_deaths, exactly `tshares` of
    /// them once it held them all, 0..tshares inside lock_shared() or the releases.
    void account_table_victim(unsigned v) {
        const std::uint32_t tphase = ctl_.w[v].tphase, i = ctl_.w[v].tlock, shares = ctl_.w[v].tshares;
        if (tphase == kTNone || i >= cfg_.locks) return;
        TableRecord& r = ctl_.table.rec[i];
        TableExpect& e = table_expect_[i];
        ctl_.trace.add(0, kTrVictim, i, tphase, static_cast<std::uint64_t>(procs_[v].pid));
        if (tphase == kTHeldX) {
            r.outstanding = 1;
            ++table_certain_;
            ++e.x_certain;
        } else if (tphase == kTLockX || tphase == kTUnlockX) {
            if (r.outstanding != 1) r.outstanding = 2;
            ++table_uncertain_;
            ++e.x_possible;
        } else if (tphase == kTHeldS) {
            e.s_min += shares;
            e.s_max += shares;
        } else if (tphase == kTLockS || tphase == kTUnlockS) {
            e.s_max += shares;
            // Inside lock_shared() a reader may hold the mutex (queued behind a writer, it adds
            // its share holding it); killed in the few instructions between taking it and
            // marking itself transient, its death reads as an exclusive holder's: reported,
            // never missed (docs/architecture.md, "Locks").
            if (tphase == kTLockS) {
                if (r.outstanding != 1) r.outstanding = 2;
                ++table_uncertain_;
                ++e.x_possible;
            }
        }
    }

    /// A table lock holder killed: told to take table lock i exclusively and stop half-way
    /// through its record update, or to take shares of it; SIGKILLed while the others run.
    void kill_table_holder(unsigned k) {
        pump(0);
        const unsigned v = pick_victim();
        const auto i = static_cast<std::uint32_t>(rng_() % cfg_.locks);
        const bool exclusive = rng_() % 2 == 0;
        // A kill event like the others: holders of the region lock (whose deaths this is
        // not) mark what they hear of, or in a third of the events leave it unmarked.
        ctl_.marking = rng_() % 3 != 0 ? 1u : 0u;
        const std::uint64_t reports0 = ctl_.reports;
        const std::uint32_t deaths0 = mptest::lock_deaths_of(sup_, o_.max_attachers);
        ctl_.w[v].order_lock = i;
        ctl_.w[v].order_shares = 1 + static_cast<std::uint32_t>(rng_() % 3);
        ctl_.w[v].order = exclusive ? kOrderTableX : kOrderTableS;
        const std::string what = "kill " + std::to_string(k) + "t (table lock " + std::to_string(i) +
                                 (exclusive ? " exclusive" : " shared") + " holder pid " +
                                 std::to_string(procs_[v].pid) + ")";
        wait_holder(v, exclusive ? "take a table lock exclusively" : "take shares of a table lock");
        delay_us(rng_() % (cfg_.max_hold_us + 1));
        // It holds i (exclusively: nobody else is in), in its table phase "held", stopped
        // for good, outside the region lock.
        if (ctl_.w[v].tphase != (exclusive ? kTHeldX : kTHeldS) || ctl_.w[v].tlock != i ||
            ctl_.w[v].phase != kIdle)
            fatal(what + ": the victim says it holds it, but its phases are " + phase_name(ctl_.w[v].phase) +
                  " and table lock " + std::to_string(ctl_.w[v].tlock) + " " + table_phase_name(ctl_.w[v].tphase));
        account_table_victim(v);
        ::kill(procs_[v].pid, SIGKILL);
        const int st = test::wait_exit(procs_[v].pid);
        ++stats_.by_phase[std::min<std::uint32_t>(ctl_.w[v].phase, kExiting)];
        procs_[v].alive = false;
        close_resume(v);
        ++stats_.kills;
        ++stats_.table_kills;
        if (st != -SIGKILL)
            fatal("victim pid " + std::to_string(procs_[v].pid) + " ended with " + describe_status(st) +
                  " instead of SIGKILL" + (ctl_.w[v].failure[0] ? std::string(": ") + ctl_.w[v].failure : std::string()));
        ctl_.gate = 1;
        wait_gate(what);
        audit(what, Truth::not_held, reports0, deaths0);
        resume_all();
        spawn_worker(v);
    }

    /// With every worker parked: the supervisor takes every table lock, shared then
    /// exclusive (repairing what a death left, as a worker would); each must come, report
    /// owner_died() exactly when an unrepaired exclusive death is outstanding, and be left
    /// free (no writer waiting either: a dead draining writer leaves no flag once the next
    /// writer came). Each certain death since the last audit was repaired once, by a worker
    /// or here; the lock's exclusive_deaths rose by its certain deaths (plus perhaps the
    /// possible ones), its shared_deaths by the shares its dead holders held; inspect()
    /// (named backings) says the same.
    void audit_table(const std::string& what) {
        TableState& t = ctl_.table;
        std::vector<locktest::LockPeek> peeks;
        for (std::uint32_t i = 0; i < cfg_.locks; ++i) {
            {
                SharedLockGuard s = sup_.try_lock_shared_for(i, std::chrono::seconds(cfg_.hang_s));
                if (!s) fatal("after " + what + ": the supervisor got no share of table lock " + std::to_string(i) +
                              " within " + std::to_string(cfg_.hang_s) + " s\n" + dump());
                if (const std::string bad = table_check_shared(t, i, s); !bad.empty())
                    fail("after " + what + ", the supervisor: " + bad);
            }
            {
                LockGuard g = sup_.try_lock_for(i, std::chrono::seconds(cfg_.hang_s));
                if (!g) fatal("after " + what + ": the supervisor did not get table lock " + std::to_string(i) +
                              " within " + std::to_string(cfg_.hang_s) + " s\n" + dump());
                if (const std::string bad = table_check_exclusive(t, i, g); !bad.empty())
                    fail("after " + what + ", the supervisor: " + bad);
            }
            const locktest::LockPeek p = locktest::peek_lock(sup_, o_.max_attachers, i);
            peeks.push_back(p);
            if (p.mutex_held || p.mutex_owner_died || p.shares != 0 || p.owner_died || p.writer_waiting)
                fail("after " + what + ", with every worker parked, table lock " + std::to_string(i) +
                     " is not free: mutex " + (p.mutex_held ? "held" : "free") +
                     (p.mutex_owner_died ? " (its owner died)" : "") + ", " + std::to_string(p.shares) + " shares" +
                     (p.owner_died ? ", its owner_died bit set" : "") + (p.writer_waiting ? ", a writer waiting" : ""));
            TableExpect& e = table_expect_[i];
            const std::uint32_t x = p.exclusive_deaths - e.x_deaths0, sh = p.shared_deaths - e.s_deaths0;
            if (x < e.x_certain || x > e.x_certain + e.x_possible)
                fail("after " + what + ": table lock " + std::to_string(i) + "'s exclusive_deaths rose by " +
                     std::to_string(x) + ", for " + std::to_string(e.x_certain) + " exclusive holder(s) killed holding it and " +
                     std::to_string(e.x_possible) + " killed in lock() or unlock()");
            if (sh < e.s_min || sh > e.s_max)
                fail("after " + what + ": table lock " + std::to_string(i) + "'s shared_deaths rose by " +
                     std::to_string(sh) + ", but its killed shared holders held " +
                     (e.s_min == e.s_max ? std::to_string(e.s_min)
                                         : std::to_string(e.s_min) + " to " + std::to_string(e.s_max)) +
                     " share(s)");
            stats_.table_x_counted += x;
            stats_.table_s_released += sh;
            e = TableExpect{};
            e.x_deaths0 = p.exclusive_deaths;
            e.s_deaths0 = p.shared_deaths;
        }
        std::error_code ec;
        const RegionInfo info = named() ? inspect(home_, o_.name, ec) : RegionInfo{};
        if (ec) fail("after " + what + ": inspect: " + ec.message());
        if (named() && !ec) {
            if (info.locks.size() != cfg_.locks)
                fail("after " + what + ": inspect reports " + std::to_string(info.locks.size()) + " table locks, not " +
                     std::to_string(cfg_.locks));
            for (std::size_t i = 0; i < info.locks.size() && i < peeks.size(); ++i) {
                const LockInfo& l = info.locks[i];
                if (l.index != i || l.state != LockInfo::State::free || l.holder_pid != 0 || l.holder_tid != 0 ||
                    l.shared_count != 0 || !l.shared_pids.empty() || l.writer_waiting || l.owner_died ||
                    l.exclusive_deaths != peeks[i].exclusive_deaths || l.shared_deaths != peeks[i].shared_deaths)
                    fail("after " + what + ", with every worker parked, inspect says of table lock " + std::to_string(i) +
                         ": index " + std::to_string(l.index) + ", state " + lock_info_state_name(l.state) +
                         ", holder " + std::to_string(l.holder_pid) + "/" + std::to_string(l.holder_tid) + ", " +
                         std::to_string(l.shared_count) + " shares (" + std::to_string(l.shared_pids.size()) +
                         " pids), writer_waiting " + std::to_string(l.writer_waiting) + ", owner_died " +
                         std::to_string(l.owner_died) + ", exclusive_deaths " + std::to_string(l.exclusive_deaths) +
                         " (the header: " + std::to_string(peeks[i].exclusive_deaths) + "), shared_deaths " +
                         std::to_string(l.shared_deaths) + " (the header: " + std::to_string(peeks[i].shared_deaths) + ")");
            }
        }
        const std::uint64_t repairs = t.repairs - table_repairs0_;
        const std::uint64_t certain = table_certain_ - table_certain0_, uncertain = table_uncertain_ - table_uncertain0_;
        if (repairs < certain || repairs > certain + uncertain)
            fail("after " + what + ": " + std::to_string(repairs) + " table lock repairs for " + std::to_string(certain) +
                 " certain and " + std::to_string(uncertain) + " possible owner deaths");
        table_repairs0_ = t.repairs;
        table_certain0_ = table_certain_;
        table_uncertain0_ = table_uncertain_;
    }

    /// Every worker is parked (or gone): an auditor process locks and checks, then the
    /// supervisor reads the header and runs regiontool verify.
    void audit(const std::string& what, Truth truth, std::uint64_t reports0, std::uint32_t deaths0) {
        const unsigned attached = attached_workers();
        std::memset(static_cast<void*>(&ctl_.audit), 0, sizeof ctl_.audit);
        const pid_t pid = test::spawn(
            [&] {
                default_signals_in_child();
                return audit_main(ctl_, o_, sup_);
            },
            cfg_.hang_s);
        mptest::spawned_pids().push_back(pid);
        const int st = test::wait_exit(pid);
        const AuditResult& a = ctl_.audit;
        ++stats_.audits;
        if (st == -SIGALRM)
            fatal("after " + what + ": the auditor hung for " + std::to_string(cfg_.hang_s) + " s while " +
                  audit_stage_name(a.stage) + " -- the lock never came?\n" + dump());
        if (st != 0)
            fatal("after " + what + ": the auditor failed while " + audit_stage_name(a.stage) + " (" +
                  describe_status(st) + "): " + a.error + "\n" + dump());

        // Holder deaths: counted once each (lock_deaths), and reported, at least to the first
        // application acquisition after them (every holder checked the rest against the model).
        const std::uint32_t deaths = mptest::lock_deaths_of(sup_, o_.max_attachers) - deaths0;
        const std::uint64_t reports = ctl_.reports - reports0;
        const std::string seen = "lock_deaths rose by " + std::to_string(deaths) + ", owner_died() reported " +
                                 std::to_string(reports) + " time(s) (auditor " + std::to_string(a.owner_died ? 1 : 0) +
                                 ")";
        if (truth == Truth::held && deaths != 1) fail("after " + what + ": " + seen + ", expected one holder death");
        if (truth == Truth::not_held && deaths != 0)
            fail("after " + what + ": " + seen + ", but the victim did not hold the lock");
        if (truth == Truth::held && reports == 0) fail("after " + what + ": " + seen + ": the death was never reported");

        // The records.
        const Verdict& v = a.verdict;
        if (v.corrupt) fail("after " + what + ": the record log is damaged: " + v.problem);
        stats_.uncommitted_seen = std::max(stats_.uncommitted_seen, v.uncommitted);
        for (std::uint32_t i = 0; i < v.n_pids; ++i)
            if (!dead_holders_.count(v.uncommitted_pids[i]))
                fail("after " + what + ": an uncommitted record of pid " + std::to_string(v.uncommitted_pids[i]) +
                     ", which did not die holding the lock");
        if (v.uncommitted > dead_holders_.size())
            fail("after " + what + ": " + std::to_string(v.uncommitted) + " uncommitted records, but only " +
                 std::to_string(dead_holders_.size()) + " holders died");
        const std::uint64_t acked_epoch = a.acked >> 40;
        if (acked_epoch > v.epoch)
            fail("after " + what + ": commits acknowledged in epoch " + std::to_string(acked_epoch) +
                 " but the log is at epoch " + std::to_string(v.epoch));
        const std::uint64_t acked = acked_epoch == v.epoch ? (a.acked & ((std::uint64_t{1} << 40) - 1)) : 0;
        if (v.committed < acked)
            fail("after " + what + ": " + std::to_string(v.committed) + " committed records in epoch " +
                 std::to_string(v.epoch) + ", but " + std::to_string(acked) + " commits were acknowledged (lost)");
        if (v.committed > acked + dead_holders_.size())
            fail("after " + what + ": " + std::to_string(v.committed) + " committed records in epoch " +
                 std::to_string(v.epoch) + " but only " + std::to_string(acked) + " acknowledged");

        // The reference count, as the auditor saw it after its reap.
        const std::uint32_t expect = attached + 2;  // the workers, the supervisor, the auditor
        if (a.ref_count != expect || a.live != expect || a.dead != 0)
            fail("after " + what + " and reap_dead_attachers() (dropped " + std::to_string(a.reaped) +
                 "): ref_count " + std::to_string(a.ref_count) + ", live attachers " + std::to_string(a.live) +
                 ", dead " + std::to_string(a.dead) + "; expected " + std::to_string(expect) + " live");

        check_header(what, attached + 1);
        if (cfg_.locks > 0) audit_table(what);
        if (named() && cfg_.tool) {
            const auto run = tooltest::regiontool({"verify", home_.string(), o_.name});
            ++stats_.tool_runs;
            if (run.status != 0)
                fail("after " + what + ": regiontool verify exited " + std::to_string(run.status) + ": " + run.out +
                     run.err);
        }
    }

    /// The header, read without the lock while every worker is parked: healthy, with
    /// `expect` attachers.
    void check_header(const std::string& what, std::uint32_t expect) {
        // Nobody dies between the auditor's acquisition and now: the header agrees with it.
        const std::uint32_t deaths = mptest::lock_deaths_of(sup_, o_.max_attachers);
        if (deaths != ctl_.seen_deaths)
            fail("after " + what + ": lock_deaths " + std::to_string(deaths) + ", but the auditor saw " +
                 std::to_string(ctl_.seen_deaths));
        if (named()) {
            std::error_code ec;
            const RegionInfo info = inspect(home_, o_.name, ec);
            if (ec) return fail("after " + what + ": inspect: " + ec.message());
            std::string bad;
            if (!info.valid) bad += " not valid;";
            if (info.lock_state != LockState::free)
                bad += std::string(" lock ") + mptest::lock_state_name(info.lock_state) + " (holder " +
                       std::to_string(info.lock_holder) + ");";
            if (info.owner_died_unreported != (ctl_.unmarked != 0))
                bad += std::string(" owner_died_unreported ") + (info.owner_died_unreported ? "true" : "false") +
                       ", but the last holder " + (ctl_.unmarked ? "left a death unmarked;" : "marked the lock consistent;");
            if (info.grow_in_progress) bad += " a growth is pending;";
            if (info.ref_count != expect || info.live_attachers() != expect || info.attachers.size() != expect)
                bad += " ref_count " + std::to_string(info.ref_count) + ", live " +
                       std::to_string(info.live_attachers()) + ", slots " + std::to_string(info.attachers.size()) +
                       " (expected " + std::to_string(expect) + ");";
            if (info.size > info.max_size || info.backing_size < info.region_size)
                bad += " size " + std::to_string(info.size) + " / max " + std::to_string(info.max_size) +
                       " / backing " + std::to_string(info.backing_size) + ";";
            if (!bad.empty()) fail("after " + what + ", inspect says:" + bad);
        } else {
            const auto w = mptest::lock_word_of(sup_, o_.max_attachers);
            const std::uint32_t refs = mptest::ref_count_of(sup_, o_.max_attachers);
            const std::uint32_t slots = mptest::slots_in_use(sup_, o_.max_attachers);
            const bool unmarked = mptest::owner_died_unreported_of(sup_, o_.max_attachers);
            if (w.owner_tid != 0 || w.owner_died || refs != expect || slots != expect || unmarked != (ctl_.unmarked != 0))
                fail("after " + what + ", the header says: lock owner " + std::to_string(w.owner_tid) +
                     ", owner_died bit " + std::to_string(w.owner_died) + ", ref_count " + std::to_string(refs) +
                     ", slots " + std::to_string(slots) + " (expected " + std::to_string(expect) +
                     "), a death unmarked " + (unmarked ? "yes" : "no") + " (the last holder says " +
                     (ctl_.unmarked ? "yes" : "no") + ")");
        }
    }

    void finish() {
        ctl_.marking = 1;  // the last audit marks what is left unmarked
        const std::uint64_t reports0 = ctl_.reports;
        const std::uint32_t deaths0 = mptest::lock_deaths_of(sup_, o_.max_attachers);
        pump(0);
        ctl_.quit = 1;
        for (unsigned i = 0; i < kMaxWorkers; ++i) procs_[i].parked = false;
        wait_gate("the end of the round (every worker detaches)");
        for (unsigned i = 0; i < kMaxWorkers; ++i) {
            if (!procs_[i].alive) continue;
            procs_[i].status = test::wait_exit(procs_[i].pid);
            procs_[i].alive = false;
            if (procs_[i].status != 0)
                fail("worker " + std::to_string(i) + " ended with " + describe_status(procs_[i].status));
        }
        audit("the end of the round", Truth::not_held, reports0, deaths0);
        if (ctl_.unmarked) fail("at the end: a death is still unmarked after the last audit");
        const std::size_t reaped = sup_.reap_dead_attachers();
        if (reaped != 0) fail("at the end: reap_dead_attachers() dropped " + std::to_string(reaped));
        sup_.detach();
        if (!named()) return;
        const fs::path file = region_file(home_, o_.name);
        if (o_.remove_on_last_detach) {
            if (fs::exists(file)) fail("the last detach of a remove-on-last-detach region left " + file.string());
        } else {
            const RegionInfo info = inspect(home_, o_.name);
            if (info.ref_count != 0) fail("after the last detach: ref_count " + std::to_string(info.ref_count));
            shmregion::unlink(home_, o_.name);
            if (fs::exists(file)) fail("unlink left " + file.string());
        }
        check_nothing_left();
    }

    /// No file in home, no /dev/shm entry of the region, no System V segment of this home.
    void check_nothing_left() {
        std::string left;
        for (const auto& e : fs::directory_iterator(home_)) left += " " + e.path().filename().string();
        for (const auto& s : test::posix_segments_of(o_.name)) left += " /dev/shm/" + s;
        if (backing_ == Backing::posix && mptest::segment_exists(first_info_)) left += " /dev/shm" + first_info_.segment;
        for (int id : mptest::sysv_segments_with_origin(fs::absolute(home_).string() + "/"))
            left += " sysv id " + std::to_string(id);
        if (backing_ == Backing::sysv && !mptest::sysv_segment_removed(first_info_.sysv_id))
            left += " sysv id " + std::to_string(first_info_.sysv_id);
        if (!left.empty()) fail("left behind at the end of the round:" + left);
    }

    const Config& cfg_;
    const fs::path& home_;
    const Backing backing_;
    const unsigned index_;
    Stats& stats_;
    std::mt19937_64& rng_;
    test::SharedMemory mem_;
    Control& ctl_;
    Options o_;
    std::string label_;
    Region sup_;
    RegionInfo first_info_;
    int parked_r_ = -1, parked_w_ = -1, holder_r_ = -1, holder_w_ = -1;
    std::array<Proc, kMaxWorkers> procs_{};
    std::set<std::int32_t> dead_holders_;  // victims that held (or may have held) the lock
    bool collected_ = false;
    std::uint64_t table_certain_ = 0, table_uncertain_ = 0;  // table lock owner deaths, certain or possible
    std::uint64_t table_repairs0_ = 0, table_certain0_ = 0, table_uncertain0_ = 0;  // as of the last audit
    /// Per table lock, since the last audit: what its deaths counters must have risen by.
    struct TableExpect {
        std::uint32_t x_certain = 0, x_possible = 0;  // exclusive_deaths: x_certain .. + x_possible
        std::uint32_t s_min = 0, s_max = 0;           // shared_deaths: s_min .. s_max
        std::uint32_t x_deaths0 = 0, s_deaths0 = 0;   // the counters as of the last audit
    };
    std::array<TableExpect, kMaxTableLocks> table_expect_{};
};

// ---- can it run here? ------------------------------------------------------------------------

/// Exits 77 if a selected backing cannot work on this machine (no /dev/shm, no System V).
void probe_or_skip(const Config& cfg) {
    for (const auto& name : cfg.backings) {
        const Backing b = mptest::backing_named(name);
        std::error_code ec;
        if (b == Backing::anonymous) {
            Options o;
            o.name = test::unique_name("probe");
            o.backing = b;
            o.size = 4096;
            Region r = Region::attach(o, ec);
        } else {
            test::TempHome home;
            Region r = Region::attach(test::options(home, b, 4096), ec);
        }
        if (ec == std::errc::function_not_supported || ec == std::errc::operation_not_permitted ||
            ec == std::errc::permission_denied || ec == std::errc::no_such_file_or_directory) {
            std::cout << "torture: the " << name << " backing cannot run here (" << ec.message()
                      << "): skipped (exit 77)" << std::endl;
            std::_Exit(77);
        }
    }
}

struct Setup {
    Setup() {
        const Config& c = config();
        probe_or_skip(c);
        std::cout << "torture: config " << c.name << ", seed " << c.seed << ", " << c.workers << " workers, "
                  << c.rounds << " rounds x " << c.kills << " kills per backing, " << c.locks << " table locks, backings";
        for (const auto& b : c.backings) std::cout << " " << b;
        std::cout << (c.tool ? ", regiontool verify after every kill" : "") << std::endl;
    }
    ~Setup() { std::cout << totals().line("all backings, config " + config().name) << std::endl; }
};
BOOST_TEST_GLOBAL_FIXTURE(Setup);

}  // namespace

BOOST_DATA_TEST_CASE(torture, test::backing_data(test::BackingSet::cross_process), backing_name) {
    const Config& cfg = config();
    if (!cfg.selected(backing_name)) {
        BOOST_TEST_MESSAGE("backing " << backing_name << " not selected");
        return;
    }
    const Backing backing = mptest::backing_named(backing_name);
    Stats stats;
    std::mt19937_64 rng = make_rng(cfg.seed, static_cast<std::uint64_t>(backing));
    const auto t0 = Clock::now();
    fs::path home_path;
    {
        mptest::Home home;
        home_path = home.path();
        for (unsigned round = 0; round < cfg.rounds; ++round) {
            try {
                Round r(cfg, home, backing, round, stats, rng);
                r.run();
            } catch (const Abort&) {
                BOOST_TEST_MESSAGE(backing_name << ": round " << round << " aborted; no more rounds for this backing");
                break;
            }
        }
    }
    BOOST_TEST(!fs::exists(home_path), "the test home " << home_path << " is still there");
    stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << stats.line(std::string(backing_name)) << std::endl;
    totals().add(stats);
    BOOST_TEST(stats.failures == 0u);
}
