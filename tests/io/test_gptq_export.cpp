// Packed GPTQ checkpoints: the bit packing against AutoGPTQ's packing loops (including the
// interleaved 3-bit layout), pack/unpack of quantization results, the v1/v2 zero-point
// conventions, and whole models quantized by the solver that must reload (load_hf) as the
// solver's fake-quantized weights up to the fp16 rounding of the scales.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <regex>
#include <set>

#include "core/half.hpp"
#include "layer/hessian/hessian.hpp"
#include "io/convert.hpp"
#include "nn/forward.hpp"
#include "io/gptq_export.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"
#include "layer/solver/solver.hpp"
#include "hf_util.hpp"
#include "plan_util.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::TempDir;
using export_test::quantized_plan;
namespace fs = std::filesystem;

// AutoGPTQ's QuantLinear.pack, written out for one column of `values` (consecutive
// input channels): 2/4/8 bits put 32/bits values per word, LSB first; 3 bits fill three
// words with 32 values, value 10 split over words 0/1 and value 21 over words 1/2.
std::vector<uint32_t> autogptq_pack(const std::vector<uint32_t>& v, int bits) {
    std::vector<uint32_t> w(v.size() * bits / 32, 0);
    if (bits != 3) {
        const size_t per = 32 / bits;
        for (size_t row = 0; row < w.size(); ++row)
            for (size_t j = 0; j < per; ++j) w[row] |= v[row * per + j] << (bits * j);
        return w;
    }
    for (size_t i = 0, row = 0; row < w.size();) {
        for (size_t j = i; j < i + 10; ++j) w[row] |= v[j] << (3 * (j - i));
        i += 10;
        w[row] |= v[i] << 30;
        ++row;
        w[row] |= (v[i] >> 2) & 1;
        ++i;
        for (size_t j = i; j < i + 10; ++j) w[row] |= v[j] << (3 * (j - i) + 1);
        i += 10;
        w[row] |= v[i] << 31;
        ++row;
        w[row] |= (v[i] >> 1) & 0x3;
        ++i;
        for (size_t j = i; j < i + 10; ++j) w[row] |= v[j] << (3 * (j - i) + 2);
        i += 10;
        ++row;
    }
    return w;
}

// Value k read bit by bit from the LSB-first stream over the words (the definition).
uint32_t stream_value(const uint32_t* words, int64_t stride, int64_t k, int bits) {
    uint32_t v = 0;
    for (int b = 0; b < bits; ++b) {
        const int64_t bit = k * bits + b;
        v |= ((words[(bit / 32) * stride] >> (bit % 32)) & 1u) << b;
    }
    return v;
}

std::vector<uint32_t> random_codes(size_t n, int bits, std::mt19937& rng) {
    std::vector<uint32_t> v(n);
    for (uint32_t& x : v) x = rng() & ((1u << bits) - 1);
    return v;
}

TEST(GptqPack, BitsMatchAutoGptqPackingForEveryWidth) {
    std::mt19937 rng(1);
    for (int bits : {2, 3, 4, 8}) {
        for (size_t n : {size_t{32}, size_t{96}, size_t{256}}) {
            auto v = random_codes(n, bits, rng);
            v[0] = (1u << bits) - 1;  // extremes in the first and last slots
            v[n - 1] = (1u << bits) - 1;
            const auto want = autogptq_pack(v, bits);
            std::vector<uint32_t> words(want.size(), 0xdeadbeef);
            pack_bits(v.data(), static_cast<int64_t>(n), bits, words.data(), 1);
            ASSERT_EQ(words, want) << bits << " bits, " << n << " values";
            std::vector<uint32_t> back(n);
            unpack_bits(words.data(), 1, static_cast<int64_t>(n), bits, back.data());
            ASSERT_EQ(back, v) << bits << " bits";
            for (size_t k = 0; k < n; ++k) ASSERT_EQ(stream_value(words.data(), 1, k, bits), v[k]);
        }
    }
    // Strided packing: column 1 of a 3-column word matrix, other columns untouched.
    const auto v = random_codes(64, 3, rng);
    std::vector<uint32_t> words(3 * 6, 7);
    pack_bits(v.data(), 64, 3, words.data() + 1, 3);
    const auto want = autogptq_pack(v, 3);
    for (size_t r = 0; r < 6; ++r) {
        EXPECT_EQ(words[r * 3 + 1], want[r]);
        EXPECT_EQ(words[r * 3], 7u);
        EXPECT_EQ(words[r * 3 + 2], 7u);
    }
    std::vector<uint32_t> back(64);
    unpack_bits(words.data() + 1, 3, 64, 3, back.data());
    EXPECT_EQ(back, v);
}

TEST(GptqPack, ThreeBitValuesStraddleWordBoundaries) {
    std::vector<uint32_t> v(32, 0);
    v[10] = 0b101;  // bits 30..32: low two bits end word 0, high bit starts word 1
    v[21] = 0b011;  // bits 63..65: low bit ends word 1, high two bits start word 2
    v[31] = 0b111;  // bits 93..95: the top of word 2
    uint32_t w[3];
    pack_bits(v.data(), 32, 3, w, 1);
    EXPECT_EQ(w[0], 0x40000000u);              // bit 30 (01 of 101)
    EXPECT_EQ(w[1], 0x80000001u);              // bit 0 (the 1 of 101), bit 31 (low 1 of 011)
    EXPECT_EQ(w[2], 0xE0000001u);              // bit 0 (next 1 of 011), bits 29..31 (111)
    // 31 values end inside word 2: the rest of it is zero padding.
    pack_bits(v.data(), 31, 3, w, 1);
    EXPECT_EQ(w[0], 0x40000000u);
    EXPECT_EQ(w[1], 0x80000001u);
    EXPECT_EQ(w[2], 0x00000001u);
    v[3] = 8;
    expect_error([&] { pack_bits(v.data(), 32, 3, w, 1); }, SURGEON_ERR_INVALID_ARGUMENT, "does not fit");
}

