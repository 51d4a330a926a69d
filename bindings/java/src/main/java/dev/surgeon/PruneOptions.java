package dev.surgeon;

/**
 * What SparseGPT and the pruning baselines do (surgeon_prune_options): unstructured
 * sparsity (a fraction in [0, 1), default 0.5) or n pruned in every group of m columns of a
 * row, the mask scope, and an optional quantizer for joint pruning and quantization (its
 * per-row widths apply). Setters mirror the C ones and return this:
 * {@code new PruneOptions().nm(2, 4).quantizer(q)}.
 */
public final class PruneOptions {
    private double sparsity = 0.5;
    private int n, m;
    private MaskScope scope = MaskScope.BLOCK;
    private Quantizer quantizer;

    /** Unstructured sparsity (ignored while n:m is set). */
    public PruneOptions sparsity(double fraction) {
        this.sparsity = fraction;
        return this;
    }

    /** n:m sparsity (n < m <= 256), e.g. 2:4; (0, 0) returns to unstructured sparsity. */
    public PruneOptions nm(int n, int m) {
        this.n = n;
        this.m = m;
        return this;
    }

    public PruneOptions maskScope(MaskScope scope) {
        Checks.notNull("surgeon_prune_options_set_mask_scope", "scope", scope);
        this.scope = scope;
        return this;
    }

    /** Joint pruning and quantization (grid found on the dense weight); null = prune only. */
    public PruneOptions quantizer(Quantizer quantizer) {
        this.quantizer = quantizer;
        return this;
    }

    /** The unstructured fraction (used when n:m is 0:0). */
    public double sparsity() {
        return sparsity;
    }

    /** {n, m}; {0, 0} for unstructured sparsity. */
    public int[] nm() {
        return new int[] {n, m};
    }

    public MaskScope maskScope() {
        return scope;
    }

    public Quantizer quantizer() {
        return quantizer;
    }

    /** The fraction as the 0.1 C calls take it: 0 with n:m. */
    double fraction() {
        return n == 0 && m == 0 ? sparsity : 0.0;
    }

    int n() {
        return n;
    }

    int m() {
        return m;
    }
}
