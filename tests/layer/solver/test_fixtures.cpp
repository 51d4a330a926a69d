// Every fixture × every reference configuration: relative reconstruction error within 1%
// of the independent reference implementation, and exact structural properties.
#include <gtest/gtest.h>

#include <set>

#include "fixture.hpp"
#include "layer/prune/baselines.hpp"
#include "layer/quant/rtn.hpp"
#include "layer/solver/metrics.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon {
namespace {

using testing::Fixture;

struct Outcome {
    Matrix w_hat;
    Mask mask;
    QuantResult codes;
    bool quantized = false;
};

QuantConfig quant_config(const nlohmann::json& o) {
    QuantConfig q;
    q.bits = o.value("bits", 4);
    q.symmetric = o.value("sym", true);
    q.group_size = o.value("groupsize", 0);
    if (q.group_size < 0) q.group_size = 0;
    q.act_order = o.value("actorder", false);
    q.static_groups = o.value("static_groups", false);
    q.mse = o.value("mse", false);
    return q;
}

Outcome run_config(Fixture& f, const std::string& method, const nlohmann::json& o) {
    Outcome out;
    out.w_hat = f.w;
    const double sparsity = o.value("sparsity", 0.0);
    const int n = o.value("prunen", 0), m = o.value("prunem", 0);
    const Context& ctx = *default_context();
    if (method == "sparsegpt") {
        Solver solver(default_context(), *f.hessian, 0.01, 128);
        PruneOptions opt;
        opt.sparsity = sparsity;
        opt.n = n;
        opt.m = m;
        QuantConfig q = quant_config(o);
        const bool quant = o.contains("bits");
        solver.prune(out.w_hat.view(), opt, quant ? &q : nullptr, &out.mask,
                     quant ? &out.codes : nullptr, nullptr);
        out.quantized = quant;
    } else if (method == "gptq") {
        Solver solver(default_context(), *f.hessian, 0.01, 128);
        QuantConfig q = quant_config(o);
        solver.quantize(out.w_hat.view(), q, &out.codes, nullptr);
        out.quantized = true;
    } else if (method == "wanda") {
        std::vector<float> norms = f.hessian->diagonal();
        for (float& v : norms) v = std::sqrt(v);
        out.mask = prune_wanda(ctx, out.w_hat.view(), norms, sparsity, n, m);
    } else if (method == "magnitude") {
        out.mask = prune_magnitude(ctx, out.w_hat.view(), sparsity, n, m);
    } else {
        ADD_FAILURE() << "unknown method " << method;
    }
    return out;
}

// At most 2^bits distinct values per row (per group when grouped).
void expect_levels(const Outcome& out, const nlohmann::json& o) {
    const int bits = o.value("bits", 4);
    const QuantResult& q = out.codes;
    for (int64_t r = 0; r < q.rows; ++r) {
        std::vector<std::set<float>> levels(static_cast<size_t>(q.groups));
        for (int64_t j = 0; j < q.cols; ++j)
            levels[q.g_idx[j]].insert(out.w_hat(r, j));
        for (const auto& s : levels) ASSERT_LE(s.size(), size_t{1} << bits) << "row " << r;
    }
    FloatBuffer deq(out.w_hat.data.size());
    q.dequantize(deq.data(), q.cols);
    for (size_t i = 0; i < deq.size(); ++i) ASSERT_EQ(deq[i], out.w_hat.data[i]) << "element " << i;
}

class FixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureTest, MatchesReferenceForEveryConfiguration) {
    Fixture f = testing::load_fixture(GetParam());
    for (const auto& [config, spec] : f.reference["configs"].items()) {
        SCOPED_TRACE(config);
        const std::string method = spec["method"];
        const nlohmann::json& o = spec["options"];
        Outcome out = run_config(f, method, o);
        const double err = relative_reconstruction_error(cpu_backend(2), f.h, f.w.view(),
                                                         out.w_hat.view());
        const double ref = spec["rel_recon_error"];
        std::printf("  %-24s %-34s ours %.6g  reference %.6g  ratio %.4f\n", f.name.c_str(),
                    config.c_str(), err, ref, err / ref);
        EXPECT_LE(err, 1.01 * ref);

        const int n = o.value("prunen", 0), m = o.value("prunem", 0);
        if (method != "gptq") {
            if (n > 0) {
                EXPECT_TRUE(out.mask.check_nm(n, m));
            } else {
                const int64_t total = out.mask.rows * out.mask.cols;
                const double s = o.value("sparsity", 0.0);
                // SparseGPT selects per 128-column block; each block rounds on its own.
                const int64_t blocks = method == "sparsegpt" ? (f.w.cols + 127) / 128 : 1;
                EXPECT_NEAR(static_cast<double>(out.mask.pruned()), s * total, 0.5 * blocks + 1e-9);
            }
            // Every pruned weight is exactly zero.
            for (size_t i = 0; i < out.mask.keep.size(); ++i)
                if (!out.mask.keep[i]) { ASSERT_EQ(out.w_hat.data[i], 0.0f); }
        }
        if (out.quantized) expect_levels(out, o);
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest, ::testing::ValuesIn(testing::kFixtureNames));

}  // namespace
}  // namespace surgeon
