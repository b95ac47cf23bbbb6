// A tiny interleaving benchmark harness: every method runs one batch per round, in turn
// (A B C A B C ...), so drift of the machine hits all methods alike; the report gives the
// median per-operation time, the min-max spread over rounds, and ratios to a baseline, on
// the terminal and (Report) as JSON that bench/plot reads.
#pragma once

#include "bench_util.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bench {

struct Method {
    std::string name;
    std::function<void()> op;  // one operation
    std::vector<double> ns;    // per-op time of each round
};

struct Result {
    std::string name;
    double median_ns, min_ns, max_ns;
    std::vector<double> samples_ns{};  // one per round, in round order
};

/// The median and spread of per-round figures (ns per operation).
inline Result summarize(std::string name, std::vector<double> ns) {
    auto v = ns;
    std::sort(v.begin(), v.end());
    if (v.empty()) return {std::move(name), 0, 0, 0, {}};
    return {std::move(name), v[v.size() / 2], v.front(), v.back(), std::move(ns)};
}

inline std::vector<Result> run_interleaved(std::vector<Method>& methods, int rounds, int batch) {
    for (auto& m : methods) m.op();  // warm up
    for (int r = 0; r < rounds; ++r) {
        for (auto& m : methods) {
            auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < batch; ++i) m.op();
            auto t1 = std::chrono::steady_clock::now();
            m.ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / batch);
        }
    }
    std::vector<Result> out;
    for (auto& m : methods) out.push_back(summarize(m.name, m.ns));
    return out;
}

inline void print(const std::vector<Result>& rs, const std::string& baseline) {
    double base = 0;
    for (const auto& r : rs)
        if (r.name == baseline) base = r.median_ns;
    std::printf("%-44s %12s %22s %10s\n", "method", "median", "min..max", "vs " "raw");
    for (const auto& r : rs)
        std::printf("%-44s %9.2f us %9.2f..%-9.2f us %9.2fx\n", r.name.c_str(), r.median_ns / 1000,
                    r.min_ns / 1000, r.max_ns / 1000, base > 0 ? r.median_ns / base : 0.0);
}

/// As print(), in nanoseconds, for operations of tens of ns (print's microseconds round
/// them away).
inline void print_ns(const std::vector<Result>& rs, const std::string& baseline) {
    double base = 0;
    for (const auto& r : rs)
        if (r.name == baseline) base = r.median_ns;
    std::printf("%-44s %12s %22s %10s\n", "method", "median", "min..max", "vs " "raw");
    for (const auto& r : rs)
        std::printf("%-44s %9.1f ns %9.1f..%-9.1f ns %9.2fx\n", r.name.c_str(), r.median_ns, r.min_ns, r.max_ns,
                    base > 0 ? r.median_ns / base : 0.0);
}

/// What kind of method a result is, for the ratios and the plot: the raw system calls (the
/// limit, ratio 1), a peer library, or shmregion.
enum class Role { raw, peer, shmregion };

inline const char* to_string(Role r) {
    return r == Role::raw ? "raw" : r == Role::peer ? "peer" : "shmregion";
}

/// The role the benchmarks' method names say: "raw..." the raw calls, "boost..." the peer,
/// anything else shmregion.
inline Role role_by_name(const std::string& method) {
    if (method.starts_with("raw")) return Role::raw;
    if (method.starts_with("boost")) return Role::peer;
    return Role::shmregion;
}

/// Every result of one benchmark program, written as one JSON document:
///   {"benchmark": NAME, "date": ..., "kernel": ..., "cpus": N, "load_average_start": ...,
///    "load_average_end": ..., "results": [{"group": G, "method": M, "role": R,
///    "baseline": B, "median_s", "min_s", "max_s", "samples_s": [...], "ratio_to_raw"}, ...]}
/// A group is one operation on one backing and size ("attach+detach, posix, 64 KiB");
/// ratio_to_raw is median / the group's baseline's median (below 1 is faster than raw).
class Report {
public:
    explicit Report(std::string benchmark) : benchmark_(std::move(benchmark)), load_start_(benchutil::load_average()) {}

    /// Adds the results of one group; `baseline` names its raw method; role(name) tells the
    /// role of each result (by default from its name: role_by_name).
    void add(const std::string& group, const std::vector<Result>& rs, const std::string& baseline,
             const std::function<Role(const std::string&)>& role = role_by_name) {
        double base = 0;
        for (const auto& r : rs)
            if (r.name == baseline) base = r.median_ns;
        for (const auto& r : rs) {
            std::string samples;
            for (double x : r.samples_ns) samples += (samples.empty() ? "" : ", ") + benchutil::json_number(x * 1e-9);
            rows_.push_back("{\"group\": " + benchutil::json_string(group) + ", \"method\": " +
                            benchutil::json_string(r.name) + ", \"role\": " + benchutil::json_string(to_string(role(r.name))) +
                            ", \"baseline\": " + benchutil::json_string(baseline) +
                            ", \"median_s\": " + benchutil::json_number(r.median_ns * 1e-9) +
                            ", \"min_s\": " + benchutil::json_number(r.min_ns * 1e-9) +
                            ", \"max_s\": " + benchutil::json_number(r.max_ns * 1e-9) + ", \"samples_s\": [" + samples +
                            "], \"ratio_to_raw\": " +
                            benchutil::json_number(base > 0 ? std::optional(r.median_ns / base) : std::nullopt) + "}");
        }
    }

    /// Writes the document to `path` (nothing if empty); false (and a message) on failure.
    bool write(const std::string& path) const {
        if (path.empty()) return true;
        std::FILE* f = std::fopen(path.c_str(), "w");
        if (!f) {
            std::perror(path.c_str());
            return false;
        }
        char when[64];
        const std::time_t t = std::time(nullptr);
        std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
        struct utsname u {};
        ::uname(&u);
        std::fprintf(f, "{\"benchmark\": %s, \"date\": %s, \"kernel\": %s, \"cpus\": %ld,\n",
                     benchutil::json_string(benchmark_).c_str(), benchutil::json_string(when).c_str(),
                     benchutil::json_string(u.release).c_str(), ::sysconf(_SC_NPROCESSORS_ONLN));
        std::fprintf(f, " \"load_average_start\": %s, \"load_average_end\": %s,\n \"results\": [\n",
                     benchutil::json_string(load_start_).c_str(), benchutil::json_string(benchutil::load_average()).c_str());
        for (std::size_t i = 0; i < rows_.size(); ++i)
            std::fprintf(f, "  %s%s\n", rows_[i].c_str(), i + 1 < rows_.size() ? "," : "");
        std::fprintf(f, "]}\n");
        const bool ok = std::fclose(f) == 0;
        if (!ok) std::perror(path.c_str());
        return ok;
    }

private:
    std::string benchmark_;
    std::string load_start_;
    std::vector<std::string> rows_;
};

}  // namespace bench
