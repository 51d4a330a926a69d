// The library leaves its host's BLAS alone: this program links the system's shared
// OpenBLAS (as a host application would), sets its thread count to 3, and checks after
// every C API call — quantization on contexts of 1 and 2 threads, the same from two
// threads at once, perplexity — that the count is still 3 and the host's BLAS still
// computes. The library's own OpenBLAS is a private copy with hidden symbols
// (docs/architecture.md, "Threads and the backend seam").
#include <cblas.h>

#include <thread>
#include <vector>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

constexpr int kHostThreads = 3;

// A 2 × 2 product through the host's BLAS, checked by hand.
void expect_host_blas_works() {
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float c[4] = {0, 0, 0, 0};
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    EXPECT_EQ(c[0], 19.0f);
    EXPECT_EQ(c[1], 22.0f);
    EXPECT_EQ(c[2], 43.0f);
    EXPECT_EQ(c[3], 50.0f);
}

#define EXPECT_HOST_THREADS(after) \
    EXPECT_EQ(openblas_get_num_threads(), kHostThreads) << "after " << (after)

ContextPtr context_with_threads(int threads) {
    surgeon_context* ctx = nullptr;
    EXPECT_EQ(surgeon_context_new(&ctx), SURGEON_OK) << surgeon_last_error();
    EXPECT_EQ(surgeon_context_set_threads(ctx, threads), SURGEON_OK) << surgeon_last_error();
    return ContextPtr(ctx);
}

// GPTQ (4 bits, groups of 32) of a 96 × 128 layer on `ctx`: a fresh solver each time, so
// the factorization runs too. Returns the status.
surgeon_status quantize_once(const surgeon_context* ctx, unsigned seed) {
    const int64_t rows = 96, cols = 128, samples = 256;
    const std::vector<float> x = random_matrix(samples, cols, seed);
    std::vector<float> w = random_matrix(rows, cols, seed + 1);
    surgeon_hessian* h = nullptr;
    surgeon_status s = surgeon_hessian_new(&h, ctx, cols);
    if (s != SURGEON_OK) return s;
    HessianPtr h_owner(h);
    if ((s = surgeon_hessian_add_f32(h, x.data(), samples, cols, 0)) != SURGEON_OK) return s;
    surgeon_solver* solver = nullptr;
    if ((s = surgeon_solver_new(&solver, ctx, h, nullptr)) != SURGEON_OK) return s;
    SolverPtr solver_owner(solver);
    surgeon_quantizer* q = nullptr;
    if ((s = surgeon_quantizer_new(&q, 4)) != SURGEON_OK) return s;
    QuantizerPtr q_owner(q);
    if ((s = surgeon_quantizer_set_group_size(q, 32)) != SURGEON_OK) return s;
    double loss = 0.0;
    return surgeon_solver_quantize(solver, w.data(), rows, cols, 0, q, nullptr, &loss);
}

class HostOpenBlas : public ::testing::Test {
protected:
    void SetUp() override {
        openblas_set_num_threads(kHostThreads);
        ASSERT_EQ(openblas_get_num_threads(), kHostThreads);
    }
};

TEST_F(HostOpenBlas, QuantizeOnOneAndTwoThreadsLeavesTheHostCount) {
    const ContextPtr one = context_with_threads(1), two = context_with_threads(2);
    EXPECT_HOST_THREADS("surgeon_context_set_threads");
    for (int round = 0; round < 3; ++round) {
        EXPECT_EQ(quantize_once(one.get(), 10 + round), SURGEON_OK) << surgeon_last_error();
        EXPECT_HOST_THREADS("quantize on 1 thread");
        EXPECT_EQ(quantize_once(two.get(), 20 + round), SURGEON_OK) << surgeon_last_error();
        EXPECT_HOST_THREADS("quantize on 2 threads");
        EXPECT_EQ(quantize_once(nullptr, 30 + round), SURGEON_OK) << surgeon_last_error();
        EXPECT_HOST_THREADS("quantize on the default context");
    }
    expect_host_blas_works();
}

// Two threads quantizing at once on contexts of 1 and 2 threads, many times: a library
// that saved, set and restored the process-wide count would interleave and leave 1 or 2.
TEST_F(HostOpenBlas, ConcurrentQuantizeLeavesTheHostCount) {
    const ContextPtr one = context_with_threads(1), two = context_with_threads(2);
    for (int trial = 0; trial < 10; ++trial) {
        surgeon_status a = SURGEON_ERR_INTERNAL, b = SURGEON_ERR_INTERNAL;
        std::thread first([&] { a = quantize_once(one.get(), 100 + trial); });
        std::thread second([&] { b = quantize_once(two.get(), 200 + trial); });
        first.join();
        second.join();
        EXPECT_EQ(a, SURGEON_OK);
        EXPECT_EQ(b, SURGEON_OK);
        EXPECT_HOST_THREADS("concurrent quantize, trial " + std::to_string(trial));
    }
    expect_host_blas_works();
}

TEST_F(HostOpenBlas, PerplexityLeavesTheHostCount) {
    const ContextPtr two = context_with_threads(2);
    const std::string path = std::string(SURGEON_SAMPLES_DATA_DIR) + "/stories260K.bin";
    surgeon_model* m = nullptr;
    ASSERT_EQ(surgeon_model_load(&m, two.get(), path.c_str()), SURGEON_OK) << surgeon_last_error();
    ModelPtr model(m);
    EXPECT_HOST_THREADS("surgeon_model_load");
    std::vector<int32_t> tokens(200);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 37 + 11) % 512);
    for (const surgeon_context* ctx : {static_cast<const surgeon_context*>(two.get()),
                                       static_cast<const surgeon_context*>(nullptr)}) {
        surgeon_perplexity result = SURGEON_PERPLEXITY_INIT;
        ASSERT_EQ(surgeon_model_perplexity_tokens(ctx, model.get(), tokens.data(),
                                                  static_cast<int64_t>(tokens.size()), 64, &result),
                  SURGEON_OK)
            << surgeon_last_error();
        EXPECT_GT(result.ppl, 1.0);
        EXPECT_HOST_THREADS("surgeon_model_perplexity_tokens");
    }
    expect_host_blas_works();
}

}  // namespace
}  // namespace capi_test
