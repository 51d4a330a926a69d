// Solver, baselines and metrics.
#include <cmath>

#include "capi/guard.hpp"
#include "capi/handles.hpp"
#include "core/checks.hpp"
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

// Sparsity and n:m of baseline options (the baselines neither quantize nor use a scope).
PruneOptions baseline_options(const surgeon_prune_options* opts) {
    if (!opts) return surgeon_prune_options{}.opt;
    require_arg(!opts->quantizer, "the baselines do not quantize: the options have a quantizer");
    return opts->opt;
}

// Baselines modify the caller's buffer only on success: they run on a packed copy.
template <typename Body>
void on_copy(MatView w, Body&& body) {
    Matrix copy = copy_in(w.data, w.rows, w.cols, w.ld);
    body(copy.view());
    copy_out(copy, w.data, w.ld);
}

}  // namespace

extern "C" {

SURGEON_DEFAULT_HANDLE(surgeon_solver_options)


surgeon_status surgeon_solver_options_set_damping(surgeon_solver_options* opts, double percdamp) {
    SURGEON_GUARD({
        require_finite_at_least(percdamp, 0.0, "percdamp");
        deref(opts, "opts").percdamp = percdamp;
    });
}

surgeon_status surgeon_solver_options_set_block_size(surgeon_solver_options* opts, int64_t block_size) {
    SURGEON_GUARD({
        require_at_least(block_size, 1, "block_size");
        deref(opts, "opts").block_size = block_size;
    });
}

surgeon_status surgeon_solver_options_get_damping(const surgeon_solver_options* opts, double* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_solver_options& o) { return o.percdamp; }); });
}

surgeon_status surgeon_solver_options_get_block_size(const surgeon_solver_options* opts, int64_t* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_solver_options& o) { return o.block_size; }); });
}

surgeon_status surgeon_solver_new(surgeon_solver** out, const surgeon_context* ctx,
                                  const surgeon_hessian* h, const surgeon_solver_options* opts) {
    SURGEON_GUARD({
        require_out(out);
        const Hessian& acc = *deref(h, "h").impl;
        const surgeon_solver_options o = opts ? *opts : surgeon_solver_options{};
        auto s = std::make_unique<surgeon_solver>();
        s->ctx = context_of(ctx);
        s->impl = std::make_unique<Solver>(s->ctx, acc, o.percdamp, o.block_size);
        *out = s.release();
    });
}

void surgeon_solver_free(surgeon_solver* s) { release(s); }

surgeon_status surgeon_solver_factorize(surgeon_solver* s) {
    SURGEON_GUARD({ deref(s, "s").impl->factorize(); });
}

surgeon_status surgeon_solver_damping(surgeon_solver* s, double* out) {
    SURGEON_GUARD({ get_into(s, "s", out, [](const surgeon_solver& h) { return h.impl->damping(); }); });
}

SURGEON_DEFAULT_HANDLE(surgeon_prune_options)


surgeon_status surgeon_prune_options_set_sparsity(surgeon_prune_options* opts, double sparsity) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts");
        require_arg(sparsity >= 0.0 && sparsity < 1.0, "sparsity must be in [0, 1), got " + std::to_string(sparsity));
        o.opt.sparsity = sparsity;
    });
}

surgeon_status surgeon_prune_options_set_nm(surgeon_prune_options* opts, int n, int m) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts");
        if (n != 0 || m != 0) validate_nm(n, m);
        o.opt.n = n;
        o.opt.m = m;
    });
}

surgeon_status surgeon_prune_options_set_mask_scope(surgeon_prune_options* opts, surgeon_mask_scope scope) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts");
        o.opt.scope = mask_scope_arg(scope);
    });
}

surgeon_status surgeon_prune_options_set_quantizer(surgeon_prune_options* opts, const surgeon_quantizer* q) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts");
        if (q)
            o.quantizer = *q;
        else
            o.quantizer.reset();
    });
}

surgeon_status surgeon_prune_options_get_sparsity(const surgeon_prune_options* opts, double* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_prune_options& o) { return o.opt.sparsity; }); });
}

surgeon_status surgeon_prune_options_get_nm(const surgeon_prune_options* opts, int* n, int* m) {
    SURGEON_GUARD({
        const auto& o = deref(opts, "opts");
        require_not_null(n, "n");
        require_not_null(m, "m");
        *n = o.opt.n;
        *m = o.opt.m;
    });
}

SURGEON_DEFAULT_HANDLE(surgeon_prune_result)


surgeon_status surgeon_prune_result_loss(const surgeon_prune_result* r, double* out) {
    SURGEON_GUARD({ get_into(r, "r", out, [](const surgeon_prune_result& res) { return res.loss; }); });
}

