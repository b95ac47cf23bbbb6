// regiontool doctor [HOME] [--json]: can regions work well on this machine? A preflight of
// what makes shared-memory regions fail later: space, System V limits, systemd's RemoveIPC,
// the I/O engines, robust mutexes, container /dev/shm limits, huge pages.
#include "cli.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace regiontool {
namespace {

struct Finding {
    std::string check;
    std::string status;  // ok, warn, fail, info
    std::string detail;
    std::string advice;  // empty when nothing to do
};

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    std::string t = s.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    return t;
}

std::uint64_t read_number(const std::string& path, bool& ok) {
    const std::string t = read_text(path);
    ok = !t.empty();
    try {
        return ok ? std::stoull(t) : 0;
    } catch (...) {
        ok = false;
        return 0;
    }
}

std::uint64_t free_bytes(const std::string& path, std::uint64_t* total = nullptr) {
    struct statvfs v {};
    if (::statvfs(path.c_str(), &v) != 0) return 0;
    if (total) *total = static_cast<std::uint64_t>(v.f_blocks) * v.f_frsize;
    return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

/// The value [bracketed] in a sysfs choice list such as "always [madvise] never".
std::string chosen(const std::string& list) {
    const auto a = list.find('['), b = list.find(']');
    return a != std::string::npos && b != std::string::npos && b > a ? list.substr(a + 1, b - a - 1) : list;
}

/// A robust mutex in shared memory, locked by a child that then dies: the parent must get
/// EOWNERDEAD. The real thing the library relies on.
std::string robust_mutex_check() {
    void* p = ::mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
    auto* m = static_cast<pthread_mutex_t*>(p);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    std::string result;
    if (rc != 0) {
        result = std::string("pthread_mutex_init(robust, process-shared): ") + std::strerror(rc);
    } else {
        const pid_t child = ::fork();
        if (child == 0) {
            pthread_mutex_lock(m);
            _exit(0);  // dies holding it
        }
        int status = 0;
        if (child < 0 || ::waitpid(child, &status, 0) != child) {
            result = "could not run the test child";
        } else {
            rc = pthread_mutex_lock(m);
            if (rc == EOWNERDEAD) {
                pthread_mutex_consistent(m);
                pthread_mutex_unlock(m);
            } else {
                result = std::string("a dead holder's lock gave ") + (rc == 0 ? "success" : std::strerror(rc)) +
                         ", not EOWNERDEAD";
                if (rc == 0) pthread_mutex_unlock(m);
            }
        }
        pthread_mutex_destroy(m);
    }
    ::munmap(p, sizeof(pthread_mutex_t));
    return result;
}

/// systemd-logind's RemoveIPC (default yes): the last value set in logind.conf or its
/// drop-ins; empty if none sets it.
std::string remove_ipc_setting() {
    std::string value;
    auto scan = [&](const std::string& path) {
        std::ifstream in(path);
        for (std::string line; std::getline(in, line);) {
            const auto start = line.find_first_not_of(" \t");
            if (start == std::string::npos || line[start] == '#' || line[start] == ';') continue;
            if (line.compare(start, 10, "RemoveIPC=") == 0) value = line.substr(start + 10);
        }
    };
    scan("/etc/systemd/logind.conf");
    std::error_code ec;
    for (const char* dir : {"/usr/lib/systemd/logind.conf.d", "/etc/systemd/logind.conf.d"})
        for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
            scan(it->path().string());
    return value;
}

std::vector<Finding> examine(const std::filesystem::path& home) {
    std::vector<Finding> out;
    // Space against the ceilings of the regions in home.
    std::uint64_t shm_need = 0, file_need = 0, sysv_need = 0;
    std::size_t regions = 0;
    std::error_code ec;
    for (const auto& name : shmregion::list(home, ec)) {
        shmregion::RegionInfo i = shmregion::inspect(home, name, ec);
        if (ec) continue;
        ++regions;
        const std::uint64_t more = i.max_region_size - i.region_size;
        if (i.backing == shmregion::Backing::posix) shm_need += more;
        else if (i.backing == shmregion::Backing::file) file_need += more;
        else if (i.backing == shmregion::Backing::sysv) sysv_need += i.region_size;
    }
    std::uint64_t shm_total = 0;
    const std::uint64_t shm_free = free_bytes("/dev/shm", &shm_total);
    out.push_back({"/dev/shm space", shm_free >= shm_need ? "ok" : "warn",
                   human_size(shm_free) + " free of " + human_size(shm_total) + "; the POSIX regions in " +
                       home.string() + " may grow by " + human_size(shm_need),
                   shm_free >= shm_need ? "" : "growth will fail with ENOSPC: enlarge /dev/shm (mount -o remount,size=...)"});
    if (shm_total > 0 && shm_total < (256ull << 20))
        out.push_back({"container /dev/shm", "warn", "/dev/shm is only " + human_size(shm_total),
                       "containers often get 64M: start with --shm-size=1g (Docker) or a larger emptyDir (Kubernetes)"});
    const std::uint64_t home_free = free_bytes(home.string());
    out.push_back({"home space", home_free >= file_need ? "ok" : "warn",
                   human_size(home_free) + " free in " + home.string() + "; its file regions may grow by " +
                       human_size(file_need) + " (" + std::to_string(regions) + " regions)",
                   home_free >= file_need ? "" : "growth of file regions will fail with ENOSPC: free space in home"});
    // System V limits.
    bool ok_max = false, ok_all = false, ok_mni = false;
    const std::uint64_t shmmax = read_number("/proc/sys/kernel/shmmax", ok_max);
    const std::uint64_t shmall = read_number("/proc/sys/kernel/shmall", ok_all);
    const std::uint64_t shmmni = read_number("/proc/sys/kernel/shmmni", ok_mni);
    std::size_t segments = 0;
    {
        std::ifstream in("/proc/sysvipc/shm");
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) ++segments;
    }
    if (ok_max && ok_all && ok_mni) {
        const bool low = shmmax < (1ull << 30) || segments + 16 > shmmni;
        out.push_back({"System V limits", low ? "warn" : "ok",
                       "shmmax " + human_size(shmmax) + ", shmall " + std::to_string(shmall) + " pages, shmmni " +
                           std::to_string(shmmni) + " (" + std::to_string(segments) + " segments in use); the sysv regions in home hold " +
                           human_size(sysv_need),
                       low ? "raise kernel.shmmax / kernel.shmmni (sysctl) or use the posix backing" : ""});
    } else {
        out.push_back({"System V limits", "info", "cannot read /proc/sys/kernel/shm*", ""});
    }
    // systemd-logind's RemoveIPC deletes the segments of a user's last logout.
    const std::string remove_ipc = remove_ipc_setting();
    const bool removes = remove_ipc.empty() || remove_ipc == "yes" || remove_ipc == "true" || remove_ipc == "1";
    const bool system_user = ::geteuid() < 1000;
    out.push_back({"systemd RemoveIPC", removes && !system_user ? "warn" : "ok",
                   "RemoveIPC=" + (remove_ipc.empty() ? std::string("yes (default)") : remove_ipc) + ", running as uid " +
                       std::to_string(::geteuid()) + (system_user ? " (a system user: exempt)" : ""),
                   removes && !system_user
                       ? "logind removes this user's POSIX and System V segments at its last logout: run as a system user, "
                         "or set RemoveIPC=no in /etc/systemd/logind.conf"
                       : ""});
    // I/O engines, as the library probes them.
    for (const auto& p : shmregion::io::probe())
        out.push_back({"I/O engine " + std::string(shmregion::io::to_string(p.kind)),
                       p.works ? "ok" : (p.kind == shmregion::io::EngineKind::sync ? "fail" : "info"), p.detail,
                       p.works || !p.built ? "" : "the next engine is used instead (see 'chosen engine')"});
    std::error_code cec;
    const auto choice = shmregion::io::choose(shmregion::io::EngineKind::automatic, cec);
    out.push_back({"chosen engine", cec ? "fail" : "ok",
                   cec ? shmregion::last_error_message() : std::string(shmregion::io::to_string(choice.engine)) + ": " + choice.reason,
                   cec ? "check SHMREGION_IO_ENGINE" : ""});
    // Robust mutexes: what survives a lock holder's kill -9.
    const std::string robust = robust_mutex_check();
    out.push_back({"robust mutexes", robust.empty() ? "ok" : "fail",
                   robust.empty() ? "a process-shared robust mutex reports a dead holder (EOWNERDEAD)" : robust,
                   robust.empty() ? "" : "regions cannot recover from a lock holder's crash on this system"});
    // Huge pages.
    const std::string thp = chosen(read_text("/sys/kernel/mm/transparent_hugepage/enabled"));
    const std::string thp_shmem = chosen(read_text("/sys/kernel/mm/transparent_hugepage/shmem_enabled"));
    out.push_back({"transparent huge pages", "info",
                   "anonymous: " + (thp.empty() ? "unknown" : thp) + ", shmem (/dev/shm): " +
                       (thp_shmem.empty() ? "unknown" : thp_shmem),
                   thp_shmem == "never" || thp_shmem == "deny"
                       ? "large POSIX regions use 4 KiB pages (more TLB misses); 'advise' or 'within_size' in "
                         "shmem_enabled lets them use huge pages"
                       : ""});
    std::string huge_total, huge_size;
    {
        std::ifstream in("/proc/meminfo");
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("HugePages_Total:", 0) == 0) huge_total = line.substr(16);
            if (line.rfind("Hugepagesize:", 0) == 0) huge_size = line.substr(13);
        }
    }
    auto trim = [](std::string s) {
        s.erase(0, s.find_first_not_of(" \t"));
        return s;
    };
    out.push_back({"explicit huge pages", "info",
                   "HugePages_Total " + trim(huge_total) + ", size " + trim(huge_size),
                   trim(huge_total) == "0" ? "none reserved (vm.nr_hugepages); regions use normal pages" : ""});
    return out;
}

}  // namespace

