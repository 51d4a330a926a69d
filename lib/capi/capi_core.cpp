// Errors, version and context.
#include <cstring>
#include <string>

#include "capi/guard.hpp"
#include "capi/handles.hpp"
#include "core/checks.hpp"

using namespace surgeon;
using namespace surgeon::capi;

namespace {
thread_local std::string last_error;
}

surgeon_status surgeon::capi::set_error(surgeon_status status, const char* function,
                                        const char* message) noexcept {
    try {
        last_error = std::string(function) + ": " + message;
    } catch (...) {
        // Out of memory while formatting: keep the previous text rather than fail.
    }
    return status;
}

extern "C" {

const char* surgeon_last_error(void) { return last_error.c_str(); }

const char* surgeon_status_string(surgeon_status status) {
    switch (status) {
        case SURGEON_OK: return "SURGEON_OK";
        case SURGEON_ERR_INVALID_ARGUMENT: return "SURGEON_ERR_INVALID_ARGUMENT";
        case SURGEON_ERR_SHAPE: return "SURGEON_ERR_SHAPE";
        case SURGEON_ERR_NUMERIC: return "SURGEON_ERR_NUMERIC";
        case SURGEON_ERR_OUT_OF_MEMORY: return "SURGEON_ERR_OUT_OF_MEMORY";
        case SURGEON_ERR_IO: return "SURGEON_ERR_IO";
        case SURGEON_ERR_UNSUPPORTED: return "SURGEON_ERR_UNSUPPORTED";
        case SURGEON_ERR_INTERNAL: return "SURGEON_ERR_INTERNAL";
        case SURGEON_ERR_BUFFER_TOO_SMALL: return "SURGEON_ERR_BUFFER_TOO_SMALL";
    }
    return "SURGEON_ERR_UNKNOWN";
}

#define SURGEON_STR2(x) #x
#define SURGEON_STR(x) SURGEON_STR2(x)
const char* surgeon_version(void) {
    return SURGEON_STR(SURGEON_VERSION_MAJOR) "." SURGEON_STR(SURGEON_VERSION_MINOR) "." SURGEON_STR(
        SURGEON_VERSION_PATCH);
}

int surgeon_version_number(void) { return SURGEON_VERSION_NUMBER; }

SURGEON_DEFAULT_HANDLE(surgeon_context)


surgeon_status surgeon_context_set_threads(surgeon_context* ctx, int threads) {
    SURGEON_GUARD({
        require_arg(threads >= 0 && threads <= kMaxThreads,
                    "threads must be in [0, " + std::to_string(kMaxThreads) + "], got " + std::to_string(threads));
        deref(ctx, "ctx").impl->threads = threads;
    });
}

surgeon_status surgeon_context_get_threads(const surgeon_context* ctx, int* out) {
    SURGEON_GUARD({
        require_not_null(out, "out");
        *out = context_of(ctx)->effective_threads();
    });
}

surgeon_status surgeon_context_set_progress(surgeon_context* ctx, surgeon_progress_fn fn,
                                            void* user) {
    SURGEON_GUARD({
        auto& c = deref(ctx, "ctx");
        c.impl->progress_fn = fn;
        c.impl->progress_user = user;
    });
}

surgeon_status surgeon_context_set_log(surgeon_context* ctx, surgeon_log_fn fn, void* user) {
    SURGEON_GUARD({
        auto& c = deref(ctx, "ctx");
        c.impl->log_fn = fn;
        c.impl->log_user = user;
    });
}

}  // extern "C"
