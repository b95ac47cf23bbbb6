#define BOOST_TEST_MODULE unit_smoke
#include <boost/test/unit_test.hpp>

#include "test_support.hpp"

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
