// Internal error type: thrown inside the library, turned into a surgeon_status at the C
// boundary (lib/capi/guard.hpp). Messages name the bad value; the C layer prefixes the
// function name.
#pragma once

#include <stdexcept>
#include <string>

#include "surgeon/surgeon.h"

namespace surgeon {

class Error : public std::runtime_error {
public:
    Error(surgeon_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    surgeon_status status() const noexcept { return status_; }

private:
    surgeon_status status_;
};

[[noreturn]] inline void fail(surgeon_status status, const std::string& message) {
    throw Error(status, message);
}

inline void require(bool ok, surgeon_status status, const std::string& message) {
    if (!ok) fail(status, message);
}

inline void require_arg(bool ok, const std::string& message) {
    require(ok, SURGEON_ERR_INVALID_ARGUMENT, message);
}

inline void require_shape(bool ok, const std::string& message) {
    require(ok, SURGEON_ERR_SHAPE, message);
}

}  // namespace surgeon
