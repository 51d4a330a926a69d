// The process's memory as the kernel counts it, for reports and progress lines.
#pragma once

#include <cstdint>
#include <string>

namespace surgeon {

// Peak resident set size of the process so far (getrusage's ru_maxrss), in bytes.
uint64_t peak_rss_bytes();
// Resident set size now (/proc/self/statm), in bytes; 0 where it cannot be read.
uint64_t current_rss_bytes();
// "1.23 GB", "456 MB", "789 kB", "12 B" (decimal units).
std::string format_bytes(uint64_t bytes);

}  // namespace surgeon