surgeon_status surgeon_prune_result_mask(const surgeon_prune_result* r, surgeon_mask** out) {
    SURGEON_GUARD({
        const auto& res = deref(r, "r");
        require_out(out);
        auto m = std::make_unique<surgeon_mask>();
        m->m = res.mask;
        *out = m.release();
    });
}

surgeon_status surgeon_prune_result_qresult(const surgeon_prune_result* r, surgeon_qresult** out) {
    SURGEON_GUARD({
        const auto& res = deref(r, "r");
        require_out(out);
        std::unique_ptr<surgeon_qresult> q;
        if (res.quant) {
            q = std::make_unique<surgeon_qresult>();
            q->r = *res.quant;
        }
        *out = q.release();
    });
}

surgeon_status surgeon_solver_prune(surgeon_solver* s, float* w, int64_t rows, int64_t cols, int64_t ld,
                                    const surgeon_prune_options* opts, surgeon_prune_result* result) {
    SURGEON_GUARD({
        Solver& solver = *deref(s, "s").impl;
        const surgeon_prune_options defaults;
        const surgeon_prune_options& o = opts ? *opts : defaults;
        const MatView view = weight_view(w, rows, cols, ld);
        const QuantConfig* quant = o.quantizer ? &o.quantizer->cfg : nullptr;
        const std::vector<int>* row_bits = o.quantizer ? row_bits_for(*o.quantizer, rows) : nullptr;
        surgeon_prune_result filled;
        if (quant) filled.quant.emplace();
        solver.prune(view, o.opt, quant, result ? &filled.mask : nullptr,
                     result && quant ? &*filled.quant : nullptr, result ? &filled.loss : nullptr, row_bits);
        if (result) *result = std::move(filled);
    });
}

surgeon_status surgeon_solver_quantize(surgeon_solver* s, float* w, int64_t rows, int64_t cols,
                                       int64_t ld, const surgeon_quantizer* q,
                                       surgeon_qresult* qresult_out, double* loss_out) {
    SURGEON_GUARD({
        Solver& solver = *deref(s, "s").impl;
        const surgeon_quantizer& quantizer = deref(q, "q");
        solver.quantize(weight_view(w, rows, cols, ld), quantizer.cfg, qresult_out ? &qresult_out->r : nullptr,
                        loss_out, row_bits_for(quantizer, rows));
    });
}

surgeon_status surgeon_prune_magnitude(const surgeon_context* ctx, float* w, int64_t rows,
                                       int64_t cols, int64_t ld, const surgeon_prune_options* opts,
                                       surgeon_mask* mask_out) {
    SURGEON_GUARD({
        MatView view = weight_view(w, rows, cols, ld);
        const PruneOptions o = baseline_options(opts);
        ContextPtr c = context_of(ctx);
        Mask mask;
        on_copy(view, [&](MatView copy) { mask = prune_magnitude(*c, copy, o.sparsity, o.n, o.m); });
        if (mask_out) mask_out->m = std::move(mask);
    });
}

surgeon_status surgeon_prune_wanda(const surgeon_context* ctx, float* w, int64_t rows,
                                   int64_t cols, int64_t ld, const surgeon_hessian* h,
                                   const surgeon_prune_options* opts, surgeon_mask* mask_out) {
    SURGEON_GUARD({
        MatView view = weight_view(w, rows, cols, ld);
        const Hessian& acc = *deref(h, "h").impl;
        require_shape(acc.cols() == cols, "weight has " + std::to_string(cols) +
                                              " columns, the Hessian " + std::to_string(acc.cols()));
        const PruneOptions o = baseline_options(opts);
        // ‖x_j‖₂ = sqrt(n · H_jj / 2); the constant factor does not change a row's ranking.
        std::vector<float> norms = acc.diagonal();
        for (float& v : norms) v = std::sqrt(v);
        ContextPtr c = context_of(ctx);
        Mask mask;
        on_copy(view, [&](MatView copy) { mask = prune_wanda(*c, copy, norms, o.sparsity, o.n, o.m); });
        if (mask_out) mask_out->m = std::move(mask);
    });
}

surgeon_status surgeon_quantize_rtn(const surgeon_context* ctx, float* w, int64_t rows,
                                    int64_t cols, int64_t ld, const surgeon_quantizer* q,
                                    surgeon_qresult* qresult_out) {
    SURGEON_GUARD({
        MatView view = weight_view(w, rows, cols, ld);
        const surgeon_quantizer& quantizer = deref(q, "q");
        const std::vector<int>* row_bits = row_bits_for(quantizer, rows);
        ContextPtr c = context_of(ctx);
        QuantResult res;
        on_copy(view, [&](MatView copy) { quantize_rtn(*c, copy, quantizer.cfg, &res, row_bits); });
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
