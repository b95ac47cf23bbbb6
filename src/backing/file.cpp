// File backing: the region is <home>/<name>.region itself, mapped MAP_SHARED. The same
// descriptor carries the attachers' liveness locks.
#include "backing/backing.hpp"
#include "io/engine_impl.hpp"
#include "sys/failure.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

namespace shmregion::detail {
namespace {

class FileStore final : public Store {
public:
    FileStore(const std::filesystem::path& file, Fd fd, dev_t dev, ino_t ino) : dev_(dev), ino_(ino) {
        file_ = file;
        lock_fd_ = std::move(fd);
    }
    explicit FileStore(const CreateRequest& req) {
        file_ = req.file;
        pending_ = std::make_unique<PendingFile>(req.home, req.file, req.permissions, lock_fd_,
                                                 PendingFile::Visibility::unnamed);
        // Allocate every block now: a full disk is an error here, not a SIGBUS later.
        io::detail::extend_or_throw(req.engine(), data_fd(), 0, req.region_bytes, req.file,
                                    io::ExtendMethod::automatic);
    }

    Backing kind() const noexcept override { return Backing::file; }

    std::uint64_t backing_size() const override {
        struct stat st {};
        if (::fstat(lock_fd_.get(), &st) != 0) throw_errno(errno, "fstat", file_);
        return static_cast<std::uint64_t>(st.st_size);
    }

    void read(void* buf, std::size_t len, std::uint64_t offset) const override {
        if (!pread_all(lock_fd_.get(), buf, len, static_cast<off_t>(offset))) {
            if (errno != 0) throw_errno(errno, "read", file_);
            throw_failure(errc::size_mismatch, file_,
                          file_.string() + ": ends before byte " + std::to_string(offset + len) + " (truncated)");
        }
    }

    // Mapped, extended and flushed through an open file description of its own, never the
    // one that carries the liveness locks: whatever holds a reference to a description
    // keeps its locks alive, and both a mapping (for as long as the memory map lives,
    // which can outlive the process: ps, top or an agent reading /proc/PID/smaps holds it a
    // moment, a CLONE_VM child for good) and an asynchronous request in flight (io_uring
    // tears a dead process's ring down after the process is gone) hold one. The locks must
    // die with the process's descriptors, as liveness requires.
    void map(Mapping& m, std::uint64_t bytes) override { m.map_shared_fd(data_fd(), bytes, file_); }
    std::uint64_t extend(const EngineSource& engine, std::uint64_t from, std::uint64_t to) override {
        return extend_descriptor(data_fd(), engine, from, to, file_);
    }
    void truncate(std::uint64_t bytes) noexcept override { truncate_descriptor(lock_fd_.get(), bytes); }
    void map_more(Mapping& m, std::uint64_t bytes) override { m.extend_shared_fd(data_fd(), bytes, file_); }
    void flush(io::Engine& engine) override { io::detail::flush_or_throw(engine, data_fd(), file_, true); }

    bool publish(const std::shared_ptr<Mapping>&) override {
        bool ok = pending_->link_into_place();
        pending_.reset();
        return ok;
    }

    void discard() noexcept override { pending_.reset(); }  // an O_TMPFILE vanishes on close


private:
    /// Opened when first needed (a read-only inspect never maps nor writes). A joiner opens
    /// the path again and checks it is the file it locked (a plain lookup, cheaper than
    /// /proc's); a creator, whose file has no name yet, and a joiner whose path now names
    /// another file, reopen through /proc/self/fd.
    int data_fd() {
        if (data_fd_) return data_fd_.get();
        if (ino_ != 0) {
            Fd again(::open(file_.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
            struct stat st {};
            if (again && ::fstat(again.get(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
                data_fd_ = std::move(again);
        }
        if (!data_fd_) data_fd_.reset(reopen_description(lock_fd_.get(), O_RDWR));
        if (!data_fd_) throw_errno(errno, "reopen (a description of its own for the region's bytes)", file_);
        return data_fd_.get();
    }

    std::unique_ptr<PendingFile> pending_;
    Fd data_fd_;  // mapping, extension, flush; never locked
    dev_t dev_ = 0;  // the joined file's identity (0: a creator's)
    ino_t ino_ = 0;
};

class FileType final : public BackingType {
public:
    const BackingTraits& traits() const noexcept override {
        static const BackingTraits t{.kind = Backing::file,
                                     .name = "file",
                                     .named = true,
                                     .growable = true,
                                     .durable = true,
                                     .extends_at_creation = true};
        return t;
    }
    std::unique_ptr<Store> create(const CreateRequest& req) const override { return std::make_unique<FileStore>(req); }
    std::unique_ptr<Store> open(HomeFile& home, const std::filesystem::path& file, bool) const override {
        return std::make_unique<FileStore>(file, std::move(home.fd), home.dev, home.ino);
    }
};

}  // namespace

const BackingType& file_backing() noexcept {
    static const FileType t;
    return t;
}

}  // namespace shmregion::detail
