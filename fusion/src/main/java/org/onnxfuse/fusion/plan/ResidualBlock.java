package org.onnxfuse.fusion.plan;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.ops.AttentionPattern;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;

/**
 * A residual block as one segment of the graph: everything between a stream value and a residual
 * Add of two activations, where every path from the Add back to the graph inputs passes through
 * that value (it dominates the Add). The gradient variant can train all the block's levels at once
 * towards the grouped output of the parents' Adds (ALGORITHM.md section 5, segments).
 *
 * <p>An attention block may read more than its stream: the keys and values of cross-attention come
 * from another token stream, and a key padding mask from an int64 or bool model input. Where no value
 * dominates the Add, every path back from it passes the block's input or ends at what the attention
 * reads besides, computed without that input: the input of a key or value projection, or a mask added
 * to the scores that is computed from int64 or bool model inputs alone (then those inputs are read,
 * and the mask's nodes lie inside the segment). The segment takes these {@code reads} as inputs too
 * (data, not trained).
 *
 * @param input  the value the block starts from: the Add's closest dominator, or for an attention block
 *               that reads more, the closest value the paths back pass where they do not end at a read
 * @param output the residual Add's output
 * @param levels the levels whose affine op lies inside the block, in order (at least one)
 * @param reads  the other values the block reads (none for a block its input dominates): int64 or bool
 *               model inputs first (a key padding mask), then the inputs of its attention's key and
 *               value projections, in topological order
 */
public record ResidualBlock(String input, String output, List<Integer> levels, List<String> reads) {
    /** Candidates tried per Add, closest first; a block whose input is farther back is not looked for. */
    private static final int MAX_CANDIDATES = 256;
    /** Ops between a projection's cut and an attention's split that the projection's input is found past. */
    private static final Set<String> ELEMENTWISE = Set.of("Mul", "Div", "Add", "Sub", "Identity", "Dropout");

    public ResidualBlock {
        levels = List.copyOf(levels);
        reads = List.copyOf(reads);
        if (levels.isEmpty()) {
            throw new IllegalArgumentException("a residual block holds at least one level");
        }
    }

    /** A block its input dominates: it reads nothing else. */
    public ResidualBlock(String input, String output, List<Integer> levels) {
        this(input, output, levels, List.of());
    }

    /** The block's last level: once it is written, every level of the block is. */
    public int lastLevel() {
        return levels.get(levels.size() - 1);
    }

    /** The segment's inputs: {@link #input()}, then {@link #reads()}. */
    public List<String> segmentInputs() {
        List<String> out = new ArrayList<>(List.of(input));
        out.addAll(reads);
        return out;
    }

    /**
     * The residual blocks of {@code graph} and the attention blocks that are none: one block per Add
     * of two activations among {@code joins} that has a dominating value produced by a node, with at
     * least one level inside; for an Add after an attention core of {@code cores} that has none, the
     * closest value every path back passes or ends at what the attention may read besides
     * (see the class comment); an Add after an attention with neither is named in
     * {@link Found#unsegmented()} with the reason.
     *
     * @param cores the attention cores of the graph
     */
    static Found find(Graph graph, List<Level> levels, List<LevelOp> joins, List<AttentionPattern.Match> cores) {
        List<Node> order = graph.topologicalOrder();
        Map<Node, Integer> position = new IdentityHashMap<>();
        for (int i = 0; i < order.size(); i++) {
            position.put(order.get(i), i);
        }
        Map<Node, Integer> levelOfAffine = new IdentityHashMap<>();
        levels.forEach(l -> levelOfAffine.put(l.affine(), l.index()));
        Map<String, Level> levelOfCut = new HashMap<>();
        levels.forEach(l -> levelOfCut.put(l.cut(), l));
        List<ResidualBlock> blocks = new ArrayList<>();
        List<String> unsegmented = new ArrayList<>();
        for (LevelOp join : joins) {
            Node add = join.node();
            if (!add.isDefaultDomain() || !add.opType().equals("Add") || add.inputs().size() != 2
                    || add.inputs().stream().anyMatch(in -> graph.initializer(in).isPresent())) {
                continue;
            }
            List<String> candidates = ancestors(graph, add, position);
            Set<String> ancestry = new HashSet<>(candidates);
            Optional<Candidate> dominator = closest(graph, add, candidates, Set.of());
            if (dominator.isPresent()) {
                dominator.get().block(add, levelOfAffine, List.of()).ifPresent(blocks::add);
                continue;
            }
            List<AttentionPattern.Match> attentions = cores.stream().filter(c -> ancestry.contains(c.output()))
                    .toList();
            if (attentions.isEmpty()) {
                continue;
            }
            Map<String, List<String>> stops = reads(attentions, levelOfCut, new GraphView(graph));
            Optional<ResidualBlock> block = closest(graph, add, candidates, stops.keySet())
                    .flatMap(c -> c.block(add, levelOfAffine, inTopologicalOrder(graph, c.reads().stream()
                            .flatMap(r -> stops.get(r).stream()).distinct().toList(), position)));
            if (block.isPresent()) {
                blocks.add(block.get());
            } else {
                unsegmented.add(whyNot(graph, add, attentions.get(attentions.size() - 1), stops.keySet()));
            }
        }
        return new Found(blocks, unsegmented);
    }

