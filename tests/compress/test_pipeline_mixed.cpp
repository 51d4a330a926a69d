// Mixed precision in the whole-model pipeline: the recipe's "mixed" entry, per-layer
// targets through rules, per-row widths honoured by GPTQ / SparseGPT joint / RTN, the
// report's statistics, and the exact ("solver") error model against uniform GPTQ.
#include <gtest/gtest.h>

#include <set>

#include "io/llama2c.hpp"
#include "nn/perplexity.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "io/tokenizer.hpp"
#include "layer/quant/allocation.hpp"
#include "layer/quant/rtn.hpp"
#include "pipeline_fixture.hpp"
#include "llama2c_data.hpp"

using namespace surgeon;
using namespace surgeon::model;
using namespace pipeline_test;

namespace {

int block_of(const std::string& name) { return std::stoi(name.substr(7)); }  // "layers.<b>.x"

// Σ b_i over the rows of one layer, from its statistics.
int64_t total_bits(const MixedStats& s) {
    int64_t t = 0;
    for (int b = 1; b <= 8; ++b) t += b * s.histogram[b];
    return t;
}

// Every row of w holds at most 2^bits distinct values, and its codes (< 2^bits)
// dequantize to it.
void expect_rows_on_grid(const Matrix& w, const QuantResult& q, const std::string& what) {
    std::vector<float> deq(static_cast<size_t>(q.rows * q.cols));
    q.dequantize(deq.data(), q.cols);
    for (int64_t r = 0; r < w.rows; ++r) {
        const int bits = q.bits_of_row(r);
        std::set<float> levels(w.row(r), w.row(r) + w.cols);
        EXPECT_LE(levels.size(), size_t{1} << bits) << what << " row " << r;
        for (int64_t j = 0; j < w.cols; ++j) {
            ASSERT_LT(q.codes[r * q.cols + j], 1u << bits) << what << " row " << r;
            ASSERT_NEAR(deq[r * q.cols + j], w(r, j), 1e-5f) << what << " row " << r << " col " << j;
        }
    }
}

}  // namespace

TEST(RecipeMixed, EntryParsesMergesAndRoundTrips) {
    const Recipe r = recipe(R"({"default": {"method": "gptq", "group": 32,
            "mixed": {"allocator": "error", "avg_bits": 3.5, "options": [2, 3, 4]}},
        "rules": [{"match": "layers.[3-4].*", "mixed": {"avg_bits": 3.75}},
                  {"match": "*.wo", "mixed": {"allocator": "budget", "weights": {"hessian": 0}}},
                  {"match": "layers.0.w2", "mixed": null}]})");
    const LayerPlan p = r.plan_for("layers.1.wq");
    ASSERT_TRUE(p.is_mixed());
    EXPECT_EQ(p.mixed->allocator, Allocator::error);
    EXPECT_DOUBLE_EQ(p.mixed->avg_bits, 3.5);
    EXPECT_EQ(p.mixed->options, (std::vector<int>{2, 3, 4}));
    EXPECT_EQ(p.quant.group_size, 32);
    // A rule changes only the keys it names.
    const LayerPlan late = r.plan_for("layers.4.w1");
    EXPECT_DOUBLE_EQ(late.mixed->avg_bits, 3.75);
    EXPECT_EQ(late.mixed->options, (std::vector<int>{2, 3, 4}));
    const LayerPlan wo = r.plan_for("layers.3.wo");
    EXPECT_EQ(wo.mixed->allocator, Allocator::budget);
    EXPECT_DOUBLE_EQ(wo.mixed->avg_bits, 3.75);
    EXPECT_DOUBLE_EQ(wo.mixed->weights[ImportanceSignal::hessian], 0.0);
    EXPECT_FALSE(r.plan_for("layers.0.w2").is_mixed());
    EXPECT_TRUE(r.plan_for("layers.0.w2").quantize);  // still uniform GPTQ
    // to_json carries the entry and reads back to the same plan.
    const nlohmann::json j = wo.to_json();
    ASSERT_TRUE(j.contains("mixed"));
    LayerPlan back;
    back.apply(j);
    ASSERT_TRUE(back.is_mixed());
    EXPECT_EQ(back.mixed->allocator, Allocator::budget);
    EXPECT_DOUBLE_EQ(back.mixed->avg_bits, 3.75);
    EXPECT_EQ(back.mixed->options, (std::vector<int>{2, 3, 4}));
    // Pruning alone with "mixed" turns joint quantization on.
    const LayerPlan joint =
        recipe(R"({"default": {"method": "sparsegpt", "sparsity": 0.5, "mixed": {"avg_bits": 3}}})")
            .plan_for("layers.0.wq");
    EXPECT_TRUE(joint.quantize);
    EXPECT_TRUE(joint.is_mixed());
    EXPECT_TRUE(recipe(R"({"default": {"method": "rtn", "mixed": {}}})").plan_for("layers.0.wq").needs_calibration());
}

