package surgeon

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"surgeon.dev/surgeon/raw"
)

// TestCloseThenGCFreesOnce: explicitly closed handles are not freed again by their
// finalizers, forgotten ones are freed by them, and the live count returns to where it
// started (ASan in the sanitized build reports any double free or leak).
func TestCloseThenGCFreesOnce(t *testing.T) {
	collect()
	base := liveHandles.Load()
	for i := 0; i < 200; i++ {
		ctx := must(NewContext(WithThreads(1))).of(t)
		h := must(NewHessian(ctx, 4)).of(t)
		noErr(t, h.Add([]float32{1, 0.5, -0.25, 2, 0, 1, 3, -1}, 2))
		mask := must(MaskFromBytes([]byte{1, 0, 1, 0, 0, 1, 1, 1}, 2, 4)).of(t)
		if s := mask.Sparsity(); s != 3.0/8.0 {
			t.Fatalf("sparsity %g", s)
		}
		q := must(NewQuantizer(4)).of(t)
		if i%2 == 0 { // half closed explicitly, in varying order, half left to the GC
			q.Close()
			ctx.Close()
			mask.Close()
			h.Close()
			h.Close()
			ctx.Close()
		}
	}
	if liveHandles.Load() == base {
		t.Fatal("the forgotten handles are already gone: the test proves nothing")
	}
	collect()
	if n := liveHandles.Load(); n != base {
		t.Fatalf("%d handles live after GC, %d before", n, base)
	}
}

// TestOutputsOutliveTheirSources: a solver holds its own copy of H, results outlive the
// solver and quantizer, a context's settings outlive the Context.
func TestOutputsOutliveTheirSources(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	reference := f.clone()
	func() {
		solver := must(NewSolver(nil, f.hessian(t, nil), nil)).of(t)
		defer solver.Close()
		res := must(solver.Prune(reference, f.rows, f.cols, pruneOpts(t, fraction(0.5), nil))).of(t)
		res.Close()
	}()
	for order := 0; order < 4; order++ {
		ctx := must(NewContext()).of(t)
		h := must(HessianFromMatrix(ctx, f.h, f.cols, int64(f.tokens))).of(t)
		q := newQuantizer(t, 4, 0)
		solver := must(NewSolver(ctx, h, nil)).of(t)
		ctx.Close()
		if order%2 == 0 {
			h.Close()
		}
		w := f.clone()
		joint := must(solver.Prune(w, f.rows, f.cols, pruneOpts(t, fraction(0.5), q))).of(t)
		w2 := f.clone()
		plain := must(solver.Prune(w2, f.rows, f.cols, pruneOpts(t, fraction(0.5), nil))).of(t)
		if relMaxDiff(w2, reference) != 0 {
			t.Fatal("same prune, different result")
		}
		if order < 2 {
			solver.Close()
			q.Close()
		}
		if deq := must(joint.QuantResult.Dequantize()).of(t); relMaxDiff(deq, w) != 0 {
			t.Fatal("codes do not rebuild the weight")
		}
		joint.Mask.Close()
		if s := plain.Mask.Sparsity(); math.Abs(s-0.5) > 1e-3 {
			t.Fatalf("sparsity %g", s)
		}
		joint.Close()
		plain.Close()
		solver.Close()
		q.Close()
		h.Close()
	}
}

// TestCallbacksOutliveTheContext: progress is reported through a solver whose Context
// and Hessian were closed before it ran, and the callback registration is released with
// the last handle.
func TestCallbacksOutliveTheContext(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	var calls atomic.Int64
	var bad atomic.Value
	ctx := must(NewContext(WithThreads(1), WithProgress(func(stage string, fraction float64) {
		if stage == "" || fraction < 0 || fraction > 1 {
			bad.Store(stage)
		}
		calls.Add(1)
	}))).of(t)
	if n := ctx.Threads(); n != 1 {
		t.Fatalf("threads %d", n)
	}
	h := must(NewHessian(ctx, f.cols)).of(t)
	noErr(t, h.Add(f.x, f.tokens))
	solver := must(NewSolver(ctx, h, nil)).of(t)
	ctx.Close()
	h.Close()
	settings := solver.ctx
	if settings == nil || settings.refs.Load() != 1 {
		t.Fatal("the solver does not hold the context's settings")
	}
	w := f.clone()
	res := must(solver.Prune(w, f.rows, f.cols, pruneOpts(t, nOfM(2, 4), nil))).of(t)
	res.Close()
	if calls.Load() == 0 || bad.Load() != nil {
		t.Fatalf("%d progress calls, bad stage %v", calls.Load(), bad.Load())
	}
	solver.Close()
	if settings.refs.Load() != 0 {
		t.Fatal("settings not released with the last handle")
	}
	_, err := NewSolver(ctx, h, nil)
	expectError(t, err, StatusInvalidArgument, "surgeon_solver_new")
}

