package surgeon

import (
	"testing"
)

const goroutines = 4

type pipelineResult struct {
	pruned, quantized []float32
	mask              []byte
}

// pipeline streams X, prunes 2:4 and quantizes 4-bit with handles of its own. It runs on
// goroutines other than the test's, so it returns errors instead of calling t.Fatal.
func pipeline(f *fixture) (r pipelineResult, err error) {
	ctx, err := NewContext(WithThreads(1))
	if err != nil {
		return r, err
	}
	defer ctx.Close()
	h, err := NewHessian(ctx, f.cols)
	if err != nil {
		return r, err
	}
	defer h.Close()
	if err := feed(h, f.x, f.tokens, 256); err != nil {
		return r, err
	}
	solver, err := NewSolver(ctx, h, nil)
	if err != nil {
		return r, err
	}
	defer solver.Close()
	opts, err := NewPruneOptions()
	if err != nil {
		return r, err
	}
	defer opts.Close()
	if err := opts.SetNM(2, 4); err != nil {
		return r, err
	}
	r = pipelineResult{pruned: f.clone(), quantized: f.clone()}
	res, err := solver.Prune(r.pruned, f.rows, f.cols, opts)
	if err != nil {
		return r, err
	}
	defer res.Close()
	if r.mask, err = res.Mask.Bytes(); err != nil {
		return r, err
	}
	q, err := NewQuantizer(4)
	if err != nil {
		return r, err
	}
	defer q.Close()
	qr, _, err := solver.Quantize(r.quantized, f.rows, f.cols, q)
	if err != nil {
		return r, err
	}
	return r, qr.Close()
}

// TestSeparateHandlesOnSeveralGoroutines: each goroutine's results equal the sequential
// ones.
func TestSeparateHandlesOnSeveralGoroutines(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	sequential := must(pipeline(f)).of(t)
	results := make([]pipelineResult, goroutines)
	errs := make([]error, goroutines)
	wait := spawn(len(results), func(g int) {
		results[g], errs[g] = pipeline(f)
	})
	wait()
	for g, r := range results {
		noErr(t, errs[g])
		if string(r.mask) != string(sequential.mask) {
			t.Errorf("goroutine %d: different mask", g)
		}
		if relMaxDiff(r.pruned, sequential.pruned) > 1e-6 || relMaxDiff(r.quantized, sequential.quantized) > 1e-6 {
			t.Errorf("goroutine %d: different weights", g)
		}
	}
}

// TestConcurrentPruneAndQuantizeOnOneSolver: the C API allows it (the factorization is
// computed once, under a lock); the goroutines also race on the first factorization.
func TestConcurrentPruneAndQuantizeOnOneSolver(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	ctx := must(NewContext(WithThreads(1))).of(t)
	defer ctx.Close()
	solver := must(NewSolver(ctx, f.hessian(t, ctx), nil)).of(t)
	defer solver.Close()
	q := newQuantizer(t, 4, 32)
	jobs := []*PruneOptions{pruneOpts(t, nOfM(2, 4), nil), pruneOpts(t, fraction(0.5), nil)}
	run := func(job int) ([]float32, error) {
		w := f.clone()
		if job < len(jobs) {
			r, err := solver.Prune(w, f.rows, f.cols, jobs[job])
			r.Close()
			return w, err
		}
		r, _, err := solver.Quantize(w, f.rows, f.cols, q)
		closeAll(r)
		return w, err
	}
	concurrent := make([][]float32, 2*goroutines)
	errs := make([]error, len(concurrent))
	wait := spawn(len(concurrent), func(k int) {
		concurrent[k], errs[k] = run(k % 3)
	})
	wait()
	sequential := [][]float32{must(run(0)).of(t), must(run(1)).of(t), must(run(2)).of(t)}
	for k, w := range concurrent {
		noErr(t, errs[k])
		if d := relMaxDiff(w, sequential[k%3]); d > 1e-6 {
			t.Errorf("job %d differs by %g", k%3, d)
		}
	}
}

// TestConcurrentAddsOnOneHessian: the C API allows concurrent adds on one accumulator.
func TestConcurrentAddsOnOneHessian(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	ctx := must(NewContext(WithThreads(1))).of(t)
	defer ctx.Close()
	sequential := must(NewHessian(ctx, f.cols)).of(t)
	defer sequential.Close()
	noErr(t, sequential.Add(f.x, f.tokens))
	shared := must(NewHessian(ctx, f.cols)).of(t)
	defer shared.Close()
	const batch = 97
	wait := spawn(goroutines, func(g int) {
		for start := g * batch; start < f.tokens; start += goroutines * batch {
			end := start + batch
			if end > f.tokens {
				end = f.tokens
			}
			if err := shared.Add(f.x[start*f.cols:end*f.cols], end-start); err != nil {
				t.Error(err)
			}
		}
	})
	wait()
	if n := shared.Samples(); n != int64(f.tokens) {
		t.Fatalf("samples %d", n)
	}
	expected := must(sequential.Matrix()).of(t)
	if d := relMaxDiff(must(shared.Matrix()).of(t), expected); d > 1e-5 {
		t.Fatalf("concurrent adds differ by %g", d)
	}
	if d := relMaxDiff(expected, f.h); d > 1e-4 {
		t.Fatalf("H differs from the fixture by %g", d)
	}
}

// TestOppositeMergesDoNotDeadlock: a.Merge(b) and b.Merge(a) at the same time.
func TestOppositeMergesDoNotDeadlock(t *testing.T) {
	a := must(NewHessian(nil, 4)).of(t)
	defer a.Close()
	b := must(NewHessian(nil, 4)).of(t)
	defer b.Close()
	noErr(t, a.Add([]float32{1, 2, 3, 4}, 1))
	noErr(t, b.Add([]float32{4, 3, 2, 1}, 1))
	wait := spawn(2, func(g int) {
		// Few rounds: each merge adds the other's sample count (Fibonacci growth).
		for i := 0; i < 30; i++ {
			var err error
			if g == 0 {
				err = a.Merge(b)
			} else {
				err = b.Merge(a)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	wait()
}
