package org.onnxfuse.fusion.collect;

import java.util.Arrays;
import org.onnxfuse.kernels.RowGather;

/**
 * The im2col unfolding of a Conv input, for any number of spatial axes: one row per (sample,
 * output position) in row-major order of (n, o_1, ..., o_r), and columns (c_in, k_1, ..., k_r)
 * like the flattened weight [C_out, C_in * prod(kernel)], so that X * W_flat<sup>T</sup> equals the
 * Conv output flattened by {@link CutRows}. Padded positions read 0. With {@code ones} a last
 * column of 1 is appended for the bias.
 *
 * <p>The source offsets per (output position, kernel position) are computed once per input
 * geometry; unfolding a batch is then one gather.
 */
public final class Im2Col {
    private final ConvWindow window;
    private final long[] inputShape;
    private final long[] outputSpatial;
    private final int channels;
    private final int inSpatial;
    private final int outPositions;
    private final int kernelSize;
    /** For each output position p and kernel position q, the input spatial offset or -1 (padding). */
    private final int[] offsets;
    private RowGather withOnes;
    private RowGather withoutOnes;

    /**
     * @param inputShape [N, C, spatial...]; N is ignored (each batch may differ)
     */
    public Im2Col(ConvWindow window, long[] inputShape) {
        int r = window.rank();
        if (inputShape.length != r + 2) {
            throw new IllegalArgumentException("Conv input of shape " + Arrays.toString(inputShape) + " does not fit a "
                    + r + "-d window (" + window + "); expected [N, C, " + r + " spatial axes]");
        }
        this.window = window;
        this.inputShape = inputShape.clone();
        this.channels = Math.toIntExact(inputShape[1]);
        this.outputSpatial = new long[r];
        long inS = 1;
        long outS = 1;
        long kS = 1;
        for (int i = 0; i < r; i++) {
            outputSpatial[i] = window.outputSize(i, inputShape[2 + i]);
            if (outputSpatial[i] <= 0) {
                throw new IllegalArgumentException("window " + window + " does not fit input "
                        + Arrays.toString(inputShape));
            }
            inS *= inputShape[2 + i];
            outS *= outputSpatial[i];
            kS *= window.kernel()[i];
        }
        this.inSpatial = Math.toIntExact(inS);
        this.outPositions = Math.toIntExact(outS);
        this.kernelSize = Math.toIntExact(kS);
        this.offsets = new int[Math.multiplyExact(outPositions, kernelSize)];
        fillOffsets();
    }

    private void fillOffsets() {
        int r = window.rank();
        long[] begin = new long[r];
        for (int i = 0; i < r; i++) {
            begin[i] = window.padBegin(i, inputShape[2 + i]);
        }
        int[] o = new int[r];
        int[] k = new int[r];
        for (int p = 0; p < outPositions; p++) {
            unravel(p, outputSpatial, o);
            for (int q = 0; q < kernelSize; q++) {
                unravel(q, window.kernel(), k);
                int flat = 0;
                boolean inside = true;
                for (int i = 0; i < r && inside; i++) {
                    long c = o[i] * window.strides()[i] - begin[i] + k[i] * window.dilations()[i];
                    long size = inputShape[2 + i];
                    if (c < 0 || c >= size) {
                        inside = false;
                    } else {
                        flat = (int) (flat * size + c);
                    }
                }
                offsets[p * kernelSize + q] = inside ? flat : -1;
            }
        }
    }

    private static void unravel(int index, long[] dims, int[] out) {
        for (int i = dims.length - 1; i >= 0; i--) {
            out[i] = (int) (index % dims[i]);
            index /= (int) dims[i];
        }
    }

    /** Output positions per sample (the product of the output spatial sizes). */
    public int positions() {
        return outPositions;
    }

    public long[] outputSpatial() {
        return outputSpatial.clone();
    }

    /** Columns without the ones column: C_in * prod(kernel). */
    public int features() {
        return channels * kernelSize;
    }

    /**
     * Unfolds {@code count} samples of {@code input} (row-major [count, C, spatial...]).
     *
     * @return row-major [count * positions(), features() (+1)] matrix
     */
    public float[] unfold(float[] input, int count, boolean ones) {
        int cols = features() + (ones ? 1 : 0);
        float[] out = new float[Math.multiplyExact(Math.multiplyExact(count, outPositions), cols)];
        unfold(input, count, ones, out);
        return out;
    }

    /**
     * {@link #unfold(float[], int, boolean)} into the start of {@code out}, which must hold at
     * least {@code count * positions() * (features() (+1))} values (the rest is left alone), so a
     * caller can reuse one buffer for every batch.
     */
    public void unfold(float[] input, int count, boolean ones, float[] out) {
        gather(ones).unfold(input, count, out);
    }

    /** The unfolding as a {@link RowGather} (what the compute backend runs), with or without the ones column. */
    public RowGather gather(boolean ones) {
        if (ones) {
            if (withOnes == null) {
                withOnes = new RowGather(channels, inSpatial, outPositions, kernelSize, offsets, true);
            }
            return withOnes;
        }
        if (withoutOnes == null) {
            withoutOnes = new RowGather(channels, inSpatial, outPositions, kernelSize, offsets, false);
        }
        return withoutOnes;
    }
}
