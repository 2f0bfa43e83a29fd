package org.onnxfuse.fusion.data;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Samples read batch by batch (first axis = samples, the rest is one sample, row-major float32).
 * The one iteration logic behind data files and calibration sources.
 */
public interface BatchSource {

    /** Name for messages. */
    String source();

    /** Number of samples. */
    long samples();

    /** Shape of one sample. */
    long[] sampleShape();

    /** Samples {@code [first, first + count)} in a new batch. */
    FloatBatch batch(long first, int count);

    /** Samples {@code [first, first + count)} decoded into the start of {@code dst}. */
    void batchInto(long first, int count, float[] dst);

    /** Shape of the whole data, samples first. */
    default long[] shape() {
        long[] s = sampleShape();
        long[] out = new long[s.length + 1];
        out[0] = samples();
        System.arraycopy(s, 0, out, 1, s.length);
        return out;
    }

    /**
     * All samples in order, {@code batchSize} at a time; the last batch holds the remainder.
     * Each iterator starts from sample 0 and makes a new batch per {@code next()}.
     */
    default Iterable<FloatBatch> batches(int batchSize) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        return () -> new Iterator<>() {
            private long next;

            @Override
            public boolean hasNext() {
                return next < samples();
            }

            @Override
            public FloatBatch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int count = (int) Math.min(batchSize, samples() - next);
                FloatBatch b = batch(next, count);
                next += count;
                return b;
            }
        };
    }

    /**
     * Like {@link #batches(int)}, but every batch is decoded into the same array (one more for a
     * shorter last batch): a batch's values are valid only until the iterator's next
     * {@code next()}. For loops that consume each batch at once, so that reading makes no garbage
     * however many samples there are (per-batch garbage made the peak memory grow with the
     * sample count).
     */
    default Iterable<FloatBatch> reusedBatches(int batchSize) {
        return ReusedBatches.of(samples(), sampleShape(), batchSize, this::batchInto);
    }
}
