package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.file.Path;

/**
 * The Hessian accumulator H = 2/n · Σ xᵀx over n calibration rows of a layer with
 * {@link #cols()} input features (surgeon_hessian).
 *
 * <p>Rows can be added from several threads at once; other calls that modify the
 * accumulator (merge, close) must not run concurrently with anything else on it.
 * Arrays and direct buffers are read in place (zero copy); a float[] is pinned during the
 * call, which delays the garbage collector: prefer direct buffers for very large batches
 * fed from many threads.
 */
public final class Hessian extends NativeHandle {
    private final long cols;
    private final boolean callbacks;

    private Hessian(long address, Context ctx) {
        super(address, surgeon::surgeon_hessian_free, Context.keepAlive(ctx));
        callbacks = Context.hasCallbacks(ctx);
        cols = fill(new long[1], surgeon::surgeon_hessian_cols)[0];
    }

    /** An empty accumulator (cols >= 1); ctx may be null (defaults). */
    public Hessian(Context ctx, long cols) {
        this(alive(() -> surgeon.surgeon_hessian_new(Context.raw(ctx), cols), ctx), ctx);
    }

    /** An accumulator holding a finished Hessian (cols × cols, symmetric) of `samples` rows. */
    public static Hessian fromMatrix(Context ctx, float[] hessian, long cols, long samples) {
        final String f = "surgeon_hessian_from_matrix";
        Checks.positive(f, "cols", cols);
        Checks.matrix(f, "hessian", hessian, cols, cols);
        return new Hessian(alive(() -> surgeon.surgeon_hessian_from_matrix(Context.raw(ctx), hessian, cols, 0, samples), ctx), ctx);
    }

    /** Loads a file written by {@link #save}; a missing, truncated or corrupt file is Status.IO. */
    public static Hessian load(Context ctx, Path path) {
        String p = cPath("surgeon_hessian_load", path);
        return new Hessian(alive(() -> surgeon.surgeon_hessian_load(Context.raw(ctx), p), ctx), ctx);
    }

    public long cols() {
        return cols;
    }

    /** Whether calls with this accumulator's context may call back into Java. */
    boolean callbacks() {
        return callbacks;
    }

    /** Calibration rows added so far. */
    public long samples() {
        return fill(new long[1], surgeon::surgeon_hessian_samples)[0];
    }

    /** Adds every row of x (a whole number of cols-wide rows). */
    public void add(float[] x) {
        Checks.notNull("surgeon_hessian_add_f32", "x", x);
        add(x, Checks.rowsOf("surgeon_hessian_add_f32", "x", x.length, cols));
    }

    /** Adds the first `rows` rows of x (row-major, cols wide). NaN/Inf leaves H unchanged. */
    public void add(float[] x, long rows) {
        final String f = "surgeon_hessian_add_f32";
        Checks.notNull(f, "x", x);
        Checks.holds(f, "x", x.length, Checks.elements(f, rows, cols));
        call(a -> surgeon.surgeon_hessian_add_f32(a, x, rows, cols, 0));
    }

    /** Adds `rows` rows from a direct buffer, starting at its position (which is not moved). */
    public void add(FloatBuffer x, long rows) {
        final String f = "surgeon_hessian_add_f32";
        Object buffer = Checks.direct(f, "x", x, Checks.elements(f, rows, cols), false);
        call(a -> surgeon.surgeon_hessian_add_f32(a, buffer, rows, cols, 0));
    }

    /** Adds `rows` rows of IEEE half bit patterns. */
    public void addF16(short[] x, long rows) {
        addHalf("surgeon_hessian_add_f16", x, rows, false);
    }

    public void addF16(ShortBuffer x, long rows) {
        addHalf("surgeon_hessian_add_f16", x, rows, false);
    }

    /** Adds `rows` rows of bfloat16 bit patterns. */
    public void addBf16(short[] x, long rows) {
        addHalf("surgeon_hessian_add_bf16", x, rows, true);
    }

    public void addBf16(ShortBuffer x, long rows) {
        addHalf("surgeon_hessian_add_bf16", x, rows, true);
    }

