// The backings as the tests know them: one record per backing with the traits the tests
// depend on (kBackings), and every list of backings a test iterates over derived from it:
// Boost.Test data sets for data test cases (one sample per backing, so a failing backing
// never hides the others) and vectors for plain loops.
//
//     BOOST_DATA_TEST_CASE(join_sees_the_bytes, test::backing_data(test::BackingSet::named), backing_name) {
//         const Backing b = test::backing_named(backing_name);
//         if (test::traits(b).growable) ...
//
//     for (Backing b : test::backings(test::BackingSet::shm)) ...
//
// A test about a kind of backing ("every named backing", "those that grow") takes its list
// from here, so a new backing or a changed trait is one line in kBackings. The samples are
// the backings' names (const char*), in kBackings order: sample _i of a set is always the
// same backing.
#pragma once

#include <shmregion/options.hpp>

#include <boost/test/data/monomorphic.hpp>

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shmregion {
// How Boost.Test prints a Backing in failed checks (its customisation point, found by ADL).
inline std::ostream& boost_test_print_type(std::ostream& os, Backing b) { return os << to_string(b); }
}  // namespace shmregion

namespace shmregion::test {

/// Which shared-memory segment holds a region's memory.
enum class Segment {
    none,   ///< none: a regular file, or memory of the processes themselves
    posix,  ///< a shm_open segment: an entry "shmregion.<name>.<16 hex>" in /dev/shm
    sysv,   ///< a shmget segment: a line of /proc/sysvipc/shm (ipcs -m)
};

/// What the tests rely on about one backing.
struct BackingTraits {
    Backing backing;
    const char* name;  ///< to_string(backing), parse_backing() takes it back
    /// Has a file in home (the region itself, or a locator): joined by name from any
    /// process; list(), inspect(), read_bytes() and unlink() find it; Region::file() is it.
    bool named;
    /// Region::grow() extends it in place up to max_size; otherwise errc::not_growable.
    bool growable;
    /// Its memory is this shared-memory segment (posix, sysv), none otherwise.
    Segment segment;
    /// Its bytes are the file in home (file backing): flush() writes them there, and they
    /// outlive every attacher until the region is removed.
    bool durable;
    /// Shared only with fork()ed children, which call join_after_fork() (anonymous); no
    /// name outside the process tree, no file, nothing that can leak.
    bool fork_shared;
    /// Memory of one process (heap): a second attach of the name in that process shares it;
    /// no other process ever sees it.
    bool in_process;
    /// Its memory is a file (the region file in home, or the POSIX segment's file in
    /// /dev/shm): the I/O engine allocates its space at creation and growth, and file I/O
    /// (pread, pwrite) reaches its bytes.
    bool memory_file;

    bool shm() const noexcept { return segment != Segment::none; }
    /// Can be shared between processes at all (by name or by fork()).
    bool cross_process() const noexcept { return !in_process; }
};

/// Every backing, in the order of the samples of every set below.
inline constexpr BackingTraits kBackings[] = {
    // backing           name         named  growable segment         durable fork_shared in_process memory_file
    {Backing::file,      "file",      true,  true,    Segment::none,  true,   false,      false,     true},
    {Backing::posix,     "posix",     true,  true,    Segment::posix, false,  false,      false,     true},
    {Backing::sysv,      "sysv",      true,  false,   Segment::sysv,  false,  false,      false,     false},
    {Backing::anonymous, "anonymous", false, false,   Segment::none,  false,  true,       false,     false},
    {Backing::heap,      "heap",      false, true,    Segment::none,  false,  false,      true,      false},
};

/// The traits of a backing (Backing::any has none: std::invalid_argument).
inline const BackingTraits& traits(Backing b) {
    for (const BackingTraits& t : kBackings)
        if (t.backing == b) return t;
    throw std::invalid_argument("no test traits for backing " + std::string(to_string(b)));
}

/// The backing called `name` ("file", "posix", ...); std::invalid_argument for any other.
inline Backing backing_named(std::string_view name) {
    for (const BackingTraits& t : kBackings)
        if (name == t.name) return t.backing;
    throw std::invalid_argument("unknown backing " + std::string(name));
}
inline const BackingTraits& traits(std::string_view name) { return traits(backing_named(name)); }

/// The sets of backings the tests iterate over.
enum class BackingSet {
    all,              ///< every backing
    named,            ///< with a file in home: file, posix, sysv
    shm,              ///< in a shared-memory segment: posix, sysv
    growable,         ///< Region::grow works: file, posix, heap
    named_growable,   ///< growable and joined by name from other processes: file, posix
    not_growable,     ///< errc::not_growable: sysv, anonymous
    cross_process,    ///< shared between processes (by name or fork()): all but heap
    unnamed,          ///< without a file in home: anonymous, heap
    memory_file,      ///< memory that is a file, extended by the I/O engine: file, posix
};

inline bool in_set(const BackingTraits& t, BackingSet s) noexcept {
    switch (s) {
        case BackingSet::all: return true;
        case BackingSet::named: return t.named;
        case BackingSet::shm: return t.shm();
        case BackingSet::growable: return t.growable;
        case BackingSet::named_growable: return t.named && t.growable;
        case BackingSet::not_growable: return !t.growable;
        case BackingSet::cross_process: return t.cross_process();
        case BackingSet::unnamed: return !t.named;
        case BackingSet::memory_file: return t.memory_file;
    }
    return false;
}

/// The backings of a set, in kBackings order (for loops).
inline std::vector<Backing> backings(BackingSet s) {
    std::vector<Backing> out;
    for (const BackingTraits& t : kBackings)
        if (in_set(t, s)) out.push_back(t.backing);
    return out;
}

/// Their names, in kBackings order.
inline std::vector<const char*> backing_names(BackingSet s) {
    std::vector<const char*> out;
    for (const BackingTraits& t : kBackings)
        if (in_set(t, s)) out.push_back(t.name);
    return out;
}

/// The Boost.Test data set of a set's backing names: one sample per backing, combinable
/// with other data sets (`backing_data(BackingSet::named) * bdata::make({false, true})`).
inline auto backing_data(BackingSet s) { return boost::unit_test::data::make(backing_names(s)); }

}  // namespace shmregion::test
