// Hugging Face checkpoints: save_hf/load_hf round trips per dtype, the q/k row permutation
// between llama2.c's adjacent-pair RoPE and HF's rotate-half RoPE (checked against the
// closed form and against an independent rotate-half attention computed from the raw HF
// tensors), sharded checkpoints, per-layer FFN sizes, and malformed directories.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "nn/forward.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"
#include "io/safetensors.hpp"
#include "hf_util.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::TempDir;

const Model& stories() {
    static const Model m = read_llama2c(hfio_test::stories260k_path());
    return m;
}

#define REQUIRE_STORIES() \
    if (hfio_test::stories260k_path().empty()) GTEST_SKIP() << "stories260K.bin not found"

// Applies `f` to every float of two models side by side (same shapes asserted).
template <typename F>
void for_each_value(const Model& a, const Model& b, F&& f) {
    auto mat = [&](const Matrix& x, const Matrix& y) {
        ASSERT_EQ(x.rows, y.rows);
        ASSERT_EQ(x.cols, y.cols);
        for (size_t i = 0; i < x.data.size(); ++i) f(x.data[i], y.data[i]);
    };
    auto vec = [&](const std::vector<float>& x, const std::vector<float>& y) {
        ASSERT_EQ(x.size(), y.size());
        for (size_t i = 0; i < x.size(); ++i) f(x[i], y[i]);
    };
    mat(a.tok_emb, b.tok_emb);
    mat(a.wcls, b.wcls);
    vec(a.rms_final, b.rms_final);
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t l = 0; l < a.layers.size(); ++l) {
        vec(a.layers[l].rms_att, b.layers[l].rms_att);
        vec(a.layers[l].rms_ffn, b.layers[l].rms_ffn);
        for (const char* name : kLinearNames) mat(linear(a.layers[l], name), linear(b.layers[l], name));
    }
}

TEST(HfModel, F32RoundTripIsBitExact) {
    for (bool shared : {true, false}) {
        const Model m = hfio_test::random_model(32, 48, 2, 4, 2, 40, shared, 3);
        TempDir dir;
        save_hf(m, dir.path().string(), Dtype::F32);
        EXPECT_TRUE(is_hf_dir(dir.path().string()));
        Dtype source = Dtype::I8;
        const Model back = load_hf(dir.path().string(), &source);
        EXPECT_EQ(source, Dtype::F32);
        hfio_test::expect_same_model(m, back);

        const auto config = hfio_test::read_json(dir.file("config.json"));
        EXPECT_EQ(config["torch_dtype"], "float32");
        EXPECT_EQ(config["tie_word_embeddings"], shared);
        EXPECT_EQ(config["hidden_size"], 32);
        EXPECT_EQ(config["intermediate_size"], 48);
        EXPECT_EQ(config["num_key_value_heads"], 2);
        EXPECT_EQ(config["rms_norm_eps"].get<double>(), 1e-5);  // shortest decimal, not 9.99e-06
        EXPECT_FALSE(config.contains("surgeon_intermediate_sizes"));
        SafetensorsFile st(dir.file("model.safetensors"));
        EXPECT_EQ(st.contains("lm_head.weight"), !shared) << "a tied classifier is not stored";
        EXPECT_EQ(st.metadata().at("format"), "pt");
        // 3 globals (+ lm_head) and 9 tensors per layer, nothing else.
        EXPECT_EQ(st.tensors().size(), 2u + 2 * 9 + (shared ? 0 : 1));
    }
}

