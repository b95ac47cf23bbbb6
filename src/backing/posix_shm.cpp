// POSIX shared memory backing: a shm_open segment named "/shmregion.<name>.<16 hex>"
// (unique per creation, so a late remover can never hit a newer region's segment), and a
// locator in home that names it and carries the liveness locks.
//
// Boost.Interprocess's shared_memory_object creates and opens the segment (O_EXCL,
// permissions applied exactly); removal is a plain shm_unlink, because
// shared_memory_object::remove() reports failure as a bare bool and loses errno.
#include "backing/backing.hpp"
#include "sys/fork_safety.hpp"
#include "io/engine_impl.hpp"
#include "sync/liveness.hpp"
#include "sys/crash_point.hpp"
#include "sys/failure.hpp"

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace shmregion::detail {
namespace bip = boost::interprocess;
namespace {

/// The one removal of a POSIX segment: refused (wrong_owner) if `owner` is given and the
/// segment belongs to another user; gone already is not an error. `named_by` is the file
/// that names it (a locator, a pending file), empty for none.
void remove_segment_named(const std::string& segment, const std::filesystem::path& named_by,
                          std::optional<uid_t> owner) {
    const std::string by = named_by.empty() ? std::string() : " named by " + named_by.string();
    struct stat st {};
    if (owner && ::stat(segment_path(segment).c_str(), &st) == 0 && st.st_uid != *owner)
        throw_failure(errc::wrong_owner, named_by,
                      "segment " + segment + by + " belongs to uid " + std::to_string(st.st_uid) + ", " +
                          (named_by.empty() ? "not to" : "the file naming it to") + " uid " + std::to_string(*owner) +
                          ": not removed");
    if (::shm_unlink(segment.c_str()) != 0 && errno != ENOENT)
        throw_errno(errno, "shm_unlink " + segment + (by.empty() ? "" : " (" + by.substr(1) + ")"));
}

[[noreturn]] void throw_bip(const bip::interprocess_exception& e, std::string_view what,
                            const std::string& segment) {
    int err = e.get_native_error();
    if (err == 0) err = EIO;
    throw_errno(err, what, segment_path(segment));
}

class PosixStore final : public Store {
public:
    // Join: the locator is open; open the segment it names, then take the locator's
    // descriptor (left with the caller if the segment cannot be opened).
    PosixStore(const std::filesystem::path& file, Fd& locator_fd, const Locator& loc, bool writable)
        : segment_(fixed_string(loc.segment, sizeof loc.segment)) {
        file_ = file;
        try {
            shm_ = bip::shared_memory_object(bip::open_only, segment_.c_str() + 1,
                                             writable ? bip::read_write : bip::read_only);
        } catch (const bip::interprocess_exception& e) {
            if (e.get_native_error() == ENOENT)
                throw_segment_absent(loc, file, "locator names segment " + segment_ + ", which does not exist in /dev/shm");
            throw_bip(e, "shm_open", segment_);
        }
        lock_fd_ = std::move(locator_fd);
    }

    // Create: a new segment, sized and allocated, and an unpublished locator.
    // Create: the pending locator first (it names the segment, so a creator that dies from
    // here on leaves something remove_abandoned() can find), then the segment.
    explicit PosixStore(const CreateRequest& req) {
        file_ = req.file;
        segment_ = posix_segment_name(req.name, random64());
        pending_ = std::make_unique<PendingFile>(req.home, req.file, req.permissions, lock_fd_,
                                                 PendingFile::Visibility::hidden_name);
        Locator loc = make_locator(Backing::posix, req.region_bytes);
        std::memcpy(loc.segment, segment_.c_str(), segment_.size() + 1);
        write_locator(lock_fd_.get(), loc, req.file);
        try {
            shm_ = bip::shared_memory_object(bip::create_only, segment_.c_str() + 1, bip::read_write,
                                             bip::permissions(static_cast<unsigned>(req.permissions)));
        } catch (const bip::interprocess_exception& e) {
            throw_bip(e, "shm_open(O_CREAT|O_EXCL)", segment_);
        }
        created_ = true;
        try {
            // The birth record first: what ties the segment to its home and creator if the
            // creator dies before the header is written (and the pending file goes too, as
            // with an rm -rf of the home): orphan_segments() finds it, and it goes when
            // slot 0's process is dead.
            const std::uint64_t born = write_birth_record(req);
            SHMREGION_CRASH_POINT("create.posix_after_birth");
            // tmpfs allocates the pages now, so a full /dev/shm is ENOSPC here, never SIGBUS later.
            io::detail::extend_or_throw(req.engine(), seg_fd(), born, req.region_bytes, segment_path(segment_),
                                        io::ExtendMethod::automatic);
        } catch (...) {
            discard();
            throw;
        }
    }

    Backing kind() const noexcept override { return Backing::posix; }

    uid_t owner() const override { return size_and_owner().second; }

    std::uint64_t backing_size() const override { return size_and_owner().first; }

    std::pair<std::uint64_t, uid_t> size_and_owner() const override {
        struct stat st {};
        if (::fstat(seg_fd(), &st) != 0) throw_errno(errno, "fstat", segment_path(segment_));
        return {static_cast<std::uint64_t>(st.st_size), st.st_uid};
    }

    void read(void* buf, std::size_t len, std::uint64_t offset) const override {
        if (!pread_all(seg_fd(), buf, len, static_cast<off_t>(offset))) {
            if (errno != 0) throw_errno(errno, "read", segment_path(segment_));
            throw_failure(errc::size_mismatch, file_,
                          "segment " + segment_ + " ends before byte " + std::to_string(offset + len) +
                              " (truncated)");
        }
    }

    void map(Mapping& m, std::uint64_t bytes) override { m.map_shared_fd(seg_fd(), bytes, segment_path(segment_)); }
    std::filesystem::path where() const override { return segment_path(segment_); }
    std::uint64_t extend(const EngineSource& engine, std::uint64_t from, std::uint64_t to) override {
        return extend_descriptor(seg_fd(), engine, from, to, where());
    }
    void truncate(std::uint64_t bytes) noexcept override { truncate_descriptor(seg_fd(), bytes); }
    void map_more(Mapping& m, std::uint64_t bytes) override {
        m.extend_shared_fd(seg_fd(), bytes, segment_path(segment_));
    }

    void describe(RegionHeader& h) const override {
        std::memcpy(h.segment, segment_.c_str(), segment_.size() + 1);
    }

    bool publish(const std::shared_ptr<Mapping>&) override {
        bool ok = pending_->link_into_place();
        pending_.reset();
        if (ok) created_ = false;  // ours to keep now
        return ok;
    }

    void discard() noexcept override {
        pending_.reset();
        if (created_) {
            try {
                remove_segment_named(segment_, {}, std::nullopt);
            } catch (...) {
                // Nothing more to do: the orphan scan finds it (its birth record names us).
            }
        }
        created_ = false;
    }

    void remove_segment() override { remove_segment_named(segment_, file_, std::nullopt); }

private:
    int seg_fd() const noexcept { return shm_.get_mapping_handle().handle; }

    /// A header that is not valid yet (valid = 0, one attacher slot: ours) at offset 0 of
    /// the new segment; the creator's full header replaces it. Returns the bytes written.
    std::uint64_t write_birth_record(const CreateRequest& req) {
        struct {
            RegionHeader h;
            AttacherSlot creator;
        } birth{};
        static_assert(sizeof birth == kSlotTableOffset + sizeof(AttacherSlot));
        RegionHeader& h = birth.h;
        std::memcpy(h.magic, kRegionMagic, sizeof h.magic);
        h.version = kLayoutVersion;
        h.layout = kLayoutWord;
        h.backing = static_cast<std::uint32_t>(Backing::posix);
        h.valid = kValidInitialising;
        h.page_size = page_size();
        h.max_attachers = 1;
        h.creator_pid = current_pid();
        h.creator_uid = ::geteuid();
        h.created_at_ns = now_ns();
        h.sysv_id = -1;
        describe(h);
        stamp_home(h, req.home, req.file);
        slot_fill_self(birth.creator);
        if (!pwrite_all(seg_fd(), &birth, sizeof birth, 0)) throw_errno(errno, "write", segment_path(segment_));
        return sizeof birth;
    }

    std::string segment_;  // with the leading '/'
    bip::shared_memory_object shm_;
    std::unique_ptr<PendingFile> pending_;
    bool created_ = false;  // unpublished segment of ours: discard() removes it
};

bool copy_segment(const std::string& path, std::uint64_t size, SegmentCopy& c) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    RegionHeader& h = c.header;
    if (!fd || size < sizeof h || !pread_all(fd.get(), &h, sizeof h, 0) || !plausible_region_header(h)) return false;
    c.slots.resize(h.max_attachers);
    const std::uint64_t table = kSlotTableOffset + c.slots.size() * sizeof(AttacherSlot);
    return size >= table && pread_all(fd.get(), c.slots.data(), c.slots.size() * sizeof(AttacherSlot), kSlotTableOffset);
}

class PosixType final : public BackingType {
public:
    const BackingTraits& traits() const noexcept override {
        static const BackingTraits t{.kind = Backing::posix,
                                     .name = "posix",
                                     .named = true,
                                     .located = true,
                                     .growable = true,
                                     .extends_at_creation = true};
        return t;
    }
    std::unique_ptr<Store> create(const CreateRequest& req) const override { return std::make_unique<PosixStore>(req); }
    std::unique_ptr<Store> open(HomeFile& home, const std::filesystem::path& file, bool writable) const override {
        return std::make_unique<PosixStore>(file, home.fd, *home.locator, writable);
    }

    bool segment_visible(const Locator& loc) const override {
        struct stat st {};
        return ::stat(segment_path(fixed_string(loc.segment, sizeof loc.segment)).c_str(), &st) == 0;
    }
    void remove_located(const Locator& loc, const std::filesystem::path& file,
                        std::optional<uid_t> owner) const override {
        remove_segment_named(fixed_string(loc.segment, sizeof loc.segment), file, owner);
    }
    bool remove_abandoned(const Locator& loc, const std::filesystem::path& pending, uid_t owner,
                          bool dry_run) const override {
        if (dry_run) return false;
        remove_segment_named(fixed_string(loc.segment, sizeof loc.segment), pending, owner);
        return true;
    }
    std::vector<SegmentCopy> segments() const override {
        std::vector<SegmentCopy> out;
        std::error_code ec;
        for (std::filesystem::directory_iterator it(std::filesystem::path(kShmDirectory), ec), end; !ec && it != end;
             it.increment(ec)) {
            const std::string segment = "/" + it->path().filename().string();
            if (!is_segment_name(segment)) continue;
            struct stat st {};
            if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) continue;
            SegmentCopy c;
            c.kind = Backing::posix;
            c.label = segment;
            c.bytes = static_cast<std::uint64_t>(st.st_size);
            if (!copy_segment(it->path().string(), c.bytes, c)) continue;
            // Ours only if the header says it is this very segment.
            if (c.header.backing != static_cast<std::uint32_t>(Backing::posix) ||
                segment != fixed_string(c.header.segment, sizeof c.header.segment))
                continue;
            out.push_back(std::move(c));
        }
        return out;
    }
    void remove_segment(const SegmentCopy& s) const override {
        remove_segment_named(s.label, {}, ::geteuid());
    }
};

}  // namespace

const BackingType& posix_backing() noexcept {
    static const PosixType t;
    return t;
}

}  // namespace shmregion::detail
