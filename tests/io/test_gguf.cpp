// write_gguf read back by an independent GGUF reader (tests/support/gguf_reader.hpp): the
// header, the llama architecture and tokenizer keys, the tensor names, shapes, offsets and
// alignment, and tensor data — F32 bit-exact, F16 the rounded weights, Q4_0 / Q8_0 blocks
// that dequantize exactly to the ggml-grid QuantResult (and its dequantized weights), and
// round-to-nearest blocks equal to ggml's reference quantizer recomputed here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/context.hpp"
#include "core/half.hpp"
#include "gguf_reader.hpp"
#include "hf_util.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf.hpp"
#include "io/tokenizer.hpp"
#include "layer/quant/rtn.hpp"

namespace {

using namespace surgeon;
using namespace surgeon::model;
using hfio_test::expect_error;
using hfio_test::TempDir;
using surgeon::testing::GgufFile;
using surgeon::testing::GgufTensorInfo;
using surgeon::testing::read_gguf;
namespace fs = std::filesystem;

const std::string kData = SURGEON_SAMPLES_DATA_DIR;

struct Stories {
    Model model = load_model(kData + "/stories260K.bin");
    Tokenizer tok = Tokenizer::load(kData + "/tok512.bin", 512);
};
const Stories& stories() {
    static const Stories s;
    return s;
}

const char* const kGgufLinear[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"};

// Every matrix tensor of the file, by name, with the model matrix it holds.
std::vector<std::pair<std::string, const Matrix*>> matrices(const Model& m) {
    std::vector<std::pair<std::string, const Matrix*>> out{{"token_embd.weight", &m.tok_emb}};
    for (size_t b = 0; b < m.layers.size(); ++b)
        for (int l = 0; l < 7; ++l)
            out.emplace_back("blk." + std::to_string(b) + "." + kGgufLinear[l] + ".weight",
                             &linear(m.layers[b], kLinearNames[l]));
    return out;
}

std::vector<float> flat(const Matrix& w) { return std::vector<float>(w.data.begin(), w.data.end()); }

TEST(Gguf, F32HeaderKeysTensorsAndLayout) {
    const Stories& s = stories();
    TempDir dir;
    const std::string path = dir.file("m.gguf");
    GgufOptions o;
    o.name = "stories260K";
    const GgufSummary sum = write_gguf(s.model, s.tok, {}, path, o);
    const GgufFile g = read_gguf(path);
    EXPECT_EQ(g.version, 3u);
    EXPECT_EQ(sum.bytes, g.bytes.size());
    EXPECT_EQ(sum.file_type, "ALL_F32");
    EXPECT_EQ(g.kv.at("general.architecture").s, "llama");
    EXPECT_EQ(g.kv.at("general.name").s, "stories260K");
    EXPECT_EQ(g.kv.at("general.alignment").type, 4u);
    EXPECT_EQ(g.kv.at("general.alignment").u, 32u);
    EXPECT_EQ(g.kv.at("general.file_type").u, 0u);
    // stories260K (samples/data/SOURCES.md): dim 64, FFN 172, 5 layers, 8 heads, 4 kv heads,
    // vocab 512, context 512.
    const std::map<std::string, uint64_t> u32s = {
        {"llama.context_length", 512},   {"llama.embedding_length", 64}, {"llama.block_count", 5},
        {"llama.feed_forward_length", 172}, {"llama.attention.head_count", 8},
        {"llama.attention.head_count_kv", 4}, {"llama.rope.dimension_count", 8}, {"llama.vocab_size", 512}};
    for (const auto& [key, v] : u32s) {
        EXPECT_EQ(g.kv.at(key).type, 4u) << key;
        EXPECT_EQ(g.kv.at(key).u, v) << key;
    }
    EXPECT_EQ(g.kv.count("llama.attention.key_length"), 0u);
    EXPECT_FLOAT_EQ(static_cast<float>(g.kv.at("llama.attention.layer_norm_rms_epsilon").f), s.model.config.norm_eps);
    EXPECT_EQ(static_cast<float>(g.kv.at("llama.rope.freq_base").f), 10000.0f);

    // Tokenizer: SentencePiece spaces, the special pieces, byte tokens, the scores.
    EXPECT_EQ(g.kv.at("tokenizer.ggml.model").s, "llama");
    const auto& tokens = g.kv.at("tokenizer.ggml.tokens");
    const auto& scores = g.kv.at("tokenizer.ggml.scores");
    const auto& types = g.kv.at("tokenizer.ggml.token_type");
    ASSERT_EQ(tokens.arr.size(), 512u);
    ASSERT_EQ(scores.arr.size(), 512u);
    ASSERT_EQ(types.arr.size(), 512u);
    EXPECT_EQ(tokens.elem_type, 8u);
    EXPECT_EQ(scores.elem_type, 6u);
    EXPECT_EQ(types.elem_type, 5u);
    EXPECT_EQ(tokens.arr[0].s, "<unk>");
    EXPECT_EQ(tokens.arr[1].s, "<s>");
    EXPECT_EQ(tokens.arr[2].s, "</s>");
    EXPECT_EQ(types.arr[0].i, 2);
    EXPECT_EQ(types.arr[1].i, 3);
    EXPECT_EQ(types.arr[2].i, 3);
    EXPECT_EQ(tokens.arr[3].s, "<0x00>");
    EXPECT_EQ(tokens.arr[258].s, "<0xFF>");
    for (int i = 3; i < 259; ++i) EXPECT_EQ(types.arr[static_cast<size_t>(i)].i, 6) << i;
    int spaced = 0;
    for (int i = 259; i < 512; ++i) {
        std::string expect;
        for (char c : s.tok.piece(i)) expect += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
        EXPECT_EQ(tokens.arr[static_cast<size_t>(i)].s, expect) << i;
        EXPECT_EQ(types.arr[static_cast<size_t>(i)].i, 1) << i;
        spaced += s.tok.piece(i).find(' ') != std::string::npos;
    }
    EXPECT_GT(spaced, 50);  // many pieces start with a space (91 of tok512.bin's)
    for (int i = 0; i < 512; ++i) EXPECT_EQ(static_cast<float>(scores.arr[static_cast<size_t>(i)].f), s.tok.score(i));
    EXPECT_EQ(g.kv.at("tokenizer.ggml.bos_token_id").u, 1u);
    EXPECT_EQ(g.kv.at("tokenizer.ggml.eos_token_id").u, 2u);
    EXPECT_EQ(g.kv.at("tokenizer.ggml.unknown_token_id").u, 0u);
    EXPECT_EQ(g.kv.at("tokenizer.ggml.add_bos_token").u, 1u);

    // Tensors: 1 embedding + 5 × (2 norms + 7 linears) + output_norm; the tied classifier
    // has no "output".
    ASSERT_EQ(g.tensors.size(), 47u);
    EXPECT_EQ(g.tensors.front().name, "token_embd.weight");
    EXPECT_EQ(g.tensors.back().name, "output_norm.weight");
    for (const GgufTensorInfo& t : g.tensors) EXPECT_NE(t.name, "output.weight");
    EXPECT_EQ(g.data_start % 32, 0u);
    uint64_t end = 0;
    for (const GgufTensorInfo& t : g.tensors) {
        EXPECT_EQ(t.type, 0u) << t.name;
        EXPECT_GE(t.offset, end) << t.name << " overlaps the tensor before it";
        end = t.offset + GgufFile::byte_size(t.type, g.elements(t));
    }
    EXPECT_EQ(g.tensor("blk.4.ffn_down.weight").ne, (std::vector<uint64_t>{172, 64}));
    EXPECT_EQ(g.tensor("blk.0.attn_k.weight").ne, (std::vector<uint64_t>{64, 32}));
    EXPECT_EQ(g.tensor("token_embd.weight").ne, (std::vector<uint64_t>{64, 512}));
    EXPECT_EQ(g.tensor("blk.2.attn_norm.weight").ne, (std::vector<uint64_t>{64}));
    // Data: bit-exact, q/k rows in the Model's (llama.cpp's) interleaved RoPE order.
    for (const auto& [name, w] : matrices(s.model)) EXPECT_EQ(g.decode(g.tensor(name)), flat(*w)) << name;
    for (size_t b = 0; b < 5; ++b) {
        const std::string blk = "blk." + std::to_string(b) + ".";
        EXPECT_EQ(g.decode(g.tensor(blk + "attn_norm.weight")), s.model.layers[b].rms_att);
        EXPECT_EQ(g.decode(g.tensor(blk + "ffn_norm.weight")), s.model.layers[b].rms_ffn);
    }
    EXPECT_EQ(g.decode(g.tensor("output_norm.weight")), s.model.rms_final);
}

TEST(Gguf, F16AndBf16HoldTheRoundedWeightsAndF32Norms) {
    const Stories& s = stories();
    for (GgufType t : {GgufType::F16, GgufType::BF16}) {
        TempDir dir;
        GgufOptions o;
        o.float_type = t;
        write_gguf(s.model, s.tok, {}, dir.file("m.gguf"), o);
        const GgufFile g = read_gguf(dir.file("m.gguf"));
        EXPECT_EQ(g.kv.at("general.file_type").u, t == GgufType::F16 ? 1u : 32u);
        for (const auto& [name, w] : matrices(s.model)) {
            const GgufTensorInfo& info = g.tensor(name);
            EXPECT_EQ(info.type, static_cast<uint32_t>(t)) << name;
            const std::vector<float> v = g.decode(info);
            const float eps = t == GgufType::F16 ? 1.0f / 2048 : 1.0f / 256;
            for (size_t i = 0; i < v.size(); ++i)
                ASSERT_LE(std::fabs(v[i] - w->data[i]), eps * std::fabs(w->data[i]) + 6e-8f) << name << "[" << i << "]";
        }
        EXPECT_EQ(g.tensor("blk.0.attn_norm.weight").type, 0u);
        EXPECT_EQ(g.decode(g.tensor("blk.0.attn_norm.weight")), s.model.layers[0].rms_att);
    }
}

// The ggml grid through RTN: Q4_0 / Q8_0 blocks dequantize exactly to the result.
TEST(Gguf, GgmlGridCodesAreTheBlocksExactly) {
    const Stories& s = stories();
    for (int bits : {4, 8}) {
        Model m = s.model;
        QuantConfig q;
        q.bits = bits;
        q.group_size = 32;
        q.kind = GridKind::ggml;
        std::map<std::string, QuantResult> quantized;
        for (size_t b = 0; b < m.layers.size(); ++b)
            for (const char* l : kLinearNames) {
                Matrix& w = linear(m.layers[b], l);
                if (w.cols % 32 != 0) continue;  // w2: 172 columns
                quantize_rtn(*default_context(), w.view(), q, &quantized["layers." + std::to_string(b) + "." + l]);
            }
        ASSERT_EQ(quantized.size(), 30u);
        TempDir dir;
        const GgufSummary sum = write_gguf(m, s.tok, quantized, dir.file("q.gguf"), {});
        const GgufFile g = read_gguf(dir.file("q.gguf"));
        const uint32_t type = bits == 4 ? 2u : 8u;
        EXPECT_EQ(sum.file_type, bits == 4 ? "MOSTLY_Q4_0" : "MOSTLY_Q8_0");
        EXPECT_EQ(g.kv.at("general.file_type").u, bits == 4 ? 2u : 7u);
        for (const auto& [name, w] : matrices(m)) {
            const GgufTensorInfo& info = g.tensor(name);
            const bool quant = name != "token_embd.weight" && name.find("ffn_down") == std::string::npos;
            EXPECT_EQ(info.type, quant ? type : 0u) << name;
            // Quantized layers: exactly the weights RTN left (d·(code − zero)); others as they are.
            EXPECT_EQ(g.decode(info), flat(*w)) << name;
        }
        for (const auto& [name, r] : quantized) {
            const size_t b = static_cast<size_t>(name[7] - '0');
            const std::string l = name.substr(9);
            const int li = static_cast<int>(std::find_if(std::begin(kLinearNames), std::end(kLinearNames),
                                                         [&](const char* n) { return l == n; }) -
                                            std::begin(kLinearNames));
            Matrix deq(r.rows, r.cols);
            r.dequantize(deq.data.data(), r.cols);
            EXPECT_EQ(g.decode(g.tensor("blk." + std::to_string(b) + "." + kGgufLinear[li] + ".weight")), flat(deq))
                << name;
        }
    }
}

// ggml's reference quantizers, recomputed from their definition.
std::vector<float> ggml_reference(const std::vector<float>& x, int bits) {
    std::vector<float> out(x.size());
    for (size_t b0 = 0; b0 < x.size(); b0 += 32) {
        float amax = 0, m = 0;
        for (size_t j = b0; j < b0 + 32; ++j)
            if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), m = x[j];
        const float d = bits == 4 ? m / -8 : amax / 127;
        const float id = d == 0 ? 0 : 1 / d;
        const float stored = f16_to_float(float_to_f16(d));
        for (size_t j = b0; j < b0 + 32; ++j) {
            const float q = bits == 4 ? std::min(15.0f, std::floor(x[j] * id + 8.5f)) - 8 : std::round(x[j] * id);
            out[j] = stored * q;
        }
    }
    return out;
}

TEST(Gguf, RoundToNearestIsGgmlsReferenceQuantizer) {
    std::mt19937 rng(3);
    std::normal_distribution<float> n(0.0f, 0.05f);
    std::vector<float> x(32 * 40);
    for (float& v : x) v = n(rng);
    for (int j = 0; j < 32; ++j) x[j] = 0.0f;                    // an all-zero block: d = 0
    for (int j = 32; j < 64; ++j) x[static_cast<size_t>(j)] = static_cast<float>(j - 48) / 16;  // exact ties
    for (int bits : {4, 8}) {
        const GgufType t = bits == 4 ? GgufType::Q4_0 : GgufType::Q8_0;
        std::vector<uint8_t> blocks(gguf_bytes(t, static_cast<int64_t>(x.size())));
        quantize_blocks_rtn(x.data(), static_cast<int64_t>(x.size()), t, blocks.data());
        GgufFile g;
        g.bytes.assign(blocks.begin(), blocks.end());
        GgufTensorInfo info;
        info.ne = {x.size()};
        info.type = bits == 4 ? 2u : 8u;
        EXPECT_EQ(g.decode(info), ggml_reference(x, bits)) << bits;
    }
}

TEST(Gguf, RtnConversionFallsBackToF16ForRowsNotMultipleOf32) {
    const Stories& s = stories();
    TempDir dir;
    GgufOptions o;
    o.rtn = GgufType::Q4_0;
    o.float_type = GgufType::F16;
    o.embedding_type = GgufType::Q8_0;
    const GgufSummary sum = write_gguf(s.model, s.tok, {}, dir.file("q.gguf"), o);
    const GgufFile g = read_gguf(dir.file("q.gguf"));
    EXPECT_EQ(sum.fallbacks.size(), 5u);
    EXPECT_EQ(sum.tensors.at("q4_0"), 30);
    EXPECT_EQ(sum.tensors.at("f16"), 5);
    EXPECT_EQ(sum.tensors.at("q8_0"), 1);
    EXPECT_EQ(g.tensor("token_embd.weight").type, 8u);
    EXPECT_EQ(g.decode(g.tensor("token_embd.weight")), ggml_reference(flat(s.model.tok_emb), 8));
    for (size_t b = 0; b < 5; ++b) {
        const std::string blk = "blk." + std::to_string(b) + ".";
        EXPECT_EQ(g.tensor(blk + "ffn_down.weight").type, 1u);
        EXPECT_EQ(g.tensor(blk + "ffn_gate.weight").type, 2u);
        EXPECT_EQ(g.decode(g.tensor(blk + "ffn_gate.weight")), ggml_reference(flat(s.model.layers[b].w1), 4));
    }
}

TEST(Gguf, ResultsOffTheGgmlGridAndBadInputsAreRefused) {
    const Stories& s = stories();
    TempDir dir;
    Model m = s.model;
    QuantConfig affine;
    affine.bits = 4;
    affine.group_size = 32;
    QuantResult r;
    quantize_rtn(*default_context(), m.layers[0].wq.view(), affine, &r);
    expect_error([&] { write_gguf(m, s.tok, {{"layers.0.wq", r}}, dir.file("a.gguf"), {}); }, SURGEON_ERR_UNSUPPORTED,
                 "layers.0.wq cannot be stored as Q4_0 or Q8_0 blocks");
    QuantConfig ggml = affine;
    ggml.kind = GridKind::ggml;
    quantize_rtn(*default_context(), m.layers[0].wq.view(), ggml, &r);
    QuantResult mixed = r;
    mixed.row_bits.assign(static_cast<size_t>(r.rows), 4);
    expect_error([&] { write_gguf(m, s.tok, {{"layers.0.wq", mixed}}, dir.file("b.gguf"), {}); },
                 SURGEON_ERR_UNSUPPORTED, "mixed precision");
    expect_error([&] { write_gguf(m, s.tok, {{"layers.0.wk", r}}, dir.file("c.gguf"), {}); }, SURGEON_ERR_SHAPE,
                 "codes of layers.0.wk");
    expect_error([&] { write_gguf(m, s.tok, {{"layers.9.wq", r}}, dir.file("d.gguf"), {}); },
                 SURGEON_ERR_INVALID_ARGUMENT, "not a linear layer");
    const Tokenizer small({"<unk>", "<s>", "</s>"}, {0, 0, 0});
    expect_error([&] { write_gguf(m, small, {}, dir.file("e.gguf"), {}); }, SURGEON_ERR_SHAPE, "3 tokens");
    for (const char* f : {"a", "b", "c", "d", "e"}) {
        EXPECT_FALSE(fs::exists(dir.file(std::string(f) + ".gguf"))) << f;
        EXPECT_FALSE(fs::exists(dir.file(std::string(f) + ".gguf.partial"))) << f;
    }
    expect_error([] { parse_gguf_type("q4_k"); }, SURGEON_ERR_INVALID_ARGUMENT, "unknown GGUF type 'q4_k'");
    EXPECT_EQ(parse_gguf_type("Q8_0"), GgufType::Q8_0);
}

}  // namespace

