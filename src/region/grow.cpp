// Growth in place: grow (under the region lock), refresh (mapping what others added), and
// the recovery of a growth whose grower died half way. The backing extends and cuts back
// its own bytes (Store::extend, Store::truncate); this file keeps the order of the steps
// and the grow record that makes each crash point recoverable (docs/format.md, "Growth").
#include "region/region_impl.hpp"

#include "sys/crash_point.hpp"
#include "sys/failure.hpp"

namespace shmregion::detail {
namespace {
std::string num(std::uint64_t v) { return std::to_string(v); }
}  // namespace

bool RegionImpl::refresh() {
    // The size itself decides, not the generation alone: a header copied at join can pair
    // an old size with a new generation, and a grower can die between publishing the size
    // and bumping the generation. Sizes only grow.
    const std::uint64_t gen = load_acquire(hdr->generation);
    const std::uint64_t size = load_acquire(hdr->region_size);
    generation = gen;
    if (size <= region_bytes) return false;
    // Trust nothing read from shared memory: a page multiple, within the ceiling this attach
    // validated and reserved, and really there in the backing.
    if (size % page_size() != 0 || size > max_region_bytes)
        throw_failure(errc::header_corrupt, file,
                      describe(file, store->kind()) + ": field 'region_size' is " + num(size) +
                          ", not a page multiple within the ceiling " + num(max_region_bytes));
    if (store->traits().growable) {
        const std::uint64_t real = store->backing_size();
        if (size > real)
            throw_failure(errc::size_mismatch, file,
                          describe(file, store->kind()) + ": field 'region_size' is " + num(size) + " but the backing holds only " +
                              num(real) + " bytes");
    }
    store->map_more(*mapping, size);
    region_bytes = size;
    return true;
}

void RegionImpl::grow(std::uint64_t new_size) {
    if (!store->traits().growable) throw_not_growable(*store);
    const auto usable = round_up(new_size, page_size());
    if (!usable || *usable > usable_max())
        throw_failure(errc::invalid_size, file,
                      "grow to " + num(new_size) + " bytes: beyond the ceiling max_size " + num(usable_max()) +
                          " set when the region was created");
    // The caller may hold the lock already (grow under its own LockGuard).
    bool took = true;
    try {
        lock(std::nullopt);
    } catch (const Failure& f) {
        if (f.code != std::errc::resource_deadlock_would_occur || !region_lock_held) throw;
        took = false;
    }
    try {
        grow_locked(header_bytes + *usable);
    } catch (...) {
        if (took) unlock();
        throw;
    }
    if (took) unlock();
}

void RegionImpl::grow_locked(std::uint64_t new_region) {
    refresh();  // maps up to the live size, validated: region_bytes is the live size now
    if (new_region <= region_bytes) return;  // another process got there first
    GrowRecord& g = hdr->grow;
    const std::uint64_t old_region = region_bytes;
    // The record's fields first, its state last; clearing touches only the state, so a
    // reader copying the header without the lock never sees half a record.
    g.pid = current_pid();
    g.old_region_size = old_region;
    g.new_region_size = new_region;
    g.started_at_ns = now_ns();
    store_release(g.state, kGrowExtending);
    SHMREGION_CRASH_POINT("grow.after_record");
    std::uint64_t extended_from = 0;  // the backing's size before, if this growth extended it
    try {
        extended_from = store->extend(engine_source(), old_region, new_region);
        SHMREGION_CRASH_POINT("grow.after_extend");
        store->map_more(*mapping, new_region);
        SHMREGION_CRASH_POINT("grow.after_map");
    } catch (...) {
        // A failed extension cut the backing back itself; a failed mapping gives the
        // extension back here. The header's size never changed.
        if (extended_from != 0) store->truncate(extended_from);
        store_release(g.state, kGrowIdle);
        throw;
    }
    region_bytes = new_region;
    store_release(hdr->region_size, new_region);
    SHMREGION_CRASH_POINT("grow.after_publish");
    store_release(hdr->generation, hdr->generation + 1);  // others map the new part at their next lock
    generation = hdr->generation;
    store_release(g.state, kGrowIdle);
}

void RegionImpl::recover_growth() noexcept {
    GrowRecord& g = hdr->grow;
    if (load_acquire(g.state) == kGrowIdle) return;
    bool sound = true;
    try {
        validate_grow_record(*hdr, file);
    } catch (...) {
        sound = false;  // its grower is dead: clear it, but act on nothing it says
    }
    // Never below what this attach validated and mapped, whatever the record says.
    // Not published: nobody maps past old_region_size, so the extension can go.
    if (sound && hdr->region_size == g.old_region_size && g.old_region_size >= region_bytes && store)
        store->truncate(g.old_region_size);
    // Published or not, tell the others (the grower may have died between publishing the
    // size and bumping the generation); refresh() compares sizes anyway.
    store_release(hdr->generation, hdr->generation + 1);
    store_release(g.state, kGrowIdle);
}

}  // namespace shmregion::detail
