// The C API's convention for variable-length outputs (surgeon.h): (T* buf, size_t cap,
// size_t* needed). *needed always receives the full size; buf NULL with cap 0 is a size
// query; a buffer shorter than the output is SURGEON_ERR_BUFFER_TOO_SMALL and stays
// untouched.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "core/checks.hpp"
#include "core/error.hpp"

namespace surgeon::capi {

// Checks the arguments, sets *needed = size and returns whether buf is to be written.
inline bool buffer_fits(const void* buf, size_t cap, size_t* needed, size_t size) {
    require_not_null(needed, "needed");
    require_arg(buf != nullptr || cap == 0, "buf is NULL with cap " + std::to_string(cap));
    *needed = size;
    if (!buf) return false;
    require(cap >= size, SURGEON_ERR_BUFFER_TOO_SMALL,
            "buffer of " + std::to_string(cap) + " for " + std::to_string(size) + " needed");
    return true;
}

template <typename T, typename U>
void write_array(const std::vector<U>& values, T* buf, size_t cap, size_t* needed) {
    if (buffer_fits(buf, cap, needed, values.size())) std::copy(values.begin(), values.end(), buf);
}

// Text with its terminating NUL.
inline void write_text(const std::string& text, char* buf, size_t cap, size_t* needed) {
    if (buffer_fits(buf, cap, needed, text.size() + 1)) std::copy(text.c_str(), text.c_str() + text.size() + 1, buf);
}

}  // namespace surgeon::capi
