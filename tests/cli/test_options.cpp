// Option values at the edges, through the `surgeon` binary: huge, negative, zero,
// fractional and non-numeric values are a one-line error with a non-zero exit; sizes
// wider than the layer (group, blocksize) run as per-row / one block; empty inputs are
// an error, never a perplexity; a recipe default "nm" replaces the command line's
// default sparsity.
#include <nlohmann/json.hpp>

#include "cli_harness.hpp"
#include "io/checkpoint.hpp"
#include "layer/prune/mask.hpp"

using namespace surgeon::testing;

namespace {

const std::string kData = SURGEON_SAMPLES_DATA_DIR;
const std::string kLayerDir = std::string(SURGEON_FIXTURES_DIR) + "/stories260K_block2_wq";

void expect_one_line_error(const CliRun& r, const std::string& mentions, const std::string& what) {
    EXPECT_NE(r.exit_code, 0) << what;
    EXPECT_EQ(r.out, "") << what;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n') >= 1, true) << what;
    EXPECT_NE(r.err.find(mentions), std::string::npos) << what << ": " << r.err;
}

std::vector<std::string> layer(const ScratchDir& dir, std::vector<std::string> extra) {
    std::vector<std::string> a = {"layer", "--weight", kLayerDir + "/W.npy", "--hessian", kLayerDir + "/H.npy",
                                  "--out", dir / "out.npy"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

}  // namespace

// One table per option surface of the layer command.
TEST(CliOptions, LayerRejectsOutOfRangeValues) {
    ScratchDir dir;
    struct Case {
        std::vector<std::string> method;
        std::string flag;
        std::vector<std::string> bad;
    };
    const std::vector<std::string> gptq = {"--method", "gptq", "--bits", "4"};
    const std::vector<std::string> sparsegpt = {"--method", "sparsegpt", "--sparsity", "0.5"};
    const Case cases[] = {
        {sparsegpt, "--threads", {"1025", "4294967297", "-1", "0", "abc", "1.5", " 4", "4 ", "", "99999999999999999999"}},
        {{"--method", "gptq"}, "--bits", {"4294967300", "4294967297", "4.9", "1", "9", "-4", "four"}},
        {gptq, "--group", {"-1", "-9223372036854775808", "12.5", "9223372036854775808", "x"}},
        {gptq, "--blocksize", {"0", "-1", "-9223372036854775808", "9223372036854775808", "1e3", "x"}},
        {{"--method", "magnitude"}, "--sparsity", {"nan", "inf", "-inf", "1", "-0.5", "x"}},
        {{"--method", "magnitude"}, "--nm", {"a:4", "2:4xyz", "2:4294967300", " 2:4", "4:2", "2:257"}},
        {sparsegpt, "--damp", {"nan", "inf", "-1"}},
    };
    for (const Case& c : cases)
        for (const std::string& v : c.bad) {
            std::vector<std::string> extra = c.method;
            extra.insert(extra.end(), {c.flag, v});
            const CliRun r = run_cli(dir, layer(dir, extra));
            expect_one_line_error(r, c.flag, c.flag + " '" + v + "'");
            EXPECT_FALSE(fs::exists(dir / "out.npy")) << c.flag << " " << v;
        }
}

// A group or block wider than the 64 columns: the per-row / single-block result.
TEST(CliOptions, LayerHugeGroupAndBlockRunAsPerRowAndOneBlock) {
    ScratchDir dir;
    const std::string huge = "9223372036854775807";
    for (const std::string method : {"gptq", "rtn"}) {
        const CliRun ref = run_cli(dir, layer(dir, {"--method", method, "--bits", "4", "--out", dir / "ref.npy", "--overwrite"}));
        ASSERT_EQ(ref.exit_code, 0) << ref.err;
        const CliRun r = run_cli(dir, layer(dir, {"--method", method, "--bits", "4", "--group", huge, "--overwrite"}));
        ASSERT_EQ(r.exit_code, 0) << method << ": " << r.err;
        EXPECT_EQ(read_text(dir / "out.npy"), read_text(dir / "ref.npy")) << method;
    }
    const CliRun ref = run_cli(dir, layer(dir, {"--method", "gptq", "--bits", "4", "--blocksize", "64", "--out",
                                                dir / "ref.npy", "--overwrite"}));
    ASSERT_EQ(ref.exit_code, 0) << ref.err;
    for (const std::string block : {std::string("65"), std::string("10000000"), std::string("2147483648"), huge}) {
        const CliRun r = run_cli(dir, layer(dir, {"--method", "gptq", "--bits", "4", "--blocksize", block, "--overwrite"}));
        ASSERT_EQ(r.exit_code, 0) << block << ": " << r.err;
        EXPECT_EQ(read_text(dir / "out.npy"), read_text(dir / "ref.npy")) << block;
    }
}

TEST(CliOptions, ThreadsTopPAndLearningRateAreChecked) {
    ScratchDir dir;
    for (const std::string v : {"1025", "4294967297", "-1", "x", "2.5"}) {
        expect_one_line_error(run_cli(dir, {"eval", "--threads", v}), "--threads", "eval --threads " + v);
        expect_one_line_error(run_cli(dir, {"compress", "--threads", v, "--out", dir / "m"}), "--threads",
                              "compress --threads " + v);
    }
    for (const std::string v : {"-1", "0", "2", "1.0001", "nan", "inf", "x"})
        expect_one_line_error(run_cli(dir, {"generate", "--temperature", "1", "--top-p", v, "--steps", "4"}),
                              "--top-p", "--top-p " + v);
    const CliRun ok = run_cli(dir, {"generate", "--temperature", "1", "--top-p", "1", "--steps", "4"});
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    for (const std::string v : {"nan", "inf", "0", "-0.05", "x"})
        expect_one_line_error(run_cli(dir, {"structured", "--model", kData + "/stories260K.bin", "--out",
                                            dir / "s", "--lr", v}),
                              "--lr", "--lr " + v);
    EXPECT_FALSE(fs::exists(dir / "s"));
}

TEST(CliOptions, EmptyInputsAreErrorsNotAPerplexity) {
    ScratchDir dir;
    std::ofstream(dir / "empty.txt").close();
    std::ofstream(dir / "blank.txt") << "\n\n  \n\n";
    std::ofstream(dir / "one_token.bin", std::ios::binary).write("\x01\0\0\0", 4);
    fs::create_directory(dir / "folder");
    const std::vector<std::vector<std::string>> runs = {
        {"eval", "--tokens", "/dev/null"},
        {"eval", "--tokens", dir / "one_token.bin"},
        {"eval", "--text", dir / "empty.txt"},
        {"eval", "--text", dir / "blank.txt"},
        {"eval", "--text", dir / "empty.txt", "--mode", "windows"},
        {"eval", "--text", dir / "folder"},
        {"compress", "--method", "magnitude", "--out", dir / "m", "--eval", dir / "empty.txt"},
        {"compress", "--method", "gptq", "--calib-tokens", "/dev/null", "--out", dir / "g"},
    };
    for (const auto& args : runs) {
        const CliRun r = run_cli(dir, args);
        std::string what;
        for (const auto& a : args) what += a + " ";
        EXPECT_NE(r.exit_code, 0) << what << "\n" << r.out;
        EXPECT_EQ(r.out.find("\"ppl\""), std::string::npos) << what << "\n" << r.out;
        EXPECT_FALSE(r.err.empty()) << what;
    }
}

// The command line's default "sparsity": 0.5 gives way to a recipe default "nm": every
// linear is 2:4 (before, the merged default pruned 50% unstructured).
TEST(CliOptions, RecipeDefaultNmWinsOverTheDefaultSparsity) {
    ScratchDir dir;
    std::ofstream(dir / "nm.json") << R"({"default": {"nm": "2:4"}})";
    const CliRun c = run_cli(dir, {"compress", "--method", "magnitude", "--recipe", dir / "nm.json", "--out",
                                   dir / "m", "--quiet"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const surgeon::model::Model m = surgeon::model::load_model(dir / "m");
    for (size_t l = 0; l < m.layers.size(); ++l) {
        const auto& L = m.layers[l];
        for (const surgeon::Matrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) {
            const surgeon::Mask mask = surgeon::mask_of_nonzeros(w->view());
            EXPECT_TRUE(mask.check_nm(2, 4)) << "layer " << l;
        }
    }
    // Both keys in one entry of the file: an error.
    std::ofstream(dir / "both.json") << R"({"default": {"nm": "2:4", "sparsity": 0.5}})";
    const CliRun both = run_cli(dir, {"compress", "--method", "magnitude", "--recipe", dir / "both.json", "--out",
                                      dir / "m2", "--quiet"});
    EXPECT_NE(both.exit_code, 0);
    EXPECT_NE(both.err.find("sparsity"), std::string::npos) << both.err;
    EXPECT_FALSE(fs::exists(dir / "m2"));
}

// The counts of the model commands: huge (past int64, and past the option's bound),
// negative, zero and non-numeric values are a one-line error naming the flag, before the
// model is read. --seed takes any non-negative 64-bit value: 0 is a seed like any other.
TEST(CliOptions, CountsOfTheModelCommandsAreRanged) {
    ScratchDir dir;
    const std::string model = kData + "/stories260K.bin";
    const std::vector<std::string> bad = {"99999999999999999999", "9223372036854775807", "-1", "0", "x", "2.5", ""};
    struct Case {
        std::vector<std::string> command;
        std::string flag;
        std::vector<std::string> values;
    };
    const std::vector<std::string> compress = {"compress", "--method", "magnitude", "--out", dir / "m"};
    const std::vector<std::string> structured = {"structured", "--model", model, "--method", "l2", "--out", dir / "s"};
    std::vector<std::string> budget = {"compress", "--method", "gptq", "--bits", "4", "--layer-budget", "4",
                                       "--out", dir / "m"};
    const std::vector<Case> cases = {
        {{"eval"}, "--seq-len", bad},
        {compress, "--seq-len", bad},
        {structured, "--seq-len", bad},
        {budget, "--budget-sequences", bad},
        {{"generate"}, "--steps", bad},
        {structured, "--steps", bad},
        {structured, "--speed", bad},
        {{"generate"}, "--seed", {"99999999999999999999", "-1", "x", "2.5", ""}},
        {structured, "--seed", {"99999999999999999999", "-1", "x", "2.5", ""}},
    };
    for (const Case& c : cases)
        for (const std::string& v : c.values) {
            std::vector<std::string> args = c.command;
            args.insert(args.end(), {c.flag, v});
            const std::string what = c.command[0] + " " + c.flag + " '" + v + "'";
            const CliRun r = run_cli(dir, args);
            expect_one_line_error(r, c.flag, what);
            EXPECT_EQ(r.exit_code, 2) << what;  // a usage error: nothing was read
        }
    EXPECT_FALSE(fs::exists(dir / "m"));
    EXPECT_FALSE(fs::exists(dir / "s"));
    // The smallest and largest seeds are taken, and a seed decides the sampled text.
    std::vector<std::string> outputs;
    for (const std::string seed : {"0", "9223372036854775807", "0"}) {
        const CliRun r = run_cli(dir, {"generate", "--temperature", "1", "--steps", "24", "--seed", seed});
        ASSERT_EQ(r.exit_code, 0) << seed << ": " << r.err;
        outputs.push_back(r.out);
    }
    EXPECT_EQ(outputs[0], outputs[2]);
    EXPECT_NE(outputs[0], outputs[1]);
    // The bounds themselves: --seq-len 2 is the shortest context.
    const CliRun two = run_cli(dir, {"eval", "--seq-len", "2", "--range", "0:3"});
    ASSERT_EQ(two.exit_code, 0) << two.err;
    EXPECT_EQ(nlohmann::json::parse(two.out)["tokens"].get<int>(), 3);
}
