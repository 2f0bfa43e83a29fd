package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Node;

/** The ops that move values without changing them: Identity, Dropout (inference), Flatten, Reshape, Transpose; Shape and Constant pass no gradient. */
final class ReshapeGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        switch (n.opType()) {
            case "Identity", "Dropout" -> pass.flowTo(n, 0, g);
            case "Flatten", "Reshape" -> {
                pass.onlyDataInput(n, 0);
                pass.flowTo(n, 0, pass.emit("Reshape", List.of(g, pass.emit("Shape", List.of(n.inputs().get(0))))));
            }
            case "Transpose" -> {
                long[] perm = n.longsAttribute("perm", null);
                if (perm == null) {
                    throw pass.unsupported(n, "has no perm attribute (the reversed order needs the input's rank)");
                }
                long[] inverse = new long[perm.length];
                for (int j = 0; j < perm.length; j++) {
                    inverse[(int) perm[j]] = j;
                }
                pass.flowTo(n, 0, pass.emit("Transpose", List.of(g), Attribute.ofLongs("perm", inverse)));
            }
            case "Shape", "Constant" -> {
                // no gradient flows through shapes and constants
            }
            default -> throw pass.unsupported(n, "has no gradient rule");
        }
    }
}
