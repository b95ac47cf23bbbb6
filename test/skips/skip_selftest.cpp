// A self-test of the skip mechanism (test/support/skip.hpp), run by check_skips.cmake:
//  - passes: no group, passes;
//  - always_skips: group needs_nothing_real, skips;
//  - per_sample: samples "a" (group needs_sample_a, skips), "b" (needs_sample_b, passes) and
//    "c" (no group, passes), labelled by group_samples();
//  - run only when named (disabled by default): a skip outside any group and a skip after a
//    failed check, both failures.
#define BOOST_TEST_MODULE skip_selftest
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "skip.hpp"

#include <string>

namespace utf = boost::unit_test;
namespace bdata = boost::unit_test::data;

BOOST_AUTO_TEST_CASE(passes) { BOOST_TEST(1 + 1 == 2); }

BOOST_AUTO_TEST_CASE(always_skips, *utf::label("needs_nothing_real")) {
    SHMREGION_SKIP("this case always skips (" << "a self-test of SHMREGION_SKIP)");
}

namespace selftest {
const auto kSamples = bdata::make({"a", "b", "c"});
std::string group_of(const char* sample) {
    return std::string(sample) == "c" ? std::string() : std::string("needs_sample_") + sample;
}
}  // namespace selftest

BOOST_TEST_DECORATOR(*shmregion::test::group_samples(selftest::kSamples, selftest::group_of))
BOOST_DATA_TEST_CASE(per_sample, selftest::kSamples, sample) {
    if (std::string(sample) == "a") SHMREGION_SKIP("sample a skips");
    BOOST_TEST(std::string(sample).size() == 1u);
}

BOOST_AUTO_TEST_CASE(skip_outside_any_group, *utf::disabled()) { SHMREGION_SKIP("a skip nobody would see"); }

BOOST_AUTO_TEST_CASE(skip_after_a_failure, *utf::label("needs_nothing_real_either") * utf::disabled()) {
    BOOST_TEST(1 + 1 == 3);
    SHMREGION_SKIP("skipped after a failed check");
}
