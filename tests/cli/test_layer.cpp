// `surgeon layer` end to end: the built binary on the layer fixtures. Numbers are checked
// against the fixtures' independent reference implementation (reference.json, <config>.npy)
// and against a relative error recomputed here in double precision from the files.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_harness.hpp"
#include "core/half.hpp"
#include "core/npy.hpp"

namespace surgeon::testing {
namespace {

using nlohmann::json;

const std::string kFixtures = SURGEON_FIXTURES_DIR;
const std::string kLayer = "stories260K_block2_wq";

std::string fixture_file(const std::string& name, const std::string& file) {
    return kFixtures + "/" + name + "/" + file;
}

json reference(const std::string& name) {
    return json::parse(read_text(fixture_file(name, "reference.json")));
}

// A successful run prints exactly one JSON line and nothing on stderr.
json report_of(const CliRun& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_FALSE(r.out.empty());
    return r.out.empty() ? json() : json::parse(r.out);
}

std::vector<std::string> layer_args(const std::string& name, const std::string& out,
                                    std::vector<std::string> extra, bool from_inputs = false) {
    std::vector<std::string> a = {"layer", "--weight", fixture_file(name, "W.npy")};
    if (from_inputs)
        a.insert(a.end(), {"--inputs", fixture_file(name, "X.npy")});
    else
        a.insert(a.end(), {"--hessian", fixture_file(name, "H.npy")});
    a.insert(a.end(), {"--out", out});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) in double, straight from the definitions.
double relative_error(const NpyArray& w, const NpyArray& w_hat, const NpyArray& h) {
    const int64_t rows = w.dim(0), cols = w.dim(1);
    double num = 0.0, den = 0.0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < cols; ++i) {
            const double wi = w.data[r * cols + i], di = wi - w_hat.data[r * cols + i];
            for (int64_t j = 0; j < cols; ++j) {
                const double hij = h.data[i * cols + j];
                num += di * hij * (w.data[r * cols + j] - w_hat.data[r * cols + j]);
                den += wi * hij * w.data[r * cols + j];
            }
        }
    return num / den;
}

double zero_fraction(const std::vector<float>& v) {
    return static_cast<double>(std::count(v.begin(), v.end(), 0.0f)) / static_cast<double>(v.size());
}

// Quantized output == scales[r, g_idx[c]] · (codes[r, c] − zeros[r, g_idx[c]]), exactly.
void expect_codes_dequantize_to(const std::string& prefix, const NpyArray& out, int bits) {
    const int64_t rows = out.dim(0), cols = out.dim(1);
    const RawNpy codes = read_raw_npy(prefix + ".codes.npy"), scales = read_raw_npy(prefix + ".scales.npy"),
                 zeros = read_raw_npy(prefix + ".zeros.npy"), g_idx = read_raw_npy(prefix + ".g_idx.npy"),
                 perm = read_raw_npy(prefix + ".perm.npy");
    EXPECT_EQ(codes.descr, "|u1");
    EXPECT_EQ(scales.descr, "<f4");
    EXPECT_EQ(zeros.descr, "<f4");
    EXPECT_EQ(g_idx.descr, "<i4");
    EXPECT_EQ(perm.descr, "<i4");
    ASSERT_EQ(codes.shape, (std::vector<int64_t>{rows, cols}));
    ASSERT_EQ(scales.shape.size(), 2u);
    const int64_t groups = scales.shape[1];
    ASSERT_EQ(scales.shape, (std::vector<int64_t>{rows, groups}));
    ASSERT_EQ(zeros.shape, scales.shape);
    ASSERT_EQ(g_idx.shape, (std::vector<int64_t>{cols}));
    ASSERT_EQ(perm.shape, (std::vector<int64_t>{cols}));
    const auto c = codes.values<uint8_t>();
    const auto s = scales.values<float>(), z = zeros.values<float>();
    const auto g = g_idx.values<int32_t>(), p = perm.values<int32_t>();
    std::vector<int32_t> sorted_perm(p);
    std::sort(sorted_perm.begin(), sorted_perm.end());
    for (int64_t k = 0; k < cols; ++k) ASSERT_EQ(sorted_perm[k], k) << "perm is not a permutation";
    int64_t mismatches = 0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t col = 0; col < cols; ++col) {
            ASSERT_TRUE(g[col] >= 0 && g[col] < groups);
            const uint8_t code = c[r * cols + col];
            ASSERT_LT(code, 1 << bits);
            const float scale = s[r * groups + g[col]], zero = z[r * groups + g[col]];
            const float value = scale * (static_cast<float>(code) - zero);
            mismatches += value != out.data[r * cols + col];
        }
    EXPECT_EQ(mismatches, 0);
}

