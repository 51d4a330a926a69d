#include "io/llama2c.hpp"

#include <cmath>
#include <cstdio>
#include <memory>

#include "core/error.hpp"
#include "io/model_reader.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "llama2.c files are little-endian and written without byte swapping");

namespace surgeon::model {
namespace {

using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

FilePtr open_file(const std::string& path, const char* mode) {
    FilePtr f(std::fopen(path.c_str(), mode), &std::fclose);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    return f;
}

class Writer {
public:
    Writer(std::FILE* f, const std::string& path) : f_(f), path_(path) {}
    void floats(const float* src, int64_t n) {
        if (std::fwrite(src, sizeof(float), static_cast<size_t>(n), f_) != static_cast<size_t>(n))
            fail(SURGEON_ERR_IO, "cannot write '" + path_ + "'");
    }
    void matrix(const Matrix& m) { floats(m.data.data(), m.rows * m.cols); }
    void vector(const std::vector<float>& v) { floats(v.data(), static_cast<int64_t>(v.size())); }

private:
    std::FILE* f_;
    const std::string& path_;
};

}  // namespace

Model read_llama2c(const std::string& path) { return materialize(*open_llama2c(path)); }

namespace {
void write_body(const Model& m, int64_t hidden, std::FILE* f, const std::string& path) {
    const ModelConfig& c = m.config;
    const int32_t header[7] = {
        static_cast<int32_t>(c.dim), static_cast<int32_t>(hidden),
        static_cast<int32_t>(c.n_layers), static_cast<int32_t>(c.n_heads),
        static_cast<int32_t>(c.n_kv_heads),
        static_cast<int32_t>(c.shared_classifier ? c.vocab_size : -c.vocab_size),
        static_cast<int32_t>(c.seq_len)};
    if (std::fwrite(header, sizeof header, 1, f) != 1)
        fail(SURGEON_ERR_IO, "cannot write '" + path + "'");
    Writer w(f, path);
    w.matrix(m.tok_emb);
    for (const auto& L : m.layers) w.vector(L.rms_att);
    for (const auto& L : m.layers) w.matrix(L.wq);
    for (const auto& L : m.layers) w.matrix(L.wk);
    for (const auto& L : m.layers) w.matrix(L.wv);
    for (const auto& L : m.layers) w.matrix(L.wo);
    for (const auto& L : m.layers) w.vector(L.rms_ffn);
    for (const auto& L : m.layers) w.matrix(L.w1);
    for (const auto& L : m.layers) w.matrix(L.w2);
    for (const auto& L : m.layers) w.matrix(L.w3);
    w.vector(m.rms_final);
    // freq_cis_real then freq_cis_imag, [seq_len][head_size / 2], as llama2.c's export.
    const int64_t half = c.head_size() / 2;
    std::vector<float> re(static_cast<size_t>(c.seq_len * half)), im(re.size());
    for (int64_t t = 0; t < c.seq_len; ++t)
        for (int64_t j = 0; j < half; ++j) {
            const double angle = static_cast<double>(t) *
                                 std::pow(10000.0, -2.0 * static_cast<double>(j) /
                                                       static_cast<double>(c.head_size()));
            re[static_cast<size_t>(t * half + j)] = static_cast<float>(std::cos(angle));
            im[static_cast<size_t>(t * half + j)] = static_cast<float>(std::sin(angle));
        }
    w.vector(re);
    w.vector(im);
    if (!c.shared_classifier) w.matrix(m.wcls);
    if (std::fflush(f) != 0) fail(SURGEON_ERR_IO, "cannot write '" + path + "'");
}
}  // namespace

void write_llama2c(const Model& m, const std::string& path) {
    validate_shapes(m);
    const ModelConfig& c = m.config;
    const int64_t hidden = m.layers.empty() ? c.hidden_dim : m.layers[0].w1.rows;
    for (const LayerWeights& L : m.layers)
        if (L.w1.rows != hidden)
            fail(SURGEON_ERR_UNSUPPORTED,
                 "the llama2.c format stores one FFN size, but layers have " +
                     std::to_string(hidden) + " and " + std::to_string(L.w1.rows) +
                     ": write a Hugging Face directory instead");
    // The header has no head size: run.c derives it as dim / n_heads.
    if (c.q_dim() != c.dim)
        fail(SURGEON_ERR_UNSUPPORTED,
             "the llama2.c format derives the head size from dim / n_heads, but this model has " +
                 std::to_string(c.n_heads) + " heads of " + std::to_string(c.head_size()) + " (" +
                 std::to_string(c.q_dim()) + " != dim " + std::to_string(c.dim) +
                 ", attention heads were removed): write a Hugging Face directory instead");
    // run.c hard-codes these two; a model with other values would run wrongly there.
    if (c.norm_eps != 1e-5f || c.rope_theta != 10000.0f)
        fail(SURGEON_ERR_UNSUPPORTED, "the llama2.c format assumes norm eps 1e-5 and RoPE theta "
                                      "10000; this model has " + std::to_string(c.norm_eps) +
                                      " and " + std::to_string(c.rope_theta));
    for (int64_t v : {c.dim, hidden, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len})
        require_arg(v > 0 && v <= INT32_MAX, "model dimension out of the llama2.c header range");

    FilePtr f = open_file(path, "wb");
    try {
        write_body(m, hidden, f.get(), path);
    } catch (...) {
        f.reset();
        std::remove(path.c_str());  // never leave a truncated checkpoint behind
        throw;
    }
}

}  // namespace surgeon::model
