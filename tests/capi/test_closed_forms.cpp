// Closed forms through the C API. With H = I the inverse Hessian factor is a multiple of
// the identity, so no error propagates between columns: SparseGPT reduces to magnitude
// pruning within each block and GPTQ to round-to-nearest.
#include <algorithm>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

TEST(CapiClosedForm, SparseGptWithIdentityHessianIsBlockwiseMagnitude) {
    const int64_t rows = 40, cols = 320, block = 128;  // the last block is 64 columns
    auto h = identity_hessian(cols);
    auto solver = new_solver(h.get(), block);
    const auto w0 = random_matrix(rows, cols, 1);
    auto w = w0;
    MaskPtr mask;
    CAPI_OK(solver_prune(solver.get(), w.data(), rows, cols, 0, prune_options(0.5).get(), &mask));
    // Magnitude pruning of each column block in place, through a leading dimension.
    auto expected = w0;
    auto expected_mask = std::vector<uint8_t>(static_cast<size_t>(rows * cols));
    for (int64_t c0 = 0; c0 < cols; c0 += block) {
        const int64_t width = std::min(block, cols - c0);
        auto block_mask = new_mask();
        CAPI_OK(surgeon_prune_magnitude(nullptr, expected.data() + c0, rows, width, cols,
                                        prune_options(0.5).get(), block_mask.get()));
        const auto bytes = mask_bytes(block_mask.get());
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < width; ++c)
                expected_mask[r * cols + c0 + c] = bytes[r * width + c];
    }
    EXPECT_TRUE(same_bytes(w, expected));
    EXPECT_EQ(mask_bytes(mask.get()), expected_mask);
    double sparsity = 0;
    CAPI_OK(surgeon_mask_sparsity(mask.get(), &sparsity));
    EXPECT_DOUBLE_EQ(sparsity, 0.5);
}

TEST(CapiClosedForm, GptqWithIdentityHessianIsRoundToNearest) {
    const int64_t rows = 24, cols = 192;
    auto h = identity_hessian(cols);
    auto solver = new_solver(h.get(), 64);
    for (int64_t group : {0, 32, 50})
        for (bool symmetric : {true, false})
            for (int bits : {2, 3, 4, 8}) {
                auto q = new_quantizer(bits, group, symmetric);
                auto w = random_matrix(rows, cols, 2), rtn = w;
                auto qr_gptq = new_qresult(), qr_rtn = new_qresult();
                CAPI_OK(surgeon_solver_quantize(solver.get(), w.data(), rows, cols, 0, q.get(),
                                                qr_gptq.get(), nullptr));
                CAPI_OK(surgeon_quantize_rtn(nullptr, rtn.data(), rows, cols, 0, q.get(),
                                             qr_rtn.get()));
                EXPECT_TRUE(same_bytes(w, rtn))
                    << "group " << group << " symmetric " << symmetric << " bits " << bits;
                std::vector<uint8_t> a(rows * cols), b(rows * cols);
                CAPI_OK(surgeon_qresult_codes(qr_gptq.get(), a.data()));
                CAPI_OK(surgeon_qresult_codes(qr_rtn.get(), b.data()));
                EXPECT_EQ(a, b);
            }
}

TEST(CapiClosedForm, PruneWithZeroSparsityAndQuantizerIsGptq) {
    const int64_t rows = 20, cols = 160;
    auto h = random_hessian(cols, 700, 3);
    auto solver = new_solver(h.get(), 128);
    for (int64_t group : {0, 16}) {
        auto q = new_quantizer(4, group);
        auto a = random_matrix(rows, cols, 4), b = a;
        QResultPtr qa;
        auto qb = new_qresult();
        double la = -1, lb = -2;
        auto opts = prune_options(0.0, 0, 0, SURGEON_MASK_SCOPE_BLOCK, q.get());
        CAPI_OK(solver_prune(solver.get(), a.data(), rows, cols, 0, opts.get(), nullptr, &qa, &la));
        CAPI_OK(surgeon_solver_quantize(solver.get(), b.data(), rows, cols, 0, q.get(), qb.get(),
                                        &lb));
        EXPECT_TRUE(same_bytes(a, b)) << "group " << group;
        EXPECT_EQ(la, lb);
        EXPECT_GT(la, 0.0);
        std::vector<uint8_t> ca(rows * cols), cb(rows * cols);
        CAPI_OK(surgeon_qresult_codes(qa.get(), ca.data()));
        CAPI_OK(surgeon_qresult_codes(qb.get(), cb.data()));
        EXPECT_EQ(ca, cb);
    }
}

