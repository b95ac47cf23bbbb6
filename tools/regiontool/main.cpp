// regiontool: list, inspect, verify, create, unlink and hold shmregion regions.
// Exit codes: 0 ok, 1 a region is unhealthy or an operation failed, 2 usage error.
#include "cli.hpp"

#include <cstring>
#include <iostream>

namespace {

using regiontool::Command;

std::vector<Command> commands() {
    return {regiontool::list_command(),   regiontool::stat_command(),   regiontool::verify_command(),
            regiontool::create_command(), regiontool::unlink_command(), regiontool::hold_command(),
            regiontool::grow_command(), regiontool::prefault_command(), regiontool::clean_command(),
            regiontool::dump_command(), regiontool::doctor_command()};
}

void usage(std::ostream& out, const std::vector<Command>& cmds) {
    out << "usage: regiontool COMMAND [ARGS...]\n"
           "       regiontool COMMAND --help | --help | --version\n\n"
           "Inspect and manage shmregion shared-memory regions in a home directory.\n\n"
           "commands:\n";
    for (const auto& c : cmds) {
        std::string name = c.name;
        out << "  " << name << std::string(10 - name.size(), ' ') << c.summary << "\n";
    }
    out << "\nexit status: 0 ok, 1 a region is unhealthy or an operation failed, 2 usage error.\n"
           "See regiontool(1).\n";
}

}  // namespace

int main(int argc, char** argv) {
    const auto cmds = commands();
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        usage(std::cerr, cmds);
        return regiontool::kUsage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        usage(std::cout, cmds);
        return regiontool::kOk;
    }
    if (args[0] == "--version") {
        std::cout << "regiontool (shmregion) " << shmregion::version() << "\n";
        return regiontool::kOk;
    }
    const Command* cmd = nullptr;
    for (const auto& c : cmds)
        if (args[0] == c.name) cmd = &c;
    if (!cmd) {
        std::cerr << "regiontool: unknown command '" << args[0] << "'\nTry 'regiontool --help'.\n";
        return regiontool::kUsage;
    }
    std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& a : rest) {
        if (a == "--") break;
        if (a == "--help" || a == "-h") {
            std::cout << "usage: regiontool " << cmd->synopsis << "\n\n" << cmd->summary << ".\n\n" << cmd->help;
            return regiontool::kOk;
        }
    }
    try {
        return cmd->run(regiontool::parse(rest, cmd->spec));
    } catch (const regiontool::UsageError& e) {
        std::cerr << "regiontool " << cmd->name << ": " << e.message << "\nusage: regiontool " << cmd->synopsis
                  << "\nTry 'regiontool " << cmd->name << " --help'.\n";
        return regiontool::kUsage;
    } catch (const shmregion::Error& e) {
        std::cerr << "regiontool: " << e.what() << "\n";
        return regiontool::kUnhealthy;
    } catch (const std::exception& e) {
        std::cerr << "regiontool: " << e.what() << "\n";
        return regiontool::kUnhealthy;
    }
}
