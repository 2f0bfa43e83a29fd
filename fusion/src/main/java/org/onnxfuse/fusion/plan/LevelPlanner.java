package org.onnxfuse.fusion.plan;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.ops.AffineGeometry;
import org.onnxfuse.fusion.ops.AffineHandler;
import org.onnxfuse.fusion.ops.AttentionPattern;
import org.onnxfuse.fusion.ops.ConcatHandler;
import org.onnxfuse.fusion.ops.ConstantArithmetic;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.InputData;
import org.onnxfuse.fusion.ops.NeuronFlow;
import org.onnxfuse.fusion.ops.OpHandler;
import org.onnxfuse.fusion.ops.OpPattern;
import org.onnxfuse.fusion.ops.OpRegistry;
import org.onnxfuse.fusion.ops.OpRole;
import org.onnxfuse.fusion.ops.ParameterFreeOps;
import org.onnxfuse.fusion.ops.PatternMatch;
import org.onnxfuse.fusion.ops.ShapeComputation;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.OpsetImport;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Plans the levels and neuron spaces of a network whose ops form a DAG. It walks the graph in
 * topological order and follows, for every activation, its shape and its neuron axis: which
 * spaces' neurons lie along that axis (one, or several stacked by a Concat) and how a Flatten
 * spread them. Each op handler says what the op does to that axis ({@link NeuronFlow}): affine
 * ops end a level and start a space (a BatchNormalization right after them folded in), joins
 * (residual Add, gates, depthwise Conv) tie spaces together by union-find, Concat stacks them,
 * everything else preserves them. Shapes are propagated from the input's declared shape, so every
 * cut has its shape, neuron axis and width. Anything the walk cannot place is an
 * {@link UnsupportedOpException} naming the node and the reason.
 */
public final class LevelPlanner {
    private final OpRegistry registry;
    private final GraphView view;
    private final Graph graph;
    private final Map<String, Long> opsets = new HashMap<>();
    private final Set<Node> placed = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Map<String, Flow> flows = new HashMap<>();
    /** Union-find over the spaces as the walk creates them (one per affine op). */
    private final List<Integer> spaceParent = new ArrayList<>();
    private final List<AffineStep> steps = new ArrayList<>();
    /** Every placed op that is not an affine step, by the value it writes. */
    private final Map<String, PlacedOp> ops = new LinkedHashMap<>();
    /** Parameters concatenated to the activations along a position axis (a class token), with the flow they join. */
    private final List<Map.Entry<LevelOp, Flow>> concatenatedParameters = new ArrayList<>();
    /** The nodes of every attention core ({@link AttentionPattern}), placed together at the core's last node. */
    private final Map<Node, AttentionPattern.Match> attention = new IdentityHashMap<>();
    /** The attention cores, in the order of their score MatMuls. */
    private final List<AttentionPattern.Match> cores = new ArrayList<>();
    /** Spaces (as created, before union) whose neurons are attention heads, with the number of heads. */
    private final Map<Integer, Integer> headsOfSpace = new HashMap<>();
    /** Constants added to attention scores per head, on the query space (as created) whose heads they follow. */
    private final List<PerNeuronOp> headConstants = new ArrayList<>();
    /** Pairs of spaces (as created) whose heads share one order: each attention's query and value spaces. */
    private final List<int[]> sharedHeadOrders = new ArrayList<>();
    /** Values before the first level that hold no float32: int64 or bool inputs and what is computed from them. */
    private final Set<String> integers = new HashSet<>();
    /**
     * Float values before the first level computed from int64 or bool inputs alone by the ops of
     * {@link ParameterFreeOps} other than a Gather of a table (which looks up features): a mask cast to
     * float, HuggingFace's {@code (1 - attention_mask.float()) * -1e4}. Data like the integers, so
     * the ops on them stay parameter-free where they can; an op they cannot follow is left to the
     * handlers (an int64 input cast to float features that a level reads).
     */
    private final Set<String> floatsFromPassed = new HashSet<>();
    /** Values before the first level computed from an int64 or bool input, with that input (for messages). */
    private final Map<String, ModelInput> passedThrough = new HashMap<>();
    /** Data before the first level: the axes along which its values are the same ({@link ParameterFreeOps.Result#uniform}). */
    private final Map<String, Set<Integer>> uniform = new HashMap<>();

    private LevelPlanner(Model model, OpRegistry registry) {
        this.registry = registry;
        this.graph = model.graph();
        this.view = new GraphView(graph);
        for (OpsetImport o : model.opsetImports()) {
            opsets.put(o.isDefaultDomain() ? "" : o.domain(), o.version());
        }
    }

    /** The plan of {@code model} with the standard op registry. */
    public static LevelPlan plan(Model model) {
        return plan(model, OpRegistry.standard());
    }

    public static LevelPlan plan(Model model, OpRegistry registry) {
        ModelRequirements.check(model);
        try {
            return new LevelPlanner(model, registry).plan();
        } catch (UnsupportedOpException e) {
            // name every construct the planner does not handle yet, not only the node it stopped at
            Optional<String> refusal = Constructs.refusal(model.graph(), e.getMessage());
            if (refusal.isEmpty()) {
                throw e;
            }
            throw new UnsupportedOpException(e.code(), refusal.get(), e);
        }
    }

    /**
     * What is known of an activation: its shape, the axis holding neurons (-1 on the model
     * input's side of the first level, where features are the input's own), the spaces stacked
     * along that axis, and, once a Flatten merged the neuron axis with others, how the merged
     * features follow the neurons ({@code layout}; {@code opaque} when ops rearranged them beyond
     * what a layout describes).
     */
    private record Flow(List<Dim> shape, int axis, List<Integer> slices, InputLayout flat, boolean opaque,
                        Node endedBy) {
        static Flow input(List<Dim> shape) {
            return new Flow(shape, -1, List.of(), null, false, null);
        }

        Flow withShape(List<Dim> s) {
            return new Flow(s, axis, slices, flat, opaque, endedBy);
        }

        boolean hasNeurons() {
            return axis >= 0;
        }

        boolean plain() {
            return flat == null && !opaque;
        }
    }

    /** An affine op with its bias Add and folded norm, as found on the walk. */
    private record AffineStep(Node affine, Node biasAdd, Node norm, List<Node> constants, String input,
                              List<Dim> inputShape, String cut, List<Dim> cutShape, int neuronAxis, long width,
                              long fanIn, boolean hasBias, Map<String, String> signature, int space, Flow inputFlow,
                              boolean depthwise) {
    }

    /** A placed op other than an affine step: its {@link LevelOp}, what it does to the neurons, and its flows. */
    private record PlacedOp(LevelOp op, NeuronFlow flow, List<String> inputs, Flow inputFlow, Flow outputFlow) {
    }

