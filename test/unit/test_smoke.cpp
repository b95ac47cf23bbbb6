#define BOOST_TEST_MODULE unit_smoke
#include <boost/test/unit_test.hpp>

#include "test_support.hpp"

#include <shmregion/version.hpp>

#include <string>
#include <type_traits>

using namespace shmregion;

BOOST_AUTO_TEST_CASE(create_write_detach_unlink_file) {
    test::TempHome home;
    auto o = test::options(home, Backing::file);
    auto r = Region::attach(o);
    BOOST_TEST(r.created());
    BOOST_TEST(r.size() == 64u * 1024u);
    static_cast<char*>(r.data())[0] = 'x';
    r.detach();
    BOOST_TEST(std::filesystem::exists(region_file(home, o.name)));
    unlink(home, o.name);
    BOOST_TEST(!std::filesystem::exists(region_file(home, o.name)));
}

// The compile-time version (<shmregion/version.hpp>) is the version of the library linked
// in, and the API lives in the versioned inline namespace.
BOOST_AUTO_TEST_CASE(version_macros_agree_with_the_library) {
    const std::string parts = std::to_string(SHMREGION_VERSION_MAJOR) + "." + std::to_string(SHMREGION_VERSION_MINOR) +
                              "." + std::to_string(SHMREGION_VERSION_PATCH);
    BOOST_TEST(std::string(SHMREGION_VERSION_STRING) == parts);
    BOOST_TEST(std::string(shmregion::version()) == SHMREGION_VERSION_STRING);
    static_assert(std::is_same_v<shmregion::Region, shmregion::SHMREGION_ABI_NAMESPACE::Region>);
    static_assert(std::is_same_v<shmregion::io::EngineKind, shmregion::SHMREGION_ABI_NAMESPACE::io::EngineKind>);
}
