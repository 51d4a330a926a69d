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
    private int[] rowBits;

    /** The library's defaults with `bits` bits. */
    public Quantizer(int bits) {
        super(surgeon.surgeon_quantizer_new(bits), surgeon::surgeon_quantizer_free, null);
    }

    private Quantizer set(Call setter) {
        call(setter);
        return this;
    }

    private static int flag(boolean on) {
        return on ? 1 : 0;
    }

    /** false: asymmetric min/max grid. */
    public Quantizer symmetric(boolean symmetric) {
        return set(a -> surgeon.surgeon_quantizer_set_symmetric(a, flag(symmetric)));
    }

    /** One grid per row and per groupSize columns (0 = per row). */
    public Quantizer groupSize(long groupSize) {
        return set(a -> surgeon.surgeon_quantizer_set_group_size(a, groupSize));
    }

    /** MSE clipping search with the reference parameters (norm 2.4, grid 100, shrink 0.8). */
    public Quantizer mse() {
        return mse(2.4f, 100, 0.8f);
    }

    public Quantizer mse(float norm, int grid, float maxShrink) {
        return set(a -> surgeon.surgeon_quantizer_set_mse(a, 1, norm, grid, maxShrink));
    }

    /** GPTQ: process columns by descending Hessian diagonal. */
    public Quantizer actOrder(boolean actOrder) {
        return set(a -> surgeon.surgeon_quantizer_set_act_order(a, flag(actOrder)));
    }

    /** GPTQ with groups: fix every group's grid up front on the dense weight. */
    public Quantizer staticGroups(boolean staticGroups) {
        return set(a -> surgeon.surgeon_quantizer_set_static_groups(a, flag(staticGroups)));
    }

    /**
     * One width per output row (values in [1, 8], copied), replacing bits() row by row: row r
     * keeps at most 2^rowBits[r] levels per grid, groups still apply. The weights quantized
     * or pruned with this quantizer must have rowBits.length rows. null clears.
     */
    public Quantizer rowBits(int[] rowBits) {
        final String f = "surgeon_quantizer_set_row_bits";
        if (rowBits != null && rowBits.length == 0) throw SurgeonException.of(Status.INVALID_ARGUMENT, f, "rowBits is empty");
        for (int r = 0; rowBits != null && r < rowBits.length; ++r) {
            if (rowBits[r] < 1 || rowBits[r] > 8) {
                throw SurgeonException.of(Status.INVALID_ARGUMENT, f, "row " + r + " has " + rowBits[r] + " bits, not in [1, 8]");
            }
        }
        this.rowBits = rowBits == null ? null : rowBits.clone();
        return this;
    }

    /** The per-row widths (a copy), or null when every row has bits(). */
    public int[] rowBits() {
        return rowBits == null ? null : rowBits.clone();
    }

    public int bits() {
        return fill(new int[1], surgeon::surgeon_quantizer_get_bits)[0];
    }

    /** Columns per group; 0 = one grid per row. */
    public long groupSize() {
        return fill(new long[1], surgeon::surgeon_quantizer_get_group_size)[0];
    }

    /** The per-row widths for weights of `rows` rows (SHAPE when they disagree), or null. */
    int[] rowBitsFor(String function, long rows) {
        if (rowBits != null && rowBits.length != rows) {
            throw SurgeonException.of(Status.SHAPE, function, "the quantizer has " + rowBits.length + " row widths for " + rows + " rows");
        }
        return rowBits;
    }
}
