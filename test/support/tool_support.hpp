// Running the real regiontool binary from a test (test/tool, test/torture). REGIONTOOL is its
// path, set by CMake on the targets that include this (target_compile_definitions).
#pragma once

#include "mp_support.hpp"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <sstream>
#include <string>
#include <vector>

namespace shmregion::tooltest {

struct Run {
    int status = -1;  // exit code, or -signal
    std::string out, err;
};

/// Everything readable from fd until end of file.
inline std::string slurp(int fd) {
    std::string s;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        s.append(buf, static_cast<std::size_t>(n));
    }
    return s;
}

/// In a child: becomes regiontool with args. Never returns.
[[noreturn]] inline void exec_regiontool(const std::vector<std::string>& args) {
    std::vector<char*> argv{const_cast<char*>(REGIONTOOL)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(REGIONTOOL, argv.data());
    _exit(127);
}

/// Runs regiontool with args under a 60 s alarm; stdout and stderr captured (stderr read
/// after stdout: the tool writes little to it). Its pid is recorded in spawned_pids() so
/// that Home also removes System V segments it made.
inline Run regiontool(const std::vector<std::string>& args) {
    int out[2], err[2];
    BOOST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::alarm(60);
        exec_regiontool(args);
    }
    mptest::spawned_pids().push_back(pid);
    ::close(out[1]);
    ::close(err[1]);
    Run r;
    r.out = slurp(out[0]);
    r.err = slurp(err[0]);
    ::close(out[0]);
    ::close(err[0]);
    r.status = test::wait_exit(pid);
    if (r.status == -SIGALRM) {  // name the command that hung, whatever the caller checks
        std::string cmd = "regiontool";
        for (const auto& a : args) cmd += " " + a;
        BOOST_ERROR(cmd << ": no answer in 60 s (killed by its alarm); stderr: " << r.err);
    }
    return r;
}

inline boost::property_tree::ptree parse_json(const std::string& text) {
    boost::property_tree::ptree tree;
    std::istringstream in(text);
    boost::property_tree::read_json(in, tree);
    return tree;
}

}  // namespace shmregion::tooltest
