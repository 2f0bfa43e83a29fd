package org.onnxfuse.fusion.importance;

import org.onnxfuse.onnx.ir.Node;

/**
 * The backward rule of one op family: given g = dL/d(output 0) of a node, it adds the
 * contributions to the gradients of the node's inputs that need one (activations and parameters
 * alike). Rules are stateless; {@link GradientRules} holds one per op type.
 */
interface GradientRule {
    void propagate(Node n, String g, BackwardPass pass);
}
