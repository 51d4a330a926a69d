package surgeon

import (
	"errors"
	"fmt"
	"strings"

	"surgeon.dev/surgeon/raw"
)

// Status is a C surgeon_status code. A code this binding does not know (a newer library)
// keeps its value and prints as Unknown(code); it is never folded into another status.
type Status int

const (
	StatusOK              Status = 0
	StatusInvalidArgument Status = 1 // NULL pointer, option out of range, bad enum
	StatusShape           Status = 2 // dimensions that do not agree
	StatusNumeric         Status = 3 // NaN/Inf input, Hessian not positive definite
	StatusOutOfMemory     Status = 4
	StatusIO              Status = 5 // cannot open/read/write, truncated or corrupt
	StatusUnsupported     Status = 6 // valid request this build cannot do
	StatusInternal        Status = 7 // a bug: please report
	StatusBufferTooSmall  Status = 8 // a caller buffer is shorter than the output
)

// statusNames are the names of surgeon.h's surgeon_status enum, by value (a test checks
// both against the header).
var statusNames = map[Status]string{
	StatusOK:              "SURGEON_OK",
	StatusInvalidArgument: "SURGEON_ERR_INVALID_ARGUMENT",
	StatusShape:           "SURGEON_ERR_SHAPE",
	StatusNumeric:         "SURGEON_ERR_NUMERIC",
	StatusOutOfMemory:     "SURGEON_ERR_OUT_OF_MEMORY",
	StatusIO:              "SURGEON_ERR_IO",
	StatusUnsupported:     "SURGEON_ERR_UNSUPPORTED",
	StatusInternal:        "SURGEON_ERR_INTERNAL",
	StatusBufferTooSmall:  "SURGEON_ERR_BUFFER_TOO_SMALL",
}

// Known reports whether s is one of the C enum's codes.
func (s Status) Known() bool {
	_, ok := statusNames[s]
	return ok
}

// String is the C name of the status ("SURGEON_ERR_SHAPE"), or "Unknown(code)".
func (s Status) String() string {
	if name, ok := statusNames[s]; ok {
		return name
	}
	return fmt.Sprintf("Unknown(%d)", int(s))
}

// Error is a failed call: the status and a message that names the C function and the bad
// value (surgeon_last_error(), read in the same native call as the failure). Checks the
// binding makes itself (slice lengths, closed handles) produce the same form.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Status) }

// Is makes errors.Is(err, surgeon.ErrShape) match any error with that status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrShape           = &Error{Status: StatusShape}
	ErrNumeric         = &Error{Status: StatusNumeric}
	ErrOutOfMemory     = &Error{Status: StatusOutOfMemory}
	ErrIO              = &Error{Status: StatusIO}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
	ErrInternal        = &Error{Status: StatusInternal}
	ErrBufferTooSmall  = &Error{Status: StatusBufferTooSmall}
)

// check turns a raw-layer error into an *Error with the same code (nil stays nil).
func check(err error) error {
	var se *raw.StatusError
	if errors.As(err, &se) {
		return &Error{Status: Status(se.Status), Message: se.Message}
	}
	return err
}

// fail builds an error in the library's format: "function: message".
func fail(status Status, function, format string, args ...interface{}) error {
	return &Error{Status: status, Message: function + ": " + fmt.Sprintf(format, args...)}
}

// checkMatrix checks that a buffer of n elements holds rows × cols values (tightly packed).
func checkMatrix(function, name string, n, rows, cols int) error {
	if rows < 0 || cols < 0 {
		return fail(StatusShape, function, "%s: negative shape %d x %d", name, rows, cols)
	}
	if n != rows*cols {
		return fail(StatusShape, function, "%s has %d elements, expected %d x %d = %d",
			name, n, rows, cols, rows*cols)
	}
	return nil
}

// checkPath rejects what a C string cannot carry.
func checkPath(function, path string) error {
	if strings.IndexByte(path, 0) >= 0 {
		return fail(StatusInvalidArgument, function, "path %q contains a NUL byte", path)
	}
	return nil
}

// checkText rejects a text that a C string cannot carry (a NUL byte would cut it short).
func checkText(function, name, s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fail(StatusInvalidArgument, function, "%s contains a NUL byte at offset %d", name, i)
	}
	return nil
}