TEST(HfModel, F16AndBf16RoundTripsRoundEachValueOnce) {
    const Model m = hfio_test::random_model(32, 48, 2, 4, 4, 40, false, 4);
    struct Case {
        Dtype dtype;
        float (*round)(float);
        double unit_roundoff;  // half an ulp, relative: 2^-11 for binary16, 2^-8 for bfloat16
        const char* torch;
    };
    for (const Case& c : {Case{Dtype::F16, hfio_test::f16_round, 0x1p-11, "float16"},
                          Case{Dtype::BF16, hfio_test::bf16_round, 0x1p-8, "bfloat16"}}) {
        TempDir dir;
        save_hf(m, dir.path().string(), c.dtype);
        Dtype source = Dtype::F32;
        const Model back = load_hf(dir.path().string(), &source);
        EXPECT_EQ(source, c.dtype);
        EXPECT_EQ(hfio_test::read_json(dir.file("config.json"))["torch_dtype"], c.torch);
        int64_t values = 0, changed = 0;
        for_each_value(m, back, [&](float orig, float got) {
            ++values;
            changed += orig != got;
            // Exactly the nearest narrow value, so within half an ulp, relative (binary16
            // subnormals below 2^-14 have an absolute spacing of 2^-24 instead).
            ASSERT_EQ(got, c.round(orig));
            ASSERT_LE(std::fabs(static_cast<double>(got) - orig),
                      std::max(c.unit_roundoff * std::fabs(orig), 0x1p-25));
        });
        EXPECT_GT(changed, values / 2) << "random floats are almost never representable";
        // Saving the narrowed model again changes nothing: the rounding is idempotent.
        TempDir again;
        save_hf(back, again.path().string(), c.dtype);
        hfio_test::expect_same_model(back, load_hf(again.path().string()));
    }
    expect_error([&] { save_hf(m, TempDir().path().string(), Dtype::I32); }, SURGEON_ERR_INVALID_ARGUMENT);
}

// transformers' convert_llama_weights_to_hf.py permutes q/k with
//   w.view(heads, head/2, 2, in).transpose(1, 2).reshape(heads·head, in)
// Here that reshape is carried out index by index on a tensor of row numbers.
TEST(HfModel, QkRowOrderIsTheTransformersPermutation) {
    for (auto [heads, head] : {std::pair<int64_t, int64_t>{1, 2}, {8, 8}, {4, 16}, {3, 6}}) {
        const int64_t half = head / 2;
        std::vector<int64_t> viewed(static_cast<size_t>(heads * head));  // [heads][half][2]
        for (size_t r = 0; r < viewed.size(); ++r) viewed[r] = static_cast<int64_t>(r);
        std::vector<int64_t> transposed(viewed.size());  // [heads][2][half]
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < half; ++i)
                for (int64_t t = 0; t < 2; ++t)
                    transposed[h * head + t * half + i] = viewed[h * head + i * 2 + t];
        EXPECT_EQ(hf_qk_row_order(heads * head, heads), transposed) << heads << " heads of " << head;
    }
    // Two heads of 4: HF rows are [0 2 1 3 | 4 6 5 7] of llama2.c (real parts first).
    EXPECT_EQ(hf_qk_row_order(8, 2), std::vector<int64_t>({0, 2, 1, 3, 4, 6, 5, 7}));

    std::mt19937 rng(5);
    const Matrix w = hfio_test::random_matrix(24, 5, rng);
    const Matrix hf = permute_qk_to_hf(w, 3);
    const auto order = hf_qk_row_order(24, 3);
    for (int64_t r = 0; r < 24; ++r)
        for (int64_t c = 0; c < 5; ++c) ASSERT_EQ(hf(r, c), w(order[r], c));
    hfio_test::expect_same_matrix(unpermute_qk_from_hf(hf, 3), w, "unpermute(permute(w))");
    expect_error([] { hf_qk_row_order(12, 4); }, SURGEON_ERR_SHAPE);  // head size 3 is odd
    expect_error([] { hf_qk_row_order(10, 4); }, SURGEON_ERR_SHAPE);
}

// HF's rotate-half RoPE for one head vector at position `pos` (LlamaRotaryEmbedding:
// inv_freq[i] = theta^(-2i/d), cos/sin repeated for both halves).
std::vector<double> rope_rotate_half(const double* v, int64_t d, int64_t pos, double theta) {
    const int64_t half = d / 2;
    std::vector<double> out(static_cast<size_t>(d));
    for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos) * std::pow(theta, -2.0 * i / d);
        out[i] = v[i] * std::cos(angle) - v[i + half] * std::sin(angle);
        out[i + half] = v[i + half] * std::cos(angle) + v[i] * std::sin(angle);
    }
    return out;
}

