// surgeon-bench-block: the cost of compressing one transformer block by the
// true-sequential protocol. A random block (weights N(0, 0.02²), norm gains 1) and random
// N(0, 1) block inputs; compress_block (the staged pass) and/or the group-by-group
// protocol (every group's input recaptured by a whole block forward), with the seconds
// by kind of work, the floating-point work each kind did and the rate achieved, against
// the rate of one large SGEMM on the same backend.
//
//   surgeon-bench-block [--dim 2048] [--ffn 5632] [--heads 32] [--kv-heads 4] [--seqs 8]
//                       [--tokens 2048] [--method gptq|sparsegpt|rtn] [--bits 4]
//                       [--group 128] [--sparsity 0.5] [--threads 2]
//                       [--protocol staged|groups|both] [--offload-dir DIR]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "bench_util.hpp"
#include "compress/activations.hpp"
#include "compress/block_compress.hpp"
#include "core/backend.hpp"
#include "group_protocol.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

using bench::now;

struct Options {
    int64_t dim = 2048, ffn = 5632, heads = 32, kv_heads = 4, seqs = 8, tokens = 2048;
    std::string method = "gptq", protocol = "staged", offload_dir;
    int bits = 4, group = 128, threads = 2;
    double sparsity = 0.5;
};

Matrix random_matrix(int64_t rows, int64_t cols, float stddev, std::mt19937& rng) {
    std::normal_distribution<float> g(0.0f, stddev);
    Matrix m(rows, cols);
    for (float& v : m.data) v = g(rng);
    return m;
}

ModelConfig config_of(const Options& o) {
    ModelConfig c;
    c.dim = o.dim;
    c.hidden_dim = o.ffn;
    c.n_layers = 1;
    c.n_heads = o.heads;
    c.n_kv_heads = o.kv_heads;
    c.vocab_size = 1;
    c.seq_len = o.tokens;
    return c;
}

LayerWeights random_block(const ModelConfig& c) {
    std::mt19937 rng(1);
    LayerWeights L;
    L.rms_att.assign(static_cast<size_t>(c.dim), 1.0f);
    L.rms_ffn.assign(static_cast<size_t>(c.dim), 1.0f);
    L.wq = random_matrix(c.q_dim(), c.dim, 0.02f, rng);
    L.wk = random_matrix(c.kv_dim(), c.dim, 0.02f, rng);
    L.wv = random_matrix(c.kv_dim(), c.dim, 0.02f, rng);
    L.wo = random_matrix(c.dim, c.q_dim(), 0.02f, rng);
    L.w1 = random_matrix(c.hidden_dim, c.dim, 0.02f, rng);
    L.w3 = random_matrix(c.hidden_dim, c.dim, 0.02f, rng);
    L.w2 = random_matrix(c.dim, c.hidden_dim, 0.02f, rng);
    return L;
}

// Floating-point operations (a multiply-add is 2) of one pass of each kind of work over
// all sequences.
struct Work {
    double forward = 0.0;  // one block forward
    double hessian = 0.0;  // the four Hessians (upper triangles: n² per row)
    double solve = 0.0;    // per Hessian the inverse factor (2n³/3); per layer the method's
                           // updates (rows·n²) and the relative error (2 products: 4·rows·n²)
};

Work work_of(const ModelConfig& c, const Options& o) {
    const double T = static_cast<double>(o.tokens) * static_cast<double>(o.seqs);
    const double d = static_cast<double>(c.dim), q = static_cast<double>(c.q_dim()),
                 kv = static_cast<double>(c.kv_dim()), f = static_cast<double>(c.hidden_dim);
    const double hs = static_cast<double>(c.head_size());
    Work w;
    double attention = 0.0;  // per sequence: chunks of 256 queries against the keys up to their end
    for (int64_t t0 = 0; t0 < o.tokens; t0 += 256) {
        const double n = static_cast<double>(std::min<int64_t>(256, o.tokens - t0));
        attention += 4.0 * n * (static_cast<double>(t0) + n) * hs * static_cast<double>(c.n_heads);
    }
    w.forward = 2.0 * T * d * (q + 2.0 * kv) + attention * static_cast<double>(o.seqs) + 2.0 * T * q * d +
                4.0 * T * d * f + 2.0 * T * f * d;
    if (o.method == "rtn") return w;  // no calibration: no Hessian, no solver
    w.hessian = T * (d * d + q * q + d * d + f * f);
    const double n3 = d * d * d + q * q * q + d * d * d + f * f * f;
    const double rows_n2 = (q + 2.0 * kv) * d * d + d * q * q + 2.0 * f * d * d + d * f * f;
    w.solve = 2.0 / 3.0 * n3 + 5.0 * rows_n2;
    return w;
}

// GFLOP/s of one n × n × n product on the backend (the better of two).
double sgemm_rate(Backend& be, int64_t n) {
    std::mt19937 rng(3);
    const Matrix a = random_matrix(n, n, 1.0f, rng), b = random_matrix(n, n, 1.0f, rng);
    Matrix c(n, n);
    double best = 1e30;
    for (int rep = 0; rep < 2; ++rep) {
        const double t0 = now();
        be.gemm(n, n, n, 1.0f, a.data.data(), n, b.data.data(), n, 0.0f, c.data.data(), n);
        best = std::min(best, now() - t0);
    }
    return 2.0 * static_cast<double>(n) * n * n / best / 1e9;
}

