// System V shared memory backing: a shmget segment (visible to ipcs -m) whose key is
// derived from the locator file in home the way ftok(3) derives one (project byte, device
// and inode), trying the next project byte when a key is taken. The locator records key
// and id; the header repeats them so a joiner can check that the segment is really ours.
// Segments have a fixed size: these regions cannot grow.
//
// Boost.Interprocess's xsi_shared_memory creates the segment and removes it; attaching is
// shmat(SHM_REMAP) directly, into the address reservation (mapped_region cannot do that).
#include "backing/backing.hpp"
#include "sys/crash_point.hpp"
#include "sys/failure.hpp"

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/xsi_shared_memory.hpp>

#include <sys/shm.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace shmregion::detail {
namespace bip = boost::interprocess;
namespace {

std::string describe_segment(std::int32_t key, std::int32_t id) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "System V segment key 0x%08x id %d", static_cast<unsigned>(key), id);
    return buf;
}

/// IPC_STAT that tells "gone" (nullopt) from other errors.
std::optional<struct shmid_ds> stat_segment(std::int32_t id, const std::filesystem::path& file) {
    struct shmid_ds ds {};
    if (::shmctl(id, IPC_STAT, &ds) == 0) return ds;
    if (errno == EINVAL || errno == EIDRM) return std::nullopt;
    throw_errno(errno, "shmctl(IPC_STAT) of segment id " + std::to_string(id) + " named by", file);
}

/// The one removal of a System V segment: only the segment `id` if it still carries `key`
/// (an id is reused by unrelated segments once removed) and, if given, belongs to `owner`
/// (else wrong_owner) and was made by `creator` (else left alone: false). Gone already is
/// not an error (false). `named_by` is the file that names it, for messages.
bool remove_segment_id(std::int32_t key, std::int32_t id, const std::filesystem::path& named_by,
                       std::optional<uid_t> owner, std::optional<pid_t> creator = std::nullopt) {
    auto ds = stat_segment(id, named_by);
    if (!ds || ds->shm_perm.__key != key) return false;  // gone, or the id now belongs to another segment
    if (creator && ds->shm_cpid != *creator) return false;
    if (owner && ds->shm_perm.uid != *owner)
        throw_failure(errc::wrong_owner, named_by,
                      describe_segment(key, id) + (named_by.empty() ? "" : " named by " + named_by.string()) +
                          " belongs to uid " + std::to_string(ds->shm_perm.uid) + ", " +
                          (named_by.empty() ? "not to" : "the file naming it to") + " uid " + std::to_string(*owner) +
                          ": not removed");
    if (!bip::xsi_shared_memory::remove(id) && errno != EINVAL && errno != EIDRM)
        throw_errno(errno, "shmctl(IPC_RMID) of " + describe_segment(key, id) +
                               (named_by.empty() ? std::string() : " named by " + named_by.string()));
    return true;
}

class SysvStore final : public Store {
public:
    // Join: the segment the locator names, stated once (its size never changes; its owner
    // is checked right after); the locator's descriptor is taken only if it exists.
    SysvStore(const std::filesystem::path& file, Fd& locator_fd, const Locator& loc, bool writable)
        : key_(loc.sysv_key), id_(loc.sysv_id), writable_(writable) {
        file_ = file;
        auto ds = stat_segment(id_, file);
        // A removed segment's id may have been reused by an unrelated one: the key tells.
        if (!ds || ds->shm_perm.__key != key_)
            throw_segment_absent(loc, file, "locator names " + describe_segment(key_, id_) + ", which no longer exists");
        size_ = ds->shm_segsz;
        uid_ = ds->shm_perm.uid;
        lock_fd_ = std::move(locator_fd);
    }

    ~SysvStore() override {
        if (early_) ::shmdt(early_);
    }

