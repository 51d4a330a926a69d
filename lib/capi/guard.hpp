// The C boundary: every exported function runs its body through guard(), which turns any
// exception into a status code and a thread-local message prefixed by the function name.
#pragma once

#include <new>
#include <string>

#include "core/error.hpp"
#include "surgeon/surgeon.h"

namespace surgeon::capi {

surgeon_status set_error(surgeon_status status, const char* function, const char* message) noexcept;

template <typename Body>
surgeon_status guard(const char* function, Body&& body) noexcept {
    try {
        body();
        return SURGEON_OK;
    } catch (const Error& e) {
        return set_error(e.status(), function, e.what());
    } catch (const std::bad_alloc&) {
        return set_error(SURGEON_ERR_OUT_OF_MEMORY, function, "out of memory");
    } catch (const std::exception& e) {
        return set_error(SURGEON_ERR_INTERNAL, function, e.what());
    } catch (...) {
        return set_error(SURGEON_ERR_INTERNAL, function, "unknown exception");
    }
}

// Releases never fail: destructors of handles must not throw, but guard anyway.
template <typename T>
void release(T* handle) noexcept {
    try {
        delete handle;
    } catch (...) {
    }
}

}  // namespace surgeon::capi

#define SURGEON_GUARD(...) return ::surgeon::capi::guard(__func__, [&]() __VA_ARGS__)
