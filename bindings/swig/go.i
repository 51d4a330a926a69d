/*
 * Go typemaps for surgeon.i (swig -go -cgo -intgosize 64 -module raw, run by
 * bindings/go/regenerate.sh into bindings/go/raw/, output checked in): package `raw`.
 *
 *  - surgeon_status results become Go `error` values: nil on SURGEON_OK, otherwise a
 *    *StatusError holding the status and the surgeon_last_error() text. The text is read
 *    by the C wrapper right after the failing call, on the OS thread that made it.
 *  - float / uint16_t / uint8_t / int32_t buffers are Go slices whose backing array is
 *    handed to C as is: zero copy, and nil passes NULL (for nullable outputs).
 *  - double buffers are []float64 everywhere, scalar out-params included (1 element).
 *  - `int*` is a pointer to a Go int32 (C int is 32 bits; Go int is 64).
 *  - Writable `char* buf` text buffers are []byte (the buffer convention of surgeon.h:
 *    `size_t cap` is an int64, `size_t* needed` an *int64).
 *  - `T** out` (new handles) takes a *Handle: `var h raw.Handle; err :=
 *    raw.Surgeon_hessian_new(&h, nil, 64)`. Handle satisfies every SWIG handle interface.
 *    Other scalar out-params stay pointers (*int64, *int32; double* is a slice, above):
 *    a SWIG-Go function returns one value, and that value is the error.
 *  - `const int64_t*` and `int64_t* keep` are []int64 arrays; `const float* const*`
 *    (arrays of arrays) is [][]float32, copied into C memory for the call.
 *  - Callback function pointers (surgeon_progress_fn, surgeon_log_fn) are uintptr: the
 *    address of a C function (Go cannot make one itself; bindings/go has cgo trampolines
 *    that call back into Go). `void* user` is a uintptr as well (a runtime/cgo.Handle).
 */

/* The headers and -lsurgeon come from `#cgo pkg-config: surgeon` in bindings/go/raw/cgo.go. */

/* ---- status -> error ------------------------------------------------------------- */

%fragment("surgeon_go_status", "header") %{
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "<status>|<message>" in malloc'd memory (freed by swigCopyString on the Go side), or an
 * empty string for SURGEON_OK: the success path allocates nothing. */
static _gostring_ surgeon_go_status(surgeon_status status) {
  _gostring_ s = {0, 0};
  if (status == SURGEON_OK) return s;
  const char* message = surgeon_last_error();
  size_t capacity = strlen(message) + 24;
  s.p = (char*)malloc(capacity);
  if (s.p == NULL) { /* still an error: the status alone */
    static char fallback[] = "4|out of memory formatting the error";
    s.p = (char*)malloc(sizeof fallback);
    if (s.p == NULL) return s;
    memcpy(s.p, fallback, sizeof fallback - 1);
    s.n = sizeof fallback - 1;
    return s;
  }
  s.n = snprintf(s.p, capacity, "%d|%s", (int)status, message);
  return s;
}
%}

%typemap(gotype) surgeon_status "error"
%typemap(imtype) surgeon_status "string"
%typemap(out, fragment="surgeon_go_status") surgeon_status
%{ $result = surgeon_go_status($1); %}
%typemap(goout, fragment="CopyString") surgeon_status
%{
  if len($1) == 0 {
    $result = nil
  } else {
    $result = newStatusError(swigCopyString($1))
  }
%}

/* A status passed in (surgeon_status_string) stays a plain value. */
%typemap(gotype) surgeon_status status "Status"
%typemap(imtype) surgeon_status status "int"
%typemap(in) surgeon_status status %{ $1 = (surgeon_status)$input; %}
%typemap(goin) surgeon_status status ""

%insert(go_wrapper) %{
// Status is the C surgeon_status code.
type Status = Enum_SS_surgeon_status

// StatusError is a failing C call: its status and the message of surgeon_last_error()
// (which names the C function and the bad value).
type StatusError struct {
	Status  Status
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// Is matches a sentinel *StatusError with the same status and no message, so that
// errors.Is(err, &StatusError{Status: SURGEON_ERR_SHAPE}) works.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Message == "" && t.Status == e.Status
}

func newStatusError(encoded string) error {
	code, i := 0, 0
	for i < len(encoded) && encoded[i] >= '0' && encoded[i] <= '9' {
		code = code*10 + int(encoded[i]-'0')
		i++
	}
	if i < len(encoded) && encoded[i] == '|' {
		i++
	}
	return &StatusError{Status: Status(code), Message: encoded[i:]}
}

// Handle receives a new handle from a `T** out` parameter. It satisfies every handle
// interface of this package, so it can be passed to the functions taking that handle.
type Handle uintptr

func (h Handle) Swigcptr() uintptr { return uintptr(h) }
%}

/* ---- buffers -> slices (zero copy) ------------------------------------------------ */

