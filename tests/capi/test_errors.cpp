// Error paths of the C API: the right status, a message that starts with the failing
// function's name, and every caller buffer and out-parameter exactly as it was.
#include <limits>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class ErrorPaths : public ::testing::Test {
protected:
    static constexpr int64_t kRows = 16, kCols = 64;

    void SetUp() override {
        h_ = random_hessian(kCols, 400, 1);
        solver_ = new_solver(h_.get(), 32);
        q_ = new_quantizer(4);
        w_ = random_matrix(kRows, kCols, 2);
        // Outputs that already hold something, so "untouched" is a real check.
        const std::vector<uint8_t> pattern = {1, 0, 0, 1, 1, 0};
        surgeon_mask* m = nullptr;
        CAPI_OK(surgeon_mask_from_bytes(&m, pattern.data(), 2, 3));
        mask_.reset(m);
        qr_ = new_qresult();
        auto other = random_matrix(3, 5, 3);
        CAPI_OK(surgeon_quantize_rtn(nullptr, other.data(), 3, 5, 0, q_.get(), qr_.get()));
        result_ = new_prune_result();
        auto pruned = random_matrix(kRows, kCols, 9);
        auto opts = prune_options(0.25, 0, 0, SURGEON_MASK_SCOPE_BLOCK, q_.get());
        CAPI_OK(surgeon_solver_prune(solver_.get(), pruned.data(), kRows, kCols, 0, opts.get(),
                                     result_.get()));
    }

    struct Snapshot {
        std::vector<float> w;
        std::vector<uint8_t> mask;
        int64_t q_rows = 0, q_cols = 0, q_groups = 0;
        std::vector<uint8_t> codes;
        double loss = 0;
        int64_t samples = 0;
        double result_loss = 0;
        std::vector<uint8_t> result_mask, result_codes;
    };

    Snapshot snapshot() const {
        Snapshot s;
        s.w = w_;
        s.mask = mask_bytes(mask_.get());
        surgeon_qresult_shape(qr_.get(), &s.q_rows, &s.q_cols, &s.q_groups, nullptr);
        s.codes.resize(static_cast<size_t>(s.q_rows * s.q_cols));
        surgeon_qresult_codes(qr_.get(), s.codes.data());
        s.loss = loss_;
        surgeon_hessian_samples(h_.get(), &s.samples);
        surgeon_prune_result_loss(result_.get(), &s.result_loss);
        surgeon_mask* m = nullptr;
        surgeon_prune_result_mask(result_.get(), &m);
        MaskPtr mask(m);
        s.result_mask = mask_bytes(mask.get());
        surgeon_qresult* q = nullptr;
        surgeon_prune_result_qresult(result_.get(), &q);
        QResultPtr codes(q);
        s.result_codes.resize(static_cast<size_t>(kRows * kCols));
        surgeon_qresult_codes(codes.get(), s.result_codes.data());
        return s;
    }

    // `status` is the expected code of a call already made; the snapshot taken before
    // it must still hold.
    void expect_failed(surgeon_status got, surgeon_status expected, const char* function,
                       const Snapshot& before, const std::string& what = "") {
        EXPECT_EQ(got, expected) << function << " " << what << ": " << last_error();
        EXPECT_TRUE(starts_with(last_error(), std::string(function) + ": ")) << last_error();
        const Snapshot after = snapshot();
        EXPECT_TRUE(same_bytes(after.w, before.w)) << function << " changed the weight " << what;
        EXPECT_EQ(after.mask, before.mask) << function << " changed the mask " << what;
        EXPECT_EQ(after.q_rows, before.q_rows);
        EXPECT_EQ(after.q_cols, before.q_cols);
        EXPECT_EQ(after.codes, before.codes) << function << " changed the codes " << what;
        EXPECT_EQ(after.loss, before.loss) << function << " wrote the loss " << what;
        EXPECT_EQ(after.samples, before.samples);
        EXPECT_EQ(after.result_loss, before.result_loss) << function << " changed the result " << what;
        EXPECT_EQ(after.result_mask, before.result_mask) << function << " changed the result " << what;
        EXPECT_EQ(after.result_codes, before.result_codes) << function << " changed the result " << what;
    }

    surgeon_status prune(double sparsity, int n = 0, int m = 0,
                         surgeon_mask_scope scope = SURGEON_MASK_SCOPE_BLOCK, int64_t cols = kCols,
                         int64_t ld = 0, int64_t rows = kRows) {
        auto opts = prune_options(sparsity, n, m, scope, q_.get());
        return surgeon_solver_prune(solver_.get(), w_.data(), rows, cols, ld, opts.get(), result_.get());
    }
    surgeon_status quantize(int64_t cols = kCols, int64_t ld = 0, int64_t rows = kRows) {
        return surgeon_solver_quantize(solver_.get(), w_.data(), rows, cols, ld, q_.get(),
                                       qr_.get(), &loss_);
    }
    surgeon_status magnitude(double sparsity, int n = 0, int m = 0) {
        return surgeon_prune_magnitude(nullptr, w_.data(), kRows, kCols, 0,
                                       prune_options(sparsity, n, m).get(), mask_.get());
    }
    surgeon_status wanda(double sparsity, int n = 0, int m = 0, int64_t cols = kCols) {
        return surgeon_prune_wanda(nullptr, w_.data(), kRows, cols, 0, h_.get(),
                                   prune_options(sparsity, n, m).get(), mask_.get());
    }
    surgeon_status rtn() {
        return surgeon_quantize_rtn(nullptr, w_.data(), kRows, kCols, 0, q_.get(), qr_.get());
    }

    HessianPtr h_;
    SolverPtr solver_;
    QuantizerPtr q_;
    MaskPtr mask_;
    QResultPtr qr_;
    PruneResultPtr result_;
    std::vector<float> w_;
    double loss_ = 12345.0;
};

