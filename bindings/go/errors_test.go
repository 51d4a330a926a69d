package surgeon

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"surgeon.dev/surgeon/raw"
)

// expectError checks err is an *Error with the status and a message naming function.
func expectError(t *testing.T, err error, status Status, function string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: want a *surgeon.Error with %v, got %v", function, status, err)
	}
	if e.Status != status || !strings.HasPrefix(e.Message, function+": ") {
		t.Fatalf("%s: want %v, got %v: %q", function, status, e.Status, e.Message)
	}
	return e
}

// expectPanic runs get, a getter that cannot fail on a live object, on a closed one: it
// must panic with the *Error a fallible call returns.
func expectPanic(t *testing.T, function string, get func()) {
	t.Helper()
	defer func() {
		t.Helper()
		err, _ := recover().(error)
		expectError(t, err, StatusInvalidArgument, function)
	}()
	get()
}

func fedHessian(t *testing.T, cols int) *Hessian {
	h := must(NewHessian(nil, cols)).of(t)
	t.Cleanup(func() { h.Close() })
	x := make([]float32, 4*cols*cols)
	for i := range x {
		x[i] = float32((i*7919)%23) - 11
	}
	noErr(t, h.Add(x, 4*cols))
	return h
}

func TestNaNInputIsNumericAndLeavesTheAccumulatorUnchanged(t *testing.T) {
	h := fedHessian(t, 8)
	before := must(h.Matrix()).of(t)
	x := make([]float32, 3*8)
	for i := range x {
		x[i] = 1
	}
	x[13] = float32(math.NaN())
	err := expectError(t, h.Add(x, 3), StatusNumeric, "surgeon_hessian_add_f32")
	t.Log(err)
	if !strings.HasSuffix(err.Error(), "(SURGEON_ERR_NUMERIC)") || !errors.Is(err, ErrNumeric) || errors.Is(err, ErrShape) {
		t.Errorf("error text / errors.Is: %v", err)
	}
	if !reflect.DeepEqual(must(h.Matrix()).of(t), before) || h.Samples() != 32 {
		t.Fatal("a failed add changed the accumulator")
	}
	x[13] = float32(math.Inf(1))
	expectError(t, h.Add(x, 3), StatusNumeric, "surgeon_hessian_add_f32")
	b := []uint16{0x3f80, 0x3f80, 0x7fc0, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80} // bf16 NaN
	expectError(t, h.AddBF16(b, 1), StatusNumeric, "surgeon_hessian_add_bf16")
}

func TestNaNWeightFailsAndKeepsTheWeight(t *testing.T) {
	solver := must(NewSolver(nil, fedHessian(t, 16), nil)).of(t)
	defer solver.Close()
	w := make([]float32, 4*16)
	for i := range w {
		w[i] = float32(i)*0.25 - 3
	}
	w[5] = float32(math.NaN())
	original := append([]float32(nil), w...)
	_, err := solver.Prune(w, 4, 16, pruneOpts(t, fraction(0.5), nil))
	expectError(t, err, StatusNumeric, "surgeon_solver_prune")
	_, _, err = solver.Quantize(w, 4, 16, newQuantizer(t, 4, 0))
	expectError(t, err, StatusNumeric, "surgeon_solver_quantize")
	_, err = PruneMagnitude(nil, w, 4, 16, pruneOpts(t, fraction(0.5), nil))
	expectError(t, err, StatusNumeric, "surgeon_prune_magnitude")
	for i := range w { // NaN != NaN: compare bits
		if math.Float32bits(w[i]) != math.Float32bits(original[i]) {
			t.Fatalf("element %d changed by a failed call", i)
		}
	}
}

func TestShapeMismatches(t *testing.T) {
	h := fedHessian(t, 8)
	// Checked by the binding before the C call (C cannot see a slice's length).
	e := expectError(t, h.Add(make([]float32, 12), 2), StatusShape, "surgeon_hessian_add_f32")
	if !strings.Contains(e.Message, "12 elements") {
		t.Errorf("message %q", e.Message)
	}
	expectError(t, h.AddF16(make([]uint16, 9), 1), StatusShape, "surgeon_hessian_add_f16")
	_, err := HessianFromMatrix(nil, make([]float32, 15), 4, 1)
	expectError(t, err, StatusShape, "surgeon_hessian_from_matrix")
	_, err = MaskFromBytes(make([]byte, 5), 2, 3)
	expectError(t, err, StatusShape, "surgeon_mask_from_bytes")
	mask := must(NewMask(2, 3)).of(t)
	defer mask.Close()
	expectError(t, mask.Apply(make([]float32, 7)), StatusShape, "surgeon_mask_apply")
	_, err = ReconstructionError(h, make([]float32, 16), make([]float32, 8), 2, 8)
	expectError(t, err, StatusShape, "surgeon_reconstruction_error")
	solver := must(NewSolver(nil, h, nil)).of(t)
	defer solver.Close()
	w := []float32{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}
	_, err = solver.Prune(w, 2, 5, pruneOpts(t, fraction(0.5), nil))
	expectError(t, err, StatusShape, "surgeon_solver_prune")

	// Detected by the C library itself: accumulators of different widths.
	err = h.Merge(fedHessian(t, 4))
	expectError(t, err, StatusShape, "surgeon_hessian_merge")
	t.Log(err)
	// And a raw weight the library checks (w rows × cols vs Hessian cols) through wanda.
	_, err = PruneWanda(nil, make([]float32, 2*4), 2, 4, h, pruneOpts(t, fraction(0.5), nil))
	expectError(t, err, StatusShape, "surgeon_prune_wanda")
}

