package dev.surgeon;

import dev.surgeon.jni.surgeon;
import dev.surgeon.jni.surgeon_importance_signal;

/**
 * Per-row importance of one layer's weight: five normalised signals (each divided by its
 * mean over the rows) and their weighted combination, the score the allocators rank rows
 * by. Read-only once computed, so it may be used from several threads.
 *
 * <pre>{@code
 * try (Importance imp = new Importance(h, solver, w, rows, null);
 *      MixedOptions opts = new MixedOptions().bits(new int[] {2, 3, 4, 6, 8}).average(3.5)) {
 *     int[] bits = imp.allocateBudget(opts);   // Σ bits = 3.5 · rows
 * }
 * }</pre>
 */
public final class Importance extends NativeHandle {
    /** The signals, in the C order (ordinal = surgeon_importance_signal). */
    public enum Signal {
        /** mean_j |W_ij|·E|x_j| */
        ACTIVATION(surgeon_importance_signal.SURGEON_SIGNAL_ACTIVATION),
        /** mean_j W_ij² / [H⁻¹]_jj */
        HESSIAN(surgeon_importance_signal.SURGEON_SIGNAL_HESSIAN),
        /** mean_j |W_ij| */
        WEIGHT(surgeon_importance_signal.SURGEON_SIGNAL_WEIGHT),
        /** sqrt(Σ_j W_ij²·E[x_j²]) */
        OUTPUT(surgeon_importance_signal.SURGEON_SIGNAL_OUTPUT),
        /** sqrt(Σ_j W_ij²·Var[x_j]) */
        VARIANCE(surgeon_importance_signal.SURGEON_SIGNAL_VARIANCE);

        final int value;

        Signal(int value) {
            this.value = value;
        }
    }

    /** One signal's values per row; without data (available false) the values are 0. */
    public record SignalValues(float[] values, boolean available) {}

    private final long rows;

    /** The library's signal weights (0.25, 0.25, 0.15, 0.25, 0.10), indexed by Signal.ordinal(). */
    public static double[] defaultWeights() {
        double[] out = new double[Signal.values().length];
        surgeon.surgeon_importance_default_weights(out);
        return out;
    }

    /**
     * Scores the rows of w (rows × h.cols(), row-major) from h's activation statistics, with
     * h's context, as {@code surgeon_importance_compute(&imp, h, solver, w, rows, cols, 0, weights)}.
     *
     * @param solver  nullable: lends its factorization for diag(H⁻¹) (computed there once and
     *                shared with its later calls); without one a private factorization with
     *                percdamp 0.01 is made when the Hessian signal has a weight
     * @param weights nullable (the defaults): one weight >= 0 per signal, not all zero; a zero
     *                weight removes its signal. A Hessian built with fromMatrix has no first
     *                moments, so ACTIVATION and VARIANCE are then left out.
     */
    public Importance(Hessian h, Solver solver, float[] w, long rows, double[] weights) {
        super(compute(h, solver, w, rows, weights), surgeon::surgeon_importance_free, null);
        this.rows = rows;
    }

    private static long compute(Hessian h, Solver solver, float[] w, long rows, double[] weights) {
        final String f = "surgeon_importance_compute";
        Checks.notNull(f, "h", h);
        long cols = h.cols();
        Checks.matrix(f, "w", w, rows, cols);
        if (weights != null && weights.length != Signal.values().length) {
            throw SurgeonException.of(Status.SHAPE, f, "weights has " + weights.length + " values, needs " + Signal.values().length);
        }
        if (solver != null && solver.cols() != cols) {
            throw SurgeonException.of(Status.SHAPE, f, "the solver has " + solver.cols() + " columns, the Hessian " + cols);
        }
        boolean callbacks = h.callbacks() || (solver != null && solver.callbacks());
        return alive(() -> surgeon.surgeon_importance_compute(h.address(), addressOf(solver), OffHeap.input(callbacks, w), rows, cols,
                                                              0, OffHeap.input(callbacks, weights)), h, solver);
    }

    public long rows() {
        return rows;
    }

    /** The combined score of every row. */
    public float[] scores() {
        return fill(new float[Math.toIntExact(rows)], surgeon::surgeon_importance_scores);
    }

    /** One normalised signal per row. */
    public SignalValues signal(Signal signal) {
        Checks.notNull("surgeon_importance_signal_values", "signal", signal);
        float[] out = new float[Math.toIntExact(rows)];
        int[] available = fill(new int[1], (a, ok) -> surgeon.surgeon_importance_signal_values(a, signal.value, out, ok));
        return new SignalValues(out, available[0] != 0);
    }

    /**
     * Rows ranked by ascending importance: rank r &lt; round(q_0·rows) gets the smallest bit
     * option, and so on up the sorted options, with the options' quantile cuts (or, without
     * them, the cuts whose average is the options' target: exact up to rounding of the cuts).
     */
    public int[] allocateQuantile(MixedOptions opts) {
        return allocate(opts, (a, o, out) -> surgeon.surgeon_allocate_quantile(a, o, out));
    }

    /**
     * Exactly {@link MixedPrecision#attainableAverage} bits on average, placed by importance
     * (row i at b bits costs score_i²·4^-b, solved exactly).
     */
    public int[] allocateBudget(MixedOptions opts) {
        return allocate(opts, (a, o, out) -> surgeon.surgeon_allocate_budget(a, o, out));
    }

    private interface Allocator {
        void run(long importance, long opts, int[] out);
    }

    private int[] allocate(MixedOptions opts, Allocator allocator) {
        int[] out = new int[Math.toIntExact(rows)];
        alive(() -> fill(out, (a, o) -> allocator.run(a, addressOf(opts), o)), opts);
        return out;
    }
}
