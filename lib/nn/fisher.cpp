#include "nn/fisher.hpp"

#include <algorithm>
#include <exception>
#include <thread>

#include "core/context.hpp"
#include "core/error.hpp"
#include "nn/backward.hpp"

namespace surgeon::model {

const std::vector<double>& OutputFisher::of(const std::string& layer_name) const {
    const auto it = rows.find(layer_name);
    require_arg(it != rows.end(), "no output Fisher for layer '" + layer_name + "'");
    return it->second;
}

OutputFisher output_fisher(Backend& be, const Model& model, const std::vector<std::vector<int>>& sequences) {
    const auto n_blocks = model.layers.size();
    const size_t n_linears = std::size(kLinearNames);
    // Flat per-(block, linear) slots, so workers accumulate without maps.
    std::vector<size_t> offset(n_blocks * n_linears + 1, 0);
    for (size_t b = 0; b < n_blocks; ++b)
        for (size_t l = 0; l < n_linears; ++l)
            offset[b * n_linears + l + 1] =
                offset[b * n_linears + l] + static_cast<size_t>(linear(model.layers[b], kLinearNames[l]).rows);

    const auto n = static_cast<int64_t>(sequences.size());
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(be.threads(), n)));

    // Sequences go in rounds of `workers`, one per slot, and slots are summed in order
    // after each round: the result does not depend on the schedule.
    std::vector<std::vector<double>> slot(static_cast<size_t>(workers), std::vector<double>(offset.back()));
    std::vector<double> slot_nll(static_cast<size_t>(workers));
    std::vector<double> total(offset.back(), 0.0);
    OutputFisher out;
    for (int64_t round = 0; round < n; round += workers) {
        const int64_t count = std::min<int64_t>(workers, n - round);
        parallel_for_each(be, count, [&](int64_t i, Backend& item_be) {
            std::vector<double>& acc = slot[static_cast<size_t>(i)];
            std::fill(acc.begin(), acc.end(), 0.0);
            const SequenceGradients g = linear_output_gradients(item_be, model, sequences[static_cast<size_t>(round + i)]);
            slot_nll[static_cast<size_t>(i)] = g.nll;
            for (size_t b = 0; b < g.blocks.size(); ++b)
                for (size_t l = 0; l < n_linears; ++l) {
                    const Matrix& m = g.blocks[b].of(kLinearNames[l]);
                    double* f = acc.data() + offset[b * n_linears + l];
                    for (int64_t t = 0; t < m.rows; ++t) {
                        const float* row = m.row(t);
                        for (int64_t r = 0; r < m.cols; ++r) f[r] += static_cast<double>(row[r]) * row[r];
                    }
                }
        });
        for (int64_t i = 0; i < count; ++i) {
            const std::vector<double>& acc = slot[static_cast<size_t>(i)];
            for (size_t j = 0; j < total.size(); ++j) total[j] += acc[j];
            out.nll += slot_nll[static_cast<size_t>(i)];
            out.tokens += std::max<int64_t>(0, static_cast<int64_t>(sequences[static_cast<size_t>(round + i)].size()) - 1);
        }
    }
    const double scale = out.tokens > 0 ? 1.0 / static_cast<double>(out.tokens) : 0.0;
    if (out.tokens > 0) out.nll /= static_cast<double>(out.tokens);
    for (size_t b = 0; b < n_blocks; ++b)
        for (size_t l = 0; l < n_linears; ++l) {
            const size_t k = b * n_linears + l;
            std::vector<double> f(total.begin() + static_cast<std::ptrdiff_t>(offset[k]),
                                  total.begin() + static_cast<std::ptrdiff_t>(offset[k + 1]));
            for (double& v : f) v *= scale;
            out.rows["layers." + std::to_string(b) + "." + kLinearNames[l]] = std::move(f);
        }
    return out;
}

}  // namespace surgeon::model
