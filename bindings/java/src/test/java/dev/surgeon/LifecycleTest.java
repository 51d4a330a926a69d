package dev.surgeon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * Ownership: each handle is freed exactly once, by close() or by the Cleaner; closing twice,
 * closing then collecting, and never closing all end with no handle left. Under the
 * sanitized build ASan reports any double free or use after free.
 */
@Isolated
class LifecycleTest {
    /**
     * The live handle count once the handles other tests left to the Cleaner (options made
     * inline, say) are freed: collects until the count stops changing.
     */
    private static long settledLiveHandles() throws InterruptedException {
        long last = -1;
        for (int i = 0; i < 50 && NativeHandle.liveHandles() != last; ++i) {
            last = NativeHandle.liveHandles();
            System.gc();
            Thread.sleep(20);
        }
        return NativeHandle.liveHandles();
    }

    /** Collects until the live handle count drops to `target` (the Cleaner runs asynchronously). */
    private static void collectUntil(long target) throws InterruptedException {
        for (int i = 0; i < 200 && NativeHandle.liveHandles() > target; ++i) {
            System.gc();
            Thread.sleep(10);
        }
        assertEquals(target, NativeHandle.liveHandles(), "handles left after GC");
    }

    @Test
    void closeIsIdempotentAndUseAfterCloseThrows() throws InterruptedException {
        long before = settledLiveHandles();
        Hessian h = new Hessian(null, 4);
        Quantizer q = new Quantizer(4);
        Mask m = new Mask(2, 2);
        assertEquals(before + 3, NativeHandle.liveHandles());
        h.close();
        h.close();
        q.close();
        m.close();
        m.close();
        assertTrue(h.isClosed());
        assertEquals(before, NativeHandle.liveHandles());
        assertThrows(IllegalStateException.class, () -> h.add(new float[4]));
        assertThrows(IllegalStateException.class, q::bits);
        // Closed, then unreachable: the Cleaner must not free again.
        collectUntil(before);
    }

    @Test
    void unclosedHandlesAreFreedByTheCleaner() throws InterruptedException {
        long before = settledLiveHandles();
        TestFixture f = TestFixture.load();
        for (int i = 0; i < 50; ++i) {
            Hessian h = Hessian.fromMatrix(null, f.h, f.cols, f.tokens);
            Solver s = new Solver(null, h, null);
            float[] w = f.w.clone();
            PruneResult r = s.prune(w, f.rows, new PruneOptions().nm(2, 4).quantizer(new Quantizer(4)));
            assertTrue(r.mask().checkNM(2, 4));
            if (i % 2 == 0) h.close(); // a mix of closed and forgotten handles
        }
        collectUntil(before);
    }

    @Test
    void callbacksOutliveTheContextAndAreReleasedAfterTheLastHandle() throws InterruptedException {
        long before = settledLiveHandles();
        TestFixture f = TestFixture.load();
        AtomicInteger calls = new AtomicInteger();
        List<String> stages = new ArrayList<>();
        List<WeakReference<Object>> tokenRef = new ArrayList<>();
        Context ctx = progressContext(calls, stages, tokenRef);
        assertEquals(1, ctx.threads());
        Hessian h = new Hessian(ctx, f.cols);
        h.add(f.x);
        Solver solver = new Solver(ctx, h, null);
        ctx.close();
        h.close();
        float[] w = f.w.clone();
        solver.prune(w, f.rows, new PruneOptions().nm(2, 4)).close();
        assertTrue(calls.get() > 0, "progress reported after the context was closed");
        assertTrue(stages.contains("prune"), stages.toString());
        f.expectWithinReference(Hessian.fromMatrix(null, f.h, f.cols, f.tokens), w, "sparsegpt_2of4");
        System.gc();
        assertFalse(tokenRef.get(0).get() == null, "the solver keeps the callback alive");
        solver.close();
        solver = null;
        ctx = null;
        h = null;
        collectUntil(before);
        for (int i = 0; i < 200 && tokenRef.get(0).get() != null; ++i) {
            System.gc();
            Thread.sleep(10);
        }
        assertNull(tokenRef.get(0).get(), "the callback is released after the last handle");
    }

    /** A context whose progress callback holds a token only the callback refers to. */
    private static Context progressContext(AtomicInteger calls, List<String> stages, List<WeakReference<Object>> tokenRef) {
        Object token = new Object();
        tokenRef.add(new WeakReference<>(token));
        return Context.builder().threads(1).onProgress((stage, fraction) -> {
            assertTrue(fraction >= 0 && fraction <= 1);
            if (token != null) calls.incrementAndGet();
            synchronized (stages) {
                stages.add(stage);
            }
            throw new RuntimeException("ignored by the binding");
        }).build();
    }

    @Test
    void logCallbackReportsDampingEscalation() {
        List<String> messages = new ArrayList<>();
        try (Context ctx = Context.builder().onLog((level, message) -> messages.add(level + " " + message)).build();
             // Indefinite H (eigenvalues 3 and -2): Cholesky needs damping escalation.
             Hessian h = Hessian.fromMatrix(ctx, new float[] {0.5f, 2.5f, 2.5f, 0.5f}, 2, 10);
             Solver solver = new Solver(ctx, h, null)) {
            assertEquals(5.0, solver.damping(), 1e-9);
            assertTrue(messages.stream().anyMatch(m -> m.startsWith("WARNING")), messages.toString());
        }
    }
}
