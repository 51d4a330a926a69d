package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.lang.ref.Reference;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.file.Path;

/**
 * The Hessian accumulator H = 2/n · Σ xᵀx over n calibration rows of a layer with
 * {@link #cols()} input features.
 *
 * <p>Rows can be added from several threads at once; other calls that modify the
 * accumulator (merge, close) must not run concurrently with anything else on it.
 * Arrays and direct buffers are read in place (zero copy); a float[] is pinned during the
 * call, which delays the garbage collector: prefer direct buffers for very large batches
 * fed from many threads.
 */
public final class Hessian extends NativeHandle {
    private final long cols;

    private Hessian(long address, Context ctx) {
        super(address, surgeon::surgeon_hessian_free, Context.keepAlive(ctx));
        long[] out = new long[1];
        surgeon.surgeon_hessian_cols(address, out);
        cols = out[0];
    }

    /** An empty accumulator (cols >= 1); ctx may be null (defaults). */
    public Hessian(Context ctx, long cols) {
        this(newHessian(ctx, cols), ctx);
    }

    private static long newHessian(Context ctx, long cols) {
        try {
            return surgeon.surgeon_hessian_new(Context.raw(ctx), cols);
        } finally {
            Reference.reachabilityFence(ctx);
        }
    }

    /** An accumulator holding a finished Hessian (cols × cols, symmetric) of `samples` rows. */
    public static Hessian fromMatrix(Context ctx, float[] hessian, long cols, long samples) {
        final String f = "surgeon_hessian_from_matrix";
        Checks.notNull(f, "hessian", hessian);
        Checks.positive(f, "cols", cols);
        long needed = Checks.elements(f, cols, cols);
        if (hessian.length != needed) {
            throw SurgeonException.of(Status.SHAPE, f, "hessian has " + hessian.length + " elements, not cols x cols = " + needed);
        }
        try {
            return new Hessian(surgeon.surgeon_hessian_from_matrix(Context.raw(ctx), hessian, cols, 0, samples), ctx);
        } finally {
            Reference.reachabilityFence(ctx);
        }
    }

    /** Loads a file written by {@link #save}; a missing, truncated or corrupt file is Status.IO. */
    public static Hessian load(Context ctx, Path path) {
        String p = cPath("surgeon_hessian_load", path);
        try {
            return new Hessian(surgeon.surgeon_hessian_load(Context.raw(ctx), p), ctx);
        } finally {
            Reference.reachabilityFence(ctx);
        }
    }

    public long cols() {
        return cols;
    }

    /** Calibration rows added so far. */
    public long samples() {
        long[] out = new long[1];
        try {
            surgeon.surgeon_hessian_samples(address(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out[0];
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
        try {
            surgeon.surgeon_hessian_add_f32(address(), x, rows, cols, 0);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Adds `rows` rows from a direct buffer, starting at its position (which is not moved). */
    public void add(FloatBuffer x, long rows) {
        final String f = "surgeon_hessian_add_f32";
        Object buffer = Checks.direct(f, "x", x, Checks.elements(f, rows, cols), false);
        try {
            surgeon.surgeon_hessian_add_f32(address(), buffer, rows, cols, 0);
        } finally {
            Reference.reachabilityFence(this);
        }
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
        try {
            if (bf16) {
                surgeon.surgeon_hessian_add_bf16(address(), buffer, rows, cols, 0);
            } else {
                surgeon.surgeon_hessian_add_f16(address(), buffer, rows, cols, 0);
            }
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** this += src (same cols): afterwards this equals one accumulator fed both streams. */
    public void merge(Hessian src) {
        Checks.notNull("surgeon_hessian_merge", "src", src);
        try {
            surgeon.surgeon_hessian_merge(address(), src.address());
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(src);
        }
    }

    /** H, cols × cols row-major (zero with no samples). */
    public float[] matrix() {
        float[] out = new float[Math.toIntExact(Checks.elements("surgeon_hessian_copy", cols, cols))];
        try {
            surgeon.surgeon_hessian_copy(address(), out, 0);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    /** Per-column means over all rows added: |x|, x and x². */
    public record ActivationStats(float[] absMean, float[] mean, float[] sqMean) {}

    public ActivationStats stats() {
        int n = Math.toIntExact(cols);
        ActivationStats s = new ActivationStats(new float[n], new float[n], new float[n]);
        try {
            surgeon.surgeon_hessian_stats(address(), s.absMean(), s.mean(), s.sqMean());
        } finally {
            Reference.reachabilityFence(this);
        }
        return s;
    }

    /** Writes a versioned file with a checksum. */
    public void save(Path path) {
        String p = cPath("surgeon_hessian_save", path);
        try {
            surgeon.surgeon_hessian_save(address(), p);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A path for C: a NUL would silently cut it (JNI encodes it as two bytes, C stops there). */
    static String cPath(String function, Path path) {
        Checks.notNull(function, "path", path);
        String p = path.toString();
        if (p.indexOf('\0') >= 0) throw SurgeonException.of(Status.INVALID_ARGUMENT, function, "path contains a NUL character");
        return p;
    }
}