TEST_F(ErrorPaths, NonFiniteWeights) {
    for (float bad : {kNaN, kInf, -kInf}) {
        w_[5 * kCols + 7] = bad;
        const Snapshot before = snapshot();
        expect_failed(prune(0.5), SURGEON_ERR_NUMERIC, "surgeon_solver_prune", before);
        expect_failed(prune(0.0, 2, 4), SURGEON_ERR_NUMERIC, "surgeon_solver_prune", before);
        expect_failed(quantize(), SURGEON_ERR_NUMERIC, "surgeon_solver_quantize", before);
        expect_failed(magnitude(0.5), SURGEON_ERR_NUMERIC, "surgeon_prune_magnitude", before);
        expect_failed(wanda(0.5), SURGEON_ERR_NUMERIC, "surgeon_prune_wanda", before);
        expect_failed(rtn(), SURGEON_ERR_NUMERIC, "surgeon_quantize_rtn", before);
        EXPECT_NE(last_error().find("row 5, column 7"), std::string::npos) << last_error();
    }
}

TEST_F(ErrorPaths, NonFiniteActivationsLeaveTheAccumulatorUnchanged) {
    int64_t samples = 0;
    CAPI_OK(surgeon_hessian_samples(h_.get(), &samples));
    std::vector<float> before(static_cast<size_t>(kCols * kCols)), after(before.size());
    CAPI_OK(surgeon_hessian_copy(h_.get(), before.data(), 0));
    auto x = random_matrix(50, kCols, 4);
    x[49 * kCols + 63] = kNaN;
    EXPECT_EQ(surgeon_hessian_add_f32(h_.get(), x.data(), 50, kCols, 0), SURGEON_ERR_NUMERIC);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_hessian_add_f32: ")) << last_error();
    x[49 * kCols + 63] = -kInf;
    EXPECT_EQ(surgeon_hessian_add_f32(h_.get(), x.data(), 50, kCols, 0), SURGEON_ERR_NUMERIC);
    int64_t samples_after = -1;
    CAPI_OK(surgeon_hessian_samples(h_.get(), &samples_after));
    EXPECT_EQ(samples_after, samples);
    CAPI_OK(surgeon_hessian_copy(h_.get(), after.data(), 0));
    EXPECT_TRUE(same_bytes(after, before));
}

