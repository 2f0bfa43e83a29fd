package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Brings a parent into the form the level planner and fusion work on, computing the same
 * function. Exporters write constants as computations: torch de-duplicates identical
 * initializers (zero biases, one bias of two BatchNormalizations) and feeds the copies through
 * Identity nodes, and writes Constant nodes and small constant subgraphs (Cast, Unsqueeze,
 * Concat, Gather, Reshape, Shape of a fixed-shape value) for weights, Reshape targets and Pad
 * amounts. The planner wants every parameter to be an initializer, and fusion rewrites one
 * node's parameters without touching another's. So:
 * <ul>
 *   <li>every node whose inputs are all constants is evaluated ({@link ConstantEvaluation} says
 *       which ops) and replaced by initializers named as its outputs; a node writing a graph
 *       output stays;</li>
 *   <li>an initializer read as a parameter by several nodes gets one copy per reading node,
 *       named {@code <name>__<node>}. A read is a parameter read unless it is input 0 of a node
 *       whose other inputs are all constants too (input 0 is then the data, such as the input of
 *       an op this pass does not evaluate);</li>
 *   <li>initializers nothing reads any more are removed, with their graph input entries (models
 *       before IR version 4 list initializers as inputs) and declared types.</li>
 * </ul>
 * Values that sub-graphs (If, Loop bodies) read are left shared and kept. A model with nothing
 * to change is returned as it is; the result is deterministic (names and order follow the
 * graph's order).
 */
public final class ConstantFolding {
    /**
     * Bytes of new constant data folding computes at most, beyond four times the model's
     * initializers (a float16 weight cast to float doubles it): past that the rest is left to ONNX
     * Runtime, so a chain of tiny nodes (Concat of a value with itself, again and again) cannot
     * fill the heap. Shared data (Identity, Reshape) does not count.
     */
    static final long MIN_FOLDED_BYTES = 256L << 20;

    private final Graph graph;
    private final Map<String, Tensor> constants;
    private final Set<Node> folded = Collections.newSetFromMap(new IdentityHashMap<>());
    /** Values read inside sub-graphs, which this pass neither splits nor removes. */
    private final Set<String> subgraphReads = new HashSet<>();
    private final Set<String> graphOutputs = new HashSet<>();

    private ConstantFolding(Graph graph) {
        this.graph = graph;
        this.constants = new LinkedHashMap<>(graph.initializers());
        graph.outputs().forEach(v -> graphOutputs.add(v.name()));
        for (Node n : graph.nodes()) {
            n.subgraphs().forEach(this::collectReads);
        }
    }

    /**
     * {@code model} with its batch-independent shape computations evaluated where the planner
     * could not follow them ({@link ShapeSpecialization}), its constant computations folded and
     * shared parameters split, as
     * described above, and packed projections cut into slices split into one projection per
     * slice ({@link FusedProjections}), and torch's nn.MultiheadAttention layout rewritten batch
     * first ({@link MultiheadAttentionLayout}); the slices of a cross-attention's packed
     * in-projection, whose bounds torch computes from the query's shape, are folded first
     * ({@link InProjectionSlices}).
     */
    public static Model fold(Model model) {
        Model folded = foldConstants(ShapeSpecialization.specialize(model));
        Model sliced = InProjectionSlices.fold(folded);
        if (sliced != folded) {
            folded = foldConstants(sliced);
        }
        Model rewritten = MultiheadAttentionLayout.rewrite(FusedProjections.split(folded));
        // the rewrites may leave copies of shared constants that only the nodes they replaced read
        return rewritten == folded ? folded : foldConstants(rewritten);
    }

    private static Model foldConstants(Model model) {
        return new ConstantFolding(model.graph()).run().map(model::withGraph).orElse(model);
    }

    private long initializerBytes() {
        return graph.initializers().values().stream().filter(t -> t.data() != null)
                .mapToLong(t -> t.data().byteLength()).sum();
    }

    private void collectReads(Graph sub) {
        for (Node n : sub.nodes()) {
            subgraphReads.addAll(n.inputs());
            n.subgraphs().forEach(this::collectReads);
        }
        sub.outputs().forEach(v -> subgraphReads.add(v.name()));
    }

    /** The new graph, or empty when nothing changes. */
    private Optional<Graph> run() {
        List<Tensor> foldedValues = new ArrayList<>();
        long budget = Math.max(MIN_FOLDED_BYTES, 4 * initializerBytes());
        long computed = 0;
        for (Node n : graph.topologicalOrder()) {
            if (n.outputs().stream().anyMatch(graphOutputs::contains) || computed > budget) {
                continue;
            }
            Optional<List<Tensor>> values = ConstantEvaluation.evaluate(n, constants, graph);
            if (values.isPresent()) {
                folded.add(n);
                for (Tensor t : values.get()) {
                    if (n.inputs().stream().map(constants::get).noneMatch(in -> in != null && in.data() == t.data())) {
                        computed += t.data() == null ? 0 : t.data().byteLength();
                    }
                    constants.put(t.name(), t);
                    foldedValues.add(t);
                }
            }
        }
        List<Node> kept = graph.nodes().stream().filter(n -> !folded.contains(n)).toList();
        Map<String, List<Node>> parameterReaders = parameterReaders();
        Map<Node, Map<String, String>> renames = new IdentityHashMap<>();
        Map<String, List<Tensor>> copies = splitShared(parameterReaders, renames);
        if (folded.isEmpty() && copies.isEmpty()) {
            return Optional.empty();
        }
        List<Node> nodes = kept.stream().map(n -> renamed(n, renames.get(n))).toList();
        Set<String> read = reads(nodes);
        Set<String> readBefore = reads(graph.nodes());

        List<Tensor> initializers = new ArrayList<>();
        Set<String> removed = new HashSet<>();
        for (Tensor t : graph.initializers().values()) {
            initializers.addAll(copies.getOrDefault(t.name(), List.of()));
            // one that nothing read before folding is not this pass's to remove
            if (read.contains(t.name()) || !readBefore.contains(t.name())) {
                initializers.add(t);
            } else {
                removed.add(t.name());
            }
        }
        for (Tensor t : foldedValues) {
            initializers.addAll(copies.getOrDefault(t.name(), List.of()));
            if (read.contains(t.name())) {
                initializers.add(t);
            }
            removed.add(t.name()); // as a node output: its declared type goes with the node
        }
        return Optional.of(graph.toBuilder().nodes(nodes).initializers(initializers)
                .inputs(without(graph.inputs(), removed)).valueInfos(without(graph.valueInfos(), removed)).build());
    }

    /** For each constant, the nodes (in graph order, each once) that read it as a parameter. */
    private Map<String, List<Node>> parameterReaders() {
        Map<String, List<Node>> readers = new LinkedHashMap<>();
        for (Node n : graph.topologicalOrder()) {
            if (folded.contains(n)) {
                continue;
            }
            for (int i = 0; i < n.inputs().size(); i++) {
                String in = n.inputs().get(i);
                if (constants.containsKey(in) && isParameter(n, i)) {
                    List<Node> list = readers.computeIfAbsent(in, k -> new ArrayList<>());
                    if (list.isEmpty() || list.get(list.size() - 1) != n) {
                        list.add(n);
                    }
                }
            }
        }
        return readers;
    }

    /**
     * Whether input {@code i} of {@code n} is a parameter: any input but 0, and input 0 too when
     * the data comes in elsewhere (Add(constant, x)).
     */
    private boolean isParameter(Node n, int i) {
        if (i > 0) {
            return true;
        }
        return n.inputs().stream().skip(1).anyMatch(in -> !in.isEmpty() && !constants.containsKey(in));
    }

    /**
     * One copy per reader of every constant that several nodes read as a parameter; fills
     * {@code renames} (per node: old name to its copy's name). Returns the copies by original name.
     */
    private Map<String, List<Tensor>> splitShared(Map<String, List<Node>> parameterReaders,
                                                  Map<Node, Map<String, String>> renames) {
        Set<String> taken = new HashSet<>(constants.keySet());
        graph.inputs().forEach(v -> taken.add(v.name()));
        graph.nodes().forEach(n -> taken.addAll(n.outputs()));
        taken.addAll(subgraphReads);
        Map<String, List<Tensor>> copies = new HashMap<>();
        for (Map.Entry<String, List<Node>> e : parameterReaders.entrySet()) {
            String name = e.getKey();
            if (e.getValue().size() < 2 || subgraphReads.contains(name) || graphOutputs.contains(name)) {
                continue;
            }
            for (Node reader : e.getValue()) {
                String copy = Names.fresh(name + "__" + label(reader), taken);
                copies.computeIfAbsent(name, k -> new ArrayList<>()).add(constants.get(name).withName(copy));
                renames.computeIfAbsent(reader, k -> new HashMap<>()).put(name, copy);
            }
        }
        return copies;
    }

    private static String label(Node n) {
        return n.name().isEmpty() ? n.outputs().get(0) : n.name();
    }

    /** {@code n} reading the copies in {@code renames} at its parameter inputs. */
    private Node renamed(Node n, Map<String, String> renames) {
        if (renames == null) {
            return n;
        }
        List<String> ins = new ArrayList<>(n.inputs());
        for (int i = 0; i < ins.size(); i++) {
            if (isParameter(n, i)) {
                ins.set(i, renames.getOrDefault(ins.get(i), ins.get(i)));
            }
        }
        return n.withInputs(ins);
    }

    /** Values that {@code nodes}, the sub-graphs or the graph outputs read. */
    private Set<String> reads(List<Node> nodes) {
        Set<String> read = new HashSet<>(subgraphReads);
        read.addAll(graphOutputs);
        nodes.forEach(n -> read.addAll(n.inputs()));
        return read;
    }

    private static List<ValueInfo> without(List<ValueInfo> values, Set<String> names) {
        return values.stream().filter(v -> !names.contains(v.name())).toList();
    }
}
