// Helpers of the C API tests. These tests link only the shared library and include only
// the public header: everything they know about the library comes through the C API.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "surgeon/surgeon.h"

namespace capi_test {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using ContextPtr = std::unique_ptr<surgeon_context, Deleter<surgeon_context, surgeon_context_free>>;
using HessianPtr = std::unique_ptr<surgeon_hessian, Deleter<surgeon_hessian, surgeon_hessian_free>>;
using SolverPtr = std::unique_ptr<surgeon_solver, Deleter<surgeon_solver, surgeon_solver_free>>;
using QuantizerPtr =
    std::unique_ptr<surgeon_quantizer, Deleter<surgeon_quantizer, surgeon_quantizer_free>>;
using QResultPtr = std::unique_ptr<surgeon_qresult, Deleter<surgeon_qresult, surgeon_qresult_free>>;
using MaskPtr = std::unique_ptr<surgeon_mask, Deleter<surgeon_mask, surgeon_mask_free>>;
using SolverOptionsPtr = std::unique_ptr<surgeon_solver_options,
                                         Deleter<surgeon_solver_options, surgeon_solver_options_free>>;
using PruneOptionsPtr = std::unique_ptr<surgeon_prune_options,
                                        Deleter<surgeon_prune_options, surgeon_prune_options_free>>;
using PruneResultPtr = std::unique_ptr<surgeon_prune_result,
                                       Deleter<surgeon_prune_result, surgeon_prune_result_free>>;
using GenerateOptionsPtr = std::unique_ptr<surgeon_generate_options,
                                          Deleter<surgeon_generate_options, surgeon_generate_options_free>>;

using ModelPtr = std::unique_ptr<surgeon_model, Deleter<surgeon_model, surgeon_model_free>>;

#define CAPI_OK(call) ASSERT_EQ((call), SURGEON_OK) << #call << ": " << surgeon_last_error()

inline std::vector<float> random_matrix(int64_t rows, int64_t cols, unsigned seed,
                                        float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, scale);
    std::vector<float> m(static_cast<size_t>(rows * cols));
    for (float& v : m) v = g(rng);
    return m;
}

inline HessianPtr hessian_from_matrix(const std::vector<float>& m, int64_t cols,
                                      const surgeon_context* ctx = nullptr) {
    surgeon_hessian* h = nullptr;
    EXPECT_EQ(surgeon_hessian_from_matrix(&h, ctx, m.data(), cols, 0, 1), SURGEON_OK)
        << surgeon_last_error();
    return HessianPtr(h);
}

inline HessianPtr identity_hessian(int64_t n) {
    std::vector<float> eye(static_cast<size_t>(n * n), 0.0f);
    for (int64_t i = 0; i < n; ++i) eye[i * n + i] = 1.0f;
    return hessian_from_matrix(eye, n);
}

// Correlated inputs (each feature leaks into the next) so the OBS updates matter.
inline HessianPtr random_hessian(int64_t n, int64_t tokens, unsigned seed,
                                 const surgeon_context* ctx = nullptr) {
    auto x = random_matrix(tokens, n, seed);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t j = 1; j < n; ++j) x[t * n + j] += 0.5f * x[t * n + j - 1];
    surgeon_hessian* h = nullptr;
    EXPECT_EQ(surgeon_hessian_new(&h, ctx, n), SURGEON_OK);
    EXPECT_EQ(surgeon_hessian_add_f32(h, x.data(), tokens, n, 0), SURGEON_OK);
    return HessianPtr(h);
}

inline SolverOptionsPtr solver_options(int64_t block = 128, double percdamp = 0.01) {
    surgeon_solver_options* o = nullptr;
    EXPECT_EQ(surgeon_solver_options_new(&o), SURGEON_OK);
    EXPECT_EQ(surgeon_solver_options_set_block_size(o, block), SURGEON_OK) << surgeon_last_error();
    EXPECT_EQ(surgeon_solver_options_set_damping(o, percdamp), SURGEON_OK) << surgeon_last_error();
    return SolverOptionsPtr(o);
}

inline SolverPtr new_solver(const surgeon_hessian* h, int64_t block = 128,
                            const surgeon_context* ctx = nullptr, double percdamp = 0.01) {
    surgeon_solver* s = nullptr;
    EXPECT_EQ(surgeon_solver_new(&s, ctx, h, solver_options(block, percdamp).get()), SURGEON_OK)
        << surgeon_last_error();
    return SolverPtr(s);
}

// Pruning options with valid values (setters refuse invalid ones).
inline PruneOptionsPtr prune_options(double sparsity, int n = 0, int m = 0,
                                     surgeon_mask_scope scope = SURGEON_MASK_SCOPE_BLOCK,
                                     const surgeon_quantizer* q = nullptr) {
    surgeon_prune_options* o = nullptr;
    EXPECT_EQ(surgeon_prune_options_new(&o), SURGEON_OK);
    EXPECT_EQ(surgeon_prune_options_set_sparsity(o, sparsity), SURGEON_OK) << surgeon_last_error();
    EXPECT_EQ(surgeon_prune_options_set_nm(o, n, m), SURGEON_OK) << surgeon_last_error();
    EXPECT_EQ(surgeon_prune_options_set_mask_scope(o, scope), SURGEON_OK) << surgeon_last_error();
    EXPECT_EQ(surgeon_prune_options_set_quantizer(o, q), SURGEON_OK) << surgeon_last_error();
    return PruneOptionsPtr(o);
}

