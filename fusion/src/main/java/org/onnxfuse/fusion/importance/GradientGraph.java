package org.onnxfuse.fusion.importance;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.collect.ModelSlicing;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.OpHandler;
import org.onnxfuse.fusion.ops.OpPattern;
import org.onnxfuse.fusion.ops.OpRegistry;
import org.onnxfuse.fusion.ops.PatternMatch;
import org.onnxfuse.fusion.ops.Shapes;
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
 * Writes the backward pass of a parent as an ONNX graph, one gradient rule per op, so that ONNX
 * Runtime computes the gradients of F = sum_n logits[n, labels[n]] with respect to every level
 * cut (DESIGN.md, "Gradients"; ALGORITHM.md section 6).
 *
 * <p>The returned model reads the parent's input x, {@value #LABELS} (int64 [N]) and, for
 * {@link Rule#RESCALE}, {@value #BASELINE} (x's shape with batch 1; callers feed zeros). Its
 * outputs are, for every cut c: c, {@value #GRADIENT_PREFIX}c (c's shape) and, for RESCALE,
 * {@value #BASELINE_PREFIX}c (the cut on the baseline, batch 1). The backward pass is seeded
 * with one-hot(labels) at the last cut (the logits); ops after the last cut (Softmax, ...) are
 * ignored, and the pass stops at the first cut (no gradient with respect to x).
 *
 * <p>Rules. Linear ops use their ordinary gradient under both rules: Gemm and MatMul (with
 * respect to the activation operand; weights are constants), Add/Sub/Mul/Div with a constant
 * operand (Add/Sub of two activations too), Conv (a ConvTranspose with the same weight and
 * geometry, cut or padded to the input's exact size), BatchNormalization in inference mode,
 * AveragePool and GlobalAveragePool (the window average's transpose), Flatten, Reshape,
 * Dropout, Identity. MaxPool routes the gradient to the maximum of each window at x (its
 * Indices output scattered with reduction "add", so overlapping windows add up) under both
 * rules, which is why RESCALE multipliers do not sum to the output difference across a MaxPool.
 * The elementwise nonlinearities (Relu, LeakyRelu, Sigmoid, Tanh, Gelu, Erf, Clip, the
 * Erf-form GELU pattern, which counts as one Gelu, and SiLU written as x * sigmoid(x)) multiply the incoming gradient by f'(a) under
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
    private static final Set<String> PATTERN_DERIVATIVES = Set.of("Gelu", "Silu");
    public static final long GRADIENT_OPSET = 17;
    public static final float RESCALE_EPSILON = 1e-6f;

    private static final String TEMP_PREFIX = "onnxfuse_tmp/";
    private static final String SUPPORTED = "Gemm, MatMul, Add/Sub/Mul/Div (with a constant operand; Add/Sub/Mul of"
            + " two activations), Concat, Conv, BatchNormalization (inference), Relu, LeakyRelu, Elu, Celu, Selu, Softplus,"
            + " Softsign, HardSigmoid, HardSwish, Sigmoid, Tanh, Gelu (default"
            + " domain and com.microsoft), Erf, Erf-form GELU (Div, Erf, Add, Mul, Mul), SiLU (Sigmoid, Mul), Clip,"
            + " Dropout, Identity,"
            + " MaxPool, AveragePool, GlobalAveragePool, Pad (constant), Flatten, Reshape, Transpose, Shape, Constant,"
            + " LayerNormalization, Expand";
    private static final Set<String> DEFAULT_DOMAIN_OPS = Set.of("Elu", "Celu", "Selu", "Softplus", "Softsign",
            "HardSigmoid", "HardSwish", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Conv",
            "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "Clip", "Dropout",
            "Identity", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Pad",
            "Shape", "Constant", "Concat", "LayerNormalization", "Expand");

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
     * only those inputs and initializers), {@code loss} on its outputs, and the backward pass to
     * each of {@code parameters} (initializers of the segment, FLOAT), which become graph inputs.
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
        private final List<Node> added = new ArrayList<>();
        private final List<Tensor> constants = new ArrayList<>();
        private int counter;

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
            this.loss = loss;
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
            graph.feedInputs().stream().map(ValueInfo::name).forEach(sources::add);
            sources.addAll(parameters);
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
            for (Node n : added) {
                b.addNode(n);
            }
            for (Tensor t : constants) {
                b.addInitializer(t);
            }
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
            added.forEach(b::addNode);
            constants.forEach(b::addInitializer);
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
                boolean known = n.isDefaultDomain() ? DEFAULT_DOMAIN_OPS.contains(n.opType())
                        : n.domain().equals("com.microsoft") && n.opType().equals("Gelu");
                if (!known) {
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
            for (String s : sources) {
                graph.declaredType(s).filter(TensorType::hasShape).ifPresent(t -> shapes.put(s, t.shape()));
            }
            for (String p : parameters) {
                shapes.put(p, Arrays.stream(graph.initializer(p).orElseThrow().dims()).mapToObj(Dim::of).toList());
            }
            for (Node n : graph.topologicalOrder()) {
                if (!ancestors.contains(n) || n.outputs().isEmpty() || !variable.contains(n.outputs().get(0))) {
                    continue;
                }
                List<Dim> out = null;
                try {
                    out = outputShape(n);
                } catch (RuntimeException e) {
                    // unknown shape: only an error where a rule needs it (requireShape)
                }
                if (out != null) {
                    shapes.put(n.outputs().get(0), out);
                }
            }
        }

        private List<Dim> outputShape(Node n) {
            if (patternOf.containsKey(n)) {
                PatternMatch m = patternOf.get(n);
                return n.outputs().get(0).equals(m.output()) ? shapes.get(m.input()) : null;
            }
            String a = activationInput(n);
            List<Dim> in = a == null ? null : shapes.get(a);
            switch (n.opType()) {
                case "Gemm" -> {
                    List<Dim> b = constantShape(n.inputs().get(1));
                    if (in == null || b == null) {
                        return null;
                    }
                    Dim rows = n.longAttribute("transA", 0) != 0 ? in.get(1) : in.get(0);
                    Dim cols = n.longAttribute("transB", 0) != 0 ? b.get(0) : b.get(1);
                    return List.of(rows, cols);
                }
                case "MatMul" -> {
                    List<Dim> w = constantShape(n.inputs().get(1));
                    if (in == null || w == null || !n.inputs().get(0).equals(a) || w.size() != 2) {
                        return null;
                    }
                    List<Dim> out = new ArrayList<>(in.subList(0, in.size() - 1));
                    out.add(w.get(1));
                    return out;
                }
                case "Add", "Sub", "Mul", "Div" -> {
                    return variable.contains(n.inputs().get(0)) && variable.contains(n.inputs().get(1))
                            ? broadcast(shapes.get(n.inputs().get(0)), shapes.get(n.inputs().get(1))) : in;
                }
                case "Concat" -> {
                    return concatenated(n);
                }
                case "Conv" -> {
                    List<Dim> w = constantShape(n.inputs().get(1));
                    if (in == null || w == null || in.size() != w.size()) {
                        return null;
                    }
                    long[] kernel = w.subList(2, w.size()).stream().mapToLong(Dim::sizeOrMinusOne).toArray();
                    return Shapes.slide(n, in, SlidingWindowGradient.window(n, kernel, this), w.get(0));
                }
                case "LayerNormalization" -> {
                    return n.inputs().get(0).equals(a) ? in : null;
                }
                case "Expand" -> {
                    return expanded(n, in);
                }
                default -> {
                }
            }
            OpHandler h = OpRegistry.standard().find(n, n.isDefaultDomain() ? opset : -1).orElse(null);
            if (h == null || in == null) {
                return null;
            }
            return h.outputShape(n, in, view);
        }

        /** Two variable values' shapes broadcast against each other (aligned at the last axis), or null when unknown. */
        private static List<Dim> broadcast(List<Dim> a, List<Dim> b) {
            if (a == null || b == null) {
                return null;
            }
            int rank = Math.max(a.size(), b.size());
            List<Dim> out = new ArrayList<>();
            for (int i = 0; i < rank; i++) {
                Dim da = i < rank - a.size() ? Dim.of(1) : a.get(i - rank + a.size());
                Dim db = i < rank - b.size() ? Dim.of(1) : b.get(i - rank + b.size());
                out.add(da.isFixed() && da.value() == 1 ? db : da);
            }
            return out;
        }

        /**
         * Expand's output: the broadcast with a constant target; with a computed target (a class
         * token expanded to the batch) the input's rank, sizes other than 1 kept, the others unknown.
         */
        private List<Dim> expanded(Node n, List<Dim> in) {
            if (in == null) {
                return null;
            }
            Optional<Tensor> target = view.constant(n.inputs().get(1));
            if (target.isPresent()) {
                return broadcast(in, Arrays.stream(target.get().toLongs()).mapToObj(Dim::of).toList());
            }
            return in.stream().map(d -> d.isFixed() && d.value() == 1 ? Dim.UNKNOWN : d).toList();
        }

        /** A Concat's output shape from its inputs' shapes; its size on the axis is unknown when some input's is. */
        private List<Dim> concatenated(Node n) {
            List<Dim> first = shapes.get(n.inputs().get(0));
            if (first == null) {
                return null;
            }
            int axis = ConcatGradient.axis(n, first.size());
            long total = 0;
            for (String in : n.inputs()) {
                List<Dim> s = in.isEmpty() ? null : shapes.get(in);
                if (s == null && !in.isEmpty()) {
                    s = constantShape(in);
                }
                if (s == null || !s.get(axis).isFixed()) {
                    total = -1;
                    break;
                }
                total += s.get(axis).value();
            }
            List<Dim> out = new ArrayList<>(first);
            out.set(axis, total < 0 ? Dim.UNKNOWN : Dim.of(total));
            return out;
        }


        @Override
        public List<Dim> constantShape(String value) {
            return view.constant(value).map(t -> Arrays.stream(t.dims()).mapToObj(Dim::of).toList())
                    .or(() -> graph.declaredType(value).filter(TensorType::hasShape).map(TensorType::shape))
                    .orElse(null);
        }

        /** The one variable input of a node (the first, when several). */
        private String activationInput(Node n) {
            for (String in : n.inputs()) {
                if (variable.contains(in)) {
                    return in;
                }
            }
            return null;
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
                added.add(new Node(TEMP_PREFIX + "loss", terms.size() == 1 ? "Identity" : "Sum", "", terms,
                        List.of(ParameterGradients.LOSS), Map.of(), "", null));
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
                if (u.pattern() != null) {
                    String a = u.pattern().input();
                    if (wanted.contains(a)) {
                        Derivative f = u.pattern().opType().equals("Silu") ? this::silu : this::geluExact;
                        contribute(a, emit("Mul", List.of(g, multiplier(u.node(), a, y, f))));
                    }
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
            added.add(new Node(TEMP_PREFIX + "grad/" + value, parts.size() == 1 ? "Identity" : "Sum", "", parts,
                    List.of(name), Map.of(), "", null));
            finished.put(value, name);
            return name;
        }

        private void propagate(Node n, String g) {
            String y = n.outputs().get(0);
            Optional<GradientRule> familyRule = GradientRules.find(n);
            if (familyRule.isPresent()) {
                familyRule.get().propagate(n, g, this);
            } else {
                propagateElementwise(n, g);
            }
            if (n.outputs().size() > 1 && !n.opType().equals("Dropout")) {
                for (String extra : n.outputs().subList(1, n.outputs().size())) {
                    if (wanted.contains(extra)) {
                        throw unsupported(n, "feeds its output '" + extra + "' forward; only output 0 ('" + y
                                + "') may carry the activation");
                    }
                }
            }
        }

        /** The rules of the ops without parameters: activations, pooling, reshapes. */
        private void propagateElementwise(Node n, String g) {
            switch (n.opType()) {
                case "Identity", "Dropout" -> flowTo(n, 0, g);
                case "MaxPool" -> maxPool(n, g);
                case "AveragePool" -> averagePool(n, g);
                case "GlobalAveragePool" -> globalAveragePool(n, g);
                case "Flatten", "Reshape" -> {
                    onlyDataInput(n, 0);
                    flowTo(n, 0, emit("Reshape", List.of(g, emit("Shape", List.of(n.inputs().get(0))))));
                }
                case "Pad" -> {
                    onlyDataInput(n, 0);
                    long[] pads = view.constant(n.inputs().get(1)).orElseThrow(() -> unsupported(n,
                            "takes its pads from a computed value")).toLongs();
                    if (!n.stringAttribute("mode", "constant").equals("constant")) {
                        throw unsupported(n, "pads in mode '" + n.stringAttribute("mode", "constant") + "'");
                    }
                    long[] begins = Arrays.copyOf(pads, pads.length / 2);
                    String x = n.inputs().get(0);
                    // the input's own window of the padded gradient: begins .. begins + shape(x)
                    String ends = emit("Add", List.of(emit("Shape", List.of(x)), longs(begins)));
                    flowTo(n, 0, emit("Slice", List.of(g, longs(begins), ends)));
                }
                case "Transpose" -> {
                    long[] perm = n.longsAttribute("perm", null);
                    if (perm == null) {
                        throw unsupported(n, "has no perm attribute (the reversed order needs the input's rank)");
                    }
                    long[] inverse = new long[perm.length];
                    for (int j = 0; j < perm.length; j++) {
                        inverse[(int) perm[j]] = j;
                    }
                    flowTo(n, 0, emit("Transpose", List.of(g), Attribute.ofLongs("perm", inverse)));
                }
                case "Relu" -> elementwise(n, g, this::reluDerivative);
                case "LeakyRelu" -> elementwise(n, g, (a, out) -> emit("Where", List.of(emit("Greater",
                        List.of(a, scalar(0f))), scalar(1f), scalar(n.floatAttribute("alpha", 0.01f)))));
                case "Sigmoid" -> elementwise(n, g, (a, out) -> emit("Mul", List.of(out, emit("Sub",
                        List.of(scalar(1f), out)))));
                case "Tanh" -> elementwise(n, g, (a, out) -> emit("Sub", List.of(scalar(1f), emit("Mul",
                        List.of(out, out)))));
                case "Elu", "Celu", "Selu" -> elementwise(n, g, (a, out) -> exponentialUnit(n, a, out));
                case "Softplus" -> elementwise(n, g, (a, out) -> emit("Sigmoid", List.of(a)));
                case "Softsign" -> elementwise(n, g, (a, out) -> {
                    String d = emit("Add", List.of(scalar(1f), emit("Abs", List.of(a))));
                    return emit("Reciprocal", List.of(emit("Mul", List.of(d, d))));
                });
                case "HardSigmoid" -> elementwise(n, g, (a, out) -> hardSigmoidSlope(a,
                        n.floatAttribute("alpha", 0.2f), n.floatAttribute("beta", 0.5f)));
                case "HardSwish" -> elementwise(n, g, (a, out) -> {
                    // x * hs(x), hs(x) = clip(x / 6 + 1/2, 0, 1): hs(x) + x hs'(x)
                    String hs = emit("HardSigmoid", List.of(a), Attribute.ofFloat("alpha", 1f / 6),
                            Attribute.ofFloat("beta", 0.5f));
                    return emit("Add", List.of(hs, emit("Mul", List.of(a, hardSigmoidSlope(a, 1f / 6, 0.5f)))));
                });
                case "Erf" -> elementwise(n, g, (a, out) -> emit("Mul", List.of(scalar((float) (2 / Math.sqrt(Math.PI))),
                        emit("Exp", List.of(emit("Neg", List.of(emit("Mul", List.of(a, a)))))))));
                case "Gelu" -> {
                    boolean tanh = n.isDefaultDomain() && n.stringAttribute("approximate", "none").equals("tanh");
                    elementwise(n, g, tanh ? this::geluTanh : this::geluExact);
                }
                case "Clip" -> elementwise(n, g, (a, out) -> emit("Cast", List.of(emit("Equal", List.of(out, a))),
                        Attribute.ofLong("to", DataType.FLOAT.code())));
                case "Shape", "Constant" -> {
                    // no gradient flows through shapes and constants
                }
                default -> throw unsupported(n, "has no gradient rule");
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


        private void maxPool(Node n, String g) {
            String a = n.inputs().get(0);
            if (!wanted.contains(a)) {
                return;
            }
            Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
            attrs.put("storage_order", Attribute.ofLong("storage_order", 0));
            String values = fresh("MaxPool_values");
            String indices = fresh("MaxPool_indices");
            // Indices count over the whole tensor (batch and channel included), as the flat index ScatterElements needs
            added.add(new Node(TEMP_PREFIX + "node/" + (counter++), "MaxPool", "", List.of(a), List.of(values, indices),
                    attrs, "", null));
            String flat = emit("Reshape", List.of(a, longs(new long[] {-1})));
            String zeros = emit("ConstantOfShape", List.of(emit("Shape", List.of(flat))),
                    Attribute.ofTensor("value", Tensor.ofFloats("value", new long[] {1}, new float[] {0f})));
            String scattered = emit("ScatterElements", List.of(zeros, emit("Reshape", List.of(indices,
                    longs(new long[] {-1}))), emit("Reshape", List.of(g, longs(new long[] {-1})))),
                    Attribute.ofLong("axis", 0), Attribute.ofString("reduction", "add"));
            contribute(a, emit("Reshape", List.of(scattered, emit("Shape", List.of(a)))));
        }

        private void averagePool(Node n, String g) {
            String a = n.inputs().get(0);
            if (!wanted.contains(a)) {
                return;
            }
            long[] kernel = n.longsAttribute("kernel_shape", null);
            if (kernel == null) {
                throw unsupported(n, "has no kernel_shape");
            }
            int r = kernel.length;
            long[] in = fixedShape(n, a, "(the gradient spreads each window back over it)");
            Shapes.Window win = SlidingWindowGradient.window(n, kernel, this);
            List<Dim> outShape = shapes.get(n.outputs().get(0));
            long channels = in[1];
            // Output p averages the inputs of its window with divisor D[p], which depends on
            // count_include_pad and on windows that run past the padding (ceil_mode). Rather than
            // restate ONNX Runtime's convention, the graph measures it: AveragePool of ones is
            // valid[p] / D[p], where valid[p] counts the window's inputs inside the tensor.
            long[] onesShape = new long[r + 2];
            onesShape[0] = 1;
            onesShape[1] = 1;
            long spatial = 1;
            for (int i = 0; i < r; i++) {
                onesShape[2 + i] = in[2 + i];
                spatial *= in[2 + i];
            }
            float[] ones = new float[Math.toIntExact(spatial)];
            Arrays.fill(ones, 1f);
            String pooledOnes = emit("AveragePool", List.of(constant(onesShape, ones)),
                    n.attributes().values().toArray(new Attribute[0]));
            long[] outSizes = fixedSpatialSizes(n, outShape, r);
            float[] inverseValid = inverseValidCounts(in, outSizes, win);
            long[] mapShape = new long[r + 2];
            mapShape[0] = 1;
            mapShape[1] = 1;
            System.arraycopy(outSizes, 0, mapShape, 2, r);
            String perOutput = emit("Mul", List.of(pooledOnes, constant(mapShape, inverseValid)));
            String scaled = emit("Mul", List.of(g, perOutput));
            long[] kernelDims = new long[r + 2];
            kernelDims[0] = channels;
            kernelDims[1] = 1;
            long k = 1;
            for (int i = 0; i < r; i++) {
                kernelDims[2 + i] = kernel[i];
                k *= kernel[i];
            }
            float[] kernelOnes = new float[Math.toIntExact(channels * k)];
            Arrays.fill(kernelOnes, 1f);
            String full = emit("ConvTranspose", List.of(scaled, constant(kernelDims, kernelOnes)),
                    Attribute.ofLong("group", channels), Attribute.ofLongs("strides", win.strides()),
                    Attribute.ofLongs("dilations", win.dilations()), Attribute.ofLongs("kernel_shape", kernel));
            contribute(a, SlidingWindowGradient.cropToInput(n, full, in, win, outShape, this));
        }

        /** 1 / (number of window positions inside the input) per output position, row-major, 0 for none. */
        private static float[] inverseValidCounts(long[] in, long[] out, Shapes.Window win) {
            int r = out.length;
            long total = 1;
            for (long o : out) {
                total *= o;
            }
            float[] result = new float[Math.toIntExact(total)];
            long[] p = new long[r];
            for (int flat = 0; flat < result.length; flat++) {
                long rem = flat;
                for (int i = r - 1; i >= 0; i--) {
                    p[i] = rem % out[i];
                    rem /= out[i];
                }
                long count = 1;
                for (int i = 0; i < r; i++) {
                    long inside = 0;
                    for (long t = 0; t < win.kernel()[i]; t++) {
                        long pos = p[i] * win.strides()[i] - win.pads()[i] + t * win.dilations()[i];
                        if (pos >= 0 && pos < in[2 + i]) {
                            inside++;
                        }
                    }
                    count *= inside;
                }
                result[flat] = count == 0 ? 0f : 1f / count;
            }
            return result;
        }

        private void globalAveragePool(Node n, String g) {
            String a = n.inputs().get(0);
            if (!wanted.contains(a)) {
                return;
            }
            long[] in = fixedShape(n, a, "(the gradient is spread evenly over it)");
            long spatial = 1;
            for (int i = 2; i < in.length; i++) {
                spatial *= in[i];
            }
            String scaled = emit("Mul", List.of(g, scalar(1f / spatial)));
            contribute(a, emit("Expand", List.of(scaled, emit("Shape", List.of(a)))));
        }

        // ------------------------------------------------------------------ nonlinearities

        @FunctionalInterface
        private interface Derivative {
            /** f'(a) as a graph value, given the op's input a and output y = f(a). */
            String at(String a, String y);
        }

        private void elementwise(Node n, String g, Derivative derivative) {
            onlyDataInput(n, 0);
            String a = n.inputs().get(0);
            if (!wanted.contains(a)) {
                return;
            }
            contribute(a, emit("Mul", List.of(g, multiplier(n, a, n.outputs().get(0), derivative))));
        }

        /**
         * f'(a) for GRADIENT; for RESCALE (f(a) - f(a0)) / (a - a0), or f'(a) where the two inputs
         * are too close for the quotient to mean anything.
         */
        private String multiplier(Node n, String a, String y, Derivative derivative) {
            String slope = derivative.at(a, y);
            if (rule == Rule.GRADIENT) {
                return slope;
            }
            String da = emit("Sub", List.of(a, base(a)));
            String dy = emit("Sub", List.of(y, base(y)));
            String close = emit("Less", List.of(emit("Abs", List.of(da)), scalar(RESCALE_EPSILON)));
            return emit("Where", List.of(close, slope, emit("Div", List.of(dy, da))));
        }

        /** Elu, Celu, Selu: the positive side's slope (1, or gamma for Selu), else y + alpha (Elu), exp(a / alpha) (Celu), y + gamma alpha (Selu). */
        private String exponentialUnit(Node n, String a, String y) {
            float alpha = n.floatAttribute("alpha", n.opType().equals("Selu") ? 1.67326319217681884765625f : 1f);
            float gamma = n.opType().equals("Selu") ? n.floatAttribute("gamma", 1.05070102214813232421875f) : 1f;
            String negative = switch (n.opType()) {
                case "Celu" -> emit("Exp", List.of(emit("Div", List.of(a, scalar(alpha)))));
                default -> emit("Add", List.of(y, scalar(gamma * alpha)));
            };
            return emit("Where", List.of(emit("Greater", List.of(a, scalar(0f))), scalar(gamma), negative));
        }

        /** d/da clip(alpha a + beta, 0, 1): alpha inside (0, 1), else 0. */
        private String hardSigmoidSlope(String a, float alpha, float beta) {
            String z = emit("Add", List.of(emit("Mul", List.of(a, scalar(alpha))), scalar(beta)));
            String inside = emit("And", List.of(emit("Greater", List.of(z, scalar(0f))), emit("Less",
                    List.of(z, scalar(1f)))));
            return emit("Where", List.of(inside, scalar(alpha), scalar(0f)));
        }

        private String reluDerivative(String a, String y) {
            return emit("Cast", List.of(emit("Greater", List.of(a, scalar(0f)))),
                    Attribute.ofLong("to", DataType.FLOAT.code()));
        }

        /** d/da of a sigmoid(a): s + a s (1 - s). */
        private String silu(String a, String y) {
            String s = emit("Sigmoid", List.of(a));
            String oneMinus = emit("Sub", List.of(scalar(1f), s));
            return emit("Add", List.of(s, emit("Mul", List.of(a, emit("Mul", List.of(s, oneMinus))))));
        }

        /** Phi(a) + a phi(a). */
        private String geluExact(String a, String y) {
            String scaled = emit("Mul", List.of(a, scalar((float) (1 / Math.sqrt(2)))));
            String erf = emit("Erf", List.of(scaled));
            String cdf = emit("Mul", List.of(scalar(0.5f), emit("Add", List.of(scalar(1f), erf))));
            String square = emit("Mul", List.of(a, a));
            String gauss = emit("Exp", List.of(emit("Mul", List.of(scalar(-0.5f), square))));
            String density = emit("Mul", List.of(scalar((float) (1 / Math.sqrt(2 * Math.PI))), gauss));
            return emit("Add", List.of(cdf, emit("Mul", List.of(a, density))));
        }

        /** d/da of 0.5 a (1 + tanh(u)), u = sqrt(2/pi) (a + 0.044715 a^3). */
        private String geluTanh(String a, String y) {
            float c = (float) Math.sqrt(2 / Math.PI);
            String a2 = emit("Mul", List.of(a, a));
            String u = emit("Mul", List.of(scalar(c), emit("Add", List.of(a, emit("Mul", List.of(scalar(0.044715f),
                    emit("Mul", List.of(a2, a))))))));
            String t = emit("Tanh", List.of(u));
            String first = emit("Mul", List.of(scalar(0.5f), emit("Add", List.of(scalar(1f), t))));
            String sech2 = emit("Sub", List.of(scalar(1f), emit("Mul", List.of(t, t))));
            String du = emit("Mul", List.of(scalar(c), emit("Add", List.of(scalar(1f), emit("Mul",
                    List.of(scalar(3 * 0.044715f), a2))))));
            String second = emit("Mul", List.of(emit("Mul", List.of(scalar(0.5f), a)), emit("Mul", List.of(sech2, du))));
            return emit("Add", List.of(first, second));
        }

        // ------------------------------------------------------------------ emitting

        private String fresh(String what) {
            return TEMP_PREFIX + (counter++) + "/" + what;
        }

        @Override
        public String emit(String opType, List<String> inputs, Attribute... attributes) {
            String out = fresh(opType);
            Map<String, Attribute> map = new LinkedHashMap<>();
            for (Attribute a : attributes) {
                map.put(a.name(), a);
            }
            added.add(new Node(TEMP_PREFIX + "node/" + (counter++), opType, "", inputs, List.of(out), map, "", null));
            return out;
        }

        @Override
        public String scalar(float v) {
            return constant(new long[0], new float[] {v});
        }

        @Override
        public String constant(long[] dims, float[] values) {
            String name = fresh("const");
            constants.add(Tensor.ofFloats(name, dims, values));
            return name;
        }

        @Override
        public String longs(long... values) {
            String name = fresh("const");
            constants.add(Tensor.ofLongs(name, new long[] {values.length}, values));
            return name;
        }
    }
}
