package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * Baselines without the OBS update, named after their C functions: magnitude and Wanda
 * pruning (surgeon_prune_magnitude / _wanda), round to nearest (surgeon_quantize_rtn).
 * Weights are rows × cols row-major, updated in place.
 */
public final class Baselines {
    private Baselines() {}

    /** |w| against one threshold over the whole matrix (or n:m per row); opts null = defaults. */
    public static Mask pruneMagnitude(Context ctx, float[] w, long rows, long cols, PruneOptions opts) {
        Checks.matrix("surgeon_prune_magnitude", "w", w, rows, cols);
        PruneOptions o = options(opts);
        return mask(m -> surgeon.surgeon_prune_magnitude(Context.raw(ctx), w, rows, cols, 0, o.fraction(), o.n(), o.m(), m), ctx);
    }

    /** Wanda: |w_ij| · ‖x_j‖₂ within each output row, ‖x_j‖₂ from h (cols = h.cols()). */
    public static Mask pruneWanda(Context ctx, float[] w, long rows, long cols, Hessian h, PruneOptions opts) {
        final String f = "surgeon_prune_wanda";
        Checks.matrix(f, "w", w, rows, cols);
        Checks.notNull(f, "h", h);
        PruneOptions o = options(opts);
        return mask(m -> surgeon.surgeon_prune_wanda(Context.raw(ctx), w, rows, cols, 0, h.address(), o.fraction(), o.n(), o.m(), m),
                    ctx, h);
    }

    /** Round to nearest on the quantizer's grid; w becomes the dequantized values. */
    public static QuantResult quantizeRtn(Context ctx, float[] w, long rows, long cols, Quantizer q) {
        final String f = "surgeon_quantize_rtn";
        Checks.matrix(f, "w", w, rows, cols);
        Checks.notNull(f, "quantizer", q);
        if (q.rowBitsFor(f, rows) != null) {
            throw SurgeonException.of(Status.UNSUPPORTED, f, "per-row widths need the solver (Solver.quantize)");
        }
        return NativeHandle.alive(() -> QuantResult.create(r -> surgeon.surgeon_quantize_rtn(Context.raw(ctx), w, rows, cols, 0,
                                                                                             q.address(), r), null), ctx, q);
    }

    private static PruneOptions options(PruneOptions opts) {
        if (opts == null) return new PruneOptions();
        if (opts.quantizer() != null) {
            throw SurgeonException.of(Status.INVALID_ARGUMENT, "surgeon_prune_options", "the baselines take no quantizer");
        }
        return opts;
    }

    /** A new mask filled by call (given its address); closed if the call fails. */
    private static Mask mask(NativeHandle.Call call, Object... alive) {
        return NativeHandle.alive(() -> NativeHandle.setUp(new Mask(0, 0), call), alive);
    }
}