// Causal attention output of every head, computed the HF way from the checkpoint's raw
// q_proj/k_proj/v_proj of `layer` applied to `x` (T × dim, the normed block input).
Matrix hf_reference_attention(const SafetensorsFile& st, int64_t layer, const ModelConfig& c,
                              const Matrix& x, const Matrix* q_override = nullptr) {
    const std::string p = "model.layers." + std::to_string(layer) + ".self_attn.";
    const Matrix wq = q_override ? *q_override : Matrix(c.dim, c.dim, st.read_f32(p + "q_proj.weight"));
    const Matrix wk(c.kv_dim(), c.dim, st.read_f32(p + "k_proj.weight"));
    const Matrix wv(c.kv_dim(), c.dim, st.read_f32(p + "v_proj.weight"));
    const int64_t T = x.rows, hs = c.head_size(), rep = c.n_heads / c.n_kv_heads;
    auto project = [&](const Matrix& w) {
        std::vector<double> y(static_cast<size_t>(T * w.rows));
        for (int64_t t = 0; t < T; ++t)
            for (int64_t o = 0; o < w.rows; ++o) {
                double s = 0;
                for (int64_t i = 0; i < c.dim; ++i) s += static_cast<double>(w(o, i)) * x(t, i);
                y[t * w.rows + o] = s;
            }
        return y;
    };
    const auto q = project(wq), k = project(wk), v = project(wv);
    Matrix out(T, c.dim);
    for (int64_t h = 0; h < c.n_heads; ++h) {
        const int64_t kvh = h / rep;  // repeat_kv: consecutive query heads share a KV head
        std::vector<std::vector<double>> keys;
        for (int64_t s = 0; s < T; ++s)
            keys.push_back(rope_rotate_half(&k[s * c.kv_dim() + kvh * hs], hs, s, c.rope_theta));
        for (int64_t t = 0; t < T; ++t) {
            const auto qt = rope_rotate_half(&q[t * c.dim + h * hs], hs, t, c.rope_theta);
            std::vector<double> score(static_cast<size_t>(t + 1));
            double peak = -INFINITY, sum = 0;
            for (int64_t s = 0; s <= t; ++s) {
                double dot = 0;
                for (int64_t i = 0; i < hs; ++i) dot += qt[i] * keys[s][i];
                score[s] = dot / std::sqrt(static_cast<double>(hs));
                peak = std::max(peak, score[s]);
            }
            for (double& e : score) sum += (e = std::exp(e - peak));
            for (int64_t i = 0; i < hs; ++i) {
                double acc = 0;
                for (int64_t s = 0; s <= t; ++s) acc += score[s] / sum * v[s * c.kv_dim() + kvh * hs + i];
                out(t, h * hs + i) = static_cast<float>(acc);
            }
        }
    }
    return out;
}

// The HF checkpoint follows the HF convention on its own terms: attention computed from
// its raw tensors with rotate-half RoPE equals our adjacent-pair attention, head by head,
// in every layer of stories260K. With llama2.c's unpermuted wq it would not.
TEST(HfModel, Stories260KTensorsFollowTheRotateHalfConvention) {
    REQUIRE_STORIES();
    const Model& m = stories();
    TempDir dir;
    save_hf(m, dir.path().string(), Dtype::F32);
    const SafetensorsFile st(dir.file("model.safetensors"));
    std::mt19937 rng(9);
    std::vector<int> tokens(24);
    for (int& t : tokens) t = static_cast<int>(rng() % 512);
    Matrix x = embed(m, tokens);
    double worst = 0, unpermuted_gap = 0;
    for (int64_t l = 0; l < m.config.n_layers; ++l) {
        BlockCapture cap;
        Matrix next = block_forward(cpu_backend(2), m.config, m.layers[l], x, &cap);
        const Matrix ref = hf_reference_attention(st, l, m.config, cap.attn_in);
        for (size_t i = 0; i < ref.data.size(); ++i)
            worst = std::max(worst, std::fabs(static_cast<double>(ref.data[i]) - cap.attn_out_in.data[i]));
        if (l == 0) {
            const Matrix wrong = hf_reference_attention(st, l, m.config, cap.attn_in, &m.layers[0].wq);
            for (size_t i = 0; i < wrong.data.size(); ++i)
                unpermuted_gap = std::max(unpermuted_gap,
                                          std::fabs(static_cast<double>(wrong.data[i]) - cap.attn_out_in.data[i]));
        }
        x = std::move(next);
    }
    EXPECT_LT(worst, 1e-5);
    EXPECT_GT(unpermuted_gap, 1e-2) << "the check must be able to see a wrong q layout";
    // v_proj and o_proj are stored as is.
    EXPECT_EQ(st.read_f32("model.layers.2.self_attn.v_proj.weight"),
              std::vector<float>(m.layers[2].wv.data.begin(), m.layers[2].wv.data.end()));
    EXPECT_EQ(st.read_f32("model.layers.2.self_attn.o_proj.weight"),
              std::vector<float>(m.layers[2].wo.data.begin(), m.layers[2].wo.data.end()));
}

