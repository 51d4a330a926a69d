package surgeon

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"surgeon.dev/surgeon/internal/leakcheck"
	"surgeon.dev/surgeon/npy"
)

// TestMain checks, after every test, that each C handle the tests made was freed once
// (explicitly or by a finalizer), and under the ASan runtime (sanitized build) that the
// C library leaked nothing.
func TestMain(m *testing.M) {
	code := m.Run()
	collect()
	if n := liveHandles.Load(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d C handles still live after every test\n", n)
		code = 1
	}
	if ran, leaked := leakcheck.Check(); ran {
		fmt.Fprintf(os.Stderr, "LeakSanitizer check: leaks=%v\n", leaked)
		if leaked {
			code = 1
		}
	} else if os.Getenv("SURGEON_REQUIRE_LSAN") != "" {
		fmt.Fprintln(os.Stderr, "FAIL: SURGEON_REQUIRE_LSAN is set but the ASan runtime is not loaded")
		code = 1
	}
	os.Exit(code)
}

// collect runs the garbage collector until pending finalizers have run.
func collect() {
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

const defaultFixture = "stories260K_block2_wq"

// fixturesDir is $SURGEON_FIXTURES_DIR, else the repository's tests/fixtures, else the
// shared ../shared/fixtures beside the checkout.
func fixturesDir(t testing.TB) string {
	candidates := []string{os.Getenv("SURGEON_FIXTURES_DIR"), "../../tests/fixtures", "../../../shared/fixtures"}
	for _, dir := range candidates {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, defaultFixture, "W.npy")); err == nil {
			return dir
		}
	}
	t.Fatalf("no fixtures in %v", candidates)
	return ""
}

type config struct {
	Method  string `json:"method"`
	Options struct {
		Sparsity     float64 `json:"sparsity"`
		PruneN       int     `json:"prunen"`
		PruneM       int     `json:"prunem"`
		Bits         int     `json:"bits"`
		Sym          *bool   `json:"sym"`
		GroupSize    int     `json:"groupsize"`
		ActOrder     bool    `json:"actorder"`
		StaticGroups bool    `json:"static_groups"`
		MSE          bool    `json:"mse"`
	} `json:"options"`
	RelReconError float64 `json:"rel_recon_error"`
	Zeros         float64 `json:"zeros"`
}

type fixture struct {
	name       string
	w, h, x    []float32 // x is nil when the fixture has no X.npy
	rows, cols int
	tokens     int
	configs    map[string]config
}

