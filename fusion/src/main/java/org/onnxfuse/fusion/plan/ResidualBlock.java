package org.onnxfuse.fusion.plan;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;

/**
 * A residual block as one segment of the graph: everything between a stream value and a residual
 * Add of two activations, where every path from the Add back to the graph inputs passes through
 * that value (it dominates the Add). The gradient variant can train all the block's levels at once
 * towards the grouped output of the parents' Adds (ALGORITHM.md section 5, segments).
 *
 * @param input  the value the block starts from: the Add's closest dominator
 * @param output the residual Add's output
 * @param levels the levels whose affine op lies inside the block, in order (at least one)
 */
public record ResidualBlock(String input, String output, List<Integer> levels) {
    /** Candidates tried per Add, closest first; a block whose input is farther back is not looked for. */
    private static final int MAX_CANDIDATES = 256;

    public ResidualBlock {
        levels = List.copyOf(levels);
        if (levels.isEmpty()) {
            throw new IllegalArgumentException("a residual block holds at least one level");
        }
    }

    /** The block's last level: once it is written, every level of the block is. */
    public int lastLevel() {
        return levels.get(levels.size() - 1);
    }

    /**
     * The residual blocks of {@code graph}: one per Add of two activations among {@code joins}
     * that has a dominating value produced by a node, with at least one level inside.
     */
    static List<ResidualBlock> find(Graph graph, List<Level> levels, List<LevelOp> joins) {
        List<Node> order = graph.topologicalOrder();
        Map<Node, Integer> position = new IdentityHashMap<>();
        for (int i = 0; i < order.size(); i++) {
            position.put(order.get(i), i);
        }
        Map<Node, Integer> levelOfAffine = new IdentityHashMap<>();
        levels.forEach(l -> levelOfAffine.put(l.affine(), l.index()));
        List<ResidualBlock> blocks = new ArrayList<>();
        for (LevelOp join : joins) {
            Node add = join.node();
            if (!add.isDefaultDomain() || !add.opType().equals("Add") || add.inputs().size() != 2
                    || add.inputs().stream().anyMatch(in -> graph.initializer(in).isPresent())) {
                continue;
            }
            List<String> candidates = ancestors(graph, add, position);
            for (int c = 0; c < candidates.size() && c < MAX_CANDIDATES; c++) {
                Set<Node> inside = nodesBetween(graph, add, candidates.get(c));
                if (inside == null) {
                    continue;
                }
                List<Integer> blockLevels = inside.stream().filter(levelOfAffine::containsKey)
                        .map(levelOfAffine::get).sorted().toList();
                if (!blockLevels.isEmpty()) {
                    blocks.add(new ResidualBlock(candidates.get(c), add.outputs().get(0), blockLevels));
                }
                break;
            }
        }
        return blocks;
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
     * when some path reaches a graph input without passing {@code start}.
     */
    private static Set<Node> nodesBetween(Graph graph, Node add, String start) {
        Set<Node> inside = new HashSet<>(List.of(add));
        Deque<String> work = new ArrayDeque<>(add.inputs());
        while (!work.isEmpty()) {
            String value = work.pop();
            if (value.isEmpty() || value.equals(start) || graph.initializer(value).isPresent()) {
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
