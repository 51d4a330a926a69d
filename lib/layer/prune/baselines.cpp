#include "layer/prune/baselines.hpp"

#include <cmath>

#include "core/checks.hpp"
#include "core/parallel.hpp"
#include "layer/prune/select.hpp"

namespace surgeon {

Mask prune_magnitude(const Context& ctx, MatView w, double sparsity, int n, int m) {
    validate_sparsity(sparsity, n, m);
    require_finite(w.data, w.rows, w.cols, w.ld, "weight");
    Mask mask(w.rows, w.cols);
    std::vector<float> scores(static_cast<size_t>(w.rows * w.cols));
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c = 0; c < w.cols; ++c) scores[r * w.cols + c] = std::fabs(w(r, c));
    if (n > 0) {
        parallel_for(ctx.effective_threads(), w.rows, [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r)
                prune_n_of_m(scores.data() + r * w.cols, w.cols, n, m, mask.keep.data() + r * w.cols);
        });
    } else {
        prune_smallest(scores.data(), w.rows * w.cols, prune_count(w.rows * w.cols, sparsity),
                       mask.keep.data(), ctx.effective_threads());
    }
    mask.apply(w);
    return mask;
}

Mask prune_wanda(const Context& ctx, MatView w, const std::vector<float>& input_norms,
                 double sparsity, int n, int m) {
    validate_sparsity(sparsity, n, m);
    require_shape(static_cast<int64_t>(input_norms.size()) == w.cols,
                  "activation norms have " + std::to_string(input_norms.size()) +
                      " columns, weight has " + std::to_string(w.cols));
    require_finite(w.data, w.rows, w.cols, w.ld, "weight");
    Mask mask(w.rows, w.cols);
    const int64_t k = prune_count(w.cols, sparsity);
    parallel_for(ctx.effective_threads(), w.rows, [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
            std::vector<float> scores(static_cast<size_t>(w.cols));
            for (int64_t c = 0; c < w.cols; ++c) scores[c] = std::fabs(w(r, c)) * input_norms[c];
            uint8_t* keep = mask.keep.data() + r * w.cols;
            if (n > 0)
                prune_n_of_m(scores.data(), w.cols, n, m, keep);
            else
                prune_smallest(scores.data(), w.cols, k, keep);
        }
    });
    mask.apply(w);
    return mask;
}

}  // namespace surgeon
