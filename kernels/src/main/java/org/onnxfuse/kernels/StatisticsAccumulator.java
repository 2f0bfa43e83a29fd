package org.onnxfuse.kernels;

/**
 * Streams batches of samples and keeps only the running sums S_xx = X<sup>T</sup>X, S_xa =
 * X<sup>T</sup>A and S_aa = A<sup>T</sup>A in float64, so its memory is O(d<sup>2</sup> + dm +
 * m<sup>2</sup>) plus one bounded conversion buffer, whatever the number of samples. Opened by
 * {@link ComputeBackend#openStatistics(int, int)}; owns native (CPU) or device (CUDA) memory until
 * {@link #close()}. Not thread-safe: feed it from one thread at a time.
 *
 * <p>{@link #accumulate} may defer the arithmetic (the CPU accumulator gathers batches into
 * blocks of ~2048 rows, the CUDA one runs asynchronously): all of it is done when
 * {@link #statistics()} returns, so time accumulation up to that call.
 */
public interface StatisticsAccumulator extends AutoCloseable {

    /** d: features per sample of X. */
    int inputDim();

    /** m: targets per sample of A. */
    int targetDim();

    /** Samples accumulated so far. */
    long rows();

    /**
     * Adds one batch: {@code x} holds {@code rows} samples of d features and {@code a} the same
     * samples' m targets, both row-major float32 (sample r's feature i is {@code x[r * d + i]}),
     * the layout of an ONNX Runtime output tensor of shape [rows, d]. Only the first {@code rows * d}
     * and {@code rows * m} elements are read; the arrays are not kept.
     *
     * @throws IllegalArgumentException if an array is shorter than the batch needs
     */
    void accumulate(float[] x, float[] a, int rows);

    /** Adds one batch whose sample count is {@code x.length / d}; {@code a} must hold exactly as many samples. */
    default void accumulate(float[] x, float[] a) {
        int d = inputDim();
        int m = targetDim();
        if (d == 0 || x.length % d != 0) {
            throw new IllegalArgumentException("x has " + x.length + " elements, expected a multiple of d = " + d);
        }
        int rows = x.length / d;
        if ((long) rows * m != a.length) {
            throw new IllegalArgumentException("a has " + a.length + " elements, expected " + rows + " samples x "
                    + m + " targets = " + (long) rows * m + " to match x");
        }
        accumulate(x, a, rows);
    }

    /**
     * Adds the rows {@code gather} makes of {@code count} samples of a convolution's input
     * ({@code input} row-major [count, channels, spatial...]), with their targets {@code a}
     * (count x positions rows of m, in the gather's row order). The CPU unfolds on the host; the
     * CUDA backend uploads only the input and unfolds on the device. Same sums either way, up to
     * the summation order of the float64 accumulation.
     *
     * @throws IllegalArgumentException if the gather's columns are not d, or an array is too short
     */
    void accumulateGathered(RowGather gather, float[] input, int count, float[] a);

    /** The sums so far (copies; accumulation can continue afterwards). */
    SufficientStatistics statistics();

    /** Sets the sums back to zero, keeping the buffers. */
    void reset();

    /** Frees native and device memory; idempotent. */
    @Override
    void close();
}
