package dev.surgeon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.function.Executable;

/** The stories260K block-2 wq fixture (W, H, X) and the reference implementation's errors. */
final class TestFixture {
    static final String NAME = "stories260K_block2_wq";

    final float[] w, h, x;
    final int rows, cols, tokens;
    final String referenceJson;

    private TestFixture(Path dir) throws IOException {
        Npy.Floats wn = Npy.readFloats(dir.resolve("W.npy"));
        Npy.Floats hn = Npy.readFloats(dir.resolve("H.npy"));
        Npy.Floats xn = Npy.readFloats(dir.resolve("X.npy"));
        w = wn.data();
        h = hn.data();
        x = xn.data();
        rows = (int) wn.rows();
        cols = (int) wn.cols();
        tokens = (int) xn.rows();
        assertEquals(cols, hn.rows());
        assertEquals(cols, xn.cols());
        referenceJson = Files.readString(dir.resolve("reference.json"));
    }

    private static TestFixture cached;

    static synchronized TestFixture load() {
        if (cached == null) {
            try {
                cached = new TestFixture(fixturesDir().resolve(NAME));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return cached;
    }

    static Path fixturesDir() {
        return Path.of(System.getProperty("surgeon.fixtures", "tests/fixtures"));
    }

    /** configs.<config>.rel_recon_error: the first such key after the config's name. */
    double referenceError(String config) {
        int at = referenceJson.indexOf("\"" + config + "\"");
        assertTrue(at >= 0, "no config " + config);
        Matcher m = Pattern.compile("\"rel_recon_error\"\\s*:\\s*([-+0-9.eE]+)").matcher(referenceJson);
        assertTrue(m.find(at));
        return Double.parseDouble(m.group(1));
    }

    /** tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) in double, independent of the library's metric. */
    double independentError(float[] wHat) {
        double num = 0, den = 0;
        double[] d = new double[cols], v = new double[cols];
        for (int r = 0; r < rows; ++r) {
            for (int j = 0; j < cols; ++j) {
                d[j] = w[r * cols + j] - wHat[r * cols + j];
                v[j] = w[r * cols + j];
            }
            for (int i = 0; i < cols; ++i) {
                double hd = 0, hv = 0;
                for (int j = 0; j < cols; ++j) {
                    hd += h[i * cols + j] * d[j];
                    hv += h[i * cols + j] * v[j];
                }
                num += d[i] * hd;
                den += v[i] * hv;
            }
        }
        return num / den;
    }

    /** The library's error: equal to the independent one and within 1% of the reference. */
    double expectWithinReference(Hessian hessian, float[] wHat, String config) {
        double err = Surgeon.reconstructionError(hessian, w, wHat, rows);
        double independent = independentError(wHat);
        assertTrue(Math.abs(err - independent) <= 1e-4 * independent, "metric " + err + " vs " + independent);
        double reference = referenceError(config);
        System.out.printf("  %-22s ours %.6e  reference %.6e  ratio %.4f%n", config, err, reference, err / reference);
        assertTrue(err <= 1.01 * reference, config + ": " + err + " > 1.01 x " + reference);
        return err;
    }

    /** A call that must fail with status, its message starting with "function: ". */
    static SurgeonException expect(Status status, String function, Executable call) {
        SurgeonException e = assertThrows(SurgeonException.class, call, function + " should fail");
        assertEquals(status, e.status(), e.toString());
        assertTrue(e.getMessage().startsWith(function + ": "), "message " + e.getMessage());
        return e;
    }

    /** max |a − b| / max |b|. */
    static double relMaxDiff(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double scale = 0, diff = 0;
        for (int i = 0; i < a.length; ++i) {
            scale = Math.max(scale, Math.abs(b[i]));
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
        }
        return diff / scale;
    }
}