    private LevelPlan plan() {
        List<ModelInput> inputs = modelInputs();
        String output = graph.outputs().get(0).name();
        for (ModelInput in : inputs) {
            flows.put(in.name(), Flow.input(in.shape()));
            if (!in.floating()) {
                integers.add(in.name());
                passedThrough.put(in.name(), in);
            }
        }
        for (AttentionPattern.Match core : AttentionPattern.find(view)) {
            core.nodes().forEach(n -> attention.put(n, core));
            cores.add(core);
        }
        for (Node node : graph.topologicalOrder()) {
            if (placed.contains(node) || GraphView.isConstantNode(node)) {
                continue;
            }
            AttentionPattern.Match core = attention.get(node);
            if (core != null) {
                if (node == core.merge()) {
                    placeAttention(core);
                }
                continue;
            }
            List<String> active = node.inputs().stream().filter(v -> !v.isEmpty() && flows.containsKey(v)).distinct()
                    .toList();
            if (active.isEmpty() || isShapeOf(node)) {
                continue; // constants or a shape computation: placed with the op that reads them, or reported
            }
            if (placePattern(node, active) || beforeLevels(node, active)) {
                continue;
            }
            place(node, active);
        }
        for (ValueInfo out : graph.outputs()) {
            if (!flows.containsKey(out.name())) {
                throw structure("the model output '" + out.name() + "' does not depend on the input"
                        + (inputs.size() > 1 ? "s " : " ") + quoted(inputs));
            }
        }
        checkEverythingPlaced(inputs, output);
        return assemble(inputs, output);
    }

    /**
     * The graph inputs: float ones feed levels, int64 and bool ones (token ids, masks) are passed
     * through. Each needs a declared shape.
     */
    private List<ModelInput> modelInputs() {
        List<ModelInput> out = new ArrayList<>();
        for (ValueInfo in : graph.feedInputs()) {
            if (in.tensorType() == null || !in.tensorType().hasShape()) {
                throw structure("model input '" + in.name() + "' has no declared shape; the planner needs at least"
                        + " its rank (export with a sample input of the right shape)");
            }
            DataType type = in.tensorType().elementType();
            if (type != DataType.FLOAT && type != DataType.INT64 && type != DataType.BOOL) {
                throw structure("model input '" + in.name() + "' is " + type + "; expected FLOAT (features that"
                        + " levels read), or INT64 or BOOL (passed through unchanged, such as token ids or a mask)");
            }
            out.add(new ModelInput(in.name(), in.tensorType().shape(), type));
        }
        if (out.isEmpty()) {
            throw structure("the model has no graph input other than initializers");
        }
        return out;
    }

    /**
     * Places {@code node} when it works on data before the first level that several inputs meet
     * in, or that is not float (an int64 or bool input on its way) or is computed from such
     * ({@link #floatsFromPassed}): a parameter-free op ({@link ParameterFreeOps}) that fusion copies
     * unchanged. Returns false for anything else, which the handlers place; refuses int64 or bool data in
     * an op it cannot follow.
     */
    private boolean beforeLevels(Node node, List<String> active) {
        boolean neurons = active.stream().anyMatch(v -> flows.get(v).hasNeurons());
        boolean integer = active.stream().anyMatch(integers::contains);
        boolean passedData = integer || active.stream().anyMatch(floatsFromPassed::contains);
        if (neurons || (!passedData && active.size() == 1)) {
            return false;
        }
        List<ParameterFreeOps.Operand> operands = new ArrayList<>();
        List<Node> sizes = new ArrayList<>();
        for (String v : node.inputs()) {
            if (flows.containsKey(v)) {
                operands.add(new ParameterFreeOps.Operand(flows.get(v).shape(), !integers.contains(v),
                        uniform.getOrDefault(v, Set.of()), null));
            } else if (v.isEmpty()) {
                operands.add(ParameterFreeOps.Operand.OMITTED);
            } else {
                operands.add(ParameterFreeOps.constant(v, view).or(() -> sizeOfActivation(v, sizes)).orElse(null));
            }
        }
        Optional<ParameterFreeOps.Result> applied = ParameterFreeOps.apply(node, operands, view);
        if (applied.isEmpty() && !integer && active.size() == 1) {
            return false;
        }
        checkExtraOutputs(node);
        ParameterFreeOps.Result result = applied.orElseThrow(() ->
                registry.unsupported(node, "it reads " + describeBeforeLevels(active) + "; before the first level"
                        + " such data may pass only through Cast, Not, comparisons, And/Or/Xor, Where, Add, Sub,"
                        + " Mul, Div, Concat, Unsqueeze, Identity, Gather of an initializer, ReduceSum (not over"
                        + " the batch), Clip and Expand to an activation's own size (h.size(), not a constant),"
                        + " with constant or input operands of fitting shapes"));
        List<Node> nodes = new ArrayList<>(view.privateConstants(List.of(node)));
        nodes.addAll(sizes);
        nodes.add(node);
        String out = node.outputs().get(0);
        LevelOp op = new LevelOp(node.opType(), OpRole.ELEMENTWISE, node, view.sorted(nodes), false, active.get(0),
                out, result.shape(), Map.of(), -1, List.of());
        Flow flow = Flow.input(result.shape());
        placed.addAll(nodes);
        if (!result.uniform().isEmpty()) {
            uniform.put(out, result.uniform());
        }
        NeuronFlow kind = active.size() == 1 ? NeuronFlow.PRESERVES : NeuronFlow.STACKS;
        ops.put(out, new PlacedOp(op, kind, active, flows.get(active.get(0)), flow));
        flows.put(out, flow);
        if (!result.floating()) {
            integers.add(out);
        } else if (!node.opType().equals("Gather")
                && active.stream().allMatch(v -> integers.contains(v) || floatsFromPassed.contains(v))) {
            floatsFromPassed.add(out);
        }
        active.stream().map(passedThrough::get).filter(Objects::nonNull).findFirst()
                .ifPresent(in -> passedThrough.put(out, in));
        return true;
    }

    /**
     * The operand {@code value} when it is the size of an activation with plain neurons (torch's {@code h.size()},
     * {@link ParameterFreeOps#sizeOf}) computed from its shape alone; its nodes are added to {@code nodes}.
     * In the fused model the nodes read the fused activation, so the size follows the fused width.
     */
    private Optional<ParameterFreeOps.Operand> sizeOfActivation(String value, List<Node> nodes) {
        Optional<String> of = ParameterFreeOps.sizeOf(value, view).filter(a -> flows.containsKey(a)
                && flows.get(a).hasNeurons() && flows.get(a).plain());
        List<Node> computed = of.isEmpty() ? null : shapeOnly(value);
        if (computed == null || computed.stream().anyMatch(placed::contains)) {
            return Optional.empty();
        }
        nodes.addAll(computed);
        return Optional.of(ParameterFreeOps.Operand.sizeOf(flows.get(of.get()).shape()));
    }

    /** "'x' and 'mask_f' (computed from the INT64 input 'mask')" for messages. */
    private String describeBeforeLevels(List<String> values) {
        List<String> described = new ArrayList<>();
        for (String v : values) {
            ModelInput from = passedThrough.get(v);
            String origin = from == null ? "" : from.name().equals(v) ? " (the " + from.elementType() + " input)"
                    : " (computed from the " + from.elementType() + " input '" + from.name() + "')";
            described.add("'" + v + "'" + origin);
        }
        return String.join(" and ", described);
    }

    private static boolean isShapeOf(Node n) {
        return n.isDefaultDomain() && n.opType().equals("Shape") && n.inputs().size() == 1;
    }

