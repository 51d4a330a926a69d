package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.nio.FloatBuffer;

/** rows × cols keep (1) / prune (0) flags (surgeon_mask). */
public final class Mask extends NativeHandle {
    Mask(long address) {
        super(address, surgeon::surgeon_mask_free, null);
    }

    /** A mask that keeps everything. */
    public Mask(long rows, long cols) {
        this(surgeon.surgeon_mask_new(rows, cols));
    }

    /** From rows × cols bytes, non-zero = keep. */
    public static Mask fromBytes(byte[] keep, long rows, long cols) {
        Checks.matrix("surgeon_mask_from_bytes", "keep", keep, rows, cols);
        return new Mask(surgeon.surgeon_mask_from_bytes(keep, rows, cols));
    }

    /** {rows, cols}. */
    private long[] shape() {
        long[][] out = fill(new long[2][1], (a, s) -> surgeon.surgeon_mask_shape(a, s[0], s[1]));
        return new long[] {out[0][0], out[1][0]};
    }

    public long rows() {
        return shape()[0];
    }

    public long cols() {
        return shape()[1];
    }

    /** Fraction of pruned entries. */
    public double sparsity() {
        return fill(new double[1], surgeon::surgeon_mask_sparsity)[0];
    }

    /** Every row has at least n pruned entries in each group of m columns. */
    public boolean checkNM(int n, int m) {
        return fill(new int[1], (a, ok) -> surgeon.surgeon_mask_check_nm(a, n, m, ok))[0] != 0;
    }

    /** rows·cols bytes, 1 keep / 0 prune. */
    public byte[] toBytes() {
        long[] s = shape();
        return fill(new byte[Math.toIntExact(Checks.elements("surgeon_mask_to_bytes", s[0], s[1]))], surgeon::surgeon_mask_to_bytes);
    }

    /** Packed bits, LSB first: element k is bit k % 8 of byte k / 8, 1 = keep. */
    public byte[] toBits() {
        long[] s = shape();
        return fill(new byte[Math.toIntExact((Checks.elements("surgeon_mask_to_bits", s[0], s[1]) + 7) / 8)], surgeon::surgeon_mask_to_bits);
    }

    /** Zeroes the pruned entries of w (rows × cols, the mask's shape). */
    public void apply(float[] w) {
        long[] s = shape();
        Checks.matrix("surgeon_mask_apply", "w", w, s[0], s[1]);
        call(a -> surgeon.surgeon_mask_apply(a, w, s[0], s[1], 0));
    }

    /** Zeroes the pruned entries of a direct buffer, from its position. */
    public void apply(FloatBuffer w) {
        final String f = "surgeon_mask_apply";
        long[] s = shape();
        Object buffer = Checks.direct(f, "w", w, Checks.elements(f, s[0], s[1]), true);
        call(a -> surgeon.surgeon_mask_apply(a, buffer, s[0], s[1], 0));
    }
}