namespace {

// llama.cpp's llama architecture holds one FFN size: narrower layers are padded with zero
// neurons (checked value by value), an untied classifier is "output", and a quantized
// gate/up of a padded layer gets zero blocks while a quantized down is refused.
TEST(Gguf, SlicedFfnIsZeroPaddedAndAnUntiedClassifierIsOutput) {
    const Model m = hfio_test::random_model(64, 96, 3, 4, 4, 300, false, 5, {96, 64, 80});
    std::vector<std::string> pieces{"<unk>", "<s>", "</s>"};
    for (int i = 3; i < 300; ++i) pieces.push_back("p" + std::to_string(i));
    const Tokenizer tok(pieces, std::vector<float>(300, 0.0f));
    QuantConfig q;
    q.group_size = 32;
    q.kind = GridKind::ggml;
    Model mq = m;
    std::map<std::string, QuantResult> quantized;
    quantize_rtn(*default_context(), mq.layers[1].w1.view(), q, &quantized["layers.1.w1"]);
    quantize_rtn(*default_context(), mq.layers[1].wq.view(), q, &quantized["layers.1.wq"]);
    TempDir dir;
    const GgufSummary sum = write_gguf(mq, tok, quantized, dir.file("s.gguf"), {});
    EXPECT_EQ(sum.ffn_padded, (std::vector<int64_t>{1, 2}));
    const GgufFile g = read_gguf(dir.file("s.gguf"));
    EXPECT_EQ(g.kv.at("llama.feed_forward_length").u, 96u);
    EXPECT_EQ(g.tensor("output.weight").ne, (std::vector<uint64_t>{64, 300}));
    EXPECT_EQ(g.decode(g.tensor("output.weight")), flat(m.wcls));
    for (size_t b = 0; b < 3; ++b) {
        const LayerWeights& L = mq.layers[b];
        const std::string blk = "blk." + std::to_string(b) + ".";
        EXPECT_EQ(g.tensor(blk + "ffn_gate.weight").ne, (std::vector<uint64_t>{64, 96}));
        EXPECT_EQ(g.tensor(blk + "ffn_down.weight").ne, (std::vector<uint64_t>{96, 64}));
        const std::vector<float> gate = g.decode(g.tensor(blk + "ffn_gate.weight"));
        const std::vector<float> up = g.decode(g.tensor(blk + "ffn_up.weight"));
        const std::vector<float> down = g.decode(g.tensor(blk + "ffn_down.weight"));
        for (int64_t r = 0; r < 96; ++r)
            for (int64_t c = 0; c < 64; ++c) {
                const bool kept = r < L.w1.rows;
                ASSERT_EQ(gate[static_cast<size_t>(r * 64 + c)], kept ? L.w1(r, c) : 0.0f) << blk << r;
                ASSERT_EQ(up[static_cast<size_t>(r * 64 + c)], kept ? L.w3(r, c) : 0.0f) << blk << r;
                ASSERT_EQ(down[static_cast<size_t>(c * 96 + r)], kept ? L.w2(c, r) : 0.0f) << blk << r;
            }
    }
    EXPECT_EQ(g.tensor("blk.1.ffn_gate.weight").type, 2u);
    EXPECT_EQ(g.tensor("blk.1.attn_q.weight").type, 2u);
    EXPECT_EQ(g.decode(g.tensor("blk.1.attn_q.weight")), flat(mq.layers[1].wq));
    // Layer 1's down is 64 wide (two blocks); padding it to 96 would add a column block.
    QuantResult down;
    Model mq2 = m;
    quantize_rtn(*default_context(), mq2.layers[1].w2.view(), q, &down);
    expect_error([&] { write_gguf(mq2, tok, {{"layers.1.w2", down}}, dir.file("d.gguf"), {}); },
                 SURGEON_ERR_UNSUPPORTED, "would need 32 zero columns");
}

}  // namespace
