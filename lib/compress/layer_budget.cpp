#include "compress/layer_budget.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.hpp"
#include "layer/hessian/hessian.hpp"
#include "nn/forward.hpp"
#include "nn/perplexity.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon::model {
namespace {

struct Candidate {
    std::string name;
    int64_t block = 0;
    const char* linear = nullptr;
    LayerPlan plan;
    int64_t params = 0;
};

// Hessians of every captured input of every block of the dense model:
// [block][LinearInput].
std::vector<std::array<std::unique_ptr<Hessian>, kLinearInputs>> dense_hessians(
    const Model& model, const std::vector<std::vector<int>>& seqs, const ContextPtr& ctx) {
    std::vector<std::array<std::unique_ptr<Hessian>, kLinearInputs>> out(model.layers.size());
    std::vector<Matrix> states;
    for (const auto& s : seqs) states.push_back(embed(model, s));
    for (size_t b = 0; b < model.layers.size(); ++b)
        for (Matrix& x : states) {
            BlockCapture c;
            Matrix next = block_forward(backend_for(*ctx), model.config, model.layers[b], x, &c);
            for (int i = 0; i < kLinearInputs; ++i) {
                const Matrix& in = captured(c, static_cast<LinearInput>(i));
                auto& h = out[b][static_cast<size_t>(i)];
                if (!h) h = std::make_unique<Hessian>(ctx, in.cols);
                h->add(in.data.data(), in.rows, in.cols);
            }
            x = std::move(next);
        }
    return out;
}

double mean_nll(Backend& be, const Model& model, const std::vector<std::vector<int>>& seqs) {
    return evaluate_sequences(be, model, seqs).nll;
}

// Exact minimum of Σ rise[l][k_l] among the assignments whose Σ params_l · options[k_l]
// is the largest reachable total <= the budget, by dynamic programming over the budget in
// units of the layers' common parameter divisor.
std::vector<size_t> solve_knapsack(const std::vector<Candidate>& layers, const std::vector<std::vector<double>>& rise,
                                   const std::vector<int>& options, double avg_bits) {
    int64_t unit = 0;
    for (const Candidate& c : layers) unit = std::gcd(unit, c.params);
    int64_t total_params = 0;
    for (const Candidate& c : layers) total_params += c.params;
    const int64_t capacity = static_cast<int64_t>(std::floor(avg_bits * static_cast<double>(total_params) / unit + 1e-9));
    const int64_t min_bits = *std::min_element(options.begin(), options.end());
    require_arg(min_bits * total_params / unit <= capacity,
                "layer budget: " + std::to_string(avg_bits) + " bits is below the smallest option");
    require_arg(capacity <= int64_t(1) << 24, "layer budget: too many layers for the exact solver");
    const double inf = std::numeric_limits<double>::infinity();
    const size_t n = layers.size(), k = options.size();
    // best[l][c]: least rise of layers < l using exactly c units; choice for backtracking.
    std::vector<std::vector<double>> best(n + 1, std::vector<double>(static_cast<size_t>(capacity) + 1, inf));
    std::vector<std::vector<int>> choice(n, std::vector<int>(static_cast<size_t>(capacity) + 1, -1));
    best[0][0] = 0.0;
    for (size_t l = 0; l < n; ++l) {
        const int64_t size = layers[l].params / unit;
        for (int64_t c = 0; c <= capacity; ++c) {
            if (best[l][static_cast<size_t>(c)] == inf) continue;
            for (size_t m = 0; m < k; ++m) {
                const int64_t next = c + size * options[m];
                if (next > capacity) continue;
                const double v = best[l][static_cast<size_t>(c)] + rise[l][m];
                if (v < best[l + 1][static_cast<size_t>(next)]) {
                    best[l + 1][static_cast<size_t>(next)] = v;
                    choice[l][static_cast<size_t>(next)] = static_cast<int>(m);
                }
            }
        }
    }
    // Spend the budget: the fullest reachable total (the target, to the layers'
    // granularity), not a cheaper-looking one that leaves bits unused.
    int64_t c = capacity;
    while (best[n][static_cast<size_t>(c)] == inf) --c;
    std::vector<size_t> picked(n);
    for (size_t l = n; l-- > 0;) {
        const int m = choice[l][static_cast<size_t>(c)];
        picked[l] = static_cast<size_t>(m);
        c -= layers[l].params / unit * options[static_cast<size_t>(m)];
    }
    return picked;
}

}  // namespace

