package surgeon

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"testing"
)

// mixedLayer is a fixture with X (so the accumulator has first moments), its streamed
// Hessian and a solver over it.
type mixedLayer struct {
	*fixture
	h      *Hessian
	solver *Solver
}

func loadMixedLayer(t *testing.T, name string) *mixedLayer {
	t.Helper()
	f := loadFixture(t, name)
	if f.x == nil {
		t.Fatalf("%s has no X.npy", name)
	}
	h := must(NewHessian(nil, f.cols)).of(t)
	t.Cleanup(func() { h.Close() })
	noErr(t, h.Add(f.x, f.tokens))
	s := must(NewSolver(nil, h, nil)).of(t)
	t.Cleanup(func() { s.Close() })
	return &mixedLayer{f, h, s}
}

func sumBits(bits []int32) int64 {
	var s int64
	for _, b := range bits {
		s += int64(b)
	}
	return s
}

// normalised divides v by its mean (as the library normalises every signal).
func normalised(v []float64) []float64 {
	mean := 0.0
	for _, x := range v {
		mean += x / float64(len(v))
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / mean
	}
	return out
}

// TestImportanceSignalsMatchTheirFormulas recomputes four of the five signals from W and
// the raw calibration inputs X (not from the library's statistics), and the combined
// score from the signals and the weights.
func TestImportanceSignalsMatchTheirFormulas(t *testing.T) {
	l := loadMixedLayer(t, "stories260K_block0_w1")
	defaults := must(DefaultImportanceWeights()).of(t)
	if defaults != (ImportanceWeights{0.25, 0.25, 0.15, 0.25, 0.10}) {
		t.Fatalf("default weights %v", defaults)
	}
	imp := must(NewImportance(l.h, l.solver, l.w, l.rows, l.cols, nil)).of(t)
	defer imp.Close()
	if imp.Rows() != l.rows {
		t.Fatalf("rows %d", imp.Rows())
	}

	// Column moments of X in float64.
	n := float64(l.tokens)
	absMean, mean, sqMean := make([]float64, l.cols), make([]float64, l.cols), make([]float64, l.cols)
	for r := 0; r < l.tokens; r++ {
		for j := 0; j < l.cols; j++ {
			v := float64(l.x[r*l.cols+j])
			absMean[j] += math.Abs(v) / n
			mean[j] += v / n
			sqMean[j] += v * v / n
		}
	}
	want := map[Signal][]float64{}
	for _, s := range []Signal{SignalActivation, SignalWeight, SignalOutput, SignalVariance} {
		want[s] = make([]float64, l.rows)
	}
	for i := 0; i < l.rows; i++ {
		var act, mag, out, vr float64
		for j := 0; j < l.cols; j++ {
			a := math.Abs(float64(l.w[i*l.cols+j]))
			act += a * absMean[j]
			mag += a
			out += a * a * sqMean[j]
			vr += a * a * math.Max(0, sqMean[j]-mean[j]*mean[j])
		}
		want[SignalActivation][i] = act / float64(l.cols)
		want[SignalWeight][i] = mag / float64(l.cols)
		want[SignalOutput][i] = math.Sqrt(out)
		want[SignalVariance][i] = math.Sqrt(vr)
	}
	signals := make([][]float32, SignalCount)
	for s := Signal(0); s < SignalCount; s++ {
		values, available, err := imp.Signal(s)
		noErr(t, err)
		if !available || len(values) != l.rows {
			t.Fatalf("signal %d: available %v, %d values", s, available, len(values))
		}
		signals[s] = values
		if w, ok := want[s]; ok {
			for i, v := range normalised(w) {
				if math.Abs(float64(values[i])-v) > 1e-4*(1+v) {
					t.Fatalf("signal %d row %d: %g, formula %g", s, i, values[i], v)
				}
			}
		}
	}
	scores := must(imp.Scores()).of(t)
	for i := range scores {
		combined := 0.0
		for s := range signals {
			combined += defaults[s] * float64(signals[s][i])
		}
		if math.Abs(float64(scores[i])-combined) > 1e-5*(1+combined) { // the defaults sum to 1
			t.Fatalf("row %d: score %g, Σ w·signal %g", i, scores[i], combined)
		}
	}

	// Custom weights: only the weight-magnitude signal counts, so the score is that signal.
	only := ImportanceWeights{SignalWeight: 2}
	byWeight := must(NewImportance(l.h, nil, l.w, l.rows, l.cols, &only)).of(t)
	defer byWeight.Close()
	for i, v := range must(byWeight.Scores()).of(t) {
		if v != signals[SignalWeight][i] {
			t.Fatalf("row %d: score %g, weight signal %g", i, v, signals[SignalWeight][i])
		}
	}
	// Without a solver a private factorization gives the same scores.
	private := must(NewImportance(l.h, nil, l.w, l.rows, l.cols, nil)).of(t)
	defer private.Close()
	if d := relMaxDiff(must(private.Scores()).of(t), scores); d > 1e-5 {
		t.Fatalf("scores with and without the solver differ by %g", d)
	}

	// A Hessian from a finished matrix has no first moments: activation and variance are
	// left out (zeros, unavailable).
	fromMatrix := l.hessian(t, nil)
	noMoments := must(NewImportance(fromMatrix, nil, l.w, l.rows, l.cols, nil)).of(t)
	defer noMoments.Close()
	for s := Signal(0); s < SignalCount; s++ {
		values, available, err := noMoments.Signal(s)
		noErr(t, err)
		missing := s == SignalActivation || s == SignalVariance
		if available == missing || (missing && values[0] != 0) {
			t.Fatalf("signal %d from a matrix: available %v", s, available)
		}
	}
	onlyMoments := ImportanceWeights{SignalActivation: 1, SignalVariance: 1}
	_, err := NewImportance(fromMatrix, nil, l.w, l.rows, l.cols, &onlyMoments)
	expectError(t, err, StatusInvalidArgument, "surgeon_importance_compute")
}