func loadFixture(t testing.TB, name string) *fixture {
	t.Helper()
	dir := filepath.Join(fixturesDir(t), name)
	read := func(file string) *npy.Array {
		a, err := npy.Read(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	w, h := read("W.npy"), read("H.npy")
	f := &fixture{name: name, w: w.Data, h: h.Data, rows: w.Shape[0], cols: w.Shape[1]}
	if h.Shape[0] != f.cols || h.Shape[1] != f.cols {
		t.Fatalf("H shape %v for W %v", h.Shape, w.Shape)
	}
	var ref struct {
		X       []int             `json:"X"`
		Configs map[string]config `json:"configs"`
	}
	text, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err == nil {
		err = json.Unmarshal(text, &ref)
	}
	if err != nil {
		t.Fatal(err)
	}
	f.configs, f.tokens = ref.Configs, ref.X[0]
	if _, err := os.Stat(filepath.Join(dir, "X.npy")); err == nil {
		x := read("X.npy")
		f.x = x.Data
		if x.Shape[0] != f.tokens || x.Shape[1] != f.cols {
			t.Fatalf("X shape %v", x.Shape)
		}
	}
	return f
}

func (f *fixture) hessian(t testing.TB, ctx *Context) *Hessian {
	t.Helper()
	h, err := HessianFromMatrix(ctx, f.h, f.cols, int64(f.tokens))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func (f *fixture) clone() []float32 { return append([]float32(nil), f.w...) }

// independentError is tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) in float64, without the library.
func (f *fixture) independentError(wHat []float32) float64 {
	quad := func(d func(int) float64) float64 {
		total := 0.0
		for r := 0; r < f.rows; r++ {
			for i := 0; i < f.cols; i++ {
				di := d(r*f.cols + i)
				if di == 0 {
					continue
				}
				row := f.h[i*f.cols : (i+1)*f.cols]
				s := 0.0
				for j, hij := range row {
					s += float64(hij) * d(r*f.cols+j)
				}
				total += di * s
			}
		}
		return total
	}
	return quad(func(k int) float64 { return float64(f.w[k] - wHat[k]) }) /
		quad(func(k int) float64 { return float64(f.w[k]) })
}

// expectWithinReference checks the library's metric against the independent formula and
// the result against 1.01 × the reference implementation's error.
func (f *fixture) expectWithinReference(t *testing.T, h *Hessian, wHat []float32, name string) float64 {
	t.Helper()
	got, err := ReconstructionError(h, f.w, wHat, f.rows, f.cols)
	if err != nil {
		t.Fatal(err)
	}
	// The float64 triple loop is slow in Go for the 256 × 512 fixture; the smaller ones
	// cover the metric.
	if f.rows*f.cols*f.cols <= 1<<21 {
		if independent := f.independentError(wHat); math.Abs(got-independent) > 1e-4*independent {
			t.Errorf("%s: library metric %g, independent %g", name, got, independent)
		}
	}
	ref := f.configs[name].RelReconError
	if ref <= 0 {
		t.Fatalf("%s: no reference error", name)
	}
	t.Logf("%-28s ours %.6e  reference %.6e  ratio %.4f", f.name+"/"+name, got, ref, got/ref)
	if got > 1.01*ref {
		t.Errorf("%s/%s: error %g > 1.01 × reference %g", f.name, name, got, ref)
	}
	return got
}

// relMaxDiff is max |a - b| / max |b|.
func relMaxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	scale, diff := 0.0, 0.0
	for i := range a {
		scale = math.Max(scale, math.Abs(float64(b[i])))
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
	}
	return diff / scale
}

// must(f()).of(t) is f's value, or t.Fatal with its error.
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) of(t testing.TB) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sparsity is a fraction of weights removed, or n:m when n > 0.
type sparsity struct {
	fraction float64
	n, m     int
}

func fraction(f float64) sparsity { return sparsity{fraction: f} }
func nOfM(n, m int) sparsity      { return sparsity{n: n, m: m} }

// closing returns v, closed when the test ends (or earlier by the test).
func closing[T interface{ Close() error }](t testing.TB, v T) T {
	t.Cleanup(func() { v.Close() })
	return v
}

// all is the first error of a sequence of calls.
func all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pruneOpts is prune options with sp, quantizer q (may be nil) and optionally a scope.
func pruneOpts(t testing.TB, sp sparsity, q *Quantizer, scope ...MaskScope) *PruneOptions {
	t.Helper()
	o := closing(t, must(NewPruneOptions()).of(t))
	noErr(t, all(o.SetSparsity(sp.fraction), o.SetNM(sp.n, sp.m), o.SetQuantizer(q)))
	for _, s := range scope {
		noErr(t, o.SetMaskScope(s))
	}
	return o
}

// newQuantizer is a bits-bit quantizer with groupSize columns per grid.
func newQuantizer(t testing.TB, bits, groupSize int) *Quantizer {
	t.Helper()
	q := closing(t, must(NewQuantizer(bits)).of(t))
	noErr(t, q.SetGroupSize(groupSize))
	return q
}

// solverOpts is solver options with a damping and block size.
func solverOpts(t testing.TB, percdamp float64, blockSize int) *SolverOptions {
	t.Helper()
	o := closing(t, must(NewSolverOptions()).of(t))
	noErr(t, all(o.SetDamping(percdamp), o.SetBlockSize(blockSize)))
	return o
}

// generateOpts is generation options with steps, temperature and seed.
func generateOpts(t testing.TB, steps int, temperature float64, seed uint64) *GenerateOptions {
	t.Helper()
	o := closing(t, must(NewGenerateOptions()).of(t))
	noErr(t, all(o.SetSteps(steps), o.SetTemperature(temperature), o.SetSeed(seed)))
	return o
}

// mixedOpts is mixed options with the bit options and the target average.
func mixedOpts(t testing.TB, bits []int32, avg float64) *MixedOptions {
	t.Helper()
	o := closing(t, must(NewMixedOptions()).of(t))
	noErr(t, all(o.SetBits(bits), o.SetAverage(avg)))
	return o
}

// quantize runs s.Quantize on w and returns the codes (closed when the test ends) and the
// loss.
func quantize(t testing.TB, s *Solver, w []float32, rows, cols int, q *Quantizer) (*QuantResult, float64) {
	t.Helper()
	r, loss, err := s.Quantize(w, rows, cols, q)
	noErr(t, err)
	t.Cleanup(func() { r.Close() })
	return r, loss
}

// spawn runs fn(0) .. fn(n-1) on n goroutines; wait blocks until all returned.
func spawn(n int, fn func(g int)) (wait func()) {
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			fn(g)
		}(g)
	}
	return wg.Wait
}

// feed adds x (tokens × h.Cols()) to h in batches of batch rows.
func feed(h *Hessian, x []float32, tokens, batch int) error {
	for start := 0; start < tokens; start += batch {
		end := start + batch
		if end > tokens {
			end = tokens
		}
		if err := h.Add(x[start*h.Cols():end*h.Cols()], end-start); err != nil {
			return err
		}
	}
	return nil
}
