package surgeon

// The C library calls a C function pointer; these C trampolines (callbacks.c) forward to
// the exported Go functions below, with `user` a runtime/cgo.Handle of *callbacks.

/*
#cgo pkg-config: surgeon
#include "surgeon/surgeon.h"
void surgeon_go_progress_trampoline(void* user, const char* stage, double fraction);
void surgeon_go_log_trampoline(void* user, surgeon_log_level level, const char* message);
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

type callbacks struct {
	progress func(stage string, fraction float64)
	log      func(level LogLevel, message string)
}

func progressTrampoline() uintptr {
	return uintptr(unsafe.Pointer(C.surgeon_go_progress_trampoline))
}

func logTrampoline() uintptr { return uintptr(unsafe.Pointer(C.surgeon_go_log_trampoline)) }

//export surgeonGoProgress
func surgeonGoProgress(user C.uintptr_t, stage *C.char, fraction C.double) {
	defer func() { _ = recover() }()
	if cb := cgo.Handle(user).Value().(*callbacks); cb.progress != nil {
		cb.progress(C.GoString(stage), float64(fraction))
	}
}

//export surgeonGoLog
func surgeonGoLog(user C.uintptr_t, level C.int, message *C.char) {
	defer func() { _ = recover() }()
	if cb := cgo.Handle(user).Value().(*callbacks); cb.log != nil {
		cb.log(LogLevel(level), C.GoString(message))
	}
}
