package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.fusion.ops.PatternMatch;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Node;

/**
 * The elementwise nonlinearities: the incoming gradient times f'(a), or under RESCALE the
 * DeepLIFT multiplier ({@link BackwardPass#multiplier}). Also the multi-node patterns counted as
 * one nonlinearity (the Erf-form GELU, SiLU as x * sigmoid(x)).
 */
final class NonlinearityGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        String a = n.inputs().get(0);
        if (!pass.wants(a)) {
            return;
        }
        String y = n.outputs().get(0);
        String slope = switch (n.opType()) {
            case "Relu" -> reluDerivative(a, pass);
            case "LeakyRelu" -> pass.emit("Where", List.of(pass.emit("Greater", List.of(a, pass.scalar(0f))),
                    pass.scalar(1f), pass.scalar(n.floatAttribute("alpha", 0.01f))));
            case "Sigmoid" -> pass.emit("Mul", List.of(y, pass.emit("Sub", List.of(pass.scalar(1f), y))));
            case "Tanh" -> pass.emit("Sub", List.of(pass.scalar(1f), pass.emit("Mul", List.of(y, y))));
            case "Elu", "Celu", "Selu" -> exponentialUnit(n, a, y, pass);
            case "Softplus" -> pass.emit("Sigmoid", List.of(a));
            case "Softsign" -> {
                String d = pass.emit("Add", List.of(pass.scalar(1f), pass.emit("Abs", List.of(a))));
                yield pass.emit("Reciprocal", List.of(pass.emit("Mul", List.of(d, d))));
            }
            case "HardSigmoid" -> hardSigmoidSlope(a, n.floatAttribute("alpha", 0.2f), n.floatAttribute("beta", 0.5f),
                    pass);
            case "HardSwish" -> {
                // x * hs(x), hs(x) = clip(x / 6 + 1/2, 0, 1): hs(x) + x hs'(x)
                String hs = pass.emit("HardSigmoid", List.of(a), Attribute.ofFloat("alpha", 1f / 6),
                        Attribute.ofFloat("beta", 0.5f));
                yield pass.emit("Add", List.of(hs, pass.emit("Mul", List.of(a, hardSigmoidSlope(a, 1f / 6, 0.5f,
                        pass)))));
            }
            case "Erf" -> pass.emit("Mul", List.of(pass.scalar((float) (2 / Math.sqrt(Math.PI))), pass.emit("Exp",
                    List.of(pass.emit("Neg", List.of(pass.emit("Mul", List.of(a, a))))))));
            case "Gelu" -> n.isDefaultDomain() && n.stringAttribute("approximate", "none").equals("tanh")
                    ? geluTanh(a, pass) : geluExact(a, pass);
            case "Clip" -> pass.emit("Cast", List.of(pass.emit("Equal", List.of(y, a))),
                    Attribute.ofLong("to", DataType.FLOAT.code()));
            default -> throw pass.unsupported(n, "has no gradient rule");
        };
        pass.contribute(a, pass.emit("Mul", List.of(g, pass.multiplier(a, y, slope))));
    }

    /** A multi-node pattern (Silu, or Gelu in Erf form) from its input to its output, as one nonlinearity. */
    static void propagatePattern(PatternMatch m, String g, BackwardPass pass) {
        String a = m.input();
        if (pass.wants(a)) {
            String slope = m.opType().equals("Silu") ? silu(a, pass) : geluExact(a, pass);
            pass.contribute(a, pass.emit("Mul", List.of(g, pass.multiplier(a, m.output(), slope))));
        }
    }

    /** Elu, Celu, Selu: the positive side's slope (1, or gamma for Selu), else y + alpha (Elu), exp(a / alpha) (Celu), y + gamma alpha (Selu). */
    private static String exponentialUnit(Node n, String a, String y, BackwardPass pass) {
        float alpha = n.floatAttribute("alpha", n.opType().equals("Selu") ? 1.67326319217681884765625f : 1f);
        float gamma = n.opType().equals("Selu") ? n.floatAttribute("gamma", 1.05070102214813232421875f) : 1f;
        String negative = switch (n.opType()) {
            case "Celu" -> pass.emit("Exp", List.of(pass.emit("Div", List.of(a, pass.scalar(alpha)))));
            default -> pass.emit("Add", List.of(y, pass.scalar(gamma * alpha)));
        };
        return pass.emit("Where", List.of(pass.emit("Greater", List.of(a, pass.scalar(0f))), pass.scalar(gamma), negative));
    }

    /** d/da clip(alpha a + beta, 0, 1): alpha inside (0, 1), else 0. */
    private static String hardSigmoidSlope(String a, float alpha, float beta, BackwardPass pass) {
        String z = pass.emit("Add", List.of(pass.emit("Mul", List.of(a, pass.scalar(alpha))), pass.scalar(beta)));
        String inside = pass.emit("And", List.of(pass.emit("Greater", List.of(z, pass.scalar(0f))), pass.emit("Less",
                List.of(z, pass.scalar(1f)))));
        return pass.emit("Where", List.of(inside, pass.scalar(alpha), pass.scalar(0f)));
    }

    private static String reluDerivative(String a, BackwardPass pass) {
        return pass.emit("Cast", List.of(pass.emit("Greater", List.of(a, pass.scalar(0f)))),
                Attribute.ofLong("to", DataType.FLOAT.code()));
    }

    /** d/da of a sigmoid(a): s + a s (1 - s). */
    private static String silu(String a, BackwardPass pass) {
        String s = pass.emit("Sigmoid", List.of(a));
        String oneMinus = pass.emit("Sub", List.of(pass.scalar(1f), s));
        return pass.emit("Add", List.of(s, pass.emit("Mul", List.of(a, pass.emit("Mul", List.of(s, oneMinus))))));
    }

    /** Phi(a) + a phi(a). */
    private static String geluExact(String a, BackwardPass pass) {
        String scaled = pass.emit("Mul", List.of(a, pass.scalar((float) (1 / Math.sqrt(2)))));
        String erf = pass.emit("Erf", List.of(scaled));
        String cdf = pass.emit("Mul", List.of(pass.scalar(0.5f), pass.emit("Add", List.of(pass.scalar(1f), erf))));
        String square = pass.emit("Mul", List.of(a, a));
        String gauss = pass.emit("Exp", List.of(pass.emit("Mul", List.of(pass.scalar(-0.5f), square))));
        String density = pass.emit("Mul", List.of(pass.scalar((float) (1 / Math.sqrt(2 * Math.PI))), gauss));
        return pass.emit("Add", List.of(cdf, pass.emit("Mul", List.of(a, density))));
    }

    /** d/da of 0.5 a (1 + tanh(u)), u = sqrt(2/pi) (a + 0.044715 a^3). */
    private static String geluTanh(String a, BackwardPass pass) {
        float c = (float) Math.sqrt(2 / Math.PI);
        String a2 = pass.emit("Mul", List.of(a, a));
        String u = pass.emit("Mul", List.of(pass.scalar(c), pass.emit("Add", List.of(a, pass.emit("Mul", List.of(pass.scalar(0.044715f),
                pass.emit("Mul", List.of(a2, a))))))));
        String t = pass.emit("Tanh", List.of(u));
        String first = pass.emit("Mul", List.of(pass.scalar(0.5f), pass.emit("Add", List.of(pass.scalar(1f), t))));
        String sech2 = pass.emit("Sub", List.of(pass.scalar(1f), pass.emit("Mul", List.of(t, t))));
        String du = pass.emit("Mul", List.of(pass.scalar(c), pass.emit("Add", List.of(pass.scalar(1f), pass.emit("Mul",
                List.of(pass.scalar(3 * 0.044715f), a2))))));
        String second = pass.emit("Mul", List.of(pass.emit("Mul", List.of(pass.scalar(0.5f), a)), pass.emit("Mul", List.of(sech2, du))));
        return pass.emit("Add", List.of(first, second));
    }
}
