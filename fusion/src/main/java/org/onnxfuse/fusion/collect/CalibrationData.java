package org.onnxfuse.fusion.collect;

import java.nio.file.Path;
import java.util.Arrays;
import org.onnxfuse.fusion.data.BatchSource;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;

/**
 * Calibration samples for one model input, read batch by batch: a {@code .npy} file (read
 * and decoded one batch at a time) or an array already in memory. An instance made from a
 * file owns it until {@link #close()}. Not thread-safe.
 */
public interface CalibrationData extends BatchSource, AutoCloseable {

    /**
     * Samples {@code [first, first + count)} decoded into the start of {@code dst} (at least
     * {@code count * product(sampleShape())} long). The files and arrays made here override it
     * to allocate nothing; this default copies {@link #batch}.
     */
    @Override
    default void batchInto(long first, int count, float[] dst) {
        float[] v = batch(first, count).values();
        System.arraycopy(v, 0, dst, 0, v.length);
    }

    /** The first {@code n} samples (all when n is 0 or at least {@link #samples()}); closing it closes this. */
    default CalibrationData limit(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("sample limit must be >= 0, found " + n);
        }
        if (n == 0 || n >= samples()) {
            return this;
        }
        CalibrationData whole = this;
        return new CalibrationData() {
            @Override
            public String source() {
                return whole.source() + " (first " + n + " samples)";
            }

            @Override
            public long samples() {
                return n;
            }

            @Override
            public long[] sampleShape() {
                return whole.sampleShape();
            }

            @Override
            public FloatBatch batch(long first, int count) {
                if (first < 0 || first + count > n) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + n);
                }
                return whole.batch(first, count);
            }

            @Override
            public void batchInto(long first, int count, float[] dst) {
                if (first < 0 || first + count > n) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + n);
                }
                whole.batchInto(first, count, dst);
            }

            @Override
            public void close() {
                whole.close();
            }
        };
    }

    @Override
    void close();

    /** Opens a {@code .npy} file (float16/32/64 or integer images; samples first). */
    static CalibrationData open(Path npy) {
        return of(NpyArray.open(npy));
    }

    /** Adapts a sample array; closing the result closes it. */
    static CalibrationData of(SampleArray array) {
        return new CalibrationData() {
            @Override
            public String source() {
                return array.source();
            }

            @Override
            public long samples() {
                return array.samples();
            }

            @Override
            public long[] sampleShape() {
                return array.sampleShape();
            }

            @Override
            public FloatBatch batch(long first, int count) {
                return array.batch(first, count);
            }

            @Override
            public void batchInto(long first, int count, float[] dst) {
                array.readFloats(first, count, dst);
            }

            @Override
            public void close() {
                array.close();
            }
        };
    }

    /**
     * Wraps row-major float32 values of {@code shape} (samples first). The array is not copied:
     * the caller must not change it while fusion runs.
     */
    static CalibrationData ofArray(float[] values, long[] shape) {
        long[] s = shape.clone();
        if (s.length == 0) {
            throw new IllegalArgumentException("calibration shape must have a sample axis, found []");
        }
        long n = 1;
        for (long d : s) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(s));
            }
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("calibration shape " + Arrays.toString(s) + " holds " + n
                    + " values, found " + values.length);
        }
        long[] sample = Arrays.copyOfRange(s, 1, s.length);
        int sampleSize = (int) (s[0] == 0 ? 0 : n / s[0]);
        return new CalibrationData() {
            @Override
            public String source() {
                return "in-memory array " + Arrays.toString(s);
            }

            @Override
            public long samples() {
                return s[0];
            }

            @Override
            public long[] sampleShape() {
                return sample.clone();
            }

            @Override
            public FloatBatch batch(long first, int count) {
                if (first < 0 || count < 0 || first + count > s[0]) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + s[0]);
                }
                int from = Math.toIntExact(first * sampleSize);
                float[] v = Arrays.copyOfRange(values, from, from + count * sampleSize);
                long[] bs = s.clone();
                bs[0] = count;
                return new FloatBatch(first, count, bs, v);
            }

            @Override
            public void batchInto(long first, int count, float[] dst) {
                if (first < 0 || count < 0 || first + count > s[0]) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + s[0]);
                }
                int from = Math.toIntExact(first * sampleSize);
                System.arraycopy(values, from, dst, 0, count * sampleSize);
            }

            @Override
            public void close() {
            }
        };
    }
}
