// Attention whose heads do not add up to the residual width (config.head_dim, as left by
// removing heads): the forward pass against a direct double-precision transcription of the
// Llama block, the KV cache against the whole sequence, the layout checks, and the
// checkpoint formats (HF carries head_dim, llama2.c cannot).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "io/convert.hpp"
#include "nn/forward.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"
#include "nn/model.hpp"
#include "hf_util.hpp"

namespace surgeon::model {
namespace {

using Vec = std::vector<double>;

Matrix random_matrix(int64_t rows, int64_t cols, std::mt19937& rng, float scale) {
    std::normal_distribution<float> g(0.0f, scale);
    Matrix m(rows, cols);
    for (float& v : m.data) v = g(rng);
    return m;
}

// dim 24 with 4 query heads of 4 over 2 kv heads: q_dim 16, kv_dim 8.
Model narrow_heads_model(unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> around_one(1.0f, 0.2f);
    Model m;
    ModelConfig& c = m.config;
    c.dim = 24;
    c.hidden_dim = 20;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 4;
    c.vocab_size = 30;
    c.seq_len = 16;
    m.tok_emb = random_matrix(c.vocab_size, c.dim, rng, 1.0f);
    for (int64_t l = 0; l < c.n_layers; ++l) {
        LayerWeights L;
        for (int64_t i = 0; i < c.dim; ++i) {
            L.rms_att.push_back(around_one(rng));
            L.rms_ffn.push_back(around_one(rng));
        }
        L.wq = random_matrix(16, c.dim, rng, 0.4f);
        L.wk = random_matrix(8, c.dim, rng, 0.4f);
        L.wv = random_matrix(8, c.dim, rng, 0.4f);
        L.wo = random_matrix(c.dim, 16, rng, 0.4f);
        L.w1 = random_matrix(c.hidden_dim, c.dim, rng, 0.3f);
        L.w3 = random_matrix(c.hidden_dim, c.dim, rng, 0.3f);
        L.w2 = random_matrix(c.dim, c.hidden_dim, rng, 0.3f);
        m.layers.push_back(std::move(L));
    }
    m.rms_final.assign(static_cast<size_t>(c.dim), 1.0f);
    return m;
}

Vec matvec(const Matrix& w, const Vec& x) {
    Vec y(static_cast<size_t>(w.rows), 0.0);
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c = 0; c < w.cols; ++c) y[r] += static_cast<double>(w(r, c)) * x[c];
    return y;
}

Vec rms(const Vec& x, const std::vector<float>& w, double eps) {
    double ss = 0.0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
    return y;
}

// RoPE on adjacent pairs of each head: pair j turns by pos · theta^(-2j / head_size).
void rotate(Vec& v, int64_t pos, int64_t head_size, double theta) {
    for (size_t h0 = 0; h0 < v.size(); h0 += static_cast<size_t>(head_size))
        for (int64_t j = 0; j < head_size / 2; ++j) {
            const double a = static_cast<double>(pos) * std::pow(theta, -2.0 * j / static_cast<double>(head_size));
            double& x0 = v[h0 + 2 * j];
            double& x1 = v[h0 + 2 * j + 1];
            const double r0 = x0 * std::cos(a) - x1 * std::sin(a), r1 = x0 * std::sin(a) + x1 * std::cos(a);
            x0 = r0;
            x1 = r1;
        }
}

// One block, position by position, every head spelled out; x is T rows of dim.
std::vector<Vec> reference_block(const ModelConfig& c, const LayerWeights& L, const std::vector<Vec>& x) {
    const int64_t hs = c.head_dim, group = c.n_heads / c.n_kv_heads;
    std::vector<Vec> q, k, v, out;
    for (size_t t = 0; t < x.size(); ++t) {
        const Vec a = rms(x[t], L.rms_att, c.norm_eps);
        q.push_back(matvec(L.wq, a));
        k.push_back(matvec(L.wk, a));
        v.push_back(matvec(L.wv, a));
        rotate(q.back(), static_cast<int64_t>(t), hs, c.rope_theta);
        rotate(k.back(), static_cast<int64_t>(t), hs, c.rope_theta);
    }
    for (size_t t = 0; t < x.size(); ++t) {
        Vec heads(static_cast<size_t>(c.n_heads * hs), 0.0);
        for (int64_t h = 0; h < c.n_heads; ++h) {
            const int64_t kv = (h / group) * hs;
            Vec w(t + 1);
            double peak = -1e300, sum = 0.0;
            for (size_t s = 0; s <= t; ++s) {
                double dot = 0.0;
                for (int64_t d = 0; d < hs; ++d) dot += q[t][h * hs + d] * k[s][kv + d];
                w[s] = dot / std::sqrt(static_cast<double>(hs));
                peak = std::max(peak, w[s]);
            }
            for (double& e : w) sum += (e = std::exp(e - peak));
            for (size_t s = 0; s <= t; ++s)
                for (int64_t d = 0; d < hs; ++d) heads[h * hs + d] += w[s] / sum * v[s][kv + d];
        }
        Vec h = x[t];
        const Vec o = matvec(L.wo, heads);
        for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
        const Vec f = rms(h, L.rms_ffn, c.norm_eps);
        const Vec g = matvec(L.w1, f), u = matvec(L.w3, f);
        Vec act(g.size());
        for (size_t i = 0; i < g.size(); ++i) act[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        const Vec down = matvec(L.w2, act);
        for (size_t i = 0; i < h.size(); ++i) h[i] += down[i];
        out.push_back(h);
    }
    return out;
}

TEST(ForwardHeads, HeadsNarrowerThanDimMatchTheDirectBlock) {
    const Model m = narrow_heads_model(1);
    validate_shapes(m);
    EXPECT_EQ(m.config.q_dim(), 16);
    EXPECT_EQ(m.config.kv_dim(), 8);
    const std::vector<int> tokens = {1, 7, 29, 3, 3, 12, 0, 18, 25};
    Matrix x = embed(m, tokens);
    std::vector<Vec> ref(tokens.size());
    for (size_t t = 0; t < tokens.size(); ++t)
        for (int64_t i = 0; i < m.config.dim; ++i) ref[t].push_back(x(static_cast<int64_t>(t), i));
    for (const LayerWeights& L : m.layers) {
        BlockCapture cap;
        x = block_forward(cpu_backend(2), m.config, L, x, &cap);
        EXPECT_EQ(cap.attn_out_in.cols, 16);  // the input of wo is q_dim wide
        ref = reference_block(m.config, L, ref);
        for (size_t t = 0; t < ref.size(); ++t)
            for (int64_t i = 0; i < m.config.dim; ++i)
                ASSERT_NEAR(x(static_cast<int64_t>(t), i), ref[t][i], 2e-5 * (1 + std::fabs(ref[t][i])))
                    << "position " << t << ", feature " << i;
    }
}

TEST(ForwardHeads, KvCacheMatchesTheWholeSequence) {
    const Model m = narrow_heads_model(2);
    const std::vector<int> tokens = {1, 4, 9, 16, 25, 6, 13, 20};
    const Matrix whole = forward(cpu_backend(2), m, tokens);
    KVCache cache(m);
    Matrix steps = forward_cached(cpu_backend(2), m, cache, {tokens[0], tokens[1], tokens[2]});
    for (size_t t = 3; t < tokens.size(); ++t) {
        const Matrix one = forward_cached(cpu_backend(2), m, cache, {tokens[t]});
        Matrix grown(steps.rows + 1, steps.cols);
        std::copy(steps.data.begin(), steps.data.end(), grown.data.begin());
        std::copy(one.data.begin(), one.data.end(), grown.row(steps.rows));
        steps = std::move(grown);
    }
    ASSERT_EQ(steps.rows, whole.rows);
    for (size_t i = 0; i < whole.data.size(); ++i)
        ASSERT_NEAR(steps.data[i], whole.data[i], 1e-4f * (1 + std::fabs(whole.data[i])));
}

TEST(ForwardHeads, LayoutChecks) {
    ModelConfig c;
    c.dim = 24;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    EXPECT_TRUE(c.attention_consistent());
    EXPECT_EQ(c.head_size(), 6);  // derived: dim / n_heads
    c.head_dim = 3;
    EXPECT_FALSE(c.attention_consistent()) << "odd head size";
    c.head_dim = 4;
    EXPECT_TRUE(c.attention_consistent());
    c.n_heads = 5;
    c.head_dim = 0;
    EXPECT_FALSE(c.attention_consistent()) << "24 does not split into 5 heads";
    c.head_dim = 4;
    EXPECT_FALSE(c.attention_consistent()) << "5 query heads over 2 kv heads";

    Model m = narrow_heads_model(3);
    m.layers[1].wo = Matrix(24, 24);  // a block still at the old width
    try {
        validate_shapes(m);
        FAIL() << "wo of the wrong width must be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_SHAPE);
        EXPECT_NE(std::string(e.what()).find("wo of layer 1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(forward(cpu_backend(2), m, {1, 2}), Error);
}

TEST(ForwardHeads, HfCheckpointsCarryTheHeadSize) {
    const Model m = narrow_heads_model(4);
    hfio_test::TempDir dir;
    save_hf(m, dir.path().string(), Dtype::F32);
    const nlohmann::json config = hfio_test::read_json(dir.file("config.json"));
    EXPECT_EQ(config["hidden_size"], 24);
    EXPECT_EQ(config["num_attention_heads"], 4);
    EXPECT_EQ(config["num_key_value_heads"], 2);
    EXPECT_EQ(config["head_dim"], 4);
    const Model back = load_hf(dir.path().string());
    EXPECT_EQ(back.config.head_dim, 4);
    hfio_test::expect_same_model(m, back);
    const std::vector<int> tokens = {1, 2, 3, 5, 8, 13, 21};
    EXPECT_EQ(forward(cpu_backend(2), back, tokens).data, forward(cpu_backend(2), m, tokens).data);  // f32 round trip: bit-exact

    // The config against the tensors (q_proj holds 4 heads of 4 = 16 rows).
    auto load_with = [&](const nlohmann::json& c, const std::string& needle) {
        hfio_test::write_json(dir.file("config.json"), c);
        hfio_test::expect_error([&] { load_hf(dir.path().string()); }, SURGEON_ERR_IO, needle);
    };
    nlohmann::json c = config;
    c["head_dim"] = 8;
    load_with(c, "num_attention_heads 4 × head_dim 8");
    c["head_dim"] = 3;
    load_with(c, "even head size");
    c.erase("head_dim");  // derived: 24 / 4 = 6, so q_proj should have 24 rows
    load_with(c, "expected 24");
    hfio_test::write_json(dir.file("config.json"), config);

    // llama2.c derives the head size from dim / n_heads: refused, nothing written.
    const std::string bin = dir.file("narrow.bin");
    hfio_test::expect_error([&] { write_llama2c(m, bin); }, SURGEON_ERR_UNSUPPORTED, "heads were removed");
    hfio_test::expect_error([&] { convert_model(dir.path().string(), bin, {}); }, SURGEON_ERR_UNSUPPORTED,
                            "Hugging Face directory");
    EXPECT_FALSE(hfio_test::fs::exists(bin));
}

TEST(ForwardHeads, UsualModelsKeepTheDerivedHeadSize) {
    // hidden_size / heads = head_dim: the config keeps head_dim 0 (derived), as llama2.c files.
    const Model m = hfio_test::random_model(32, 48, 1, 4, 2, 40, true, 5);
    hfio_test::TempDir dir;
    save_hf(m, dir.path().string(), Dtype::F32);
    EXPECT_EQ(hfio_test::read_json(dir.file("config.json"))["head_dim"], 8);
    const Model back = load_hf(dir.path().string());
    EXPECT_EQ(back.config.head_dim, 0);
    EXPECT_EQ(back.config.head_size(), 8);
    EXPECT_EQ(back.config.q_dim(), 32);
}

// Sequences longer than the attention's chunk of queries (several chunks, the last one
// partial): the block against the direct transcription, and a cache filled in two long
// steps (chunks starting past position 0) against the whole sequence.
TEST(ForwardHeads, LongSequencesMatchTheDirectBlockAndTheCache) {
    Model m = narrow_heads_model(3);
    m.config.seq_len = 640;
    std::mt19937 rng(4);
    const Matrix x = random_matrix(600, m.config.dim, rng, 1.0f);
    std::vector<Vec> ref(static_cast<size_t>(x.rows));
    for (int64_t t = 0; t < x.rows; ++t)
        for (int64_t i = 0; i < x.cols; ++i) ref[static_cast<size_t>(t)].push_back(x(t, i));
    const Matrix y = block_forward(cpu_backend(2), m.config, m.layers[0], x);
    ref = reference_block(m.config, m.layers[0], ref);
    for (int64_t t = 0; t < y.rows; ++t)
        for (int64_t i = 0; i < y.cols; ++i)
            ASSERT_NEAR(y(t, i), ref[static_cast<size_t>(t)][i], 2e-5 * (1 + std::fabs(ref[static_cast<size_t>(t)][i])))
                << "position " << t << ", feature " << i;

    std::uniform_int_distribution<int> token(0, static_cast<int>(m.config.vocab_size) - 1);
    std::vector<int> tokens(620);
    for (int& t : tokens) t = token(rng);
    const Matrix whole = forward(cpu_backend(2), m, tokens);
    KVCache cache(m);
    const Matrix first = forward_cached(cpu_backend(2), m, cache, std::vector<int>(tokens.begin(), tokens.begin() + 300));
    const Matrix second = forward_cached(cpu_backend(2), m, cache, std::vector<int>(tokens.begin() + 300, tokens.end()));
    ASSERT_EQ(first.rows + second.rows, whole.rows);
    for (int64_t t = 0; t < whole.rows; ++t)
        for (int64_t v = 0; v < whole.cols; ++v) {
            const float got = t < first.rows ? first(t, v) : second(t - first.rows, v);
            ASSERT_NEAR(got, whole(t, v), 1e-4f * (1 + std::fabs(whole(t, v)))) << "position " << t;
        }
}

}  // namespace
}  // namespace surgeon::model
