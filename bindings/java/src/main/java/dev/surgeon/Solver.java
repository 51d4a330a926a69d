package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * The OBS solver (surgeon_solver): SparseGPT pruning and GPTQ quantization from one
 * factorization of the Hessian (copied: the Hessian may be closed afterwards).
 * {@code new Solver(ctx, h, opts)} as {@code surgeon_solver_new(&s, ctx, h, opts)}; ctx and opts may
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
        super(newSolver(ctx, h, opts), surgeon::surgeon_solver_free, Context.keepAlive(ctx));
        cols = h.cols();
        callbacks = Context.hasCallbacks(ctx);
    }

    private static long newSolver(Context ctx, Hessian h, SolverOptions opts) {
        Checks.notNull("surgeon_solver_new", "h", h);
        return alive(() -> surgeon.surgeon_solver_new(Context.raw(ctx), h.address(), addressOf(opts)), ctx, h, opts);
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

    /**
     * SparseGPT on w (rows × cols, updated in place), as surgeon_solver_prune; opts null =
     * the defaults (50 % unstructured). With a quantizer in the options the weights are
     * quantized jointly (its per-row widths apply).
     */
    public PruneResult prune(float[] w, long rows, PruneOptions opts) {
        return prune((Object) w, rows, opts);
    }

    /** SparseGPT on a direct buffer (rows × cols from its position, updated in place). */
    public PruneResult prune(FloatBuffer w, long rows, PruneOptions opts) {
        return prune((Object) w, rows, opts);
    }

    private PruneResult prune(Object w, long rows, PruneOptions opts) {
        Object weights = weights("surgeon_solver_prune", w, rows);
        return alive(() -> PruneResult.create(r -> withWeights(weights, rows, (a, buffer) -> surgeon.surgeon_solver_prune(
                a, buffer, rows, cols, 0, addressOf(opts), r))), opts);
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
        double[] loss = new double[1];
        Object lossOut = OffHeap.output(callbacks, loss);
        return alive(() -> QuantResult.create(r -> {
            withWeights(weights, rows, (a, buffer) -> surgeon.surgeon_solver_quantize(a, buffer, rows, cols, 0, q.address(), r, lossOut));
            OffHeap.copyBack(lossOut, loss);
        }, loss), q);
    }

    /** A float[] of exactly rows × cols, or a direct buffer holding as many from its position. */
    private Object weights(String f, Object w, long rows) {
        if (w instanceof FloatBuffer b) return Checks.direct(f, "w", b, Checks.elements(f, rows, cols), true);
        return Checks.matrix(f, "w", (float[]) w, rows, cols);
    }

    /** A solver call on the weights (buffer). */
    private interface WeightCall {
        void run(long solver, Object buffer);
    }

    /**
     * Runs the call on w. With callbacks, a float[] cannot stay pinned (JNI forbids calling
     * Java inside a critical region): it goes through a direct copy, copied back on success.
     */
    private void withWeights(Object w, long rows, WeightCall call) {
        if (!callbacks || !(w instanceof float[] array)) {
            call(a -> call.run(a, w));
            return;
        }
        int n = Math.toIntExact(rows * cols);
        FloatBuffer copy = ByteBuffer.allocateDirect(Math.multiplyExact(n, Float.BYTES)).order(ByteOrder.nativeOrder()).asFloatBuffer();
        copy.put(0, array, 0, n);
        call(a -> call.run(a, copy));
        copy.get(0, array, 0, n);
    }
}
