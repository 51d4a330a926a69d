package dev.surgeon;

/** How much to prune: a fraction in [0, 1), or n pruned in every group of m columns of a row. */
public record Sparsity(double fraction, int n, int m) {
    public static Sparsity fraction(double fraction) {
        return new Sparsity(fraction, 0, 0);
    }

    /** n:m (n < m <= 256), e.g. 2:4. */
    public static Sparsity nOfM(int n, int m) {
        return new Sparsity(0.0, n, m);
    }
}
