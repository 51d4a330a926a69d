package dev.surgeon;

import java.nio.Buffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;

/** Argument checks done in Java before a C call, worded like the library's messages. */
final class Checks {
    private Checks() {}

    static long positive(String function, String name, long value) {
        if (value < 1) throw SurgeonException.of(Status.INVALID_ARGUMENT, function, name + " = " + value + " must be >= 1");
        return value;
    }

    static long nonNegative(String function, String name, long value) {
        if (value < 0) throw SurgeonException.of(Status.INVALID_ARGUMENT, function, name + " = " + value + " must be >= 0");
        return value;
    }

    /** rows × cols elements, without overflow. */
    static long elements(String function, long rows, long cols) {
        nonNegative(function, "rows", rows);
        try {
            return Math.multiplyExact(rows, cols);
        } catch (ArithmeticException e) {
            throw SurgeonException.of(Status.SHAPE, function, rows + " x " + cols + " elements overflow");
        }
    }

    /** A buffer of `length` elements must hold at least `needed`. */
    static void holds(String function, String name, long length, long needed) {
        if (length < needed) {
            throw SurgeonException.of(Status.SHAPE, function, name + " has " + length + " elements, needs " + needed);
        }
    }

    /**
     * An array of exactly rows × cols elements (rows, cols >= 0); returns the array.
     * Worded "w has 12 elements, not rows x cols = 3 x 5".
     */
    static <T> T matrix(String function, String name, T array, long rows, long cols) {
        notNull(function, name, array);
        nonNegative(function, "cols", cols);
        long needed = elements(function, rows, cols);
        int length = java.lang.reflect.Array.getLength(array);
        if (length != needed) {
            throw SurgeonException.of(Status.SHAPE, function, name + " has " + length + " elements, not rows x cols = "
                    + rows + " x " + cols);
        }
        return array;
    }

    /** length must be a whole number of rows of `cols`: the row count. */
    static long rowsOf(String function, String name, long length, long cols) {
        if (cols <= 0 || length % cols != 0) {
            throw SurgeonException.of(Status.SHAPE, function, name + " has " + length + " elements, not a multiple of cols = " + cols);
        }
        return length / cols;
    }

    static Object notNull(String function, String name, Object value) {
        if (value == null) throw SurgeonException.of(Status.INVALID_ARGUMENT, function, name + " is null");
        return value;
    }

    /**
     * A direct buffer in native byte order, passed from its position: the JNI layer takes the
     * buffer's address, so a buffer with a position is passed as a slice. Checks that it has
     * `needed` elements remaining, and that it is writable when C writes into it.
     */
    static Buffer direct(String function, String name, Buffer buffer, long needed, boolean written) {
        notNull(function, name, buffer);
        if (!buffer.isDirect()) {
            throw SurgeonException.of(Status.INVALID_ARGUMENT, function, name + " is not a direct buffer (use an array or ByteBuffer.allocateDirect)");
        }
        if (order(buffer) != ByteOrder.nativeOrder()) {
            throw SurgeonException.of(Status.INVALID_ARGUMENT, function, name + " is not in native byte order");
        }
        if (written && buffer.isReadOnly()) {
            throw SurgeonException.of(Status.INVALID_ARGUMENT, function, name + " is read-only");
        }
        holds(function, name, buffer.remaining(), needed);
        return buffer.position() == 0 ? buffer : buffer.slice();
    }

    private static ByteOrder order(Buffer buffer) {
        if (buffer instanceof FloatBuffer f) return f.order();
        if (buffer instanceof ShortBuffer s) return s.order();
        if (buffer instanceof IntBuffer i) return i.order();
        return ByteOrder.nativeOrder(); // bytes have no order
    }
}