// A random quantization result of out × in with `group` columns per group (0: one group)
// whose g_idx follows a random column order when `act_order` (as GPTQ's desc_act does).
QuantResult random_result(int64_t out, int64_t in, int bits, int64_t group, bool act_order,
                          bool sym, int min_zero, std::mt19937& rng) {
    QuantResult q;
    q.rows = out;
    q.cols = in;
    q.bits = bits;
    q.groups = group > 0 ? (in + group - 1) / group : 1;
    const int maxq = (1 << bits) - 1;
    for (uint32_t c : random_codes(static_cast<size_t>(out * in), bits, rng)) q.codes.push_back(static_cast<uint8_t>(c));
    std::uniform_real_distribution<float> scale(0.001f, 0.05f);
    for (int64_t i = 0; i < out * q.groups; ++i) {
        q.scales.push_back(scale(rng));
        q.zeros.push_back(sym ? static_cast<float>(1 << (bits - 1))
                              : static_cast<float>(min_zero + static_cast<int>(rng() % (maxq + 1 - min_zero))));
    }
    std::vector<int32_t> order(static_cast<size_t>(in));
    std::iota(order.begin(), order.end(), 0);
    if (act_order) std::shuffle(order.begin(), order.end(), rng);
    q.g_idx.resize(static_cast<size_t>(in));
    for (int64_t k = 0; k < in; ++k) q.g_idx[order[k]] = group > 0 ? static_cast<int32_t>(k / group) : 0;
    q.perm = order;
    return q;
}

TEST(GptqPack, PackedTensorsHoldTheQuantResult) {
    std::mt19937 rng(2);
    for (int bits : {2, 3, 4, 8})
        for (GptqFormat format : {GptqFormat::v1, GptqFormat::v2}) {
            const int64_t out = 64, in = 96, group = 32;
            const QuantResult q = random_result(out, in, bits, group, true, false,
                                                format == GptqFormat::v1 ? 1 : 0, rng);
            const GptqLinear p = pack_gptq(q, format);
            const std::string what = std::to_string(bits) + " bits " + gptq_format_name(format);
            ASSERT_EQ(p.groups, 3);
            ASSERT_EQ(p.qweight.size(), static_cast<size_t>(in * bits / 32 * out)) << what;
            ASSERT_EQ(p.qzeros.size(), static_cast<size_t>(3 * out * bits / 32)) << what;
            const auto* qweight = reinterpret_cast<const uint32_t*>(p.qweight.data());
            const auto* qzeros = reinterpret_cast<const uint32_t*>(p.qzeros.data());
            // qweight[w][o]: column o packs the codes of output o along the input dimension.
            for (int64_t o = 0; o < out; ++o) {
                std::vector<uint32_t> column(q.codes.begin() + o * in, q.codes.begin() + (o + 1) * in);
                const auto want = autogptq_pack(column, bits);
                for (size_t w = 0; w < want.size(); ++w) ASSERT_EQ(qweight[w * out + o], want[w]) << what;
            }
            // qzeros[g]: the zero points of group g packed along the output dimension, minus
            // one in v1; scales[g][o] is the binary16 scale.
            for (int64_t g = 0; g < 3; ++g) {
                std::vector<uint32_t> stored(static_cast<size_t>(out));
                for (int64_t o = 0; o < out; ++o)
                    stored[o] = static_cast<uint32_t>(q.zeros[o * 3 + g]) - (format == GptqFormat::v1 ? 1 : 0);
                const auto want = autogptq_pack(stored, bits);
                for (size_t w = 0; w < want.size(); ++w)
                    ASSERT_EQ(qzeros[g * (out * bits / 32) + w], want[w]) << what;
                for (int64_t o = 0; o < out; ++o)
                    ASSERT_EQ(p.scales[g * out + o], float_to_f16(q.scales[o * 3 + g])) << what;
            }
            EXPECT_EQ(p.g_idx, q.g_idx);

            const QuantResult u = unpack_gptq(p, format);
            EXPECT_EQ(u.codes, q.codes) << what;
            EXPECT_EQ(u.zeros, q.zeros) << what;
            EXPECT_EQ(u.g_idx, q.g_idx) << what;
            EXPECT_EQ(u.bits, bits);
            for (size_t i = 0; i < q.scales.size(); ++i) ASSERT_EQ(u.scales[i], hfio_test::f16_round(q.scales[i]));
            // perm: columns stably sorted by group.
            for (int64_t k = 1; k < in; ++k) {
                ASSERT_LE(q.g_idx[u.perm[k - 1]], q.g_idx[u.perm[k]]);
                if (q.g_idx[u.perm[k - 1]] == q.g_idx[u.perm[k]]) {
                    ASSERT_LT(u.perm[k - 1], u.perm[k]);
                }
            }
            const Matrix w = dequantize_gptq(p, format);
            for (int64_t o = 0; o < out; ++o)
                for (int64_t j = 0; j < in; ++j) {
                    const int64_t k = o * 3 + q.g_idx[j];
                    ASSERT_EQ(w(o, j), hfio_test::f16_round(q.scales[k]) *
                                           (static_cast<float>(q.codes[o * in + j]) - q.zeros[k]));
                }
        }
}

