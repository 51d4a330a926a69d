#include "io/llama2c.hpp"

#include <cmath>
#include <cstdio>
#include <memory>

#include "core/error.hpp"
#include "io/model_writer.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "llama2.c files are little-endian and read without byte swapping");

namespace surgeon::model {
namespace {

using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

FilePtr open_file(const std::string& path, const char* mode) {
    FilePtr f(std::fopen(path.c_str(), mode), &std::fclose);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    return f;
}

// Sequential reader that names the array being read when the file ends early or holds a
// non-finite value (a sign of a corrupt or mis-sized file).
class Reader {
public:
    Reader(std::FILE* f, const std::string& path) : f_(f), path_(path) {}

    void floats(float* dst, int64_t n, const std::string& what) {
        if (std::fread(dst, sizeof(float), static_cast<size_t>(n), f_) != static_cast<size_t>(n))
            fail(SURGEON_ERR_IO, "'" + path_ + "' is truncated in " + what);
        for (int64_t i = 0; i < n; ++i)
            if (!std::isfinite(dst[i]))
                fail(SURGEON_ERR_IO, "'" + path_ + "' has a non-finite value in " + what);
    }
    Matrix matrix(int64_t rows, int64_t cols, const std::string& what) {
        Matrix m(rows, cols);
        floats(m.data.data(), rows * cols, what);
        return m;
    }
    std::vector<float> vector(int64_t n, const std::string& what) {
        std::vector<float> v(static_cast<size_t>(n));
        floats(v.data(), n, what);
        return v;
    }
    void skip(int64_t n_floats, const std::string& what) {
        if (std::fseek(f_, static_cast<long>(n_floats * 4), SEEK_CUR) != 0)
            fail(SURGEON_ERR_IO, "'" + path_ + "' is truncated in " + what);
    }

private:
    std::FILE* f_;
    const std::string& path_;
};

int64_t file_size(std::FILE* f, const std::string& path) {
    if (std::fseek(f, 0, SEEK_END) != 0) fail(SURGEON_ERR_IO, "cannot seek in '" + path + "'");
    const long size = std::ftell(f);
    if (size < 0 || std::fseek(f, 0, SEEK_SET) != 0)
        fail(SURGEON_ERR_IO, "cannot seek in '" + path + "'");
    return size;
}

constexpr int32_t kVersionedMagic = 0x616b3432;  // "ak42": llama2.c's newer export formats

ModelConfig parse_header(const int32_t h[7], const std::string& path) {
    auto bad = [&](const std::string& why) {
        fail(SURGEON_ERR_IO, "'" + path + "' is not a llama2.c checkpoint: " + why);
    };
    if (h[0] == kVersionedMagic)
        fail(SURGEON_ERR_IO, "'" + path + "' is a versioned llama2.c export; only the legacy "
                             "format (export --version 0) is supported");
    auto in_range = [](int64_t v, int64_t hi) { return v >= 1 && v <= hi; };
    ModelConfig c;
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    c.shared_classifier = h[5] > 0;
    c.vocab_size = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
    c.seq_len = h[6];
    // Bounds far above any real model keep every size product within int64.
    if (!in_range(c.dim, 1 << 20) || !in_range(c.hidden_dim, 1 << 22) ||
        !in_range(c.n_layers, 1 << 12) || !in_range(c.n_heads, 1 << 12) ||
        !in_range(c.n_kv_heads, 1 << 12) || !in_range(c.vocab_size, 1 << 24) ||
        !in_range(c.seq_len, 1 << 24))
        bad("header field out of range");
    if (c.dim % c.n_heads != 0) bad("dim is not a multiple of n_heads");
    if (c.head_size() % 2 != 0) bad("odd head size");
    if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
        bad("n_heads is not a multiple of n_kv_heads");
    return c;
}

int64_t expected_floats(const ModelConfig& c) {
    const int64_t per_layer = 2 * c.dim + 2 * c.dim * c.dim + 2 * c.kv_dim() * c.dim +
                              3 * c.hidden_dim * c.dim;
    const int64_t rope = c.seq_len * c.head_size();  // real and imaginary halves
    return c.vocab_size * c.dim + c.n_layers * per_layer + c.dim + rope +
           (c.shared_classifier ? 0 : c.vocab_size * c.dim);
}

}  // namespace

Model read_llama2c(const std::string& path) {
    FilePtr f = open_file(path, "rb");
    const int64_t size = file_size(f.get(), path);
    int32_t header[7];
    if (size < static_cast<int64_t>(sizeof header) ||
        std::fread(header, sizeof header, 1, f.get()) != 1)
        fail(SURGEON_ERR_IO, "'" + path + "' is too short for a llama2.c header");
    Model m;
    m.config = parse_header(header, path);
    const ModelConfig& c = m.config;
    const int64_t expected = static_cast<int64_t>(sizeof header) + 4 * expected_floats(c);
    if (size != expected)
        fail(SURGEON_ERR_IO, "'" + path + "' has " + std::to_string(size) +
                                 " bytes but its header describes " + std::to_string(expected));

    Reader r(f.get(), path);
    m.tok_emb = r.matrix(c.vocab_size, c.dim, "tok_emb");
    m.layers.resize(static_cast<size_t>(c.n_layers));
    // Each array is stored for all layers before the next one starts.
    auto each_layer = [&](const char* what, auto&& read_one) {
        for (int64_t l = 0; l < c.n_layers; ++l)
            read_one(m.layers[static_cast<size_t>(l)],
                     std::string(what) + " of layer " + std::to_string(l));
    };
    each_layer("rms_att", [&](LayerWeights& L, const std::string& w) { L.rms_att = r.vector(c.dim, w); });
    each_layer("wq", [&](LayerWeights& L, const std::string& w) { L.wq = r.matrix(c.dim, c.dim, w); });
    each_layer("wk", [&](LayerWeights& L, const std::string& w) { L.wk = r.matrix(c.kv_dim(), c.dim, w); });
    each_layer("wv", [&](LayerWeights& L, const std::string& w) { L.wv = r.matrix(c.kv_dim(), c.dim, w); });
    each_layer("wo", [&](LayerWeights& L, const std::string& w) { L.wo = r.matrix(c.dim, c.dim, w); });
    each_layer("rms_ffn", [&](LayerWeights& L, const std::string& w) { L.rms_ffn = r.vector(c.dim, w); });
    each_layer("w1", [&](LayerWeights& L, const std::string& w) { L.w1 = r.matrix(c.hidden_dim, c.dim, w); });
    each_layer("w2", [&](LayerWeights& L, const std::string& w) { L.w2 = r.matrix(c.dim, c.hidden_dim, w); });
    each_layer("w3", [&](LayerWeights& L, const std::string& w) { L.w3 = r.matrix(c.hidden_dim, c.dim, w); });
    m.rms_final = r.vector(c.dim, "rms_final");
    r.skip(c.seq_len * c.head_size(), "freq_cis");  // RoPE is recomputed from the config
    if (!c.shared_classifier) m.wcls = r.matrix(c.vocab_size, c.dim, "wcls");
    return m;
}

void write_llama2c(const Model& m, const std::string& path) {
    WriterOptions options;
    options.format = ModelFormat::llama2c;
    options.overwrite = true;
    write_model(m, path, options);
}

}  // namespace surgeon::model
