// The issue's acceptance protocol on stories260K: calibration = non-empty TinyStories
// paragraphs [2000:2128], evaluation = paragraphs [0:1000], paragraphs mode, 512 tokens.
// Reference perplexities come from an independent implementation of the papers'
// algorithms (see the issue); ours must be within 2%, and other methods must keep the
// papers' ordering. Label "quality": a few seconds each in a normal build.
#include <gtest/gtest.h>

#include <map>

#include "io/llama2c.hpp"
#include "nn/perplexity.hpp"
#include "compress/cbq.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "io/tokenizer.hpp"
#include "llama2c_data.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

struct Protocol {
    Model model;
    std::vector<std::vector<int>> calibration, evaluation;
};

const Protocol& protocol() {
    static const Protocol p = [] {
        Protocol r;
        r.model = read_llama2c(surgeon_test::model_file());
        const Tokenizer tok = Tokenizer::load(surgeon_test::tokenizer_file(), 512);
        const std::string text = surgeon_test::read_text(surgeon_test::stories_file());
        r.calibration = paragraph_sequences(tok, text, Range{2000, 2128}, 512);
        r.evaluation = paragraph_sequences(tok, text, Range{0, 1000}, 512);
        return r;
    }();
    return p;
}

// Perplexity after compressing with one recipe default entry (memoized per spec).
double ppl(const std::string& spec) {
    static std::map<std::string, double> cache;
    auto it = cache.find(spec);
    if (it != cache.end()) return it->second;
    Model m = protocol().model;
    if (spec != "dense") {
        auto ctx = std::make_shared<Context>();
        compress_model(m, protocol().calibration,
                       Recipe::from_json({{"default", nlohmann::json::parse(spec)}}), ctx);
    }
    const double v = evaluate_sequences(cpu_backend(2), m, protocol().evaluation).ppl;
    cache[spec] = v;
    return v;
}

void expect_within_2_percent(double got, double reference, const char* what) {
    EXPECT_NEAR(got, reference, 0.02 * reference) << what << ": " << got << " vs reference " << reference;
}

}  // namespace

TEST(Quality, DenseMatchesReference) { expect_within_2_percent(ppl("dense"), 4.573, "dense"); }

TEST(Quality, Magnitude50MatchesReference) {
    expect_within_2_percent(ppl(R"({"method": "magnitude", "sparsity": 0.5})"), 42.05, "magnitude 50%");
}

TEST(Quality, SparseGpt50MatchesReference) {
    expect_within_2_percent(ppl(R"({"method": "sparsegpt", "sparsity": 0.5})"), 21.17, "SparseGPT 50%");
}

TEST(Quality, Gptq4MatchesReference) {
    expect_within_2_percent(ppl(R"({"method": "gptq", "bits": 4})"), 4.996, "GPTQ 4-bit");
}

TEST(Quality, OrderingOfOtherMethodsFollowsThePapers) {
    const double dense = ppl("dense");
    const double sgpt50 = ppl(R"({"method": "sparsegpt", "sparsity": 0.5})");
    const double wanda50 = ppl(R"({"method": "wanda", "sparsity": 0.5})");
    const double mag50 = ppl(R"({"method": "magnitude", "sparsity": 0.5})");
    EXPECT_LT(dense, sgpt50);
    EXPECT_LT(sgpt50, wanda50);
    EXPECT_LT(wanda50, mag50);
    // 2:4 is harder than 50% unstructured; SparseGPT still beats magnitude there.
    const double sgpt24 = ppl(R"({"method": "sparsegpt", "nm": "2:4"})");
    EXPECT_LT(sgpt50, sgpt24);
    EXPECT_LT(sgpt24, ppl(R"({"method": "magnitude", "nm": "2:4"})"));
    // GPTQ beats round-to-nearest at 4 and 3 bits; fewer bits cost more.
    const double gptq4 = ppl(R"({"method": "gptq", "bits": 4})");
    const double gptq3 = ppl(R"({"method": "gptq", "bits": 3})");
    EXPECT_LT(dense, gptq4);
    EXPECT_LT(gptq4, ppl(R"({"method": "rtn", "bits": 4})"));
    EXPECT_LT(gptq4, gptq3);
    EXPECT_LT(gptq3, ppl(R"({"method": "rtn", "bits": 3})"));
    // Joint 50% + 4-bit costs more than either alone.
    const double joint = ppl(R"({"method": "sparsegpt", "sparsity": 0.5, "bits": 4})");
    EXPECT_GT(joint, sgpt50);
    EXPECT_GT(joint, gptq4);
}