TEST(HfModel, Stories260KRoundTripIsLosslessWithEqualLogits) {
    REQUIRE_STORIES();
    const Model& m = stories();
    TempDir dir;
    save_hf(m, dir.path().string(), Dtype::F32);
    const Model back = load_hf(dir.path().string());
    hfio_test::expect_same_model(m, back);
    std::vector<int> tokens = {1, 301, 427, 309, 426, 301, 427, 309, 394, 265, 262, 415};
    const Matrix a = forward(cpu_backend(2), m, tokens), b = forward(cpu_backend(2), back, tokens);
    ASSERT_EQ(a.data.size(), b.data.size());
    double worst = 0;
    for (size_t i = 0; i < a.data.size(); ++i)
        worst = std::max(worst, std::fabs(static_cast<double>(a.data[i]) - b.data[i]));
    EXPECT_LE(worst, 1e-5);
}

TEST(HfModel, ShardedCheckpointsLoad) {
    for (Dtype dtype : {Dtype::F32, Dtype::BF16}) {
        const Model m = hfio_test::random_model(32, 40, 3, 4, 2, 30, false, 6);
        TempDir dir;
        save_hf(m, dir.path().string(), dtype);
        const Model single = load_hf(dir.path().string());
        hfio_test::shard_checkpoint(dir);
        ASSERT_FALSE(hfio_test::fs::exists(dir.file("model.safetensors")));
        EXPECT_EQ(TensorStore(dir.path().string()).shard_count(), 3u);
        Dtype source = Dtype::F32;
        hfio_test::expect_same_model(single, load_hf(dir.path().string(), &source));
        EXPECT_EQ(source, dtype);
        // A shard the index names but that is gone is an I/O error.
        hfio_test::fs::remove(dir.file("model-00002-of-00003.safetensors"));
        expect_error([&] { load_hf(dir.path().string()); }, SURGEON_ERR_IO, "cannot open");
    }
}

TEST(HfModel, PerLayerFfnSizesRoundTrip) {
    const Model m = hfio_test::random_model(32, 48, 3, 4, 2, 30, true, 7, {48, 20, 36});
    for (Dtype dtype : {Dtype::F32, Dtype::F16}) {
        TempDir dir;
        save_hf(m, dir.path().string(), dtype);
        const auto config = hfio_test::read_json(dir.file("config.json"));
        EXPECT_EQ(config["intermediate_size"], 48);
        EXPECT_EQ(config["surgeon_intermediate_sizes"], nlohmann::json({48, 20, 36}));
        const Model back = load_hf(dir.path().string());
        EXPECT_EQ(back.config.hidden_dim, 48);
        for (size_t l = 0; l < 3; ++l) {
            EXPECT_EQ(back.layers[l].w1.rows, m.layers[l].w1.rows);
            EXPECT_EQ(back.layers[l].w2.cols, m.layers[l].w1.rows);
        }
        if (dtype == Dtype::F32) hfio_test::expect_same_model(m, back);
        // The sliced model still runs: same logits as the original up to storage rounding.
        const Matrix a = forward(cpu_backend(2), m, {1, 5, 9, 2}), b = forward(cpu_backend(2), back, {1, 5, 9, 2});
        for (size_t i = 0; i < a.data.size(); ++i)
            ASSERT_NEAR(a.data[i], b.data[i], dtype == Dtype::F32 ? 0.0 : 5e-2);
    }
}

// ---------------------------------------------------------------------------------------
// Malformed directories: every problem is a surgeon::Error (I/O for broken or
// inconsistent files, UNSUPPORTED for valid checkpoints of other architectures).

