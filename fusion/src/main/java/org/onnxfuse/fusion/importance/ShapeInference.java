package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.OpHandler;
import org.onnxfuse.fusion.ops.OpRegistry;
import org.onnxfuse.fusion.ops.PatternMatch;
import org.onnxfuse.fusion.ops.ShapeComputation;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;

/**
 * The shapes of the values a backward graph differentiates, worked out forward from the declared
 * inputs: the op handlers' ({@link OpHandler#outputShape}) where they apply, and here the forms
 * the handlers refuse or do not know because fusion does not plan them (grouped Conv, weights
 * that are parameters, broadcasting of two variable operands, LayerNormalization, Expand). An
 * output whose shape cannot be worked out is left out; only a rule that needs it fails.
 */
final class ShapeInference {
    private final Graph graph;
    private final GraphView view;
    private final long opset;
    private final Set<String> variable;
    private final Map<Node, PatternMatch> patternOf;
    private final Map<String, List<Dim>> shapes = new HashMap<>();

    ShapeInference(Graph graph, GraphView view, long opset, Set<String> variable, Map<Node, PatternMatch> patternOf) {
        this.graph = graph;
        this.view = view;
        this.opset = opset;
        this.variable = variable;
        this.patternOf = patternOf;
    }

    /**
     * The shapes of the sources (declared; a source computed by one of {@code nodes}, a segment's
     * input, keeps its declared shape), the parameters (their initializers') and the outputs of
     * {@code nodes} that are variable, where they can be worked out.
     */
    Map<String, List<Dim>> infer(Set<Node> nodes, Set<String> sources, Set<String> parameters) {
        for (String s : sources) {
            graph.declaredType(s).filter(TensorType::hasShape).ifPresent(t -> shapes.put(s, t.shape()));
        }
        for (String p : parameters) {
            shapes.put(p, Arrays.stream(graph.initializer(p).orElseThrow().dims()).mapToObj(Dim::of).toList());
        }
        for (Node n : graph.topologicalOrder()) {
            if (!nodes.contains(n) || n.outputs().isEmpty() || !variable.contains(n.outputs().get(0))) {
                continue;
            }
            if (sources.contains(n.outputs().get(0)) && shapes.containsKey(n.outputs().get(0))) {
                // a declared source's shape is what the graph is fed (a trained segment's input has the rows'
                // shape, [N, 17, 32], where what computes it upstream, a class token's Concat, leaves [N, ?, 32])
                continue;
            }
            List<Dim> out = null;
            try {
                out = outputShape(n);
            } catch (RuntimeException e) {
                // unknown shape: only an error where a rule needs it
            }
            if (out == null) {
                // no rule for this op's shape: a declared shape of its output still lets later rules work
                out = graph.declaredType(n.outputs().get(0)).filter(TensorType::hasShape).map(TensorType::shape)
                        .orElse(null);
            }
            if (out != null) {
                shapes.put(n.outputs().get(0), out);
            }
        }
        return shapes;
    }

    private List<Dim> outputShape(Node n) {
        if (patternOf.containsKey(n)) {
            PatternMatch m = patternOf.get(n);
            return n.outputs().get(0).equals(m.output()) ? shapes.get(m.input()) : null;
        }
        String a = activationInput(n);
        List<Dim> in = a == null ? null : shapes.get(a);
        switch (n.opType()) {
            case "Gemm" -> {
                List<Dim> b = constantShape(n.inputs().get(1));
                if (in == null || b == null) {
                    return null;
                }
                Dim rows = n.longAttribute("transA", 0) != 0 ? in.get(1) : in.get(0);
                Dim cols = n.longAttribute("transB", 0) != 0 ? b.get(0) : b.get(1);
                return List.of(rows, cols);
            }
            case "MatMul" -> {
                // a 2-d right operand: the weight of x W, or the activation of W x
                List<Dim> left = shapeOrConstant(n.inputs().get(0));
                List<Dim> right = shapeOrConstant(n.inputs().get(1));
                boolean activations = variable.contains(n.inputs().get(0)) && variable.contains(n.inputs().get(1));
                if (left == null || right == null || right.size() != 2
                        && !(activations && right.size() == left.size())) {
                    return null;
                }
                List<Dim> out = new ArrayList<>(left.subList(0, left.size() - 1));
                out.add(right.get(right.size() - 1));
                return out;
            }
            case "Add", "Sub", "Mul", "Div" -> {
                return variable.contains(n.inputs().get(0)) && variable.contains(n.inputs().get(1))
                        ? broadcast(shapes.get(n.inputs().get(0)), shapes.get(n.inputs().get(1))) : in;
            }
            case "Concat" -> {
                return concatenated(n);
            }
            case "Conv" -> {
                List<Dim> w = constantShape(n.inputs().get(1));
                if (in == null || w == null || in.size() != w.size()) {
                    return null;
                }
                long[] kernel = w.subList(2, w.size()).stream().mapToLong(Dim::sizeOrMinusOne).toArray();
                return Shapes.slide(n, in, Shapes.window(n, kernel, false), w.get(0));
            }
            case "LayerNormalization" -> {
                return n.inputs().get(0).equals(a) ? in : null;
            }
            case "Expand" -> {
                return expanded(n, in);
            }
            case "Reshape" -> {
                if (in != null && n.inputs().size() == 2 && !view.isConstant(n.inputs().get(1))
                        && ShapeComputation.of(n.inputs().get(1), a, view).isEmpty()) {
                    return ShapeComputation.reshaped(n, in, view, v -> {
                        List<Dim> s = shapes.get(v);
                        if (s == null) {
                            throw new IllegalStateException("no shape for '" + v + "'");
                        }
                        return s;
                    });
                }
            }
            default -> {
            }
        }
        OpHandler h = OpRegistry.standard().find(n, n.isDefaultDomain() ? opset : -1).orElse(null);
        if (h == null || in == null) {
            return null;
        }
        return h.outputShape(n, in, view);
    }

