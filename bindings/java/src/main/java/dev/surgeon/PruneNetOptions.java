package dev.surgeon;

import dev.surgeon.jni.surgeon;
import dev.surgeon.jni.surgeon_prunenet_options;

/**
 * PruneNet training options (surgeon_prunenet_options), initialised to the library's
 * defaults (ratio 0.3, 150 steps, 8 samples, learning rate 0.05, 8 features, seed 1): the
 * fraction of neurons removed during training in [0, 1), steps (cycling over the blocks,
 * >= 1), selections sampled per step (>= 2), Adam step size (> 0), hidden units of the
 * policy (>= 1) and the seed (same seed, same policy). Setters return this:
 * {@code new PruneNetOptions().steps(50).seed(42)}.
 */
public final class PruneNetOptions {
    private final surgeon_prunenet_options c = new surgeon_prunenet_options();

    public PruneNetOptions() {
        surgeon.surgeon_prunenet_options_init(c, surgeon.SURGEON_PRUNENET_OPTIONS_VERSION);
        surgeon_prunenet_options struct = c;
        NativeHandle.CLEANER.register(this, struct::delete);
    }

    private PruneNetOptions set(Runnable setter) {
        setter.run();
        return this;
    }

    public PruneNetOptions ratio(double ratio) { return set(() -> c.setRatio(ratio)); }
    public PruneNetOptions steps(int steps) { return set(() -> c.setSteps(steps)); }
    public PruneNetOptions samples(int samples) { return set(() -> c.setSamples(samples)); }
    public PruneNetOptions learningRate(double rate) { return set(() -> c.setLearning_rate(rate)); }
    public PruneNetOptions features(int features) { return set(() -> c.setFeatures(features)); }
    public PruneNetOptions seed(long seed) { return set(() -> c.setSeed(seed)); }

    public double ratio() { return c.getRatio(); }
    public int steps() { return c.getSteps(); }
    public int samples() { return c.getSamples(); }
    public double learningRate() { return c.getLearning_rate(); }
    public int features() { return c.getFeatures(); }
    public long seed() { return c.getSeed(); }

    /** The C struct for a call (null options: the library's defaults). */
    static surgeon_prunenet_options toC(PruneNetOptions options) {
        return options == null ? null : options.c;
    }
}
