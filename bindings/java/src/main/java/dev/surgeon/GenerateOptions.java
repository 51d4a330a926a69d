package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * Settings of {@link Model#generate} (surgeon_generate_options): the positions to run,
 * prompt included (default 256), the temperature (default 0: greedy) and the sampler's seed
 * (default 42), the defaults of {@code surgeon generate}.
 * {@code new GenerateOptions().steps(40).temperature(0.8).seed(7)}; null where generate
 * takes options means the defaults. Refused values (steps &lt; 1, negative or non-finite
 * temperature) throw Status.INVALID_ARGUMENT and leave the options unchanged.
 */
public final class GenerateOptions extends NativeHandle {
    /** The defaults: 256 steps, temperature 0 (greedy), seed 42. */
    public GenerateOptions() {
        super(surgeon.surgeon_generate_options_new(), surgeon::surgeon_generate_options_free, null);
    }

    /**
     * Sets the positions to run.
     *
     * @param steps positions, prompt included, at least 1 (at most the model's context)
     * @return these options
     */
    public GenerateOptions steps(long steps) {
        return set(this, a -> surgeon.surgeon_generate_options_set_steps(a, steps));
    }

    /**
     * Sets the sampling temperature.
     *
     * @param temperature finite, at least 0; 0: greedy (argmax), above: nucleus top-p 0.9
     * @return these options
     */
    public GenerateOptions temperature(double temperature) {
        return set(this, a -> surgeon.surgeon_generate_options_set_temperature(a, temperature));
    }

    /**
     * Sets the sampler's seed (unused when greedy).
     *
     * @param seed a 64-bit pattern: negative longs are seeds above 2^63
     * @return these options
     */
    public GenerateOptions seed(long seed) {
        return set(this, a -> surgeon.surgeon_generate_options_set_seed(a, seed));
    }

    /**
     * The positions set.
     *
     * @return steps
     */
    public long steps() {
        return fill(new long[1], surgeon::surgeon_generate_options_get_steps)[0];
    }

    /**
     * The temperature set.
     *
     * @return temperature
     */
    public double temperature() {
        return fill(new double[1], surgeon::surgeon_generate_options_get_temperature)[0];
    }

    /**
     * The seed set.
     *
     * @return seed, a 64-bit pattern
     */
    public long seed() {
        return fill(new long[1], surgeon::surgeon_generate_options_get_seed)[0];
    }
}
