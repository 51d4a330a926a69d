// Definitions of the opaque C handles: thin owners of the C++ objects.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <optional>
#include <vector>

#include "capi/guard.hpp"
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
    std::vector<int> row_bits;  // empty: every row at cfg.bits
};
struct surgeon_qresult {
    surgeon::QuantResult r;
};
struct surgeon_mask {
    surgeon::Mask m;
};
struct surgeon_solver {
    std::unique_ptr<surgeon::Solver> impl;
    surgeon::ContextPtr ctx;  // the settings it was created with (the solver's own work)
};
struct surgeon_solver_options {
    double percdamp = 0.01;
    int64_t block_size = 128;
};
struct surgeon_generate_options {
    int64_t steps = 256;
    double temperature = 0.0;
    uint64_t seed = 42;
};
struct surgeon_prune_options {
    surgeon::PruneOptions opt{0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK};
    std::optional<surgeon_quantizer> quantizer;
};
struct surgeon_prune_result {
    double loss = 0.0;
    surgeon::Mask mask;
    std::optional<surgeon::QuantResult> quant;
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

// surgeon_X_new of a handle that starts from its defaults.
template <typename T>
surgeon_status new_handle(const char* function, T** out) noexcept {
    return guard(function, [&] {
        require_out(out);
        *out = new T();
    });
}

// Defines surgeon_X_new (a handle at its defaults) and surgeon_X_free for handle type X.
#define SURGEON_DEFAULT_HANDLE(X)                                                              \
    surgeon_status X##_new(X** out) { return ::surgeon::capi::new_handle(#X "_new", out); } \
    void X##_free(X* handle) { ::surgeon::capi::release(handle); }

// A getter: *out = read(*handle).
template <typename H, typename T, typename Read>
void get_into(const H* handle, const char* what, T* out, Read read) {
    const H& h = deref(handle, what);
    require_not_null(out, "out");
    *out = read(h);
}

// The per-row widths of a quantizer for a weight of `rows` rows (nullptr: uniform width).
inline const std::vector<int>* row_bits_for(const surgeon_quantizer& q, int64_t rows) {
    if (q.row_bits.empty()) return nullptr;
    require_shape(static_cast<int64_t>(q.row_bits.size()) == rows,
                  "the quantizer has widths for " + std::to_string(q.row_bits.size()) +
                      " rows, the weight has " + std::to_string(rows));
    return &q.row_bits;
}

// Public structs carry their version first; an unknown one is refused.
template <typename S>
void require_version(const S* s, unsigned int expected, const char* what) {
    require_not_null(s, what);
    require_arg(s->version == expected, std::string(what) + "->version is " + std::to_string(s->version) +
                                            ", this library knows " + std::to_string(expected) +
                                            " (initialise it with its _INIT macro or _init function)");
}

// surgeon_X_init: every byte zero (padding included), then the version; the caller sets
// any non-zero default field by field.
template <typename S>
void init_struct(S* s, unsigned int version, unsigned int expected, const char* what) {
    require_not_null(s, what);
    require_arg(version == expected, std::string("unknown version ") + std::to_string(version) + " of " + what +
                                         " (this library knows " + std::to_string(expected) + ")");
    std::memset(static_cast<void*>(s), 0, sizeof(S));
    s->version = version;
}

}  // namespace surgeon::capi