    // Create: the pending locator first; each key is written to it before shmget tries it
    // (and the id after), so a creator that dies leaves what remove_abandoned() needs.
    explicit SysvStore(const CreateRequest& req) : size_(req.region_bytes) {
        file_ = req.file;
        pending_ = std::make_unique<PendingFile>(req.home, req.file, req.permissions, lock_fd_,
                                                 PendingFile::Visibility::hidden_name);
        struct stat st {};
        if (::fstat(lock_fd_.get(), &st) != 0) throw_errno(errno, "fstat", req.file);
        Locator loc = make_locator(Backing::sysv, req.region_bytes);
        for (unsigned proj = 1; proj <= 255 && id_ < 0; ++proj) {
            // ftok(3)'s recipe, computed from the unpublished file's inode.
            auto key = static_cast<key_t>((proj << 24) | ((st.st_dev & 0xffu) << 16) | (st.st_ino & 0xffffu));
            loc.sysv_key = key;
            write_locator(lock_fd_.get(), loc, req.file);
            try {
                bip::xsi_shared_memory seg(bip::create_only, bip::xsi_key(key), req.region_bytes,
                                           bip::permissions(static_cast<unsigned>(req.permissions)));
                key_ = key;
                id_ = seg.get_shmid();
                created_ = true;  // unpublished: discard() removes it
            } catch (const bip::interprocess_exception& e) {
                if (e.get_native_error() == EEXIST) continue;
                int err = e.get_native_error() ? e.get_native_error() : EIO;
                throw_errno(err, "shmget(" + std::to_string(req.region_bytes) +
                                     " bytes; see /proc/sys/kernel/shmmax and shmall) for", req.file);
            }
        }
        if (id_ < 0) throw_errno(EEXIST, "shmget: every key derived from", req.file);
        SHMREGION_CRASH_POINT("create.sysv_before_id");
        loc.sysv_id = id_;
        try {
            write_locator(lock_fd_.get(), loc, req.file);
        } catch (...) {
            discard();
            throw;
        }
    }

    Backing kind() const noexcept override { return Backing::sysv; }

    // As stated when the store was made: a segment's size is fixed at shmget, and a segment
    // removed since then fails the shmat that follows (segment_missing, if_gone_throw_missing).
    uid_t owner() const override { return uid_; }
    std::uint64_t backing_size() const override { return size_; }

    void read(void* buf, std::size_t len, std::uint64_t offset) const override {
        if (offset + len > size_)
            throw_failure(errc::size_mismatch, file_,
                          describe_segment(key_, id_) + " ends before byte " + std::to_string(offset + len));
        // A segment cannot shrink, so a copy through an attach cannot fault. A read-write
        // store copies through the attach that map() then adopts (its size is fixed, so
        // there is no reservation to attach into), which saves a shmat and a shmdt per join;
        // nothing is written before the copy is validated. A read-only store attaches
        // read-only: that changes the segment's attach count and time, never its bytes.
        // A segment we may only read (another user's, say) is copied read-only as before, so
        // that the owner check after the copy says wrong_owner, not EACCES.
        void* p = early_;
        bool keep = writable_;
        if (!p && keep) {
            p = ::shmat(id_, nullptr, 0);
            if (p == reinterpret_cast<void*>(-1)) {
                if (errno != EACCES) {
                    const int err = errno;
                    if_gone_throw_missing(err);
                    throw_errno(err, "shmat of " + describe_segment(key_, id_) + " named by", file_);
                }
                p = nullptr;
                keep = false;
            }
        }
        if (!p) {
            p = ::shmat(id_, nullptr, SHM_RDONLY);
            if (p == reinterpret_cast<void*>(-1)) {
                const int err = errno;
                if_gone_throw_missing(err);
                throw_errno(err, "shmat(SHM_RDONLY) of " + describe_segment(key_, id_) + " named by", file_);
            }
        }
        std::memcpy(buf, static_cast<const char*>(p) + offset, len);
        if (keep) early_ = p;
        else ::shmdt(p);
    }

    void map(Mapping& m, std::uint64_t bytes) override {
        if (early_) {
            void* p = std::exchange(early_, nullptr);
            if (bytes == size_ && m.adopt_sysv(p, bytes)) return;
            ::shmdt(p);
        }
        try {
            m.attach_sysv(id_, bytes);
        } catch (const Failure& f) {
            if (f.code.category() == std::generic_category()) if_gone_throw_missing(f.code.value());
            throw;
        }
    }

    void describe(RegionHeader& h) const override {
        h.sysv_key = key_;
        h.sysv_id = id_;
    }

    bool publish(const std::shared_ptr<Mapping>&) override {
        bool ok = pending_->link_into_place();
        pending_.reset();
        if (ok) created_ = false;
        return ok;
    }

    void discard() noexcept override {
        pending_.reset();
        if (created_) {
            try {
                (void)remove_segment_id(key_, id_, {}, std::nullopt);
            } catch (...) {
                // Nothing more to do: the pending locator names it for remove_abandoned().
            }
        }
        created_ = false;
    }

