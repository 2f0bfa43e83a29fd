package org.onnxfuse.fusion.importance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.importance.GradientGraph.Rule;
import org.onnxfuse.fusion.importance.GradientRunner.CutGradient;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Every gradient rule against central finite differences through ONNX Runtime (float32, so
 * steps of about 1e-2 on smooth ops; piecewise-linear ops get inputs far from their kinks), the
 * gradients at every cut of the fixture parents against directional finite differences of the
 * model's tail, and DeepLIFT completeness of the rescale rule.
 */
class GradientGraphTest {
    private static final int CLASSES = 3;
    private static final double STEP = 1e-2;

    // ------------------------------------------------------------------ one-op models vs finite differences

    /**
     * A model x -> Identity -> h -> body -> Flatten -> Gemm -> logits ([N, 3]), so that dF/dh is
     * dF/dx: the body's output size is measured in ONNX Runtime to size the head's weight.
     */
    private static final class Net {
        final long[] shape;
        final List<Node> nodes = new ArrayList<>();
        final List<Tensor> inits = new ArrayList<>();
        final Random rng;
        long opset = 13;
        int count;

        Net(long seed, long... shape) {
            this.shape = shape;
            this.rng = new Random(seed);
            nodes.add(Node.of("in", "Identity", List.of("x"), List.of("h")));
        }

        String node(String op, List<String> inputs, Attribute... attrs) {
            String out = op.toLowerCase() + (count++);
            nodes.add(Node.of(out, op, inputs, List.of(out), attrs));
            return out;
        }

