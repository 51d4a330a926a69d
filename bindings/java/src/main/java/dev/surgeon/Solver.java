package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * The OBS solver (surgeon_solver): SparseGPT pruning and GPTQ quantization from one
 * factorization of the Hessian (copied: the Hessian may be closed afterwards).
 * {@code new Solver(ctx, h, opts)} as surgeon_solver_new(&s, ctx, h, opts); ctx and opts may
 * be null (the defaults). prune and quantize may run concurrently on one solver; the
 * factorization is computed once.
 *
 * <p>Weights are rows × cols (cols = the Hessian's) row-major, as a float[] or a direct
 * FloatBuffer (from its position), and are updated in place; a failing call leaves them
 * unchanged.
 */
public final class Solver extends NativeHandle {
    private final long cols;
    private final boolean callbacks;

    public Solver(Context ctx, Hessian h, SolverOptions opts) {
        super(newSolver(ctx, h, opts == null ? new SolverOptions() : opts), surgeon::surgeon_solver_free, Context.keepAlive(ctx));
        cols = h.cols();
        callbacks = Context.hasCallbacks(ctx);
    }

    private static long newSolver(Context ctx, Hessian h, SolverOptions opts) {
        Checks.notNull("surgeon_solver_new", "h", h);
        return alive(() -> surgeon.surgeon_solver_new(Context.raw(ctx), h.address(), opts.damping(), opts.blockSize()), ctx, h);
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
        call(surgeon::surgeon_solver_factorize);
    }

    /** The damping added to the diagonal (after escalation); factorizes if needed. */
    public double damping() {
        double[] out = new double[1];
        Object written = OffHeap.output(callbacks, out); // factorizing may log
        call(a -> surgeon.surgeon_solver_damping(a, written));
        OffHeap.copyBack(written, out);
        return out[0];
    }

    /** SparseGPT on w (rows × cols, updated in place); opts null = the defaults (50 %). */
    public PruneResult prune(float[] w, long rows, PruneOptions opts) {
        return prune((Object) w, rows, opts);
    }

    /** SparseGPT on a direct buffer (rows × cols from its position, updated in place). */
    public PruneResult prune(FloatBuffer w, long rows, PruneOptions opts) {
        return prune((Object) w, rows, opts);
    }

    private PruneResult prune(Object w, long rows, PruneOptions options) {
        final String f = "surgeon_solver_prune";
        PruneOptions o = options == null ? new PruneOptions() : options;
        Object weights = weights(f, w, rows);
        Quantizer q = o.quantizer();
        int[] bits = q == null ? null : q.rowBitsFor(f, rows);
        int scope = o.maskScope().ordinal();
        Mask mask = new Mask(0, 0);
        try {
            return alive(() -> {
                long m = mask.address(), qa = addressOf(q);
                if (q == null) {
                    double loss = obs(weights, rows, (a, buffer, lossOut) -> surgeon.surgeon_solver_prune(
                            a, buffer, rows, cols, 0, o.fraction(), o.n(), o.m(), scope, 0, m, 0, lossOut));
                    return new PruneResult(mask, null, loss);
                }
                double[] loss = new double[1];
                QuantResult codes = QuantResult.create(r -> loss[0] = obs(weights, rows, (a, buffer, lossOut) -> {
                    if (bits == null) {
                        surgeon.surgeon_solver_prune(a, buffer, rows, cols, 0, o.fraction(), o.n(), o.m(), scope, qa, m, r, lossOut);
                    } else {
                        surgeon.surgeon_solver_prune_mixed(a, buffer, rows, cols, 0, o.fraction(), o.n(), o.m(), scope, qa,
                                                           OffHeap.input(callbacks, bits), m, r, lossOut);
                    }
                }), loss);
                return new PruneResult(mask, codes, loss[0]);
            }, mask, q);
        } catch (RuntimeException e) {
            mask.close();
            throw e;
        }
    }

    /**
     * GPTQ on w (rows × cols), updated in place with the dequantized values, with the
     * quantizer's grid and its per-row widths when it has them.
     */
    public QuantResult quantize(float[] w, long rows, Quantizer q) {
        return quantize((Object) w, rows, q);
    }

    public QuantResult quantize(FloatBuffer w, long rows, Quantizer q) {
        return quantize((Object) w, rows, q);
    }

    private QuantResult quantize(Object w, long rows, Quantizer q) {
        final String f = "surgeon_solver_quantize";
        Object weights = weights(f, w, rows);
        Checks.notNull(f, "quantizer", q);
        int[] bits = q.rowBitsFor(f, rows);
        double[] loss = new double[1];
        return alive(() -> QuantResult.create(r -> loss[0] = obs(weights, rows, (a, buffer, lossOut) -> {
            if (bits == null) {
                surgeon.surgeon_solver_quantize(a, buffer, rows, cols, 0, q.address(), r, lossOut);
            } else {
                surgeon.surgeon_solver_quantize_mixed(a, buffer, rows, cols, 0, q.address(), OffHeap.input(callbacks, bits), r, lossOut);
            }
        }), loss), q);
    }

    /** A float[] of exactly rows × cols, or a direct buffer holding as many from its position. */
    private Object weights(String f, Object w, long rows) {
        if (w instanceof FloatBuffer b) return Checks.direct(f, "w", b, Checks.elements(f, rows, cols), true);
        return Checks.matrix(f, "w", (float[]) w, rows, cols);
    }

    /** A solver call on the weights (buffer) that writes the OBS loss into lossOut. */
    private interface WeightCall {
        void run(long solver, Object buffer, Object lossOut);
    }

    /**
     * Runs the call on w and returns the loss. With callbacks, a float[] cannot stay pinned
     * (JNI forbids calling Java inside a critical region): it goes through a direct copy,
     * copied back on success, and so does the loss.
     */
    private double obs(Object w, long rows, WeightCall call) {
        double[] loss = new double[1];
        Object lossOut = OffHeap.output(callbacks, loss);
        if (!callbacks || !(w instanceof float[] array)) {
            call(a -> call.run(a, w, lossOut));
        } else {
            int n = Math.toIntExact(rows * cols);
            FloatBuffer copy = ByteBuffer.allocateDirect(Math.multiplyExact(n, Float.BYTES)).order(ByteOrder.nativeOrder()).asFloatBuffer();
            copy.put(0, array, 0, n);
            call(a -> call.run(a, copy, lossOut));
            copy.get(0, array, 0, n);
        }
        OffHeap.copyBack(lossOut, loss);
        return loss[0];
    }
}
