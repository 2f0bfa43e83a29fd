package org.onnxfuse.fusion.collect;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/** Model copies for activation collection: extra graph outputs, and graphs cut down to what some outputs need. */
public final class ModelSlicing {
    private ModelSlicing() {
    }

    /**
     * {@code model} with each of {@code names} that is not yet a graph output added as one, typed
     * as declared in the graph (value_info) or else as float32 of unknown shape.
     */
    public static Model withOutputs(Model model, List<String> names) {
        Graph g = model.graph();
        Set<String> present = new HashSet<>();
        g.outputs().forEach(v -> present.add(v.name()));
        Graph.Builder b = g.toBuilder();
        boolean changed = false;
        for (String name : names) {
            if (present.add(name)) {
                b.addOutput(ValueInfo.tensor(name, outputType(g, name)));
                changed = true;
            }
        }
        return changed ? model.withGraph(b.build()) : model;
    }

    private static TensorType outputType(Graph g, String name) {
        return g.declaredType(name).orElse(new TensorType(DataType.FLOAT, null));
    }

    /**
     * {@code model} reduced to the nodes, initializers and value_info needed to compute
     * {@code outputs}, which become its only graph outputs (float32 of unknown shape, since the
     * declared shapes may be stale while widths change). The feed inputs stay. Later parts of
     * the graph may be inconsistent (a level written with a new width before its successor is):
     * the cut-down graph does not contain them.
     */
    public static Model truncate(Model model, List<String> outputs) {
        Graph g = model.graph();
        Slice slice = slice(g, outputs, Set.of());
        Set<String> needed = slice.values();
        Set<Node> keep = slice.nodes();
        Graph.Builder b = g.toBuilder();
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (keep.contains(n)) {
                nodes.add(n);
            }
        }
        b.nodes(nodes);
        List<Tensor> inits = new ArrayList<>();
        for (Tensor t : g.initializers().values()) {
            if (needed.contains(t.name())) {
                inits.add(t);
            }
        }
        b.initializers(inits);
        Set<String> feeds = new HashSet<>();
        g.feedInputs().forEach(v -> feeds.add(v.name()));
        b.inputs(g.inputs().stream().filter(v -> feeds.contains(v.name()) || needed.contains(v.name())).toList());
        b.valueInfos(g.valueInfos().stream().filter(v -> needed.contains(v.name()) && !outputs.contains(v.name()))
                .toList());
        b.outputs(outputs.stream().map(o -> ValueInfo.tensor(o, new TensorType(DataType.FLOAT, null))).toList());
        return model.withGraph(b.build());
    }

    /**
     * The frontier of {@code graph} before the node producing {@code cutStart} (a level's affine
     * op's output, as planned): every value that a node before it in topological order computes
     * and that it or a later node reads. Skip connections that pass the cut are included; graph
     * inputs, initializers and values read only by earlier nodes are not. Empty when that node is
     * not in the graph or when one of {@code later} (outputs of the affine ops of the levels after
     * it) is produced before it: then the values before the cut could depend on a level not yet
     * written, and the caller must run from the graph inputs.
     */
    public static Optional<List<String>> frontier(Graph graph, String cutStart, List<String> later) {
        List<Node> order = graph.topologicalOrder();
        Optional<Node> start = graph.producer(cutStart);
        if (start.isEmpty()) {
            return Optional.empty();
        }
        Map<Node, Integer> position = new IdentityHashMap<>();
        for (int i = 0; i < order.size(); i++) {
            position.put(order.get(i), i);
        }
        int cut = position.get(start.get());
        for (String name : later) {
            Optional<Node> p = graph.producer(name);
            if (p.isPresent() && position.get(p.get()) < cut) {
                return Optional.empty();
            }
        }
        Set<String> before = new HashSet<>();
        for (int i = 0; i < cut; i++) {
            before.addAll(order.get(i).outputs());
        }
        Set<String> names = new LinkedHashSet<>();
        for (int i = cut; i < order.size(); i++) {
            Deque<String> reads = new ArrayDeque<>();
            order.get(i).inputs().stream().filter(s -> !s.isEmpty()).forEach(reads::add);
            order.get(i).subgraphs().forEach(sub -> collectReads(sub, reads));
            reads.stream().filter(before::contains).forEach(names::add);
        }
        return Optional.of(List.copyOf(names));
    }

    /**
     * What the values {@code names} of {@code graph} are computed from: the nodes and
     * initializers they depend on, in a fixed order. Graphs rewritten by the fusion share
     * untouched nodes and initializers, so equal lists (compared element by element with
     * {@code ==}) mean the values are the same.
     */
    public static List<Object> ancestry(Graph graph, Collection<String> names) {
        Slice slice = slice(graph, names, Set.of());
        Set<String> needed = slice.values();
        Set<Node> keep = slice.nodes();
        List<Object> out = new ArrayList<>();
        for (Node n : graph.nodes()) {
            if (keep.contains(n)) {
                out.add(n);
            }
        }
        for (Tensor t : graph.initializers().values()) {
            if (needed.contains(t.name())) {
                out.add(t);
            }
        }
        return out;
    }

    /**
     * The segment of {@code model} that computes {@code outputs} from the values {@code from}
     * (name to element type; they become graph inputs of unknown shape) and the feed inputs it
     * still reads: the nodes between, their initializers (and those no node reads) and value_info. Outputs are typed as
     * declared (element type only), else float32.
     */
    public static Model segment(Model model, Map<String, DataType> from, List<String> outputs) {
        Graph g = model.graph();
        Slice slice = slice(g, outputs, from.keySet());
        Set<String> needed = slice.values();
        Set<Node> keep = slice.nodes();
        Graph.Builder b = g.toBuilder();
        b.nodes(g.nodes().stream().filter(keep::contains).toList());
        // initializers that no node reads stay, so that ONNX Runtime warns about them as it did
        // when it loaded the whole model (shown with --verbose)
        b.initializers(g.initializers().values().stream().filter(t -> !from.containsKey(t.name())
                && (needed.contains(t.name()) || g.consumers(t.name()).isEmpty())).toList());
        List<ValueInfo> inputs = new ArrayList<>(g.inputs().stream().filter(v -> !from.containsKey(v.name())
                && needed.contains(v.name())).toList());
        from.forEach((name, type) -> {
            if (needed.contains(name)) {
                inputs.add(ValueInfo.tensor(name, new TensorType(type, null)));
            }
        });
        b.inputs(inputs);
        b.valueInfos(g.valueInfos().stream().filter(v -> needed.contains(v.name()) && !from.containsKey(v.name())
                && !outputs.contains(v.name())).toList());
        b.outputs(outputs.stream().map(o -> ValueInfo.tensor(o, new TensorType(g.declaredType(o)
                .map(TensorType::elementType).orElse(DataType.FLOAT), null))).toList());
        return model.withGraph(b.build());
    }

    /** The values and nodes (by identity) that {@code outputs} need, not looking past the values in {@code stop}. */
    private record Slice(Set<String> values, Set<Node> nodes) {
    }

    private static Slice slice(Graph g, Collection<String> outputs, Set<String> stop) {
        Set<String> needed = new HashSet<>();
        Set<Node> keep = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<String> work = new ArrayDeque<>(outputs);
        while (!work.isEmpty()) {
            String value = work.pop();
            if (!needed.add(value) || stop.contains(value)) {
                continue;
            }
            g.producer(value).ifPresent(n -> {
                if (keep.add(n)) {
                    n.inputs().stream().filter(s -> !s.isEmpty()).forEach(work::push);
                    n.subgraphs().forEach(sub -> collectReads(sub, work));
                }
            });
        }
        return new Slice(needed, keep);
    }

    private static void collectReads(Graph sub, Deque<String> work) {
        for (Node n : sub.nodes()) {
            n.inputs().stream().filter(s -> !s.isEmpty()).forEach(work::push);
            n.subgraphs().forEach(s -> collectReads(s, work));
        }
    }
}
