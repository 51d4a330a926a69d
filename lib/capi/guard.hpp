// The C boundary: every exported function runs its body through guard(), which turns any
// exception into a status code and a thread-local message prefixed by the function name.
#pragma once

#include <cstring>
#include <new>
#include <string>
#include <type_traits>

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

// A C enum argument as the int the caller passed. C lets any int through, but in C++ reading
// an enum object whose value is outside its enumerators' range is undefined (UBSan aborts),
// so the argument's bytes are copied instead; callers check the int before converting.
template <typename E>
int enum_value(const E& arg) noexcept {
    static_assert(std::is_enum_v<E> && sizeof(E) == sizeof(int), "C enums are int-sized");
    int raw;
    std::memcpy(&raw, &arg, sizeof raw);
    return raw;
}

inline surgeon_mask_scope mask_scope_arg(const surgeon_mask_scope& scope) {
    const int raw = enum_value(scope);
    require_arg(raw == SURGEON_MASK_SCOPE_BLOCK || raw == SURGEON_MASK_SCOPE_ROW,
                "unknown mask scope " + std::to_string(raw));
    return static_cast<surgeon_mask_scope>(raw);
}

}  // namespace surgeon::capi

#define SURGEON_GUARD(...) return ::surgeon::capi::guard(__func__, [&]() __VA_ARGS__)
