package dev.surgeon;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;

/**
 * Direct copies of arrays for calls that may call back into Java (a context with
 * callbacks, or a solver made from one): JNI forbids calling Java while an array is
 * pinned, so such calls get direct buffers instead (see Solver for the weights).
 */
final class OffHeap {
    private OffHeap() {}

    private static ByteBuffer bytes(long count, int size) {
        return ByteBuffer.allocateDirect(Math.toIntExact(Math.multiplyExact(count, size))).order(ByteOrder.nativeOrder());
    }

    /** An input array as it is, or as a direct copy when callbacks may run; null stays null. */
    static Object input(boolean callbacks, Object array) {
        if (!callbacks || array == null) return array;
        if (array instanceof float[] a) return bytes(a.length, Float.BYTES).asFloatBuffer().put(0, a);
        if (array instanceof int[] a) return bytes(a.length, Integer.BYTES).asIntBuffer().put(0, a);
        if (array instanceof long[] a) return bytes(a.length, Long.BYTES).asLongBuffer().put(0, a);
        if (array instanceof double[] a) return bytes(a.length, Double.BYTES).asDoubleBuffer().put(0, a);
        throw new IllegalArgumentException("no direct copy for " + array.getClass());
    }

    /** Where C writes `out`: the array itself, or a direct buffer copied back by {@link #copyBack}. */
    static Object output(boolean callbacks, double[] out) {
        return callbacks ? bytes(out.length, Double.BYTES).asDoubleBuffer() : out;
    }

    /** Copies what C wrote into a buffer from {@link #output} back into the array. */
    static void copyBack(Object written, double[] out) {
        if (written instanceof DoubleBuffer b) b.get(0, out);
    }
}
