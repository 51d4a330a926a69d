// Helpers shared by the safetensors / HF / GPTQ / convert tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/half.hpp"
#include "io/safetensors.hpp"
#include "nn/model.hpp"

namespace hfio_test {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
public:
    TempDir() {
        static int counter = 0;
        path_ = fs::temp_directory_path() /
                ("surgeon_hfio_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs fn and expects a surgeon::Error with `status` whose message contains `needle`.
template <typename Fn>
void expect_error(Fn&& fn, surgeon_status status, const std::string& needle = "") {
    try {
        fn();
        ADD_FAILURE() << "no error thrown (expected " << surgeon_status_string(status) << ")";
    } catch (const surgeon::Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << "message '" << e.what() << "' lacks '" << needle << "'";
    }
}

inline surgeon::Matrix random_matrix(int64_t rows, int64_t cols, std::mt19937& rng, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    surgeon::Matrix m(rows, cols);
    for (float& v : m.data) v = d(rng);
    return m;
}

inline std::vector<float> random_vector(int64_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> d(0.5f, 1.5f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
}

// A small random Llama model; `ffn` gives each layer's FFN size (empty: hidden for all).
inline surgeon::model::Model random_model(int64_t dim, int64_t hidden, int64_t layers, int64_t heads,
                                          int64_t kv_heads, int64_t vocab, bool shared,
                                          uint32_t seed, std::vector<int64_t> ffn = {}) {
    std::mt19937 rng(seed);
    surgeon::model::Model m;
    auto& c = m.config;
    c.dim = dim;
    c.hidden_dim = hidden;
    c.n_layers = layers;
    c.n_heads = heads;
    c.n_kv_heads = kv_heads;
    c.vocab_size = vocab;
    c.seq_len = 128;
    c.shared_classifier = shared;
    if (ffn.empty()) ffn.assign(static_cast<size_t>(layers), hidden);
    const float s = 0.1f;
    m.tok_emb = random_matrix(vocab, dim, rng);
    for (int64_t i = 0; i < layers; ++i) {
        surgeon::model::LayerWeights L;
        const int64_t h = ffn[static_cast<size_t>(i)];
        L.rms_att = random_vector(dim, rng);
        L.rms_ffn = random_vector(dim, rng);
        L.wq = random_matrix(dim, dim, rng, s);
        L.wk = random_matrix(c.kv_dim(), dim, rng, s);
        L.wv = random_matrix(c.kv_dim(), dim, rng, s);
        L.wo = random_matrix(dim, dim, rng, s);
        L.w1 = random_matrix(h, dim, rng, s);
        L.w2 = random_matrix(dim, h, rng, s);
        L.w3 = random_matrix(h, dim, rng, s);
        m.layers.push_back(std::move(L));
    }
    m.rms_final = random_vector(dim, rng);
    if (!shared) m.wcls = random_matrix(vocab, dim, rng);
    return m;
}

inline bool same_bits(const float* a, const float* b, size_t n) {
    return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}

inline void expect_same_matrix(const surgeon::Matrix& a, const surgeon::Matrix& b, const std::string& what) {
    ASSERT_EQ(a.rows, b.rows) << what;
    ASSERT_EQ(a.cols, b.cols) << what;
    EXPECT_TRUE(same_bits(a.data.data(), b.data.data(), a.data.size())) << what << " differs";
}

inline void expect_same_vector(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    EXPECT_TRUE(same_bits(a.data(), b.data(), a.size())) << what << " differs";
}

// Rows [r0, r1) of m, copied element by element.
inline surgeon::Matrix rows_of(const surgeon::Matrix& m, int64_t r0, int64_t r1) {
    surgeon::Matrix out(r1 - r0, m.cols);
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < m.cols; ++c) out(r - r0, c) = m(r, c);
    return out;
}

inline void expect_same_model(const surgeon::model::Model& a, const surgeon::model::Model& b) {
    EXPECT_EQ(a.config.dim, b.config.dim);
    EXPECT_EQ(a.config.n_layers, b.config.n_layers);
    EXPECT_EQ(a.config.n_heads, b.config.n_heads);
    EXPECT_EQ(a.config.n_kv_heads, b.config.n_kv_heads);
    EXPECT_EQ(a.config.vocab_size, b.config.vocab_size);
    EXPECT_EQ(a.config.seq_len, b.config.seq_len);
    EXPECT_EQ(a.config.shared_classifier, b.config.shared_classifier);
    EXPECT_EQ(a.config.norm_eps, b.config.norm_eps);
    EXPECT_EQ(a.config.rope_theta, b.config.rope_theta);
    expect_same_matrix(a.tok_emb, b.tok_emb, "tok_emb");
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t i = 0; i < a.layers.size(); ++i) {
        const auto& x = a.layers[i];
        const auto& y = b.layers[i];
        const std::string l = "layer " + std::to_string(i) + " ";
        ASSERT_EQ(x.rms_att.size(), y.rms_att.size());
        EXPECT_TRUE(same_bits(x.rms_att.data(), y.rms_att.data(), x.rms_att.size())) << l << "rms_att";
        ASSERT_EQ(x.rms_ffn.size(), y.rms_ffn.size());
        EXPECT_TRUE(same_bits(x.rms_ffn.data(), y.rms_ffn.data(), x.rms_ffn.size())) << l << "rms_ffn";
        expect_same_matrix(x.wq, y.wq, l + "wq");
        expect_same_matrix(x.wk, y.wk, l + "wk");
        expect_same_matrix(x.wv, y.wv, l + "wv");
        expect_same_matrix(x.wo, y.wo, l + "wo");
        expect_same_matrix(x.w1, y.w1, l + "w1");
        expect_same_matrix(x.w2, y.w2, l + "w2");
        expect_same_matrix(x.w3, y.w3, l + "w3");
    }
    ASSERT_EQ(a.rms_final.size(), b.rms_final.size());
    EXPECT_TRUE(same_bits(a.rms_final.data(), b.rms_final.data(), a.rms_final.size())) << "rms_final";
    expect_same_matrix(a.wcls, b.wcls, "wcls");
}

// The value a float becomes when stored as binary16 / bfloat16 and read back.
inline float f16_round(float v) { return surgeon::f16_to_float(surgeon::float_to_f16(v)); }
inline float bf16_round(float v) { return surgeon::bf16_to_float(surgeon::float_to_bf16(v)); }

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_bytes(path)); }
inline void write_json(const std::string& path, const nlohmann::json& j) { write_bytes(path, j.dump(2)); }