    private void addHalf(String f, Object x, long rows, boolean bf16) {
        long needed = Checks.elements(f, rows, cols);
        Object buffer;
        if (x instanceof ShortBuffer b) {
            buffer = Checks.direct(f, "x", b, needed, false);
        } else {
            Checks.notNull(f, "x", x);
            Checks.holds(f, "x", ((short[]) x).length, needed);
            buffer = x;
        }
        if (bf16) {
            call(a -> surgeon.surgeon_hessian_add_bf16(a, buffer, rows, cols, 0));
        } else {
            call(a -> surgeon.surgeon_hessian_add_f16(a, buffer, rows, cols, 0));
        }
    }

    /** this += src (same cols): afterwards this equals one accumulator fed both streams. */
    public void merge(Hessian src) {
        Checks.notNull("surgeon_hessian_merge", "src", src);
        alive(() -> surgeon.surgeon_hessian_merge(address(), src.address()), this, src);
    }

    /** H, cols × cols row-major (zero with no samples). */
    public float[] matrix() {
        float[] out = new float[Math.toIntExact(Checks.elements("surgeon_hessian_copy", cols, cols))];
        return fill(out, (a, o) -> surgeon.surgeon_hessian_copy(a, o, 0));
    }

    /** Per-column means over all rows added: |x|, x and x². */
    public record ActivationStats(float[] absMean, float[] mean, float[] sqMean) {}

    public ActivationStats stats() {
        int n = Math.toIntExact(cols);
        return fill(new ActivationStats(new float[n], new float[n], new float[n]),
                    (a, s) -> surgeon.surgeon_hessian_stats(a, s.absMean(), s.mean(), s.sqMean()));
    }

    /**
     * The raw state of an accumulator (surgeon_hessian_export_raw): what {@link #merge} adds,
     * for hosts that reduce accumulators over their own transport. For c = {@link #cols()}:
     * sumXX is the upper triangle of S = Σ xᵀx (not scaled by 2/n) row by row, S_ij (j >= i)
     * at index i·c − i·(i−1)/2 + (j − i), c·(c+1)/2 values; columnSums holds Σ|x_j| for
     * every column, then Σ x_j, then Σ x_j² (3·c values); samples is the row count.
     * Elementwise sums of states, rebuilt with {@link #fromRaw}, equal merging the
     * accumulators in the same order, bit for bit.
     */
    public record RawState(float[] sumXX, double[] columnSums, long samples) {}

    /** A copy of the raw state. */
    public RawState exportRaw() {
        final String f = "surgeon_hessian_export_raw";
        float[] sumXX = new float[Math.toIntExact(Checks.elements(f, cols, cols + 1) / 2)];
        double[] columnSums = new double[Math.toIntExact(Checks.elements(f, 3, cols))];
        long[] samples = new long[1];
        call(a -> surgeon.surgeon_hessian_export_raw(a, sumXX, columnSums, samples));
        return new RawState(sumXX, columnSums, samples[0]);
    }

    /**
     * An accumulator of cols input features holding a raw state; NaN/Inf, a negative
     * diagonal or negative Σ|x| / Σx² are Status.NUMERIC.
     */
    public static Hessian fromRaw(Context ctx, long cols, RawState state) {
        final String f = "surgeon_hessian_import_raw";
        Checks.positive(f, "cols", cols);
        Checks.notNull(f, "state", state);
        Checks.matrix(f, "sumXX", state.sumXX(), 1, Checks.elements(f, cols, cols + 1) / 2);
        Checks.matrix(f, "columnSums", state.columnSums(), 3, cols);
        return new Hessian(alive(() -> surgeon.surgeon_hessian_import_raw(Context.raw(ctx), cols, state.sumXX(),
                state.columnSums(), state.samples()), ctx), ctx);
    }

    /** Writes a versioned file with a checksum. */
    public void save(Path path) {
        String p = cPath("surgeon_hessian_save", path);
        call(a -> surgeon.surgeon_hessian_save(a, p));
    }

    /** A path for C: a NUL would silently cut it (JNI encodes it as two bytes, C stops there). */
    static String cPath(String function, Path path) {
        Checks.notNull(function, "path", path);
        String p = path.toString();
        if (p.indexOf('\0') >= 0) throw SurgeonException.of(Status.INVALID_ARGUMENT, function, "path contains a NUL character");
        return p;
    }
}
