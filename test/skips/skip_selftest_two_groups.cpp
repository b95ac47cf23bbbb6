// A case in two capability groups: --list_groups must refuse it (check_skips.cmake).
#define BOOST_TEST_MODULE skip_selftest_two_groups
#include <boost/test/unit_test.hpp>

#include "skip.hpp"

BOOST_AUTO_TEST_SUITE(needs_a, *boost::unit_test::label("needs_a"))
BOOST_AUTO_TEST_CASE(also_needs_b, *boost::unit_test::label("needs_b")) { BOOST_TEST(true); }
BOOST_AUTO_TEST_SUITE_END()
