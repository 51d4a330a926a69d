package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * Options of model-level structured pruning ({@link Model#pruneStructured}), the
 * experimental surgeon_structured_options: its C functions may change in any release.
 * Defaults: ratio 0.3, method PRUNENET, no policy (one is trained with the training
 * options), uniform per-block ratios, head ratio 0, seed 1.
 * <ul>
 *   <li>ratio in [0, 1): fraction of FFN neurons removed over the whole model;</li>
 *   <li>method: {@link Ffn.Method#L2}, {@link Ffn.Method#RANDOM} (block b uses seed + b) or
 *       {@link Ffn.Method#PRUNENET};</li>
 *   <li>policy (PRUNENET, copied; null clears): scores the neurons instead of a policy
 *       trained for the call; its hidden size must be the model's;</li>
 *   <li>training (PRUNENET without a policy; copied, null restores the defaults): steps,
 *       samples, learning rate, features (ratio and seed are the options' own);</li>
 *   <li>spectralRatios: blocks whose spectrum degrades least are pruned more, the same
 *       total removed;</li>
 *   <li>headRatio in [0, 1): fraction of kv-head groups (with their query heads) removed
 *       from every block, chosen by the o-projection spectrum (save the result as a
 *       Hugging Face directory).</li>
 * </ul>
 * {@code new StructuredOptions().ratio(0.2).method(Ffn.Method.L2).headRatio(0.25)}.
 */
public final class StructuredOptions extends NativeHandle {
    public StructuredOptions() {
        super(surgeon.surgeon_structured_options_new(), surgeon::surgeon_structured_options_free, null);
    }

    public StructuredOptions ratio(double ratio) {
        return set(this, a -> surgeon.surgeon_structured_options_set_ratio(a, ratio));
    }

    public StructuredOptions method(Ffn.Method method) {
        Checks.notNull("surgeon_structured_options_set_method", "method", method);
        return set(this, a -> surgeon.surgeon_structured_options_set_method(a, method.value));
    }

    public StructuredOptions policy(PruneNet policy) {
        alive(() -> surgeon.surgeon_structured_options_set_policy(address(), addressOf(policy)), this, policy);
        return this;
    }

    public StructuredOptions training(PruneNetOptions training) {
        return set(this, a -> surgeon.surgeon_structured_options_set_training(a, PruneNetOptions.toC(training)));
    }

    public StructuredOptions spectralRatios(boolean enable) {
        return set(this, a -> surgeon.surgeon_structured_options_set_spectral_ratios(a, enable ? 1 : 0));
    }

    public StructuredOptions headRatio(double headRatio) {
        return set(this, a -> surgeon.surgeon_structured_options_set_head_ratio(a, headRatio));
    }

    public StructuredOptions seed(long seed) {
        return set(this, a -> surgeon.surgeon_structured_options_set_seed(a, seed));
    }

    public double ratio() {
        return fill(new double[1], surgeon::surgeon_structured_options_get_ratio)[0];
    }

    public double headRatio() {
        return fill(new double[1], surgeon::surgeon_structured_options_get_head_ratio)[0];
    }
}