TEST(LayerCli, SparseGpt2of4ReportPatternAndReferenceError) {
    ScratchDir dir;
    const json r = report_of(run_cli(dir, layer_args(kLayer, dir / "w.npy", {"--method", "sparsegpt", "--nm", "2:4"})));
    const json ref = reference(kLayer)["configs"]["sparsegpt_2of4"];
    EXPECT_EQ(r["method"], "sparsegpt");
    EXPECT_EQ(r["options"]["nm"], "2:4");
    EXPECT_EQ(r["options"]["blocksize"], 128);
    EXPECT_DOUBLE_EQ(r["options"]["damp"].get<double>(), 0.01);
    EXPECT_EQ(r["rows"], 64);
    EXPECT_EQ(r["cols"], 64);
    EXPECT_TRUE(r["loss"].is_number());
    EXPECT_GT(r["loss"].get<double>(), 0.0);
    EXPECT_GE(r["seconds"].get<double>(), 0.0);
    EXPECT_LE(r["rel_error"].get<double>(), 1.01 * ref["rel_recon_error"].get<double>());

    const NpyArray out = read_npy(dir / "w.npy"), w = read_npy(fixture_file(kLayer, "W.npy"));
    ASSERT_EQ(out.shape, (std::vector<int64_t>{64, 64}));
    EXPECT_EQ(out.dtype, NpyDtype::f32);
    for (int64_t row = 0; row < 64; ++row)
        for (int64_t c0 = 0; c0 < 64; c0 += 4) {
            int zeros = 0;
            for (int64_t c = c0; c < c0 + 4; ++c) zeros += out.data[row * 64 + c] == 0.0f;
            ASSERT_GE(zeros, 2) << "row " << row << ", group at column " << c0;
        }
    EXPECT_DOUBLE_EQ(r["sparsity"].get<double>(), zero_fraction(out.data));
    EXPECT_NEAR(r["rel_error"].get<double>(),
                relative_error(w, out, read_npy(fixture_file(kLayer, "H.npy"))),
                1e-5 * r["rel_error"].get<double>());

    // Near-ties may flip a few mask entries against the reference; most must agree.
    const NpyArray theirs = read_npy(fixture_file(kLayer, "sparsegpt_2of4.npy"));
    int64_t agree = 0;
    for (size_t i = 0; i < out.data.size(); ++i) agree += (out.data[i] == 0.0f) == (theirs.data[i] == 0.0f);
    EXPECT_GE(static_cast<double>(agree) / static_cast<double>(out.data.size()), 0.95);
}

TEST(LayerCli, InputsAndHessianGiveTheSameError) {
    ScratchDir dir;
    const int64_t samples = reference(kLayer)["X"][0];
    for (const std::vector<std::string>& method :
         {std::vector<std::string>{"--method", "sparsegpt", "--sparsity", "0.5"},
          std::vector<std::string>{"--method", "gptq", "--bits", "4"},
          std::vector<std::string>{"--method", "wanda", "--sparsity", "0.5"}}) {
        std::vector<std::string> replace = method;
        replace.push_back("--overwrite");  // the outputs of the previous method
        const json from_h = report_of(run_cli(dir, layer_args(kLayer, dir / "h.npy", replace)));
        const json from_x = report_of(run_cli(dir, layer_args(kLayer, dir / "x.npy", replace, true)));
        EXPECT_EQ(from_h["samples"], 1);
        EXPECT_EQ(from_x["samples"], samples);
        const double eh = from_h["rel_error"], ex = from_x["rel_error"];
        EXPECT_NEAR(eh, ex, 1e-4 * eh) << method[1];
        EXPECT_EQ(from_h["sparsity"], from_x["sparsity"]) << method[1];
    }
}

