package dev.surgeon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Separate handles used from several threads give the single-threaded results. */
class ConcurrencyTest {
    private static final int THREADS = 4;
    private final TestFixture f = TestFixture.load();

    private float[] pipeline(Context ctx) {
        try (Hessian h = new Hessian(ctx, f.cols)) {
            for (int start = 0; start < f.tokens; start += 256) {
                int rows = Math.min(256, f.tokens - start);
                float[] batch = new float[rows * f.cols];
                System.arraycopy(f.x, start * f.cols, batch, 0, batch.length);
                h.add(batch, rows);
            }
            try (Solver solver = new Solver(ctx, h, null); Quantizer q = new Quantizer(4)) {
                float[] w = f.w.clone();
                solver.prune(w, f.rows, new PruneOptions().nm(2, 4).quantizer(q)).close();
                return w;
            }
        }
    }

    @Test
    void separateHandlesOnSeveralThreads() throws Exception {
        try (Context one = Context.builder().threads(1).build()) {
            float[] expected = pipeline(one);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<float[]>> results = new ArrayList<>();
                for (int t = 0; t < 2 * THREADS; ++t) results.add(pool.submit(() -> pipeline(one)));
                for (Future<float[]> r : results) assertArrayEquals(expected, r.get());
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void concurrentAddsOnOneAccumulatorAndPrunesOnOneSolver() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try (Hessian h = new Hessian(null, f.cols)) {
            List<Future<?>> adds = new ArrayList<>();
            int per = (f.tokens + THREADS - 1) / THREADS;
            for (int t = 0; t < THREADS; ++t) {
                int from = Math.min(f.tokens, t * per), to = Math.min(f.tokens, from + per);
                adds.add(pool.submit(() -> {
                    float[] part = new float[(to - from) * f.cols];
                    System.arraycopy(f.x, from * f.cols, part, 0, part.length);
                    h.add(part, to - from);
                }));
            }
            for (Future<?> a : adds) a.get();
            assertEquals(f.tokens, h.samples());
            assertTrue(TestFixture.relMaxDiff(h.matrix(), f.h) < 1e-4);

            try (Solver solver = new Solver(null, h, null)) {
                float[] expected = f.w.clone();
                solver.prune(expected, f.rows, new PruneOptions().nm(2, 4)).close();
                List<Future<float[]>> prunes = new ArrayList<>();
                for (int t = 0; t < THREADS; ++t) {
                    prunes.add(pool.submit(() -> {
                        float[] w = f.w.clone();
                        solver.prune(w, f.rows, new PruneOptions().nm(2, 4)).close();
                        return w;
                    }));
                }
                for (Future<float[]> p : prunes) assertArrayEquals(expected, p.get());
            }
        } finally {
            pool.shutdown();
        }
    }
}
