#include "core/memory_usage.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

namespace surgeon {

uint64_t peak_rss_bytes() {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

uint64_t current_rss_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, resident = 0;
    const int got = std::fscanf(f, "%llu %llu", &size, &resident);
    std::fclose(f);
    if (got != 2) return 0;
    return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::optional<uint64_t> address_space_left() {
    rlimit limit{};
    if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return std::nullopt;
    unsigned long long pages = 0;
    const int got = std::fscanf(f, "%llu", &pages);
    std::fclose(f);
    if (got != 1) return std::nullopt;
    const uint64_t used = static_cast<uint64_t>(pages) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const auto cap = static_cast<uint64_t>(limit.rlim_cur);
    return cap > used ? cap - used : 0;
}

std::string format_bytes(uint64_t bytes) {
    char text[32];
    const auto b = static_cast<double>(bytes);
    if (b >= 1e9) std::snprintf(text, sizeof text, "%.2f GB", b / 1e9);
    else if (b >= 1e6) std::snprintf(text, sizeof text, "%.0f MB", b / 1e6);
    else if (b >= 1e3) std::snprintf(text, sizeof text, "%.0f kB", b / 1e3);
    else std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    return text;
}

}  // namespace surgeon
