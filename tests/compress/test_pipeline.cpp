// The whole-model pipeline: recipes, and the true-sequential protocol checked against a
// by-hand replay with the layer API (each group's Hessian comes from inputs produced by
// the already-compressed blocks and, inside a block, by the already-compressed groups).
#include <gtest/gtest.h>

#include "layer/hessian/hessian.hpp"
#include "nn/forward.hpp"
#include "io/llama2c.hpp"
#include "nn/perplexity.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "io/tokenizer.hpp"
#include "layer/prune/mask.hpp"
#include "layer/solver/solver.hpp"
#include "pipeline_fixture.hpp"
#include "llama2c_data.hpp"

using namespace surgeon;
using namespace surgeon::model;
using namespace pipeline_test;

namespace {

void expect_same(const Matrix& a, const Matrix& b, const std::string& what) {
    ASSERT_EQ(a.rows, b.rows) << what;
    ASSERT_EQ(a.cols, b.cols) << what;
    for (size_t i = 0; i < a.data.size(); ++i) ASSERT_NEAR(a.data[i], b.data[i], 1e-6f) << what << " at " << i;
}

// GPTQ 4-bit of `w` with a Hessian of `inputs` (what the pipeline should have done).
Matrix gptq_by_hand(const Matrix& w, const std::vector<Matrix>& inputs) {
    auto ctx = two_threads();
    Hessian h(ctx, inputs.front().cols);
    for (const Matrix& x : inputs) h.add(x.data.data(), x.rows, x.cols);
    Solver solver(ctx, h, 0.01, 128);
    QuantConfig q;
    q.bits = 4;
    Matrix out = w;
    solver.quantize(out.view(), q, nullptr, nullptr);
    return out;
}

}  // namespace

TEST(Recipe, RulesApplyInOrderOverTheDefaults) {
    const Recipe r = recipe(R"({"default": {"method": "sparsegpt", "sparsity": 0.5},
        "rules": [{"match": "layers.0.*", "skip": true},
                  {"match": "*.w2", "method": "gptq", "bits": 3, "group": 32},
                  {"match": "layers.1.w2", "bits": 8}]})");
    EXPECT_EQ(r.plan_for("layers.0.wq").method, Method::dense);
    EXPECT_EQ(r.plan_for("layers.0.w2").method, Method::dense);  // a skip holds
    EXPECT_EQ(r.plan_for("layers.3.w2").method, Method::gptq);   // a later rule wins
    const LayerPlan p = r.plan_for("layers.3.wq");
    EXPECT_EQ(p.method, Method::sparsegpt);
    EXPECT_DOUBLE_EQ(p.sparsity, 0.5);
    EXPECT_FALSE(p.quantize);
    const LayerPlan w2 = r.plan_for("layers.2.w2");
    EXPECT_TRUE(w2.quantize);
    EXPECT_EQ(w2.quant.bits, 3);
    EXPECT_EQ(w2.quant.group_size, 32);
    EXPECT_EQ(r.plan_for("layers.1.w2").quant.bits, 8);
}

TEST(Recipe, InvalidEntriesAreErrors) {
    EXPECT_THROW(recipe(R"({"default": {"method": "obs"}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "bits": 9}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"colour": 1}})"), Error);
    EXPECT_THROW(recipe(R"({"rules": [{"method": "gptq"}]})"), Error);  // no "match"
    EXPECT_THROW(recipe(R"({"default": {"nm": "24"}})"), Error);
}

TEST(Pipeline, SkippedLayersStayDenseAndSparsityIsExact) {
    Model m = original();
    const CompressionReport report = compress_model(
        m, calibration(),
        recipe(R"({"default": {"method": "sparsegpt", "nm": "2:4"},
                   "rules": [{"match": "layers.0.*", "skip": true}, {"match": "*.wo", "method": "magnitude", "sparsity": 0.25}]})"),
        two_threads());
    ASSERT_EQ(report.layers.size(), 7u * 5);
    for (const char* name : kLinearNames) expect_same(linear(m.layers[0], name), linear(original().layers[0], name), name);
    for (size_t b = 1; b < m.layers.size(); ++b)
        for (const char* name : kLinearNames) {
            const Mask mask = mask_of_nonzeros(linear(m.layers[b], name).view());
            if (std::string(name) == "wo")
                EXPECT_NEAR(mask.sparsity(), 0.25, 1e-9) << b << name;
            else
                EXPECT_TRUE(mask.check_nm(2, 4)) << b << name;
        }
    const nlohmann::json j = report.to_json();
    EXPECT_EQ(j["layers"].size(), 35u);
    EXPECT_EQ(j["layers"][0]["method"], "dense");
    EXPECT_EQ(j["calibration_sequences"], 16);
    EXPECT_TRUE(j["layers"][7]["rel_error"].is_number());
}

TEST(Pipeline, TrueSequentialMatchesAByHandReplay) {
    Model m = original();
    compress_model(m, calibration(), recipe(R"({"default": {"method": "gptq", "bits": 4}})"), two_threads());

    std::vector<Matrix> states;
    for (const auto& seq : calibration()) states.push_back(embed(original(), seq));
    for (size_t b = 0; b < 2; ++b) {
        const LayerWeights& orig = original().layers[b];
        const LayerWeights& done = m.layers[b];
        // q, k, v: inputs from the compressed blocks before b.
        std::vector<Matrix> attn_in, down_in;
        for (const Matrix& x : states) {
            BlockCapture c;
            block_forward(cpu_backend(2), original().config, orig, x, &c);
            attn_in.push_back(c.attn_in);
        }
        expect_same(done.wq, gptq_by_hand(orig.wq, attn_in), "wq of block " + std::to_string(b));
        expect_same(done.wv, gptq_by_hand(orig.wv, attn_in), "wv of block " + std::to_string(b));
        // w2: its inputs were recomputed after every other linear of the block was compressed.
        LayerWeights partial = done;
        partial.w2 = orig.w2;
        for (const Matrix& x : states) {
            BlockCapture c;
            block_forward(cpu_backend(2), original().config, partial, x, &c);
            down_in.push_back(c.down_in);
        }
        expect_same(done.w2, gptq_by_hand(orig.w2, down_in), "w2 of block " + std::to_string(b));
        for (Matrix& x : states) x = block_forward(cpu_backend(2), original().config, done, x, nullptr);
    }
}

TEST(Pipeline, CalibrationIsRequiredOnlyByCalibratedMethods) {
    Model m = original();
    EXPECT_THROW(compress_model(m, {}, recipe(R"({"default": {"method": "wanda", "sparsity": 0.5}})"), two_threads()),
                 Error);
    const CompressionReport r =
        compress_model(m, {}, recipe(R"({"default": {"method": "rtn", "bits": 8}})"), two_threads());
    EXPECT_EQ(r.layers.size(), 35u);
    ASSERT_TRUE(r.layers[0].quant.has_value());
    EXPECT_EQ(r.layers[0].quant->bits, 8);
}
