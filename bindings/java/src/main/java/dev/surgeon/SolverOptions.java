package dev.surgeon;

import dev.surgeon.jni.surgeon;

/**
 * Settings of a {@link Solver} (surgeon_solver_options): the damping added to the Hessian's
 * diagonal, as a fraction of its mean (default 0.01, raised ×10 up to three times if the
 * factorization fails), and the columns per block (default 128).
 * {@code new SolverOptions().damping(0.05)}; null where a Solver takes options means the
 * defaults. The solver copies the settings: the options may change or close afterwards.
 */
public final class SolverOptions extends NativeHandle {
    public SolverOptions() {
        super(surgeon.surgeon_solver_options_new(), surgeon::surgeon_solver_options_free, null);
    }

    public SolverOptions damping(double percdamp) {
        return set(this, a -> surgeon.surgeon_solver_options_set_damping(a, percdamp));
    }

    public SolverOptions blockSize(long blockSize) {
        return set(this, a -> surgeon.surgeon_solver_options_set_block_size(a, blockSize));
    }

    public double damping() {
        return fill(new double[1], surgeon::surgeon_solver_options_get_damping)[0];
    }

    public long blockSize() {
        return fill(new long[1], surgeon::surgeon_solver_options_get_block_size)[0];
    }
}
