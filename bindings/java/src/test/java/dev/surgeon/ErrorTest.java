package dev.surgeon;

import static dev.surgeon.TestFixture.expect;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surgeon.jni.surgeon;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** C statuses and messages surface as SurgeonException; failing calls leave buffers unchanged. */
class ErrorTest {
    private static Hessian fedHessian(int cols) {
        Hessian h = new Hessian(null, cols);
        float[] x = new float[4 * cols * cols];
        for (int i = 0; i < x.length; ++i) x[i] = (i * 7919) % 23 - 11.0f;
        h.add(x);
        return h;
    }

    @Test
    void nanInputIsNumericAndLeavesTheAccumulatorUnchanged() {
        try (Hessian h = fedHessian(8)) {
            float[] before = h.matrix();
            float[] x = new float[3 * 8];
            Arrays.fill(x, 1f);
            x[13] = Float.NaN;
            float[] xCopy = x.clone();
            SurgeonException e = expect(Status.NUMERIC, "surgeon_hessian_add_f32", () -> h.add(x));
            assertTrue(e.toString().endsWith("(SURGEON_ERR_NUMERIC)"), e.toString());
            assertArrayEquals(before, h.matrix());
            assertEquals(4 * 8, h.samples());
            assertArrayEquals(xCopy, x);
            x[13] = Float.POSITIVE_INFINITY;
            expect(Status.NUMERIC, "surgeon_hessian_add_f32", () -> h.add(x));
            short[] b = new short[8];
            Arrays.fill(b, (short) 0x3f80);
            b[2] = 0x7fc0;
            expect(Status.NUMERIC, "surgeon_hessian_add_bf16", () -> h.addBf16(b, 1));
        }
    }

    @Test
    void nanWeightFailsAndKeepsTheWeight() {
        try (Hessian h = fedHessian(16); Solver solver = new Solver(null, h, null); Quantizer q = new Quantizer(4)) {
            float[] w = new float[4 * 16];
            for (int i = 0; i < w.length; ++i) w[i] = i * 0.25f - 3f;
            w[5] = Float.NaN;
            float[] original = w.clone();
            expect(Status.NUMERIC, "surgeon_solver_prune", () -> solver.prune(w, 4, new PruneOptions().sparsity(0.5)));
            expect(Status.NUMERIC, "surgeon_solver_quantize", () -> solver.quantize(w, 4, q));
            expect(Status.NUMERIC, "surgeon_prune_magnitude", () -> Baselines.pruneMagnitude(null, w, 4, 16, new PruneOptions().sparsity(0.5)));
            assertArrayEquals(original, w, "buffers are untouched on failure");
        }
    }

    @Test
    void shapeMismatches() {
        try (Hessian h = fedHessian(8); Hessian other = fedHessian(4); Solver solver = new Solver(null, h, null)) {
            // Checked in Java before the call.
            SurgeonException e = expect(Status.SHAPE, "surgeon_hessian_add_f32", () -> h.add(new float[12]));
            assertTrue(e.getMessage().contains("12 elements"), e.getMessage());
            expect(Status.SHAPE, "surgeon_hessian_add_f32", () -> h.add(new float[15], 2));
            expect(Status.SHAPE, "surgeon_hessian_add_f16", () -> h.addF16(new short[9], 2));
            expect(Status.SHAPE, "surgeon_hessian_from_matrix", () -> Hessian.fromMatrix(null, new float[15], 4, 1));
            expect(Status.SHAPE, "surgeon_mask_from_bytes", () -> Mask.fromBytes(new byte[5], 2, 3));
            try (Mask mask = new Mask(2, 3)) {
                expect(Status.SHAPE, "surgeon_mask_apply", () -> mask.apply(new float[7]));
            }
            expect(Status.SHAPE, "surgeon_reconstruction_error", () -> Surgeon.reconstructionError(h, new float[16], new float[8], 2));
            float[] w = new float[20];
            Arrays.fill(w, 0.5f);
            expect(Status.SHAPE, "surgeon_solver_prune", () -> solver.prune(w, 2, new PruneOptions().sparsity(0.5)));
            // Detected by the library: accumulators of different widths, and dst == src.
            e = expect(Status.SHAPE, "surgeon_hessian_merge", () -> h.merge(other));
            System.out.println("  " + e);
            expect(Status.INVALID_ARGUMENT, "surgeon_hessian_merge", () -> h.merge(h));
        }
    }

