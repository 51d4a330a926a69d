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