LayerBudget plan_layer_budget(const Model& model, const std::vector<std::vector<int>>& calibration,
                              const Recipe& recipe, const LayerBudgetOptions& options, const ContextPtr& ctx) {
    if (model.config.moe.n_experts > 0)
        fail(SURGEON_ERR_UNSUPPORTED, "model-wide bit budgets do not cover routed experts (" + model.config.family +
                                          " model)");
    require_arg(!options.options.empty(), "layer budget: no bit options");
    for (int b : options.options) require_arg(b >= 2 && b <= 8, "layer budget: bit options must lie in 2..8");
    require_arg(options.sequences > 0, "layer budget: sequences must be positive");
    std::vector<std::vector<int>> seqs;
    for (const auto& s : calibration)
        if (!s.empty() && static_cast<int64_t>(seqs.size()) < options.sequences) seqs.push_back(s);
    require_arg(!seqs.empty(), "layer budget: no calibration sequences");

    std::vector<Candidate> layers;
    for (size_t b = 0; b < model.layers.size(); ++b)
        for (const char* name : kLinearNames) {
            Candidate c{"layers." + std::to_string(b) + "." + name, static_cast<int64_t>(b), name,
                        recipe.plan_for("layers." + std::to_string(b) + "." + name), 0};
            if (c.plan.method != Method::gptq) continue;
            const Matrix& w = linear(model.layers[b], name);
            c.params = w.rows * w.cols;
            layers.push_back(std::move(c));
        }
    require_arg(!layers.empty(), "layer budget: the recipe quantizes no layer with gptq");

    const auto hessians = dense_hessians(model, seqs, ctx);
    LayerBudget out;
    out.base_nll = mean_nll(backend_for(*ctx), model, seqs);
    Model work = model;
    std::vector<std::vector<double>> rise(layers.size());
    for (size_t l = 0; l < layers.size(); ++l) {
        const Candidate& c = layers[l];
        const Hessian& h = *hessians[static_cast<size_t>(c.block)][static_cast<size_t>(input_of(c.linear))];
        Solver solver(ctx, h, c.plan.percdamp, c.plan.block_size);
        Matrix& target = linear(work.layers[static_cast<size_t>(c.block)], c.linear);
        const Matrix dense = target;
        for (int bits : options.options) {
            QuantConfig q = c.plan.quant;
            q.bits = bits;
            target = dense;
            solver.quantize(target.view(), q, nullptr, nullptr);
            rise[l].push_back(mean_nll(backend_for(*ctx), work, seqs) - out.base_nll);
        }
        target = dense;
        // Fewer bits never cost less than more: a measured inversion is calibration noise.
        std::vector<size_t> order(options.options.size());
        std::iota(order.begin(), order.end(), size_t{0});
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return options.options[a] > options.options[b]; });
        for (size_t i = 1; i < order.size(); ++i)
            rise[l][order[i]] = std::max(rise[l][order[i]], rise[l][order[i - 1]]);
        out.loss_rise[c.name] = rise[l];
        ctx->progress("layer budget", static_cast<double>(l + 1) / static_cast<double>(layers.size()));
    }

    const std::vector<size_t> picked = solve_knapsack(layers, rise, options.options, options.avg_bits);
    double bit_params = 0.0, params = 0.0;
    for (size_t l = 0; l < layers.size(); ++l) {
        const int bits = options.options[picked[l]];
        out.bits[layers[l].name] = bits;
        out.predicted_rise += rise[l][picked[l]];
        bit_params += static_cast<double>(bits) * static_cast<double>(layers[l].params);
        params += static_cast<double>(layers[l].params);
    }
    out.avg_bits = bit_params / params;
    return out;
}

nlohmann::json layer_budget_rules(const LayerBudget& budget, const Recipe& recipe) {
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& [name, bits] : budget.bits) {
        nlohmann::json rule{{"match", name}, {"bits", bits}};
        if (recipe.plan_for(name).mixed) rule["mixed"] = {{"avg_bits", bits}};
        rules.push_back(rule);
    }
    return rules;
}

nlohmann::json LayerBudget::to_json() const {
    nlohmann::json layers = nlohmann::json::object();
    for (const auto& [name, b] : bits) layers[name] = {{"bits", b}, {"loss_rise", loss_rise.at(name)}};
    return {{"avg_bits", avg_bits}, {"base_nll", base_nll}, {"predicted_rise", predicted_rise}, {"layers", layers}};
}

}  // namespace surgeon::model
