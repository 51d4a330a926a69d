#include "compress/cbq.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <random>

#include "compress/cfp.hpp"
#include "compress/lora_rounding.hpp"
#include "core/backend.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "nn/backward.hpp"
#include "nn/forward.hpp"

namespace surgeon::model {
namespace {

using Clock = std::chrono::steady_clock;

bool quantized_plan(const LayerPlan& p) { return p.method == Method::cbq && !p.skip; }

// One quantized linear of a block and its rounding.
struct RoundedLinear {
    size_t index = 0;  // in kLinearNames
    LayerPlan plan;
    LoraRounding rounding;
};

}  // namespace

void CbqOptions::validate() const {
    require_arg(window >= 1, "cbq window must be at least 1 block");
    require_arg(overlap >= 0 && overlap < window, "cbq overlap must be in [0, window)");
    require_arg(rank >= 1 && rank <= 4096, "cbq rank must be in [1, 4096]");
    require_arg(epochs >= 0 && epochs <= 100000, "cbq epochs must be in [0, 100000]");
    for (double v : {lr, scale_lr, kl_weight, rounding_weight, beta_start, beta_end})
        require_arg(std::isfinite(v) && v >= 0.0, "cbq learning rates, weights and betas must be finite and >= 0");
    require_arg(beta_start >= 1.0 && beta_end >= 1.0, "cbq betas must be at least 1");
    require_arg(warmup >= 0.0 && warmup < 1.0, "cbq warmup must be in [0, 1)");
    require_arg(act_bits == 0 || (act_bits >= 2 && act_bits <= 16), "activation bits must be 0 or in [2, 16]");
}

void CbqOptions::apply(const nlohmann::json& j) {
    require_arg(j.is_object(), "recipe \"cbq\" must be an object");
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string key = it.key();  // named variables: lambdas below capture them
        const nlohmann::json& value = it.value();
        auto integer = [&] {
            require_arg(value.is_number_integer(), "recipe cbq \"" + key + "\" must be an integer");
            return value.get<int64_t>();
        };
        auto number = [&] {
            require_arg(value.is_number(), "recipe cbq \"" + key + "\" must be a number");
            return value.get<double>();
        };
        auto boolean = [&] {
            require_arg(value.is_boolean(), "recipe cbq \"" + key + "\" must be true or false");
            return value.get<bool>();
        };
        if (key == "window") window = integer();
        else if (key == "overlap") overlap = integer();
        else if (key == "rank") rank = integer();
        else if (key == "epochs") epochs = integer();
        else if (key == "lr") lr = number();
        else if (key == "scale_lr") scale_lr = number();
        else if (key == "kl_weight") kl_weight = number();
        else if (key == "rounding_weight") rounding_weight = number();
        else if (key == "beta_start") beta_start = number();
        else if (key == "beta_end") beta_end = number();
        else if (key == "warmup") warmup = number();
        else if (key == "cfp") cfp = boolean();
        else if (key == "lora_rounding") lora_rounding = boolean();
        else if (key == "soft_rounding") soft_rounding = boolean();
        else if (key == "act_bits") {
            const int64_t bits = integer();
            require_arg(bits == 0 || (bits >= 2 && bits <= 16), "recipe cbq \"act_bits\" must be 0 or in [2, 16]");
            act_bits = static_cast<int>(bits);
        }
        else if (key == "seed") {
            require_arg(value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0),
                        "recipe cbq \"seed\" must be a non-negative integer");
            seed = value.get<uint64_t>();
        } else fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown recipe cbq key \"" + key + "\"");
    }
    validate();
}

nlohmann::json CbqOptions::to_json() const {
    return {{"window", window},       {"overlap", overlap},
            {"rank", rank},           {"epochs", epochs},
            {"lr", lr},               {"scale_lr", scale_lr},
            {"kl_weight", kl_weight}, {"rounding_weight", rounding_weight},
            {"beta_start", beta_start}, {"beta_end", beta_end},
            {"warmup", warmup},       {"cfp", cfp},
            {"lora_rounding", lora_rounding}, {"soft_rounding", soft_rounding}, {"act_bits", act_bits},
            {"seed", seed}};
}

nlohmann::json CbqReport::to_json() const {
    nlohmann::json j = compression.to_json();
    nlohmann::json w = nlohmann::json::array();
    for (const CbqWindowRecord& r : windows)
        w.push_back({{"blocks", {r.first, r.last}}, {"loss_first_epoch", r.loss_first_epoch},
                     {"loss_last_epoch", r.loss_last_epoch}, {"loss_hard", r.loss_hard}, {"steps", r.steps},
                     {"seconds", r.seconds}});
    j["cbq_windows"] = w;
    if (!cfp.empty()) j["cfp"] = cfp;
    return j;
}

