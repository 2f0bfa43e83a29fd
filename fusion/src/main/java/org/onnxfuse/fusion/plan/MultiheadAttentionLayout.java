package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.onnxfuse.fusion.ops.AttentionPattern;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.ShapeComputation;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Rewrites torch's export of {@code nn.MultiheadAttention} into the batch-first form the planner
 * follows ({@link AttentionPattern}), computing the same function. torch's attention works tokens
 * first, [T, N, D] (with batch_first=True it moves the batch behind the tokens on the way in and
 * back on the way out): it projects, splits each of q, k, v into [T, N * H, d] (batch and heads
 * merged), brings N * H to the front, merges the weighted values into [T * N, D] for a Gemm output
 * projection and reshapes back to [T, N, D]. The rewrite moves each projected input batch first
 * with a Transpose [1, 0, 2], projects [N, T, D], splits into [N, T, H, d] with heads moved before
 * the tokens ([N, H, T, d]; keys [N, H, d, T]), merges back into [N, T, D], applies the output
 * projection as MatMul + Add and moves the result back to [T, N, D] with another Transpose.
 * Fixed-shape targets replace the shape computations; every other op is kept. Then
 * {@link BatchAxisTransposes} cancels those Transposes against batch_first's own, or, for a model
 * that runs its transformer tokens first (batch_first=False), carries them through the layers to
 * the model's own Transpose and to the mean or Gather over the tokens; a model where one is left
 * (its input is tokens first) is returned unchanged.
 *
 * <p>Self-attention projects one input for q, k and v; cross-attention the query's input for q and
 * another for k and v (key = value: torch's packed key/value projection, split by
 * {@link FusedProjections} after {@link InProjectionSlices} folded the in-projection's slices),
 * with a token count of its own; or, key not value, three inputs, the keys' and the values' token
 * counts each read from its own projection (the weighted MatMul makes them equal). Checked before anything changes, with the sizes that are not
 * fixed kept as symbols ({@link ShapeComputation#terms}): the three projections are MatMuls of a
 * 2-d initializer, optionally + a bias, as {@link FusedProjections} leaves them; each split
 * reshapes [T', N, D'] into [T', N * H, d] with H d = D' (T' the query's tokens for q, the keys'
 * for k, the values' for v); q and v are transposed [1, 0, 2], k [1, 2, 0]; the weighted values are transposed
 * [1, 0, 2] and reshaped into [T * N, D_v]; the output projection (Gemm with alpha = beta = 1, or
 * MatMul + Add) is reshaped into [T, N, D]. Anything else is left as it is (and refused by the
 * planner, by name).
 */
public final class MultiheadAttentionLayout {
    private static final Dim BATCH = Dim.symbol("#batch");

    private MultiheadAttentionLayout() {
    }

    /** {@code model} with every such attention rewritten; the same model when there is none. */
    public static Model rewrite(Model model) {
        long opset = model.opsetImports().stream().filter(o -> o.isDefaultDomain()).mapToLong(o -> o.version())
                .findFirst().orElse(1);
        Graph sunk = rewritten(model.graph(), opset);
        // the swaps around each attention cancel with those of torch's batch_first layer or of a model running its
        // transformer tokens first; where one stays (a model input tokens first) nothing is rewritten, so the
        // planner names the attention (and Constructs the input, from tokensFirstInputs)
        return sunk == null || sunk.nodes().stream().anyMatch(BatchAxisTransposes::isSwap) ? model
                : model.withGraph(sunk);
    }

    /**
     * The model inputs that torch's attention layout shows to be tokens first ([T, N, E], the batch on
     * axis 1): after the rewrite and {@link BatchAxisTransposes}, a swap of axes 0 and 1 is left reading
     * them, since every attention reads axis 1 of its input as the batch. Empty when there is none.
     */
    static List<String> tokensFirstInputs(Graph g) {
        Graph sunk = rewritten(g, 17);
        if (sunk == null) {
            return List.of();
        }
        Set<String> inputs = new java.util.LinkedHashSet<>();
        g.feedInputs().forEach(v -> inputs.add(v.name()));
        GraphView view = new GraphView(sunk);
        Set<String> found = new java.util.LinkedHashSet<>();
        for (Node swap : sunk.nodes()) {
            if (!BatchAxisTransposes.isSwap(swap)) {
                continue;
            }
            // back through the ops on the last axis that the swap was moved over, to the model input
            java.util.ArrayDeque<String> todo = new java.util.ArrayDeque<>(List.of(swap.inputs().get(0)));
            Set<String> seen = new java.util.HashSet<>();
            while (!todo.isEmpty() && seen.size() < 256) {
                String v = todo.pop();
                if (!seen.add(v)) {
                    continue;
                }
                if (inputs.contains(v)) {
                    found.add(v);
                    continue;
                }
                Node p = sunk.producer(v).orElse(null);
                if (p == null || !p.isDefaultDomain() || !LAST_AXIS_OPS.contains(p.opType())
                        || p.opType().equals("MatMul") && !view.isConstant(p.inputs().get(1))) {
                    continue;
                }
                p.inputs().stream().filter(in -> !in.isEmpty() && !view.isConstant(in)).forEach(todo::push);
            }
        }
        return List.copyOf(found);
    }

    /** Ops that act on the last axis alone (a projection by a constant weight, a LayerNorm, elementwise ops). */
    private static final Set<String> LAST_AXIS_OPS = Set.of("MatMul", "Add", "Sub", "Mul", "Div",
            "LayerNormalization", "Relu", "Gelu", "Erf", "Tanh", "Sigmoid", "Identity", "Dropout");

    /** {@code g} with every such attention rewritten and the swaps moved; null when there is none. */
    private static Graph rewritten(Graph g, long opset) {
        boolean changed = false;
        boolean again = true;
        while (again) {
            again = false;
            GraphView view = new GraphView(g);
            for (Node n : g.topologicalOrder()) {
                if (!n.isDefaultDomain() || !n.opType().equals("MatMul") || n.inputs().size() != 2
                        || view.isConstant(n.inputs().get(0)) || view.isConstant(n.inputs().get(1))) {
                    continue;
                }
                Graph current = g;
                Optional<Graph> out = AttentionPattern.match(n, view, true)
                        .flatMap(m -> rewrite(current, view, m, opset));
                if (out.isPresent()) {
                    g = out.get();
                    changed = true;
                    again = true;
                    break;
                }
            }
        }
        return changed ? BatchAxisTransposes.sink(g) : null;
    }

    private static Optional<Graph> rewrite(Graph g, GraphView view, AttentionPattern.Match m, long opset) {
        List<AttentionPattern.Branch> branches = List.of(m.query(), m.key(), m.value());
        List<Projection> projections = new ArrayList<>();
        for (AttentionPattern.Branch b : branches) {
            Optional<Projection> p = Projection.writing(g, view, b.source());
            if (p.isEmpty()) {
                return Optional.empty();
            }
            projections.add(p.get());
        }
        // the activations projected, tokens first [T, N, D]: one for self-attention, the queries' and the
        // keys' (= values') for cross-attention; each with a token count of its own
        Map<String, List<Dim>> known = new HashMap<>();
        Map<String, Dim> tokensOf = new LinkedHashMap<>();
        for (Projection p : projections) {
            Dim tokens = tokensOf.computeIfAbsent(p.input(), k -> Dim.symbol("#tokens" + tokensOf.size()));
            known.put(p.input(), List.of(tokens, BATCH, Dim.of(p.weight().dims()[0])));
            known.put(p.output(), List.of(tokens, BATCH, Dim.of(p.width())));
            known.put(p.matmul().outputs().get(0), List.of(tokens, BATCH, Dim.of(p.width())));
        }
        // the output projection and the way back to [T, N, D]
        List<Node> readers = view.consumers(m.output());
        if (readers.size() != 1 || view.isGraphOutput(m.output())) {
            return Optional.empty();
        }
        Node out = readers.get(0);
        Tensor outWeight;
        Tensor outBias = null;
        Node outBiasAdd = null;
        String projected;
        if (out.opType().equals("Gemm") && out.inputs().get(0).equals(m.output())
                && out.longAttribute("transA", 0) == 0 && out.floatAttribute("alpha", 1f) == 1f
                && out.floatAttribute("beta", 1f) == 1f) {
            Optional<Tensor> w = g.initializer(out.inputs().get(1));
            if (w.isEmpty() || w.get().rank() != 2) {
                return Optional.empty();
            }
            outWeight = out.longAttribute("transB", 0) != 0 ? transposed(w.get()) : w.get();
            if (out.inputs().size() > 2 && !out.inputs().get(2).isEmpty()) {
                Optional<Tensor> b = g.initializer(out.inputs().get(2));
                if (b.isEmpty() || b.get().elementCount() != outWeight.dims()[1]) {
                    return Optional.empty();
                }
                outBias = b.get();
            }
            projected = out.outputs().get(0);
        } else {
            Optional<Projection> p = Projection.of(g, view, out);
            if (p.isEmpty()) {
                return Optional.empty();
            }
            outWeight = p.get().weight();
            outBiasAdd = p.get().bias();
            outBias = p.get().biasValue();
            projected = p.get().output();
        }
        long outWidth = outWeight.dims()[1];
        // besides the Reshape, Shape nodes may read the projection for that Reshape's target
        List<Node> back = view.consumers(projected).stream().filter(r -> !r.opType().equals("Shape")).toList();
        if (back.size() != 1 || !back.get(0).opType().equals("Reshape") || view.isGraphOutput(projected)) {
            return Optional.empty();
        }
        Node unmerge = back.get(0);
        known.put(projected, List.of(Dim.UNKNOWN, Dim.of(outWidth)));
        List<ShapeComputation.Term> unmerged = terms(unmerge, view, known::get);
        // [T, N, D]: T and N as the exporter wrote them, symbols of the moved input's shape or numbers
        if (unmerged == null || unmerged.size() != 3 || !(unmerged.get(2).known()
                && (unmerged.get(2).factor() == outWidth || unmerged.get(2).factor() == -1))) {
            return Optional.empty();
        }
        ShapeComputation.Term tokens = unmerged.get(0);
        ShapeComputation.Term batch = unmerged.get(1);
        if (tokens.factor() <= 0 || batch.factor() <= 0) {
            return Optional.empty();
        }
        // the heads and dims of each branch, from its split's target: [T, N * H, d] with H d = D', the keys' and
        // values' T their own
        long[] dims = new long[3];
        long heads = -1;
        for (int i = 0; i < 3; i++) {
            AttentionPattern.Branch b = branches.get(i);
            List<ShapeComputation.Term> t = terms(b.split(), view, known::get);
            long width = projections.get(i).width();
            if (t == null || t.size() != 3 || !t.get(2).known() || t.get(2).factor() <= 0
                    || width % t.get(2).factor() != 0 || !same(t.get(1), times(batch, width / t.get(2).factor()))
                    || t.get(0).factor() <= 0) {
                return Optional.empty();
            }
            // the keys' and values' T is their own input's whatever the exporter wrote (the element count fixes it once
            // N * H and d are checked): key is not value reads each from its own projection, and the weighted
            // MatMul holds only where the two are equal
            if (i == 0 && !same(t.get(0), tokens)) {
                return Optional.empty();
            }
            dims[i] = t.get(2).factor();
            long h = width / dims[i];
            if (heads >= 0 && h != heads) {
                return Optional.empty();
            }
            heads = h;
            List<Node> transposes = b.ops().stream().filter(n -> n.opType().equals("Transpose")).toList();
            boolean keys = i == 1;
            if (transposes.size() != 1 || !(keys ? GraphRewrite.isTranspose(transposes.get(0), 1, 2, 0)
                    : GraphRewrite.isTranspose(transposes.get(0), 1, 0, 2)) || i == 2 && b.ops().size() != 1) {
                return Optional.empty();
            }
        }
        if (dims[0] != dims[1] || m.merging().size() != 1 || !GraphRewrite.isTranspose(m.merging().get(0), 1, 0, 2)) {
            return Optional.empty();
        }
        long valueWidth = heads * dims[2];
        List<ShapeComputation.Term> merged = terms(m.merge(), view, known::get);
        // [T * N, H d_v]
        if (merged == null || merged.size() != 2 || !same(merged.get(0), times(tokens, batch))
                || !(merged.get(1).known() && (merged.get(1).factor() == valueWidth || merged.get(1).factor() == -1))
                || outWeight.dims()[0] != valueWidth) {
            return Optional.empty();
        }
        // values computed from model inputs added to the scores [N * H, T, S]: key padding masks, each made
        // [N * H, 1, S] from a mask [N, S] as torch does, and made [N, 1, 1, S] instead (broadcast over the heads)
        List<PaddingMask> masks = new ArrayList<>();
        String scoresValue = m.scores().outputs().get(0);
        for (Node n : m.scoreOps()) {
            Optional<AttentionPattern.InputMask> mask = AttentionPattern.inputMask(n, scoresValue, view);
            if (mask.isPresent()) {
                Optional<PaddingMask> pm = paddingMask(g, view, mask.get(), m, heads, batch, known, tokensOf,
                        projections);
                if (pm.isEmpty()) {
                    return Optional.empty();
                }
                masks.add(pm.get());
            }
            scoresValue = n.outputs().get(0);
        }
        String result = unmerge.outputs().get(0);

        // rewrite: each input moved batch first by a swap, the attention batch first, its output swapped back
        // into [T, N, D] (BatchAxisTransposes then cancels the swaps)
        Graph.Builder b = g.toBuilder();
        Set<String> names = Names.usedIn(g);
        Map<Node, List<Node>> replaced = new IdentityHashMap<>();
        Map<String, String> batchFirst = new HashMap<>();
        for (Projection p : projections) {
            String x = p.input();
            List<Node> entry = new ArrayList<>();
            if (!batchFirst.containsKey(x)) {
                batchFirst.put(x, Names.fresh(x + "_batch_first", names));
                entry.add(swap(Names.fresh(p.matmul().name() + "_batch_first", names), x, batchFirst.get(x), p.matmul()));
            }
            entry.add(p.matmul().withInputs(List.of(batchFirst.get(x), p.matmul().inputs().get(1))));
            replaced.put(p.matmul(), entry);
        }
        for (int i = 0; i < 3; i++) {
            AttentionPattern.Branch br = branches.get(i);
            String target = constant(b, names, br.split().name() + "_heads", 0, 0, heads, dims[i]);
            replaced.put(br.split(), List.of(br.split().withInputs(List.of(br.split().inputs().get(0), target))));
            Node t = br.ops().stream().filter(n -> n.opType().equals("Transpose")).findFirst().orElseThrow();
            replaced.put(t, List.of(t.withAttribute(Attribute.ofLongs("perm", i == 1 ? new long[] {0, 2, 3, 1}
                    : new long[] {0, 2, 1, 3}))));
        }
        Node mergeTranspose = m.merging().get(0);
        replaced.put(mergeTranspose, List.of(mergeTranspose.withAttribute(Attribute.ofLongs("perm", 0, 2, 1, 3))));
        String mergeTarget = constant(b, names, m.merge().name() + "_width", 0, 0, valueWidth);
        replaced.put(m.merge(), List.of(m.merge().withInputs(List.of(m.merge().inputs().get(0), mergeTarget))));
        String wName = Names.fresh(outWeight.name() + "_matmul", names);
        b.addInitializer(Tensor.ofFloats(wName, outWeight.dims(), outWeight.toFloats()));
        String attended = Names.fresh(result + "_batch_first", names);
        String product = outBias == null ? attended : Names.fresh(projected + "_matmul", names);
        List<Node> outNodes = new ArrayList<>();
        outNodes.add(new Node(out.name() + "_matmul", "MatMul", "", List.of(m.output(), wName), List.of(product),
                Map.of(), out.docString(), out.origin()));
        if (outBias != null) {
            String bName = Names.fresh(outBias.name() + "_add", names);
            b.addInitializer(Tensor.ofFloats(bName, new long[] {outWidth}, outBias.toFloats()));
            outNodes.add(new Node(out.name() + "_add", "Add", "", List.of(product, bName), List.of(attended), Map.of(),
                    out.docString(), out.origin()));
        }
        outNodes.add(swap(Names.fresh(unmerge.name() + "_tokens_first", names), attended, result, unmerge));
        Set<Node> removed = Collections.newSetFromMap(new IdentityHashMap<>());
        removed.add(out);
        if (outBiasAdd != null) {
            removed.add(outBiasAdd);
        }
        Set<Node> computations = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<String, String> renamed = new HashMap<>();
        for (PaddingMask pm : masks) {
            // mask [N, S] -> Unsqueeze [N, 1, 1, S] (Expand and the Reshape to [N * H, 1, S] go); a Where's zeros
            // of the merged shape become a scalar
            String axes = opset >= 13 ? constant(b, names, pm.unmerged().name() + "_axes", 1, 2) : null;
            Node unsqueeze = new Node(pm.unmerged().name() + "_unsqueeze", "Unsqueeze", "",
                    axes == null ? List.of(pm.input()) : List.of(pm.input(), axes), pm.unmerged().outputs(),
                    axes == null ? Map.of("axes", Attribute.ofLongs("axes", 1, 2)) : Map.of(),
                    pm.unmerged().docString(), pm.unmerged().origin());
            replaced.put(pm.unmerged(), List.of(unsqueeze));
            removed.add(pm.expand());
            removed.add(pm.merged());
            renamed.put(pm.merged().outputs().get(0), pm.unmerged().outputs().get(0));
            for (Map.Entry<Node, Tensor> z : pm.zeros().entrySet()) {
                String scalar = Names.fresh(z.getKey().outputs().get(0) + "_scalar", names);
                b.addInitializer(z.getValue().withName(scalar));
                renamed.put(z.getKey().outputs().get(0), scalar);
                computations.add(z.getKey());
                view.graph().producer(z.getKey().inputs().get(0)).ifPresent(computations::add);
            }
            for (Node reshape : List.of(pm.unmerged(), pm.expand(), pm.merged())) {
                ShapeComputation.nodesFromShapes(reshape.inputs().get(1), view).ifPresent(computations::addAll);
            }
            computations.addAll(pm.strays());
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (n == unmerge) {
                nodes.addAll(outNodes);
            } else if (!removed.contains(n)) {
                for (Node r : replaced.getOrDefault(n, List.of(n))) {
                    // a node renamed is a new node: only those that read a renamed value (the computations removed
                    // later must stay the nodes they are)
                    nodes.add(r.inputs().stream().noneMatch(renamed::containsKey) || computations.contains(n) ? r
                            : r.withInputs(r.inputs().stream().map(v -> renamed.getOrDefault(v, v)).toList()));
                }
            }
        }
        for (Node reshape : List.of(m.query().split(), m.key().split(), m.value().split(), m.merge(), unmerge)) {
            ShapeComputation.nodesFromShapes(reshape.inputs().get(1), view).ifPresent(computations::addAll);
        }
        return GraphRewrite.finish(g, b, nodes, computations, g.initializers().keySet());
    }

    /**
     * torch's key padding mask on the scores of merged heads: {@code merged} = Reshape(Expand(
     * {@code unmerged} = Reshape(input [N, S], [N, 1, 1, S]), [1, H, 1, 1]), [N * H, 1, S]), then
     * elementwise ops; {@code zeros}: ConstantOfShape nodes of Shape(a value of the mask) that a
     * Where reads (torch's zeros_like), with their value; {@code strays}: Transposes of split heads
     * that only shape computations read (torch reads S from the merged keys).
     */
    private record PaddingMask(String input, Node unmerged, Node expand, Node merged, Map<Node, Tensor> zeros,
                               List<Node> strays) {
    }

    private static Optional<PaddingMask> paddingMask(Graph g, GraphView view, AttentionPattern.InputMask mask,
                                                     AttentionPattern.Match m, long heads, ShapeComputation.Term batch,
                                                     Map<String, List<Dim>> known, Map<String, Dim> tokensOf,
                                                     List<Projection> projections) {
        Node merged = null;
        for (Node n : mask.nodes()) {
            if (n.opType().equals("Reshape") && n.inputs().size() == 2 && g.producer(n.inputs().get(0))
                    .filter(e -> e.opType().equals("Expand")).isPresent()) {
                if (merged != null) {
                    return Optional.empty();
                }
                merged = n;
            }
        }
        if (merged == null) {
            return Optional.empty();
        }
        Node expand = g.producer(merged.inputs().get(0)).orElseThrow();
        Node unmerged = g.producer(expand.inputs().get(0)).orElse(null);
        if (unmerged == null || !unmerged.opType().equals("Reshape") || unmerged.inputs().size() != 2
                || view.consumers(expand.outputs().get(0)).size() != 1
                || view.consumers(unmerged.outputs().get(0)).size() != 1) {
            return Optional.empty();
        }
        String input = unmerged.inputs().get(0);
        if (maskInput(g, view, input).isEmpty()) {
            return Optional.empty();
        }
        // the split heads' transposes [T', N * H, d] -> [N * H, T', d] that torch reads S from
        Map<String, List<Dim>> shapes = new HashMap<>(known);
        List<Node> strays = new ArrayList<>();
        List<AttentionPattern.Branch> branches = List.of(m.query(), m.key(), m.value());
        for (int i = 0; i < 3; i++) {
            AttentionPattern.Branch br = branches.get(i);
            for (Node t : view.consumers(br.split().outputs().get(0))) {
                if (!br.ops().contains(t) && GraphRewrite.isTranspose(t, 1, 0, 2)
                        && view.consumers(t.outputs().get(0)).stream().allMatch(c -> c.opType().equals("Shape"))) {
                    strays.add(t);
                    shapes.put(t.outputs().get(0), List.of(Dim.symbol("#batch_heads"),
                            tokensOf.get(projections.get(i).input()), Dim.UNKNOWN));
                }
            }
        }
        // [N, 1, 1, S] and [N * H, 1, S]: with N the batch, the rows of the merged mask are batch major
        List<ShapeComputation.Term> t1 = terms(unmerged, view, shapes::get);
        List<ShapeComputation.Term> t2 = terms(merged, view, shapes::get);
        // torch's expand(-1, H, -1, -1), which ONNX writes [1, H, 1, 1] (computed by Equal and Where)
        List<ShapeComputation.Term> te = terms(expand, view, shapes::get);
        if (te == null || te.size() != 4 || !te.get(0).is(1) || !te.get(1).is(heads) || !te.get(2).is(1)
                || !te.get(3).is(1)) {
            return Optional.empty();
        }
        if (t1 == null || t2 == null || t1.size() != 4 || t2.size() != 3 || !same(t1.get(0), batch)
                || !t1.get(1).is(1) || !t1.get(2).is(1) || !same(t2.get(0), times(batch, heads)) || !t2.get(1).is(1)) {
            return Optional.empty();
        }
        Map<Node, Tensor> zeros = new IdentityHashMap<>();
        for (Node n : mask.nodes()) {
            if (!n.opType().equals("Where")) {
                continue;
            }
            for (String in : n.inputs()) {
                Node c = g.producer(in).orElse(null);
                Node shape = c == null || !c.opType().equals("ConstantOfShape") ? null
                        : g.producer(c.inputs().get(0)).orElse(null);
                if (shape != null && shape.opType().equals("Shape") && mask.nodes().contains(shape)
                        && view.consumers(in).size() == 1) {
                    Tensor value = c.attribute("value").map(Attribute::asTensor)
                            .orElse(Tensor.ofFloats("zero", new long[] {1}, new float[] {0}));
                    zeros.put(c, Tensor.ofRawBytes("zero", value.dataType(), new long[0], rawScalar(value)));
                }
            }
        }
        return Optional.of(new PaddingMask(input, unmerged, expand, merged, zeros, strays));
    }

    /**
     * Ops that keep the shape of their one non-constant operand when every other operand is a
     * one-element constant of rank 2 at most: what turns a mask input into torch's key_padding_mask
     * ({@code attention_mask == 0}, {@code ~mask}, {@code (1 - mask.float()) * -1e4}).
     */
    private static final Set<String> MASK_ELEMENTWISE = Set.of("Identity", "Cast", "Not", "Neg", "Equal", "Less",
            "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Add", "Sub", "Mul", "Div", "Where");

    /**
     * The rank-2 model input ([N, S]) that {@code value} is, or that it is computed from by
     * {@link #MASK_ELEMENTWISE} ops alone, so that {@code value} is [N, S] too (HuggingFace-style exports
     * feed an int64 {@code attention_mask} of ones and zeros and compare it with 0); empty otherwise.
     */
    private static Optional<String> maskInput(Graph g, GraphView view, String value) {
        String v = value;
        for (int depth = 0; depth < 16; depth++) {
            String current = v;
            if (g.feedInputs().stream().anyMatch(in -> in.name().equals(current) && in.tensorType() != null
                    && in.tensorType().hasShape() && in.tensorType().shape().size() == 2)) {
                return Optional.of(current);
            }
            Node p = g.producer(current).orElse(null);
            if (p == null || !p.isDefaultDomain() || !MASK_ELEMENTWISE.contains(p.opType())) {
                return Optional.empty();
            }
            List<String> data = p.inputs().stream().filter(in -> !view.isConstant(in)).toList();
            boolean oneElementConstants = p.inputs().stream().filter(view::isConstant).allMatch(in -> view.constant(in)
                    .filter(t -> t.elementCount() == 1 && t.rank() <= 2).isPresent());
            if (data.size() != 1 || !oneElementConstants) {
                return Optional.empty();
            }
            v = data.get(0);
        }
        return Optional.empty();
    }

    /** The raw bytes of {@code t}'s first element. */
    private static byte[] rawScalar(Tensor t) {
        java.nio.ByteBuffer raw = t.data().rawBytes().duplicate();
        byte[] out = new byte[Math.toIntExact(t.dataType().rawByteCount(1))];
        raw.get(out);
        return out;
    }

    private static Node swap(String name, String input, String output, Node like) {
        return new Node(name, "Transpose", "", List.of(input), List.of(output),
                Map.of("perm", Attribute.ofLongs("perm", 1, 0, 2)), like.docString(), like.origin());
    }

    private static List<ShapeComputation.Term> terms(Node reshape, GraphView view,
                                                     Function<String, List<Dim>> known) {
        try {
            return ShapeComputation.terms(reshape.inputs().get(1), view, v -> {
                List<Dim> s = known.apply(v);
                if (s == null) {
                    throw new IllegalStateException("no shape for '" + v + "'");
                }
                return s;
            }, reshape);
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** Whether two terms are the same product (symbols in any order). */
    private static boolean same(ShapeComputation.Term a, ShapeComputation.Term b) {
        return a.is(b.factor(), b.symbols().toArray(Dim[]::new));
    }

    private static ShapeComputation.Term times(ShapeComputation.Term a, long factor) {
        return new ShapeComputation.Term(a.factor() * factor, a.symbols());
    }

    private static ShapeComputation.Term times(ShapeComputation.Term a, ShapeComputation.Term b) {
        List<Dim> symbols = new ArrayList<>(a.symbols());
        symbols.addAll(b.symbols());
        return new ShapeComputation.Term(a.factor() * b.factor(), symbols);
    }

    private static Tensor transposed(Tensor w) {
        int rows = Math.toIntExact(w.dims()[0]);
        int cols = Math.toIntExact(w.dims()[1]);
        float[] v = w.toFloats();
        float[] t = new float[v.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = v[r * cols + c];
            }
        }
        return Tensor.ofFloats(w.name(), new long[] {cols, rows}, t);
    }

    private static String constant(Graph.Builder b, Set<String> names, String base, long... values) {
        String name = Names.fresh(base, names);
        b.addInitializer(Tensor.ofLongs(name, new long[] {values.length}, values));
        return name;
    }
}
