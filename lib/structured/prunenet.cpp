#include "structured/prunenet.hpp"

#include <algorithm>

#include <chrono>
#include <cmath>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "core/error.hpp"
#include "core/output_file.hpp"
#include "core/names.hpp"
#include "core/parallel.hpp"
#include "structured/ffn_slice.hpp"
#include "structured/spectral.hpp"

namespace surgeon::structured {
namespace {

struct Features {
    Matrix x;                  // hidden × 2·dim: [gate_i, up_i] / rms of the block
    std::vector<double> norms; // hidden × kNormFeatures: centred log-norms of gate_i, up_i, down_i
};

// log‖v‖ of each row minus its mean over the block: relative sizes, comparable across blocks.
void centred_log_norms(const std::vector<double>& sq, int column, std::vector<double>& out) {
    const size_t n = sq.size();
    double mean = 0.0;
    std::vector<double> l(n);
    for (size_t i = 0; i < n; ++i) mean += (l[i] = 0.5 * std::log(sq[i] + 1e-30)) / static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) out[i * kNormFeatures + column] = l[i] - mean;
}

Features features_of(const model::LayerWeights& layer) {
    const int64_t hidden = layer.w1.rows, dim = layer.w1.cols;
    require_shape(layer.w3.rows == hidden && layer.w3.cols == dim && layer.w2.rows == dim &&
                      layer.w2.cols == hidden,
                  "inconsistent FFN shapes for the policy");
    double sq = 0.0;
    for (float v : layer.w1.data) sq += static_cast<double>(v) * v;
    for (float v : layer.w3.data) sq += static_cast<double>(v) * v;
    const double rms = std::sqrt(sq / static_cast<double>(2 * hidden * dim)) + 1e-30;
    Features f;
    f.x = Matrix(hidden, 2 * dim);
    f.norms.assign(static_cast<size_t>(hidden * kNormFeatures), 0.0);
    std::vector<double> gate(hidden, 0.0), up(hidden, 0.0), down(hidden, 0.0);
    for (int64_t i = 0; i < hidden; ++i)
        for (int64_t c = 0; c < dim; ++c) {
            f.x(i, c) = static_cast<float>(layer.w1(i, c) / rms);
            f.x(i, dim + c) = static_cast<float>(layer.w3(i, c) / rms);
            gate[i] += static_cast<double>(layer.w1(i, c)) * layer.w1(i, c);
            up[i] += static_cast<double>(layer.w3(i, c)) * layer.w3(i, c);
        }
    for (int64_t r = 0; r < dim; ++r)
        for (int64_t i = 0; i < hidden; ++i) down[i] += static_cast<double>(layer.w2(r, i)) * layer.w2(r, i);
    centred_log_norms(gate, 0, f.norms);
    centred_log_norms(up, 1, f.norms);
    centred_log_norms(down, 2, f.norms);
    return f;
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

}  // namespace

Policy::Policy(int64_t dim, int features, uint64_t seed) : dim_(dim), features_(features) {
    require_arg(dim >= 1 && features >= 1, "policy dimensions must be positive");
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    const int64_t in = 2 * dim;
    params.assign(static_cast<size_t>(features * in + features + kNormFeatures + 1), 0.0);
    for (int64_t k = 0; k < features * in; ++k) params[k] = g(rng) / std::sqrt(static_cast<double>(in));
    for (int k = 0; k < features; ++k) params[features * in + k] = 0.1 * g(rng);
}

// Forward pass of the policy: z_i and the hidden activations (for the gradient).
static std::vector<double> logits(const Policy& p, const Features& f, std::vector<double>* hidden_out) {
    const int64_t rows = f.x.rows, in = f.x.cols, k = p.features();
    const double* a = p.params.data();
    const double* v = a + k * in;
    const double* c = v + k;
    const double b = c[kNormFeatures];
    std::vector<double> z(static_cast<size_t>(rows));
    if (hidden_out) hidden_out->assign(static_cast<size_t>(rows * k), 0.0);
    for (int64_t i = 0; i < rows; ++i) {
        double zi = b;
        for (int t = 0; t < kNormFeatures; ++t) zi += c[t] * f.norms[i * kNormFeatures + t];
        for (int64_t j = 0; j < k; ++j) {
            double s = 0.0;
            for (int64_t t = 0; t < in; ++t) s += a[j * in + t] * f.x(i, t);
            const double h = std::tanh(s);
            if (hidden_out) (*hidden_out)[i * k + j] = h;
            zi += v[j] * h;
        }
        z[i] = zi;
    }
    return z;
}

std::vector<float> Policy::scores(const model::LayerWeights& layer) const {
    require_shape(layer.w1.cols == dim_, "the policy was trained for hidden size " + std::to_string(dim_) +
                                             ", the model has " + std::to_string(layer.w1.cols));
    const Features f = features_of(layer);
    const auto z = logits(*this, f, nullptr);
    std::vector<float> s(z.size());
    for (size_t i = 0; i < z.size(); ++i) s[i] = static_cast<float>(sigmoid(z[i]));
    return s;
}

void Policy::save(const std::string& path) const {
    nlohmann::json j{{"format", "surgeon-prunenet-policy"}, {"version", 2}, {"dim", dim_},
                     {"features", features_}, {"params", params}};
    write_file_atomically(path, j.dump() + "\n");
}

Policy Policy::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(SURGEON_ERR_IO, "cannot open policy '" + path + "'");
    Policy p;
    try {
        const auto j = nlohmann::json::parse(in);
        // Integers are read only from JSON integers: nlohmann converts a float (2e125) with
        // a plain cast, undefined outside the target's range.
        auto integer = [&](const char* key) -> int64_t {
            const nlohmann::json& v = j.at(key);
            if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
                fail(SURGEON_ERR_IO, path + ": policy \"" + key + "\" must be an integer, got " + v.dump());
            return v.get<int64_t>();
        };
        if (!j.is_object() || j.value("format", "") != "surgeon-prunenet-policy" || !j.contains("version") ||
            !j["version"].is_number_integer() || j["version"].get<int64_t>() != 2)
            fail(SURGEON_ERR_IO, path + ": not a version-2 Surgeon PruneNet policy");
        p.dim_ = integer("dim");
        const int64_t features = integer("features");  // get<int> would truncate
        if (features < 1 || features > std::numeric_limits<int>::max())
            fail(SURGEON_ERR_IO, path + ": policy feature count " + std::to_string(features) + " is out of range");
        p.features_ = static_cast<int>(features);
        p.params = j.at("params").get<std::vector<double>>();
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_IO, path + ": malformed policy: " + e.what());
    }
    // features · (2 dim + 1) + kNormFeatures + 1 parameters, computed without overflow.
    int64_t per_feature = 0, weights = 0, count = 0;
    if (p.dim_ < 1 || p.features_ < 1 || __builtin_mul_overflow(p.dim_, int64_t{2}, &per_feature) ||
        __builtin_mul_overflow(per_feature, int64_t{p.features_}, &weights) ||
        __builtin_add_overflow(weights, int64_t{p.features_} + kNormFeatures + 1, &count) ||
        p.params.size() != static_cast<uint64_t>(count))
        fail(SURGEON_ERR_IO, path + ": policy parameter count does not match its dimensions");
    return p;
}

