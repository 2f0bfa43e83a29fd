package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * The broadcasting ops: Add, Sub, Mul, Div and Expand. An operand that is a parameter (a bias, a
 * per-neuron scale, a position embedding, a class token before its Expand) gets the gradient of
 * its broadcast copy summed back to its own shape. Without parameters the activation rules are
 * the ones the importance graphs have always used: a constant operand must not broadcast the
 * activation, two activations are added with equal shapes or multiplied as a gate.
 */
final class BroadcastGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        if (n.opType().equals("Expand")) {
            pass.onlyDataInput(n, 0);
            pass.flowTo(n, 0, summedTo(pass, n, g, n.inputs().get(0)));
            return;
        }
        String a = n.inputs().get(0);
        String b = n.inputs().get(1);
        if (pass.isParameter(a) || pass.isParameter(b)) {
            withParameter(n, g, pass);
        } else {
            betweenActivations(n, g, pass);
        }
    }

    /** Both operands' gradients in full (any broadcast), each summed back to its operand's shape. */
    private static void withParameter(Node n, String g, BackwardPass pass) {
        String a = n.inputs().get(0);
        String b = n.inputs().get(1);
        if (pass.wants(a)) {
            String full = switch (n.opType()) {
                case "Add", "Sub" -> g;
                case "Mul" -> pass.emit("Mul", List.of(g, b));
                default -> pass.emit("Div", List.of(g, b));
            };
            pass.contribute(a, summedTo(pass, n, full, a));
        }
        if (pass.wants(b)) {
            String full = switch (n.opType()) {
                case "Add" -> g;
                case "Sub" -> pass.emit("Neg", List.of(g));
                case "Mul" -> pass.emit("Mul", List.of(g, a));
                // d(a / b)/db = -(a / b) / b
                default -> pass.emit("Neg", List.of(pass.emit("Div", List.of(pass.emit("Mul", List.of(g,
                        n.outputs().get(0))), b))));
            };
            pass.contribute(b, summedTo(pass, n, full, b));
        }
    }

    /**
     * {@code grad}, of the shape of {@code n}'s output, summed over the axes along which
     * {@code operand} was broadcast (leading axes it lacks, axes where it has size 1) and
     * reshaped to the operand's own shape.
     */
    static String summedTo(BackwardPass pass, Node n, String grad, String operand) {
        List<Dim> out = pass.shape(n.outputs().get(0));
        List<Dim> own = pass.isVariable(operand) ? pass.shape(operand) : pass.constantShape(operand);
        if (out == null || own == null || own.size() > out.size()) {
            throw pass.unsupported(n, "broadcasts '" + operand + "' of shape " + own + " to an output of shape " + out
                    + "; both ranks must be known");
        }
        int lead = out.size() - own.size();
        List<Long> axes = new ArrayList<>();
        for (int i = 0; i < out.size(); i++) {
            Dim o = out.get(i);
            boolean one = i >= lead && own.get(i - lead).isFixed() && own.get(i - lead).value() == 1;
            if (i < lead || one && !(o.isFixed() && o.value() == 1)) {
                axes.add((long) i);
            }
        }
        if (axes.isEmpty()) {
            return grad;
        }
        String summed = pass.emit("ReduceSum", List.of(grad, pass.longs(axes.stream().mapToLong(Long::longValue)
                .toArray())), Attribute.ofLong("keepdims", 1));
        return lead == 0 ? summed : pass.emit("Reshape", List.of(summed, pass.emit("Shape", List.of(operand))));
    }

    private static void betweenActivations(Node n, String g, BackwardPass pass) {
        String a = n.inputs().get(0);
        String b = n.inputs().get(1);
        boolean va = pass.isVariable(a);
        boolean vb = pass.isVariable(b);
        String op = n.opType();
        if (va && vb) {
            if (op.equals("Div")) {
                throw pass.unsupported(n, "divides two activations ('" + a + "', '" + b + "')");
            }
            if (op.equals("Mul")) {
                // a gate x * g(z): the product rule, each side summed over the axes it was broadcast along
                pass.flowTo(n, 0, gateSummedTo(pass.emit("Mul", List.of(g, b)), a, n, pass));
                pass.flowTo(n, 1, gateSummedTo(pass.emit("Mul", List.of(g, a)), b, n, pass));
                return;
            }
            requireSameShape(n, a, b, pass);
            pass.flowTo(n, 0, g);
            pass.flowTo(n, 1, op.equals("Sub") ? pass.emit("Neg", List.of(g)) : g);
            return;
        }
        String act = va ? a : b;
        String other = va ? b : a;
        requireNotBroadcast(n, act, other, pass);
        String grad = switch (op) {
            case "Add" -> g;
            case "Sub" -> va ? g : pass.emit("Neg", List.of(g));
            case "Mul" -> pass.emit("Mul", List.of(g, other));
            default -> {
                if (!va) {
                    throw pass.unsupported(n, "divides a constant by an activation");
                }
                yield pass.emit("Div", List.of(g, other));
            }
        };
        pass.flowTo(n, va ? 0 : 1, grad);
    }

    /** {@code grad} (the shape of {@code n}'s output) summed over the axes along which gate operand {@code operand} was broadcast. */
    private static String gateSummedTo(String grad, String operand, Node n, BackwardPass pass) {
        List<Dim> from = pass.shape(n.outputs().get(0));
        List<Dim> to = pass.shape(operand);
        if (from == null || to == null || from.size() != to.size()) {
            throw pass.unsupported(n, "multiplies activations of unknown or different rank");
        }
        List<Long> axes = new ArrayList<>();
        for (int i = 0; i < to.size(); i++) {
            boolean one = to.get(i).isFixed() && to.get(i).value() == 1;
            if (one && !(from.get(i).isFixed() && from.get(i).value() == 1)) {
                axes.add((long) i);
            } else if (!one && !to.get(i).equals(from.get(i)) && to.get(i).isFixed() && from.get(i).isFixed()) {
                throw pass.unsupported(n, "multiplies activations that broadcast on axis " + i);
            }
        }
        if (axes.isEmpty()) {
            return grad;
        }
        return pass.emit("ReduceSum", List.of(grad, pass.longs(axes.stream().mapToLong(Long::longValue).toArray())),
                Attribute.ofLong("keepdims", 1));
    }

    private static void requireSameShape(Node n, String a, String b, BackwardPass pass) {
        List<Dim> sa = pass.shape(a);
        List<Dim> sb = pass.shape(b);
        if (sa == null || sb == null || !sa.equals(sb)) {
            throw pass.unsupported(n, "adds activations '" + a + "' " + sa + " and '" + b + "' " + sb
                    + " that may be broadcast; only equal shapes are supported");
        }
    }

    private static void requireNotBroadcast(Node n, String act, String constant, BackwardPass pass) {
        List<Dim> sa = pass.shape(act);
        List<Dim> sc = pass.constantShape(constant);
        if (sc == null) {
            return;
        }
        boolean broadcast = sa == null ? sc.size() > 1 : sc.size() > sa.size();
        if (sa != null && !broadcast) {
            for (int i = 1; i <= sc.size(); i++) {
                Dim da = sa.get(sa.size() - i);
                Dim dc = sc.get(sc.size() - i);
                // an unknown size (the batch, or tokens after a class token's Concat) is the constant's: the
                // planner checked with known shapes that the constant does not change the activation's shape
                if (dc.isFixed() && dc.value() > 1 && da.isFixed() && da.value() != dc.value()) {
                    broadcast = true;
                }
            }
        }
        if (broadcast) {
            throw pass.unsupported(n, "broadcasts its activation '" + act + "' " + sa + " against '" + constant + "' "
                    + sc + "; only a constant that broadcasts to the activation's shape is supported");
        }
    }
}
