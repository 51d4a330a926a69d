package dev.surgeon;

import static dev.surgeon.TestFixture.expect;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The whole-model API on the bundled stories260K (numbers from the data's SOURCES.md). */
class ModelTest {
    private static Path data() {
        return Path.of(System.getProperty("surgeon.fixtures", "tests/fixtures")).resolve("../../samples/data").normalize();
    }

    private static String text() throws IOException {
        return Files.readString(data().resolve("tinystories-valid.txt"));
    }

    @Test
    void perplexityEncodeAndGenerateMatchTheSources() throws IOException {
        try (Model m = Model.load(null, data().resolve("stories260K.bin"))) {
            Model.Config c = m.config();
            assertEquals(64, c.dim());
            assertEquals(5, c.layers());
            assertEquals(512, c.vocabSize());
            int[] ids = m.encode(text().substring(0, text().indexOf("\n\n")), true);
            assertArrayEquals(new int[] {1, 301, 427, 309, 426}, java.util.Arrays.copyOf(ids, 5));
            Model.Perplexity p = m.perplexityOfText(null, text(), Model.EvalMode.PARAGRAPHS, 0, 50, 0);
            assertEquals(5055, p.tokens());
            assertEquals(1.3847, p.nll(), 1e-3);
            // The file entry point reads the file the text came from.
            Path file = data().resolve("tinystories-valid.txt");
            assertEquals(p, m.perplexityOfFile(null, file, Model.EvalMode.PARAGRAPHS, 0, 50, 0));
            // A path given as the text is one paragraph: the error counts paragraphs.
            SurgeonException e = assertThrows(SurgeonException.class,
                () -> m.perplexityOfText(null, file.toString(), Model.EvalMode.PARAGRAPHS, 2000, 2128, 0));
            assertEquals(Status.INVALID_ARGUMENT, e.status());
            assertTrue(e.getMessage().endsWith("paragraphs 2000:2128 requested, the text has 1"), e.getMessage());
            e = assertThrows(SurgeonException.class,
                () -> m.perplexityOfFile(null, data(), Model.EvalMode.PARAGRAPHS, 0, -1, 0));
            assertEquals(Status.IO, e.status());
            try (Context ctx = Context.builder().threads(2).build(); GenerateOptions greedy = new GenerateOptions().steps(40)) {
                String story = m.generate(ctx, "", greedy);
                assertTrue(story.startsWith("Once upon a time, there was a little girl named Lily."), story);
                // Sampling is a function of the options; null options are the defaults (256 steps, greedy).
                try (GenerateOptions sampled = new GenerateOptions().steps(60).temperature(1.0).seed(7)) {
                    String a = m.generate(ctx, "Once", sampled);
                    assertEquals(a, m.generate(null, "Once", sampled));
                    assertTrue(a.startsWith("Once"), a);
                }
                String defaults = m.generate(null, "", null);
                assertTrue(defaults.startsWith(story) && defaults.length() > story.length(), defaults);
            }
        }
    }

    @Test
    void generateOptions() {
        try (GenerateOptions o = new GenerateOptions()) {
            assertEquals(256, o.steps());
            assertEquals(0.0, o.temperature());
            assertEquals(42, o.seed());
            o.steps(12).temperature(0.5).seed(-1);
            expect(Status.INVALID_ARGUMENT, "surgeon_generate_options_set_steps", () -> o.steps(0));
            expect(Status.INVALID_ARGUMENT, "surgeon_generate_options_set_temperature", () -> o.temperature(-1));
            expect(Status.INVALID_ARGUMENT, "surgeon_generate_options_set_temperature", () -> o.temperature(Double.NaN));
            assertEquals(12, o.steps(), "a refused setting leaves the options unchanged");
            assertEquals(0.5, o.temperature());
            assertEquals(-1, o.seed()); // 2^64 - 1
        }
    }

    @Test
    void compressSaveAndReload() throws IOException {
        Path dir = Files.createTempDirectory("surgeon-java-model");
        try (Model m = Model.load(null, data().resolve("stories260K.bin"))) {
            String report = m.compress(null, text(), 2000, 2016, "{\"default\": {\"method\": \"sparsegpt\", \"nm\": \"2:4\"}}");
            assertTrue(report.contains("\"linear_sparsity\":0.5"), report);
            float[] w1 = m.getLinear(2, "gate_proj");
            for (int g = 0; g < w1.length; g += 4) {
                int zeros = 0;
                for (int k = g; k < g + 4; ++k) zeros += w1[k] == 0.0f ? 1 : 0;
                assertTrue(zeros >= 2, "group " + g);
            }
            double before = m.perplexityOfText(null, text(), Model.EvalMode.PARAGRAPHS, 0, 30, 0).ppl();
            m.save(null, dir.resolve("hf"), "hf", "f32");
            try (Model back = Model.load(null, dir.resolve("hf"))) {
                assertEquals(before, back.perplexityOfText(null, text(), Model.EvalMode.PARAGRAPHS, 0, 30, 0).ppl(), 1e-9);
            }
        } finally {
            try (var paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void errorsCarryStatusAndLeaveTheModelUnchanged() throws IOException {
        SurgeonException missing = assertThrows(SurgeonException.class, () -> Model.load(null, Path.of("/nonexistent.bin")));
        assertEquals(Status.IO, missing.status());
        assertTrue(missing.getMessage().startsWith("surgeon_model_load"), missing.getMessage());
        try (Model m = Model.load(null, data().resolve("stories260K.bin"))) {
            float[] wq = m.getLinear(0, "wq");
            SurgeonException bad = assertThrows(SurgeonException.class,
                    () -> m.compress(null, "text", 0, 1, "{\"default\": {\"method\": \"gptq\", \"bits\": 12}}"));
            assertEquals(Status.INVALID_ARGUMENT, bad.status());
            float[] nan = wq.clone();
            nan[3] = Float.NaN;
            assertEquals(Status.NUMERIC, assertThrows(SurgeonException.class, () -> m.setLinear(0, "wq", nan, 64, 64)).status());
            assertArrayEquals(wq, m.getLinear(0, "wq"));
        }
    }

    /**
     * Model-level structured pruning (experimental C API): with uniform per-block ratios each
     * block keeps exactly the neurons the layer API selects from the same scores (L2, or an
     * untrained PruneNet policy's keep-probabilities), sliced from the original weights; kv
     * groups leave the config with fewer heads; refused options leave the model unchanged.
     */
    @Test
    void pruneStructuredKeepsTheNeuronsTheLayerApiSelects() throws IOException {
        try (Model original = Model.load(null, data().resolve("stories260K.bin"));
             PruneNet policy = new PruneNet(original.config().dim(), 4, 7);
             StructuredOptions l2 = new StructuredOptions().ratio(0.25).method(Ffn.Method.L2);
             StructuredOptions learned = new StructuredOptions().ratio(0.25).method(Ffn.Method.PRUNENET).policy(policy)) {
            Model.Config c = original.config();
            Map<StructuredOptions, Function<Ffn, float[]>> cases =
                    Map.of(l2, block -> block.scores(Ffn.Method.L2, 0), learned, policy::scores);
            for (Map.Entry<StructuredOptions, Function<Ffn, float[]>> e : cases.entrySet()) {
                try (Model m = original.copy()) {
                    assertEquals(0.25, e.getKey().ratio());
                    Map<String, Object> report = MiniJson.object(m.pruneStructured(null, e.getKey()));
                    assertEquals(report, MiniJson.object(m.report()));
                    assertEquals(c.hiddenDim() - Math.round(0.25 * c.hiddenDim()), m.config().hiddenDim());
                    assertTrue(m.config().parameters() < c.parameters());
                    for (long b = 0; b < c.layers(); ++b) {
                        Ffn block = new Ffn(original.getLinear(b, "w1"), original.getLinear(b, "w3"), original.getLinear(b, "w2"),
                                            c.hiddenDim(), c.dim());
                        Ffn want = block.slice(Ffn.select(e.getValue().apply(block), 0.25));
                        assertArrayEquals(want.gate(), m.getLinear(b, "w1"), "block " + b);
                        assertArrayEquals(want.up(), m.getLinear(b, "w3"), "block " + b);
                        assertArrayEquals(want.down(), m.getLinear(b, "w2"), "block " + b);
                    }
                    assertTrue(Double.isFinite(m.perplexityOfText(null, text(), Model.EvalMode.PARAGRAPHS, 0, 5, 0).ppl()));
                }
            }
        }
    }

    @Test
    void pruneStructuredRemovesKvGroups() throws IOException {
        try (Model m = Model.load(null, data().resolve("stories260K.bin"));
             StructuredOptions opts = new StructuredOptions().ratio(0.1).method(Ffn.Method.L2).headRatio(0.5)) {
            Model.Config c = m.config();
            assertEquals(0.5, opts.headRatio());
            float[] wq = m.getLinear(0, "wq");
            expect(Status.INVALID_ARGUMENT, "surgeon_structured_options_set_ratio", () -> opts.ratio(1.0));
            expect(Status.INVALID_ARGUMENT, "surgeon_structured_options_set_head_ratio", () -> opts.headRatio(-0.5));
            assertEquals(0.1, opts.ratio(), "a refused setting leaves the options unchanged");
            m.pruneStructured(null, opts);
            Model.Config p = m.config();
            assertEquals(c.kvHeads() / 2, p.kvHeads());
            assertEquals(c.heads() / 2, p.heads());
            assertEquals(c.dim(), p.dim());
            assertEquals(p.heads() * p.headDim(), m.linearShape(0, "wq")[0]);
            assertTrue(wq.length > m.getLinear(0, "wq").length);
            assertTrue(Double.isFinite(m.perplexityOfText(null, text(), Model.EvalMode.PARAGRAPHS, 0, 5, 0).ppl()));
        }
    }
}
