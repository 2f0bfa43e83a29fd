package org.onnxfuse.fusion.data;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Batches decoded into reused arrays: one of the full batch size and one for a shorter last
 * batch (a {@link FloatBatch} holds exactly its values). Each iterator owns its arrays.
 */
public final class ReusedBatches {
    /** Decodes samples {@code [first, first + count)} into the start of {@code dst}. */
    @FunctionalInterface
    public interface Reader {
        void read(long first, int count, float[] dst);
    }

    private ReusedBatches() {
    }

    /**
     * All {@code samples} in order, {@code batchSize} at a time, each batch's values valid until
     * the next {@code next()}.
     */
    public static Iterable<FloatBatch> of(long samples, long[] sampleShape, int batchSize, Reader reader) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        long size = 1;
        for (long d : sampleShape) {
            size *= d;
        }
        long sampleSize = size;
        long[] shape = new long[sampleShape.length + 1];
        System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
        return () -> new Iterator<>() {
            private long next;
            private float[] full;
            private float[] tail;

            @Override
            public boolean hasNext() {
                return next < samples;
            }

            @Override
            public FloatBatch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int count = (int) Math.min(batchSize, samples - next);
                long total = count * sampleSize;
                if (total > NpyArray.MAX_ARRAY) {
                    throw new IllegalArgumentException("a batch of " + count + " samples of " + sampleSize
                            + " elements exceeds the largest Java array (" + NpyArray.MAX_ARRAY
                            + " elements); use smaller batches");
                }
                float[] values;
                if (count == batchSize) {
                    values = full == null ? full = new float[(int) total] : full;
                } else {
                    values = tail == null || tail.length != total ? tail = new float[(int) total] : tail;
                }
                reader.read(next, count, values);
                shape[0] = count;
                FloatBatch b = new FloatBatch(next, count, shape, values);
                next += count;
                return b;
            }
        };
    }
}