func TestBudgetAndQuantileAllocations(t *testing.T) {
	l := loadMixedLayer(t, "stories260K_block0_w1") // 172 rows
	imp := must(NewImportance(l.h, l.solver, l.w, l.rows, l.cols, nil)).of(t)
	defer imp.Close()
	scores := must(imp.Scores()).of(t)
	options := []int32{2, 3, 4, 6, 8}

	// Budget: the exact target, and monotone in importance (swapping two rows' widths
	// against the order would lower Σ score²·4^-b at the same budget).
	for _, avg := range []float64{2.5, 3.5, 4.0, 5.25} {
		bits := must(imp.AllocateBudget(mixedOpts(t, options, avg))).of(t)
		if got := sumBits(bits); got != int64(math.Round(avg*float64(l.rows))) {
			t.Fatalf("budget %g: Σ bits %d, want %g", avg, got, avg*float64(l.rows))
		}
		if a := must(AttainableAverage(l.rows, mixedOpts(t, options, avg))).of(t); a != avg {
			t.Fatalf("attainable average of %g: %g", avg, a)
		}
		for i := range bits {
			for j := range bits {
				if scores[i] > scores[j] && bits[i] < bits[j] {
					t.Fatalf("budget %g: row %d (score %g) has %d bits, row %d (score %g) %d", avg, i,
						scores[i], bits[i], j, scores[j], bits[j])
				}
			}
		}
	}
	// An unreachable target rounds down to what the options can make: 5 rows at {2, 4, 8}
	// and 3 bits average: 15 bits are not reachable with even widths, 14 are.
	if a := must(AttainableAverage(5, mixedOpts(t, []int32{2, 4, 8}, 3.0))).of(t); a != 14.0/5.0 {
		t.Fatalf("attainable average %g, want 2.8", a)
	}

	// Quantiles: explicit cut points give bins of exactly those fractions, in rank order.
	rows := l.rows
	order := make([]int, rows)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] < scores[order[b]] })
	cuts := []float64{0.1, 0.35, 0.6, 0.9}
	withCuts := mixedOpts(t, options, 3)
	noErr(t, withCuts.SetQuantiles(cuts))
	bits := must(imp.AllocateQuantile(withCuts)).of(t)
	bounds := []int{0}
	for _, c := range cuts {
		bounds = append(bounds, int(math.Round(c*float64(rows))))
	}
	bounds = append(bounds, rows)
	for bin, b := range options {
		for rank := bounds[bin]; rank < bounds[bin+1]; rank++ {
			if bits[order[rank]] != b {
				t.Fatalf("rank %d (row %d): %d bits, bin %d wants %d", rank, order[rank], bits[order[rank]], bin, b)
			}
		}
	}
	// No cut points: the average is the target up to the rounding of four cuts.
	for _, avg := range []float64{3.0, 4.5} {
		bits := must(imp.AllocateQuantile(mixedOpts(t, options, avg))).of(t)
		got := float64(sumBits(bits)) / float64(rows)
		if math.Abs(got-avg) > 4*0.5*2/float64(rows) {
			t.Fatalf("quantile target %g: average %g", avg, got)
		}
	}
	// Invalid options are refused where they are set, and leave the options unchanged.
	o := mixedOpts(t, options, 3)
	expectError(t, o.SetQuantiles([]float64{0.5, 0.2, 0.6, 0.8}), StatusInvalidArgument, "surgeon_mixed_options_set_quantiles")
	expectError(t, o.SetBits([]int32{4, 4}), StatusInvalidArgument, "surgeon_mixed_options_set_bits")
	expectError(t, o.SetBits(nil), StatusInvalidArgument, "surgeon_mixed_options_set_bits")
	expectError(t, o.SetAverage(math.Inf(1)), StatusInvalidArgument, "surgeon_mixed_options_set_average")
	if b, a := must(o.Bits()).of(t), o.Average(); !equalInt32(b, options) || a != 3 {
		t.Fatalf("options after failed setters: %v, %g", b, a)
	}
	// Cut points that do not fit the bit options, an unreachable average: refused by the call.
	noErr(t, o.SetQuantiles([]float64{0.5}))
	_, err := imp.AllocateQuantile(o)
	expectError(t, err, StatusInvalidArgument, "surgeon_allocate_quantile")
	_, err = imp.AllocateBudget(mixedOpts(t, options, 9))
	expectError(t, err, StatusInvalidArgument, "surgeon_allocate_budget")
	// nil options: the defaults ({2, 3, 4}, average 3).
	defaults := must(NewMixedOptions()).of(t)
	defer defaults.Close()
	if b, a := must(defaults.Bits()).of(t), defaults.Average(); !equalInt32(b, []int32{2, 3, 4}) || a != 3 {
		t.Fatalf("default options %v, %g", b, a)
	}
	if got := sumBits(must(imp.AllocateBudget(nil)).of(t)); got != int64(3*rows) {
		t.Fatalf("default budget: Σ bits %d", got)
	}
}

