// The whole-model C API on the bundled stories260K: load, tokenizer, perplexity against the
// data's SOURCES.md, compression through a recipe, save/reload, weights in and out, and
// the error contract (bad input leaves the model unchanged).
#include <stdio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include <nlohmann/json.hpp>

#include "capi_helpers.hpp"

using namespace capi_test;

namespace {

const std::string kData = SURGEON_SAMPLES_DATA_DIR;


// The model's JSON report, through a size query and an exact buffer.
std::string report_of(const surgeon_model* m) {
    size_t needed = 0;
    EXPECT_EQ(surgeon_model_report(m, nullptr, 0, &needed), SURGEON_OK);
    std::string text(needed, '\0');
    EXPECT_EQ(surgeon_model_report(m, text.data(), text.size(), &needed), SURGEON_OK);
    EXPECT_EQ(text.size(), needed);
    text.pop_back();  // the NUL
    return text;
}

const std::string& text() {
    static const std::string t = [] {
        std::ifstream in(kData + "/tinystories-valid.txt", std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }();
    return t;
}

std::vector<float> weights(const surgeon_model* m, int64_t block, const char* name) {
    int64_t rows = 0, cols = 0;
    EXPECT_EQ(surgeon_model_linear_shape(m, block, name, &rows, &cols), SURGEON_OK);
    std::vector<float> w(static_cast<size_t>(rows * cols));
    EXPECT_EQ(surgeon_model_get_linear(m, block, name, w.data(), rows, cols), SURGEON_OK);
    return w;
}

struct TempDir {
    static inline int counter = 0;
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("surgeon_capi_model_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    TempDir() { std::filesystem::remove_all(path); }
    ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST(ModelApi, ConfigTokenizerAndPerplexityMatchSources) {
    ModelPtr m = load_model();
    surgeon_model_config c = SURGEON_MODEL_CONFIG_INIT;
    CAPI_OK(surgeon_model_get_config(m.get(), &c));
    EXPECT_EQ(c.dim, 64);
    EXPECT_EQ(c.hidden_dim, 172);
    EXPECT_EQ(c.n_layers, 5);
    EXPECT_EQ(c.n_heads, 8);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.vocab_size, 512);
    EXPECT_EQ(c.seq_len, 512);
    EXPECT_EQ(c.head_dim, 8);
    EXPECT_GT(c.parameters, 250000);

    size_t count = 0;
    const std::string first = text().substr(0, text().find("\n\n"));
    CAPI_OK(surgeon_model_encode(m.get(), first.c_str(), 1, nullptr, 0, &count));
    std::vector<int32_t> ids(count);
    CAPI_OK(surgeon_model_encode(m.get(), first.c_str(), 1, ids.data(), count, &count));
    EXPECT_EQ(count, ids.size());
    const std::vector<int32_t> expected = {1, 301, 427, 309, 426, 301, 427, 309, 394, 265};
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 10), expected);

    surgeon_perplexity p = SURGEON_PERPLEXITY_INIT;
    CAPI_OK(surgeon_model_perplexity(nullptr, m.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 50, 0, &p));
    EXPECT_EQ(p.sequences, 50);
    EXPECT_EQ(p.tokens, 5055);
    EXPECT_NEAR(p.nll, 1.3847, 1e-3);

    // The same tokens through the token-stream entry point (windows protocol).
    surgeon_perplexity w = SURGEON_PERPLEXITY_INIT, wt = SURGEON_PERPLEXITY_INIT;
    CAPI_OK(surgeon_model_perplexity(nullptr, m.get(), first.c_str(), SURGEON_EVAL_WINDOWS, 0, -1, 16, &w));
    CAPI_OK(surgeon_model_perplexity_tokens(nullptr, m.get(), ids.data() + 1, static_cast<int64_t>(count) - 1, 16,
                                            &wt));
    EXPECT_EQ(w.tokens, wt.tokens);
    EXPECT_DOUBLE_EQ(w.nll, wt.nll);
}


// The file entry point reads the text it names; text and file errors say what they count.
TEST(ModelApi, PerplexityOfFileMatchesTextAndErrorsNameTheUnit) {
    ModelPtr m = load_model();
    const std::string path = kData + "/tinystories-valid.txt";
    surgeon_perplexity of_text = SURGEON_PERPLEXITY_INIT, of_file = SURGEON_PERPLEXITY_INIT;
    CAPI_OK(surgeon_model_perplexity(nullptr, m.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 10, 30, 0, &of_text));
    CAPI_OK(surgeon_model_perplexity_file(nullptr, m.get(), path.c_str(), SURGEON_EVAL_PARAGRAPHS, 10, 30, 0, &of_file));
    EXPECT_EQ(of_file.sequences, 20);
    EXPECT_EQ(of_file.tokens, of_text.tokens);
    EXPECT_DOUBLE_EQ(of_file.nll, of_text.nll);
    EXPECT_DOUBLE_EQ(of_file.ppl, of_text.ppl);

    // A path given where the text goes is one paragraph of text.
    surgeon_perplexity p = SURGEON_PERPLEXITY_INIT;
    EXPECT_EQ(surgeon_model_perplexity(nullptr, m.get(), path.c_str(), SURGEON_EVAL_PARAGRAPHS, 2000, 2128, 0, &p),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(last_error(), "surgeon_model_perplexity: paragraphs 2000:2128 requested, the text has 1");
    EXPECT_EQ(surgeon_model_perplexity_file(nullptr, m.get(), path.c_str(), SURGEON_EVAL_WINDOWS, 1000, -1, 0, &p),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("windows 1000: requested, the token stream has "), std::string::npos) << last_error();

    const std::string missing = kData + "/no-such-file.txt";
    EXPECT_EQ(surgeon_model_perplexity_file(nullptr, m.get(), missing.c_str(), SURGEON_EVAL_PARAGRAPHS, 0, -1, 0, &p),
              SURGEON_ERR_IO);
    EXPECT_NE(last_error().find(missing), std::string::npos) << last_error();
    EXPECT_EQ(surgeon_model_perplexity_file(nullptr, m.get(), kData.c_str(), SURGEON_EVAL_PARAGRAPHS, 0, -1, 0, &p),
              SURGEON_ERR_IO);
    EXPECT_NE(last_error().find("is a directory"), std::string::npos) << last_error();
    EXPECT_EQ(surgeon_model_perplexity_file(nullptr, m.get(), nullptr, SURGEON_EVAL_PARAGRAPHS, 0, -1, 0, &p),
              SURGEON_ERR_INVALID_ARGUMENT);
}

// Generated text through a size query and an exact buffer.
std::string generated(const surgeon_context* ctx, const surgeon_model* m, const char* prompt,
                      const surgeon_generate_options* opts) {
    size_t length = 0;
    EXPECT_EQ(surgeon_model_generate(ctx, m, prompt, opts, nullptr, 0, &length), SURGEON_OK) << surgeon_last_error();
    std::vector<char> out(length);
    EXPECT_EQ(surgeon_model_generate(ctx, m, prompt, opts, out.data(), out.size(), &length), SURGEON_OK);
    EXPECT_EQ(length, out.size());
    EXPECT_EQ(out.back(), '\0');
    return std::string(out.data());
}

GenerateOptionsPtr generate_options(int64_t steps, double temperature, uint64_t seed) {
    surgeon_generate_options* o = nullptr;
    EXPECT_EQ(surgeon_generate_options_new(&o), SURGEON_OK);
    EXPECT_EQ(surgeon_generate_options_set_steps(o, steps), SURGEON_OK);
    EXPECT_EQ(surgeon_generate_options_set_temperature(o, temperature), SURGEON_OK);
    EXPECT_EQ(surgeon_generate_options_set_seed(o, seed), SURGEON_OK);
    return GenerateOptionsPtr(o);
}

TEST(ModelApi, GreedyGenerationMatchesSources) {
    ModelPtr m = load_model();
    surgeon_context* raw = nullptr;
    CAPI_OK(surgeon_context_new(&raw));
    ContextPtr ctx(raw);
    CAPI_OK(surgeon_context_set_threads(ctx.get(), 2));
    const GenerateOptionsPtr greedy = generate_options(40, 0.0, 0);
    const std::string text = generated(ctx.get(), m.get(), "", greedy.get());
    EXPECT_EQ(text.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << text;
    // Greedy ignores the seed; the default context gives the same text.
    EXPECT_EQ(generated(nullptr, m.get(), "", generate_options(40, 0.0, 99).get()), text);
}

TEST(ModelApi, SampledGenerationIsAFunctionOfTheSeed) {
    ModelPtr m = load_model();
    surgeon_context* raw = nullptr;
    CAPI_OK(surgeon_context_new(&raw));
    ContextPtr ctx(raw);
    const std::string a = generated(ctx.get(), m.get(), "Once", generate_options(60, 1.0, 7).get());
    EXPECT_EQ(generated(ctx.get(), m.get(), "Once", generate_options(60, 1.0, 7).get()), a);
    EXPECT_EQ(generated(nullptr, m.get(), "Once", generate_options(60, 1.0, 7).get()), a);
    EXPECT_NE(generated(ctx.get(), m.get(), "Once", generate_options(60, 1.0, 8).get()), a);
    EXPECT_EQ(a.rfind("Once", 0), 0u) << a;
}

// NULL options are the defaults of `surgeon generate` (256 steps, greedy): the same text
// as the command prints, which adds one newline.
TEST(ModelApi, DefaultGenerationEqualsTheCommand) {
    ModelPtr m = load_model();
    const std::string text = generated(nullptr, m.get(), "", nullptr);
    surgeon_generate_options* raw = nullptr;
    CAPI_OK(surgeon_generate_options_new(&raw));
    GenerateOptionsPtr defaults(raw);
    EXPECT_EQ(generated(nullptr, m.get(), "", defaults.get()), text);

    const std::string cmd = std::string("'") + SURGEON_CLI_BINARY + "' generate --model '" + kData + "/stories260K.bin'";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string printed;
    char chunk[4096];
    for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) printed.append(chunk, n);
    ASSERT_EQ(::pclose(pipe), 0);
    EXPECT_EQ(printed, text + "\n");
    EXPECT_GT(text.size(), 200u);
}

TEST(ModelApi, SetTokenizerLogsThroughTheContext) {
    ModelPtr m = load_model();
    LogRecord log;
    const ContextPtr ctx = logging_context(log);
    const std::string path = kData + "/tok512.bin";
    CAPI_OK(surgeon_model_set_tokenizer(ctx.get(), m.get(), path.c_str()));
    EXPECT_TRUE(log.has(SURGEON_LOG_INFO, "loaded tokenizer '" + path + "'"));
    CAPI_OK(surgeon_model_set_tokenizer(nullptr, m.get(), path.c_str()));
    // A missing file leaves the tokenizer in place and logs nothing.
    const size_t lines = log.lines.size();
    EXPECT_NE(surgeon_model_set_tokenizer(ctx.get(), m.get(), (kData + "/missing.bin").c_str()), SURGEON_OK);
    EXPECT_EQ(log.lines.size(), lines);
    EXPECT_EQ(surgeon_model_set_tokenizer(ctx.get(), nullptr, path.c_str()), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(generated(ctx.get(), m.get(), "", generate_options(40, 0.0, 0).get())
                  .rfind("Once upon a time, there was a little girl named Lily.", 0),
              0u);
}

TEST(ModelApi, CompressSaveReloadGivesTheSamePerplexity) {
    ModelPtr m = load_model();
    std::vector<double> fractions;
    surgeon_context* raw = nullptr;
    CAPI_OK(surgeon_context_new(&raw));
    ContextPtr ctx(raw);
    CAPI_OK(surgeon_context_set_progress(ctx.get(), [](void* user, const char* stage, double fraction) {
        if (std::string(stage) == "compress") static_cast<std::vector<double>*>(user)->push_back(fraction);
    }, &fractions));
    // Joint 2:4 + 4-bit; the FFN (172 wide, not a multiple of 32) cannot be GPTQ-packed,
    // so it is only pruned and the packed export stores it dense.
    CAPI_OK(surgeon_model_compress(ctx.get(), m.get(), text().c_str(), 2000, 2032,
                                   R"({"default": {"method": "sparsegpt", "nm": "2:4", "bits": 4},
                                       "rules": [{"match": "*.w[123]", "bits": null}]})"));
    // At the start, then once per block.
    EXPECT_EQ(fractions, (std::vector<double>{0.0, 0.2, 0.4, 0.6, 0.8, 1.0}));
    const std::string report = report_of(m.get());
    EXPECT_NE(report.find("\"linear_sparsity\":0.5"), std::string::npos) << report;

    // 2:4 in every group of the saved weights.
    const std::vector<float> w1 = weights(m.get(), 3, "gate_proj");
    for (size_t g = 0; g < w1.size(); g += 4) {
        int zeros = 0;
        for (size_t k = g; k < g + 4; ++k) zeros += w1[k] == 0.0f;
        ASSERT_GE(zeros, 2) << g;
    }

    surgeon_perplexity before = SURGEON_PERPLEXITY_INIT, after = SURGEON_PERPLEXITY_INIT;
    CAPI_OK(surgeon_model_perplexity(nullptr, m.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 40, 0, &before));
    TempDir dir, gptq;
    CAPI_OK(surgeon_model_save(nullptr, m.get(), dir.path.c_str(), "hf", "f32"));
    CAPI_OK(surgeon_model_save_gptq(ctx.get(), m.get(), gptq.path.c_str()));
    for (const TempDir* d : {&dir, &gptq}) {
        ModelPtr back = load_model(d->path.string());
        CAPI_OK(surgeon_model_perplexity(nullptr, back.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 40, 0, &after));
        // f32 is exact; the packed export stores scales in fp16.
        EXPECT_NEAR(after.ppl, before.ppl, d == &dir ? 1e-9 : 1e-2 * before.ppl) << d->path;
    }
}

// Cross-block quantization through the recipe: the report lists its windows, the saved
// directory keeps the activation bits (a reload evaluates the same way), and the packed
// export carries the learned codes.
TEST(ModelApi, CbqThroughTheRecipe) {
    for (const int act_bits : {0, 8}) {
        SCOPED_TRACE(act_bits);
        ModelPtr m = load_model();
        // The FFN (172 wide) cannot be GPTQ-packed: it stays float.
        const std::string recipe = R"({"default": {"method": "cbq", "bits": 4},
                                       "rules": [{"match": "*.w[123]", "method": "dense"}],
                                       "cbq": {"epochs": 1, "act_bits": )" +
                                   std::to_string(act_bits) + "}}";
        CAPI_OK(surgeon_model_compress(nullptr, m.get(), text().c_str(), 2000, 2016, recipe.c_str()));
        const std::string report = report_of(m.get());
        EXPECT_NE(report.find("\"cbq_windows\""), std::string::npos) << report;
        surgeon_perplexity before = SURGEON_PERPLEXITY_INIT, after = SURGEON_PERPLEXITY_INIT;
        CAPI_OK(surgeon_model_perplexity(nullptr, m.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 40, 0, &before));
        TempDir dir, gptq;
        CAPI_OK(surgeon_model_save(nullptr, m.get(), dir.path.c_str(), "hf", "f32"));
        ModelPtr back = load_model(dir.path.string());
        CAPI_OK(surgeon_model_perplexity(nullptr, back.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 40, 0, &after));
        EXPECT_NEAR(after.ppl, before.ppl, 1e-9);
        if (act_bits == 0) {
            CAPI_OK(surgeon_model_save_gptq(nullptr, m.get(), gptq.path.c_str()));
            ModelPtr packed = load_model(gptq.path.string());
            CAPI_OK(surgeon_model_perplexity(nullptr, packed.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 40, 0,
                                             &after));
            EXPECT_NEAR(after.ppl, before.ppl, 1e-2 * before.ppl);  // fp16 scales
        } else {
            EXPECT_EQ(surgeon_model_save_gptq(nullptr, m.get(), gptq.path.c_str()), SURGEON_ERR_UNSUPPORTED);
            EXPECT_NE(std::string(surgeon_last_error()).find("activation"), std::string::npos) << surgeon_last_error();
        }
    }
}

TEST(ModelApi, FailuresLeaveTheModelUnchanged) {
    ModelPtr m = load_model();
    const std::vector<float> wq = weights(m.get(), 0, "wq");
    surgeon_model* none = nullptr;
    EXPECT_EQ(surgeon_model_load(&none, nullptr, "/nonexistent/model.bin"), SURGEON_ERR_IO);
    EXPECT_EQ(none, nullptr);
    EXPECT_NE(std::string(surgeon_last_error()).find("surgeon_model_load"), std::string::npos);

    EXPECT_EQ(surgeon_model_compress(nullptr, m.get(), text().c_str(), 0, 4, "{not json"),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_model_compress(nullptr, m.get(), text().c_str(), 0, 4,
                                     R"({"default": {"method": "gptq", "bits": 12}})"),
              SURGEON_ERR_INVALID_ARGUMENT);
    // No calibration paragraph in range: wanda needs activations.
    EXPECT_EQ(surgeon_model_compress(nullptr, m.get(), text().c_str(), 5, 5,
                                     R"({"default": {"method": "wanda", "sparsity": 0.5}})"),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(weights(m.get(), 0, "wq"), wq);

    std::vector<float> bad = wq;
    bad[7] = NAN;
    EXPECT_EQ(surgeon_model_set_linear(m.get(), 0, "wq", bad.data(), 64, 64), SURGEON_ERR_NUMERIC);
    EXPECT_EQ(surgeon_model_set_linear(m.get(), 0, "wq", wq.data(), 64, 32), SURGEON_ERR_SHAPE);
    EXPECT_EQ(surgeon_model_set_linear(m.get(), 9, "wq", wq.data(), 64, 64), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_model_set_linear(m.get(), 0, "wz", wq.data(), 64, 64), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(weights(m.get(), 0, "wq"), wq);
    EXPECT_EQ(surgeon_model_save_gptq(nullptr, m.get(), "/tmp/never"), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_model_save(nullptr, m.get(), "/tmp/never", "onnx", nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    surgeon_model_free(nullptr);
}

TEST(ModelApi, MixedPrecisionLayersCannotBeGptqPacked) {
    ModelPtr m = load_model();
    CAPI_OK(surgeon_model_compress(nullptr, m.get(), text().c_str(), 2000, 2016,
                                   R"({"default": {"method": "gptq", "bits": 4,
                                       "mixed": {"allocator": "budget", "avg_bits": 3.5}},
                                       "rules": [{"match": "*.w[123]", "skip": true}]})"));
    EXPECT_EQ(surgeon_model_save_gptq(nullptr, m.get(), "/tmp/never"), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(surgeon_last_error()).find("one width per layer"), std::string::npos)
        << surgeon_last_error();
}

// The packed export describes the run it came from: the recipe's damp and static groups,
// gptq_v2 for asymmetric grids, and the FFN left dense (sparsegpt 2:4 without bits) declared.
TEST(ModelApi, GptqExportMetadataIsThatOfTheRun) {
    ModelPtr m = load_model();
    CAPI_OK(surgeon_model_compress(nullptr, m.get(), text().c_str(), 2000, 2016,
                                   R"({"default": {"method": "gptq", "bits": 4, "group": 32, "sym": false,
                                                   "act_order": true, "static_groups": true, "damp": 0.03},
                                       "rules": [{"match": "*.w[123]", "method": "sparsegpt", "nm": "2:4",
                                                  "bits": null}]})"));
    TempDir gptq;
    CAPI_OK(surgeon_model_save_gptq(nullptr, m.get(), gptq.path.c_str()));
    std::ifstream in(gptq.path / "quantize_config.json");
    const nlohmann::json q = nlohmann::json::parse(in);
    EXPECT_EQ(q["checkpoint_format"], "gptq_v2");
    EXPECT_EQ(q["bits"], 4);
    EXPECT_EQ(q["group_size"], 32);
    EXPECT_EQ(q["sym"], false);
    EXPECT_EQ(q["desc_act"], true);
    EXPECT_EQ(q["static_groups"], true);
    EXPECT_DOUBLE_EQ(q["damp_percent"].get<double>(), 0.03);
    EXPECT_EQ(q["dynamic"].size(), 15u);
    EXPECT_EQ(q["modules_in_block_to_quantize"].size(), 2u);
}

// The model-wide, Fisher-priced budget through the recipe: the report carries the plan,
// the achieved average stays within one row of the target, and the perplexity beats
// uniform GPTQ at the same 3 bits (held-out paragraphs 0:200).
TEST(ModelApi, ModelWideMixedPrecisionThroughTheRecipe) {
    ModelPtr uniform = load_model(), mixed = load_model();
    CAPI_OK(surgeon_model_compress(nullptr, uniform.get(), text().c_str(), 2000, 2064,
                                   R"({"default": {"method": "gptq", "bits": 3}})"));
    CAPI_OK(surgeon_model_compress(nullptr, mixed.get(), text().c_str(), 2000, 2064,
                                   R"({"default": {"method": "gptq",
                                       "mixed": {"allocator": "error", "avg_bits": 3, "scope": "model"}}})"));
    const std::string report = report_of(mixed.get());
    const nlohmann::json j = nlohmann::json::parse(report);
    ASSERT_TRUE(j.contains("row_budget")) << report;
    EXPECT_DOUBLE_EQ(j["row_budget"]["target_bits"].get<double>(), 3.0);
    EXPECT_LE(j["mixed"]["avg_bits"].get<double>(), 3.0);
    EXPECT_GT(j["mixed"]["avg_bits"].get<double>(), 3.0 - 172.0 / 226560.0);
    surgeon_perplexity u = SURGEON_PERPLEXITY_INIT, x = SURGEON_PERPLEXITY_INIT;
    CAPI_OK(surgeon_model_perplexity(nullptr, uniform.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 200, 0, &u));
    CAPI_OK(surgeon_model_perplexity(nullptr, mixed.get(), text().c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 200, 0, &x));
    EXPECT_LT(x.ppl, u.ppl);
}

TEST(ModelApi, SetLinearRoundTripsThroughTheLayerApi) {
    ModelPtr m = load_model();
    std::vector<float> w2 = weights(m.get(), 1, "w2");
    for (float& v : w2) v *= 0.5f;
    CAPI_OK(surgeon_model_set_linear(m.get(), 1, "down_proj", w2.data(), 64, 172));
    EXPECT_EQ(weights(m.get(), 1, "w2"), w2);
    surgeon_model* copy = nullptr;
    CAPI_OK(surgeon_model_clone(&copy, m.get()));
    ModelPtr c(copy);
    EXPECT_EQ(weights(c.get(), 1, "w2"), w2);
}

namespace {

// A byte-level BPE tokenizer.json over five entries of the model's 512: "ab ab" splits (GPT-2
// regex) into "ab" and " ab", byte level "ab" and "Ġab", which merge to ids 13 and 14.
nlohmann::json small_tokenizer_json(const std::string& model_type) {
    using nlohmann::json;
    return {{"added_tokens", json::array({{{"id", 300}, {"content", "<|bos|>"}, {"special", true}, {"normalized", false}}})},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"post_processor",
             {{"type", "TemplateProcessing"},
              {"single", json::array({{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
              {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {300}}, {"tokens", {"<|bos|>"}}}}}}}},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model",
             {{"type", model_type}, {"vocab", {{"a", 10}, {"b", 11}, {"\u0120", 12}, {"ab", 13}, {"\u0120ab", 14}}},
              {"merges", json::array({json::array({"a", "b"}), json::array({"\u0120", "ab"})})}}}};
}

std::vector<int32_t> encoded(const surgeon_model* m, const char* text, int bos) {
    size_t count = 0;
    EXPECT_EQ(surgeon_model_encode(m, text, bos, nullptr, 0, &count), SURGEON_OK);
    std::vector<int32_t> ids(count);
    EXPECT_EQ(surgeon_model_encode(m, text, bos, ids.data(), count, &count), SURGEON_OK);
    return ids;
}

}  // namespace

TEST(ModelApi, HfDirectoryTokenizerJson) {
    ModelPtr m = load_model();
    TempDir dir;
    CAPI_OK(surgeon_model_save(nullptr, m.get(), dir.path.c_str(), "hf", "f32"));
    // The directory's tokenizer.json is found before the llama2.c tokenizer copied beside.
    std::ofstream(dir.path / "tokenizer.json") << small_tokenizer_json("BPE").dump();
    ModelPtr hf = load_model(dir.path.string());
    EXPECT_EQ(encoded(hf.get(), "ab ab", 1), (std::vector<int32_t>{300, 13, 14}));
    EXPECT_EQ(encoded(hf.get(), "ab ab", 0), (std::vector<int32_t>{13, 14}));
    // Paragraphs are [<|bos|>] + tokens: 2 + 1 tokens to predict.
    surgeon_perplexity p = SURGEON_PERPLEXITY_INIT;
    CAPI_OK(surgeon_model_perplexity(nullptr, hf.get(), "ab ab\n\nab", SURGEON_EVAL_PARAGRAPHS, 0, -1, 0, &p));
    EXPECT_EQ(p.sequences, 2);
    EXPECT_EQ(p.tokens, 3);

    // set_tokenizer takes a tokenizer.json too; an unimplemented model type is named.
    ModelPtr other = load_model();
    const std::string json_path = (dir.path / "tokenizer.json").string();
    CAPI_OK(surgeon_model_set_tokenizer(nullptr, other.get(), json_path.c_str()));
    EXPECT_EQ(encoded(other.get(), "ab", 1), (std::vector<int32_t>{300, 13}));
    const std::string unsupported = (dir.path / "wordpiece.json").string();
    std::ofstream(unsupported) << small_tokenizer_json("WordPiece").dump();
    EXPECT_EQ(surgeon_model_set_tokenizer(nullptr, other.get(), unsupported.c_str()), SURGEON_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(surgeon_last_error()).find("UNSUPPORTED tokenizer model type 'WordPiece'"), std::string::npos)
        << surgeon_last_error();
    EXPECT_EQ(encoded(other.get(), "ab", 1), (std::vector<int32_t>{300, 13}));  // unchanged
}