TEST_F(ErrorPaths, ShapeMismatch) {
    const Snapshot before = snapshot();
    expect_failed(prune(0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, kCols - 1), SURGEON_ERR_SHAPE,
                  "surgeon_solver_prune", before, "cols - 1");
    expect_failed(prune(0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, kCols, kCols - 1), SURGEON_ERR_SHAPE,
                  "surgeon_solver_prune", before, "ld < cols");
    expect_failed(prune(0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, kCols, 0, 0), SURGEON_ERR_SHAPE,
                  "surgeon_solver_prune", before, "no rows");
    expect_failed(prune(0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, kCols, 0, -3), SURGEON_ERR_SHAPE,
                  "surgeon_solver_prune", before, "negative rows");
    expect_failed(quantize(kCols + 1, kCols + 1, kRows - 1), SURGEON_ERR_SHAPE,
                  "surgeon_solver_quantize", before);
    expect_failed(wanda(0.5, 0, 0, kCols - 8), SURGEON_ERR_SHAPE, "surgeon_prune_wanda", before);
    expect_failed(surgeon_mask_apply(mask_.get(), w_.data(), kRows, kCols, 0), SURGEON_ERR_SHAPE,
                  "surgeon_mask_apply", before);
    auto x = random_matrix(4, kCols, 5);
    expect_failed(surgeon_hessian_add_f32(h_.get(), x.data(), 4, kCols - 1, 0), SURGEON_ERR_SHAPE,
                  "surgeon_hessian_add_f32", before);
    auto small = random_hessian(8, 20, 6);
    expect_failed(surgeon_hessian_merge(h_.get(), small.get()), SURGEON_ERR_SHAPE,
                  "surgeon_hessian_merge", before);
    double err = -1;
    expect_failed(surgeon_reconstruction_error(h_.get(), w_.data(), w_.data(), kRows, kCols - 2, 0,
                                               &err),
                  SURGEON_ERR_SHAPE, "surgeon_reconstruction_error", before);
    EXPECT_EQ(err, -1);
    surgeon_mask* untouched = mask_.get();
    EXPECT_EQ(surgeon_mask_new(&untouched, -1, 4), SURGEON_ERR_SHAPE);
    EXPECT_EQ(untouched, mask_.get());
}

// Invalid option values are refused by the setters, which leave the options as they were.
TEST_F(ErrorPaths, SparsityOutOfRange) {
    auto opts = prune_options(0.25);
    for (double s : {1.0, -0.1, 1.5, static_cast<double>(kNaN), static_cast<double>(kInf)}) {
        EXPECT_EQ(surgeon_prune_options_set_sparsity(opts.get(), s), SURGEON_ERR_INVALID_ARGUMENT) << s;
        EXPECT_TRUE(starts_with(last_error(), "surgeon_prune_options_set_sparsity: ")) << last_error();
        double got = -1;
        CAPI_OK(surgeon_prune_options_get_sparsity(opts.get(), &got));
        EXPECT_EQ(got, 0.25);
    }
}

