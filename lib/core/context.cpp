#include "core/context.hpp"

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

}  // namespace surgeon
