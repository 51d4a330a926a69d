#include "compress/layer_compress.hpp"

#include <algorithm>
#include <cmath>

#include "core/backend.hpp"
#include "nn/forward.hpp"
#include "layer/prune/baselines.hpp"
#include "layer/quant/mixed_error.hpp"
#include "layer/quant/rtn.hpp"
#include "layer/solver/metrics.hpp"

namespace surgeon::model {

void add_column_squares(const Matrix& d, std::vector<double>& sq) {
    sq.resize(std::max(sq.size(), static_cast<size_t>(d.cols)), 0.0);
    for (int64_t t = 0; t < d.rows; ++t)
        for (int64_t c = 0; c < d.cols; ++c) sq[c] += static_cast<double>(d(t, c)) * d(t, c);
}

namespace {

// Per-row output error (ΔW H ΔWᵀ)_ii, ΔW = w − w_hat, with one GEMM per chunk of rows.
std::vector<double> row_output_errors(Backend& backend, const Matrix& h, const Matrix& w,
                                      const Matrix& w_hat) {
    constexpr int64_t kChunk = 256;
    const int64_t n = w.cols;
    std::vector<double> err(static_cast<size_t>(w.rows), 0.0);
    Matrix d(std::min(w.rows, kChunk), n), dh(d.rows, n);
    for (int64_t r0 = 0; r0 < w.rows; r0 += kChunk) {
        const int64_t m = std::min(kChunk, w.rows - r0);
        for (int64_t r = 0; r < m; ++r)
            for (int64_t c = 0; c < n; ++c) d(r, c) = w(r0 + r, c) - w_hat(r0 + r, c);
        backend.gemm(m, n, n, 1.0f, d.data.data(), n, h.data.data(), n, 0.0f, dh.data.data(), n);
        for (int64_t r = 0; r < m; ++r) {
            double acc = 0.0;
            for (int64_t c = 0; c < n; ++c) acc += static_cast<double>(dh(r, c)) * d(r, c);
            err[static_cast<size_t>(r0 + r)] = acc;
        }
    }
    return err;
}

// Σ_i w_ij² per column j.
std::vector<double> column_norms2(const Matrix& w) {
    std::vector<double> n(static_cast<size_t>(w.cols), 0.0);
    for (int64_t i = 0; i < w.rows; ++i)
        for (int64_t j = 0; j < w.cols; ++j) n[j] += static_cast<double>(w(i, j)) * w(i, j);
    return n;
}

// How strongly an error in each output row of the layer moves the block output (up to a
// common factor, which the per-layer budget ignores); empty: all rows alike (wo, w2 feed
// the residual stream directly). q/k meet in q·k after RoPE rotates pairs (2i, 2i+1), so
// a q row's error counts E[k²] of its pair, averaged, of the kv head it reads (a k row:
// E[q²] summed over the q heads that read it); a v row counts ‖wo column‖² over those
// heads; gate/up rows count ‖w2 column‖² times the SwiGLU gain E[h²]/E[g²] or E[h²]/E[u²].
std::vector<double> row_sensitivity(Backend& backend, const LayerSite& site, const Matrix& hm) {
    const ModelConfig& c = *site.config;
    const LayerWeights& l = *site.layer;
    const int64_t hs = c.head_size(), group = c.n_heads / c.n_kv_heads;
    auto second_moment = [&](const Matrix& w) {  // E[(W x)_i²] = (W H Wᵀ)_ii
        return row_output_errors(backend, hm, w, Matrix(w.rows, w.cols));
    };
    auto pair_mean = [](std::vector<double> v) {
        for (size_t i = 0; i + 1 < v.size(); i += 2) v[i] = v[i + 1] = 0.5 * (v[i] + v[i + 1]);
        return v;
    };
    std::vector<double> s;
    if (site.linear == "wq") {
        const std::vector<double> ek = pair_mean(second_moment(l.wk));
        s.resize(static_cast<size_t>(c.q_dim()));
        for (int64_t h = 0; h < c.n_heads; ++h)
            for (int64_t d = 0; d < hs; ++d) s[h * hs + d] = ek[(h / group) * hs + d];
    } else if (site.linear == "wk") {
        const std::vector<double> eq = pair_mean(second_moment(l.wq));
        s.assign(static_cast<size_t>(c.kv_dim()), 0.0);
        for (int64_t h = 0; h < c.n_heads; ++h)
            for (int64_t d = 0; d < hs; ++d) s[(h / group) * hs + d] += eq[h * hs + d];
    } else if (site.linear == "wv") {
        const std::vector<double> wo = column_norms2(l.wo);
        s.assign(static_cast<size_t>(c.kv_dim()), 0.0);
        for (int64_t h = 0; h < c.n_heads; ++h)
            for (int64_t d = 0; d < hs; ++d) s[(h / group) * hs + d] += wo[h * hs + d];
    } else if ((site.linear == "w1" || site.linear == "w3") && site.down_sq) {
        const std::vector<double> w2 = column_norms2(l.w2);
        const std::vector<double> e = second_moment(site.linear == "w1" ? l.w1 : l.w3);
        s.resize(e.size());
        for (size_t d = 0; d < e.size(); ++d)
            s[d] = e[d] > 0.0 ? w2[d] * (*site.down_sq)[d] / e[d] : 0.0;
    }
    return s;
}

// SparseGPT (joint with q when given), GPTQ or RTN at q's width for every row, or with
// per-row widths (row_bits).
void run_quantizing_method(const Context& c, const LayerPlan& plan, Solver* solver, MatView w,
                           const QuantConfig* q, QuantResult* codes, double* loss,
                           const std::vector<int>* row_bits) {
    if (plan.method == Method::sparsegpt) {
        PruneOptions opt;
        opt.sparsity = plan.sparsity;
        opt.n = plan.n;
        opt.m = plan.m;
        opt.scope = plan.scope;
        solver->prune(w, opt, q, nullptr, codes, loss, row_bits);
    } else if (plan.method == Method::gptq) {
        solver->quantize(w, *q, codes, loss, row_bits);
    } else {
        quantize_rtn(c, w, *q, codes, row_bits);
    }
}

// Rescales each row's errors (rows × options) as MixedPlan::normalize says.
void normalize_row_errors(Backend& backend, const MixedPlan& mp, const Matrix& hm, const Matrix& w,
                          std::vector<double>& errors) {
    const size_t k = mp.options.size();
    if (mp.normalize == ErrorNormalization::none) return;
    std::vector<double> scale(static_cast<size_t>(w.rows));
    if (mp.normalize == ErrorNormalization::energy) {
        scale = row_output_errors(backend, hm, w, Matrix(w.rows, w.cols));  // w_i H w_iᵀ
    } else {
        size_t ref = 0;  // the option nearest the target width
        for (size_t m = 1; m < k; ++m)
            if (std::abs(mp.options[m] - mp.avg_bits) < std::abs(mp.options[ref] - mp.avg_bits)) ref = m;
        for (size_t r = 0; r < scale.size(); ++r) scale[r] = errors[r * k + ref];
    }
    for (size_t r = 0; r < scale.size(); ++r) {
        if (!(scale[r] > 0.0)) continue;  // a zero row: nothing to normalise
        for (size_t m = 0; m < k; ++m) errors[r * k + m] /= scale[r];
    }
}

}  // namespace

std::vector<double> mixed_row_costs(const Context& c, const LayerPlan& plan, const Matrix& w,
                                    const Hessian& h, Solver& solver, const LayerSite& site) {
    const MixedRecipe& mp = *plan.mixed;
    const Matrix hm = h.matrix();
    Backend& backend = backend_for(c);
    const size_t k = mp.options.size();
    std::vector<double> errors;
    if (mp.error_model == ErrorModel::solver) {
        errors.resize(static_cast<size_t>(w.rows) * k);
        for (size_t m = 0; m < k; ++m) {
            Matrix trial = w;
            // Every row at this width through the per-row path, which also takes 1 bit.
            const std::vector<int> widths(static_cast<size_t>(w.rows), mp.options[m]);
            run_quantizing_method(c, plan, &solver, trial.view(), &plan.quant, nullptr, nullptr, &widths);
            const std::vector<double> e = row_output_errors(backend, hm, w, trial);
            for (int64_t r = 0; r < w.rows; ++r) errors[static_cast<size_t>(r) * k + m] = e[r];
        }
    } else {
        // RTN's error is the plain rounding noise weighted by diag(H), not GPTQ's 1/U_jj².
        const std::vector<float> cw =
            plan.method == Method::rtn ? h.diagonal() : obs_column_weights(solver.inverse_factor());
        errors = estimate_row_errors(c, w.view(), cw, plan.quant, mp.options);
    }
    std::vector<double> s;
    if (mp.sensitivity == RowSensitivity::downstream) {
        s = row_sensitivity(backend, site, hm);
    } else if (mp.sensitivity == RowSensitivity::fisher) {
        require(site.fisher && static_cast<int64_t>(site.fisher->size()) == w.rows, SURGEON_ERR_INTERNAL,
                "no output Fisher for a Fisher-weighted layer");
        s = *site.fisher;
        for (double& v : s) v *= 0.25;  // predicted NLL rise = ¼·F_i·(ΔW H ΔWᵀ)_ii
    }
    for (size_t r = 0; r < s.size() && static_cast<int64_t>(r) < w.rows; ++r)
        for (size_t m = 0; m < k; ++m) errors[r * k + m] *= s[r];
    normalize_row_errors(backend, mp, hm, w, errors);
    return errors;
}

namespace {

RowBits allocate_bits(const Context& c, const LayerPlan& plan, const Matrix& w, const Hessian& h,
                      Solver& solver, const LayerSite& site) {
    const MixedRecipe& mp = *plan.mixed;
    if (mp.allocator != Allocator::error)
        return allocate_row_bits(c, h, solver.inverse_factor(), w.view(), plan.quant, mp);
    return allocate_from_errors(mixed_row_costs(c, plan, w, h, solver, site), w.rows, w.cols,
                                plan.quant, mp);
}

}  // namespace

Solver& solver_for(SolverCache& solvers, const ContextPtr& ctx, const Hessian& h, const LayerPlan& plan) {
    auto& slot = solvers[{plan.percdamp, plan.block_size}];
    if (!slot) slot = std::make_unique<Solver>(ctx, h, plan.percdamp, plan.block_size);
    return *slot;
}

void compress_layer(const ContextPtr& ctx, const LayerPlan& plan, Matrix& w, const Hessian* h,
                    SolverCache& solvers,
                    const LayerSite& site, CompressedLayer& out) {
    const Context& c = *ctx;
    Matrix original = plan.method == Method::dense ? Matrix() : w;
    QuantResult codes;
    const auto cached = solvers.find({plan.percdamp, plan.block_size});
    Solver* const built = cached != solvers.end() ? cached->second.get() : nullptr;
    auto solver = [&]() -> Solver& {
        if (built) return *built;
        require(h != nullptr, SURGEON_ERR_INTERNAL, "no Hessian and no solver for layer " + out.name);
        return solver_for(solvers, ctx, *h, plan);
    };
    double loss = 0.0;
    if (plan.is_mixed()) {
        const RowBits rb = allocate_bits(c, plan, w, *h, solver(), site);
        run_quantizing_method(c, plan, &solver(), w.view(), &plan.quant, &codes, &loss, &rb.bits);
        if (plan.method != Method::rtn) out.loss = loss;  // RTN has no OBS loss
        out.mixed = rb.stats;
        out.quant = std::move(codes);
    } else {
        switch (plan.method) {
            case Method::dense:
                break;
            case Method::sparsegpt:
            case Method::gptq:
                run_quantizing_method(c, plan, &solver(), w.view(),
                                      plan.quantize ? &plan.quant : nullptr,
                                      plan.quantize ? &codes : nullptr, &loss, nullptr);
                out.loss = loss;
                break;
            case Method::wanda: {
                std::vector<float> norms = h->diagonal();
                for (float& v : norms) v = std::sqrt(v);
                prune_wanda(c, w.view(), norms, plan.sparsity, plan.n, plan.m);
                break;
            }
            case Method::magnitude:
                prune_magnitude(c, w.view(), plan.sparsity, plan.n, plan.m);
                break;
            case Method::rtn:
                quantize_rtn(c, w.view(), plan.quant, &codes);
                break;
            case Method::cbq:
                fail(SURGEON_ERR_INTERNAL, "cbq quantizes across blocks: compress_cbq runs it, not the layer pipeline");
        }
        if (plan.quantize && plan.method != Method::dense && plan.method != Method::wanda &&
            plan.method != Method::magnitude)
            out.quant = std::move(codes);
    }
    if (plan.method != Method::dense) {
        // The solver's H when it has one: no second n × n copy of H at the layer's peak.
        const auto it = solvers.find({plan.percdamp, plan.block_size});
        if (it != solvers.end() && it->second)
            out.rel_error = relative_reconstruction_error(backend_for(c), it->second->hessian(), original.view(),
                                                          w.view(), &it->second->inactive_inputs());
        else if (h)
            out.rel_error = relative_reconstruction_error(backend_for(c), h->matrix(), original.view(), w.view());
    }
}

}  // namespace surgeon::model