    private boolean placePattern(Node node, List<String> active) {
        for (String value : active) {
            for (OpPattern p : registry.patterns()) {
                Optional<PatternMatch> found = p.match(value, view);
                if (found.isEmpty() || !found.get().nodes().contains(node)) {
                    continue;
                }
                PatternMatch m = found.get();
                Flow in = flows.get(value);
                requireNotEnded(node, in);
                if (m.role() == OpRole.NEURON_NORM && in.hasNeurons()) {
                    int rank = in.shape().size();
                    long axis = Long.parseLong(m.signature().get("axis"));
                    if (!in.plain() || in.axis() != rank - 1 || (axis != -1 && axis != rank - 1)) {
                        throw registry.unsupported(node, "it is a LayerNorm over axis " + axis + " of '" + value
                                + "' " + Shapes.format(in.shape()) + ", whose neurons are "
                                + (in.plain() ? "on axis " + in.axis() : "flattened with other axes")
                                + "; after a level a LayerNorm must normalise the neurons alone, on the last axis");
                    }
                }
                Node main = m.nodes().stream().filter(n -> !GraphView.isConstantNode(n)).findFirst().orElseThrow();
                LevelOp op = new LevelOp(m.opType(), m.role(), main, m.nodes(), true, value, m.output(), in.shape(),
                        m.signature(), -1, List.of());
                ops.put(m.output(), new PlacedOp(op, NeuronFlow.PRESERVES, List.of(value), in, in));
                placed.addAll(m.nodes());
                flows.put(m.output(), in);
                return true;
            }
        }
        return false;
    }

    /**
     * Places an attention core once its q, k and v are known: q's and k's spaces are tied (the
     * scores contract them) and both split into heads, v's space splits into the same heads and
     * carries on to the output, which the output projection reads.
     */
    private void placeAttention(AttentionPattern.Match core) {
        List<Flow> in = new ArrayList<>();
        for (AttentionPattern.Branch b : List.of(core.query(), core.key(), core.value())) {
            Flow f = flows.get(b.source());
            if (f == null || !f.hasNeurons()) {
                throw registry.unsupported(b.split(), "it splits '" + b.source() + "' into attention heads, but that "
                        + (f == null ? "does not come from the model input" : "comes before the first level")
                        + "; attention reads the outputs of affine ops (query, key and value projections)");
            }
            requireNotEnded(b.split(), f);
            if (!f.plain() || f.axis() != f.shape().size() - 1 || f.slices().size() != 1) {
                throw registry.unsupported(b.split(), "it splits '" + b.source() + "' into attention heads, whose "
                        + "neurons are " + (f.slices().size() != 1 ? "stacked from " + f.slices().size() + " branches"
                        : !f.plain() ? "rearranged by a Reshape or Transpose" : "on axis " + f.axis())
                        + "; attention needs one space's neurons on the last axis");
            }
            in.add(f);
        }
        AttentionPattern.Resolved r = AttentionPattern.resolve(core, view, value -> {
            Flow f = flows.get(value);
            if (f == null) {
                throw registry.unsupported(core.merge(), "its shape is computed from '" + value + "', which does not"
                        + " come from the model input");
            }
            return f.shape();
        }, opsets.getOrDefault("", -1L));
        int query = in.get(0).slices().get(0);
        int value = in.get(2).slices().get(0);
        union(query, in.get(1).slices().get(0));
        headsOfSpace.merge(query, r.heads(), (a, b) -> a.equals(b) ? a : -1);
        headsOfSpace.merge(value, r.heads(), (a, b) -> a.equals(b) ? a : -1);
        sharedHeadOrders.add(new int[] {query, value});
        for (AttentionPattern.ScoreBias bias : r.biases()) {
            if (bias.perHead()) {
                Node add = bias.node();
                String scores = add.inputs().stream().filter(v -> !view.isConstant(v)).findFirst().orElseThrow();
                LevelOp constant = new LevelOp("AttentionBias", OpRole.JOIN, add, List.of(add), false, scores,
                        add.outputs().get(0), bias.scores(), Map.of(), bias.headAxis(), List.of());
                headConstants.add(new PerNeuronOp(constant, List.of(query), bias.headAxis(),
                        Math.toIntExact(r.keyDim())));
            }
        }
        LevelOp op = new LevelOp("Attention", OpRole.JOIN, core.scores(), core.nodes(), true, core.value().source(),
                core.output(), r.outputShape(), r.signature(), -1, List.of());
        Flow out = new Flow(r.outputShape(), r.outputShape().size() - 1, in.get(2).slices(), null, false, null);
        placed.addAll(core.nodes());
        ops.put(core.output(), new PlacedOp(op, NeuronFlow.TIES,
                List.of(core.value().source(), core.query().source(), core.key().source()), in.get(2), out));
        flows.put(core.output(), out);
    }

    private void place(Node node, List<String> active) {
        if (node.isDefaultDomain() && node.opType().equals("Concat") && concatenatesParameters(node, active)) {
            return;
        }
        OpHandler handler = registry.find(node, opset(node)).orElseThrow(() -> registry.unsupported(node, null));
        checkExtraOutputs(node);
        if (placeWithInputData(node, handler, active)) {
            return;
        }
        NeuronFlow flow = handler.neuronFlow(node, view);
        switch (flow) {
            case TIES, STACKS -> {
                if (handler.role() == OpRole.AFFINE) {
                    affine(node, (AffineHandler) handler, active, true);
                } else {
                    join(node, handler, flow);
                }
            }
            case STARTS -> affine(node, (AffineHandler) handler, active, false);
            case PRESERVES, ENDS -> preserve(node, handler, active, flow);
        }
    }

    /**
     * Places {@code node} when it reads one activation with plain neurons and, beside it, values computed
     * from the model inputs alone (flows before the first level: masked mean pooling's mask and its count of
     * kept tokens), as its handler allows ({@link OpHandler#shapeWithInputData}, which refuses data that would
     * have to follow the neurons): the neurons pass through, the data is computed as parent 0 computes it.
     * Returns false where the node reads no such data or its handler takes none.
     */
    private boolean placeWithInputData(Node node, OpHandler handler, List<String> active) {
        List<String> withNeurons = active.stream().filter(v -> flows.get(v).hasNeurons()).toList();
        if (active.size() < 2 || withNeurons.size() != 1) {
            return false;
        }
        String value = withNeurons.get(0);
        Flow in = flows.get(value);
        if (!in.plain() || node.inputs().stream().filter(value::equals).count() != 1) {
            return false;
        }
        List<InputData> data = new ArrayList<>();
        for (int i = 0; i < node.inputs().size(); i++) {
            String v = node.inputs().get(i);
            if (!v.equals(value) && active.contains(v)) {
                data.add(new InputData(i, flows.get(v).shape(), describeBeforeLevels(List.of(v)),
                        uniform.getOrDefault(v, Set.of())));
            }
        }
        requireNotEnded(node, in);
        Optional<List<Dim>> out = handler.shapeWithInputData(node, node.inputs().indexOf(value), in.shape(),
                in.axis(), data, view);
        if (out.isEmpty()) {
            return false;
        }
        List<Node> nodes = new ArrayList<>(view.privateConstants(List.of(node)));
        nodes.add(node);
        LevelOp op = new LevelOp(handler.opType(), handler.role(), node, view.sorted(nodes), false, value,
                node.outputs().get(0), out.get(), handler.signature(node, view), -1, List.of());
        placed.addAll(nodes);
        Flow next = in.withShape(out.get());
        ops.put(node.outputs().get(0), new PlacedOp(op, NeuronFlow.PRESERVES, List.of(value), in, next));
        flows.put(node.outputs().get(0), next);
        return true;
    }

    /** Ops a target shape computed from activations' shapes may pass through (torch's export of {@code expand(N, -1, -1)}). */
    private static final Set<String> SHAPE_OPS = Set.of("Shape", "Constant", "Gather", "Unsqueeze", "Squeeze", "Concat",
            "Slice", "Cast", "Identity", "Add", "Sub", "Mul", "Div", "ConstantOfShape", "Equal", "Where", "Reshape");

