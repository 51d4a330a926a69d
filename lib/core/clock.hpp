// Seconds for reports and progress, on the steady clock (intervals never go backwards).
#pragma once

#include <chrono>

namespace surgeon {

// Seconds elapsed since t0, a std::chrono::steady_clock::now() taken earlier.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace surgeon
