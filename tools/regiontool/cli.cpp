#include "cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

namespace regiontool {

bool Args::flag(std::string_view name) const {
    return std::find(flags.begin(), flags.end(), name) != flags.end();
}

std::optional<std::string> Args::value(std::string_view name) const {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
}

Args parse(const std::vector<std::string>& argv, const Spec& spec) {
    Args a;
    auto has = [](const std::vector<std::string>& v, const std::string& s) {
        return std::find(v.begin(), v.end(), s) != v.end();
    };
    bool options_done = false;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (options_done || arg.size() < 2 || arg[0] != '-' || arg == "-") {
            a.positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        if (arg.rfind("--", 0) != 0) throw UsageError{"unknown option '" + arg + "'"};
        std::string name = arg.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (has(spec.with_value, name)) {
            if (inline_value) {
                a.values[name] = *inline_value;
            } else if (i + 1 < argv.size()) {
                a.values[name] = argv[++i];
            } else {
                throw UsageError{"option '--" + name + "' needs a value"};
            }
        } else if (has(spec.flags, name)) {
            if (inline_value) throw UsageError{"option '--" + name + "' takes no value"};
            a.flags.push_back(name);
        } else {
            throw UsageError{"unknown option '--" + name + "'"};
        }
    }
    if (a.positional.size() < spec.min_positional) throw UsageError{"missing argument"};
    if (a.positional.size() > spec.max_positional)
        throw UsageError{"unexpected argument '" + a.positional[spec.max_positional] + "'"};
    return a;
}

std::uint64_t parse_size(std::string_view text) {
    auto bad = [&] { return UsageError{"bad size '" + std::string(text) + "' (use bytes or a suffix K, M, G, T)"}; };
    if (text.empty()) throw bad();
    std::uint64_t value = 0;
    std::size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        if (__builtin_mul_overflow(value, 10u, &value) || __builtin_add_overflow(value, text[i] - '0', &value))
            throw bad();
    }
    if (i == 0) throw bad();
    std::string_view suffix = text.substr(i);
    unsigned shift = 0;
    if (suffix.empty() || suffix == "B") shift = 0;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB") shift = 10;
    else if (suffix == "M" || suffix == "MiB") shift = 20;
    else if (suffix == "G" || suffix == "GiB") shift = 30;
    else if (suffix == "T" || suffix == "TiB") shift = 40;
    else throw bad();
    if (shift && value > (UINT64_MAX >> shift)) throw bad();
    return value << shift;
}

std::string human_size(std::uint64_t bytes) {
    static const char* units[] = {"", "K", "M", "G", "T", "P"};
    if (bytes < 1024) return std::to_string(bytes);
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (v == static_cast<double>(static_cast<std::uint64_t>(v)))
        std::snprintf(buf, sizeof buf, "%.0f%s", v, units[u]);
    else
        std::snprintf(buf, sizeof buf, "%.1f%s", v, units[u]);
    return buf;
}

std::string iso_time(std::uint64_t ns) {
    time_t secs = static_cast<time_t>(ns / 1000000000ull);
    tm t{};
    gmtime_r(&secs, &t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
    return buf;
}

// ---- Json --------------------------------------------------------------------------------

void Json::sep() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) out_ += ',';
        first_.back() = false;
    }
}

Json& Json::begin_object() {
    sep();
    out_ += '{';
    first_.push_back(true);
    return *this;
}
Json& Json::end_object() {
    out_ += '}';
    first_.pop_back();
    return *this;
}
Json& Json::begin_array() {
    sep();
    out_ += '[';
    first_.push_back(true);
    return *this;
}
Json& Json::end_array() {
    out_ += ']';
    first_.pop_back();
    return *this;
}
Json& Json::key(std::string_view k) {
    sep();
    quoted(k);
    out_ += ':';
    after_key_ = true;
    return *this;
}

Json& Json::value(std::string_view s) {
    sep();
    quoted(s);
    return *this;
}

