package org.onnxfuse.fusion.ops;

/**
 * An affine op's parameters as one fan-in x width matrix in row-major order: row r is input
 * feature r (for Conv ordered (c_in, ky, kx) like im2col and the flattened weight), column j is
 * neuron j, and when {@code hasBias} the last row holds the bias. Gemm's alpha and beta are
 * applied, so y = [x, 1] * W exactly.
 */
public record AffineWeights(int rows, int cols, float[] data, boolean hasBias) {
    public AffineWeights {
        if ((long) rows * cols != data.length) {
            throw new IllegalArgumentException(rows + " x " + cols + " matrix with " + data.length + " values");
        }
    }

    public float get(int row, int col) {
        return data[row * cols + col];
    }

    /** Input features, not counting the bias row. */
    public int inFeatures() {
        return hasBias ? rows - 1 : rows;
    }
}
