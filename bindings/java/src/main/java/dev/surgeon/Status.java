package dev.surgeon;

import dev.surgeon.jni.surgeon;
import java.util.List;

/**
 * A surgeon_status code of the C library: one constant per value of the header's enum
 * (OK, INVALID_ARGUMENT, ... with the C value as {@link #code()}), and an explicit
 * {@link #isKnown() unknown} status carrying the code for a value this binding does not
 * name (a newer library). Compare with equals or ==: {@link #of} returns the constants.
 */
public final class Status {
    public static final Status OK = new Status("OK", 0);
    public static final Status INVALID_ARGUMENT = new Status("INVALID_ARGUMENT", 1);
    public static final Status SHAPE = new Status("SHAPE", 2);
    public static final Status NUMERIC = new Status("NUMERIC", 3);
    public static final Status OUT_OF_MEMORY = new Status("OUT_OF_MEMORY", 4);
    public static final Status IO = new Status("IO", 5);
    public static final Status UNSUPPORTED = new Status("UNSUPPORTED", 6);
    public static final Status INTERNAL = new Status("INTERNAL", 7);
    /** A caller buffer shorter than the output (the binding sizes its buffers, so rarely seen). */
    public static final Status BUFFER_TOO_SMALL = new Status("BUFFER_TOO_SMALL", 8);

    private static final List<Status> KNOWN =
            List.of(OK, INVALID_ARGUMENT, SHAPE, NUMERIC, OUT_OF_MEMORY, IO, UNSUPPORTED, INTERNAL, BUFFER_TOO_SMALL);

    private final String name;
    private final int code;

    private Status(String name, int code) {
        this.name = name;
        this.code = code;
    }

    /** Every status the binding names, in code order (the unknown ones are not listed). */
    public static List<Status> values() {
        return KNOWN;
    }

    /** The constant for a C value, or an unknown status carrying the code. */
    public static Status of(int code) {
        for (Status s : KNOWN) {
            if (s.code == code) return s;
        }
        return new Status("UNKNOWN", code);
    }

    /** The C value. */
    public int code() {
        return code;
    }

    /** The name without the C prefix ("SHAPE"); "UNKNOWN" for a code the binding does not name. */
    public String name() {
        return name;
    }

    /** Whether the binding names this code (false: a newer library's status). */
    public boolean isKnown() {
        return KNOWN.contains(this);
    }

    /** The C name ("SURGEON_ERR_SHAPE"), from surgeon_status_string. */
    public String cName() {
        return surgeon.surgeon_status_string(code);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Status s && s.code == code;
    }

    @Override
    public int hashCode() {
        return code;
    }

    /** "SHAPE", or "UNKNOWN(42)". */
    @Override
    public String toString() {
        return isKnown() ? name : name + "(" + code + ")";
    }
}
