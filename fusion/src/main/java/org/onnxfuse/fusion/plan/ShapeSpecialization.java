package org.onnxfuse.fusion.plan;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.ops.ShapeComputation;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Replaces what a model computes from shapes alone, and the same for every batch size, by
 * constants. Exporters trace Python code that reads sizes ({@code x.shape}) into chains of Shape,
 * Gather, arithmetic, Mod, Range, ConstantOfShape, ScatterND, Where ... that end in a Pad amount, a
 * Reshape target or a float attention mask (torchvision's Swin Transformer pads to whole windows and
 * builds the shifted windows' mask this way). With only the batch axis of the inputs left open,
 * those values do not change from batch to batch: running the model on zeros at two batch sizes
 * shows which of them are the same, and those become initializers. Values that follow the batch
 * stay computed (the planner follows them symbolically, {@link ShapeComputation}).
 *
 * <p>The pass runs only where a shape computation uses an op the planner cannot follow itself
 * ({@link #PLANNER_SHAPE_OPS}); every other model is returned as it is, without ONNX Runtime.
 */
public final class ShapeSpecialization {
    /** Ops the planner evaluates in shape computations itself. */
    static final Set<String> PLANNER_SHAPE_OPS = Set.of("Shape", "Constant", "Gather", "Unsqueeze", "Squeeze",
            "Concat", "Slice", "Cast", "Identity", "Add", "Sub", "Mul", "Div", "ConstantOfShape", "Equal", "Where",
            "Reshape", "Expand");
    /** Ops whose output is not a function of their inputs' values and shapes. */
    private static final Set<String> RANDOM = Set.of("RandomNormal", "RandomUniform", "RandomNormalLike",
            "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout");

    private ShapeSpecialization() {
    }

    /** {@code model} with its batch-independent shape computations replaced by constants, or itself. */
    public static Model specialize(Model model) {
        Graph g = model.graph();
        Map<String, DataType> shapeOnly = shapeOnlyValues(g);
        boolean needed = g.nodes().stream().anyMatch(n -> !n.outputs().isEmpty()
                && shapeOnly.containsKey(n.outputs().get(0)) && !PLANNER_SHAPE_OPS.contains(n.opType()));
        if (!needed) {
            return model;
        }
        if (!onlyTheBatchOpen(g)) {
            return model;
        }
        List<String> values = new ArrayList<>(shapeOnly.keySet());
        List<Map<String, Tensor>> runs = new ArrayList<>();
        try {
            for (long batch = 1; batch <= 3; batch++) {
                runs.add(evaluate(model, values, shapeOnly, batch));
            }
        } catch (OnnxFuseException e) {
            // ONNX Runtime cannot run the model on zeros: plan it as it is, and let the planner name what it cannot follow
            return model;
        }
        boolean rebuildBatch = !g.feedInputs().get(0).tensorType().shape().get(0).isFixed()
                && opset(model) >= 13;
        Set<String> fixed = new HashSet<>();
        Map<String, PerBatch> perSample = new HashMap<>();
        for (String v : values) {
            Tensor a = runs.get(0).get(v);
            Tensor c = runs.get(1).get(v);
            Tensor d = runs.get(2).get(v);
            if (a == null || c == null || d == null || !Arrays.equals(a.dims(), c.dims())
                    || !Arrays.equals(a.dims(), d.dims())) {
                continue;
            }
            if (a.data().rawBytes().equals(c.data().rawBytes()) && a.data().rawBytes().equals(d.data().rawBytes())) {
                fixed.add(v);
            } else if (rebuildBatch) {
                proportional(a, c, d).ifPresent(f -> perSample.put(v, f));
            }
        }
        // a value proportional to the batch is rebuilt only where the planner could not follow its computation
        Map<String, Boolean> unfollowable = new HashMap<>();
        perSample.keySet().removeIf(v -> !unfollowable(v, g, shapeOnly.keySet(), fixed, unfollowable));
        // a fixed value becomes an initializer, a value proportional to the batch is computed again from the
        // input's batch size alone, where something that is neither reads it
        Set<String> rewritten = new HashSet<>(fixed);
        rewritten.addAll(perSample.keySet());
        Set<String> readOutside = new HashSet<>();
        for (Node n : g.nodes()) {
            boolean inside = !n.outputs().isEmpty() && rewritten.contains(n.outputs().get(0));
            if (!inside) {
                n.inputs().stream().filter(rewritten::contains).forEach(readOutside::add);
            }
        }
        g.outputs().stream().map(ValueInfo::name).filter(rewritten::contains).forEach(readOutside::add);
        Graph.Builder b = g.toBuilder();
        Map<Node, List<Node>> replaced = new HashMap<>();
        Set<String> names = Names.usedIn(g);
        for (String v : values) {
            if (!readOutside.contains(v)) {
                continue;
            }
            Node producer = g.producer(v).orElseThrow();
            if (fixed.contains(v)) {
                b.addInitializer(runs.get(0).get(v));
                replaced.put(producer, List.of());
            } else {
                replaced.put(producer, fromBatch(b, names, batchSource(g, producer, runs), v, perSample.get(v),
                        runs.get(0).get(v).dims().length == 0));
            }
        }
        if (replaced.isEmpty()) {
            return model;
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            nodes.addAll(replaced.getOrDefault(n, List.of(n)));
        }
        Set<Node> computations = new HashSet<>();
        for (Node n : nodes) {
            if (!n.outputs().isEmpty() && shapeOnly.containsKey(n.outputs().get(0))) {
                computations.add(n);
            }
        }
        b.nodes(nodes);
        return GraphRewrite.finish(g, b, nodes, computations, List.of()).map(model::withGraph).orElse(model);
    }

    /**
     * Whether the computation of shape value {@code v} (back to values that are fixed) uses an op the
     * planner does not evaluate, or divides a size that varies with the batch (Swin's batch size
     * recovered as windows x batch / windows).
     */
    private static boolean unfollowable(String v, Graph g, Set<String> shapeOnly, Set<String> fixed,
                                        Map<String, Boolean> memo) {
        Boolean known = memo.get(v);
        if (known != null) {
            return known;
        }
        memo.put(v, false);
        Node n = g.producer(v).orElse(null);
        boolean out = false;
        if (n != null && shapeOnly.contains(v) && !fixed.contains(v)) {
            out = !PLANNER_SHAPE_OPS.contains(n.opType())
                    || (n.opType().equals("Div") || n.opType().equals("Mod")) && !fixed.contains(n.inputs().get(0))
                    && !isConstant(g, n.inputs().get(0));
            for (String in : n.inputs()) {
                out |= !in.isEmpty() && unfollowable(in, g, shapeOnly, fixed, memo);
            }
        }
        memo.put(v, out);
        return out;
    }

    /**
     * The activation whose axis 0 is the batch, read by a Shape node closest before {@code before}
     * (so a residual block's computations keep reading a value inside the block, which then still
     * dominates its Add); the model's first input when there is none.
     */
    private static String batchSource(Graph g, Node before, List<Map<String, Tensor>> runs) {
        String found = g.feedInputs().get(0).name();
        for (Node n : g.topologicalOrder()) {
            if (n == before) {
                break;
            }
            if (!n.opType().equals("Shape") || n.attributes().containsKey("start") || isConstant(g, n.inputs().get(0))) {
                continue;
            }
            boolean batch = true;
            for (int r = 0; r < runs.size() && batch; r++) {
                Tensor t = runs.get(r).get(n.outputs().get(0));
                batch = t != null && t.elementCount() > 0 && t.toLongs()[0] == r + 1;
            }
            if (batch) {
                found = n.inputs().get(0);
            }
        }
        return found;
    }

    /** Per element of an int64 shape value: its factor times the batch size, or (factor 0) its constant. */
    private record PerBatch(long[] factor, long[] constant) {
    }

    /**
     * {@code value}'s elements as {@link PerBatch} from its values at batch sizes 1, 2 and 3 ({@code
     * a}, {@code b}, {@code c}); empty when an element is neither constant nor proportional.
     */
    private static Optional<PerBatch> proportional(Tensor a, Tensor b, Tensor c) {
        if (a.dataType() != DataType.INT64 || a.dims().length > 1) {
            return Optional.empty();
        }
        long[] x = a.toLongs();
        long[] y = b.toLongs();
        long[] z = c.toLongs();
        PerBatch out = new PerBatch(new long[x.length], new long[x.length]);
        for (int i = 0; i < x.length; i++) {
            if (x[i] == y[i] && y[i] == z[i]) {
                out.constant()[i] = x[i];
            } else if (y[i] == 2 * x[i] && z[i] == 3 * x[i] && x[i] > 0) {
                out.factor()[i] = x[i];
            } else {
                return Optional.empty();
            }
        }
        return Optional.of(out);
    }

    /**
     * Nodes computing {@code value} from {@code input}'s batch size: each element its constant, or
     * its factor times the batch (a scalar when {@code scalar}).
     */
    private static List<Node> fromBatch(Graph.Builder b, Set<String> names, String input, String value,
                                        PerBatch perSample, boolean scalar) {
        List<Node> nodes = new ArrayList<>();
        String shape = Names.fresh(value + "_input_shape", names);
        nodes.add(Node.of(shape, "Shape", List.of(input), List.of(shape)));
        String zero = Names.fresh(value + "_zero", names);
        String one = Names.fresh(value + "_one", names);
        b.addInitializer(Tensor.ofLongs(zero, new long[] {1}, new long[] {0}));
        b.addInitializer(Tensor.ofLongs(one, new long[] {1}, new long[] {1}));
        String batch = Names.fresh(value + "_batch", names);
        nodes.add(Node.of(batch, "Slice", List.of(shape, zero, one), List.of(batch)));
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < perSample.factor().length; i++) {
            long f = perSample.factor()[i];
            String part = Names.fresh(value + "_" + i, names);
            if (f == 0) {
                b.addInitializer(Tensor.ofLongs(part, new long[] {1}, new long[] {perSample.constant()[i]}));
            } else {
                String factor = Names.fresh(value + "_factor" + i, names);
                b.addInitializer(Tensor.ofLongs(factor, new long[] {1}, new long[] {f}));
                nodes.add(Node.of(part, "Mul", List.of(batch, factor), List.of(part)));
            }
            parts.add(part);
        }
        if (scalar) {
            String axes = Names.fresh(value + "_axes", names);
            b.addInitializer(Tensor.ofLongs(axes, new long[] {1}, new long[] {0}));
            nodes.add(Node.of(value, "Squeeze", List.of(parts.get(0), axes), List.of(value)));
        } else {
            nodes.add(Node.of(value, "Concat", parts, List.of(value), org.onnxfuse.onnx.ir.Attribute.ofLong("axis", 0)));
        }
        return nodes;
    }

    private static long opset(Model model) {
        return model.opsetImports().stream().filter(o -> o.isDefaultDomain()).mapToLong(o -> o.version()).findFirst()
                .orElse(0);
    }

    /**
     * The values computed from shapes and constants only, with their element types: the outputs
     * of Shape (and Size) nodes, and of every node all of whose inputs are such values or constants.
     */
    static Map<String, DataType> shapeOnlyValues(Graph g) {
        Map<String, DataType> types = new LinkedHashMap<>();
        for (Node n : g.topologicalOrder()) {
            if (!n.isDefaultDomain() || n.subgraphs().findAny().isPresent() || RANDOM.contains(n.opType())
                    || n.outputs().size() != 1 || n.opType().equals("Constant")) {
                continue;
            }
            boolean fromShape = n.opType().equals("Shape") || n.opType().equals("Size");
            boolean fromConstants = !n.inputs().isEmpty() && n.inputs().stream()
                    .allMatch(in -> in.isEmpty() || types.containsKey(in) || isConstant(g, in));
            boolean readsShapeOnly = n.inputs().stream().anyMatch(types::containsKey);
            if (fromShape || fromConstants && readsShapeOnly) {
                typeOf(n, g, types).ifPresent(t -> types.put(n.outputs().get(0), t));
            }
        }
        return types;
    }

    private static boolean isConstant(Graph g, String value) {
        return g.initializer(value).isPresent() || g.producer(value).filter(p -> p.opType().equals("Constant"))
                .isPresent();
    }

    /** The element type of {@code n}'s output, from its op and its inputs' types. */
    private static Optional<DataType> typeOf(Node n, Graph g, Map<String, DataType> types) {
        switch (n.opType()) {
            case "Shape", "Size", "NonZero", "ArgMax", "ArgMin" -> {
                return Optional.of(DataType.INT64);
            }
            case "Cast" -> {
                return Optional.of(DataType.fromCode((int) n.longAttribute("to", 1)));
            }
            case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN",
                    "IsInf" -> {
                return Optional.of(DataType.BOOL);
            }
            case "ConstantOfShape" -> {
                return Optional.of(n.attribute("value").map(a -> a.asTensor().dataType()).orElse(DataType.FLOAT));
            }
            case "Where" -> {
                return typeOfValue(n.inputs().get(1), g, types);
            }
            default -> {
                return n.inputs().isEmpty() ? Optional.empty() : typeOfValue(n.inputs().get(0), g, types);
            }
        }
    }

    private static Optional<DataType> typeOfValue(String value, Graph g, Map<String, DataType> types) {
        if (types.containsKey(value)) {
            return Optional.of(types.get(value));
        }
        Optional<Tensor> init = g.initializer(value);
        if (init.isPresent()) {
            return Optional.of(init.get().dataType());
        }
        return g.producer(value).filter(p -> p.opType().equals("Constant"))
                .flatMap(p -> p.attribute("value")).map(a -> a.asTensor().dataType());
    }

    /** Whether every feed input is float, int64 or bool with all axes fixed but the first (the batch). */
    private static boolean onlyTheBatchOpen(Graph g) {
        for (ValueInfo v : g.feedInputs()) {
            TensorType t = v.tensorType();
            if (t == null || !t.hasShape() || t.shape().isEmpty()) {
                return false;
            }
            List<Dim> dims = t.shape();
            for (int i = 1; i < dims.size(); i++) {
                if (!dims.get(i).isFixed()) {
                    return false;
                }
            }
            DataType type = t.elementType();
            if (type != DataType.FLOAT && type != DataType.INT64 && type != DataType.BOOL) {
                return false;
            }
        }
        return true;
    }

    /** The values of {@code outputs} when the model runs on zeros with batch size {@code batch}. */
    private static Map<String, Tensor> evaluate(Model model, List<String> outputs, Map<String, DataType> types,
                                                long batch) {
        Graph g = model.graph();
        Graph.Builder b = g.toBuilder();
        Set<String> present = new HashSet<>();
        g.outputs().forEach(v -> present.add(v.name()));
        for (String o : outputs) {
            if (present.add(o)) {
                b.addOutput(ValueInfo.tensor(o, new TensorType(types.get(o), null)));
            }
        }
        Model probe = model.withGraph(b.build());
        Map<String, Tensor> out = new HashMap<>();
        List<OnnxTensor> fed = new ArrayList<>();
        OrtRunner.Session s = OrtRunner.openSession("the model's shape computations", probe, 1);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try {
            Map<String, OnnxTensor> feeds = new HashMap<>();
            for (ValueInfo v : g.feedInputs()) {
                List<Dim> dims = v.tensorType().shape();
                long[] shape = new long[dims.size()];
                long count = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = dims.get(i).isFixed() ? dims.get(i).value() : batch;
                    count *= shape[i];
                }
                OnnxTensor t = switch (v.tensorType().elementType()) {
                    case INT64 -> OnnxTensor.createTensor(env, LongBuffer.allocate(Math.toIntExact(count)), shape);
                    case BOOL -> OnnxTensor.createTensor(env, ByteBuffer.allocateDirect(Math.toIntExact(count)), shape,
                            OnnxJavaType.BOOL);
                    default -> OnnxTensor.createTensor(env, FloatBuffer.allocate(Math.toIntExact(count)), shape);
                };
                fed.add(t);
                feeds.put(v.name(), t);
            }
            try (OrtSession.Result result = s.session().run(feeds, new HashSet<>(outputs))) {
                for (String o : outputs) {
                    Optional<OnnxValue> value = result.get(o);
                    if (value.isPresent() && value.get() instanceof OnnxTensor t) {
                        tensor(o, t).ifPresent(x -> out.put(o, x));
                    }
                }
            }
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime could not run the model's shape"
                    + " computations: " + e.getMessage(), e);
        } finally {
            fed.forEach(OnnxTensor::close);
            try {
                s.session().close();
            } catch (OrtException e) {
                // closing a session that ran cannot lose results: they are copied already
            }
            s.options().close();
        }
        return out;
    }

    /** {@code t} as an initializer named {@code name}, for the element types shape computations produce. */
    private static Optional<Tensor> tensor(String name, OnnxTensor t) {
        long[] shape = t.getInfo().getShape();
        ByteBuffer raw;
        DataType type;
        switch (t.getInfo().type) {
            case FLOAT -> {
                FloatBuffer f = t.getFloatBuffer();
                raw = ByteBuffer.allocate(f.remaining() * 4).order(ByteOrder.LITTLE_ENDIAN);
                raw.asFloatBuffer().put(f);
                type = DataType.FLOAT;
            }
            case INT64 -> {
                LongBuffer l = t.getLongBuffer();
                raw = ByteBuffer.allocate(l.remaining() * 8).order(ByteOrder.LITTLE_ENDIAN);
                raw.asLongBuffer().put(l);
                type = DataType.INT64;
            }
            case INT32 -> {
                java.nio.IntBuffer i = t.getIntBuffer();
                raw = ByteBuffer.allocate(i.remaining() * 4).order(ByteOrder.LITTLE_ENDIAN);
                raw.asIntBuffer().put(i);
                type = DataType.INT32;
            }
            case BOOL -> {
                ByteBuffer bytes = t.getByteBuffer();
                raw = ByteBuffer.allocate(bytes.remaining());
                raw.put(bytes);
                type = DataType.BOOL;
            }
            default -> {
                return Optional.empty();
            }
        }
        return Optional.of(Tensor.ofRawBytes(name, type, shape, raw.array()));
    }
}
