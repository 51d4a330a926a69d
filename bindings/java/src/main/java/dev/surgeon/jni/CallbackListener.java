package dev.surgeon.jni;

/**
 * What the JNI layer calls back for surgeon_context_set_progress / _set_log (see java.i).
 * Called on the thread that made the C call; an exception thrown here is discarded.
 */
public interface CallbackListener {
    void progress(String stage, double fraction);

    void log(int level, String message);
}
