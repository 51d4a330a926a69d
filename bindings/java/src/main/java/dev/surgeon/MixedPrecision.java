package dev.surgeon;

import dev.surgeon.jni.surgeon;
import dev.surgeon.jni.surgeon_mixed_stats;

/**
 * Mixed precision: one bit width per output row. Bit options are distinct values in
 * [1, 8], in any order; per-option arrays (row errors) follow the caller's order. A layer:
 *
 * <pre>{@code
 * double[] errors = MixedPrecision.rowErrors(null, solver, w, rows, q, options);  // rows × options
 * int[] bits = MixedPrecision.allocateError(errors, rows, options, 3.5);          // Σ bits = 3.5 · rows
 * try (QuantResult r = solver.quantize(w, rows, q.rowBits(bits))) { ... }
 * }</pre>
 *
 * The importance-driven allocators are on {@link Importance}; per-row widths reach the
 * solver through the quantizer ({@link Quantizer#rowBits(int[])}), for
 * {@link Solver#quantize} and for {@link Solver#prune} with a quantizer.
 */
public final class MixedPrecision {
    private MixedPrecision() {}

    /** Storage per grid (one per row and group): a scale and a zero point (-1: the row's own width; 0: implicit). */
    public record Overhead(int scaleBits, int zeroBits) {
        /** A 16-bit scale and a zero point of the row's own width (as GPTQ packs them). */
        public static final Overhead DEFAULT = new Overhead(16, -1);
    }

    /**
     * A summary of an allocation: rows, weights, grids, rows per width (histogram[b] for b in
     * 1..8, [0] = 0), bits per weight without and with the scales and zeros, and the
     * importance range when an Importance was given (else NaN).
     */
    public record Stats(long channels, long weights, long grids, long[] histogram, double avgBits,
                        double avgBitsWithOverhead, boolean hasImportance, double importanceMin,
                        double importanceMax, double importanceMean) {}

    static void checkOptions(String function, int[] options) {
        Checks.notNull(function, "options", options);
        if (options.length == 0) throw SurgeonException.of(Status.INVALID_ARGUMENT, function, "options is empty");
    }

    /**
     * The average a target yields: the largest Σ b_i <= avgBits·rows reachable with the
     * options, divided by rows (the target itself whenever it is reachable).
     */
    public static double attainableAverage(long rows, int[] options, double avgBits) {
        checkOptions("surgeon_attainable_average", options);
        double[] out = new double[1];
        surgeon.surgeon_attainable_average(rows, options, options.length, avgBits, out);
        return out[0];
    }

    /**
     * The estimated error of every row of w (rows × solver.cols()) at every option, rows ×
     * options.length row-major: Σ_j (w_ij − q_b(w_ij))² / U_jj², the quantizer's settings at
     * b bits weighted as GPTQ's loss weighs each column.
     */
    public static double[] rowErrors(Context ctx, Solver solver, float[] w, long rows, Quantizer quantizer, int[] options) {
        final String f = "surgeon_mixed_row_errors";
        Checks.notNull(f, "solver", solver);
        Checks.notNull(f, "quantizer", quantizer);
        Checks.notNull(f, "w", w);
        checkOptions(f, options);
        long cols = solver.cols();
        Checks.matrix(f, "w", w, rows, cols);
        double[] out = new double[Math.toIntExact(Checks.elements(f, rows, options.length))];
        boolean callbacks = Context.hasCallbacks(ctx) || solver.callbacks(); // the factorization may log
        Object written = OffHeap.output(callbacks, out);
        NativeHandle.alive(() -> surgeon.surgeon_mixed_row_errors(Context.raw(ctx), solver.address(), OffHeap.input(callbacks, w), rows,
                                                                  cols, 0, quantizer.address(), OffHeap.input(callbacks, options),
                                                                  options.length, written), ctx, solver, quantizer);
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
     * Σ bits × weight <= budgetBits, leaving less than one step's storage unspent. Returns each
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
            checkOptions(f, l.options());
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
     * Minimises Σ errors[i][choice_i] (rows × options.length, as rowErrors gives) with exactly
     * attainableAverage(rows, options, avgBits) bits on average.
     */
    public static int[] allocateError(double[] errors, long rows, int[] options, double avgBits) {
        final String f = "surgeon_allocate_error";
        Checks.notNull(f, "errors", errors);
        checkOptions(f, options);
        if (errors.length != Checks.elements(f, rows, options.length)) {
            throw SurgeonException.of(Status.SHAPE, f, "errors has " + errors.length + " values, not rows x options = " + rows
                    + " x " + options.length);
        }
        int[] out = new int[Math.toIntExact(rows)];
        surgeon.surgeon_allocate_error(errors, rows, options, options.length, avgBits, out);
        return out;
    }

    /**
     * Summarises bits (one width in [1, 8] per row) of a layer with cols columns and
     * groupSize columns per grid (0: one grid per row); importance nullable (it must have
     * bits.length rows).
     */
    public static Stats stats(int[] bits, long cols, long groupSize, Overhead overhead, Importance importance) {
        final String f = "surgeon_mixed_stats_compute";
        checkBits(f, bits);
        Checks.notNull(f, "overhead", overhead);
        surgeon_mixed_stats s = new surgeon_mixed_stats();
        try {
            NativeHandle.alive(() -> surgeon.surgeon_mixed_stats_compute(bits, bits.length, cols, groupSize, overhead.scaleBits(),
                                                                         overhead.zeroBits(), NativeHandle.addressOf(importance), s),
                               importance);
            boolean has = s.getHas_importance() != 0;
            return new Stats(s.getChannels(), s.getWeights(), s.getGrids(), s.getHistogram(), s.getAvg_bits(),
                             s.getAvg_bits_with_overhead(), has, has ? s.getImportance_min() : Double.NaN,
                             has ? s.getImportance_max() : Double.NaN, has ? s.getImportance_mean() : Double.NaN);
        } finally {
            s.delete();
        }
    }

    /** The same summary as the library's JSON object. */
    public static String statsJson(int[] bits, long cols, long groupSize, Overhead overhead, Importance importance) {
        final String f = "surgeon_mixed_stats_json";
        checkBits(f, bits);
        Checks.notNull(f, "overhead", overhead);
        return NativeHandle.alive(() -> Sized.text((buf, cap, needed) -> surgeon.surgeon_mixed_stats_json(
                bits, bits.length, cols, groupSize, overhead.scaleBits(), overhead.zeroBits(), NativeHandle.addressOf(importance),
                buf, cap, needed)), importance);
    }

    private static void checkBits(String function, int[] bits) {
        Checks.notNull(function, "bits", bits);
        if (bits.length == 0) throw SurgeonException.of(Status.SHAPE, function, "bits is empty");
    }
}
