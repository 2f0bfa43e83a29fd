package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/** Handlers of the affine ops: Gemm, MatMul (+ bias Add), Conv. */
final class AffineOps {
    private AffineOps() {
    }

    /** Input {@code index} of {@code node} as an initializer, or an error saying where it comes from. */
    static Tensor requireInitializer(Node node, int index, String what, GraphView graph) {
        if (index >= node.inputs().size() || node.inputs().get(index).isEmpty()) {
            throw Shapes.invalid(node, "has no " + what + " input");
        }
        String name = node.inputs().get(index);
        return graph.initializer(name).orElseThrow(() -> Shapes.unsupported(node, "reads its " + what + " '" + name
                + "' from " + graph.origin(name) + "; fusion rewrites the weights of affine ops and needs them"
                + " stored as initializers"));
    }

    static String optionalInput(Node node, int index) {
        return index < node.inputs().size() && !node.inputs().get(index).isEmpty() ? node.inputs().get(index) : null;
    }

    static void requireFloat(Node node, Tensor t, String what) {
        if (!t.dataType().isNumericDecodable() || t.data() == null) {
            throw Shapes.unsupported(node, "has a " + what + " of type " + t.dataType()
                    + "; supported weight types are FLOAT, FLOAT16, BFLOAT16 and DOUBLE");
        }
    }

    /** Bias values for {@code width} neurons from a tensor of shape [width], [1, width], [1] or []. */
    static float[] broadcastBias(Node node, Tensor bias, long width) {
        float[] b = bias.toFloats();
        if (b.length == width) {
            return b;
        }
        if (b.length == 1) {
            float[] out = new float[Math.toIntExact(width)];
            Arrays.fill(out, b[0]);
            return out;
        }
        throw Shapes.invalid(node, "bias '" + bias.name() + "' of shape " + Arrays.toString(bias.dims())
                + " does not broadcast to " + width + " neurons");
    }

    static void checkFeatures(Node node, List<Dim> input, int axis, long expected, String what) {
        Dim d = input.get(axis);
        if (d.isFixed() && d.value() != expected) {
            throw Shapes.invalid(node, "input of shape " + Shapes.format(input) + " has " + d.value() + " " + what
                    + " on axis " + axis + ", but the weights expect " + expected);
        }
    }

    /** Gemm: Y = alpha * A * op(B) + beta * C with A the activations [N, in]. */
    static final class Gemm implements AffineHandler {
        @Override
        public String opType() {
            return "Gemm";
        }

        @Override
        public AffineGeometry geometry(Node node, GraphView graph) {
            if (node.longAttribute("transA", 0) != 0) {
                throw Shapes.unsupported(node, "has transA=1; a level needs its activations as A [N, features]"
                        + " (transA=0)");
            }
            Tensor b = requireInitializer(node, 1, "weight B", graph);
            requireFloat(node, b, "weight");
            if (b.rank() != 2) {
                throw Shapes.invalid(node, "weight '" + b.name() + "' has shape " + Arrays.toString(b.dims())
                        + ", expected 2 dimensions");
            }
            boolean transB = node.longAttribute("transB", 0) != 0;
            long width = transB ? b.dim(0) : b.dim(1);
            long in = transB ? b.dim(1) : b.dim(0);
            String c = optionalInput(node, 2);
            if (c != null) {
                Tensor bias = requireInitializer(node, 2, "bias C", graph);
                requireFloat(node, bias, "bias");
                if (bias.elementCount() != width && bias.elementCount() != 1) {
                    throw Shapes.invalid(node, "bias '" + c + "' of shape " + Arrays.toString(bias.dims())
                            + " does not broadcast to " + width + " neurons");
                }
            }
            return new AffineGeometry(width, in, b.name(), c);
        }

        @Override
        public int neuronAxis(int outputRank) {
            return 1;
        }

        @Override
        public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
            AffineGeometry g = geometry(node, graph);
            if (input.size() != 2) {
                throw Shapes.invalid(node, "input of shape " + Shapes.format(input) + " is not a matrix [N, features]");
            }
            checkFeatures(node, input, 1, g.inFeatures(), "features");
            return List.of(input.get(0), Dim.of(g.width()));
        }