TEST(GptqPack, ZeroPointConventionsOfV1AndV2) {
    std::mt19937 rng(3);
    QuantResult q = random_result(32, 32, 4, 0, false, true, 0, rng);  // symmetric: every zero 8
    const GptqLinear v1 = pack_gptq(q, GptqFormat::v1), v2 = pack_gptq(q, GptqFormat::v2);
    EXPECT_EQ(static_cast<uint32_t>(v1.qzeros[0]), 0x77777777u);  // 8 - 1 in every nibble
    EXPECT_EQ(static_cast<uint32_t>(v2.qzeros[0]), 0x88888888u);
    EXPECT_EQ(v1.qweight, v2.qweight);
    EXPECT_EQ(unpack_gptq(v1, GptqFormat::v1).zeros, q.zeros);
    EXPECT_EQ(unpack_gptq(v2, GptqFormat::v2).zeros, q.zeros);
    // Read with the wrong convention, every weight moves by exactly one scale.
    const Matrix right = dequantize_gptq(v1, GptqFormat::v1), wrong = dequantize_gptq(v1, GptqFormat::v2);
    for (int64_t o = 0; o < 32; ++o)
        for (int64_t j = 0; j < 32; ++j)
            ASSERT_FLOAT_EQ(wrong(o, j) - right(o, j), hfio_test::f16_round(q.scales[o]));
    // A zero point of 0 has no v1 encoding (it would be stored as -1).
    q.zeros[5] = 0.0f;
    expect_error([&] { pack_gptq(q, GptqFormat::v1); }, SURGEON_ERR_INVALID_ARGUMENT, "use --gptq-format v2");
    EXPECT_EQ(unpack_gptq(pack_gptq(q, GptqFormat::v2), GptqFormat::v2).zeros, q.zeros);
    EXPECT_STREQ(gptq_format_name(GptqFormat::v1), "gptq");
    EXPECT_STREQ(gptq_format_name(GptqFormat::v2), "gptq_v2");
    EXPECT_EQ(parse_gptq_format("gptq_v2"), GptqFormat::v2);
    expect_error([] { parse_gptq_format("marlin"); }, SURGEON_ERR_INVALID_ARGUMENT, "marlin");
}

TEST(GptqPack, RejectsWhatCannotBePacked) {
    std::mt19937 rng(4);
    const QuantResult good = random_result(32, 64, 4, 32, false, false, 1, rng);
    auto expect_refused = [&](auto&& edit, const std::string& needle) {
        QuantResult q = good;
        edit(q);
        expect_error([&] { pack_gptq(q, GptqFormat::v2); }, SURGEON_ERR_INVALID_ARGUMENT, needle);
    };
    expect_refused([](QuantResult& q) { q.bits = 5; }, "2, 3, 4 or 8");
    expect_refused([](QuantResult& q) { q.codes[7] = 16; }, "exceeds 15");
    expect_refused([](QuantResult& q) { q.zeros[1] = 2.5f; }, "not an integer");
    expect_refused([](QuantResult& q) { q.zeros[1] = 16.0f; }, "not an integer in [0, 15]");
    expect_refused([](QuantResult& q) { q.scales[0] = 1e6f; }, "float16");
    expect_refused([](QuantResult& q) { q.g_idx[3] = 2; }, "g_idx");
    QuantResult narrow = random_result(32, 48, 4, 0, false, true, 0, rng);
    expect_error([&] { pack_gptq(narrow, GptqFormat::v1); }, SURGEON_ERR_INVALID_ARGUMENT, "multiples of 32");
    QuantResult short_codes = good;
    short_codes.codes.pop_back();
    expect_error([&] { pack_gptq(short_codes, GptqFormat::v1); }, SURGEON_ERR_SHAPE);
}

// ---------------------------------------------------------------------------------------
// Whole models quantized by the solver.

struct Quantized {
    Model fake;                                  // the solver's fake-quantized weights
    std::map<std::string, QuantResult> results;  // "layers.<l>.<linear>"
};

// Quantizes `linears` of every block with GPTQ (Solver::quantize), each group of linears
// with the Hessian of its real inputs: the block inputs of the original model on `tokens`.
Quantized quantize_model(const Model& m, const QuantConfig& cfg, const std::vector<std::string>& linears,
                         const std::vector<int>& tokens) {
    Quantized out;
    out.fake = m;
    Matrix x = embed(m, tokens);
    for (int64_t l = 0; l < m.config.n_layers; ++l) {
        BlockCapture cap;
        Matrix next = block_forward(cpu_backend(2), m.config, m.layers[l], x, &cap);
        const std::pair<const Matrix*, std::vector<std::string>> inputs[] = {
            {&cap.attn_in, {"wq", "wk", "wv"}}, {&cap.attn_out_in, {"wo"}},
            {&cap.ffn_in, {"w1", "w3"}}, {&cap.down_in, {"w2"}}};
        for (const auto& [in, names] : inputs) {
            Hessian h(default_context(), in->cols);
            h.add(in->data.data(), in->rows, in->cols);
            Solver solver(default_context(), h, 0.01, 128);
            for (const std::string& name : names) {
                if (std::find(linears.begin(), linears.end(), name) == linears.end()) continue;
                Matrix& w = linear(out.fake.layers[l], name);
                QuantResult q;
                solver.quantize(w.view(), cfg, &q, nullptr);
                out.results["layers." + std::to_string(l) + "." + name] = std::move(q);
            }
        }
        x = std::move(next);
    }
    return out;
}

std::vector<int> random_tokens(size_t n, int vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int> t(n);
    for (int& v : t) v = static_cast<int>(rng() % static_cast<uint32_t>(vocab));
    return t;
}

