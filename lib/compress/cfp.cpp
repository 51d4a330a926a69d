#include "compress/cfp.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace surgeon::model {

namespace {

// The q-quantile of the n values in v with linear interpolation at position q·(n − 1);
// reorders v (nth_element).
double quantile(std::vector<float>& v, double q) {
    const auto n = static_cast<int64_t>(v.size());
    const double pos = q * static_cast<double>(n - 1);
    const auto lo = static_cast<int64_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(lo);
    std::nth_element(v.begin(), v.begin() + lo, v.end());
    const double a = v[static_cast<size_t>(lo)];
    if (frac == 0 || lo + 1 >= n) return a;
    // After nth_element every value behind lo is >= v[lo]: the next order statistic is their minimum.
    const double b = *std::min_element(v.begin() + lo + 1, v.end());
    return a + frac * (b - a);
}

// Population mean and variance from a count, a sum and a sum of squares (of values shifted
// by a common offset, which cancels in the score).
struct Moments {
    double n = 0, s = 0, s2 = 0;
    double mean() const { return s / n; }
    double var() const { return std::max(0.0, s2 / n - mean() * mean()); }
};

}  // namespace

OutlierSplit find_outliers(const std::vector<float>& magnitudes, double iqr_k) {
    require_arg(std::isfinite(iqr_k) && iqr_k >= 0, "find_outliers: iqr_k must be finite and >= 0");
    OutlierSplit out;
    if (magnitudes.empty()) return out;
    float max = 0;
    for (float m : magnitudes) {
        require_arg(std::isfinite(m) && m >= 0, "find_outliers: magnitude " + std::to_string(m) +
                                                    " is negative or not finite");
        max = std::max(max, m);
    }
    std::vector<float> v = magnitudes;
    const double q1 = quantile(v, 0.25);
    const double q3 = quantile(v, 0.75);
    const double t = q3 + iqr_k * (q3 - q1);
    out.coarse_threshold = t;

    std::vector<double> cand;
    for (float m : magnitudes)
        if (m > t) cand.push_back(m);
    out.coarse = static_cast<int64_t>(cand.size());
    if (cand.empty()) {
        out.fine_threshold = max;
        return out;
    }
    std::sort(cand.begin(), cand.end());

    // Cut j: rest = {t} ∪ cand[0, j), top = cand[j, m). Values are shifted by t; the top's
    // moments are suffix sums accumulated from the largest value down (no subtractions).
    const size_t m = cand.size();
    std::vector<Moments> top(m + 1);
    for (size_t j = m; j-- > 0;) {
        const double c = cand[j] - t;
        top[j] = {top[j + 1].n + 1, top[j + 1].s + c, top[j + 1].s2 + c * c};
    }
    Moments rest{1, 0, 0};
    double best = -INFINITY;
    size_t best_cut = 0;
    for (size_t j = 0; j < m; ++j) {
        if (j > 0) {
            const double c = cand[j - 1] - t;
            rest = {rest.n + 1, rest.s + c, rest.s2 + c * c};
            if (cand[j - 1] == cand[j]) continue;  // never separate equal values
        }
        const double gap = top[j].mean() - rest.mean();
        const double score = gap * gap - (top[j].var() + rest.var());
        if (score > best) {
            best = score;
            best_cut = j;
        }
    }
    out.fine_threshold = best_cut == 0 ? t : cand[best_cut - 1];
    out.fine = static_cast<int64_t>(m - best_cut);
    return out;
}

nlohmann::json CfpBlockReport::to_json() const {
    static const char* const sites[kLinearInputs] = {"attn_in", "attn_out_in", "ffn_in", "down_in"};
    nlohmann::json acts = nlohmann::json::object(), weights = nlohmann::json::object();
    for (int s = 0; s < kLinearInputs; ++s)
        acts[sites[s]] = {{"channels", act_channels[s]}, {"threshold", act_threshold[s]}};
    for (int l = 0; l < 7; ++l)
        weights[kLinearNames[l]] = {{"clamped", weight_clamped[l]}, {"threshold", weight_threshold[l]}};
    return {{"activations", acts}, {"weights", weights}, {"weight_outliers", weight_outliers}};
}

