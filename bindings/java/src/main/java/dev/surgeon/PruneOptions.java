package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * What SparseGPT and the pruning baselines do (surgeon_prune_options). Defaults: sparsity
 * 0.5 unstructured, mask scope BLOCK, no quantizer.
 * <ul>
 *   <li>sparsity in [0, 1): the fraction of weights removed;</li>
 *   <li>n:m with 0 &lt; n &lt; m &lt;= 256: n pruned in every group of m columns of a row
 *       (the sparsity is then ignored; the solver's block size must be a multiple of m);
 *       (0, 0) selects unstructured sparsity;</li>
 *   <li>mask scope and quantizer (SparseGPT only): joint pruning and quantization with the
 *       quantizer's grid and its per-row widths (copied: the quantizer may change or close
 *       afterwards).</li>
 * </ul>
 * Setters mirror the C ones and return this: {@code new PruneOptions().nm(2, 4).quantizer(q)}.
 * An invalid value throws INVALID_ARGUMENT and leaves the options unchanged.
 */
public final class PruneOptions extends NativeHandle {
    private MaskScope scope = MaskScope.BLOCK;
    private boolean quantized;

    public PruneOptions() {
        super(surgeon.surgeon_prune_options_new(), surgeon::surgeon_prune_options_free, null);
    }

    public PruneOptions sparsity(double fraction) {
        return set(this, a -> surgeon.surgeon_prune_options_set_sparsity(a, fraction));
    }

    public PruneOptions nm(int n, int m) {
        return set(this, a -> surgeon.surgeon_prune_options_set_nm(a, n, m));
    }

    public PruneOptions maskScope(MaskScope scope) {
        Checks.notNull("surgeon_prune_options_set_mask_scope", "scope", scope);
        set(this, a -> surgeon.surgeon_prune_options_set_mask_scope(a, scope.ordinal()));
        this.scope = scope;
        return this;
    }

    /** Joint pruning and quantization (a copy of q, grid found on the dense weight); null = prune only. */
    public PruneOptions quantizer(Quantizer q) {
        alive(() -> surgeon.surgeon_prune_options_set_quantizer(address(), addressOf(q)), this, q);
        quantized = q != null;
        return this;
    }

    public double sparsity() {
        return fill(new double[1], surgeon::surgeon_prune_options_get_sparsity)[0];
    }

    /** {n, m}; {0, 0} for unstructured sparsity. */
    public int[] nm() {
        int[][] nm = fill(new int[2][1], (a, o) -> surgeon.surgeon_prune_options_get_nm(a, o[0], o[1]));
        return new int[] {nm[0][0], nm[1][0]};
    }

    public MaskScope maskScope() {
        return scope;
    }

    /** Whether the options hold a quantizer. */
    public boolean hasQuantizer() {
        return quantized;
    }
}