// The reloaded quantized linears must be exactly the GPTQ loaders' formula with fp16
// scales, W[o][j] = f16(s[o][g]) · (q[o][j] − z[o][g]), g = g_idx[j]; and within the fp16
// rounding of the scale of the solver's own weights, s · (q − z): |ŝ − s| ≤ 2^-11·|s| for
// scales in the normal binary16 range, and q − z is an exact small integer, so
// |Ŵ − W| ≤ 2^-11·|W| up to the two float32 product roundings (2^-24 relative each).
// Every other tensor (written as float32 here) must be unchanged.
void expect_reloads_as_fake_quantized(const Quantized& qm, const Model& loaded) {
    ASSERT_EQ(loaded.layers.size(), qm.fake.layers.size());
    int64_t checked = 0, moved = 0;
    for (size_t l = 0; l < loaded.layers.size(); ++l)
        for (const char* name : kLinearNames) {
            const Matrix& got = linear(loaded.layers[l], name);
            const Matrix& solver_w = linear(qm.fake.layers[l], name);
            auto it = qm.results.find("layers." + std::to_string(l) + "." + name);
            if (it == qm.results.end()) {
                hfio_test::expect_same_matrix(got, solver_w, std::string("dense ") + name);
                continue;
            }
            const QuantResult& q = it->second;
            ASSERT_EQ(got.rows, q.rows);
            ASSERT_EQ(got.cols, q.cols);
            for (float s : q.scales) ASSERT_GE(std::fabs(s), 0x1p-14f) << "scale below the fp16 normal range";
            for (int64_t o = 0; o < q.rows; ++o)
                for (int64_t j = 0; j < q.cols; ++j) {
                    const int64_t k = o * q.groups + q.g_idx[j];
                    const float d = static_cast<float>(q.codes[o * q.cols + j]) - q.zeros[k];
                    ASSERT_EQ(solver_w(o, j), q.scales[k] * d) << "solver weight is not s·(q − z)";
                    ASSERT_EQ(got(o, j), hfio_test::f16_round(q.scales[k]) * d)
                        << name << " of layer " << l << " at " << o << ", " << j;
                    const double w = solver_w(o, j);
                    ASSERT_LE(std::fabs(got(o, j) - w), 0x1p-11 * (1 + 0x1p-10) * std::fabs(w));
                    moved += got(o, j) != solver_w(o, j);
                    ++checked;
                }
        }
    EXPECT_GT(checked, 0);
    EXPECT_GT(moved, 0) << "fp16 scales should differ from float32 ones somewhere";
    hfio_test::expect_same_matrix(loaded.tok_emb, qm.fake.tok_emb, "tok_emb");
    EXPECT_EQ(loaded.rms_final, qm.fake.rms_final);
}

TEST(GptqExport, Stories260KSolverQuantizedModelReloadsAsItsFakeQuantizedWeights) {
    if (hfio_test::stories260k_path().empty()) GTEST_SKIP() << "stories260K.bin not found";
    const Model m = read_llama2c(hfio_test::stories260k_path());
    QuantConfig cfg;
    cfg.bits = 4;
    cfg.symmetric = true;
    cfg.group_size = 32;
    // The FFN of stories260K is 172 wide, not a multiple of 32: GPTQ loaders cannot hold
    // it packed, so the attention linears are quantized and the FFN stays dense.
    const Quantized qm = quantize_model(m, cfg, {"wq", "wk", "wv", "wo"}, random_tokens(256, 512, 21));
    ASSERT_EQ(qm.results.size(), 20u);
    TempDir dir;
    GptqExportOptions opt;
    opt.dense_dtype = Dtype::F32;
    const GptqExportSummary s = write_gptq_model(qm.fake, qm.results, dir.path().string(), opt);
    EXPECT_EQ(s.bits, 4);
    EXPECT_EQ(s.group_size, 32);
    EXPECT_TRUE(s.sym);
    EXPECT_FALSE(s.desc_act);
    EXPECT_EQ(s.quantized_layers, 20);
    EXPECT_EQ(s.dense_layers, 15);

    const Model loaded = load_hf(dir.path().string());
    expect_reloads_as_fake_quantized(qm, loaded);
    const std::vector<int> tokens = {1, 301, 427, 309, 426, 301, 427, 309};
    const Matrix a = forward(cpu_backend(2), qm.fake, tokens), b = forward(cpu_backend(2), loaded, tokens);
    double worst = 0;
    for (size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a.data[i]) - b.data[i]));
    EXPECT_LT(worst, 1e-2) << "fp16 scales barely move the logits";

    // The symmetric 4-bit zero point 8 is stored as 7 in every nibble (v1).
    const SafetensorsFile st(dir.file("model.safetensors"));
    for (int32_t z : st.read_i32("model.layers.0.self_attn.o_proj.qzeros")) EXPECT_EQ(static_cast<uint32_t>(z), 0x77777777u);
    EXPECT_EQ(st.info("model.layers.0.self_attn.q_proj.qweight").shape, std::vector<int64_t>({8, 64}));
    EXPECT_EQ(st.info("model.layers.0.self_attn.k_proj.qzeros").shape, std::vector<int64_t>({2, 4}));
    EXPECT_EQ(st.info("model.layers.0.self_attn.v_proj.scales").shape, std::vector<int64_t>({2, 32}));
    EXPECT_EQ(st.info("model.layers.0.self_attn.v_proj.scales").dtype, Dtype::F16);
    EXPECT_EQ(st.info("model.layers.0.mlp.gate_proj.weight").shape, std::vector<int64_t>({172, 64}));
    EXPECT_FALSE(st.contains("model.layers.0.self_attn.q_proj.weight"));

    // A 172-wide FFN result is refused with a reason.
    Quantized ffn = quantize_model(m, cfg, {"w1"}, random_tokens(64, 512, 22));
    expect_error([&] { write_gptq_model(ffn.fake, ffn.results, dir.file("ffn"), opt); },
                 SURGEON_ERR_INVALID_ARGUMENT, "multiples of 32");
}

struct ExportCase {
    int bits;
    bool sym;
    int64_t group;
    bool act_order;
    GptqFormat format;
};
void PrintTo(const ExportCase& c, std::ostream* os) {
    *os << c.bits << "-bit " << (c.sym ? "sym" : "asym") << " group " << c.group
        << (c.act_order ? " act-order " : " ") << gptq_format_name(c.format);
}

class GptqExportCases : public ::testing::TestWithParam<ExportCase> {};

