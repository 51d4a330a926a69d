package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.lang.ref.Reference;
import java.nio.FloatBuffer;

/** rows × cols keep (1) / prune (0) flags. */
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
        final String f = "surgeon_mask_from_bytes";
        Checks.notNull(f, "keep", keep);
        long needed = Checks.elements(f, rows, cols);
        if (keep.length != needed) {
            throw SurgeonException.of(Status.SHAPE, f, "keep has " + keep.length + " elements, not rows x cols = " + needed);
        }
        return new Mask(surgeon.surgeon_mask_from_bytes(keep, rows, cols));
    }

    private long[] shape() {
        long[] rows = new long[1], cols = new long[1];
        try {
            surgeon.surgeon_mask_shape(address(), rows, cols);
        } finally {
            Reference.reachabilityFence(this);
        }
        return new long[] {rows[0], cols[0]};
    }

    public long rows() {
        return shape()[0];
    }

    public long cols() {
        return shape()[1];
    }

    /** Fraction of pruned entries. */
    public double sparsity() {
        double[] out = new double[1];
        try {
            surgeon.surgeon_mask_sparsity(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out[0];
    }

    /** Every row has at least n pruned entries in each group of m columns. */
    public boolean checkNM(int n, int m) {
        int[] ok = new int[1];
        try {
            surgeon.surgeon_mask_check_nm(address(), n, m, ok);
        } finally {
            Reference.reachabilityFence(this);
        }
        return ok[0] != 0;
    }

    /** rows·cols bytes, 1 keep / 0 prune. */
    public byte[] toBytes() {
        long[] s = shape();
        byte[] out = new byte[Math.toIntExact(Checks.elements("surgeon_mask_to_bytes", s[0], s[1]))];
        try {
            surgeon.surgeon_mask_to_bytes(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    /** Packed bits, LSB first: element k is bit k % 8 of byte k / 8, 1 = keep. */
    public byte[] toBits() {
        long[] s = shape();
        byte[] out = new byte[Math.toIntExact((Checks.elements("surgeon_mask_to_bits", s[0], s[1]) + 7) / 8)];
        try {
            surgeon.surgeon_mask_to_bits(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    /** Zeroes the pruned entries of w (rows × cols, the mask's shape). */
    public void apply(float[] w) {
        final String f = "surgeon_mask_apply";
        Checks.notNull(f, "w", w);
        long[] s = shape();
        long needed = Checks.elements(f, s[0], s[1]);
        if (w.length != needed) throw SurgeonException.of(Status.SHAPE, f, "w has " + w.length + " elements, mask is " + s[0] + " x " + s[1]);
        try {
            surgeon.surgeon_mask_apply(address(), w, s[0], s[1], 0);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Zeroes the pruned entries of a direct buffer, from its position. */
    public void apply(FloatBuffer w) {
        final String f = "surgeon_mask_apply";
        long[] s = shape();
        Object buffer = Checks.direct(f, "w", w, Checks.elements(f, s[0], s[1]), true);
        try {
            surgeon.surgeon_mask_apply(address(), buffer, s[0], s[1], 0);
        } finally {
            Reference.reachabilityFence(this);
        }
    }
}
