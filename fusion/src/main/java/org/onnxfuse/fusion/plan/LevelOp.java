package org.onnxfuse.fusion.plan;

import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.ops.OpRole;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * One op of a level before its affine op (or after the last level): a single node, or a
 * pattern of nodes acting as one op (the Erf form of GELU). {@code nodes} are in topological
 * order and include the Constant nodes that feed only this op; {@code node} is the op's main
 * node (the first non-Constant one), used to name it in messages. {@code signature} holds the
 * settings that must agree across parents. {@code neuronAxis} is the axis of the output that
 * holds the neurons of {@code spaces} (stacked in that order), -1 where the output has none (before
 * the first level) or their order is no longer known.
 */
public record LevelOp(String opType, OpRole role, Node node, List<Node> nodes, boolean pattern, String input,
                      String output, List<Dim> outputShape, Map<String, String> signature, int neuronAxis,
                      List<Integer> spaces) {
    public LevelOp {
        nodes = List.copyOf(nodes);
        outputShape = List.copyOf(outputShape);
        signature = Map.copyOf(signature);
        spaces = List.copyOf(spaces);
    }

    /** The same op on the neurons of {@code spaces} along {@code axis}. */
    public LevelOp onSpaces(int axis, List<Integer> ids) {
        return new LevelOp(opType, role, node, nodes, pattern, input, output, outputShape, signature, axis, ids);
    }

    /** "'/Relu' (Relu)", or for a pattern "'/act4/Div' (Gelu as Div, Erf, Add, Mul, Mul)". */
    public String describe() {
        if (!pattern) {
            return "'" + node.name() + "' (" + opType + ")";
        }
        String parts = nodes.stream().filter(n -> !n.opType().equals("Constant")).map(Node::opType)
                .reduce((a, b) -> a + ", " + b).orElse("");
        return "'" + node.name() + "' (" + opType + " as " + parts + ")";
    }
}
