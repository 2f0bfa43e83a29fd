package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * The core of multi-head attention as exporters write it, between the query, key and value
 * projections and the output projection: each of q, k, v is reshaped from [..., D] to
 * [..., H, d] and transposed so the heads lead, scores = q k^T (optionally scaled by constants),
 * Softmax over the keys, weights times v, and the heads transposed back and merged into [..., D].
 *
 * <p>Neurons: the scores contract q's and k's head dimensions, so q's and k's neurons must share
 * one order, and only within a head (ALGORITHM.md section 3, "Neuron spaces", attention); v's
 * neurons pass to the output, head by head. The pattern is matched on structure first
 * ({@link #find}); {@link #resolve} then checks with the activations' shapes that the reshapes and
 * transposes really split and merge whole heads, so a layout it cannot follow is refused by name
 * rather than fused wrongly.
 */
public final class AttentionPattern {
    private AttentionPattern() {
    }

    /**
     * One of q, k, v on its way to a score or weighted MatMul: the activation it starts from, the
     * Reshape that splits its neurons into heads, and the Transposes and constant scalings after it.
     */
    public record Branch(String source, Node split, List<Node> ops) {
        public Branch {
            ops = List.copyOf(ops);
        }
    }

    /**
     * A structural match.
     *
     * @param scores   the MatMul q k^T
     * @param softmax  the Softmax over the keys
     * @param weighted the MatMul of the weights with v
     * @param merge    the Reshape that merges the heads back into the neuron axis; its output is the pattern's
     * @param scaling  constant Mul/Div between the scores and the Softmax
     * @param merging  the Transposes between {@code weighted} and {@code merge}
     * @param nodes    every node of the pattern in topological order, the shape computations of its
     *                 Reshapes and its private Constant nodes included
     */
    public record Match(Branch query, Branch key, Branch value, Node scores, List<Node> scaling, Node softmax,
                        Node weighted, List<Node> merging, Node merge, List<Node> nodes) {
        public Match {
            scaling = List.copyOf(scaling);
            merging = List.copyOf(merging);
            nodes = List.copyOf(nodes);
        }

        public String output() {
            return merge.outputs().get(0);
        }
    }

    /**
     * What {@link #resolve} found: the number of heads, the query/key and value dimensions per
     * head, the output's shape, and the product of the constant scalings (the score scale).
     */
    public record Resolved(int heads, long keyDim, long valueDim, List<Dim> outputShape, double scale) {
        public Resolved {
            outputShape = List.copyOf(outputShape);
        }

        /** The settings that must agree across parents. */
        public Map<String, String> signature() {
            Map<String, String> s = new LinkedHashMap<>();
            s.put("heads", Integer.toString(heads));
            s.put("scale", Float.toString((float) scale));
            return s;
        }
    }

    /** Every attention core of the graph, in the order of their score MatMuls. */
    public static List<Match> find(GraphView graph) {
        List<Match> out = new ArrayList<>();
        for (Node n : graph.graph().topologicalOrder()) {
            if (isMatMulOfActivations(n, graph)) {
                match(n, graph, false).ifPresent(out::add);
            }
        }
        return out;
    }

    private static boolean isMatMulOfActivations(Node n, GraphView graph) {
        return n.isDefaultDomain() && n.opType().equals("MatMul") && n.inputs().size() == 2
                && !graph.isConstant(n.inputs().get(0)) && !graph.isConstant(n.inputs().get(1));
    }

    /**
     * The core around the score MatMul {@code scores}, if its nodes form one. With
     * {@code batchMayMove} transposes may move axis 0 (nn.MultiheadAttention's layout, for a
     * rewrite to rely on) and shape computations shared with nodes outside are left out of
     * {@link Match#nodes()}; without, either means no match.
     */
    public static Optional<Match> match(Node scores, GraphView graph, boolean batchMayMove) {
        Optional<Branch> q = branch(scores.inputs().get(0), graph);
        Optional<Branch> k = branch(scores.inputs().get(1), graph);
        if (q.isEmpty() || k.isEmpty()) {
            return Optional.empty();
        }
        List<Node> scaling = new ArrayList<>();
        Node next = onlyReader(scores.outputs().get(0), graph);
        while (next != null && isConstantScaling(next, graph)) {
            scaling.add(next);
            next = onlyReader(next.outputs().get(0), graph);
        }
        if (next == null || !next.isDefaultDomain() || !next.opType().equals("Softmax")) {
            return Optional.empty();
        }
        Node softmax = next;
        Node weighted = onlyReader(softmax.outputs().get(0), graph);
        if (weighted == null || !isMatMulOfActivations(weighted, graph)
                || !weighted.inputs().get(0).equals(softmax.outputs().get(0))) {
            return Optional.empty();
        }
        Optional<Branch> v = branch(weighted.inputs().get(1), graph);
        if (v.isEmpty()) {
            return Optional.empty();
        }
        List<Node> merging = new ArrayList<>();
        next = onlyReader(weighted.outputs().get(0), graph);
        while (next != null && next.isDefaultDomain() && next.opType().equals("Transpose")) {
            merging.add(next);
            next = onlyReader(next.outputs().get(0), graph);
        }
        if (next == null || !next.isDefaultDomain() || !next.opType().equals("Reshape")
                || !next.inputs().get(0).equals(lastOutput(weighted, merging))) {
            return Optional.empty();
        }
        Node merge = next;
        List<Node> transposes = new ArrayList<>(merging);
        for (Branch b : List.of(q.get(), k.get(), v.get())) {
            b.ops().stream().filter(n -> n.opType().equals("Transpose")).forEach(transposes::add);
        }
        for (Node t : transposes) {
            long[] perm = t.longsAttribute("perm", null);
            if (!batchMayMove && (perm == null || perm.length == 0 || perm[0] != 0)) {
                return Optional.empty(); // the batch leaves axis 0 (nn.MultiheadAttention's layout): not followed
            }
        }
        Set<Node> nodes = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Branch b : List.of(q.get(), k.get(), v.get())) {
            nodes.add(b.split());
            nodes.addAll(b.ops());
        }
        nodes.add(scores);
        nodes.addAll(scaling);
        nodes.add(softmax);
        nodes.add(weighted);
        nodes.addAll(merging);
        nodes.add(merge);
        nodes.addAll(graph.privateConstants(new ArrayList<>(nodes)));
        for (Node n : nodes) {
            for (String o : n.outputs()) {
                if (o.isEmpty() || n == merge) {
                    continue;
                }
                if (graph.isGraphOutput(o) || !graph.consumers(o).stream().allMatch(nodes::contains)) {
                    return Optional.empty(); // a value of the core is used elsewhere: not a self-contained pattern
                }
            }
        }
        Set<Node> shapes = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node reshape : List.of(q.get().split(), k.get().split(), v.get().split(), merge)) {
            Optional<List<Node>> shape = ShapeComputation.nodesFromShapes(reshape.inputs().get(1), graph);
            if (shape.isEmpty()) {
                return Optional.empty();
            }
            shapes.addAll(shape.get());
        }
        Set<Node> all = Collections.newSetFromMap(new IdentityHashMap<>());
        all.addAll(nodes);
        all.addAll(shapes);
        for (Node n : shapes) {
            boolean shared = n.outputs().stream().anyMatch(o -> !o.isEmpty() && (graph.isGraphOutput(o)
                    || !graph.consumers(o).stream().allMatch(all::contains)));
            if (shared && !batchMayMove) {
                return Optional.empty(); // a shape computed for the core is used elsewhere
            }
            if (!shared) {
                nodes.add(n);
            }
        }
        nodes.addAll(graph.privateConstants(new ArrayList<>(nodes)));
        return Optional.of(new Match(q.get(), k.get(), v.get(), scores, scaling, softmax, weighted, merging, merge,
                graph.sorted(nodes)));
    }

    /** The branch ending at {@code value}: a Reshape, then Transposes and constant scalings, each read once. */
    private static Optional<Branch> branch(String value, GraphView graph) {
        List<Node> ops = new ArrayList<>();
        String v = value;
        while (true) {
            if (graph.consumers(v).size() != 1 || graph.isGraphOutput(v)) {
                return Optional.empty();
            }
            Optional<Node> producer = graph.graph().producer(v);
            if (producer.isEmpty() || !producer.get().isDefaultDomain()) {
                return Optional.empty();
            }
            Node p = producer.get();
            if (p.opType().equals("Transpose") || isConstantScaling(p, graph)) {
                ops.add(0, p);
                v = p.inputs().get(0);
            } else if (p.opType().equals("Reshape") && p.inputs().size() == 2) {
                return Optional.of(new Branch(p.inputs().get(0), p, ops));
            } else {
                return Optional.empty();
            }
        }
    }

    /** Mul or Div of the activation (input 0; Mul also input 1) by one constant number. */
    private static boolean isConstantScaling(Node n, GraphView graph) {
        if (!n.isDefaultDomain() || !(n.opType().equals("Mul") || n.opType().equals("Div")) || n.inputs().size() != 2) {
            return false;
        }
        int constant = graph.isConstant(n.inputs().get(1)) ? 1 : n.opType().equals("Mul") ? 0 : -1;
        if (constant < 0 || graph.isConstant(n.inputs().get(1 - constant))) {
            return false;
        }
        return scalar(n, constant, graph).isPresent();
    }

    private static Optional<Double> scalar(Node n, int input, GraphView graph) {
        Optional<Tensor> t = graph.constant(n.inputs().get(input));
        if (t.isEmpty() || t.get().elementCount() != 1) {
            return Optional.empty();
        }
        try {
            return Optional.of((double) t.get().toFloats()[0]);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    private static Node onlyReader(String value, GraphView graph) {
        List<Node> readers = graph.consumers(value);
        return readers.size() == 1 && !graph.isGraphOutput(value) ? readers.get(0) : null;
    }

    private static String lastOutput(Node start, List<Node> chain) {
        return (chain.isEmpty() ? start : chain.get(chain.size() - 1)).outputs().get(0);
    }

    /**
     * Checks that the matched nodes compute multi-head attention on neurons held on the last axis
     * of q, k and v, and works out the heads and the output's shape. Every axis is followed by a
     * label (the source's own axes, then "head" and "dim" once the neurons are split): q must
     * reach [batch..., tokens, dim], k [batch..., dim, keys] and v [batch..., keys, dim] with the
     * same leading axes (the heads among them), the Softmax must normalise over the keys, and the
     * merge must put the heads back in front of their dims on the last axis.
     *
     * @param shapes       the shape of an activation the pattern or its shape computations read
     * @param softmaxOpset the opset of the default domain (the Softmax's default axis depends on it)
     */
    public static Resolved resolve(Match m, GraphView graph, Function<String, List<Dim>> shapes, long softmaxOpset) {
        List<Dim> qShape = shapes.apply(m.query().source());
        Split q = split(m.query(), qShape, graph, shapes);
        Split k = split(m.key(), shapes.apply(m.key().source()), graph, shapes);
        Split v = split(m.value(), shapes.apply(m.value().source()), graph, shapes);
        if (k.heads() != q.heads() || v.heads() != q.heads() || k.dim() != q.dim()) {
            throw unsupported(m.scores(), "its query is split into " + q.heads() + " heads of " + q.dim()
                    + ", its key into " + k.heads() + " of " + k.dim() + " and its value into " + v.heads()
                    + " heads; attention needs the same heads throughout and equal query and key dims");
        }
        int rank = qShape.size() + 1;
        List<String> ql = q.labels();
        List<String> kl = k.labels();
        List<String> vl = v.labels();
        List<String> batch = ql.subList(0, rank - 2);
        String tokens = ql.get(rank - 2);
        String keys = kl.get(rank - 1);
        boolean shapesMatch = ql.get(rank - 1).equals("dim") && kl.get(rank - 2).equals("dim")
                && vl.get(rank - 1).equals("dim") && kl.subList(0, rank - 2).equals(batch)
                && vl.subList(0, rank - 2).equals(batch) && batch.contains("head") && vl.get(rank - 2).equals(keys)
                && !tokens.equals("head") && !keys.equals("head");
        if (!shapesMatch) {
            throw unsupported(m.scores(), "its operands, with axes " + ql + " and " + kl + " (values " + vl
                    + "), are not queries [batch..., tokens, dim] times keys [batch..., dim, keys] with the heads among"
                    + " the same leading axes");
        }
        long axis = m.softmax().longAttribute("axis", softmaxOpset >= 13 ? -1 : 1);
        if (axis < 0) {
            axis += rank;
        }
        if (axis != rank - 1) {
            throw unsupported(m.softmax(), "it normalises axis " + axis + " of the attention scores; attention"
                    + " normalises over the keys, the last axis (" + (rank - 1) + ")");
        }
        List<String> out = new ArrayList<>(batch);
        out.add(tokens);
        out.add("dim");
        for (Node t : m.merging()) {
            out = transposed(t, out);
        }
        List<String> expected = sourceLabels(qShape.size());
        if (!out.equals(expected)) {
            throw unsupported(m.merge(), "it merges axes " + out + " of the attention output; the heads and"
                    + " their dims must come back as the last two axes in the query's layout " + expected);
        }
        long width = (long) q.heads() * v.dim();
        List<Dim> target = ShapeComputation.targetElements(m.merge().inputs().get(1), graph, shapes, m.merge());
        if (target.size() != qShape.size()) {
            throw unsupported(m.merge(), "it reshapes the attention output to rank " + target.size()
                    + "; expected rank " + qShape.size() + " (the query's)");
        }
        for (int i = 0; i < target.size() - 1; i++) {
            requireCopied(m.merge(), target.get(i), qShape.get(i), i);
        }
        Dim last = target.get(target.size() - 1);
        if (!last.equals(Dim.UNKNOWN) && !(last.isFixed() && last.value() == width)) {
            throw unsupported(m.merge(), "it merges " + q.heads() + " heads of " + v.dim() + " into " + last
                    + " features; expected " + width);
        }
        List<Dim> shape = new ArrayList<>(qShape.subList(0, qShape.size() - 1));
        shape.add(Dim.of(width));
        double scale = 1;
        List<Node> scalings = new ArrayList<>(m.scaling());
        for (Branch b : List.of(m.query(), m.key())) {
            b.ops().stream().filter(n -> !n.opType().equals("Transpose")).forEach(scalings::add);
        }
        for (Node n : scalings) {
            int constant = graph.isConstant(n.inputs().get(1)) ? 1 : 0;
            double c = scalar(n, constant, graph).orElseThrow();
            scale = n.opType().equals("Div") ? scale / c : scale * c;
        }
        for (Node n : m.value().ops()) {
            if (!n.opType().equals("Transpose")) {
                throw unsupported(n, "it scales the attention values; a constant scale belongs to the queries, keys"
                        + " or scores");
            }
        }
        return new Resolved(q.heads(), q.dim(), v.dim(), shape, scale);
    }

    /** A branch after its split: the heads, the dim per head, and the labels of the axes its MatMul reads. */
    private record Split(int heads, long dim, List<String> labels) {
    }

    private static Split split(Branch b, List<Dim> source, GraphView graph, Function<String, List<Dim>> shapes) {
        Node reshape = b.split();
        int r = source.size();
        Dim neurons = source.get(r - 1);
        if (r < 2 || !neurons.isFixed()) {
            throw unsupported(reshape, "it splits '" + b.source() + "' " + Shapes.format(source)
                    + "; attention needs the neurons on a last axis of fixed size");
        }
        List<Dim> target = ShapeComputation.targetElements(reshape.inputs().get(1), graph, shapes, reshape);
        if (target.size() != r + 1) {
            throw unsupported(reshape, "it reshapes '" + b.source() + "' " + Shapes.format(source) + " to "
                    + Shapes.format(target) + "; attention splits the last axis into heads and dims and keeps the"
                    + " others (heads merged with the batch, as torch's MultiheadAttention exports them, are not"
                    + " supported yet)");
        }
        for (int i = 0; i < r - 1; i++) {
            requireCopied(reshape, target.get(i), source.get(i), i);
        }
        Dim h = target.get(r - 1);
        Dim d = target.get(r);
        long width = neurons.value();
        long heads = h.isFixed() ? h.value() : -1;
        long dim = d.isFixed() ? d.value() : -1;
        if (heads < 0 && dim > 0 && width % dim == 0) {
            heads = width / dim;
        } else if (dim < 0 && heads > 0 && width % heads == 0) {
            dim = width / heads;
        }
        if (heads <= 0 || dim <= 0 || heads * dim != width) {
            throw unsupported(reshape, "it splits the " + width + " neurons of '" + b.source() + "' into " + h + " x "
                    + d + "; expected heads x dims = " + width);
        }
        List<String> labels = sourceLabels(r);
        for (Node t : b.ops()) {
            if (t.opType().equals("Transpose")) {
                labels = transposed(t, labels);
            }
        }
        return new Split(Math.toIntExact(heads), dim, labels);
    }

    /** Labels of a source of rank {@code r} after its split: a0 ... a(r-2), head, dim. */
    private static List<String> sourceLabels(int r) {
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < r - 1; i++) {
            labels.add("a" + i);
        }
        labels.add("head");
        labels.add("dim");
        return labels;
    }

    private static void requireCopied(Node reshape, Dim target, Dim source, int axis) {
        boolean copied = target.isFixed() && target.value() == 0
                || source.isFixed() && target.isFixed() && target.value() == source.value()
                || !source.isFixed() && Shapes.alike(source, target);
        if (!copied) {
            throw unsupported(reshape, "its target shape has " + target + " at axis " + axis + " where the input has "
                    + source + "; attention reshapes keep the axes before the neurons");
        }
    }

    private static List<String> transposed(Node t, List<String> labels) {
        long[] perm = t.longsAttribute("perm", null);
        List<String> out = new ArrayList<>();
        for (int j = 0; j < labels.size(); j++) {
            long src = perm == null ? labels.size() - 1 - j : perm[j];
            if (src < 0 || src >= labels.size()) {
                throw unsupported(t, "its perm " + java.util.Arrays.toString(perm) + " does not fit rank "
                        + labels.size());
            }
            out.add(labels.get((int) src));
        }
        return out;
    }

    private static UnsupportedOpException unsupported(Node node, String why) {
        return Shapes.unsupported(node, "(" + node.opType() + ") cannot be placed in attention: " + why);
    }
}
