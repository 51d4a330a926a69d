package dev.surgeon;

import dev.surgeon.jni.surgeon;

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
        Checks.matrix(f, "w", w, rows, h.cols());
        Checks.matrix(f, "w_hat", wHat, rows, h.cols());
        return h.fill(new double[1], (a, out) -> surgeon.surgeon_reconstruction_error(a, w, wHat, rows, h.cols(), 0, out))[0];
    }
}
