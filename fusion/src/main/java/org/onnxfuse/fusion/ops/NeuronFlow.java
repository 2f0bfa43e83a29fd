package org.onnxfuse.fusion.ops;

/**
 * What an op does to the neuron axis of the activations it reads, which is how the planner
 * builds neuron spaces (union-find over (value, axis), ALGORITHM.md section 3, "Neuron spaces").
 */
public enum NeuronFlow {
    /** The output's neurons are the input's, in the same order (activations, pooling, reshapes, BN). */
    PRESERVES,
    /** Several inputs' neuron axes are joined elementwise, so they must share one order (Add, Mul, depthwise Conv). */
    TIES,
    /** The inputs' neuron axes are stacked into the output's, each at a fixed offset (Concat). */
    STACKS,
    /** The output has neurons of its own: a new space starts (Gemm, MatMul, Conv). */
    STARTS,
    /** The neuron axis ends here: a normalisation over it (Softmax); only after the last level. */
    ENDS
}
