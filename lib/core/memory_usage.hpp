// The process's memory as the kernel counts it, for reports and progress lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace surgeon {

// Peak resident set size of the process so far (getrusage's ru_maxrss), in bytes.
uint64_t peak_rss_bytes();
// Resident set size now (/proc/self/statm), in bytes; 0 where it cannot be read.
uint64_t current_rss_bytes();
// Address space the process may still map under its RLIMIT_AS (`ulimit -v`): the soft
// limit minus the current virtual size (/proc/self/statm). nullopt when there is no limit
// (or it cannot be read); 0 when the process is already at or over it.
std::optional<uint64_t> address_space_left();
// "1.23 GB", "456 MB", "789 kB", "12 B" (decimal units).
std::string format_bytes(uint64_t bytes);

}  // namespace surgeon
