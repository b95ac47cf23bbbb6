// POSIX shared memory backing: a shm_open segment named "/shmregion.<name>.<16 hex>"
// (unique per creation, so a late remover can never hit a newer region's segment), and a
// locator in home that names it and carries the liveness locks.
//
// Boost.Interprocess's shared_memory_object creates and opens the segment (O_EXCL,
// permissions applied exactly); removal is a plain shm_unlink, because
// shared_memory_object::remove() reports failure as a bare bool and loses errno.
#include "backing/store.hpp"
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

[[noreturn]] void throw_bip(const bip::interprocess_exception& e, std::string_view what,
                            const std::string& segment) {
    int err = e.get_native_error();
    if (err == 0) err = EIO;
    throw_errno(err, what, segment_path(segment));
}

class PosixStore final : public Store {
public:
    // Join: the locator is open; open the segment it names.
    PosixStore(const std::filesystem::path& file, Fd locator_fd, const Locator& loc, bool writable)
        : segment_(fixed_string(loc.segment, sizeof loc.segment)) {
        file_ = file;
        lock_fd_ = std::move(locator_fd);
        try {
            shm_ = bip::shared_memory_object(bip::open_only, segment_.c_str() + 1,
                                             writable ? bip::read_write : bip::read_only);
        } catch (const bip::interprocess_exception& e) {
            if (e.get_native_error() == ENOENT)
                throw_segment_absent(loc, file, "locator names segment " + segment_ + ", which does not exist in /dev/shm");
            throw_bip(e, "shm_open", segment_);
        }
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
            io::detail::extend_or_throw(*req.engine, seg_fd(), born, req.region_bytes, segment_path(segment_),
                                        io::ExtendMethod::automatic);
        } catch (...) {
            discard();
            throw;
        }
    }

    Backing kind() const noexcept override { return Backing::posix; }

    uid_t owner() const override {
        struct stat st {};
        if (::fstat(seg_fd(), &st) != 0) throw_errno(errno, "fstat", segment_path(segment_));
        return st.st_uid;
    }

    std::uint64_t backing_size() const override {
        struct stat st {};
        if (::fstat(seg_fd(), &st) != 0) throw_errno(errno, "fstat", segment_path(segment_));
        return static_cast<std::uint64_t>(st.st_size);
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
    bool growable() const noexcept override { return true; }
    int grow_fd() const noexcept override { return seg_fd(); }
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
        if (created_) ::shm_unlink(segment_.c_str());
        created_ = false;
    }

    void remove_segment() override { remove_posix_segment(segment_, file_); }

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
        h.creator_pid = ::getpid();
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

}  // namespace

void remove_posix_segment(const std::string& segment, const std::filesystem::path& locator_file,
                          std::optional<uid_t> owner) {
    struct stat st {};
    if (owner && ::stat(segment_path(segment).c_str(), &st) == 0 && st.st_uid != *owner)
        throw_failure(errc::wrong_owner, locator_file,
                      "segment " + segment + " named by " + locator_file.string() + " belongs to uid " +
                          std::to_string(st.st_uid) + ", the locator to uid " + std::to_string(*owner) +
                          ": not removed");
    if (::shm_unlink(segment.c_str()) != 0 && errno != ENOENT)
        throw_errno(errno, "shm_unlink " + segment + " (named by " + locator_file.string() + ")");
}

std::unique_ptr<Store> create_posix_store(const CreateRequest& req) { return std::make_unique<PosixStore>(req); }

std::unique_ptr<Store> open_posix_store(HomeFile home, const std::filesystem::path& file, bool writable) {
    return std::make_unique<PosixStore>(file, std::move(home.fd), *home.locator, writable);
}

}  // namespace shmregion::detail
