#include "layer/solver/solver.hpp"

#include <algorithm>
#include <numeric>

#include "core/backend.hpp"
#include "core/checks.hpp"
#include "core/parallel.hpp"
#include "layer/solver/obs_engine.hpp"

namespace surgeon {
namespace {

constexpr int kDampingRetries = 3;

void permute_columns(Matrix& w, const std::vector<int32_t>& perm, bool inverse) {
    std::vector<float> tmp(static_cast<size_t>(w.cols));
    for (int64_t r = 0; r < w.rows; ++r) {
        float* row = w.row(r);
        for (int64_t k = 0; k < w.cols; ++k) {
            if (inverse)
                tmp[perm[k]] = row[k];
            else
                tmp[k] = row[perm[k]];
        }
        std::copy(tmp.begin(), tmp.end(), row);
    }
}

// Rows of `v` (working column order) back to the original column order.
std::vector<uint8_t> unpermute(std::vector<uint8_t> v, int64_t rows,
                               const std::vector<int32_t>& perm, bool permuted) {
    if (!permuted) return v;
    const int64_t cols = static_cast<int64_t>(perm.size());
    std::vector<uint8_t> out(v.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < cols; ++k) out[r * cols + perm[k]] = v[r * cols + k];
    return out;
}

}  // namespace

Solver::Solver(ContextPtr ctx, const Hessian& h, double percdamp, int64_t block)
    : ctx_(std::move(ctx)), h_(h.matrix()), percdamp_(percdamp), block_(block) {
    require_arg(percdamp >= 0.0 && std::isfinite(percdamp),
                "percdamp must be >= 0, got " + std::to_string(percdamp));
    require_arg(block >= 1, "block_size must be >= 1, got " + std::to_string(block));
    require(h.samples() > 0, SURGEON_ERR_INVALID_ARGUMENT, "the Hessian has no samples");
    dead_.assign(static_cast<size_t>(h_.cols), 0);
    for (int64_t i = 0; i < h_.cols; ++i)
        if (h_(i, i) == 0.0f) {
            dead_[i] = 1;
            h_(i, i) = 1.0f;
        }
}

std::unique_ptr<Solver::Factor> Solver::compute_factor(bool act_order) const {
    const int64_t n = h_.cols;
    auto f = std::make_unique<Factor>();
    f->perm.resize(static_cast<size_t>(n));
    std::iota(f->perm.begin(), f->perm.end(), 0);
    if (act_order)
        std::stable_sort(f->perm.begin(), f->perm.end(),
                         [this](int32_t a, int32_t b) { return h_(a, a) > h_(b, b); });
    Matrix permuted;
    if (act_order) {
        permuted = Matrix(n, n);
        for (int64_t i = 0; i < n; ++i) {
            const float* src = h_.row(f->perm[i]);
            float* dst = permuted.row(i);
            for (int64_t j = 0; j < n; ++j) dst[j] = src[f->perm[j]];
        }
    }
    const Matrix& hp = act_order ? permuted : h_;
    double mean_diag = 0.0;
    for (int64_t i = 0; i < n; ++i) mean_diag += hp(i, i);
    mean_diag /= static_cast<double>(n);
    require(mean_diag > 0.0, SURGEON_ERR_NUMERIC,
            "the Hessian's mean diagonal is " + std::to_string(mean_diag) + " (must be > 0)");

    Backend& backend = backend_for(*ctx_);
    double damp = percdamp_ * mean_diag;
    for (int attempt = 0; attempt <= kDampingRetries; ++attempt) {
        f->u = hp;
        for (int64_t i = 0; i < n; ++i) f->u(i, i) += static_cast<float>(damp);
        if (backend.upper_cholesky_of_inverse(f->u.data.data(), n)) {
            f->damp = damp;
            return f;
        }
        const double next = damp > 0.0 ? damp * 10.0 : 1e-6 * mean_diag;
        if (attempt < kDampingRetries)
            ctx_->log(SURGEON_LOG_WARNING, "Cholesky failed with damping " + std::to_string(damp) +
                                               "; retrying with " + std::to_string(next));
        damp = next;
    }
    fail(SURGEON_ERR_NUMERIC, "the Hessian is not positive definite even with damping " +
                                  std::to_string(damp / 10.0) + " (percdamp " +
                                  std::to_string(percdamp_) + ")");
}

const Solver::Factor& Solver::factor(bool act_order) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = act_order ? act_order_ : natural_;
    if (!slot) {
        ctx_->progress("factorize", 0.0);
        slot = compute_factor(act_order);
        ctx_->progress("factorize", 1.0);
    }
    return *slot;
}

void Solver::prune(MatView w, const PruneOptions& opt, const QuantConfig* quant, Mask* mask_out,
                   QuantResult* quant_out, double* loss_out, const std::vector<int>* row_bits) {
    validate_sparsity(opt.sparsity, opt.n, opt.m);
    require_arg(opt.scope == SURGEON_MASK_SCOPE_BLOCK || opt.scope == SURGEON_MASK_SCOPE_ROW,
                "unknown mask scope " + std::to_string(static_cast<int>(opt.scope)));
    require_arg(quant || !quant_out, "codes were requested without a quantizer");
    require_arg(opt.n == 0 || block_ % opt.m == 0,
                "block_size " + std::to_string(block_) + " is not a multiple of m = " +
                    std::to_string(opt.m) + ": n:m groups would straddle blocks");
    run(w, &opt, quant, mask_out, quant_out, loss_out, row_bits);
}

