// Execution settings shared by the handles created from one surgeon_context: thread count
// and callbacks. Handles hold a shared_ptr, so a context can be freed while they live.
#pragma once

#include <memory>
#include <string>

#include "surgeon/surgeon.h"

namespace surgeon {

struct Context {
    int threads = 0;  // 0: all hardware threads
    surgeon_progress_fn progress_fn = nullptr;
    void* progress_user = nullptr;
    surgeon_log_fn log_fn = nullptr;
    void* log_user = nullptr;

    int effective_threads() const;
    void progress(const char* stage, double fraction) const {
        if (progress_fn) progress_fn(progress_user, stage, fraction);
    }
    void log(surgeon_log_level level, const std::string& message) const {
        if (log_fn) log_fn(log_user, level, message.c_str());
    }
};

using ContextPtr = std::shared_ptr<const Context>;

// The settings to use when a caller passes no context.
const ContextPtr& default_context();

// Sets OpenBLAS's (process-wide) thread count for one call's duration.
class BlasThreads {
public:
    explicit BlasThreads(int threads);
    ~BlasThreads();
    BlasThreads(const BlasThreads&) = delete;
    BlasThreads& operator=(const BlasThreads&) = delete;

private:
    int threads_;
    int saved_;
};

// Applies the context's thread count to OpenBLAS and OpenMP for one call's duration.
class ThreadScope {
public:
    explicit ThreadScope(const Context& ctx);
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;
    int threads() const { return threads_; }

private:
    int threads_;
    int saved_blas_;
};

}  // namespace surgeon