    /**
     * A Concat along a position axis (not the batch's, not the neurons') of one activation with
     * parameters expanded to the batch: a class token {@code cat([cls.expand(N, -1, -1), x], 1)}.
     * The neurons pass through; each parameter, of shape [1, ..., neurons on the activation's
     * neuron axis], is a per-neuron op of their spaces (its values per neuron are fused like a
     * position embedding's). Returns false when the Concat is not of that form.
     */
    private boolean concatenatesParameters(Node node, List<String> active) {
        if (active.size() != 1 || node.inputs().size() < 2) {
            return false;
        }
        String value = active.get(0);
        Flow in = flows.get(value);
        if (!in.hasNeurons() || !in.plain() || node.inputs().stream().filter(value::equals).count() != 1) {
            return false;
        }
        int rank = in.shape().size();
        long axisAttribute = node.longAttribute("axis", 0);
        int axis = (int) (axisAttribute < 0 ? axisAttribute + rank : axisAttribute);
        Dim along = in.shape().get(axis < rank && axis >= 0 ? axis : 0);
        if (axis <= 0 || axis >= rank || axis == in.axis() || !along.isFixed()) {
            return false;
        }
        long length = along.value();
        List<Node> nodes = new ArrayList<>();
        List<LevelOp> parameters = new ArrayList<>();
        for (String operand : node.inputs()) {
            if (operand.equals(value)) {
                continue;
            }
            Node expand = view.graph().producer(operand).orElse(null);
            if (expand == null || !expand.isDefaultDomain() || !expand.opType().equals("Expand")
                    || expand.inputs().size() != 2 || view.consumers(operand).size() != 1) {
                return false;
            }
            Optional<Tensor> parameter = view.initializer(expand.inputs().get(0));
            if (parameter.isEmpty() || parameter.get().dataType() != DataType.FLOAT
                    || parameter.get().dims().length != rank || parameter.get().dims()[0] != 1) {
                return false;
            }
            long[] dims = parameter.get().dims();
            for (int i = 1; i < rank; i++) {
                Dim d = in.shape().get(i);
                if (i != axis && !(d.isFixed() && d.value() == dims[i])) {
                    return false;
                }
            }
            List<Node> target = shapeOnly(expand.inputs().get(1));
            if (target == null) {
                return false;
            }
            nodes.addAll(target);
            nodes.add(expand);
            List<Dim> expanded = new ArrayList<>(in.shape());
            expanded.set(axis, Dim.of(dims[axis]));
            parameters.add(new LevelOp("Expand", OpRole.POOLING, expand, view.sorted(append(target, expand)), false,
                    expand.inputs().get(0), operand, expanded, ConstantArithmetic.PER_NEURON_SIGNATURE, -1, List.of()));
            length += dims[axis];
        }
        checkExtraOutputs(node);
        List<Dim> out = new ArrayList<>(in.shape());
        out.set(axis, Dim.of(length));
        nodes.add(node);
        LevelOp op = new LevelOp("Concat", OpRole.POOLING, node, view.sorted(nodes), false, value,
                node.outputs().get(0), out, Map.of("axis", Integer.toString(axis), "parameters",
                Integer.toString(parameters.size())), -1, List.of());
        placed.addAll(nodes);
        Flow next = new Flow(out, in.axis(), in.slices(), null, false, in.endedBy());
        ops.put(node.outputs().get(0), new PlacedOp(op, NeuronFlow.PRESERVES, List.of(value), in, next));
        flows.put(node.outputs().get(0), next);
        parameters.forEach(p -> concatenatedParameters.add(Map.entry(p, in)));
        return true;
    }

    private static List<Node> append(List<Node> nodes, Node last) {
        List<Node> out = new ArrayList<>(nodes);
        out.add(last);
        return out;
    }

    /**
     * The nodes computing {@code value} from activations' shapes and constants only (every Shape
     * reads an activation), or null when it depends on anything else.
     */
    private List<Node> shapeOnly(String value) {
        List<Node> out = new ArrayList<>();
        Set<Node> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<String> work = new ArrayDeque<>(List.of(value));
        while (!work.isEmpty()) {
            String v = work.pop();
            if (v.isEmpty() || view.initializer(v).isPresent()) {
                continue;
            }
            Node n = view.graph().producer(v).orElse(null);
            if (n == null || !n.isDefaultDomain() || !SHAPE_OPS.contains(n.opType())) {
                return null;
            }
            if (!seen.add(n)) {
                continue;
            }
            out.add(n);
            if (n.opType().equals("Shape") && flows.containsKey(n.inputs().get(0))) {
                continue; // an activation's shape; a Shape of a computed shape is followed back
            }
            work.addAll(n.inputs());
        }
        return out;
    }

    /** An op with one activation input whose neurons pass through (or end, for an output head). */
    private void preserve(Node node, OpHandler handler, List<String> active, NeuronFlow flowKind) {
        int data = handler.dataInput(node, view);
        String value = data < node.inputs().size() ? node.inputs().get(data) : "";
        checkInputs(node, value, active);
        Flow in = flows.get(value);
        requireNotEnded(node, in);
        if (handler.role() == OpRole.FOLDABLE_NORM && in.hasNeurons() && (in.axis() != 1 || !in.plain())) {
            throw registry.unsupported(node, "it normalises axis 1, but the neurons of '" + value + "' "
                    + Shapes.format(in.shape()) + (in.plain() ? " are on axis " + in.axis() : " were flattened")
                    + "; a BatchNormalization needs the neurons on axis 1");
        }
        if (handler.role() == OpRole.NEURON_NORM && in.hasNeurons()) {
            if (!in.plain()) {
                throw registry.unsupported(node, "it normalises '" + value + "', whose neurons were flattened"
                        + " with other axes; a LayerNormalization after a level must normalise the neurons alone");
            }
            handler.requireNeuronAxis(node, in.axis(), in.shape().size(), view);
        }
        if (handler.role() != OpRole.NEURON_NORM && in.hasNeurons() && in.plain()) {
            handler.requireNeuronAxis(node, in.axis(), in.shape().size(), view);
        }
        boolean perNeuronConstant = handler instanceof ConstantArithmetic && in.hasNeurons() && in.plain()
                && ConstantArithmetic.isPerNeuron(node, view, in.axis(), in.shape().size());
        if (handler instanceof ConstantArithmetic && in.hasNeurons() && ConstantArithmetic.isPerElement(node, view)
                && !perNeuronConstant) {
            throw registry.unsupported(node, "its constant has more than one element and it comes after"
                    + " a level, but it does not vary along the neurons (or it varies along the batch): fusion"
                    + " rewrites a constant after a level per fused neuron (constants with one element, constants"
                    + " along the neurons and maybe positions such as a layer scale or a position embedding, or"
                    + " per-element constants on the model input before the first level, are fine)");
        }
        List<Dim> out = reshapedByOtherShapes(node, value, in).orElseGet(() -> handler.outputShape(node, in.shape(),
                view));
        List<Node> nodes = new ArrayList<>(shapeComputations(node, value));
        nodes.addAll(view.privateConstants(List.of(node)));
        nodes.add(node);
        LevelOp op = new LevelOp(handler.opType(), handler.role(), node, view.sorted(nodes), false, value,
                node.outputs().get(0), out, perNeuronConstant ? ConstantArithmetic.PER_NEURON_SIGNATURE
                : handler.signature(node, view), -1, List.of());
        placed.addAll(nodes);
        Flow next = follow(node, handler, in, out, view);
        if (flowKind == NeuronFlow.ENDS) {
            next = new Flow(out, next.axis(), next.slices(), next.flat(), next.opaque(), node);
        }
        ops.put(node.outputs().get(0), new PlacedOp(op, flowKind, List.of(value), in, next));
        flows.put(node.outputs().get(0), next);
    }

