package dev.surgeon.bench;

import dev.surgeon.Context;
import dev.surgeon.Hessian;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * The Java side of the overhead benchmark (see add_overhead.c): 64 Mi floats in batches
 * through Hessian.add(float[]) and Hessian.add(FloatBuffer), best of `reps` passes.
 * usage: AddOverhead [cols=512] [batch_rows=1024] [reps=3] [threads=2]
 */
public final class AddOverhead {
    public static void main(String[] args) {
        long total = 64L << 20;
        int cols = args.length > 0 ? Integer.parseInt(args[0]) : 512;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 1024;
        int reps = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        long rows = total / cols;
        float[] array = new float[batch * cols];
        for (int i = 0; i < array.length; ++i) array[i] = (float) ((i * 7919L) % 23 - 11) / 11.0f;
        FloatBuffer direct = ByteBuffer.allocateDirect(array.length * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
        direct.put(array).flip();
        try (Context ctx = Context.builder().threads(threads).build()) {
            for (String kind : new String[] {"float[]", "FloatBuffer"}) {
                double best = Double.MAX_VALUE;
                for (int r = 0; r <= reps; ++r) { // pass 0 warms up (JIT, pages)
                    try (Hessian h = new Hessian(ctx, cols)) {
                        long t0 = System.nanoTime();
                        for (long done = 0; done < rows; done += batch) {
                            long n = Math.min(batch, rows - done);
                            if (kind.equals("float[]")) {
                                h.add(array, n);
                            } else {
                                h.add(direct, n);
                            }
                        }
                        double t = (System.nanoTime() - t0) * 1e-9;
                        if (r > 0) best = Math.min(best, t);
                    }
                }
                System.out.printf("Java %-11s %d x %d floats in batches of %d rows: %.3f s (%.2f GB/s)%n", kind, rows, cols,
                        batch, best, total * 4.0 / best / 1e9);
            }
        }
    }
}