// TestErrorAllocatorIsTheExactOptimum compares AllocateError with a brute force over every
// assignment of a small layer, and checks the budget on a real layer's row errors.
func TestErrorAllocatorIsTheExactOptimum(t *testing.T) {
	const rows = 7
	options := []int32{2, 3, 4, 6}
	errors := make([]float64, rows*len(options))
	for i := 0; i < rows; i++ {
		scale := 1 + float64((i*5)%7)
		for k, b := range options {
			// Decreasing in b with a row-dependent, not quite geometric, rate.
			errors[i*len(options)+k] = scale * math.Pow(4, -float64(b)) * (1 + 0.1*float64((i+k)%3))
		}
	}
	for _, avg := range []float64{2.5, 3.0, 3.6, 4.4} {
		bits := must(AllocateError(errors, rows, mixedOpts(t, options, avg))).of(t)
		budget := int64(math.Floor(avg * rows))
		if got := sumBits(bits); got != budget {
			t.Fatalf("avg %g: Σ bits %d, want %d", avg, got, budget)
		}
		cost := 0.0
		for i, b := range bits {
			k := sort.Search(len(options), func(k int) bool { return options[k] >= b })
			cost += errors[i*len(options)+k]
		}
		// Brute force: every assignment with exactly the budget.
		best := math.Inf(1)
		var walk func(i int, used int64, c float64)
		walk = func(i int, used int64, c float64) {
			if i == rows {
				if used == budget && c < best {
					best = c
				}
				return
			}
			for k, b := range options {
				walk(i+1, used+int64(b), c+errors[i*len(options)+k])
			}
		}
		walk(0, 0, 0)
		if math.Abs(cost-best) > 1e-12*best {
			t.Fatalf("avg %g: allocation costs %g, the optimum %g", avg, cost, best)
		}
	}
	_, err := AllocateError(errors[:5], rows, mixedOpts(t, options, 3))
	expectError(t, err, StatusShape, "surgeon_allocate_error")
	nan := append([]float64(nil), errors...)
	nan[3] = math.NaN()
	_, err = AllocateError(nan, rows, mixedOpts(t, options, 3))
	expectError(t, err, StatusNumeric, "surgeon_allocate_error")

	// Row errors of a real layer: rows × options, more bits never cost more.
	l := loadMixedLayer(t, "stories260K_block2_wq")
	q := newQuantizer(t, 4, 0)
	defer q.Close()
	wide := []int32{2, 3, 4, 6, 8}
	rowErrors := must(MixedRowErrors(l.solver, l.w, l.rows, l.cols, q, mixedOpts(t, wide, 3))).of(t)
	if len(rowErrors) != l.rows*len(wide) {
		t.Fatalf("%d row errors", len(rowErrors))
	}
	for i := 0; i < l.rows; i++ {
		for k := 1; k < len(wide); k++ {
			if e, prev := rowErrors[i*len(wide)+k], rowErrors[i*len(wide)+k-1]; !(e >= 0) || e > prev*1.0001+1e-12 {
				t.Fatalf("row %d: error %g at %d bits after %g at %d", i, e, wide[k], prev, wide[k-1])
			}
		}
	}
	bits := must(AllocateError(rowErrors, l.rows, mixedOpts(t, wide, 3.0))).of(t)
	if sumBits(bits) != int64(3*l.rows) {
		t.Fatalf("Σ bits %d, want %d", sumBits(bits), 3*l.rows)
	}
	_, err = MixedRowErrors(l.solver, l.w[:len(l.w)-1], l.rows, l.cols, q, mixedOpts(t, wide, 3))
	expectError(t, err, StatusShape, "surgeon_mixed_row_errors")
	_, err = MixedRowErrors(l.solver, l.w, l.rows, l.cols, nil, mixedOpts(t, wide, 3))
	expectError(t, err, StatusInvalidArgument, "surgeon_mixed_row_errors")
}

