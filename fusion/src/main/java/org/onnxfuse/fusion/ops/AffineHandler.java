package org.onnxfuse.fusion.ops;

import org.onnxfuse.onnx.ir.Node;

/** An op that ends a level: Gemm, MatMul (with an optional bias Add), Conv with group 1. */
public interface AffineHandler extends OpHandler {
    @Override
    default OpRole role() {
        return OpRole.AFFINE;
    }

    /** Width, fan-in and parameter names; checks that the weights are initializers of a supported form. */
    AffineGeometry geometry(Node node, GraphView graph);

    /** The neuron axis of this op's output of rank {@code outputRank}. */
    int neuronAxis(int outputRank);

    /** Whether an Add of a bias initializer right after this op belongs to it (MatMul). */
    default boolean takesBiasAdd() {
        return false;
    }

    /** Whether {@code add} (a consumer of this op's output {@code output}) is a bias Add of {@code width} neurons. */
    default boolean isBiasAdd(Node add, String output, long width, GraphView graph) {
        return false;
    }

    /** Weights as a fan-in x width matrix; {@code biasAdd} is the bias Add node or null. */
    AffineWeights weights(Node node, Node biasAdd, GraphView graph);
}
