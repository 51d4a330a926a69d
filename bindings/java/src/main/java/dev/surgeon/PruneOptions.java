package dev.surgeon;

/**
 * SparseGPT options: {@code PruneOptions.nOfM(2, 4).quantizer(q)} or
 * {@code PruneOptions.unstructured(0.5).scope(MaskScope.ROW)}. Immutable.
 */
public final class PruneOptions {
    private final Sparsity sparsity;
    private final MaskScope scope;
    private final Quantizer quantizer;

    private PruneOptions(Sparsity sparsity, MaskScope scope, Quantizer quantizer) {
        this.sparsity = sparsity;
        this.scope = scope;
        this.quantizer = quantizer;
    }

    public static PruneOptions of(Sparsity sparsity) {
        return new PruneOptions(sparsity, MaskScope.BLOCK, null);
    }

    public static PruneOptions unstructured(double fraction) {
        return of(Sparsity.fraction(fraction));
    }

    public static PruneOptions nOfM(int n, int m) {
        return of(Sparsity.nOfM(n, m));
    }

    public PruneOptions scope(MaskScope scope) {
        return new PruneOptions(sparsity, scope, quantizer);
    }

    /** Joint pruning and quantization (grid found on the dense weight); null = prune only. */
    public PruneOptions quantizer(Quantizer quantizer) {
        return new PruneOptions(sparsity, scope, quantizer);
    }

    public Sparsity sparsity() {
        return sparsity;
    }

    public MaskScope scope() {
        return scope;
    }

    public Quantizer quantizer() {
        return quantizer;
    }
}
