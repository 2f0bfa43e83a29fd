package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Node;

/**
 * A matched {@link OpPattern}: its nodes in topological order (Constant nodes feeding only the
 * pattern included), the activation input and the output that carries the stream on.
 */
public record PatternMatch(String opType, OpRole role, List<Node> nodes, String input, String output,
                           Map<String, String> signature) {
    public PatternMatch {
        nodes = List.copyOf(nodes);
        signature = Map.copyOf(signature);
    }
}