// Every linear of a model whose sizes are multiples of 32 (FFN sliced to 96 and 64 wide),
// across widths, symmetric/asymmetric grids, groups and act-order.
TEST_P(GptqExportCases, AllLinearsReloadAndConfigDescribesThem) {
    const ExportCase c = GetParam();
    const Model m = hfio_test::random_model(64, 96, 2, 4, 2, 64, false, 31, {96, 64});
    QuantConfig cfg;
    cfg.bits = c.bits;
    cfg.symmetric = c.sym;
    cfg.group_size = c.group;
    cfg.act_order = c.act_order;
    const Quantized qm = quantize_model(m, cfg, {"wq", "wk", "wv", "wo", "w1", "w2", "w3"},
                                        random_tokens(200, 64, 32));
    TempDir dir;
    GptqExportOptions opt;
    opt.format = c.format;
    opt.dense_dtype = Dtype::F32;
    const GptqExportSummary s = write_gptq_model(qm.fake, qm.results, dir.path().string(), opt);
    EXPECT_EQ(s.quantized_layers, 14);
    EXPECT_EQ(s.dense_layers, 0);
    Dtype source;
    const Model loaded = load_hf(dir.path().string(), &source);
    EXPECT_EQ(loaded.layers[1].w1.rows, 64);
    expect_reloads_as_fake_quantized(qm, loaded);

    // quantize_config.json and config.json's quantization_config say the same thing.
    const auto qc = hfio_test::read_json(dir.file("quantize_config.json"));
    EXPECT_EQ(hfio_test::read_json(dir.file("config.json"))["quantization_config"], qc);
    EXPECT_EQ(qc["bits"], c.bits);
    EXPECT_EQ(qc["group_size"], c.group > 0 ? c.group : -1);
    EXPECT_EQ(qc["sym"], c.sym);
    EXPECT_EQ(qc["quant_method"], "gptq");
    EXPECT_EQ(qc["checkpoint_format"], gptq_format_name(c.format));
    // desc_act is true exactly when the act-order g_idx is not j / group_size (with one
    // group per row, act-order leaves nothing to record).
    const bool permuted_groups = c.act_order && c.group > 0;
    EXPECT_EQ(qc["desc_act"], permuted_groups);
    EXPECT_EQ(s.desc_act, permuted_groups);

    const SafetensorsFile st(dir.file("model.safetensors"));
    for (const auto& [name, q] : qm.results) {
        const std::string layer = name.substr(7, 1), lin = name.substr(9);
        const std::string prefix = hf_linear_prefix(std::stoll(layer), lin);
        EXPECT_EQ(st.read_i32(prefix + ".g_idx"), q.g_idx) << prefix;
        EXPECT_EQ(st.info(prefix + ".qweight").shape, std::vector<int64_t>({q.cols * c.bits / 32, q.rows}));
        EXPECT_EQ(st.info(prefix + ".qzeros").shape, std::vector<int64_t>({q.groups, q.rows * c.bits / 32}));
        if (permuted_groups) {
            bool trivial = true;
            for (int64_t j = 0; j < q.cols; ++j) trivial = trivial && q.g_idx[j] == j / c.group;
            EXPECT_FALSE(trivial) << prefix << ": act-order should reorder the groups";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Widths, GptqExportCases,
                         ::testing::Values(ExportCase{4, false, 32, true, GptqFormat::v2},
                                           ExportCase{3, true, 32, true, GptqFormat::v1},
                                           ExportCase{2, false, 0, false, GptqFormat::v2},
                                           ExportCase{8, true, 32, false, GptqFormat::v1},
                                           ExportCase{4, true, 0, true, GptqFormat::v1}),
                         [](const ::testing::TestParamInfo<ExportCase>& param_info) {
                             const ExportCase& c = param_info.param;
                             return std::to_string(c.bits) + "bit_" + (c.sym ? "sym" : "asym") + "_group" +
                                    std::to_string(c.group) + (c.act_order ? "_actorder_" : "_") +
                                    (c.format == GptqFormat::v1 ? "gptq" : "gptq_v2");
                         });

// A small exported checkpoint reused by the tests below: 4-bit symmetric, group 32, v1.
struct Exported {
    TempDir dir;
    Quantized qm;
    Exported() {
        const Model m = hfio_test::random_model(64, 64, 1, 4, 2, 64, true, 41);
        QuantConfig cfg;
        cfg.group_size = 32;
        qm = quantize_model(m, cfg, {"wq", "wk", "wv", "wo", "w1", "w2", "w3"}, random_tokens(128, 64, 42));
        GptqExportOptions opt;
        opt.dense_dtype = Dtype::F32;
        write_gptq_model(qm.fake, qm.results, dir.path().string(), opt);
    }
    std::string path() const { return dir.path().string(); }
    void set_quant_config(const nlohmann::json& qc) {
        auto config = hfio_test::read_json(dir.file("config.json"));
        config["quantization_config"] = qc;
        hfio_test::write_json(dir.file("config.json"), config);
    }
    template <typename Edit>
    void rewrite_tensors(Edit&& edit) {
        SafetensorsFile in(dir.file("model.safetensors"));
        SafetensorsWriter out;
        for (const TensorInfo& t : in.tensors()) {
            if (edit(out, t, in)) continue;
            if (t.dtype == Dtype::I32) out.add_i32(t.name, t.shape, in.read_i32(t.name).data());
            else if (t.dtype == Dtype::F16) out.add_u16_bits(t.name, t.shape, in.read_u16_bits(t.name).data(), t.dtype);
            else out.add_float(t.name, t.shape, in.read_f32(t.name).data(), t.dtype);
        }
        out.write(dir.file("model.safetensors"));
    }
};

TEST(GptqExport, CheckpointFormatInTheConfigDrivesDequantization) {
    Exported e;
    const Model v1 = load_hf(e.path());
    auto qc = hfio_test::read_json(e.dir.file("quantize_config.json"));
    EXPECT_EQ(qc["checkpoint_format"], "gptq");
    // Without config.json's quantization_config, quantize_config.json alone is used.
    auto config = hfio_test::read_json(e.dir.file("config.json"));
    config.erase("quantization_config");
    hfio_test::write_json(e.dir.file("config.json"), config);
    hfio_test::expect_same_model(v1, load_hf(e.path()));
    // Claiming gptq_v2 for v1 data reads every zero one lower: each weight moves by +scale.
    qc["checkpoint_format"] = "gptq_v2";
    e.set_quant_config(qc);
    const Model v2 = load_hf(e.path());
    const QuantResult& q = e.qm.results.at("layers.0.wo");
    for (int64_t o = 0; o < 64; ++o)
        for (int64_t j = 0; j < 64; ++j)
            ASSERT_FLOAT_EQ(v2.layers[0].wo(o, j) - v1.layers[0].wo(o, j),
                            hfio_test::f16_round(q.scales[o * q.groups + q.g_idx[j]]));
    // A GPTQ directory converts to a dense one, with a warning.
    ConvertOptions to_hf;
    to_hf.format = ModelFormat::hf;
    const ConvertReport r = convert_model(e.path(), e.dir.file("dense"), to_hf);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("dequantized"), std::string::npos);
    hfio_test::expect_same_model(v2, load_hf(e.dir.file("dense")));
}

TEST(GptqExport, BadQuantizationConfigsAndPackedTensorsAreErrors) {
    const std::string o = "model.layers.0.self_attn.o_proj";
    {
        Exported e;
        auto qc = hfio_test::read_json(e.dir.file("quantize_config.json"));
        for (const nlohmann::json& bits : {nlohmann::json(5), nlohmann::json("4"), nlohmann::json(4294967300ll),
                                           nlohmann::json(nullptr)}) {
            auto bad = qc;
            bad["bits"] = bits;
            e.set_quant_config(bad);
            expect_error([&] { load_hf(e.path()); }, SURGEON_ERR_IO, "\"bits\"");
        }
        auto bad = qc;
        bad["bits"] = 8;  // the tensors hold 4-bit packing
        e.set_quant_config(bad);
        expect_error([&] { load_hf(e.path()); }, SURGEON_ERR_IO, "qweight");
        bad = qc;
        bad["checkpoint_format"] = 2;
        e.set_quant_config(bad);
        expect_error([&] { load_hf(e.path()); }, SURGEON_ERR_IO, "checkpoint_format");
        bad["checkpoint_format"] = "marlin";
        e.set_quant_config(bad);
        expect_error([&] { load_hf(e.path()); }, SURGEON_ERR_UNSUPPORTED, "marlin");
        bad = qc;
        bad["quant_method"] = "awq";
        e.set_quant_config(bad);
        expect_error([&] { load_hf(e.path()); }, SURGEON_ERR_UNSUPPORTED, "awq");
    }
    auto expect_broken = [&](auto&& edit, const std::string& needle) {
        Exported e;
        e.rewrite_tensors(edit);
        expect_error([&] { load_hf(e.path()); }, SURGEON_ERR_IO, needle);
    };
    expect_broken([&](SafetensorsWriter& w, const TensorInfo& t, const SafetensorsFile& in) {
        if (t.name != o + ".g_idx") return false;
        auto g = in.read_i32(t.name);
        g[10] = 2;  // two groups: 0 and 1
        w.add_i32(t.name, t.shape, g.data());
        return true;
    }, "outside [0, 2)");
    expect_broken([&](SafetensorsWriter& w, const TensorInfo& t, const SafetensorsFile& in) {
        if (t.name != o + ".qweight") return false;
        w.add_i32(t.name, {16, 32}, in.read_i32(t.name).data());  // [8, 64] reshaped
        return true;
    }, "qweight");
    expect_broken([&](SafetensorsWriter& w, const TensorInfo& t, const SafetensorsFile& in) {
        if (t.name != o + ".scales") return false;
        w.add_float(t.name, t.shape, in.read_f32(t.name).data(), Dtype::F32);
        return true;
    }, "expected F16");
    expect_broken([&](SafetensorsWriter&, const TensorInfo& t, const SafetensorsFile&) {
        return t.name == o + ".qzeros";  // dropped
    }, "qzeros");
    expect_broken([&](SafetensorsWriter&, const TensorInfo& t, const SafetensorsFile&) {
        return t.name == o + ".qweight" || t.name == o + ".qzeros" || t.name == o + ".scales" ||
               t.name == o + ".g_idx";  // the linear is gone altogether
    }, "neither");
}

// ---------------------------------------------------------------------------------------
// What the loaders accept: formats, group sizes, dense linears, truthful metadata.

TEST(GptqExportPlan, FormatAndMetadataComeFromTheRun) {
    const std::vector<LinearExportPlan> sym = {quantized_plan("layers.0.wq", 64, 64, 4, 32, true, true, true, 0.05),
                                               quantized_plan("layers.0.wo", 64, 64, 4, 32, true, false, true, 0.05)};
    GptqExportOptions o = plan_gptq_export(sym, std::nullopt, Dtype::F16);
    EXPECT_EQ(o.format, GptqFormat::v1);  // symmetric: every loader reads v1
    EXPECT_EQ(o.group_size, 32);
    EXPECT_EQ(o.sym, true);
    EXPECT_EQ(o.desc_act, true);  // act-order in some layer
    EXPECT_TRUE(o.static_groups);
    EXPECT_DOUBLE_EQ(o.damp_percent, 0.05);
    // One asymmetric layer: gptq_v2 by default (GPTQModel refuses asymmetric v1 from any
    // producer but itself), v1 when asked.
    std::vector<LinearExportPlan> asym = sym;
    asym[1].sym = false;
    o = plan_gptq_export(asym, std::nullopt, Dtype::F16);
    EXPECT_EQ(o.format, GptqFormat::v2);
    EXPECT_EQ(o.sym, false);
    EXPECT_EQ(plan_gptq_export(asym, GptqFormat::v1, Dtype::F16).format, GptqFormat::v1);
    // Without act-order, static groups or groups; dense layers are ignored; a round-to-
    // nearest layer's damp does not count (it is not solved).
    std::vector<LinearExportPlan> plain = {quantized_plan("layers.0.wq", 64, 64, 3, 0, true, false, false, 0.2),
                                           quantized_plan("layers.0.wk", 64, 64, 3, 0, true, false, false, 0.5, false)};
    plain.push_back(LinearExportPlan{});
    plain.back().name = "layers.0.w2";
    plain.back().rows = 64;
    plain.back().cols = 172;
    o = plan_gptq_export(plain, std::nullopt, Dtype::BF16);
    EXPECT_EQ(o.group_size, -1);
    EXPECT_EQ(o.desc_act, false);
    EXPECT_FALSE(o.static_groups);
    EXPECT_DOUBLE_EQ(o.damp_percent, 0.2);
    EXPECT_EQ(o.dense_dtype, Dtype::BF16);
}

TEST(GptqExportPlan, WhatTheLoadersCannotReadIsRefusedNamingTheLayer) {
    auto refused = [](std::vector<LinearExportPlan> plans, const std::string& needle) {
        try {
            plan_gptq_export(plans, std::nullopt, Dtype::F16);
            ADD_FAILURE() << "accepted; expected: " << needle;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_INVALID_ARGUMENT);
            const std::string m = e.what();
            EXPECT_NE(m.find(needle), std::string::npos) << m;
            EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        }
    };
    const LinearExportPlan good = quantized_plan("layers.0.wq", 64, 128, 4, 32, true);
    refused({good, quantized_plan("layers.1.wk", 64, 128, 4, 64, true)}, "one group size");
    refused({quantized_plan("layers.0.wq", 64, 96, 4, 64, true)}, "'layers.0.wq': group size 64 does not divide its 96");
    refused({quantized_plan("layers.0.wo", 64, 64, 4, 128, true)}, "'layers.0.wo': group size 128 does not divide its 64");
    refused({good, quantized_plan("layers.0.wk", 64, 128, 8, 32, true)}, "one bit width");
    refused({quantized_plan("layers.0.w1", 172, 64, 4, 32, true)}, "'layers.0.w1': 172 x 64 cannot be GPTQ-packed");
    refused({quantized_plan("layers.0.wq", 64, 64, 5, 32, true)}, "2, 3, 4 or 8");
    LinearExportPlan mixed = good;
    mixed.mixed = true;
    refused({mixed}, "one width per layer");
    LinearExportPlan dense;
    dense.name = "layers.0.wq";
    refused({dense}, "no layer is quantized");
    refused({good, quantized_plan("layers.0.wk", 64, 128, 4, 32, true, false, false, 0.1)}, "damp_percent is one value");
    refused({good, quantized_plan("layers.0.wk", 64, 128, 4, 32, true, true, true)}, "static_groups is one value");
    refused({quantized_plan("layers.0.wq", 64, 64, 4, 32, true, false, false, 0.0)}, "outside (0, 1)");
}