inline PruneResultPtr new_prune_result() {
    surgeon_prune_result* r = nullptr;
    EXPECT_EQ(surgeon_prune_result_new(&r), SURGEON_OK);
    return PruneResultPtr(r);
}

// SparseGPT through surgeon_solver_prune with the outputs of a result copied out: *mask_out
// and *qresult_out (each nullable) receive new handles, *loss_out the loss. Returns the
// call's status (the outputs are left alone on failure).
inline surgeon_status solver_prune(surgeon_solver* s, float* w, int64_t rows, int64_t cols,
                                   int64_t ld, const surgeon_prune_options* opts,
                                   MaskPtr* mask_out = nullptr, QResultPtr* qresult_out = nullptr,
                                   double* loss_out = nullptr) {
    PruneResultPtr result = new_prune_result();
    const surgeon_status st = surgeon_solver_prune(s, w, rows, cols, ld, opts, result.get());
    if (st != SURGEON_OK) return st;
    if (mask_out) {
        surgeon_mask* m = nullptr;
        EXPECT_EQ(surgeon_prune_result_mask(result.get(), &m), SURGEON_OK);
        mask_out->reset(m);
    }
    if (qresult_out) {
        surgeon_qresult* q = nullptr;
        EXPECT_EQ(surgeon_prune_result_qresult(result.get(), &q), SURGEON_OK);
        qresult_out->reset(q);
    }
    if (loss_out) EXPECT_EQ(surgeon_prune_result_loss(result.get(), loss_out), SURGEON_OK);
    return st;
}

inline QuantizerPtr new_quantizer(int bits, int64_t group = 0, bool symmetric = true) {
    surgeon_quantizer* q = nullptr;
    EXPECT_EQ(surgeon_quantizer_new(&q, bits), SURGEON_OK);
    EXPECT_EQ(surgeon_quantizer_set_group_size(q, group), SURGEON_OK);
    EXPECT_EQ(surgeon_quantizer_set_symmetric(q, symmetric ? 1 : 0), SURGEON_OK);
    return QuantizerPtr(q);
}

inline QResultPtr new_qresult() {
    surgeon_qresult* r = nullptr;
    EXPECT_EQ(surgeon_qresult_new(&r), SURGEON_OK);
    return QResultPtr(r);
}

inline MaskPtr new_mask(int64_t rows = 0, int64_t cols = 0) {
    surgeon_mask* m = nullptr;
    EXPECT_EQ(surgeon_mask_new(&m, rows, cols), SURGEON_OK);
    return MaskPtr(m);
}

inline std::vector<uint8_t> mask_bytes(const surgeon_mask* m) {
    int64_t rows = 0, cols = 0;
    EXPECT_EQ(surgeon_mask_shape(m, &rows, &cols), SURGEON_OK);
    std::vector<uint8_t> out(static_cast<size_t>(rows * cols));
    EXPECT_EQ(surgeon_mask_to_bytes(m, out.data()), SURGEON_OK);
    return out;
}

// Bitwise equality (NaN-safe, unlike operator== on floats).
template <typename T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}

inline std::string last_error() { return surgeon_last_error(); }

// A model file or directory; by default the bundled stories260K.
// Lines of a context's log callback.
struct LogRecord {
    std::vector<std::pair<surgeon_log_level, std::string>> lines;
    int warnings() const {
        int n = 0;
        for (const auto& l : lines) n += l.first == SURGEON_LOG_WARNING;
        return n;
    }
    bool has(surgeon_log_level level, const std::string& part) const {
        for (const auto& l : lines)
            if (l.first == level && l.second.find(part) != std::string::npos) return true;
        return false;
    }
};

inline void record_log(void* user, surgeon_log_level level, const char* message) {
    static_cast<LogRecord*>(user)->lines.emplace_back(level, message);
}

inline ContextPtr logging_context(LogRecord& log) {
    surgeon_context* ctx = nullptr;
    EXPECT_EQ(surgeon_context_new(&ctx), SURGEON_OK);
    EXPECT_EQ(surgeon_context_set_log(ctx, record_log, &log), SURGEON_OK);
    return ContextPtr(ctx);
}

inline ModelPtr load_model(const std::string& path = std::string(SURGEON_SAMPLES_DATA_DIR) + "/stories260K.bin") {
    surgeon_model* m = nullptr;
    EXPECT_EQ(surgeon_model_load(&m, nullptr, path.c_str()), SURGEON_OK) << surgeon_last_error();
    return ModelPtr(m);
}

}  // namespace capi_test
