/*
 * One SWIG interface over the Surgeon C API, shared by the Go and Java bindings.
 *
 * The headers themselves are %included, so every function added to surgeon.h or to one of
 * its companion headers appears in both raw layers on the next build without touching
 * this file. Everything that differs by language lives in the per-language typemap files:
 *
 *   go.i    status -> Go `error` (*StatusError), buffers -> slices, `T** out` -> *Handle
 *   java.i  status -> SurgeonException, buffers -> arrays or direct NIO buffers (zero
 *           copy both), out-params -> return values
 *
 * Shared rules, enforced by both typemap files:
 *  - The message of a failing call is read with surgeon_last_error() inside the generated
 *    C wrapper, in the same native call as the failing function: the message is
 *    thread-local and Go may move a goroutine to another OS thread between two cgo calls.
 *  - Ownership: no C function returns memory the caller must free (strings are static;
 *    variable-length outputs go to caller buffers), so %newobject is applied nowhere.
 *    Handles arrive through `T** out` parameters; the raw layers never free them on their
 *    own (no finalizers on SWIG type wrappers), the idiomatic layers (bindings/go,
 *    bindings/java) own each handle exactly once: an idempotent Close() plus a
 *    finalizer/Cleaner as a safety net.
 *  - The raw layers pass buffers as they are (no copy) and do not know the C dimensions:
 *    as in C, the caller must pass buffers of the documented size. The idiomatic layers
 *    check lengths before calling.
 */
%module surgeon

/* The experimental functions (surgeon_experimental.h) are wrapped too: the macro is
 * defined for SWIG's preprocessor and for the generated C wrapper alike. */
#define SURGEON_EXPERIMENTAL_API
%{
#define SURGEON_EXPERIMENTAL_API
#include "surgeon/surgeon_experimental.h"
%}

#if defined(SWIGGO)
/* Linux/macOS LP64: int64_t is `long` in <stdint.h>, so SWIG must call it that too or the
 * wrapper's casts of int64_t pointers do not match the header's (Go maps both to int64).
 * Not for Java, whose typemaps turn C `long` into a 32-bit int. */
#define SWIGWORDSIZE64
#endif
%include <stdint.i>

#if defined(SWIGGO)
%include "go.i"
#elif defined(SWIGJAVA)
%include "java.i"
#else
#error "surgeon.i has typemaps for Go and Java only"
#endif

%include "surgeon/surgeon.h"
/* SWIG does not follow #include: each companion header that surgeon.h includes at its end
 * is named here, after surgeon.h (they rely on its types and macros). */
%include "surgeon/surgeon_model.h"
%include "surgeon/surgeon_mixed.h"
%include "surgeon/surgeon_structured.h"
%include "surgeon/surgeon_experimental.h"