TEST(GptqExport, GroupSizeThatDoesNotDivideTheInputWidthIsRefused) {
    const Model m = hfio_test::random_model(64, 64, 1, 4, 2, 64, true, 51);
    QuantConfig cfg;
    cfg.group_size = 48;  // groups of 48 and 16 columns: AutoGPTQ's reshape cannot hold them
    const Quantized qm = quantize_model(m, cfg, {"wq", "wo"}, random_tokens(64, 64, 52));
    TempDir dir;
    expect_error([&] { write_gptq_model(qm.fake, qm.results, dir.file("g48")); }, SURGEON_ERR_INVALID_ARGUMENT,
                 "group size 48 does not divide the 64 input features of 'layers.0.wo'");
    EXPECT_FALSE(fs::exists(dir.file("g48")));
}

// The module names GPTQModel keeps dense (a "dynamic" key "-:<regex>" that re.match-es the
// name) and optimum/transformers quantize (a name ending with an entry of
// modules_in_block_to_quantize), applied as those loaders do.
std::set<std::string> gptqmodel_dense(const nlohmann::json& qc, const std::vector<std::string>& modules) {
    std::set<std::string> dense;
    if (!qc.contains("dynamic")) return dense;
    for (const auto& [key, value] : qc["dynamic"].items()) {
        EXPECT_EQ(key.rfind("-:", 0), 0u) << key;
        EXPECT_TRUE(value.is_object() && value.empty());
        const std::regex re(key.substr(2));
        for (const std::string& name : modules)
            if (std::regex_search(name, re, std::regex_constants::match_continuous)) dense.insert(name);
    }
    return dense;
}
std::set<std::string> optimum_quantized(const nlohmann::json& qc, const std::vector<std::string>& modules) {
    if (!qc.contains("modules_in_block_to_quantize")) return {modules.begin(), modules.end()};
    std::set<std::string> keep;
    for (const auto& group : qc["modules_in_block_to_quantize"])
        for (const auto& entry : group) {
            const std::string e = entry.get<std::string>();
            for (const std::string& name : modules)
                if (name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) keep.insert(name);
        }
    return keep;
}