// rowPattern is a deterministic mix of widths, every one used.
func rowPattern(rows int, options []int32) []int32 {
	bits := make([]int32, rows)
	for r := range bits {
		bits[r] = options[(r*7+r/3)%len(options)]
	}
	return bits
}

// TestRowBitsQuantizeEqualsUniformGPTQRowByRow: GPTQ treats rows independently (per-row
// grids, error feedback along the row), so a row quantized at b bits in a mixed call must
// equal the same row of a uniform b-bit call on the same solver.
func TestRowBitsQuantizeEqualsUniformGPTQRowByRow(t *testing.T) {
	l := loadMixedLayer(t, "stories260K_block0_w1")
	options := []int32{2, 3, 4, 8}
	rowBits := rowPattern(l.rows, options)
	q4 := newQuantizer(t, 4, 0)
	noErr(t, q4.SetRowBits(rowBits))
	if got := must(q4.RowBits()).of(t); !equalInt32(got, rowBits) {
		t.Fatalf("quantizer row bits %v", got)
	}
	w := l.clone()
	res, loss := quantize(t, l.solver, w, l.rows, l.cols, q4)
	if !(loss > 0) {
		t.Errorf("loss %g", loss)
	}
	back := must(res.RowBits()).of(t)
	codes := must(res.Codes()).of(t)
	for r := 0; r < l.rows; r++ {
		if back[r] != rowBits[r] {
			t.Fatalf("row %d: result says %d bits, asked %d", r, back[r], rowBits[r])
		}
		for j := 0; j < l.cols; j++ {
			if c := codes[r*l.cols+j]; int(c) > 1<<rowBits[r]-1 {
				t.Fatalf("row %d at %d bits has code %d", r, rowBits[r], c)
			}
		}
	}
	if d := relMaxDiff(must(res.Dequantize()).of(t), w); d > 1e-6 {
		t.Fatalf("codes rebuild the weight to %g", d)
	}
	for _, b := range options {
		qb := newQuantizer(t, int(b), 0)
		uniform := l.clone()
		u, uLoss := quantize(t, l.solver, uniform, l.rows, l.cols, qb)
		uniformBits := must(u.RowBits()).of(t)
		same, other := 0, 0
		for r := 0; r < l.rows; r++ {
			if uniformBits[r] != b {
				t.Fatalf("uniform %d-bit result reports %d bits at row %d", b, uniformBits[r], r)
			}
			mixedRow, uniformRow := w[r*l.cols:(r+1)*l.cols], uniform[r*l.cols:(r+1)*l.cols]
			d := relMaxDiff(mixedRow, uniformRow)
			if rowBits[r] == b {
				same++
				if d > 1e-6 {
					t.Fatalf("row %d at %d bits: mixed and uniform differ by %g", r, b, d)
				}
			} else if d > 1e-3 {
				other++ // rows at other widths must differ, or the comparison proves nothing
			}
		}
		if same == 0 || other < (l.rows-same)/2 {
			t.Fatalf("%d bits: %d rows compared, %d of %d other rows differ", b, same, other, l.rows-same)
		}
		t.Logf("%d bits: %d rows equal the uniform result, loss %.4g (mixed %.4g)", b, same, uLoss, loss)
	}

	// Errors leave the quantizer and w untouched: a width out of range, widths for another
	// number of rows.
	bad := append([]int32(nil), rowBits...)
	bad[5] = 9
	expectError(t, q4.SetRowBits(bad), StatusInvalidArgument, "surgeon_quantizer_set_row_bits")
	if got := must(q4.RowBits()).of(t); !equalInt32(got, rowBits) {
		t.Fatal("a failed SetRowBits changed the widths")
	}
	noErr(t, q4.SetRowBits(rowBits[1:]))
	w2 := l.clone()
	_, _, err := l.solver.Quantize(w2, l.rows, l.cols, q4)
	expectError(t, err, StatusShape, "surgeon_solver_quantize")
	if relMaxDiff(w2, l.w) != 0 {
		t.Fatal("a failed mixed Quantize changed w")
	}
	noErr(t, q4.SetRowBits(nil))
	if got := must(q4.RowBits()).of(t); got != nil {
		t.Fatalf("cleared row bits %v", got)
	}
}

