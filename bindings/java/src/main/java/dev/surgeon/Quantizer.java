package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * A quantization grid configuration (surgeon_quantizer): bits in [2, 8], symmetric per
 * output row by default, optional groups of columns, MSE clipping search, GPTQ act-order,
 * static groups, and optionally one width per output row (mixed precision). Made with
 * {@code new Quantizer(4)} and configured by setters that mirror the C ones and return
 * this: {@code new Quantizer(4).groupSize(128).actOrder(true)}. Configure it before
 * sharing it; calls that only read it may then run from several threads.
 */
public final class Quantizer extends NativeHandle {
    /** The library's defaults with `bits` bits. */
    public Quantizer(int bits) {
        super(surgeon.surgeon_quantizer_new(bits), surgeon::surgeon_quantizer_free, null);
    }

    private static int flag(boolean on) {
        return on ? 1 : 0;
    }

    /** false: asymmetric min/max grid. */
    public Quantizer symmetric(boolean symmetric) {
        return set(this, a -> surgeon.surgeon_quantizer_set_symmetric(a, flag(symmetric)));
    }

    /** One grid per row and per groupSize columns (0 = per row). */
    public Quantizer groupSize(long groupSize) {
        return set(this, a -> surgeon.surgeon_quantizer_set_group_size(a, groupSize));
    }

    /** MSE clipping search with the reference parameters (norm 2.4, grid 100, shrink 0.8). */
    public Quantizer mse() {
        return mse(2.4f, 100, 0.8f);
    }

    public Quantizer mse(float norm, int grid, float maxShrink) {
        return set(this, a -> surgeon.surgeon_quantizer_set_mse(a, 1, norm, grid, maxShrink));
    }

    /** GPTQ: process columns by descending Hessian diagonal. */
    public Quantizer actOrder(boolean actOrder) {
        return set(this, a -> surgeon.surgeon_quantizer_set_act_order(a, flag(actOrder)));
    }

    /** GPTQ with groups: fix every group's grid up front on the dense weight. */
    public Quantizer staticGroups(boolean staticGroups) {
        return set(this, a -> surgeon.surgeon_quantizer_set_static_groups(a, flag(staticGroups)));
    }

    /**
     * One width per output row (values in [1, 8], copied), replacing bits() row by row: row r
     * keeps at most 2^rowBits[r] levels per grid, groups still apply. The weights quantized
     * or pruned with this quantizer must then have rowBits.length rows. null or an empty
     * array clears them.
     */
    public Quantizer rowBits(int[] rowBits) {
        long rows = rowBits == null ? 0 : rowBits.length;
        return set(this, a -> surgeon.surgeon_quantizer_set_row_bits(a, rowBits, rows));
    }

    /** The per-row widths; empty when every row has bits(). */
    public int[] rowBits() {
        return get(a -> Sized.ints((buf, cap, needed) -> surgeon.surgeon_quantizer_get_row_bits(a, buf, cap, needed)));
    }

    public int bits() {
        return fill(new int[1], surgeon::surgeon_quantizer_get_bits)[0];
    }

    /** Columns per group; 0 = one grid per row. */
    public long groupSize() {
        return fill(new long[1], surgeon::surgeon_quantizer_get_group_size)[0];
    }
}
