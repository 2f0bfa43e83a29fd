package org.onnxfuse.fusion.data;


/**
 * An array read sample by sample: the first axis indexes samples, the rest is one sample.
 * Values come out row-major whatever the storage order. Implementations hold file resources:
 * close them. Not thread-safe.
 */
public interface SampleArray extends BatchSource, AutoCloseable {

    /** Name for messages: the path, or {@code archive.npz:key} for an archive entry. */
    @Override
    String source();

    ArrayHeader header();

    /** Length of the first axis (1 for a 0-d array). */
    @Override
    default long samples() {
        return header().samples();
    }

    /** The shape of one sample: the array's shape without the first axis. */
    @Override
    default long[] sampleShape() {
        return header().sampleShape();
    }

    /**
     * Decodes samples {@code [firstSample, firstSample + count)} of any supported dtype to
     * float32, row-major, {@code count * product(sampleShape())} values.
     *
     * @throws IndexOutOfBoundsException when the range is outside {@code [0, samples())}
     * @throws IllegalArgumentException when the batch exceeds the largest Java array
     */
    float[] readFloats(long firstSample, int count);

    /**
     * {@link #readFloats(long, int)} into {@code dst[0 .. count * product(sampleShape()))}, which
     * must be at least that long; the rest of {@code dst} is left alone. Allocates nothing in
     * {@link NpyArray}.
     */
    default void readFloats(long firstSample, int count, float[] dst) {
        float[] v = readFloats(firstSample, count);
        System.arraycopy(v, 0, dst, 0, v.length);
    }

    /**
     * Decodes samples of an integer array (labels) exactly.
     *
     * @throws org.onnxfuse.onnx.errors.DataException DATA_DTYPE for a floating-point array
     */
    long[] readLongs(long firstSample, int count);

    /** {@link #readLongs(long, int)} into the start of {@code dst}, which must be long enough. */
    default void readLongs(long firstSample, int count, long[] dst) {
        long[] v = readLongs(firstSample, count);
        System.arraycopy(v, 0, dst, 0, v.length);
    }

    /** {@link #readFloats} with its shape. */
    @Override
    default FloatBatch batch(long firstSample, int count) {
        long[] rest = sampleShape();
        long[] shape = new long[rest.length + 1];
        shape[0] = count;
        System.arraycopy(rest, 0, shape, 1, rest.length);
        return new FloatBatch(firstSample, count, shape, readFloats(firstSample, count));
    }

    @Override
    default void batchInto(long first, int count, float[] dst) {
        readFloats(first, count, dst);
    }

    /** Releases the file resources; idempotent. */
    @Override
    void close();
}
