package dev.surgeon;

import static dev.surgeon.TestFixture.expect;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Spectra, FFN neuron selection and slicing, PruneNet policies. */
class StructuredTest {
    @TempDir
    Path tmp;

    private static Ffn randomFfn(int hidden, int dim, long seed) {
        Random rng = new Random(seed);
        float[][] m = new float[3][hidden * dim];
        for (float[] a : m) {
            for (int i = 0; i < a.length; ++i) a[i] = (float) rng.nextGaussian();
        }
        return new Ffn(m[0], m[1], m[2], hidden, dim);
    }

    @Test
    void ksDistanceClosedForms() {
        assertEquals(0.0, Spectra.ksDistance(new float[] {3, 1, 2}, new float[] {1, 2, 3}));
        assertEquals(0.0, Spectra.ksDistance(new float[] {5, 5, 5}, new float[] {5}));
        assertEquals(1.0, Spectra.ksDistance(new float[] {1, 2}, new float[] {3, 4}));
        assertEquals(0.5, Spectra.ksDistance(new float[] {1, 3}, new float[] {2, 4}));
        int n = 1000;
        float[] grid = new float[n], shifted = new float[n];
        for (int i = 0; i < n; ++i) {
            grid[i] = i;
            shifted[i] = i + 37;
        }
        assertEquals(37.0 / n, Spectra.ksDistance(grid, shifted), 1e-12);
        // U(0,1) vs the law of U² (CDF √t): sup |√t − t| = 1/4; vs U(0,2): sup |t − t/2| = 1/2.
        int m = 20000;
        float[] u = new float[m], sq = new float[m], wide = new float[m];
        for (int i = 0; i < m; ++i) {
            double p = (i + 0.5) / m;
            u[i] = (float) p;
            sq[i] = (float) (p * p);
            wide[i] = (float) (2 * p);
        }
        assertEquals(0.25, Spectra.ksDistance(u, sq), 2.0 / m);
        assertEquals(0.5, Spectra.ksDistance(u, wide), 2.0 / m);
        expect(Status.INVALID_ARGUMENT, "surgeon_ks_distance", () -> Spectra.ksDistance(new float[0], grid));
    }

