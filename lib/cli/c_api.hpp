// The public C API as the CLI calls it: owning handles (std::unique_ptr releasing with the
// matching surgeon_*_free) and one check that turns a failing status into a surgeon::Error
// with the message of surgeon_last_error(), which main() reports as
// "surgeon <command>: error: <message>" with exit code 1.
#pragma once

#include <memory>
#include <utility>

#include "core/error.hpp"
#include "surgeon/surgeon.h"

namespace surgeon::cli {

struct FreeHandle {
    void operator()(surgeon_context* p) const noexcept { surgeon_context_free(p); }
    void operator()(surgeon_hessian* p) const noexcept { surgeon_hessian_free(p); }
    void operator()(surgeon_quantizer* p) const noexcept { surgeon_quantizer_free(p); }
    void operator()(surgeon_qresult* p) const noexcept { surgeon_qresult_free(p); }
    void operator()(surgeon_mask* p) const noexcept { surgeon_mask_free(p); }
    void operator()(surgeon_solver_options* p) const noexcept { surgeon_solver_options_free(p); }
    void operator()(surgeon_solver* p) const noexcept { surgeon_solver_free(p); }
    void operator()(surgeon_prune_options* p) const noexcept { surgeon_prune_options_free(p); }
    void operator()(surgeon_prune_result* p) const noexcept { surgeon_prune_result_free(p); }
};

template <typename T>
using Handle = std::unique_ptr<T, FreeHandle>;

inline void check_status(surgeon_status status) {
    if (status != SURGEON_OK) throw Error(status, surgeon_last_error());
}

// make(&out, args...) through check_status; the new handle is owned by the result.
template <typename T, typename... Params, typename... Args>
Handle<T> create(surgeon_status (*make)(T**, Params...), Args&&... args) {
    T* raw = nullptr;
    check_status(make(&raw, std::forward<Args>(args)...));
    return Handle<T>(raw);
}

}  // namespace surgeon::cli
