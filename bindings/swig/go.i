/*
 * Go typemaps for surgeon.i (swig -go -cgo -intgosize 64).
 *
 *  - surgeon_status results become Go `error` values: nil on SURGEON_OK, otherwise a
 *    *StatusError holding the status and the surgeon_last_error() text. The text is read
 *    by the C wrapper right after the failing call, on the OS thread that made it.
 *  - float / uint16_t / uint8_t / int32_t buffers are Go slices whose backing array is
 *    handed to C as is: zero copy, and nil passes NULL (for nullable outputs).
 *  - `int*` is a pointer to a Go int32 (C int is 32 bits; Go int is 64).
 *  - `T** out` (new handles) takes a *Handle: `var h raw.Handle; err :=
 *    raw.Surgeon_hessian_new(&h, nil, 64)`. Handle satisfies every SWIG handle interface.
 *    Other scalar out-params stay pointers (*int64, *float64, *int32): a SWIG-Go function
 *    returns one value, and that value is the error.
 */

%insert(cgo_comment_typedefs) %{
#cgo LDFLAGS: -lsurgeon
%}

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
