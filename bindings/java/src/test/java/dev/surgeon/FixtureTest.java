package dev.surgeon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Results through the binding against the independent reference implementation's errors. */
class FixtureTest {
    private final TestFixture f = TestFixture.load();

    private Hessian hessian() {
        return Hessian.fromMatrix(null, f.h, f.cols, f.tokens);
    }

    @Test
    void referenceJsonScan() {
        assertEquals(0.02339844101072567, f.referenceError("sparsegpt_2of4"));
        assertEquals(0.0016964284258494647, f.referenceError("gptq_w4"));
    }

    @Test
    void sparsegpt2of4MatchesReference() {
        try (Hessian h = hessian(); Solver solver = new Solver(null, h, null)) {
            float[] w = f.w.clone();
            try (PruneResult pruned = solver.prune(w, f.rows, new PruneOptions().nm(2, 4))) {
                f.expectWithinReference(h, w, "sparsegpt_2of4");
                assertNull(pruned.quantResult());
                assertTrue(pruned.loss() > 0);
                Mask mask = pruned.mask();
                assertEquals(f.rows, mask.rows());
                assertEquals(f.cols, mask.cols());
                assertTrue(mask.checkNM(2, 4));
                assertEquals(0.5, mask.sparsity());
                byte[] keep = mask.toBytes();
                byte[] bits = mask.toBits();
                assertEquals((f.rows * f.cols + 7) / 8, bits.length);
                for (int k = 0; k < keep.length; ++k) {
                    assertTrue(keep[k] == 0 || keep[k] == 1);
                    if (keep[k] == 0) assertEquals(0.0f, w[k], "pruned weight " + k);
                    assertEquals(keep[k], (bits[k / 8] >> (k % 8)) & 1);
                }
                // Applying the mask to the original zeroes exactly the pruned entries.
                float[] masked = f.w.clone();
                mask.apply(masked);
                for (int k = 0; k < keep.length; ++k) assertEquals(keep[k] == 0 ? 0.0f : f.w[k], masked[k]);
            }
        }
    }

    @Test
    void sparsegpt50RowScopePrunesHalfOfEveryRow() {
        try (Hessian h = hessian(); Solver solver = new Solver(null, h, null)) {
            float[] w = f.w.clone();
            try (PruneResult pruned = solver.prune(w, f.rows, new PruneOptions().sparsity(0.5))) {
                f.expectWithinReference(h, w, "sparsegpt_50");
                assertEquals(0.5, pruned.mask().sparsity(), 1e-3);
            }
            w = f.w.clone();
            try (PruneResult pruned = solver.prune(w, f.rows, new PruneOptions().sparsity(0.5).maskScope(MaskScope.ROW))) {
                byte[] keep = pruned.mask().toBytes();
                for (int r = 0; r < f.rows; ++r) {
                    int row = r;
                    long zeros = IntStream.range(0, f.cols).filter(j -> keep[row * f.cols + j] == 0).count();
                    assertEquals(f.cols / 2, zeros);
                }
            }
        }
    }

    @Test
    void gptq4BitMatchesReferenceAndCodesRebuildTheWeight() {
        try (Hessian h = hessian(); Solver solver = new Solver(null, h, null); Quantizer q = new Quantizer(4)) {
            assertEquals(4, q.bits());
            assertEquals(0, q.groupSize());
            float[] w = f.w.clone();
            try (QuantResult r = solver.quantize(w, f.rows, q)) {
                f.expectWithinReference(h, w, "gptq_w4");
                assertTrue(r.loss() > 0, "GPTQ loss " + r.loss());
                assertEquals(f.rows, r.rows());
                assertEquals(f.cols, r.cols());
                assertEquals(1, r.groups());
                assertEquals(4, r.bits());
                assertArrayEquals(w, r.dequantize(), "the weight holds the dequantized values");
                byte[] codes = r.codes();
                float[] scales = r.scales(), zeros = r.zeros();
                assertEquals(f.rows, scales.length);
                assertTrue(Arrays.stream(r.gIdx()).allMatch(g -> g == 0));
                assertArrayEquals(IntStream.range(0, f.cols).toArray(), r.perm());
                for (int k = 0; k < codes.length; ++k) {
                    int c = Byte.toUnsignedInt(codes[k]);
                    assertTrue(c < 16);
                    float v = scales[k / f.cols] * (c - zeros[k / f.cols]);
                    assertTrue(Math.abs(v - w[k]) <= 1e-6 * (1 + Math.abs(v)), "element " + k);
                }
            }
        }
    }

