package org.onnxfuse.kernels;

import java.util.Arrays;

/**
 * The rows of X that a convolution reads, as a gather from its input (im2col): sample n's input is
 * {@code channels} planes of {@code inSpatial} values; its row for output position p has column
 * {@code c * kernelSize + q} = plane c at {@code offsets[p * kernelSize + q]}, or 0 where that
 * offset is -1 (padding), and a last column of 1 when {@code ones}. Rows are ordered (n, p).
 * Immutable; the CUDA backend runs the same gather on the device ({@code statistics.cu}
 * {@code im2col_f32}), so only the convolution's input crosses the bus.
 */
public final class RowGather {
    private final int channels;
    private final int inSpatial;
    private final int positions;
    private final int kernelSize;
    private final int[] offsets;
    private final boolean ones;

    /**
     * @param offsets positions x kernelSize input offsets within one plane, -1 for padding; copied
     * @throws IllegalArgumentException if a size is not positive, the table has the wrong length or
     *         an offset is outside [-1, inSpatial)
     */
    public RowGather(int channels, int inSpatial, int positions, int kernelSize, int[] offsets, boolean ones) {
        if (channels < 1 || inSpatial < 1 || positions < 1 || kernelSize < 1) {
            throw new IllegalArgumentException("a row gather needs channels, input size, positions and kernel size"
                    + " >= 1, found " + channels + ", " + inSpatial + ", " + positions + ", " + kernelSize);
        }
        if (offsets.length != (long) positions * kernelSize) {
            throw new IllegalArgumentException("expected " + (long) positions * kernelSize + " offsets (positions "
                    + positions + " x kernel " + kernelSize + "), found " + offsets.length);
        }
        for (int off : offsets) {
            if (off < -1 || off >= inSpatial) {
                throw new IllegalArgumentException("offset " + off + " is outside [-1, " + inSpatial + ")");
            }
        }
        Math.addExact(Math.multiplyExact(channels, kernelSize), 1); // columns() fits an int
        Math.multiplyExact(channels, inSpatial);
        this.channels = channels;
        this.inSpatial = inSpatial;
        this.positions = positions;
        this.kernelSize = kernelSize;
        this.offsets = offsets.clone();
        this.ones = ones;
    }

    public int channels() {
        return channels;
    }

    /** Values per input plane (the product of the input's spatial sizes). */
    public int inSpatial() {
        return inSpatial;
    }

    /** Rows per sample (output positions). */
    public int positions() {
        return positions;
    }

    public int kernelSize() {
        return kernelSize;
    }

    public boolean ones() {
        return ones;
    }

    /** Columns without the ones column: channels x kernel size. */
    public int features() {
        return channels * kernelSize;
    }

    /** Columns of a row: {@link #features()} plus the ones column when there is one. */
    public int columns() {
        return features() + (ones ? 1 : 0);
    }

    /** Input values per sample. */
    public int sampleSize() {
        return Math.multiplyExact(channels, inSpatial);
    }

    int[] offsetTable() {
        return offsets;
    }

    /**
     * Writes the rows of {@code count} samples of {@code input} (row-major [count, channels,
     * spatial...]) to the start of {@code out}, row-major [count * positions, columns()].
     *
     * @throws IllegalArgumentException if {@code input} does not hold exactly {@code count} samples
     *         or {@code out} is too short
     */
    public void unfold(float[] input, int count, float[] out) {
        int sampleSize = sampleSize();
        if ((long) count * sampleSize != input.length) {
            throw new IllegalArgumentException("input holds " + input.length + " values, expected " + count
                    + " samples of " + sampleSize);
        }
        long needed = (long) count * positions * columns();
        if (out.length < needed) {
            throw new IllegalArgumentException("output holds " + out.length + " values, expected at least " + needed);
        }
        unfoldRows(input, 0, count * positions, out);
    }

    /**
     * Writes rows {@code first .. first + rows - 1} of the unfolding of {@code input} (row r is
     * sample r / positions, position r % positions) to the start of {@code out}, row-major
     * [rows, columns()]: a block of the rows {@link #unfold} makes, so that a caller can unfold
     * and use a batch's rows a block at a time. The caller checks the sizes.
     */
    void unfoldRows(float[] input, long first, int rows, float[] out) {
        int cols = columns();
        int sampleSize = sampleSize();
        int n = (int) (first / positions);
        int p = (int) (first % positions);
        int dst = 0;
        for (int r = 0; r < rows; r++) {
            int sampleBase = n * sampleSize;
            int offBase = p * kernelSize;
            for (int c = 0; c < channels; c++) {
                int src = sampleBase + c * inSpatial;
                for (int q = 0; q < kernelSize; q++) {
                    int off = offsets[offBase + q];
                    out[dst++] = off < 0 ? 0f : input[src + off];
                }
            }
            if (ones) {
                out[dst++] = 1f;
            }
            if (++p == positions) {
                p = 0;
                n++;
            }
        }
    }

    @Override
    public String toString() {
        return "RowGather[channels " + channels + ", plane " + inSpatial + ", positions " + positions + ", kernel "
                + kernelSize + (ones ? ", ones" : "") + ", offsets " + Arrays.hashCode(offsets) + "]";
    }
}