func TestRowBitsPruneKeepsSparsityAndRowWidths(t *testing.T) {
	l := loadMixedLayer(t, "stories260K_block2_wq")
	rowBits := rowPattern(l.rows, []int32{1, 2, 3, 4, 6, 8})
	q := newQuantizer(t, 4, 16)
	noErr(t, q.SetRowBits(rowBits))
	for _, sp := range []sparsity{fraction(0.5), nOfM(2, 4)} {
		w := l.clone()
		res := must(l.solver.Prune(w, l.rows, l.cols, pruneOpts(t, sp, q))).of(t)
		if s := res.Mask.Sparsity(); math.Abs(s-0.5) > 1e-9 {
			t.Fatalf("%+v: sparsity %g", sp, s)
		}
		if sp.n > 0 && !must(res.Mask.CheckNM(2, 4)).of(t) {
			t.Fatal("mask is not 2:4")
		}
		keep := must(res.Mask.Bytes()).of(t)
		codes := must(res.QuantResult.Codes()).of(t)
		deq := must(res.QuantResult.Dequantize()).of(t)
		if got := must(res.QuantResult.RowBits()).of(t); !equalInt32(got, rowBits) {
			t.Fatalf("row bits %v", got)
		}
		for k := range w {
			r := k / l.cols
			if int(codes[k]) > 1<<rowBits[r]-1 {
				t.Fatalf("row %d at %d bits has code %d", r, rowBits[r], codes[k])
			}
			if keep[k] == 0 && w[k] != 0 {
				t.Fatalf("pruned weight %d is %g", k, w[k])
			}
			if keep[k] != 0 && deq[k] != w[k] {
				t.Fatalf("kept weight %d: %g, codes give %g", k, w[k], deq[k])
			}
		}
		res.Close()
	}
	w := l.clone()
	noErr(t, q.SetRowBits(rowBits[:l.rows-1]))
	_, err := l.solver.Prune(w, l.rows, l.cols, pruneOpts(t, fraction(0.5), q))
	expectError(t, err, StatusShape, "surgeon_solver_prune")
	if relMaxDiff(w, l.w) != 0 {
		t.Fatal("a failed mixed Prune changed w")
	}
}

