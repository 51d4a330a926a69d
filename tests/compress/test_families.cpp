// Every model family of docs/models.md on a random checkpoint: the forward pass against a
// direct double-precision transcription of the Hugging Face model, written here from the
// checkpoint's tensors in HF layout (rotate-half RoPE, HF tensor names, transformers'
// routing); then SparseGPT and GPTQ through the block-staged pipeline, saved, reloaded,
// and the reloaded logits against the in-memory compressed model. The MoE cases also
// check the per-expert token counts of the report against a count made here and the
// fallback of starved experts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "compress/pipeline.hpp"
#include "io/hf_model.hpp"
#include "io/random_checkpoint.hpp"
#include "io/safetensors.hpp"
#include "nn/forward.hpp"
#include "hf_util.hpp"
#include "pipeline_fixture.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

using hfio_test::TempDir;
using Vec = std::vector<double>;
using Mat = std::vector<Vec>;  // rows

// ---------------------------------------------------------------------------------------
// The reference: transformers' modeling code for these families, transcribed in double.

class Reference {
public:
    Reference(const std::string& dir, const ModelConfig& c) : store_(dir), c_(c) {}

    Vec vec(const std::string& name) const {
        const std::vector<float> v = store_.read_f32(name);
        return Vec(v.begin(), v.end());
    }
    // rows × cols tensor (or slab `slab` of a 3-D one) as rows.
    Mat mat(const std::string& name, int64_t slab = -1) const {
        const auto& shape = store_.info(name).shape;
        const std::vector<float> v =
            slab < 0 ? store_.read_f32(name) : store_.read_f32_rows(name, slab, slab + 1);
        const int64_t cols = shape.back();
        Mat m(v.size() / static_cast<size_t>(cols), Vec(static_cast<size_t>(cols)));
        for (size_t i = 0; i < v.size(); ++i) m[i / static_cast<size_t>(cols)][i % static_cast<size_t>(cols)] = v[i];
        return m;
    }
    bool has(const std::string& name) const { return store_.contains(name); }

