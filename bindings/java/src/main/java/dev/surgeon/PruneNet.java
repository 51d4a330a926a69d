package dev.surgeon;

import dev.surgeon.jni.surgeon;
import dev.surgeon.jni.surgeon_prunenet_options;
import java.lang.ref.Reference;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * A PruneNet policy (arXiv 2501.15296): scores FFN neurons from their weights alone, for
 * one hidden size {@link #dim()}. Trained with REINFORCE on the spectral KS reward, saved as
 * a JSON file, reusable at any pruning ratio. Read-only once made: scores, select and save
 * may run from several threads.
 *
 * <pre>{@code
 * try (PruneNet policy = PruneNet.train(null, blocks, PruneNet.Options.defaults().withSteps(50))) {
 *     long[] keep = policy.select(block, 0.3);
 *     Ffn smaller = block.slice(keep);
 * }
 * }</pre>
 */
public final class PruneNet extends NativeHandle {
    /**
     * Training options: the fraction of neurons removed during training in [0, 1), steps
     * (cycling over the blocks, >= 1), selections sampled per step (>= 2), Adam step size
     * (> 0), hidden units of the policy (>= 1) and the seed (same seed, same policy).
     */
    public record Options(double ratio, int steps, int samples, double learningRate, int features, long seed) {
        /** The library's defaults: ratio 0.3, 150 steps, 8 samples, learning rate 0.05, 8 features, seed 1. */
        public static Options defaults() {
            surgeon_prunenet_options o = new surgeon_prunenet_options();
            try {
                surgeon.surgeon_prunenet_options_default(o);
                return new Options(o.getRatio(), o.getSteps(), o.getSamples(), o.getLearning_rate(), o.getFeatures(), o.getSeed());
            } finally {
                o.delete();
            }
        }

        public Options withRatio(double ratio) {
            return new Options(ratio, steps, samples, learningRate, features, seed);
        }

        public Options withSteps(int steps) {
            return new Options(ratio, steps, samples, learningRate, features, seed);
        }

        public Options withSamples(int samples) {
            return new Options(ratio, steps, samples, learningRate, features, seed);
        }

        public Options withLearningRate(double learningRate) {
            return new Options(ratio, steps, samples, learningRate, features, seed);
        }

        public Options withFeatures(int features) {
            return new Options(ratio, steps, samples, learningRate, features, seed);
        }

        public Options withSeed(long seed) {
            return new Options(ratio, steps, samples, learningRate, features, seed);
        }

        /** A C copy (the caller deletes it); null for null options (the library's defaults). */
        static surgeon_prunenet_options toC(Options options) {
            if (options == null) return null;
            surgeon_prunenet_options o = new surgeon_prunenet_options();
            o.setRatio(options.ratio);
            o.setSteps(options.steps);
            o.setSamples(options.samples);
            o.setLearning_rate(options.learningRate);
            o.setFeatures(options.features);
            o.setSeed(options.seed);
            return o;
        }
    }

    private final long dim;

    private PruneNet(long address) {
        super(address, surgeon::surgeon_prunenet_free, null);
        long[] out = new long[1];
        try {
            surgeon.surgeon_prunenet_dim(address, out);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        dim = out[0];
    }

    /** An untrained (randomly initialised) policy for hidden size dim. */
    public static PruneNet create(long dim, int features, long seed) {
        return new PruneNet(surgeon.surgeon_prunenet_new(dim, features, seed));
    }

    /** Trains on every block of the model at path (llama2.c .bin or Hugging Face directory); options null = defaults. */
    public static PruneNet trainModel(Context ctx, Path model, Options options) {
        String p = Hessian.cPath("surgeon_prunenet_train_model", model);
        surgeon_prunenet_options o = Options.toC(options);
        try {
            return new PruneNet(surgeon.surgeon_prunenet_train_model(Context.raw(ctx), p, o));
        } finally {
            if (o != null) o.delete();
            Reference.reachabilityFence(ctx);
        }
    }

    /**
     * Trains on caller FFN blocks, all of one dim (each with its own hidden size); the
     * matrices are copied into C memory for the call. options null = defaults.
     */
    public static PruneNet train(Context ctx, List<Ffn> blocks, Options options) {
        final String f = "surgeon_prunenet_train_ffn";
        Checks.notNull(f, "blocks", blocks);
        if (blocks.isEmpty()) throw SurgeonException.of(Status.INVALID_ARGUMENT, f, "no blocks");
        int n = blocks.size();
        long dim = 0;
        float[][] gates = new float[n][], ups = new float[n][], downs = new float[n][];
        long[] hidden = new long[n];
        for (int b = 0; b < n; ++b) {
            Ffn block = blocks.get(b);
            Checks.notNull(f, "blocks[" + b + "]", block);
            if (b == 0) dim = block.dim();
            if (block.dim() != dim) {
                throw SurgeonException.of(Status.SHAPE, f, "block " + b + " has dim " + block.dim() + ", block 0 has " + dim);
            }
            block.check(f, false);
            gates[b] = block.gate();
            ups[b] = block.up();
            downs[b] = block.down();
            hidden[b] = block.hidden();
        }
        surgeon_prunenet_options o = Options.toC(options);
        try {
            // The blocks are copied by the JNI layer; hidden is pinned unless callbacks may run.
            return new PruneNet(surgeon.surgeon_prunenet_train_ffn(Context.raw(ctx), dim, n, gates, ups, downs,
                                                                   OffHeap.input(Context.hasCallbacks(ctx), hidden), o));
        } finally {
            if (o != null) o.delete();
            Reference.reachabilityFence(ctx);
        }
    }

    /** Reads a policy file written by {@link #save}; missing or corrupt: Status.IO. */
    public static PruneNet load(Path path) {
        return new PruneNet(surgeon.surgeon_prunenet_load(Hessian.cPath("surgeon_prunenet_load", path)));
    }

    /** The hidden size the policy applies to. */
    public long dim() {
        return dim;
    }

    /** Writes the policy file (JSON). */
    public void save(Path path) {
        String p = Hessian.cPath("surgeon_prunenet_save", path);
        try {
            surgeon.surgeon_prunenet_save(address(), p);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The keep-probability of each of the block's neurons (block.dim() = dim()). */
    public float[] scores(Ffn block) {
        final String f = "surgeon_prunenet_scores";
        Checks.notNull(f, "block", block);
        block.check(f, false);
        float[] out = new float[Math.toIntExact(block.hidden())];
        try {
            surgeon.surgeon_prunenet_scores(address(), block.gate(), block.up(), block.down(), block.hidden(), block.dim(), out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return out;
    }

    /** The neurons kept at ratio, ascending: {@link Ffn#select} on {@link #scores}, at any ratio. */
    public long[] select(Ffn block, double ratio) {
        final String f = "surgeon_prunenet_select";
        Checks.notNull(f, "block", block);
        block.check(f, false);
        long[] keep = new long[Math.toIntExact(block.hidden())];
        long[] count = new long[1];
        try {
            surgeon.surgeon_prunenet_select(address(), block.gate(), block.up(), block.down(), block.hidden(), block.dim(), ratio,
                                            keep, count);
        } finally {
            Reference.reachabilityFence(this);
        }
        return Arrays.copyOf(keep, Math.toIntExact(count[0]));
    }
}
