package org.onnxfuse.fusion.importance;

import static java.util.Map.entry;

import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Node;

/** The gradient rules of the op families that may carry parameters, keyed by op type (default domain). */
final class GradientRules {
    private static final GradientRule BROADCAST = new BroadcastGradient();
    private static final Map<String, GradientRule> RULES = Map.ofEntries(
            entry("Gemm", new GemmGradient()),
            entry("MatMul", new MatMulGradient()),
            entry("Conv", new ConvGradient()),
            entry("BatchNormalization", new BatchNormGradient()),
            entry("LayerNormalization", new LayerNormGradient()),
            entry("Concat", new ConcatGradient()),
            entry("Add", BROADCAST), entry("Sub", BROADCAST), entry("Mul", BROADCAST), entry("Div", BROADCAST),
            entry("Expand", BROADCAST));

    private GradientRules() {
    }

    static Optional<GradientRule> find(Node n) {
        return n.isDefaultDomain() ? Optional.ofNullable(RULES.get(n.opType())) : Optional.empty();
    }
}