    static Mat linear(const Mat& x, const Mat& w, const Vec* bias = nullptr) {
        Mat y(x.size(), Vec(w.size(), 0.0));
        for (size_t t = 0; t < x.size(); ++t)
            for (size_t o = 0; o < w.size(); ++o) {
                double s = bias ? (*bias)[o] : 0.0;
                for (size_t i = 0; i < w[o].size(); ++i) s += x[t][i] * w[o][i];
                y[t][o] = s;
            }
        return y;
    }
    Vec rmsnorm(const Vec& x, const Vec& w) const {
        double ss = 0.0;
        for (double v : x) ss += v * v;
        const double r = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + c_.norm_eps);
        Vec y(x.size());
        for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
        return y;
    }
    static double silu(double v) { return v / (1.0 + std::exp(-v)); }

    // transformers' inverse frequencies (default, linear, dynamic, llama3).
    Vec inv_freq(int64_t context) const {
        const int64_t hs = c_.head_size();
        double base = c_.rope_theta;
        const RopeScaling& s = c_.rope_scaling;
        if (s.kind == RopeScalingKind::dynamic) {
            const double original = static_cast<double>(s.original_max_positions ? s.original_max_positions : c_.seq_len);
            if (context > original)
                base *= std::pow(s.factor * context / original - (s.factor - 1), double(hs) / double(hs - 2));
        }
        Vec f(static_cast<size_t>(hs / 2));
        for (size_t j = 0; j < f.size(); ++j) f[j] = 1.0 / std::pow(base, 2.0 * double(j) / double(hs));
        if (s.kind == RopeScalingKind::linear)
            for (double& v : f) v /= s.factor;
        if (s.kind == RopeScalingKind::llama3) {
            const double old = static_cast<double>(s.original_max_positions);
            const double low = old / s.low_freq_factor, high = old / s.high_freq_factor;
            for (double& v : f) {
                const double wl = 2 * M_PI / v;
                if (wl > low) {
                    v = v / s.factor;
                } else if (!(wl < high)) {
                    const double smooth = (old / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                    v = (1 - smooth) * v / s.factor + smooth * v;
                }
            }
        }
        return f;
    }

    // Rotate-half RoPE on every head of every row.
    void rope(Mat& m, const Vec& f) const {
        const size_t hs = static_cast<size_t>(c_.head_size()), half = hs / 2;
        for (size_t t = 0; t < m.size(); ++t)
            for (size_t h0 = 0; h0 < m[t].size(); h0 += hs)
                for (size_t i = 0; i < half; ++i) {
                    const double a = double(t) * f[i], x0 = m[t][h0 + i], x1 = m[t][h0 + i + half];
                    m[t][h0 + i] = x0 * std::cos(a) - x1 * std::sin(a);
                    m[t][h0 + i + half] = x1 * std::cos(a) + x0 * std::sin(a);
                }
    }

    // Softmax, top-k (transformers: the k largest), optionally renormalized.
    std::vector<std::pair<int64_t, double>> route(const Vec& logits) const {
        const double peak = *std::max_element(logits.begin(), logits.end());
        Vec p(logits.size());
        double sum = 0.0;
        for (size_t e = 0; e < p.size(); ++e) sum += p[e] = std::exp(logits[e] - peak);
        for (double& v : p) v /= sum;
        std::vector<int64_t> order(p.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[size_t(a)] > p[size_t(b)]; });
        std::vector<std::pair<int64_t, double>> out;
        double kept = 0.0;
        for (int64_t j = 0; j < c_.moe.top_k; ++j) kept += p[size_t(order[size_t(j)])];
        for (int64_t j = 0; j < c_.moe.top_k; ++j) {
            const int64_t e = order[size_t(j)];
            out.push_back({e, p[size_t(e)] / (c_.moe.norm_topk_prob ? kept : 1.0)});
        }
        return out;
    }

    Mat swiglu_ffn(const Mat& x, const Mat& gate, const Mat& up, const Mat& down) const {
        Mat g = linear(x, gate);
        const Mat u = linear(x, up);
        for (size_t t = 0; t < g.size(); ++t)
            for (size_t i = 0; i < g[t].size(); ++i) g[t][i] = silu(g[t][i]) * u[t][i];
        return linear(g, down);
    }

    // Logits of `tokens`; `ffn_inputs` (nullable) receives each block's FFN input.
    Mat forward(const std::vector<int>& tokens, std::vector<Mat>* ffn_inputs = nullptr) const {
        const ModelConfig& c = c_;
        const Mat emb = mat("model.embed_tokens.weight");
        const int64_t T = static_cast<int64_t>(tokens.size()), hs = c.head_size();
        Mat x;
        for (int id : tokens) x.push_back(emb[size_t(id)]);
        const Vec f = inv_freq(T);
        for (int64_t b = 0; b < c.n_layers; ++b) {
            const std::string p = "model.layers." + std::to_string(b) + ".";
            const std::string a = p + "self_attn.";
            Mat h;
            for (const Vec& r : x) h.push_back(rmsnorm(r, vec(p + "input_layernorm.weight")));
            const bool bias = has(a + "q_proj.bias");
            const Vec bq = bias ? vec(a + "q_proj.bias") : Vec(), bk = bias ? vec(a + "k_proj.bias") : Vec(),
                      bv = bias ? vec(a + "v_proj.bias") : Vec();
            Mat q = linear(h, mat(a + "q_proj.weight"), bias ? &bq : nullptr);
            Mat k = linear(h, mat(a + "k_proj.weight"), bias ? &bk : nullptr);
            const Mat v = linear(h, mat(a + "v_proj.weight"), bias ? &bv : nullptr);
            if (has(a + "q_norm.weight")) {
                const Vec qn = vec(a + "q_norm.weight"), kn = vec(a + "k_norm.weight");
                for (Mat* m : {&q, &k})
                    for (Vec& r : *m)
                        for (size_t h0 = 0; h0 < r.size(); h0 += size_t(hs)) {
                            const Vec head(r.begin() + long(h0), r.begin() + long(h0 + size_t(hs)));
                            const Vec n = rmsnorm(head, m == &q ? qn : kn);
                            std::copy(n.begin(), n.end(), r.begin() + long(h0));
                        }
            }
            rope(q, f);
            rope(k, f);
            Mat heads(size_t(T), Vec(size_t(c.q_dim()), 0.0));
            const int64_t group = c.n_heads / c.n_kv_heads;
            for (int64_t hd = 0; hd < c.n_heads; ++hd) {
                const size_t qo = size_t(hd * hs), ko = size_t((hd / group) * hs);
                for (int64_t t = 0; t < T; ++t) {
                    Vec s(size_t(t + 1), -INFINITY);
                    double peak = -INFINITY;
                    for (int64_t j = 0; j <= t; ++j) {
                        if (c.sliding_window > 0 && !(j > t - c.sliding_window)) continue;  // kv > q - window
                        double dot = 0.0;
                        for (int64_t i = 0; i < hs; ++i) dot += q[size_t(t)][qo + size_t(i)] * k[size_t(j)][ko + size_t(i)];
                        s[size_t(j)] = dot / std::sqrt(double(hs));
                        peak = std::max(peak, s[size_t(j)]);
                    }
                    double sum = 0.0;
                    for (double& e : s) sum += e = std::isinf(e) ? 0.0 : std::exp(e - peak);
                    for (int64_t j = 0; j <= t; ++j)
                        for (int64_t i = 0; i < hs; ++i)
                            heads[size_t(t)][qo + size_t(i)] += s[size_t(j)] / sum * v[size_t(j)][ko + size_t(i)];
                }
            }
            const bool obias = has(a + "o_proj.bias");
            const Vec bo = obias ? vec(a + "o_proj.bias") : Vec();
            const Mat o = linear(heads, mat(a + "o_proj.weight"), obias ? &bo : nullptr);
            for (size_t t = 0; t < x.size(); ++t)
                for (size_t i = 0; i < x[t].size(); ++i) x[t][i] += o[t][i];
            Mat h2;
            for (const Vec& r : x) h2.push_back(rmsnorm(r, vec(p + "post_attention_layernorm.weight")));
            if (ffn_inputs) ffn_inputs->push_back(h2);
            const Mat y = ffn(b, h2);
            for (size_t t = 0; t < x.size(); ++t)
                for (size_t i = 0; i < x[t].size(); ++i) x[t][i] += y[t][i];
        }
        const Mat cls = has("lm_head.weight") && !c.shared_classifier ? mat("lm_head.weight") : emb;
        Mat normed;
        for (const Vec& r : x) normed.push_back(rmsnorm(r, vec("model.norm.weight")));
        return linear(normed, cls);
    }

    Mat ffn(int64_t b, const Mat& h) const {
        const std::string p = "model.layers." + std::to_string(b) + ".";
        const bool mixtral = c_.family == "mixtral";
        std::string m = p + "mlp.";
        if (mixtral && has(p + "block_sparse_moe.gate.weight")) m = p + "block_sparse_moe.";
        if (!has(m + "gate.weight"))
            return swiglu_ffn(h, mat(p + "mlp.gate_proj.weight"), mat(p + "mlp.up_proj.weight"),
                              mat(p + "mlp.down_proj.weight"));
        const Mat logits = linear(h, mat(m + "gate.weight"));
        Mat y(h.size(), Vec(h[0].size(), 0.0));
        const bool fused = has(m + "experts.gate_up_proj");
        for (size_t t = 0; t < h.size(); ++t)
            for (const auto& [e, w] : route(logits[t])) {
                Mat gate, up, down;
                if (fused) {
                    const Mat gu = mat(m + "experts.gate_up_proj", e);
                    gate.assign(gu.begin(), gu.begin() + long(gu.size() / 2));
                    up.assign(gu.begin() + long(gu.size() / 2), gu.end());
                    down = mat(m + "experts.down_proj", e);
                } else {
                    const std::string x = m + "experts." + std::to_string(e) + ".";
                    gate = mat(x + (mixtral ? "w1" : "gate_proj") + ".weight");
                    up = mat(x + (mixtral ? "w3" : "up_proj") + ".weight");
                    down = mat(x + (mixtral ? "w2" : "down_proj") + ".weight");
                }
                const Mat out = swiglu_ffn({h[t]}, gate, up, down);
                for (size_t i = 0; i < y[t].size(); ++i) y[t][i] += w * out[0][i];
            }
        if (has(p + "mlp.shared_expert_gate.weight")) {
            const Mat s = swiglu_ffn(h, mat(p + "mlp.shared_expert.gate_proj.weight"),
                                     mat(p + "mlp.shared_expert.up_proj.weight"),
                                     mat(p + "mlp.shared_expert.down_proj.weight"));
            const Mat g = linear(h, mat(p + "mlp.shared_expert_gate.weight"));
            for (size_t t = 0; t < y.size(); ++t)
                for (size_t i = 0; i < y[t].size(); ++i) y[t][i] += s[t][i] / (1.0 + std::exp(-g[t][0]));
        }
        return y;
    }