// TestLogReportsDampingEscalation: an indefinite H (eigenvalues 3 and -2, mean diagonal
// 0.5) fails Cholesky with damping 0.005, 0.05 and 0.5 and succeeds with 5.
func TestLogReportsDampingEscalation(t *testing.T) {
	var mu sync.Mutex
	var messages []string
	ctx := must(NewContext(WithLog(func(level LogLevel, message string) {
		mu.Lock()
		defer mu.Unlock()
		if level == LogWarning {
			messages = append(messages, message)
		}
	}))).of(t)
	defer ctx.Close()
	h := must(HessianFromMatrix(ctx, []float32{0.5, 2.5, 2.5, 0.5}, 2, 10)).of(t)
	defer h.Close()
	solver := must(NewSolver(ctx, h, nil)).of(t)
	defer solver.Close()
	if d := must(solver.Damping()).of(t); math.Abs(d-5) > 1e-6 {
		t.Fatalf("damping %g", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(messages) != 3 {
		t.Fatalf("%d warnings: %q", len(messages), messages)
	}
	for _, m := range messages {
		if !strings.Contains(m, "Cholesky") {
			t.Fatalf("warning %q", m)
		}
	}
}

// TestPanickingCallbackDoesNotUnwindIntoC: the panic is recovered in the trampoline and
// the call completes.
func TestPanickingCallbackDoesNotUnwindIntoC(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	ctx := must(NewContext(WithProgress(func(string, float64) { panic("from a progress callback") }))).of(t)
	defer ctx.Close()
	h := f.hessian(t, ctx)
	solver := must(NewSolver(ctx, h, nil)).of(t)
	defer solver.Close()
	w := f.clone()
	res := must(solver.Prune(w, f.rows, f.cols, pruneOpts(t, nOfM(2, 4), nil))).of(t)
	defer res.Close()
	if !must(res.Mask.CheckNM(2, 4)).of(t) {
		t.Fatal("not 2:4")
	}
}

// TestCloseWaitsForCallsInProgress: Close racing with Adds on other goroutines never frees
// the accumulator under a call; calls after it fail cleanly.
func TestCloseWaitsForCallsInProgress(t *testing.T) {
	for round := 0; round < 20; round++ {
		h := must(NewHessian(nil, 64)).of(t)
		x := make([]float32, 256*64)
		for i := range x {
			x[i] = float32(i%13) - 6
		}
		wait := spawn(4, func(g int) {
			for i := 0; i < 20; i++ {
				if err := h.Add(x, 256); err != nil {
					if !errors.Is(err, ErrInvalidArgument) { // closed, nothing else
						t.Error(err)
					}
					return
				}
			}
		})
		runtime.Gosched()
		h.Close()
		wait()
		expectError(t, h.Add(x, 256), StatusInvalidArgument, "surgeon_hessian_add_f32")
	}
}

// TestUsingLocksEachHandleOnce: a handle passed twice is locked once (written when it is
// the first argument), nil handles pass NULL, every lock is released afterwards, and a
// closed handle among them is an error that leaves no lock held.
func TestUsingLocksEachHandleOnce(t *testing.T) {
	a := must(NewMask(1, 1)).of(t)
	b := must(NewMask(1, 1)).of(t)
	defer a.Close()
	defer b.Close()
	var got []raw.Handle
	noErr(t, using("f", true, func(p []raw.Handle) error {
		got = append(got, p...)
		if a.mu.TryRLock() || b.mu.TryLock() || !b.mu.TryRLock() {
			t.Error("a is not write-locked or b not read-locked")
		}
		b.mu.RUnlock()
		return nil
	}, &a.handle, nil, &b.handle, &a.handle))
	if got[0] != raw.Handle(a.ptr) || got[1] != 0 || got[2] != raw.Handle(b.ptr) || got[3] != got[0] {
		t.Fatalf("pointers %v", got)
	}
	b.Close()
	err := using("f", true, func([]raw.Handle) error { return nil }, &a.handle, &b.handle)
	expectError(t, err, StatusInvalidArgument, "f")
	if !a.mu.TryLock() {
		t.Fatal("a lock is still held")
	}
	a.mu.Unlock()
}
