package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
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
     * @param scoreOps the ops between the scores and the Softmax, in order: constant Mul/Div (the scale),
     *                 Adds (and Subs) of a constant (a bias per head, a mask, or both), and Reshapes that
     *                 split and merge the batch axis around a constant (Swin's mask per window)
     * @param merging  the Transposes between {@code weighted} and {@code merge}
     * @param nodes    every node of the pattern in topological order, the shape computations of its
     *                 Reshapes and its private Constant nodes included
     */
    public record Match(Branch query, Branch key, Branch value, Node scores, List<Node> scoreOps,
                        Node softmax, Node weighted, List<Node> merging, Node merge, List<Node> nodes) {
        public Match {
            scoreOps = List.copyOf(scoreOps);
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
    public record Resolved(int heads, long keyDim, long valueDim, List<Dim> outputShape, double scale,
                           List<Dim> scoresShape, List<ScoreBias> biases) {
        public Resolved {
            outputShape = List.copyOf(outputShape);
            scoresShape = List.copyOf(scoresShape);
            biases = List.copyOf(biases);
        }

        /**
         * The settings that must agree across parents: heads, scale, and the constants added to the
         * scores, those that are the same in every head by their values (a mask is the model's
         * structure, not a parameter to average).
         */
        public Map<String, String> signature() {
            Map<String, String> s = new LinkedHashMap<>();
            s.put("heads", Integer.toString(heads));
            s.put("scale", Float.toString((float) scale));
            for (int i = 0; i < biases.size(); i++) {
                ScoreBias b = biases.get(i);
                if (b.mask() != null) {
                    s.put("score input mask " + (i + 1), "'" + b.node().name() + "' computed from the input"
                            + (b.mask().inputs().size() > 1 ? "s " : " ") + quoted(b.mask().inputs()) + " by "
                            + b.mask().nodes().stream().map(Node::opType).filter(o -> !o.equals("Shape")).toList()
                            + " (parents must compute it alike), structure #" + Integer.toHexString(b.valueHash()));
                    continue;
                }
                s.put("score constant " + (i + 1), "'" + b.node().name() + "' " + Arrays.toString(b.dims())
                        + (b.perHead() ? " per head" : " the same in every head (a mask; parents must agree), values #"
                        + Integer.toHexString(b.valueHash())));
            }
            return s;
        }
    }

    /**
     * A constant added to the attention scores (a Sub subtracts it).
     *
     * @param node      the Add or Sub
     * @param dims      the constant's shape
     * @param scores    the shape of the scores it is added to
     * @param headAxis  the scores' axis that holds the heads
     * @param perHead   whether the constant varies along the heads (else every head adds the same)
     * @param valueHash a hash of the constant's values
     */
    public record ScoreBias(Node node, long[] dims, List<Dim> scores, int headAxis, boolean perHead, int valueHash,
                            InputMask mask) {
        public ScoreBias {
            scores = List.copyOf(scores);
        }

        /** A constant's. */
        ScoreBias(Node node, long[] dims, List<Dim> scores, int headAxis, boolean perHead, int valueHash) {
            this(node, dims, scores, headAxis, perHead, valueHash, null);
        }
    }

    /**
     * A value added to the attention scores that is computed from int64 or bool model inputs alone
     * (a key padding mask): it is data, not a parameter, and the same in every parent whose
     * subgraph computing it is the same.
     *
     * @param value     the value added
     * @param nodes     the nodes computing it, in topological order (Shape nodes included, not what they read)
     * @param inputs    the model inputs it is computed from
     * @param structure a description of that subgraph, its node names left out (op types, attributes, constants,
     *                  model inputs and how the nodes connect), which parents must share
     */
    public record InputMask(String value, List<Node> nodes, List<String> inputs, String structure) {
        public InputMask {
            nodes = List.copyOf(nodes);
            inputs = List.copyOf(inputs);
        }
    }

    /**
     * The value {@code add} adds to {@code scores} when {@code add} is an Add of the scores and a
     * value computed from int64 or bool model inputs and constants alone (the data each Shape node
     * reads is not followed: only its shape is used); empty otherwise.
     */
    public static Optional<InputMask> inputMask(Node add, String scores, GraphView graph) {
        if (!add.isDefaultDomain() || !add.opType().equals("Add") || add.inputs().size() != 2) {
            return Optional.empty();
        }
        int other = add.inputs().get(0).equals(scores) ? 1 : add.inputs().get(1).equals(scores) ? 0 : -1;
        if (other < 0 || add.inputs().get(other).equals(scores) || graph.isConstant(add.inputs().get(other))) {
            return Optional.empty();
        }
        String value = add.inputs().get(other);
        Set<Node> nodes = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<String> inputs = new java.util.TreeSet<>();
        if (!fromPassedInputs(value, graph, nodes, inputs, 0) || inputs.isEmpty()) {
            return Optional.empty();
        }
        List<Node> sorted = graph.sorted(nodes);
        return Optional.of(new InputMask(value, sorted, List.copyOf(inputs), structure(value, sorted, graph)));
    }

    private static String tensorKey(Tensor t) {
        String values;
        try {
            values = Integer.toHexString(Arrays.hashCode(t.toDoubles()));
        } catch (RuntimeException e) {
            values = "?";
        }
        return t.dataType() + Arrays.toString(t.dims()) + " #" + values;
    }

    private static boolean fromPassedInputs(String value, GraphView graph, Set<Node> nodes, Set<String> inputs,
                                            int depth) {
        if (value.isEmpty() || graph.isConstant(value)) {
            return true;
        }
        Optional<org.onnxfuse.onnx.ir.ValueInfo> input = graph.graph().feedInputs().stream()
                .filter(v -> v.name().equals(value)).findFirst();
        if (input.isPresent()) {
            org.onnxfuse.onnx.ir.DataType type = input.get().tensorType() == null ? null
                    : input.get().tensorType().elementType();
            inputs.add(value);
            return type == org.onnxfuse.onnx.ir.DataType.INT64 || type == org.onnxfuse.onnx.ir.DataType.BOOL;
        }
        Optional<Node> producer = graph.graph().producer(value);
        if (producer.isEmpty() || depth > 64 || !producer.get().isDefaultDomain()) {
            return false;
        }
        Node p = producer.get();
        if (!nodes.add(p)) {
            return true;
        }
        if (p.opType().equals("Shape")) {
            return true; // its size only
        }
        for (String in : p.inputs()) {
            if (!fromPassedInputs(in, graph, nodes, inputs, depth + 1)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The subgraph computing {@code value} without node names: one line per node (op type, attributes,
     * inputs as model inputs, constants by shape and value hash, or earlier lines by number).
     */
    private static String structure(String value, List<Node> nodes, GraphView graph) {
        Map<String, String> refs = new java.util.HashMap<>();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            sb.append(i).append(' ').append(n.opType());
            new java.util.TreeMap<>(n.attributes()).forEach((k, a) -> sb.append(' ').append(k).append('=')
                    .append(a.value() instanceof Tensor t ? tensorKey(t) : String.valueOf(a.value())));
            for (String in : n.inputs()) {
                String ref = refs.get(in);
                if (ref == null && n.opType().equals("Shape")) {
                    ref = "shape of " + (graph.graph().feedInputs().stream().anyMatch(v -> v.name().equals(in)) ? "input '"
                            + in + "'" : "an activation");
                } else if (ref == null) {
                    ref = in.isEmpty() ? "-" : graph.constant(in).map(t -> "constant " + tensorKey(t))
                            .orElse("input '" + in + "'");
                }
                sb.append(" (").append(ref).append(')');
            }
            sb.append('\n');
            for (int j = 0; j < n.outputs().size(); j++) {
                refs.put(n.outputs().get(j), i + "." + j);
            }
        }
        return sb.append("-> ").append(refs.getOrDefault(value, value)).toString();
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
        Optional<Branch> q = branch(scores.inputs().get(0), graph, batchMayMove);
        Optional<Branch> k = branch(scores.inputs().get(1), graph, batchMayMove);
        if (q.isEmpty() || k.isEmpty()) {
            return Optional.empty();
        }
        List<Node> scoreOps = new ArrayList<>();
        String current = scores.outputs().get(0);
        Node next = onlyReader(current, graph);
        while (next != null && (isConstantScaling(next, graph) || isConstantShift(next, graph)
                || inputMask(next, current, graph).isPresent()
                || next.isDefaultDomain() && next.opType().equals("Reshape") && next.inputs().size() == 2
                && next.inputs().get(0).equals(current))) {
            scoreOps.add(next);
            current = next.outputs().get(0);
            next = onlyReader(current, graph);
        }
        if (next == null || !next.isDefaultDomain() || !next.opType().equals("Softmax")) {
            return Optional.empty();
        }
        Node softmax = next;
        List<Node> passing = new ArrayList<>();
        Node weighted = onlyReader(softmax.outputs().get(0), graph);
        while (weighted != null && isInferenceIdentity(weighted, graph)) {
            passing.add(weighted);
            weighted = onlyReader(weighted.outputs().get(0), graph);
        }
        if (weighted == null || !isMatMulOfActivations(weighted, graph)
                || !weighted.inputs().get(0).equals(lastOutput(softmax, passing))) {
            return Optional.empty();
        }
        Optional<Branch> v = branch(weighted.inputs().get(1), graph, batchMayMove);
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
        nodes.addAll(scoreOps);
        nodes.add(softmax);
        nodes.addAll(passing);
        nodes.add(weighted);
        nodes.addAll(merging);
        nodes.add(merge);
        nodes.addAll(graph.privateConstants(new ArrayList<>(nodes)));
        for (Node n : nodes) {
            for (String o : n.outputs()) {
                if (o.isEmpty() || n == merge) {
                    continue;
                }
                if (graph.isGraphOutput(o) || !graph.consumers(o).stream()
                        .allMatch(c -> nodes.contains(c) || batchMayMove && readsShapeOnly(c, graph))) {
                    return Optional.empty(); // a value of the core is used elsewhere: not a self-contained pattern
                }
            }
        }
        Set<Node> shapes = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Node> reshapes = new ArrayList<>(List.of(q.get().split(), k.get().split(), v.get().split(), merge));
        scoreOps.stream().filter(n -> n.opType().equals("Reshape")).forEach(reshapes::add);
        for (Node reshape : reshapes) {
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
        return Optional.of(new Match(q.get(), k.get(), v.get(), scores, scoreOps, softmax, weighted, merging, merge,
                graph.sorted(nodes)));
    }

    /**
     * The branch ending at {@code value}: a Reshape, then Transposes and constant scalings, each read
     * once; with {@code batchMayMove} other readers may take its shape alone (torch reads the keys'
     * count from a transposed copy of the split keys).
     */
    private static Optional<Branch> branch(String value, GraphView graph, boolean batchMayMove) {
        List<Node> ops = new ArrayList<>();
        String v = value;
        while (true) {
            long readers = graph.consumers(v).stream().filter(c -> !(batchMayMove && readsShapeOnly(c, graph))).count();
            if (readers != 1 || graph.isGraphOutput(v)) {
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

    /** A Shape, or a Transpose whose output only Shape nodes read. */
    private static boolean readsShapeOnly(Node n, GraphView graph) {
        if (!n.isDefaultDomain()) {
            return false;
        }
        if (n.opType().equals("Shape")) {
            return true;
        }
        return n.opType().equals("Transpose") && !graph.isGraphOutput(n.outputs().get(0))
                && graph.consumers(n.outputs().get(0)).stream().allMatch(c -> c.isDefaultDomain()
                && c.opType().equals("Shape"));
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

    /**
     * An Identity, or a Dropout whose mask nothing reads and that drops nothing: in inference mode,
     * or with ratio 0 (torchvision's Swin passes training=True with ratio 0).
     */
    private static boolean isInferenceIdentity(Node n, GraphView graph) {
        if (!n.isDefaultDomain() || n.inputs().isEmpty()) {
            return false;
        }
        if (n.opType().equals("Identity")) {
            return true;
        }
        if (!n.opType().equals("Dropout")) {
            return false;
        }
        boolean maskUnread = n.outputs().size() < 2 || n.outputs().get(1).isEmpty()
                || graph.consumers(n.outputs().get(1)).isEmpty() && !graph.isGraphOutput(n.outputs().get(1));
        return maskUnread && OpRegistry.dropsNothing(n, graph);
    }

    /** Add of a constant to the activation (either input), or Sub of a constant from it. */
    private static boolean isConstantShift(Node n, GraphView graph) {
        if (!n.isDefaultDomain() || !(n.opType().equals("Add") || n.opType().equals("Sub")) || n.inputs().size() != 2) {
            return false;
        }
        int constant = graph.isConstant(n.inputs().get(1)) ? 1 : n.opType().equals("Add") ? 0 : -1;
        return constant >= 0 && graph.isConstant(n.inputs().get(constant))
                && !graph.isConstant(n.inputs().get(1 - constant)) && graph.constant(n.inputs().get(constant)).isPresent();
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
        List<Dim> kShape = shapes.apply(m.key().source());
        List<Dim> scoresShape = new ArrayList<>();
        for (String label : ql.subList(0, rank - 1)) {
            scoresShape.add(label.equals("head") ? Dim.of(q.heads()) : qShape.get(sourceAxis(label)));
        }
        scoresShape.add(kShape.get(sourceAxis(keys)));
        List<ScoreBias> biases = new ArrayList<>();
        List<Dim> current = scoresShape;
        int headAxis = batch.indexOf("head");
        String value = m.scores().outputs().get(0);
        for (Node n : m.scoreOps()) {
            Optional<InputMask> mask = inputMask(n, value, graph);
            if (n.opType().equals("Reshape")) {
                current = scoresReshaped(n, graph, shapes, current, headAxis);
                headAxis = current.size() - 3;
            } else if (mask.isPresent()) {
                biases.add(maskBias(n, mask.get(), shapes, current, headAxis));
            } else if (!isConstantScaling(n, graph)) {
                biases.add(scoreBias(n, graph, current, headAxis, q.heads()));
            }
            value = n.outputs().get(0);
        }
        if (current.size() != scoresShape.size()) {
            throw unsupported(m.softmax(), "it reads attention scores reshaped to rank " + current.size()
                    + "; the scores must come back to rank " + scoresShape.size() + " before the Softmax");
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
        List<Node> scalings = new ArrayList<>(m.scoreOps().stream().filter(n -> isConstantScaling(n, graph))
                .toList());
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
        return new Resolved(q.heads(), q.dim(), v.dim(), shape, scale, scoresShape, biases);
    }

    /**
     * The shape of scores {@code current} after {@code reshape}, which may only split or merge the
     * axes before the heads (the batch and, in Swin, the windows of each image): the heads, queries
     * and keys must stay the last three axes, unchanged.
     */
    private static List<Dim> scoresReshaped(Node reshape, GraphView graph, Function<String, List<Dim>> shapes,
                                            List<Dim> current, int headAxis) {
        List<Dim> target = ShapeComputation.targetElements(reshape.inputs().get(1), graph, shapes, reshape);
        int r = current.size();
        int t = target.size();
        boolean kept = headAxis == r - 3 && t >= 3;
        for (int i = 1; kept && i <= 3; i++) {
            Dim want = current.get(r - i);
            Dim got = target.get(t - i);
            kept = got.isFixed() && (got.value() == 0 && t == r || want.isFixed() && got.value() == want.value())
                    || !got.isFixed() && Shapes.alike(got, want);
        }
        if (!kept) {
            throw unsupported(reshape, "it reshapes attention scores " + Shapes.format(current) + " (heads on axis "
                    + headAxis + ") to " + Shapes.format(target) + "; only the axes before the heads may be split"
                    + " or merged, with the heads, queries and keys kept as the last three");
        }
        List<Dim> out = new ArrayList<>(target.subList(0, t - 3));
        out.addAll(current.subList(r - 3, r));
        return out;
    }

    /** The source axis a label "a<i>" of {@link #sourceLabels} stands for. */
    private static int sourceAxis(String label) {
        return Integer.parseInt(label.substring(1));
    }

    /**
     * The constant that {@code n} adds to scores of shape {@code scores}: it may vary along every
     * axis (broadcast from the last as ONNX does) but the batch's, whose rows are samples.
     */
    private static ScoreBias scoreBias(Node n, GraphView graph, List<Dim> scores, int headAxis, int heads) {
        int constant = graph.isConstant(n.inputs().get(1)) ? 1 : 0;
        Tensor t = graph.constant(n.inputs().get(constant)).orElseThrow();
        long[] dims = t.dims();
        int rank = scores.size();
        if (dims.length > rank) {
            throw unsupported(n, "it adds a constant of rank " + dims.length + " to attention scores of rank " + rank);
        }
        boolean perHead = false;
        for (int j = 0; j < dims.length; j++) {
            int axis = j + rank - dims.length;
            Dim s = scores.get(axis);
            if (dims[j] == 1) {
                continue;
            }
            if (axis == headAxis && dims[j] == heads) {
                perHead = true;
            } else if (axis == 0 || axis == headAxis || s.isFixed() && s.value() != dims[j]) {
                throw unsupported(n, "it adds a constant of shape " + Arrays.toString(dims) + " to attention"
                        + " scores " + Shapes.format(scores) + " (heads on axis " + headAxis + "): a constant on the"
                        + " scores may not vary along the batch (axis 0), and along the heads only with one value"
                        + " per head");
            }
        }
        float[] values;
        try {
            values = t.toFloats();
        } catch (RuntimeException e) {
            throw unsupported(n, "its constant is not a float tensor");
        }
        return new ScoreBias(n, dims, scores, headAxis, perHead, Arrays.hashCode(values));
    }

    /**
     * The value computed from model inputs that {@code n} adds to scores of shape {@code scores}: it
     * may vary along the batch (its rows are samples) and every other axis but the heads' (it must
     * be the same in every head, as a key padding mask broadcast over the heads and queries is, so
     * that heads can be permuted and grouped under it).
     */
    private static ScoreBias maskBias(Node n, InputMask mask, Function<String, List<Dim>> shapes, List<Dim> scores,
                                      int headAxis) {
        List<Dim> shape = shapes.apply(mask.value());
        int rank = scores.size();
        if (shape.size() > rank) {
            throw unsupported(n, "it adds '" + mask.value() + "' " + Shapes.format(shape) + ", computed from the input"
                    + (mask.inputs().size() > 1 ? "s " : " ") + quoted(mask.inputs()) + ", to attention scores of rank "
                    + rank);
        }
        long[] dims = new long[shape.size()];
        for (int j = 0; j < shape.size(); j++) {
            int axis = j + rank - shape.size();
            Dim d = shape.get(j);
            Dim s = scores.get(axis);
            dims[j] = d.isFixed() ? d.value() : -1;
            boolean one = d.isFixed() && d.value() == 1;
            boolean fits = one || axis != headAxis && (d.isFixed() && s.isFixed() && d.value() == s.value()
                    || !d.isFixed() && !s.isFixed());
            if (!fits) {
                throw unsupported(n, "it adds '" + mask.value() + "' " + Shapes.format(shape) + ", computed from the"
                        + " input" + (mask.inputs().size() > 1 ? "s " : " ") + quoted(mask.inputs()) + ", to attention"
                        + " scores " + Shapes.format(scores) + " (heads on axis " + headAxis + "): a value computed from"
                        + " model inputs must be the same in every head (size 1 on the heads' axis) and broadcast to"
                        + " the scores");
            }
        }
        return new ScoreBias(n, dims, scores, headAxis, false, mask.structure().hashCode(), mask);
    }

    private static String quoted(List<String> names) {
        return String.join(", ", names.stream().map(v -> "'" + v + "'").toList());
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
                throw unsupported(t, "its perm " + Arrays.toString(perm) + " does not fit rank "
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