TEST(RecipeMixed, InvalidEntriesAreErrors) {
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": {"allocator": "greedy"}}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": {"avg_bits": 9}}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": {"options": [2, 2, 4]}}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": {"colour": 1}}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": {"error_model": "guess"}}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": {"normalize": "max"}}})"), Error);
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": 3.5}})"), Error);
    // A rule is validated against the defaults it refines.
    EXPECT_THROW(recipe(R"({"default": {"method": "gptq", "mixed": {"options": [2, 3, 4]}},
                             "rules": [{"match": "*", "mixed": {"avg_bits": 5}}]})"),
                 Error);
}

TEST(PipelineMixed, PerLayerTargetsFromRulesAreMetToOneRow) {
    Model m = original();
    const CompressionReport report = compress_model(
        m, calibration(),
        recipe(R"({"default": {"method": "gptq", "mixed": {"allocator": "error", "avg_bits": 3.5}},
                   "rules": [{"match": "layers.[3-4].*", "mixed": {"avg_bits": 4.5}},
                             {"match": "*.wo", "mixed": {"allocator": "budget"}},
                             {"match": "*.w2", "mixed": {"allocator": "quantile", "quantiles": [0.1, 0.3, 0.7, 0.9]}}]})"),
        two_threads());
    ASSERT_EQ(report.layers.size(), 35u);
    MixedStats sum;
    for (const CompressedLayer& l : report.layers) {
        ASSERT_TRUE(l.mixed.has_value()) << l.name;
        ASSERT_TRUE(l.quant.has_value()) << l.name;
        const double target = block_of(l.name) >= 3 ? 4.5 : 3.5;
        EXPECT_EQ(l.mixed->channels, l.rows);
        EXPECT_EQ(l.mixed->weights, l.rows * l.cols);
        // Histogram and the solver's per-row widths agree.
        std::array<int64_t, 9> hist{};
        for (int64_t r = 0; r < l.rows; ++r) ++hist[l.quant->bits_of_row(r)];
        EXPECT_EQ(hist, l.mixed->histogram) << l.name;
        if (l.name.find("w2") != std::string::npos) {
            // Quantile with bins 10/20/40/20/10 %: round(q·rows) rows per cut.
            const int64_t n = l.rows;
            EXPECT_EQ(l.mixed->histogram[2], std::llround(0.1 * n)) << l.name;
            EXPECT_EQ(l.mixed->histogram[8], n - std::llround(0.9 * n)) << l.name;
            EXPECT_TRUE(l.mixed->has_importance) << l.name;
        } else {
            // Budgeted allocators: Σ b_i = attainable_total (the exact target when reachable).
            EXPECT_EQ(total_bits(*l.mixed), attainable_total(l.rows, default_bit_options(), target)) << l.name;
            EXPECT_NEAR(l.mixed->avg_bits(), target, 1.0 / static_cast<double>(l.rows)) << l.name;
            EXPECT_DOUBLE_EQ(l.mixed->avg_bits(), target) << l.name;  // 3.5·rows, 4.5·rows are integers here
        }
        if (l.name.find("wo") != std::string::npos) {
            EXPECT_TRUE(l.mixed->has_importance) << l.name;
            EXPECT_LE(l.mixed->importance_min, l.mixed->importance_max);
        }
        sum.add(*l.mixed);
    }
    const nlohmann::json j = report.to_json();
    EXPECT_EQ(j["layers"][0]["mixed"]["allocator"], "error");
    EXPECT_EQ(j["layers"][3]["mixed"]["allocator"], "budget");
    EXPECT_DOUBLE_EQ(j["layers"][0]["bits"].get<double>(), 3.5);
    ASSERT_TRUE(j.contains("mixed"));
    EXPECT_EQ(j["mixed"]["channels"], sum.channels);
    EXPECT_EQ(j["mixed"]["weights"], sum.weights);
    EXPECT_DOUBLE_EQ(j["mixed"]["avg_bits"].get<double>(), sum.avg_bits());
}