    @Test
    void singularValuesAndSpectralDistance() {
        float[] m = {3, 0, 0, -4, 0, 0}; // 3 × 2: singular values 4, 3
        assertArrayEquals(new float[] {4, 3}, Spectra.singularValues(m, 3, 2), 1e-5f);
        float[] u = {1, 2, 2}, v = {3, 0, 4, 0};
        float[] outer = new float[12];
        for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 4; ++j) outer[i * 4 + j] = u[i] * v[j];
        }
        assertArrayEquals(new float[] {15, 0, 0}, Spectra.singularValues(outer, 3, 4), 1e-4f); // |u|·|v|
        Random rng = new Random(4);
        float[] a = new float[9 * 5];
        double frob = 0;
        for (int i = 0; i < a.length; ++i) {
            a[i] = (float) rng.nextGaussian();
            frob += a[i] * a[i];
        }
        float[] s = Spectra.singularValues(a, 9, 5);
        double sum = 0;
        for (int i = 0; i < s.length; ++i) {
            sum += s[i] * s[i];
            if (i > 0) assertTrue(s[i] <= s[i - 1]);
        }
        assertEquals(frob, sum, 1e-4 * frob); // Σσ² = ‖A‖²_F
        assertEquals(0.5, Spectra.spectralDistance(m, 3, 2, new float[] {3, 0}, 1, 2));
        assertEquals(0.0, Spectra.spectralDistance(a, 9, 5, a, 9, 5));
        expect(Status.SHAPE, "surgeon_singular_values", () -> Spectra.singularValues(m, 2, 2));
        expect(Status.SHAPE, "surgeon_spectral_distance", () -> Spectra.spectralDistance(m, 3, 2, new float[] {3}, 1, 2));
    }

    @Test
    void ffnScoresSelectSlice() {
        int hidden = 20, dim = 8;
        Ffn f = randomFfn(hidden, dim, 1);
        float[] scores = f.scores(Ffn.Method.L2, 0);
        for (int i = 0; i < hidden; ++i) {
            double sq = 0;
            for (int c = 0; c < dim; ++c) sq += f.gate()[i * dim + c] * f.gate()[i * dim + c] + f.up()[i * dim + c] * f.up()[i * dim + c];
            assertEquals(Math.sqrt(sq), scores[i], 1e-5 * Math.sqrt(sq));
        }
        assertArrayEquals(scores, new Ffn(f.gate(), f.up(), null, hidden, dim).scores(Ffn.Method.L2, 0));
        assertArrayEquals(f.scores(Ffn.Method.RANDOM, 7), f.scores(Ffn.Method.RANDOM, 7));
        assertFalse(Arrays.equals(f.scores(Ffn.Method.RANDOM, 7), f.scores(Ffn.Method.RANDOM, 8)));

        long[] keep = Ffn.select(scores, 0.25);
        assertEquals(15, keep.length);
        Integer[] order = IntStream.range(0, hidden).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble(i -> -scores[i]));
        long[] top = Arrays.stream(order, 0, 15).mapToLong(Integer::longValue).sorted().toArray();
        assertArrayEquals(top, keep); // the 15 highest scores, ascending
        assertEquals(hidden, Ffn.select(scores, 0).length);
        assertArrayEquals(new long[] {order[0]}, Ffn.select(scores, 0.99));

        Ffn sliced = f.slice(keep);
        assertEquals(15, sliced.hidden());
        assertEquals(dim, sliced.dim());
        assertEquals(15 * dim, sliced.gate().length);
        assertEquals(15 * dim, sliced.up().length);
        assertEquals(dim * 15, sliced.down().length);
        for (int n = 0; n < keep.length; ++n) {
            int k = (int) keep[n];
            for (int c = 0; c < dim; ++c) {
                assertEquals(f.gate()[k * dim + c], sliced.gate()[n * dim + c]);
                assertEquals(f.up()[k * dim + c], sliced.up()[n * dim + c]);
                assertEquals(f.down()[c * hidden + k], sliced.down()[c * 15 + n]);
            }
        }
        double d = Spectra.spectralDistance(f.gate(), hidden, dim, sliced.gate(), 15, dim);
        assertEquals(Spectra.ksDistance(Spectra.singularValues(f.gate(), hidden, dim), Spectra.singularValues(sliced.gate(), 15, dim)), d);
        assertTrue(d > 0);

        expect(Status.INVALID_ARGUMENT, "surgeon_ffn_slice", () -> f.slice(new long[] {3, 2}));
        expect(Status.INVALID_ARGUMENT, "surgeon_ffn_slice", () -> f.slice(new long[] {0, 20}));
        expect(Status.INVALID_ARGUMENT, "surgeon_ffn_slice", () -> f.slice(new long[0]));
        expect(Status.INVALID_ARGUMENT, "surgeon_ffn_select", () -> Ffn.select(scores, 1.0));
        expect(Status.SHAPE, "surgeon_ffn_scores",
               () -> new Ffn(f.gate(), Arrays.copyOf(f.up(), 10), null, hidden, dim).scores(Ffn.Method.L2, 0));
        expect(Status.INVALID_ARGUMENT, "surgeon_ffn_slice", () -> new Ffn(f.gate(), f.up(), null, hidden, dim).slice(keep));
    }

    @Test
    void pruneNetTrainSaveLoad() throws IOException {
        int hidden = 20, dim = 8;
        List<Ffn> blocks = List.of(randomFfn(hidden, dim, 11), randomFfn(hidden + 4, dim, 12));
        PruneNetOptions options = new PruneNetOptions();
        assertArrayEquals(new double[] {0.3, 150, 8, 0.05, 8, 1}, new double[] {options.ratio(), options.steps(), options.samples(),
                options.learningRate(), options.features(), options.seed()});
        options.steps(8).seed(42);
        assertEquals(8, options.steps());
        assertEquals(42, options.seed());
        Path file = tmp.resolve("policy.json");
        float[] scores;
        try (PruneNet p = PruneNet.train(null, blocks, options); PruneNet again = PruneNet.train(null, blocks, options);
             PruneNet fresh = new PruneNet(dim, options.features(), options.seed())) {
            assertEquals(dim, p.dim());
            scores = p.scores(blocks.get(0));
            assertArrayEquals(scores, again.scores(blocks.get(0))); // same seed, same policy
            for (float s : scores) assertTrue(s > 0 && s < 1, "keep-probability " + s);
            for (double ratio : new double[] {0.3, 0.5}) {
                long[] keep = Ffn.select(p.scores(blocks.get(0)), ratio);
                assertEquals(Math.round((1 - ratio) * hidden), keep.length);
                assertArrayEquals(Ffn.select(scores, ratio), keep);
            }
            assertFalse(Arrays.equals(scores, fresh.scores(blocks.get(0))), "training changed nothing");

            p.save(null, file);
            Object format = MiniJson.object(Files.readString(file)).get("format");
            assertEquals("surgeon-prunenet-policy", format);
            try (PruneNet loaded = PruneNet.load(null, file)) {
                assertEquals(dim, loaded.dim());
                for (Ffn b : blocks) {
                    float[] want = p.scores(b), got = loaded.scores(b);
                    for (int i = 0; i < want.length; ++i) assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]));
                }
            }

            expect(Status.SHAPE, "surgeon_prunenet_scores", () -> p.scores(randomFfn(hidden / 2, dim * 2, 3)));
            Ffn noDown = new Ffn(blocks.get(0).gate(), blocks.get(0).up(), null, hidden, dim);
            expect(Status.INVALID_ARGUMENT, "surgeon_prunenet_scores", () -> p.scores(noDown));
            Ffn shortDown = new Ffn(blocks.get(0).gate(), blocks.get(0).up(), new float[dim], hidden, dim);
            expect(Status.SHAPE, "surgeon_prunenet_scores", () -> p.scores(shortDown));
            expect(Status.IO, "surgeon_prunenet_save", () -> p.save(null, Path.of("/nonexistent/dir/policy.json")));
        }
        expect(Status.IO, "surgeon_prunenet_load", () -> PruneNet.load(null, tmp.resolve("missing.json")));
        String text = Files.readString(file);
        Files.writeString(file, text.substring(0, text.length() / 2));
        expect(Status.IO, "surgeon_prunenet_load", () -> PruneNet.load(null, file));
        expect(Status.INVALID_ARGUMENT, "surgeon_prunenet_train_ffn", () -> PruneNet.train(null, blocks, new PruneNetOptions().samples(1)));
        expect(Status.SHAPE, "surgeon_prunenet_train_ffn",
               () -> PruneNet.train(null, List.of(blocks.get(0), randomFfn(hidden, dim + 1, 5)), options));
        expect(Status.INVALID_ARGUMENT, "surgeon_prunenet_train_ffn", () -> PruneNet.train(null, List.of(), options));
        expect(Status.INVALID_ARGUMENT, "surgeon_prunenet_new", () -> new PruneNet(0, 8, 1));
        PruneNet closed = new PruneNet(dim, 4, 1);
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.scores(blocks.get(0)));
    }

    /** Training with a progress listener: the blocks are copied, hidden passed off-heap, same policy. */
    @Test
    void pruneNetTrainingReportsProgress() {
        List<Ffn> blocks = List.of(randomFfn(16, 6, 31), randomFfn(12, 6, 32));
        PruneNetOptions options = new PruneNetOptions().steps(6).seed(3);
        List<String> stages = new ArrayList<>();
        try (Context ctx = Context.builder().onProgress((stage, fraction) -> {
                 synchronized (stages) {
                     stages.add(stage);
                 }
             }).build();
             PruneNet quiet = PruneNet.train(null, blocks, options); PruneNet reported = PruneNet.train(ctx, blocks, options)) {
            assertTrue(stages.contains("prunenet"), stages.toString());
            assertArrayEquals(quiet.scores(blocks.get(1)), reported.scores(blocks.get(1)));
        }
    }

    @Test
    void pruneNetOnTheBundledModel() {
        Path model = Path.of(System.getProperty("surgeon.fixtures", "tests/fixtures")).resolve("../../samples/data/stories260K.bin").normalize();
        try (PruneNet p = PruneNet.trainModel(null, model, new PruneNetOptions().steps(3).seed(42));
             Model m = Model.load(null, model)) {
            assertEquals(m.config().dim(), p.dim());
            long[] shape = m.linearShape(0, "w1");
            Ffn block = new Ffn(m.getLinear(0, "w1"), m.getLinear(0, "w3"), m.getLinear(0, "w2"), shape[0], shape[1]);
            assertEquals(Math.round(0.7 * shape[0]), Ffn.select(p.scores(block), 0.3).length);
        }
        expect(Status.IO, "surgeon_prunenet_train_model", () -> PruneNet.trainModel(null, Path.of("/nonexistent/model.bin"), null));
    }
}
