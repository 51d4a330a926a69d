#include "compress/model_prune.hpp"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/names.hpp"
#include "io/convert.hpp"
#include "structured/ffn_slice.hpp"
#include "structured/spectral.hpp"

namespace surgeon::structured {
namespace {

constexpr EnumName<Method> kMethods[] = {
    {Method::prunenet, "prunenet"}, {Method::random, "random"}, {Method::l2, "l2"}};

}  // namespace

Method parse_method(const std::string& name) { return parse_enum(kMethods, name, "method"); }
const char* method_name(Method method) { return enum_name(kMethods, method); }

std::vector<std::vector<float>> ffn_scores(const model::Model& model, Method method, const Policy* policy,
                                           uint64_t seed) {
    if (model.config.moe.n_experts > 0)
        fail(SURGEON_ERR_UNSUPPORTED, "structured FFN pruning does not support Mixture-of-Experts models (" +
                                          model.config.family + ")");
    std::vector<std::vector<float>> scores;
    for (size_t b = 0; b < model.layers.size(); ++b) {
        const auto& layer = model.layers[b];
        switch (method) {
            case Method::prunenet:
                require_arg(policy != nullptr, "prunenet scores need a policy");
                scores.push_back(policy->scores(layer));
                break;
            case Method::random: scores.push_back(random_scores(ffn_hidden(layer), seed + b)); break;
            case Method::l2: scores.push_back(l2_scores(layer)); break;
        }
    }
    return scores;
}

std::vector<double> spectral_ratios(Backend& be, const model::Model& model, const std::vector<std::vector<float>>& scores,
                                    double ratio, double max_ratio) {
    const size_t n = model.layers.size();
    require_arg(scores.size() == n, "one score vector per block");
    std::vector<double> dist(n), hidden(n);
    for (size_t l = 0; l < n; ++l) {
        const auto& layer = model.layers[l];
        hidden[l] = static_cast<double>(ffn_hidden(layer));
        const auto keep = top_k_indices(scores[l], kept_neurons(ffn_hidden(layer), ratio));
        dist[l] = std::max(1e-3, -selection_reward(be, layer, keep));
    }
    return ratios_from_distances(dist, hidden, ratio, max_ratio);
}

Selection select_ffn(const model::Model& model, const std::vector<std::vector<float>>& scores,
                     const std::vector<double>& ratios) {
    require_arg(scores.size() == model.layers.size() && ratios.size() == model.layers.size(),
                "one score vector and one ratio per block");
    Selection keep;
    for (size_t l = 0; l < model.layers.size(); ++l)
        keep.push_back(top_k_indices(scores[l], kept_neurons(ffn_hidden(model.layers[l]), ratios[l])));
    return keep;
}

void slice_model_ffn(model::Model& model, const Selection& keep) {
    require_arg(keep.size() == model.layers.size(), "one selection per block");
    int64_t widest = 0;
    for (size_t l = 0; l < keep.size(); ++l) {
        slice_ffn(model.layers[l], keep[l]);
        widest = std::max(widest, ffn_hidden(model.layers[l]));
    }
    if (widest > 0) model.config.hidden_dim = widest;
}

namespace {

// Rows (of wq, wk, wv) or columns (of wo) that belong to the query or kv heads of kv
// groups `groups`: `width` consecutive indices per group.
std::vector<int64_t> group_span(const std::vector<int64_t>& groups, int64_t width) {
    std::vector<int64_t> idx;
    for (int64_t g : groups)
        for (int64_t i = g * width; i < (g + 1) * width; ++i) idx.push_back(i);
    return idx;
}

Matrix take_rows(const Matrix& w, const std::vector<int64_t>& rows) {
    Matrix out(static_cast<int64_t>(rows.size()), w.cols);
    for (size_t i = 0; i < rows.size(); ++i)
        std::copy(w.row(rows[i]), w.row(rows[i]) + w.cols, out.row(static_cast<int64_t>(i)));
    return out;
}

Matrix take_cols(const Matrix& w, const std::vector<int64_t>& cols) {
    Matrix out(w.rows, static_cast<int64_t>(cols.size()));
    for (int64_t r = 0; r < w.rows; ++r) {
        const float* src = w.row(r);
        float* dst = out.row(r);
        for (size_t j = 0; j < cols.size(); ++j) dst[j] = src[cols[j]];
    }
    return out;
}

void check_groups(const model::ModelConfig& c, const std::vector<int64_t>& groups) {
    require_arg(static_cast<int64_t>(groups.size()) < c.n_kv_heads,
                "a block must keep at least one of its " + std::to_string(c.n_kv_heads) + " kv groups");
    for (size_t i = 0; i < groups.size(); ++i)
        require_arg(groups[i] >= 0 && groups[i] < c.n_kv_heads && (i == 0 || groups[i] > groups[i - 1]),
                    "kv groups must be ascending, unique and < " + std::to_string(c.n_kv_heads));
}

void check_attention(const model::ModelConfig& c, const model::LayerWeights& layer) {
    require_shape(c.attention_consistent() && layer.wq.rows == c.q_dim() && layer.wo.rows == c.dim &&
                      layer.wo.cols == c.q_dim() && layer.wk.rows == c.kv_dim() && layer.wv.rows == c.kv_dim(),
                  "attention weights do not match the attention config");
}

}  // namespace

std::vector<double> kv_group_distances(Backend& be, const model::ModelConfig& c, const model::LayerWeights& layer) {
    check_attention(c, layer);
    const int64_t group_cols = c.head_size() * (c.n_heads / c.n_kv_heads), q_dim = c.q_dim();
    const auto full = singular_values(be, layer.wo);
    std::vector<double> d(static_cast<size_t>(c.n_kv_heads));
    for (int64_t g = 0; g < c.n_kv_heads; ++g) {
        if (c.n_kv_heads == 1) break;  // the only group cannot go
        Matrix rest(c.dim, q_dim - group_cols);
        for (int64_t r = 0; r < c.dim; ++r) {
            const float* src = layer.wo.row(r);
            std::copy(src, src + g * group_cols, rest.row(r));
            std::copy(src + (g + 1) * group_cols, src + q_dim, rest.row(r) + g * group_cols);
        }
        d[static_cast<size_t>(g)] = ks_distance(full, singular_values(be, rest));
    }
    return d;
}

std::vector<int64_t> choose_kv_groups(Backend& be, const model::ModelConfig& c, const model::LayerWeights& layer,
                                      int64_t count) {
    require_arg(count >= 0 && count < c.n_kv_heads,
                "a block must keep at least one of its " + std::to_string(c.n_kv_heads) + " kv groups");
    if (count == 0) return {};
    const auto d = kv_group_distances(be, c, layer);
    std::vector<int64_t> order(d.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return d[a] < d[b]; });
    order.resize(static_cast<size_t>(count));
    std::sort(order.begin(), order.end());
    return order;
}