func equalInt32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMixedStatsAndJSON(t *testing.T) {
	l := loadMixedLayer(t, "stories260K_block0_w1") // 172 × 64
	imp := must(NewImportance(l.h, l.solver, l.w, l.rows, l.cols, nil)).of(t)
	defer imp.Close()
	bits := must(imp.AllocateBudget(mixedOpts(t, []int32{2, 3, 4, 6, 8}, 3.5))).of(t)
	const group = 24 // 64 columns: 3 grids per row, the last one short
	stats := must(ComputeMixedStats(bits, l.cols, group, DefaultOverhead, imp)).of(t)

	var hist [9]int64
	var overhead float64
	for _, b := range bits {
		hist[b]++
		overhead += 3 * float64(16+b) // scale + a zero of the row's width, per grid
	}
	weights := float64(l.rows * l.cols)
	scores := must(imp.Scores()).of(t)
	lo, hi, mean := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range scores {
		lo, hi, mean = math.Min(lo, float64(s)), math.Max(hi, float64(s)), mean+float64(s)/float64(len(scores))
	}
	if stats.Channels != int64(l.rows) || stats.Weights != int64(weights) || stats.Grids != int64(3*l.rows) ||
		stats.Histogram != hist || stats.AvgBits != 3.5 || !stats.HasImportance {
		t.Fatalf("stats %+v, histogram %v", stats, hist)
	}
	if want := 3.5 + overhead/weights; math.Abs(stats.AvgBitsWithOverhead-want) > 1e-12 {
		t.Fatalf("avg bits with overhead %g, want %g", stats.AvgBitsWithOverhead, want)
	}
	if stats.ImportanceMin != lo || stats.ImportanceMax != hi || math.Abs(stats.ImportanceMean-mean) > 1e-6 {
		t.Fatalf("importance %g %g %g, scores give %g %g %g", stats.ImportanceMin, stats.ImportanceMax,
			stats.ImportanceMean, lo, hi, mean)
	}

	text := must(stats.JSON()).of(t)
	var parsed struct {
		Channels            int64            `json:"channels"`
		Weights             int64            `json:"weights"`
		Grids               int64            `json:"grids"`
		Histogram           map[string]int64 `json:"histogram"`
		AvgBits             float64          `json:"avg_bits"`
		AvgBitsWithOverhead float64          `json:"avg_bits_with_overhead"`
		Importance          *struct {
			Min, Max, Mean float64
		} `json:"importance"`
	}
	if err := json.Unmarshal([]byte(text), &parsed); err != nil {
		t.Fatalf("%v: %s", err, text)
	}
	for b := 1; b <= 8; b++ {
		if parsed.Histogram[strconv.Itoa(b)] != hist[b] {
			t.Fatalf("JSON histogram %v, counted %v", parsed.Histogram, hist)
		}
	}
	if parsed.Channels != stats.Channels || parsed.Weights != stats.Weights || parsed.Grids != stats.Grids ||
		parsed.AvgBits != stats.AvgBits || parsed.AvgBitsWithOverhead != stats.AvgBitsWithOverhead ||
		parsed.Importance == nil || parsed.Importance.Min != lo || parsed.Importance.Max != hi {
		t.Fatalf("JSON %s disagrees with %+v", text, stats)
	}

	// Without importance and with implicit zeros, per-row grids: 16 bits per row.
	plain := must(ComputeMixedStats(bits, l.cols, 0, Overhead{ScaleBits: 16, ZeroBits: 0}, nil)).of(t)
	if plain.HasImportance || plain.Grids != int64(l.rows) || plain.AvgBitsWithOverhead != 3.5+16.0/float64(l.cols) {
		t.Fatalf("stats without importance %+v", plain)
	}
	text = must(plain.JSON()).of(t)
	var keys map[string]json.RawMessage
	noErr(t, json.Unmarshal([]byte(text), &keys))
	if _, ok := keys["importance"]; ok {
		t.Fatalf("importance in %s", text)
	}

	bad := append([]int32(nil), bits...)
	bad[7] = 0
	_, err := ComputeMixedStats(bad, l.cols, 0, DefaultOverhead, nil)
	expectError(t, err, StatusInvalidArgument, "surgeon_mixed_stats_compute")
	_, err = ComputeMixedStats(bits[1:], l.cols, 0, DefaultOverhead, imp)
	expectError(t, err, StatusShape, "surgeon_mixed_stats_compute")
	_, err = ComputeMixedStats(nil, l.cols, 0, DefaultOverhead, nil)
	expectError(t, err, StatusShape, "surgeon_mixed_stats_compute")
}

