package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Node;

/**
 * The exact GELU as exporters write it without a Gelu op: x * 0.5 * (1 + erf(x / sqrt(2))).
 * Accepted forms: Div(x, sqrt2) or Mul(x, 1/sqrt2), then Erf, then Add 1, then the two
 * multiplications by x and 0.5 in any of the three orders torch and tf2onnx produce. Every
 * intermediate value must feed only the next node of the pattern.
 */
final class ErfGeluPattern extends ActivationPattern {
    private static final double SQRT2 = Math.sqrt(2);
    private static final double TOLERANCE = 1e-3;

    ErfGeluPattern() {
        super("Gelu", "Erf-form GELU (Div, Erf, Add, Mul, Mul)");
    }

    @Override
    Optional<PatternMatch> match(String x, Node entry, Node other, GraphView g) {
        boolean scaled = is(entry, "Div") && entry.inputs().get(0).equals(x) && near(g, entry.inputs().get(1), SQRT2)
                || is(entry, "Mul") && near(g, operand(entry, x), 1 / SQRT2);
        if (!scaled) {
            return Optional.empty();
        }
        Node erf = next(g, entry, "Erf");
        if (erf == null) {
            return Optional.empty();
        }
        Node plusOne = next(g, erf, "Add");
        if (plusOne == null || !near(g, operand(plusOne, out(erf)), 1.0)) {
            return Optional.empty();
        }
        if (!is(other, "Mul")) {
            return Optional.empty();
        }
        List<Node> nodes = new ArrayList<>(List.of(entry, erf, plusOne, other));
        String result;
        String otherOperand = operand(other, x);
        if (otherOperand == null) {
            return Optional.empty();
        }
        if (otherOperand.equals(out(plusOne))) {
            // x * (1 + erf) then * 0.5
            if (g.consumers(out(plusOne)).size() != 1) {
                return Optional.empty();
            }
            Node half = next(g, other, "Mul");
            if (half == null || !near(g, operand(half, out(other)), 0.5)) {
                return Optional.empty();
            }
            nodes.add(half);
            result = out(half);
        } else if (near(g, otherOperand, 0.5)) {
            // (x * 0.5) * (1 + erf)
            Node product = next(g, plusOne, "Mul");
            if (product == null || !out(other).equals(operand(product, out(plusOne)))
                    || g.consumers(out(other)).size() != 1 || g.isGraphOutput(out(other))) {
                return Optional.empty();
            }
            nodes.add(product);
            result = out(product);
        } else {
            // x * ((1 + erf) * 0.5)
            Node half = next(g, plusOne, "Mul");
            if (half == null || !near(g, operand(half, out(plusOne)), 0.5) || !out(half).equals(otherOperand)
                    || g.consumers(out(half)).size() != 1) {
                return Optional.empty();
            }
            nodes.add(half);
            result = out(other);
        }
        List<Node> all = new ArrayList<>(g.privateConstants(nodes));
        all.addAll(nodes);
        return Optional.of(new PatternMatch(opType(), role(), g.sorted(all), x, result, Map.of("approximate", "none")));
    }

    private static boolean is(Node n, String opType) {
        return n.isDefaultDomain() && n.opType().equals(opType) && n.outputs().size() == 1
                && n.inputs().size() == (opType.equals("Erf") ? 1 : 2);
    }

    private static String out(Node n) {
        return n.outputs().get(0);
    }

    /** The other operand of a binary node one of whose inputs is {@code value}; null if neither is. */
    private static String operand(Node n, String value) {
        if (n.inputs().size() != 2) {
            return null;
        }
        if (n.inputs().get(0).equals(value)) {
            return n.inputs().get(1);
        }
        return n.inputs().get(1).equals(value) ? n.inputs().get(0) : null;
    }

    /** The single reader of {@code n}'s output when it is an {@code opType} node and the output goes nowhere else. */
    private static Node next(GraphView g, Node n, String opType) {
        String v = out(n);
        List<Node> readers = g.consumers(v);
        if (readers.size() != 1 || g.isGraphOutput(v) || !is(readers.get(0), opType)) {
            return null;
        }
        return readers.get(0);
    }

    private static boolean near(GraphView g, String value, double expected) {
        return value != null && g.scalar(value).filter(v -> Math.abs(v - expected) <= TOLERANCE * expected).isPresent();
    }
}
