package org.onnxfuse.fusion.ops;

/**
 * Sizes of an affine op read from its weight initializers. {@code inFeatures} is the fan-in
 * without a bias (Conv: C_in * prod(kernel)); {@code bias} names the op's own bias initializer or
 * is null (MatMul's bias is a separate Add).
 */
public record AffineGeometry(long width, long inFeatures, String weight, String bias) {
    /** Fan-in d of the least-squares problem: input features, plus one when a bias column is present. */
    public long fanIn(boolean withBias) {
        return inFeatures + (withBias ? 1 : 0);
    }

    public boolean hasBias() {
        return bias != null;
    }
}
