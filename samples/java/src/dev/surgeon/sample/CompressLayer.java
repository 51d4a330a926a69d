package dev.surgeon.sample;

import dev.surgeon.Hessian;
import dev.surgeon.Model;
import dev.surgeon.Npy;
import dev.surgeon.PruneOptions;
import dev.surgeon.PruneResult;
import dev.surgeon.QuantResult;
import dev.surgeon.Quantizer;
import dev.surgeon.Solver;
import dev.surgeon.SolverOptions;
import dev.surgeon.Surgeon;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Compresses one linear layer: streams its calibration activations (X.npy) in batches into
 * a Hessian, prunes W.npy 2:4 with SparseGPT, quantizes the result to 4 bits with GPTQ,
 * prints the relative reconstruction errors and writes the weights and codes as .npy (the
 * output folder is created when missing). Given a model (llama2.c file or Hugging Face
 * directory, with its tokenizer beside it) and a text file too, it first prints the model's
 * perplexity on the text's first 20 paragraphs.
 *
 * <pre>java -cp surgeon-0.2.0.jar:surgeon-sample.jar dev.surgeon.sample.CompressLayer FIXTURE_DIR OUT_DIR [MODEL TEXT_FILE]</pre>
 */
public final class CompressLayer {
    private static final int BATCH_ROWS = 512;

    public static void main(String[] args) throws Exception {
        if (args.length != 2 && args.length != 4) {
            System.err.println("usage: CompressLayer <fixture dir with W.npy and X.npy> <output dir> [<model> <text file>]");
            System.exit(2);
        }
        if (args.length == 4) {
            Path modelPath = Path.of(args[2]);
            try (Model model = Model.load(null, modelPath)) {
                Model.Config c = model.config();
                Model.Perplexity p = model.perplexityOfFile(null, Path.of(args[3]), Model.EvalMode.PARAGRAPHS, 0, 20, 0);
                System.out.printf("model %s (%d blocks, dim %d): perplexity %.4f over %d paragraphs, %d tokens%n",
                                  modelPath.getFileName(), c.layers(), c.dim(), p.ppl(), p.sequences(), p.tokens());
            }
        }
        Path in = Path.of(args[0]), out = Path.of(args[1]);
        Files.createDirectories(out);
        Npy.Floats w = Npy.readFloats(in.resolve("W.npy"));
        Npy.Floats x = Npy.readFloats(in.resolve("X.npy"));
        int rows = (int) w.rows(), cols = (int) w.cols();
        System.out.printf("surgeon %s: layer %d x %d, %d calibration rows%n", Surgeon.version(), rows, cols, x.rows());

        try (Hessian h = new Hessian(null, cols)) {
            // Stream the activations through one reused direct buffer (zero copy into C).
            FloatBuffer batch = ByteBuffer.allocateDirect(BATCH_ROWS * cols * Float.BYTES)
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
            for (int start = 0; start < x.rows(); start += BATCH_ROWS) {
                int n = (int) Math.min(BATCH_ROWS, x.rows() - start);
                batch.clear();
                batch.put(x.data(), start * cols, n * cols).flip();
                h.add(batch, n);
            }
            System.out.printf("Hessian from %d rows in batches of %d%n", h.samples(), BATCH_ROWS);

            // Constructors and options mirror the C API: surgeon_solver_new(&s, ctx, h, opts).
            try (SolverOptions opts = new SolverOptions().damping(0.01).blockSize(128);
                 Solver solver = new Solver(null, h, opts); Quantizer q4 = new Quantizer(4);
                 PruneOptions twoOfFour = new PruneOptions().nm(2, 4)) {
                float[] pruned = w.data().clone();
                try (PruneResult p = solver.prune(pruned, rows, twoOfFour)) {
                    System.out.printf("SparseGPT 2:4            relative reconstruction error %.6f (sparsity %.3f)%n",
                            Surgeon.reconstructionError(h, w.data(), pruned, rows), p.mask().sparsity());
                    Npy.writeBytes(out.resolve("mask_2of4.npy"), p.mask().toBytes(), rows, cols);
                }
                // GPTQ on the pruned weight, keeping its zeros: prune jointly with the quantizer.
                float[] compressed = w.data().clone();
                try (PruneResult p = solver.prune(compressed, rows, twoOfFour.quantizer(q4))) {
                    QuantResult codes = p.quantResult();
                    System.out.printf("SparseGPT 2:4 + 4-bit    relative reconstruction error %.6f (%d-bit codes, %d group)%n",
                            Surgeon.reconstructionError(h, w.data(), compressed, rows), codes.bits(), codes.groups());
                    Npy.writeFloats(out.resolve("W_sparsegpt_2of4_w4.npy"), compressed, rows, cols);
                    Npy.writeBytes(out.resolve("codes_w4.npy"), codes.codes(), rows, cols);
                    Npy.writeFloats(out.resolve("scales_w4.npy"), codes.scales(), rows, codes.groups());
                }
                float[] quantized = w.data().clone();
                solver.quantize(quantized, rows, q4).close();
                System.out.printf("GPTQ 4-bit (dense)       relative reconstruction error %.6f%n",
                        Surgeon.reconstructionError(h, w.data(), quantized, rows));
                Npy.writeFloats(out.resolve("W_sparsegpt_2of4.npy"), pruned, rows, cols);
            }
        }
        System.out.println("wrote W_sparsegpt_2of4.npy, W_sparsegpt_2of4_w4.npy, mask_2of4.npy, codes_w4.npy, scales_w4.npy to " + out);
    }
}
