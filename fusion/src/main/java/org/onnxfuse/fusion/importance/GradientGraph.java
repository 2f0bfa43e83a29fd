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
            + " MaxPool, AveragePool, GlobalAveragePool, Pad (constant), Flatten, Reshape, Transpose, Shape, Constant";
    private static final Set<String> DEFAULT_DOMAIN_OPS = Set.of("Elu", "Celu", "Selu", "Softplus", "Softsign",
            "HardSigmoid", "HardSwish", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Conv",
            "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "Clip", "Dropout",
            "Identity", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Pad",
            "Shape", "Constant", "Concat");

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

    /** One unit of the backward pass: a single node, or a multi-node pattern (Erf-form GELU). */
    private record Unit(Node node, PatternMatch pattern) {
        String output() {
            return pattern != null ? pattern.output() : node.outputs().get(0);
        }
    }

    private static final class Writer {
        private final Model parent;
        private final Graph graph;
        private final GraphView view;
        private final List<String> cuts;
        private final Rule rule;
        private final String input;
        private final long opset;
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
            this.opset = parent.defaultOpset();
            if (opset < MIN_PARENT_OPSET) {
                throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "gradient graphs need a model of default"
                        + " opset " + MIN_PARENT_OPSET + " or later, found opset " + opset
                        + "; re-export the model with a newer opset (torch.onnx.export(..., opset_version=17))");
            }
        }

        Model write() {
            analyse();
            checkSupported();
            inferShapes();
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
            Graph out = b.build();
            List<OpsetImport> imports = new ArrayList<>();
            for (OpsetImport o : parent.opsetImports()) {
                imports.add(o.isDefaultDomain() ? new OpsetImport(o.domain(), Math.max(o.version(), GRADIENT_OPSET)) : o);
            }
            return new Model(Math.max(parent.irVersion(), 8), imports, parent.producerName(), parent.producerVersion(),
                    parent.domain(), parent.modelVersion(), parent.docString(), parent.metadata(), out,
                    parent.baseDirectory(), parent.origin());
        }

        // ------------------------------------------------------------------ analysis

        private void analyse() {
            String last = cuts.get(cuts.size() - 1);
            Deque<String> work = new ArrayDeque<>(List.of(last));
            while (!work.isEmpty()) {
                String v = work.pop();
                if (!upstream.add(v)) {
                    continue;
                }
                graph.producer(v).ifPresent(n -> {
                    if (needed.add(n)) {
                        n.inputs().stream().filter(s -> !s.isEmpty()).forEach(work::push);
                    }
                });
            }
            dependent.add(input);
            variable.add(input);
            for (Node n : graph.topologicalOrder()) {
                if (!needed.contains(n)) {
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
            for (String c : cuts) {
                if (graph.producer(c).isEmpty()) {
                    throw new IllegalArgumentException("cut '" + c + "' is not produced by a node of the graph; expected"
                            + " tensors inside the graph, e.g. LevelPlanner.plan(model).cuts()");
                }
                if (!upstream.contains(c) || !variable.contains(c)) {
                    throw new IllegalArgumentException("cut '" + c + "' does not lie between input '" + input
                            + "' and the last cut '" + last + "'");
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
            Set<String> descendants = new HashSet<>(cuts);
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

        private UnsupportedOpException unsupported(Node n, String why) {
            String domain = n.isDefaultDomain() ? "" : " of domain " + n.domain();
            return new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "node " + GraphView.quote(n) + domain + " "
                    + why + "; gradient graphs support " + SUPPORTED);
        }

        // ------------------------------------------------------------------ shapes

        private void inferShapes() {
            graph.declaredType(input).filter(TensorType::hasShape).ifPresent(t -> shapes.put(input, t.shape()));
            for (Node n : graph.topologicalOrder()) {
                if (!needed.contains(n) || n.outputs().isEmpty() || !variable.contains(n.outputs().get(0))) {
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
                    int r = w.size() - 2;
                    long[] kernel = new long[r];
                    for (int i = 0; i < r; i++) {
                        kernel[i] = w.get(2 + i).sizeOrMinusOne();
                    }
                    Window win = window(n, kernel, r);
                    List<Dim> out = new ArrayList<>(List.of(in.get(0), w.get(0)));
                    for (int i = 0; i < r; i++) {
                        Dim d = in.get(2 + i);
                        long span = d.sizeOrMinusOne() + win.pads[i] + win.pads[i + r]
                                - (win.dilations[i] * (kernel[i] - 1) + 1);
                        out.add(d.isFixed() && span >= 0 ? Dim.of(span / win.strides[i] + 1) : Dim.UNKNOWN);
                    }
                    return out;
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

        /** Two activations' shapes broadcast against each other (equal rank), or null when unknown. */
        private static List<Dim> broadcast(List<Dim> a, List<Dim> b) {
            if (a == null || b == null || a.size() != b.size()) {
                return null;
            }
            List<Dim> out = new ArrayList<>();
            for (int i = 0; i < a.size(); i++) {
                out.add(a.get(i).isFixed() && a.get(i).value() == 1 ? b.get(i) : a.get(i));
            }
            return out;
        }

        /** A Concat's output shape from its inputs' shapes, or null when an input's size on the axis is unknown. */
        private List<Dim> concatenated(Node n) {
            List<Dim> first = shapes.get(n.inputs().get(0));
            if (first == null) {
                return null;
            }
            int axis = concatAxis(n, first.size());
            long total = 0;
            for (String in : n.inputs()) {
                List<Dim> s = in.isEmpty() ? null : shapes.get(in);
                if (s == null && !in.isEmpty()) {
                    s = constantShape(in);
                }
                if (s == null || !s.get(axis).isFixed()) {
                    return null;
                }
                total += s.get(axis).value();
            }
            List<Dim> out = new ArrayList<>(first);
            out.set(axis, Dim.of(total));
            return out;
        }

        private static int concatAxis(Node n, int rank) {
            long axis = n.longAttribute("axis", 0);
            return (int) (axis < 0 ? axis + rank : axis);
        }

        private List<Dim> constantShape(String value) {
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

        private long[] fixedShape(Node n, String value, String why) {
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
            String last = cuts.get(cuts.size() - 1);
            String depth = emit("Shape", List.of(last), Attribute.ofLong("start", 1), Attribute.ofLong("end", 2));
            String seed = emit("OneHot", List.of(LABELS, depth, constant(new long[] {2}, new float[] {0f, 1f})),
                    Attribute.ofLong("axis", -1));
            contribute(last, seed);
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
            for (String c : cuts) {
                gradient(c);
            }
        }

        private void contribute(String value, String grad) {
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
            switch (n.opType()) {
                case "Identity", "Dropout" -> flowTo(n, 0, g);
                case "Gemm" -> gemm(n, g);
                case "MatMul" -> matMul(n, g);
                case "Add", "Sub", "Mul", "Div" -> binary(n, g);
                case "Concat" -> concat(n, g);
                case "Conv" -> conv(n, g);
                case "BatchNormalization" -> batchNorm(n, g);
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
            if (n.outputs().size() > 1 && !n.opType().equals("Dropout")) {
                for (String extra : n.outputs().subList(1, n.outputs().size())) {
                    if (wanted.contains(extra)) {
                        throw unsupported(n, "feeds its output '" + extra + "' forward; only output 0 ('" + y
                                + "') may carry the activation");
                    }
                }
            }
        }

        /** Adds {@code g} to the gradient of input {@code index} when that input needs one. */
        private void flowTo(Node n, int index, String g) {
            String in = n.inputs().get(index);
            if (wanted.contains(in)) {
                contribute(in, g);
            }
        }

        private void onlyDataInput(Node n, int dataIndex) {
            for (int i = 0; i < n.inputs().size(); i++) {
                if (i != dataIndex && variable.contains(n.inputs().get(i))) {
                    throw unsupported(n, "has an activation at input " + i + " ('" + n.inputs().get(i)
                            + "'); only input " + dataIndex + " may depend on the model input");
                }
            }
        }

        private void gemm(Node n, String g) {
            onlyDataInput(n, 0);
            List<String> in = n.inputs();
            float alpha = n.floatAttribute("alpha", 1f);
            boolean transB = n.longAttribute("transB", 0) != 0;
            Attribute alphaAttr = Attribute.ofFloat("alpha", alpha);
            String dA;
            if (n.longAttribute("transA", 0) == 0) {
                // dA = alpha g B'^T, with B' = transB ? B^T : B
                dA = emit("Gemm", List.of(g, in.get(1)), alphaAttr, Attribute.ofLong("transB", transB ? 0 : 1));
            } else {
                // A' = A^T: dA = (alpha g B'^T)^T = alpha B' g^T
                dA = emit("Gemm", List.of(in.get(1), g), alphaAttr, Attribute.ofLong("transA", transB ? 1 : 0),
                        Attribute.ofLong("transB", 1));
            }
            flowTo(n, 0, dA);
        }

        private void matMul(Node n, String g) {
            String a = n.inputs().get(0);
            String b = n.inputs().get(1);
            boolean left = variable.contains(a);
            if (left && variable.contains(b)) {
                throw unsupported(n, "multiplies two activations ('" + a + "', '" + b + "')");
            }
            String weight = left ? b : a;
            List<Dim> w = constantShape(weight);
            if (w == null || w.size() != 2) {
                throw unsupported(n, "has a weight '" + weight + "' of shape " + w + "; expected a 2-d constant");
            }
            String wT = emit("Transpose", List.of(weight), Attribute.ofLongs("perm", 1, 0));
            // Y = A W: dA = g W^T.  Y = W A: dA = W^T g.
            String grad = left ? emit("MatMul", List.of(g, wT)) : emit("MatMul", List.of(wT, g));
            flowTo(n, left ? 0 : 1, grad);
        }

        private void binary(Node n, String g) {
            String a = n.inputs().get(0);
            String b = n.inputs().get(1);
            boolean va = variable.contains(a);
            boolean vb = variable.contains(b);
            String op = n.opType();
            if (va && vb) {
                if (op.equals("Div")) {
                    throw unsupported(n, "divides two activations ('" + a + "', '" + b + "')");
                }
                if (op.equals("Mul")) {
                    // a gate x * g(z): the product rule, each side summed over the axes it was broadcast along
                    flowTo(n, 0, summedTo(emit("Mul", List.of(g, b)), a, n));
                    flowTo(n, 1, summedTo(emit("Mul", List.of(g, a)), b, n));
                    return;
                }
                requireSameShape(n, a, b);
                flowTo(n, 0, g);
                flowTo(n, 1, op.equals("Sub") ? emit("Neg", List.of(g)) : g);
                return;
            }
            String act = va ? a : b;
            String other = va ? b : a;
            requireNotBroadcast(n, act, other);
            String grad = switch (op) {
                case "Add" -> g;
                case "Sub" -> va ? g : emit("Neg", List.of(g));
                case "Mul" -> emit("Mul", List.of(g, other));
                default -> {
                    if (!va) {
                        throw unsupported(n, "divides a constant by an activation");
                    }
                    yield emit("Div", List.of(g, other));
                }
            };
            flowTo(n, va ? 0 : 1, grad);
        }

        /** {@code grad} (the shape of {@code n}'s output) summed over the axes along which {@code operand} was broadcast. */
        private String summedTo(String grad, String operand, Node n) {
            List<Dim> from = shapes.get(n.outputs().get(0));
            List<Dim> to = shapes.get(operand);
            if (from == null || to == null || from.size() != to.size()) {
                throw unsupported(n, "multiplies activations of unknown or different rank");
            }
            List<Long> axes = new ArrayList<>();
            for (int i = 0; i < to.size(); i++) {
                boolean one = to.get(i).isFixed() && to.get(i).value() == 1;
                if (one && !(from.get(i).isFixed() && from.get(i).value() == 1)) {
                    axes.add((long) i);
                } else if (!one && !to.get(i).equals(from.get(i)) && to.get(i).isFixed() && from.get(i).isFixed()) {
                    throw unsupported(n, "multiplies activations that broadcast on axis " + i);
                }
            }
            if (axes.isEmpty()) {
                return grad;
            }
            return emit("ReduceSum", List.of(grad, longs(axes.stream().mapToLong(Long::longValue).toArray())),
                    Attribute.ofLong("keepdims", 1));
        }

        /** Concat: each input's gradient is its slice of the output's along the axis. */
        private void concat(Node n, String g) {
            List<Dim> out = shapes.get(n.outputs().get(0));
            if (out == null) {
                throw unsupported(n, "concatenates inputs of unknown size along its axis");
            }
            int axis = concatAxis(n, out.size());
            long offset = 0;
            for (int i = 0; i < n.inputs().size(); i++) {
                String in = n.inputs().get(i);
                List<Dim> s = variable.contains(in) ? shapes.get(in) : constantShape(in);
                long size = s.get(axis).value();
                if (variable.contains(in)) {
                    flowTo(n, i, emit("Slice", List.of(g, longs(new long[] {offset}),
                            longs(new long[] {offset + size}), longs(new long[] {axis}))));
                }
                offset += size;
            }
        }

        private void requireSameShape(Node n, String a, String b) {
            List<Dim> sa = shapes.get(a);
            List<Dim> sb = shapes.get(b);
            if (sa == null || sb == null || !sa.equals(sb)) {
                throw unsupported(n, "adds activations '" + a + "' " + sa + " and '" + b + "' " + sb
                        + " that may be broadcast; only equal shapes are supported");
            }
        }

        private void requireNotBroadcast(Node n, String act, String constant) {
            List<Dim> sa = shapes.get(act);
            List<Dim> sc = constantShape(constant);
            if (sc == null) {
                return;
            }
            boolean broadcast = sa == null ? sc.size() > 1 : sc.size() > sa.size();
            if (sa != null && !broadcast) {
                for (int i = 1; i <= sc.size(); i++) {
                    Dim da = sa.get(sa.size() - i);
                    Dim dc = sc.get(sc.size() - i);
                    if (dc.isFixed() && dc.value() > 1 && !(da.isFixed() && da.value() == dc.value())
                            && !(!da.isFixed() && sa.size() - i == 0)) {
                        broadcast = true;
                    }
                }
            }
            if (broadcast) {
                throw unsupported(n, "broadcasts its activation '" + act + "' " + sa + " against '" + constant + "' "
                        + sc + "; only a constant that broadcasts to the activation's shape is supported");
            }
        }

        private void conv(Node n, String g) {
            onlyDataInput(n, 0);
            String a = n.inputs().get(0);
            if (!wanted.contains(a)) {
                return;
            }
            String weight = n.inputs().get(1);
            long[] w = Optional.ofNullable(constantShape(weight)).map(l -> l.stream().mapToLong(Dim::sizeOrMinusOne)
                    .toArray()).orElseThrow(() -> unsupported(n, "has a weight '" + weight + "' of unknown shape"));
            int r = w.length - 2;
            long[] kernel = Arrays.copyOfRange(w, 2, w.length);
            long[] in = fixedShape(n, a, "(ConvTranspose must reproduce it exactly)");
            Window win = window(n, kernel, r);
            String grad = emit("ConvTranspose", List.of(g, weight), Attribute.ofLong("group", n.longAttribute("group", 1)),
                    Attribute.ofLongs("strides", win.strides), Attribute.ofLongs("dilations", win.dilations),
                    Attribute.ofLongs("kernel_shape", kernel));
            contribute(a, transposedTo(n, grad, in, win, shapes.get(n.outputs().get(0))));
        }

        /** The {@code r} spatial sizes of an [N, C, ...] shape; all must be known. */
        private long[] fixedSpatialSizes(Node n, List<Dim> shape, int r) {
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

        /**
         * A ConvTranspose result (computed without pads) cut and zero-padded to exactly the forward
         * input's spatial sizes. Without pads, output position o maps to input o * s + k * d; input
         * i then sits at i + padBegin of the result, whose length is (out - 1) * s + d (k - 1) + 1.
         */
        private String transposedTo(Node n, String full, long[] in, Window win, List<Dim> outShape) {
            int r = win.kernel.length;
            long[] outSizes = fixedSpatialSizes(n, outShape, r);
            long[] starts = new long[r];
            long[] ends = new long[r];
            long[] axes = new long[r];
            long[] padEnd = new long[2 * (r + 2)];
            boolean needPad = false;
            for (int i = 0; i < r; i++) {
                long length = (outSizes[i] - 1) * win.strides[i] + win.dilations[i] * (win.kernel[i] - 1) + 1;
                starts[i] = win.pads[i];
                ends[i] = Math.min(length, win.pads[i] + in[2 + i]);
                axes[i] = 2 + i;
                long missing = win.pads[i] + in[2 + i] - ends[i];
                padEnd[r + 2 + 2 + i] = missing;
                needPad |= missing > 0;
                if (starts[i] >= ends[i] && missing == 0) {
                    throw unsupported(n, "has a window that covers no input");
                }
            }
            String sliced = emit("Slice", List.of(full, longs(starts), longs(ends), longs(axes)));
            if (!needPad) {
                return sliced;
            }
            // positions the last window does not reach get no gradient
            return emit("Pad", List.of(sliced, longs(padEnd)));
        }

        private record Window(long[] kernel, long[] strides, long[] pads, long[] dilations) {
        }

        private Window window(Node n, long[] kernel, int r) {
            String autoPad = n.stringAttribute("auto_pad", "NOTSET");
            long[] pads = n.longsAttribute("pads", new long[2 * r]);
            if (autoPad.equals("VALID")) {
                pads = new long[2 * r];
            } else if (!autoPad.equals("NOTSET") && !autoPad.isEmpty()) {
                throw unsupported(n, "uses auto_pad=" + autoPad + "; export with explicit pads");
            }
            long[] ones = new long[r];
            Arrays.fill(ones, 1);
            long[] strides = n.longsAttribute("strides", ones);
            long[] dilations = n.longsAttribute("dilations", ones);
            return new Window(kernel, strides, pads, dilations);
        }

        private void batchNorm(Node n, String g) {
            onlyDataInput(n, 0);
            if (n.longAttribute("training_mode", 0) != 0) {
                throw unsupported(n, "runs in training mode; export the model in inference mode (model.eval())");
            }
            if (n.outputs().stream().skip(1).anyMatch(o -> !o.isEmpty())) {
                throw unsupported(n, "returns running statistics (training mode)");
            }
            List<Dim> scale = constantShape(n.inputs().get(1));
            if (scale == null || scale.size() != 1 || !scale.get(0).isFixed()) {
                throw unsupported(n, "has a scale of unknown size");
            }
            int c = Math.toIntExact(scale.get(0).value());
            String zeros = constant(new long[] {c}, new float[c]);
            // g * scale / sqrt(var + eps), per channel, for any rank: BatchNormalization itself
            String grad = emit("BatchNormalization", List.of(g, n.inputs().get(1), zeros, zeros, n.inputs().get(4)),
                    Attribute.ofFloat("epsilon", n.floatAttribute("epsilon", 1e-5f)));
            flowTo(n, 0, grad);
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
            Window win = window(n, kernel, r);
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
                    Attribute.ofLong("group", channels), Attribute.ofLongs("strides", win.strides),
                    Attribute.ofLongs("dilations", win.dilations), Attribute.ofLongs("kernel_shape", kernel));
            contribute(a, transposedTo(n, full, in, win, outShape));
        }

        /** 1 / (number of window positions inside the input) per output position, row-major, 0 for none. */
        private static float[] inverseValidCounts(long[] in, long[] out, Window win) {
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
                    for (long t = 0; t < win.kernel[i]; t++) {
                        long pos = p[i] * win.strides[i] - win.pads[i] + t * win.dilations[i];
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

        private String emit(String opType, List<String> inputs, Attribute... attributes) {
            String out = fresh(opType);
            Map<String, Attribute> map = new LinkedHashMap<>();
            for (Attribute a : attributes) {
                map.put(a.name(), a);
            }
            added.add(new Node(TEMP_PREFIX + "node/" + (counter++), opType, "", inputs, List.of(out), map, "", null));
            return out;
        }

        private String scalar(float v) {
            return constant(new long[0], new float[] {v});
        }

        private String constant(long[] dims, float[] values) {
            String name = fresh("const");
            constants.add(Tensor.ofFloats(name, dims, values));
            return name;
        }

        private String longs(long[] values) {
            String name = fresh("const");
            constants.add(Tensor.ofLongs(name, new long[] {values.length}, values));
            return name;
        }
    }
}
