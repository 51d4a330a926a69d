package surgeon

import (
	"encoding/json"
	"math"
	"testing"
)

// ffnOf reads block b's FFN from a model: w1 = gate, w3 = up, w2 = down.
func ffnOf(t *testing.T, m *Model, b int) FFN {
	t.Helper()
	gate, hidden, dim, err := m.Linear(b, "w1")
	noErr(t, err)
	up, _, _, err := m.Linear(b, "w3")
	noErr(t, err)
	down, _, _, err := m.Linear(b, "w2")
	noErr(t, err)
	return FFN{Gate: gate, Up: up, Down: down, Hidden: hidden, Dim: dim}
}

// TestPruneStructuredEqualsLayerLevelSelection: model-level pruning with uniform ratios
// keeps in every block exactly the neurons the layer-level functions select on that
// block's own scores (L2 norms, or a policy's keep-probabilities), and the pruned model's
// FFN matrices are the originals sliced to them.
func TestPruneStructuredEqualsLayerLevelSelection(t *testing.T) {
	path, text := bundled(t)
	opts := prunenetTrainingOptions(t)
	opts.Steps = 3
	policy := must(TrainPruneNetModel(nil, path, opts)).of(t)
	defer policy.Close()
	_, err := TrainPruneNetModel(nil, "/nonexistent/model.bin", opts)
	expectError(t, err, StatusIO, "surgeon_prunenet_train_model")
	for _, method := range []FFNMethod{FFNL2, FFNPruneNet} {
		m := loadModel(t, path)
		before := m.Config()
		if policy.Dim() != int(before.Dim) {
			t.Fatalf("policy dim %d, model dim %d", policy.Dim(), before.Dim)
		}
		ppl := must(m.PerplexityOfText(nil, text, Paragraphs, 0, 20, 0)).of(t)
		const ratio = 0.3
		want := make([]FFN, before.Layers)
		widest := 0
		for b := range want {
			f := ffnOf(t, m, b)
			scores := must(policy.Scores(f)).of(t)
			if method == FFNL2 {
				scores = must(FFNScores(FFNL2, f, 0)).of(t)
			}
			noErr(t, FFNSlice(&f, must(FFNSelect(scores, ratio)).of(t)))
			want[b] = f
			if f.Hidden > widest {
				widest = f.Hidden
			}
		}

		so := must(NewStructuredOptions()).of(t)
		noErr(t, so.SetRatio(ratio))
		noErr(t, so.SetMethod(method))
		noErr(t, so.SetPolicy(policy))
		if r, h := so.Ratio(), so.HeadRatio(); r != ratio || h != 0 {
			t.Fatalf("options ratio %g, head ratio %g", r, h)
		}
		noErr(t, m.PruneStructured(nil, so))
		so.Close() // the model does not keep the options

		after := m.Config()
		if after.HiddenDim != int64(widest) || after.Parameters >= before.Parameters || after.Dim != before.Dim {
			t.Fatalf("method %d: config %+v after %+v", method, after, before)
		}
		for b, f := range want {
			got := ffnOf(t, m, b)
			if got.Hidden != f.Hidden || relMaxDiff(got.Gate, f.Gate) != 0 || relMaxDiff(got.Up, f.Up) != 0 ||
				relMaxDiff(got.Down, f.Down) != 0 {
				t.Fatalf("method %d, block %d: %d neurons, want the %d selected", method, b, got.Hidden, f.Hidden)
			}
		}
		var report map[string]interface{}
		if err := json.Unmarshal([]byte(must(m.Report()).of(t)), &report); err != nil || len(report) == 0 {
			t.Fatalf("report: %v, %v", report, err)
		}
		pruned := must(m.PerplexityOfText(nil, text, Paragraphs, 0, 20, 0)).of(t)
		if !(pruned.PPL > ppl.PPL) || math.IsInf(pruned.PPL, 0) {
			t.Fatalf("perplexity %g before, %g after pruning", ppl.PPL, pruned.PPL)
		}
		t.Logf("method %d: %d → %d parameters, perplexity %.3f → %.3f", method, before.Parameters,
			after.Parameters, ppl.PPL, pruned.PPL)
	}
}

// TestPruneStructuredHeadsAndErrors: kv groups are removed in whole groups with their
// query heads; invalid options are refused where they are set; a failing call leaves the
// model unchanged.
func TestPruneStructuredHeadsAndErrors(t *testing.T) {
	path, _ := bundled(t)
	m := loadModel(t, path)
	before := m.Config()
	so := must(NewStructuredOptions()).of(t)
	defer so.Close()
	expectError(t, so.SetRatio(1), StatusInvalidArgument, "surgeon_structured_options_set_ratio")
	expectError(t, so.SetHeadRatio(-0.5), StatusInvalidArgument, "surgeon_structured_options_set_head_ratio")
	expectError(t, so.SetMethod(FFNMethod(7)), StatusInvalidArgument, "surgeon_structured_options_set_method")
	if r := so.Ratio(); r != 0.3 {
		t.Fatalf("default ratio %g after failed setters", r)
	}

	// A policy for another hidden size: refused by the call, the model untouched.
	wrong := must(NewPruneNet(int(before.Dim)+1, 4, 1)).of(t)
	defer wrong.Close()
	noErr(t, so.SetPolicy(wrong))
	w1 := ffnOf(t, m, 0)
	err := m.PruneStructured(nil, so)
	expectError(t, err, StatusShape, "surgeon_model_prune_structured")
	if c := m.Config(); c != before || relMaxDiff(ffnOf(t, m, 0).Gate, w1.Gate) != 0 {
		t.Fatalf("a failed prune changed the model: %+v", c)
	}

	noErr(t, so.SetPolicy(nil))
	noErr(t, so.SetMethod(FFNL2))
	noErr(t, so.SetRatio(0))
	noErr(t, so.SetHeadRatio(0.5))
	noErr(t, m.PruneStructured(nil, so))
	after := m.Config()
	removed := int64(math.Round(0.5 * float64(before.KVHeads)))
	if after.KVHeads != before.KVHeads-removed || after.Heads*before.KVHeads != after.KVHeads*before.Heads ||
		after.HiddenDim != before.HiddenDim || after.HeadDim != before.HeadDim {
		t.Fatalf("heads: %+v after %+v", after, before)
	}
	if _, rows, _, err := m.Linear(0, "wq"); err != nil || int64(rows) != after.Heads*after.HeadDim {
		t.Fatalf("wq has %d rows for %d heads: %v", rows, after.Heads, err)
	}
	m.Close()
	expectError(t, m.PruneStructured(nil, so), StatusInvalidArgument, "surgeon_model_prune_structured")
}