    /**
     * The flow after an op that keeps the neurons: a Transpose moves their axis, a Flatten (or a
     * Reshape to [N, features]) merges it with the positions, a Reshape that only drops or adds
     * axes of size 1 keeps it; any other rearrangement leaves the features' order unknown.
     */
    private static Flow follow(Node node, OpHandler handler, Flow in, List<Dim> out, GraphView view) {
        if (!in.hasNeurons()) {
            return in.withShape(out);
        }
        List<Dim> shape = in.shape();
        int axis = in.axis();
        OptionalInt moved = handler.neuronAxisAfter(node, axis, shape.size(), view);
        if (moved.isPresent()) {
            return in.plain() ? new Flow(out, moved.getAsInt(), in.slices(), null, false, in.endedBy())
                    : opaque(in, out);
        }
        switch (handler.opType()) {
            case "Transpose" -> {
                if (!in.plain()) {
                    return opaque(in, out);
                }
                long[] perm = node.longsAttribute("perm", null);
                for (int j = 0; j < out.size(); j++) {
                    long src = perm == null ? out.size() - 1 - j : perm[j];
                    if (src == axis) {
                        return new Flow(out, j, in.slices(), null, false, in.endedBy());
                    }
                }
                return opaque(in, out);
            }
            case "Flatten", "Reshape" -> {
                if (shape.equals(out)) {
                    return in.withShape(out);
                }
                if (!in.plain()) {
                    return opaque(in, out);
                }
                if (axis == shape.size() - 1 && shape.get(axis).isFixed() && out.size() >= 2
                        && out.get(out.size() - 1).equals(shape.get(axis))) {
                    // neurons last before and after: only positions (and the batch) regroup, every row keeps
                    // its neurons in order (Swin's windows: [N, H, W, C] <-> [N * windows, tokens, C])
                    return new Flow(out, out.size() - 1, in.slices(), null, false, in.endedBy());
                }
                if (out.size() == 2) {
                    Optional<Long> outer = product(node, shape, 1, axis);
                    Optional<Long> inner = product(node, shape, axis + 1, shape.size());
                    if (outer.isEmpty() || inner.isEmpty()) {
                        return opaque(in, out);
                    }
                    return new Flow(out, 1, in.slices(), new InputLayout(outer.get(), inner.get()), false,
                            in.endedBy());
                }
                return regrouped(in, out).or(() -> squeezed(in, out)).orElseGet(() -> opaque(in, out));
            }
            default -> {
                return out.size() == shape.size() ? in.withShape(out) : opaque(in, out);
            }
        }
    }

    /**
     * The flow after a reshape that keeps the batch and the neuron axis and regroups only the axes
     * before the neurons among themselves and those after among themselves ([N, C, H, W] to
     * [N, C, H * W]): every neuron keeps its place in each row; the batch stays on axis 0.
     */
    private static Optional<Flow> regrouped(Flow in, List<Dim> out) {
        List<Dim> shape = in.shape();
        int axis = in.axis();
        if (axis < 1 || !Shapes.alike(shape.get(0), out.get(0)) || !shape.get(axis).isFixed()) {
            return Optional.empty();
        }
        Optional<Long> before = fixedProduct(shape.subList(1, axis));
        Optional<Long> after = fixedProduct(shape.subList(axis + 1, shape.size()));
        if (before.isEmpty() || after.isEmpty()) {
            return Optional.empty();
        }
        long product = 1;
        for (int j = 1; j < out.size(); j++) {
            if (product == before.get() && Shapes.alike(out.get(j), shape.get(axis))
                    && fixedProduct(out.subList(j + 1, out.size())).equals(after)) {
                return Optional.of(new Flow(out, j, in.slices(), null, false, in.endedBy()));
            }
            if (!out.get(j).isFixed()) {
                return Optional.empty();
            }
            product *= out.get(j).value();
        }
        return Optional.empty();
    }

    private static Optional<Long> fixedProduct(List<Dim> dims) {
        long p = 1;
        for (Dim d : dims) {
            if (!d.isFixed()) {
                return Optional.empty();
            }
            p *= d.value();
        }
        return Optional.of(p);
    }

    /** The flow after a reshape that only removes or inserts axes of size 1 around the neuron axis. */
    private static Optional<Flow> squeezed(Flow in, List<Dim> out) {
        List<Dim> shape = in.shape();
        int axis = in.axis();
        Dim neurons = shape.get(axis);
        long before = 1;
        for (int i = 1; i < axis; i++) {
            if (!shape.get(i).isFixed()) {
                return Optional.empty();
            }
            before *= shape.get(i).value();
        }
        if (before != 1 || !neurons.isFixed()) {
            return Optional.empty();
        }
        for (int j = 1; j < out.size(); j++) {
            if (Shapes.alike(out.get(j), neurons)) {
                for (int i = 1; i < j; i++) {
                    if (!out.get(i).isFixed() || out.get(i).value() != 1) {
                        return Optional.empty();
                    }
                }
                return Optional.of(new Flow(out, j, in.slices(), null, false, in.endedBy()));
            }
        }
        return Optional.empty();
    }

    private static Flow opaque(Flow in, List<Dim> out) {
        return new Flow(out, in.axis() < 0 ? -1 : 1, in.slices(), null, true, in.endedBy());
    }

    /** A join: Add/Sub/Mul of two activations (their spaces tied) or a Concat (their spaces stacked). */
    private void join(Node node, OpHandler handler, NeuronFlow kind) {
        List<Integer> positions = handler.joinedInputs(node, view);
        List<String> values = new ArrayList<>();
        List<Flow> in = new ArrayList<>();
        for (int p : positions) {
            String v = node.inputs().get(p);
            Flow f = flows.get(v);
            if (f == null) {
                throw structure("node " + GraphView.quote(node) + " reads input " + p + " '" + v + "' from "
                        + view.origin(v) + ", which does not come from the model input; a join reads activations");
            }
            requireNotEnded(node, f);
            values.add(v);
            in.add(f);
        }
        for (int i = 0; i < node.inputs().size(); i++) {
            if (!positions.contains(i) && !view.isConstant(node.inputs().get(i))) {
                throw structure("node " + GraphView.quote(node) + " reads input " + i + " '" + node.inputs().get(i)
                        + "' from " + view.origin(node.inputs().get(i)) + "; expected a constant there");
            }
        }
        Flow first = in.get(0);
        for (int i = 0; i < in.size(); i++) {
            Flow f = in.get(i);
            if (!f.hasNeurons()) {
                throw registry.unsupported(node, "it joins " + describeBeforeLevels(List.of(values.get(i)))
                        + ", which comes before the first"
                        + " level, with other activations; joins of branches are supported after affine ops");
            }
            if (!f.plain()) {
                throw registry.unsupported(node, "its input '" + values.get(i) + "' had its neurons rearranged by a"
                        + " Reshape or Transpose on the way (a flatten, or a channel shuffle that mixes groups), so"
                        + " its neurons cannot be joined one to one");
            }
            if (f.axis() != first.axis()) {
                throw registry.unsupported(node, "its inputs hold their neurons on different axes (" + first.axis()
                        + " and " + f.axis() + ")");
            }
        }
        List<Dim> out = handler.joinedShape(node, in.stream().map(Flow::shape).toList(), first.axis(), view);
        if (kind == NeuronFlow.STACKS && node.opType().equals("Concat")
                && ConcatHandler.alongPositions(node, first.axis(), first.shape().size())) {
            kind = NeuronFlow.TIES; // positions concatenated: every input holds the same neurons
        }
        List<Integer> slices = new ArrayList<>();
        if (kind == NeuronFlow.STACKS) {
            in.forEach(f -> slices.addAll(f.slices()));
        } else {
            for (Flow f : in) {
                if (f.slices().size() != 1) {
                    throw registry.unsupported(node, "it joins activations stacked from " + f.slices().size()
                            + " branches by a Concat; joins of concatenated activations are not supported yet");
                }
                union(first.slices().get(0), f.slices().get(0));
            }
            slices.addAll(first.slices());
        }
        List<Node> nodes = new ArrayList<>(view.privateConstants(List.of(node)));
        nodes.add(node);
        LevelOp op = new LevelOp(handler.opType(), handler.role(), node,
                view.sorted(nodes), false, values.get(0), node.outputs().get(0), out, handler.signature(node, view),
                -1, List.of());
        placed.addAll(nodes);
        Flow joined = new Flow(out, first.axis(), slices, null, false, null);
        ops.put(node.outputs().get(0), new PlacedOp(op, kind, values, first, joined));
        flows.put(node.outputs().get(0), joined);
    }

