package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.lang.ref.Reference;

/** Library version and metrics. */
public final class Surgeon {
    private Surgeon() {}

    /** The runtime library's version ("0.1.0"). */
    public static String version() {
        return surgeon.surgeon_version();
    }

    /** major · 10000 + minor · 100 + patch. */
    public static int versionNumber() {
        return surgeon.surgeon_version_number();
    }

    /** Relative reconstruction error tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), w and wHat rows × h.cols(). */
    public static double reconstructionError(Hessian h, float[] w, float[] wHat, long rows) {
        final String f = "surgeon_reconstruction_error";
        Checks.notNull(f, "h", h);
        Checks.notNull(f, "w", w);
        Checks.notNull(f, "w_hat", wHat);
        long needed = Checks.elements(f, rows, h.cols());
        if (w.length != needed || wHat.length != needed) {
            throw SurgeonException.of(Status.SHAPE, f, "w has " + w.length + " and w_hat " + wHat.length
                    + " elements, not rows x cols = " + rows + " x " + h.cols());
        }
        double[] out = new double[1];
        try {
            surgeon.surgeon_reconstruction_error(h.address(), w, wHat, rows, h.cols(), 0, out);
        } finally {
            Reference.reachabilityFence(h);
        }
        return out[0];
    }
}
