package org.onnxfuse.fusion.testing;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxfuse.fusion.data.NpyArray;

/**
 * Data for the masked attention fixtures (test-models/models/mha/key_padding_mask_op17.onnx and
 * int64_*_op17.onnx), which read an image's 28 rows as tokens: MNIST test images as {@code input}
 * [n, 1, 28, 28] and a mask [n, 28] of their padded rows, one {@code .npz} of the two inputs. Sample i
 * has its last (i + shift) mod 10 rows padded, none when {@code padded} is false.
 */
public final class PaddedRows {
    public static final int ROWS = 28;

    private PaddedRows() {
    }

    /** torch's key_padding_mask: {@code maskName} as bool, true = a padded row. */
    public static Path boolMask(Path file, String maskName, int first, int n, int shift, boolean padded) {
        long[] shape = {n, ROWS};
        byte[] mask = Npy.data("|b1", false, shape, idx -> isPadded(idx[0], idx[1], shift, padded) ? 1 : 0);
        return write(file, first, n, maskName, Npy.npy("|b1", false, shape, mask));
    }

    /** HuggingFace's attention_mask: {@code maskName} as int64, 1 = a row to keep, 0 = a padded one. */
    public static Path int64Mask(Path file, String maskName, int first, int n, int shift, boolean padded) {
        long[] mask = new long[n * ROWS];
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < ROWS; t++) {
                mask[i * ROWS + t] = isPadded(i, t, shift, padded) ? 0 : 1;
            }
        }
        return write(file, first, n, maskName, Npy.longs(new long[] {n, ROWS}, mask));
    }

    private static boolean isPadded(long sample, long row, int shift, boolean padded) {
        return padded && row >= ROWS - (sample + shift) % 10;
    }

    private static Path write(Path file, int first, int n, String maskName, byte[] mask) {
        float[] x;
        try (NpyArray images = NpyArray.open(Fixtures.data("test_x.npy"))) {
            x = images.readFloats(first, n);
        }
        Map<String, byte[]> arrays = new LinkedHashMap<>();
        arrays.put("input", Npy.floats(new long[] {n, 1, ROWS, ROWS}, x));
        arrays.put(maskName, mask);
        return Npz.write(file, arrays);
    }
}