int64_t kept_neurons(int64_t hidden, double ratio) {
    require_arg(ratio >= 0.0 && ratio < 1.0, "ratio must be in [0, 1), got " + std::to_string(ratio));
    return std::max<int64_t>(1, hidden - static_cast<int64_t>(std::llround(ratio * static_cast<double>(hidden))));
}

namespace {

// down · m: the dim × dim map of the FFN path through `m` (gate or up), a sum of one
// rank-1 term per neuron.
Matrix through_down(Backend& be, const Matrix& down, const Matrix& m) {
    Matrix out(down.rows, m.cols);
    be.gemm(down.rows, m.cols, down.cols, 1.0f, down.data.data(), down.cols, m.data.data(), m.cols, 0.0f,
            out.data.data(), out.cols);
    return out;
}

}  // namespace

namespace {
constexpr EnumName<Reward> kRewards[] = {
    {Reward::matrices, "matrices"}, {Reward::maps, "maps"}, {Reward::joint, "joint"}, {Reward::output, "output"}};
}  // namespace

const char* reward_name(Reward reward) { return enum_name(kRewards, reward); }
Reward parse_reward(const std::string& name) { return parse_enum(kRewards, name, "reward"); }

Matrix probe_activations(Backend& be, const model::LayerWeights& layer, int64_t probes, uint64_t seed) {
    const int64_t hidden = layer.w1.rows, dim = layer.w1.cols;
    require_arg(probes >= 1, "at least one probe input");
    require_shape(layer.w3.rows == hidden && layer.w3.cols == dim &&
                      (layer.rms_ffn.empty() || static_cast<int64_t>(layer.rms_ffn.size()) == dim),
                  "inconsistent FFN shapes for the probe activations");
    // The FFN sees rmsnorm(h) ⊙ rms_ffn: unit-rms rows scaled by the norm weights.
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    Matrix x(probes, dim);
    for (int64_t n = 0; n < probes; ++n)
        for (int64_t c = 0; c < dim; ++c) x(n, c) = g(rng) * (layer.rms_ffn.empty() ? 1.0f : layer.rms_ffn[c]);
    Matrix gate(probes, hidden), up(probes, hidden);
    for (auto [w, out] : {std::pair<const Matrix*, Matrix*>{&layer.w1, &gate}, {&layer.w3, &up}})
        be.gemm(Trans::no, Trans::yes, probes, hidden, dim, 1.0f, x.data.data(), dim, w->data.data(), dim, 0.0f,
                out->data.data(), hidden);
    for (size_t i = 0; i < gate.data.size(); ++i) {
        const float v = gate.data[i];
        gate.data[i] = v / (1.0f + std::exp(-v)) * up.data[i];
    }
    return gate;
}

