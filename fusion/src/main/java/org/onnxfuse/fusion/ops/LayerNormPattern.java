package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * LayerNorm as exporters write it before opset 17 had an op for it (torch at opset 13):
 * d = x - ReduceMean(x), y = d / Sqrt(ReduceMean(Pow(d, 2)) + eps), then optionally Mul by a
 * per-neuron scale and Add of a per-neuron bias, both over one axis. Every intermediate value
 * feeds only the next step. The signature records the axis and epsilon; the planner checks that
 * the axis is the neurons' (the last one).
 */
public final class LayerNormPattern implements OpPattern {
    LayerNormPattern() {
    }

    @Override
    public String opType() {
        return "LayerNormalization";
    }

    @Override
    public OpRole role() {
        return OpRole.NEURON_NORM;
    }

    @Override
    public String displayName() {
        return "LayerNorm (decomposed: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add)";
    }

    @Override
    public Optional<PatternMatch> match(String x, GraphView g) {
        // x may have more readers than the LayerNorm (the skip of a residual stream)
        List<Node> readers = g.consumers(x);
        Node mean = readers.stream().filter(n -> is(n, "ReduceMean", 1)).findFirst().orElse(null);
        Node centre = readers.stream().filter(n -> is(n, "Sub", 2)).findFirst().orElse(null);
        if (mean == null || centre == null || !centre.inputs().equals(List.of(x, out(mean)))
                || !only(g, out(mean), centre)) {
            return Optional.empty();
        }
        Long axis = singleAxis(mean);
        String d = out(centre);
        List<Node> dReaders = g.consumers(d);
        if (axis == null || mean.longAttribute("keepdims", 1) != 1 || dReaders.size() != 2 || g.isGraphOutput(d)) {
            return Optional.empty();
        }
        Node square = dReaders.stream().filter(n -> is(n, "Pow", 2)).findFirst().orElse(null);
        Node divide = dReaders.stream().filter(n -> is(n, "Div", 2)).findFirst().orElse(null);
        if (square == null || divide == null || !square.inputs().get(0).equals(d)
                || !g.scalar(square.inputs().get(1)).map(v -> v == 2.0).orElse(false)) {
            return Optional.empty();
        }
        Node variance = next(g, square, "ReduceMean", 1);
        if (variance == null || !axis.equals(singleAxis(variance)) || variance.longAttribute("keepdims", 1) != 1) {
            return Optional.empty();
        }
        Node addEps = next(g, variance, "Add", 2);
        Optional<Double> eps = addEps == null ? Optional.empty() : g.scalar(other(addEps, out(variance)));
        Node root = addEps == null ? null : next(g, addEps, "Sqrt", 1);
        if (eps.isEmpty() || root == null || !only(g, out(root), divide)
                || !divide.inputs().equals(List.of(d, out(root)))) {
            return Optional.empty();
        }
        List<Node> nodes = new ArrayList<>(List.of(mean, centre, square, variance, addEps, root, divide));
        Node scale = next(g, divide, "Mul", 2);
        if (scale != null && perNeuron(g, other(scale, out(divide)))) {
            nodes.add(scale);
            Node shift = next(g, scale, "Add", 2);
            if (shift != null && perNeuron(g, other(shift, out(scale)))) {
                nodes.add(shift);
            }
        }
        String output = out(nodes.get(nodes.size() - 1));
        nodes.addAll(g.privateConstants(nodes));
        return Optional.of(new PatternMatch(opType(), role(), g.sorted(nodes), x, output,
                Map.of("axis", Long.toString(axis), "epsilon", Float.toString(eps.get().floatValue()))));
    }

    /**
     * The per-neuron scale and bias nodes of a match ({@code nodes} as matched): the Mul of the
     * normalised value by a constant, and the Add of a constant after it; null where absent.
     */
    public static Node[] affineNodes(List<Node> nodes) {
        Node divide = null;
        Node scale = null;
        Node shift = null;
        for (Node n : nodes) {
            if (n.opType().equals("Div")) {
                divide = n;
            }
        }
        for (Node n : nodes) {
            if (divide != null && n.opType().equals("Mul") && n.inputs().contains(out(divide))) {
                scale = n;
            }
        }
        for (Node n : nodes) {
            if (scale != null && n.opType().equals("Add") && n.inputs().contains(out(scale))) {
                shift = n;
            }
        }
        return new Node[] {scale, shift};
    }

    /**
     * The LayerNormalization node that computes what {@code m} (a match of this pattern) does,
     * reading its scale and bias constants, for rules written for the op (the backward pass);
     * empty when the match has no per-neuron scale.
     */
    public static Optional<Node> asLayerNormalization(PatternMatch m) {
        Node[] affine = affineNodes(m.nodes());
        if (affine[0] == null) {
            return Optional.empty();
        }
        String normalised = affine[0].inputs().stream().filter(in -> m.nodes().stream()
                .anyMatch(n -> n.outputs().contains(in))).findFirst().orElseThrow();
        List<String> inputs = new ArrayList<>(List.of(m.input(), other(affine[0], normalised)));
        if (affine[1] != null) {
            inputs.add(other(affine[1], affine[0].outputs().get(0)));
        }
        return Optional.of(Node.of(affine[0].name().isEmpty() ? m.output() : affine[0].name(), "LayerNormalization",
                inputs, List.of(m.output()), org.onnxfuse.onnx.ir.Attribute.ofLong("axis",
                        Long.parseLong(m.signature().get("axis"))),
                org.onnxfuse.onnx.ir.Attribute.ofFloat("epsilon", Float.parseFloat(m.signature().get("epsilon")))));
    }

    /** The first axis a ReduceMean reduces over when it reduces one (the attribute form, opset < 18), else null. */
    private static Long singleAxis(Node reduceMean) {
        long[] axes = reduceMean.longsAttribute("axes", null);
        return axes != null && axes.length == 1 ? axes[0] : null;
    }

    /** A constant of one value per neuron: rank 1 (a scalar would not be per neuron). */
    private static boolean perNeuron(GraphView g, String value) {
        Optional<Tensor> t = g.constant(value);
        return t.isPresent() && t.get().dims().length == 1;
    }

    /** The only reader of {@code node}'s output when it is a {@code opType} with {@code inputs} inputs. */
    private static Node next(GraphView g, Node node, String opType, int inputs) {
        List<Node> readers = g.consumers(out(node));
        if (readers.size() != 1 || g.isGraphOutput(out(node)) || !is(readers.get(0), opType, inputs)) {
            return null;
        }
        return readers.get(0);
    }

    private static boolean only(GraphView g, String value, Node reader) {
        return g.consumers(value).equals(List.of(reader)) && !g.isGraphOutput(value);
    }

    private static String other(Node binary, String value) {
        return binary.inputs().get(0).equals(value) ? binary.inputs().get(1) : binary.inputs().get(0);
    }

    private static String out(Node n) {
        return n.outputs().get(0);
    }

    private static boolean is(Node n, String opType, int inputs) {
        return n.isDefaultDomain() && n.opType().equals(opType) && n.inputs().size() == inputs
                && n.outputs().size() == 1;
    }
}
