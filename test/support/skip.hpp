// Test cases that cannot run here, reported as skipped instead of passed.
//
// A case whose precondition is a capability the machine may lack (root, CAP_SYS_ADMIN,
// io_uring, ...) carries one Boost.Test label naming its *capability group*, "needs_<what>":
//
//     BOOST_AUTO_TEST_CASE(files_of_another_user_are_refused, *boost::unit_test::label("needs_root")) {
//         if (::geteuid() != 0) SHMREGION_SKIP("needs root to chown test files");
//
// and, where the check fails, calls SHMREGION_SKIP(why) (or skip_test(why) and returns).
// shmregion_add_test() (test/CMakeLists.txt) registers one CTest entry per group found in
// the binary ("<binary>.<group>", run with --group=<group>) besides the entry for the cases
// in no group ("<binary>", --group=other). The test main (test_main.cpp) exits 77, which
// CTest reports as Skipped, when every case it ran was skipped and none failed; otherwise
// Boost.Test's result stands. So a skip never hides a pass, nor a pass a skip, as long as the
// cases of one group all depend on the same capability.
//
// A case has at most one group (its labels and its suites' together). Data test cases whose
// samples need different capabilities label each sample: BOOST_TEST_DECORATOR(
// *group_samples(dataset, fn)) before BOOST_DATA_TEST_CASE, fn(sample...) returning the
// sample's group or "" (see test_io_engines.cpp); a plain label decorator there labels every
// sample.
#pragma once

#include <boost/test/data/for_each_sample.hpp>
#include <boost/test/framework.hpp>
#include <boost/test/tree/decorator.hpp>
#include <boost/test/tree/test_unit.hpp>

#include <cstddef>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace shmregion::test {

/// Prefix of the labels that name capability groups.
inline constexpr const char* kGroupPrefix = "needs_";
/// The --group value that selects the cases in no group.
inline constexpr const char* kNoGroup = "other";

/// The capability groups of a test unit: its own "needs_" labels and its suites'.
std::vector<std::string> groups_of(const boost::unit_test::test_unit& tu);

/// Records that the running test case is skipped (why is printed, and the case counts as
/// skipped unless it also failed); the caller then returns from the case. A case outside
/// any capability group may not skip (its skip would be invisible): that is an error.
void skip_test(const std::string& why);

/// Runs of a test binary: what ran and what was skipped (test_main.cpp reads it).
struct SkipRecord {
    boost::unit_test::test_unit_id id;
    std::string name;
    std::string why;
};
const std::vector<SkipRecord>& skipped_cases();

/// A decorator for a data test case (BOOST_TEST_DECORATOR before BOOST_DATA_TEST_CASE;
/// Boost.Test applies it to each sample once the samples exist): gives sample i (named "_i",
/// in the dataset's order) the label labels[i] unless that is empty. Made by group_samples().
class GroupSamples : public boost::unit_test::decorator::base {
public:
    explicit GroupSamples(std::vector<std::string> labels) : labels_(std::move(labels)) {}

private:
    void apply(boost::unit_test::test_unit& tu) override;
    boost::unit_test::decorator::base_ptr clone() const override {
        return boost::unit_test::decorator::base_ptr(new GroupSamples(labels_));
    }

    std::vector<std::string> labels_;
};

/// Labels sample i of a data test case over `ds` with label_of(sample i...) (its group, or ""
/// for none). `ds` must be the test case's dataset (another number of samples is a setup error).
template <class Dataset, class LabelOf>
GroupSamples group_samples(Dataset&& ds, const LabelOf& label_of) {
    std::vector<std::string> labels;
    boost::unit_test::data::for_each_sample(std::forward<Dataset>(ds),
                                            [&](const auto&... sample) { labels.push_back(label_of(sample...)); });
    return GroupSamples(std::move(labels));
}

}  // namespace shmregion::test

/// Skips the running test case (see skip_test) and returns from it; `why` is streamed.
#define SHMREGION_SKIP(why)                                          \
    do {                                                             \
        std::ostringstream shmregion_skip_why_;                      \
        shmregion_skip_why_ << why;                                  \
        ::shmregion::test::skip_test(shmregion_skip_why_.str());     \
        return;                                                      \
    } while (false)
