// surgeon-bench-pipeline: what Fisher-priced mixed precision adds to a whole-model GPTQ
// run. A random Llama of the given shape (weights are random, so only the times mean
// anything), random calibration tokens; times the output Fisher pass alone, then
// compress_model with uniform GPTQ, with Fisher-weighted per-layer row allocation and
// with the model-wide budget (rounding error estimate, 4 bits on average, groups of 128).
//
//   surgeon-bench-pipeline [--dim 1024] [--hidden 2816] [--layers 4] [--heads 16]
//                          [--vocab 4096] [--seqs 32] [--len 256] [--threads N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "nn/fisher.hpp"
#include "compress/pipeline.hpp"
#include "bench_util.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

using bench::now;

struct Options {
    int64_t dim = 1024, hidden = 2816, layers = 4, heads = 16, vocab = 4096, seqs = 32, len = 256;
    int threads = 0;
};

Matrix random_matrix(int64_t rows, int64_t cols, std::mt19937& rng) {
    std::normal_distribution<float> g(0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
    Matrix m(rows, cols);
    for (float& v : m.data) v = g(rng);
    return m;
}

Model random_model(const Options& o) {
    std::mt19937 rng(1);
    Model m;
    ModelConfig& c = m.config;
    c.dim = o.dim;
    c.hidden_dim = o.hidden;
    c.n_layers = o.layers;
    c.n_heads = o.heads;
    c.n_kv_heads = o.heads;
    c.vocab_size = o.vocab;
    c.seq_len = o.len;
    m.tok_emb = random_matrix(o.vocab, o.dim, rng);
    for (float& v : m.tok_emb.data) v *= std::sqrt(static_cast<float>(o.dim));
    for (int64_t l = 0; l < o.layers; ++l) {
        LayerWeights L;
        L.rms_att.assign(static_cast<size_t>(o.dim), 1.0f);
        L.rms_ffn.assign(static_cast<size_t>(o.dim), 1.0f);
        L.wq = random_matrix(o.dim, o.dim, rng);
        L.wk = random_matrix(o.dim, o.dim, rng);
        L.wv = random_matrix(o.dim, o.dim, rng);
        L.wo = random_matrix(o.dim, o.dim, rng);
        L.w1 = random_matrix(o.hidden, o.dim, rng);
        L.w3 = random_matrix(o.hidden, o.dim, rng);
        L.w2 = random_matrix(o.dim, o.hidden, rng);
        m.layers.push_back(std::move(L));
    }
    m.rms_final.assign(static_cast<size_t>(o.dim), 1.0f);
    return m;
}

double time_compress(const Model& base, const std::vector<std::vector<int>>& calib, const char* recipe,
                     const ContextPtr& ctx) {
    Model m = base;
    const double t0 = now();
    compress_model(m, calib, Recipe::from_json(nlohmann::json::parse(recipe)), ctx);
    return now() - t0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const int64_t v = std::atoll(argv[i + 1]);
        if (flag == "--dim") o.dim = v;
        else if (flag == "--hidden") o.hidden = v;
        else if (flag == "--layers") o.layers = v;
        else if (flag == "--heads") o.heads = v;
        else if (flag == "--vocab") o.vocab = v;
        else if (flag == "--seqs") o.seqs = v;
        else if (flag == "--len") o.len = v;
        else if (flag == "--threads") o.threads = static_cast<int>(v);
        else {
            std::fprintf(stderr, "surgeon-bench-pipeline: unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    try {
        const Model model = random_model(o);
        std::mt19937 rng(2);
        std::uniform_int_distribution<int> token(0, static_cast<int>(o.vocab) - 1);
        std::vector<std::vector<int>> calib(static_cast<size_t>(o.seqs), std::vector<int>(static_cast<size_t>(o.len)));
        for (auto& s : calib)
            for (int& t : s) t = token(rng);
        auto ctx = std::make_shared<Context>();
        ctx->threads = o.threads;

        std::printf("model: dim %lld, hidden %lld, %lld layers, %lld heads, vocab %lld; calibration %lld x %lld tokens\n",
                    static_cast<long long>(o.dim), static_cast<long long>(o.hidden), static_cast<long long>(o.layers),
                    static_cast<long long>(o.heads), static_cast<long long>(o.vocab), static_cast<long long>(o.seqs),
                    static_cast<long long>(o.len));
        const double t0 = now();
        output_fisher(backend_for(*ctx), model, calib);
        const double fisher = now() - t0;
        const double uniform = time_compress(model, calib, R"({"default": {"method": "gptq", "bits": 4, "group": 128}})", ctx);
        const double layer = time_compress(
            model, calib, R"({"default": {"method": "gptq", "group": 128, "mixed": {"avg_bits": 4}}})", ctx);
        const double wide = time_compress(
            model, calib, R"({"default": {"method": "gptq", "group": 128, "mixed": {"avg_bits": 4, "scope": "model"}}})", ctx);
        std::printf("%-48s %8.2f s\n", "output Fisher pass alone", fisher);
        std::printf("%-48s %8.2f s\n", "GPTQ 4-bit uniform, whole model", uniform);
        std::printf("%-48s %8.2f s  (%+.0f %%)\n", "mixed, Fisher-weighted, per-layer budget", layer,
                    100.0 * (layer / uniform - 1.0));
        std::printf("%-48s %8.2f s  (%+.0f %%)\n", "mixed, Fisher-weighted, model-wide budget", wide,
                    100.0 * (wide / uniform - 1.0));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon-bench-pipeline: %s\n", e.what());
        return 1;
    }
    return 0;
}
