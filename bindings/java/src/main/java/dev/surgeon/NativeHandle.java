package dev.surgeon;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import java.util.function.LongFunction;
import java.util.function.Supplier;

/**
 * The one owner of a C handle for every handle class of the binding: the handle is freed
 * exactly once, by the first of close() or the Cleaner (when the object becomes
 * unreachable). Every native call goes through {@link #call}, {@link #get}, {@link #fill}
 * or {@link #alive}, which keep the handle object (and the other objects named) reachable until
 * the C call returns, so the Cleaner cannot free a handle during a call.
 *
 * <p>close() must not run concurrently with another call on the same handle.
 */
abstract class NativeHandle implements AutoCloseable {
    static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicLong LIVE = new AtomicLong();

    private final Release release;
    private final Cleaner.Cleanable cleanable;

    /** A C call given the handle's address. */
    interface Call {
        void run(long address);
    }

    /** A C call given the handle's address and a caller-allocated output (an array). */
    interface Fill<T> {
        void run(long address, T out);
    }

    /** No C handle at all (the default context): nothing to free, never closed. */
    NativeHandle() {
        release = new Release(-1, a -> {}, null);
        cleanable = () -> {};
    }

    /** Takes ownership of address (non-zero); keepAlive stays reachable until the free. */
    NativeHandle(long address, LongConsumer free, Object keepAlive) {
        if (address == 0) {
            throw SurgeonException.of(Status.INTERNAL, getClass().getSimpleName(), "the library returned a NULL handle");
        }
        release = new Release(address, free, keepAlive);
        LIVE.incrementAndGet();
        cleanable = CLEANER.register(this, release);
    }

    /** The C handle; IllegalStateException after close(). */
    final long address() {
        long a = release.address;
        if (a == 0) throw new IllegalStateException(getClass().getSimpleName() + " is closed");
        return a;
    }

    /** The C handle of a nullable argument: 0 (NULL) for null. */
    static long addressOf(NativeHandle handle) {
        return handle == null ? 0 : handle.address();
    }

    /** Runs a C call on this handle; the handle stays reachable until it returns. */
    final void call(Call call) {
        get(a -> {
            call.run(a);
            return null;
        });
    }

    /** Runs calls on this handle that compute a value (given the address), kept reachable meanwhile. */
    final <T> T get(LongFunction<T> calls) {
        try {
            return calls.apply(address());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Runs a C call that writes into out (a new array) and returns out. */
    final <T> T fill(T out, Fill<T> call) {
        call(a -> call.run(a, out));
        return out;
    }

    /** Runs call; every object of alive (handles lent to it) stays reachable until it returns. */
    static <T> T alive(Supplier<T> call, Object... alive) {
        try {
            return call.get();
        } finally {
            Reference.reachabilityFence(alive);
        }
    }

    /** Runs a setter on handle and returns handle (the fluent setters of options objects). */
    static <H extends NativeHandle> H set(H handle, Call setter) {
        handle.call(setter);
        return handle;
    }

    /**
     * Makes a handle object and runs its setup; a failing setup closes the new handle.
     * For classes whose C object is configured by setters after it is created.
     */
    static <H extends NativeHandle> H setUp(H handle, Call setup) {
        try {
            handle.call(setup);
        } catch (RuntimeException e) {
            handle.close();
            throw e;
        }
        return handle;
    }

    /** Frees the C handle now; later calls are no-ops. */
    @Override
    public final void close() {
        cleanable.clean();
    }

    public final boolean isClosed() {
        return release.address == 0;
    }

    /** Handles not freed yet, over all types (for the tests). */
    static long liveHandles() {
        return LIVE.get();
    }

    /** The Cleaner action: must not refer to the handle object, or it would never be collected. */
    private static final class Release implements Runnable {
        private volatile long address;
        private final LongConsumer free;
        @SuppressWarnings("unused") // held for its reachability: a context's callbacks
        private Object keepAlive;

        Release(long address, LongConsumer free, Object keepAlive) {
            this.address = address;
            this.free = free;
            this.keepAlive = keepAlive;
        }

        @Override
        public void run() { // the Cleaner guarantees a single run
            long a = address;
            address = 0;
            free.accept(a);
            keepAlive = null; // a closed handle no longer holds the callbacks
            LIVE.decrementAndGet();
        }
    }
}