TEST(GptqExport, DenseLinearsAreDeclaredSoLoadersKeepThemDense) {
    const Model m = hfio_test::random_model(64, 64, 12, 4, 2, 64, true, 53);
    QuantConfig cfg;
    cfg.group_size = 32;
    Quantized qm = quantize_model(m, cfg, {"wq", "wk", "wv", "wo", "w1", "w3"}, random_tokens(64, 64, 54));
    std::vector<std::string> modules;
    for (int64_t b = 0; b < 12; ++b)
        for (const char* lin : kLinearNames) modules.push_back(hf_linear_prefix(b, lin));
    auto check = [&](const std::string& what) {
        TempDir dir;
        const GptqExportSummary s = write_gptq_model(qm.fake, qm.results, dir.path().string());
        const auto qc = hfio_test::read_json(dir.file("quantize_config.json"));
        EXPECT_EQ(hfio_test::read_json(dir.file("config.json"))["quantization_config"], qc);
        const SafetensorsFile st(dir.file("model.safetensors"));
        std::set<std::string> packed, dense;
        for (const std::string& name : modules) (st.contains(name + ".qweight") ? packed : dense).insert(name);
        EXPECT_EQ(static_cast<int64_t>(dense.size()), s.dense_layers) << what;
        EXPECT_EQ(gptqmodel_dense(qc, modules), dense) << what;
        EXPECT_EQ(optimum_quantized(qc, modules), packed) << what;
        return qc;
    };
    // Every block leaves down_proj dense: the block-relative names of the true-sequential groups.
    nlohmann::json qc = check("uniform");
    EXPECT_EQ(qc["modules_in_block_to_quantize"],
              nlohmann::json::parse(R"([["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
                                        ["self_attn.o_proj"], ["mlp.gate_proj", "mlp.up_proj"]])"));
    EXPECT_EQ(qc["dynamic"].size(), 12u);
    EXPECT_TRUE(qc["dynamic"].contains("-:^model\\.layers\\.1\\.mlp\\.down_proj$"));
    // Block 1 also leaves q_proj dense: full names, which no other block's name ends with
    // (model.layers.11.* does not end with model.layers.1.*).
    qm.results.erase("layers.1.wq");
    qc = check("per block");
    EXPECT_EQ(qc["modules_in_block_to_quantize"].size(), 3u);
    EXPECT_EQ(qc["modules_in_block_to_quantize"][0][0], "model.layers.0.self_attn.q_proj");
    EXPECT_EQ(qc["dynamic"].size(), 13u);
    // Nothing dense: nothing declared.
    Quantized all = quantize_model(hfio_test::random_model(64, 64, 1, 4, 2, 64, true, 55), cfg,
                                   {"wq", "wk", "wv", "wo", "w1", "w2", "w3"}, random_tokens(64, 64, 56));
    TempDir dir;
    write_gptq_model(all.fake, all.results, dir.path().string());
    const auto full = hfio_test::read_json(dir.file("quantize_config.json"));
    EXPECT_FALSE(full.contains("modules_in_block_to_quantize"));
    EXPECT_FALSE(full.contains("dynamic"));
}

