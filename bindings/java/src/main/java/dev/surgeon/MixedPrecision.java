package dev.surgeon;

import static dev.surgeon.NativeHandle.addressOf;
import static dev.surgeon.NativeHandle.alive;

import dev.surgeon.jni.surgeon;

/**
 * Mixed precision: one bit width per output row. The bit options and the target average
 * are a {@link MixedOptions}; per-option arrays (row errors) follow the options' order. A
 * layer:
 *
 * <pre>{@code
 * try (MixedOptions opts = new MixedOptions().bits(new int[] {2, 3, 4, 8}).average(3.5)) {
 *     double[] errors = MixedPrecision.rowErrors(solver, w, rows, q, opts);  // rows × 4
 *     int[] bits = MixedPrecision.allocateError(errors, rows, opts);         // Σ bits = 3.5 · rows
 *     try (QuantResult r = solver.quantize(w, rows, q.rowBits(bits))) { ... }
 * }
 * }</pre>
 *
 * The importance-driven allocators are on {@link Importance}; per-row widths reach the
 * solver through the quantizer ({@link Quantizer#rowBits(int[])}), for
 * {@link Solver#quantize} and for {@link Solver#prune} with a quantizer; {@link MixedStats}
 * summarises an allocation.
 */
public final class MixedPrecision {
    private MixedPrecision() {}

    /**
     * The average the options' target yields for `rows` rows: the largest Σ b_i &lt;=
     * average·rows reachable with the bit options, divided by rows (the target itself
     * whenever it is reachable). opts null = the defaults.
     */
    public static double attainableAverage(long rows, MixedOptions opts) {
        double[] out = new double[1];
        alive(() -> surgeon.surgeon_attainable_average(rows, addressOf(opts), out), opts);
        return out[0];
    }

    /**
     * The estimated error of every row of w (rows × solver.cols()) at every bit option, rows ×
     * options row-major: Σ_j (w_ij − q_b(w_ij))² / U_jj², the quantizer's settings at b bits
     * (its per-row widths ignored) weighted as GPTQ's loss weighs each column. The solver's
     * context applies.
     */
    public static double[] rowErrors(Solver solver, float[] w, long rows, Quantizer quantizer, MixedOptions opts) {
        final String f = "surgeon_mixed_row_errors";
        Checks.notNull(f, "solver", solver);
        Checks.notNull(f, "quantizer", quantizer);
        long cols = solver.cols();
        Checks.matrix(f, "w", w, rows, cols);
        double[] out = new double[Math.toIntExact(Checks.elements(f, rows, MixedOptions.optionCount(opts)))];
        boolean callbacks = solver.callbacks(); // the factorization may log
        Object written = OffHeap.output(callbacks, out);
        alive(() -> surgeon.surgeon_mixed_row_errors(solver.address(), OffHeap.input(callbacks, w), rows, cols, 0,
                                                     quantizer.address(), addressOf(opts), written), solver, quantizer, opts);
        OffHeap.copyBack(written, out);
        return out;
    }

    /**
     * One layer of a model-wide budget: the cost of each of its rows at each option (rows ×
     * options.length, row-major; comparable across layers, e.g. row errors times the loss
     * sensitivity of each output channel) and the values a row stores per bit (its columns).
     */
    public record BudgetLayer(double[] costs, long rows, long weight, int[] options) {}

    /**
     * Spends one budget over the rows of several layers: minimises the summed cost subject to
     * Σ bits × weight &lt;= budgetBits, leaving less than one step's storage unspent. Returns each
     * layer's widths, in the order given.
     */
    public static int[][] allocateErrorGroups(BudgetLayer[] layers, long budgetBits) {
        final String f = "surgeon_allocate_error_groups";
        Checks.notNull(f, "layers", layers);
        if (layers.length == 0) throw SurgeonException.of(Status.INVALID_ARGUMENT, f, "no layers");
        int costCount = 0, optionCount = 0, rowCount = 0;
        for (BudgetLayer l : layers) {
            Checks.notNull(f, "layer", l);
            Checks.notNull(f, "costs", l.costs());
            Checks.notNull(f, "options", l.options());
            if (l.costs().length != Checks.elements(f, l.rows(), l.options().length)) {
                throw SurgeonException.of(Status.SHAPE, f, "costs has " + l.costs().length
                        + " values, not rows x options = " + l.rows() + " x " + l.options().length);
            }
            costCount += l.costs().length;
            optionCount += l.options().length;
            rowCount = Math.addExact(rowCount, Math.toIntExact(l.rows()));
        }
        double[] costs = new double[costCount];
        int[] options = new int[optionCount], nOptions = new int[layers.length];
        long[] rows = new long[layers.length], weights = new long[layers.length];
        for (int i = 0, c = 0, o = 0; i < layers.length; ++i) {
            BudgetLayer l = layers[i];
            System.arraycopy(l.costs(), 0, costs, c, l.costs().length);
            System.arraycopy(l.options(), 0, options, o, l.options().length);
            c += l.costs().length;
            o += l.options().length;
            nOptions[i] = l.options().length;
            rows[i] = l.rows();
            weights[i] = l.weight();
        }
        int[] bits = new int[rowCount];
        surgeon.surgeon_allocate_error_groups(costs, rows, weights, options, nOptions, layers.length, budgetBits, bits);
        int[][] out = new int[layers.length][];
        for (int i = 0, at = 0; i < layers.length; ++i) {
            out[i] = java.util.Arrays.copyOfRange(bits, at, at + (int) rows[i]);
            at += (int) rows[i];
        }
        return out;
    }

    /**
     * Minimises Σ errors[i][choice_i] (rows × options, as rowErrors gives) with exactly
     * attainableAverage(rows, opts) bits on average.
     */
    public static int[] allocateError(double[] errors, long rows, MixedOptions opts) {
        Checks.matrix("surgeon_allocate_error", "errors", errors, rows, MixedOptions.optionCount(opts));
        int[] out = new int[Math.toIntExact(rows)];
        alive(() -> surgeon.surgeon_allocate_error(errors, rows, addressOf(opts), out), opts);
        return out;
    }
}
