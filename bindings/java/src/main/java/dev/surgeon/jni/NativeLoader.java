package dev.surgeon.jni;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the JNI library ({@code libsurgeon_jni.so}) once, before the first native call.
 * The first of these that applies is used:
 *
 * <ol>
 *   <li>the system property {@code surgeon.jni.library}: the path of the library file;
 *   <li>a {@code libsurgeon_jni.so} in a folder of {@code java.library.path} (for instance
 *       {@code <prefix>/lib} of an installed Surgeon), loaded with
 *       {@link System#loadLibrary(String)};
 *   <li>the copy inside the surgeon jar for this platform ({@code dev/surgeon/native/<os>-<arch>/},
 *       built for {@code linux-x86_64}) with the {@code libsurgeon.so.0} it links, both
 *       extracted to a fresh temporary folder under {@code java.io.tmpdir} and deleted when
 *       the JVM exits.
 * </ol>
 *
 * <p>When none applies or loading fails, the first native call throws an
 * {@link UnsatisfiedLinkError} whose message says what was tried and names
 * {@code -Dsurgeon.jni.library}.
 */
public final class NativeLoader {
    /** The system property naming the JNI library file. */
    public static final String PROPERTY = "surgeon.jni.library";

    private static final String JNI = "surgeon_jni";
    private static final String CORE = "libsurgeon.so.0";
    private static String loadedFrom;

    private NativeLoader() {}

    /**
     * Where the library was loaded from.
     *
     * @return a path, "java.library.path", or null before the first native call
     */
    public static synchronized String loadedFrom() {
        return loadedFrom;
    }

    /** The platform folder inside the jar: "linux-x86_64", "linux-aarch64", ... */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) os = "linux";
        else if (os.startsWith("mac")) os = "macos";
        else if (os.startsWith("windows")) os = "windows";
        if (arch.equals("amd64") || arch.equals("x86-64")) arch = "x86_64";
        else if (arch.equals("arm64")) arch = "aarch64";
        return os + "-" + arch;
    }

    /** Loads the library as the class comment says (idempotent). */
    static synchronized void load() {
        if (loadedFrom != null) return;
        String property = System.getProperty(PROPERTY);
        if (property != null && !property.isEmpty()) {
            String path = new File(property).getAbsolutePath();
            try {
                System.load(path);
            } catch (UnsatisfiedLinkError e) {
                throw linkError("-D" + PROPERTY + "=" + property + " cannot be loaded: " + e.getMessage(), e);
            }
            loadedFrom = path;
            return;
        }
        String searchPath = System.getProperty("java.library.path", "");
        String fileName = System.mapLibraryName(JNI);
        for (String dir : searchPath.split(File.pathSeparator)) {
            if (!dir.isEmpty() && new File(dir, fileName).isFile()) {
                try {
                    System.loadLibrary(JNI);
                } catch (UnsatisfiedLinkError e) {
                    throw linkError(fileName + " in java.library.path cannot be loaded: " + e.getMessage()
                                    + "; pass -D" + PROPERTY + "=<path of " + fileName + "> to use another", e);
                }
                loadedFrom = "java.library.path";
                return;
            }
        }
        String folder = "/dev/surgeon/native/" + platform() + "/";
        if (NativeLoader.class.getResource(folder + fileName) == null) {
            throw linkError("no " + fileName + " in java.library.path (" + searchPath + ") and none for "
                            + platform() + " inside the surgeon jar; pass -D" + PROPERTY
                            + "=<path of " + fileName + ">", null);
        }
        try {
            Path dir = Files.createTempDirectory("surgeon-jni-");
            dir.toFile().deleteOnExit();  // deleted last: deleteOnExit runs in reverse order
            Path core = extract(folder + CORE, dir.resolve(CORE));
            Path jni = extract(folder + fileName, dir.resolve(fileName));
            // libsurgeon_jni.so finds libsurgeon.so.0 beside it (RUNPATH $ORIGIN); loading the
            // latter first makes the dependency independent of that.
            if (core != null) System.load(core.toString());
            System.load(jni.toString());
            loadedFrom = jni.toString();
        } catch (IOException | UnsatisfiedLinkError e) {
            throw linkError("cannot load the " + fileName + " bundled in the surgeon jar for " + platform() + ": " + e
                            + "; pass -D" + PROPERTY + "=<path of " + fileName + ">", e);
        }
    }

    /** Copies a resource to target (deleted at exit); null when the jar does not have it. */
    private static Path extract(String resource, Path target) throws IOException {
        try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
            if (in == null) return null;
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        target.toFile().deleteOnExit();
        return target;
    }

    private static UnsatisfiedLinkError linkError(String message, Throwable cause) {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError("Surgeon JNI library: " + message);
        if (cause != null) e.initCause(cause);
        return e;
    }
}
