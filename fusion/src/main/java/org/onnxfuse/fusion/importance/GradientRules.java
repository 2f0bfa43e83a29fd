package org.onnxfuse.fusion.importance;

import static java.util.Map.entry;

import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Node;

/** The one place where gradient rules are registered: one per op family, keyed by op type. */
final class GradientRules {
    private static final GradientRule BROADCAST = new BroadcastGradient();
    private static final Map<String, GradientRule> RULES = Map.ofEntries(
            entry("Gemm", new GemmGradient()),
            entry("MatMul", new MatMulGradient()),
            entry("Conv", new ConvGradient()),
            entry("BatchNormalization", new BatchNormGradient()),
            entry("LayerNormalization", new LayerNormGradient()),
            entry("Concat", new ConcatGradient()),
            entry("Softmax", new SoftmaxGradient()),
            entry("Add", BROADCAST), entry("Sub", BROADCAST), entry("Mul", BROADCAST), entry("Div", BROADCAST),
            entry("Expand", BROADCAST));
    private static final GradientRule NONLINEARITY = new NonlinearityGradient();
    private static final GradientRule POOLING = new PoolingGradient();
    private static final GradientRule RESHAPE = new ReshapeGradient();
    private static final Map<String, GradientRule> WITHOUT_PARAMETERS = Map.ofEntries(
            entry("Relu", NONLINEARITY), entry("LeakyRelu", NONLINEARITY), entry("Sigmoid", NONLINEARITY),
            entry("Tanh", NONLINEARITY), entry("Elu", NONLINEARITY), entry("Celu", NONLINEARITY),
            entry("Selu", NONLINEARITY), entry("Softplus", NONLINEARITY), entry("Softsign", NONLINEARITY),
            entry("HardSigmoid", NONLINEARITY), entry("HardSwish", NONLINEARITY), entry("Erf", NONLINEARITY),
            entry("Gelu", NONLINEARITY), entry("Clip", NONLINEARITY),
            entry("MaxPool", POOLING), entry("AveragePool", POOLING), entry("GlobalAveragePool", POOLING),
            entry("ReduceMean", POOLING), entry("ReduceSum", POOLING), entry("Gather", POOLING),
            entry("Pad", POOLING), entry("Slice", new SliceGradient()),
            entry("Identity", RESHAPE), entry("Dropout", RESHAPE), entry("Flatten", RESHAPE), entry("Reshape", RESHAPE),
            entry("Transpose", RESHAPE), entry("Shape", RESHAPE), entry("Constant", RESHAPE));

    private GradientRules() {
    }

    /** The rule of {@code n}'s op (Gelu also in the com.microsoft domain), if it has one. */
    static Optional<GradientRule> find(Node n) {
        if (!n.isDefaultDomain()) {
            return n.domain().equals("com.microsoft") && n.opType().equals("Gelu") ? Optional.of(NONLINEARITY)
                    : Optional.empty();
        }
        return Optional.ofNullable(RULES.getOrDefault(n.opType(), WITHOUT_PARAMETERS.get(n.opType())));
    }

    /** Whether {@code n}'s op has a rule. */
    static boolean has(Node n) {
        return find(n).isPresent();
    }
}