void Solver::quantize(MatView w, const QuantConfig& quant, QuantResult* quant_out,
                      double* loss_out, const std::vector<int>* row_bits) {
    run(w, nullptr, &quant, nullptr, quant_out, loss_out, row_bits);
}

void Solver::run(MatView w, const PruneOptions* prune, const QuantConfig* quant, Mask* mask_out,
                 QuantResult* quant_out, double* loss_out, const std::vector<int>* row_bits) {
    const int64_t cols = h_.cols;
    require_not_null(w.data, "weight");
    require_shape(w.cols == cols, "weight has " + std::to_string(w.cols) +
                                      " columns, the Hessian " + std::to_string(cols));
    require_shape(w.rows >= 1, "weight has no rows");
    if (quant) quant->validate();
    if (row_bits) {
        require_shape(static_cast<int64_t>(row_bits->size()) == w.rows,
                      "row_bits has " + std::to_string(row_bits->size()) + " entries for " +
                          std::to_string(w.rows) + " rows");
        for (int b : *row_bits)
            require_arg(b >= 1 && b <= 8, "row bit width must be in [1, 8], got " + std::to_string(b));
    }
    require_finite(w.data, w.rows, w.cols, w.ld, "weight");

    const bool act_order = quant && quant->act_order;
    const Factor& f = factor(act_order);

    Matrix wk = copy_in(w.data, w.rows, w.cols, w.ld);
    ObsQuantSpec qs;
    int64_t gsize = 0;
    if (quant) {
        qs.cfg = quant;
        if (row_bits) qs.row_bits = *row_bits;
        gsize = quant->group_size;
        qs.groups = quant->groups(cols);
        qs.grids.resize(static_cast<size_t>(w.rows * qs.groups));
        qs.group_of_col.resize(static_cast<size_t>(cols), 0);
        if (gsize == 0) {
            // One grid per row, found on the dense weight (before dead inputs are zeroed).
            parallel_for(ctx_->effective_threads(), w.rows, [&](int64_t r0, int64_t r1, int) {
                for (int64_t r = r0; r < r1; ++r)
                    qs.grids[r] = find_grid(wk.row(r), cols, qs.bits_of_row(r), *quant);
            });
        }
    }
    for (int64_t j = 0; j < cols; ++j)
        if (dead_[j])
            for (int64_t r = 0; r < w.rows; ++r) wk(r, j) = 0.0f;
    if (quant && gsize > 0) {
        if (quant->static_groups) {
            parallel_for(ctx_->effective_threads(), w.rows, [&](int64_t r0, int64_t r1, int) {
                for (int64_t r = r0; r < r1; ++r)
                    for (int64_t g = 0; g < qs.groups; ++g) {
                        const int64_t c0 = g * gsize;
                        qs.grids[r * qs.groups + g] = find_grid(
                            wk.row(r) + c0, std::min(gsize, cols - c0), qs.bits_of_row(r), *quant);
                    }
            });
            for (int64_t k = 0; k < cols; ++k)
                qs.group_of_col[k] = static_cast<int32_t>(f.perm[k] / gsize);
        } else {
            qs.dynamic_groups = true;
            for (int64_t k = 0; k < cols; ++k) qs.group_of_col[k] = static_cast<int32_t>(k / gsize);
        }
    }
    if (act_order) permute_columns(wk, f.perm, false);

    ObsPruneSpec ps;
    if (prune) {
        ps.enabled = true;
        ps.sparsity = prune->sparsity;
        ps.n = prune->n;
        ps.m = prune->m;
        ps.scope = prune->scope;
    }
    ObsOutput out;
    run_obs(*ctx_, backend_for(*ctx_), wk, f.u, block_, ps, qs, out,
            prune ? "prune" : "quantize");
    require(out.finite, SURGEON_ERR_NUMERIC,
            "the solver produced non-finite weights (ill-conditioned Hessian?)");

    // Everything below only reorders results: build the outputs, then commit them.
    Mask mask;
    if (prune) {
        mask.rows = w.rows;
        mask.cols = cols;
        mask.keep = unpermute(std::move(out.keep), w.rows, f.perm, act_order);
    }
    QuantResult qr;
    if (quant) {
        qr.rows = w.rows;
        qr.cols = cols;
        qr.groups = qs.groups;
        qr.bits = quant->bits;
        qr.row_bits = qs.row_bits;
        qr.codes = unpermute(std::move(out.codes), w.rows, f.perm, act_order);
        qr.scales.resize(qs.grids.size());
        qr.zeros.resize(qs.grids.size());
        for (size_t i = 0; i < qs.grids.size(); ++i) {
            qr.scales[i] = qs.grids[i].scale;
            qr.zeros[i] = qs.grids[i].zero;
        }
        qr.g_idx.resize(static_cast<size_t>(cols));
        for (int64_t k = 0; k < cols; ++k) qr.g_idx[f.perm[k]] = qs.group_of_col[k];
        qr.perm = f.perm;
    }
    if (act_order) permute_columns(wk, f.perm, true);

    copy_out(wk, w.data, w.ld);
    if (mask_out) *mask_out = std::move(mask);
    if (quant_out) *quant_out = std::move(qr);
    if (loss_out) *loss_out = out.loss;
}

}  // namespace surgeon
