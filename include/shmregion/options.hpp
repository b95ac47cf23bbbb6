// shmregion: what to attach to, and how.
#pragma once

#include <shmregion/io.hpp>
#include <shmregion/version.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

SHMREGION_NAMESPACE_BEGIN

/// Where a region's memory lives. The numeric values are stored in the header; never renumber.
enum class Backing : std::uint32_t {
    any = 0,        ///< join only: accept whatever backing the existing region has
    file = 1,       ///< mmap of <home>/<name>.region, which holds the region itself
    posix = 2,      ///< shm_open segment "/shmregion.<name>.<random>"; <home>/<name>.region locates it
    sysv = 3,       ///< shmget segment (ipcs -m); <home>/<name>.region holds its key and id; fixed size
    anonymous = 4,  ///< MAP_SHARED|MAP_ANONYMOUS, shared with fork()ed children only; no file
    heap = 5,       ///< private memory of this process; attaches of the same name in the process share it
};

/// "file", "posix", "sysv", "anonymous", "heap" or "any".
SHMREGION_API std::string_view to_string(Backing b) noexcept;
/// Parses the names above; returns false for anything else.
SHMREGION_API bool parse_backing(std::string_view text, Backing& out) noexcept;

enum class OpenMode {
    create_or_join,  ///< join the region if it exists, otherwise create it (exactly one racer creates)
    create_only,     ///< fail with errc::region_exists if it exists
    join_only,       ///< fail with errc::region_not_found if it does not exist
};

enum class Force : bool { no = false, yes = true };

/// Prefaulting at attach (see Region::prefault).
enum class Prefault {
    none,        ///< pages are faulted in as the application touches them
    wait,        ///< attach returns once every page is resident and writable
    background,  ///< attach starts it and returns; see Region::background_prefault()
};

/// What to attach to, and how: the region (home, name, backing), whether to create or join
/// it (mode), and the settings a creator fixes (size, max_size, max_attachers, permissions)
/// and each attach chooses (timeouts, ownership check, I/O engine, prefault). Given to
/// Region::attach().
struct Options {
    /// Directory holding the region's file. Must exist. Ignored by anonymous and heap regions.
    std::filesystem::path home;
    /// 1..max_name_length bytes; no '/', NUL or control characters; not "." or ".." and not
    /// starting with '.'.
    std::string name;
    /// Where the memory lives. Backing::any only to join (accepts the existing region's).
    Backing backing = Backing::file;
    /// Create, join, or either (see OpenMode).
    OpenMode mode = OpenMode::create_or_join;
    /// Usable bytes (data() .. data()+size()), rounded up to whole pages. Needed to create;
    /// ignored on join (the region's own size wins).
    std::uint64_t size = 0;
    /// Growth ceiling in usable bytes, rounded up to pages; 0 means "same as size". Every
    /// attacher reserves this much address space (not memory). System V regions cannot grow.
    std::uint64_t max_size = 0;
    /// Size of the attacher table, fixed at creation (1..max_attachers_limit).
    std::uint32_t max_attachers = 128;
    /// Number of application locks in the region's lock table (0..max_locks_limit), each
    /// taken shared or exclusive (Region::lock(index), Region::lock_shared(index)). Fixed at
    /// creation; a joiner gets the creator's table whatever it asks for here.
    std::uint32_t locks = 0;
    /// Permission bits of the region's file and segment (applied exactly, umask ignored):
    /// the nine bits of 0777 only; setuid, setgid, sticky or anything higher is
    /// errc::invalid_options. Group and other bits are allowed: with them (and
    /// require_same_owner = false on the other side) users of one group share a region.
    /// Read permission is what a joiner needs to see the region, write to attach it.
    ::mode_t permissions = 0600;
    /// How long a joiner waits for a creator to finish, for a region being removed to go, and
    /// for the region lock during attach, before it fails (header_incomplete, lock_timeout).
    /// Any value up to std::chrono::milliseconds::max() ("practically forever") is fine.
    std::chrono::milliseconds join_timeout{5000};
    /// Join only regions whose file in home and segment belong to this process's effective
    /// user (errc::wrong_owner otherwise): in a shared home, a region file planted by
    /// another user is refused. Set false to share regions between users (with a group
    /// and permissions that allow it).
    bool require_same_owner = true;
    /// Remove the region when its last attacher detaches (Berkeley DB's REGION_LASTDETACH).
    /// Others may still join it until then. Set by any attacher, it stays set.
    bool remove_on_last_detach = false;
    /// The I/O engine for this attach's extension, prefault and flush (io.hpp).
    /// automatic honours SHMREGION_IO_ENGINE, then probes; a named engine that cannot run
    /// here fails the attach with errc::engine_unavailable.
    io::EngineKind io_engine = io::EngineKind::automatic;
    /// Make every page resident and writable at attach, waiting or in the background.
    Prefault prefault = Prefault::none;
};

inline constexpr std::size_t max_name_length = 64;
inline constexpr std::uint32_t max_attachers_limit = 4096;
/// Largest lock table (Options::locks).
inline constexpr std::uint32_t max_locks_limit = 4096;

SHMREGION_NAMESPACE_END
