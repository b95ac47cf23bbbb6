// The attacher table of a region header (format/header.hpp): who is attached, and the
// reference count rebuilt from it. Every function runs under the region mutex; liveness is
// sync/liveness.hpp's (a slot's byte lock where the region has a file, pid + start time +
// pid namespace where it has none).
#pragma once

#include "format/header.hpp"
#include "sync/lock_table.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>

namespace shmregion::detail {

/// Drops the slots of dead attachers (never `own`, the caller's slot) and sets ref_count
/// to the live ones. `slots` is the validated table size, never the live field; `lock_fd`
/// the descriptor carrying the slot locks (-1 without a file). A dead slot that still holds
/// shares of table locks (`table`) becomes kSlotDead until they are released
/// (release_dead_shares; tried here, never waiting). Returns how many went.
std::size_t reap_dead_slots(RegionHeader& h, std::uint32_t slots, int lock_fd,
                            std::optional<std::uint32_t> own, const LockTable& table) noexcept;
/// Frees a slot, keeping its generation (so the next attacher in it gets another).
void slot_clear(AttacherSlot& s) noexcept;

/// Takes a free slot for the calling process: its byte lock first (a free slot whose lock
/// is held belongs to a detacher that has not finished), then fills it and counts it.
/// Returns the slot. Throws Failure(attacher_table_full) naming `file`.
std::uint32_t take_free_slot(RegionHeader& h, std::uint32_t slots, int lock_fd, const std::filesystem::path& file);

}  // namespace shmregion::detail
