package dev.surgeon;

import dev.surgeon.jni.surgeon;
import dev.surgeon.jni.surgeon_ffn_method;
import java.util.Arrays;

/**
 * One feed-forward block of a Llama model, row-major: gate and up are hidden × dim, down is
 * dim × hidden. Removing neuron i drops row i of gate and up and column i of down. The
 * arrays are used as they are (not copied); down may be null where only gate and up are
 * read ({@link #scores}).
 */
public record Ffn(float[] gate, float[] up, float[] down, long hidden, long dim) {
    /** How neurons are scored (surgeon_ffn_method). */
    public enum Method {
        /** ||[gate_i, up_i]||₂ */
        L2(surgeon_ffn_method.SURGEON_FFN_L2),
        /** seeded uniform scores (the random-neurons baseline) */
        RANDOM(surgeon_ffn_method.SURGEON_FFN_RANDOM),
        /**
         * a PruneNet policy's keep-probabilities: for model-level pruning
         * ({@link StructuredOptions#method}); one block's are {@link PruneNet#scores}
         */
        PRUNENET(surgeon_ffn_method.SURGEON_FFN_PRUNENET);

        final int value;

        Method(int value) {
            this.value = value;
        }
    }

    /** Checks the arrays' lengths against hidden and dim (down may be null where downOptional). */
    void check(String function, boolean downOptional) {
        Checks.matrix(function, "gate", gate, hidden, dim);
        Checks.matrix(function, "up", up, hidden, dim);
        if (!downOptional || down != null) Checks.matrix(function, "down", down, dim, hidden);
    }

    /** A baseline score per neuron (higher = keep), L2 or RANDOM; the seed is used by RANDOM only. */
    public float[] scores(Method method, long seed) {
        final String f = "surgeon_ffn_scores";
        Checks.notNull(f, "method", method);
        check(f, true);
        float[] out = new float[Math.toIntExact(hidden)];
        surgeon.surgeon_ffn_scores(method.value, gate, up, down, hidden, dim, seed, out);
        return out;
    }

    /**
     * The neurons kept when removing round(ratio · scores.length) of them (at least one):
     * the highest scores, ties to the lower index, ascending. 0 &lt;= ratio &lt; 1.
     */
    public static long[] select(float[] scores, double ratio) {
        final String f = "surgeon_ffn_select";
        Checks.notNull(f, "scores", scores);
        if (scores.length == 0) throw SurgeonException.of(Status.SHAPE, f, "scores is empty");
        long[] keep = new long[scores.length]; // at most every neuron: one call fills it
        long[] count = new long[1];
        surgeon.surgeon_ffn_select(scores, scores.length, ratio, keep, keep.length, count);
        return Arrays.copyOf(keep, Math.toIntExact(count[0]));
    }

    /** A new block with the kept neurons (ascending, unique, each &lt; hidden). */
    public Ffn slice(long[] keep) {
        final String f = "surgeon_ffn_slice";
        check(f, false);
        Checks.notNull(f, "keep", keep);
        if (keep.length == 0 || keep.length > hidden) {
            throw SurgeonException.of(Status.INVALID_ARGUMENT, f, "keep has " + keep.length + " neurons, must be in [1, " + hidden + "]");
        }
        // surgeon_ffn_slice works in place: on copies, then cut to the kept size.
        float[] g = gate.clone(), u = up.clone(), d = down.clone();
        surgeon.surgeon_ffn_slice(g, u, d, hidden, dim, keep, keep.length);
        int n = Math.toIntExact(Checks.elements(f, keep.length, dim));
        return new Ffn(Arrays.copyOf(g, n), Arrays.copyOf(u, n), Arrays.copyOf(d, n), keep.length, dim);
    }
}
