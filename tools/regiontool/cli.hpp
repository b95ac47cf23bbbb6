// regiontool: shared pieces of the subcommands (argument parsing, output, exit codes).
#pragma once

#include <shmregion/shmregion.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace regiontool {

/// Documented exit codes (docs/regiontool.1).
enum Exit : int {
    kOk = 0,         ///< success; every region healthy
    kUnhealthy = 1,  ///< a region is unhealthy, or the operation was refused or failed
    kUsage = 2,      ///< bad command line
};

/// Thrown for a bad command line; main prints "regiontool: <msg>" and the usage hint.
struct UsageError {
    std::string message;
};

/// Parsed arguments of one subcommand: positionals and --options.
struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> values;  // --name VALUE or --name=VALUE
    std::vector<std::string> flags;             // --name
    bool flag(std::string_view name) const;
    std::optional<std::string> value(std::string_view name) const;
};

/// What a subcommand accepts: option names taking a value, and boolean flags.
struct Spec {
    std::vector<std::string> with_value;
    std::vector<std::string> flags;
    std::size_t min_positional = 0;
    std::size_t max_positional = 0;
};

Args parse(const std::vector<std::string>& argv, const Spec& spec);

/// "64K", "16M", "2G", "1T" or bytes; throws UsageError naming the text.
std::uint64_t parse_size(std::string_view text);
/// 1536 -> "1.5K"; exact bytes below 1 KiB.
std::string human_size(std::uint64_t bytes);
/// "[#####.....]  37%  96M/256M" on stderr, redrawn in place (callers draw it only when
/// stderr is a terminal).
void draw_bar(std::uint64_t done, std::uint64_t total);
/// True if a progress bar should be drawn for `bytes` of work: stderr is a terminal and the
/// work is large (256 MiB or more).
bool want_progress(std::uint64_t bytes);
/// Grows r to `target` usable bytes: in 64 MiB steps with a progress bar when
/// want_progress() says so, else in one call. Each step is a complete grow.
void grow_with_progress(shmregion::Region& r, std::uint64_t target);

/// --engine uring|libaio|posix|sync|auto (automatic when absent); throws UsageError.
shmregion::io::EngineKind engine_option(const Args& a);
/// Options joining the existing region HOME NAME (positionals 0 and 1), whatever its
/// backing, with the engine of --engine if the command takes it.
shmregion::Options join_options(const Args& a);

/// An ISO 8601 UTC timestamp from nanoseconds since the epoch.
std::string iso_time(std::uint64_t ns);

/// Minimal JSON writer: objects, arrays, strings (escaped), numbers, booleans.
class Json {
public:
    Json& begin_object();
    Json& end_object();
    Json& begin_array();
    Json& end_array();
    Json& key(std::string_view k);
    Json& value(std::string_view s);
    Json& value(const char* s) { return value(std::string_view(s)); }
    Json& value(std::uint64_t n);
    Json& value(std::int64_t n);
    Json& value(std::uint32_t n) { return value(std::uint64_t{n}); }
    Json& value(std::int32_t n) { return value(std::int64_t{n}); }
    Json& value(bool b);
    Json& null();
    const std::string& str() const { return out_; }

private:
    void sep();
    void quoted(std::string_view s);
    std::string out_;
    std::vector<bool> first_;
    bool after_key_ = false;
};

/// Aligned text table; the last column is not padded.
class Table {
public:
    explicit Table(std::vector<std::string> header);
    void row(std::vector<std::string> cells);
    std::string str() const;

private:
    std::vector<std::vector<std::string>> rows_;
};

/// Prints a per-region report: the JSON with --json, else the table, or a line saying
/// the home has no regions.
void print_regions(const Args& a, const Json& j, const Table& t, bool no_regions, const std::filesystem::path& home);

/// The health of one region, as list and verify report it.
struct Health {
    std::string state;   // ok, stale, incomplete, corrupt, orphan
    std::string reason;  // empty for ok
    std::optional<shmregion::RegionInfo> info;
};
Health assess(const std::filesystem::path& home, const std::string& name);

struct Command {
    const char* name;
    const char* synopsis;  // "list [HOME] [--json]"
    const char* summary;
    const char* help;      // the full --help text after the synopsis
    Spec spec;
    std::function<int(const Args&)> run;
};

// One per subcommand file.
Command list_command();
Command stat_command();
Command verify_command();
Command create_command();
Command unlink_command();
Command hold_command();
Command prefault_command();
Command grow_command();
Command clean_command();
Command dump_command();
Command doctor_command();

}  // namespace regiontool
