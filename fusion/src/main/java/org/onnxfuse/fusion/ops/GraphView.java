package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Read-only lookups over one graph that op handlers and the planner need: consumers of a value
 * (indexed once, so walking a large graph stays linear) and constant values, which are
 * initializers or outputs of {@code Constant} nodes. Parameter inputs of level ops (Clip bounds,
 * Reshape shapes, the GELU pattern's constants) may come from either; weights of affine ops must
 * be initializers, since fusion rewrites them in place.
 */
public final class GraphView {
    private final Graph graph;
    private final Map<String, List<Node>> consumers = new HashMap<>();
    private final Map<Node, Integer> positions = new IdentityHashMap<>();

    public GraphView(Graph graph) {
        this.graph = graph;
        for (Node n : graph.topologicalOrder()) {
            positions.put(n, positions.size());
            for (String in : n.inputs()) {
                if (!in.isEmpty()) {
                    List<Node> list = consumers.computeIfAbsent(in, k -> new ArrayList<>());
                    if (list.isEmpty() || list.get(list.size() - 1) != n) {
                        list.add(n);
                    }
                }
            }
        }
    }

    public Graph graph() {
        return graph;
    }

    /** Nodes reading {@code value}, in topological order, each once. */
    public List<Node> consumers(String value) {
        return List.copyOf(consumers.getOrDefault(value, List.of()));
    }

    /** Position of {@code node} in the graph's topological order. */
    public int position(Node node) {
        Integer p = positions.get(node);
        if (p == null) {
            throw new IllegalArgumentException("node " + node.describe() + " is not in graph '" + graph.name() + "'");
        }
        return p;
    }

    /** {@code nodes} sorted into topological order. */
    public List<Node> sorted(Collection<Node> nodes) {
        return nodes.stream().sorted(Comparator.comparingInt(this::position)).toList();
    }

    /**
     * Constant nodes that feed {@code nodes} and nothing else: they belong to those nodes (a
     * Constant shared with other nodes is left out, so no node is owned twice).
     */
    public List<Node> privateConstants(Collection<Node> nodes) {
        Set<Node> owners = Collections.newSetFromMap(new IdentityHashMap<>());
        owners.addAll(nodes);
        Set<Node> found = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node n : nodes) {
            for (String in : n.inputs()) {
                constantNode(in).filter(c -> !found.contains(c)
                        && c.outputs().stream().filter(o -> !o.isEmpty()).allMatch(o -> !isGraphOutput(o)
                        && consumers(o).stream().allMatch(owners::contains))).ifPresent(found::add);
            }
        }
        return sorted(found);
    }

    /** Whether {@code value} is one of the graph's outputs. */
    public boolean isGraphOutput(String value) {
        return graph.outputs().stream().anyMatch(v -> v.name().equals(value));
    }

    /** Whether {@code value} is used at all: read by a node or a graph output. */
    public boolean isUsed(String value) {
        return !value.isEmpty() && (consumers.containsKey(value) || isGraphOutput(value));
    }

    /** Whether {@code value} is an initializer or the output of a Constant node (an empty name counts: omitted). */
    public boolean isConstant(String value) {
        return value.isEmpty() || graph.initializer(value).isPresent() || constantNode(value).isPresent();
    }

    /** The initializer named {@code value}, if any. */
    public Optional<Tensor> initializer(String value) {
        return graph.initializer(value);
    }

    /** The Constant node producing {@code value}, if any. */
    public Optional<Node> constantNode(String value) {
        return graph.producer(value).filter(GraphView::isConstantNode);
    }

    public static boolean isConstantNode(Node n) {
        return n.isDefaultDomain() && n.opType().equals("Constant");
    }

    /** The value of an initializer or Constant node output; empty for anything else. */
    public Optional<Tensor> constant(String value) {
        if (value.isEmpty()) {
            return Optional.empty();
        }
        Optional<Tensor> init = graph.initializer(value);
        if (init.isPresent()) {
            return init;
        }
        return constantNode(value).flatMap(n -> constantValue(n, value));
    }

    /**
     * The value a Constant node {@code n} writes, named {@code name}: its tensor, or its numeric
     * value_float(s) / value_int(s) as float32 / int64; empty for sparse and string forms.
     */
    public static Optional<Tensor> constantValue(Node n, String name) {
        for (Attribute a : n.attributes().values()) {
            switch (a.name()) {
                case "value" -> {
                    return Optional.of(a.asTensor());
                }
                case "value_float" -> {
                    return Optional.of(Tensor.ofFloats(name, new long[0], new float[] {a.asFloat()}));
                }
                case "value_floats" -> {
                    float[] f = a.asFloats();
                    return Optional.of(Tensor.ofFloats(name, new long[] {f.length}, f));
                }
                case "value_int" -> {
                    return Optional.of(Tensor.ofLongs(name, new long[0], new long[] {a.asLong()}));
                }
                case "value_ints" -> {
                    long[] l = a.asLongs();
                    return Optional.of(Tensor.ofLongs(name, new long[] {l.length}, l));
                }
                default -> {
                    // sparse_value, value_string(s): not numbers a level uses
                }
            }
        }
        return Optional.empty();
    }

    /** A one-element numeric constant, if {@code value} is one. */
    public Optional<Double> scalar(String value) {
        return constant(value).filter(t -> t.elementCount() == 1 && t.dataType().isNumericDecodable()
                && t.data() != null).map(t -> t.toDoubles()[0]);
    }

    /** Describes where a value comes from, for error messages: "node 'x' (Op)", "graph input", .... */
    public String origin(String value) {
        if (graph.initializer(value).isPresent()) {
            return "initializer '" + value + "'";
        }
        Optional<Node> p = graph.producer(value);
        if (p.isPresent()) {
            return "node " + quote(p.get());
        }
        return "graph input '" + value + "'";
    }

    /** "'name' (OpType)". */
    public static String quote(Node n) {
        return "'" + n.name() + "' (" + n.opType() + ")";
    }
}
