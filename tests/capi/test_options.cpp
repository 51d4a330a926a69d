// Options objects (defaults, setters, refused values leaving the object and the caller's
// buffers as they were, copies taken by the calls) and the ownership of what a
// surgeon_prune_result hands out.
#include <limits>
#include <thread>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<uint8_t> codes_of(const surgeon_qresult* r) {
    int64_t rows = 0, cols = 0;
    EXPECT_EQ(surgeon_qresult_shape(r, &rows, &cols, nullptr, nullptr), SURGEON_OK);
    std::vector<uint8_t> c(static_cast<size_t>(rows * cols));
    EXPECT_EQ(surgeon_qresult_codes(r, c.data()), SURGEON_OK);
    return c;
}

TEST(CapiOptions, SolverOptionsDefaultsAndCopy) {
    surgeon_solver_options* raw = nullptr;
    CAPI_OK(surgeon_solver_options_new(&raw));
    SolverOptionsPtr o(raw);
    double damping = -1;
    int64_t block = -1;
    CAPI_OK(surgeon_solver_options_get_damping(o.get(), &damping));
    CAPI_OK(surgeon_solver_options_get_block_size(o.get(), &block));
    EXPECT_EQ(damping, 0.01);
    EXPECT_EQ(block, 128);

    // NULL options and default options build the same solver (same damping, same result).
    auto h = random_hessian(48, 300, 1);
    surgeon_solver *a = nullptr, *b = nullptr;
    CAPI_OK(surgeon_solver_new(&a, nullptr, h.get(), nullptr));
    CAPI_OK(surgeon_solver_new(&b, nullptr, h.get(), o.get()));
    SolverPtr sa(a), sb(b);
    double da = 0, db = 0;
    CAPI_OK(surgeon_solver_damping(a, &da));
    CAPI_OK(surgeon_solver_damping(b, &db));
    EXPECT_EQ(da, db);

    // The solver copied its options: changing or freeing them afterwards changes nothing.
    CAPI_OK(surgeon_solver_options_set_damping(o.get(), 0.5));
    CAPI_OK(surgeon_solver_options_set_block_size(o.get(), 16));
    surgeon_solver* c = nullptr;
    CAPI_OK(surgeon_solver_new(&c, nullptr, h.get(), o.get()));
    SolverPtr sc(c);
    o.reset();
    double dc = 0;
    CAPI_OK(surgeon_solver_damping(c, &dc));
    EXPECT_NEAR(dc, 50.0 * da, 1e-9 * dc);  // percdamp · mean(diag H), 50 times larger
    CAPI_OK(surgeon_solver_damping(b, &db));
    EXPECT_EQ(db, da);
    // Block size 16: 2:4 fits, 3:6 groups would straddle the blocks of 16.
    auto w = random_matrix(4, 48, 2), before = w;
    EXPECT_EQ(surgeon_solver_prune(c, w.data(), 4, 48, 0, prune_options(0.0, 3, 6).get(), nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(same_bytes(w, before));
    CAPI_OK(surgeon_solver_prune(c, w.data(), 4, 48, 0, prune_options(0.0, 2, 4).get(), nullptr));
}

TEST(CapiOptions, GenerateOptionsDefaultsSettersAndRefusedValues) {
    surgeon_generate_options* raw = nullptr;
    CAPI_OK(surgeon_generate_options_new(&raw));
    GenerateOptionsPtr o(raw);
    int64_t steps = -1;
    double temperature = -1;
    uint64_t seed = 0;
    const auto read = [&] {
        CAPI_OK(surgeon_generate_options_get_steps(o.get(), &steps));
        CAPI_OK(surgeon_generate_options_get_temperature(o.get(), &temperature));
        CAPI_OK(surgeon_generate_options_get_seed(o.get(), &seed));
    };
    read();
    EXPECT_EQ(steps, 256);  // the defaults of `surgeon generate`
    EXPECT_EQ(temperature, 0.0);
    EXPECT_EQ(seed, 42u);

    CAPI_OK(surgeon_generate_options_set_steps(o.get(), 1));
    CAPI_OK(surgeon_generate_options_set_temperature(o.get(), 0.7));
    CAPI_OK(surgeon_generate_options_set_seed(o.get(), std::numeric_limits<uint64_t>::max()));
    read();
    EXPECT_EQ(steps, 1);
    EXPECT_EQ(temperature, 0.7);
    EXPECT_EQ(seed, std::numeric_limits<uint64_t>::max());

    // Refused values leave the object as it was.
    EXPECT_EQ(surgeon_generate_options_set_steps(o.get(), 0), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_set_steps(o.get(), -5), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_set_temperature(o.get(), -0.1), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_set_temperature(o.get(), kNaN), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_set_temperature(o.get(), std::numeric_limits<double>::infinity()),
              SURGEON_ERR_INVALID_ARGUMENT);
    read();
    EXPECT_EQ(steps, 1);
    EXPECT_EQ(temperature, 0.7);
    EXPECT_EQ(seed, std::numeric_limits<uint64_t>::max());

    // NULL handles and outputs.
    EXPECT_EQ(surgeon_generate_options_new(nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_set_steps(nullptr, 4), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_set_seed(nullptr, 4), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_get_steps(o.get(), nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_generate_options_get_temperature(nullptr, &temperature), SURGEON_ERR_INVALID_ARGUMENT);
}

TEST(CapiOptions, PruneOptionsDefaultsAndRefusedValues) {
    surgeon_prune_options* raw = nullptr;
    CAPI_OK(surgeon_prune_options_new(&raw));
    PruneOptionsPtr o(raw);
    double sparsity = -1;
    int n = -1, m = -1;
    CAPI_OK(surgeon_prune_options_get_sparsity(o.get(), &sparsity));
    CAPI_OK(surgeon_prune_options_get_nm(o.get(), &n, &m));
    EXPECT_EQ(sparsity, 0.5);
    EXPECT_EQ(n, 0);
    EXPECT_EQ(m, 0);

    CAPI_OK(surgeon_prune_options_set_sparsity(o.get(), 0.0));
    CAPI_OK(surgeon_prune_options_set_sparsity(o.get(), 0.75));
    for (double bad : {1.0, -1e-9, kNaN}) {
        EXPECT_EQ(surgeon_prune_options_set_sparsity(o.get(), bad), SURGEON_ERR_INVALID_ARGUMENT);
        CAPI_OK(surgeon_prune_options_get_sparsity(o.get(), &sparsity));
        EXPECT_EQ(sparsity, 0.75);
    }
    CAPI_OK(surgeon_prune_options_set_nm(o.get(), 4, 8));
    CAPI_OK(surgeon_prune_options_set_nm(o.get(), 1, 256));
    EXPECT_EQ(surgeon_prune_options_set_nm(o.get(), 3, 3), SURGEON_ERR_INVALID_ARGUMENT);
    CAPI_OK(surgeon_prune_options_get_nm(o.get(), &n, &m));
    EXPECT_EQ(n, 1);
    EXPECT_EQ(m, 256);
    CAPI_OK(surgeon_prune_options_set_nm(o.get(), 0, 0));  // back to unstructured
    CAPI_OK(surgeon_prune_options_set_mask_scope(o.get(), SURGEON_MASK_SCOPE_ROW));

    // Row scope at 75 %: every row of every 128-column block loses exactly 96 weights.
    const int64_t rows = 6, cols = 256;
    auto h = random_hessian(cols, 600, 3);
    auto s = new_solver(h.get());
    auto w = random_matrix(rows, cols, 4);
    CAPI_OK(surgeon_solver_prune(s.get(), w.data(), rows, cols, 0, o.get(), nullptr));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c0 = 0; c0 < cols; c0 += 128) {
            int zeros = 0;
            for (int64_t c = c0; c < c0 + 128; ++c) zeros += w[r * cols + c] == 0.0f;
            EXPECT_EQ(zeros, 96) << "row " << r << " block " << c0;
        }
}

// The options copy the quantizer (its per-row widths included): changing the quantizer
// afterwards does not change what the options do; NULL removes it.
TEST(CapiOptions, PruneOptionsCopyTheQuantizer) {
    const int64_t rows = 8, cols = 64;
    auto h = random_hessian(cols, 400, 5);
    auto s = new_solver(h.get(), 64);
    auto q = new_quantizer(4);
    auto opts = prune_options(0.25, 0, 0, SURGEON_MASK_SCOPE_BLOCK, q.get());
    const auto w0 = random_matrix(rows, cols, 6);
    auto w1 = w0, w2 = w0, w3 = w0;
    QResultPtr first, second, none;
    CAPI_OK(solver_prune(s.get(), w1.data(), rows, cols, 0, opts.get(), nullptr, &first));
    CAPI_OK(surgeon_quantizer_set_bits(q.get(), 2));
    const std::vector<int32_t> widths(rows, 3);
    CAPI_OK(surgeon_quantizer_set_row_bits(q.get(), widths.data(), rows));
    CAPI_OK(solver_prune(s.get(), w2.data(), rows, cols, 0, opts.get(), nullptr, &second));
    EXPECT_TRUE(same_bytes(w1, w2));
    EXPECT_EQ(codes_of(first.get()), codes_of(second.get()));
    int bits = 0;
    CAPI_OK(surgeon_qresult_shape(second.get(), nullptr, nullptr, nullptr, &bits));
    EXPECT_EQ(bits, 4);

    // Setting the changed quantizer takes its per-row widths: at most 2³ levels per row.
    CAPI_OK(surgeon_prune_options_set_quantizer(opts.get(), q.get()));
    QResultPtr mixed;
    auto w4 = w0;
    CAPI_OK(solver_prune(s.get(), w4.data(), rows, cols, 0, opts.get(), nullptr, &mixed));
    std::vector<int32_t> row_bits(rows);
    CAPI_OK(surgeon_qresult_row_bits(mixed.get(), row_bits.data()));
    EXPECT_EQ(row_bits, widths);
    for (uint8_t c : codes_of(mixed.get())) EXPECT_LT(c, 8);

    CAPI_OK(surgeon_prune_options_set_quantizer(opts.get(), nullptr));
    CAPI_OK(solver_prune(s.get(), w3.data(), rows, cols, 0, opts.get(), nullptr, &none));
    EXPECT_EQ(none, nullptr);  // no quantizer, no codes
}

TEST(CapiOptions, MixedOptionsDefaults) {
    surgeon_mixed_options* raw = nullptr;
    CAPI_OK(surgeon_mixed_options_new(&raw));
    std::unique_ptr<surgeon_mixed_options, Deleter<surgeon_mixed_options, surgeon_mixed_options_free>> o(raw);
    double avg = 0;
    CAPI_OK(surgeon_mixed_options_get_average(o.get(), &avg));
    EXPECT_EQ(avg, 3.0);
    // Defaults {2, 3, 4} at 3 bits: 7 rows can average exactly 3.
    double attained = 0;
    CAPI_OK(surgeon_attainable_average(7, o.get(), &attained));
    EXPECT_DOUBLE_EQ(attained, 3.0);
    CAPI_OK(surgeon_attainable_average(7, nullptr, &attained));
    EXPECT_DOUBLE_EQ(attained, 3.0);
    // {4, 8} at 5 bits over 3 rows: 4+4+4 = 12 ≤ 15 < 16: the attainable average is 4.
    const int32_t wide[] = {8, 4};
    CAPI_OK(surgeon_mixed_options_set_bits(o.get(), wide, 2));
    CAPI_OK(surgeon_mixed_options_set_average(o.get(), 5.0));
    CAPI_OK(surgeon_attainable_average(3, o.get(), &attained));
    EXPECT_DOUBLE_EQ(attained, 4.0);
    EXPECT_EQ(surgeon_attainable_average(0, o.get(), &attained), SURGEON_ERR_SHAPE);
    EXPECT_DOUBLE_EQ(attained, 4.0);
}

TEST(CapiPruneResult, EmptyFilledAndOverwritten) {
    auto result = new_prune_result();
    double loss = -1;
    CAPI_OK(surgeon_prune_result_loss(result.get(), &loss));
    EXPECT_EQ(loss, 0.0);
    surgeon_mask* m = nullptr;
    CAPI_OK(surgeon_prune_result_mask(result.get(), &m));
    MaskPtr empty(m);
    int64_t rows = -1, cols = -1;
    CAPI_OK(surgeon_mask_shape(empty.get(), &rows, &cols));
    EXPECT_EQ(rows, 0);
    EXPECT_EQ(cols, 0);
    surgeon_qresult* q = reinterpret_cast<surgeon_qresult*>(0x1);
    CAPI_OK(surgeon_prune_result_qresult(result.get(), &q));
    EXPECT_EQ(q, nullptr);

    const int64_t r = 6, c = 32;
    auto h = random_hessian(c, 200, 7);
    auto s = new_solver(h.get(), 32);
    auto quantizer = new_quantizer(3);
    auto w = random_matrix(r, c, 8);
    CAPI_OK(surgeon_solver_prune(s.get(), w.data(), r, c, 0,
                                 prune_options(0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, quantizer.get()).get(),
                                 result.get()));
    CAPI_OK(surgeon_prune_result_loss(result.get(), &loss));
    EXPECT_GT(loss, 0.0);

    // Each call hands out a new, independent copy that outlives the result.
    surgeon_mask *m1 = nullptr, *m2 = nullptr;
    surgeon_qresult *q1 = nullptr, *q2 = nullptr;
    CAPI_OK(surgeon_prune_result_mask(result.get(), &m1));
    CAPI_OK(surgeon_prune_result_mask(result.get(), &m2));
    CAPI_OK(surgeon_prune_result_qresult(result.get(), &q1));
    CAPI_OK(surgeon_prune_result_qresult(result.get(), &q2));
    MaskPtr mask1(m1), mask2(m2);
    QResultPtr qr1(q1), qr2(q2);
    EXPECT_NE(m1, m2);
    EXPECT_NE(q1, q2);
    ASSERT_NE(q1, nullptr);
    const auto keep = mask_bytes(m1);
    EXPECT_EQ(keep, mask_bytes(m2));
    for (size_t i = 0; i < keep.size(); ++i) EXPECT_EQ(keep[i] == 0, w[i] == 0.0f) << i;
    // The dequantized codes are the pruned weight where the mask keeps.
    std::vector<float> dq(static_cast<size_t>(r * c));
    CAPI_OK(surgeon_qresult_dequantize(q1, dq.data(), 0));
    for (size_t i = 0; i < keep.size(); ++i)
        if (keep[i]) EXPECT_NEAR(dq[i], w[i], 1e-6f * (1.0f + std::fabs(w[i]))) << i;
    result.reset();
    EXPECT_EQ(mask_bytes(m1), keep);
    EXPECT_EQ(codes_of(q2), codes_of(q1));

    // A second prune without a quantizer overwrites everything: no codes any more.
    auto again = new_prune_result();
    auto w2 = random_matrix(r, c, 9);
    CAPI_OK(surgeon_solver_prune(s.get(), w2.data(), r, c, 0,
                                 prune_options(0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, quantizer.get()).get(),
                                 again.get()));
    CAPI_OK(surgeon_solver_prune(s.get(), w2.data(), r, c, 0, prune_options(0.25).get(), again.get()));
    CAPI_OK(surgeon_prune_result_qresult(again.get(), &q));
    EXPECT_EQ(q, nullptr);
}

// Distinct results filled concurrently from one solver.
TEST(CapiPruneResult, ConcurrentCallsOnOneSolver) {
    const int64_t r = 16, c = 128;
    auto h = random_hessian(c, 500, 10);
    auto s = new_solver(h.get());
    auto opts = prune_options(0.5);
    const auto w0 = random_matrix(r, c, 11);
    std::vector<float> reference = w0;
    auto expected = new_prune_result();
    CAPI_OK(surgeon_solver_prune(s.get(), reference.data(), r, c, 0, opts.get(), expected.get()));
    double expected_loss = 0;
    CAPI_OK(surgeon_prune_result_loss(expected.get(), &expected_loss));

    std::vector<std::vector<float>> ws(4, w0);
    std::vector<PruneResultPtr> results;
    for (int t = 0; t < 4; ++t) results.push_back(new_prune_result());
    std::vector<std::thread> threads;
    std::vector<surgeon_status> status(4, SURGEON_ERR_INTERNAL);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            status[t] = surgeon_solver_prune(s.get(), ws[t].data(), r, c, 0, opts.get(), results[t].get());
        });
    for (auto& t : threads) t.join();
    for (int t = 0; t < 4; ++t) {
        EXPECT_EQ(status[t], SURGEON_OK);
        EXPECT_TRUE(same_bytes(ws[t], reference)) << t;
        double loss = 0;
        CAPI_OK(surgeon_prune_result_loss(results[t].get(), &loss));
        EXPECT_EQ(loss, expected_loss) << t;
    }
}

}  // namespace
}  // namespace capi_test