TEST(PipelineMixed, ErrorDriven3BitsKeepsEveryRowOnItsGrid) {
    Model m = original();
    const CompressionReport report = compress_model(
        m, calibration(), recipe(R"({"default": {"method": "gptq", "mixed": {"allocator": "error", "avg_bits": 3.0}}})"),
        two_threads());
    int64_t spread = 0;  // rows not at 3 bits: the allocator did mix
    for (size_t i = 0; i < report.layers.size(); ++i) {
        const CompressedLayer& l = report.layers[i];
        ASSERT_TRUE(l.mixed && l.quant) << l.name;
        EXPECT_DOUBLE_EQ(l.mixed->avg_bits(), 3.0) << l.name;
        spread += l.rows - l.mixed->histogram[3];
        const Matrix& w = linear(m.layers[static_cast<size_t>(block_of(l.name))], l.name.substr(l.name.rfind('.') + 1));
        expect_rows_on_grid(w, *l.quant, l.name);
    }
    EXPECT_GT(spread, 0);
    EXPECT_DOUBLE_EQ(report.mixed_total()->avg_bits(), 3.0);
}

TEST(PipelineMixed, SparseGptJointAndRtnHonourPerRowWidths) {
    Model m = original();
    const CompressionReport report = compress_model(
        m, calibration(),
        recipe(R"({"default": {"method": "sparsegpt", "sparsity": 0.5, "group": 32,
                               "mixed": {"allocator": "error", "avg_bits": 4.0}},
                   "rules": [{"match": "*.w[123]", "method": "rtn", "sparsity": 0}]})"),
        two_threads());
    for (const CompressedLayer& l : report.layers) {
        ASSERT_TRUE(l.mixed && l.quant) << l.name;
        EXPECT_DOUBLE_EQ(l.mixed->avg_bits(), 4.0) << l.name;
        const Matrix& w = linear(m.layers[static_cast<size_t>(block_of(l.name))], l.name.substr(l.name.rfind('.') + 1));
        const bool rtn = l.plan.method == Method::rtn;
        if (!rtn) {
            EXPECT_NEAR(l.sparsity, 0.5, 0.01) << l.name;
        }
        for (int64_t r = 0; r < l.rows; ++r)
            for (int64_t c0 = 0; c0 < l.cols; c0 += 32) {  // ≤ 2^b values per row and group
                std::set<float> levels(w.row(r) + c0, w.row(r) + std::min(l.cols, c0 + 32));
                ASSERT_LE(levels.size(), size_t{1} << l.quant->bits_of_row(r)) << l.name << " row " << r;
            }
        if (!rtn) continue;
        // RTN rows are independent: each row equals uniform RTN of the original at its width.
        const Matrix& w0 = linear(original().layers[static_cast<size_t>(block_of(l.name))],
                                  l.name.substr(l.name.rfind('.') + 1));
        for (int b : {2, 3, 4, 6, 8}) {
            Matrix ref = w0;
            QuantConfig q;
            q.bits = b;
            q.group_size = 32;
            quantize_rtn(Context(), ref.view(), q, nullptr);
            for (int64_t r = 0; r < l.rows; ++r)
                if (l.quant->bits_of_row(r) == b) {
                    for (int64_t c = 0; c < l.cols; ++c) ASSERT_EQ(w(r, c), ref(r, c)) << l.name << " row " << r;
                }
        }
    }
}

