package org.onnxfuse.onnx.ir;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/**
 * A computation graph: nodes, declared inputs/outputs/intermediate types and initializers.
 * Immutable and validated on construction: tensor names are unique, the nodes form no cycle,
 * and (for a top-level graph) every consumed value has a producer. Sub-graphs of control-flow
 * ops are checked by their top-level graph, since they may read values of enclosing scopes.
 * Edit through {@link #toBuilder()}.
 */
public final class Graph {
    private final String name;
    private final List<Node> nodes;
    private final List<ValueInfo> inputs;
    private final List<ValueInfo> outputs;
    private final List<ValueInfo> valueInfos;
    private final Map<String, Tensor> initializers;
    private final String docString;
    private final ProtoOrigin origin;
    private final Map<String, Node> producers;
    private final List<Node> topologicalOrder;

    private Graph(Builder b) {
        this.name = b.name == null ? "" : b.name;
        this.nodes = List.copyOf(b.nodes);
        this.inputs = List.copyOf(b.inputs);
        this.outputs = List.copyOf(b.outputs);
        this.valueInfos = List.copyOf(b.valueInfos);
        LinkedHashMap<String, Tensor> inits = new LinkedHashMap<>();
        for (Tensor t : b.initializers) {
            if (inits.put(t.name(), t) != null) {
                throw duplicate(t.name(), "two initializers");
            }
        }
        this.initializers = Collections.unmodifiableMap(inits);
        this.docString = b.docString == null ? "" : b.docString;
        this.origin = b.origin;
        this.producers = Collections.unmodifiableMap(indexProducers());
        this.topologicalOrder = List.copyOf(sortTopologically());
        if (!b.subgraph) {
            checkProducers(Set.of());
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.name = name;
        b.nodes.addAll(nodes);
        b.inputs.addAll(inputs);
        b.outputs.addAll(outputs);
        b.valueInfos.addAll(valueInfos);
        b.initializers.addAll(initializers.values());
        b.docString = docString;
        b.origin = origin;
        return b;
    }

    private static ModelFormatException duplicate(String tensor, String what) {
        return new ModelFormatException(ErrorCode.DUPLICATE_NAME,
                "duplicate tensor name '" + tensor + "': defined by " + what + "; every tensor name must be unique");
    }

    private Map<String, Node> indexProducers() {
        Map<String, Node> byOutput = new HashMap<>();
        Set<String> graphInputs = new HashSet<>();
        for (ValueInfo in : inputs) {
            if (!graphInputs.add(in.name())) {
                throw duplicate(in.name(), "two graph inputs");
            }
        }
        for (Node n : nodes) {
            for (String out : n.outputs()) {
                if (out.isEmpty()) {
                    continue;
                }
                Node previous = byOutput.put(out, n);
                if (previous != null) {
                    throw duplicate(out, "nodes " + previous.describe() + " and " + n.describe());
                }
                if (graphInputs.contains(out)) {
                    throw duplicate(out, "graph input and node " + n.describe());
                }
                if (initializers.containsKey(out)) {
                    throw duplicate(out, "initializer and node " + n.describe());
                }
            }
        }
        return byOutput;
    }

    private List<Node> sortTopologically() {
        Map<Node, Integer> pending = new HashMap<>();
        Map<Node, List<Node>> consumers = new HashMap<>();
        for (Node n : nodes) {
            int count = 0;
            for (String in : n.inputs()) {
                Node p = producers.get(in);
                if (p != null) {
                    count++;
                    consumers.computeIfAbsent(p, k -> new ArrayList<>()).add(n);
                }
            }
            pending.merge(n, count, Integer::sum);
        }
        Deque<Node> ready = new ArrayDeque<>();
        for (Node n : nodes) {
            if (pending.get(n) == 0) {
                ready.add(n);
            }
        }
        List<Node> order = new ArrayList<>(nodes.size());
        while (!ready.isEmpty()) {
            Node n = ready.poll();
            order.add(n);
            for (Node c : consumers.getOrDefault(n, List.of())) {
                if (pending.merge(c, -1, Integer::sum) == 0) {
                    ready.add(c);
                }
            }
        }
        if (order.size() != nodes.size()) {
            Set<Node> sorted = Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            sorted.addAll(order);
            String stuck = nodes.stream().filter(n -> !sorted.contains(n)).limit(5).map(Node::describe)
                    .collect(Collectors.joining(", "));
            throw new ModelFormatException(ErrorCode.CYCLIC_GRAPH, "graph '" + name + "' has a cycle through nodes "
                    + stuck + "; an ONNX graph must be acyclic");
        }
        return order;
    }

    /** Checks that every value consumed here or in sub-graphs is produced, given enclosing scopes' names. */
    void checkProducers(Set<String> outerScope) {
        Set<String> visible = new HashSet<>(outerScope);
        inputs.forEach(v -> visible.add(v.name()));
        visible.addAll(initializers.keySet());
        visible.addAll(producers.keySet());
        for (Node n : nodes) {
            for (String in : n.inputs()) {
                if (!in.isEmpty() && !visible.contains(in)) {
                    throw new ModelFormatException(ErrorCode.MISSING_PRODUCER, "node " + n.describe() + " reads '" + in
                            + "', which no node, graph input or initializer of graph '" + name + "' produces");
                }
            }
            n.subgraphs().forEach(g -> g.checkProducers(visible));
        }
        for (ValueInfo out : outputs) {
            if (!visible.contains(out.name())) {
                throw new ModelFormatException(ErrorCode.MISSING_PRODUCER, "graph output '" + out.name()
                        + "' of graph '" + name + "' is produced by no node, graph input or initializer");
            }
        }
    }

    public String name() {
        return name;
    }

    /** Nodes in file order. */
    public List<Node> nodes() {
        return nodes;
    }

    /** Nodes ordered so that every producer comes before its consumers (stable for sorted files). */
    public List<Node> topologicalOrder() {
        return topologicalOrder;
    }

    public List<ValueInfo> inputs() {
        return inputs;
    }

    /** Graph inputs that are not also initializers (the values a caller must feed). */
    public List<ValueInfo> feedInputs() {
        return inputs.stream().filter(v -> !initializers.containsKey(v.name())).toList();
    }

    public List<ValueInfo> outputs() {
        return outputs;
    }

    public List<ValueInfo> valueInfos() {
        return valueInfos;
    }

    public Map<String, Tensor> initializers() {
        return initializers;
    }

    public Optional<Tensor> initializer(String tensorName) {
        return Optional.ofNullable(initializers.get(tensorName));
    }

    public String docString() {
        return docString;
    }

    public ProtoOrigin origin() {
        return origin;
    }

    /** The node that outputs {@code value}, if any. */
    public Optional<Node> producer(String value) {
        return Optional.ofNullable(producers.get(value));
    }

    /** Nodes that read {@code value}, in topological order. */
    public List<Node> consumers(String value) {
        return topologicalOrder.stream().filter(n -> n.inputs().contains(value)).toList();
    }

    /** Declared type of a value (graph input, output or value_info), if any. */
    public Optional<TensorType> declaredType(String value) {
        for (List<ValueInfo> list : List.of(inputs, outputs, valueInfos)) {
            for (ValueInfo v : list) {
                if (v.name().equals(value) && v.tensorType() != null) {
                    return Optional.of(v.tensorType());
                }
            }
        }
        Tensor t = initializers.get(value);
        if (t != null) {
            List<Dim> dims = new ArrayList<>();
            for (long d : t.dims()) {
                dims.add(Dim.of(d));
            }
            return Optional.of(new TensorType(t.dataType(), dims));
        }
        return Optional.empty();
    }

    /** Mutable assembly of a graph; {@link #build()} validates. */
    public static final class Builder {
        private String name;
        private final List<Node> nodes = new ArrayList<>();
        private final List<ValueInfo> inputs = new ArrayList<>();
        private final List<ValueInfo> outputs = new ArrayList<>();
        private final List<ValueInfo> valueInfos = new ArrayList<>();
        private final List<Tensor> initializers = new ArrayList<>();
        private String docString;
        private ProtoOrigin origin;
        private boolean subgraph;

        private Builder() {
        }

        public Builder name(String value) {
            this.name = value;
            return this;
        }

        public Builder docString(String value) {
            this.docString = value;
            return this;
        }

        public Builder origin(ProtoOrigin value) {
            this.origin = value;
            return this;
        }

        /** Marks a control-flow body, whose reads of enclosing scopes are checked by the parent graph. */
        public Builder subgraph(boolean value) {
            this.subgraph = value;
            return this;
        }

        public Builder addNode(Node node) {
            nodes.add(Objects.requireNonNull(node));
            return this;
        }

        public Builder nodes(List<Node> value) {
            nodes.clear();
            nodes.addAll(value);
            return this;
        }

        /** Replaces the node whose name equals {@code replacement.name()}. */
        public Builder replaceNode(Node original, Node replacement) {
            int i = indexOfIdentity(original);
            if (i < 0) {
                throw new IllegalArgumentException("node " + original.describe() + " is not in this graph");
            }
            nodes.set(i, replacement);
            return this;
        }

        public Builder removeNode(Node node) {
            int i = indexOfIdentity(node);
            if (i < 0) {
                throw new IllegalArgumentException("node " + node.describe() + " is not in this graph");
            }
            nodes.remove(i);
            return this;
        }

        private int indexOfIdentity(Node node) {
            for (int i = 0; i < nodes.size(); i++) {
                if (nodes.get(i) == node || nodes.get(i).equals(node)) {
                    return i;
                }
            }
            return -1;
        }

        public Builder addInput(ValueInfo value) {
            inputs.add(value);
            return this;
        }

        public Builder inputs(List<ValueInfo> value) {
            inputs.clear();
            inputs.addAll(value);
            return this;
        }

        public Builder addOutput(ValueInfo value) {
            outputs.add(value);
            return this;
        }

        public Builder outputs(List<ValueInfo> value) {
            outputs.clear();
            outputs.addAll(value);
            return this;
        }

        public Builder addValueInfo(ValueInfo value) {
            valueInfos.add(value);
            return this;
        }

        public Builder valueInfos(List<ValueInfo> value) {
            valueInfos.clear();
            valueInfos.addAll(value);
            return this;
        }

        public Builder addInitializer(Tensor tensor) {
            initializers.add(tensor);
            return this;
        }

        /** Adds, or replaces the initializer of the same name in place. */
        public Builder putInitializer(Tensor tensor) {
            for (int i = 0; i < initializers.size(); i++) {
                if (initializers.get(i).name().equals(tensor.name())) {
                    initializers.set(i, tensor);
                    return this;
                }
            }
            initializers.add(tensor);
            return this;
        }

        public Builder removeInitializer(String tensorName) {
            initializers.removeIf(t -> t.name().equals(tensorName));
            return this;
        }

        public Builder initializers(List<Tensor> value) {
            initializers.clear();
            initializers.addAll(value);
            return this;
        }

        public Graph build() {
            return new Graph(this);
        }
    }
}