struct SavedModel {
    TempDir dir;
    nlohmann::json config;
    SavedModel() {
        save_hf(hfio_test::random_model(32, 40, 2, 4, 2, 30, false, 8), dir.path().string(), Dtype::F32);
        config = hfio_test::read_json(dir.file("config.json"));
    }
    std::string path() const { return dir.path().string(); }
    // The saved config with `key` set to `value`, or without `key`.
    nlohmann::json with(const char* key, const nlohmann::json& value) const {
        nlohmann::json c = config;
        c[key] = value;
        return c;
    }
    nlohmann::json without(const char* key) const {
        nlohmann::json c = config;
        c.erase(key);
        return c;
    }
    void load_with_config(const nlohmann::json& c, surgeon_status status, const std::string& needle) {
        hfio_test::write_json(dir.file("config.json"), c);
        expect_error([&] { load_hf(path()); }, status, needle);
    }
    // Rewrites model.safetensors with `edit` applied to a copy of its tensors.
    template <typename Edit>
    void rewrite_tensors(Edit&& edit) {
        SafetensorsFile in(dir.file("model.safetensors"));
        SafetensorsWriter out;
        for (const TensorInfo& t : in.tensors()) edit(out, t, in.read_f32(t.name));
        out.write(dir.file("model.safetensors"));
    }
};

TEST(HfModel, MalformedConfigIsAnIoError) {
    SavedModel s;
    auto with = [&](const char* key, const nlohmann::json& value) { return s.with(key, value); };
    auto without = [&](const char* key) { return s.without(key); };
    hfio_test::write_bytes(s.dir.file("config.json"), "{\"hidden_size\": 32,");
    expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, "invalid JSON");
    hfio_test::write_bytes(s.dir.file("config.json"), "");
    expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, "invalid JSON");
    s.load_with_config(nlohmann::json::array({1, 2}), SURGEON_ERR_IO, "not a JSON object");
    s.load_with_config(without("hidden_size"), SURGEON_ERR_IO, "missing \"hidden_size\"");
    s.load_with_config(without("vocab_size"), SURGEON_ERR_IO, "missing \"vocab_size\"");
    s.load_with_config(without("num_hidden_layers"), SURGEON_ERR_IO, "num_hidden_layers");
    for (const nlohmann::json& bad : {nlohmann::json(-32), nlohmann::json(0), nlohmann::json(32.5),
                                      nlohmann::json("32"), nlohmann::json(true),
                                      nlohmann::json(uint64_t{1} << 63), nlohmann::json::array()})
        s.load_with_config(with("hidden_size", bad), SURGEON_ERR_IO, "hidden_size");
    s.load_with_config(with("num_attention_heads", 5), SURGEON_ERR_IO, "head size");
    s.load_with_config(with("num_key_value_heads", 3), SURGEON_ERR_IO, "heads");
    // With head_dim 8 in the config, 32 heads describe a 256-row q_proj; without it the
    // head size is hidden_size / heads (odd here), which RoPE cannot rotate in pairs.
    s.load_with_config(with("num_attention_heads", 32), SURGEON_ERR_IO, "expected 256");
    {
        nlohmann::json d = with("num_attention_heads", 32);
        d.erase("head_dim");
        s.load_with_config(d, SURGEON_ERR_IO, "even head size");
    }
    {
        nlohmann::json d = with("num_attention_heads", int64_t{1} << 40);
        d["num_key_value_heads"] = int64_t{1} << 40;
        d["head_dim"] = int64_t{1} << 40;
        s.load_with_config(d, SURGEON_ERR_IO, "exceeds 2^40");
    }
    s.load_with_config(with("rms_norm_eps", "tiny"), SURGEON_ERR_IO, "rms_norm_eps");
    s.load_with_config(with("rms_norm_eps", -1e-5), SURGEON_ERR_IO, "rms_norm_eps");
    s.load_with_config(with("rope_theta", 0), SURGEON_ERR_IO, "rope_theta");
    // Positive doubles outside the float range: 0 or Inf after conversion.
    for (const char* key : {"rope_theta", "rms_norm_eps"}) {
        for (double bad : {1e-300, 1e39})
            s.load_with_config(with(key, bad), SURGEON_ERR_NUMERIC, key);
        // JSON has no Inf: 1e999 overflows the parser (the text is edited, as nlohmann
        // writes Inf as null).
        std::string text = with(key, 12345.5).dump();
        text.replace(text.find("12345.5"), 7, "1e999");
        hfio_test::write_bytes(s.dir.file("config.json"), text);
        expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, "1e999");
    }
    // Keys we read with a type that is wrong: errors, not escaping JSON exceptions.
    s.load_with_config(with("tie_word_embeddings", "yes"), SURGEON_ERR_IO, "tie_word_embeddings");
    s.load_with_config(with("model_type", 7), SURGEON_ERR_IO, "model_type");
    s.load_with_config(with("hidden_act", nlohmann::json::object()), SURGEON_ERR_IO, "hidden_act");
    // The config disagrees with the tensors.
    s.load_with_config(with("vocab_size", 31), SURGEON_ERR_IO, "embed_tokens");
    nlohmann::json wider = with("hidden_size", 64);
    wider.erase("head_dim");  // else the head_dim cross-check answers first
    s.load_with_config(wider, SURGEON_ERR_IO, "expected 64");
    s.load_with_config(with("num_hidden_layers", 3), SURGEON_ERR_IO, "model.layers.2.");
    s.load_with_config(with("num_hidden_layers", 1), SURGEON_ERR_IO, "model.layers.1.");
    // A tied config ignores a stored lm_head, as transformers does.
    hfio_test::write_json(s.dir.file("config.json"), with("tie_word_embeddings", true));
    const Model tied = load_hf(s.path());
    EXPECT_TRUE(tied.config.shared_classifier);
    EXPECT_EQ(&tied.classifier(), &tied.tok_emb);
    // No config.json at all, or a directory in its place.
    hfio_test::fs::remove(s.dir.file("config.json"));
    EXPECT_FALSE(is_hf_dir(s.path()));
    expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, "config.json");
    hfio_test::fs::create_directory(s.dir.file("config.json"));
    expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, "is a directory");
}

