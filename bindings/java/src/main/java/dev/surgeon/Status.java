package dev.surgeon;

import dev.surgeon.jni.surgeon;

/** The C library's surgeon_status codes. */
public enum Status {
    OK(0),
    INVALID_ARGUMENT(1),
    SHAPE(2),
    NUMERIC(3),
    OUT_OF_MEMORY(4),
    IO(5),
    UNSUPPORTED(6),
    INTERNAL(7);

    private final int code;

    Status(int code) {
        this.code = code;
    }

    /** The C value. */
    public int code() {
        return code;
    }

    /** The C name ("SURGEON_ERR_SHAPE"), from surgeon_status_string. */
    public String cName() {
        return surgeon.surgeon_status_string(code);
    }

    /** The status for a C value; an unknown code (a newer library) maps to INTERNAL. */
    public static Status of(int code) {
        for (Status s : values()) {
            if (s.code == code) return s;
        }
        return INTERNAL;
    }
}
