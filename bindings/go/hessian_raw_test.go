package surgeon

import (
	"errors"
	"testing"
)

// Two accumulators merged through their raw states (what a host's all-reduce does) equal
// Merge bit for bit.
func TestRawStateSumEqualsMerge(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	half := f.tokens / 2
	a, b := must(NewHessian(nil, f.cols)).of(t), must(NewHessian(nil, f.cols)).of(t)
	defer a.Close()
	defer b.Close()
	noErr(t, a.Add(f.x[:half*f.cols], half))
	noErr(t, b.Add(f.x[half*f.cols:], f.tokens-half))

	ra, rb := must(a.ExportRaw()).of(t), must(b.ExportRaw()).of(t)
	if len(ra.SumXX) != f.cols*(f.cols+1)/2 || len(ra.ColumnSums) != 3*f.cols || ra.Samples != int64(half) {
		t.Fatalf("raw state sizes %d, %d, samples %d", len(ra.SumXX), len(ra.ColumnSums), ra.Samples)
	}
	// S_00 is Σ x_0² over a's rows; H_00 = 2/n · S_00.
	h := must(a.Matrix()).of(t)
	if want := ra.SumXX[0] * float32(2.0/float64(half)); h[0] != want {
		t.Fatalf("H_00 %g, raw S_00 gives %g", h[0], want)
	}
	sum := RawState{SumXX: make([]float32, len(ra.SumXX)), ColumnSums: make([]float64, len(ra.ColumnSums)),
		Samples: ra.Samples + rb.Samples}
	for i := range sum.SumXX {
		sum.SumXX[i] = ra.SumXX[i] + rb.SumXX[i]
	}
	for i := range sum.ColumnSums {
		sum.ColumnSums[i] = ra.ColumnSums[i] + rb.ColumnSums[i]
	}
	rebuilt := must(HessianFromRaw(nil, f.cols, sum)).of(t)
	defer rebuilt.Close()
	noErr(t, a.Merge(b))
	got, want := must(rebuilt.ExportRaw()).of(t), must(a.ExportRaw()).of(t)
	if got.Samples != want.Samples || got.Samples != int64(f.tokens) {
		t.Fatalf("samples %d, merge %d", got.Samples, want.Samples)
	}
	for i := range got.SumXX {
		if got.SumXX[i] != want.SumXX[i] {
			t.Fatalf("SumXX[%d] %g, merge %g", i, got.SumXX[i], want.SumXX[i])
		}
	}
	for i := range got.ColumnSums {
		if got.ColumnSums[i] != want.ColumnSums[i] {
			t.Fatalf("ColumnSums[%d] %g, merge %g", i, got.ColumnSums[i], want.ColumnSums[i])
		}
	}
	hm, hr := must(a.Matrix()).of(t), must(rebuilt.Matrix()).of(t)
	for i := range hm {
		if hm[i] != hr[i] {
			t.Fatalf("H[%d] %g, merge %g", i, hr[i], hm[i])
		}
	}

	// A negative diagonal entry is a numeric error; a short buffer a shape error.
	bad := RawState{SumXX: append([]float32(nil), sum.SumXX...), ColumnSums: sum.ColumnSums, Samples: sum.Samples}
	bad.SumXX[0] = -1
	var e *Error
	if _, err := HessianFromRaw(nil, f.cols, bad); !errors.As(err, &e) || e.Status != StatusNumeric {
		t.Fatalf("negative diagonal: %v", err)
	}
	bad.SumXX = bad.SumXX[:1]
	if _, err := HessianFromRaw(nil, f.cols, bad); !errors.As(err, &e) || e.Status != StatusShape {
		t.Fatalf("short SumXX: %v", err)
	}
}
