#include "skip.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <iostream>

namespace shmregion::test {
namespace {

std::vector<SkipRecord>& records() {
    static std::vector<SkipRecord> r;
    return r;
}

}  // namespace

std::vector<std::string> groups_of(const boost::unit_test::test_unit& tu) {
    namespace ut = boost::unit_test;
    std::vector<std::string> groups;
    for (const ut::test_unit* u = &tu;;) {
        for (const std::string& l : u->p_labels.get())
            if (l.rfind(kGroupPrefix, 0) == 0 && std::find(groups.begin(), groups.end(), l) == groups.end())
                groups.push_back(l);
        if (u->p_parent_id == ut::INV_TEST_UNIT_ID) break;
        u = &ut::framework::get(u->p_parent_id, ut::TUT_SUITE);
    }
    return groups;
}

void skip_test(const std::string& why) {
    namespace ut = boost::unit_test;
    const ut::test_case& tc = ut::framework::current_test_case();
    const std::vector<std::string> groups = groups_of(tc);
    if (groups.empty()) {
        BOOST_ERROR("test case " << tc.full_name() << " skips (" << why << ") but is in no capability group, so "
                                 << "its skip would be counted as a pass: give it a label \"" << kGroupPrefix
                                 << "<capability>\" (test/support/skip.hpp)");
        return;
    }
    std::cout << "SKIPPED " << tc.full_name() << " [" << groups.front() << "]: " << why << std::endl;
    auto& r = records();
    auto it = std::find_if(r.begin(), r.end(), [&](const SkipRecord& s) { return s.id == tc.p_id; });
    if (it == r.end())
        r.push_back({tc.p_id, tc.full_name(), why});
    else
        it->why += "; " + why;
}

const std::vector<SkipRecord>& skipped_cases() { return records(); }

void GroupSamples::apply(boost::unit_test::test_unit& tu) {
    namespace ut = boost::unit_test;
    const std::string& name = tu.p_name.get();
    std::size_t i = 0;
    bool numbered = name.size() > 1 && name[0] == '_';
    for (std::size_t k = 1; numbered && k < name.size(); ++k) {
        numbered = name[k] >= '0' && name[k] <= '9';
        i = i * 10 + static_cast<std::size_t>(name[k] - '0');
    }
    const bool same_size = tu.p_parent_id != ut::INV_TEST_UNIT_ID &&
                           ut::framework::get<ut::test_suite>(tu.p_parent_id).size() == labels_.size();
    if (tu.p_type != ut::TUT_CASE || !numbered || i >= labels_.size() || !same_size)
        throw std::logic_error("group_samples() on " + tu.full_name() + ": the test case is not one of the " +
                               std::to_string(labels_.size()) + " samples of the dataset given");
    if (!labels_[i].empty()) tu.add_label(labels_[i]);
}

}  // namespace shmregion::test
