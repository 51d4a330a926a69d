package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.nio.file.Path;
import java.util.List;

/**
 * A PruneNet policy (arXiv 2501.15296): scores FFN neurons from their weights alone, for
 * one hidden size {@link #dim()}. Trained with REINFORCE on the spectral KS reward, saved as
 * a JSON file, reusable at any pruning ratio. Read-only once made: scores and save may run
 * from several threads.
 *
 * <pre>{@code
 * try (PruneNet policy = PruneNet.train(null, blocks, new PruneNetOptions().steps(50))) {
 *     long[] keep = Ffn.select(policy.scores(block), 0.3);
 *     Ffn smaller = block.slice(keep);
 * }
 * }</pre>
 */
public final class PruneNet extends NativeHandle {
    private final long dim;

    private PruneNet(long address) {
        super(address, surgeon::surgeon_prunenet_free, null);
        dim = fill(new long[1], surgeon::surgeon_prunenet_dim)[0];
    }

    /** An untrained (randomly initialised) policy for hidden size dim. */
    public PruneNet(long dim, int features, long seed) {
        this(surgeon.surgeon_prunenet_new(dim, features, seed));
    }

    /** Trains on every block of the model at path (llama2.c .bin or Hugging Face directory); options null = defaults. */
    public static PruneNet trainModel(Context ctx, Path model, PruneNetOptions options) {
        String p = Hessian.cPath("surgeon_prunenet_train_model", model);
        return new PruneNet(alive(() -> surgeon.surgeon_prunenet_train_model(Context.raw(ctx), p, PruneNetOptions.toC(options)),
                                  ctx, options));
    }

    /**
     * Trains on caller FFN blocks, all of one dim (each with its own hidden size); the
     * matrices are copied into C memory for the call. options null = defaults.
     */
    public static PruneNet train(Context ctx, List<Ffn> blocks, PruneNetOptions options) {
        final String f = "surgeon_prunenet_train_ffn";
        Checks.notNull(f, "blocks", blocks);
        if (blocks.isEmpty()) throw SurgeonException.of(Status.INVALID_ARGUMENT, f, "no blocks");
        int n = blocks.size();
        long dim = 0;
        float[][] ffn = new float[3 * n][]; // gate, up, down of each block
        long[] hidden = new long[n];
        for (int b = 0; b < n; ++b) {
            Ffn block = blocks.get(b);
            Checks.notNull(f, "blocks[" + b + "]", block);
            if (b == 0) dim = block.dim();
            if (block.dim() != dim) {
                throw SurgeonException.of(Status.SHAPE, f, "block " + b + " has dim " + block.dim() + ", block 0 has " + dim);
            }
            block.check(f, false);
            ffn[3 * b] = block.gate();
            ffn[3 * b + 1] = block.up();
            ffn[3 * b + 2] = block.down();
            hidden[b] = block.hidden();
        }
        long d = dim;
        // The blocks are copied by the JNI layer; hidden is pinned unless callbacks may run.
        return new PruneNet(alive(() -> surgeon.surgeon_prunenet_train_ffn(Context.raw(ctx), d, n, ffn,
                                                                           OffHeap.input(Context.hasCallbacks(ctx), hidden),
                                                                           PruneNetOptions.toC(options)), ctx, options));
    }

    /** Reads a policy file written by {@link #save}; missing or corrupt: Status.IO. ctx nullable. */
    public static PruneNet load(Context ctx, Path path) {
        String p = Hessian.cPath("surgeon_prunenet_load", path);
        return new PruneNet(alive(() -> surgeon.surgeon_prunenet_load(Context.raw(ctx), p), ctx));
    }

    /** The hidden size the policy applies to. */
    public long dim() {
        return dim;
    }

    /** Writes the policy file (JSON), logged to ctx's log callback (ctx nullable). */
    public void save(Context ctx, Path path) {
        String p = Hessian.cPath("surgeon_prunenet_save", path);
        alive(() -> surgeon.surgeon_prunenet_save(Context.raw(ctx), address(), p), this, ctx);
    }

    /**
     * The keep-probability of each of the block's neurons (block.dim() = dim()); the
     * policy's selection at any ratio is {@code Ffn.select(policy.scores(block), ratio)}.
     */
    public float[] scores(Ffn block) {
        final String f = "surgeon_prunenet_scores";
        Checks.notNull(f, "block", block);
        block.check(f, false);
        return fill(new float[Math.toIntExact(block.hidden())],
                    (a, out) -> surgeon.surgeon_prunenet_scores(a, block.gate(), block.up(), block.down(), block.hidden(), block.dim(), out));
    }
}
