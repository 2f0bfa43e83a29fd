package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.ShapeComputation;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Splits a projection whose output is cut into slices along its last axis into one projection
 * per slice: torch exports {@code nn.MultiheadAttention}'s packed query/key/value projection as
 * one MatMul (+ bias Add) followed by three Slices whose bounds it computes from the output's
 * shape ({@code chunk(3, dim=-1)}). The slices are different neuron spaces (the queries' and keys'
 * are tied to each other, the values' are not), so each becomes a MatMul of its weight columns and
 * an Add of its bias entries writing the slice's output, and a level of its own. The function is
 * unchanged; the fused model keeps the split form.
 *
 * <p>Taken: a MatMul of an activation and a 2-d initializer, optionally an Add of a 1-d
 * initializer bias as its only reader, whose output is read only by Slices along axis -1 with
 * step 1 (and by the Shape nodes that compute their bounds from its last dimension), the slices
 * tiling the output exactly. Anything else is left as it is.
 */
public final class FusedProjections {
    private FusedProjections() {
    }

    /** {@code model} with every such projection split; the same model when there is none. */
    public static Model split(Model model) {
        Graph g = model.graph();
        boolean changed = false;
        for (Node n : g.topologicalOrder()) {
            if (n.isDefaultDomain() && n.opType().equals("MatMul") && n.inputs().size() == 2) {
                Optional<Graph> out = split(g, n);
                if (out.isPresent()) {
                    g = out.get();
                    changed = true;
                }
            }
        }
        return changed ? model.withGraph(g) : model;
    }

    private record Cut(Node slice, long start, long end) {
    }

    private static Optional<Graph> split(Graph g, Node matmul) {
        GraphView view = new GraphView(g);
        Optional<Tensor> weight = g.initializer(matmul.inputs().get(1));
        if (weight.isEmpty() || weight.get().rank() != 2 || g.initializer(matmul.inputs().get(0)).isPresent()) {
            return Optional.empty();
        }
        long rows = weight.get().dims()[0];
        long width = weight.get().dims()[1];
        String out = matmul.outputs().get(0);
        Node bias = null;
        Tensor biasValue = null;
        List<Node> readers = view.consumers(out);
        if (readers.size() == 1 && readers.get(0).isDefaultDomain() && readers.get(0).opType().equals("Add")) {
            Node add = readers.get(0);
            String other = add.inputs().get(0).equals(out) ? add.inputs().get(1) : add.inputs().get(0);
            Optional<Tensor> b = g.initializer(other);
            if (b.isEmpty() || b.get().rank() != 1 || b.get().dims()[0] != width) {
                return Optional.empty();
            }
            bias = add;
            biasValue = b.get();
            out = add.outputs().get(0);
        }
        if (view.isGraphOutput(out)) {
            return Optional.empty();
        }
        String projection = out;
        Set<Node> bounds = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Cut> cuts = new ArrayList<>();
        for (Node r : view.consumers(out)) {
            if (!r.isDefaultDomain()) {
                return Optional.empty();
            }
            if (r.opType().equals("Shape")) {
                continue; // checked below: it may only feed the slices' bounds
            }
            if (!r.opType().equals("Slice") || r.inputs().size() < 4 || !r.inputs().get(0).equals(out)
                    || r.inputs().subList(1, r.inputs().size()).contains(out)) {
                return Optional.empty();
            }
            Optional<Cut> cut = cut(r, projection, width, view, bounds);
            if (cut.isEmpty()) {
                return Optional.empty();
            }
            cuts.add(cut.get());
        }
        if (cuts.size() < 2) {
            return Optional.empty();
        }
        cuts.sort(Comparator.comparingLong(Cut::start));
        long next = 0;
        for (Cut c : cuts) {
            if (c.start() != next || c.end() <= c.start()) {
                return Optional.empty();
            }
            next = c.end();
        }
        if (next != width) {
            return Optional.empty();
        }
        Set<Node> removed = Collections.newSetFromMap(new IdentityHashMap<>());
        removed.add(matmul);
        if (bias != null) {
            removed.add(bias);
        }
        cuts.forEach(c -> removed.add(c.slice()));
        for (Node r : view.consumers(out)) {
            if (r.opType().equals("Shape")) {
                removed.add(r);
            }
        }
        // the bounds' computation goes with the slices, unless something else still reads it
        boolean more = true;
        while (more) {
            more = false;
            for (Node b : bounds) {
                if (!removed.contains(b) && b.outputs().stream().noneMatch(view::isGraphOutput)
                        && b.outputs().stream().allMatch(o -> view.consumers(o).stream().allMatch(removed::contains))) {
                    removed.add(b);
                    more = true;
                }
            }
        }
        for (Node r : removed) {
            if (r.opType().equals("Shape") && r.inputs().get(0).equals(projection)
                    && r.outputs().stream().anyMatch(o -> !view.consumers(o).stream().allMatch(removed::contains))) {
                return Optional.empty(); // the projection's shape is used for something else
            }
        }
        Graph.Builder b = g.toBuilder();
        Set<String> names = Names.usedIn(g);
        float[] w = weight.get().toFloats();
        float[] bv = biasValue == null ? null : biasValue.toFloats();
        List<Node> replacement = new ArrayList<>();
        for (int j = 0; j < cuts.size(); j++) {
            Cut c = cuts.get(j);
            int cols = Math.toIntExact(c.end() - c.start());
            float[] part = new float[Math.toIntExact(rows) * cols];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(w, Math.toIntExact(r * width + c.start()), part, r * cols, cols);
            }
            String wName = Names.fresh(weight.get().name() + "_part" + j, names);
            b.addInitializer(Tensor.ofFloats(wName, new long[] {rows, cols}, part));
            String sliceOut = c.slice().outputs().get(0);
            String product = bias == null ? sliceOut : Names.fresh(sliceOut + "_projection", names);
            replacement.add(new Node(matmul.name() + "_part" + j, "MatMul", "", List.of(matmul.inputs().get(0), wName),
                    List.of(product), java.util.Map.of(), matmul.docString(), matmul.origin()));
            if (bias != null) {
                String bName = Names.fresh(biasValue.name() + "_part" + j, names);
                float[] bp = new float[cols];
                System.arraycopy(bv, Math.toIntExact(c.start()), bp, 0, cols);
                b.addInitializer(Tensor.ofFloats(bName, new long[] {cols}, bp));
                replacement.add(new Node(bias.name() + "_part" + j, "Add", "", List.of(product, bName),
                        List.of(sliceOut), java.util.Map.of(), bias.docString(), bias.origin()));
            }
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (n == matmul) {
                nodes.addAll(replacement);
            } else if (!removed.contains(n)) {
                nodes.add(n);
            }
        }
        b.nodes(nodes);
        Set<String> read = new HashSet<>();
        nodes.forEach(n -> read.addAll(n.inputs()));
        g.outputs().forEach(v -> read.add(v.name()));
        for (String name : List.of(weight.get().name(), biasValue == null ? "" : biasValue.name())) {
            if (!name.isEmpty() && !read.contains(name)) {
                b.removeInitializer(name);
            }
        }
        return Optional.of(b.build());
    }

    /** A slice of the projection along its last axis with constant step 1 and bounds computed from its width. */
    private static Optional<Cut> cut(Node slice, String projection, long width, GraphView view, Set<Node> bounds) {
        List<String> in = slice.inputs();
        Optional<Tensor> axes = view.constant(in.get(3));
        if (axes.isEmpty() || axes.get().elementCount() != 1 || axes.get().toLongs()[0] != -1) {
            return Optional.empty();
        }
        if (in.size() > 4 && !in.get(4).isEmpty()) {
            Optional<Tensor> steps = view.constant(in.get(4));
            if (steps.isEmpty() || steps.get().elementCount() != 1 || steps.get().toLongs()[0] != 1) {
                return Optional.empty();
            }
        }
        long[] bound = new long[2];
        for (int i = 0; i < 2; i++) {
            Optional<List<Node>> computed = ShapeComputation.nodesFromShapes(in.get(1 + i), view);
            if (computed.isEmpty()) {
                return Optional.empty();
            }
            for (Node n : computed.get()) {
                if (n.opType().equals("Shape") && !n.inputs().get(0).equals(projection)) {
                    return Optional.empty();
                }
            }
            List<Dim> value;
            try {
                // only the last dimension is known here; any other one makes the bound unknown
                value = ShapeComputation.targetElements(in.get(1 + i), view,
                        v -> List.of(Dim.UNKNOWN, Dim.of(width)), slice);
            } catch (RuntimeException e) {
                return Optional.empty();
            }
            if (value.size() != 1 || !value.get(0).isFixed()) {
                return Optional.empty();
            }
            long v = value.get(0).value();
            bound[i] = Math.max(0, Math.min(width, v < 0 ? v + width : v));
            bounds.addAll(computed.get());
        }
        return Optional.of(new Cut(slice, bound[0], bound[1]));
    }

}
