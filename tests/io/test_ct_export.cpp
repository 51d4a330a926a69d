// compressed-tensors "pack-quantized" checkpoints: every packed tensor unpacked by a reader
// written here from the format's definition (value i at bit i·b of the little-endian
// stream of a row's words, offset by 2^(b−1); zero points packed the same way down each
// column), for 2 to 8 bits, symmetric and asymmetric grids, groups and group act-order;
// the quantization_config checked field by field against compressed-tensors'
// QuantizationConfig / QuantizationScheme / QuantizationArgs; and what an export refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "io/ct_export.hpp"
#include "io/hf_model.hpp"
#include "io/safetensors.hpp"
#include "hf_util.hpp"
#include "plan_util.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::TempDir;
using export_test::quantized_plan;

// Value i (i < count) of the bit stream of `words`: bytes of the words in little-endian
// order, bit k of the stream is bit k % 8 of byte k / 8.
std::vector<uint32_t> read_stream(const std::vector<uint32_t>& words, int64_t count, int bits) {
    std::vector<uint8_t> bytes;
    for (uint32_t w : words)
        for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<uint8_t>(w >> (8 * k)));
    std::vector<uint32_t> v(static_cast<size_t>(count), 0);
    for (int64_t i = 0; i < count; ++i)
        for (int b = 0; b < bits; ++b) {
            const int64_t bit = i * bits + b;
            v[static_cast<size_t>(i)] |= static_cast<uint32_t>((bytes[static_cast<size_t>(bit / 8)] >> (bit % 8)) & 1)
                                         << b;
        }
    // Every bit after the last value is padding, zero.
    for (int64_t bit = count * bits; bit < static_cast<int64_t>(bytes.size()) * 8; ++bit)
        EXPECT_EQ((bytes[static_cast<size_t>(bit / 8)] >> (bit % 8)) & 1, 0) << "padding bit " << bit;
    return v;
}

// A random result: codes, scales, zeros (all 2^(b−1) when sym) and g_idx (a random column
// order when act_order, as GPTQ's desc_act gives).
QuantResult random_result(int64_t out, int64_t in, int bits, int64_t group, bool sym, bool act_order, uint32_t seed) {
    std::mt19937 rng(seed);
    QuantResult q;
    q.rows = out;
    q.cols = in;
    q.bits = bits;
    q.groups = group > 0 ? in / group : 1;
    const uint32_t levels = 1u << bits;
    for (int64_t i = 0; i < out * in; ++i) q.codes.push_back(static_cast<uint8_t>(rng() % levels));
    q.codes[0] = static_cast<uint8_t>(levels - 1);  // the extremes somewhere
    q.codes[1] = 0;
    std::uniform_real_distribution<float> scale(0.001f, 0.05f);
    for (int64_t i = 0; i < out * q.groups; ++i) {
        q.scales.push_back(scale(rng));
        q.zeros.push_back(sym ? static_cast<float>(levels / 2) : static_cast<float>(rng() % levels));
    }
    if (!sym) q.zeros[0] = 0.0f;
    std::vector<int32_t> order(static_cast<size_t>(in));
    std::iota(order.begin(), order.end(), 0);
    if (act_order) std::shuffle(order.begin(), order.end(), rng);
    q.g_idx.resize(static_cast<size_t>(in));
    for (int64_t k = 0; k < in; ++k) q.g_idx[order[k]] = group > 0 ? static_cast<int32_t>(k / group) : 0;
    q.perm = order;
    return q;
}

// W[o][j] = s·(q − z) of a result (the weights the solver produced).
Matrix dequantized(const QuantResult& q) {
    Matrix w(q.rows, q.cols);
    for (int64_t o = 0; o < q.rows; ++o)
        for (int64_t j = 0; j < q.cols; ++j) {
            const int64_t k = o * q.groups + q.g_idx[j];
            w(o, j) = q.scales[k] * (static_cast<float>(q.codes[o * q.cols + j]) - q.zeros[k]);
        }
    return w;
}

struct Case {
    int bits;
    bool sym;
    int64_t group;
    bool act_order;
};

