#include "io/random_checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "core/parallel.hpp"
#include "io/checkpoint.hpp"
#include "io/model_writer.hpp"

namespace surgeon::model {
namespace {

constexpr float kStd = 0.02f;
constexpr int64_t kRowsPerSlice = 4096;  // embedding / classifier rows generated at once

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Tensor identities: each row of each tensor draws from its own stream, so the values do
// not depend on how rows are split among threads or slices.
enum : uint64_t { kEmbedding = 1, kClassifier = 2, kFirstBlock = 16 };

// Fills rows [r0, r0 + out.rows) of tensor `tensor` with N(0, kStd²) values (Box–Muller).
void fill_normal(Matrix& out, int64_t r0, uint64_t seed, uint64_t tensor, int threads) {
    parallel_for(threads, out.rows, [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r) {
            uint64_t state = seed;
            splitmix64(state);
            state ^= tensor * 0xd1b54a32d192ed03ull;
            splitmix64(state);
            state ^= static_cast<uint64_t>(r0 + r) * 0x8cb92ba72f3d8dd7ull;
            float* row = out.row(r);
            for (int64_t j = 0; j < out.cols; j += 2) {
                // Uniforms in (0, 1] from the top 53 bits.
                const double u1 = (static_cast<double>(splitmix64(state) >> 11) + 1.0) * 0x1.0p-53;
                const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
                const double radius = std::sqrt(-2.0 * std::log(u1)) * kStd;
                const double angle = 6.283185307179586 * u2;
                row[j] = static_cast<float>(radius * std::cos(angle));
                if (j + 1 < out.cols) row[j + 1] = static_cast<float>(radius * std::sin(angle));
            }
        }
    });
}

Matrix normal_matrix(int64_t rows, int64_t cols, uint64_t seed, uint64_t tensor, int threads) {
    Matrix m(rows, cols);
    fill_normal(m, 0, seed, tensor, threads);
    return m;
}

std::vector<float> normal_vector(int64_t n, uint64_t seed, uint64_t tensor, float offset) {
    Matrix m = normal_matrix(1, n, seed, tensor, 1);
    for (float& v : m.data) v += offset;
    return std::vector<float>(m.data.begin(), m.data.end());
}

// The optional parts of the config's family: biases, q/k norm gains near 1, and in MoE
// blocks the router, the experts and the shared expert's gate. Streams of block b start
// at kFamilyParts + 2^16·b, apart from the plain block's.
constexpr uint64_t kFamilyParts = uint64_t{1} << 32;

void add_family_parts(const ModelConfig& c, int64_t b, uint64_t seed, int threads, LayerWeights& L) {
    uint64_t t = kFamilyParts + (static_cast<uint64_t>(b) << 16);
    if (c.qkv_bias) {
        L.bq = normal_vector(c.q_dim(), seed, t + 0, 0.0f);
        L.bk = normal_vector(c.kv_dim(), seed, t + 1, 0.0f);
        L.bv = normal_vector(c.kv_dim(), seed, t + 2, 0.0f);
    }
    if (c.o_bias) L.bo = normal_vector(c.dim, seed, t + 3, 0.0f);
    if (c.qk_norm) {
        L.q_norm = normal_vector(c.head_size(), seed, t + 4, 1.0f);
        L.k_norm = normal_vector(c.head_size(), seed, t + 5, 1.0f);
    }
    if (!c.is_moe_block(b)) return;
    // A router of scale 1: routing then depends on the token, as in a trained model.
    L.router = normal_matrix(c.moe.n_experts, c.dim, seed, t + 6, threads);
    for (float& v : L.router.data) v *= 50.0f;
    if (L.w1.rows > 0) L.shared_gate = normal_matrix(1, c.dim, seed, t + 7, threads);
    t += 16;
    const int64_t f = c.moe.expert_dim;
    for (int64_t e = 0; e < c.moe.n_experts; ++e, t += 3) {
        Expert x;
        x.w1 = normal_matrix(f, c.dim, seed, t + 0, threads);
        x.w2 = normal_matrix(c.dim, f, seed, t + 1, threads);
        x.w3 = normal_matrix(f, c.dim, seed, t + 2, threads);
        L.experts.push_back(std::move(x));
    }
}

}  // namespace

void write_random_checkpoint(const std::string& path, const ModelConfig& config, Dtype dtype, uint64_t seed,
                             uint64_t max_shard_bytes, int threads) {
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    WriterOptions options;
    options.format = output_format(path);
    options.dtype = dtype;
    options.max_shard_bytes = max_shard_bytes;
    std::vector<int64_t> ffn;
    for (int64_t b = 0; b < config.n_layers; ++b)
        ffn.push_back(config.is_moe_block(b) ? config.moe.shared_dim : config.hidden_dim);
    auto writer = ModelWriter::create(path, config, ffn, options);
    try {
        auto rows_in_slices = [&](uint64_t tensor, auto&& write) {
            for (int64_t r0 = 0; r0 < config.vocab_size; r0 += kRowsPerSlice) {
                Matrix slice(std::min(kRowsPerSlice, config.vocab_size - r0), config.dim);
                fill_normal(slice, r0, seed, tensor, threads);
                write(r0, slice);
            }
        };
        rows_in_slices(kEmbedding, [&](int64_t r0, const Matrix& m) { writer->write_embedding_rows(r0, m); });
        const int64_t q = config.q_dim(), kv = config.kv_dim(), d = config.dim;
        for (int64_t b = 0; b < config.n_layers; ++b) {
            const uint64_t t = kFirstBlock + 8 * static_cast<uint64_t>(b);
            LayerWeights L;
            L.rms_att.assign(static_cast<size_t>(d), 1.0f);
            L.rms_ffn.assign(static_cast<size_t>(d), 1.0f);
            L.wq = normal_matrix(q, d, seed, t + 0, threads);
            L.wk = normal_matrix(kv, d, seed, t + 1, threads);
            L.wv = normal_matrix(kv, d, seed, t + 2, threads);
            L.wo = normal_matrix(d, q, seed, t + 3, threads);
            const int64_t f = ffn[static_cast<size_t>(b)];
            L.w1 = normal_matrix(f, d, seed, t + 4, threads);
            L.w2 = normal_matrix(d, f, seed, t + 5, threads);
            L.w3 = normal_matrix(f, d, seed, t + 6, threads);
            add_family_parts(config, b, seed, threads, L);
            writer->write_block(b, L);
        }
        writer->write_final_norm(std::vector<float>(static_cast<size_t>(d), 1.0f));
        if (!config.shared_classifier)
            rows_in_slices(kClassifier, [&](int64_t r0, const Matrix& m) { writer->write_classifier_rows(r0, m); });
        writer->finish();
    } catch (...) {
        writer->abandon();
        throw;
    }
}

}  // namespace surgeon::model
