// Status names, versions, releases of NULL, thread-local error messages, and the damping
// escalation seen through the log callback.
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

TEST(CapiCore, StatusStrings) {
    const std::pair<surgeon_status, const char*> names[] = {
        {SURGEON_OK, "SURGEON_OK"},
        {SURGEON_ERR_INVALID_ARGUMENT, "SURGEON_ERR_INVALID_ARGUMENT"},
        {SURGEON_ERR_SHAPE, "SURGEON_ERR_SHAPE"},
        {SURGEON_ERR_NUMERIC, "SURGEON_ERR_NUMERIC"},
        {SURGEON_ERR_OUT_OF_MEMORY, "SURGEON_ERR_OUT_OF_MEMORY"},
        {SURGEON_ERR_IO, "SURGEON_ERR_IO"},
        {SURGEON_ERR_UNSUPPORTED, "SURGEON_ERR_UNSUPPORTED"},
        {SURGEON_ERR_INTERNAL, "SURGEON_ERR_INTERNAL"},
        {SURGEON_ERR_BUFFER_TOO_SMALL, "SURGEON_ERR_BUFFER_TOO_SMALL"}};
    for (const auto& [status, name] : names) EXPECT_STREQ(surgeon_status_string(status), name);
    // Codes from a newer header (or garbage) still get a static, non-NULL string.
    for (int code : {9, 99, -1}) {
        const char* s = surgeon_status_string(static_cast<surgeon_status>(code));
        ASSERT_NE(s, nullptr);
        EXPECT_GT(std::strlen(s), 0u);
    }
}

TEST(CapiCore, VersionMacrosMatchRuntime) {
    EXPECT_EQ(surgeon_version_number(), SURGEON_VERSION_NUMBER);
    EXPECT_EQ(SURGEON_VERSION_NUMBER,
              SURGEON_VERSION_MAJOR * 10000 + SURGEON_VERSION_MINOR * 100 + SURGEON_VERSION_PATCH);
    char expected[32];
    std::snprintf(expected, sizeof expected, "%d.%d.%d", SURGEON_VERSION_MAJOR,
                  SURGEON_VERSION_MINOR, SURGEON_VERSION_PATCH);
    EXPECT_STREQ(surgeon_version(), expected);
}

TEST(CapiCore, EveryFreeAcceptsNull) {
    surgeon_context_free(nullptr);
    surgeon_hessian_free(nullptr);
    surgeon_quantizer_free(nullptr);
    surgeon_qresult_free(nullptr);
    surgeon_mask_free(nullptr);
    surgeon_solver_free(nullptr);
    surgeon_solver_options_free(nullptr);
    surgeon_prune_options_free(nullptr);
    surgeon_prune_result_free(nullptr);
    surgeon_generate_options_free(nullptr);
    surgeon_mixed_options_free(nullptr);
    surgeon_importance_free(nullptr);
    surgeon_model_free(nullptr);
    surgeon_prunenet_free(nullptr);
    SUCCEED();
}

TEST(CapiCore, LastErrorIsNeverNullAndEmptyOnAFreshThread) {
    std::string seen = "unset";
    std::thread([&] { seen = surgeon_last_error(); }).join();
    EXPECT_EQ(seen, "");
    // A successful call does not clear the previous message.
    EXPECT_EQ(surgeon_hessian_new(nullptr, nullptr, 3), SURGEON_ERR_INVALID_ARGUMENT);
    const std::string msg = last_error();
    EXPECT_TRUE(starts_with(msg, "surgeon_hessian_new: ")) << msg;
    auto h = random_hessian(3, 5, 1);
    EXPECT_EQ(last_error(), msg);
}

// Thread A fails first, then thread B fails differently; A's message stays its own.
TEST(CapiCore, LastErrorIsThreadLocal) {
    std::mutex mu;
    std::condition_variable cv;
    int stage = 0;
    auto wait_for = [&](int s) {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stage >= s; });
    };
    auto advance = [&](int s) {
        {
            std::lock_guard<std::mutex> lock(mu);
            stage = s;
        }
        cv.notify_all();
    };
    std::string a_before, a_after, b_message;
    std::thread a([&] {
        surgeon_quantizer* q = nullptr;
        EXPECT_EQ(surgeon_quantizer_new(&q, 1), SURGEON_ERR_INVALID_ARGUMENT);
        a_before = surgeon_last_error();
        advance(1);
        wait_for(2);
        a_after = surgeon_last_error();
    });
    std::thread b([&] {
        wait_for(1);
        surgeon_mask* m = nullptr;
        EXPECT_EQ(surgeon_mask_new(&m, -1, 2), SURGEON_ERR_SHAPE);
        b_message = surgeon_last_error();
        advance(2);
    });
    a.join();
    b.join();
    EXPECT_TRUE(starts_with(a_before, "surgeon_quantizer_new: ")) << a_before;
    EXPECT_TRUE(starts_with(b_message, "surgeon_mask_new: ")) << b_message;
    EXPECT_EQ(a_after, a_before);
}