        String weight(long... dims) {
            int n = Math.toIntExact(Tensor.elementCount(dims));
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) (rng.nextGaussian() * 0.5);
            }
            return constant(dims, v);
        }

        String constant(long[] dims, float[] v) {
            String name = "w" + (count++);
            inits.add(Tensor.ofFloats(name, dims, v));
            return name;
        }

        String scalar(float v) {
            return constant(new long[0], new float[] {v});
        }

        String longs(long[] v) {
            String name = "w" + (count++);
            inits.add(Tensor.ofLongs(name, new long[] {v.length}, v));
            return name;
        }

        Model model(String output, String outputName) {
            Graph.Builder b = Graph.builder().name("net");
            List<Dim> dims = new ArrayList<>();
            dims.add(Dim.symbol("N"));
            for (int i = 1; i < shape.length; i++) {
                dims.add(Dim.of(shape[i]));
            }
            b.addInput(ValueInfo.tensor("x", new TensorType(DataType.FLOAT, dims)));
            List<Node> all = new ArrayList<>(nodes);
            if (!output.equals(outputName)) {
                all.add(Node.of("out", "Identity", List.of(output), List.of(outputName)));
            }
            b.nodes(all).initializers(inits);
            b.addOutput(ValueInfo.tensor(outputName, new TensorType(DataType.FLOAT, null)));
            return Model.of(b.build(), opset);
        }

        /** Appends Flatten + Gemm (transB 1) to [N, 3] logits and returns the full model. */
        Model withHead(String body) {
            long features;
            Model probe = model(body, "probe");
            try (OrtRunner r = OrtRunner.open("probe", probe, List.of(), 1)) {
                Activation a = r.run(new float[Math.toIntExact(Tensor.elementCount(shape))], shape, List.of("probe"))
                        .get("probe");
                features = a.values().length / shape[0];
            }
            String flat = node("Flatten", List.of(body), Attribute.ofLong("axis", 1));
            node("Gemm", List.of(flat, weight(CLASSES, features), weight(CLASSES)), Attribute.ofLong("transB", 1));
            return model(nodes.get(nodes.size() - 1).outputs().get(0), "logits");
        }

        /** Gaussian inputs. */
        float[] gaussian() {
            float[] x = new float[Math.toIntExact(Tensor.elementCount(shape))];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rng.nextGaussian();
            }
            return x;
        }

        /** Inputs at least {@code gap} apart from each other and from zero: no kink within a step. */
        float[] spaced(double gap) {
            int n = Math.toIntExact(Tensor.elementCount(shape));
            int[] perm = new int[n];
            for (int i = 0; i < n; i++) {
                perm[i] = i;
            }
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = (float) ((perm[i] - n / 2 + 0.5) * gap);
            }
            return x;
        }
    }

    private static long[] labels(int n) {
        long[] y = new long[n];
        for (int i = 0; i < n; i++) {
            y[i] = (i * 2 + 1) % CLASSES;
        }
        return y;
    }

    /** Per sample copy block, F = sum over the block's samples of logits[n, label[n]], in float64. */
    private static double[] objective(float[] logits, long[] labels, int copies) {
        int n = labels.length;
        int classes = logits.length / (copies * n);
        double[] f = new double[copies];
        for (int k = 0; k < copies; k++) {
            for (int s = 0; s < n; s++) {
                f[k] += logits[(k * n + s) * classes + (int) labels[s]];
            }
        }
        return f;
    }

    /**
     * Checks dF/dh from the gradient graph against central differences in x (h = x), every
     * coordinate, all perturbed copies in one ONNX Runtime batch.
     */
    private static void checkAgainstFiniteDifferences(Model m, long[] shape, float[] x) {
        long[] y = labels((int) shape[0]);
        float[] grad;
        try (GradientRunner r = GradientRunner.open("net", m, List.of("h", "logits"), Rule.GRADIENT, 1)) {
            Map<String, CutGradient> out = r.run(x, shape, y);
            CutGradient h = out.get("h");
            assertTrue(Arrays.equals(h.value().values(), x), "cut value is the input");
            assertTrue(Arrays.equals(h.gradient().shape(), shape), "gradient has the cut's shape: "
                    + Arrays.toString(h.gradient().shape()));
            grad = h.gradient().values();
        }
        int d = x.length;
        float[] batch = new float[2 * d * d];
        for (int i = 0; i < d; i++) {
            System.arraycopy(x, 0, batch, 2 * i * d, d);
            System.arraycopy(x, 0, batch, (2 * i + 1) * d, d);
            batch[2 * i * d + i] += (float) STEP;
            batch[(2 * i + 1) * d + i] -= (float) STEP;
        }
        long[] big = shape.clone();
        big[0] = shape[0] * 2L * d;
        float[] logits;
        try (OrtRunner r = OrtRunner.open("net", m, List.of(), 1)) {
            logits = r.run(batch, big, List.of("logits")).get("logits").values();
        }
        double[] f = objective(logits, y, 2 * d);
        double scale = 0;
        for (float g : grad) {
            scale = Math.max(scale, Math.abs(g));
        }
        assertTrue(scale > 1e-3, "gradient is not all zero");
        for (int i = 0; i < d; i++) {
            // the perturbed values as float32 actually held them
            double h = (double) (x[i] + (float) STEP) - (double) (x[i] - (float) STEP);
            double fd = (f[2 * i] - f[2 * i + 1]) / h;
            double tol = 1e-2 * Math.abs(fd) + 2e-3 * scale + 1e-4;
            assertEquals(fd, grad[i], tol, "coordinate " + i + " of " + d);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void gemmWithAlphaAndTransB(int transB) {
        Net net = new Net(1, 2, 5);
        String w = transB == 1 ? net.weight(4, 5) : net.weight(5, 4);
        String z = net.node("Gemm", List.of("h", w, net.weight(4)), Attribute.ofFloat("alpha", 0.7f),
                Attribute.ofFloat("beta", 1.3f), Attribute.ofLong("transB", transB));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(z))), net.shape, net.gaussian());
    }

    @Test
    void matMulAndBiasAdd() {
        Net net = new Net(2, 2, 5);
        String z = net.node("MatMul", List.of("h", net.weight(5, 4)));
        String b = net.node("Add", List.of(net.weight(4), z));
        String s = net.node("Sub", List.of(b, net.scalar(0.3f)));
        String t = net.node("Div", List.of(net.node("Mul", List.of(net.scalar(1.5f), s)), net.scalar(2f)));
        checkAgainstFiniteDifferences(net.withHead(net.node("Sigmoid", List.of(t))), net.shape, net.gaussian());
    }

    @Test
    void convWithStridesPadsDilationAndNonSquareKernel() {
        Net net = new Net(3, 2, 2, 9, 8);
        String c = net.node("Conv", List.of("h", net.weight(3, 2, 3, 2), net.weight(3)),
                Attribute.ofLongs("kernel_shape", 3, 2), Attribute.ofLongs("strides", 2, 2),
                Attribute.ofLongs("pads", 1, 0, 2, 1), Attribute.ofLongs("dilations", 2, 1));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(c))), net.shape, net.gaussian());
    }

    @Test
    void convWhoseLastRowsAreNotReached() {
        // input 7, kernel 2, stride 2: output 3, and input row 6 feeds no output
        Net net = new Net(4, 2, 1, 7, 7);
        String c = net.node("Conv", List.of("h", net.weight(2, 1, 2, 2)), Attribute.ofLongs("kernel_shape", 2, 2),
                Attribute.ofLongs("strides", 2, 2));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(c))), net.shape, net.gaussian());
    }

    @Test
    void groupedConv() {
        Net net = new Net(5, 1, 4, 5, 5);
        String c = net.node("Conv", List.of("h", net.weight(6, 2, 3, 3)), Attribute.ofLong("group", 2),
                Attribute.ofLongs("pads", 1, 1, 1, 1));
        checkAgainstFiniteDifferences(net.withHead(c), net.shape, net.gaussian());
    }

    @Test
    void concatOfTwoBranches() {
        Net net = new Net(11, 2, 2, 4, 4);
        String a = net.node("Conv", List.of("h", net.weight(3, 2, 1, 1)));
        String b = net.node("Tanh", List.of("h"));
        String c = net.node("Concat", List.of(b, a, "h"), Attribute.ofLong("axis", 1));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(c))), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void squeezeExcitationGate(boolean gateFirst) {
        Net net = new Net(12, 2, 3, 4, 4);
        String pooled = net.node("GlobalAveragePool", List.of("h"));
        String z = net.node("Conv", List.of(pooled, net.weight(3, 3, 1, 1), net.weight(3)));
        String gate = net.node("Sigmoid", List.of(z));
        String y = net.node("Mul", gateFirst ? List.of(gate, "h") : List.of("h", gate));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(y))), net.shape, net.gaussian());
    }

    @Test
    void residualAddAndProductOfEqualShapes() {
        Net net = new Net(13, 2, 5);
        String a = net.node("Tanh", List.of(net.node("MatMul", List.of("h", net.weight(5, 5)))));
        String sum = net.node("Add", List.of(a, "h"));
        String product = net.node("Mul", List.of(sum, net.node("Sigmoid", List.of("h"))));
        checkAgainstFiniteDifferences(net.withHead(product), net.shape, net.gaussian());
    }

    @Test
    void batchNormalization() {
        Net net = new Net(6, 2, 3, 3, 3);
        float[] var = {0.5f, 2f, 0.1f};
        String bn = net.node("BatchNormalization", List.of("h", net.weight(3), net.weight(3), net.weight(3),
                net.constant(new long[] {3}, var)), Attribute.ofFloat("epsilon", 1e-3f));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(bn))), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(strings = {"LeakyRelu", "Relu", "Sigmoid", "Tanh", "Erf", "Dropout"})
    void elementwise(String op) {
        Net net = new Net(7, 2, 6);
        String a = op.equals("LeakyRelu")
                ? net.node(op, List.of("h"), Attribute.ofFloat("alpha", 0.2f))
                : net.node(op, List.of("h"));
        boolean kinked = op.endsWith("Relu");
        checkAgainstFiniteDifferences(net.withHead(a), net.shape, kinked ? net.spaced(0.1) : net.gaussian());
    }

    /** Inputs 0.275 apart from -3.0 to 3.0 reach the saturated sides and stay 0.025 or more off every kink. */
    @ParameterizedTest
    @ValueSource(strings = {"Elu", "Celu", "Selu", "Softplus", "Softsign", "HardSigmoid", "HardSwish"})
    void moreActivations(String op) {
        Net net = new Net(17, 2, 6);
        if (op.equals("HardSwish")) {
            net.opset = 14;
        }
        String a = switch (op) {
            case "Elu" -> net.node(op, List.of("h"), Attribute.ofFloat("alpha", 0.7f));
            case "Celu" -> net.node(op, List.of("h"), Attribute.ofFloat("alpha", 1.5f));
            default -> net.node(op, List.of("h"));
        };
        checkAgainstFiniteDifferences(net.withHead(a), net.shape, net.spaced(0.55));
    }

    @Test
    void geluAsErfPattern() {
        Net net = new Net(8, 2, 6);
        String d = net.node("Div", List.of("h", net.scalar((float) Math.sqrt(2))));
        String e = net.node("Erf", List.of(d));
        String p = net.node("Add", List.of(e, net.scalar(1f)));
        String m = net.node("Mul", List.of("h", p));
        String g = net.node("Mul", List.of(m, net.scalar(0.5f)));
        checkAgainstFiniteDifferences(net.withHead(g), net.shape, net.gaussian());
    }

    @Test
    void constantPadOfTheSpatialAxes() {
        Net net = new Net(16, 2, 2, 4, 5);
        String pads = net.longs(new long[] {0, 0, 1, 2, 0, 0, 2, 1});
        String p = net.node("Pad", List.of("h", pads));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(p))), net.shape, net.gaussian());
    }

    @Test
    void transposeToChannelsLast() {
        Net net = new Net(15, 2, 3, 4, 5);
        String t = net.node("Transpose", List.of("h"), Attribute.ofLongs("perm", 0, 2, 3, 1));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(t))), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void siluAsSigmoidTimesInput(boolean sigmoidFirst) {
        Net net = new Net(10, 2, 6);
        String s = net.node("Sigmoid", List.of("h"));
        String m = net.node("Mul", sigmoidFirst ? List.of(s, "h") : List.of("h", s));
        checkAgainstFiniteDifferences(net.withHead(m), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "tanh"})
    void geluOpset20(String approximate) {
        Net net = new Net(9, 2, 6);
        net.opset = 20;
        String g = net.node("Gelu", List.of("h"), Attribute.ofString("approximate", approximate));
        checkAgainstFiniteDifferences(net.withHead(g), net.shape, net.gaussian());
    }

    @Test
    void clip() {
        Net net = new Net(10, 2, 8);
        String c = net.node("Clip", List.of("h", net.scalar(-0.2f), net.scalar(0.3f)));
        checkAgainstFiniteDifferences(net.withHead(c), net.shape, net.spaced(0.1));
    }

    @Test
    void maxPoolOverlapping() {
        Net net = new Net(11, 2, 2, 5, 5);
        String p = net.node("MaxPool", List.of("h"), Attribute.ofLongs("kernel_shape", 3, 3),
                Attribute.ofLongs("strides", 1, 1), Attribute.ofLongs("pads", 1, 0, 0, 1));
        checkAgainstFiniteDifferences(net.withHead(p), net.shape, net.spaced(0.05));
    }

    @Test
    void maxPoolCeilMode() {
        Net net = new Net(12, 2, 2, 5, 6);
        String p = net.node("MaxPool", List.of("h"), Attribute.ofLongs("kernel_shape", 2, 3),
                Attribute.ofLongs("strides", 2, 2), Attribute.ofLong("ceil_mode", 1));
        checkAgainstFiniteDifferences(net.withHead(p), net.shape, net.spaced(0.05));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void averagePoolWithPads(int countIncludePad) {
        Net net = new Net(13, 2, 2, 6, 5);
        String p = net.node("AveragePool", List.of("h"), Attribute.ofLongs("kernel_shape", 3, 2),
                Attribute.ofLongs("strides", 2, 2), Attribute.ofLongs("pads", 1, 1, 1, 0),
                Attribute.ofLong("count_include_pad", countIncludePad));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(p))), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void averagePoolCeilMode(int countIncludePad) {
        Net net = new Net(14, 1, 2, 5, 5);
        String p = net.node("AveragePool", List.of("h"), Attribute.ofLongs("kernel_shape", 2, 2),
                Attribute.ofLongs("strides", 2, 2), Attribute.ofLongs("pads", 1, 0, 0, 0),
                Attribute.ofLong("ceil_mode", 1), Attribute.ofLong("count_include_pad", countIncludePad));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(p))), net.shape, net.gaussian());
    }

    @Test
    void globalAveragePool() {
        Net net = new Net(15, 2, 3, 4, 3);
        String p = net.node("GlobalAveragePool", List.of("h"));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(p))), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void reduceMeanOverTokens(int keepdims) {
        // [N, 4, 3]: the mean over the tokens (axis 1), as before a transformer's head
        Net net = new Net(17, 2, 4, 3);
        String h = net.node("Tanh", List.of(net.node("MatMul", List.of("h", net.weight(3, 3)))));
        String p = net.node("ReduceMean", List.of(h), Attribute.ofLongs("axes", 1), Attribute.ofLong("keepdims",
                keepdims));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(p))), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void reduceSumOverTokens(int keepdims) {
        // [N, 4, 3]: the sum over the tokens (axis 1) of masked mean pooling, its axes an input (opset 13 on)
        Net net = new Net(23, 2, 4, 3);
        String h = net.node("Tanh", List.of(net.node("MatMul", List.of("h", net.weight(3, 3)))));
        String axes = "axes" + (net.count++);
        net.inits.add(Tensor.ofLongs(axes, new long[] {1}, new long[] {1}));
        String p = net.node("ReduceSum", List.of(h, axes), Attribute.ofLong("keepdims", keepdims));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(p))), net.shape, net.gaussian());
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void gatherOfOnePosition(boolean scalarIndex) {
        // [N, 4, 3]: the class token x[:, 0] (a scalar index drops the axis), or x[:, 2:3] as Gather of [2]
        Net net = new Net(19, 2, 4, 3);
        String h = net.node("Tanh", List.of(net.node("MatMul", List.of("h", net.weight(3, 3)))));
        String index = "i" + (net.count++);
        net.inits.add(scalarIndex ? Tensor.ofLongs(index, new long[0], new long[] {0})
                : Tensor.ofLongs(index, new long[] {1}, new long[] {2}));
        String p = net.node("Gather", List.of(h, index), Attribute.ofLong("axis", 1));
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(p))), net.shape, net.gaussian());
    }

    @Test
    void layerNormDecomposedAsTorchExportsIt() {
        Net net = new Net(18, 2, 3, 5);
        String z = net.node("MatMul", List.of("h", net.weight(5, 5)));
        String mean = net.node("ReduceMean", List.of(z), Attribute.ofLongs("axes", -1));
        String d = net.node("Sub", List.of(z, mean));
        String variance = net.node("ReduceMean", List.of(net.node("Pow", List.of(d, net.scalar(2f)))),
                Attribute.ofLongs("axes", -1));
        String std = net.node("Sqrt", List.of(net.node("Add", List.of(variance, net.scalar(1e-5f)))));
        String normalised = net.node("Div", List.of(d, std));
        String y = net.node("Add", List.of(net.node("Mul", List.of(normalised, net.weight(5))), net.weight(5)));
        // the skip reads z too, as in a residual stream
        checkAgainstFiniteDifferences(net.withHead(net.node("Tanh", List.of(net.node("Add", List.of(y, z))))),
                net.shape, net.gaussian());
    }

    @Test
    void flattenAndReshape() {
        Net net = new Net(16, 2, 2, 3, 2);
        String r = net.node("Reshape", List.of("h", "shape"));
        net.inits.add(Tensor.ofLongs("shape", new long[] {3}, new long[] {0, 3, -1}));
        String f = net.node("Flatten", List.of(net.node("Tanh", List.of(r))), Attribute.ofLong("axis", 1));
        checkAgainstFiniteDifferences(net.withHead(f), net.shape, net.gaussian());
    }

    // ------------------------------------------------------------------ errors

    @Test
    void unsupportedOpIsNamed() {
        Net net = new Net(17, 2, 4);
        String s = net.node("Sin", List.of("h"));
        Model m = net.withHead(s);
        OnnxFuseException e = assertThrows(OnnxFuseException.class,
                () -> GradientGraph.build(m, List.of("h", "logits"), Rule.GRADIENT));
        assertEquals(ErrorCode.UNSUPPORTED_OP, e.code());
        assertTrue(e.getMessage().contains("'" + s + "' (Sin)"), e.getMessage());
        assertTrue(e.getMessage().contains("MaxPool"), "lists what is supported: " + e.getMessage());
    }

    @Test
    void oldOpsetIsRefused() {
        Net net = new Net(18, 2, 4);
        Model m = net.withHead(net.node("Relu", List.of("h")));
        Model old = new Model(7, List.of(new org.onnxfuse.onnx.ir.OpsetImport("", 11)), "", "", "", 0, "", Map.of(),
                m.graph(), null, null);
        OnnxFuseException e = assertThrows(OnnxFuseException.class,
                () -> GradientGraph.build(old, List.of("h", "logits"), Rule.GRADIENT));
        assertEquals(ErrorCode.UNSUPPORTED_OP, e.code());
        assertTrue(e.getMessage().contains("opset 11"), e.getMessage());
    }

    // ------------------------------------------------------------------ fixture parents

    private static final int SAMPLES = 4;

    private static long[] inputShape(Model m) {
        long[] dims = m.graph().feedInputs().get(0).tensorType().dimsOrMinusOne();
        dims[0] = SAMPLES;
        return dims;
    }

    /** The part of {@code m} from {@code cut} (now its only input) to {@code output}. */
    private static Model tail(Model m, String cut, String output) {
        Graph g = m.graph();
        Set<org.onnxfuse.onnx.ir.Node> keep = new HashSet<>();
        Set<String> seen = new HashSet<>();
        Deque<String> work = new ArrayDeque<>(List.of(output));
        while (!work.isEmpty()) {
            String v = work.pop();
            if (v.equals(cut) || !seen.add(v)) {
                continue;
            }
            g.producer(v).ifPresent(n -> {
                if (keep.add(n)) {
                    n.inputs().stream().filter(s -> !s.isEmpty()).forEach(work::push);
                }
            });
        }
        Graph.Builder b = g.toBuilder();
        b.nodes(g.nodes().stream().filter(keep::contains).toList());
        b.initializers(g.initializers().values().stream().filter(t -> seen.contains(t.name())).toList());
        b.inputs(List.of(ValueInfo.tensor(cut, new TensorType(DataType.FLOAT, null))));
        b.valueInfos(List.of());
        b.outputs(List.of(ValueInfo.tensor(output, new TensorType(DataType.FLOAT, null))));
        return m.withGraph(b.build());
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp_k2_p0", "vgg_p0", "bn_p0", "gap_p0", "zoo_p0", "mlpmm_p0"})
    void fixtureGradientsMatchDirectionalDifferences(String name) {
        Model m = Fixtures.read(name + ".onnx");
        List<String> cuts = LevelPlanner.plan(m).cuts();
        String logitsName = cuts.get(cuts.size() - 1);
        long[] shape = inputShape(m);
        // uniform noise, not the test images: their blank regions give equal values in MaxPool
        // windows, where the routed gradient is one subgradient and finite differences another
        Random rng = new Random(name.hashCode());
        float[] x = new float[Math.toIntExact(Tensor.elementCount(shape))];
        for (int i = 0; i < x.length; i++) {
            x[i] = rng.nextFloat();
        }
        long[] y = labels(SAMPLES);
        Map<String, CutGradient> out;
        try (GradientRunner r = GradientRunner.open(name, m, cuts, Rule.GRADIENT, Fixtures.THREADS)) {
            out = r.run(x, shape, y);
        }
        for (String cut : cuts) {
            CutGradient cg = out.get(cut);
            float[] c = cg.value().values();
            float[] grad = cg.gradient().values();
            assertTrue(Arrays.equals(cg.value().shape(), cg.gradient().shape()), cut + ": gradient has the cut's shape");
            double rms = 0;
            for (float v : c) {
                rms += v * v;
            }
            rms = Math.sqrt(rms / c.length);
            int directions = 3;
            float[] batch = new float[2 * directions * c.length];
            double[] predicted = new double[directions];
            double[] magnitude = new double[directions];
            double h = 1e-3 * rms;
            for (int k = 0; k < directions; k++) {
                for (int i = 0; i < c.length; i++) {
                    double v = rng.nextGaussian();
                    predicted[k] += v * grad[i];
                    magnitude[k] += Math.abs(v * grad[i]);
                    batch[2 * k * c.length + i] = (float) (c[i] + h * v);
                    batch[(2 * k + 1) * c.length + i] = (float) (c[i] - h * v);
                }
            }
            long[] big = cg.value().shape();
            big[0] *= 2L * directions;
            float[] logits;
            try (OrtRunner r = OrtRunner.open(name + " tail", tail(m, cut, logitsName), List.of(), 1)) {
                logits = r.run(batch, big, List.of(logitsName)).get(logitsName).values();
            }
            double[] f = objective(logits, y, 2 * directions);
            for (int k = 0; k < directions; k++) {
                double fd = (f[2 * k] - f[2 * k + 1]) / (2 * h);
                // smooth parents agree to ~1e-4 relative; with Relu and MaxPool a few units cross a
                // kink within the step, which costs up to ~2e-3 of sum |v_i g_i| (measured)
                assertEquals(predicted[k], fd, 1e-2 * Math.abs(predicted[k]) + 4e-3 * magnitude[k],
                        name + " cut " + cut + " direction " + k);
            }
        }
    }

    // ------------------------------------------------------------------ DeepLIFT rescale

    /**
     * Completeness: per sample, sum over the cut's neurons of (c(x) - c(x0)) times the multiplier
     * equals F(x) - F(x0), exact for graphs of linear ops and rescaled elementwise ops.
     */
    private static void checkCompleteness(String name, List<String> checkedCuts) {
        Model m = Fixtures.read(name + ".onnx");
        List<String> cuts = LevelPlanner.plan(m).cuts();
        String logitsName = cuts.get(cuts.size() - 1);
        long[] shape = inputShape(m);
        float[] x;
        try (NpyArray a = Fixtures.array("test_x.npy")) {
            x = a.readFloats(0, SAMPLES);
        }
        long[] y = labels(SAMPLES);
        Map<String, CutGradient> out;
        try (GradientRunner r = GradientRunner.open(name, m, cuts, Rule.RESCALE, Fixtures.THREADS)) {
            out = r.run(x, shape, y);
        }
        float[] z = out.get(logitsName).value().values();
        float[] z0 = out.get(logitsName).baseline().values();
        int classes = z0.length;
        for (String cut : checkedCuts.isEmpty() ? cuts : checkedCuts) {
            CutGradient cg = out.get(cut);
            float[] c = cg.value().values();
            float[] c0 = cg.baseline().values();
            float[] mult = cg.gradient().values();
            assertEquals(c.length, SAMPLES * c0.length, "baseline has batch 1");
            int per = c0.length;
            for (int n = 0; n < SAMPLES; n++) {
                double sum = 0;
                double abs = 0;
                for (int j = 0; j < per; j++) {
                    double term = (c[n * per + j] - (double) c0[j]) * mult[n * per + j];
                    sum += term;
                    abs += Math.abs(term);
                }
                int label = (int) y[n];
                double delta = (double) z[n * classes + label] - z0[label];
                assertEquals(delta, sum, 1e-3 * abs + 1e-3 * Math.abs(delta) + 1e-4,
                        name + " cut " + cut + " sample " + n);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp_k2_p0", "zoo_p0", "gap_p0", "mlpmm_p0"})
    void rescaleMultipliersAreComplete(String name) {
        checkCompleteness(name, List.of());
    }

    @Test
    void rescaleIsCompleteAfterTheLastMaxPool() {
        // MaxPool routes the multiplier to the window's maximum at x, but max(x) - max(x0) need not
        // be the difference at that position, so completeness holds only for the cuts after the
        // last MaxPool; in vgg that is the logits alone.
        Model m = Fixtures.read("vgg_p0.onnx");
        List<String> cuts = LevelPlanner.plan(m).cuts();
        checkCompleteness("vgg_p0", List.of(cuts.get(cuts.size() - 1)));
    }

    @Test
    void rescaleDiffersFromGradientOnAReluMlp() {
        Model m = Fixtures.read("mlp_k2_p0.onnx");
        List<String> cuts = LevelPlanner.plan(m).cuts();
        long[] shape = inputShape(m);
        float[] x;
        try (NpyArray a = Fixtures.array("test_x.npy")) {
            x = a.readFloats(0, SAMPLES);
        }
        long[] y = labels(SAMPLES);
        float[] gradient;
        float[] rescale;
        try (GradientRunner r = GradientRunner.open("g", m, cuts, Rule.GRADIENT, 1)) {
            gradient = r.run(x, shape, y).get(cuts.get(0)).gradient().values();
        }
        try (GradientRunner r = GradientRunner.open("r", m, cuts, Rule.RESCALE, 1)) {
            CutGradient cg = r.run(x, shape, y).get(cuts.get(0));
            rescale = cg.gradient().values();
            assertEquals(cuts.get(0), cg.value().name());
        }
        double maxDiff = 0;
        int differing = 0;
        for (int i = 0; i < gradient.length; i++) {
            double d = Math.abs(gradient[i] - rescale[i]);
            maxDiff = Math.max(maxDiff, d);
            if (d > 1e-4) {
                differing++;
            }
        }
        assertTrue(maxDiff > 1e-2 && differing > 0, "rescale multipliers equal the gradient: max difference "
                + maxDiff);
    }
}
