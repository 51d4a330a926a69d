package dev.surgeon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Two accumulators merged through their raw states (a host's all-reduce) equal merge, bit for bit. */
class HessianRawTest {
    private final TestFixture f = TestFixture.load();

    @Test
    void sumOfRawStatesEqualsMerge() {
        int half = f.tokens / 2;
        try (Hessian a = new Hessian(null, f.cols); Hessian b = new Hessian(null, f.cols)) {
            a.add(Arrays.copyOfRange(f.x, 0, half * f.cols));
            b.add(Arrays.copyOfRange(f.x, half * f.cols, f.x.length));
            Hessian.RawState ra = a.exportRaw(), rb = b.exportRaw();
            assertEquals(f.cols * (f.cols + 1) / 2, ra.sumXX().length);
            assertEquals(3 * f.cols, ra.columnSums().length);
            assertEquals(half, ra.samples());
            // H_00 = 2/n · S_00.
            assertEquals(ra.sumXX()[0] * (float) (2.0 / half), a.matrix()[0]);

            float[] sumXX = new float[ra.sumXX().length];
            for (int i = 0; i < sumXX.length; i++) sumXX[i] = ra.sumXX()[i] + rb.sumXX()[i];
            double[] columnSums = new double[ra.columnSums().length];
            for (int i = 0; i < columnSums.length; i++) columnSums[i] = ra.columnSums()[i] + rb.columnSums()[i];
            Hessian.RawState sum = new Hessian.RawState(sumXX, columnSums, ra.samples() + rb.samples());
            try (Hessian rebuilt = Hessian.fromRaw(null, f.cols, sum)) {
                a.merge(b);
                Hessian.RawState got = rebuilt.exportRaw(), want = a.exportRaw();
                assertEquals(f.tokens, got.samples());
                assertEquals(want.samples(), got.samples());
                assertArrayEquals(want.sumXX(), got.sumXX());
                assertArrayEquals(want.columnSums(), got.columnSums());
                assertArrayEquals(a.matrix(), rebuilt.matrix());
            }

            float[] negative = sumXX.clone();
            negative[0] = -1f;
            SurgeonException e = assertThrows(SurgeonException.class,
                    () -> Hessian.fromRaw(null, f.cols, new Hessian.RawState(negative, columnSums, sum.samples())));
            assertEquals(Status.NUMERIC, e.status());
            e = assertThrows(SurgeonException.class,
                    () -> Hessian.fromRaw(null, f.cols, new Hessian.RawState(new float[1], columnSums, sum.samples())));
            assertEquals(Status.SHAPE, e.status());
        }
    }
}
