package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * Quantized weights (surgeon_qresult): w[r][j] = scale[r][g] · (code[r][j] − zero[r][g])
 * with g = gIdx[j]. Codes are rows × cols bytes (unsigned: read with
 * {@code Byte.toUnsignedInt}) in the original column order; scales and zeros are rows ×
 * groups; gIdx and perm have cols entries (perm[k] = original column processed k-th).
 */
public final class QuantResult extends NativeHandle {
    private final long rows, cols, groups;
    private final int bits;
    private final double loss;

    /** Takes ownership of a filled surgeon_qresult; loss: the OBS loss of the call that made it. */
    QuantResult(long address, double loss) {
        super(address, surgeon::surgeon_qresult_free, null);
        long[][] s = fill(new long[3][1], (a, o) -> surgeon.surgeon_qresult_shape(a, o[0], o[1], o[2], null));
        rows = s[0][0];
        cols = s[1][0];
        groups = s[2][0];
        bits = fill(new int[1], (a, o) -> surgeon.surgeon_qresult_shape(a, null, null, null, o))[0];
        this.loss = loss;
    }

    /**
     * Runs call on a new empty surgeon_qresult (its address) and returns the filled result
     * with the loss the call wrote into loss[0] (loss null: NaN); the C result is freed if
     * the call fails.
     */
    static QuantResult create(NativeHandle.Call call, double[] loss) {
        long address = surgeon.surgeon_qresult_new();
        try {
            call.run(address);
        } catch (RuntimeException e) {
            surgeon.surgeon_qresult_free(address);
            throw e;
        }
        return new QuantResult(address, loss == null ? Double.NaN : loss[0]);
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

    /** The OBS loss of the solver call that produced the codes; NaN for round to nearest. */
    public double loss() {
        return loss;
    }

    private int count(long a, long b) {
        return Math.toIntExact(Checks.elements("surgeon_qresult", a, b));
    }

    public byte[] codes() {
        return fill(new byte[count(rows, cols)], surgeon::surgeon_qresult_codes);
    }

    public float[] scales() {
        return fill(new float[count(rows, groups)], surgeon::surgeon_qresult_scales);
    }

    public float[] zeros() {
        return fill(new float[count(rows, groups)], surgeon::surgeon_qresult_zeros);
    }

    public int[] gIdx() {
        return fill(new int[count(1, cols)], surgeon::surgeon_qresult_g_idx);
    }

    public int[] perm() {
        return fill(new int[count(1, cols)], surgeon::surgeon_qresult_perm);
    }

    /** The width of every row: the per-row widths of a mixed result, else bits() repeated. */
    public int[] rowBits() {
        return fill(new int[count(rows, 1)], surgeon::surgeon_qresult_row_bits);
    }

    /** The float weight the codes stand for, rows × cols. */
    public float[] dequantize() {
        return fill(new float[count(rows, cols)], (a, o) -> surgeon.surgeon_qresult_dequantize(a, o, 0));
    }
}