void Json::quoted(std::string_view s) {
    out_ += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out_ += "\\\""; break;
            case '\\': out_ += "\\\\"; break;
            case '\n': out_ += "\\n"; break;
            case '\r': out_ += "\\r"; break;
            case '\t': out_ += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out_ += buf;
                } else {
                    out_ += static_cast<char>(c);
                }
        }
    }
    out_ += '"';
}

Json& Json::value(std::uint64_t n) {
    sep();
    out_ += std::to_string(n);
    return *this;
}
Json& Json::value(std::int64_t n) {
    sep();
    out_ += std::to_string(n);
    return *this;
}
Json& Json::value(bool b) {
    sep();
    out_ += b ? "true" : "false";
    return *this;
}
Json& Json::null() {
    sep();
    out_ += "null";
    return *this;
}

// ---- Table -------------------------------------------------------------------------------

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

std::string Table::str() const {
    std::vector<std::size_t> width;
    for (const auto& r : rows_)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows_) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

void print_regions(const Args& a, const Json& j, const Table& t, bool no_regions, const std::filesystem::path& home) {
    if (a.flag("json"))
        std::cout << j.str() << "\n";
    else if (no_regions)
        std::cout << "no regions in " << home.string() << "\n";
    else
        std::cout << t.str();
}

// ---- Health ------------------------------------------------------------------------------

Health assess(const std::filesystem::path& home, const std::string& name) {
    Health h;
    std::error_code ec;
    try {
        h.info = shmregion::inspect(home, name);
    } catch (const shmregion::Error& e) {
        if (e.code() == shmregion::errc::segment_missing) {
            h.state = "orphan";
        } else if (e.code() == shmregion::errc::segment_foreign) {
            h.state = "foreign";  // may exist where it was made: never an orphan from here
        } else {
            h.state = "corrupt";
        }
        h.reason = e.detail();
        return h;
    }
    const auto& i = *h.info;
    if (!i.valid) {
        h.state = "incomplete";
        h.reason = "the creator never finished initialising (valid word not set)";
    } else if (!i.attachers.empty() && i.live_attachers() == 0) {
        h.state = "stale";
        h.reason = "attached only by dead processes";
    } else if (i.lock_state == shmregion::LockState::owner_dead) {
        h.state = "stale";
        h.reason = "the lock holder died; the next locker repairs the header";
    } else {
        h.state = "ok";
    }
    return h;
}

shmregion::io::EngineKind engine_option(const Args& a) {
    auto e = shmregion::io::EngineKind::automatic;
    if (auto v = a.value("engine"); v && !shmregion::io::parse_engine(*v, e))
        throw UsageError{"bad --engine '" + *v + "' (use uring, libaio, posix, sync or auto)"};
    return e;
}

shmregion::Options join_options(const Args& a) {
    shmregion::Options o;
    o.home = a.positional[0];
    o.name = a.positional[1];
    o.backing = shmregion::Backing::any;
    o.mode = shmregion::OpenMode::join_only;
    o.io_engine = engine_option(a);
    return o;
}

void draw_bar(std::uint64_t done, std::uint64_t total) {
    constexpr int width = 30;
    const int filled = total ? static_cast<int>(std::min(done, total) * width / total) : width;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(width - filled), '.');
    std::fprintf(stderr, "\r[%s] %3d%%  %s/%s", bar.c_str(), total ? static_cast<int>(std::min(done, total) * 100 / total) : 100,
                 human_size(done).c_str(), human_size(total).c_str());
    std::fflush(stderr);
}

bool want_progress(std::uint64_t bytes) { return bytes >= (256ull << 20) && ::isatty(STDERR_FILENO); }

void grow_with_progress(shmregion::Region& r, std::uint64_t target) {
    const std::uint64_t from = r.size();
    if (target <= from || !want_progress(target - from)) {
        r.grow(target);
        return;
    }
    constexpr std::uint64_t step = 64ull << 20;
    for (std::uint64_t next = from; next < target;) {
        next = std::min(target, next + step);
        r.grow(next);
        draw_bar(r.size() - from, target - from);
    }
    std::fputc('\n', stderr);
}

}  // namespace regiontool
