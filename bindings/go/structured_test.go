package surgeon

import (
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func TestKSDistanceClosedForms(t *testing.T) {
	ks := func(a, b []float32) float64 { return must(KSDistance(a, b)).of(t) }
	if d := ks([]float32{3, 1, 2}, []float32{1, 2, 3}); d != 0 {
		t.Fatalf("identical samples: %g", d)
	}
	if d := ks([]float32{5, 5, 5}, []float32{5}); d != 0 {
		t.Fatalf("identical distributions, ties: %g", d)
	}
	if d := ks([]float32{1, 2}, []float32{3, 4}); d != 1 {
		t.Fatalf("disjoint supports: %g", d)
	}
	if d := ks([]float32{1, 3}, []float32{2, 4}); d != 0.5 {
		t.Fatalf("interleaved: %g", d)
	}
	// A grid of n points against the same grid shifted by k points: k/n.
	const n = 1000
	grid, shifted := make([]float32, n), make([]float32, n)
	for i := range grid {
		grid[i], shifted[i] = float32(i), float32(i+37)
	}
	if d := ks(grid, shifted); math.Abs(d-37.0/n) > 1e-12 {
		t.Fatalf("shifted grid: %g, want %g", d, 37.0/n)
	}
	// U(0, 1) against the law of U² (CDF √t): sup |√t − t| = 1/4 at t = 1/4; against
	// U(0, 2) (CDF t/2 on [0, 1]): sup |t − t/2| = 1/2 at t = 1. Midpoint samples are within
	// 1/n of the laws.
	const m = 20000
	u, sq, wide := make([]float32, m), make([]float32, m), make([]float32, m)
	for i := range u {
		p := (float64(i) + 0.5) / m
		u[i], sq[i], wide[i] = float32(p), float32(p*p), float32(2*p)
	}
	if d := ks(u, sq); math.Abs(d-0.25) > 2.0/m {
		t.Fatalf("U vs U²: %g, want 0.25", d)
	}
	if d := ks(u, wide); math.Abs(d-0.5) > 2.0/m {
		t.Fatalf("U(0,1) vs U(0,2): %g, want 0.5", d)
	}
	_, err := KSDistance(nil, grid)
	expectError(t, err, StatusInvalidArgument, "surgeon_ks_distance")
}

func TestSingularValuesAndSpectralDistance(t *testing.T) {
	m := []float32{3, 0, 0, -4, 0, 0} // 3 × 2: singular values 4, 3
	s := must(SingularValues(m, 3, 2)).of(t)
	if len(s) != 2 || math.Abs(float64(s[0])-4) > 1e-5 || math.Abs(float64(s[1])-3) > 1e-5 {
		t.Fatalf("singular values %v", s)
	}
	// A rank-one u·vᵀ has one singular value |u|·|v|, the others 0.
	u, v := []float32{1, 2, 2}, []float32{3, 0, 4, 0}
	outer := make([]float32, 12)
	for i := range u {
		for j := range v {
			outer[i*4+j] = u[i] * v[j]
		}
	}
	s = must(SingularValues(outer, 3, 4)).of(t)
	if len(s) != 3 || math.Abs(float64(s[0])-15) > 1e-4 || math.Abs(float64(s[1])) > 1e-4 || math.Abs(float64(s[2])) > 1e-4 {
		t.Fatalf("rank one: %v", s)
	}
	// Any matrix: Σσ² = ‖A‖²_F, descending.
	rng := rand.New(rand.NewSource(4))
	a := make([]float32, 9*5)
	frob := 0.0
	for i := range a {
		a[i] = float32(rng.NormFloat64())
		frob += float64(a[i]) * float64(a[i])
	}
	s = must(SingularValues(a, 9, 5)).of(t)
	sum := 0.0
	for i, x := range s {
		sum += float64(x) * float64(x)
		if i > 0 && x > s[i-1] {
			t.Fatalf("not descending: %v", s)
		}
	}
	if math.Abs(sum-frob) > 1e-4*frob {
		t.Fatalf("Σσ² = %g, ‖A‖² = %g", sum, frob)
	}

	// Keeping the first row of m: spectrum {3} against {4, 3}.
	if d := must(SpectralDistance(m, 3, 2, []float32{3, 0}, 1, 2)).of(t); d != 0.5 {
		t.Fatalf("spectral distance %g", d)
	}
	if d := must(SpectralDistance(a, 9, 5, a, 9, 5)).of(t); d != 0 {
		t.Fatalf("spectral distance to itself %g", d)
	}
	_, err := SingularValues(m, 2, 2)
	expectError(t, err, StatusShape, "surgeon_singular_values")
	_, err = SpectralDistance(m, 3, 2, []float32{3}, 1, 2)
	expectError(t, err, StatusShape, "surgeon_spectral_distance")
}

func randomFFN(hidden, dim int, seed int64) FFN {
	rng := rand.New(rand.NewSource(seed))
	gen := func(n int) []float32 {
		m := make([]float32, n)
		for i := range m {
			m[i] = float32(rng.NormFloat64())
		}
		return m
	}
	return FFN{Gate: gen(hidden * dim), Up: gen(hidden * dim), Down: gen(dim * hidden), Hidden: hidden, Dim: dim}
}

func TestFFNScoresSelectSlice(t *testing.T) {
	const hidden, dim = 20, 8
	f := randomFFN(hidden, dim, 1)
	scores := must(FFNScores(FFNL2, f, 0)).of(t)
	for i := 0; i < hidden; i++ {
		sq := 0.0
		for c := 0; c < dim; c++ {
			g, u := float64(f.Gate[i*dim+c]), float64(f.Up[i*dim+c])
			sq += g*g + u*u
		}
		if math.Abs(float64(scores[i])-math.Sqrt(sq)) > 1e-5*math.Sqrt(sq) {
			t.Fatalf("neuron %d: L2 score %g, want %g", i, scores[i], math.Sqrt(sq))
		}
	}
	noDown := f
	noDown.Down = nil
	if relMaxDiff(must(FFNScores(FFNL2, noDown, 0)).of(t), scores) != 0 {
		t.Fatal("down changed the L2 scores")
	}
	r1, r2, r3 := must(FFNScores(FFNRandom, f, 7)).of(t), must(FFNScores(FFNRandom, f, 7)).of(t), must(FFNScores(FFNRandom, f, 8)).of(t)
	if relMaxDiff(r1, r2) != 0 || relMaxDiff(r1, r3) == 0 {
		t.Fatal("random scores are not a function of the seed")
	}

	keep := must(FFNSelect(scores, 0.25)).of(t)
	if len(keep) != 15 {
		t.Fatalf("kept %d of 20 at ratio 0.25", len(keep))
	}
	kept := map[int64]bool{}
	for i, k := range keep {
		if i > 0 && keep[i-1] >= k {
			t.Fatalf("not ascending: %v", keep)
		}
		kept[k] = true
	}
	// The kept neurons are the 15 highest scores.
	order := make([]int, hidden)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	for rank, i := range order {
		if kept[int64(i)] != (rank < 15) {
			t.Fatalf("neuron %d (rank %d) kept: %v", i, rank, kept[int64(i)])
		}
	}
	if all := must(FFNSelect(scores, 0)).of(t); len(all) != hidden {
		t.Fatalf("ratio 0 kept %d", len(all))
	}
	if one := must(FFNSelect(scores, 0.99)).of(t); len(one) != 1 || int(one[0]) != order[0] {
		t.Fatalf("ratio 0.99 kept %v", one)
	}

	sliced := cloneFFN(f)
	noErr(t, FFNSlice(&sliced, keep))
	if sliced.Hidden != 15 || sliced.Dim != dim || len(sliced.Gate) != 15*dim || len(sliced.Up) != 15*dim ||
		len(sliced.Down) != dim*15 {
		t.Fatalf("sliced shapes: hidden %d, %d / %d / %d values", sliced.Hidden, len(sliced.Gate), len(sliced.Up),
			len(sliced.Down))
	}
	for n, k := range keep {
		for c := 0; c < dim; c++ {
			if sliced.Gate[n*dim+c] != f.Gate[int(k)*dim+c] || sliced.Up[n*dim+c] != f.Up[int(k)*dim+c] ||
				sliced.Down[c*15+n] != f.Down[c*hidden+int(k)] {
				t.Fatalf("kept neuron %d (was %d) differs at %d", n, k, c)
			}
		}
	}
	// The spectral distance of the sliced gate is the KS distance of the two spectra.
	d := must(SpectralDistance(f.Gate, hidden, dim, sliced.Gate, 15, dim)).of(t)
	ks := must(KSDistance(must(SingularValues(f.Gate, hidden, dim)).of(t), must(SingularValues(sliced.Gate, 15, dim)).of(t))).of(t)
	if d != ks || d <= 0 {
		t.Fatalf("spectral distance %g, KS of the spectra %g", d, ks)
	}

	// Errors: nothing returned, inputs untouched.
	target := cloneFFN(f)
	expectError(t, FFNSlice(&target, []int64{3, 2}), StatusInvalidArgument, "surgeon_ffn_slice")
	expectError(t, FFNSlice(&target, []int64{0, 20}), StatusInvalidArgument, "surgeon_ffn_slice")
	expectError(t, FFNSlice(&target, nil), StatusInvalidArgument, "surgeon_ffn_slice")
	if target.Hidden != hidden || relMaxDiff(target.Gate, f.Gate) != 0 || relMaxDiff(target.Up, f.Up) != 0 ||
		relMaxDiff(target.Down, f.Down) != 0 {
		t.Fatal("a failed slice changed the FFN")
	}
	_, err := FFNSelect(scores, 1.0)
	expectError(t, err, StatusInvalidArgument, "surgeon_ffn_select")
	_, err = FFNScores(FFNMethod(9), f, 0)
	expectError(t, err, StatusInvalidArgument, "surgeon_ffn_scores")
	short := f
	short.Up = short.Up[1:]
	_, err = FFNScores(FFNL2, short, 0)
	expectError(t, err, StatusShape, "surgeon_ffn_scores")
	expectError(t, FFNSlice(&noDown, keep), StatusShape, "surgeon_ffn_slice")
}

func cloneFFN(f FFN) FFN {
	clone := func(m []float32) []float32 { return append([]float32(nil), m...) }
	return FFN{Gate: clone(f.Gate), Up: clone(f.Up), Down: clone(f.Down), Hidden: f.Hidden, Dim: f.Dim}
}

// policySelect is a policy's selection at ratio: FFNSelect on its scores.
func policySelect(p *PruneNet, f FFN, ratio float64) ([]int64, error) {
	scores, err := p.Scores(f)
	if err != nil {
		return nil, err
	}
	return FFNSelect(scores, ratio)
}

func prunenetTrainingOptions(t *testing.T) *PruneNetOptions {
	o := must(DefaultPruneNetOptions()).of(t)
	if o != (PruneNetOptions{Ratio: 0.3, Steps: 150, Samples: 8, LearningRate: 0.05, Features: 8, Seed: 1}) {
		t.Fatalf("default options %+v", o)
	}
	o.Steps, o.Seed = 8, 42
	return &o
}

func TestPruneNetTrainSaveLoad(t *testing.T) {
	const hidden, dim = 20, 8
	blocks := []FFN{randomFFN(hidden, dim, 11), randomFFN(hidden+4, dim, 12)}
	opts := prunenetTrainingOptions(t)
	p := must(TrainPruneNet(nil, blocks, opts)).of(t)
	defer p.Close()
	again := must(TrainPruneNet(nil, blocks, opts)).of(t)
	defer again.Close()
	if p.Dim() != dim {
		t.Fatalf("dim %d", p.Dim())
	}
	scores := must(p.Scores(blocks[0])).of(t)
	if relMaxDiff(must(again.Scores(blocks[0])).of(t), scores) != 0 {
		t.Fatal("same seed, different policy")
	}
	for i, s := range scores {
		if !(s > 0 && s < 1) {
			t.Fatalf("keep-probability %g of neuron %d", s, i)
		}
	}
	// The policy's selection is the top-k of its scores, at any ratio.
	for _, ratio := range []float64{0.3, 0.5} {
		keep := must(policySelect(p, blocks[0], ratio)).of(t)
		if len(keep) != int(math.Round((1-ratio)*hidden)) {
			t.Fatalf("ratio %g kept %d", ratio, len(keep))
		}
		kept := map[int64]bool{}
		for _, k := range keep {
			kept[k] = true
		}
		for i := range scores {
			for j := range scores {
				if kept[int64(i)] && !kept[int64(j)] && scores[i] < scores[j] {
					t.Fatalf("ratio %g keeps neuron %d (%g) over %d (%g)", ratio, i, scores[i], j, scores[j])
				}
			}
		}
	}
	// Training changes the policy: an untrained one with the same seed scores differently.
	fresh := must(NewPruneNet(dim, opts.Features, opts.Seed)).of(t)
	defer fresh.Close()
	if relMaxDiff(must(fresh.Scores(blocks[0])).of(t), scores) == 0 {
		t.Error("training left the policy as initialised")
	}

	// Save / load: a JSON policy file giving bit-identical scores.
	path := filepath.Join(t.TempDir(), "policy.json")
	noErr(t, p.Save(nil, path))
	text, err := os.ReadFile(path)
	noErr(t, err)
	var file map[string]interface{}
	if err := json.Unmarshal(text, &file); err != nil || file["format"] != "surgeon-prunenet-policy" {
		t.Fatalf("policy file: %v, format %v", err, file["format"])
	}
	loaded := must(LoadPruneNet(nil, path)).of(t)
	defer loaded.Close()
	if loaded.Dim() != dim {
		t.Fatalf("loaded dim %d", loaded.Dim())
	}
	for _, b := range blocks {
		want := must(p.Scores(b)).of(t)
		got := must(loaded.Scores(b)).of(t)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("loaded policy scores neuron %d %g, saved one %g", i, got[i], want[i])
			}
		}
	}

	// Errors.
	_, err = p.Scores(randomFFN(hidden/2, dim*2, 3)) // consistent FFN, wrong hidden size for the policy
	expectError(t, err, StatusShape, "surgeon_prunenet_scores")
	_, err = p.Scores(FFN{Gate: blocks[0].Gate, Up: blocks[0].Up, Hidden: hidden, Dim: dim})
	expectError(t, err, StatusShape, "surgeon_prunenet_scores")
	_, err = LoadPruneNet(nil, filepath.Join(t.TempDir(), "missing.json"))
	expectError(t, err, StatusIO, "surgeon_prunenet_load")
	noErr(t, os.WriteFile(path, text[:len(text)/2], 0o644))
	_, err = LoadPruneNet(nil, path)
	expectError(t, err, StatusIO, "surgeon_prunenet_load")
	bad := *opts
	bad.Samples = 1
	_, err = TrainPruneNet(nil, blocks, &bad)
	expectError(t, err, StatusInvalidArgument, "surgeon_prunenet_train_ffn")
	_, err = TrainPruneNet(nil, []FFN{blocks[0], randomFFN(hidden, dim+1, 5)}, opts)
	expectError(t, err, StatusShape, "surgeon_prunenet_train_ffn")
	_, err = TrainPruneNet(nil, nil, opts)
	expectError(t, err, StatusInvalidArgument, "surgeon_prunenet_train_ffn")
	_, err = NewPruneNet(0, 8, 1)
	expectError(t, err, StatusInvalidArgument, "surgeon_prunenet_new")
	expectError(t, p.Save(nil, "/nonexistent/dir/policy.json"), StatusIO, "surgeon_prunenet_save")
	again.Close()
	_, err = again.Scores(blocks[0])
	expectError(t, err, StatusInvalidArgument, "surgeon_prunenet_scores")
}

// TestConcurrentPruneNetReads: Scores and Select on one policy from several goroutines.
func TestConcurrentPruneNetReads(t *testing.T) {
	f := randomFFN(16, 6, 21)
	p := must(NewPruneNet(6, 4, 9)).of(t)
	defer p.Close()
	want := must(p.Scores(f)).of(t)
	wait := spawn(4, func(g int) {
		for i := 0; i < 20; i++ {
			got, err := p.Scores(f)
			if err != nil || relMaxDiff(got, want) != 0 {
				t.Errorf("concurrent scores: %v", err)
				return
			}
			if _, err := policySelect(p, f, 0.5); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wait()
}