TEST(CtPack, EveryTensorUnpacksToTheResult) {
    // 80 columns: 80·b bits fill whole words only for b = 2, 4, 6, 8; 40 rows likewise for
    // the zero points. The rest ends in padding.
    const int64_t out = 40, in = 80;
    std::vector<Case> cases;
    for (int bits = 2; bits <= 8; ++bits)
        for (bool sym : {true, false}) {
            cases.push_back({bits, sym, 0, false});
            cases.push_back({bits, sym, 16, false});
            cases.push_back({bits, sym, 16, true});
        }
    uint32_t seed = 100;
    for (const Case& c : cases) {
        const std::string what = std::to_string(c.bits) + "-bit " + (c.sym ? "sym" : "asym") + " group " +
                                 std::to_string(c.group) + (c.act_order ? " act-order" : "");
        const QuantResult q = random_result(out, in, c.bits, c.group, c.sym, c.act_order, seed++);
        const CtScheme scheme = infer_ct_scheme(q);
        EXPECT_EQ(scheme.bits, c.bits) << what;
        EXPECT_EQ(scheme.sym, c.sym) << what;
        EXPECT_EQ(scheme.group_size, c.group > 0 ? c.group : -1) << what;
        EXPECT_EQ(scheme.actorder, c.act_order && c.group > 0 ? "group" : "") << what;
        const CtLinear p = pack_ct(q, scheme);
        const int64_t row_words = (in * c.bits + 31) / 32, groups = c.group > 0 ? in / c.group : 1;
        ASSERT_EQ(p.weight_packed.size(), static_cast<size_t>(out * row_words)) << what;
        const int offset = 1 << (c.bits - 1);
        std::vector<int> x_q(static_cast<size_t>(out * in));  // the signed quantized values
        for (int64_t o = 0; o < out; ++o) {
            const std::vector<uint32_t> words(p.weight_packed.begin() + o * row_words,
                                              p.weight_packed.begin() + (o + 1) * row_words);
            const auto v = read_stream(words, in, c.bits);
            for (int64_t j = 0; j < in; ++j) {
                ASSERT_EQ(v[j], q.codes[o * in + j]) << what;
                x_q[o * in + j] = static_cast<int>(v[j]) - offset;
            }
        }
        std::vector<int> zp(static_cast<size_t>(out * groups), 0);  // signed zero points (0 when sym)
        if (c.sym) {
            EXPECT_TRUE(p.weight_zero_point.empty()) << what;
        } else {
            const int64_t zp_words = (out * c.bits + 31) / 32;
            ASSERT_EQ(p.weight_zero_point.size(), static_cast<size_t>(zp_words * groups)) << what;
            for (int64_t g = 0; g < groups; ++g) {
                std::vector<uint32_t> column;
                for (int64_t w = 0; w < zp_words; ++w) column.push_back(static_cast<uint32_t>(p.weight_zero_point[w * groups + g]));
                const auto v = read_stream(column, out, c.bits);
                for (int64_t o = 0; o < out; ++o) zp[o * groups + g] = static_cast<int>(v[o]) - offset;
            }
        }
        EXPECT_EQ(p.weight_scale, q.scales) << what;
        EXPECT_EQ(p.weight_g_idx.empty(), !(c.act_order && c.group > 0)) << what;
        if (!p.weight_g_idx.empty()) {
            EXPECT_EQ(p.weight_g_idx, q.g_idx) << what;
        }
        // The loader's dequantization: W = s·(x_q − zp), the group of column j from g_idx
        // when stored, else j / group_size.
        const Matrix want = dequantized(q);
        for (int64_t o = 0; o < out; ++o)
            for (int64_t j = 0; j < in; ++j) {
                const int64_t g = p.weight_g_idx.empty() ? (c.group > 0 ? j / c.group : 0) : p.weight_g_idx[j];
                const float w = p.weight_scale[o * groups + g] *
                                static_cast<float>(x_q[o * in + j] - zp[o * groups + g]);
                ASSERT_EQ(w, want(o, j)) << what << " at " << o << ", " << j;
            }
    }
}

// For widths that divide 32 the stream is also compressed-tensors' earlier layout, with
// 32/b values per word, value i of a row at bits b·(i mod 32/b) of word i / (32/b).
TEST(CtPack, WidthsDividing32KeepTheWordPerValuesLayout) {
    for (int bits : {2, 4, 8}) {
        const QuantResult q = random_result(8, 72, bits, 0, false, false, 7u + static_cast<uint32_t>(bits));
        const CtLinear p = pack_ct(q, infer_ct_scheme(q));
        const int per = 32 / bits;
        const int64_t row_words = (72 + per - 1) / per;
        for (int64_t o = 0; o < 8; ++o)
            for (int64_t i = 0; i < 72; ++i) {
                const uint32_t word = static_cast<uint32_t>(p.weight_packed[o * row_words + i / per]);
                ASSERT_EQ((word >> (bits * (i % per))) & ((1u << bits) - 1), q.codes[o * 72 + i]) << bits;
            }
    }
}