    /** The nodes computing {@code node}'s non-constant inputs from the shape of {@code value}. */
    private List<Node> shapeComputations(Node node, String value) {
        List<Node> out = new ArrayList<>();
        for (int i = 0; i < node.inputs().size(); i++) {
            String in = node.inputs().get(i);
            if (!in.equals(value) && !in.isEmpty() && !view.isConstant(in)) {
                Optional<ShapeComputation> own = ShapeComputation.of(in, value, view);
                if (own.isPresent()) {
                    out.addAll(own.get().nodes());
                } else if (isReshapeTarget(node, i) && fromKnownShapes(in)) {
                    // computed from other activations' shapes, maybe with nodes another op owns already
                    ShapeComputation.nodesFromShapes(in, view).orElseThrow().stream().filter(n -> !placed.contains(n))
                            .forEach(out::add);
                }
            }
        }
        return out;
    }

    private static boolean isReshapeTarget(Node node, int input) {
        return input == 1 && node.isDefaultDomain() && node.opType().equals("Reshape");
    }

    /** Whether {@code value} is computed by shape ops from the shapes of activations the walk has placed. */
    private boolean fromKnownShapes(String value) {
        Optional<List<Node>> nodes = ShapeComputation.nodesFromShapes(value, view);
        return nodes.isPresent() && nodes.get().stream().anyMatch(n -> n.opType().equals("Shape"))
                && nodes.get().stream().filter(n -> n.opType().equals("Shape"))
                .allMatch(n -> flows.containsKey(n.inputs().get(0)));
    }

    /**
     * A Reshape's output shape when its target is computed from the shapes of other activations
     * (torch's patch embedding reads the image's height and width from the model input), or empty.
     */
    private Optional<List<Dim>> reshapedByOtherShapes(Node node, String value, Flow in) {
        if (!node.isDefaultDomain() || !node.opType().equals("Reshape") || node.inputs().size() < 2
                || view.isConstant(node.inputs().get(1)) || ShapeComputation.of(node.inputs().get(1), value, view)
                .isPresent() || !fromKnownShapes(node.inputs().get(1))) {
            return Optional.empty();
        }
        return Optional.of(ShapeComputation.reshaped(node, in.shape(), view, v -> flows.get(v).shape()));
    }

    private long opset(Node node) {
        return opsets.getOrDefault(node.isDefaultDomain() ? "" : node.domain(), -1L);
    }

    /** The activation enters at the handler's data input only; every other input is a constant or a shape computation. */
    private void checkInputs(Node node, String value, List<String> active) {
        List<String> ins = node.inputs();
        if (!active.contains(value)) {
            String other = active.get(0);
            throw registry.unsupported(node, "it reads the activations '" + other + "' as input "
                    + ins.indexOf(other) + " where input " + ins.indexOf(value) + " is expected");
        }
        if (ins.stream().filter(value::equals).count() > 1) {
            throw registry.unsupported(node, "it reads the activations '" + value + "' more than once");
        }
        for (int i = 0; i < ins.size(); i++) {
            String v = ins.get(i);
            if (v.equals(value) || view.isConstant(v)) {
                continue;
            }
            if (flows.containsKey(v)) {
                throw registry.unsupported(node, "it reads a second activation " + describeBeforeLevels(List.of(v))
                        + " (from " + view.origin(v)
                        + ") as input " + i + "; " + node.opType() + " takes one");
            }
            if (ShapeComputation.of(v, value, view).isEmpty() && !(isReshapeTarget(node, i) && fromKnownShapes(v))) {
                throw structure("node " + GraphView.quote(node) + " reads input " + i + " '" + v + "' from "
                        + view.origin(v) + "; every input other than the activations must be an initializer, a"
                        + " Constant or computed from the activation's shape"
                        + (node.opType().equals("Reshape") ? " by Shape, Gather, Unsqueeze, Concat, Slice, Cast and"
                        + " arithmetic (a channel shuffle, view(n, groups, c / groups, h, w), is not supported)" : ""));
            }
        }
    }

    private void checkExtraOutputs(Node node) {
        for (int i = 1; i < node.outputs().size(); i++) {
            if (view.isUsed(node.outputs().get(i))) {
                throw registry.unsupported(node, "its output " + i + " '" + node.outputs().get(i)
                        + "' is used; only output 0 may be");
            }
        }
    }

    private void requireNotEnded(Node node, Flow in) {
        if (in.endedBy() != null) {
            throw registry.unsupported(in.endedBy(), in.endedBy().opType() + " is allowed only after the last level"
                    + " (it is followed by " + GraphView.quote(node) + ")");
        }
    }

    private void affine(Node node, AffineHandler handler, List<String> active, boolean tied) {
        int data = handler.dataInput(node, view);
        String value = node.inputs().get(data);
        checkInputs(node, value, active);
        Flow in = flows.get(value);
        requireNotEnded(node, in);
        AffineGeometry g = handler.geometry(node, view);
        List<Dim> shape = handler.outputShape(node, in.shape(), view);
        List<Node> owned = new ArrayList<>(List.of(node));
        String cut = node.outputs().get(0);
        Node biasAdd = null;
        if (handler.takesBiasAdd()) {
            Node add = soleReader(cut);
            if (add != null && handler.isBiasAdd(add, cut, g.width(), view)) {
                biasAdd = add;
                owned.add(add);
                cut = add.outputs().get(0);
            }
        }
        int neuronAxis = handler.neuronAxis(shape.size());
        Node norm = null;
        Node next = soleReader(cut);
        if (next != null && next.isDefaultDomain() && next.opType().equals("BatchNormalization")
                && next.inputs().get(0).equals(cut)) {
            OpHandler bn = registry.find(next, opset(next)).orElseThrow(() -> registry.unsupported(next, null));
            checkExtraOutputs(next);
            checkInputs(next, cut, List.of(cut));
            if (next.inputs().size() != 5) {
                throw registry.unsupported(next, "it has " + next.inputs().size()
                        + " inputs; expected X, scale, B, mean and var");
            }
            if (neuronAxis != 1) {
                throw registry.unsupported(next, "it normalises axis 1 but the neuron axis of "
                        + GraphView.quote(node) + "'s output " + Shapes.format(shape) + " is " + neuronAxis
                        + ", so it cannot be folded");
            }
            shape = bn.outputShape(next, shape, view);
            owned.add(next);
            norm = next;
            cut = next.outputs().get(0);
        }
        int space = newSpace();
        if (tied) {
            if (!in.hasNeurons() || !in.plain() || in.axis() != 1 || in.slices().size() != 1) {
                throw registry.unsupported(node, "it is a depthwise convolution, which ties its output channels to"
                        + " its input's, but its input '" + value + "' " + (!in.hasNeurons() ? "comes before the"
                        + " first level" : in.slices().size() != 1 ? "stacks " + in.slices().size() + " branches"
                        : "had its channels rearranged"));
            }
            union(in.slices().get(0), space);
        }
        List<Node> constants = view.privateConstants(owned);
        placed.addAll(owned);
        placed.addAll(constants);
        boolean hasBias = g.hasBias() || biasAdd != null || norm != null;
        steps.add(new AffineStep(node, biasAdd, norm, constants, value, in.shape(), cut, shape, neuronAxis, g.width(),
                g.fanIn(hasBias), hasBias, handler.signature(node, view), space, in, tied));
        flows.put(cut, new Flow(shape, neuronAxis, List.of(space), null, false, null));
    }

