package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/** Builds small sequential graphs in code, one op at a time. */
public final class TestNets {
    private TestNets() {
    }

    public static Dim[] shape(Object... dims) {
        Dim[] out = new Dim[dims.length];
        for (int i = 0; i < dims.length; i++) {
            out[i] = dims[i] instanceof String s ? Dim.symbol(s) : Dim.of(((Number) dims[i]).longValue());
        }
        return out;
    }

    public static float[] randoms(Random random, long count) {
        float[] f = new float[Math.toIntExact(count)];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) random.nextGaussian();
        }
        return f;
    }

    /** Appends ops to a chain starting at one input; every op reads the current value. */
    public static final class Net {
        private final Graph.Builder graph = Graph.builder().name("test");
        private final Random random = new Random(7);
        private final List<Node> nodes = new ArrayList<>();
        private final List<String> extraOutputs = new ArrayList<>();
        private String value;
        private long opset = 13;

        public Net(String input, Dim... shape) {
            this(input, DataType.FLOAT, shape);
        }

        public Net(String input, DataType type, Dim... shape) {
            graph.addInput(ValueInfo.tensor(input, new TensorType(type, List.of(shape))));
            value = input;
        }

        /** Adds another graph input; the chain stays where it is (continue from it with {@link #at}). */
        public Net addInput(String name, DataType type, Dim... shape) {
            graph.addInput(ValueInfo.tensor(name, new TensorType(type, List.of(shape))));
            return this;
        }

        public static Net input(Object... dims) {
            return new Net("input", shape(dims));
        }

        public String value() {
            return value;
        }

        public Net opset(long version) {
            opset = version;
            return this;
        }

        public Tensor init(String name, long[] dims) {
            Tensor t = Tensor.ofFloats(name, dims, randoms(random, Tensor.elementCount(dims)));
            graph.addInitializer(t);
            return t;
        }

        public Net initializer(Tensor t) {
            graph.addInitializer(t);
            return this;
        }

        /** Adds {@code node} and makes its output 0 the current value. */
        public Net node(Node node) {
            nodes.add(node);
            if (!node.outputs().isEmpty()) {
                value = node.outputs().get(0);
            }
            return this;
        }

        /** Adds a node that does not move the chain (a Constant, a side branch). */
        public Net extra(Node node) {
            nodes.add(node);
            return this;
        }

        /** A unary op on the current value; extra inputs (constants) follow the data input. */
        public Net op(String name, String opType, List<String> params, Attribute... attributes) {
            List<String> ins = new ArrayList<>();
            ins.add(value);
            ins.addAll(params);
            return node(Node.of(name, opType, ins, List.of(name + "_out"), attributes));
        }

        public Net op(String name, String opType, Attribute... attributes) {
            return op(name, opType, List.of(), attributes);
        }

        /** A Constant node holding {@code t}; returns its output name. */
        public String constant(String name, Tensor t) {
            extra(Node.of(name, "Constant", List.of(), List.of(name + "_out"), Attribute.ofTensor("value", t)));
            return name + "_out";
        }

        public String scalar(String name, float v) {
            return constant(name, Tensor.ofFloats(name, new long[0], new float[] {v}));
        }

        public Net gemm(String name, long in, long out, boolean transB, boolean bias) {
            init(name + ".weight", transB ? new long[] {out, in} : new long[] {in, out});
            List<String> ins = new ArrayList<>(List.of(value, name + ".weight"));
            if (bias) {
                init(name + ".bias", new long[] {out});
                ins.add(name + ".bias");
            }
            return node(Node.of(name, "Gemm", ins, List.of(name + "_out"), Attribute.ofLong("transB", transB ? 1 : 0)));
        }

        public Net matmul(String name, long in, long out, boolean bias) {
            init(name + ".weight", new long[] {in, out});
            node(Node.of(name, "MatMul", List.of(value, name + ".weight"), List.of(name + "_out")));
            if (bias) {
                init(name + ".bias", new long[] {out});
                node(Node.of(name + "_add", "Add", List.of(value, name + ".bias"), List.of(name + "_add_out")));
            }
            return this;
        }

        public Net conv(String name, long cin, long cout, long k, boolean bias, Attribute... attributes) {
            init(name + ".weight", new long[] {cout, cin, k, k});
            List<String> ins = new ArrayList<>(List.of(value, name + ".weight"));
            if (bias) {
                init(name + ".bias", new long[] {cout});
                ins.add(name + ".bias");
            }
            return node(Node.of(name, "Conv", ins, List.of(name + "_out"), attributes));
        }

        public Net batchNorm(String name, long channels) {
            float[] var = randoms(random, channels);
            for (int i = 0; i < var.length; i++) {
                var[i] = Math.abs(var[i]) + 0.5f;
            }
            init(name + ".scale", new long[] {channels});
            init(name + ".bias", new long[] {channels});
            init(name + ".mean", new long[] {channels});
            graph.addInitializer(Tensor.ofFloats(name + ".var", new long[] {channels}, var));
            return node(Node.of(name, "BatchNormalization", List.of(value, name + ".scale", name + ".bias",
                    name + ".mean", name + ".var"), List.of(name + "_out"), Attribute.ofFloat("epsilon", 1e-5f)));
        }

        /** LayerNormalization over the last {@code axis} (default -1) with a random Scale and B of {@code width}. */
        public Net layerNorm(String name, long width, Attribute... attributes) {
            init(name + ".scale", new long[] {width});
            init(name + ".bias", new long[] {width});
            return node(Node.of(name, "LayerNormalization", List.of(value, name + ".scale", name + ".bias"),
                    List.of(name + "_out"), attributes));
        }

        /**
         * LayerNorm over the last axis as torch writes it at opset 13: ReduceMean, Sub, Pow 2,
         * ReduceMean, Add eps, Sqrt, Div, then Mul by a random scale and Add of a random bias.
         */
        public Net layerNormDecomposed(String name, long width) {
            String x = value;
            graph.addInitializer(Tensor.ofFloats(name + ".two", new long[0], new float[] {2f}));
            graph.addInitializer(Tensor.ofFloats(name + ".eps", new long[0], new float[] {1e-5f}));
            init(name + ".weight", new long[] {width});
            init(name + ".bias", new long[] {width});
            Attribute axes = Attribute.ofLongs("axes", -1);
            node(Node.of(name + "/mean", "ReduceMean", List.of(x), List.of(name + "/mean_out"), axes));
            node(Node.of(name + "/sub", "Sub", List.of(x, name + "/mean_out"), List.of(name + "/d")));
            node(Node.of(name + "/pow", "Pow", List.of(name + "/d", name + ".two"), List.of(name + "/sq")));
            node(Node.of(name + "/var", "ReduceMean", List.of(name + "/sq"), List.of(name + "/var_out"), axes));
            node(Node.of(name + "/add", "Add", List.of(name + "/var_out", name + ".eps"), List.of(name + "/v")));
            node(Node.of(name + "/sqrt", "Sqrt", List.of(name + "/v"), List.of(name + "/std")));
            node(Node.of(name + "/div", "Div", List.of(name + "/d", name + "/std"), List.of(name + "/n")));
            node(Node.of(name + "/mul", "Mul", List.of(name + "/n", name + ".weight"), List.of(name + "/scaled")));
            return node(Node.of(name + "/add_1", "Add", List.of(name + "/scaled", name + ".bias"),
                    List.of(name + "_out")));
        }

        /** Continues the chain from {@code v} (a branch point). */
        public Net at(String v) {
            value = v;
            return this;
        }

        /** Makes {@code v} a graph output too, before the current value. */
        public Net alsoOutput(String v) {
            extraOutputs.add(v);
            return this;
        }

        public Graph graph() {
            List<ValueInfo> outputs = new ArrayList<>();
            extraOutputs.forEach(v -> outputs.add(ValueInfo.tensor(v, new TensorType(DataType.FLOAT, null))));
            outputs.add(0, ValueInfo.tensor(value, new TensorType(DataType.FLOAT, null)));
            return graph.nodes(nodes).outputs(outputs).build();
        }

        public Model build() {
            return Model.of(graph(), opset);
        }

        public LevelPlan plan() {
            return LevelPlanner.plan(build());
        }
    }

    public static String dims(List<Dim> shape) {
        return Arrays.toString(shape.stream().map(Dim::toString).toArray());
    }
}
