#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include <unistd.h>

#include "core/error.hpp"
#include "io/llama2c.hpp"
#include "io/checkpoint.hpp"
#include "llama2c_data.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "surgeon_llama2c_" + std::to_string(::getpid()) + "_" + name;
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
}

surgeon_status load_status(const std::string& path) {
    try {
        read_llama2c(path);
    } catch (const Error& e) {
        return e.status();
    }
    return SURGEON_OK;
}

Matrix random_matrix(int64_t r, int64_t c, std::mt19937& rng) {
    std::normal_distribution<float> d(0.0f, 0.1f);
    Matrix m(r, c);
    for (float& v : m.data) v = d(rng);
    return m;
}

std::vector<float> norm_weights(int64_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> d(0.5f, 1.5f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
}

// A random model in memory: `hidden` rows of w1 per layer.
Model random_model(bool shared, const std::vector<int64_t>& hidden) {
    std::mt19937 rng(7);
    Model m;
    ModelConfig& c = m.config;
    c.dim = 16;
    c.hidden_dim = hidden[0];
    c.n_layers = static_cast<int64_t>(hidden.size());
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = 11;
    c.seq_len = 9;
    c.shared_classifier = shared;
    m.tok_emb = random_matrix(c.vocab_size, c.dim, rng);
    for (int64_t h : hidden) {
        LayerWeights L;
        L.rms_att = norm_weights(c.dim, rng);
        L.rms_ffn = norm_weights(c.dim, rng);
        L.wq = random_matrix(c.dim, c.dim, rng);
        L.wk = random_matrix(c.kv_dim(), c.dim, rng);
        L.wv = random_matrix(c.kv_dim(), c.dim, rng);
        L.wo = random_matrix(c.dim, c.dim, rng);
        L.w1 = random_matrix(h, c.dim, rng);
        L.w2 = random_matrix(c.dim, h, rng);
        L.w3 = random_matrix(h, c.dim, rng);
        m.layers.push_back(std::move(L));
    }
    m.rms_final = norm_weights(c.dim, rng);
    if (!shared) m.wcls = random_matrix(c.vocab_size, c.dim, rng);
    return m;
}

void expect_same_weights(const Model& a, const Model& b) {
    EXPECT_EQ(a.tok_emb.data, b.tok_emb.data);
    EXPECT_EQ(a.rms_final, b.rms_final);
    EXPECT_EQ(a.wcls.data, b.wcls.data);
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t l = 0; l < a.layers.size(); ++l) {
        EXPECT_EQ(a.layers[l].rms_att, b.layers[l].rms_att);
        EXPECT_EQ(a.layers[l].rms_ffn, b.layers[l].rms_ffn);
        for (const char* name : kLinearNames) {
            EXPECT_EQ(linear(a.layers[l], name).data, linear(b.layers[l], name).data)
                << name << " of layer " << l;
        }
    }
}

}  // namespace

TEST(Llama2c, ReadsStories260KHeaderAndWeights) {
    const std::string path = surgeon_test::model_file();
    if (path.empty()) GTEST_SKIP() << "stories260K.bin not found";
    const Model m = read_llama2c(path);
    const ModelConfig& c = m.config;
    EXPECT_EQ(c.dim, 64);
    EXPECT_EQ(c.hidden_dim, 172);
    EXPECT_EQ(c.n_layers, 5);
    EXPECT_EQ(c.n_heads, 8);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.vocab_size, 512);
    EXPECT_EQ(c.seq_len, 512);
    EXPECT_TRUE(c.shared_classifier);
    EXPECT_EQ(c.head_size(), 8);
    EXPECT_EQ(c.kv_dim(), 32);
    EXPECT_NO_THROW(validate_shapes(m));
    EXPECT_EQ(&m.classifier(), &m.tok_emb);

    // Spot values straight from the file: the first float of tok_emb and of rms_final.
    const std::string bytes = surgeon_test::read_text(path);
    float first = 0, final_norm = 0;
    std::memcpy(&first, bytes.data() + 28, 4);
    const size_t final_at = 28 + 4 * (512 * 64 + 5 * (64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 64 + 3 * 172 * 64));
    std::memcpy(&final_norm, bytes.data() + final_at, 4);
    EXPECT_EQ(m.tok_emb(0, 0), first);
    EXPECT_EQ(m.rms_final[0], final_norm);
    EXPECT_EQ(m.layers[4].w3.rows, 172);
}

TEST(Llama2c, WriterReproducesTheFile) {
    const std::string path = surgeon_test::model_file();
    if (path.empty()) GTEST_SKIP() << "stories260K.bin not found";
    const Model m = read_llama2c(path);
    const std::string out = temp_path("copy.bin");
    write_llama2c(m, out);
    const std::string a = surgeon_test::read_text(path), b = surgeon_test::read_text(out);
    ASSERT_EQ(a.size(), b.size());
    // Everything but the RoPE tables is identical; the tables (recomputed here) agree with
    // the ones PyTorch exported to float rounding.
    const size_t rope_at = a.size() - 2 * 4 * 512 * 4;
    EXPECT_EQ(a.compare(0, rope_at, b, 0, rope_at), 0);
    for (size_t at = rope_at; at < a.size(); at += 4) {
        float x = 0, y = 0;
        std::memcpy(&x, a.data() + at, 4);
        std::memcpy(&y, b.data() + at, 4);
        ASSERT_NEAR(x, y, 2e-4) << "RoPE table float " << (at - rope_at) / 4;
    }
    std::remove(out.c_str());
}