// Issue 5's acceptance: at 3.0 and 4.0 bits per weight (scales excluded) the error-driven
// allocator beats uniform GPTQ. Rows are priced by ¼·output Fisher × their GPTQ error;
// per-layer budgets ("scope": "layer") and one model-wide budget ("scope": "model").
// Measured (docs/mixed-precision.md): uniform 9.820 / 5.017; layer 8.956 / 4.997; model
// 8.337 / 4.951.
TEST(Quality, ErrorDrivenMixedPrecisionBeatsUniformGptq) {
    for (const char* bits : {"3", "4"}) {
        const double uniform = ppl(std::string(R"({"method": "gptq", "bits": )") + bits + "}");
        const std::string mixed = std::string(R"({"method": "gptq", "mixed": {"allocator": "error", "avg_bits": )") +
                                  bits + R"(, "error_model": "solver", "scope": ")";
        const double per_layer = ppl(mixed + R"(layer"}})");
        const double model_wide = ppl(mixed + R"(model"}})");
        EXPECT_LT(per_layer, uniform) << bits << " bits";
        EXPECT_LT(model_wide, per_layer) << bits << " bits";
        EXPECT_LT(model_wide, uniform * (bits[0] == '3' ? 0.9 : 0.995)) << bits << " bits";
    }
}

// CBQ (docs/cbq.md) against GPTQ on the same protocol, default options (seed 0): at least
// 20% lower perplexity at W2A16 g32; W4A8 within 5% of GPTQ W4A16; lower than GPTQ at
// W4A4 (each method's model evaluated with 4-bit activations).
double ppl_with_activations(const std::string& spec, int act_bits) {
    Model m = protocol().model;
    auto ctx = std::make_shared<Context>();
    const Recipe recipe = Recipe::from_json({{"default", nlohmann::json::parse(spec)}});
    if (recipe.uses(Method::cbq)) {
        CbqOptions o;
        o.act_bits = act_bits;
        compress_cbq(m, protocol().calibration, recipe, o, ctx);
    } else {
        compress_model(m, protocol().calibration, recipe, ctx);
        m.config.act_bits = act_bits;
    }
    return evaluate_sequences(cpu_backend(2), m, protocol().evaluation).ppl;
}

TEST(Quality, CbqBeatsGptqAtTwoBitsAndWithFourBitActivations) {
    const double gptq2 = ppl("{\"method\": \"gptq\", \"bits\": 2, \"group\": 32}");
    const double cbq2 = ppl_with_activations("{\"method\": \"cbq\", \"bits\": 2, \"group\": 32}", 0);
    EXPECT_LT(cbq2, 0.8 * gptq2) << cbq2 << " vs GPTQ " << gptq2;
    const double gptq4 = ppl("{\"method\": \"gptq\", \"bits\": 4}");
    const double cbq4a8 = ppl_with_activations("{\"method\": \"cbq\", \"bits\": 4}", 8);
    EXPECT_LT(cbq4a8, 1.05 * gptq4) << cbq4a8 << " vs GPTQ W4A16 " << gptq4;
    const double gptq4a4 = ppl_with_activations("{\"method\": \"gptq\", \"bits\": 4}", 4);
    const double cbq4a4 = ppl_with_activations("{\"method\": \"cbq\", \"bits\": 4}", 4);
    EXPECT_LT(cbq4a4, gptq4a4) << cbq4a4 << " vs GPTQ W4A4 " << gptq4a4;
}