TEST(LayerCli, GptqCodesDequantizeToTheOutput) {
    ScratchDir dir;
    const json r = report_of(run_cli(dir, layer_args(kLayer, dir / "w.npy",
                                                     {"--method", "gptq", "--bits", "4", "--codes-out", dir / "q"})));
    EXPECT_EQ(r["options"]["bits"], 4);
    EXPECT_EQ(r["options"]["group"], 0);
    EXPECT_EQ(r["options"]["asym"], false);
    EXPECT_LE(r["rel_error"].get<double>(),
              1.01 * reference(kLayer)["configs"]["gptq_w4"]["rel_recon_error"].get<double>());
    for (const char* suffix : {".codes.npy", ".scales.npy", ".zeros.npy", ".g_idx.npy", ".perm.npy"})
        EXPECT_TRUE(fs::exists(dir / (std::string("q") + suffix))) << suffix;
    const NpyArray out = read_npy(dir / "w.npy");
    expect_codes_dequantize_to(dir / "q", out, 4);
    EXPECT_EQ(read_raw_npy(dir / "q.scales.npy").shape, (std::vector<int64_t>{64, 1}));
}

TEST(LayerCli, GroupedActOrderCodesDequantizeToTheOutput) {
    ScratchDir dir;
    const json r = report_of(run_cli(dir, layer_args(kLayer, dir / "w.npy",
                                                     {"--method", "gptq", "--bits", "3", "--group", "16", "--asym",
                                                      "--act-order", "--codes-out", dir / "q"})));
    EXPECT_EQ(r["options"]["act_order"], true);
    expect_codes_dequantize_to(dir / "q", read_npy(dir / "w.npy"), 3);
    EXPECT_EQ(read_raw_npy(dir / "q.scales.npy").shape, (std::vector<int64_t>{64, 4}));
    const auto perm = read_raw_npy(dir / "q.perm.npy").values<int32_t>();
    // Act-order: columns by descending Hessian diagonal.
    const NpyArray h = read_npy(fixture_file(kLayer, "H.npy"));
    for (size_t k = 1; k < perm.size(); ++k)
        EXPECT_GE(h.data[perm[k - 1] * 65], h.data[perm[k] * 65]);
}

TEST(LayerCli, JointPruneQuantizeWritesConsistentMaskAndCodes) {
    ScratchDir dir;
    const json r = report_of(run_cli(dir, layer_args(kLayer, dir / "w.npy",
                                                     {"--method", "sparsegpt", "--sparsity", "0.5", "--bits", "4",
                                                      "--mask-out", dir / "m.npy", "--codes-out", dir / "q"})));
    EXPECT_LE(r["rel_error"].get<double>(),
              1.01 * reference(kLayer)["configs"]["sparsegpt_50_w4"]["rel_recon_error"].get<double>());
    const NpyArray out = read_npy(dir / "w.npy");
    expect_codes_dequantize_to(dir / "q", out, 4);
    const RawNpy mask = read_raw_npy(dir / "m.npy");
    EXPECT_EQ(mask.descr, "|u1");
    ASSERT_EQ(mask.shape, (std::vector<int64_t>{64, 64}));
    const auto keep = mask.values<uint8_t>();
    int64_t pruned = 0;
    for (size_t i = 0; i < keep.size(); ++i) {
        ASSERT_LE(keep[i], 1);
        if (!keep[i]) {
            ++pruned;
            EXPECT_EQ(out.data[i], 0.0f);
        }
    }
    EXPECT_EQ(pruned, 64 * 64 / 2);
    EXPECT_GE(r["sparsity"].get<double>(), 0.5);
}