TEST_F(ErrorPaths, InvalidNM) {
    const Snapshot before = snapshot();
    auto opts = prune_options(0.5, 2, 4);
    const int bad[][2] = {{2, 2}, {4, 2}, {0, 4}, {4, 0}, {-1, 4}, {2, 257}, {300, 256}};
    for (const auto& nm : bad) {
        const std::string what = std::to_string(nm[0]) + ":" + std::to_string(nm[1]);
        EXPECT_EQ(surgeon_prune_options_set_nm(opts.get(), nm[0], nm[1]), SURGEON_ERR_INVALID_ARGUMENT)
            << what;
        EXPECT_TRUE(starts_with(last_error(), "surgeon_prune_options_set_nm: ")) << last_error();
        int n = 0, m = 0;
        CAPI_OK(surgeon_prune_options_get_nm(opts.get(), &n, &m));
        EXPECT_EQ(n, 2);
        EXPECT_EQ(m, 4);
        int ok = 7;
        EXPECT_EQ(surgeon_mask_check_nm(mask_.get(), nm[0], nm[1], &ok),
                  SURGEON_ERR_INVALID_ARGUMENT) << what;
        EXPECT_EQ(ok, 7);
    }
    // A valid n:m whose groups would straddle the solver's 32-column blocks.
    expect_failed(prune(0.5, 2, 3), SURGEON_ERR_INVALID_ARGUMENT, "surgeon_solver_prune", before);
    EXPECT_EQ(surgeon_prune_options_set_mask_scope(opts.get(), static_cast<surgeon_mask_scope>(7)),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_prune_options_set_mask_scope: ")) << last_error();
    // The baselines do not quantize: options with a quantizer are refused.
    auto joint = prune_options(0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, q_.get());
    expect_failed(surgeon_prune_magnitude(nullptr, w_.data(), kRows, kCols, 0, joint.get(), mask_.get()),
                  SURGEON_ERR_INVALID_ARGUMENT, "surgeon_prune_magnitude", before);
    expect_failed(surgeon_prune_wanda(nullptr, w_.data(), kRows, kCols, 0, h_.get(), joint.get(), mask_.get()),
                  SURGEON_ERR_INVALID_ARGUMENT, "surgeon_prune_wanda", before);
}

TEST_F(ErrorPaths, BitsOutOfRange) {
    for (int bits : {1, 9, 0, -4, 16}) {
        surgeon_quantizer* untouched = q_.get();
        EXPECT_EQ(surgeon_quantizer_new(&untouched, bits), SURGEON_ERR_INVALID_ARGUMENT) << bits;
        EXPECT_TRUE(starts_with(last_error(), "surgeon_quantizer_new: ")) << last_error();
        EXPECT_EQ(untouched, q_.get());
        EXPECT_EQ(surgeon_quantizer_set_bits(q_.get(), bits), SURGEON_ERR_INVALID_ARGUMENT);
        EXPECT_TRUE(starts_with(last_error(), "surgeon_quantizer_set_bits: ")) << last_error();
        int got = 0;
        CAPI_OK(surgeon_quantizer_get_bits(q_.get(), &got));
        EXPECT_EQ(got, 4);
    }
    EXPECT_EQ(surgeon_quantizer_set_group_size(q_.get(), -1), SURGEON_ERR_INVALID_ARGUMENT);
    int64_t group = -9;
    CAPI_OK(surgeon_quantizer_get_group_size(q_.get(), &group));
    EXPECT_EQ(group, 0);
    EXPECT_EQ(surgeon_quantizer_set_mse(q_.get(), 1, -2.4f, 100, 0.8f), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_quantizer_set_mse(q_.get(), 1, 2.4f, 0, 0.8f), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_quantizer_set_mse(q_.get(), 1, 2.4f, 100, 1.5f), SURGEON_ERR_INVALID_ARGUMENT);
    // Every bit width of the valid range works end to end.
    for (int bits = 2; bits <= 8; ++bits) {
        CAPI_OK(surgeon_quantizer_set_bits(q_.get(), bits));
        auto w = random_matrix(kRows, kCols, 7);
        CAPI_OK(surgeon_solver_quantize(solver_.get(), w.data(), kRows, kCols, 0, q_.get(),
                                        nullptr, nullptr));
    }
}

TEST_F(ErrorPaths, BadSolverAndAccumulatorSettings) {
    surgeon_solver* s = solver_.get();
    auto opts = solver_options(64, 0.02);
    EXPECT_EQ(surgeon_solver_options_set_damping(opts.get(), -0.01), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_solver_options_set_damping(opts.get(), static_cast<double>(kNaN)),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_solver_options_set_damping(opts.get(), static_cast<double>(kInf)),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_solver_options_set_damping: ")) << last_error();
    EXPECT_EQ(surgeon_solver_options_set_block_size(opts.get(), 0), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_solver_options_set_block_size(opts.get(), -128), SURGEON_ERR_INVALID_ARGUMENT);
    double damping = 0;
    int64_t block = 0;
    CAPI_OK(surgeon_solver_options_get_damping(opts.get(), &damping));
    CAPI_OK(surgeon_solver_options_get_block_size(opts.get(), &block));
    EXPECT_EQ(damping, 0.02);
    EXPECT_EQ(block, 64);
    surgeon_hessian* empty = nullptr;
    CAPI_OK(surgeon_hessian_new(&empty, nullptr, kCols));
    HessianPtr empty_owner(empty);
    EXPECT_EQ(surgeon_solver_new(&s, nullptr, empty, nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_solver_new: ")) << last_error();
    EXPECT_EQ(s, solver_.get());

    surgeon_hessian* h = h_.get();
    EXPECT_EQ(surgeon_hessian_new(&h, nullptr, 0), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_hessian_new(&h, nullptr, -5), SURGEON_ERR_INVALID_ARGUMENT);
    // Wider than any accumulator (2^20 columns, a 4 TiB matrix): refused before allocating.
    for (int64_t cols : {(int64_t{1} << 20) + 1, int64_t{1} << 31, INT64_MAX}) {
        EXPECT_EQ(surgeon_hessian_new(&h, nullptr, cols), SURGEON_ERR_INVALID_ARGUMENT) << cols;
        EXPECT_NE(last_error().find("cols must be in [1, 1048576]"), std::string::npos) << last_error();
    }
    EXPECT_EQ(h, h_.get());

    surgeon_context* ctx = nullptr;
    CAPI_OK(surgeon_context_new(&ctx));
    ContextPtr ctx_owner(ctx);
    CAPI_OK(surgeon_context_set_threads(ctx, 3));
    EXPECT_EQ(surgeon_context_set_threads(ctx, -1), SURGEON_ERR_INVALID_ARGUMENT);
    int threads = 0;
    CAPI_OK(surgeon_context_get_threads(ctx, &threads));
    EXPECT_EQ(threads, 3);
}

TEST_F(ErrorPaths, NullPointers) {
    const Snapshot before = snapshot();
    const auto invalid = SURGEON_ERR_INVALID_ARGUMENT;
    float* w = w_.data();
    surgeon_solver* s = solver_.get();
    surgeon_hessian* h = h_.get();
    expect_failed(surgeon_solver_prune(nullptr, w, kRows, kCols, 0, nullptr, result_.get()),
                  invalid, "surgeon_solver_prune", before, "solver");
    expect_failed(surgeon_solver_prune(s, nullptr, kRows, kCols, 0, nullptr, result_.get()),
                  invalid, "surgeon_solver_prune", before, "w");
    expect_failed(surgeon_solver_quantize(s, w, kRows, kCols, 0, nullptr, nullptr, nullptr), invalid,
                  "surgeon_solver_quantize", before, "quantizer");
    expect_failed(surgeon_solver_quantize(s, nullptr, kRows, kCols, 0, q_.get(), nullptr, nullptr),
                  invalid, "surgeon_solver_quantize", before, "w");
    expect_failed(surgeon_quantize_rtn(nullptr, w, kRows, kCols, 0, nullptr, nullptr), invalid,
                  "surgeon_quantize_rtn", before);
    expect_failed(surgeon_prune_wanda(nullptr, w, kRows, kCols, 0, nullptr, nullptr, nullptr),
                  invalid, "surgeon_prune_wanda", before);
    expect_failed(surgeon_prune_magnitude(nullptr, nullptr, kRows, kCols, 0, nullptr, nullptr),
                  invalid, "surgeon_prune_magnitude", before);
    expect_failed(surgeon_hessian_add_f32(h, nullptr, 3, kCols, 0), invalid,
                  "surgeon_hessian_add_f32", before);
    expect_failed(surgeon_hessian_add_f16(nullptr, nullptr, 3, kCols, 0), invalid,
                  "surgeon_hessian_add_f16", before);
    expect_failed(surgeon_mask_apply(nullptr, w, kRows, kCols, 0), invalid, "surgeon_mask_apply",
                  before);
    expect_failed(surgeon_mask_apply(mask_.get(), nullptr, 2, 3, 0), invalid, "surgeon_mask_apply",
                  before);

    // Out-parameters and handles of every other family.
    EXPECT_EQ(surgeon_context_new(nullptr), invalid);
    EXPECT_EQ(surgeon_context_set_threads(nullptr, 2), invalid);
    EXPECT_EQ(surgeon_context_get_threads(nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_context_set_progress(nullptr, nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_context_set_log(nullptr, nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_hessian_new(nullptr, nullptr, 4), invalid);
    EXPECT_EQ(surgeon_hessian_from_matrix(&h, nullptr, nullptr, 4, 0, 1), invalid);
    EXPECT_EQ(surgeon_hessian_cols(nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_hessian_cols(h, nullptr), invalid);
    EXPECT_EQ(surgeon_hessian_samples(h, nullptr), invalid);
    EXPECT_EQ(surgeon_hessian_copy(h, nullptr, 0), invalid);
    EXPECT_EQ(surgeon_hessian_stats(nullptr, nullptr, nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_hessian_save(nullptr, "x"), invalid);
    EXPECT_EQ(surgeon_solver_new(nullptr, nullptr, h, nullptr), invalid);
    EXPECT_EQ(surgeon_solver_new(&s, nullptr, nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_solver_options_new(nullptr), invalid);
    EXPECT_EQ(surgeon_solver_options_set_damping(nullptr, 0.01), invalid);
    EXPECT_EQ(surgeon_solver_options_get_block_size(nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_prune_options_new(nullptr), invalid);
    EXPECT_EQ(surgeon_prune_options_set_sparsity(nullptr, 0.5), invalid);
    EXPECT_EQ(surgeon_prune_options_set_quantizer(nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_prune_options_get_nm(nullptr, nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_prune_result_new(nullptr), invalid);
    EXPECT_EQ(surgeon_prune_result_loss(result_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_prune_result_mask(result_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_prune_result_qresult(nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_solver_factorize(nullptr), invalid);
    EXPECT_EQ(surgeon_solver_damping(s, nullptr), invalid);
    EXPECT_EQ(surgeon_quantizer_new(nullptr, 4), invalid);
    EXPECT_EQ(surgeon_quantizer_set_bits(nullptr, 4), invalid);
    EXPECT_EQ(surgeon_quantizer_set_symmetric(nullptr, 1), invalid);
    EXPECT_EQ(surgeon_quantizer_set_group_size(nullptr, 0), invalid);
    EXPECT_EQ(surgeon_quantizer_set_mse(nullptr, 0, 2.4f, 100, 0.8f), invalid);
    EXPECT_EQ(surgeon_quantizer_set_act_order(nullptr, 1), invalid);
    EXPECT_EQ(surgeon_quantizer_set_static_groups(nullptr, 1), invalid);
    EXPECT_EQ(surgeon_quantizer_get_bits(q_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_quantizer_get_group_size(nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_new(nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_shape(nullptr, nullptr, nullptr, nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_codes(qr_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_scales(qr_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_zeros(qr_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_g_idx(qr_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_perm(qr_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_qresult_dequantize(qr_.get(), nullptr, 0), invalid);
    EXPECT_EQ(surgeon_mask_new(nullptr, 1, 1), invalid);
    EXPECT_EQ(surgeon_mask_from_bytes(nullptr, nullptr, 1, 1), invalid);
    surgeon_mask* m = mask_.get();
    EXPECT_EQ(surgeon_mask_from_bytes(&m, nullptr, 1, 1), invalid);
    EXPECT_EQ(m, mask_.get());
    EXPECT_EQ(surgeon_mask_shape(nullptr, nullptr, nullptr), invalid);
    EXPECT_EQ(surgeon_mask_sparsity(mask_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_mask_check_nm(mask_.get(), 2, 4, nullptr), invalid);
    EXPECT_EQ(surgeon_mask_to_bytes(mask_.get(), nullptr), invalid);
    EXPECT_EQ(surgeon_mask_to_bits(nullptr, nullptr), invalid);
    double out = 5;
    EXPECT_EQ(surgeon_reconstruction_error(h, w, nullptr, kRows, kCols, 0, &out), invalid);
    EXPECT_EQ(surgeon_reconstruction_error(h, w, w, kRows, kCols, 0, nullptr), invalid);
    EXPECT_EQ(out, 5);
    EXPECT_TRUE(same_bytes(w_, before.w));
}

// Pruning must leave the weight untouched when the Hessian cannot be factorized.
TEST_F(ErrorPaths, FailedFactorizationLeavesWeightsUntouched) {
    std::vector<float> m = {1.0f, 30.0f, 30.0f, 1.0f};  // eigenvalues 31 and -29
    auto h = hessian_from_matrix(m, 2);
    auto s = new_solver(h.get());
    std::vector<float> w = {0.5f, -1.0f, 2.0f, 0.25f}, before = w;
    double loss = 3.0;
    const Snapshot outputs = snapshot();
    EXPECT_EQ(surgeon_solver_prune(s.get(), w.data(), 2, 2, 0, nullptr, result_.get()), SURGEON_ERR_NUMERIC);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_solver_prune: ")) << last_error();
    EXPECT_TRUE(same_bytes(w, before));
    const Snapshot after = snapshot();
    EXPECT_EQ(after.result_loss, outputs.result_loss);
    EXPECT_EQ(after.result_mask, outputs.result_mask);
    EXPECT_EQ(surgeon_solver_quantize(s.get(), w.data(), 2, 2, 0, q_.get(), qr_.get(), &loss),
              SURGEON_ERR_NUMERIC);
    EXPECT_TRUE(same_bytes(w, before));
}

}  // namespace
}  // namespace capi_test