double reconstruction_loss(const Matrix& out, const Matrix& target, double kl_weight, Matrix* d_out) {
    const int64_t T = out.rows, D = out.cols;
    if (d_out) *d_out = Matrix(T, D);
    double mse = 0.0, kl = 0.0;
    std::vector<double> p(static_cast<size_t>(D)), q(static_cast<size_t>(D));
    for (int64_t t = 0; t < T; ++t) {
        const float* o = out.row(t);
        const float* y = target.row(t);
        double mo = o[0], my = y[0];
        for (int64_t j = 0; j < D; ++j) mo = std::max(mo, static_cast<double>(o[j])), my = std::max(my, static_cast<double>(y[j]));
        double so = 0.0, sy = 0.0;
        for (int64_t j = 0; j < D; ++j) {
            so += q[static_cast<size_t>(j)] = std::exp(o[j] - mo);
            sy += p[static_cast<size_t>(j)] = std::exp(y[j] - my);
        }
        for (int64_t j = 0; j < D; ++j) {
            const size_t k = static_cast<size_t>(j);
            q[k] /= so;
            p[k] /= sy;
            const double diff = static_cast<double>(o[j]) - y[j];
            mse += diff * diff;
            if (p[k] > 0.0) kl += p[k] * (std::log(p[k]) - std::log(std::max(q[k], 1e-300)));
            if (d_out) d_out->row(t)[j] = static_cast<float>(2.0 * diff / (static_cast<double>(T) * D) +
                                                             kl_weight * (q[k] - p[k]) / static_cast<double>(T));
        }
    }
    return mse / (static_cast<double>(T) * D) + kl_weight * kl / static_cast<double>(T);
}


double window_loss(Backend& be, const ModelConfig& config, const std::vector<LayerWeights>& layers, const Matrix& x,
                   const Matrix& target, double kl_weight, std::vector<std::vector<Matrix>>* weight_grads) {
    std::vector<Matrix> inputs;
    std::vector<BlockTape> tapes(layers.size());
    Matrix h = x;
    for (size_t k = 0; k < layers.size(); ++k) {
        if (weight_grads) inputs.push_back(h);
        h = weight_grads ? block_forward_taped(be, config, layers[k], h, tapes[k]) : block_forward(be, config, layers[k], h);
    }
    Matrix d;
    const double loss = reconstruction_loss(h, target, kl_weight, weight_grads ? &d : nullptr);
    if (!weight_grads) return loss;
    weight_grads->assign(layers.size(), {});
    for (size_t k = layers.size(); k-- > 0;) {
        LinearGradients g;
        d = block_backward(be, config, layers[k], inputs[k], tapes[k], d, g);
        for (const char* name : kLinearNames) {
            const Matrix& gy = g.of(name);
            const Matrix& xin = captured(tapes[k], input_of(name));
            Matrix dw(gy.cols, xin.cols);  // dW = Gᵀ·X
            be.gemm(Trans::yes, Trans::no, dw.rows, dw.cols, gy.rows, 1.0f, gy.data.data(), gy.cols, xin.data.data(),
                    xin.cols, 0.0f, dw.data.data(), dw.cols);
            (*weight_grads)[k].push_back(std::move(dw));
        }
    }
    return loss;
}

