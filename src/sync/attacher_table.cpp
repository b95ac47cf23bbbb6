#include "sync/attacher_table.hpp"

#include "sync/liveness.hpp"
#include "sys/crash_point.hpp"
#include "sys/failure.hpp"

#include <cstring>
#include <string>

namespace shmregion::detail {

void slot_clear(AttacherSlot& s) noexcept {
    const std::uint32_t generation = s.generation;
    store_release(s.state, kSlotFree);
    std::memset(&s, 0, sizeof s);
    s.generation = generation;
}

std::size_t reap_dead_slots(RegionHeader& h, std::uint32_t slots, int lock_fd,
                            std::optional<std::uint32_t> own, const LockTable& table) noexcept {
    std::size_t dropped = 0;
    std::uint32_t live = 0;
    for (std::uint32_t i = 0; i < slots; ++i) {
        AttacherSlot& s = *slot_at(&h, i);
        if (s.state == kSlotDead) {  // reaped before with shares left: release them now if we can
            if (release_dead_shares(table, i)) slot_clear(s);
            continue;
        }
        if (s.state != kSlotInUse) continue;
        if (own != i && !slot_alive(s, i, lock_fd)) {
            ++dropped;
            if (table.count != 0 && slot_has_shares(table, i)) {
                store_release(s.state, kSlotDead);
                if (!release_dead_shares(table, i)) continue;
            }
            slot_clear(s);
            continue;
        }
        ++live;
    }
    h.ref_count = live;
    return dropped;
}

std::uint32_t take_free_slot(RegionHeader& h, std::uint32_t slots, int lock_fd, const std::filesystem::path& file) {
    for (std::uint32_t i = 0; i < slots; ++i) {
        AttacherSlot& s = *slot_at(&h, i);
        if (s.state != kSlotFree) continue;
        // A detacher frees its slot before it drops the lock: a held lock means "not yet".
        if (lock_fd >= 0 && !slot_lock_acquire(lock_fd, i)) continue;
        SHMREGION_CRASH_POINT("attach.after_slot_lock");
        s.generation = s.generation + 1 == 0 ? 1 : s.generation + 1;
        slot_fill_self(s);
        ++h.ref_count;
        return i;
    }
    throw_failure(errc::attacher_table_full, file,
                  "all " + std::to_string(slots) + " attacher slots are held by live processes");
}

}  // namespace shmregion::detail
