// `surgeon tokenize`, and compress / eval of a Hugging Face directory whose only tokenizer is
// its tokenizer.json (a copy of Mistral-7B's from ../shared/data/tokenizers).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_harness.hpp"
#include "io/hf_tokenizer.hpp"
#include "io/random_checkpoint.hpp"
#include "nn/perplexity.hpp"

namespace {

using surgeon::testing::CliRun;
using surgeon::testing::read_text;
using surgeon::testing::run_cli;
using surgeon::testing::ScratchDir;
namespace fs = std::filesystem;

const std::string kMistralDir = std::string(SURGEON_SHARED_DIR) + "/data/tokenizers/mistral-7b-v0.1";
const std::string kMistral = kMistralDir + "/tokenizer.json";

// The first reference record of Mistral's expected.jsonl (add_special_tokens true) and the
// second (the same text, false).
struct Reference {
    std::string text;
    std::vector<int> with_special, without_special;
};

Reference mistral_reference() {
    std::ifstream in(kMistralDir + "/expected.jsonl");
    std::string a, b;
    std::getline(in, a);
    std::getline(in, b);
    const auto ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
    EXPECT_TRUE(ja["add_special_tokens"].get<bool>());
    EXPECT_EQ(ja["text"], jb["text"]);
    return {ja["text"], ja["ids"].get<std::vector<int>>(), jb["ids"].get<std::vector<int>>()};
}

nlohmann::json json_line(const CliRun& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

// A random 2-block HF checkpoint with Mistral's vocabulary size and, in its directory, a
// copy of Mistral's tokenizer.json and tokenizer_config.json (no llama2.c tokenizer).
std::string make_model(const ScratchDir& dir, int64_t vocab = 32000) {
    surgeon::model::ModelConfig c;
    c.dim = 64;
    c.hidden_dim = 160;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = vocab;
    c.seq_len = 64;
    const std::string model = dir / "model";
    surgeon::model::write_random_checkpoint(model, c, surgeon::model::Dtype::BF16, 11, 1ull << 30);
    fs::copy_file(kMistral, fs::path(model) / "tokenizer.json");
    fs::copy_file(kMistralDir + "/tokenizer_config.json", fs::path(model) / "tokenizer_config.json");
    return model;
}

const char* const kText =
    "Once upon a time, a little fox found a red ball.\n\n"
    "The fox rolled the ball down the hill and laughed.\n\n"
    "Its friend the owl watched from a tall tree, then flew down to play.\n\n"
    "At night they both slept, tired and happy.\n";

}  // namespace

TEST(TokenizeCli, TokenizerFileGivesTheReferenceIds) {
    ScratchDir dir;
    const Reference ref = mistral_reference();
    const auto with = json_line(run_cli(dir, {"tokenize", "--tokenizer", kMistral, "--text", ref.text}));
    EXPECT_EQ(with["ids"].get<std::vector<int>>(), ref.with_special);
    EXPECT_EQ(with["count"].get<size_t>(), ref.with_special.size());
    EXPECT_EQ(with["tokenizer"], kMistral);
    const auto without =
        json_line(run_cli(dir, {"tokenize", "--tokenizer", kMistral, "--no-special", "--text", ref.text}));
    EXPECT_EQ(without["ids"].get<std::vector<int>>(), ref.without_special);
    std::ofstream(dir / "in.txt") << ref.text;
    const auto from_file = json_line(run_cli(dir, {"tokenize", "--tokenizer", kMistral, "--file", dir / "in.txt"}));
    EXPECT_EQ(from_file["ids"].get<std::vector<int>>(), ref.with_special);
}

TEST(TokenizeCli, ModelDirectoryUsesItsTokenizerJson) {
    ScratchDir dir;
    const std::string model = make_model(dir);
    const Reference ref = mistral_reference();
    const auto j = json_line(run_cli(dir, {"tokenize", "--model", model, "--text", ref.text}));
    EXPECT_EQ(j["ids"].get<std::vector<int>>(), ref.with_special);
    EXPECT_EQ(j["tokenizer"], (fs::path(model) / "tokenizer.json").string());
}

TEST(TokenizeCli, BadUseIsAOneLineError) {
    ScratchDir dir;
    CliRun r = run_cli(dir, {"tokenize", "--text", "x"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("pass --model or --tokenizer"), std::string::npos) << r.err;
    r = run_cli(dir, {"tokenize", "--tokenizer", kMistral});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("exactly one of --text and --file"), std::string::npos) << r.err;
    // A tokenizer.json whose ids do not fit the model's vocabulary.
    const std::string small = make_model(dir, 1000);
    r = run_cli(dir, {"tokenize", "--model", small, "--text", "x"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("beyond the model's vocabulary of 1000"), std::string::npos) << r.err;
    // Invalid UTF-8.
    std::ofstream(dir / "latin1.txt") << "caf\xE9";
    r = run_cli(dir, {"tokenize", "--tokenizer", kMistral, "--file", dir / "latin1.txt"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("not valid UTF-8 (byte 3)"), std::string::npos) << r.err;
}

TEST(TokenizeCli, EvalScoresTheTokenizerJsonSequences) {
    ScratchDir dir;
    const std::string model = make_model(dir);
    std::ofstream(dir / "text.txt") << kText;
    const auto j = json_line(run_cli(dir, {"eval", "--model", model, "--text", dir / "text.txt"}));
    // Paragraph mode scores each [BOS] + tokens sequence: length - 1 predicted tokens each.
    const auto tok = surgeon::model::HfTokenizer::load(kMistral);
    int64_t expected = 0;
    for (const std::string& p : surgeon::model::split_paragraphs(kText)) {
        const auto ids = tok.encode(p, true);
        ASSERT_EQ(ids.front(), 1);
        expected += static_cast<int64_t>(ids.size()) - 1;
    }
    EXPECT_EQ(j["sequences"].get<int64_t>(), 4);
    EXPECT_EQ(j["tokens"].get<int64_t>(), expected);
    // A random model over 32000 tokens is near uniform: perplexity close to the vocabulary.
    EXPECT_GT(j["ppl"].get<double>(), 20000.0);
    EXPECT_LT(j["ppl"].get<double>(), 50000.0);
}

TEST(TokenizeCli, CompressCalibratesOnTextWithTheTokenizerJson) {
    ScratchDir dir;
    const std::string model = make_model(dir);
    std::ofstream(dir / "text.txt") << kText;
    const std::string out = dir / "out";
    const CliRun r = run_cli(dir, {"compress", "--model", model, "--calib", dir / "text.txt", "--calib-range", "0:4",
                                   "--method", "gptq", "--bits", "4", "--out", out, "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The output carries the tokenizer, so it tokenizes and evaluates on its own.
    EXPECT_EQ(read_text(fs::path(out) / "tokenizer.json"), read_text(kMistral));
    EXPECT_TRUE(fs::exists(fs::path(out) / "tokenizer_config.json"));
    const auto j = json_line(run_cli(dir, {"eval", "--model", out, "--text", dir / "text.txt"}));
    EXPECT_EQ(j["sequences"].get<int64_t>(), 4);
}

TEST(TokenizeCli, HfDirectoryWithoutTokenizerNeedsOne) {
    ScratchDir dir;
    const std::string model = make_model(dir);
    fs::remove(fs::path(model) / "tokenizer.json");
    std::ofstream(dir / "text.txt") << kText;
    const CliRun r = run_cli(dir, {"eval", "--model", model, "--text", dir / "text.txt"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no tokenizer for"), std::string::npos) << r.err;
    // --tokenizer names one explicitly.
    const auto j = json_line(run_cli(dir, {"eval", "--model", model, "--text", dir / "text.txt", "--tokenizer", kMistral}));
    EXPECT_EQ(j["sequences"].get<int64_t>(), 4);
}
