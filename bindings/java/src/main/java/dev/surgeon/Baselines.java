package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.lang.ref.Reference;

/** Baselines without the OBS update: magnitude and Wanda pruning, round-to-nearest. */
public final class Baselines {
    private Baselines() {}

    /** |w| against one threshold over the whole matrix (or n:m per row); w updated in place. */
    public static Mask magnitude(Context ctx, float[] w, long rows, long cols, Sparsity sparsity) {
        final String f = "surgeon_prune_magnitude";
        check(f, w, rows, cols);
        Checks.notNull(f, "sparsity", sparsity);
        Mask mask = new Mask(0, 0);
        try {
            surgeon.surgeon_prune_magnitude(Context.raw(ctx), w, rows, cols, 0, sparsity.fraction(), sparsity.n(), sparsity.m(), mask.address());
        } catch (RuntimeException e) {
            mask.close();
            throw e;
        } finally {
            Reference.reachabilityFence(ctx);
            Reference.reachabilityFence(mask);
        }
        return mask;
    }

    /** Wanda: |w_ij| · ‖x_j‖₂ within each output row, ‖x_j‖₂ from h (cols = h.cols()). */
    public static Mask wanda(Context ctx, float[] w, long rows, Hessian h, Sparsity sparsity) {
        final String f = "surgeon_prune_wanda";
        Checks.notNull(f, "h", h);
        check(f, w, rows, h.cols());
        Checks.notNull(f, "sparsity", sparsity);
        Mask mask = new Mask(0, 0);
        try {
            surgeon.surgeon_prune_wanda(Context.raw(ctx), w, rows, h.cols(), 0, h.address(), sparsity.fraction(), sparsity.n(), sparsity.m(), mask.address());
        } catch (RuntimeException e) {
            mask.close();
            throw e;
        } finally {
            Reference.reachabilityFence(ctx);
            Reference.reachabilityFence(h);
            Reference.reachabilityFence(mask);
        }
        return mask;
    }

    /** Round to nearest on the quantizer's grid; w becomes the dequantized values. */
    public static QResult rtn(Context ctx, float[] w, long rows, long cols, Quantizer quantizer) {
        final String f = "surgeon_quantize_rtn";
        check(f, w, rows, cols);
        Checks.notNull(f, "quantizer", quantizer);
        QResult result = new QResult();
        try {
            surgeon.surgeon_quantize_rtn(Context.raw(ctx), w, rows, cols, 0, quantizer.address(), result.address());
        } catch (RuntimeException e) {
            result.close();
            throw e;
        } finally {
            Reference.reachabilityFence(ctx);
            Reference.reachabilityFence(quantizer);
            Reference.reachabilityFence(result);
        }
        return result.loadShape();
    }

    private static void check(String f, float[] w, long rows, long cols) {
        Checks.notNull(f, "w", w);
        long needed = Checks.elements(f, rows, cols);
        if (w.length != needed) {
            throw SurgeonException.of(Status.SHAPE, f, "w has " + w.length + " elements, not rows x cols = " + rows + " x " + cols);
        }
    }
}
