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
        if (neuronAxis < 0 || neuronAxis >= shape.length) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, "cut '" + a.name() + "' of rank " + shape.length
                    + " has no neuron axis " + neuronAxis);
        }
        if (neuronAxis == shape.length - 1) {
            return a.values();
        }
        long outer = 1;
        for (int i = 0; i < neuronAxis; i++) {
            outer *= shape[i];
        }
        long inner = 1;
        for (int i = neuronAxis + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        int c = (int) shape[neuronAxis];
        int in = (int) inner;
        float[] src = a.values();
        float[] out = new float[src.length];
        // source index (o, j, p) -> row (o, p), column j
        for (int o = 0; o < outer; o++) {
            int base = o * c * in;
            for (int j = 0; j < c; j++) {
                int s = base + j * in;
                int d = base + j;
                for (int p = 0; p < in; p++) {
                    out[d + p * c] = src[s + p];
                }
            }
        }
        return out;
    }
}