%define SURGEON_GO_SLICE(CTYPE, GOTYPE)
%typemap(gotype) CTYPE *, const CTYPE * "[]GOTYPE"
%typemap(in) CTYPE *, const CTYPE * %{ $1 = ($1_ltype)$input.array; %}
%typemap(argout) CTYPE *, const CTYPE * ""
%typemap(goargout) CTYPE *, const CTYPE * ""
%enddef

SURGEON_GO_SLICE(float, float32)
SURGEON_GO_SLICE(uint16_t, uint16)
SURGEON_GO_SLICE(uint8_t, byte)
SURGEON_GO_SLICE(int32_t, int32)
/* double* is a slice too, also where it is a scalar out-param (pass a 1-element slice):
 * some are arrays (surgeon_importance_default_weights, surgeon_mixed_row_errors), and a
 * *float64 handed to a function that writes an array would corrupt the Go heap. */
SURGEON_GO_SLICE(double, float64)

/* int64_t arrays: every const one is an input array; of the writable ones only `keep`
 * (surgeon_ffn_select) is an array, the others are scalar
 * out-params and stay *int64. */
%typemap(gotype) const int64_t *, int64_t *keep "[]int64"
%typemap(in) const int64_t *, int64_t *keep %{ $1 = ($1_ltype)$input.array; %}
%typemap(argout) const int64_t *, int64_t *keep ""
%typemap(goargout) const int64_t *, int64_t *keep ""

/* ---- scalar out-params ------------------------------------------------------------ */

%typemap(gotype) int * "*int32"
%typemap(in) int * %{ $1 = ($1_ltype)$input; %}

/* New handles: the C wrapper writes into a Go uintptr, copied into *Handle afterwards
 * (and only on success: on failure C leaves *out untouched). */
%typemap(gotype) SWIGTYPE **out "*Handle"
%typemap(imtype) SWIGTYPE **out "*uintptr"
%typemap(goin) SWIGTYPE **out
%{
  if $input != nil {
    $result = new(uintptr)
  }
%}
%typemap(in) SWIGTYPE **out %{ $1 = ($1_ltype)$input; %}
%typemap(argout) SWIGTYPE **out ""
%typemap(goargout) SWIGTYPE **out
%{
  if $input != nil && *$input != 0 {
    *$1 = Handle(*$input)
  }
%}

/* ---- callbacks ------------------------------------------------------------------- */

%typemap(gotype) surgeon_progress_fn, surgeon_log_fn "uintptr"
%typemap(imtype) surgeon_progress_fn, surgeon_log_fn "uintptr"
%typemap(in) surgeon_progress_fn, surgeon_log_fn %{ $1 = ($1_ltype)$input; %}

/* ---- arrays of float arrays (const float* const*) --------------------------------- */

/* [][]float32 in Go. C may not read Go pointers stored in Go memory, so each inner slice
 * is copied into C memory for the duration of the call (only training-style calls take
 * these, where a copy is negligible). nil passes NULL. */
%typemap(gotype) const float *const * "[][]float32"
%typemap(imtype) const float *const * "uintptr"
%typemap(goin) const float *const * %{ $result = cFloatArrays($input) %}
%typemap(in) const float *const * %{ $1 = ($1_ltype)$input; %}
%typemap(argout) const float *const * ""
%typemap(goargout) const float *const * %{ freeCArrays($input, len($1)) %}

%insert(go_wrapper) %{
// cFloatArrays copies blocks into C memory: a C array of len(blocks) pointers, each to a
// copy of one block. freeCArrays releases it.
func cFloatArrays(blocks [][]float32) uintptr {
	if blocks == nil {
		return 0
	}
	table := Swig_malloc(8 * len(blocks) + 8)
	pointers := unsafe.Slice((*uintptr)(unsafe.Pointer(table)), len(blocks))
	for i, block := range blocks {
		pointers[i] = 0
		if len(block) > 0 {
			pointers[i] = Swig_malloc(4 * len(block))
			copy(unsafe.Slice((*float32)(unsafe.Pointer(pointers[i])), len(block)), block)
		}
	}
	return table
}

func freeCArrays(table uintptr, n int) {
	if table == 0 {
		return
	}
	for _, p := range unsafe.Slice((*uintptr)(unsafe.Pointer(table)), n) {
		if p != 0 {
			Swig_free(p)
		}
	}
	Swig_free(table)
}
%}

/* ---- text out-params ---------------------------------------------------------------- */

/* Caller-owned text buffers the library writes (surgeon_model_generate, surgeon_model_report,
 * surgeon_mixed_stats_json): []byte, zero copy. */
%typemap(gotype) char *buf "[]byte"
%typemap(in) char *buf %{ $1 = ($1_ltype)$input.array; %}
%typemap(freearg) char *buf ""
%typemap(argout) char *buf ""
%typemap(goargout) char *buf ""