// stories260K: the repo copy when present, else the shared data; "" when neither exists.
inline std::string stories260k_path() {
    for (const std::string& p : {std::string(SURGEON_SAMPLES_DATA_DIR) + "/stories260K.bin",
                                std::string(SURGEON_SHARED_DIR) + "/data/stories260K.bin"})
        if (fs::exists(p)) return p;
    return "";
}

// A small model for gradient checks: dim 16, 4 query heads over 2 kv heads, FFN 24, 2
// blocks, untied classifier, linear weights at 0.4 so attention is far from uniform and
// every path carries gradient.
inline surgeon::model::Model gradient_test_model(uint32_t seed) {
    surgeon::model::Model m = random_model(16, 24, 2, 4, 2, 40, false, seed);
    for (surgeon::model::LayerWeights& L : m.layers)
        for (const char* name : surgeon::model::kLinearNames)
            for (float& v : surgeon::model::linear(L, name).data) v *= 4.0f;
    return m;
}

// Every stored float of `m` passed through `round` (what an f16/bf16 file holds).
inline surgeon::model::Model rounded(surgeon::model::Model m, float (*round)(float)) {
    auto apply = [&](auto& v) {
        for (float& x : v) x = round(x);
    };
    apply(m.tok_emb.data);
    apply(m.rms_final);
    apply(m.wcls.data);
    for (auto& L : m.layers) {
        apply(L.rms_att);
        apply(L.rms_ffn);
        for (surgeon::Matrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) apply(w->data);
    }
    return m;
}

// The name of shard s (0-based) of three.
inline std::string shard_name(size_t s) { return "model-0000" + std::to_string(s + 1) + "-of-00003.safetensors"; }

// Rewrites the model.safetensors of `dir` as three shards (tensors dealt round-robin)
// listed by model.safetensors.index.json.
inline void shard_checkpoint(const TempDir& dir) {
    using namespace surgeon::model;
    const std::string whole_path = dir.file("model.safetensors");
    nlohmann::json map = nlohmann::json::object();
    {
        const SafetensorsFile whole(whole_path);
        SafetensorsWriter shards[3];
        size_t k = 0;
        for (const TensorInfo& t : whole.tensors()) {
            const size_t s = k++ % 3;
            shards[s].add_float(t.name, t.shape, whole.read_f32(t.name).data(), t.dtype);
            map[t.name] = shard_name(s);
        }
        for (size_t s = 0; s < 3; ++s) shards[s].write(dir.file(shard_name(s)));
    }
    fs::remove(whole_path);
    write_json(dir.file("model.safetensors.index.json"), {{"metadata", {{"total_size", 0}}}, {"weight_map", map}});
}

}  // namespace hfio_test
