package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.lang.ref.Reference;

/**
 * Quantized weights: w[r][j] = scale[r][g] · (code[r][j] − zero[r][g]) with g = gIdx[j].
 * Codes are rows × cols bytes (unsigned: read with {@code Byte.toUnsignedInt}) in the
 * original column order; scales and zeros are rows × groups; gIdx and perm have cols
 * entries (perm[k] = original column processed k-th).
 */
public final class QResult extends NativeHandle {
    QResult() {
        super(surgeon.surgeon_qresult_new(), surgeon::surgeon_qresult_free, null);
    }

    private long rows, cols, groups;
    private int bits;

    /** Reads the shape after the result was filled by a C call. */
    QResult loadShape() {
        long[] r = new long[1], c = new long[1], g = new long[1];
        int[] b = new int[1];
        try {
            surgeon.surgeon_qresult_shape(address(), r, c, g, b);
        } finally {
            Reference.reachabilityFence(this);
        }
        rows = r[0];
        cols = c[0];
        groups = g[0];
        bits = b[0];
        return this;
    }

    public long rows() {
        return rows;
    }

    public long cols() {
        return cols;
    }

    /** Grids per row (1 without groups). */
    public long groups() {
        return groups;
    }

    public int bits() {
        return bits;
    }

    private int count(long a, long b) {
        return Math.toIntExact(Checks.elements("surgeon_qresult", a, b));
    }

    public byte[] codes() {
        byte[] out = new byte[count(rows, cols)];
        try {
            surgeon.surgeon_qresult_codes(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    public float[] scales() {
        float[] out = new float[count(rows, groups)];
        try {
            surgeon.surgeon_qresult_scales(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    public float[] zeros() {
        float[] out = new float[count(rows, groups)];
        try {
            surgeon.surgeon_qresult_zeros(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    public int[] gIdx() {
        int[] out = new int[count(1, cols)];
        try {
            surgeon.surgeon_qresult_g_idx(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    public int[] perm() {
        int[] out = new int[count(1, cols)];
        try {
            surgeon.surgeon_qresult_perm(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    /** The width of every row: the per-row widths of a mixed result, else bits() repeated. */
    public int[] rowBits() {
        int[] out = new int[count(rows, 1)];
        try {
            surgeon.surgeon_qresult_row_bits(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    /** The float weight the codes stand for, rows × cols. */
    public float[] dequantize() {
        float[] out = new float[count(rows, cols)];
        try {
            surgeon.surgeon_qresult_dequantize(address(), out, 0);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }
}