TEST(CtPack, ResultsThatDoNotFitTheSchemeAreRefused) {
    const QuantResult q = random_result(32, 64, 4, 32, false, true, 9);
    CtScheme s = infer_ct_scheme(q);
    CtScheme no_order = s;
    no_order.actorder = "";
    expect_error([&] { pack_ct(q, no_order); }, SURGEON_ERR_INVALID_ARGUMENT, "actorder");
    CtScheme sym = s;
    sym.sym = true;
    expect_error([&] { pack_ct(q, sym); }, SURGEON_ERR_INVALID_ARGUMENT, "symmetric");
    CtScheme g48 = s;
    g48.group_size = 48;
    expect_error([&] { pack_ct(q, g48); }, SURGEON_ERR_INVALID_ARGUMENT, "does not divide");
    CtScheme eight = s;
    eight.bits = 8;
    expect_error([&] { pack_ct(q, eight); }, SURGEON_ERR_INVALID_ARGUMENT, "scheme 8");
}

TEST(CtExportPlan, SchemesFromTheRunAndRefusals) {
    std::vector<LinearExportPlan> plans = {quantized_plan("layers.0.wq", 64, 64, 4, 32, false, true),
                                           quantized_plan("layers.0.wk", 64, 64, 4, 32, false, true),
                                           quantized_plan("layers.0.wv", 64, 64, 4, 32, false, true),
                                           quantized_plan("layers.0.wo", 64, 64, 3, 0, true, true),
                                           quantized_plan("layers.0.w1", 172, 64, 8, 32, true, true, true),
                                           quantized_plan("layers.0.w3", 172, 64, 8, 32, true, true, true)};
    plans.push_back(LinearExportPlan{});
    plans.back().name = "layers.0.w2";
    CtExportOptions o = plan_ct_export(plans, Dtype::BF16);
    EXPECT_EQ(o.dtype, Dtype::BF16);
    EXPECT_EQ(o.schemes.size(), 6u);
    EXPECT_EQ(o.schemes.at("layers.0.wq").actorder, "group");
    EXPECT_EQ(o.schemes.at("layers.0.wq").group_size, 32);
    EXPECT_FALSE(o.schemes.at("layers.0.wq").sym);
    EXPECT_EQ(o.schemes.at("layers.0.wo").actorder, "");  // act-order needs the group strategy
    EXPECT_EQ(o.schemes.at("layers.0.wo").group_size, -1);
    EXPECT_EQ(o.schemes.at("layers.0.w1").actorder, "weight");  // static groups keep column order
    EXPECT_EQ(o.schemes.at("layers.0.w1").observer, "minmax");
    plans[3].mse = true;
    EXPECT_EQ(plan_ct_export(plans, Dtype::F16).schemes.at("layers.0.wo").observer, "mse");

    auto refused = [](std::vector<LinearExportPlan> p, const std::string& needle) {
        expect_error([&] { plan_ct_export(p, Dtype::F16); }, SURGEON_ERR_INVALID_ARGUMENT, needle);
    };
    std::vector<LinearExportPlan> split = plans;
    split[1].bits = 8;  // k differs from q: vLLM's fused qkv_proj holds one scheme
    refused(split, "'layers.0.wq' and 'layers.0.wk'");
    split = plans;
    split[5].quantized = false;  // up dense, gate quantized
    refused(split, "'layers.0.w1' and 'layers.0.w3'");
    split = plans;
    split[3].group_size = 48;
    refused(split, "'layers.0.wo': group size 48 does not divide its 64");
    split = plans;
    split[3].mixed = true;
    refused(split, "one width per layer");
    refused({plans.back()}, "no layer is quantized");
}

