// Execution settings shared by the handles created from one surgeon_context: thread count,
// compute device and callbacks. Handles hold a shared_ptr, so a context can be freed while
// they live. Everything a call parallelises reads its thread count from here: the library
// keeps no process-wide threading state.
#pragma once

#include <memory>
#include <string>

#include "surgeon/surgeon.h"

namespace surgeon {

// Where the dense kernels run (core/backend.hpp); cuda needs a SURGEON_CUDA build and a
// device, and falls back to the CPU otherwise.
enum class Device { cpu, cuda };

// The largest thread count a context accepts (CLI --threads, surgeon_context_set_threads).
constexpr int kMaxThreads = 1024;

struct Context {
    int threads = 0;  // 0: all hardware threads; at most kMaxThreads
    Device device = Device::cpu;
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

}  // namespace surgeon
