package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * Options of the mixed-precision allocators (surgeon_mixed_options). Defaults: bit options
 * {2, 3, 4}, average 3.0, no quantile cuts.
 * <ul>
 *   <li>bits: 1 to 8 distinct widths in [1, 8], in the caller's order (per-option arrays,
 *       such as row errors, follow it);</li>
 *   <li>average: the target mean width (finite, > 0);</li>
 *   <li>quantiles (allocateQuantile only): bits.length − 1 non-decreasing cut points in
 *       [0, 1]; null clears them (the cuts are then those whose average is the target).</li>
 * </ul>
 * {@code new MixedOptions().bits(new int[] {2, 3, 4, 8}).average(3.5)}.
 */
public final class MixedOptions extends NativeHandle {
    public MixedOptions() {
        super(surgeon.surgeon_mixed_options_new(), surgeon::surgeon_mixed_options_free, null);
    }

    public MixedOptions bits(int[] options) {
        Checks.notNull("surgeon_mixed_options_set_bits", "options", options);
        return set(this, a -> surgeon.surgeon_mixed_options_set_bits(a, options, options.length));
    }

    public MixedOptions average(double avgBits) {
        return set(this, a -> surgeon.surgeon_mixed_options_set_average(a, avgBits));
    }

    public MixedOptions quantiles(double[] quantiles) {
        int count = quantiles == null ? 0 : quantiles.length;
        return set(this, a -> surgeon.surgeon_mixed_options_set_quantiles(a, quantiles, count));
    }

    /** The bit options, in the order given. */
    public int[] bits() {
        return get(a -> Sized.ints((buf, cap, needed) -> surgeon.surgeon_mixed_options_get_bits(a, buf, cap, needed)));
    }

    public double average() {
        return fill(new double[1], surgeon::surgeon_mixed_options_get_average)[0];
    }

    /** The options of opts, or the defaults' for null (a per-option array's width). */
    static int optionCount(MixedOptions opts) {
        if (opts != null) return opts.bits().length;
        try (MixedOptions defaults = new MixedOptions()) {
            return defaults.bits().length;
        }
    }
}