void report(const char* title, const BlockTimings& t, double forwards, const Work& w, double rate) {
    const double total = t.forward + t.hessian + t.compress + t.io;
    const double flops = forwards * w.forward + w.hessian + w.solve;
    std::printf("\n%s\n", title);
    std::printf("  %-30s %9s %10s %9s\n", "", "seconds", "GFLOP", "GFLOP/s");
    auto row = [](const char* what, double s, double gf) {
        if (gf > 0.0) std::printf("  %-30s %9.2f %10.1f %9.1f\n", what, s, gf, s > 0.0 ? gf / s : 0.0);
        else std::printf("  %-30s %9.2f\n", what, s);
    };
    char fwd[64];
    std::snprintf(fwd, sizeof fwd, "block forward (%.0f passes)", forwards);
    row(fwd, t.forward, forwards * w.forward / 1e9);
    row("Hessians", t.hessian, w.hessian / 1e9);
    row("compress (solves, methods)", t.compress, w.solve / 1e9);
    if (t.io > 0.0) row("activation stores", t.io, 0.0);
    row("total", total, flops / 1e9);
    std::printf("  at the SGEMM rate (%.1f GFLOP/s) this work takes %.2f s\n", rate, flops / 1e9 / rate);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], v = argv[i + 1];
        if (flag == "--dim") o.dim = std::atoll(v.c_str());
        else if (flag == "--ffn") o.ffn = std::atoll(v.c_str());
        else if (flag == "--heads") o.heads = std::atoll(v.c_str());
        else if (flag == "--kv-heads") o.kv_heads = std::atoll(v.c_str());
        else if (flag == "--seqs") o.seqs = std::atoll(v.c_str());
        else if (flag == "--tokens") o.tokens = std::atoll(v.c_str());
        else if (flag == "--method") o.method = v;
        else if (flag == "--bits") o.bits = std::atoi(v.c_str());
        else if (flag == "--group") o.group = std::atoi(v.c_str());
        else if (flag == "--sparsity") o.sparsity = std::atof(v.c_str());
        else if (flag == "--threads") o.threads = std::atoi(v.c_str());
        else if (flag == "--protocol") o.protocol = v;
        else if (flag == "--offload-dir") o.offload_dir = v;
        else {
            std::fprintf(stderr, "surgeon-bench-block: unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    if (o.protocol != "staged" && o.protocol != "groups" && o.protocol != "both") {
        std::fprintf(stderr, "surgeon-bench-block: --protocol is staged, groups or both\n");
        return 2;
    }
    try {
        const ModelConfig config = config_of(o);
        nlohmann::json spec{{"method", o.method}};
        if (o.method == "sparsegpt") spec["sparsity"] = o.sparsity;
        else spec.update({{"bits", o.bits}, {"group", o.group}});
        const Recipe recipe = Recipe::from_json({{"default", spec}});
        auto ctx = std::make_shared<Context>();
        ctx->threads = o.threads;

        const LayerWeights block = random_block(config);
        std::vector<Matrix> inputs;
        std::mt19937 rng(2);
        for (int64_t s = 0; s < o.seqs; ++s) inputs.push_back(random_matrix(o.tokens, o.dim, 1.0f, rng));
        std::printf("block: dim %lld, FFN %lld, %lld heads / %lld kv heads; %lld sequences x %lld tokens; "
                    "recipe %s; %d threads\n",
                    static_cast<long long>(o.dim), static_cast<long long>(o.ffn), static_cast<long long>(o.heads),
                    static_cast<long long>(o.kv_heads), static_cast<long long>(o.seqs),
                    static_cast<long long>(o.tokens), spec.dump().c_str(), o.threads);
        const double rate = sgemm_rate(backend_for(*ctx), 4096);
        std::printf("SGEMM 4096 x 4096 x 4096 on the backend: %.1f GFLOP/s\n", rate);
        const Work work = work_of(config, o);

        if (o.protocol != "groups") {
            LayerWeights layer = block;
            std::unique_ptr<ActivationStore> states = ActivationStores{o.offload_dir}.make("states", inputs.size());
            for (size_t i = 0; i < inputs.size(); ++i) states->put(i, inputs[i]);
            std::vector<CompressedLayer> out;
            BlockTimings t;
            compress_block(0, config, layer, *states, recipe, {}, ActivationStores{o.offload_dir}, ctx, out, &t);
            report("staged (compress_block)", t, 1.0, work, rate);
        }
        if (o.protocol != "staged") {
            LayerWeights layer = block;
            std::vector<Matrix> states = inputs;
            std::vector<CompressedLayer> out;
            BlockTimings t;
            group_protocol::compress_block_by_groups(0, config, layer, states, recipe, {}, ctx, out, &t);
            report("group by group (a block forward per group, then one more)", t, o.method == "rtn" ? 1.0 : 5.0,
                   work, rate);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon-bench-block: %s\n", e.what());
        return 1;
    }
    return 0;
}
