package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Moves the Transposes that swap the first two axes of rank-3 activations ({@code [1, 0, 2]}:
 * tokens first [T, N, D] to batch first and back) forward through the ops that act on the last
 * axis alone, until they cancel in pairs or are taken into a mean or a Gather over the tokens, so
 * that a model whose transformer runs tokens first ({@code nn.MultiheadAttention(batch_first=False)},
 * torch's default, rewritten batch first by {@link MultiheadAttentionLayout} between two such
 * Transposes) keeps its batch on axis 0 throughout, as the planner needs. The function is
 * unchanged.
 *
 * <p>A swap {@code Y = T(X)} moves past a reader of {@code Y} that is: another swap (both
 * dropped: its readers read {@code X}); an op on the last axis whose other inputs are constants
 * that broadcast along the last axis only (MatMul by a 2-d weight, LayerNormalization and Softmax
 * over the last axis, ReduceMean over it kept, unary ops, Add/Sub/Mul/Div/Pow) or, for the
 * binary ops, whose other operand is a swap too: the op then reads {@code X} and a swap of its
 * output writes its old output; a ReduceMean over axis 0 or 1 without keepdims, or a Gather of one
 * constant position of axis 0 or 1 (the tokens' mean, the first token): the op then reads
 * {@code X} along the other axis and no swap follows. Swaps nothing reads any more are removed.
 */
final class BatchAxisTransposes {
    private static final Set<String> UNARY = Set.of("Relu", "Gelu", "Erf", "Tanh", "Sigmoid", "Sqrt", "Exp", "Neg",
            "Abs", "Identity", "Softplus", "LeakyRelu", "Elu", "HardSigmoid", "HardSwish", "Reciprocal");
    private static final Set<String> BINARY = Set.of("Add", "Sub", "Mul", "Div", "Pow");

    private BatchAxisTransposes() {
    }

    /** Whether {@code n} swaps the first two axes of a rank-3 value. */
    static boolean isSwap(Node n) {
        return GraphRewrite.isTranspose(n, 1, 0, 2);
    }

    /** {@code g} with the swaps moved and cancelled as far as they go. */
    static Graph sink(Graph g) {
        boolean again = true;
        while (again) {
            again = false;
            GraphView view = new GraphView(g);
            search:
            for (Node swap : g.topologicalOrder()) {
                if (!isSwap(swap) || view.isConstant(swap.inputs().get(0))) {
                    continue;
                }
                for (Node reader : view.consumers(swap.outputs().get(0))) {
                    Optional<Graph> moved = past(g, view, swap, reader);
                    if (moved.isPresent()) {
                        g = moved.get();
                        again = true;
                        break search;
                    }
                }
            }
        }
        Set<Node> swaps = Collections.newSetFromMap(new IdentityHashMap<>());
        g.nodes().stream().filter(BatchAxisTransposes::isSwap).forEach(swaps::add);
        return GraphRewrite.finish(g, g.toBuilder(), g.nodes(), swaps, List.of()).orElse(g);
    }

    /** {@code g} with {@code swap} moved past {@code reader}, if the reader allows it. */
    private static Optional<Graph> past(Graph g, GraphView view, Node swap, Node reader) {
        String x = swap.inputs().get(0);
        String y = swap.outputs().get(0);
        if (!reader.isDefaultDomain() || reader.outputs().size() != 1) {
            return Optional.empty();
        }
        String op = reader.opType();
        String out = reader.outputs().get(0);
        if (isSwap(reader)) {
            if (view.isGraphOutput(out)) {
                return Optional.empty(); // its readers could read x, the graph output cannot
            }
            List<Node> nodes = new ArrayList<>();
            for (Node n : g.nodes()) {
                if (n != reader) {
                    nodes.add(n.inputs().contains(out) ? n.withInputs(n.inputs().stream()
                            .map(v -> v.equals(out) ? x : v).toList()) : n);
                }
            }
            return Optional.of(g.toBuilder().nodes(nodes).build());
        }
        if (op.equals("ReduceMean") && reader.longAttribute("keepdims", 1) == 0) {
            long[] axes = reader.longsAttribute("axes", null);
            if (reader.inputs().size() != 1 || axes == null || axes.length != 1 || !(axes[0] == 0 || axes[0] == 1)) {
                return Optional.empty();
            }
            return Optional.of(replaced(g, reader, List.of(reader.withInputs(List.of(x))
                    .withAttribute(Attribute.ofLongs("axes", 1 - axes[0])))));
        }
        if (op.equals("Gather") && reader.inputs().get(0).equals(y)) {
            long axis = reader.longAttribute("axis", 0);
            Optional<Tensor> index = view.constant(reader.inputs().get(1));
            if (!(axis == 0 || axis == 1) || index.isEmpty() || index.get().rank() != 0) {
                return Optional.empty();
            }
            return Optional.of(replaced(g, reader, List.of(reader.withInputs(List.of(x, reader.inputs().get(1)))
                    .withAttribute(Attribute.ofLong("axis", 1 - axis)))));
        }
        List<String> inputs = new ArrayList<>();
        for (int i = 0; i < reader.inputs().size(); i++) {
            String in = reader.inputs().get(i);
            if (in.equals(y)) {
                inputs.add(x);
            } else if (in.isEmpty() || view.isConstant(in) && alongLastAxis(reader, i, view)) {
                inputs.add(in);
            } else {
                Node other = BINARY.contains(op) ? g.producer(in).orElse(null) : null;
                if (other == null || !isSwap(other)) {
                    return Optional.empty();
                }
                inputs.add(other.inputs().get(0));
            }
        }
        if (!actsOnLastAxis(reader, view)) {
            return Optional.empty();
        }
        Set<String> names = Names.usedIn(g);
        String batchFirst = Names.fresh(out + "_batch_first", names);
        Node moved = reader.withInputs(inputs).withOutputs(List.of(batchFirst));
        Node back = new Node(Names.fresh(swap.name() + "_moved", names), "Transpose", "", List.of(batchFirst),
                List.of(out), Map.of("perm", Attribute.ofLongs("perm", 1, 0, 2)), "", swap.origin());
        return Optional.of(replaced(g, reader, List.of(moved, back)));
    }

    /** Whether {@code n} computes each position from the last axis alone (rank-3 operands). */
    private static boolean actsOnLastAxis(Node n, GraphView view) {
        String op = n.opType();
        if (UNARY.contains(op) || BINARY.contains(op)) {
            return true;
        }
        return switch (op) {
            case "MatMul" -> view.initializer(n.inputs().get(1)).map(w -> w.rank() == 2).orElse(false);
            case "LayerNormalization", "Softmax", "LogSoftmax" -> lastAxis(n.longAttribute("axis", -1));
            case "ReduceMean" -> n.inputs().size() == 1 && n.longAttribute("keepdims", 1) != 0
                    && n.longsAttribute("axes", null) != null && n.longsAttribute("axes", null).length == 1
                    && lastAxis(n.longsAttribute("axes", null)[0]);
            default -> false;
        };
    }

    private static boolean lastAxis(long axis) {
        return axis == -1 || axis == 2;
    }

    /** Whether constant input {@code i} of {@code n} broadcasts along the last axis only (or is a weight). */
    private static boolean alongLastAxis(Node n, int i, GraphView view) {
        if (!BINARY.contains(n.opType())) {
            return i > 0; // a MatMul's weight, a LayerNormalization's scale and bias
        }
        Optional<Tensor> c = view.constant(n.inputs().get(i));
        if (c.isEmpty()) {
            return false;
        }
        long[] dims = c.get().dims();
        for (int d = 0; d < dims.length - 1; d++) {
            if (dims[d] != 1) {
                return false;
            }
        }
        return dims.length <= 3;
    }

    private static Graph replaced(Graph g, Node node, List<Node> replacement) {
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (n == node) {
                nodes.addAll(replacement);
            } else {
                nodes.add(n);
            }
        }
        return g.toBuilder().nodes(nodes).build();
    }
}