    /** Two variable values' shapes broadcast against each other (aligned at the last axis), or null when unknown. */
    private static List<Dim> broadcast(List<Dim> a, List<Dim> b) {
        if (a == null || b == null) {
            return null;
        }
        int rank = Math.max(a.size(), b.size());
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < rank; i++) {
            Dim da = i < rank - a.size() ? Dim.of(1) : a.get(i - rank + a.size());
            Dim db = i < rank - b.size() ? Dim.of(1) : b.get(i - rank + b.size());
            out.add(da.isFixed() && da.value() == 1 || !da.isFixed() && db.isFixed() && db.value() > 1 ? db : da);
        }
        return out;
    }

    /**
     * Expand's output: the broadcast with a constant target; with a computed target (a class
     * token expanded to the batch) the input's rank, sizes other than 1 kept, the others unknown.
     */
    private List<Dim> expanded(Node n, List<Dim> in) {
        if (in == null) {
            return null;
        }
        Optional<Tensor> target = view.constant(n.inputs().get(1));
        if (target.isPresent()) {
            return broadcast(in, Arrays.stream(target.get().toLongs()).mapToObj(Dim::of).toList());
        }
        return in.stream().map(d -> d.isFixed() && d.value() == 1 ? Dim.UNKNOWN : d).toList();
    }

    /**
     * A Concat's output shape from its inputs' shapes (a constant's, or a parameter's expanded to
     * the batch, where an input is not variable): the first known shape, with the axis's size the
     * sum of the inputs' or unknown when some input's is.
     */
    private List<Dim> concatenated(Node n) {
        List<List<Dim>> inputs = new ArrayList<>();
        List<Dim> first = null;
        for (String in : n.inputs()) {
            List<Dim> s = in.isEmpty() ? null : shapes.get(in);
            if (s == null && !in.isEmpty()) {
                s = constantShape(in);
            }
            if (s == null && !in.isEmpty()) {
                Node producer = graph.producer(in).orElse(null);
                if (producer != null && producer.opType().equals("Expand") && view.isConstant(producer.inputs().get(0))) {
                    s = expanded(producer, constantShape(producer.inputs().get(0)));
                }
            }
            inputs.add(s);
            if (first == null && s != null && shapes.containsKey(in)) {
                first = s;
            }
        }
        if (first == null) {
            return null;
        }
        int axis = ConcatGradient.axis(n, first.size());
        long total = 0;
        for (List<Dim> s : inputs) {
            if (s == null || s.size() != first.size() || !s.get(axis).isFixed()) {
                total = -1;
                break;
            }
            total += s.get(axis).value();
        }
        List<Dim> out = new ArrayList<>(first);
        out.set(axis, total < 0 ? Dim.UNKNOWN : Dim.of(total));
        return out;
    }

    /** The shape of a constant (initializer, Constant output) or of a value with a declared type, or null. */
    static List<Dim> constantShape(Graph graph, GraphView view, String value) {
        return view.constant(value).map(t -> Arrays.stream(t.dims()).mapToObj(Dim::of).toList())
                .or(() -> graph.declaredType(value).filter(TensorType::hasShape).map(TensorType::shape))
                .orElse(null);
    }

    private List<Dim> constantShape(String value) {
        return constantShape(graph, view, value);
    }

    private List<Dim> shapeOrConstant(String value) {
        return variable.contains(value) ? shapes.get(value) : constantShape(value);
    }

/** The one variable input of a node (the first, when several). */
    private String activationInput(Node n) {
        for (String in : n.inputs()) {
            if (variable.contains(in)) {
                return in;
            }
        }
        return null;
    }
}
