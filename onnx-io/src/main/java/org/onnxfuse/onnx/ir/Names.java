package org.onnxfuse.onnx.ir;

import java.util.HashSet;
import java.util.Set;

/** Fresh names for the values, initializers and nodes a rewrite adds to a graph. */
public final class Names {
    private Names() {
    }

    /** Every name {@code g} uses: its inputs, initializers, node names and node outputs. */
    public static Set<String> usedIn(Graph g) {
        Set<String> used = new HashSet<>(g.initializers().keySet());
        g.inputs().forEach(v -> used.add(v.name()));
        for (Node n : g.nodes()) {
            used.add(n.name());
            used.addAll(n.outputs());
        }
        return used;
    }

    /** {@code base} if {@code taken} lacks it, else the first of base_2, base_3, ... it lacks; added to {@code taken}. */
    public static String fresh(String base, Set<String> taken) {
        String name = base;
        for (int i = 2; !taken.add(name); i++) {
            name = base + "_" + i;
        }
        return name;
    }
}
