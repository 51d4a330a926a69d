package dev.surgeon;

import dev.surgeon.jni.surgeon;

/** Singular values and the Kolmogorov-Smirnov distances PruneNet's reward is made of. */
public final class Spectra {
    private Spectra() {}

    /** Singular values of a (rows × cols, row-major), descending: min(rows, cols) values. */
    public static float[] singularValues(float[] a, long rows, long cols) {
        final String f = "surgeon_singular_values";
        Checks.matrix(f, "a", a, rows, cols);
        float[] out = new float[Math.toIntExact(Math.min(rows, cols))];
        surgeon.surgeon_singular_values(a, rows, cols, 0, out);
        return out;
    }

    /** sup |F_a − F_b| between the empirical distributions of two non-empty samples, in [0, 1]. */
    public static double ksDistance(float[] a, float[] b) {
        final String f = "surgeon_ks_distance";
        Checks.notNull(f, "a", a);
        Checks.notNull(f, "b", b);
        if (a.length == 0 || b.length == 0) {
            throw SurgeonException.of(Status.INVALID_ARGUMENT, f, "KS distance needs two non-empty samples, got " + a.length
                    + " and " + b.length + " values");
        }
        double[] out = new double[1];
        surgeon.surgeon_ks_distance(a, a.length, b, b.length, out);
        return out[0];
    }

    /** KS distance between the singular values of original (rows × cols) and pruned (prunedRows × prunedCols). */
    public static double spectralDistance(float[] original, long rows, long cols, float[] pruned, long prunedRows, long prunedCols) {
        final String f = "surgeon_spectral_distance";
        Checks.matrix(f, "original", original, rows, cols);
        Checks.matrix(f, "pruned", pruned, prunedRows, prunedCols);
        double[] out = new double[1];
        surgeon.surgeon_spectral_distance(original, rows, cols, pruned, prunedRows, prunedCols, out);
        return out[0];
    }
}