TEST(HfModel, MissingOrMisshapedTensorsAreIoErrors) {
    const std::string q0 = "model.layers.0.self_attn.q_proj.weight";
    auto expect_broken = [&](auto&& edit, const std::string& needle) {
        SavedModel s;
        s.rewrite_tensors(edit);
        expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, needle);
    };
    auto drop = [](const std::string& name) {
        return [name](SafetensorsWriter& w, const TensorInfo& t, const std::vector<float>& v) {
            if (t.name != name) w.add_float(t.name, t.shape, v.data(), t.dtype);
        };
    };
    auto reshape = [](const std::string& name, std::vector<int64_t> shape) {
        return [name, shape](SafetensorsWriter& w, const TensorInfo& t, const std::vector<float>& v) {
            w.add_float(t.name, t.name == name ? shape : t.shape, v.data(), t.dtype);
        };
    };
    for (const std::string& name : {q0, std::string("model.embed_tokens.weight"), std::string("model.norm.weight"),
                                   std::string("model.layers.1.mlp.down_proj.weight"),
                                   std::string("model.layers.1.post_attention_layernorm.weight")})
        expect_broken(drop(name), name);
    expect_broken(drop("lm_head.weight"), "lm_head.weight is missing");
    expect_broken(reshape(q0, {16, 64}), q0);                                // rows
    expect_broken(reshape(q0, {32, 2, 16}), "rank 3");                       // rank
    expect_broken(reshape("model.norm.weight", {2, 16}), "rank 2");
    expect_broken(reshape("model.layers.0.self_attn.k_proj.weight", {8, 64}), "k_proj");  // kv rows 16
    expect_broken(reshape("model.layers.0.mlp.up_proj.weight", {20, 64}), "up_proj");     // ≠ gate rows
    expect_broken(reshape("model.layers.0.mlp.down_proj.weight", {64, 20}), "down_proj");
    expect_broken(reshape("lm_head.weight", {60, 16}), "lm_head");
    // Integer data where floats belong.
    expect_broken([&](SafetensorsWriter& w, const TensorInfo& t, const std::vector<float>& v) {
        if (t.name != q0) return w.add_float(t.name, t.shape, v.data(), t.dtype);
        std::vector<int32_t> ints(v.size(), 1);
        w.add_i32(t.name, t.shape, ints.data());
    }, "F32, F16, BF16 or F64 expected");
    // A truncated model.safetensors.
    SavedModel s;
    const std::string bytes = hfio_test::read_bytes(s.dir.file("model.safetensors"));
    hfio_test::write_bytes(s.dir.file("model.safetensors"), bytes.substr(0, bytes.size() - 7));
    expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, "truncated");
    hfio_test::fs::remove(s.dir.file("model.safetensors"));
    expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_IO, "no model.safetensors");
}