// A whole model: the files, their dtypes and shapes, every quantized weight rebuilt from the
// packed tensors in the HF layout, the dense ones as they were, and the config.
TEST(CtExport, ModelDirectoryHoldsThePackedLinearsAndTheConfig) {
    Model m = hfio_test::random_model(64, 96, 2, 4, 2, 64, false, 61);
    std::map<std::string, QuantResult> results;
    uint32_t seed = 200;
    for (int64_t b = 0; b < 2; ++b)
        for (const char* lin : {"wq", "wk", "wv", "wo", "w1", "w3"}) {
            Matrix& w = linear(m.layers[b], lin);
            // Block 1 at 8 bits: a second config group.
            QuantResult q = random_result(w.rows, w.cols, b == 0 ? 4 : 8, 32, b == 0, b == 0, seed++);
            w = dequantized(q);
            results["layers." + std::to_string(b) + "." + lin] = std::move(q);
        }
    for (Dtype dtype : {Dtype::F32, Dtype::BF16}) {
        TempDir dir;
        CtExportOptions opt;
        opt.dtype = dtype;
        const CtExportSummary s = write_ct_model(m, results, dir.path().string(), opt);
        EXPECT_EQ(s.quantized_layers, 12);
        EXPECT_EQ(s.dense_layers, 2);
        EXPECT_EQ(s.config_groups, 2);
        const SafetensorsFile st(dir.file("model.safetensors"));
        for (int64_t b = 0; b < 2; ++b)
            for (const char* lin : kLinearNames) {
                const std::string prefix = hf_linear_prefix(b, lin);
                const Matrix& w = linear(m.layers[b], lin);
                const int64_t heads = std::string(lin) == "wq" ? 4 : std::string(lin) == "wk" ? 2 : 0;
                const Matrix hf = heads ? permute_qk_to_hf(w, heads) : w;
                if (std::string(lin) == "w2") {
                    ASSERT_TRUE(st.contains(prefix + ".weight"));
                    EXPECT_FALSE(st.contains(prefix + ".weight_packed"));
                    continue;
                }
                const int bits = b == 0 ? 4 : 8;
                const int64_t groups = w.cols / 32, words = (w.cols * bits + 31) / 32;
                EXPECT_FALSE(st.contains(prefix + ".weight"));
                EXPECT_EQ(st.info(prefix + ".weight_packed").dtype, Dtype::I32);
                EXPECT_EQ(st.info(prefix + ".weight_packed").shape, std::vector<int64_t>({w.rows, words}));
                EXPECT_EQ(st.info(prefix + ".weight_scale").dtype, dtype);
                EXPECT_EQ(st.info(prefix + ".weight_scale").shape, std::vector<int64_t>({w.rows, groups}));
                EXPECT_EQ(st.read_i32(prefix + ".weight_shape"), std::vector<int32_t>({static_cast<int32_t>(w.rows),
                                                                                      static_cast<int32_t>(w.cols)}));
                EXPECT_EQ(st.contains(prefix + ".weight_zero_point"), b == 1) << prefix;  // block 1 asymmetric
                EXPECT_EQ(st.contains(prefix + ".weight_g_idx"), b == 0) << prefix;      // block 0 act-order
                const auto packed = st.read_i32(prefix + ".weight_packed");
                const auto scale = st.read_f32(prefix + ".weight_scale");
                std::vector<int32_t> zp_words, g_idx;
                if (b == 1) {
                    EXPECT_EQ(st.info(prefix + ".weight_zero_point").shape,
                              std::vector<int64_t>({(w.rows * bits + 31) / 32, groups}));
                    zp_words = st.read_i32(prefix + ".weight_zero_point");
                }
                if (b == 0) g_idx = st.read_i32(prefix + ".weight_g_idx");
                std::vector<std::vector<uint32_t>> zp_columns(static_cast<size_t>(groups));
                for (int64_t g = 0; g < groups && b == 1; ++g) {
                    std::vector<uint32_t> column;
                    for (int64_t k = 0; k < (w.rows * bits + 31) / 32; ++k)
                        column.push_back(static_cast<uint32_t>(zp_words[k * groups + g]));
                    zp_columns[g] = read_stream(column, w.rows, bits);
                }
                const int offset = 1 << (bits - 1);
                for (int64_t o = 0; o < w.rows; ++o) {
                    const std::vector<uint32_t> row(packed.begin() + o * words, packed.begin() + (o + 1) * words);
                    const auto v = read_stream(row, w.cols, bits);
                    for (int64_t j = 0; j < w.cols; ++j) {
                        const int64_t g = g_idx.empty() ? j / 32 : g_idx[j];
                        const int zp = b == 1 ? static_cast<int>(zp_columns[g][o]) - offset : 0;
                        const float s_og = scale[o * groups + g];
                        const float got = s_og * static_cast<float>(static_cast<int>(v[j]) - offset - zp);
                        if (dtype == Dtype::F32)
                            ASSERT_EQ(got, hf(o, j)) << prefix << " at " << o << ", " << j;
                        else  // bf16 scales: within the rounding of the scale
                            ASSERT_NEAR(got, hf(o, j), 0x1p-8 * std::fabs(hf(o, j)) + 1e-12) << prefix;
                    }
                }
            }
        EXPECT_EQ(st.info("lm_head.weight").dtype, dtype);

        const auto config = hfio_test::read_json(dir.file("config.json"));
        const auto& qc = config["quantization_config"];
        // QuantizationConfig, field by field.
        std::set<std::string> keys;
        for (const auto& [k, v] : qc.items()) keys.insert(k);
        EXPECT_EQ(keys, std::set<std::string>({"config_groups", "format", "global_compression_ratio", "ignore",
                                               "kv_cache_scheme", "quant_method", "quantization_status"}));
        EXPECT_EQ(qc["quant_method"], "compressed-tensors");
        EXPECT_EQ(qc["format"], "pack-quantized");
        EXPECT_EQ(qc["quantization_status"], "compressed");
        EXPECT_TRUE(qc["global_compression_ratio"].is_null());
        EXPECT_TRUE(qc["kv_cache_scheme"].is_null());
        EXPECT_EQ(qc["ignore"], nlohmann::json::parse(
                                    R"(["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj", "lm_head"])"));
        ASSERT_EQ(qc["config_groups"].size(), 2u);
        for (int k = 0; k < 2; ++k) {
            // QuantizationScheme, then QuantizationArgs ("weights").
            const auto& group = qc["config_groups"]["group_" + std::to_string(k)];
            std::set<std::string> gkeys, wkeys;
            for (const auto& [key, v] : group.items()) gkeys.insert(key);
            EXPECT_EQ(gkeys, std::set<std::string>({"targets", "weights", "input_activations", "output_activations",
                                                    "format"}));
            EXPECT_TRUE(group["input_activations"].is_null());
            EXPECT_TRUE(group["output_activations"].is_null());
            EXPECT_EQ(group["format"], "pack-quantized");
            std::vector<std::string> targets;
            for (const char* lin : {"wq", "wk", "wv", "wo", "w1", "w3"}) targets.push_back(hf_linear_prefix(k, lin));
            EXPECT_EQ(group["targets"], nlohmann::json(targets));
            const auto& w = group["weights"];
            for (const auto& [key, v] : w.items()) wkeys.insert(key);
            EXPECT_EQ(wkeys, std::set<std::string>({"num_bits", "type", "symmetric", "group_size", "strategy",
                                                    "block_structure", "dynamic", "actorder", "observer",
                                                    "observer_kwargs"}));
            EXPECT_EQ(w["num_bits"], k == 0 ? 4 : 8);
            EXPECT_EQ(w["type"], "int");
            EXPECT_EQ(w["symmetric"], k == 0);
            EXPECT_EQ(w["group_size"], 32);
            EXPECT_EQ(w["strategy"], "group");
            EXPECT_TRUE(w["block_structure"].is_null());
            EXPECT_EQ(w["dynamic"], false);
            EXPECT_EQ(w["actorder"], k == 0 ? nlohmann::json("group") : nlohmann::json(nullptr));
            EXPECT_EQ(w["observer"], "minmax");
            EXPECT_EQ(w["observer_kwargs"], nlohmann::json::object());
        }
    }
    // One scheme for every quantized linear: the "Linear" target; per-row groups: "channel".
    std::map<std::string, QuantResult> one;
    uint32_t s2 = 300;
    for (const char* lin : {"wo", "w2"}) {
        Matrix& w = linear(m.layers[0], lin);
        QuantResult q = random_result(w.rows, w.cols, 3, 0, true, false, s2++);
        w = dequantized(q);
        one["layers.0." + std::string(lin)] = std::move(q);
    }
    TempDir dir;
    write_ct_model(m, one, dir.path().string());
    const auto qc = hfio_test::read_json(dir.file("config.json"))["quantization_config"];
    ASSERT_EQ(qc["config_groups"].size(), 1u);
    EXPECT_EQ(qc["config_groups"]["group_0"]["targets"], nlohmann::json::array({"Linear"}));
    EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["strategy"], "channel");
    EXPECT_TRUE(qc["config_groups"]["group_0"]["weights"]["group_size"].is_null());
    EXPECT_EQ(qc["ignore"].size(), 13u);  // 12 dense linears and lm_head
    EXPECT_EQ(hfio_test::read_json(dir.file("config.json"))["torch_dtype"], "float16");
    // A result that does not belong to the model is refused before anything is written.
    one["layers.7.wo"] = one["layers.0.wo"];
    expect_error([&] { write_ct_model(m, one, dir.file("bad")); }, SURGEON_ERR_INVALID_ARGUMENT, "layers.7.wo");
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad")));
}

}  // namespace
