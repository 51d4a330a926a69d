package surgeon

import (
	"math"
	"path/filepath"
	"testing"

	"surgeon.dev/surgeon/raw"
)

// TestRawTypemaps exercises the typemaps of go.i that the idiomatic layer does not use, on
// functions of the companion headers: double arrays, int64 keep arrays, [][]float32
// (copied to C memory), caller text buffers ([]byte), library-owned strings (*string) and
// struct out-params.
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
	noErr(t, check(raw.Surgeon_ffn_select(scores, 4, 0.5, keep, &kept)))
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
	gates, ups, downs := [][]float32{block(1), block(2)}, [][]float32{block(3), block(4)}, [][]float32{block(5), block(6)}
	options := raw.NewSurgeon_prunenet_options()
	defer raw.DeleteSurgeon_prunenet_options(options)
	noErr(t, check(raw.Surgeon_prunenet_options_default(options)))
	options.SetSteps(5)
	var policy raw.Handle
	noErr(t, check(raw.Surgeon_prunenet_train_ffn(&policy, nil, dim, 2, gates, ups, downs, []int64{hidden, hidden}, options)))
	defer raw.Surgeon_prunenet_free(policy)
	var policyDim int64
	noErr(t, check(raw.Surgeon_prunenet_dim(policy, &policyDim)))
	if policyDim != dim {
		t.Fatalf("policy dim %d", policyDim)
	}
	// A block count larger than the slices is the caller's mistake in C and in raw alike;
	// a mismatch the library can see is still an error value.
	err := check(raw.Surgeon_prunenet_train_ffn(&policy, nil, dim, 2, gates, ups, downs, []int64{hidden, 0}, options))
	expectError(t, err, StatusShape, "surgeon_prunenet_train_ffn")

	var model raw.Handle
	noErr(t, check(raw.Surgeon_model_load(&model, filepath.Join("..", "..", "samples", "data", "stories260K.bin"))))
	defer raw.Surgeon_model_free(model)
	config := raw.NewSurgeon_model_config()
	defer raw.DeleteSurgeon_model_config(config)
	noErr(t, check(raw.Surgeon_model_get_config(model, config)))
	if config.GetDim() != 64 || config.GetN_layers() != 5 {
		t.Fatalf("config dim %d layers %d", config.GetDim(), config.GetN_layers())
	}
	report := "unset"
	noErr(t, check(raw.Surgeon_model_report(model, &report)))
	if report != "{}" {
		t.Fatalf("report %q", report)
	}
	var length int64
	noErr(t, check(raw.Surgeon_model_generate(model, "Once upon a time", 12, 0, 1, nil, 0, &length)))
	text := make([]byte, length+1)
	var again int64
	noErr(t, check(raw.Surgeon_model_generate(model, "Once upon a time", 12, 0, 1, text, length+1, &again)))
	if again != length || length == 0 || text[length] != 0 {
		t.Fatalf("generated %d then %d bytes: %q", length, again, text)
	}
	t.Logf("generated %q", text[:length])
}