        @Override
        public AffineWeights weights(Node node, Node biasAdd, GraphView graph) {
            AffineGeometry g = geometry(node, graph);
            Tensor b = graph.initializer(g.weight()).orElseThrow();
            float[] w = b.toFloats();
            boolean transB = node.longAttribute("transB", 0) != 0;
            float alpha = node.floatAttribute("alpha", 1f);
            float beta = node.floatAttribute("beta", 1f);
            int in = Math.toIntExact(g.inFeatures());
            int n = Math.toIntExact(g.width());
            int rows = in + (g.hasBias() ? 1 : 0);
            float[] out = new float[rows * n];
            for (int i = 0; i < in; i++) {
                for (int j = 0; j < n; j++) {
                    out[i * n + j] = alpha * (transB ? w[j * in + i] : w[i * n + j]);
                }
            }
            if (g.hasBias()) {
                float[] c = broadcastBias(node, graph.initializer(g.bias()).orElseThrow(), n);
                for (int j = 0; j < n; j++) {
                    out[in * n + j] = beta * c[j];
                }
            }
            return new AffineWeights(rows, n, out, g.hasBias());
        }
    }

    /** MatMul with a constant right operand B [in, out], optionally followed by Add of a bias initializer. */
    static final class MatMul implements AffineHandler {
        @Override
        public String opType() {
            return "MatMul";
        }

        @Override
        public String displayName() {
            return "MatMul(+Add)";
        }

        @Override
        public AffineGeometry geometry(Node node, GraphView graph) {
            Tensor b = requireInitializer(node, 1, "weight B", graph);
            requireFloat(node, b, "weight");
            if (b.rank() != 2) {
                throw Shapes.unsupported(node, "has weight '" + b.name() + "' of shape " + Arrays.toString(b.dims())
                        + "; a level needs a 2-d weight [in, out]");
            }
            return new AffineGeometry(b.dim(1), b.dim(0), b.name(), null);
        }

        @Override
        public int neuronAxis(int outputRank) {
            return outputRank - 1;
        }

        @Override
        public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
            AffineGeometry g = geometry(node, graph);
            Shapes.requireRank(node, input, 2, "activations [N, features] or [N, tokens, features]");
            checkFeatures(node, input, input.size() - 1, g.inFeatures(), "features");
            List<Dim> out = new ArrayList<>(input);
            out.set(out.size() - 1, Dim.of(g.width()));
            return out;
        }

        @Override
        public boolean takesBiasAdd() {
            return true;
        }

        @Override
        public boolean isBiasAdd(Node add, String output, long width, GraphView graph) {
            if (!add.isDefaultDomain() || !add.opType().equals("Add") || add.inputs().size() != 2) {
                return false;
            }
            String other = add.inputs().get(0).equals(output) ? add.inputs().get(1) : add.inputs().get(0);
            if (other.equals(output)) {
                return false;
            }
            return graph.initializer(other).filter(t -> isBiasShape(t.dims(), width)).isPresent();
        }

        private static boolean isBiasShape(long[] dims, long width) {
            if (dims.length == 0 || dims[dims.length - 1] != width) {
                return false;
            }
            for (int i = 0; i < dims.length - 1; i++) {
                if (dims[i] != 1) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public AffineWeights weights(Node node, Node biasAdd, GraphView graph) {
            AffineGeometry g = geometry(node, graph);
            float[] w = graph.initializer(g.weight()).orElseThrow().toFloats();
            int in = Math.toIntExact(g.inFeatures());
            int n = Math.toIntExact(g.width());
            if (biasAdd == null) {
                return new AffineWeights(in, n, w, false);
            }
            String biasName = biasAdd.inputs().get(0).equals(node.outputs().get(0))
                    ? biasAdd.inputs().get(1) : biasAdd.inputs().get(0);
            float[] bias = broadcastBias(biasAdd, graph.initializer(biasName).orElseThrow(), n);
            float[] out = Arrays.copyOf(w, (in + 1) * n);
            System.arraycopy(bias, 0, out, in * n, n);
            return new AffineWeights(in + 1, n, out, true);
        }
    }

    /** Conv with group 1: W [C_out, C_in, k...], optional B [C_out]. */
    static final class Conv implements AffineHandler {
        @Override
        public String opType() {
            return "Conv";
        }

        @Override
        public AffineGeometry geometry(Node node, GraphView graph) {
            Tensor w = requireInitializer(node, 1, "weight W", graph);
            requireFloat(node, w, "weight");
            if (w.rank() < 3) {
                throw Shapes.invalid(node, "weight '" + w.name() + "' has shape " + Arrays.toString(w.dims())
                        + ", expected [C_out, C_in, kernel...]");
            }
            long[] dims = w.dims();
            long[] kernel = Arrays.copyOfRange(dims, 2, dims.length);
            long[] declared = node.longsAttribute("kernel_shape", kernel);
            if (!Arrays.equals(declared, kernel)) {
                throw Shapes.invalid(node, "kernel_shape " + Arrays.toString(declared) + " differs from weight '"
                        + w.name() + "' of shape " + Arrays.toString(dims));
            }
            long group = node.longAttribute("group", 1);
            if (group != 1 && !(group == dims[0] && dims[1] == 1)) {
                throw Shapes.unsupported(node, "has group=" + group + " with " + dims[0] + " output and "
                        + dims[1] * group + " input channels; levels support convolutions with group=1 and depthwise"
                        + " ones (group = input channels = output channels), not grouped convolutions (1 < group <"
                        + " channels) or depthwise ones with a channel multiplier");
            }
            long in = 1;
            for (int i = 1; i < dims.length; i++) {
                in *= dims[i];
            }
            String b = optionalInput(node, 2);
            if (b != null) {
                Tensor bias = requireInitializer(node, 2, "bias B", graph);
                requireFloat(node, bias, "bias");
                if (bias.elementCount() != dims[0]) {
                    throw Shapes.invalid(node, "bias '" + b + "' of shape " + Arrays.toString(bias.dims())
                            + " does not match " + dims[0] + " output channels");
                }
            }
            return new AffineGeometry(dims[0], in, w.name(), b);
        }

        /**
         * A depthwise Conv (group = channels) maps input channel c to output channel c alone, so
         * its output is tied to its input's neuron space: fused channel g reads fused channel g.
         */
        @Override
        public NeuronFlow neuronFlow(Node node, GraphView graph) {
            return node.longAttribute("group", 1) != 1 ? NeuronFlow.TIES : NeuronFlow.STARTS;
        }

        static long[] kernel(Node node, GraphView graph) {
            long[] dims = graph.initializer(node.inputs().get(1)).orElseThrow().dims();
            return Arrays.copyOfRange(dims, 2, dims.length);
        }

        @Override
        public int neuronAxis(int outputRank) {
            return 1;
        }

        @Override
        public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
            AffineGeometry g = geometry(node, graph);
            long[] dims = graph.initializer(g.weight()).orElseThrow().dims();
            Shapes.Window w = Shapes.window(node, kernel(node, graph), false);
            List<Dim> out = Shapes.slide(node, input, w, Dim.of(g.width()));
            checkFeatures(node, input, 1, dims[1] * node.longAttribute("group", 1), "channels");
            return out;
        }

        @Override
        public Map<String, String> signature(Node node, GraphView graph) {
            long[] kernel = kernel(node, graph);
            Shapes.Window w = Shapes.window(node, kernel, false);
            Map<String, String> s = new LinkedHashMap<>();
            s.put("kernel_shape", Arrays.toString(kernel));
            s.put("strides", Arrays.toString(w.strides()));
            s.put("pads", w.autoPad().equals("NOTSET") ? Arrays.toString(w.pads()) : w.autoPad());
            s.put("dilations", Arrays.toString(w.dilations()));
            if (node.longAttribute("group", 1) != 1) {
                s.put("group", "depthwise");
            }
            return s;
        }

        @Override
        public AffineWeights weights(Node node, Node biasAdd, GraphView graph) {
            AffineGeometry g = geometry(node, graph);
            float[] w = graph.initializer(g.weight()).orElseThrow().toFloats();
            int in = Math.toIntExact(g.inFeatures());
            int n = Math.toIntExact(g.width());
            int rows = in + (g.hasBias() ? 1 : 0);
            float[] out = new float[rows * n];
            for (int o = 0; o < n; o++) {
                for (int r = 0; r < in; r++) {
                    out[r * n + o] = w[o * in + r];
                }
            }
            if (g.hasBias()) {
                float[] b = graph.initializer(g.bias()).orElseThrow().toFloats();
                System.arraycopy(b, 0, out, in * n, n);
            }
            return new AffineWeights(rows, n, out, g.hasBias());
        }
    }
}
