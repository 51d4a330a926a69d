package dev.surgeon;

import java.nio.charset.StandardCharsets;

/**
 * A failing Surgeon call: the C status and the library's message, which starts with the C
 * function's name ("surgeon_hessian_add_f32: x has NaN at row 1, column 5"). Checks done in
 * Java before calling C (buffer lengths) produce the same kind of message and status.
 *
 * <p>Unchecked: every call can fail only on bad input or a library bug, which callers
 * rarely handle locally. On failure, caller buffers and handles are left unchanged.
 */
public final class SurgeonException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final Status status;

    /** Called by the JNI layer with the UTF-8 bytes of surgeon_last_error(). */
    SurgeonException(int status, byte[] message) {
        this(Status.of(status), new String(message, StandardCharsets.UTF_8));
    }

    public SurgeonException(Status status, String message) {
        super(message);
        this.status = status;
    }

    /** A failure found in Java, worded like the C library's: "function: detail". */
    static SurgeonException of(Status status, String function, String detail) {
        return new SurgeonException(status, function + ": " + detail);
    }

    public Status status() {
        return status;
    }

    @Override
    public String toString() {
        return "SurgeonException: " + getMessage() + " (" + status.cName() + ")";
    }
}
