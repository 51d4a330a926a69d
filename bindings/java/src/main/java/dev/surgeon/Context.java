package dev.surgeon;

import dev.surgeon.jni.CallbackListener;
import dev.surgeon.jni.surgeon;
import java.util.function.BiConsumer;
import java.util.function.ObjDoubleConsumer;

/**
 * Settings for the calls made with the handles created from it: threads, progress and log
 * callbacks. They are fixed when the context is built (the library reads them from every
 * handle made from the context, so changing them later would race).
 *
 * <p>{@link #defaults()} (or passing null) means all hardware threads and no callbacks, and
 * allocates nothing. A context may be closed while handles made from it live: they keep its
 * settings, and the callbacks are released after the last such handle.
 *
 * <p>JNI forbids calling Java while an array is pinned, so a solver made with callbacks
 * copies float[] weights through a direct buffer (direct buffers stay zero copy).
 */
public final class Context extends NativeHandle {
    private static final Context DEFAULTS = new Context();

    private final boolean isDefault;
    private final Listeners listeners;

    private Context() { // the defaults: no C handle
        super();
        isDefault = true;
        listeners = null;
    }

    private Context(long address, Listeners listeners) {
        super(address, surgeon::surgeon_context_free, listeners);
        this.isDefault = false;
        this.listeners = listeners;
    }

    public static Context defaults() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Threads the library uses for calls with this context. */
    public int threads() {
        int[] out = new int[1];
        alive(() -> surgeon.surgeon_context_get_threads(raw(this), out), this);
        return out[0];
    }

    /** The C handle for a call: 0 (NULL) for null or the defaults. */
    static long raw(Context ctx) {
        return ctx == null || ctx.isDefault ? 0 : ctx.address();
    }

    /** What a handle made from ctx keeps alive: the callbacks. */
    static Object keepAlive(Context ctx) {
        return ctx == null ? null : ctx.listeners;
    }

    static boolean hasCallbacks(Context ctx) {
        return ctx != null && ctx.listeners != null;
    }

    /** Severity of a log message. */
    public enum LogLevel { DEBUG, INFO, WARNING }

    /** Builds a Context: {@code Context.builder().threads(2).onProgress((stage, f) -> ...).build()}. */
    public static final class Builder {
        private int threads;
        private ObjDoubleConsumer<String> progress;
        private BiConsumer<LogLevel, String> log;

        private Builder() {}

        /** Threads for the library's parallel loops and OpenBLAS; 0 = all hardware threads. */
        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /**
         * Called with a stage ("factorize", "prune", "quantize", ...) and a fraction in [0, 1]
         * on the thread that made the call; concurrently when handles made from this context
         * are used from several threads. An exception thrown here is discarded.
         */
        public Builder onProgress(ObjDoubleConsumer<String> progress) {
            this.progress = progress;
            return this;
        }

        /** Called with the library's log messages (same rules as onProgress). */
        public Builder onLog(BiConsumer<LogLevel, String> log) {
            this.log = log;
            return this;
        }

        public Context build() {
            long address = surgeon.surgeon_context_new();
            Listeners listeners = null;
            try {
                surgeon.surgeon_context_set_threads(address, threads);
                if (progress != null || log != null) {
                    listeners = new Listeners(new Dispatch(progress, log));
                    if (progress != null) surgeon.surgeon_context_set_progress(address, listeners.handle);
                    if (log != null) surgeon.surgeon_context_set_log(address, listeners.handle);
                }
            } catch (RuntimeException e) {
                surgeon.surgeon_context_free(address);
                throw e;
            }
            return new Context(address, listeners);
        }
    }

    /** The object C calls back (through a JNI global reference). */
    private record Dispatch(ObjDoubleConsumer<String> progress, BiConsumer<LogLevel, String> log)
            implements CallbackListener {
        @Override
        public void progress(String stage, double fraction) {
            if (progress != null) progress.accept(stage, fraction);
        }

        @Override
        public void log(int level, String message) {
            LogLevel[] levels = LogLevel.values();
            if (log != null) log.accept(levels[Math.max(0, Math.min(level, levels.length - 1))], message);
        }
    }

    /**
     * Owns the JNI global reference to the Dispatch. Every handle made from the context
     * holds this object; once none does, the Cleaner releases the reference. It must not be
     * reachable from the Dispatch, or the global reference would keep it alive forever.
     */
    static final class Listeners {
        final long handle;

        Listeners(Dispatch dispatch) {
            long h = surgeon.surgeon_jni_callback_new(dispatch);
            if (h == 0) throw new OutOfMemoryError("surgeon_jni_callback_new");
            handle = h;
            CLEANER.register(this, () -> surgeon.surgeon_jni_callback_free(h));
        }
    }
}
