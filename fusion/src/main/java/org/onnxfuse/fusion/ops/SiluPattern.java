package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Node;

/**
 * SiLU (swish) as exporters write it before opsets had an op for it: x * sigmoid(x), a Sigmoid
 * of x and a Mul of x with its output (torch's nn.SiLU and F.silu at the opsets we read). The
 * Sigmoid's output must feed only the Mul.
 */
final class SiluPattern extends ActivationPattern {
    SiluPattern() {
        super("Silu", "SiLU (Sigmoid, Mul)");
    }

    @Override
    Optional<PatternMatch> match(String x, Node sigmoid, Node mul, GraphView g) {
        if (!is(sigmoid, "Sigmoid", 1) || !is(mul, "Mul", 2)) {
            return Optional.empty();
        }
        String s = sigmoid.outputs().get(0);
        if (!mul.inputs().contains(x) || !mul.inputs().contains(s) || g.consumers(s).size() != 1
                || g.isGraphOutput(s)) {
            return Optional.empty();
        }
        return Optional.of(new PatternMatch(opType(), role(), g.sorted(List.of(sigmoid, mul)), x,
                mul.outputs().get(0), Map.of()));
    }

    private static boolean is(Node n, String opType, int inputs) {
        return n.isDefaultDomain() && n.opType().equals(opType) && n.inputs().size() == inputs
                && n.outputs().size() == 1;
    }
}
