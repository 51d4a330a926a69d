// Shared by the surgeon-bench programs: a wall clock and the exit on a failed C call.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "surgeon/surgeon.h"

namespace bench {

// Seconds on a steady clock (differences only).
inline double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Exits with `program`'s name and the library's message when a C call failed.
inline void check(surgeon_status s, const char* program) {
    if (s != SURGEON_OK) {
        std::fprintf(stderr, "%s: %s\n", program, surgeon_last_error());
        std::exit(1);
    }
}

}  // namespace bench
