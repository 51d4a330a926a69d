package main

// The direct C path: the same batches fed by a C loop calling surgeon_hessian_add_f32,
// timed in C, so that no Go code runs between the calls.

/*
#cgo pkg-config: surgeon
#include <stdint.h>
#include <time.h>
#include "surgeon/surgeon.h"

// Seconds spent feeding rows × cols floats in batches of `batch` rows into h, or -1 when
// a call fails.
static double surgeon_go_direct_adds(surgeon_hessian* h, const float* x, int64_t rows,
                                     int64_t cols, int64_t batch) {
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int64_t r = 0; r < rows; r += batch) {
		int64_t n = rows - r < batch ? rows - r : batch;
		if (surgeon_hessian_add_f32(h, x + r * cols, n, cols, 0) != SURGEON_OK) return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	return (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
}

static surgeon_hessian* surgeon_go_direct_new(int64_t cols) {
	surgeon_hessian* h = NULL;
	return surgeon_hessian_new(&h, NULL, cols) == SURGEON_OK ? h : NULL;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

type directHessian struct{ h *C.surgeon_hessian }

func newDirectHessian(cols int) (directHessian, error) {
	h := C.surgeon_go_direct_new(C.int64_t(cols))
	if h == nil {
		return directHessian{}, errors.New("surgeon_hessian_new failed")
	}
	return directHessian{h}, nil
}

// feed returns the seconds the C loop took.
func (d directHessian) feed(x []float32, rows, cols, batch int) (float64, error) {
	s := float64(C.surgeon_go_direct_adds(d.h, (*C.float)(unsafe.Pointer(&x[0])), C.int64_t(rows),
		C.int64_t(cols), C.int64_t(batch)))
	if s < 0 {
		return 0, errors.New("surgeon_hessian_add_f32 failed")
	}
	return s, nil
}

func (d directHessian) close() { C.surgeon_hessian_free(d.h) }