Command doctor_command() {
    Command c{"doctor", "doctor [HOME] [--json]", "check what regions need from this machine",
              "Checks what makes regions fail or slow down later, each with a one-line advice:\n"
              "free space in /dev/shm and in HOME (default: the current directory) against the\n"
              "growth ceilings of its regions, container /dev/shm limits, System V limits\n"
              "(shmmax, shmall, shmmni), systemd-logind's RemoveIPC (which deletes a user's\n"
              "segments at logout), which I/O engines work here and the one chosen, whether\n"
              "robust mutexes report a dead holder, transparent and explicit huge pages.\n"
              "Changes nothing. Exit 1 if a check failed (warnings do not).\n",
              Spec{{}, {"json"}, 0, 1}, nullptr};
    c.run = [](const Args& a) {
        const std::filesystem::path home = a.positional.empty() ? std::string(".") : a.positional[0];
        const auto findings = examine(home);
        bool failed = false;
        Json j;
        j.begin_object().key("home").value(home.string()).key("findings").begin_array();
        Table t({"CHECK", "STATUS", "DETAIL"});
        std::string advice;
        for (const auto& f : findings) {
            failed = failed || f.status == "fail";
            j.begin_object().key("check").value(f.check).key("status").value(f.status).key("detail").value(f.detail)
                .key("advice").value(f.advice).end_object();
            t.row({f.check, f.status, f.detail});
            if (!f.advice.empty()) advice += "  " + f.check + ": " + f.advice + "\n";
        }
        j.end_array().key("healthy").value(!failed).end_object();
        if (a.flag("json")) {
            std::cout << j.str() << "\n";
        } else {
            std::cout << t.str();
            if (!advice.empty()) std::cout << "\nadvice:\n" << advice;
        }
        return failed ? kUnhealthy : kOk;
    };
    return c;
}

}  // namespace regiontool