TEST(HfModel, OtherArchitecturesAreUnsupported) {
    SavedModel s;
    auto with = [&](const char* key, const nlohmann::json& value) { return s.with(key, value); };
    s.load_with_config(with("model_type", "gpt2"), SURGEON_ERR_UNSUPPORTED, "gpt2");
    // RoPE scaling kinds a fixed-context forward cannot reproduce (docs/models.md).
    s.load_with_config(with("rope_scaling", {{"type", "yarn"}, {"factor", 2.0}}), SURGEON_ERR_UNSUPPORTED,
                       "rope_scaling.rope_type 'yarn'");
    s.load_with_config(with("rope_scaling", {{"rope_type", "longrope"}, {"factor", 2.0}}), SURGEON_ERR_UNSUPPORTED,
                       "longrope");
    s.load_with_config(with("hidden_act", "gelu"), SURGEON_ERR_UNSUPPORTED, "silu");
    s.load_with_config(with("mlp_bias", true), SURGEON_ERR_UNSUPPORTED, "mlp_bias");
    // attention_bias announces bias tensors this checkpoint lacks.
    s.load_with_config(with("attention_bias", true), SURGEON_ERR_IO, "q_proj.bias");
    auto qwen = with("model_type", "qwen3");
    qwen["use_sliding_window"] = true;
    s.load_with_config(qwen, SURGEON_ERR_UNSUPPORTED, "use_sliding_window");
    s.load_with_config(with("head_dim", 16), SURGEON_ERR_IO, "head_dim 16");  // disagrees with the tensors
    hfio_test::write_json(s.dir.file("config.json"), s.config);
    // A bias tensor the config did not announce: a model we would run wrongly.
    s.rewrite_tensors([](SafetensorsWriter& w, const TensorInfo& t, const std::vector<float>& v) {
        w.add_float(t.name, t.shape, v.data(), t.dtype);
        if (t.name == "model.layers.0.self_attn.q_proj.weight")
            w.add_float("model.layers.0.self_attn.q_proj.bias", {32}, v.data(), t.dtype);
    });
    expect_error([&] { load_hf(s.path()); }, SURGEON_ERR_UNSUPPORTED, "q_proj.bias");
    // A mistral config keeps its sliding window (null: none).
    SavedModel m;
    nlohmann::json mistral = m.config;
    mistral["model_type"] = "mistral";
    mistral["sliding_window"] = 64;  // max_position_embeddings is 128
    hfio_test::write_json(m.dir.file("config.json"), mistral);
    EXPECT_EQ(load_hf(m.path()).config.sliding_window, 64);
    mistral["sliding_window"] = nullptr;
    hfio_test::write_json(m.dir.file("config.json"), mistral);
    EXPECT_EQ(load_hf(m.path()).config.sliding_window, 0);
}

}  // namespace

TEST(HfModel, LinearNamesMapToLlama2c) {
    EXPECT_EQ(surgeon::model::llama2c_linear_name("q_proj"), "wq");
    EXPECT_EQ(surgeon::model::llama2c_linear_name("self_attn.o_proj"), "wo");
    EXPECT_EQ(surgeon::model::llama2c_linear_name("gate_proj"), "w1");
    EXPECT_EQ(surgeon::model::llama2c_linear_name("mlp.down_proj"), "w2");
    EXPECT_EQ(surgeon::model::llama2c_linear_name("up_proj"), "w3");
    EXPECT_EQ(surgeon::model::llama2c_linear_name("wk"), "wk");
    EXPECT_EQ(surgeon::model::llama2c_linear_name("proj"), "proj");  // unknown: unchanged
}
