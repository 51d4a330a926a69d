package dev.surgeon;

import dev.surgeon.jni.NativeLoader;

/**
 * Loads the binding as a user's program does (no -Dsurgeon.jni.library) and prints the
 * library version and where the JNI library came from, or the loading error (exit 1); run
 * by the ctests java_jar_loads and java_jar_no_native.
 */
public final class LoadCheck {
    private LoadCheck() {}

    public static void main(String[] args) {
        try {
            String version = Surgeon.version();
            System.out.println("Surgeon " + version + ", JNI library " + NativeLoader.loadedFrom());
        } catch (LinkageError e) {
            System.out.println("load failed: " + e.getMessage());
            System.exit(1);
        }
    }
}