private:
    TensorStore store_;
    ModelConfig c_;
};

// ---------------------------------------------------------------------------------------

ModelConfig base_config(const std::string& family) {
    ModelConfig c;
    c.family = family;
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = 97;
    c.seq_len = 64;
    c.norm_eps = 1e-6f;
    c.rope_theta = 10000.0f;
    return c;
}

struct Family {
    std::string name;
    ModelConfig config;
};

std::vector<Family> families() {
    std::vector<Family> out;
    {
        ModelConfig c = base_config("llama");  // Llama 3: rope_scaling llama3, untied
        c.rope_theta = 500000.0f;
        c.rope_scaling = {RopeScalingKind::llama3, 8.0, 1.0, 4.0, 16};
        c.shared_classifier = false;
        out.push_back({"llama3", c});
    }
    {
        ModelConfig c = base_config("llama");  // linear scaling, Llama attention_bias (q/k/v/o)
        c.rope_scaling = {RopeScalingKind::linear, 4.0, 1.0, 4.0, 0};
        c.qkv_bias = c.o_bias = true;
        out.push_back({"llama_linear_bias", c});
    }
    {
        ModelConfig c = base_config("llama");  // dynamic NTK past an 8-token original context
        c.seq_len = 8;
        c.rope_scaling = {RopeScalingKind::dynamic, 2.0, 1.0, 4.0, 0};
        out.push_back({"llama_dynamic", c});
    }
    {
        ModelConfig c = base_config("mistral");
        c.sliding_window = 5;
        out.push_back({"mistral", c});
    }
    {
        ModelConfig c = base_config("qwen2");
        c.qkv_bias = true;
        c.shared_classifier = false;
        out.push_back({"qwen2", c});
    }
    {
        ModelConfig c = base_config("qwen3");
        c.qk_norm = true;
        c.head_dim = 32;  // q_dim 128 != dim 64
        out.push_back({"qwen3", c});
    }
    {
        ModelConfig c = base_config("mixtral");
        c.moe = MoeConfig{4, 2, 48, 0, true, false, 1, {}};
        c.hidden_dim = 48;
        out.push_back({"mixtral", c});
    }
    {
        ModelConfig c = base_config("qwen2_moe");
        c.qkv_bias = true;
        c.moe = MoeConfig{4, 2, 32, 40, false, false, 1, {0}};  // block 0 dense (mlp_only_layers)
        out.push_back({"qwen2_moe", c});
    }
    {
        ModelConfig c = base_config("qwen3_moe");
        c.qk_norm = true;
        c.moe = MoeConfig{4, 2, 32, 0, true, true, 1, {}};  // fused 3-D experts
        out.push_back({"qwen3_moe_fused", c});
    }
    {
        ModelConfig c = base_config("mixtral");
        c.moe = MoeConfig{4, 2, 48, 0, true, true, 1, {}};  // Mixtral in the fused layout
        c.hidden_dim = 48;
        out.push_back({"mixtral_fused", c});
    }
    return out;
}

