package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;

/** What the read-time rewrites ({@link FusedProjections}, {@link MultiheadAttentionLayout}) share. */
final class GraphRewrite {
    private GraphRewrite() {
    }

    /**
     * The rewritten graph: {@code nodes} without those of {@code computations} (the replaced shape
     * computations) nothing reads any more, and without the {@code dropIfUnread} initializers
     * nothing reads; empty when some node or graph output would read a value nothing makes (the
     * rewrite removed a value something else used), so the graph is left as it was.
     */
    static Optional<Graph> finish(Graph g, Graph.Builder b, List<Node> nodes, Set<Node> computations,
                                  Collection<String> dropIfUnread) {
        List<Node> kept = withoutDead(nodes, computations, g);
        Set<String> read = new HashSet<>();
        kept.forEach(n -> read.addAll(n.inputs()));
        g.outputs().forEach(v -> read.add(v.name()));
        Set<String> made = new HashSet<>();
        kept.forEach(n -> made.addAll(n.outputs()));
        g.inputs().forEach(v -> made.add(v.name()));
        made.addAll(b.build().initializers().keySet());
        made.add("");
        if (!made.containsAll(read)) {
            return Optional.empty();
        }
        b.nodes(kept);
        for (String name : dropIfUnread) {
            if (!read.contains(name)) {
                b.removeInitializer(name);
            }
        }
        return Optional.of(b.build());
    }

    private static List<Node> withoutDead(List<Node> nodes, Set<Node> candidates, Graph g) {
        List<Node> out = new ArrayList<>(nodes);
        boolean more = true;
        while (more) {
            Set<String> read = new HashSet<>();
            g.outputs().forEach(v -> read.add(v.name()));
            out.forEach(n -> read.addAll(n.inputs()));
            more = out.removeIf(n -> candidates.contains(n) && n.outputs().stream().noneMatch(read::contains));
        }
        return out;
    }

    static boolean isTranspose(Node n, long... perm) {
        return n.isDefaultDomain() && n.opType().equals("Transpose")
                && Arrays.equals(n.longsAttribute("perm", null), perm);
    }
}