    /** The only node reading {@code value}, when {@code value} is not also a model output. */
    private Node soleReader(String value) {
        List<Node> readers = view.consumers(value);
        return readers.size() == 1 && !view.isGraphOutput(value) ? readers.get(0) : null;
    }

    private int newSpace() {
        spaceParent.add(spaceParent.size());
        return spaceParent.size() - 1;
    }

    private int find(int s) {
        int root = s;
        while (spaceParent.get(root) != root) {
            root = spaceParent.get(root);
        }
        while (spaceParent.get(s) != root) {
            int next = spaceParent.get(s);
            spaceParent.set(s, root);
            s = next;
        }
        return root;
    }

    private void union(int a, int b) {
        int ra = find(a);
        int rb = find(b);
        if (ra != rb) {
            spaceParent.set(Math.max(ra, rb), Math.min(ra, rb));
        }
    }

    private void checkEverythingPlaced(List<ModelInput> inputs, String output) {
        for (Node n : graph.topologicalOrder()) {
            if (!placed.contains(n) && !GraphView.isConstantNode(n)) {
                throw structure("node " + GraphView.quote(n) + " is not on a path of activations from input"
                        + (inputs.size() > 1 ? "s " : " ") + quoted(inputs) + " to output '" + output
                        + "' and computes no shape or parameter the planner could place");
            }
            for (String out : n.outputs().subList(0, Math.min(1, n.outputs().size()))) {
                if (flows.containsKey(out) && !view.isUsed(out)) {
                    throw structure("value '" + out + "' of node " + GraphView.quote(n) + " is read by no node and is"
                            + " not the model output '" + output + "'");
                }
            }
        }
    }

