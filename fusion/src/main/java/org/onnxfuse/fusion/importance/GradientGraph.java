package org.onnxfuse.fusion.importance;

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
import java.util.Set;
import org.onnxfuse.fusion.collect.ModelSlicing;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.LayerNormPattern;
import org.onnxfuse.fusion.ops.OpPattern;
import org.onnxfuse.fusion.ops.OpRegistry;
import org.onnxfuse.fusion.ops.PatternMatch;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.OpsetImport;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Writes the backward pass of a parent as an ONNX graph, one gradient rule per op family
 * ({@link GradientRules}), so that ONNX Runtime computes the gradients of
 * F = sum_n logits[n, labels[n]] with respect to every level cut (DESIGN.md, "Gradients";
 * ALGORITHM.md section 6), or, for training a segment ({@link #forParameters}), a loss and its
 * gradients with respect to the segment's parameters. This class finds what the backward pass
 * covers (the nodes between the inputs and the outputs, the values that need a gradient) and
 * drives it: each node's rule adds its inputs' contributions, which are summed once every
 * consumer has added its own; {@link ShapeInference} gives the shapes and {@link GraphEmitter}
 * the new nodes.
 *
 * <p>The returned model reads the parent's input x, {@value #LABELS} (int64 [N]) and, for
 * {@link Rule#RESCALE}, {@value #BASELINE} (x's shape with batch 1; callers feed zeros). Its
 * outputs are, for every cut c: c, {@value #GRADIENT_PREFIX}c (c's shape) and, for RESCALE,
 * {@value #BASELINE_PREFIX}c (the cut on the baseline, batch 1). The backward pass is seeded
 * with one-hot(labels) at the last cut (the logits); ops after the last cut (Softmax, ...) are
 * ignored, and the pass stops at the first cut (no gradient with respect to x).
 *
 * <p>Rules. Linear ops use their ordinary gradient under both rules: Gemm and MatMul (with
 * respect to the activation operand; weights are constants here), Add/Sub/Mul/Div with a constant
 * operand (Add/Sub of two activations too), Conv (a ConvTranspose with the same weight and
 * geometry, cut or padded to the input's exact size), BatchNormalization in inference mode,
 * AveragePool and GlobalAveragePool (the window average's transpose), Flatten, Reshape,
 * Dropout, Identity. MaxPool routes the gradient to the maximum of each window at x (its
 * Indices output scattered with reduction "add", so overlapping windows add up) under both
 * rules, which is why RESCALE multipliers do not sum to the output difference across a MaxPool.
 * The elementwise nonlinearities (Relu, LeakyRelu, Sigmoid, Tanh, Gelu, Erf, Clip, the
 * Erf-form GELU pattern, which counts as one Gelu, and SiLU written as x * sigmoid(x)) multiply
 * the incoming gradient by f'(a) under
 * {@link Rule#GRADIENT}, and under {@link Rule#RESCALE} by the DeepLIFT rescale multiplier
 * (f(a) - f(a0)) / (a - a0), where a0 is the op's input on the baseline (computed by a renamed
 * copy of the forward graph), falling back to f'(a) where |a - a0| &lt; {@value #RESCALE_EPSILON}.
 *
 * <p>Conv and AveragePool need fixed spatial sizes of their input (declared input shape). The
 * generated model imports the default domain at max(parent's opset, {@value #GRADIENT_OPSET})
 * (ScatterElements with reduction needs 16, Shape with start/end 15); parents below opset
 * {@value #MIN_PARENT_OPSET} are refused, since some of their ops changed meaning since.
 */
public final class GradientGraph {
    /** Which backward rule the elementwise nonlinearities use. */
    public enum Rule {
        /** Ordinary derivatives: dF/dc. */
        GRADIENT,
        /** DeepLIFT rescale multipliers against a baseline input (fed as {@value #BASELINE}). */
        RESCALE
    }

    public static final String LABELS = "onnxfuse_labels";
    public static final String BASELINE = "onnxfuse_baseline";
    public static final String GRADIENT_PREFIX = "onnxfuse_grad/";
    public static final String BASELINE_PREFIX = "onnxfuse_base/";
    public static final long MIN_PARENT_OPSET = 13;
    /** The multi-node patterns ({@link OpRegistry#patterns()}) the backward pass treats as one nonlinearity. */
    private static final Set<String> PATTERN_DERIVATIVES = Set.of("Gelu", "Silu", "LayerNormalization");
    public static final long GRADIENT_OPSET = 17;
    public static final float RESCALE_EPSILON = 1e-6f;

    private static final String SUPPORTED = "Gemm, MatMul (of a weight, or of two activations as attention does),"
            + " Softmax (last axis), Add/Sub/Mul/Div (with a constant operand; Add/Sub/Mul of"
            + " two activations), Concat, Conv, BatchNormalization (inference), Relu, LeakyRelu, Elu, Celu, Selu, Softplus,"
            + " Softsign, HardSigmoid, HardSwish, Sigmoid, Tanh, Gelu (default"
            + " domain and com.microsoft), Erf, Erf-form GELU (Div, Erf, Add, Mul, Mul), SiLU (Sigmoid, Mul), Clip,"
            + " Dropout, Identity,"
            + " MaxPool, AveragePool, GlobalAveragePool, ReduceMean, ReduceSum, Pad (constant), Slice (constant bounds, positive steps), Flatten,"
            + " Reshape, Transpose, Shape, Constant,"
            + " LayerNormalization, Expand";

    private GradientGraph() {
    }

    /** The name of the gradient output of {@code cut}. */
    public static String gradientName(String cut) {
        return GRADIENT_PREFIX + cut;
    }

    /** The name of the baseline output of {@code cut} (RESCALE only). */
    public static String baselineName(String cut) {
        return BASELINE_PREFIX + cut;
    }

    /**
     * The gradient model of {@code parent} for {@code cuts} (tensor names in topological order,
     * the last one the logits [N, C]).
     *
     * @throws UnsupportedOpException (code UNSUPPORTED_OP) for an op between the input and the last
     *                                cut that has no rule, or a parent opset below {@value #MIN_PARENT_OPSET}
     */
    public static Model build(Model parent, List<String> cuts, Rule rule) {
        return new Writer(parent, cuts, rule).write();
    }

    /**
     * The model a training loop runs for one segment of {@code model}: the segment's forward pass
     * from {@code segmentInputs} to {@code segmentOutputs} (the nodes between them, which may read
     * only those inputs and initializers; an int64 or bool input, a key padding mask, is data that
     * keeps its type and carries no gradient), {@code loss} on its outputs, and the backward pass to
     * each of {@code parameters} (initializers of the segment, FLOAT), which become graph inputs.
     * The loss is one of {@link SegmentLoss}'s kinds: the caller's dL/dy, a weighted MSE to targets,
     * or a KL distillation loss to target probabilities at a temperature.
     * See {@link ParameterGradients} for the inputs and outputs. Parameter gradients have rules for
     * Gemm (A, B, C), MatMul (a 2-d weight on either side), Conv (W, B; any group, strides, explicit
     * pads, dilations), BatchNormalization (scale, B), LayerNormalization (Scale, B), Add, Sub, Mul
     * and Div with a broadcast parameter, Expand and Concat; the activation rules are those of
     * {@link #build}.
     *
     * @throws IllegalArgumentException for a parameter that is not an initializer read between the
     *                                  inputs and outputs, or a segment node reading another value
     * @throws UnsupportedOpException   for an op on the way without a rule
     */
    public static ParameterGradients forParameters(Model model, List<String> segmentInputs,
                                                   List<String> segmentOutputs, List<String> parameters,
                                                   SegmentLoss loss) {
        Model gradients = new Writer(model, segmentInputs, segmentOutputs, parameters, loss).write();
        Map<String, Tensor> initial = new LinkedHashMap<>();
        for (String p : parameters) {
            initial.put(p, model.graph().initializer(p).orElseThrow());
        }
        return new ParameterGradients(gradients, segmentInputs, segmentOutputs, parameters, initial, loss);
    }

    /** One unit of the backward pass: a single node, or a multi-node pattern (Erf-form GELU). */
    private record Unit(Node node, PatternMatch pattern) {
        String output() {
            return pattern != null ? pattern.output() : node.outputs().get(0);
        }
    }

    private static final class Writer implements BackwardPass {
        private final Model parent;
        private final Graph graph;
        private final GraphView view;
        /** The level cuts (importance graphs; empty for parameter gradients). */
        private final List<String> cuts;
        private final Rule rule;
        /** The model input (importance graphs; null for parameter gradients). */
        private final String input;
        private final long opset;
        /** Where the backward pass starts: the last cut, or the segment's outputs. */
        private final List<String> targets;
        /** The values whose descendants need gradients: the cuts, or the parameters. */
        private final List<String> gradientSources;
        /** The values everything variable derives from: the input, or the model's inputs and the parameters. */
        private final Set<String> sources = new HashSet<>();
        /** The segment's inputs, where its nodes stop (empty for importance graphs). */
        private final Set<String> boundary = new HashSet<>();
        private final Set<String> parameters = new HashSet<>();
        private final List<String> segmentInputs;
        /** The loss of a parameter-gradient model; null for importance graphs. */
        private final SegmentLoss loss;
        /** The nodes the targets depend on, through the segment's inputs too: their shapes are inferred. */
        private final Set<Node> ancestors = Collections.newSetFromMap(new IdentityHashMap<>());
        /** Values that depend on x through any path (shape computations included). */
        private final Set<String> dependent = new HashSet<>();
        /** Values that depend on x through differentiable inputs (not through Shape). */
        private final Set<String> variable = new HashSet<>();
        /** Values the last cut depends on (itself included). */
        private final Set<String> upstream = new HashSet<>();
        private final Set<Node> needed = Collections.newSetFromMap(new IdentityHashMap<>());
        private final Map<Node, PatternMatch> patternOf = new IdentityHashMap<>();
        private final Map<String, List<Dim>> shapes = new HashMap<>();
        /** Values whose gradient is computed: descendants of some cut, ancestors of the last cut. */
        private final Set<String> wanted = new HashSet<>();
        private final Map<String, List<String>> contributions = new HashMap<>();
        private final Map<String, String> finished = new HashMap<>();
        private final GraphEmitter emitter = new GraphEmitter();

        Writer(Model parent, List<String> cuts, Rule rule) {
            this.parent = parent;
            this.graph = parent.graph();
            this.view = new GraphView(graph);
            this.cuts = List.copyOf(cuts);
            this.rule = rule;
            if (cuts.isEmpty()) {
                throw new IllegalArgumentException("no cuts given; expected the level cuts, the logits last");
            }
            List<ValueInfo> feeds = graph.feedInputs();
            if (feeds.size() != 1) {
                throw new OnnxFuseException(ErrorCode.UNSUPPORTED_OP, "gradient graphs need a model with exactly"
                        + " one input, found " + feeds.size() + ": " + feeds.stream().map(ValueInfo::name).toList());
            }
            this.input = feeds.get(0).name();
            this.opset = checkedOpset(parent);
            this.targets = List.of(cuts.get(cuts.size() - 1));
            this.gradientSources = this.cuts;
            this.sources.add(input);
            this.segmentInputs = List.of();
            this.loss = null;
        }

        Writer(Model parent, List<String> segmentInputs, List<String> segmentOutputs, List<String> parameters,
               SegmentLoss loss) {
            this.parent = parent;
            this.graph = parent.graph();
            this.view = new GraphView(graph);
            this.cuts = List.of();
            this.rule = Rule.GRADIENT;
            this.input = null;
            this.opset = checkedOpset(parent);
            if (segmentInputs.isEmpty() || segmentOutputs.isEmpty() || parameters.isEmpty()) {
                throw new IllegalArgumentException("a parameter-gradient model needs segment inputs, outputs and"
                        + " parameters; found inputs " + segmentInputs + ", outputs " + segmentOutputs
                        + ", parameters " + parameters);
            }
            this.targets = List.copyOf(segmentOutputs);
            this.gradientSources = List.copyOf(parameters);
            this.segmentInputs = List.copyOf(segmentInputs);
            this.loss = Objects.requireNonNull(loss, "loss");
            this.boundary.addAll(segmentInputs);
            for (String p : parameters) {
                Tensor t = graph.initializer(p).orElseThrow(() -> new IllegalArgumentException("parameter '" + p
                        + "' is not an initializer of the model; expected one of " + graph.initializers().keySet()));
                if (t.dataType() != DataType.FLOAT) {
                    throw new IllegalArgumentException("parameter '" + p + "' is of type " + t.dataType()
                            + "; trained parameters must be FLOAT");
                }
                if (!this.parameters.add(p)) {
                    throw new IllegalArgumentException("parameter '" + p + "' is listed twice");
                }
            }
            // an int64 or bool segment input (a key padding mask) is data: what is computed from it alone needs no
            // gradient, and its ops (comparisons, Where, Cast) need no rule
            graph.feedInputs().stream().map(ValueInfo::name).filter(v -> !(boundary.contains(v) && integer(v)))
                    .forEach(sources::add);
            sources.addAll(parameters);
        }

        /** Whether the model declares {@code value} int64 or bool. */
        private boolean integer(String value) {
            DataType type = graph.declaredType(value).map(TensorType::elementType).orElse(null);
            return type == DataType.INT64 || type == DataType.BOOL;
        }

        private static long checkedOpset(Model parent) {
            long opset = parent.defaultOpset();
            if (opset < MIN_PARENT_OPSET) {
                throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "gradient graphs need a model of default"
                        + " opset " + MIN_PARENT_OPSET + " or later, found opset " + opset
                        + "; re-export the model with a newer opset (torch.onnx.export(..., opset_version=17))");
            }
            return opset;
        }

        Model write() {
            analyse();
            checkSupported();
            inferShapes();
            if (loss != null) {
                return writeSegment();
            }
            Model forward = ModelSlicing.truncate(parent, cuts);
            Graph.Builder b = forward.graph().toBuilder();
            ValueInfo x = graph.inputs().stream().filter(v -> v.name().equals(input)).findFirst().orElseThrow();
            TensorType xType = x.tensorType();
            Dim batch = xType != null && xType.hasShape() && xType.rank() > 0 ? xType.shape().get(0) : Dim.symbol("N");
            b.addInput(ValueInfo.tensor(LABELS, new TensorType(DataType.INT64, List.of(batch))));
            if (rule == Rule.RESCALE) {
                if (xType == null || !xType.hasShape() || xType.rank() == 0) {
                    throw new OnnxFuseException(ErrorCode.INVALID_MODEL, "input '" + input + "' has no declared"
                            + " shape; RESCALE needs it to declare the baseline input");
                }
                List<Dim> baseShape = new ArrayList<>(xType.shape());
                baseShape.set(0, Dim.of(1));
                b.addInput(ValueInfo.tensor(BASELINE, new TensorType(xType.elementType(), baseShape)));
                for (Node n : graph.nodes()) {
                    if (needed.contains(n) && n.inputs().stream().anyMatch(dependent::contains)) {
                        b.addNode(baselineCopy(n));
                    }
                }
            }
            backward();
            emitter.nodes().forEach(b::addNode);
            emitter.constants().forEach(b::addInitializer);
            TensorType unknownFloat = new TensorType(DataType.FLOAT, null);
            for (String c : cuts) {
                b.addOutput(ValueInfo.tensor(gradientName(c), unknownFloat));
            }
            if (rule == Rule.RESCALE) {
                for (String c : cuts) {
                    b.addOutput(ValueInfo.tensor(baselineName(c), unknownFloat));
                }
            }
            return withGradientOpset(b.build());
        }

        private Model withGradientOpset(Graph out) {
            List<OpsetImport> imports = new ArrayList<>();
            for (OpsetImport o : parent.opsetImports()) {
                imports.add(o.isDefaultDomain() ? new OpsetImport(o.domain(), Math.max(o.version(), GRADIENT_OPSET)) : o);
            }
            return new Model(Math.max(parent.irVersion(), 8), imports, parent.producerName(), parent.producerVersion(),
                    parent.domain(), parent.modelVersion(), parent.docString(), parent.metadata(), out,
                    parent.baseDirectory(), parent.origin());
        }

        /**
         * The parameter-gradient model: the segment's nodes reading its inputs and parameters as
         * graph inputs, the loss, and the backward pass down to the parameters.
         */
        private Model writeSegment() {
            Graph.Builder b = Graph.builder().name(graph.name() + "_parameter_gradients");
            for (String s : segmentInputs) {
                List<Dim> shape = shapes.get(s);
                if (integer(s)) {
                    b.addInput(ValueInfo.tensor(s, graph.declaredType(s).orElseThrow()));
                    continue;
                }
                b.addInput(ValueInfo.tensor(s, shape != null ? new TensorType(DataType.FLOAT, shape)
                        : graph.declaredType(s).orElse(new TensorType(DataType.FLOAT, null))));
            }
            for (String p : gradientSources) {
                b.addInput(ValueInfo.tensor(p, new TensorType(DataType.FLOAT, shapes.get(p))));
            }
            for (String y : targets) {
                LossTerms.inputs(loss, y, shapes.get(y)).forEach(b::addInput);
            }
            Set<String> copied = new HashSet<>();
            for (Node n : graph.topologicalOrder()) {
                if (!needed.contains(n)) {
                    continue;
                }
                b.addNode(n);
                for (String in : n.inputs()) {
                    if (!parameters.contains(in) && copied.add(in)) {
                        graph.initializer(in).ifPresent(b::addInitializer);
                    }
                }
            }
            backward();
            emitter.nodes().forEach(b::addNode);
            emitter.constants().forEach(b::addInitializer);
            b.addOutput(ValueInfo.tensor(ParameterGradients.LOSS, new TensorType(DataType.FLOAT, List.of())));
            for (String y : targets) {
                b.addOutput(ValueInfo.tensor(y, new TensorType(DataType.FLOAT, shapes.get(y))));
            }
            for (String p : gradientSources) {
                b.addOutput(ValueInfo.tensor(gradientName(p), new TensorType(DataType.FLOAT, shapes.get(p))));
            }
            return withGradientOpset(b.build());
        }

        // ------------------------------------------------------------------ analysis

        private void analyse() {
            Deque<String> work = new ArrayDeque<>(targets);
            while (!work.isEmpty()) {
                String v = work.pop();
                if (!upstream.add(v) || boundary.contains(v)) {
                    continue;
                }
                graph.producer(v).ifPresent(n -> {
                    if (needed.add(n)) {
                        n.inputs().stream().filter(s -> !s.isEmpty()).forEach(work::push);
                    }
                });
            }
            collectAncestors();
            dependent.addAll(sources);
            variable.addAll(sources);
            for (Node n : graph.topologicalOrder()) {
                if (!ancestors.contains(n)) {
                    continue;
                }
                boolean dep = n.inputs().stream().anyMatch(dependent::contains);
                boolean var = n.inputs().stream().anyMatch(variable::contains) && !isShapeOp(n);
                for (String o : n.outputs()) {
                    if (o.isEmpty()) {
                        continue;
                    }
                    if (dep) {
                        dependent.add(o);
                    }
                    if (var) {
                        variable.add(o);
                    }
                }
            }
            if (loss != null) {
                checkSegmentBounds();
            }
            for (String c : cuts) {
                if (graph.producer(c).isEmpty()) {
                    throw new IllegalArgumentException("cut '" + c + "' is not produced by a node of the graph; expected"
                            + " tensors inside the graph, e.g. LevelPlanner.plan(model).cuts()");
                }
                if (!upstream.contains(c) || !variable.contains(c)) {
                    throw new IllegalArgumentException("cut '" + c + "' does not lie between input '" + input
                            + "' and the last cut '" + targets.get(0) + "'");
                }
            }
            for (OpPattern p : OpRegistry.standard().patterns()) {
                for (Node n : graph.topologicalOrder()) {
                    if (!needed.contains(n) || patternOf.containsKey(n)) {
                        continue;
                    }
                    for (String in : n.inputs()) {
                        if (!variable.contains(in)) {
                            continue;
                        }
                        Optional<PatternMatch> m = p.match(in, view);
                        if (m.isPresent() && PATTERN_DERIVATIVES.contains(m.get().opType())
                                && m.get().nodes().stream().allMatch(needed::contains)
                                && m.get().nodes().stream().noneMatch(patternOf::containsKey)) {
                            for (Node member : m.get().nodes()) {
                                patternOf.put(member, m.get());
                            }
                        }
                    }
                }
            }
            for (PatternMatch m : new HashSet<>(patternOf.values())) {
                for (Node member : m.nodes()) {
                    for (String o : member.outputs()) {
                        if (!o.equals(m.output()) && cuts.contains(o)) {
                            throw new IllegalArgumentException("cut '" + o + "' lies inside an Erf-form GELU; cut at its"
                                    + " input or output");
                        }
                    }
                }
            }
            Set<String> descendants = new HashSet<>(gradientSources);
            for (Node n : graph.topologicalOrder()) {
                if (needed.contains(n) && !isShapeOp(n) && n.inputs().stream().anyMatch(descendants::contains)) {
                    n.outputs().stream().filter(o -> !o.isEmpty()).forEach(descendants::add);
                }
            }
            for (String v : descendants) {
                if (upstream.contains(v) && variable.contains(v)) {
                    wanted.add(v);
                }
            }
            for (String p : parameters) {
                if (!wanted.contains(p)) {
                    throw new IllegalArgumentException("parameter '" + p + "' is not read on the way from the segment"
                            + " inputs " + segmentInputs + " to its outputs " + targets);
                }
            }
        }

        /** The nodes the targets depend on, walking past the segment's inputs (for shapes only). */
        private void collectAncestors() {
            Deque<String> work = new ArrayDeque<>(targets);
            Set<String> seen = new HashSet<>();
            while (!work.isEmpty()) {
                String v = work.pop();
                if (seen.add(v)) {
                    graph.producer(v).filter(ancestors::add).ifPresent(n -> n.inputs().stream()
                            .filter(s -> !s.isEmpty()).forEach(work::push));
                }
            }
        }

        /** Every value a segment node reads is a segment input, a constant, or made inside the segment. */
        private void checkSegmentBounds() {
            for (String s : segmentInputs) {
                if (graph.producer(s).isEmpty() && graph.inputs().stream().noneMatch(v -> v.name().equals(s))) {
                    throw new IllegalArgumentException("segment input '" + s + "' is neither a model input nor made by"
                            + " a node");
                }
            }
            for (String y : targets) {
                if (graph.producer(y).isEmpty()) {
                    throw new IllegalArgumentException("segment output '" + y + "' is not made by a node of the model");
                }
            }
            for (Node n : needed) {
                for (String in : n.inputs()) {
                    boolean inside = graph.producer(in).filter(needed::contains).isPresent();
                    if (!in.isEmpty() && !inside && !boundary.contains(in) && graph.initializer(in).isEmpty()) {
                        throw new IllegalArgumentException("node " + GraphView.quote(n) + " of the segment reads '" + in
                                + "', which is not among the segment inputs " + segmentInputs);
                    }
                }
            }
        }

        private static boolean isShapeOp(Node n) {
            return n.isDefaultDomain() && (n.opType().equals("Shape") || n.opType().equals("Size"));
        }

        private void checkSupported() {
            for (Node n : graph.topologicalOrder()) {
                if (!needed.contains(n) || patternOf.containsKey(n)) {
                    continue;
                }
                if (n.inputs().stream().noneMatch(variable::contains)) {
                    continue;
                }
                if (!GradientRules.has(n)) {
                    throw unsupported(n, "has no gradient rule");
                }
            }
        }

        @Override
        public UnsupportedOpException unsupported(Node n, String why) {
            String domain = n.isDefaultDomain() ? "" : " of domain " + n.domain();
            return new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "node " + GraphView.quote(n) + domain + " "
                    + why + "; gradient graphs support " + SUPPORTED);
        }

        // ------------------------------------------------------------------ shapes

        private void inferShapes() {
            // a segment's inputs have the shapes declared for them (the rows' shapes), not what is inferred upstream
            Set<String> declared = new HashSet<>(sources);
            declared.addAll(boundary);
            shapes.putAll(new ShapeInference(graph, view, opset, variable, patternOf).infer(ancestors, declared,
                    parameters));
        }

        @Override
        public List<Dim> constantShape(String value) {
            return ShapeInference.constantShape(graph, view, value);
        }

        @Override
        public long[] fixedShape(Node n, String value, String why) {
            List<Dim> s = shapes.get(value);
            if (s != null) {
                long[] dims = new long[s.size()];
                boolean fixed = true;
                for (int i = 0; i < dims.length; i++) {
                    dims[i] = s.get(i).sizeOrMinusOne();
                    fixed &= i == 0 || dims[i] >= 0;
                }
                if (fixed) {
                    return dims;
                }
            }
            throw unsupported(n, "needs fixed sizes (all but the batch axis) of its input '" + value + "' " + why
                    + ", found " + (s == null ? "an unknown shape" : s.toString()) + "; declare the model input's shape");
        }

        // ------------------------------------------------------------------ baseline copy

        private String base(String value) {
            if (value.equals(input)) {
                return BASELINE;
            }
            return dependent.contains(value) ? BASELINE_PREFIX + value : value;
        }

        private Node baselineCopy(Node n) {
            List<String> ins = n.inputs().stream().map(s -> s.isEmpty() ? s : base(s)).toList();
            List<String> outs = n.outputs().stream().map(s -> s.isEmpty() ? s : BASELINE_PREFIX + s).toList();
            return new Node(n.name().isEmpty() ? "" : BASELINE_PREFIX + n.name(), n.opType(), n.domain(), ins, outs,
                    n.attributes(), n.docString(), null);
        }

        // ------------------------------------------------------------------ backward pass

        private void backward() {
            if (loss == null) {
                String last = targets.get(0);
                String depth = emit("Shape", List.of(last), Attribute.ofLong("start", 1), Attribute.ofLong("end", 2));
                String seed = emit("OneHot", List.of(LABELS, depth, constant(new long[] {2}, new float[] {0f, 1f})),
                        Attribute.ofLong("axis", -1));
                contribute(last, seed);
            } else {
                List<String> terms = new ArrayList<>();
                for (String y : targets) {
                    terms.add(LossTerms.emit(loss, y, shapes.get(y), this));
                }
                emitter.sumAs(ParameterGradients.LOSS, terms, "loss");
            }
            List<Unit> units = new ArrayList<>();
            for (Node n : graph.topologicalOrder()) {
                if (!needed.contains(n)) {
                    continue;
                }
                PatternMatch m = patternOf.get(n);
                if (m == null) {
                    units.add(new Unit(n, null));
                } else if (n.outputs().contains(m.output())) {
                    units.add(new Unit(n, m));
                }
            }
            Collections.reverse(units);
            for (Unit u : units) {
                String y = u.output();
                if (!wanted.contains(y)) {
                    continue;
                }
                String g = gradient(y);
                if (u.pattern() != null && u.pattern().opType().equals("LayerNormalization")) {
                    // the decomposed LayerNorm is differentiated as the op it computes
                    Node asOp = LayerNormPattern.asLayerNormalization(u.pattern()).orElseThrow(() -> unsupported(
                            u.node(), "is a LayerNorm without a per-neuron scale"));
                    propagate(asOp, g);
                } else if (u.pattern() != null) {
                    NonlinearityGradient.propagatePattern(u.pattern(), g, this);
                } else {
                    propagate(u.node(), g);
                }
            }
            for (String c : gradientSources) {
                gradient(c);
            }
        }

        @Override
        public boolean wants(String value) {
            return wanted.contains(value);
        }

        @Override
        public boolean isVariable(String value) {
            return variable.contains(value);
        }

        @Override
        public boolean isParameter(String value) {
            return parameters.contains(value);
        }

        @Override
        public List<Dim> shape(String value) {
            return shapes.get(value);
        }

        @Override
        public void contribute(String value, String grad) {
            if (finished.containsKey(value)) {
                throw new IllegalStateException("gradient of '" + value + "' used before all its consumers were done");
            }
            contributions.computeIfAbsent(value, k -> new ArrayList<>()).add(grad);
        }

        /** The gradient of {@code value}, summed from its consumers' contributions, named for the outputs. */
        private String gradient(String value) {
            String done = finished.get(value);
            if (done != null) {
                return done;
            }
            List<String> parts = contributions.getOrDefault(value, List.of());
            if (parts.isEmpty()) {
                throw new IllegalStateException("no gradient reaches '" + value + "'");
            }
            String name = gradientName(value);
            emitter.sumAs(name, parts, "grad/" + value);
            finished.put(value, name);
            return name;
        }

        private void propagate(Node n, String g) {
            String y = n.outputs().get(0);
            GradientRules.find(n).orElseThrow(() -> unsupported(n, "has no gradient rule")).propagate(n, g, this);
            if (n.outputs().size() > 1 && !n.opType().equals("Dropout")) {
                for (String extra : n.outputs().subList(1, n.outputs().size())) {
                    if (wanted.contains(extra)) {
                        throw unsupported(n, "feeds its output '" + extra + "' forward; only output 0 ('" + y
                                + "') may carry the activation");
                    }
                }
            }
        }

        @Override
        public void onlyDataInput(Node n, int dataIndex) {
            for (int i = 0; i < n.inputs().size(); i++) {
                if (i != dataIndex && variable.contains(n.inputs().get(i)) && !parameters.contains(n.inputs().get(i))) {
                    throw unsupported(n, "has an activation at input " + i + " ('" + n.inputs().get(i)
                            + "'); only input " + dataIndex + " may depend on the model input");
                }
            }
        }

        /** The {@code r} spatial sizes of an [N, C, ...] shape; all must be known. */
        @Override
        public long[] fixedSpatialSizes(Node n, List<Dim> shape, int r) {
            long[] sizes = new long[r];
            for (int i = 0; i < r; i++) {
                Dim d = shape == null ? Dim.UNKNOWN : shape.get(2 + i);
                if (!d.isFixed()) {
                    throw unsupported(n, "needs fixed output sizes, found " + shape);
                }
                sizes[i] = d.value();
            }
            return sizes;
        }

        // ------------------------------------------------------------------ emitting

        @Override
        public String multiplier(String a, String y, String slope) {
            if (rule == Rule.GRADIENT) {
                return slope;
            }
            String da = emit("Sub", List.of(a, base(a)));
            String dy = emit("Sub", List.of(y, base(y)));
            String close = emit("Less", List.of(emit("Abs", List.of(da)), scalar(RESCALE_EPSILON)));
            return emit("Where", List.of(close, slope, emit("Div", List.of(dy, da))));
        }

        @Override
        public Optional<Tensor> constantValue(String value) {
            return view.constant(value);
        }

        @Override
        public List<String> emitOutputs(String opType, List<String> inputs, Map<String, Attribute> attributes,
                                        int outputs) {
            return emitter.emitOutputs(opType, inputs, attributes, outputs);
        }

        @Override
        public String emit(String opType, List<String> inputs, Attribute... attributes) {
            return emitter.emit(opType, inputs, attributes);
        }

        @Override
        public String scalar(float v) {
            return emitter.scalar(v);
        }

        @Override
        public String constant(long[] dims, float[] values) {
            return emitter.constant(dims, values);
        }

        @Override
        public String longs(long... values) {
            return emitter.longs(values);
        }
    }
}