Matrix probe_outputs(Backend& be, const Matrix& activations, const Matrix& down, const std::vector<int64_t>& keep) {
    const int64_t probes = activations.rows, dim = down.rows, n = static_cast<int64_t>(keep.size());
    require_shape(down.cols == activations.cols, "probe activations do not match the down projection");
    Matrix a(probes, n), d(dim, n);
    for (int64_t p = 0; p < probes; ++p)
        for (int64_t i = 0; i < n; ++i) a(p, i) = activations(p, keep[i]);
    for (int64_t r = 0; r < dim; ++r)
        for (int64_t i = 0; i < n; ++i) d(r, i) = down(r, keep[i]);
    Matrix y(probes, dim);
    be.gemm(Trans::no, Trans::yes, probes, dim, n, 1.0f, a.data.data(), n, d.data.data(), n, 0.0f, y.data.data(),
            dim);
    return y;
}

namespace {

std::vector<int64_t> all_neurons(int64_t hidden) {
    std::vector<int64_t> all(static_cast<size_t>(hidden));
    std::iota(all.begin(), all.end(), int64_t{0});
    return all;
}

std::vector<float> joint_spectrum(Backend& be, const model::LayerWeights& l) {
    std::vector<float> s = singular_values(be, l.w1);
    for (const Matrix* w : {&l.w3, &l.w2}) {
        const auto t = singular_values(be, *w);
        s.insert(s.end(), t.begin(), t.end());
    }
    return s;
}

}  // namespace

double selection_reward(Backend& be, const model::LayerWeights& layer, const std::vector<int64_t>& keep, Reward reward) {
    if (reward == Reward::output) {
        const Matrix act = probe_activations(be, layer, kProbeInputs, kProbeSeed);
        return -ks_distance(singular_values(be, probe_outputs(be, act, layer.w2, all_neurons(layer.w1.rows))),
                            singular_values(be, probe_outputs(be, act, layer.w2, keep)));
    }
    model::LayerWeights sliced = layer;
    slice_ffn(sliced, keep);
    if (reward == Reward::maps)
        return -0.5 * (spectral_distance(be, through_down(be, layer.w2, layer.w1), through_down(be, sliced.w2, sliced.w1)) +
                       spectral_distance(be, through_down(be, layer.w2, layer.w3), through_down(be, sliced.w2, sliced.w3)));
    if (reward == Reward::joint) return -ks_distance(joint_spectrum(be, layer), joint_spectrum(be, sliced));
    const double d = spectral_distance(be, layer.w1, sliced.w1) + spectral_distance(be, layer.w3, sliced.w3) +
                     spectral_distance(be, layer.w2, sliced.w2);
    return -d / 3.0;
}