func TestInvalidArguments(t *testing.T) {
	_, err := NewQuantizer(9)
	if e := expectError(t, err, StatusInvalidArgument, "surgeon_quantizer_new"); !strings.Contains(e.Message, "9") {
		t.Errorf("message %q", e.Message)
	}
	q := newQuantizer(t, 4, 0)
	expectError(t, q.SetGroupSize(-3), StatusInvalidArgument, "surgeon_quantizer_set_group_size")
	expectError(t, q.SetMSE(&MSESearch{Norm: 2.4, Grid: 0, MaxShrink: 0.8}), StatusInvalidArgument,
		"surgeon_quantizer_set_mse")
	expectError(t, q.SetBits(9), StatusInvalidArgument, "surgeon_quantizer_set_bits")
	if b := q.Bits(); b != 4 {
		t.Fatalf("a failed SetBits changed the width to %d", b)
	}
	_, err = NewHessian(nil, 0)
	expectError(t, err, StatusInvalidArgument, "surgeon_hessian_new")
	_, err = NewContext(WithThreads(-1))
	expectError(t, err, StatusInvalidArgument, "surgeon_context_set_threads")

	h := fedHessian(t, 8)
	so := solverOpts(t, 0.02, 64)
	expectError(t, so.SetDamping(-1), StatusInvalidArgument, "surgeon_solver_options_set_damping")
	expectError(t, so.SetBlockSize(0), StatusInvalidArgument, "surgeon_solver_options_set_block_size")
	if d, b := so.Damping(), so.BlockSize(); d != 0.02 || b != 64 {
		t.Fatalf("solver options after failed setters: %g, %d", d, b)
	}
	empty := must(NewHessian(nil, 8)).of(t)
	defer empty.Close()
	_, err = NewSolver(nil, empty, nil)
	expectError(t, err, StatusInvalidArgument, "surgeon_solver_new")

	// n:m groups must not straddle blocks: block 6 is not a multiple of 4.
	solver := must(NewSolver(nil, h, solverOpts(t, 0.01, 6))).of(t)
	defer solver.Close()
	w := make([]float32, 16)
	for i := range w {
		w[i] = 0.5
	}
	_, err = solver.Prune(w, 2, 8, pruneOpts(t, nOfM(2, 4), nil))
	expectError(t, err, StatusInvalidArgument, "surgeon_solver_prune")
	po := pruneOpts(t, fraction(0.25), nil)
	expectError(t, po.SetSparsity(1.5), StatusInvalidArgument, "surgeon_prune_options_set_sparsity")
	expectError(t, po.SetNM(0, 4), StatusInvalidArgument, "surgeon_prune_options_set_nm")
	expectError(t, po.SetNM(4, 2), StatusInvalidArgument, "surgeon_prune_options_set_nm")
	if s := po.Sparsity(); s != 0.25 {
		t.Fatalf("prune options after failed setters: %g", s)
	}
	if n, m := po.NM(); n != 0 || m != 0 {
		t.Fatalf("prune options after failed setters: %d:%d", n, m)
	}
	// The baselines refuse options with a quantizer.
	noErr(t, po.SetQuantizer(q))
	_, err = PruneMagnitude(nil, w, 2, 8, po)
	expectError(t, err, StatusInvalidArgument, "surgeon_prune_magnitude")
	for _, v := range w {
		if v != 0.5 {
			t.Fatal("a failed prune changed w")
		}
	}
	m := must(NewMask(2, 2)).of(t)
	defer m.Close()
	_, err = m.CheckNM(3, 2)
	expectError(t, err, StatusInvalidArgument, "surgeon_mask_check_nm")
	_, err = NewSolver(nil, nil, nil)
	expectError(t, err, StatusInvalidArgument, "surgeon_solver_new")
}