CbqReport compress_cbq(Model& model, const std::vector<std::vector<int>>& calibration, const Recipe& recipe,
                       const CbqOptions& o, const ContextPtr& ctx, const CbqProgress& progress) {
    o.validate();
    const auto t_start = Clock::now();
    validate_shapes(model);
    ModelConfig& c = model.config;
    require(!c.qk_norm && c.moe.n_experts == 0, SURGEON_ERR_UNSUPPORTED,
            "cbq trains through the block backward, which does not support q/k norms or experts (" + c.family + ")");
    require_arg(!calibration.empty(), "cbq needs calibration sequences");
    for (const auto& seq : calibration) require_arg(!seq.empty(), "cbq calibration sequences must not be empty");
    Backend& be = backend_for(*ctx);
    const int64_t n_blocks = c.n_layers;

    // Plans per linear; cbq learns affine grids without act-order.
    std::vector<std::vector<LayerPlan>> plans(static_cast<size_t>(n_blocks));
    for (int64_t b = 0; b < n_blocks; ++b)
        for (const char* name : kLinearNames) {
            const LayerPlan p = recipe.plan_for("layers." + std::to_string(b) + "." + name);
            require_arg(p.method == Method::cbq || p.method == Method::dense,
                        std::string("a cbq run quantizes every layer with cbq or leaves it dense; layers.") +
                            std::to_string(b) + "." + name + " asks for " + method_name(p.method));
            if (quantized_plan(p))
                require_arg(p.quant.kind == GridKind::affine && !p.quant.act_order && !p.mixed,
                            "cbq learns affine grids without act-order or mixed precision");
            plans[static_cast<size_t>(b)].push_back(p);
        }
    const LoraRounding::Mode mode = !o.lora_rounding ? LoraRounding::Mode::nearest
                                    : o.soft_rounding ? LoraRounding::Mode::soft
                                                      : LoraRounding::Mode::straight_through;

    ModelConfig quant_config = c;  // the quantized model's forward
    quant_config.act_bits = o.act_bits;
    ModelConfig float_config = c;
    float_config.act_bits = 0;

    CbqReport report;
    std::vector<Matrix> xq;  // inputs of the next window's first block in the quantized model
    xq.reserve(calibration.size());
    for (const auto& seq : calibration) {
        xq.push_back(embed(model, seq));
        report.compression.calibration_tokens += static_cast<int64_t>(seq.size());
    }
    report.compression.calibration_sequences = static_cast<int64_t>(calibration.size());

    std::vector<std::vector<RoundedLinear>> rounded(static_cast<size_t>(n_blocks));
    // The checkpoint's float weights of the blocks that have entered a window and not yet
    // finished (preprocessing changes the model's copy): the targets are computed with them.
    std::vector<std::optional<LayerWeights>> original(static_cast<size_t>(n_blocks));
    const int64_t stride = o.window - o.overlap;
    const int64_t windows_total = n_blocks <= o.window ? 1 : 1 + (n_blocks - o.window + stride - 1) / stride;

    // The float block (after preprocessing) with its quantized linears in place.
    auto quantized_layer = [&](int64_t b) {
        LayerWeights L = model.layers[static_cast<size_t>(b)];
        for (RoundedLinear& q : rounded[static_cast<size_t>(b)]) linear(L, kLinearNames[q.index]) = q.rounding.weights(be);
        return L;
    };
    const size_t S = xq.size();
    for (int64_t first = 0;; first += stride) {
        const auto t_window = Clock::now();
        const int64_t last = std::min(n_blocks, first + o.window);
        const bool final_window = last == n_blocks;
        const int64_t keep_from = final_window ? last : first + stride;  // blocks [first, keep_from) finish here

        // Targets: the float window on the quantized model's inputs; on the way, the inputs
        // of each block entering its first window, for its preprocessing.
        std::vector<Matrix> target(S);
        std::vector<std::vector<Matrix>> block_inputs(static_cast<size_t>(last - first));
        for (size_t s = 0; s < S; ++s) {
            Matrix x = xq[s];
            for (int64_t b = first; b < last; ++b) {
                const auto& kept = original[static_cast<size_t>(b)];
                if (!kept) block_inputs[static_cast<size_t>(b - first)].push_back(x);
                x = block_forward(be, float_config, kept ? *kept : model.layers[static_cast<size_t>(b)], x);
            }
            target[s] = std::move(x);
        }
        for (int64_t b = first; b < last; ++b) {
            if (original[static_cast<size_t>(b)]) continue;  // entered an earlier window
            LayerWeights& L = model.layers[static_cast<size_t>(b)];
            original[static_cast<size_t>(b)] = L;
            if (o.cfp) {
                CfpOptions co;
                for (size_t i = 0; i < std::size(kLinearNames); ++i)
                    co.truncate[i] = quantized_plan(plans[static_cast<size_t>(b)][i]);
                nlohmann::json j = cfp_block(be, float_config, L, block_inputs[static_cast<size_t>(b - first)], co).to_json();
                j["block"] = b;
                report.cfp.push_back(std::move(j));
            }
            std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(b));
            for (size_t i = 0; i < std::size(kLinearNames); ++i) {
                const LayerPlan& p = plans[static_cast<size_t>(b)][i];
                if (!quantized_plan(p)) continue;
                rounded[static_cast<size_t>(b)].push_back(
                    {i, p, LoraRounding(linear(L, kLinearNames[i]), p.quant, o.rank, mode, rng)});
            }
        }
        block_inputs.clear();

        // Training: one sequence per step, in calibration order, `epochs` times.
        CbqWindowRecord rec;
        rec.first = first;
        rec.last = last;
        rec.steps = o.epochs * static_cast<int64_t>(S);
        const int64_t warm = static_cast<int64_t>(std::floor(o.warmup * static_cast<double>(rec.steps)));
        for (int64_t b = first; b < last; ++b)
            for (RoundedLinear& q : rounded[static_cast<size_t>(b)]) q.rounding.reset_optimizer();
        double epoch_loss = 0.0;
        for (int64_t t = 0; t < rec.steps; ++t) {
            const size_t s = static_cast<size_t>(t % static_cast<int64_t>(S));
            double reg_weight = 0.0, beta = o.beta_start;
            if (t >= warm && mode != LoraRounding::Mode::nearest) {
                const int64_t span = rec.steps - warm - 1;
                beta = o.beta_start + (o.beta_end - o.beta_start) *
                                          (span > 0 ? static_cast<double>(t - warm) / static_cast<double>(span) : 1.0);
                reg_weight = o.rounding_weight;
            }
            std::vector<LayerWeights> layers;
            for (int64_t b = first; b < last; ++b) layers.push_back(quantized_layer(b));
            std::vector<std::vector<Matrix>> grads;
            epoch_loss += window_loss(be, quant_config, layers, xq[s], target[s], o.kl_weight, &grads);
            for (int64_t b = first; b < last; ++b)
                for (RoundedLinear& q : rounded[static_cast<size_t>(b)]) {
                    const auto g = q.rounding.gradients(be, grads[static_cast<size_t>(b - first)][q.index], reg_weight, beta);
                    q.rounding.step(g, o.lr, o.scale_lr, t + 1);
                }
            if ((t + 1) % static_cast<int64_t>(S) == 0) {
                const double mean = epoch_loss / static_cast<double>(S);
                if (t + 1 == static_cast<int64_t>(S)) rec.loss_first_epoch = mean;
                rec.loss_last_epoch = mean;
                epoch_loss = 0.0;
            }
        }

        // The blocks leaving the window are fixed; the window's loss is measured with every
        // block hardened (copies for the blocks that go on to the next window).
        for (int64_t b = first; b < keep_from; ++b)
            for (RoundedLinear& q : rounded[static_cast<size_t>(b)]) q.rounding.harden(be);
        std::vector<LayerWeights> hard_layers;
        for (int64_t b = first; b < last; ++b) {
            LayerWeights L = model.layers[static_cast<size_t>(b)];
            for (const RoundedLinear& q : rounded[static_cast<size_t>(b)]) {
                LoraRounding r = q.rounding;
                r.harden(be);
                linear(L, kLinearNames[q.index]) = r.weights(be);
            }
            hard_layers.push_back(std::move(L));
        }
        double hard_sum = 0.0;
        for (size_t s = 0; s < S; ++s)
            hard_sum += window_loss(be, quant_config, hard_layers, xq[s], target[s], o.kl_weight, nullptr);
        rec.loss_hard = hard_sum / static_cast<double>(S);
        for (int64_t b = first; b < keep_from; ++b) {
            LayerWeights& L = model.layers[static_cast<size_t>(b)];
            L = std::move(hard_layers[static_cast<size_t>(b - first)]);
            for (Matrix& x : xq) x = block_forward(be, quant_config, L, x);
        }
        rec.seconds = seconds_since(t_window);
        for (int64_t b = first; b < keep_from; ++b) {
            for (RoundedLinear& q : rounded[static_cast<size_t>(b)]) {
                CompressedLayer l;
                l.name = "layers." + std::to_string(b) + "." + kLinearNames[q.index];
                l.plan = q.plan;
                l.rows = q.rounding.rows();
                l.cols = q.rounding.cols();
                l.quant = q.rounding.codes();
                report.compression.layers.push_back(std::move(l));
            }
            rounded[static_cast<size_t>(b)].clear();
            original[static_cast<size_t>(b)].reset();
            report.compression.blocks.push_back({b, rec.seconds, 0});
        }
        report.windows.push_back(rec);
        if (progress) progress(rec, windows_total);
        if (final_window) break;
    }
    c.act_bits = o.act_bits;
    report.compression.seconds = seconds_since(t_start);
    return report;
}

}  // namespace surgeon::model