std::vector<int> tokens_of(uint64_t seed, size_t n, int vocab) {
    std::mt19937_64 rng(seed);
    std::vector<int> t(n);
    for (int& v : t) v = static_cast<int>(rng() % static_cast<uint64_t>(vocab));
    return t;
}

std::vector<std::vector<int>> calibration(int vocab) {
    std::vector<std::vector<int>> seqs;
    for (uint64_t s = 0; s < 4; ++s) seqs.push_back(tokens_of(100 + s, 24, vocab));
    return seqs;
}

double max_rel_diff(const Matrix& got, const Mat& want) {
    double worst = 0.0, scale = 0.0;
    for (const Vec& r : want)
        for (double v : r) scale = std::max(scale, std::abs(v));
    for (int64_t t = 0; t < got.rows; ++t)
        for (int64_t j = 0; j < got.cols; ++j)
            worst = std::max(worst, std::abs(got.row(t)[j] - want[size_t(t)][size_t(j)]));
    return worst / scale;
}

class Families : public ::testing::TestWithParam<Family> {};

TEST_P(Families, ForwardMatchesTheTranscriptionAndCompressedModelsRoundTrip) {
    const Family& fam = GetParam();
    TempDir dir;
    const std::string src = dir.file("src");
    write_random_checkpoint(src, fam.config, Dtype::F32, 7, uint64_t{1} << 30, 2);
    const Model m = load_hf(src);
    EXPECT_EQ(m.config.family, fam.config.family);
    EXPECT_EQ(m.config.moe.fused, fam.config.moe.fused);

    const auto ctx = pipeline_test::two_threads();
    Backend& be = backend_for(*ctx);
    const std::vector<int> tokens = tokens_of(1, 12, static_cast<int>(m.config.vocab_size));
    const Reference ref(src, fam.config);
    const Mat want = ref.forward(tokens);
    EXPECT_LT(max_rel_diff(forward(be, m, tokens), want), 1e-4) << fam.name;

    for (const char* recipe : {R"({"default": {"method": "sparsegpt", "sparsity": 0.5}})",
                               R"({"default": {"method": "gptq", "bits": 4, "group": 32}})"}) {
        Model c = m;
        const CompressionReport report =
            compress_model(c, calibration(static_cast<int>(m.config.vocab_size)), pipeline_test::recipe(recipe), ctx);
        // Every linear of the family is compressed (routed experts included); biases,
        // norms and the router stay as they were.
        size_t linears = 0;
        for (int64_t b = 0; b < m.config.n_layers; ++b) {
            const LayerWeights& L = m.layers[size_t(b)];
            linears += 4 + (L.w1.rows > 0 ? 3 : 0) + 3 * L.experts.size();
            const LayerWeights& K = c.layers[size_t(b)];
            EXPECT_EQ(K.bq, L.bq);
            EXPECT_EQ(K.bo, L.bo);
            EXPECT_EQ(K.q_norm, L.q_norm);
            EXPECT_EQ(K.router.data, L.router.data);
            EXPECT_EQ(K.shared_gate.data, L.shared_gate.data);
        }
        EXPECT_EQ(report.layers.size(), linears) << fam.name;
        for (const CompressedLayer& l : report.layers) EXPECT_TRUE(l.loss.has_value()) << l.name;
        const std::string out = dir.file("out");
        save_hf(c, out, Dtype::F32);
        const Model back = load_hf(out);
        EXPECT_EQ(back.config.family, fam.config.family);
        const Matrix a = forward(be, c, tokens), b = forward(be, back, tokens);
        ASSERT_EQ(a.data.size(), b.data.size());
        for (size_t i = 0; i < a.data.size(); ++i) ASSERT_EQ(a.data[i], b.data[i]) << fam.name << " logit " << i;
        // The reference reads the saved compressed checkpoint the same way.
        const ModelConfig saved = back.config;
        EXPECT_LT(max_rel_diff(b, Reference(out, saved).forward(tokens)), 1e-4) << fam.name;
    }
}