func TestMixedArgumentChecksAndClose(t *testing.T) {
	l := loadMixedLayer(t, "stories260K_block2_wq")
	_, err := NewImportance(l.h, nil, l.w[:10], l.rows, l.cols, nil)
	expectError(t, err, StatusShape, "surgeon_importance_compute")
	_, err = NewImportance(nil, nil, l.w, l.rows, l.cols, nil)
	expectError(t, err, StatusInvalidArgument, "surgeon_importance_compute")
	negative := ImportanceWeights{0.25, -1}
	_, err = NewImportance(l.h, nil, l.w, l.rows, l.cols, &negative)
	expectError(t, err, StatusInvalidArgument, "surgeon_importance_compute")

	imp := must(NewImportance(l.h, nil, l.w, l.rows, l.cols, nil)).of(t)
	_, _, err = imp.Signal(SignalCount)
	expectError(t, err, StatusInvalidArgument, "surgeon_importance_signal_values")
	imp.Close()
	imp.Close()
	_, err = imp.Scores()
	expectError(t, err, StatusInvalidArgument, "surgeon_importance_scores")
	_, err = imp.AllocateBudget(mixedOpts(t, []int32{2, 4}, 3))
	expectError(t, err, StatusInvalidArgument, "surgeon_allocate_budget")
	_, err = ComputeMixedStats([]int32{4}, 8, 0, DefaultOverhead, imp)
	expectError(t, err, StatusInvalidArgument, "surgeon_mixed_stats_compute")
}

