package dev.surgeon;

import static dev.surgeon.NativeHandle.addressOf;
import static dev.surgeon.NativeHandle.alive;
import static dev.surgeon.NativeHandle.setUp;

import dev.surgeon.jni.surgeon;

/**
 * Baselines without the OBS update, named after their C functions: magnitude and Wanda
 * pruning (surgeon_prune_magnitude / _wanda), round to nearest (surgeon_quantize_rtn).
 * Weights are rows × cols row-major, updated in place.
 */
public final class Baselines {
    private Baselines() {}

    /**
     * |w| against one threshold over the whole matrix (or n:m per row); opts null = the
     * defaults. Options with a quantizer are refused (INVALID_ARGUMENT).
     */
    public static Mask pruneMagnitude(Context ctx, float[] w, long rows, long cols, PruneOptions opts) {
        Checks.matrix("surgeon_prune_magnitude", "w", w, rows, cols);
        return mask(m -> surgeon.surgeon_prune_magnitude(Context.raw(ctx), w, rows, cols, 0, addressOf(opts), m), ctx, opts);
    }

    /** Wanda: |w_ij| · ‖x_j‖₂ within each output row, ‖x_j‖₂ from h (cols = h.cols()). */
    public static Mask pruneWanda(Context ctx, float[] w, long rows, long cols, Hessian h, PruneOptions opts) {
        final String f = "surgeon_prune_wanda";
        Checks.matrix(f, "w", w, rows, cols);
        Checks.notNull(f, "h", h);
        return mask(m -> surgeon.surgeon_prune_wanda(Context.raw(ctx), w, rows, cols, 0, h.address(), addressOf(opts), m), ctx, h, opts);
    }

    /** Round to nearest on the quantizer's grid (and its per-row widths); w becomes the dequantized values. */
    public static QuantResult quantizeRtn(Context ctx, float[] w, long rows, long cols, Quantizer q) {
        final String f = "surgeon_quantize_rtn";
        Checks.matrix(f, "w", w, rows, cols);
        Checks.notNull(f, "quantizer", q);
        return alive(() -> QuantResult.create(r -> surgeon.surgeon_quantize_rtn(Context.raw(ctx), w, rows, cols, 0,
                                                                                             q.address(), r), null), ctx, q);
    }

    /** A new mask filled by call (given its address); closed if the call fails. */
    private static Mask mask(NativeHandle.Call call, Object... alive) {
        return alive(() -> setUp(new Mask(0, 0), call), alive);
    }
}