    void remove_segment() override { (void)remove_segment_id(key_, id_, file_, std::nullopt); }

private:
    /// shmat's EINVAL / EIDRM while a last detacher removes the segment: if the id is gone
    /// (or carries another key now), that is segment_missing, which joiners retry.
    void if_gone_throw_missing(int err) const {
        if (err != EINVAL && err != EIDRM) return;
        auto ds = stat_segment(id_, file_);
        if (!ds || ds->shm_perm.__key != key_)
            throw_failure(errc::segment_missing, file_, describe_segment(key_, id_) + " was removed while we attached");
    }

    std::int32_t key_ = 0;
    std::int32_t id_ = -1;
    std::uint64_t size_ = 0;
    uid_t uid_ = 0;
    bool writable_ = true;
    mutable void* early_ = nullptr;  // read()'s attach of a read-write store, until map() adopts it
    std::unique_ptr<PendingFile> pending_;
    bool created_ = false;
};

bool copy_segment(int id, std::uint64_t size, SegmentCopy& c) {
    RegionHeader& h = c.header;
    if (size < sizeof h) return false;
    void* p = ::shmat(id, nullptr, SHM_RDONLY);  // read-only: nothing is written
    if (p == reinterpret_cast<void*>(-1)) return false;
    std::memcpy(&h, p, sizeof h);
    const bool ok = plausible_region_header(h) &&
                    size >= kSlotTableOffset + std::uint64_t{h.max_attachers} * sizeof(AttacherSlot);
    if (ok) {
        c.slots.resize(h.max_attachers);
        std::memcpy(c.slots.data(), static_cast<char*>(p) + kSlotTableOffset, c.slots.size() * sizeof(AttacherSlot));
    }
    ::shmdt(p);
    return ok;
}

class SysvType final : public BackingType {
public:
    const BackingTraits& traits() const noexcept override {
        static const BackingTraits t{
            .kind = Backing::sysv,
            .name = "sysv",
            .named = true,
            .located = true,
            .fixed_size = true,
            .cannot_grow_because =
                "System V regions cannot grow: a segment has a fixed size (shmget); use the posix or file backing"};
        return t;
    }
    std::unique_ptr<Store> create(const CreateRequest& req) const override { return std::make_unique<SysvStore>(req); }
    std::unique_ptr<Store> open(HomeFile& home, const std::filesystem::path& file, bool writable) const override {
        return std::make_unique<SysvStore>(file, home.fd, *home.locator, writable);
    }

    bool segment_visible(const Locator& loc) const override {
        struct shmid_ds ds {};
        return ::shmctl(loc.sysv_id, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == loc.sysv_key;
    }
    void remove_located(const Locator& loc, const std::filesystem::path& file,
                        std::optional<uid_t> owner) const override {
        (void)remove_segment_id(loc.sysv_key, loc.sysv_id, file, owner);
    }
    bool remove_abandoned(const Locator& loc, const std::filesystem::path& pending, uid_t owner,
                          bool dry_run) const override {
        if (dry_run) return false;
        int id = loc.sysv_id;
        if (id < 0) id = ::shmget(loc.sysv_key, 0, 0);  // it died between shmget and recording the id
        // Ours only if it carries the key and was made by the dead creator: a key tried and
        // found taken (EEXIST) belongs to someone else.
        return id >= 0 && remove_segment_id(loc.sysv_key, id, pending, owner, loc.creator_pid);
    }
    std::vector<SegmentCopy> segments() const override {
        std::vector<SegmentCopy> out;
        for (const SysvSegmentRow& row : sysv_segments()) {
            if (row.uid != ::geteuid() || row.key == IPC_PRIVATE) continue;  // IPC_PRIVATE: removed already
            SegmentCopy c;
            c.kind = Backing::sysv;
            c.label = "System V id " + std::to_string(row.id);
            c.sysv_key = static_cast<std::int32_t>(row.key);
            c.sysv_id = row.id;
            c.bytes = row.size;
            if (!copy_segment(row.id, row.size, c)) continue;
            if (c.header.backing != static_cast<std::uint32_t>(Backing::sysv) || c.header.sysv_id != row.id) continue;
            out.push_back(std::move(c));
        }
        return out;
    }
    void remove_segment(const SegmentCopy& s) const override {
        (void)remove_segment_id(s.sysv_key, s.sysv_id, {}, ::geteuid());
    }
};

}  // namespace

const BackingType& sysv_backing() noexcept {
    static const SysvType t;
    return t;
}

}  // namespace shmregion::detail
