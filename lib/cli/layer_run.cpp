#include "cli/layer_run.hpp"

#include <chrono>

namespace surgeon::cli {
namespace {

// The MSE search parameters documented as the defaults of surgeon_quantizer_set_mse.
constexpr float kMseNorm = 2.4f;
constexpr int kMseGrid = 100;
constexpr float kMseMaxShrink = 0.8f;

Handle<surgeon_quantizer> make_quantizer(const LayerQuant& q) {
    Handle<surgeon_quantizer> quantizer = create(surgeon_quantizer_new, q.bits);
    check_status(surgeon_quantizer_set_group_size(quantizer.get(), q.group_size));
    check_status(surgeon_quantizer_set_symmetric(quantizer.get(), q.symmetric ? 1 : 0));
    if (q.mse) check_status(surgeon_quantizer_set_mse(quantizer.get(), 1, kMseNorm, kMseGrid, kMseMaxShrink));
    check_status(surgeon_quantizer_set_act_order(quantizer.get(), q.act_order ? 1 : 0));
    check_status(surgeon_quantizer_set_static_groups(quantizer.get(), q.static_groups ? 1 : 0));
    return quantizer;
}

// Sparsity or n:m, the mask scope, and the quantizer of joint pruning + quantization.
Handle<surgeon_prune_options> make_prune_options(const LayerOptions& o, const surgeon_quantizer* quantizer) {
    Handle<surgeon_prune_options> prune = create(surgeon_prune_options_new);
    if (o.n > 0)
        check_status(surgeon_prune_options_set_nm(prune.get(), o.n, o.m));
    else
        check_status(surgeon_prune_options_set_sparsity(prune.get(), o.sparsity));
    check_status(surgeon_prune_options_set_mask_scope(prune.get(), o.scope));
    check_status(surgeon_prune_options_set_quantizer(prune.get(), quantizer));
    return prune;
}

Handle<surgeon_solver> make_solver(const LayerOptions& o, const surgeon_context* ctx, const surgeon_hessian* h) {
    Handle<surgeon_solver_options> options = create(surgeon_solver_options_new);
    check_status(surgeon_solver_options_set_damping(options.get(), o.damp));
    check_status(surgeon_solver_options_set_block_size(options.get(), o.blocksize));
    return create(surgeon_solver_new, ctx, h, options.get());
}

}  // namespace

LayerResult compress_layer(const LayerOptions& o, const surgeon_context* ctx, const Matrix& w,
                           const surgeon_hessian* h) {
    LayerResult r;
    r.w = w;
    float* data = r.w.data.data();
    const int64_t rows = r.w.rows, cols = r.w.cols;
    const auto start = std::chrono::steady_clock::now();
    const Handle<surgeon_quantizer> quantizer = o.quantize ? make_quantizer(o.quant) : nullptr;
    switch (o.method) {
        case LayerMethod::sparsegpt: {
            const Handle<surgeon_solver> solver = make_solver(o, ctx, h);
            const Handle<surgeon_prune_options> prune = make_prune_options(o, quantizer.get());
            const Handle<surgeon_prune_result> result = create(surgeon_prune_result_new);
            check_status(surgeon_solver_prune(solver.get(), data, rows, cols, 0, prune.get(), result.get()));
            double loss = 0.0;
            check_status(surgeon_prune_result_loss(result.get(), &loss));
            r.loss = loss;
            surgeon_mask* mask = nullptr;
            check_status(surgeon_prune_result_mask(result.get(), &mask));
            r.mask.reset(mask);
            surgeon_qresult* codes = nullptr;  // stays null without a quantizer
            check_status(surgeon_prune_result_qresult(result.get(), &codes));
            r.codes.reset(codes);
            break;
        }
        case LayerMethod::gptq: {
            const Handle<surgeon_solver> solver = make_solver(o, ctx, h);
            r.codes = create(surgeon_qresult_new);
            double loss = 0.0;
            check_status(surgeon_solver_quantize(solver.get(), data, rows, cols, 0, quantizer.get(), r.codes.get(),
                                                 &loss));
            r.loss = loss;
            break;
        }
        case LayerMethod::wanda: {
            const Handle<surgeon_prune_options> prune = make_prune_options(o, nullptr);
            r.mask = create(surgeon_mask_new, rows, cols);
            check_status(surgeon_prune_wanda(ctx, data, rows, cols, 0, h, prune.get(), r.mask.get()));
            break;
        }
        case LayerMethod::magnitude: {
            const Handle<surgeon_prune_options> prune = make_prune_options(o, nullptr);
            r.mask = create(surgeon_mask_new, rows, cols);
            check_status(surgeon_prune_magnitude(ctx, data, rows, cols, 0, prune.get(), r.mask.get()));
            break;
        }
        case LayerMethod::rtn:
            r.codes = create(surgeon_qresult_new);
            check_status(surgeon_quantize_rtn(ctx, data, rows, cols, 0, quantizer.get(), r.codes.get()));
            break;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace surgeon::cli
