// End-to-end: `surgeon compress` writes a model that `surgeon eval` reloads with the
// perplexity compress reported; generate and demo run; bad input is a one-line error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_harness.hpp"
#include "io/safetensors.hpp"

using namespace surgeon::testing;

namespace {

const std::string kData = SURGEON_SAMPLES_DATA_DIR;

nlohmann::json last_json_line(const std::string& out) {
    const size_t end = out.find_last_not_of('\n');
    const size_t start = out.rfind('\n', end);
    return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

}  // namespace

TEST(ModelCli, CompressedModelReloadsWithTheReportedPerplexity) {
    ScratchDir dir;
    const CliRun c = run_cli(dir, {"compress", "--method", "sparsegpt", "--nm", "2:4", "--calib-range", "2000:2032",
                                   "--out", dir / "m", "--eval", kData + "/tinystories-valid.txt", "--range",
                                   "0:100", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const nlohmann::json report = last_json_line(c.out);
    EXPECT_EQ(report["layers"].size(), 35u);
    EXPECT_DOUBLE_EQ(report["linear_sparsity"].get<double>(), 0.5);
    EXPECT_EQ(report["calibration_sequences"], 32);
    const double reported = report["eval"]["ppl"];

    const CliRun e = run_cli(dir, {"eval", "--model", dir / "m", "--range", "0:100"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_DOUBLE_EQ(last_json_line(e.out)["ppl"].get<double>(), reported);
    EXPECT_TRUE(fs::exists(dir.path() / "m" / "tok512.bin"));  // the tokenizer travels along

    const CliRun g = run_cli(dir, {"generate", "--model", dir / "m", "--steps", "20"});
    EXPECT_EQ(g.exit_code, 0) << g.err;
    EXPECT_GT(g.out.size(), 10u);
}

// Pre-tokenized calibration: without --calib-range the windows used default to the first
// 128, or all of them when the file holds fewer (here 6 windows of 512 tokens).
TEST(ModelCli, CalibTokensDefaultRangeFitsTheFile) {
    ScratchDir dir;
    {
        std::ofstream t(dir / "calib.bin", std::ios::binary);
        for (int32_t i = 0; i < 6 * 512; ++i) {
            const int32_t id = 1 + (i * 7919) % 511;
            t.write(reinterpret_cast<const char*>(&id), sizeof id);
        }
    }
    const CliRun c = run_cli(dir, {"compress", "--method", "gptq", "--bits", "4", "--calib-tokens",
                                   dir / "calib.bin", "--out", dir / "m", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(last_json_line(c.out)["calibration_sequences"], 6);
}

TEST(ModelCli, GptqPackedExportAndLlama2cOutput) {
    ScratchDir dir;
    // The GPTQ layout packs multiples of 32 only: stories260K's 172-wide FFN stays dense.
    {
        std::ofstream r(dir / "recipe.json");
        r << R"({"rules": [{"match": "*.w[123]", "skip": true}]})";
    }
    const CliRun refused = run_cli(dir, {"compress", "--method", "gptq", "--calib-range", "2000:2016", "--out",
                                         dir / "all", "--gptq-out", dir / "all-packed", "--quiet"});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("multiples of 32"), std::string::npos) << refused.err;
    const CliRun c = run_cli(dir, {"compress", "--method", "gptq", "--bits", "4", "--calib-range", "2000:2016",
                                   "--recipe", dir / "recipe.json", "--out", dir / "m.bin", "--format", "llama2c",
                                   "--gptq-out", dir / "packed", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_TRUE(fs::exists(dir.path() / "packed" / "quantize_config.json"));
    const nlohmann::json q = nlohmann::json::parse(read_text(dir.path() / "packed" / "quantize_config.json"));
    EXPECT_EQ(q["bits"], 4);
    const CliRun a = run_cli(dir, {"eval", "--model", dir / "m.bin", "--tokenizer", kData + "/tok512.bin",
                                   "--range", "0:20"});
    const CliRun b = run_cli(dir, {"eval", "--model", dir / "packed", "--range", "0:20"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    // The packed checkpoint stores scales in fp16: the same model up to that rounding.
    EXPECT_NEAR(last_json_line(a.out)["ppl"].get<double>(), last_json_line(b.out)["ppl"].get<double>(), 0.02);
}

TEST(ModelCli, RecipeFileRefinesTheCommandLine) {
    ScratchDir dir;
    {
        std::ofstream r(dir / "recipe.json");
        r << R"({"rules": [{"match": "layers.[01].*", "skip": true}, {"match": "*.w2", "sparsity": 0.25}]})";
    }
    const CliRun c = run_cli(dir, {"compress", "--method", "magnitude", "--sparsity", "0.5", "--recipe",
                                   dir / "recipe.json", "--out", dir / "m", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const nlohmann::json report = last_json_line(c.out);
    for (const auto& layer : report["layers"]) {
        const std::string name = layer["name"];
        const double expected = name.rfind("layers.0.", 0) == 0 || name.rfind("layers.1.", 0) == 0 ? 0.0
                                : name.size() > 3 && name.substr(name.size() - 3) == ".w2"        ? 0.25
                                                                                                 : 0.5;
        EXPECT_NEAR(layer["sparsity"].get<double>(), expected, 0.01) << name;
    }
}

TEST(ModelCli, BadInputIsAOneLineError) {
    ScratchDir dir;
    const CliRun missing = run_cli(dir, {"eval", "--model", dir / "nope.bin"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
    const CliRun usage = run_cli(dir, {"compress", "--method", "sparsegpt", "--sparsity", "0.5", "--nm", "2:4",
                                       "--out", dir / "x"});
    EXPECT_EQ(usage.exit_code, 2);
    const CliRun bad_bits = run_cli(dir, {"compress", "--method", "gptq", "--bits", "11", "--out", dir / "x"});
    EXPECT_NE(bad_bits.exit_code, 0);
    EXPECT_NE(bad_bits.err.find("bits"), std::string::npos) << bad_bits.err;
    {
        std::ofstream f(dir / "garbage.bin");
        f << "not a model";
    }
    const CliRun garbage = run_cli(dir, {"eval", "--model", dir / "garbage.bin"});
    EXPECT_EQ(garbage.exit_code, 1);
    EXPECT_EQ(std::count(garbage.err.begin(), garbage.err.end(), '\n'), 1) << garbage.err;
}

// A checkpoint with a NaN weight or a rope_theta that underflows float: eval fails with
// one line naming the file and the tensor (or key), never a null perplexity.
TEST(ModelCli, NonFiniteModelIsAnError) {
    ScratchDir dir;
    const CliRun c = run_cli(dir, {"convert", "--model", kData + "/stories260K.bin", "--out", dir / "hf"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const std::string file = dir / "hf/model.safetensors", wq = "model.layers.3.self_attn.q_proj.weight";
    {
        const surgeon::model::SafetensorsFile in(file);
        surgeon::model::SafetensorsWriter out;
        for (const surgeon::model::TensorInfo& t : in.tensors()) {
            std::vector<float> v = in.read_f32(t.name);
            if (t.name == wq) v[10] = std::nanf("");
            out.add_float(t.name, t.shape, v.data(), t.dtype);
        }
        out.write(file + ".new");
    }
    std::rename((file + ".new").c_str(), file.c_str());
    std::vector<std::string> eval = {"eval", "--model", dir / "hf", "--tokenizer", kData + "/tok512.bin",
                                     "--text", kData + "/tinystories-valid.txt", "--range", "0:2"};
    const CliRun nan = run_cli(dir, eval);
    EXPECT_NE(nan.exit_code, 0);
    EXPECT_EQ(nan.out, "");
    EXPECT_EQ(std::count(nan.err.begin(), nan.err.end(), '\n'), 1) << nan.err;
    EXPECT_NE(nan.err.find(file + ": tensor '" + wq + "' has a non-finite value (nan) at element 10"),
              std::string::npos)
        << nan.err;

    ASSERT_EQ(run_cli(dir, {"convert", "--model", kData + "/stories260K.bin", "--out", dir / "theta"}).exit_code, 0);
    const std::string config = dir / "theta/config.json";
    nlohmann::json j = nlohmann::json::parse(std::ifstream(config));
    j["rope_theta"] = 1e-300;
    std::ofstream(config) << j.dump();
    eval[2] = dir / "theta";
    const CliRun theta = run_cli(dir, eval);
    EXPECT_NE(theta.exit_code, 0);
    EXPECT_EQ(theta.out, "");
    EXPECT_NE(theta.err.find("\"rope_theta\" = 1e-300 is not a positive finite float"), std::string::npos)
        << theta.err;
}

TEST(ModelCli, MixedPrecisionFlagsAndTable) {
    ScratchDir dir;
    const CliRun c = run_cli(dir, {"compress", "--method", "gptq", "--mixed", "error", "--avg-bits", "3", "--scope",
                                   "model", "--sensitivity", "fisher", "--bit-options", "2,3,4", "--calib-range",
                                   "2000:2032", "--out", dir / "m", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const nlohmann::json report = last_json_line(c.out);
    EXPECT_EQ(report["recipe"]["default"]["mixed"]["scope"], "model");
    ASSERT_TRUE(report.contains("row_budget"));
    EXPECT_LE(report["mixed"]["avg_bits"].get<double>(), 3.0);
    EXPECT_NE(c.err.find("model-wide budget: 3.0000 bits/weight asked"), std::string::npos) << c.err;
    EXPECT_NE(c.err.find("total: 3000 channels"), std::string::npos) << c.err;
    // Its options belong to --mixed; a bad value is a one-line error.
    EXPECT_EQ(run_cli(dir, {"compress", "--method", "gptq", "--scope", "model", "--out", dir / "x"}).exit_code, 2);
    const CliRun bad = run_cli(dir, {"compress", "--method", "gptq", "--mixed", "error", "--sensitivity", "psychic",
                                     "--out", dir / "x"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("unknown row sensitivity"), std::string::npos) << bad.err;
}

namespace {

// Lines of a text (a trailing newline ends the last one).
size_t line_count(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

// Value i of the LSB-first stream of 32-bit words (the packed layouts' definition).
uint32_t stream_value(const std::vector<int32_t>& words, size_t first, int64_t i, int bits) {
    uint32_t v = 0;
    for (int b = 0; b < bits; ++b) {
        const int64_t bit = i * bits + b;
        v |= ((static_cast<uint32_t>(words[first + static_cast<size_t>(bit / 32)]) >> (bit % 32)) & 1u) << b;
    }
    return v;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
}

}  // namespace

// A packed export the recipe cannot give is refused before any work: one line on stderr,
// no JSON report, nothing written (neither --out nor the export nor a .partial file).
TEST(ModelCli, PackedExportsThatCannotBeWrittenAreRefusedBeforeAnyWork) {
    ScratchDir dir;
    write_file(dir / "attn.json", R"({"rules": [{"match": "*.w[123]", "skip": true}]})");
    write_file(dir / "split.json", R"({"rules": [{"match": "*.w[123]", "skip": true}, {"match": "*.wk", "bits": 8}]})");
    const std::string calib = "2000:2016";
    const struct {
        std::vector<std::string> args;
        std::string needle;
    } cases[] = {
        {{"--method", "gptq", "--bits", "4", "--gptq-out", dir / "p"}, "'layers.0.w1': 172 x 64 cannot be GPTQ-packed"},
        {{"--method", "sparsegpt", "--sparsity", "0.5", "--gptq-out", dir / "p"}, "no layer is quantized"},
        {{"--method", "gptq", "--bits", "4", "--group", "48", "--recipe", dir / "attn.json", "--gptq-out", dir / "p"},
         "'layers.0.wq': group size 48 does not divide its 64 input features"},
        {{"--method", "gptq", "--bits", "4", "--mixed", "budget", "--avg-bits", "3.5", "--recipe", dir / "attn.json",
          "--gptq-out", dir / "p"},
         "one width per layer"},
        {{"--method", "gptq", "--bits", "4", "--damp", "0", "--recipe", dir / "attn.json", "--gptq-out", dir / "p"},
         "outside (0, 1)"},
        {{"--method", "magnitude", "--sparsity", "0.5", "--ct-out", dir / "c"}, "no layer is quantized"},
        {{"--method", "gptq", "--bits", "4", "--recipe", dir / "split.json", "--ct-out", dir / "c"},
         "'layers.0.wq' and 'layers.0.wk'"},
        {{"--method", "rtn", "--bits", "4", "--group", "128", "--ct-out", dir / "c"},
         "'layers.0.wq': group size 128 does not divide its 64"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> args = {"compress", "--calib-range", calib, "--out", dir / "m",
                                         "--eval", kData + "/tinystories-valid.txt"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const CliRun r = run_cli(dir, args);
        EXPECT_EQ(r.exit_code, 1) << c.needle;
        EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
        EXPECT_EQ(line_count(r.err), 1u) << r.err;  // no progress bar, no memory estimate
        EXPECT_TRUE(r.out.empty()) << r.out;
        for (const auto& entry : fs::directory_iterator(dir.path())) {
            const std::string name = entry.path().filename().string();
            EXPECT_TRUE(name == "stdout.txt" || name == "stderr.txt" || name == "attn.json" || name == "split.json")
                << "left behind: " << name << " (" << c.needle << ")";
        }
    }
    const CliRun no_out = run_cli(dir, {"compress", "--gptq-format", "v2", "--out", dir / "m"});
    EXPECT_EQ(no_out.exit_code, 2);
    EXPECT_NE(no_out.err.find("--gptq-format needs --gptq-out"), std::string::npos) << no_out.err;
    const CliRun bad = run_cli(dir, {"compress", "--gptq-out", dir / "p", "--gptq-format", "v3", "--out", dir / "m"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("v1 or v2"), std::string::npos) << bad.err;
}

// Attention quantized (2-bit asymmetric, groups of 32, act-order, damp 0.05), the FFN left
// dense: the GPTQ export is gptq_v2 by default, declares the dense linears and the run's
// settings, and reloads as --out; the compressed-tensors export holds the same weights.
TEST(ModelCli, PackedExportsDescribeTheRunAndHoldItsWeights) {
    ScratchDir dir;
    write_file(dir / "attn.json", R"({"rules": [{"match": "*.w[123]", "skip": true}]})");
    const CliRun c = run_cli(dir, {"compress", "--method", "gptq", "--bits", "2", "--asym", "--group", "32",
                                   "--act-order", "--damp", "0.05", "--calib-range", "2000:2016", "--recipe",
                                   dir / "attn.json", "--out", dir / "m", "--dtype", "f32", "--gptq-out", dir / "p",
                                   "--ct-out", dir / "c", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const nlohmann::json report = last_json_line(c.out);
    EXPECT_EQ(report["gptq_out"]["format"], "gptq_v2");
    EXPECT_EQ(report["gptq_out"]["dense_layers"], 15);
    EXPECT_EQ(report["ct_out"]["quantized_layers"], 20);
    const nlohmann::json q = nlohmann::json::parse(read_text(dir.path() / "p" / "quantize_config.json"));
    EXPECT_EQ(q["checkpoint_format"], "gptq_v2");
    EXPECT_EQ(q["bits"], 2);
    EXPECT_EQ(q["group_size"], 32);
    EXPECT_EQ(q["sym"], false);
    EXPECT_EQ(q["desc_act"], true);
    EXPECT_EQ(q["static_groups"], false);
    EXPECT_DOUBLE_EQ(q["damp_percent"].get<double>(), 0.05);
    EXPECT_EQ(q["modules_in_block_to_quantize"],
              nlohmann::json::parse(R"([["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
                                        ["self_attn.o_proj"]])"));
    EXPECT_EQ(q["dynamic"].size(), 15u);
    const CliRun a = run_cli(dir, {"eval", "--model", dir / "m", "--range", "0:20"});
    const CliRun b = run_cli(dir, {"eval", "--model", dir / "p", "--range", "0:20"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    const double ppl = last_json_line(a.out)["ppl"];
    EXPECT_NEAR(last_json_line(b.out)["ppl"].get<double>(), ppl, 0.01 * ppl);  // fp16 scales

    // compressed-tensors: every o_proj weight of --out is s·(x_q − zp) of the packed tensors.
    const nlohmann::json ct = nlohmann::json::parse(read_text(dir.path() / "c" / "config.json"));
    const auto& qc = ct["quantization_config"];
    EXPECT_EQ(qc["quant_method"], "compressed-tensors");
    EXPECT_EQ(qc["format"], "pack-quantized");
    EXPECT_EQ(qc["ignore"].size(), 16u);
    const auto& w = qc["config_groups"]["group_0"]["weights"];
    EXPECT_EQ(w["num_bits"], 2);
    EXPECT_EQ(w["symmetric"], false);
    EXPECT_EQ(w["strategy"], "group");
    EXPECT_EQ(w["actorder"], "group");
    EXPECT_TRUE(fs::exists(dir.path() / "c" / "tok512.bin"));
    const surgeon::model::SafetensorsFile out((dir.path() / "m" / "model.safetensors").string());
    const surgeon::model::SafetensorsFile packed((dir.path() / "c" / "model.safetensors").string());
    for (int block = 0; block < 5; ++block) {
        const std::string p = "model.layers." + std::to_string(block) + ".self_attn.o_proj";
        const auto want = out.read_f32(p + ".weight");
        const auto words = packed.read_i32(p + ".weight_packed");
        const auto scale = packed.read_f32(p + ".weight_scale");
        const auto zp = packed.read_i32(p + ".weight_zero_point");
        const auto g_idx = packed.read_i32(p + ".weight_g_idx");
        ASSERT_EQ(packed.info(p + ".weight_packed").shape, std::vector<int64_t>({64, 4}));
        ASSERT_EQ(packed.info(p + ".weight_zero_point").shape, std::vector<int64_t>({4, 2}));
        for (int64_t o = 0; o < 64; ++o) {
            for (int64_t j = 0; j < 64; ++j) {
                const int32_t g = g_idx[static_cast<size_t>(j)];
                // Zero points: column g of the [4, 2] words, o-th value of its stream.
                std::vector<int32_t> column = {zp[0 * 2 + g], zp[1 * 2 + g], zp[2 * 2 + g], zp[3 * 2 + g]};
                const int x = static_cast<int>(stream_value(words, static_cast<size_t>(o * 4), j, 2)) - 2;
                const int z = static_cast<int>(stream_value(column, 0, o, 2)) - 2;
                ASSERT_EQ(scale[static_cast<size_t>(o * 2 + g)] * static_cast<float>(x - z), want[o * 64 + j])
                    << p << " at " << o << ", " << j;
            }
        }
    }

    // v1 on request (AutoGPTQ), static groups declared.
    const CliRun v1 = run_cli(dir, {"compress", "--method", "gptq", "--bits", "4", "--asym", "--group", "32",
                                    "--act-order", "--static-groups", "--calib-range", "2000:2016", "--recipe",
                                    dir / "attn.json", "--out", dir / "m1", "--gptq-out", dir / "p1",
                                    "--gptq-format", "v1", "--quiet"});
    ASSERT_EQ(v1.exit_code, 0) << v1.err;
    const nlohmann::json q1 = nlohmann::json::parse(read_text(dir.path() / "p1" / "quantize_config.json"));
    EXPECT_EQ(q1["checkpoint_format"], "gptq");
    EXPECT_EQ(q1["static_groups"], true);
    EXPECT_DOUBLE_EQ(q1["damp_percent"].get<double>(), 0.01);
    const CliRun a1 = run_cli(dir, {"eval", "--model", dir / "m1", "--range", "0:20"});
    const CliRun b1 = run_cli(dir, {"eval", "--model", dir / "p1", "--range", "0:20"});
    ASSERT_EQ(b1.exit_code, 0) << b1.err;
    const double ppl1 = last_json_line(a1.out)["ppl"];
    EXPECT_NEAR(last_json_line(b1.out)["ppl"].get<double>(), ppl1, 0.01 * ppl1);
}

// CBQ from the command line: windows reported with their losses, the activation bits in
// the saved config.json (eval then quantizes the same way, --abits overrides it), and the
// refusals of what a cbq run cannot do.
TEST(ModelCli, CbqWithActivationBits) {
    ScratchDir dir;
    const CliRun c = run_cli(dir, {"compress", "--method", "cbq", "--bits", "4", "--abits", "8", "--epochs", "1",
                                   "--window", "3", "--overlap", "1", "--calib-range", "2000:2016", "--out", dir / "m",
                                   "--eval", kData + "/tinystories-valid.txt", "--range", "0:50", "--threads", "2"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_NE(c.err.find("cbq window 2/2 (blocks 2-4)"), std::string::npos) << c.err;
    const nlohmann::json report = last_json_line(c.out);
    EXPECT_EQ(report["layers"].size(), 35u);
    ASSERT_EQ(report["cbq_windows"].size(), 2u);
    EXPECT_EQ(report["cbq_options"]["act_bits"], 8);
    EXPECT_EQ(report["cfp"].size(), 5u);
    const nlohmann::json config = nlohmann::json::parse(read_text(dir / "m/config.json"));
    EXPECT_EQ(config["surgeon_activation_quantization"]["bits"], 8);

    const CliRun e = run_cli(dir, {"eval", "--model", dir / "m", "--range", "0:50"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_EQ(last_json_line(e.out)["activation_bits"], 8);
    EXPECT_DOUBLE_EQ(last_json_line(e.out)["ppl"].get<double>(), report["eval"]["ppl"].get<double>());
    const CliRun f = run_cli(dir, {"eval", "--model", dir / "m", "--range", "0:50", "--abits", "0"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(last_json_line(f.out)["activation_bits"], 0);
    EXPECT_NE(last_json_line(f.out)["ppl"].get<double>(), report["eval"]["ppl"].get<double>());

    for (const std::vector<std::string>& bad :
         {std::vector<std::string>{"--method", "cbq", "--offload-dir", dir / "off"},
          std::vector<std::string>{"--method", "cbq", "--gguf-out", dir / "m.gguf"},
          std::vector<std::string>{"--method", "gptq", "--abits", "4", "--format", "llama2c"},
          std::vector<std::string>{"--method", "gptq", "--abits", "4", "--gptq-out", dir / "g"},
          std::vector<std::string>{"--method", "gptq", "--window", "3"},
          std::vector<std::string>{"--method", "cbq", "--overlap", "2"}}) {
        std::vector<std::string> args{"compress", "--out", dir / "bad", "--quiet"};
        args.insert(args.end(), bad.begin(), bad.end());
        const CliRun r = run_cli(dir, args);
        EXPECT_NE(r.exit_code, 0) << bad[1] << " " << bad[2];
        EXPECT_FALSE(fs::exists(dir / "bad"));
    }
}