void silence_kv_groups(const model::ModelConfig& c, model::LayerWeights& layer, const std::vector<int64_t>& groups) {
    if (c.qkv_bias || c.o_bias)
        fail(SURGEON_ERR_UNSUPPORTED, "removing kv heads does not support attention biases (" + c.family + ")");
    check_attention(c, layer);
    check_groups(c, groups);
    const int64_t hs = c.head_size(), q_width = hs * (c.n_heads / c.n_kv_heads);
    for (int64_t r : group_span(groups, q_width)) std::fill(layer.wq.row(r), layer.wq.row(r) + c.dim, 0.0f);
    for (int64_t r : group_span(groups, hs)) {
        std::fill(layer.wk.row(r), layer.wk.row(r) + c.dim, 0.0f);
        std::fill(layer.wv.row(r), layer.wv.row(r) + c.dim, 0.0f);
    }
    for (int64_t col : group_span(groups, q_width))
        for (int64_t r = 0; r < c.dim; ++r) layer.wo(r, col) = 0.0f;
}

void remove_kv_groups(model::Model& model, const std::vector<std::vector<int64_t>>& groups) {
    model::ModelConfig& c = model.config;
    if (c.qkv_bias || c.o_bias)
        fail(SURGEON_ERR_UNSUPPORTED, "removing kv heads does not support attention biases (" + c.family + ")");
    require_arg(groups.size() == model.layers.size(), "one list of kv groups per block");
    if (groups.empty() || groups.front().empty()) {
        for (const auto& g : groups) require_arg(g.empty(), "every block must remove the same number of kv groups");
        return;
    }
    const size_t count = groups.front().size();
    for (size_t l = 0; l < groups.size(); ++l) {
        require_arg(groups[l].size() == count,
                    "every block must remove the same number of kv groups (the config has one head "
                    "count): block 0 removes " + std::to_string(count) + ", block " + std::to_string(l) +
                        " " + std::to_string(groups[l].size()));
        check_attention(c, model.layers[l]);
        check_groups(c, groups[l]);
    }
    const int64_t hs = c.head_size(), group = c.n_heads / c.n_kv_heads;
    for (size_t l = 0; l < groups.size(); ++l) {
        std::vector<int64_t> keep;
        for (int64_t g = 0, i = 0; g < c.n_kv_heads; ++g) {
            if (i < static_cast<int64_t>(count) && groups[l][static_cast<size_t>(i)] == g) {
                ++i;
            } else {
                keep.push_back(g);
            }
        }
        model::LayerWeights& L = model.layers[l];
        const auto q_rows = group_span(keep, hs * group), kv_rows = group_span(keep, hs);
        L.wq = take_rows(L.wq, q_rows);
        L.wk = take_rows(L.wk, kv_rows);
        L.wv = take_rows(L.wv, kv_rows);
        L.wo = take_cols(L.wo, q_rows);
    }
    c.head_dim = hs;  // dim / n_heads differs once heads are removed
    c.n_kv_heads -= static_cast<int64_t>(count);
    c.n_heads = c.n_kv_heads * group;
}

