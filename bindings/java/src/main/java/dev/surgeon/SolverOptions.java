package dev.surgeon;

/**
 * Settings of a {@link Solver} (surgeon_solver_options): the damping added to the Hessian's
 * diagonal, as a fraction of its mean (default 0.01), and the columns per block (default
 * 128). {@code new SolverOptions().damping(0.05)}; null where a Solver takes options means
 * the defaults.
 */
public final class SolverOptions {
    private double damping = 0.01;
    private long blockSize = 128;

    public SolverOptions damping(double percdamp) {
        this.damping = percdamp;
        return this;
    }

    public SolverOptions blockSize(long blockSize) {
        this.blockSize = blockSize;
        return this;
    }

    public double damping() {
        return damping;
    }

    public long blockSize() {
        return blockSize;
    }
}