namespace {

// One REINFORCE run from `seed`; appends the mean reward of every step to `trace`.
Policy train_one(const model::Model& model, const std::vector<Features>& feats, const TrainOptions& o,
                 uint64_t seed, const Context& ctx, std::vector<double>* trace) {
    const int64_t dim = model.config.dim;
    Policy policy(dim, o.features, seed);
    const int64_t in = 2 * dim, k = o.features;
    if (o.norm_prior) {
        // Start from "keep the neurons with the largest gate, up and down norms"; REINFORCE
        // then moves away from it only where the spectral reward says so.
        for (int t = 0; t < kNormFeatures; ++t) policy.params[k * in + k + t] = o.norm_prior_weights[t];
    }
    if (o.quiet_start)
        for (int64_t j = 0; j < k; ++j) policy.params[k * in + j] = 0.0;
    // Logits of the starting policy, the reference of the KL anchor.
    std::vector<std::vector<double>> z0;
    if (o.anchor > 0.0)
        for (const Features& f : feats) z0.push_back(logits(policy, f, nullptr));
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
    std::uniform_real_distribution<double> uniform(1e-6, 1.0 - 1e-6);
    // Adam state.
    const size_t np = policy.params.size();
    std::vector<double> m1(np, 0.0), m2(np, 0.0);

    for (int step = 0; step < o.steps; ++step) {
        const size_t block = static_cast<size_t>(step) % model.layers.size();
        const auto& layer = model.layers[block];
        const Features& f = feats[block];
        const int64_t hidden = layer.w1.rows, keep_n = kept_neurons(hidden, o.ratio);
        std::vector<double> h;
        const auto z = logits(policy, f, &h);
        std::vector<double> p(z.size());
        for (size_t i = 0; i < z.size(); ++i) p[i] = sigmoid(z[i]);

        // Sample selections with the binary-concrete relaxation, keep exactly keep_n.
        std::vector<std::vector<int64_t>> kept(static_cast<size_t>(o.samples));
        std::vector<double> rewards(static_cast<size_t>(o.samples));
        for (int s = 0; s < o.samples; ++s) {
            std::vector<float> noisy(z.size());
            for (size_t i = 0; i < z.size(); ++i) {
                const double e = uniform(rng);
                noisy[i] = static_cast<float>(std::log(e) - std::log1p(-e) + z[i]);
            }
            kept[s] = top_k_indices(noisy, keep_n);
        }
        parallel_for_each(backend_for(ctx), o.samples, [&](int64_t s, Backend& be) {
            rewards[static_cast<size_t>(s)] = selection_reward(be, layer, kept[static_cast<size_t>(s)], o.reward);
        });
        const double baseline = std::accumulate(rewards.begin(), rewards.end(), 0.0) / o.samples;
        double spread = 1.0;
        if (o.normalize_advantage) {
            double var = 0.0;
            for (double r : rewards) var += (r - baseline) * (r - baseline) / o.samples;
            spread = std::sqrt(var) + 1e-9;
        }
        if (trace) trace->push_back(baseline);

        // REINFORCE: ∇ log π = Σ_i (kept_i − p_i) ∇ z_i (independent Bernoulli surrogate),
        // plus the entropy term ∂H(p_i)/∂z_i = −z_i p_i (1 − p_i), averaged over the neurons.
        std::vector<double> dz(static_cast<size_t>(hidden), 0.0);
        for (int s = 0; s < o.samples; ++s) {
            const double adv = (rewards[s] - baseline) / spread / o.samples;
            if (adv == 0.0) continue;
            std::vector<uint8_t> is_kept(z.size(), 0);
            for (int64_t i : kept[s]) is_kept[i] = 1;
            for (int64_t i = 0; i < hidden; ++i) dz[i] += adv * (is_kept[i] - p[i]);
        }
        // KL anchor: ∂KL(Bern(p_i) ‖ Bern(p0_i))/∂z_i = p_i (1 − p_i) (z_i − z0_i).
        if (o.anchor > 0.0)
            for (int64_t i = 0; i < hidden; ++i)
                dz[i] -= o.anchor * p[i] * (1.0 - p[i]) * (z[i] - z0[block][i]) / static_cast<double>(hidden);
        if (o.entropy > 0.0)
            for (int64_t i = 0; i < hidden; ++i)
                dz[i] -= o.entropy * z[i] * p[i] * (1.0 - p[i]) / static_cast<double>(hidden);
        std::vector<double> grad(np, 0.0);
        double* ga = grad.data();
        double* gv = ga + k * in;
        for (int64_t i = 0; i < hidden; ++i) {
            for (int64_t j = 0; j < k; ++j) {
                const double hij = h[i * k + j];
                gv[j] += dz[i] * hij;
                const double back = dz[i] * policy.params[k * in + j] * (1.0 - hij * hij);
                for (int64_t t = 0; t < in; ++t) ga[j * in + t] += back * f.x(i, t);
            }
            for (int t = 0; t < kNormFeatures; ++t) gv[k + t] += dz[i] * f.norms[i * kNormFeatures + t];
            gv[k + kNormFeatures] += dz[i];
        }
        // Adam ascent on the expected reward.
        const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const double c1 = 1.0 - std::pow(b1, step + 1), c2 = 1.0 - std::pow(b2, step + 1);
        for (size_t q = 0; q < np; ++q) {
            m1[q] = b1 * m1[q] + (1 - b1) * grad[q];
            m2[q] = b2 * m2[q] + (1 - b2) * grad[q] * grad[q];
            policy.params[q] += o.learning_rate * (m1[q] / c1) / (std::sqrt(m2[q] / c2) + eps);
        }
    }
    return policy;
}

}  // namespace

