package surgeon

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var fixtureNames = []string{"stories260K_block2_wq", "stories260K_block0_w1", "stories260K_block2_w2", "synth_256x512_s1"}

func quantizerFor(t *testing.T, c config) *Quantizer {
	o := c.Options
	q := newQuantizer(t, o.Bits, o.GroupSize)
	noErr(t, q.SetSymmetric(o.Sym == nil || *o.Sym))
	noErr(t, q.SetActOrder(o.ActOrder))
	noErr(t, q.SetStaticGroups(o.StaticGroups))
	if o.MSE {
		noErr(t, q.SetMSE(&DefaultMSESearch))
	}
	return q
}

// checkQuant checks the codes against the weight they produced (pruned: zeros in wHat may
// be pruned entries, which the codes do not represent).
func checkQuant(t *testing.T, f *fixture, q *QuantResult, bits int, wHat []float32, pruned bool) {
	s := q.Shape()
	if s.Rows != f.rows || s.Cols != f.cols || s.Bits != bits {
		t.Fatalf("qresult shape %+v", s)
	}
	deq := must(q.Dequantize()).of(t)
	if relMaxDiff(deq, wHat) != 0 {
		t.Errorf("dequantized codes differ from the weight by %g", relMaxDiff(deq, wHat))
	}
	codes, scales, zeros, gIdx := must(q.Codes()).of(t), must(q.Scales()).of(t), must(q.Zeros()).of(t), must(q.GIdx()).of(t)
	for k, c := range codes {
		r, j := k/f.cols, k%f.cols
		if int(c) >= 1<<bits || int(gIdx[j]) >= s.Groups {
			t.Fatalf("code %d / group %d out of range at %d", c, gIdx[j], k)
		}
		g := r*s.Groups + int(gIdx[j])
		if !pruned || wHat[k] != 0 {
			if v := scales[g] * (float32(c) - zeros[g]); math.Abs(float64(v-wHat[k])) > 1e-6*(1+math.Abs(float64(v))) {
				t.Fatalf("element %d: scale·(code - zero) = %g, weight %g", k, v, wHat[k])
			}
		}
	}
	perm := must(q.Perm()).of(t)
	sorted := append([]int32(nil), perm...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
	for j, p := range sorted {
		if int(p) != j {
			t.Fatalf("perm is not a permutation: %v", perm)
		}
	}
}

// TestFixturesMatchReference runs every reference configuration of every fixture through
// the binding: error within 1.01 × the independent reference implementation's, plus
// exact structure (sparsity, N:M, code range, codes that rebuild the weight).
func TestFixturesMatchReference(t *testing.T) {
	for _, name := range fixtureNames {
		f := loadFixture(t, name)
		h := f.hessian(t, nil)
		solver := must(NewSolver(nil, h, nil)).of(t)
		t.Cleanup(func() { solver.Close() })
		configs := make([]string, 0, len(f.configs))
		for c := range f.configs {
			configs = append(configs, c)
		}
		sort.Strings(configs)
		for _, cname := range configs {
			c := f.configs[cname]
			t.Run(name+"/"+cname, func(t *testing.T) {
				o := c.Options
				sp := sparsity{fraction: o.Sparsity, n: o.PruneN, m: o.PruneM}
				w := f.clone()
				var mask *Mask
				switch c.Method {
				case "sparsegpt":
					var q *Quantizer
					if o.Bits > 0 {
						q = quantizerFor(t, c)
					}
					opts := pruneOpts(t, sp, q)
					res := must(solver.Prune(w, f.rows, f.cols, opts)).of(t)
					defer res.Close()
					mask = res.Mask
					if (res.QuantResult != nil) != (o.Bits > 0) {
						t.Fatalf("codes returned: %v, quantizer given: %v", res.QuantResult != nil, o.Bits > 0)
					}
					if res.QuantResult != nil {
						checkQuant(t, f, res.QuantResult, o.Bits, w, true)
					}
					if !(res.Loss > 0) {
						t.Errorf("loss %g", res.Loss)
					}
				case "gptq":
					res, _ := quantize(t, solver, w, f.rows, f.cols, quantizerFor(t, c))
					checkQuant(t, f, res, o.Bits, w, false)
				case "wanda":
					mask = must(PruneWanda(nil, w, f.rows, f.cols, h, pruneOpts(t, sp, nil))).of(t)
					defer mask.Close()
				case "magnitude":
					mask = must(PruneMagnitude(nil, w, f.rows, f.cols, pruneOpts(t, sp, nil))).of(t)
					defer mask.Close()
				default:
					t.Fatalf("unknown method %q", c.Method)
				}
				f.expectWithinReference(t, h, w, cname)
				if mask != nil {
					checkMask(t, f, mask, w, sp, c.Method)
				}
			})
		}
	}
}

func checkMask(t *testing.T, f *fixture, mask *Mask, w []float32, sp sparsity, method string) {
	if r, c := mask.Shape(); r != f.rows || c != f.cols {
		t.Fatalf("mask shape %d x %d", r, c)
	}
	keep := must(mask.Bytes()).of(t)
	bits := must(mask.Bits()).of(t)
	pruned := 0
	for k, kept := range keep {
		if kept > 1 || (bits[k/8]>>(k%8))&1 != kept {
			t.Fatalf("mask byte %d / bit disagree at %d", kept, k)
		}
		if kept == 0 {
			pruned++
			if w[k] != 0 {
				t.Fatalf("pruned weight %d is %g", k, w[k])
			}
		}
	}
	sparsity := mask.Sparsity()
	if sparsity != float64(pruned)/float64(len(keep)) {
		t.Errorf("Sparsity() %g, counted %d of %d", sparsity, pruned, len(keep))
	}
	if sp.n > 0 {
		if !must(mask.CheckNM(sp.n, sp.m)).of(t) {
			t.Errorf("mask is not %d:%d", sp.n, sp.m)
		}
	} else if method == "magnitude" && pruned != int(math.Round(sp.fraction*float64(len(keep)))) {
		t.Errorf("magnitude pruned %d of %d", pruned, len(keep))
	} else if math.Abs(sparsity-sp.fraction) > 0.01 {
		t.Errorf("sparsity %g, asked %g", sparsity, sp.fraction)
	}
}

func TestRowScopePrunesHalfOfEveryRow(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	solver := must(NewSolver(nil, f.hessian(t, nil), nil)).of(t)
	defer solver.Close()
	w := f.clone()
	res := must(solver.Prune(w, f.rows, f.cols, pruneOpts(t, fraction(0.5), nil, ScopeRow))).of(t)
	defer res.Close()
	keep := must(res.Mask.Bytes()).of(t)
	for r := 0; r < f.rows; r++ {
		zeros := 0
		for _, k := range keep[r*f.cols : (r+1)*f.cols] {
			if k == 0 {
				zeros++
			}
		}
		if zeros != f.cols/2 {
			t.Fatalf("row %d: %d pruned of %d", r, zeros, f.cols)
		}
	}
}

// TestStreamedHessianMatchesFixture feeds X in batches: H equals H.npy, the statistics
// equal means computed here, and SparseGPT 2:4 on it meets the reference.
func TestStreamedHessianMatchesFixture(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	h := must(NewHessian(nil, f.cols)).of(t)
	defer h.Close()
	noErr(t, feed(h, f.x, f.tokens, 500))
	if n := h.Samples(); n != int64(f.tokens) {
		t.Fatalf("samples %d, want %d", n, f.tokens)
	}
	if d := relMaxDiff(must(h.Matrix()).of(t), f.h); d > 1e-4 {
		t.Fatalf("streamed H differs from H.npy by %g", d)
	}
	stats := must(h.Stats()).of(t)
	n := float64(f.tokens)
	for j := 0; j < f.cols; j++ {
		var abs, sum, sq float64
		for r := 0; r < f.tokens; r++ {
			v := float64(f.x[r*f.cols+j])
			abs, sum, sq = abs+math.Abs(v), sum+v, sq+v*v
		}
		close := func(a float32, b float64) bool { return math.Abs(float64(a)-b) <= 1e-4*(1+math.Abs(b)) }
		if !close(stats.AbsMean[j], abs/n) || !close(stats.Mean[j], sum/n) || !close(stats.SqMean[j], sq/n) {
			t.Fatalf("column %d stats %g %g %g, want %g %g %g", j, stats.AbsMean[j], stats.Mean[j],
				stats.SqMean[j], abs/n, sum/n, sq/n)
		}
	}
	solver := must(NewSolver(nil, h, nil)).of(t)
	defer solver.Close()
	w := f.clone()
	res := must(solver.Prune(w, f.rows, f.cols, pruneOpts(t, nOfM(2, 4), nil))).of(t)
	res.Close()
	f.expectWithinReference(t, h, w, "sparsegpt_2of4")
}

func f16Bits(v float32) uint16 {
	// Truncating encoder for values in half's normal range or zero: valid half inputs
	// whose exact values f16Value gives.
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	if exp <= 0 {
		return sign
	}
	if exp > 30 {
		exp = 30
	}
	return sign | uint16(exp)<<10 | uint16(b>>13)&0x3ff
}

func f16Value(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, mant := int(h>>10)&0x1f, float64(h&0x3ff)
	if exp == 0 {
		return sign * float32(mant*math.Pow(2, -24))
	}
	return sign * float32((1+mant/1024)*math.Pow(2, float64(exp-15)))
}

// TestHalfPrecisionAddsEqualF32 feeds f16 / bf16 bit patterns and the float32 values they
// encode: the same Hessian.
func TestHalfPrecisionAddsEqualF32(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	for _, bf16 := range []bool{true, false} {
		bits := make([]uint16, len(f.x))
		values := make([]float32, len(f.x))
		for i, v := range f.x {
			if bf16 {
				bits[i] = uint16(math.Float32bits(v) >> 16)
				values[i] = math.Float32frombits(uint32(bits[i]) << 16)
			} else {
				bits[i] = f16Bits(v)
				values[i] = f16Value(bits[i])
			}
		}
		narrow := must(NewHessian(nil, f.cols)).of(t)
		wide := must(NewHessian(nil, f.cols)).of(t)
		if bf16 {
			noErr(t, narrow.AddBF16(bits, f.tokens))
		} else {
			noErr(t, narrow.AddF16(bits, f.tokens))
		}
		noErr(t, wide.Add(values, f.tokens))
		if d := relMaxDiff(must(narrow.Matrix()).of(t), must(wide.Matrix()).of(t)); d > 1e-5 {
			t.Errorf("bf16 %v: narrow and wide Hessians differ by %g", bf16, d)
		}
		if relMaxDiff(values, f.x) == 0 {
			t.Errorf("bf16 %v: rounding changed nothing, the check is vacuous", bf16)
		}
		narrow.Close()
		wide.Close()
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	h := must(NewHessian(nil, f.cols)).of(t)
	defer h.Close()
	noErr(t, h.Add(f.x, f.tokens))
	path := filepath.Join(t.TempDir(), "layer.hessian")
	noErr(t, h.Save(path))
	loaded := must(LoadHessian(nil, path)).of(t)
	defer loaded.Close()
	if loaded.Cols() != f.cols || loaded.Samples() != int64(f.tokens) {
		t.Fatalf("loaded %d cols, %d samples", loaded.Cols(), loaded.Samples())
	}
	if relMaxDiff(must(loaded.Matrix()).of(t), must(h.Matrix()).of(t)) != 0 {
		t.Fatal("loaded H differs")
	}
	// A truncated file is an IO error naming the function.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)/2], 0o644)
	_, err := LoadHessian(nil, path)
	expectError(t, err, StatusIO, "surgeon_hessian_load")
	if !errors.Is(err, ErrIO) {
		t.Errorf("errors.Is(%v, ErrIO) is false", err)
	}
}

func TestMergeEqualsOneStream(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	half := f.tokens / 2
	a, b, all := must(NewHessian(nil, f.cols)).of(t), must(NewHessian(nil, f.cols)).of(t), must(NewHessian(nil, f.cols)).of(t)
	defer a.Close()
	defer b.Close()
	defer all.Close()
	noErr(t, a.Add(f.x[:half*f.cols], half))
	noErr(t, b.Add(f.x[half*f.cols:], f.tokens-half))
	noErr(t, all.Add(f.x, f.tokens))
	noErr(t, a.Merge(b))
	if a.Samples() != int64(f.tokens) || b.Samples() != int64(f.tokens-half) {
		t.Fatal("merge counted samples wrong or changed src")
	}
	if d := relMaxDiff(must(a.Matrix()).of(t), must(all.Matrix()).of(t)); d > 1e-5 {
		t.Fatalf("merged H differs by %g", d)
	}
}

func TestRTNQuantizer(t *testing.T) {
	f := loadFixture(t, defaultFixture)
	q := newQuantizer(t, 4, 32)
	if b, g := q.Bits(), q.GroupSize(); b != 4 || g != 32 {
		t.Fatalf("bits %d group %d", b, g)
	}
	w := f.clone()
	r := must(QuantizeRTN(nil, w, f.rows, f.cols, q)).of(t)
	defer r.Close()
	if s := r.Shape(); s.Groups != f.cols/32 || s.Bits != 4 {
		t.Fatalf("shape %+v", s)
	}
	checkQuant(t, f, r, 4, w, false)
	// Round to nearest: every weight moves by at most half a step.
	scales := must(r.Scales()).of(t)
	for k := range w {
		g := k/f.cols*(f.cols/32) + k%f.cols/32
		if math.Abs(float64(w[k]-f.w[k])) > 0.5*float64(scales[g])*(1+1e-5) {
			t.Fatalf("element %d moved %g with step %g", k, w[k]-f.w[k], scales[g])
		}
	}
}
