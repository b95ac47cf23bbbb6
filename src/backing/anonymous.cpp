// Anonymous backing: MAP_SHARED|MAP_ANONYMOUS memory, shared only with fork()ed children
// (each calls Region::join_after_fork()). No name, no file: nothing can leak, and nothing
// outside the process family can find it. Liveness of attachers is pid + start time.
#include "backing/backing.hpp"
#include "sys/failure.hpp"

namespace shmregion::detail {
namespace {

class AnonymousStore final : public Store {
public:
    explicit AnonymousStore(std::uint64_t bytes) : size_(bytes) {}
    Backing kind() const noexcept override { return Backing::anonymous; }
    std::uint64_t backing_size() const override { return size_; }
    void read(void*, std::size_t, std::uint64_t) const override {
        throw_failure(errc::invalid_options, {}, "an anonymous region has no file to read");
    }
    void map(Mapping& m, std::uint64_t bytes) override { m.map_shared_anonymous(bytes); }
    bool publish(const std::shared_ptr<Mapping>&) override { return true; }
    void discard() noexcept override {}

private:
    std::uint64_t size_;
};

class AnonymousType final : public BackingType {
public:
    const BackingTraits& traits() const noexcept override {
        static const BackingTraits t{
            .kind = Backing::anonymous,
            .name = "anonymous",
            .fork_shared = true,
            .fixed_size = true,  // a ceiling it could never grow to would only reserve address space
            .cannot_grow_because = "anonymous regions cannot grow: pages added in one process would not reach the "
                                   "processes it shares the region with"};
        return t;
    }
    std::unique_ptr<Store> create(const CreateRequest& req) const override {
        return std::make_unique<AnonymousStore>(req.region_bytes);
    }
};

}  // namespace

const BackingType& anonymous_backing() noexcept {
    static const AnonymousType t;
    return t;
}

}  // namespace shmregion::detail
