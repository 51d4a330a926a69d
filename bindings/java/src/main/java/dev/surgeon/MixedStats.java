package dev.surgeon;

import dev.surgeon.jni.surgeon;
import dev.surgeon.jni.surgeon_mixed_stats;

/**
 * A summary of a per-row width allocation (surgeon_mixed_stats): rows, weights, grids, rows
 * per width (histogram[b] for b in 1..8, [0] = 0), bits per weight without and with the
 * scales and zeros, and the importance range when an Importance was given (else NaN).
 */
public final class MixedStats {
    /** Storage per grid (one per row and group): a scale and a zero point (-1: the row's own width; 0: implicit). */
    public record Overhead(int scaleBits, int zeroBits) {
        /** A 16-bit scale and a zero point of the row's own width (as GPTQ packs them). */
        public static final Overhead DEFAULT = new Overhead(16, -1);
    }

    private final surgeon_mixed_stats c;

    private MixedStats(surgeon_mixed_stats c) {
        this.c = c;
        NativeHandle.CLEANER.register(this, c::delete);
    }

    /**
     * Summarises bits (one width in [1, 8] per row) of a layer with cols columns and
     * groupSize columns per grid (0: one grid per row); importance nullable (it must have
     * bits.length rows).
     */
    public static MixedStats compute(int[] bits, long cols, long groupSize, Overhead overhead, Importance importance) {
        final String f = "surgeon_mixed_stats_compute";
        Checks.notNull(f, "bits", bits);
        if (bits.length == 0) throw SurgeonException.of(Status.SHAPE, f, "bits is empty");
        Checks.notNull(f, "overhead", overhead);
        MixedStats s = new MixedStats(new surgeon_mixed_stats());
        surgeon.surgeon_mixed_stats_init(s.c, surgeon.SURGEON_MIXED_STATS_VERSION);
        NativeHandle.alive(() -> surgeon.surgeon_mixed_stats_compute(bits, bits.length, cols, groupSize, overhead.scaleBits(),
                                                                     overhead.zeroBits(), NativeHandle.addressOf(importance), s.c),
                           importance);
        return s;
    }

    public long channels() {
        return c.getChannels();
    }

    public long weights() {
        return c.getWeights();
    }

    public long grids() {
        return c.getGrids();
    }

    /** Rows per width: histogram()[b] rows at b bits (b in 1..8). */
    public long[] histogram() {
        return c.getHistogram();
    }

    public double avgBits() {
        return c.getAvg_bits();
    }

    public double avgBitsWithOverhead() {
        return c.getAvg_bits_with_overhead();
    }

    public boolean hasImportance() {
        return c.getHas_importance() != 0;
    }

    public double importanceMin() {
        return hasImportance() ? c.getImportance_min() : Double.NaN;
    }

    public double importanceMax() {
        return hasImportance() ? c.getImportance_max() : Double.NaN;
    }

    public double importanceMean() {
        return hasImportance() ? c.getImportance_mean() : Double.NaN;
    }

    /** The same summary as the library's JSON object. */
    public String json() {
        return Sized.text((buf, cap, needed) -> surgeon.surgeon_mixed_stats_json(c, buf, cap, needed));
    }
}