// Indefinite with a positive diagonal: eigenvalues 1 ± 40 for each 2 × 2 block. Damping
// tries 0.01, 0.1, 1 and 10 × mean(diag) = 10 at most, which cannot lift -39.
TEST(CapiCore, IndefiniteHessianFailsAfterDampingEscalation) {
    LogRecord log;
    auto ctx = logging_context(log);
    const int64_t n = 6;
    std::vector<float> m(n * n, 0.0f);
    for (int64_t i = 0; i < n; ++i) m[i * n + i] = 1.0f;
    for (int64_t i = 0; i < n; i += 2) m[i * n + i + 1] = m[(i + 1) * n + i] = 40.0f;
    auto h = hessian_from_matrix(m, n, ctx.get());
    auto s = new_solver(h.get(), 128, ctx.get());
    ctx.reset();  // the solver keeps the context's settings alive
    double damping = -1;
    EXPECT_EQ(surgeon_solver_damping(s.get(), &damping), SURGEON_ERR_NUMERIC);
    EXPECT_EQ(damping, -1);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_solver_damping: ")) << last_error();
    EXPECT_NE(last_error().find("positive definite"), std::string::npos) << last_error();
    EXPECT_EQ(log.warnings(), 3);
    EXPECT_EQ(surgeon_solver_factorize(s.get()), SURGEON_ERR_NUMERIC);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_solver_factorize: ")) << last_error();
}

// A negative-definite matrix has a negative diagonal, which no xᵀx has: refused when the
// Hessian is built (an indefinite H with a positive diagonal reaches the solver, which
// fails its factorization: ErrorPaths.FailedFactorizationLeavesWeightsUntouched).
TEST(CapiCore, NegativeDefiniteHessianIsNumericError) {
    const int64_t n = 4;
    std::vector<float> m(n * n, 0.0f);
    for (int64_t i = 0; i < n; ++i) m[i * n + i] = -2.0f;
    surgeon_hessian* h = nullptr;
    EXPECT_EQ(surgeon_hessian_from_matrix(&h, nullptr, m.data(), n, 0, 1), SURGEON_ERR_NUMERIC);
    EXPECT_EQ(h, nullptr);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_hessian_from_matrix: ")) << last_error();
    EXPECT_NE(last_error().find("negative"), std::string::npos) << last_error();
}

// A singular Hessian with percdamp 0: the first factorization fails, one escalation to
// 1e-6 · mean(diag) succeeds, and the log says so.
TEST(CapiCore, SingularHessianIsRescuedByDamping) {
    LogRecord log;
    auto ctx = logging_context(log);
    const int64_t n = 4;
    std::vector<float> m = {1, 1, 0, 0,  //
                            1, 1, 0, 0,  //
                            0, 0, 1, 0,  //
                            0, 0, 0, 1};
    auto h = hessian_from_matrix(m, n, ctx.get());
    auto s = new_solver(h.get(), 128, ctx.get(), 0.0);
    double damping = 0;
    CAPI_OK(surgeon_solver_damping(s.get(), &damping));
    EXPECT_DOUBLE_EQ(damping, 1e-6);
    EXPECT_EQ(log.warnings(), 1);
    std::vector<float> w = {1, 2, 3, 4};
    CAPI_OK(surgeon_solver_prune(s.get(), w.data(), 1, n, 0, nullptr, nullptr));
    for (float v : w) EXPECT_TRUE(std::isfinite(v));
}

TEST(CapiCore, ContextThreads) {
    surgeon_context* ctx = nullptr;
    CAPI_OK(surgeon_context_new(&ctx));
    ContextPtr owner(ctx);
    int threads = 0;
    CAPI_OK(surgeon_context_get_threads(ctx, &threads));
    EXPECT_GE(threads, 1);
    int defaults = 0;
    CAPI_OK(surgeon_context_get_threads(nullptr, &defaults));
    EXPECT_EQ(threads, defaults);
    CAPI_OK(surgeon_context_set_threads(ctx, 2));
    CAPI_OK(surgeon_context_get_threads(ctx, &threads));
    EXPECT_EQ(threads, 2);
    CAPI_OK(surgeon_context_set_threads(ctx, 0));
    CAPI_OK(surgeon_context_get_threads(ctx, &threads));
    EXPECT_EQ(threads, defaults);
}

}  // namespace
}  // namespace capi_test