double policy_reward(Backend& be, const model::Model& model, const Policy& policy, double ratio, Reward reward) {
    double total = 0.0;
    for (const auto& layer : model.layers)
        total += selection_reward(be, layer, top_k_indices(policy.scores(layer), kept_neurons(layer.w1.rows, ratio)),
                                  reward);
    return total;
}

Policy train_policy(const model::Model& model, const TrainOptions& o, const Context& ctx,
                    TrainReport* report) {
    require_arg(!model.layers.empty(), "the model has no blocks");
    require_arg(o.steps >= 1 && o.samples >= 2 && o.restarts >= 1,
                "training needs steps >= 1, samples >= 2 and restarts >= 1");
    require_arg(o.entropy >= 0.0 && o.anchor >= 0.0, "the entropy and anchor weights must be >= 0");
    require_arg(o.learning_rate > 0.0 && std::isfinite(o.learning_rate),
                "the learning rate must be a finite number > 0, got " + std::to_string(o.learning_rate));
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Features> feats;
    for (const auto& layer : model.layers) feats.push_back(features_of(layer));
    Policy best;
    double best_reward = 0.0;
    std::vector<double> best_trace;
    for (int r = 0; r < o.restarts; ++r) {
        std::vector<double> trace;
        // Restart r of seed s uses seed s + r·1000003: the restarts of seeds 1, 2, 3 do not overlap.
        Policy p = train_one(model, feats, o, o.seed + 1000003ull * static_cast<uint64_t>(r), ctx, &trace);
        const double total = policy_reward(backend_for(ctx), model, p, o.ratio, o.reward);
        if (report) report->final_reward.push_back(total);
        if (r == 0 || total > best_reward) {
            best = std::move(p);
            best_reward = total;
            best_trace = std::move(trace);
            if (report) report->chosen = r;
        }
        ctx.progress("prunenet", static_cast<double>(r + 1) / o.restarts);
    }
    if (report) {
        report->mean_reward = std::move(best_trace);
        report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return best;
}

std::vector<double> spectral_layer_ratios(Backend& be, const model::Model& model, const Policy& policy,
                                          double ratio, double max_ratio) {
    const size_t n = model.layers.size();
    std::vector<double> dist(n), hidden(n);
    for (size_t l = 0; l < n; ++l) {
        const auto& layer = model.layers[l];
        hidden[l] = static_cast<double>(layer.w1.rows);
        const auto keep = top_k_indices(policy.scores(layer), kept_neurons(layer.w1.rows, ratio));
        dist[l] = std::max(1e-3, -selection_reward(be, layer, keep));
    }
    return ratios_from_distances(dist, hidden, ratio, max_ratio);
}

std::vector<double> ratios_from_distances(const std::vector<double>& dist, const std::vector<double>& hidden,
                                          double ratio, double max_ratio) {
    const size_t n = dist.size();
    require_arg(hidden.size() == n && ratio >= 0.0 && ratio < 1.0 && max_ratio > 0.0 && max_ratio < 1.0,
                "per-layer ratios need one distance and size per block, 0 <= ratio < max_ratio < 1");
    double total = 0.0;
    for (double h : hidden) total += h;
    // Weight each block by 1/distance, then scale so Σ r_l·hidden_l = ratio·Σ hidden_l,
    // clamping and redistributing among the unclamped blocks.
    std::vector<double> r(n, 0.0);
    std::vector<bool> fixed(n, false);
    for (size_t iter = 0; iter <= n; ++iter) {
        double budget = ratio * total, weight = 0.0;
        for (size_t l = 0; l < n; ++l) {
            if (fixed[l]) budget -= r[l] * hidden[l];
            else weight += hidden[l] / dist[l];
        }
        if (weight <= 0.0) break;
        bool changed = false;
        for (size_t l = 0; l < n; ++l) {
            if (fixed[l]) continue;
            r[l] = budget / weight / dist[l];
            if (r[l] > max_ratio) {
                r[l] = max_ratio;
                fixed[l] = true;
                changed = true;
            }
        }
        if (!changed) break;
    }
    return r;
}

}  // namespace surgeon::structured
