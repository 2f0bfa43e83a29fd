package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

class FiniteTest {
    @TempDir
    Path dir;

    @Test
    void finiteBatchPasses() {
        Finite.check("x", new FloatBatch(0, 2, new long[] {2, 2}, new float[] {1, -0f, Float.MAX_VALUE, 1e-45f}));
    }

    @Test
    void firstNonFiniteIsNamedBySampleAndElement() {
        float[] v = new float[2 * 3 * 4];
        v[1 * 12 + 2 * 4 + 1] = Float.NaN;
        v[1 * 12 + 3 * 4 - 1] = Float.POSITIVE_INFINITY;
        DataException e = Checks.fails(ErrorCode.DATA_NOT_FINITE,
                () -> Finite.check("calib.npy", new FloatBatch(100, 2, new long[] {2, 3, 4}, v)));
        assertEquals("calib.npy: sample 101, element 9 [2, 1] is NaN; expected finite values (replace"
                + " or drop such samples, e.g. np.nan_to_num)", e.getMessage());
        float[] w = {1, 2, Float.NEGATIVE_INFINITY};
        Checks.fails(ErrorCode.DATA_NOT_FINITE,
                () -> Finite.check("y.npy", new FloatBatch(7, 3, new long[] {3}, w)), "sample 9, element 0 is -Inf");
    }

    @Test
    void nanInAFileIsFoundInItsBatch() throws IOException {
        long[] shape = {10, 5};
        Path p = Npy.write(dir.resolve("nan.npy"), Npy.npy("<f8", true, shape,
                Npy.data("<f8", true, shape, idx -> idx[0] == 7 && idx[1] == 3 ? Double.NaN : idx[1])));
        try (NpyArray a = NpyArray.open(p)) {
            int checked = 0;
            for (FloatBatch b : a.batches(4)) {
                if (b.firstSample() < 4) {
                    Finite.check(a.source(), b);
                    checked++;
                } else if (b.firstSample() == 4) {
                    Checks.fails(ErrorCode.DATA_NOT_FINITE, () -> Finite.check(a.source(), b),
                            "nan.npy: sample 7, element 3 is NaN");
                    checked++;
                }
            }
            assertEquals(2, checked);
        }
    }

    @Test
    void batchValidatesItsShape() {
        assertThrows(IllegalArgumentException.class, () -> new FloatBatch(0, 2, new long[] {2, 3}, new float[5]));
        assertThrows(IllegalArgumentException.class, () -> new FloatBatch(0, 2, new long[] {3, 2}, new float[6]));
    }
}
