package dev.surgeon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Minimal .npy files: read little-endian float32 arrays, write float32 / uint8 / int32. */
public final class Npy {
    private Npy() {}

    /** A float32 array and its shape. */
    public record Floats(float[] data, long[] shape) {
        public long rows() {
            return shape.length == 0 ? 1 : shape[0];
        }

        /** Elements per row (1 for a 1-D array). */
        public long cols() {
            long c = 1;
            for (int i = 1; i < shape.length; ++i) c *= shape[i];
            return c;
        }
    }

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order':\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

    /** Reads a C-order {@code '<f4'} array; anything else is an IOException. */
    public static Floats readFloats(Path path) throws IOException {
        ByteBuffer file = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[MAGIC.length];
        if (file.remaining() < 10) throw new IOException(path + ": not a .npy file");
        file.get(magic);
        if (!Arrays.equals(magic, MAGIC)) throw new IOException(path + ": not a .npy file");
        int major = file.get();
        file.get();
        long headerLength = major == 1 ? Short.toUnsignedInt(file.getShort()) : Integer.toUnsignedLong(file.getInt());
        if (headerLength > file.remaining()) throw new IOException(path + ": truncated header");
        byte[] header = new byte[(int) headerLength];
        file.get(header);
        String text = new String(header, StandardCharsets.ISO_8859_1);
        Matcher descr = DESCR.matcher(text), fortran = FORTRAN.matcher(text), shape = SHAPE.matcher(text);
        if (!descr.find() || !fortran.find() || !shape.find()) throw new IOException(path + ": bad header " + text);
        if (!descr.group(1).equals("<f4") || fortran.group(1).equals("True")) {
            throw new IOException(path + ": need a C-order <f4 array, got " + text.trim());
        }
        long[] dims = Arrays.stream(shape.group(1).split(",")).map(String::trim).filter(s -> !s.isEmpty())
                .mapToLong(Long::parseLong).toArray();
        long count = 1;
        for (long d : dims) count = Math.multiplyExact(count, d);
        if (count > file.remaining() / Float.BYTES) throw new IOException(path + ": truncated data");
        float[] data = new float[Math.toIntExact(count)];
        file.asFloatBuffer().get(data);
        return new Floats(data, dims);
    }

    public static void writeFloats(Path path, float[] data, long... shape) throws IOException {
        ByteBuffer body = ByteBuffer.allocate(data.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        body.asFloatBuffer().put(data);
        write(path, "<f4", data.length, shape, body.array());
    }

    public static void writeBytes(Path path, byte[] data, long... shape) throws IOException {
        write(path, "|u1", data.length, shape, data);
    }

    public static void writeInts(Path path, int[] data, long... shape) throws IOException {
        ByteBuffer body = ByteBuffer.allocate(data.length * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        body.asIntBuffer().put(data);
        write(path, "<i4", data.length, shape, body.array());
    }

    private static void write(Path path, String descr, long count, long[] shape, byte[] body) throws IOException {
        long product = 1;
        StringBuilder dims = new StringBuilder();
        for (long d : shape) {
            product *= d;
            dims.append(d).append(", ");
        }
        if (product != count) throw new IllegalArgumentException(count + " elements do not fill shape " + Arrays.toString(shape));
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': ("
                + (shape.length == 1 ? dims.toString().trim() : dims.substring(0, Math.max(0, dims.length() - 2))) + "), }";
        // Header padded with spaces to a multiple of 64 bytes, ending with '\n'.
        int unpadded = MAGIC.length + 4 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        ByteBuffer out = ByteBuffer.allocate(MAGIC.length + 4 + header.length() + body.length).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length());
        out.put(header.getBytes(StandardCharsets.ISO_8859_1)).put(body);
        Files.write(path, out.array());
    }
}