INSTANTIATE_TEST_SUITE_P(All, Families, ::testing::ValuesIn(families()),
                         [](const ::testing::TestParamInfo<Family>& p) { return p.param.name; });

// The report's per-expert token counts, against a routing of the dense model's FFN inputs
// made here (the recipe leaves everything before the last block's experts dense, so the
// experts see exactly those inputs), and the fallback of experts below --moe-min-tokens.
TEST(MoeCalibration, TokenCountsAndStarvedExpertsFollowThePolicy) {
    ModelConfig config = families()[6].config;  // mixtral
    TempDir dir;
    write_random_checkpoint(dir.file("src"), config, Dtype::F32, 11, uint64_t{1} << 30, 2);
    const Model m = load_hf(dir.file("src"));
    const Reference ref(dir.file("src"), config);
    const auto calib = calibration(static_cast<int>(config.vocab_size));
    std::vector<int64_t> counts(4, 0);
    for (const auto& seq : calib) {
        std::vector<Mat> ffn_in;
        ref.forward(seq, &ffn_in);
        const Mat logits = Reference::linear(ffn_in[1], ref.mat("model.layers.1.block_sparse_moe.gate.weight"));
        for (const Vec& l : logits)
            for (const auto& [e, w] : ref.route(l)) ++counts[size_t(e)];
    }
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), int64_t{0}), 4 * 24 * 2);
    const int64_t lo = *std::min_element(counts.begin(), counts.end());
    const int64_t hi = *std::max_element(counts.begin(), counts.end());
    ASSERT_LT(lo, hi) << "the random router should route unevenly";
    const int64_t threshold = (lo + hi + 1) / 2;

    for (const char* policy : {"pooled", "rtn"}) {
        nlohmann::json j = nlohmann::json::parse(R"({"default": {"method": "sparsegpt", "sparsity": 0.5},
            "rules": [{"match": "layers.0.*", "skip": true}, {"match": "layers.1.w?", "skip": true}]})");
        j["moe"] = {{"min_tokens", threshold}, {"fallback", policy}};
        Model c = m;
        const CompressionReport report = compress_model(c, calib, Recipe::from_json(j), pipeline_test::two_threads());
        const nlohmann::json out = report.to_json();
        int starved = 0;
        for (const auto& e : out.at("moe_experts")) {
            const std::string name = e.at("expert");
            if (name.rfind("layers.1.", 0) != 0) continue;
            const int64_t id = std::stoll(name.substr(name.rfind('.') + 1));
            EXPECT_EQ(e.at("tokens").get<int64_t>(), counts[size_t(id)]) << name;
            const bool fell = counts[size_t(id)] < threshold;
            starved += fell;
            EXPECT_EQ(e.at("fell_back").get<bool>(), fell) << name;
            if (fell) {
                EXPECT_EQ(e.at("fallback"), policy) << name;
            }
        }
        EXPECT_GT(starved, 0);
        for (const CompressedLayer& l : report.layers) {
            if (l.name.rfind("layers.1.experts.", 0) != 0) continue;
            const bool fell = !l.fallback.empty();
            // rtn turns a starved expert's SparseGPT into magnitude pruning; pooled keeps it.
            EXPECT_EQ(method_name(l.plan.method), std::string(fell && std::string(policy) == "rtn" ? "magnitude" : "sparsegpt"))
                << l.name;
            EXPECT_NEAR(l.sparsity, 0.5, 0.02) << l.name;
        }
    }
}

}  // namespace
