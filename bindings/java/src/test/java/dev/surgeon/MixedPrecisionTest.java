package dev.surgeon;

import static dev.surgeon.TestFixture.expect;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Importance, allocators, per-row solver widths and statistics against independent computations. */
class MixedPrecisionTest {
    private static final int[] OPTIONS = {2, 3, 4, 6, 8};

    /** Allocation options (freed by the Cleaner, like any handle a test does not close). */
    private static MixedOptions mixed(int[] bits, double average) {
        return new MixedOptions().bits(bits).average(average);
    }

    /** stories260K block 0 w1 (172 × 64) with its calibration inputs. */
    private static final class Layer {
        final float[] w, x;
        final int rows, cols, tokens;

        Layer(String name) {
            try {
                Npy.Floats wn = Npy.readFloats(TestFixture.fixturesDir().resolve(name).resolve("W.npy"));
                Npy.Floats xn = Npy.readFloats(TestFixture.fixturesDir().resolve(name).resolve("X.npy"));
                w = wn.data();
                x = xn.data();
                rows = (int) wn.rows();
                cols = (int) wn.cols();
                tokens = (int) xn.rows();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        Hessian hessian(Context ctx) {
            Hessian h = new Hessian(ctx, cols);
            h.add(x);
            return h;
        }
    }

    private static Layer w1;

    private static synchronized Layer w1() {
        if (w1 == null) w1 = new Layer("stories260K_block0_w1");
        return w1;
    }

    private static long sum(int[] bits) {
        return Arrays.stream(bits).asLongStream().sum();
    }

    private static double[] normalised(double[] v) {
        double mean = Arrays.stream(v).average().orElseThrow();
        return Arrays.stream(v).map(x -> x / mean).toArray();
    }

    @Test
    void importanceSignalsMatchTheirFormulas() {
        Layer l = w1();
        assertArrayEquals(new double[] {0.25, 0.25, 0.15, 0.25, 0.10}, Importance.defaultWeights());
        try (Hessian h = l.hessian(null); Solver solver = new Solver(null, h, null);
             Importance imp = new Importance(h, solver, l.w, l.rows, null)) {
            assertEquals(l.rows, imp.rows());
            // Column moments of X, then the four signals that need no factorization.
            double[] abs = new double[l.cols], mean = new double[l.cols], sq = new double[l.cols];
            for (int r = 0; r < l.tokens; ++r) {
                for (int j = 0; j < l.cols; ++j) {
                    double v = l.x[r * l.cols + j];
                    abs[j] += Math.abs(v) / l.tokens;
                    mean[j] += v / l.tokens;
                    sq[j] += v * v / l.tokens;
                }
            }
            double[] act = new double[l.rows], mag = new double[l.rows], out = new double[l.rows], var = new double[l.rows];
            for (int i = 0; i < l.rows; ++i) {
                for (int j = 0; j < l.cols; ++j) {
                    double a = Math.abs(l.w[i * l.cols + j]);
                    act[i] += a * abs[j] / l.cols;
                    mag[i] += a / l.cols;
                    out[i] += a * a * sq[j];
                    var[i] += a * a * Math.max(0, sq[j] - mean[j] * mean[j]);
                }
                out[i] = Math.sqrt(out[i]);
                var[i] = Math.sqrt(var[i]);
            }
            Map<Importance.Signal, double[]> want = Map.of(Importance.Signal.ACTIVATION, normalised(act),
                    Importance.Signal.WEIGHT, normalised(mag), Importance.Signal.OUTPUT, normalised(out),
                    Importance.Signal.VARIANCE, normalised(var));
            double[] weights = Importance.defaultWeights();
            double[] combined = new double[l.rows];
            for (Importance.Signal s : Importance.Signal.values()) {
                Importance.SignalValues values = imp.signal(s);
                assertTrue(values.available(), s.toString());
                double[] expected = want.get(s);
                for (int i = 0; i < l.rows; ++i) {
                    if (expected != null) assertEquals(expected[i], values.values()[i], 1e-4 * (1 + expected[i]), s + " row " + i);
                    combined[i] += weights[s.ordinal()] * values.values()[i];
                }
            }
            float[] scores = imp.scores();
            for (int i = 0; i < l.rows; ++i) assertEquals(combined[i], scores[i], 1e-5 * (1 + combined[i]), "score " + i);

            // Only the weight signal: the score is that signal.
            try (Importance byWeight = new Importance(h, null, l.w, l.rows, new double[] {0, 0, 3, 0, 0})) {
                assertArrayEquals(imp.signal(Importance.Signal.WEIGHT).values(), byWeight.scores());
            }
            // A Hessian from a finished matrix has no first moments.
            try (Hessian fromMatrix = Hessian.fromMatrix(null, h.matrix(), l.cols, l.tokens);
                 Importance noMoments = new Importance(fromMatrix, null, l.w, l.rows, null)) {
                assertFalse(noMoments.signal(Importance.Signal.ACTIVATION).available());
                assertFalse(noMoments.signal(Importance.Signal.VARIANCE).available());
                assertTrue(noMoments.signal(Importance.Signal.HESSIAN).available());
                expect(Status.INVALID_ARGUMENT, "surgeon_importance_compute",
                       () -> new Importance(fromMatrix, null, l.w, l.rows, new double[] {1, 0, 0, 0, 1}));
            }
            expect(Status.SHAPE, "surgeon_importance_compute", () -> new Importance(h, null, new float[10], l.rows, null));
            expect(Status.SHAPE, "surgeon_importance_compute", () -> new Importance(h, null, l.w, l.rows, new double[4]));
            expect(Status.INVALID_ARGUMENT, "surgeon_importance_compute",
                   () -> new Importance(h, null, l.w, l.rows, new double[] {0.25, -1, 0, 0, 0}));
        }
    }

    @Test
    void budgetAndQuantileAllocations() {
        Layer l = w1();
        try (Hessian h = l.hessian(null); Importance imp = new Importance(h, null, l.w, l.rows, null)) {
            float[] scores = imp.scores();
            for (double avg : new double[] {2.5, 3.5, 5.25}) {
                int[] bits = imp.allocateBudget(mixed(OPTIONS, avg));
                assertEquals(Math.round(avg * l.rows), sum(bits), "budget " + avg);
                assertEquals(avg, MixedPrecision.attainableAverage(l.rows, mixed(OPTIONS, avg)));
                // Monotone in importance: a swap against the order would cost more at the same budget.
                for (int i = 0; i < l.rows; ++i) {
                    for (int j = 0; j < l.rows; ++j) {
                        assertFalse(scores[i] > scores[j] && bits[i] < bits[j], "rows " + i + ", " + j);
                    }
                }
            }
            assertEquals(14.0 / 5.0, MixedPrecision.attainableAverage(5, mixed(new int[] {2, 4, 8}, 3.0)));

            // Explicit cut points: bins of exactly those fractions, in rank order.
            double[] cuts = {0.1, 0.35, 0.6, 0.9};
            int[] bits = imp.allocateQuantile(mixed(OPTIONS, 3).quantiles(cuts));
            Integer[] order = IntStream.range(0, l.rows).boxed().toArray(Integer[]::new);
            Arrays.sort(order, Comparator.comparingDouble(i -> scores[i]));
            int[] bounds = {0, 0, 0, 0, 0, l.rows};
            for (int c = 0; c < cuts.length; ++c) bounds[c + 1] = (int) Math.round(cuts[c] * l.rows);
            for (int bin = 0; bin < OPTIONS.length; ++bin) {
                for (int rank = bounds[bin]; rank < bounds[bin + 1]; ++rank) assertEquals(OPTIONS[bin], bits[order[rank]], "rank " + rank);
            }
            int[] target = imp.allocateQuantile(mixed(OPTIONS, 4.0));
            assertEquals(4.0, sum(target) / (double) l.rows, 4 * 0.5 * 2 / l.rows);

            expect(Status.INVALID_ARGUMENT, "surgeon_allocate_quantile",
                   () -> imp.allocateQuantile(mixed(OPTIONS, 3).quantiles(new double[] {0.5})));
            try (MixedOptions o = mixed(OPTIONS, 3)) {
                expect(Status.INVALID_ARGUMENT, "surgeon_mixed_options_set_quantiles", () -> o.quantiles(new double[] {0.5, 0.2, 0.6, 0.8}));
                expect(Status.INVALID_ARGUMENT, "surgeon_mixed_options_set_bits", () -> o.bits(new int[] {4, 4}));
                expect(Status.INVALID_ARGUMENT, "surgeon_mixed_options_set_bits", () -> o.bits(new int[0]));
                expect(Status.INVALID_ARGUMENT, "surgeon_mixed_options_set_average", () -> o.average(0));
                assertArrayEquals(OPTIONS, o.bits(), "a refused setting leaves the options unchanged");
                assertEquals(3.0, o.average());
                expect(Status.INVALID_ARGUMENT, "surgeon_allocate_budget", () -> imp.allocateBudget(o.average(9)));
            }
        }
    }

    /** The error allocator against a brute force over every assignment of a small layer. */
    @Test
    void errorAllocatorIsTheExactOptimum() {
        int rows = 7;
        int[] options = {2, 3, 4, 6};
        double[] errors = new double[rows * options.length];
        for (int i = 0; i < rows; ++i) {
            for (int k = 0; k < options.length; ++k) {
                errors[i * options.length + k] = (1 + (i * 5) % 7) * Math.pow(4, -options[k]) * (1 + 0.1 * ((i + k) % 3));
            }
        }
        for (double avg : new double[] {2.5, 3.0, 3.6, 4.4}) {
            int[] bits = MixedPrecision.allocateError(errors, rows, mixed(options, avg));
            long budget = (long) Math.floor(avg * rows);
            assertEquals(budget, sum(bits));
            double cost = 0;
            for (int i = 0; i < rows; ++i) {
                int k = Arrays.binarySearch(options, bits[i]);
                cost += errors[i * options.length + k];
            }
            double best = bruteForce(errors, rows, options, budget, 0, 0, 0);
            assertEquals(best, cost, 1e-12 * best, "avg " + avg);
        }
        expect(Status.SHAPE, "surgeon_allocate_error", () -> MixedPrecision.allocateError(new double[5], rows, mixed(options, 3)));
        double[] nan = errors.clone();
        nan[3] = Double.NaN;
        int[][] kept = new int[1][];
        expect(Status.NUMERIC, "surgeon_allocate_error", () -> kept[0] = MixedPrecision.allocateError(nan, rows, mixed(options, 3)));
        assertEquals(null, kept[0]);
    }

    private static double bruteForce(double[] errors, int rows, int[] options, long budget, int i, long used, double cost) {
        if (i == rows) return used == budget ? cost : Double.POSITIVE_INFINITY;
        double best = Double.POSITIVE_INFINITY;
        for (int k = 0; k < options.length; ++k) {
            best = Math.min(best, bruteForce(errors, rows, options, budget, i + 1, used + options[k], cost + errors[i * options.length + k]));
        }
        return best;
    }

    private static int[] rowPattern(int rows, int[] options) {
        return IntStream.range(0, rows).map(r -> options[(r * 7 + r / 3) % options.length]).toArray();
    }

    /**
     * GPTQ treats rows independently (per-row grids, error feedback along the row): a row at
     * b bits in a mixed call equals the same row of a uniform b-bit call.
     */
    @Test
    void perRowWidthsEqualUniformGptqRowByRow() {
        Layer l = w1();
        int[] options = {2, 3, 4, 8};
        int[] rowBits = rowPattern(l.rows, options);
        try (Hessian h = l.hessian(null); Solver solver = new Solver(null, h, null); Quantizer q4 = new Quantizer(4)) {
            double[] errors = MixedPrecision.rowErrors(solver, l.w, l.rows, q4, mixed(options, 3));
            assertEquals(l.rows * options.length, errors.length);
            for (int i = 0; i < l.rows; ++i) {
                for (int k = 1; k < options.length; ++k) {
                    assertTrue(errors[i * 4 + k] <= errors[i * 4 + k - 1] * 1.0001 + 1e-12, "row " + i);
                }
            }
            assertEquals(3L * l.rows, sum(MixedPrecision.allocateError(errors, l.rows, mixed(options, 3.0))));

            float[] w = l.w.clone();
            try (Quantizer mixedQ = new Quantizer(4).rowBits(rowBits); QuantResult mixed = solver.quantize(w, l.rows, mixedQ)) {
                assertArrayEquals(rowBits, mixedQ.rowBits());
                assertTrue(mixed.loss() > 0);
                assertArrayEquals(rowBits, mixed.rowBits());
                byte[] codes = mixed.codes();
                for (int k = 0; k < codes.length; ++k) {
                    assertTrue(Byte.toUnsignedInt(codes[k]) <= (1 << rowBits[k / l.cols]) - 1, "code " + k);
                }
                assertArrayEquals(w, mixed.dequantize());
            }
            for (int b : options) {
                float[] uniform = l.w.clone();
                int same = 0, differ = 0;
                try (Quantizer qb = new Quantizer(b); QuantResult u = solver.quantize(uniform, l.rows, qb)) {
                    assertTrue(Arrays.stream(u.rowBits()).allMatch(x -> x == b));
                }
                for (int r = 0; r < l.rows; ++r) {
                    float[] a = Arrays.copyOfRange(w, r * l.cols, (r + 1) * l.cols);
                    float[] c = Arrays.copyOfRange(uniform, r * l.cols, (r + 1) * l.cols);
                    if (rowBits[r] == b) {
                        ++same;
                        assertTrue(TestFixture.relMaxDiff(a, c) <= 1e-6, "row " + r + " at " + b + " bits");
                    } else if (TestFixture.relMaxDiff(a, c) > 1e-3) {
                        ++differ;
                    }
                }
                assertTrue(same > 0 && differ >= (l.rows - same) / 2, b + " bits: " + same + " equal, " + differ + " differ");
            }

            // Errors leave w untouched.
            float[] w2 = l.w.clone();
            int[] bad = rowBits.clone();
            bad[5] = 9;
            expect(Status.INVALID_ARGUMENT, "surgeon_quantizer_set_row_bits", () -> q4.rowBits(bad));
            assertEquals(0, q4.rowBits().length, "a refused setting leaves the quantizer unchanged");
            try (Quantizer short1 = new Quantizer(4).rowBits(Arrays.copyOf(rowBits, l.rows - 1))) {
                expect(Status.SHAPE, "surgeon_solver_quantize", () -> solver.quantize(w2, l.rows, short1));
            }
            assertArrayEquals(l.w, w2);
            expect(Status.SHAPE, "surgeon_mixed_row_errors", () -> MixedPrecision.rowErrors(solver, w2, l.rows - 1, q4, null));
        }
    }

    @Test
    void pruneWithRowWidthsKeepsSparsityAndRowWidths() {
        TestFixture f = TestFixture.load();
        int[] rowBits = rowPattern(f.rows, new int[] {1, 2, 3, 4, 6, 8});
        try (Hessian h = Hessian.fromMatrix(null, f.h, f.cols, f.tokens); Solver solver = new Solver(null, h, null);
             Quantizer q = new Quantizer(4).groupSize(16).rowBits(rowBits)) {
            for (PruneOptions options : List.of(new PruneOptions().sparsity(0.5).quantizer(q), new PruneOptions().nm(2, 4).quantizer(q))) {
                float[] w = f.w.clone();
                try (PruneResult r = solver.prune(w, f.rows, options)) {
                    assertEquals(0.5, r.mask().sparsity(), 1e-9);
                    assertArrayEquals(rowBits, r.quantResult().rowBits());
                    byte[] keep = r.mask().toBytes(), codes = r.quantResult().codes();
                    float[] deq = r.quantResult().dequantize();
                    for (int k = 0; k < w.length; ++k) {
                        assertTrue(Byte.toUnsignedInt(codes[k]) <= (1 << rowBits[k / f.cols]) - 1);
                        assertEquals(keep[k] == 0 ? 0f : deq[k], w[k], "weight " + k);
                    }
                }
            }
            float[] w = f.w.clone();
            try (Quantizer short1 = new Quantizer(4).rowBits(IntStream.range(0, f.rows + 1).map(r -> 4).toArray())) {
                expect(Status.SHAPE, "surgeon_solver_prune", () -> solver.prune(w, f.rows, new PruneOptions().quantizer(short1)));
            }
            int[] bad = rowBits.clone();
            bad[0] = 0;
            expect(Status.INVALID_ARGUMENT, "surgeon_quantizer_set_row_bits", () -> new Quantizer(4).rowBits(bad).close());
            assertArrayEquals(f.w, w);
        }
    }

    @Test
    void statsAndJsonMatchTheBits() {
        Layer l = w1();
        try (Hessian h = l.hessian(null); Importance imp = new Importance(h, null, l.w, l.rows, null)) {
            int[] bits = imp.allocateBudget(mixed(OPTIONS, 3.5));
            long group = 24; // 64 columns: 3 grids per row
            MixedStats s = MixedStats.compute(bits, l.cols, group, MixedStats.Overhead.DEFAULT, imp);
            long[] hist = new long[9];
            double overhead = 0;
            for (int b : bits) {
                ++hist[b];
                overhead += 3 * (16 + b);
            }
            double weights = (double) l.rows * l.cols;
            float[] scores = imp.scores();
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY, mean = 0;
            for (float x : scores) {
                lo = Math.min(lo, x);
                hi = Math.max(hi, x);
                mean += x / (double) scores.length;
            }
            assertEquals(l.rows, s.channels());
            assertEquals((long) weights, s.weights());
            assertEquals(3L * l.rows, s.grids());
            assertArrayEquals(hist, s.histogram());
            assertEquals(3.5, s.avgBits());
            assertEquals(3.5 + overhead / weights, s.avgBitsWithOverhead(), 1e-12);
            assertTrue(s.hasImportance());
            assertEquals(lo, s.importanceMin());
            assertEquals(hi, s.importanceMax());
            assertEquals(mean, s.importanceMean(), 1e-6);

            Map<String, Object> json = MiniJson.object(MixedStats.compute(bits, l.cols, group, MixedStats.Overhead.DEFAULT, imp).json());
            @SuppressWarnings("unchecked")
            Map<String, Object> histogram = (Map<String, Object>) json.get("histogram");
            for (int b = 1; b <= 8; ++b) {
                Object count = histogram.get(Integer.toString(b));
                assertEquals(hist[b], count == null ? 0 : ((Double) count).longValue(), "bits " + b);
            }
            assertEquals((double) l.rows, json.get("channels"));
            assertEquals(s.grids(), ((Double) json.get("grids")).longValue());
            assertEquals(s.avgBits(), json.get("avg_bits"));
            assertEquals(s.avgBitsWithOverhead(), json.get("avg_bits_with_overhead"));
            @SuppressWarnings("unchecked")
            Map<String, Object> importance = (Map<String, Object>) json.get("importance");
            assertEquals(lo, importance.get("min"));
            assertEquals(hi, importance.get("max"));

            MixedStats plain = MixedStats.compute(bits, l.cols, 0, new MixedStats.Overhead(16, 0), null);
            assertFalse(plain.hasImportance());
            assertTrue(Double.isNaN(plain.importanceMin()));
            assertEquals(l.rows, plain.grids());
            assertEquals(3.75, plain.avgBitsWithOverhead()); // 3.5 + 16 / 64
            assertFalse(MiniJson.object(MixedStats.compute(bits, l.cols, 0, MixedStats.Overhead.DEFAULT, null).json())
                                .containsKey("importance"));

            int[] bad = bits.clone();
            bad[7] = 0;
            expect(Status.INVALID_ARGUMENT, "surgeon_mixed_stats_compute",
                   () -> MixedStats.compute(bad, l.cols, 0, MixedStats.Overhead.DEFAULT, null));
            expect(Status.SHAPE, "surgeon_mixed_stats_compute",
                   () -> MixedStats.compute(Arrays.copyOf(bits, l.rows - 1), l.cols, 0, MixedStats.Overhead.DEFAULT, imp));
            expect(Status.SHAPE, "surgeon_mixed_stats_compute",
                   () -> MixedStats.compute(new int[0], l.cols, 0, MixedStats.Overhead.DEFAULT, null));
        }
    }

    /**
     * With a context that has callbacks (a progress and a log listener), the mixed calls pass
     * direct copies instead of pinned arrays and give the same results.
     */
    @Test
    void mixedCallsWithCallbacksGiveTheSameResults() {
        Layer l = w1();
        List<String> stages = new ArrayList<>();
        int[] options = {2, 3, 4, 8};
        int[] rowBits = rowPattern(l.rows, options);
        float[] plainW = l.w.clone(), callbackW = l.w.clone();
        double[] plainErrors, callbackErrors;
        float[] plainScores, callbackScores;
        try (Hessian h = l.hessian(null); Solver solver = new Solver(null, h, null); Quantizer q = new Quantizer(4)) {
            plainScores = scores(h, solver, l);
            plainErrors = MixedPrecision.rowErrors(solver, l.w, l.rows, q, mixed(options, 3));
            solver.quantize(plainW, l.rows, q.rowBits(rowBits)).close();
        }
        try (Context ctx = Context.builder().onProgress((stage, fraction) -> {
                 synchronized (stages) {
                     stages.add(stage);
                 }
             }).onLog((level, message) -> {}).build();
             Hessian h = l.hessian(ctx); Solver solver = new Solver(ctx, h, null); Quantizer q = new Quantizer(4)) {
            callbackScores = scores(h, solver, l);
            callbackErrors = MixedPrecision.rowErrors(solver, l.w, l.rows, q, mixed(options, 3));
            try (QuantResult r = solver.quantize(callbackW, l.rows, q.rowBits(rowBits))) {
                assertTrue(r.loss() > 0);
            }
        }
        assertTrue(stages.contains("factorize") && stages.contains("quantize"), stages.toString());
        assertArrayEquals(plainScores, callbackScores);
        assertArrayEquals(plainErrors, callbackErrors);
        assertArrayEquals(plainW, callbackW);
        assertNotEquals(0, TestFixture.relMaxDiff(callbackW, l.w));
    }

    private static float[] scores(Hessian h, Solver solver, Layer l) {
        try (Importance imp = new Importance(h, solver, l.w, l.rows, null)) {
            return imp.scores();
        }
    }

    @Test
    void useAfterCloseThrows() {
        Layer l = w1();
        try (Hessian h = l.hessian(null)) {
            Importance imp = new Importance(h, null, l.w, l.rows, null);
            imp.close();
            imp.close();
            assertTrue(imp.isClosed());
            assertThrows(IllegalStateException.class, imp::scores);
            assertThrows(IllegalStateException.class, () -> imp.allocateBudget(mixed(OPTIONS, 3)));
            assertThrows(IllegalStateException.class,
                         () -> MixedStats.compute(new int[] {4}, 8, 0, MixedStats.Overhead.DEFAULT, imp));
        }
    }

    /** One budget over two layers of different widths and option sets equals the brute-force optimum. */
    @Test
    void allocateErrorGroupsIsOptimalOnASmallCase() {
        var a = new MixedPrecision.BudgetLayer(new double[] {1.0, 0.2, 5.0, 0.5, 0.3, 0.25}, 3, 4, new int[] {2, 4});
        var b = new MixedPrecision.BudgetLayer(new double[] {2.0, 9.0, 0.1, 1.0, 1.5, 0.9}, 2, 8, new int[] {3, 1, 5});
        var layers = new MixedPrecision.BudgetLayer[] {a, b};
        long budget = 3 * 4 * 2 + 2 * 8 * 3 + 8;
        int[][] bits = MixedPrecision.allocateErrorGroups(layers, budget);
        assertEquals(2, bits.length);
        double best = Double.POSITIVE_INFINITY;
        for (int c = 0; c < 8 * 9; ++c) {
            int code = c;
            int[] x = new int[3], y = new int[2];
            for (int r = 0; r < 3; ++r, code /= 2) x[r] = a.options()[code % 2];
            for (int r = 0; r < 2; ++r, code /= 3) y[r] = b.options()[code % 3];
            if (used(a, x) + used(b, y) <= budget) best = Math.min(best, cost(a, x) + cost(b, y));
        }
        assertTrue(used(a, bits[0]) + used(b, bits[1]) <= budget);
        assertEquals(best, cost(a, bits[0]) + cost(b, bits[1]), 0.0);
        expect(Status.INVALID_ARGUMENT, "surgeon_allocate_error_groups",
               () -> MixedPrecision.allocateErrorGroups(layers, 3 * 4 * 2 + 2 * 8 - 1));
    }

    private static long used(MixedPrecision.BudgetLayer l, int[] widths) {
        long s = 0;
        for (int w : widths) s += (long) w * l.weight();
        return s;
    }

    private static double cost(MixedPrecision.BudgetLayer l, int[] widths) {
        double s = 0;
        for (int r = 0; r < widths.length; ++r)
            for (int m = 0; m < l.options().length; ++m)
                if (l.options()[m] == widths[r]) s += l.costs()[r * l.options().length + m];
        return s;
    }
}
