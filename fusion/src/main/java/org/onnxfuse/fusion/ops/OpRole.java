package org.onnxfuse.fusion.ops;

/** How an op takes part in a level of the linear variant. */
public enum OpRole {
    /** Gemm, MatMul (+ bias Add), Conv: ends a level; its output (pre-activation) is the cut. */
    AFFINE,
    /** BatchNormalization directly after an affine op: folded into it, its output becomes the cut. */
    FOLDABLE_NORM,
    /**
     * LayerNormalization over the neuron axis: keeps the neurons (it is permutation equivariant
     * there) and has one scale and bias per neuron, which fusion rewrites for the fused neurons.
     */
    NEURON_NORM,
    /** Parameter-free (or fixed) per-element ops: activations, Dropout, Identity. */
    ELEMENTWISE,
    /** Pooling: keeps the channel (neuron) axis, changes spatial sizes. */
    POOLING,
    /** Flatten, Reshape: move data between axes; allowed before the affine op of a level. */
    SHAPE,
    /** Concat of activations along the neurons: joins several branches (DenseNet, fire modules). */
    JOIN,
    /** Constant nodes feeding parameter inputs (Clip bounds, Reshape shapes, GELU constants). */
    CONSTANT,
    /** Softmax, LogSoftmax: allowed only after the last level (on the class axis). */
    OUTPUT_HEAD
}
