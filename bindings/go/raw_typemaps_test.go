package surgeon

import (
	"errors"
	"math"
	"path/filepath"
	"testing"

	"surgeon.dev/surgeon/raw"
)

// TestRawTypemaps exercises the typemaps of go.i that the idiomatic layer does not use, on
// functions of the companion headers: double arrays, int64 keep arrays, [][]float32
// (copied to C memory), caller text buffers ([]byte) with the size-then-fill convention,
// and versioned struct out-params.
func TestRawTypemaps(t *testing.T) {
	weights := make([]float64, 5)
	noErr(t, check(raw.Surgeon_importance_default_weights(weights)))
	for i, want := range []float64{0.25, 0.25, 0.15, 0.25, 0.10} {
		if math.Abs(weights[i]-want) > 1e-12 {
			t.Fatalf("default weights %v", weights)
		}
	}

	scores := []float32{0.1, 0.9, 0.5, 0.7}
	keep := make([]int64, len(scores))
	var kept int64
	noErr(t, check(raw.Surgeon_ffn_select(scores, 4, 0.5, keep, int64(len(keep)), &kept)))
	if kept != 2 || keep[0] != 1 || keep[1] != 3 {
		t.Fatalf("kept %d: %v", kept, keep)
	}

	// Two FFN blocks of hidden size 6 over dim 4: gates/ups 6 × 4, downs 4 × 6.
	const dim, hidden = 4, 6
	block := func(seed int) []float32 {
		m := make([]float32, hidden*dim)
		for i := range m {
			m[i] = float32((i*37+seed*11)%19)/19 - 0.5
		}
		return m
	}
	ffn := [][]float32{block(1), block(2), block(3), block(4), block(5), block(6)} // gate, up, down per block
	options := raw.NewSurgeon_prunenet_options()
	defer raw.DeleteSurgeon_prunenet_options(options)
	// A struct without its version is refused; initialised, it holds the defaults.
	err := check(raw.Surgeon_prunenet_train_ffn(new(raw.Handle), nil, dim, 2, ffn, []int64{hidden, hidden}, options))
	expectError(t, err, StatusInvalidArgument, "surgeon_prunenet_train_ffn")
	noErr(t, check(raw.Surgeon_prunenet_options_init(options, uint(raw.SURGEON_PRUNENET_OPTIONS_VERSION))))
	if options.GetVersion() != uint(raw.SURGEON_PRUNENET_OPTIONS_VERSION) || options.GetSteps() != 150 {
		t.Fatalf("initialised options: version %d, %d steps", options.GetVersion(), options.GetSteps())
	}
	options.SetSteps(5)
	var policy raw.Handle
	noErr(t, check(raw.Surgeon_prunenet_train_ffn(&policy, nil, dim, 2, ffn, []int64{hidden, hidden}, options)))
	defer raw.Surgeon_prunenet_free(policy)
	var policyDim int64
	noErr(t, check(raw.Surgeon_prunenet_dim(policy, &policyDim)))
	if policyDim != dim {
		t.Fatalf("policy dim %d", policyDim)
	}
	// A block count larger than the slices is the caller's mistake in C and in raw alike;
	// a mismatch the library can see is still an error value.
	err = check(raw.Surgeon_prunenet_train_ffn(&policy, nil, dim, 2, ffn, []int64{hidden, 0}, options))
	expectError(t, err, StatusShape, "surgeon_prunenet_train_ffn")

	var model raw.Handle
	noErr(t, check(raw.Surgeon_model_load(&model, nil, filepath.Join("..", "..", "samples", "data", "stories260K.bin"))))
	defer raw.Surgeon_model_free(model)
	config := raw.NewSurgeon_model_config()
	defer raw.DeleteSurgeon_model_config(config)
	noErr(t, check(raw.Surgeon_model_config_init(config, uint(raw.SURGEON_MODEL_CONFIG_VERSION))))
	noErr(t, check(raw.Surgeon_model_get_config(model, config)))
	if config.GetDim() != 64 || config.GetN_layers() != 5 {
		t.Fatalf("config dim %d layers %d", config.GetDim(), config.GetN_layers())
	}
	// The buffer convention: a size query, a short buffer (refused, untouched), the text.
	var needed int64
	noErr(t, check(raw.Surgeon_model_report(model, nil, 0, &needed)))
	if needed != 3 { // "{}" and the NUL
		t.Fatalf("report needs %d bytes", needed)
	}
	short := []byte{'x', 'x'}
	err = check(raw.Surgeon_model_report(model, short, int64(len(short)), &needed))
	if expectError(t, err, StatusBufferTooSmall, "surgeon_model_report"); !errors.Is(err, ErrBufferTooSmall) ||
		string(short) != "xx" || needed != 3 {
		t.Fatalf("short buffer: %v, %q, needed %d", err, short, needed)
	}
	report := make([]byte, needed)
	noErr(t, check(raw.Surgeon_model_report(model, report, needed, &needed)))
	if string(report) != "{}\x00" {
		t.Fatalf("report %q", report)
	}
	var length int64
	noErr(t, check(raw.Surgeon_model_generate(nil, model, "Once upon a time", nil, nil, 0, &length)))
	text := make([]byte, length)
	var again int64
	noErr(t, check(raw.Surgeon_model_generate(nil, model, "Once upon a time", nil, text, length, &again)))
	if again != length || length <= 1 || text[length-1] != 0 {
		t.Fatalf("generated %d then %d bytes: %q", length, again, text)
	}
	t.Logf("generated %q", text[:length-1])
}