TEST(GptqExport, AsymmetricExportsDefaultToV2WithZerosStoredAsIs) {
    Model m = hfio_test::random_model(64, 64, 2, 4, 2, 64, true, 57);
    // Row 0 of wo all positive: its groups' minimum is 0, so their zero point is 0.
    for (int64_t j = 0; j < 64; ++j) m.layers[0].wo(0, j) = std::fabs(m.layers[0].wo(0, j)) + 0.01f;
    QuantConfig cfg;
    cfg.bits = 2;
    cfg.symmetric = false;
    cfg.group_size = 32;
    const Quantized qm = quantize_model(m, cfg, {"wq", "wk", "wv", "wo", "w1", "w2", "w3"}, random_tokens(128, 64, 58));
    TempDir dir;
    GptqExportOptions opt;
    opt.dense_dtype = Dtype::F32;
    opt.damp_percent = 0.05;
    opt.static_groups = true;
    const GptqExportSummary s = write_gptq_model(qm.fake, qm.results, dir.path().string(), opt);
    EXPECT_EQ(s.format, GptqFormat::v2);
    const auto qc = hfio_test::read_json(dir.file("quantize_config.json"));
    EXPECT_EQ(qc["checkpoint_format"], "gptq_v2");
    EXPECT_EQ(qc["sym"], false);
    EXPECT_EQ(qc["damp_percent"], 0.05);
    EXPECT_EQ(qc["static_groups"], true);
    ASSERT_TRUE(qc["meta"]["quantizer"].is_array());
    for (const auto& producer : qc["meta"]["quantizer"])  // never another tool's name
        EXPECT_EQ(producer.get<std::string>().rfind("surgeon:", 0), 0u) << producer;
    // qzeros hold the zero points themselves (no −1), zeros of 0 included.
    const SafetensorsFile st(dir.file("model.safetensors"));
    bool zero_seen = false;
    for (const char* lin : {"wo", "w1", "w2", "w3", "wv"}) {
        const QuantResult& q = qm.results.at(std::string("layers.0.") + lin);
        const auto words = st.read_i32(hf_linear_prefix(0, lin) + ".qzeros");
        std::vector<uint32_t> stored(static_cast<size_t>(q.rows));
        for (int64_t g = 0; g < q.groups; ++g) {
            unpack_bits(reinterpret_cast<const uint32_t*>(words.data()) + g * (q.rows * 2 / 32), 1, q.rows, 2,
                        stored.data());
            for (int64_t o = 0; o < q.rows; ++o) {
                ASSERT_EQ(static_cast<float>(stored[o]), q.zeros[o * q.groups + g]) << lin;
                zero_seen = zero_seen || stored[o] == 0;
            }
        }
    }
    EXPECT_TRUE(zero_seen) << "wo's all-positive row has zero point 0";
    expect_reloads_as_fake_quantized(qm, load_hf(dir.path().string()));
    // The same results in v1 are refused, pointing at v2, and leave no directory.
    opt.format = GptqFormat::v1;
    expect_error([&] { write_gptq_model(qm.fake, qm.results, dir.file("v1"), opt); }, SURGEON_ERR_INVALID_ARGUMENT,
                 "--gptq-format v2");
    EXPECT_FALSE(fs::exists(dir.file("v1")));
}

}  // namespace