TEST(PipelineMixed, SolverErrorModelNeverLosesToUniformGptq) {
    // Block 0's q/k/v see the same inputs whatever the recipe, and GPTQ rows are
    // independent: the exact per-row errors make uniform 3 bits a feasible point of the
    // knapsack, so the mixed layer's output error can only be lower (with the layer's own
    // error as the objective: a sensitivity weighting optimises another one).
    Model uniform = original(), mixed = original();
    const auto only_block0 = R"({"match": "layers.[1-4].*", "skip": true})";
    const CompressionReport u = compress_model(
        uniform, calibration(),
        recipe((std::string(R"({"default": {"method": "gptq", "bits": 3}, "rules": [)") + only_block0 + "]}").c_str()),
        two_threads());
    const CompressionReport x = compress_model(
        mixed, calibration(),
        recipe((std::string(R"({"default": {"method": "gptq", "mixed": {"avg_bits": 3, "error_model": "solver", "sensitivity": "layer"}}, "rules": [)") +
                only_block0 + "]}")
                   .c_str()),
        two_threads());
    for (size_t i = 0; i < 3; ++i) {  // wq, wk, wv
        ASSERT_EQ(u.layers[i].name, x.layers[i].name);
        EXPECT_DOUBLE_EQ(x.layers[i].mixed->avg_bits(), 3.0);
        EXPECT_LE(*x.layers[i].rel_error, *u.layers[i].rel_error * (1 + 1e-5)) << u.layers[i].name;
    }
    EXPECT_LT(*x.layers[0].rel_error, *u.layers[0].rel_error);
    EXPECT_FALSE(x.layers[7].mixed.has_value());  // skipped blocks stay dense
}

TEST(PipelineMixed, NormalizedErrorsChangeTheObjective) {
    // "uniform": each row's error relative to its own error at the target width. GPTQ's
    // error falls by a similar factor per bit in every row, so by convexity the allocator
    // keeps every row at the target: exactly uniform GPTQ.
    Model mixed = original(), uniform = original();
    compress_model(mixed, calibration(),
                   recipe(R"({"default": {"method": "gptq", "mixed": {"allocator": "error", "avg_bits": 3.0,
                              "error_model": "solver", "normalize": "uniform"}}, "rules": [{"match": "layers.[1-4].*", "skip": true}]})"),
                   two_threads());
    compress_model(uniform, calibration(),
                   recipe(R"({"default": {"method": "gptq", "bits": 3}, "rules": [{"match": "layers.[1-4].*", "skip": true}]})"),
                   two_threads());
    for (const char* name : kLinearNames) {
        const Matrix& a = linear(mixed.layers[0], name);
        const Matrix& b = linear(uniform.layers[0], name);
        for (size_t i = 0; i < a.data.size(); ++i) ASSERT_EQ(a.data[i], b.data[i]) << name << " " << i;
    }
    // "energy": relative errors per output channel; still exactly on budget.
    Model energy = original();
    const CompressionReport r = compress_model(
        energy, calibration(),
        recipe(R"({"default": {"method": "gptq", "mixed": {"allocator": "error", "avg_bits": 3.0,
                   "error_model": "solver", "normalize": "energy"}}, "rules": [{"match": "layers.[1-4].*", "skip": true}]})"),
        two_threads());
    for (size_t i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(r.layers[i].mixed->avg_bits(), 3.0) << r.layers[i].name;
}
