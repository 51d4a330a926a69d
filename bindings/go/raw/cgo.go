// Package raw is the SWIG-generated layer over the Surgeon C API: one Go function per C
// function (Surgeon_hessian_add_f32, ...), statuses as error values (*StatusError),
// buffers as slices passed without a copy, new handles through *Handle. It trusts the
// caller with buffer sizes exactly as C does; package surgeon is the checked, idiomatic
// layer over it.
//
// The Go tool generates this package from raw.swig (SWIG 4 must be installed). The
// headers and the typemaps are found relative to this directory; the library is linked
// with -lsurgeon, so point CGO_LDFLAGS at it when it is not installed system-wide:
//
//	CGO_LDFLAGS="-L/path/to/build/lib -Wl,-rpath,/path/to/build/lib" go test ./...
package raw

// #cgo CFLAGS: -I${SRCDIR}/../../swig -I${SRCDIR}/../../../include
// #cgo LDFLAGS: -lsurgeon
import "C"