PruneReport prune_model(model::Model& model, const PruneOptions& o, const Context& ctx) {
    require_arg(!model.layers.empty(), "the model has no blocks");
    require_arg(o.ratio >= 0.0 && o.ratio < 1.0, "ratio must be in [0, 1)");
    require_arg(o.head_ratio >= 0.0 && o.head_ratio < 1.0, "head ratio must be in [0, 1)");
    PruneReport r;
    r.params_before = model::parameter_count(model);
    const Policy* policy = nullptr;
    if (o.method == Method::prunenet) {
        if (o.policy) {
            r.policy = *o.policy;
        } else {
            const auto t0 = std::chrono::steady_clock::now();
            TrainOptions t = o.train;
            t.ratio = o.ratio;
            t.seed = o.seed;
            TrainReport report;
            r.policy = train_policy(model, t, ctx, &report);
            r.train_rewards = report.final_reward;
            r.train_chosen = report.chosen;
            r.train_seconds = seconds_since(t0);
        }
        policy = &*r.policy;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto scores = ffn_scores(model, o.method, policy, o.seed);
    r.layer_ratios = o.spectral_layer_ratios ? spectral_ratios(backend_for(ctx), model, scores, o.ratio)
                                             : std::vector<double>(model.layers.size(), o.ratio);
    slice_model_ffn(model, select_ffn(model, scores, r.layer_ratios));
    for (const auto& layer : model.layers) r.ffn_sizes.push_back(ffn_hidden(layer));
    if (o.head_ratio > 0.0) {
        const int64_t count = std::min<int64_t>(
            model.config.n_kv_heads - 1,
            static_cast<int64_t>(std::llround(o.head_ratio * static_cast<double>(model.config.n_kv_heads))));
        for (const auto& layer : model.layers) r.heads_silenced.push_back(choose_kv_groups(backend_for(ctx), model.config, layer, count));
        remove_kv_groups(model, r.heads_silenced);
    }
    r.prune_seconds = seconds_since(t0);
    r.params_after = model::parameter_count(model);
    return r;
}

int64_t effective_parameters(const model::Model& model) {
    int64_t zeros = 0;
    for (const auto& L : model.layers)
        for (const Matrix* w : {&L.wq, &L.wk, &L.wv, &L.wo})
            zeros += std::count(w->data.begin(), w->data.end(), 0.0f);
    return model::parameter_count(model) - zeros;
}

}  // namespace surgeon::structured