    @Test
    void gptqGroupedActOrderAndMseMatchReference() {
        try (Hessian h = hessian(); Solver solver = new Solver(null, h, null);
             Quantizer q = new Quantizer(4).groupSize(32).actOrder(true)) {
            float[] w = f.w.clone();
            try (QuantResult out = solver.quantize(w, f.rows, q)) {
                f.expectWithinReference(h, w, "gptq_w4_g32_actorder");
                int[] perm = out.perm();
                int[] identity = IntStream.range(0, f.cols).toArray();
                assertTrue(!Arrays.equals(identity, perm), "act-order reorders columns");
                Arrays.sort(perm);
                assertArrayEquals(identity, perm);
                assertEquals(2, out.groups());
                assertTrue(Arrays.stream(out.gIdx()).allMatch(g -> g == 0 || g == 1));
            }
            try (Quantizer mse = new Quantizer(2).groupSize(16).mse()) {
                w = f.w.clone();
                solver.quantize(w, f.rows, mse).close();
                f.expectWithinReference(h, w, "gptq_w2_g16_mse");
            }
            try (Quantizer asym = new Quantizer(3).symmetric(false)) {
                w = f.w.clone();
                solver.quantize(w, f.rows, asym).close();
                f.expectWithinReference(h, w, "gptq_w3_asym");
            }
        }
    }

    @Test
    void joint4of8With4BitMatchesReference() {
        try (Hessian h = hessian(); Solver solver = new Solver(null, h, null); Quantizer q = new Quantizer(4)) {
            float[] w = f.w.clone();
            try (PruneResult pruned = solver.prune(w, f.rows, new PruneOptions().nm(4, 8).quantizer(q))) {
                f.expectWithinReference(h, w, "sparsegpt_4of8_w4");
                assertTrue(pruned.mask().checkNM(4, 8));
                assertNotNull(pruned.quantResult());
                assertEquals(4, pruned.quantResult().bits());
            }
        }
    }

    @Test
    void baselinesMatchReference() {
        try (Hessian h = hessian()) {
            float[] w = f.w.clone();
            try (Mask mask = Baselines.pruneMagnitude(null, w, f.rows, f.cols, new PruneOptions().sparsity(0.5))) {
                f.expectWithinReference(h, w, "magnitude_50");
                assertEquals(0.5, mask.sparsity());
            }
            w = f.w.clone();
            try (Mask mask = Baselines.pruneWanda(null, w, f.rows, f.cols, h, new PruneOptions().nm(2, 4))) {
                f.expectWithinReference(h, w, "wanda_2of4");
                assertTrue(mask.checkNM(2, 4));
            }
            // RTN: at most 16 levels per row, and the weight equals the dequantized codes.
            float[] rounded = f.w.clone();
            try (Quantizer q = new Quantizer(4); QuantResult r = Baselines.quantizeRtn(null, rounded, f.rows, f.cols, q)) {
                assertArrayEquals(rounded, r.dequantize());
                for (int row = 0; row < f.rows; ++row) {
                    int from = row * f.cols;
                    long levels = IntStream.range(from, from + f.cols).mapToObj(k -> rounded[k]).distinct().count();
                    assertTrue(levels <= 16);
                }
                // GPTQ beats round-to-nearest on the same grid.
                double rtn = Surgeon.reconstructionError(h, f.w, rounded, f.rows);
                assertTrue(rtn > f.referenceError("gptq_w4"), "rtn " + rtn);
            }
        }
    }

