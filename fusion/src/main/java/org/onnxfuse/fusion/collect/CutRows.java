package org.onnxfuse.fusion.collect;

import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/**
 * Flattens a cut activation to a samples x neurons matrix: the neuron axis becomes the column
 * index and every other axis (batch, spatial positions, tokens) a row index, rows in the order
 * of the remaining axes. [N, C, H, W] with neuron axis 1 gives N*H*W rows ordered (n, h, w) and C
 * columns; [N, S, D] with neuron axis 2 gives N*S rows and D columns (no copy needed then).
 */
public final class CutRows {
    private CutRows() {
    }

    /** Number of rows the flattened matrix has. */
    public static long rows(long[] shape, int neuronAxis) {
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            if (i != neuronAxis) {
                n *= shape[i];
            }
        }
        return n;
    }

    /** Row-major rows x shape[neuronAxis] matrix. */
    public static float[] flatten(Activation a, int neuronAxis) {
        long[] shape = a.shape();
        checkAxis(a, shape, neuronAxis);
        if (neuronAxis == shape.length - 1) {
            return a.values();
        }
        float[] out = new float[a.values().length];
        int c = (int) shape[neuronAxis];
        flattenInto(a, neuronAxis, out, c, 0);
        return out;
    }

    /**
     * Writes the flattened matrix as columns {@code [column, column + shape[neuronAxis])} of the
     * row-major matrix {@code out} with {@code ld} columns: how the collector places each
     * parent's cut side by side in A, in one pass and without a temporary per parent.
     */
    public static void flattenInto(Activation a, int neuronAxis, float[] out, int ld, int column) {
        long[] shape = a.shape();
        checkAxis(a, shape, neuronAxis);
        long outer = 1;
        for (int i = 0; i < neuronAxis; i++) {
            outer *= shape[i];
        }
        long inner = 1;
        for (int i = neuronAxis + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        int c = (int) shape[neuronAxis];
        if (column < 0 || column + c > ld) {
            throw new IllegalArgumentException("columns " + column + ".." + (column + c) + " do not fit " + ld);
        }
        float[] src = a.values();
        if ((long) src.length / Math.max(c, 1) * ld > out.length) {
            throw new IllegalArgumentException("output holds " + out.length + " values, expected at least "
                    + (long) src.length / Math.max(c, 1) * ld);
        }
        int in = (int) inner;
        if (in == 1) {
            // neuron axis last (or followed by size-1 axes): whole rows
            int rows = (int) outer;
            for (int r = 0; r < rows; r++) {
                System.arraycopy(src, r * c, out, r * ld + column, c);
            }
            return;
        }
        // source index (o, j, p) -> row (o, p), column j
        for (int o = 0; o < outer; o++) {
            int base = o * c * in;
            int rowBase = o * in;
            for (int j = 0; j < c; j++) {
                int s = base + j * in;
                int d = rowBase * ld + column + j;
                for (int p = 0; p < in; p++) {
                    out[d + p * ld] = src[s + p];
                }
            }
        }
    }

    private static void checkAxis(Activation a, long[] shape, int neuronAxis) {
        if (neuronAxis < 0 || neuronAxis >= shape.length) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, "cut '" + a.name() + "' of rank " + shape.length
                    + " has no neuron axis " + neuronAxis);
        }
    }
}