    @Test
    void invalidArguments() {
        SurgeonException e = expect(Status.INVALID_ARGUMENT, "surgeon_quantizer_new", () -> new Quantizer(9));
        assertTrue(e.getMessage().contains("9"), e.getMessage());
        expect(Status.INVALID_ARGUMENT, "surgeon_quantizer_set_group_size", () -> new Quantizer(4).groupSize(-1));
        expect(Status.INVALID_ARGUMENT, "surgeon_quantizer_set_mse", () -> new Quantizer(4).mse(2.4f, 0, 0.8f));
        expect(Status.INVALID_ARGUMENT, "surgeon_hessian_new", () -> new Hessian(null, 0));
        expect(Status.INVALID_ARGUMENT, "surgeon_context_set_threads", () -> Context.builder().threads(-2).build());
        try (Hessian h = fedHessian(8); Hessian empty = new Hessian(null, 8)) {
            try (SolverOptions o = new SolverOptions()) {
                assertEquals(0.01, o.damping());
                assertEquals(128, o.blockSize());
                expect(Status.INVALID_ARGUMENT, "surgeon_solver_options_set_damping", () -> o.damping(-1));
                expect(Status.INVALID_ARGUMENT, "surgeon_solver_options_set_block_size", () -> o.blockSize(0));
                assertEquals(0.01, o.damping(), "a refused setting leaves the options unchanged");
                assertEquals(128, o.blockSize());
            }
            expect(Status.INVALID_ARGUMENT, "surgeon_solver_new", () -> new Solver(null, empty, null));
            try (Solver solver = new Solver(null, h, new SolverOptions().blockSize(6))) {
                float[] w = new float[16];
                Arrays.fill(w, 0.5f);
                expect(Status.INVALID_ARGUMENT, "surgeon_solver_prune", () -> solver.prune(w, 2, new PruneOptions().nm(2, 4)));
                try (PruneOptions o = new PruneOptions()) {
                    assertEquals(0.5, o.sparsity());
                    assertArrayEquals(new int[] {0, 0}, o.nm());
                    expect(Status.INVALID_ARGUMENT, "surgeon_prune_options_set_sparsity", () -> o.sparsity(1.5));
                    expect(Status.INVALID_ARGUMENT, "surgeon_prune_options_set_nm", () -> o.nm(0, 4));
                    assertEquals(0.5, o.sparsity(), "a refused setting leaves the options unchanged");
                    assertArrayEquals(new int[] {0, 0}, o.nm());
                    try (Quantizer q = new Quantizer(4)) {
                        expect(Status.INVALID_ARGUMENT, "surgeon_prune_magnitude",
                               () -> Baselines.pruneMagnitude(null, w, 2, 8, o.quantizer(q)));
                    }
                }
                float[] same = new float[16];
                Arrays.fill(same, 0.5f);
                assertArrayEquals(same, w);
            }
        }
        try (Mask mask = new Mask(2, 2)) {
            expect(Status.INVALID_ARGUMENT, "surgeon_mask_check_nm", () -> mask.checkNM(3, 2));
        }
    }

    @Test
    void buffersOfTheWrongKindAreRejected() {
        try (Hessian h = fedHessian(8)) {
            // Java side: a heap buffer has no address.
            expect(Status.INVALID_ARGUMENT, "surgeon_hessian_add_f32", () -> h.add(FloatBuffer.allocate(8), 1));
            // Raw layer: a wrong object type or a heap buffer passes NULL, which C rejects.
            expect(Status.INVALID_ARGUMENT, "surgeon_hessian_add_f32",
                    () -> surgeon.surgeon_hessian_add_f32(h.address(), new double[8], 1, 8, 0));
            expect(Status.INVALID_ARGUMENT, "surgeon_hessian_add_f32",
                    () -> surgeon.surgeon_hessian_add_f32(h.address(), FloatBuffer.allocate(8), 1, 8, 0));
            assertEquals(4 * 8, h.samples());
        }
    }

    @Test
    void ioErrors() {
        Path missing = Path.of("/nonexistent/dir/h.bin");
        SurgeonException e = expect(Status.IO, "surgeon_hessian_load", () -> Hessian.load(null, missing));
        assertTrue(e.getMessage().contains("/nonexistent/dir/h.bin"), e.getMessage());
        try (Hessian h = fedHessian(4)) {
            expect(Status.IO, "surgeon_hessian_save", () -> h.save(missing));
        }
    }

    @Test
    void messagesArePerThread() throws Exception {
        try (Hessian h = fedHessian(8)) {
            Thread other = new Thread(() -> {
                for (int i = 0; i < 200; ++i) {
                    try {
                        new Quantizer(1);
                    } catch (SurgeonException expected) {
                        // the other thread's failures must not show up below
                    }
                }
            });
            other.start();
            float[] nan = new float[8];
            Arrays.fill(nan, Float.NaN);
            for (int i = 0; i < 200; ++i) {
                SurgeonException e = assertThrows(SurgeonException.class, () -> h.add(nan));
                assertTrue(e.getMessage().startsWith("surgeon_hessian_add_f32"), e.getMessage());
            }
            other.join();
        }
    }

    /** The C buffer convention under the binding: size query, BUFFER_TOO_SMALL, exact fill. */
    @Test
    void shortBuffersAreRefusedAndLeftUntouched() {
        int[] bits = {3, 4, 8, 2, 5};
        try (Quantizer q = new Quantizer(4).rowBits(bits)) {
            long[] needed = new long[1];
            surgeon.surgeon_quantizer_get_row_bits(q.address(), null, 0, needed);
            assertEquals(bits.length, needed[0]);
            int[] small = {-1, -1};
            SurgeonException e = expect(Status.BUFFER_TOO_SMALL, "surgeon_quantizer_get_row_bits",
                                        () -> surgeon.surgeon_quantizer_get_row_bits(q.address(), small, small.length, needed));
            assertEquals(8, e.status().code());
            assertArrayEquals(new int[] {-1, -1}, small);
            assertArrayEquals(bits, q.rowBits());
            assertArrayEquals(new int[0], q.rowBits(null).rowBits());
        }
    }

    @Test
    void versionMatchesTheLibrary() {
        assertEquals(surgeon.surgeon_version_number(), Surgeon.versionNumber());
        int v = Surgeon.versionNumber();
        assertEquals((v / 10000) + "." + (v / 100 % 100) + "." + (v % 100), Surgeon.version());
        assertEquals("SURGEON_ERR_SHAPE", Status.SHAPE.cName());
    }
}