// The OBS update is what makes SparseGPT / GPTQ better than their baselines on a
// correlated Hessian: the error metric must show it.
TEST(CapiClosedForm, SolverBeatsBaselinesOnCorrelatedInputs) {
    const int64_t rows = 32, cols = 128;
    auto h = random_hessian(cols, 600, 5);
    auto solver = new_solver(h.get(), 128);
    const auto w0 = random_matrix(rows, cols, 6);
    auto sgpt = w0, mag = w0, gptq = w0, rtn = w0;
    CAPI_OK(surgeon_solver_prune(solver.get(), sgpt.data(), rows, cols, 0, nullptr, nullptr));
    CAPI_OK(surgeon_prune_magnitude(nullptr, mag.data(), rows, cols, 0, nullptr, nullptr));
    auto q = new_quantizer(3);
    CAPI_OK(surgeon_solver_quantize(solver.get(), gptq.data(), rows, cols, 0, q.get(), nullptr,
                                    nullptr));
    CAPI_OK(surgeon_quantize_rtn(nullptr, rtn.data(), rows, cols, 0, q.get(), nullptr));
    double e_sgpt, e_mag, e_gptq, e_rtn, e_self;
    CAPI_OK(surgeon_reconstruction_error(h.get(), w0.data(), sgpt.data(), rows, cols, 0, &e_sgpt));
    CAPI_OK(surgeon_reconstruction_error(h.get(), w0.data(), mag.data(), rows, cols, 0, &e_mag));
    CAPI_OK(surgeon_reconstruction_error(h.get(), w0.data(), gptq.data(), rows, cols, 0, &e_gptq));
    CAPI_OK(surgeon_reconstruction_error(h.get(), w0.data(), rtn.data(), rows, cols, 0, &e_rtn));
    CAPI_OK(surgeon_reconstruction_error(h.get(), w0.data(), w0.data(), rows, cols, 0, &e_self));
    EXPECT_EQ(e_self, 0.0);
    EXPECT_LT(e_sgpt, e_mag);
    EXPECT_LT(e_gptq, e_rtn);
}

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) against a direct double-precision evaluation.
TEST(CapiClosedForm, ReconstructionErrorMatchesDefinition) {
    const int64_t rows = 7, cols = 33, ld = 40;
    auto h = random_hessian(cols, 200, 7);
    std::vector<float> hm(cols * cols);
    CAPI_OK(surgeon_hessian_copy(h.get(), hm.data(), 0));
    auto w = random_matrix(rows, ld, 8), w_hat = random_matrix(rows, ld, 9);
    auto quad = [&](auto value) {
        double total = 0;
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t i = 0; i < cols; ++i)
                for (int64_t j = 0; j < cols; ++j)
                    total += value(r, i) * static_cast<double>(hm[i * cols + j]) * value(r, j);
        return total;
    };
    const double expected =
        quad([&](int64_t r, int64_t c) { return double(w[r * ld + c]) - w_hat[r * ld + c]; }) /
        quad([&](int64_t r, int64_t c) { return double(w[r * ld + c]); });
    double got = 0;
    CAPI_OK(surgeon_reconstruction_error(h.get(), w.data(), w_hat.data(), rows, cols, ld, &got));
    EXPECT_NEAR(got, expected, 1e-5 * expected);
}

}  // namespace
}  // namespace capi_test
