// Runs after every other test (CTest fixture cleanup): nothing that a test made may remain.
#define BOOST_TEST_MODULE leak_check
#include <boost/test/unit_test.hpp>

#include "test_support.hpp"

#include <filesystem>

using namespace shmregion::test;

BOOST_AUTO_TEST_CASE(no_test_home_left) {
    std::vector<std::string> homes;
    for (const auto& e : std::filesystem::directory_iterator(temp_root())) {
        const auto name = e.path().filename().string();
        if (name.rfind(kHomePrefix, 0) == 0) homes.push_back(name);
    }
    BOOST_TEST(homes.empty(), "test homes left in " << temp_root() << ": " << homes.size()
                                                      << (homes.empty() ? "" : " e.g. " + homes.front()));
}

BOOST_AUTO_TEST_CASE(no_posix_segment_left) {
    auto leaked = leaked_posix_segments();
    BOOST_TEST(leaked.empty(), leaked.size() << " /dev/shm segments of test homes left"
                                            << (leaked.empty() ? "" : ", e.g. " + leaked.front()));
}

BOOST_AUTO_TEST_CASE(no_sysv_segment_left) {
    auto leaked = leaked_sysv_segments();
    BOOST_TEST(leaked.empty(), leaked.size() << " System V segments of test homes left"
                                            << (leaked.empty() ? "" : ", e.g. id " + std::to_string(leaked.front())));
}
