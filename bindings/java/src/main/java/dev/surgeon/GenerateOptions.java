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
    public GenerateOptions() {
        super(surgeon.surgeon_generate_options_new(), surgeon::surgeon_generate_options_free, null);
    }

    public GenerateOptions steps(long steps) {
        return set(this, a -> surgeon.surgeon_generate_options_set_steps(a, steps));
    }

    public GenerateOptions temperature(double temperature) {
        return set(this, a -> surgeon.surgeon_generate_options_set_temperature(a, temperature));
    }

    /** A 64-bit pattern: negative longs are seeds above 2^63. */
    public GenerateOptions seed(long seed) {
        return set(this, a -> surgeon.surgeon_generate_options_set_seed(a, seed));
    }

    public long steps() {
        return fill(new long[1], surgeon::surgeon_generate_options_get_steps)[0];
    }

    public double temperature() {
        return fill(new double[1], surgeon::surgeon_generate_options_get_temperature)[0];
    }

    public long seed() {
        return fill(new long[1], surgeon::surgeon_generate_options_get_seed)[0];
    }
}
