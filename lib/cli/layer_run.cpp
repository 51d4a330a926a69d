#include "cli/layer_run.hpp"

#include <chrono>
#include <cmath>

#include "layer/prune/baselines.hpp"
#include "layer/quant/rtn.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon::cli {

LayerResult compress_layer(const LayerOptions& o, const ContextPtr& ctx, const Matrix& w,
                           const Hessian& h) {
    LayerResult r;
    r.w = w;
    const auto start = std::chrono::steady_clock::now();
    switch (o.method) {
        case LayerMethod::sparsegpt: {
            Solver solver(ctx, h, o.damp, o.blocksize);
            PruneOptions prune;
            prune.sparsity = o.sparsity;
            prune.n = o.n;
            prune.m = o.m;
            prune.scope = o.scope;
            double loss = 0.0;
            solver.prune(r.w.view(), prune, o.quantize ? &o.quant : nullptr, &r.mask,
                         o.quantize ? &r.codes : nullptr, &loss);
            r.loss = loss;
            break;
        }
        case LayerMethod::gptq: {
            Solver solver(ctx, h, o.damp, o.blocksize);
            double loss = 0.0;
            solver.quantize(r.w.view(), o.quant, &r.codes, &loss);
            r.loss = loss;
            break;
        }
        case LayerMethod::wanda: {
            // ‖x_j‖₂ ∝ sqrt(H_jj): the constant factor does not change a row's ranking.
            std::vector<float> norms = h.diagonal();
            for (float& v : norms) v = std::sqrt(v);
            r.mask = prune_wanda(*ctx, r.w.view(), norms, o.sparsity, o.n, o.m);
            break;
        }
        case LayerMethod::magnitude:
            r.mask = prune_magnitude(*ctx, r.w.view(), o.sparsity, o.n, o.m);
            break;
        case LayerMethod::rtn:
            quantize_rtn(*ctx, r.w.view(), o.quant, &r.codes);
            break;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace surgeon::cli
