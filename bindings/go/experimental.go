package surgeon

import "surgeon.dev/surgeon/raw"

// Model-level structured pruning (surgeon_experimental.h). Experimental in the C API: its
// signatures may change in any release, and so may these.

// StructuredOptions configures Model.PruneStructured (surgeon_structured_options).
// Defaults: ratio 0.3, FFNPruneNet, no policy (one is trained with the training options),
// uniform per-block ratios, head ratio 0, seed 1. Calls copy what they need: the options
// may be changed or closed afterwards.
type StructuredOptions struct {
	handle
}

var structuredOptionsKind = kind{"StructuredOptions", func(p raw.Handle) { raw.Surgeon_structured_options_free(p) }}

// NewStructuredOptions returns the defaults.
func NewStructuredOptions() (*StructuredOptions, error) {
	return newEmpty[StructuredOptions](&structuredOptionsKind, "surgeon_structured_options_new",
		raw.Surgeon_structured_options_new)
}

// SetRatio sets the fraction of FFN neurons removed over the whole model, in [0, 1).
func (o *StructuredOptions) SetRatio(ratio float64) error {
	return set(&o.handle, "surgeon_structured_options_set_ratio", raw.Surgeon_structured_options_set_ratio, ratio)
}

// SetMethod sets the neuron score: FFNL2, FFNRandom (block b uses seed + b) or
// FFNPruneNet.
func (o *StructuredOptions) SetMethod(method FFNMethod) error {
	return set(&o.handle, "surgeon_structured_options_set_method", raw.Surgeon_structured_options_set_method,
		raw.Enum_SS_surgeon_ffn_method(method))
}

// SetPolicy scores the neurons with a copy of policy (its Dim must be the model's)
// instead of a policy trained for the call; nil clears.
func (o *StructuredOptions) SetPolicy(policy *PruneNet) error {
	return setHandle(&o.handle, "surgeon_structured_options_set_policy", raw.Surgeon_structured_options_set_policy,
		ref(policy))
}

// SetTraining sets the training of a policy made for the call (FFNPruneNet without a
// policy): steps, samples, learning rate, features; its ratio and seed are replaced by
// the options' own. nil restores the defaults.
func (o *StructuredOptions) SetTraining(training *PruneNetOptions) error {
	return o.write("surgeon_structured_options_set_training", func(p raw.Handle) error {
		if training == nil {
			return raw.Surgeon_structured_options_set_training(p, raw.SwigcptrSurgeon_prunenet_options(0))
		}
		return withOptions(training, func(c raw.Surgeon_prunenet_options) error {
			return raw.Surgeon_structured_options_set_training(p, c)
		})
	})
}

// SetSpectralRatios prunes the blocks whose spectrum degrades least more (the same total
// removed) instead of the same ratio in every block.
func (o *StructuredOptions) SetSpectralRatios(on bool) error {
	return set(&o.handle, "surgeon_structured_options_set_spectral_ratios",
		raw.Surgeon_structured_options_set_spectral_ratios, flag(on))
}

// SetHeadRatio sets the fraction of kv-head groups (with their query heads) removed from
// every block, in [0, 1), chosen by the o-projection spectrum.
func (o *StructuredOptions) SetHeadRatio(ratio float64) error {
	return set(&o.handle, "surgeon_structured_options_set_head_ratio", raw.Surgeon_structured_options_set_head_ratio, ratio)
}

// SetSeed sets the seed of FFNRandom and of a policy trained for the call.
func (o *StructuredOptions) SetSeed(seed uint64) error {
	return set(&o.handle, "surgeon_structured_options_set_seed", raw.Surgeon_structured_options_set_seed, seed)
}

// Ratio is the FFN ratio set. It panics when o is closed.
func (o *StructuredOptions) Ratio() float64 {
	return getFloat(&o.handle, "surgeon_structured_options_get_ratio", raw.Surgeon_structured_options_get_ratio)
}

// HeadRatio is the head ratio set. It panics when o is closed.
func (o *StructuredOptions) HeadRatio() float64 {
	return getFloat(&o.handle, "surgeon_structured_options_get_head_ratio", raw.Surgeon_structured_options_get_head_ratio)
}

// PruneStructured removes FFN neurons (and kv groups with a head ratio) from every block,
// in place, with ctx's threads (opts nil: the defaults). Config then gives the new sizes
// (HiddenDim: the widest remaining FFN), Report the JSON report; quantization results of
// an earlier Compress are dropped. On failure the model is unchanged.
func (m *Model) PruneStructured(ctx *Context, opts *StructuredOptions) error {
	return m.update("surgeon_model_prune_structured", ctx, func(c raw.Handle, p []raw.Handle) error {
		return raw.Surgeon_model_prune_structured(c, p[0], p[1])
	}, ref(opts))
}