    /**
     * Where a path back from an attention block may end besides the block's input, each with the
     * segment inputs it stands for: the inputs of the key and value projections (themselves), and a
     * mask added to the scores that is computed from int64 or bool model inputs alone (those inputs,
     * the mask's nodes then inside the segment; only where they read nothing else, not even the shape
     * of an activation).
     */
    private static Map<String, List<String>> reads(List<AttentionPattern.Match> attentions,
                                                   Map<String, Level> levelOfCut, GraphView view) {
        Map<String, List<String>> stops = new HashMap<>();
        for (AttentionPattern.Match core : attentions) {
            for (AttentionPattern.Branch b : List.of(core.key(), core.value())) {
                projection(b.source(), levelOfCut, view).ifPresent(l -> stops.put(l.input(), List.of(l.input())));
            }
            for (Node op : core.scoreOps()) {
                for (String scores : op.inputs()) {
                    AttentionPattern.inputMask(op, scores, view).filter(m -> selfContained(m, view))
                            .ifPresent(m -> stops.put(m.value(), m.inputs()));
                }
            }
        }
        return stops;
    }

    /**
     * The level whose cut {@code source} (what an attention splits into heads) is, or is computed from by
     * elementwise ops of one activation and constants (a scale); empty past any other op.
     */
    private static Optional<Level> projection(String source, Map<String, Level> levelOfCut, GraphView view) {
        String value = source;
        for (int depth = 0; depth < MAX_CANDIDATES; depth++) {
            Level level = levelOfCut.get(value);
            if (level != null) {
                return Optional.of(level);
            }
            Node p = view.graph().producer(value).filter(n -> n.isDefaultDomain() && ELEMENTWISE.contains(n.opType()))
                    .orElse(null);
            List<String> activations = p == null ? List.of() : p.inputs().stream()
                    .filter(in -> !in.isEmpty() && !view.isConstant(in)).distinct().toList();
            if (activations.size() != 1) {
                return Optional.empty();
            }
            value = activations.get(0);
        }
        return Optional.empty();
    }

    /** Whether the mask's nodes read only its model inputs, constants and each other's outputs. */
    private static boolean selfContained(AttentionPattern.InputMask mask, GraphView view) {
        Set<String> made = new HashSet<>(mask.inputs());
        mask.nodes().forEach(n -> made.addAll(n.outputs()));
        return mask.nodes().stream().flatMap(n -> n.inputs().stream())
                .allMatch(in -> in.isEmpty() || made.contains(in) || view.isConstant(in));
    }

    /**
     * What {@link #find} found: the blocks, and per residual Add after an attention that closes none
     * a sentence naming the Add, its attention and the node whose path back leaves the block.
     */
    record Found(List<ResidualBlock> blocks, List<String> unsegmented) {
    }

    /** A value every path back from an Add passes or ends at a read, with the nodes in between and those reads. */
    private record Candidate(String start, Set<Node> inside, Set<String> reads) {
        /** The block it closes: empty when no level lies inside. */
        Optional<ResidualBlock> block(Node add, Map<Node, Integer> levelOfAffine, List<String> orderedReads) {
            List<Integer> levels = inside.stream().filter(levelOfAffine::containsKey).map(levelOfAffine::get).sorted()
                    .toList();
            return levels.isEmpty() ? Optional.empty()
                    : Optional.of(new ResidualBlock(start, add.outputs().get(0), levels, orderedReads));
        }
    }

    /**
     * The closest of {@code candidates} (tried closest first) that every path back from {@code add}
     * passes or that ends at one of {@code stops} computed without it; with no stops, the Add's
     * closest dominator.
     */
    private static Optional<Candidate> closest(Graph graph, Node add, List<String> candidates, Set<String> stops) {
        Map<String, Set<String>> stopAncestors = new HashMap<>();
        for (String s : stops) {
            stopAncestors.put(s, valuesBefore(graph, s));
        }
        for (int c = 0; c < candidates.size() && c < MAX_CANDIDATES; c++) {
            String start = candidates.get(c);
            Set<String> free = new HashSet<>();
            stops.stream().filter(s -> !s.equals(start) && !stopAncestors.get(s).contains(start)).forEach(free::add);
            Set<String> reached = new HashSet<>();
            Set<Node> inside = nodesBetween(graph, add, start, free, reached);
            if (inside != null) {
                return Optional.of(new Candidate(start, inside, reached));
            }
        }
        return Optional.empty();
    }