TEST(LayerCli, WandaMaskKeepsTheOriginalWeights) {
    ScratchDir dir;
    const json r = report_of(run_cli(dir, layer_args(kLayer, dir / "w.npy",
                                                     {"--method", "wanda", "--nm", "2:4", "--mask-out", dir / "m.npy"},
                                                     true)));
    EXPECT_TRUE(r["loss"].is_null());
    EXPECT_EQ(r["options"], json::parse(R"({"nm":"2:4"})"));
    const NpyArray out = read_npy(dir / "w.npy"), w = read_npy(fixture_file(kLayer, "W.npy"));
    const auto keep = read_raw_npy(dir / "m.npy").values<uint8_t>();
    ASSERT_EQ(keep.size(), w.data.size());
    for (size_t i = 0; i < keep.size(); ++i) EXPECT_EQ(out.data[i], keep[i] ? w.data[i] : 0.0f);
    for (size_t g = 0; g < keep.size(); g += 4)
        EXPECT_EQ(keep[g] + keep[g + 1] + keep[g + 2] + keep[g + 3], 2);
}

TEST(LayerCli, Float16WeightsComeBackAsFloat16) {
    ScratchDir dir;
    const NpyArray w = read_npy(fixture_file(kLayer, "W.npy"));
    write_npy(dir / "w16.npy", w.shape, w.data.data(), NpyDtype::f16);
    const CliRun run = run_cli(dir, {"layer", "--weight", dir / "w16.npy", "--hessian", fixture_file(kLayer, "H.npy"),
                                     "--method", "magnitude", "--sparsity", "0.5", "--out", dir / "o.npy"});
    const json r = report_of(run);
    const NpyArray out = read_npy(dir / "o.npy"), w16 = read_npy(dir / "w16.npy");
    EXPECT_EQ(out.dtype, NpyDtype::f16);
    EXPECT_NEAR(r["rel_error"].get<double>(), relative_error(w16, out, read_npy(fixture_file(kLayer, "H.npy"))),
                1e-5 * r["rel_error"].get<double>());
    EXPECT_DOUBLE_EQ(r["sparsity"].get<double>(), zero_fraction(out.data));

    // --fp16-out on a float32 weight: the report describes the rounded file.
    const json r2 = report_of(run_cli(dir, layer_args(kLayer, dir / "o2.npy", {"--method", "rtn", "--bits", "8", "--fp16-out"})));
    const NpyArray out2 = read_npy(dir / "o2.npy");
    EXPECT_EQ(out2.dtype, NpyDtype::f16);
    EXPECT_NEAR(r2["rel_error"].get<double>(), relative_error(w, out2, read_npy(fixture_file(kLayer, "H.npy"))),
                1e-4 * r2["rel_error"].get<double>());
}

