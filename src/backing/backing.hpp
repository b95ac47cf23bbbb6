// The backings as the region layer sees them: what each one is (its traits) and what it
// does without a Store (create, join, remove what a locator or a dead creator names, find
// its segments for the orphan scan). One BackingType per backing, each in its own file
// (file.cpp, posix_shm.cpp, sysv_shm.cpp, anonymous.cpp, heap.cpp); backing.cpp lists
// them, and is the only place that maps a Backing value to its type.
//
// Adding a backing (docs/architecture.md, "Adding a backing"): one file with its Store and
// its BackingType, one line in backing.cpp's table, and the value in options.hpp.
#pragma once

#include "backing/store.hpp"

#include <shmregion/options.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shmregion::detail {

/// What a backing is: the region layer decides by these, never by the Backing value.
struct BackingTraits {
    Backing kind = Backing::any;
    std::string_view name = {};  ///< "file", "posix", ... (to_string(Backing))
    /// A file in home (<name>.region) names it: any process can join it by name.
    bool named = false;
    /// That file is a locator naming a shared-memory segment (the region's bytes live
    /// elsewhere). Its creators leave hidden pending files until they publish.
    bool located = false;
    /// Shared with fork()ed children only (Region::join_after_fork()).
    bool fork_shared = false;
    /// Private to the process; named inside it, attaches share one mapping.
    bool in_process = false;
    /// Can grow in place (Region::grow).
    bool growable = false;
    /// Its size is fixed when it is made: max_size must equal size.
    bool fixed_size = false;
    /// Its bytes outlive a reboot: flush() writes them back.
    bool durable = false;
    /// Creation allocates the bytes through the I/O engine (a full disk or /dev/shm fails
    /// there, not as a SIGBUS later).
    bool extends_at_creation = false;
    /// Why it cannot grow, for errc::not_growable (empty for growable backings).
    std::string_view cannot_grow_because = {};
};

/// A copy of a segment's header and attacher table, read without attaching (orphan scan).
struct SegmentCopy {
    Backing kind = Backing::posix;
    std::string label;          ///< "/shmregion.<name>.<hex>", or "System V id N"
    std::int32_t sysv_key = 0;
    std::int32_t sysv_id = -1;
    std::uint64_t bytes = 0;    ///< real size of the segment
    RegionHeader header{};
    std::vector<AttacherSlot> slots;
};

class BackingType {
public:
    virtual ~BackingType() = default;
    virtual const BackingTraits& traits() const noexcept = 0;

    /// The unpublished backing of a new region (Store::publish makes it visible).
    virtual std::unique_ptr<Store> create(const CreateRequest& req) const = 0;
    /// Named backings: the store of an existing region whose home file says this backing
    /// (opens the segment for located ones: segment_missing when it is gone,
    /// segment_foreign when it was made where this process cannot see it). Throws Failure.
    /// Takes home.fd only when it returns: on a throw the caller still holds the descriptor
    /// and any lock on it (a join's presence lock, which its orphan removal needs).
    virtual std::unique_ptr<Store> open(HomeFile& home, const std::filesystem::path& file, bool writable) const;
    /// In-process backings: the store of an existing region of this name, or nullptr.
    virtual std::unique_ptr<Store> find(std::string_view name) const;

    // ---- located backings: what a locator names ----------------------------------------
    /// True if the segment `loc` names can be seen from this process.
    virtual bool segment_visible(const Locator& loc) const;
    /// Removes the segment `loc` names, unless it belongs to another user than `owner`
    /// (wrong_owner) or is gone (not an error). `file` names the locator in messages.
    virtual void remove_located(const Locator& loc, const std::filesystem::path& file,
                                std::optional<uid_t> owner) const;
    /// A creator died before publishing; its pending locator `loc` says what it was making.
    /// Removes that segment if the creator made it (dry_run: removes nothing). True if it
    /// went (POSIX: shm_unlink ran, whether or not it had been made; System V: a segment of
    /// the key made by the creator was found and removed); false if nothing was removed.
    virtual bool remove_abandoned(const Locator& loc, const std::filesystem::path& pending, uid_t owner,
                                  bool dry_run) const;
    /// The segments of this backing the calling user owns whose header could be a region's
    /// (magic, table size): the candidates of the orphan scan. Reads only.
    virtual std::vector<SegmentCopy> segments() const;
    /// Removes one segment found by segments() (an orphan, checked by the caller).
    virtual void remove_segment(const SegmentCopy& s) const;
};

/// The type of a backing; Failure(invalid_options) for Backing::any.
const BackingType& backing_type(Backing b);
/// The traits of a backing (Backing::any: all false, named "any").
const BackingTraits& backing_traits(Backing b) noexcept;
/// Every backing, in the order of the Backing values.
std::span<const BackingType* const> backing_types() noexcept;

/// Joins: the store of an existing named region's home file. Throws Failure.
/// BackingType::open of the backing `home` names; as it, takes home.fd only on success.
std::unique_ptr<Store> open_store(HomeFile& home, const std::filesystem::path& file, bool writable);
/// Creates the unpublished backing of a new region.
std::unique_ptr<Store> create_store(Backing kind, const CreateRequest& req);

// The types, one per backing file (listed in backing.cpp).
const BackingType& file_backing() noexcept;
const BackingType& posix_backing() noexcept;
const BackingType& sysv_backing() noexcept;
const BackingType& anonymous_backing() noexcept;
const BackingType& heap_backing() noexcept;

/// A header copied from a segment that could be a region's: the magic, a table size in
/// range, a terminated origin (what segments() checks before copying the table).
bool plausible_region_header(const RegionHeader& h) noexcept;

}  // namespace shmregion::detail