    /**
     * Why no block closes at {@code add}: the first model input that the path back from the Add's
     * stream operand reaches from its attention without passing the stream or one of {@code stops},
     * with the node that reads it on that path.
     */
    private static String whyNot(Graph graph, Node add, AttentionPattern.Match core, Set<String> stops) {
        String stream = add.inputs().stream().filter(in -> valuesBefore(graph, other(add, in)).contains(in))
                .findFirst().orElse(add.inputs().get(0));
        Set<String> free = new HashSet<>();
        stops.stream().filter(s -> !valuesBefore(graph, s).contains(stream) && !s.equals(stream)).forEach(free::add);
        Map<String, Node> readBy = new HashMap<>();
        Deque<String> work = new ArrayDeque<>(List.of(other(add, stream)));
        readBy.put(other(add, stream), add);
        Set<String> seen = new HashSet<>();
        while (!work.isEmpty()) {
            String value = work.removeFirst();
            if (!seen.add(value) || value.isEmpty() || value.equals(stream) || free.contains(value)
                    || graph.initializer(value).isPresent()) {
                continue;
            }
            Node p = graph.producer(value).orElse(null);
            if (p == null) {
                return "residual Add " + GraphView.quote(add) + " after the attention at "
                        + GraphView.quote(core.scores()) + ": node " + GraphView.quote(readBy.get(value))
                        + " reads the model input '" + value + "' on a"
                        + " path that passes neither the stream '" + stream + "' nor what an attention block may read"
                        + " besides (an input of the key and value projections computed without the stream, a mask"
                        + " computed from int64 or bool inputs alone), so no training segment holds the block";
            }
            for (String in : p.inputs()) {
                readBy.putIfAbsent(in, p);
                work.addLast(in);
            }
        }
        return "residual Add " + GraphView.quote(add) + " after the attention at " + GraphView.quote(core.scores())
                + ": no value before it that every path back passes or ends at what the attention reads besides holds"
                + " a level, so no training segment holds the block";
    }

    private static String other(Node add, String operand) {
        return add.inputs().get(0).equals(operand) ? add.inputs().get(1) : add.inputs().get(0);
    }

    /** Model inputs first (in the graph's order), then values made by nodes in topological order. */
    private static List<String> inTopologicalOrder(Graph graph, Collection<String> values,
                                                   Map<Node, Integer> position) {
        List<String> out = new ArrayList<>();
        graph.inputs().stream().map(v -> v.name()).filter(values::contains).forEach(out::add);
        values.stream().filter(v -> graph.producer(v).isPresent())
                .sorted(Comparator.comparingInt((String v) -> position.get(graph.producer(v).orElseThrow())))
                .forEach(out::add);
        return out;
    }

    /** Every value {@code value} is computed from (itself left out), initializers left out. */
    private static Set<String> valuesBefore(Graph graph, String value) {
        Set<String> out = new HashSet<>();
        Deque<String> work = new ArrayDeque<>();
        graph.producer(value).ifPresent(p -> work.addAll(p.inputs()));
        while (!work.isEmpty()) {
            String v = work.pop();
            if (v.isEmpty() || graph.initializer(v).isPresent() || !out.add(v)) {
                continue;
            }
            graph.producer(v).ifPresent(p -> work.addAll(p.inputs()));
        }
        return out;
    }

    /** The values the Add derives from that a node produces, closest (latest in topological order) first. */
    private static List<String> ancestors(Graph graph, Node add, Map<Node, Integer> position) {
        Map<String, Node> producers = new HashMap<>();
        Set<Node> seen = new HashSet<>();
        Deque<Node> work = new ArrayDeque<>(List.of(add));
        while (!work.isEmpty()) {
            Node n = work.pop();
            for (String in : n.inputs()) {
                Node p = in.isEmpty() || graph.initializer(in).isPresent() ? null : graph.producer(in).orElse(null);
                if (p != null) {
                    producers.put(in, p);
                    if (seen.add(p)) {
                        work.push(p);
                    }
                }
            }
        }
        return producers.keySet().stream()
                .sorted(Comparator.comparingInt((String v) -> position.get(producers.get(v))).reversed()
                        .thenComparing(Comparator.naturalOrder()))
                .toList();
    }

    /**
     * The nodes on the paths from {@code start} back to {@code add} (the Add included), or null
     * when some path reaches a graph input without passing {@code start} or one of {@code stops};
     * the stops reached are added to {@code reached}.
     */
    private static Set<Node> nodesBetween(Graph graph, Node add, String start, Set<String> stops,
                                          Set<String> reached) {
        Set<Node> inside = new HashSet<>(List.of(add));
        Deque<String> work = new ArrayDeque<>(add.inputs());
        while (!work.isEmpty()) {
            String value = work.pop();
            if (value.isEmpty() || value.equals(start) || graph.initializer(value).isPresent()) {
                continue;
            }
            if (stops.contains(value)) {
                reached.add(value);
                continue;
            }
            Node p = graph.producer(value).orElse(null);
            if (p == null) {
                return null;
            }
            if (inside.add(p)) {
                work.addAll(p.inputs());
            }
        }
        return inside;
    }
}