TEST(LayerCli, HelpGoesToStdout) {
    ScratchDir dir;
    const CliRun r = run_cli(dir, {"layer", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("--method sparsegpt|gptq|wanda|magnitude|rtn"), std::string::npos);
}

// Every configuration of every fixture's reference.json, through the command line.
class LayerCliReference : public ::testing::TestWithParam<const char*> {};

std::vector<std::string> flags_for(const std::string& method, const json& o) {
    std::vector<std::string> f = {"--method", method};
    const bool prunes = method == "sparsegpt" || method == "wanda" || method == "magnitude";
    if (o.contains("prunen"))
        f.insert(f.end(), {"--nm", std::to_string(o["prunen"].get<int>()) + ":" + std::to_string(o["prunem"].get<int>())});
    else if (prunes)
        f.insert(f.end(), {"--sparsity", o["sparsity"].dump()});
    if (o.contains("bits")) f.insert(f.end(), {"--bits", o["bits"].dump()});
    if (o.value("groupsize", 0) > 0) f.insert(f.end(), {"--group", o["groupsize"].dump()});
    if (!o.value("sym", true)) f.push_back("--asym");
    if (o.value("actorder", false)) f.push_back("--act-order");
    if (o.value("static_groups", false)) f.push_back("--static-groups");
    if (o.value("mse", false)) f.push_back("--mse");
    return f;
}

TEST_P(LayerCliReference, ErrorWithinOnePercentOfReference) {
    const std::string name = GetParam();
    const json ref = reference(name);
    ScratchDir dir;
    for (const auto& [config, c] : ref["configs"].items()) {
        SCOPED_TRACE(name + " / " + config);
        std::vector<std::string> flags = flags_for(c["method"], c["options"]);
        flags.push_back("--overwrite");  // the previous configuration's output
        const json r = report_of(run_cli(dir, layer_args(name, dir / "w.npy", flags)));
        const double theirs = c["rel_recon_error"];
        EXPECT_LE(r["rel_error"].get<double>(), 1.01 * theirs);
        EXPECT_EQ(r["method"], c["method"]);
        EXPECT_EQ(r["loss"].is_null(), c["method"] != "sparsegpt" && c["method"] != "gptq");
        if (c["options"].contains("sparsity")) EXPECT_GE(r["sparsity"].get<double>(), c["options"]["sparsity"].get<double>() - 1e-3);
        if (c["options"].contains("bits")) {
            // At most 2^bits levels per row (per-row grids) or per row and group.
            const NpyArray out = read_npy(dir / "w.npy");
            if (c["options"].value("groupsize", 0) <= 0) {
                const int64_t cols = out.dim(1);
                for (int64_t row = 0; row < out.dim(0); ++row) {
                    std::set<float> levels(out.data.begin() + row * cols, out.data.begin() + (row + 1) * cols);
                    ASSERT_LE(levels.size(), size_t{1} << c["options"]["bits"].get<int>()) << "row " << row;
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LayerCliReference,
                         ::testing::Values("synth_256x512_s1", "stories260K_block0_w1", "stories260K_block2_w2",
                                           "stories260K_block2_wq"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

// Bad input: a non-zero exit, nothing on stdout, one line on stderr, no output file.
class LayerCliErrors : public ::testing::Test {
protected:
    void expect_rejected(const std::vector<std::string>& args) {
        std::vector<std::string> full = {"layer"};
        full.insert(full.end(), args.begin(), args.end());
        const CliRun r = run_cli(dir_, full);
        EXPECT_NE(r.exit_code, 0);
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_EQ(r.err.rfind("surgeon layer: error: ", 0), 0u) << r.err;
        EXPECT_FALSE(fs::exists(dir_ / "out.npy"));
    }
    std::vector<std::string> with(const std::string& weight, const std::string& hessian,
                                  std::vector<std::string> extra) {
        std::vector<std::string> a = {"--weight", weight, "--hessian", hessian, "--out", dir_ / "out.npy"};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    ScratchDir dir_;
    const std::string w_ = fixture_file(kLayer, "W.npy"), h_ = fixture_file(kLayer, "H.npy");
    const std::vector<std::string> magnitude_ = {"--method", "magnitude", "--sparsity", "0.5"};
};

TEST_F(LayerCliErrors, MissingFile) {
    expect_rejected(with(dir_ / "absent.npy", h_, magnitude_));
    expect_rejected(with(w_, dir_ / "absent.npy", magnitude_));
}

TEST_F(LayerCliErrors, TruncatedFiles) {
    const std::string bytes = read_text(w_);
    std::ofstream(dir_ / "short_data.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 4);
    std::ofstream(dir_ / "short_header.npy", std::ios::binary) << bytes.substr(0, 40);
    std::ofstream(dir_ / "empty.npy", std::ios::binary) << "";
    expect_rejected(with(dir_ / "short_data.npy", h_, magnitude_));
    expect_rejected(with(dir_ / "short_header.npy", h_, magnitude_));
    expect_rejected(with(dir_ / "empty.npy", h_, magnitude_));
    expect_rejected(with(w_, dir_ / "short_data.npy", magnitude_));
}

TEST_F(LayerCliErrors, WrongShapes) {
    const std::string other_h = fixture_file("stories260K_block2_w2", "H.npy");
    expect_rejected(with(w_, other_h, magnitude_));                            // H is 172 x 172
    expect_rejected(with(w_, fixture_file(kLayer, "X.npy"), magnitude_));      // H not square
    const std::vector<float> v(64, 1.0f);
    write_npy(dir_ / "vector.npy", {64}, v.data());
    expect_rejected(with(dir_ / "vector.npy", h_, magnitude_));               // 1-D weight
    expect_rejected({"--weight", w_, "--inputs", fixture_file("stories260K_block2_w2", "X.npy"), "--out",
                     dir_ / "out.npy", "--method", "magnitude", "--sparsity", "0.5"});  // X has 172 cols
    expect_rejected(with(w_, w_, magnitude_));                                 // not a Hessian
}

// A symmetric H with a positive diagonal that is indefinite (the block [[1, −2], [−2, 1]])
// makes tr(ΔW H ΔWᵀ) negative: 0.01 + 0.01 − 4 · 0.01 for ΔW = (0, 0, 0.1, 0.1). An error,
// not a negative rel_error.
TEST_F(LayerCliErrors, IndefiniteHessianIsAnError) {
    const std::vector<float> w = {1.0f, -1.0f, 0.1f, 0.1f};
    const std::vector<float> h = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, -2, 0, 0, -2, 1};
    write_npy(dir_ / "w.npy", {1, 4}, w.data());
    write_npy(dir_ / "h.npy", {4, 4}, h.data());
    expect_rejected(with(dir_ / "w.npy", dir_ / "h.npy", magnitude_));
    const CliRun r = run_cli(dir_, {"layer", "--weight", dir_ / "w.npy", "--hessian", dir_ / "h.npy", "--out",
                                    dir_ / "out.npy", "--method", "magnitude", "--sparsity", "0.5"});
    EXPECT_NE(r.err.find("H is not positive semidefinite"), std::string::npos) << r.err;
}

TEST_F(LayerCliErrors, BadOptions) {
    for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
             {"--method", "obs"},
             {"--method", "gptq"},
             {"--method", "gptq", "--bits", "1"},
             {"--method", "gptq", "--bits", "9"},
             {"--method", "rtn", "--bits", "four"},
             {"--method", "sparsegpt", "--nm", "4:2"},
             {"--method", "sparsegpt", "--nm", "2-4"},
             {"--method", "sparsegpt", "--nm", "2:"},
             {"--method", "sparsegpt", "--sparsity", "1"},
             {"--method", "sparsegpt", "--sparsity", "-0.1"},
             {"--method", "sparsegpt"},
             {"--method", "sparsegpt", "--sparsity", "0.5", "--nm", "2:4"},
             {"--method", "sparsegpt", "--nm", "2:3"},  // blocksize 128 is not a multiple of 3
             {"--method", "wanda", "--sparsity", "0.5", "--bits", "4"},
             {"--method", "gptq", "--bits", "4", "--sparsity", "0.5"},
             {"--method", "gptq", "--bits", "4", "--static-groups"},
             {"--method", "rtn", "--bits", "4", "--act-order"},
             {"--method", "magnitude", "--sparsity", "0.5", "--damp", "0.1"},
             {"--method", "sparsegpt", "--sparsity", "0.5", "--group", "32"},
             {"--method", "sparsegpt", "--sparsity", "0.5", "--mask-scope", "tile"},
             {"--method", "sparsegpt", "--sparsity", "0.5", "--threads", "0"},
             {"--method", "sparsegpt", "--sparsity", "0.5", "--samples", "10", "--inputs", "x.npy"},
             {"--method", "sparsegpt", "--sparsity", "0.5", "--frobnicate"},
         }) {
        std::string joined;
        for (const auto& e : extra) joined += e + " ";
        SCOPED_TRACE(joined);
        expect_rejected(with(w_, h_, extra));
    }
    expect_rejected({"--weight", w_, "--out", dir_ / "out.npy", "--method", "magnitude", "--sparsity", "0.5"});
}

TEST_F(LayerCliErrors, UsageErrorsExitWithTwo) {
    std::vector<std::string> args = {"layer"};
    const auto bad = with(w_, h_, {"--method", "unknown"});
    args.insert(args.end(), bad.begin(), bad.end());
    EXPECT_EQ(run_cli(dir_, args).exit_code, 2);
    args = {"layer"};
    const auto io = with(dir_ / "absent.npy", h_, magnitude_);
    args.insert(args.end(), io.begin(), io.end());
    EXPECT_EQ(run_cli(dir_, args).exit_code, 1);
}

}  // namespace
}  // namespace surgeon::testing
