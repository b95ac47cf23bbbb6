// The main() of every test binary made by shmregion_add_test() (which compiles the tests
// with BOOST_TEST_NO_MAIN; BOOST_TEST_MODULE still defines init_unit_test()). It runs
// Boost.Test as unit_test_main() does, with two options of its own (skip.hpp explains the
// capability groups):
//   --list_groups    prints the capability groups of the enabled test cases, one a line,
//                    and "other" if some case is in none; exits 0 (CTest's registration
//                    runs this, test/support/capability_groups.cmake)
//   --group=<g>      runs only the cases in group <g> ("other": the cases in no group); a
//                    group with no case prints so and exits 0 (--run_test overrides it)
// and one rule: when every test case that ran was skipped (skip_test) and none failed, the
// exit code is 77, which CTest reports as Skipped. Otherwise Boost.Test's result code stands;
// skipped cases beside passed ones are then listed with a warning (a group whose cases do not
// share one capability).
#include "skip.hpp"

#include <boost/test/framework.hpp>
#include <boost/test/results_collector.hpp>
#include <boost/test/tree/traverse.hpp>
#include <boost/test/tree/visitor.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/test/unit_test_parameters.hpp>

#include <boost/cstdlib.hpp>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

bool init_unit_test();  // defined by BOOST_TEST_MODULE in the test's source

namespace {

namespace ut = boost::unit_test;
using shmregion::test::kNoGroup;

constexpr int kSkipExit = 77;

/// Every test case enabled by default, with its capability group (kNoGroup if none).
struct CaseGroups : ut::test_tree_visitor {
    std::map<ut::test_unit_id, std::string> group;
    std::vector<std::string> errors;

    void visit(const ut::test_case& tc) override {
        if (tc.p_default_status != ut::test_unit::RS_ENABLED) return;
        const std::vector<std::string> g = shmregion::test::groups_of(tc);
        if (g.size() > 1) {
            std::string all;
            for (const auto& s : g) all += (all.empty() ? "" : ", ") + s;
            errors.push_back(tc.full_name() + " is in more than one capability group (" + all +
                             "): give it one label naming all it needs");
        }
        group[tc.p_id] = g.empty() ? kNoGroup : g.front();
    }
};

/// Every test case, to count afterwards what ran.
struct AllCases : ut::test_tree_visitor {
    std::vector<ut::test_unit_id> ids;
    void visit(const ut::test_case& tc) override { ids.push_back(tc.p_id); }
};

struct ShutdownAtExit {
    ~ShutdownAtExit() {
        try {
            ut::framework::shutdown();
        } catch (...) {
            std::cerr << "Boost.Test shutdown exception caught" << std::endl;
        }
    }
};

bool has_prefix(const char* arg, const char* prefix) { return std::strncmp(arg, prefix, std::strlen(prefix)) == 0; }

/// Boost.Test's result, or 77 if every case that ran was skipped; prints the skipped cases.
int result_with_skips() {
    const int boost_rc = ut::runtime_config::get<bool>(ut::runtime_config::btrt_result_code)
                             ? ut::results_collector.results(ut::framework::master_test_suite().p_id).result_code()
                             : 0;
    AllCases all;
    ut::traverse_test_tree(ut::framework::master_test_suite(), all, true);
    std::set<ut::test_unit_id> skipped_ids;
    for (const auto& s : shmregion::test::skipped_cases()) skipped_ids.insert(s.id);
    std::size_t ran = 0, failed = 0, skipped = 0;
    for (ut::test_unit_id id : all.ids) {
        const ut::test_unit& tu = ut::framework::get(id, ut::TUT_CASE);
        const ut::test_results& r = ut::results_collector.results(id);
        if (!tu.is_enabled() || r.p_skipped) continue;
        ++ran;
        if (!r.passed())
            ++failed;
        else if (skipped_ids.count(id))
            ++skipped;
    }
    if (skipped == 0) return boost_rc;
    std::cout << "\n" << skipped << " of " << ran << " test cases that ran were skipped:\n";
    for (const auto& s : shmregion::test::skipped_cases())
        std::cout << "  " << s.name << ": " << s.why << "\n";
    if (boost_rc == 0 && failed == 0 && skipped == ran) {
        std::cout << "every test case that ran was skipped: exit " << kSkipExit << " (CTest: Skipped)" << std::endl;
        return kSkipExit;
    }
    if (failed == 0)
        std::cout << "warning: " << ran - skipped << " other cases passed, so this run passes and a CTest "
                  << "entry running it would hide these skips; each capability group should hold only cases "
                  << "that need the same capability (test/support/skip.hpp)" << std::endl;
    return boost_rc;
}

}  // namespace

int main(int argc, char* argv[]) {
    std::vector<char*> args;
    bool list_groups = false;
    bool select = false;
    bool delegate = false;
    std::string group;
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && std::strcmp(argv[i], "--list_groups") == 0) {
            list_groups = true;
            continue;
        }
        if (i > 0 && has_prefix(argv[i], "--group=")) {
            select = true;
            group = argv[i] + std::strlen("--group=");
            continue;
        }
        if (has_prefix(argv[i], "--list_content") || has_prefix(argv[i], "--list_labels")) delegate = true;
        args.push_back(argv[i]);
    }
    args.push_back(nullptr);
    const int n = static_cast<int>(args.size()) - 1;
    // Boost.Test's own listings: nothing of ours to add.
    if (delegate && !list_groups && !select) return ut::unit_test_main(&init_unit_test, n, args.data());

    ShutdownAtExit shutdown;
    try {
        ut::framework::init(&init_unit_test, n, args.data());
        ut::framework::finalize_setup_phase();  // decorators applied, data test cases generated

        CaseGroups groups;
        ut::traverse_test_tree(ut::framework::master_test_suite(), groups, true);
        if (!groups.errors.empty()) {
            for (const auto& e : groups.errors) std::cerr << "Test setup error: " << e << "\n";
            return boost::exit_exception_failure;
        }
        if (list_groups) {
            std::set<std::string> names;
            for (const auto& [id, g] : groups.group) names.insert(g);
            for (const auto& g : names) std::cout << g << "\n";
            return 0;
        }
        if (select) {
            std::size_t chosen = 0;
            for (const auto& [id, g] : groups.group) {
                if (g == group)
                    ++chosen;
                else
                    ut::framework::get(id, ut::TUT_CASE).p_default_status.value = ut::test_unit::RS_DISABLED;
            }
            if (chosen == 0) {
                std::cout << "no test case in capability group '" << group << "' here" << std::endl;
                return 0;
            }
        }
        ut::framework::run();
        return result_with_skips();
    } catch (const ut::framework::nothing_to_test& e) {
        return e.m_result_code;
    } catch (const ut::framework::internal_error& e) {
        std::cerr << "Boost.Test framework internal error: " << e.what() << std::endl;
    } catch (const ut::framework::setup_error& e) {
        std::cerr << "Test setup error: " << e.what() << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "Test setup error: " << e.what() << std::endl;
    }
    return boost::exit_exception_failure;
}