TEST(Llama2c, RoundTripsUnsharedClassifierAndSlicedFfn) {
    for (bool shared : {true, false}) {
        Model m = random_model(shared, {24, 24});
        m.config.hidden_dim = 40;  // stale after a uniform FFN slice: the file takes w1's size
        const std::string out = temp_path(shared ? "shared.bin" : "unshared.bin");
        write_llama2c(m, out);
        const Model back = read_llama2c(out);
        EXPECT_EQ(back.config.shared_classifier, shared);
        EXPECT_EQ(back.config.hidden_dim, 24);
        EXPECT_EQ(back.config.vocab_size, 11);
        expect_same_weights(m, back);
        // A negative vocab_size in the header marks the unshared classifier.
        int32_t header[7];
        std::memcpy(header, surgeon_test::read_text(out).data(), sizeof header);
        EXPECT_EQ(header[5], shared ? 11 : -11);
        std::remove(out.c_str());
    }
}

TEST(Llama2c, WriterRefusesWhatTheFormatCannotHold) {
    const std::string out = temp_path("refused.bin");
    Model mixed = random_model(true, {24, 20});
    try {
        write_llama2c(mixed, out);
        FAIL() << "per-layer FFN sizes were accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_UNSUPPORTED);
    }
    EXPECT_FALSE(surgeon_test::file_exists(out));
    Model theta = random_model(true, {24});
    theta.config.rope_theta = 500000.0f;
    EXPECT_THROW(write_llama2c(theta, out), Error);
    Model broken = random_model(true, {24});
    broken.layers[0].wk = Matrix(3, 3);
    try {
        write_llama2c(broken, out);
        FAIL() << "a wrong-sized wk was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_SHAPE);
    }
}

TEST(Llama2c, BadFilesAreIoErrors) {
    const std::string path = surgeon_test::model_file();
    if (path.empty()) GTEST_SKIP() << "stories260K.bin not found";
    const std::string good = surgeon_test::read_text(path);
    const std::string bad = temp_path("bad.bin");

    EXPECT_EQ(load_status(temp_path("missing.bin")), SURGEON_ERR_IO);
    for (size_t size : {size_t{0}, size_t{3}, size_t{27}, size_t{28}, size_t{1000}, good.size() - 4,
                        good.size() - 1}) {
        write_bytes(bad, good.substr(0, size));
        EXPECT_EQ(load_status(bad), SURGEON_ERR_IO) << "truncated to " << size << " bytes";
    }
    write_bytes(bad, good + "xxxx");
    EXPECT_EQ(load_status(bad), SURGEON_ERR_IO) << "trailing bytes";

    auto with_header_field = [&](int field, int32_t value) {
        std::string b = good;
        std::memcpy(&b[static_cast<size_t>(4 * field)], &value, 4);
        return b;
    };
    const std::pair<int, int32_t> corrupt[] = {
        {0, 0}, {0, -64}, {0, 63}, {1, 0}, {2, 0}, {3, 0}, {3, 7}, {4, 3}, {4, 16}, {5, 0},
        {6, 0}, {0, 0x616b3432}, {0, INT32_MAX}, {5, INT32_MIN}, {6, 511}, {5, -512}};
    for (const auto& [field, value] : corrupt) {
        write_bytes(bad, with_header_field(field, value));
        EXPECT_EQ(load_status(bad), SURGEON_ERR_IO) << "header field " << field << " = " << value;
    }
    std::string nan_weight = good;
    const float nan = std::nanf("");
    std::memcpy(&nan_weight[28 + 4 * 100], &nan, 4);
    write_bytes(bad, nan_weight);
    EXPECT_EQ(load_status(bad), SURGEON_ERR_NUMERIC) << "NaN weight";
    std::remove(bad.c_str());
}

TEST(Llama2c, LoadModelEntryPoint) {
    const std::string path = surgeon_test::model_file();
    if (path.empty()) GTEST_SKIP() << "stories260K.bin not found";
    EXPECT_EQ(load_model(path).config.dim, 64);
    try {
        load_model(temp_path("nothing_here"));
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_IO);
    }
    // The tokenizer is found beside the model (both copies keep tok512.bin next to it).
    const std::string tok = find_tokenizer_beside(path, 512);
    EXPECT_NE(tok.find("tok512.bin"), std::string::npos);
    EXPECT_EQ(find_tokenizer_beside(path, 1000), "");
}

TEST(Llama2c, LinearByName) {
    LayerWeights L;
    L.w2 = Matrix(2, 3, 1.0f);
    EXPECT_EQ(&linear(L, "w2"), &L.w2);
    EXPECT_EQ(&linear(L, "wq"), &L.wq);
    EXPECT_EQ(linear(L, "w2").cols, 3);
    try {
        linear(L, "w4");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_INVALID_ARGUMENT);
    }
}
