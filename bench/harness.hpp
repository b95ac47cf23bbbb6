// A tiny interleaving benchmark harness: every method runs one batch per round, in turn
// (A B C A B C ...), so drift of the machine hits all methods alike; the report gives the
// median per-operation time, the min-max spread over rounds, and ratios to a baseline.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
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
};

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
    for (auto& m : methods) {
        auto v = m.ns;
        std::sort(v.begin(), v.end());
        out.push_back({m.name, v[v.size() / 2], v.front(), v.back()});
    }
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

}  // namespace bench
