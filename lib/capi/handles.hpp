// Definitions of the opaque C handles: thin owners of the C++ objects.
#pragma once

#include <memory>

#include "core/context.hpp"
#include "core/checks.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/prune/mask.hpp"
#include "layer/quant/quantizer.hpp"
#include "layer/solver/solver.hpp"

struct surgeon_context {
    std::shared_ptr<surgeon::Context> impl = std::make_shared<surgeon::Context>();
};
struct surgeon_hessian {
    std::unique_ptr<surgeon::Hessian> impl;
};
struct surgeon_quantizer {
    surgeon::QuantConfig cfg;
};
struct surgeon_qresult {
    surgeon::QuantResult r;
};
struct surgeon_mask {
    surgeon::Mask m;
};
struct surgeon_solver {
    std::unique_ptr<surgeon::Solver> impl;
};

namespace surgeon::capi {

inline ContextPtr context_of(const surgeon_context* ctx) {
    return ctx ? ContextPtr(ctx->impl) : default_context();
}

template <typename T>
T& deref(T* handle, const char* what) {
    require_not_null(handle, what);
    return *handle;
}

template <typename T>
void require_out(T** out) {
    require_not_null(out, "out");
}

}  // namespace surgeon::capi
