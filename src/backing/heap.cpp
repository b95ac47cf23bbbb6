// Heap (private) backing: MAP_PRIVATE|MAP_ANONYMOUS memory of this process, for
// single-process use and tests. Regions are named inside the process: a second attach of
// the same name shares the first one's mapping. The memory goes with the last attach.
#include "backing/backing.hpp"
#include "sys/failure.hpp"

#include <cstring>
#include <map>
#include <mutex>

namespace shmregion::detail {
namespace {

struct Registry {
    std::mutex mu;
    std::map<std::string, std::weak_ptr<Mapping>> regions;
};

Registry& registry() {
    static Registry r;
    return r;
}

class HeapStore final : public Store {
public:
    HeapStore(std::string name, std::uint64_t bytes, std::shared_ptr<Mapping> existing)
        : name_(std::move(name)), size_(bytes), existing_(std::move(existing)) {}

    Backing kind() const noexcept override { return Backing::heap; }
    std::uint64_t backing_size() const override { return existing_ ? existing_->mapped() : size_; }
    void read(void* buf, std::size_t len, std::uint64_t offset) const override {
        if (!existing_ || offset + len > existing_->mapped())
            throw_failure(errc::size_mismatch, {}, "heap region '" + name_ + "': read past its end");
        std::memcpy(buf, existing_->base() + offset, len);
    }
    void map(Mapping& m, std::uint64_t bytes) override { m.map_private(bytes); }
    std::shared_ptr<Mapping> shared_mapping() const override { return existing_; }
    // Every attach in the process shares one Mapping: growing it grows them all. Private
    // memory has nothing to extend: mapping more is the growth.
    std::uint64_t extend(const EngineSource&, std::uint64_t, std::uint64_t) override { return 0; }
    void map_more(Mapping& m, std::uint64_t bytes) override { m.extend_private(bytes); }

    bool publish(const std::shared_ptr<Mapping>& m) override {
        auto& r = registry();
        std::lock_guard lk(r.mu);
        auto& slot = r.regions[name_];
        if (!slot.expired()) return false;
        slot = m;
        existing_ = m;
        return true;
    }
    void discard() noexcept override {}
    void remove_file() override {
        auto& r = registry();
        std::lock_guard lk(r.mu);
        auto it = r.regions.find(name_);
        // Only our own entry: a newer region of the same name is left alone.
        if (it != r.regions.end() && (it->second.expired() || it->second.lock() == existing_))
            r.regions.erase(it);
    }

private:
    std::string name_;
    std::uint64_t size_;
    std::shared_ptr<Mapping> existing_;
};

class HeapType final : public BackingType {
public:
    const BackingTraits& traits() const noexcept override {
        static const BackingTraits t{.kind = Backing::heap, .name = "heap", .in_process = true, .growable = true};
        return t;
    }
    std::unique_ptr<Store> create(const CreateRequest& req) const override {
        return std::make_unique<HeapStore>(req.name, req.region_bytes, nullptr);
    }
    std::unique_ptr<Store> find(std::string_view name) const override {
        auto& r = registry();
        std::lock_guard lk(r.mu);
        auto it = r.regions.find(std::string(name));
        if (it == r.regions.end()) return nullptr;
        auto m = it->second.lock();
        if (!m) {
            r.regions.erase(it);
            return nullptr;
        }
        return std::make_unique<HeapStore>(std::string(name), m->mapped(), std::move(m));
    }
};

}  // namespace

const BackingType& heap_backing() noexcept {
    static const HeapType t;
    return t;
}

}  // namespace shmregion::detail
