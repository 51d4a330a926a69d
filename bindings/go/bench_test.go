package surgeon

import "testing"

// Per-call cost of the binding on tiny inputs (go test -bench . -run ^$): the cgo
// transition, the handle's read lock, the length check and the status conversion.

func BenchmarkAddOneRow(b *testing.B) {
	h, err := NewHessian(nil, 8)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.Add(x, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSamples(b *testing.B) {
	h, err := NewHessian(nil, 8)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	for i := 0; i < b.N; i++ {
		if h.Samples() != 0 {
			b.Fatal("samples in an empty accumulator")
		}
	}
}
