package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * The OBS solver: SparseGPT pruning and GPTQ quantization from one factorization of the
 * Hessian (copied: the Hessian may be closed afterwards). prune and quantize may run
 * concurrently on one solver; the factorization is computed once.
 *
 * <p>Weights are rows × cols (cols = the Hessian's) row-major and are updated in place; a
 * failing call leaves them unchanged.
 */
public final class Solver extends NativeHandle {
    private final long cols;
    private final boolean callbacks;

    /** Reference settings: damping 0.01 · mean(diag H), blocks of 128 columns. */
    public Solver(Context ctx, Hessian h) {
        this(ctx, h, 0.01, 128);
    }

    public Solver(Context ctx, Hessian h, double percdamp, long blockSize) {
        super(newSolver(ctx, h, percdamp, blockSize), surgeon::surgeon_solver_free, Context.keepAlive(ctx));
        cols = h.cols();
        callbacks = Context.hasCallbacks(ctx);
    }

    private static long newSolver(Context ctx, Hessian h, double percdamp, long blockSize) {
        Checks.notNull("surgeon_solver_new", "h", h);
        try {
            return surgeon.surgeon_solver_new(Context.raw(ctx), h.address(), percdamp, blockSize);
        } finally {
            Reference.reachabilityFence(ctx);
            Reference.reachabilityFence(h);
        }
    }

    public long cols() {
        return cols;
    }

    /** Whether calls on this solver may call back into Java (its context has callbacks). */
    boolean callbacks() {
        return callbacks;
    }

    /** Factorizes now (prune and quantize do it on demand). */
    public void factorize() {
        try {
            surgeon.surgeon_solver_factorize(address());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The damping added to the diagonal (after escalation); factorizes if needed. */
    public double damping() {
        double[] out = new double[1];
        Object written = OffHeap.output(callbacks, out); // factorizing may log
        try {
            surgeon.surgeon_solver_damping(address(), written);
            OffHeap.copyBack(written, out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out[0];
    }

    /** A pruning's mask, codes (with a quantizer, else null) and OBS loss. Close frees both. */
    public record PruneResult(Mask mask, QResult quant, double loss) implements AutoCloseable {
        @Override
        public void close() {
            mask.close();
            if (quant != null) quant.close();
        }
    }

    /** A quantization's codes and OBS loss. */
    public record QuantizeResult(QResult result, double loss) implements AutoCloseable {
        @Override
        public void close() {
            result.close();
        }
    }

    /** SparseGPT on w (rows × cols, updated in place). */
    public PruneResult prune(float[] w, long rows, PruneOptions options) {
        return prune("surgeon_solver_prune", checkArray("surgeon_solver_prune", w, rows), rows, options, null);
    }

    /** SparseGPT on a direct buffer (rows × cols from its position, updated in place). */
    public PruneResult prune(FloatBuffer w, long rows, PruneOptions options) {
        final String f = "surgeon_solver_prune";
        return prune(f, Checks.direct(f, "w", w, Checks.elements(f, rows, cols), true), rows, options, null);
    }

    /**
     * Joint SparseGPT and quantization with one width per row: rowBits (rows values in
     * [1, 8]) replaces the width of options.quantizer() (required) row by row.
     */
    public PruneResult pruneMixed(float[] w, long rows, PruneOptions options, int[] rowBits) {
        final String f = "surgeon_solver_prune_mixed";
        return prune(f, checkArray(f, w, rows), rows, options, checkRowBits(f, rowBits, rows));
    }

    public PruneResult pruneMixed(FloatBuffer w, long rows, PruneOptions options, int[] rowBits) {
        final String f = "surgeon_solver_prune_mixed";
        return prune(f, Checks.direct(f, "w", w, Checks.elements(f, rows, cols), true), rows, options,
                     checkRowBits(f, rowBits, rows));
    }

    private PruneResult prune(String f, Object w, long rows, PruneOptions options, int[] rowBits) {
        Checks.notNull(f, "options", options);
        Sparsity s = options.sparsity();
        Quantizer q = options.quantizer();
        if (rowBits != null) Checks.notNull(f, "options.quantizer()", q);
        Mask mask = new Mask(0, 0);
        QResult quant = q == null ? null : new QResult();
        double[] loss = new double[1];
        Object lossOut = OffHeap.output(callbacks, loss);
        try {
            long a = address(), qa = q == null ? 0 : q.address(), m = mask.address(), r = quant == null ? 0 : quant.address();
            int scope = options.scope().ordinal();
            if (rowBits == null) {
                withWeights(w, rows, buffer -> surgeon.surgeon_solver_prune(a, buffer, rows, cols, 0, s.fraction(), s.n(), s.m(),
                        scope, qa, m, r, lossOut));
            } else {
                Object bits = OffHeap.input(callbacks, rowBits);
                withWeights(w, rows, buffer -> surgeon.surgeon_solver_prune_mixed(a, buffer, rows, cols, 0, s.fraction(), s.n(),
                        s.m(), scope, qa, bits, m, r, lossOut));
            }
            OffHeap.copyBack(lossOut, loss);
        } catch (RuntimeException e) {
            mask.close();
            if (quant != null) quant.close();
            throw e;
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(q);
        }
        return new PruneResult(mask, quant == null ? null : quant.loadShape(), loss[0]);
    }

    /** GPTQ on w (rows × cols), updated in place with the dequantized values. */
    public QuantizeResult quantize(float[] w, long rows, Quantizer quantizer) {
        return quantize("surgeon_solver_quantize", checkArray("surgeon_solver_quantize", w, rows), rows, quantizer, null);
    }

    public QuantizeResult quantize(FloatBuffer w, long rows, Quantizer quantizer) {
        final String f = "surgeon_solver_quantize";
        return quantize(f, Checks.direct(f, "w", w, Checks.elements(f, rows, cols), true), rows, quantizer, null);
    }

    /**
     * GPTQ with one width per row: rowBits (rows values in [1, 8]) replaces the quantizer's
     * width row by row (row r keeps at most 2^rowBits[r] levels per grid; groups still apply).
     */
    public QuantizeResult quantizeMixed(float[] w, long rows, Quantizer quantizer, int[] rowBits) {
        final String f = "surgeon_solver_quantize_mixed";
        return quantize(f, checkArray(f, w, rows), rows, quantizer, checkRowBits(f, rowBits, rows));
    }

    public QuantizeResult quantizeMixed(FloatBuffer w, long rows, Quantizer quantizer, int[] rowBits) {
        final String f = "surgeon_solver_quantize_mixed";
        return quantize(f, Checks.direct(f, "w", w, Checks.elements(f, rows, cols), true), rows, quantizer,
                        checkRowBits(f, rowBits, rows));
    }

    private QuantizeResult quantize(String f, Object w, long rows, Quantizer quantizer, int[] rowBits) {
        Checks.notNull(f, "quantizer", quantizer);
        QResult result = new QResult();
        double[] loss = new double[1];
        Object lossOut = OffHeap.output(callbacks, loss);
        try {
            long a = address(), q = quantizer.address(), r = result.address();
            if (rowBits == null) {
                withWeights(w, rows, buffer -> surgeon.surgeon_solver_quantize(a, buffer, rows, cols, 0, q, r, lossOut));
            } else {
                Object bits = OffHeap.input(callbacks, rowBits);
                withWeights(w, rows, buffer -> surgeon.surgeon_solver_quantize_mixed(a, buffer, rows, cols, 0, q, bits, r, lossOut));
            }
            OffHeap.copyBack(lossOut, loss);
        } catch (RuntimeException e) {
            result.close();
            throw e;
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(quantizer);
        }
        return new QuantizeResult(result.loadShape(), loss[0]);
    }

    private static int[] checkRowBits(String f, int[] rowBits, long rows) {
        Checks.notNull(f, "rowBits", rowBits);
        if (rowBits.length != rows) {
            throw SurgeonException.of(Status.SHAPE, f, "rowBits has " + rowBits.length + " values for " + rows + " rows");
        }
        return rowBits;
    }

    private float[] checkArray(String f, float[] w, long rows) {
        Checks.notNull(f, "w", w);
        long needed = Checks.elements(f, rows, cols);
        if (w.length != needed) {
            throw SurgeonException.of(Status.SHAPE, f, "w has " + w.length + " elements, not rows x cols = " + rows + " x " + cols);
        }
        return w;
    }

    private interface Call {
        void run(Object buffer);
    }

    /**
     * Runs the call on w. With callbacks, a float[] cannot stay pinned (JNI forbids calling
     * Java inside a critical region): it goes through a direct copy, copied back on success.
     */
    private void withWeights(Object w, long rows, Call call) {
        if (!callbacks || !(w instanceof float[] array)) {
            call.run(w);
            return;
        }
        int n = Math.toIntExact(rows * cols);
        FloatBuffer copy = ByteBuffer.allocateDirect(Math.multiplyExact(n, Float.BYTES)).order(ByteOrder.nativeOrder()).asFloatBuffer();
        copy.put(0, array, 0, n);
        call.run(copy);
        copy.get(0, array, 0, n);
    }
}