func TestIOErrors(t *testing.T) {
	_, err := LoadHessian(nil, "/nonexistent/dir/h.bin")
	if e := expectError(t, err, StatusIO, "surgeon_hessian_load"); !strings.Contains(e.Message, "/nonexistent/dir/h.bin") {
		t.Errorf("message %q", e.Message)
	}
	expectError(t, fedHessian(t, 4).Save("/nonexistent/dir/h.bin"), StatusIO, "surgeon_hessian_save")
	_, err = LoadHessian(nil, "a\x00b")
	expectError(t, err, StatusInvalidArgument, "surgeon_hessian_load")
}

func TestUseAfterCloseIsAnError(t *testing.T) {
	h := must(NewHessian(nil, 4)).of(t)
	h.Close()
	h.Close() // idempotent
	expectError(t, h.Add(make([]float32, 4), 1), StatusInvalidArgument, "surgeon_hessian_add_f32")
	_, err := h.Matrix()
	expectError(t, err, StatusInvalidArgument, "surgeon_hessian_copy")
	ctx := must(NewContext()).of(t)
	ctx.Close()
	_, err = NewHessian(ctx, 4)
	expectError(t, err, StatusInvalidArgument, "surgeon_hessian_new")
	expectPanic(t, "surgeon_context_get_threads", func() { ctx.Threads() })
	expectPanic(t, "surgeon_hessian_samples", func() { h.Samples() })
}

// TestMessagesArePerThread: the message is read inside the same C call as the failure,
// so another goroutine failing at the same time (possibly on the same OS thread in
// between) never changes it.
func TestMessagesArePerThread(t *testing.T) {
	h := fedHessian(t, 8)
	nan := make([]float32, 8)
	nan[3] = float32(math.NaN())
	wait := spawn(4, func(g int) {
		for i := 0; i < 300; i++ {
			if _, err := NewQuantizer(1); err == nil {
				t.Error("bits 1 accepted")
			}
		}
	})
	for i := 0; i < 300; i++ {
		expectError(t, h.Add(nan, 1), StatusNumeric, "surgeon_hessian_add_f32")
	}
	wait()
}

func TestVersionMatchesHeader(t *testing.T) {
	if VersionNumber() != HeaderVersionNumber {
		t.Fatalf("library %d, header %d", VersionNumber(), HeaderVersionNumber)
	}
	n := HeaderVersionNumber
	want := strings.Join([]string{itoa(n / 10000), itoa(n / 100 % 100), itoa(n % 100)}, ".")
	if Version() != want {
		t.Fatalf("version %q, want %q", Version(), want)
	}
	if StatusShape.String() != "SURGEON_ERR_SHAPE" {
		t.Fatalf("status string %q", StatusShape.String())
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}

// TestStatusMappingMatchesTheHeader parses surgeon.h's surgeon_status enum: the binding
// names exactly its codes, with the same values, and keeps any other code as Unknown.
func TestStatusMappingMatchesTheHeader(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "include", "surgeon", "surgeon.h"))
	noErr(t, err)
	body := regexp.MustCompile(`(?s)typedef enum surgeon_status \{(.*?)\} surgeon_status;`).FindSubmatch(text)
	if body == nil {
		t.Fatal("no surgeon_status enum in surgeon.h")
	}
	header := map[string]Status{}
	for _, m := range regexp.MustCompile(`(SURGEON_\w+)\s*=\s*(\d+)`).FindAllSubmatch(body[1], -1) {
		v, _ := strconv.Atoi(string(m[2]))
		header[string(m[1])] = Status(v)
	}
	if len(header) < 8 {
		t.Fatalf("parsed %d codes: %v", len(header), header)
	}
	ours := map[string]Status{}
	for s, name := range statusNames {
		ours[name] = s
	}
	if !reflect.DeepEqual(ours, header) {
		t.Fatalf("binding %v, header %v", ours, header)
	}
	for name, s := range header {
		if s.String() != name || !s.Known() || raw.Surgeon_status_string(raw.Status(s)) != name {
			t.Errorf("%s: String %q, Known %v", name, s.String(), s.Known())
		}
	}
	// A code the header does not have keeps its value through the raw layer's error.
	unknown := Status(1000)
	err = check(&raw.StatusError{Status: raw.Status(unknown), Message: "f: from a newer library"})
	e := expectError(t, err, unknown, "f")
	if e.Status.Known() || e.Status.String() != "Unknown(1000)" || errors.Is(err, ErrInternal) {
		t.Fatalf("unknown code mapped to %v (%q)", e.Status, e.Error())
	}
}
