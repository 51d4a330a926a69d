#include "core/context.hpp"

#include <cblas.h>
#include <omp.h>

#include <thread>

namespace surgeon {

int Context::effective_threads() const {
    if (threads > 0) return threads;
    unsigned hw = std::thread::hardware_concurrency();
    return hw ? static_cast<int>(hw) : 1;
}

const ContextPtr& default_context() {
    static const ContextPtr ctx = std::make_shared<Context>();
    return ctx;
}

BlasThreads::BlasThreads(int threads) : threads_(threads), saved_(openblas_get_num_threads()) {
    if (saved_ != threads_) openblas_set_num_threads(threads_);
}

BlasThreads::~BlasThreads() {
    if (saved_ != threads_) openblas_set_num_threads(saved_);
}

ThreadScope::ThreadScope(const Context& ctx)
    : threads_(ctx.effective_threads()), saved_blas_(openblas_get_num_threads()) {
    if (saved_blas_ != threads_) openblas_set_num_threads(threads_);
}

ThreadScope::~ThreadScope() {
    if (saved_blas_ != threads_) openblas_set_num_threads(saved_blas_);
}

}  // namespace surgeon
