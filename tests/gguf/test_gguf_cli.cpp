// `surgeon compress --gguf-out` and `surgeon convert … .gguf` end to end, read back by the
// independent reader of tests/support/gguf_reader.hpp: GPTQ's Q4_0 / Q8_0 blocks
// dequantize exactly to the weights of the compressed model the same run saved; layers
// whose width is not a multiple of 32 stay unquantized in both; settings the block formats
// cannot take are refused with one line before any work.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli_harness.hpp"
#include "gguf_reader.hpp"
#include "io/checkpoint.hpp"

namespace {

using namespace surgeon::testing;
using surgeon::model::Model;
using surgeon::Matrix;

const std::string kData = SURGEON_SAMPLES_DATA_DIR;
const char* const kLinear[] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
const char* const kGgufLinear[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"};

nlohmann::json last_json_line(const std::string& out) {
    const size_t end = out.find_last_not_of('\n');
    const size_t start = out.rfind('\n', end);
    return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

std::vector<float> flat(const Matrix& w) { return std::vector<float>(w.data.begin(), w.data.end()); }

// compress with GPTQ on the ggml grid at `bits`; the GGUF equals the saved model.
void check_gptq_export(int bits) {
    ScratchDir dir;
    const CliRun c = run_cli(dir, {"compress", "--method", "gptq", "--bits", std::to_string(bits), "--group", "32",
                                   "--calib-range", "2000:2032", "--out", dir / "m", "--gguf-out", dir / "m.gguf",
                                   "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const nlohmann::json report = last_json_line(c.out);
    const nlohmann::json& g = report.at("gguf_out");
    EXPECT_EQ(g.at("file_type"), bits == 4 ? "MOSTLY_Q4_0" : "MOSTLY_Q8_0");
    EXPECT_EQ(g.at("unquantized"), (nlohmann::json{"layers.0.w2", "layers.1.w2", "layers.2.w2", "layers.3.w2",
                                                   "layers.4.w2"}));
    EXPECT_EQ(g.at("tensors").at(bits == 4 ? "q4_0" : "q8_0"), 30);
    for (const auto& layer : report.at("layers")) {
        const std::string name = layer.at("name");
        EXPECT_EQ(layer.at("method"), name.substr(name.size() - 2) == "w2" ? "dense" : "gptq") << name;
    }
    const Model m = surgeon::model::load_model(dir / "m");
    const Model original = surgeon::model::load_model(kData + "/stories260K.bin");
    const GgufFile f = read_gguf(dir / "m.gguf");
    EXPECT_EQ(f.bytes.size(), g.at("bytes").get<uint64_t>());
    for (size_t b = 0; b < 5; ++b)
        for (int l = 0; l < 7; ++l) {
            const std::string name = "blk." + std::to_string(b) + "." + kGgufLinear[l] + ".weight";
            const GgufTensorInfo& t = f.tensor(name);
            const Matrix& w = surgeon::model::linear(m.layers[b], kLinear[l]);
            const bool dense = std::string(kLinear[l]) == "w2";
            EXPECT_EQ(t.type, dense ? 0u : bits == 4 ? 2u : 8u) << name;
            EXPECT_EQ(f.decode(t), flat(w)) << name;  // bit for bit the compressed model
            if (dense) {
                EXPECT_EQ(w.data, surgeon::model::linear(original.layers[b], "w2").data) << name;
            }
        }
    EXPECT_EQ(f.decode(f.tensor("token_embd.weight")), flat(m.tok_emb));
}

TEST(GgufCli, GptqQ4_0BlocksAreTheCompressedModel) { check_gptq_export(4); }
TEST(GgufCli, GptqQ8_0BlocksAreTheCompressedModel) { check_gptq_export(8); }

TEST(GgufCli, DtypeF16StoresTheUnquantizedTensorsInF16) {
    ScratchDir dir;
    const CliRun c = run_cli(dir, {"compress", "--method", "rtn", "--bits", "4", "--group", "32", "--dtype", "f16",
                                   "--out", dir / "m", "--gguf-out", dir / "m.gguf", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const GgufFile f = read_gguf(dir / "m.gguf");
    EXPECT_EQ(f.tensor("token_embd.weight").type, 1u);
    EXPECT_EQ(f.tensor("blk.0.ffn_down.weight").type, 1u);
    EXPECT_EQ(f.tensor("blk.0.ffn_up.weight").type, 2u);
    EXPECT_EQ(f.tensor("blk.0.ffn_norm.weight").type, 0u);
    // The saved f16 model holds the same f16 values for what was not quantized.
    const Model m = surgeon::model::load_model(dir / "m");
    EXPECT_EQ(f.decode(f.tensor("token_embd.weight")), flat(m.tok_emb));
    EXPECT_EQ(f.decode(f.tensor("blk.3.ffn_down.weight")), flat(m.layers[3].w2));
}

TEST(GgufCli, SettingsTheBlocksCannotHoldAreRefusedBeforeAnyWork) {
    ScratchDir dir;
    {
        std::ofstream r(dir / "recipe.json");
        r << R"({"rules": [{"match": "layers.2.*", "group": 64}]})";
    }
    struct Case {
        std::vector<std::string> args;
        int exit_code;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {{"--method", "gptq", "--bits", "4", "--group", "32", "--asym"}, 1, "symmetric"},
        {{"--method", "gptq", "--bits", "4", "--group", "128"}, 1, "groups of 32 columns, got 128"},
        {{"--method", "gptq", "--bits", "4"}, 1, "groups of 32 columns, got 0"},
        {{"--method", "rtn", "--bits", "3", "--group", "32"}, 1, "got 3 bits"},
        {{"--method", "gptq", "--bits", "4", "--group", "32", "--mse"}, 1, "no MSE search"},
        {{"--method", "gptq", "--bits", "4", "--group", "32", "--act-order"}, 1, "needs static groups"},
        {{"--method", "gptq", "--bits", "4", "--group", "32", "--mixed", "error"}, 1, "mixed precision"},
        {{"--method", "gptq", "--bits", "4", "--group", "32", "--recipe", dir / "recipe.json"}, 1, "got 64"},
        {{"--method", "gptq", "--bits", "4", "--group", "32", "--layer-budget", "4"}, 2, "--layer-budget"},
    };
    for (const Case& k : cases) {
        std::vector<std::string> args = {"compress", "--out", dir / "m", "--gguf-out", dir / "m.gguf", "--quiet"};
        args.insert(args.end(), k.args.begin(), k.args.end());
        const CliRun c = run_cli(dir, args);
        EXPECT_EQ(c.exit_code, k.exit_code) << k.needle << ": " << c.err;
        const std::string first = c.err.substr(0, c.err.find('\n'));
        EXPECT_NE(first.find(k.needle), std::string::npos) << c.err;
        if (k.exit_code == 1) {
            EXPECT_EQ(std::count(c.err.begin(), c.err.end(), '\n'), 1) << c.err;
            EXPECT_NE(first.find("--gguf-out: "), std::string::npos) << c.err;
        }
        EXPECT_FALSE(fs::exists(dir / "m")) << k.needle;
        EXPECT_FALSE(fs::exists(dir / "m.gguf")) << k.needle;
    }
}

TEST(GgufCli, ConvertWritesEachType) {
    ScratchDir dir;
    const Model original = surgeon::model::load_model(kData + "/stories260K.bin");
    const CliRun f32 = run_cli(dir, {"convert", "--model", kData + "/stories260K.bin", "--out", dir / "m.gguf"});
    ASSERT_EQ(f32.exit_code, 0) << f32.err;
    EXPECT_NE(f32.out.find("ALL_F32: 47 f32"), std::string::npos) << f32.out;
    const GgufFile f = read_gguf(dir / "m.gguf");
    EXPECT_EQ(f.decode(f.tensor("blk.1.attn_q.weight")), flat(original.layers[1].wq));
    const CliRun q4 = run_cli(dir, {"convert", "--model", kData + "/stories260K.bin", "--out", dir / "q.gguf",
                                    "--dtype", "q4_0"});
    ASSERT_EQ(q4.exit_code, 0) << q4.err;
    EXPECT_NE(q4.out.find("MOSTLY_Q4_0: 5 f16, 11 f32, 30 q4_0, 1 q8_0"), std::string::npos) << q4.out;
    EXPECT_NE(q4.err.find("blk.4.ffn_down.weight: 172 columns, not a multiple of 32 -> f16"), std::string::npos);
    // An HF directory converts too; a GGUF needs its tokenizer.
    ASSERT_EQ(run_cli(dir, {"convert", "--model", kData + "/stories260K.bin", "--out", dir / "hf"}).exit_code, 0);
    const CliRun none = run_cli(dir, {"convert", "--model", dir / "hf", "--out", dir / "h.gguf"});
    EXPECT_EQ(none.exit_code, 1);
    EXPECT_NE(none.err.find("no llama2.c tokenizer was found"), std::string::npos) << none.err;
    EXPECT_EQ(std::count(none.err.begin(), none.err.end(), '\n'), 1) << none.err;
    const CliRun hf = run_cli(dir, {"convert", "--model", dir / "hf", "--out", dir / "h.gguf", "--dtype", "f16",
                                    "--tokenizer", kData + "/tok512.bin"});
    ASSERT_EQ(hf.exit_code, 0) << hf.err;
    EXPECT_EQ(read_gguf(dir / "h.gguf").tensor("blk.0.attn_q.weight").type, 1u);
    const CliRun bad = run_cli(dir, {"convert", "--model", kData + "/stories260K.bin", "--out", dir / "x.gguf",
                                     "--dtype", "q5_0"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("unknown GGUF type 'q5_0'"), std::string::npos) << bad.err;
    EXPECT_FALSE(fs::exists(dir / "x.gguf"));
}

}  // namespace
