// Solver, baselines and metrics.
#include <cmath>

#include "capi/guard.hpp"
#include "capi/handles.hpp"
#include "core/backend.hpp"
#include "layer/prune/baselines.hpp"
#include "layer/quant/rtn.hpp"
#include "layer/solver/metrics.hpp"

using namespace surgeon;
using namespace surgeon::capi;

namespace {

MatView weight_view(float* w, int64_t rows, int64_t cols, int64_t ld) {
    require_not_null(w, "w");
    return {w, rows, cols, resolve_ld(rows, cols, ld, "w")};
}

const QuantConfig* config_of(const surgeon_quantizer* q) { return q ? &q->cfg : nullptr; }

// Baselines modify the caller's buffer only on success: they run on a packed copy.
template <typename Body>
void on_copy(MatView w, Body&& body) {
    Matrix copy = copy_in(w.data, w.rows, w.cols, w.ld);
    body(copy.view());
    copy_out(copy, w.data, w.ld);
}

}  // namespace

extern "C" {

surgeon_status surgeon_solver_new(surgeon_solver** out, const surgeon_context* ctx,
                                  const surgeon_hessian* h, double percdamp, int64_t block_size) {
    SURGEON_GUARD({
        require_out(out);
        const Hessian& acc = *deref(h, "h").impl;
        auto s = std::make_unique<surgeon_solver>();
        s->impl = std::make_unique<Solver>(context_of(ctx), acc, percdamp, block_size);
        *out = s.release();
    });
}

void surgeon_solver_free(surgeon_solver* s) { release(s); }

surgeon_status surgeon_solver_factorize(surgeon_solver* s) {
    SURGEON_GUARD({ deref(s, "s").impl->factorize(); });
}

surgeon_status surgeon_solver_damping(surgeon_solver* s, double* out) {
    SURGEON_GUARD({
        Solver& solver = *deref(s, "s").impl;
        require_not_null(out, "out");
        *out = solver.damping();
    });
}

surgeon_status surgeon_solver_prune(surgeon_solver* s, float* w, int64_t rows, int64_t cols,
                                    int64_t ld, double sparsity, int n, int m,
                                    surgeon_mask_scope scope, const surgeon_quantizer* quantizer,
                                    surgeon_mask* mask_out, surgeon_qresult* qresult_out,
                                    double* loss_out) {
    SURGEON_GUARD({
        Solver& solver = *deref(s, "s").impl;
        PruneOptions opt;
        opt.sparsity = sparsity;
        opt.n = n;
        opt.m = m;
        opt.scope = mask_scope_arg(scope);
        solver.prune(weight_view(w, rows, cols, ld), opt, config_of(quantizer),
                     mask_out ? &mask_out->m : nullptr, qresult_out ? &qresult_out->r : nullptr,
                     loss_out);
    });
}

surgeon_status surgeon_solver_quantize(surgeon_solver* s, float* w, int64_t rows, int64_t cols,
                                       int64_t ld, const surgeon_quantizer* quantizer,
                                       surgeon_qresult* qresult_out, double* loss_out) {
    SURGEON_GUARD({
        Solver& solver = *deref(s, "s").impl;
        const QuantConfig& cfg = deref(quantizer, "quantizer").cfg;
        solver.quantize(weight_view(w, rows, cols, ld), cfg,
                        qresult_out ? &qresult_out->r : nullptr, loss_out);
    });
}

surgeon_status surgeon_prune_magnitude(const surgeon_context* ctx, float* w, int64_t rows,
                                       int64_t cols, int64_t ld, double sparsity, int n, int m,
                                       surgeon_mask* mask_out) {
    SURGEON_GUARD({
        MatView view = weight_view(w, rows, cols, ld);
        ContextPtr c = context_of(ctx);
        Mask mask;
        on_copy(view, [&](MatView copy) { mask = prune_magnitude(*c, copy, sparsity, n, m); });
        if (mask_out) mask_out->m = std::move(mask);
    });
}

surgeon_status surgeon_prune_wanda(const surgeon_context* ctx, float* w, int64_t rows,
                                   int64_t cols, int64_t ld, const surgeon_hessian* h,
                                   double sparsity, int n, int m, surgeon_mask* mask_out) {
    SURGEON_GUARD({
        MatView view = weight_view(w, rows, cols, ld);
        const Hessian& acc = *deref(h, "h").impl;
        require_shape(acc.cols() == cols, "weight has " + std::to_string(cols) +
                                              " columns, the Hessian " + std::to_string(acc.cols()));
        // ‖x_j‖₂ = sqrt(n · H_jj / 2); the constant factor does not change a row's ranking.
        std::vector<float> norms = acc.diagonal();
        for (float& v : norms) v = std::sqrt(v);
        ContextPtr c = context_of(ctx);
        Mask mask;
        on_copy(view, [&](MatView copy) { mask = prune_wanda(*c, copy, norms, sparsity, n, m); });
        if (mask_out) mask_out->m = std::move(mask);
    });
}

surgeon_status surgeon_quantize_rtn(const surgeon_context* ctx, float* w, int64_t rows,
                                    int64_t cols, int64_t ld, const surgeon_quantizer* quantizer,
                                    surgeon_qresult* qresult_out) {
    SURGEON_GUARD({
        MatView view = weight_view(w, rows, cols, ld);
        const QuantConfig& cfg = deref(quantizer, "quantizer").cfg;
        ContextPtr c = context_of(ctx);
        QuantResult res;
        on_copy(view, [&](MatView copy) { quantize_rtn(*c, copy, cfg, &res); });
        if (qresult_out) qresult_out->r = std::move(res);
    });
}

surgeon_status surgeon_reconstruction_error(const surgeon_hessian* h, const float* w,
                                            const float* w_hat, int64_t rows, int64_t cols,
                                            int64_t ld, double* out) {
    SURGEON_GUARD({
        const Hessian& acc = *deref(h, "h").impl;
        require_not_null(w, "w");
        require_not_null(w_hat, "w_hat");
        require_not_null(out, "out");
        const int64_t l = resolve_ld(rows, cols, ld, "w");
        *out = relative_reconstruction_error(backend_for(*acc.context()), acc.matrix(),
                                             {w, rows, cols, l}, {w_hat, rows, cols, l});
    });
}

}  // extern "C"