    @Test
    void streamedHessianFromArraysAndDirectBuffersMatchesTheFixture() {
        try (Hessian fromArrays = new Hessian(null, f.cols); Hessian fromBuffer = new Hessian(Context.defaults(), f.cols)) {
            int batch = 500;
            float[] chunk = new float[batch * f.cols];
            FloatBuffer direct = ByteBuffer.allocateDirect(f.x.length * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
            direct.put(f.x).flip();
            for (int start = 0; start < f.tokens; start += batch) {
                int rows = Math.min(batch, f.tokens - start);
                System.arraycopy(f.x, start * f.cols, chunk, 0, rows * f.cols);
                fromArrays.add(chunk, rows); // a reused, larger buffer
                direct.position(start * f.cols);
                fromBuffer.add(direct, rows);
                assertEquals(start * f.cols, direct.position(), "the position is not moved");
            }
            assertEquals(f.tokens, fromArrays.samples());
            assertEquals(f.tokens, fromBuffer.samples());
            assertTrue(TestFixture.relMaxDiff(fromArrays.matrix(), f.h) < 1e-4);
            assertTrue(TestFixture.relMaxDiff(fromBuffer.matrix(), f.h) < 1e-4);

            Hessian.ActivationStats stats = fromArrays.stats();
            for (int j = 0; j < f.cols; ++j) {
                double abs = 0, sum = 0, sq = 0;
                for (int t = 0; t < f.tokens; ++t) {
                    double v = f.x[t * f.cols + j];
                    abs += Math.abs(v);
                    sum += v;
                    sq += v * v;
                }
                double n = f.tokens;
                assertEquals(abs / n, stats.absMean()[j], 1e-4 * (1 + abs / n));
                assertEquals(sum / n, stats.mean()[j], 1e-4 * (1 + Math.abs(sum / n)));
                assertEquals(sq / n, stats.sqMean()[j], 1e-4 * (1 + sq / n));
            }
            try (Solver solver = new Solver(null, fromBuffer, null)) {
                float[] w = f.w.clone();
                solver.prune(w, f.rows, new PruneOptions().nm(2, 4)).close();
                f.expectWithinReference(fromBuffer, w, "sparsegpt_2of4");
            }
        }
    }

    @Test
    void mergedHalvesEqualOneStream() {
        int half = f.tokens / 2;
        try (Hessian a = new Hessian(null, f.cols); Hessian b = new Hessian(null, f.cols)) {
            a.add(Arrays.copyOfRange(f.x, 0, half * f.cols));
            b.add(Arrays.copyOfRange(f.x, half * f.cols, f.x.length));
            a.merge(b);
            assertEquals(f.tokens, a.samples());
            assertEquals(f.tokens - half, b.samples(), "src is unchanged");
            assertTrue(TestFixture.relMaxDiff(a.matrix(), f.h) < 1e-4);
        }
    }

    private static short f16Bits(float v) {
        int b = Float.floatToIntBits(v);
        int sign = (b >>> 16) & 0x8000;
        int exp = ((b >>> 23) & 0xff) - 127 + 15;
        if (exp <= 0) return (short) sign;
        return (short) (sign | (Math.min(exp, 30) << 10) | ((b >>> 13) & 0x3ff));
    }

    private static float f16Value(short h) {
        int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
        float sign = (h & 0x8000) != 0 ? -1f : 1f;
        return sign * (exp == 0 ? mant * (float) Math.pow(2, -24) : (1 + mant / 1024f) * (float) Math.pow(2, exp - 15));
    }

    @Test
    void halfPrecisionAddsEqualF32AddsOfTheSameValues() {
        int n = f.x.length;
        short[] bf16 = new short[n], half = new short[n];
        float[] fromBf16 = new float[n], fromHalf = new float[n];
        for (int i = 0; i < n; ++i) {
            bf16[i] = (short) (Float.floatToIntBits(f.x[i]) >>> 16);
            fromBf16[i] = Float.intBitsToFloat((bf16[i] & 0xffff) << 16);
            half[i] = f16Bits(f.x[i]);
            fromHalf[i] = f16Value(half[i]);
        }
        try (Hessian nb = new Hessian(null, f.cols); Hessian wb = new Hessian(null, f.cols);
             Hessian nh = new Hessian(null, f.cols); Hessian wh = new Hessian(null, f.cols)) {
            nb.addBf16(bf16, f.tokens);
            wb.add(fromBf16);
            ByteBuffer bytes = ByteBuffer.allocateDirect(n * 2).order(ByteOrder.nativeOrder());
            bytes.asShortBuffer().put(half);
            nh.addF16(bytes.asShortBuffer(), f.tokens);
            wh.add(fromHalf);
            assertTrue(TestFixture.relMaxDiff(nb.matrix(), wb.matrix()) < 1e-5);
            assertTrue(TestFixture.relMaxDiff(nh.matrix(), wh.matrix()) < 1e-5);
            assertTrue(TestFixture.relMaxDiff(fromBf16, f.x) > 0, "the rounding changed the inputs");
            assertTrue(TestFixture.relMaxDiff(fromHalf, f.x) > 0);
        }
    }

    @Test
    void directBufferWeightsArePrunedInPlace() {
        try (Hessian h = hessian(); Solver solver = new Solver(null, h, null)) {
            FloatBuffer w = ByteBuffer.allocateDirect((f.w.length + 3) * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
            w.put(new float[] {7, 8, 9}).put(f.w).position(3);
            solver.prune(w, f.rows, new PruneOptions().nm(2, 4)).close();
            float[] out = new float[f.w.length];
            w.get(3, out);
            assertEquals(7f, w.get(0), "elements before the position are untouched");
            f.expectWithinReference(h, out, "sparsegpt_2of4");
        }
    }

    @Test
    void saveAndLoadRoundTrip() throws Exception {
        Path path = Files.createTempFile("surgeon-java", ".hessian");
        try (Hessian h = new Hessian(null, f.cols)) {
            h.add(f.x);
            h.save(path);
            try (Hessian loaded = Hessian.load(null, path)) {
                assertEquals(f.cols, loaded.cols());
                assertEquals(h.samples(), loaded.samples());
                assertArrayEquals(h.matrix(), loaded.matrix());
            }
            byte[] bytes = Files.readAllBytes(path);
            Files.write(path, Arrays.copyOf(bytes, bytes.length / 2));
            SurgeonException e = assertThrows(SurgeonException.class, () -> Hessian.load(null, path));
            assertEquals(Status.IO, e.status());
            assertTrue(e.getMessage().startsWith("surgeon_hessian_load"), e.getMessage());
        } finally {
            Files.deleteIfExists(path);
        }
    }
}
