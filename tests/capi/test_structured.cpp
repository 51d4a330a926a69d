// The structured-pruning C API through the shared library: values against closed forms,
// and failing calls that leave every output untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "capi_helpers.hpp"

namespace {

constexpr int64_t kDim = 8, kHidden = 20;

struct Ffn {
    std::vector<float> gate = capi_test::random_matrix(kHidden, kDim, 1);
    std::vector<float> up = capi_test::random_matrix(kHidden, kDim, 2);
    std::vector<float> down = capi_test::random_matrix(kDim, kHidden, 3);
};

TEST(StructuredCapi, KsDistanceAndSingularValues) {
    const float a[] = {1, 3}, b[] = {2, 4};
    double d = -1;
    ASSERT_EQ(surgeon_ks_distance(a, 2, b, 2, &d), SURGEON_OK);
    EXPECT_DOUBLE_EQ(d, 0.5);
    const float m[] = {3, 0, 0, -4, 0, 0};  // 3 x 2, singular values 4, 3
    float s[2] = {-1, -1};
    ASSERT_EQ(surgeon_singular_values(m, 3, 2, 0, s), SURGEON_OK);
    EXPECT_NEAR(s[0], 4.0f, 1e-5f);
    EXPECT_NEAR(s[1], 3.0f, 1e-5f);
    const float pruned[] = {3, 0};  // keeps the first row: spectrum {3} vs {3, 4}
    ASSERT_EQ(surgeon_spectral_distance(m, 3, 2, pruned, 1, 2, &d), SURGEON_OK);
    EXPECT_DOUBLE_EQ(d, 0.5);

    d = 7;
    EXPECT_EQ(surgeon_ks_distance(a, 0, b, 2, &d), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(d, 7);
    EXPECT_EQ(surgeon_ks_distance(nullptr, 2, b, 2, &d), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(surgeon_last_error()).find("surgeon_ks_distance"), std::string::npos);
    EXPECT_EQ(surgeon_singular_values(m, 3, 2, 1, s), SURGEON_ERR_INVALID_ARGUMENT);  // ld < cols
    EXPECT_EQ(s[0], s[0]);
}

TEST(StructuredCapi, ScoreSelectSlice) {
    Ffn f;
    std::vector<float> scores(kHidden, -1);
    ASSERT_EQ(surgeon_ffn_scores(SURGEON_FFN_L2, f.gate.data(), f.up.data(), nullptr, kHidden, kDim, 0, scores.data()),
              SURGEON_OK);
    double sq = 0;
    for (int64_t c = 0; c < kDim; ++c) sq += f.gate[c] * f.gate[c] + f.up[c] * f.up[c];
    EXPECT_NEAR(scores[0], std::sqrt(sq), 1e-5);
    size_t count = 0;
    ASSERT_EQ(surgeon_ffn_select(scores.data(), kHidden, 0.25, nullptr, 0, &count), SURGEON_OK);
    ASSERT_EQ(count, 15u);
    std::vector<int64_t> keep(count, -1);
    ASSERT_EQ(surgeon_ffn_select(scores.data(), kHidden, 0.25, keep.data(), keep.size(), &count), SURGEON_OK);
    for (size_t i = 1; i < count; ++i) EXPECT_LT(keep[i - 1], keep[i]);
    // The kept neurons are the 15 highest scores.
    std::vector<float> sorted = scores;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t k : keep) EXPECT_GE(scores[k], sorted[kHidden - 15]);

    // Bad selections leave the matrices untouched.
    Ffn sliced;
    const int64_t bad[] = {3, 2};
    EXPECT_EQ(surgeon_ffn_slice(sliced.gate.data(), sliced.up.data(), sliced.down.data(), kHidden, kDim, bad, 2),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(sliced.gate, f.gate);
    EXPECT_EQ(sliced.down, f.down);
    const int64_t kc = static_cast<int64_t>(count);
    ASSERT_EQ(surgeon_ffn_slice(sliced.gate.data(), sliced.up.data(), sliced.down.data(), kHidden, kDim, keep.data(),
                                kc),
              SURGEON_OK);
    for (int64_t i = 0; i < kc; ++i)
        for (int64_t c = 0; c < kDim; ++c) {
            ASSERT_EQ(sliced.gate[i * kDim + c], f.gate[keep[i] * kDim + c]);
            ASSERT_EQ(sliced.up[i * kDim + c], f.up[keep[i] * kDim + c]);
        }
    for (int64_t r = 0; r < kDim; ++r)
        for (int64_t i = 0; i < kc; ++i) ASSERT_EQ(sliced.down[r * kc + i], f.down[r * kHidden + keep[i]]);

    // Buffer convention: too small is refused with the size, the buffer untouched.
    std::vector<int64_t> small(14, -1);
    count = 0;
    EXPECT_EQ(surgeon_ffn_select(scores.data(), kHidden, 0.25, small.data(), small.size(), &count),
              SURGEON_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(count, 15u);
    EXPECT_EQ(small, std::vector<int64_t>(14, -1));
    const std::vector<int64_t> keep0 = keep;
    EXPECT_EQ(surgeon_ffn_select(scores.data(), kHidden, 1.0, keep.data(), keep.size(), &count),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(keep, keep0);
    EXPECT_EQ(count, 15u);
    EXPECT_EQ(surgeon_ffn_scores(SURGEON_FFN_PRUNENET, f.gate.data(), f.up.data(), nullptr, kHidden, kDim, 0,
                                 scores.data()),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_ffn_scores(static_cast<surgeon_ffn_method>(9), f.gate.data(), f.up.data(), nullptr, kHidden, kDim,
                                 0, scores.data()),
              SURGEON_ERR_INVALID_ARGUMENT);
}

TEST(StructuredCapi, PrunenetTrainSaveLoadSelect) {
    Ffn a, b;
    b.gate = capi_test::random_matrix(kHidden, kDim, 7);
    const float* ffn[] = {a.gate.data(), a.up.data(), a.down.data(), b.gate.data(), b.up.data(), b.down.data()};
    const int64_t hidden[] = {kHidden, kHidden};
    surgeon_prunenet_options o;
    ASSERT_EQ(surgeon_prunenet_options_init(&o, SURGEON_PRUNENET_OPTIONS_VERSION), SURGEON_OK);
    EXPECT_EQ(o.steps, 150);
    o.steps = 8;
    surgeon_prunenet *p = nullptr, *q = nullptr;
    ASSERT_EQ(surgeon_prunenet_train_ffn(&p, nullptr, kDim, 2, ffn, hidden, &o), SURGEON_OK);
    ASSERT_EQ(surgeon_prunenet_train_ffn(&q, nullptr, kDim, 2, ffn, hidden, &o), SURGEON_OK);
    std::vector<float> sp(kHidden), sq(kHidden);
    ASSERT_EQ(surgeon_prunenet_scores(p, a.gate.data(), a.up.data(), a.down.data(), kHidden, kDim, sp.data()), SURGEON_OK);
    ASSERT_EQ(surgeon_prunenet_scores(q, a.gate.data(), a.up.data(), a.down.data(), kHidden, kDim, sq.data()), SURGEON_OK);
    EXPECT_EQ(sp, sq);  // same seed, same policy
    std::vector<int64_t> k1(kHidden);
    size_t n1 = 0;
    ASSERT_EQ(surgeon_ffn_select(sp.data(), kHidden, 0.5, k1.data(), k1.size(), &n1), SURGEON_OK);
    EXPECT_EQ(n1, 10u);

    const std::string path = ::testing::TempDir() + "capi_policy.json";
    capi_test::LogRecord log;
    const capi_test::ContextPtr ctx = capi_test::logging_context(log);
    ASSERT_EQ(surgeon_prunenet_save(ctx.get(), p, path.c_str()), SURGEON_OK);
    EXPECT_TRUE(log.has(SURGEON_LOG_INFO, "saved PruneNet policy '" + path + "'"));
    surgeon_prunenet* r = nullptr;
    ASSERT_EQ(surgeon_prunenet_load(&r, nullptr, path.c_str()), SURGEON_OK);
    int64_t dim = 0;
    ASSERT_EQ(surgeon_prunenet_dim(r, &dim), SURGEON_OK);
    EXPECT_EQ(dim, kDim);
    std::vector<float> s1(kHidden), s2(kHidden);
    ASSERT_EQ(surgeon_prunenet_scores(p, a.gate.data(), a.up.data(), a.down.data(), kHidden, kDim, s1.data()), SURGEON_OK);
    ASSERT_EQ(surgeon_prunenet_scores(r, a.gate.data(), a.up.data(), a.down.data(), kHidden, kDim, s2.data()), SURGEON_OK);
    EXPECT_EQ(s1, s2);

    // Errors: wrong hidden size, missing file, bad options, NULLs; outputs untouched.
    std::vector<float> s3 = s2;
    EXPECT_EQ(surgeon_prunenet_scores(r, a.gate.data(), a.up.data(), a.down.data(), kHidden / 2, kDim * 2, s3.data()),
              SURGEON_ERR_SHAPE);
    EXPECT_EQ(s3, s2);
    surgeon_prunenet* none = nullptr;
    EXPECT_EQ(surgeon_prunenet_load(&none, nullptr, "/nonexistent/policy.json"), SURGEON_ERR_IO);
    EXPECT_EQ(none, nullptr);
    o.samples = 1;
    EXPECT_EQ(surgeon_prunenet_train_ffn(&none, nullptr, kDim, 2, ffn, hidden, &o), SURGEON_ERR_INVALID_ARGUMENT);
    o.samples = 8;
    o.version = SURGEON_PRUNENET_OPTIONS_VERSION + 1;
    EXPECT_EQ(surgeon_prunenet_train_ffn(&none, nullptr, kDim, 2, ffn, hidden, &o), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_prunenet_train_model(&none, nullptr, "/nonexistent/model.bin", nullptr), SURGEON_ERR_IO);
    EXPECT_EQ(none, nullptr);
    EXPECT_EQ(surgeon_prunenet_dim(nullptr, &dim), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_prunenet_new(&none, 0, 8, 1), SURGEON_ERR_INVALID_ARGUMENT);
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("{\"format\": \"surgeon-prunenet-policy\"", f);
    std::fclose(f);
    EXPECT_EQ(surgeon_prunenet_load(&none, nullptr, path.c_str()), SURGEON_ERR_IO);
    surgeon_prunenet_free(p);
    surgeon_prunenet_free(q);
    surgeon_prunenet_free(r);
    surgeon_prunenet_free(nullptr);
}

TEST(StructuredCapi, TrainOnTheBundledModel) {
    const std::string path = std::string(SURGEON_SOURCE_DIR) + "/samples/data/stories260K.bin";
    surgeon_prunenet_options o = SURGEON_PRUNENET_OPTIONS_INIT;
    o.steps = 5;
    surgeon_prunenet* p = nullptr;
    ASSERT_EQ(surgeon_prunenet_train_model(&p, nullptr, path.c_str(), &o), SURGEON_OK) << surgeon_last_error();
    int64_t dim = 0;
    surgeon_prunenet_dim(p, &dim);
    EXPECT_EQ(dim, 64);
    surgeon_prunenet_free(p);
}

}  // namespace