namespace {

// Per-channel maximum |value| of one site over the captures of every input.
std::vector<float> channel_maxima(Backend& be, const ModelConfig& config, const LayerWeights& layer,
                                  const std::vector<Matrix>& xs, LinearInput site) {
    std::vector<float> maxima;
    for (const Matrix& x : xs) {
        BlockCapture capture;
        block_forward(be, config, layer, x, &capture);
        const Matrix& a = captured(capture, site);
        if (maxima.empty()) maxima.assign(static_cast<size_t>(a.cols), 0.0f);
        for (int64_t t = 0; t < a.rows; ++t) {
            const float* row = a.row(t);
            for (int64_t c = 0; c < a.cols; ++c) maxima[static_cast<size_t>(c)] =
                std::max(maxima[static_cast<size_t>(c)], std::fabs(row[c]));
        }
    }
    return maxima;
}

// The scale of each channel: fine_threshold / max for an outlier channel, 1 otherwise (and
// for a channel whose scale would not be positive and finite, or would not shrink it).
std::vector<float> channel_scales(const std::vector<float>& maxima, double iqr_k, int64_t& scaled,
                                  double& threshold) {
    const OutlierSplit split = find_outliers(maxima, iqr_k);
    threshold = split.fine_threshold;
    std::vector<float> s(maxima.size(), 1.0f);
    scaled = 0;
    for (size_t i = 0; i < maxima.size(); ++i) {
        if (!(maxima[i] > split.fine_threshold)) continue;
        const auto si = static_cast<float>(split.fine_threshold / maxima[i]);
        if (!(si > 0.0f && si < 1.0f && std::isfinite(1.0f / si))) continue;
        s[i] = si;
        ++scaled;
    }
    return s;
}

void scale_columns(Matrix& w, const std::vector<float>& s, bool divide) {
    for (int64_t r = 0; r < w.rows; ++r) {
        float* row = w.row(r);
        for (int64_t c = 0; c < w.cols; ++c) {
            const float f = s[static_cast<size_t>(c)];
            if (f != 1.0f) row[c] = divide ? row[c] / f : row[c] * f;
        }
    }
}

void scale_row(Matrix& w, int64_t r, float f) {
    float* row = w.row(r);
    for (int64_t c = 0; c < w.cols; ++c) row[c] *= f;
}

void check_block(const ModelConfig& config, const LayerWeights& L, const std::vector<Matrix>& xs) {
    require(config.moe.n_experts == 0 && L.experts.empty() && L.router.rows == 0, SURGEON_ERR_UNSUPPORTED,
            "cfp_block: Mixture-of-Experts blocks are not supported");
    require(!config.qk_norm && L.q_norm.empty() && L.k_norm.empty(), SURGEON_ERR_UNSUPPORTED,
            "cfp_block: blocks with q/k norms are not supported");
    require_shape(config.attention_consistent(), "cfp_block: inconsistent attention layout");
    validate_block(config, L, -1);
    const int64_t dim = config.dim;
    for (const Matrix& x : xs)
        require_shape(x.cols == dim, "cfp_block: an input has " + std::to_string(x.cols) + " columns, expected " +
                                         std::to_string(dim));
}

void fold_activations(Backend& be, const ModelConfig& config, LayerWeights& L, const std::vector<Matrix>& xs,
                      double iqr_k, CfpBlockReport& report) {
    auto site_scales = [&](LinearInput site, const std::vector<float>& maxima) {
        const int i = static_cast<int>(site);
        return channel_scales(maxima, iqr_k, report.act_channels[i], report.act_threshold[i]);
    };
    {
        const auto s = site_scales(LinearInput::attn_in, channel_maxima(be, config, L, xs, LinearInput::attn_in));
        for (size_t i = 0; i < s.size(); ++i) L.rms_att[i] *= s[i];
        scale_columns(L.wq, s, true);
        scale_columns(L.wk, s, true);
        scale_columns(L.wv, s, true);
    }
    {
        const int64_t hs = config.head_size(), group = config.n_heads / config.n_kv_heads;
        const auto heads = channel_maxima(be, config, L, xs, LinearInput::attn_out_in);
        std::vector<float> v_maxima(static_cast<size_t>(config.kv_dim()), 0.0f);
        for (int64_t h = 0; h < config.n_heads; ++h)
            for (int64_t d = 0; d < hs; ++d) {
                float& m = v_maxima[static_cast<size_t>((h / group) * hs + d)];
                m = std::max(m, heads[static_cast<size_t>(h * hs + d)]);
            }
        const auto s = site_scales(LinearInput::attn_out_in, v_maxima);
        std::vector<float> wo_s(static_cast<size_t>(config.q_dim()), 1.0f);
        for (int64_t h = 0; h < config.n_heads; ++h)
            for (int64_t d = 0; d < hs; ++d)
                wo_s[static_cast<size_t>(h * hs + d)] = s[static_cast<size_t>((h / group) * hs + d)];
        for (size_t r = 0; r < s.size(); ++r) {
            if (s[r] == 1.0f) continue;
            scale_row(L.wv, static_cast<int64_t>(r), s[r]);
            if (!L.bv.empty()) L.bv[r] *= s[r];
        }
        scale_columns(L.wo, wo_s, true);
    }
    {
        const auto s = site_scales(LinearInput::ffn_in, channel_maxima(be, config, L, xs, LinearInput::ffn_in));
        for (size_t i = 0; i < s.size(); ++i) L.rms_ffn[i] *= s[i];
        scale_columns(L.w1, s, true);
        scale_columns(L.w3, s, true);
    }
    {
        const auto s = site_scales(LinearInput::down_in, channel_maxima(be, config, L, xs, LinearInput::down_in));
        for (size_t r = 0; r < s.size(); ++r)
            if (s[r] != 1.0f) scale_row(L.w3, static_cast<int64_t>(r), s[r]);
        scale_columns(L.w2, s, true);
    }
}

void truncate_weights(LayerWeights& L, const CfpOptions& options, CfpBlockReport& report) {
    const double iqr_k = options.iqr_k;
    for (int l = 0; l < 7; ++l) {
        if (!options.truncate[l]) continue;
        Matrix& w = linear(L, kLinearNames[l]);
        std::vector<float> mags(w.data.size());
        for (size_t i = 0; i < mags.size(); ++i) mags[i] = std::fabs(w.data[i]);
        const OutlierSplit split = find_outliers(mags, iqr_k);
        report.weight_threshold[l] = split.fine_threshold;
        if (split.fine == 0 || !(split.fine_threshold > 0)) continue;
        // The clamp value as a float no larger than the threshold.
        float c = static_cast<float>(split.fine_threshold);
        if (static_cast<double>(c) > split.fine_threshold) c = std::nextafter(c, 0.0f);
        int64_t clamped = 0;
        for (float& x : w.data)
            if (static_cast<double>(std::fabs(x)) > split.fine_threshold) {
                x = std::copysign(c, x);
                ++clamped;
            }
        report.weight_clamped[l] = clamped;
        report.weight_outliers += clamped;
    }
}

}  // namespace

CfpBlockReport cfp_block(Backend& be, const ModelConfig& config, LayerWeights& layer, const std::vector<Matrix>& xs,
                         const CfpOptions& options) {
    check_block(config, layer, xs);
    require_arg(std::isfinite(options.iqr_k) && options.iqr_k >= 0, "cfp_block: iqr_k must be finite and >= 0");
    CfpBlockReport report;
    if (options.activations) {
        require_arg(!xs.empty(), "cfp_block: no calibration inputs");
        fold_activations(be, config, layer, xs, options.iqr_k, report);
    }
    if (options.weights) truncate_weights(layer, options, report);
    return report;
}

}  // namespace surgeon::model
