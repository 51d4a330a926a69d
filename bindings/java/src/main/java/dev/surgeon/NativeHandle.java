package dev.surgeon;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * Owns one C handle: freed exactly once, by the first of close() or the Cleaner (when the
 * object becomes unreachable). Subclasses end every native call with
 * Reference.reachabilityFence(this), so the Cleaner cannot free the handle during a call.
 *
 * <p>close() must not run concurrently with another call on the same handle.
 */
abstract class NativeHandle implements AutoCloseable {
    static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicLong LIVE = new AtomicLong();

    private final Release release;
    private final Cleaner.Cleanable cleanable;

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