// TestConcurrentMixedReads: read-only calls on one Importance and row errors on one
// Solver from several goroutines give the sequential results (run under -race too).
func TestConcurrentMixedReads(t *testing.T) {
	l := loadMixedLayer(t, "stories260K_block2_wq")
	imp := must(NewImportance(l.h, l.solver, l.w, l.rows, l.cols, nil)).of(t)
	defer imp.Close()
	q := newQuantizer(t, 4, 0)
	defer q.Close()
	options := []int32{2, 3, 4, 8}
	opts := mixedOpts(t, options, 3.25)
	wantBits := must(imp.AllocateBudget(opts)).of(t)
	wantErrors := must(MixedRowErrors(l.solver, l.w, l.rows, l.cols, q, opts)).of(t)
	wait := spawn(4, func(g int) {
		for i := 0; i < 5; i++ {
			bits, err := imp.AllocateBudget(opts)
			if err != nil || !equalInt32(bits, wantBits) {
				t.Errorf("concurrent budget: %v", err)
				return
			}
			e, err := MixedRowErrors(l.solver, l.w, l.rows, l.cols, q, opts)
			if err != nil || len(e) != len(wantErrors) {
				t.Errorf("concurrent row errors: %v", err)
				return
			}
			for k := range e {
				if e[k] != wantErrors[k] {
					t.Errorf("concurrent row errors differ at %d", k)
					return
				}
			}
		}
	})
	wait()
}

// One budget over two layers of different widths and option sets equals the brute-force
// optimum and stays within the budget; a budget below the smallest options is an error.
func TestAllocateErrorGroupsIsOptimalOnASmallCase(t *testing.T) {
	a := BudgetLayer{Costs: []float64{1.0, 0.2, 5.0, 0.5, 0.3, 0.25}, Rows: 3, Weight: 4, Options: []int32{2, 4}}
	b := BudgetLayer{Costs: []float64{2.0, 9.0, 0.1, 1.0, 1.5, 0.9}, Rows: 2, Weight: 8, Options: []int32{3, 1, 5}}
	layers := []BudgetLayer{a, b}
	budget := int64(3*4*2 + 2*8*3 + 8)
	bits, err := AllocateErrorGroups(layers, budget)
	if err != nil {
		t.Fatal(err)
	}
	cost := func(l BudgetLayer, widths []int32) (float64, int64) {
		c, used := 0.0, int64(0)
		for r, w := range widths {
			for m, o := range l.Options {
				if o == w {
					c += l.Costs[r*len(l.Options)+m]
				}
			}
			used += int64(w) * int64(l.Weight)
		}
		return c, used
	}
	ca, ua := cost(a, bits[0])
	cb, ub := cost(b, bits[1])
	if ua+ub > budget {
		t.Fatalf("used %d of %d", ua+ub, budget)
	}
	best := math.Inf(1)
	for c := 0; c < 8*9; c++ {
		code, x, y := c, []int32{}, []int32{}
		for r := 0; r < 3; r++ {
			x, code = append(x, a.Options[code%2]), code/2
		}
		for r := 0; r < 2; r++ {
			y, code = append(y, b.Options[code%3]), code/3
		}
		cx, ux := cost(a, x)
		cy, uy := cost(b, y)
		if ux+uy <= budget && cx+cy < best {
			best = cx + cy
		}
	}
	if ca+cb != best {
		t.Fatalf("cost %g, optimum %g (bits %v)", ca+cb, best, bits)
	}
	_, err = AllocateErrorGroups(layers, int64(3*4*2+2*8-1))
	expectError(t, err, StatusInvalidArgument, "surgeon_allocate_error_groups")
}
