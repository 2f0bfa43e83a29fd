package org.onnxfuse.fusion.data;

import java.util.Objects;

/**
 * Consecutive samples of an int64 or bool input (token ids, a mask), exactly as stored, row-major;
 * a bool is 0 or 1.
 *
 * @param firstSample index of the first sample in its array
 * @param count       number of samples, {@code shape[0]}
 * @param shape       {@code [count, ...sample shape]}; copied in and out
 * @param values      the values; not copied (the batch owns the array), treat it as read-only
 */
public record IntegerBatch(long firstSample, int count, long[] shape, long[] values) implements InputTensor {
    public IntegerBatch {
        Objects.requireNonNull(values, "values");
        shape = shape.clone();
        if (shape.length == 0 || shape[0] != count) {
            throw new IllegalArgumentException("shape " + Text.shape(shape) + " must start with the sample count "
                    + count);
        }
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("shape " + Text.shape(shape) + " holds " + n + " values, got "
                    + values.length);
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public String toString() {
        return "IntegerBatch[samples " + firstSample + ".." + (firstSample + count) + ", shape " + Text.shape(shape)
                + "]";
    }
}
