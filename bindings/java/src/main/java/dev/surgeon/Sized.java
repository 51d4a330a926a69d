package dev.surgeon;

import java.nio.charset.StandardCharsets;

/**
 * Variable-length outputs, C's (buf, cap, needed) convention: a first call with no buffer
 * asks for the size (*needed: bytes with the NUL for text, elements for arrays), a second
 * one fills a buffer of that size.
 */
final class Sized {
    private Sized() {}

    /** A C call writing up to cap elements into buf (null: a size query) and the full size into needed[0]. */
    interface Call<T> {
        void run(T buf, long cap, long[] needed);
    }

    /** UTF-8 text, up to its terminating NUL. */
    static String text(Call<byte[]> call) {
        long[] needed = new long[1];
        call.run(null, 0, needed);
        byte[] buf = new byte[Math.toIntExact(needed[0])];
        call.run(buf, buf.length, needed);
        return new String(buf, 0, Math.max(0, Math.toIntExact(needed[0]) - 1), StandardCharsets.UTF_8);
    }

    /** int32 values. */
    static int[] ints(Call<int[]> call) {
        long[] needed = new long[1];
        call.run(null, 0, needed);
        int[] buf = new int[Math.toIntExact(needed[0])];
        call.run(buf, buf.length, needed);
        return buf;
    }
}
