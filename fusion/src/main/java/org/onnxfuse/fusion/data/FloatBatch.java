package org.onnxfuse.fusion.data;

import java.util.Arrays;
import java.util.Objects;

/**
 * Consecutive samples decoded to float32, row-major.
 *
 * @param firstSample index of the first sample in its array
 * @param count number of samples, {@code shape[0]}
 * @param shape {@code [count, ...sample shape]}; copied in and out
 * @param values {@code count * (product of the sample shape)} values, row-major. Not copied: the
 *     batch owns the array, and the reader never touches it again; treat it as read-only
 */
public record FloatBatch(long firstSample, int count, long[] shape, float[] values) implements InputTensor {

    public FloatBatch {
        Objects.requireNonNull(values, "values");
        shape = shape.clone();
        if (firstSample < 0 || count < 0) {
            throw new IllegalArgumentException("negative firstSample or count: " + firstSample
                    + ", " + count);
        }
        if (shape.length == 0 || shape[0] != count) {
            throw new IllegalArgumentException("shape " + Text.shape(shape)
                    + " must start with the sample count " + count);
        }
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("shape " + Text.shape(shape) + " holds " + n
                    + " values, got " + values.length);
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Values per sample. */
    public int sampleSize() {
        return (int) sampleSizeOf(shape);
    }

    private static long sampleSizeOf(long[] shape) {
        long n = 1;
        for (int i = 1; i < shape.length; i++) {
            n *= shape[i];
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FloatBatch b && firstSample == b.firstSample && count == b.count
                && Arrays.equals(shape, b.shape) && Arrays.equals(values, b.values);
    }

    @Override
    public int hashCode() {
        return Objects.hash(firstSample, count, Arrays.hashCode(shape),
                Arrays.hashCode(values));
    }

    @Override
    public String toString() {
        return "FloatBatch[samples " + firstSample + ".." + (firstSample + count) + ", shape "
                + Text.shape(shape) + "]";
    }
}