    private LevelPlan assemble(List<ModelInput> inputs, String firstOutput) {
        if (steps.isEmpty()) {
            throw structure("the model has no Gemm, MatMul or Conv with initializer weights between input"
                    + (inputs.size() > 1 ? "s " : " ") + quoted(inputs) + " and output '" + firstOutput
                    + "', so it has no level to fuse");
        }
        Map<Integer, Integer> spaceIds = new HashMap<>();
        for (AffineStep s : steps) {
            spaceIds.putIfAbsent(find(s.space()), spaceIds.size());
        }
        Map<String, AffineStep> byCut = new HashMap<>();
        steps.forEach(s -> byCut.put(s.cut(), s));
        Set<PlacedOp> owned = Collections.newSetFromMap(new IdentityHashMap<>());

        // outputs that carry a level's classes: the level's cut reaches them through ops nothing else reads
        Map<String, List<LevelOp>> trailing = new LinkedHashMap<>();
        Map<String, AffineStep> classStep = new HashMap<>();
        for (ValueInfo out : graph.outputs()) {
            List<PlacedOp> walk = new ArrayList<>();
            String value = out.name();
            while (!byCut.containsKey(value)) {
                PlacedOp op = ops.get(value);
                if (op == null || op.flow() == NeuronFlow.TIES || op.flow() == NeuronFlow.STACKS
                        || owned.contains(op) || view.consumers(op.inputs().get(0)).size() != 1) {
                    break;
                }
                walk.add(0, op);
                value = op.inputs().get(0);
            }
            AffineStep step = byCut.get(value);
            boolean exclusive = step != null && view.consumers(value).size() <= 1 && steps.stream()
                    .noneMatch(s -> s.inputFlow().slices().stream().anyMatch(x -> find(x) == find(step.space())));
            if (exclusive) {
                owned.addAll(walk);
                trailing.put(out.name(), walk.stream().map(op -> resolved(op, spaceIds)).toList());
                classStep.put(out.name(), step);
            }
        }
        String output = graph.outputs().stream().map(ValueInfo::name).filter(classStep::containsKey).findFirst()
                .orElseThrow(() -> structure("no model output (" + names(graph.outputs()) + ") comes from a Gemm,"
                        + " MatMul or Conv through activations or Softmax only; the last level must end in an affine"
                        + " op whose classes reach the output"));
        Set<AffineStep> classSteps = Collections.newSetFromMap(new IdentityHashMap<>());
        classSteps.addAll(classStep.values());

        List<Level> levels = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            AffineStep a = steps.get(i);
            List<LevelOp> chain = new ArrayList<>();
            String from = a.input();
            PlacedOp op = ops.get(from);
            while (op != null && !owned.contains(op) && op.flow() == NeuronFlow.PRESERVES) {
                owned.add(op);
                chain.add(0, resolved(op, spaceIds));
                from = op.inputs().get(0);
                op = ops.get(from);
            }
            for (LevelOp o : chain) {
                if (o.role() == OpRole.OUTPUT_HEAD) {
                    throw registry.unsupported(o.node(), o.opType() + " is allowed only after the last level");
                }
            }
            Flow f = a.inputFlow();
            List<Integer> slices = f.slices().stream().map(s -> spaceIds.get(find(s))).toList();
            InputBinding binding = new InputBinding(slices, layout(a, f));
            levels.add(new Level(i + 1, chain, a.affine(), a.biasAdd(), a.norm(), a.constants(), from, a.input(),
                    a.inputShape(), a.cut(), a.cutShape(), a.neuronAxis(), a.width(), a.fanIn(), a.hasBias(),
                    a.signature(), classSteps.contains(a), spaceIds.get(find(a.space())), binding, a.depthwise()));
        }
        Map<String, List<LevelOp>> featureTrails = new HashMap<>();
        for (ValueInfo out : graph.outputs()) {
            if (!trailing.containsKey(out.name())) {
                featureTrails.put(out.name(), featureTrail(out.name(), owned, spaceIds));
            }
        }
        List<LevelOp> joins = new ArrayList<>();
        List<PerNeuronOp> perNeuron = new ArrayList<>();
        Map<Integer, List<String>> joinCuts = new HashMap<>();
        for (PlacedOp op : ops.values()) {
            if (!owned.contains(op)) {
                joins.add(resolved(op, spaceIds));
            }
            if (op.flow() == NeuronFlow.TIES) {
                int space = spaceIds.get(find(op.inputFlow().slices().get(0)));
                joinCuts.computeIfAbsent(space, k -> new ArrayList<>()).add(op.op().output());
            }
            if ((op.op().role() == OpRole.FOLDABLE_NORM || op.op().role() == OpRole.NEURON_NORM
                    || op.op().signature().equals(ConstantArithmetic.PER_NEURON_SIGNATURE))
                    && op.inputFlow().hasNeurons()) {
                perNeuron.add(new PerNeuronOp(op.op(),
                        op.inputFlow().slices().stream().map(s -> spaceIds.get(find(s))).toList(),
                        op.inputFlow().axis()));
            }
        }
        for (Map.Entry<LevelOp, Flow> parameter : concatenatedParameters) {
            Flow joined = parameter.getValue();
            perNeuron.add(new PerNeuronOp(parameter.getKey(),
                    joined.slices().stream().map(s -> spaceIds.get(find(s))).toList(), joined.axis()));
        }
        for (PerNeuronOp op : headConstants) {
            perNeuron.add(new PerNeuronOp(op.op(), List.of(spaceIds.get(find(op.spaces().get(0)))), op.neuronAxis(),
                    op.neuronsPerValue()));
        }
        List<NeuronSpace> spaces = new ArrayList<>();
        for (int id = 0; id < spaceIds.size(); id++) {
            int space = id;
            List<Level> members = levels.stream().filter(l -> l.space() == space).toList();
            long width = members.get(0).width();
            for (Level l : members) {
                if (l.width() != width) {
                    throw structure("levels " + members.get(0).index() + " and " + l.index() + " are tied into one"
                            + " neuron space but have " + width + " and " + l.width() + " neurons");
                }
            }
            Set<String> cuts = new java.util.LinkedHashSet<>();
            members.forEach(l -> cuts.add(l.cut()));
            cuts.addAll(joinCuts.getOrDefault(space, List.of()));
            List<String> ordered = graph.topologicalOrder().stream().flatMap(n -> n.outputs().stream())
                    .filter(cuts::contains).toList();
            Set<Integer> partners = new TreeSet<>();
            for (int[] pair : sharedHeadOrders) {
                int a = spaceIds.get(find(pair[0]));
                int b = spaceIds.get(find(pair[1]));
                if (a == space && b != space) {
                    partners.add(b);
                } else if (b == space && a != space) {
                    partners.add(a);
                }
            }
            spaces.add(new NeuronSpace(space, width, members.stream().map(Level::index).toList(), ordered,
                    headsOf(space, spaceIds, members.get(0)), List.copyOf(partners)));
        }
        for (Level level : levels) {
            if (level.last() && spaces.get(level.space()).shared()) {
                throw registry.unsupported(level.affine(), "its output, the model's classes, is joined with other"
                        + " activations; classes are never grouped, so a level of classes must stand alone");
            }
        }
        List<OutputHead> heads = new ArrayList<>();
        Map<String, Level> byCutLevel = new HashMap<>();
        levels.forEach(l -> byCutLevel.put(l.cut(), l));
        for (ValueInfo out : graph.outputs()) {
            List<LevelOp> ops = trailing.containsKey(out.name()) ? trailing.get(out.name())
                    : featureTrails.get(out.name());
            AffineStep step = classStep.get(out.name());
            heads.add(new OutputHead(out.name(), flows.get(out.name()).shape(), ops,
                    step == null ? 0 : byCutLevel.get(step.cut()).index()));
        }
        ResidualBlock.Found blocks = ResidualBlock.find(graph, levels, joins, cores);
        return new LevelPlan(inputs, output, flows.get(output).shape(), levels, trailing.get(output),
                spaces, joins, perNeuron, heads, blocks.blocks(), blocks.unsegmented());
    }

    /** The attention heads of final space {@code id} (1 without), the same from every attention that splits it. */
    private int headsOf(int id, Map<Integer, Integer> spaceIds, Level first) {
        int heads = 1;
        for (Map.Entry<Integer, Integer> e : headsOfSpace.entrySet()) {
            if (spaceIds.get(find(e.getKey())) != id) {
                continue;
            }
            if (e.getValue() < 0 || heads > 1 && heads != e.getValue()) {
                throw registry.unsupported(first.affine(), "its neurons are split into different numbers of attention"
                        + " heads by the attentions that read them");
            }
            heads = e.getValue();
        }
        return heads;
    }

    /** The ops no level owns on the way back from a features output (so they are not among the joins). */
    private List<LevelOp> featureTrail(String output, Set<PlacedOp> owned, Map<Integer, Integer> spaceIds) {
        List<LevelOp> out = new ArrayList<>();
        String value = output;
        PlacedOp op = ops.get(value);
        while (op != null && !owned.contains(op) && op.flow() == NeuronFlow.PRESERVES) {
            owned.add(op);
            out.add(0, resolved(op, spaceIds));
            op = ops.get(op.inputs().get(0));
        }
        return out;
    }

    /** {@code op} with the final ids of the spaces along its output's neuron axis (none where unknown). */
    private LevelOp resolved(PlacedOp op, Map<Integer, Integer> spaceIds) {
        Flow out = op.outputFlow();
        if (!out.hasNeurons() || out.opaque()) {
            return op.op();
        }
        return op.op().onSpaces(out.axis(), out.slices().stream().map(s -> spaceIds.get(find(s))).toList());
    }

    /**
     * How the affine op's input features follow the neurons of its input flow: the flattened
     * layout, or for a plain flow one feature per neuron (Gemm, MatMul on the last axis) or the
     * kernel's offsets per channel (Conv); null where that does not hold.
     */
    private static InputLayout layout(AffineStep a, Flow f) {
        if (!f.hasNeurons() || f.opaque()) {
            return null;
        }
        if (f.flat() != null) {
            return f.flat();
        }
        long features = a.fanIn() - (a.hasBias() ? 1 : 0);
        Dim neurons = f.shape().get(f.axis());
        if (!neurons.isFixed()) {
            return null;
        }
        long width = neurons.value();
        if (a.affine().opType().equals("Conv")) {
            if (a.depthwise()) {
                return new InputLayout(1, features);
            }
            return f.axis() == 1 && features % width == 0 ? new InputLayout(1, features / width) : null;
        }
        return f.axis() == f.shape().size() - 1 && features == width ? new InputLayout(1, 1) : null;
    }

    /** The product of axes [from, to) of the shape {@code node} flattens; empty when one is symbolic. */
    private static Optional<Long> product(Node node, List<Dim> shape, int from, int to) {
        long p = 1;
        for (int j = from; j < to; j++) {
            if (!shape.get(j).isFixed()) {
                return Optional.empty();
            }
            long d = shape.get(j).value();
            if (d < 1) {
                throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "node " + GraphView.quote(node)
                        + " flattens " + Shapes.format(shape) + ": expected sizes of at least 1, found " + d
                        + " on axis " + j + " (an empty tensor has no neurons to fuse)");
            }
            try {
                p = Math.multiplyExact(p, d);
            } catch (ArithmeticException e) {
                throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + GraphView.quote(node)
                        + " flattens " + Shapes.format(shape) + ": expected a shape whose element count fits 64"
                        + " bits, found one that overflows");
            }
        }
        return Optional.of(p);
    }

    private static String names(List<ValueInfo> values) {
        return values.stream().map(v -> "'" + v.name() + "'").collect(Collectors.joining(", "));
    }

    /** "'x', 'mask'". */
    private static String quoted(List<ModelInput> inputs) {
        return inputs.stream().map(in -> "'" + in.name() + "'").collect(Collectors.joining(", "));
    }

    private static UnsupportedOpException structure(String message) {
        return new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, message);
    }
}
