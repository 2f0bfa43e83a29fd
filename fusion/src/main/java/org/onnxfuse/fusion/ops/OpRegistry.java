package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * The one place where op handlers are registered, keyed by domain, op type and opset. Every
 * stage asks this registry how an op takes part in fusion; an op it does not know, in a place
 * fusion must understand, is an {@link UnsupportedOpException} built by {@link #unsupported}.
 */
public final class OpRegistry {
    private static final OpRegistry STANDARD = buildStandard();

    private final Map<String, List<OpHandler>> handlers = new LinkedHashMap<>();
    private final List<OpPattern> patterns = new ArrayList<>();

    private OpRegistry() {
    }

    /** The registry of every op onnx-fuse supports. */
    public static OpRegistry standard() {
        return STANDARD;
    }

    private static OpRegistry buildStandard() {
        OpRegistry r = new OpRegistry();
        // affine: end a level
        r.register(new AffineOps.Gemm());
        r.register(new AffineOps.MatMul());
        r.register(new AffineOps.Conv());
        // folded into the affine op before it
        r.register(new SimpleHandler("", "BatchNormalization", 1, OpRole.FOLDABLE_NORM,
                "BatchNormalization (right after an affine op)", OpRegistry::batchNormShape, SimpleHandler.NO_SIGNATURE));
        // normalises the neurons, one scale and bias per neuron
        r.register(new LayerNormHandler());
        // elementwise
        r.register(SimpleHandler.of("Relu", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, SimpleHandler.NO_SIGNATURE));
        r.register(SimpleHandler.of("LeakyRelu", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE,
                (n, g) -> Map.of("alpha", Float.toString(n.floatAttribute("alpha", 0.01f)))));
        r.register(SimpleHandler.of("Sigmoid", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, SimpleHandler.NO_SIGNATURE));
        r.register(SimpleHandler.of("Tanh", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, SimpleHandler.NO_SIGNATURE));
        r.register(new SimpleHandler("", "Gelu", 20, OpRole.ELEMENTWISE, null, SimpleHandler.SAME_SHAPE,
                (n, g) -> Map.of("approximate", n.stringAttribute("approximate", "none"))));
        r.register(new SimpleHandler("com.microsoft", "Gelu", 1, OpRole.ELEMENTWISE, "Gelu (com.microsoft)",
                SimpleHandler.SAME_SHAPE, (n, g) -> Map.of("approximate", "none")));
        r.register(SimpleHandler.of("Clip", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, OpRegistry::clipSignature));
        r.register(SimpleHandler.of("Dropout", OpRole.ELEMENTWISE, OpRegistry::dropoutShape, SimpleHandler.NO_SIGNATURE));
        r.register(SimpleHandler.of("Identity", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, SimpleHandler.NO_SIGNATURE));
        r.register(SimpleHandler.of("Elu", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, floats("alpha", 1f)));
        r.register(SimpleHandler.of("Celu", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, floats("alpha", 1f)));
        r.register(SimpleHandler.of("Selu", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE,
                floats("alpha", 1.67326319217681884765625f, "gamma", 1.05070102214813232421875f)));
        r.register(SimpleHandler.of("Softplus", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, SimpleHandler.NO_SIGNATURE));
        r.register(SimpleHandler.of("Softsign", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE, SimpleHandler.NO_SIGNATURE));
        r.register(SimpleHandler.of("HardSigmoid", OpRole.ELEMENTWISE, SimpleHandler.SAME_SHAPE,
                floats("alpha", 0.2f, "beta", 0.5f)));
        r.register(new SimpleHandler("", "HardSwish", 14, OpRole.ELEMENTWISE, null, SimpleHandler.SAME_SHAPE,
                SimpleHandler.NO_SIGNATURE));
        ConstantArithmetic.all().forEach(r::register);
        // joins of branches
        r.register(new ConcatHandler());
        r.patterns.add(new ErfGeluPattern());
        r.patterns.add(new SiluPattern());
        r.patterns.add(new LayerNormPattern());
        // pooling: keep the channel axis
        r.register(SimpleHandler.of("MaxPool", OpRole.POOLING, OpRegistry::poolShape,
                (n, g) -> poolSignature(n, false)));
        r.register(SimpleHandler.of("AveragePool", OpRole.POOLING, OpRegistry::poolShape,
                (n, g) -> poolSignature(n, true)));
        r.register(SimpleHandler.of("GlobalAveragePool", OpRole.POOLING, OpRegistry::globalPoolShape,
                SimpleHandler.NO_SIGNATURE));
        ReduceHandler.all().forEach(r::register);
        r.register(new GatherHandler());
        r.register(new PadHandler());
        r.register(new SliceHandler());
        // shape
        r.register(SimpleHandler.of("Flatten", OpRole.SHAPE,
                (n, in, g) -> Shapes.flatten(n, in, n.longAttribute("axis", 1)),
                (n, g) -> Map.of("axis", Long.toString(n.longAttribute("axis", 1)))));
        r.register(SimpleHandler.of("Reshape", OpRole.SHAPE, OpRegistry::reshapeShape, SimpleHandler.NO_SIGNATURE));
        r.register(SimpleHandler.of("Transpose", OpRole.SHAPE, OpRegistry::transposeShape,
                (n, g) -> Map.of("perm", Arrays.toString(n.longsAttribute("perm", new long[0])))));
        // constants feeding parameter inputs
        r.register(SimpleHandler.of("Constant", OpRole.CONSTANT, (n, in, g) -> List.of(), SimpleHandler.NO_SIGNATURE));
        // after the last level only
        r.register(SimpleHandler.of("Softmax", OpRole.OUTPUT_HEAD, SimpleHandler.SAME_SHAPE, OpRegistry::axisSignature));
        r.register(SimpleHandler.of("LogSoftmax", OpRole.OUTPUT_HEAD, SimpleHandler.SAME_SHAPE,
                OpRegistry::axisSignature));
        return r;
    }

    /** Adds {@code h}; a second handler for the same domain, op type and first opset is an error. */
    private void register(OpHandler h) {
        List<OpHandler> list = handlers.computeIfAbsent(key(h.domain(), h.opType()), k -> new ArrayList<>());
        if (list.stream().anyMatch(o -> o.sinceOpset() == h.sinceOpset())) {
            throw new IllegalStateException("a handler for " + key(h.domain(), h.opType()) + " from opset "
                    + h.sinceOpset() + " is registered twice");
        }
        list.add(h);
        list.sort(Comparator.comparingLong(OpHandler::sinceOpset).reversed());
    }

    private static String key(String domain, String opType) {
        String d = domain == null || domain.equals("ai.onnx") ? "" : domain;
        return d + ":" + opType;
    }

    /** The handler for {@code node} at {@code opset} (the model's version of the node's domain). */
    public Optional<OpHandler> find(Node node, long opset) {
        List<OpHandler> list = handlers.getOrDefault(key(node.domain(), node.opType()), List.of());
        return list.stream().filter(h -> opset < 0 || h.sinceOpset() <= opset).findFirst();
    }

    /** Multi-node patterns, tried before single-node handlers. */
    public List<OpPattern> patterns() {
        return List.copyOf(patterns);
    }

    /** "Gemm, MatMul(+Add), Conv, BatchNormalization (...), Relu, ..." in registration order. */
    public String supportedOps() {
        List<String> names = new ArrayList<>();
        for (List<OpHandler> list : handlers.values()) {
            OpHandler h = list.get(0);
            String name = h.displayName();
            if (h.role() == OpRole.OUTPUT_HEAD) {
                name += " (after the last level)";
            }
            if (!names.contains(name)) {
                names.add(name);
            }
            if (h.opType().equals("Identity")) {
                patterns.forEach(p -> names.add(p.displayName()));
            }
        }
        return String.join(", ", names);
    }

    /** The error for an op that cannot be placed in a level: names the node and lists what is supported. */
    public UnsupportedOpException unsupported(Node node, String why) {
        return new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "node " + GraphView.quote(node)
                + " cannot be placed in a level" + (why == null || why.isEmpty() ? "" : " (" + why + ")")
                + ": supported ops are " + supportedOps());
    }

    // ---------------------------------------------------------------- rules of the simple ops

    private static List<Dim> batchNormShape(Node n, List<Dim> in, GraphView g) {
        if (n.longAttribute("training_mode", 0) != 0) {
            throw Shapes.unsupported(n, "has training_mode=1; export the model in inference mode (model.eval())");
        }
        Shapes.requireRank(n, in, 2, "BatchNormalization normalises axis 1");
        return in;
    }

    private static List<Dim> dropoutShape(Node n, List<Dim> in, GraphView g) {
        if (!dropsNothing(n, g)) {
            throw Shapes.unsupported(n, "may run in training mode (input '" + n.inputs().get(2)
                    + "') with a ratio that is not 0; export the model in inference mode");
        }
        return in;
    }

    /**
     * Whether Dropout {@code n} is the identity: in inference mode (training_mode absent or a
     * constant 0), or with a constant ratio of 0 (torchvision's Swin passes training=True with
     * ratio 0).
     */
    static boolean dropsNothing(Node n, GraphView g) {
        if (n.inputs().size() < 3 || n.inputs().get(2).isEmpty()) {
            return true;
        }
        Optional<Double> training = g.scalar(n.inputs().get(2));
        Optional<Double> ratio = n.inputs().get(1).isEmpty() ? Optional.of(0.5) : g.scalar(n.inputs().get(1));
        return training.isPresent() && training.get() == 0 || ratio.isPresent() && ratio.get() == 0;
    }

    private static Map<String, String> clipSignature(Node n, GraphView g) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("min", clipBound(n, 1, "min", g));
        s.put("max", clipBound(n, 2, "max", g));
        return s;
    }

    private static String clipBound(Node n, int input, String attribute, GraphView g) {
        Optional<Attribute> a = n.attribute(attribute);
        if (a.isPresent()) {
            return Float.toString(a.get().asFloat());
        }
        if (input < n.inputs().size() && !n.inputs().get(input).isEmpty()) {
            String v = n.inputs().get(input);
            return g.scalar(v).map(d -> Float.toString(d.floatValue())).orElseThrow(() -> Shapes.unsupported(n,
                    "has a " + attribute + " bound '" + v + "' that is not a one-element constant"));
        }
        return "none";
    }

    private static Map<String, String> axisSignature(Node n, GraphView g) {
        return Map.of("axis", n.attribute("axis").map(a -> Long.toString(a.asLong())).orElse("default"));
    }

    private static long[] kernelShape(Node n) {
        long[] k = n.longsAttribute("kernel_shape", null);
        if (k == null) {
            throw Shapes.invalid(n, "has no kernel_shape attribute");
        }
        return k;
    }

    private static List<Dim> poolShape(Node n, List<Dim> in, GraphView g) {
        Shapes.Window w = Shapes.window(n, kernelShape(n), true);
        Shapes.requireRank(n, in, 3, "pooling needs [N, C, spatial...]");
        return Shapes.slide(n, in, w, in.get(1));
    }

    private static Map<String, String> poolSignature(Node n, boolean average) {
        long[] k = kernelShape(n);
        Shapes.Window w = Shapes.window(n, k, true);
        Map<String, String> s = new LinkedHashMap<>();
        s.put("kernel_shape", Arrays.toString(k));
        s.put("strides", Arrays.toString(w.strides()));
        s.put("pads", w.autoPad().equals("NOTSET") ? Arrays.toString(w.pads()) : w.autoPad());
        s.put("dilations", Arrays.toString(w.dilations()));
        s.put("ceil_mode", Boolean.toString(w.ceilMode()));
        if (average) {
            s.put("count_include_pad", Long.toString(n.longAttribute("count_include_pad", 0)));
        }
        return s;
    }

    private static List<Dim> globalPoolShape(Node n, List<Dim> in, GraphView g) {
        Shapes.requireRank(n, in, 3, "pooling needs [N, C, spatial...]");
        List<Dim> out = new ArrayList<>(in.subList(0, 2));
        for (int i = 2; i < in.size(); i++) {
            out.add(Dim.of(1));
        }
        return out;
    }

    /** A signature of float attributes with their ONNX defaults: {@code floats("alpha", 1f, "beta", 0f)}. */
    private static SimpleHandler.SignatureRule floats(Object... namesAndDefaults) {
        return (n, g) -> {
            Map<String, String> m = new LinkedHashMap<>();
            for (int i = 0; i < namesAndDefaults.length; i += 2) {
                String name = (String) namesAndDefaults[i];
                m.put(name, Float.toString(n.floatAttribute(name, (Float) namesAndDefaults[i + 1])));
            }
            return m;
        };
    }

    /** Pad's amounts (begins then ends, one per axis) from its constant input. */
    private static List<Dim> transposeShape(Node n, List<Dim> in, GraphView g) {
        long[] perm = n.longsAttribute("perm", null);
        List<Dim> out = new ArrayList<>();
        for (int j = 0; j < in.size(); j++) {
            long src = perm == null ? in.size() - 1 - j : perm[j];
            if (perm != null && (perm.length != in.size() || src < 0 || src >= in.size())) {
                throw Shapes.invalid(n, "has perm " + Arrays.toString(perm) + " for an input of rank " + in.size());
            }
            out.add(in.get((int) src));
        }
        if (out.isEmpty() || !out.get(0).equals(in.get(0))) {
            throw Shapes.unsupported(n, "moves the batch axis (perm " + Arrays.toString(perm) + ")");
        }
        return out;
    }

    private static List<Dim> reshapeShape(Node n, List<Dim> in, GraphView g) {
        long[] target;
        if (n.inputs().size() >= 2 && !n.inputs().get(1).isEmpty()) {
            String shapeInput = n.inputs().get(1);
            Optional<Tensor> t = g.constant(shapeInput);
            if (t.isPresent()) {
                target = t.get().toLongs();
            } else {
                target = ShapeComputation.of(shapeInput, n.inputs().get(0), g).orElseThrow(() -> Shapes.unsupported(
                        n, "takes its target shape '" + shapeInput + "' from " + g.origin(shapeInput) + "; a level"
                        + " needs a constant shape or one computed from the input's own shape (Shape, Gather,"
                        + " Unsqueeze, Concat, ...)")).reshapeTarget(n, in);
            }
        } else {
            target = n.longsAttribute("shape", null);
            if (target == null) {
                throw Shapes.invalid(n, "has neither a shape input nor a shape attribute");
            }
        }
        return Shapes.reshape(n, in, target, n.longAttribute("allowzero", 0) != 0);
    }

    @Override
    public String toString() {
        return handlers.values().stream().map(l -> l.get(0).opType() + "=" + l.get(0).role())
                .collect(Collectors.joining(", ", "OpRegistry[", "]"));
    }
}
