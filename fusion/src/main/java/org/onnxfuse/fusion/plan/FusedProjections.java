package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
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
        Optional<Projection> found = Projection.of(g, view, matmul);
        if (found.isEmpty()) {
            return Optional.empty();
        }
        Optional<Graph> headsFirst = splitHeadsFirst(g, view, found.get());
        if (headsFirst.isPresent()) {
            return headsFirst;
        }
        long width = found.get().width();
        String out = found.get().output();
        Node bias = found.get().bias();
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
            Optional<Cut> cut = cut(r, out, width, view, bounds);
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
        // the bounds' computation (Shapes of the projection included) goes with the slices, unless something
        // else still reads it: then the rewrite is left undone
        Set<Node> computations = Collections.newSetFromMap(new IdentityHashMap<>());
        computations.addAll(bounds);
        view.consumers(out).stream().filter(r -> r.opType().equals("Shape")).forEach(computations::add);
        Graph.Builder b = g.toBuilder();
        Set<String> names = Names.usedIn(g);
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (n == matmul) {
                for (int j = 0; j < cuts.size(); j++) {
                    Cut c = cuts.get(j);
                    nodes.addAll(part(b, names, found.get(), c.start(), c.end(), c.slice().outputs().get(0), j));
                }
            } else if (!removed.contains(n)) {
                nodes.add(n);
            }
        }
        return GraphRewrite.finish(g, b, nodes, computations, initializersOf(found.get()));
    }

    private static List<String> initializersOf(Projection p) {
        return p.biasValue() == null ? List.of(p.weight().name()) : List.of(p.weight().name(), p.biasValue().name());
    }

    /**
     * timm's form: the projection reshaped into [..., K, H, d] (K parts, H heads of d), transposed
     * so that the parts lead and the heads come before the tokens ([K, N, H, T, d]), and taken
     * apart along axis 0 (Split + Squeeze, torch's unbind, or Gather of each index). Each part
     * becomes its own projection reshaped by [0, 0, H, d] and transposed [0, 2, 1, 3] into the
     * same [N, H, T, d], writing the part's value. Rank-3 projections ([N, T, K H d]) only.
     */
    private static Optional<Graph> splitHeadsFirst(Graph g, GraphView view, Projection p) {
        List<Node> readers = view.consumers(p.output());
        if (readers.size() != 1 || !readers.get(0).opType().equals("Reshape")) {
            return Optional.empty();
        }
        Node reshape = readers.get(0);
        if (!reshape.inputs().get(0).equals(p.output()) || view.isGraphOutput(reshape.outputs().get(0))) {
            return Optional.empty();
        }
        Dim tokens = Dim.symbol("#tokens");
        Dim batch = Dim.symbol("#batch");
        List<ShapeComputation.Term> t;
        try {
            // the target reads the batch and token counts of the projection's input (or of the projection)
            t = ShapeComputation.terms(reshape.inputs().get(1), view, v -> List.of(batch, tokens, Dim.UNKNOWN),
                    reshape);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
        // Axes 0 and 1 must be copied: read from the shape (or 0), or one of them a number (a count the
        // exporter or ShapeSpecialization fixed), which then must equal the input's axis for the sizes to agree.
        boolean batchCopied = t.size() == 5 && (t.get(0).is(1, batch) || t.get(0).is(0));
        boolean tokensCopied = t.size() == 5 && (t.get(1).is(1, tokens) || t.get(1).is(0));
        if (t.size() != 5 || !(batchCopied && tokensCopied || batchCopied && t.get(1).known()
                || tokensCopied && t.get(0).known()) || !t.get(2).known() || !t.get(3).known() || !t.get(4).known()) {
            return Optional.empty();
        }
        long parts = t.get(2).factor();
        long heads = t.get(3).factor();
        long dim = t.get(4).factor();
        if (parts < 2 || heads < 1 || dim < 1 || parts * heads * dim != p.width()) {
            return Optional.empty();
        }
        List<Node> after = view.consumers(reshape.outputs().get(0));
        if (after.size() != 1 || !GraphRewrite.isTranspose(after.get(0), 2, 0, 3, 1, 4)) {
            return Optional.empty();
        }
        Node transpose = after.get(0);
        List<String> partValues = new ArrayList<>();
        Set<Node> taking = Collections.newSetFromMap(new IdentityHashMap<>());
        if (!partsAlongAxis0(transpose.outputs().get(0), parts, view, partValues, taking)) {
            return Optional.empty();
        }
        Graph.Builder b = g.toBuilder();
        Set<String> names = Names.usedIn(g);
        String target = Names.fresh(reshape.name() + "_heads", names);
        b.addInitializer(Tensor.ofLongs(target, new long[] {4}, new long[] {0, 0, heads, dim}));
        List<Node> replacement = new ArrayList<>();
        for (int j = 0; j < parts; j++) {
            String projected = Names.fresh(partValues.get(j) + "_projection", names);
            replacement.addAll(part(b, names, p, j * heads * dim, (j + 1) * heads * dim, projected, j));
            String split = Names.fresh(partValues.get(j) + "_heads", names);
            replacement.add(new Node(reshape.name() + "_part" + j, "Reshape", "", List.of(projected, target),
                    List.of(split), Map.of(), reshape.docString(), reshape.origin()));
            replacement.add(new Node(transpose.name() + "_part" + j, "Transpose", "", List.of(split),
                    List.of(partValues.get(j)), Map.of("perm", org.onnxfuse.onnx.ir.Attribute.ofLongs("perm", 0, 2, 1,
                    3)), transpose.docString(), transpose.origin()));
        }
        Set<Node> removed = Collections.newSetFromMap(new IdentityHashMap<>());
        removed.add(p.matmul());
        if (p.bias() != null) {
            removed.add(p.bias());
        }
        removed.add(reshape);
        removed.add(transpose);
        removed.addAll(taking);
        Set<Node> computation = Collections.newSetFromMap(new IdentityHashMap<>());
        ShapeComputation.nodesFromShapes(reshape.inputs().get(1), view).ifPresent(computation::addAll);
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (n == p.matmul()) {
                nodes.addAll(replacement);
            } else if (!removed.contains(n)) {
                nodes.add(n);
            }
        }
        return GraphRewrite.finish(g, b, nodes, computation, initializersOf(p));
    }

    /**
     * Whether {@code value} is taken apart along axis 0 into {@code parts} single slices, each
     * without that axis: a Split into ones, each output Squeezed on axis 0, or a Gather of each
     * constant scalar index on axis 0. Fills {@code values} (part order) and {@code nodes}.
     */
    private static boolean partsAlongAxis0(String value, long parts, GraphView view, List<String> values,
                                           Set<Node> nodes) {
        List<Node> readers = view.consumers(value);
        String[] byIndex = new String[Math.toIntExact(parts)];
        if (readers.size() == 1 && readers.get(0).opType().equals("Split")) {
            Node split = readers.get(0);
            if (split.longAttribute("axis", 0) != 0 || split.outputs().size() != parts) {
                return false;
            }
            if (split.inputs().size() > 1 && !split.inputs().get(1).isEmpty()) {
                Optional<Tensor> sizes = view.constant(split.inputs().get(1));
                if (sizes.isEmpty() || java.util.Arrays.stream(sizes.get().toLongs()).anyMatch(x -> x != 1)) {
                    return false;
                }
            }
            nodes.add(split);
            for (int j = 0; j < parts; j++) {
                List<Node> squeeze = view.consumers(split.outputs().get(j));
                if (squeeze.size() != 1 || !squeeze.get(0).opType().equals("Squeeze")
                        || !squeezesAxis0(squeeze.get(0), view)) {
                    return false;
                }
                nodes.add(squeeze.get(0));
                byIndex[j] = squeeze.get(0).outputs().get(0);
            }
        } else {
            for (Node r : readers) {
                if (!r.opType().equals("Gather") || r.longAttribute("axis", 0) != 0 || !r.inputs().get(0).equals(value)) {
                    return false;
                }
                Optional<Tensor> index = view.constant(r.inputs().get(1));
                if (index.isEmpty() || index.get().rank() != 0) {
                    return false;
                }
                long i = index.get().toLongs()[0];
                i = i < 0 ? i + parts : i;
                if (i < 0 || i >= parts || byIndex[(int) i] != null) {
                    return false;
                }
                nodes.add(r);
                byIndex[(int) i] = r.outputs().get(0);
            }
        }
        for (String v : byIndex) {
            if (v == null || view.isGraphOutput(v)) {
                return false;
            }
            values.add(v);
        }
        return true;
    }

    private static boolean squeezesAxis0(Node squeeze, GraphView view) {
        if (squeeze.inputs().size() > 1) {
            Optional<Tensor> axes = view.constant(squeeze.inputs().get(1));
            return axes.isPresent() && java.util.Arrays.equals(axes.get().toLongs(), new long[] {0});
        }
        return java.util.Arrays.equals(squeeze.longsAttribute("axes", null), new long[] {0});
    }

    /**
     * The MatMul of the projection's input and weight columns [start, end) and, with a bias, the Add
     * of its entries there, writing {@code output}; their initializers are added to {@code b}.
     */
    private static List<Node> part(Graph.Builder b, Set<String> names, Projection p, long start, long end,
                                   String output, int index) {
        Node matmul = p.matmul();
        Tensor weight = p.weight();
        Node bias = p.bias();
        Tensor biasValue = p.biasValue();
        long rows = weight.dims()[0];
        long width = weight.dims()[1];
        int cols = Math.toIntExact(end - start);
        float[] w = weight.toFloats();
        float[] part = new float[Math.toIntExact(rows) * cols];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(w, Math.toIntExact(r * width + start), part, r * cols, cols);
        }
        String wName = Names.fresh(weight.name() + "_part" + index, names);
        b.addInitializer(Tensor.ofFloats(wName, new long[] {rows, cols}, part));
        String product = bias == null ? output : Names.fresh(output + "_projection", names);
        List<Node> out = new ArrayList<>();
        out.add(new Node(matmul.name() + "_part" + index, "MatMul", "", List.of(matmul.inputs().get(0), wName),
                List.of(product), Map.of(), matmul.docString(), matmul.origin()));
        if (bias != null) {
            String bName = Names.fresh(biasValue.name() + "_part" + index, names);
            float[] bp = new float[cols];
            System.arraycopy(biasValue.toFloats(), Math.toIntExact(start), bp, 0, cols);
            b.addInitializer(Tensor.ofFloats(bName, new long[] {cols}, bp));
            out.add(new Node(bias.name() + "_part" + index, "Add", "", List.of(product, bName), List.of(output),
                    Map.of(), bias.docString(), bias.origin()));
        }
        return out;
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
