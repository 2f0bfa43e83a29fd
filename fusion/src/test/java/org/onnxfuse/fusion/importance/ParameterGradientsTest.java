package org.onnxfuse.fusion.importance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.IntegerBatch;
import org.onnxfuse.fusion.importance.ParameterGradientRunner.Step;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
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
 * Every parameter-gradient rule against central finite differences of the weighted MSE, and the
 * KL distillation loss against its definition and finite differences. The
 * forward passes run in ONNX Runtime (float32); the loss of each perturbed run is recomputed in
 * float64 from the returned outputs, and the step is the difference of the perturbed values as
 * float32 holds them. Tolerance per element: 1e-3 of the parameter's largest gradient plus 1e-4
 * (5e-3 where a Relu's kinks lie within a step of some of its inputs).
 */
class ParameterGradientsTest {
    private static final double TOLERANCE = 1e-3;

    /** A one-input model x -> nodes -> y of one opset, with named initializers. */
    private static final class Segment {
        final Random rng;
        final long opset;
        final long[] xShape;
        private final List<Node> nodes = new ArrayList<>();
        private final Map<String, Tensor> initializers = new HashMap<>();

        Segment(long seed, long opset, long... xShape) {
            this.rng = new Random(seed);
            this.opset = opset;
            this.xShape = xShape;
        }

        /** Adds a node whose output is named after its op and position. */
        String node(String op, List<String> inputs, Attribute... attrs) {
            String out = op.toLowerCase() + nodes.size();
            nodes.add(Node.of(out, op, inputs, List.of(out), attrs));
            return out;
        }

        String weight(String name, long... dims) {
            float[] v = new float[Math.toIntExact(Tensor.elementCount(dims))];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (rng.nextGaussian() * 0.5);
            }
            return constant(name, dims, v);
        }

        /** Values in [low, high): variances, divisors. */
        String positive(String name, double low, double high, long... dims) {
            float[] v = new float[Math.toIntExact(Tensor.elementCount(dims))];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (low + (high - low) * rng.nextDouble());
            }
            return constant(name, dims, v);
        }

        String constant(String name, long[] dims, float[] v) {
            initializers.put(name, Tensor.ofFloats(name, dims, v));
            return name;
        }

        String longs(String name, long... v) {
            initializers.put(name, Tensor.ofLongs(name, new long[] {v.length}, v));
            return name;
        }

        /** The model of x and {@code more} inputs to {@code y}. */
        Model model(String y, ValueInfo... more) {
            List<Dim> dims = new ArrayList<>();
            dims.add(Dim.symbol("N"));
            for (int i = 1; i < xShape.length; i++) {
                dims.add(Dim.of(xShape[i]));
            }
            Graph.Builder b = Graph.builder().name("segment").addInput(ValueInfo.tensor("x",
                    new TensorType(DataType.FLOAT, dims)));
            for (ValueInfo in : more) {
                b.addInput(in);
            }
            Graph g = b.nodes(nodes).initializers(List.copyOf(initializers.values()))
                    .addOutput(ValueInfo.tensor(y, new TensorType(DataType.FLOAT, null))).build();
            return Model.of(g, opset);
        }

        float[] gaussian(long[] shape) {
            float[] v = new float[Math.toIntExact(Tensor.elementCount(shape))];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) rng.nextGaussian();
            }
            return v;
        }
    }

    /** What a finite-difference check needs: the model, its feeds for given parameters and the loss in float64. */
    private interface LossCheck {
        String y();

        ParameterGradients gradients();

        Map<String, Activation> feeds(Map<String, float[]> parameters);

        /** The loss recomputed in float64 from the segment output {@code out}. */
        double loss(Activation out);

        /** The int64 or bool segment inputs (masks), fed as they are. */
        default Map<String, IntegerBatch> integers() {
            return Map.of();
        }

        default Map<String, float[]> initialParameters() {
            Map<String, float[]> values = new HashMap<>();
            gradients().initialValues().forEach((p, t) -> values.put(p, t.toFloats()));
            return values;
        }
    }

    /**
     * Everything one check feeds: the segment input x, any int64 or bool inputs, the targets and the per-neuron
     * weights; the parameters vary.
     */
    private record Problem(Segment segment, String y, ParameterGradients gradients, Activation x,
                           Map<String, IntegerBatch> integers, Activation target, Activation weights, int axis)
            implements LossCheck {
        @Override
        public Map<String, Activation> feeds(Map<String, float[]> parameters) {
            Map<String, Activation> feeds = new HashMap<>();
            feeds.put(x.name(), x);
            feeds.put(SegmentLoss.targetName(y), target);
            feeds.put(SegmentLoss.weightName(y), weights);
            parameters.forEach((p, v) -> feeds.put(p, new Activation(p, gradients.initialValues().get(p).dims(), v)));
            return feeds;
        }

        /** sum_j w_j mean((y_j - t_j)^2), in float64. */
        @Override
        public double loss(Activation out) {
            long[] shape = out.shape();
            int neurons = (int) shape[axis];
            long inner = 1;
            for (int i = axis + 1; i < shape.length; i++) {
                inner *= shape[i];
            }
            double[] sums = new double[neurons];
            float[] yv = out.values();
            float[] tv = target.values();
            for (int i = 0; i < yv.length; i++) {
                double d = (double) yv[i] - tv[i];
                sums[(int) ((i / inner) % neurons)] += d * d;
            }
            double perNeuron = (double) yv.length / neurons;
            double loss = 0;
            for (int j = 0; j < neurons; j++) {
                loss += weights.values()[j] * sums[j] / perNeuron;
            }
            return loss;
        }
    }

    private static Problem problem(Segment s, String y, int neuronAxis, List<String> parameters) {
        Model m = s.model(y);
        float[] x = s.gaussian(s.xShape);
        long[] yShape;
        try (OrtRunner r = OrtRunner.open("probe", m, List.of(), 1)) {
            yShape = r.run(x, s.xShape, List.of(y)).get(y).shape();
        }
        int axis = neuronAxis < 0 ? neuronAxis + yShape.length : neuronAxis;
        float[] w = new float[(int) yShape[axis]];
        for (int j = 0; j < w.length; j++) {
            w[j] = (float) (0.5 + s.rng.nextDouble());
        }
        ParameterGradients g = GradientGraph.forParameters(m, List.of("x"), List.of(y), parameters,
                new SegmentLoss.WeightedMse(neuronAxis));
        return new Problem(s, y, g, new Activation("x", s.xShape, x), Map.of(),
                new Activation("t", yShape, s.gaussian(yShape)),
                new Activation("w", new long[] {w.length}, w), axis);
    }

    private static void checkAgainstFiniteDifferences(Segment s, String y, int neuronAxis, String... parameters) {
        checkAgainstFiniteDifferences(problem(s, y, neuronAxis, List.of(parameters)), 1e-2, TOLERANCE);
    }

    private static void checkAgainstFiniteDifferences(LossCheck problem, double step, double tolerance) {
        Map<String, float[]> params = problem.initialParameters();
        try (ParameterGradientRunner runner = ParameterGradientRunner.open(problem.gradients(), 1)) {
            Step at = runner.run(problem.feeds(params), problem.integers());
            assertEquals(problem.loss(at.outputs().get(problem.y())), at.loss(), 1e-5 * Math.abs(at.loss()),
                    "loss output");
            for (String p : problem.gradients().parameters()) {
                float[] analytic = at.gradients().get(p).values();
                assertTrue(Arrays.equals(at.gradients().get(p).shape(), problem.gradients().initialValues().get(p)
                        .dims()), "gradient of " + p + " has its shape");
                double scale = 0;
                for (float g : analytic) {
                    scale = Math.max(scale, Math.abs(g));
                }
                assertTrue(scale > 1e-3, "gradient of " + p + " is not all zero");
                float[] values = params.get(p);
                for (int i = 0; i < values.length; i++) {
                    float original = values[i];
                    float up = (float) (original + step);
                    float down = (float) (original - step);
                    values[i] = up;
                    double lossUp = problem.loss(runner.run(problem.feeds(params), problem.integers()).outputs()
                            .get(problem.y()));
                    values[i] = down;
                    double lossDown = problem.loss(runner.run(problem.feeds(params), problem.integers()).outputs()
                            .get(problem.y()));
                    values[i] = original;
                    double fd = (lossUp - lossDown) / ((double) up - (double) down);
                    assertEquals(fd, analytic[i], tolerance * scale + 1e-4, p + "[" + i + "] of " + values.length);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void gemmWithAlphaBetaAndTransB(int transB) {
        Segment s = new Segment(1, 13, 4, 5);
        String b = transB == 1 ? s.weight("B", 3, 5) : s.weight("B", 5, 3);
        String y = s.node("Gemm", List.of("x", b, s.weight("C", 3)), Attribute.ofFloat("alpha", 0.7f),
                Attribute.ofFloat("beta", 1.3f), Attribute.ofLong("transB", transB));
        checkAgainstFiniteDifferences(s, y, -1, "B", "C");
    }

    /** A^T B with A fed as [5, 4]: the activation's rows are its features. */
    @Test
    void gemmWithTransA() {
        Segment s = new Segment(16, 13, 5, 4);
        String y = s.node("Gemm", List.of("x", s.weight("B", 5, 3), s.weight("C", 3)), Attribute.ofLong("transA", 1),
                Attribute.ofFloat("alpha", 1.5f));
        checkAgainstFiniteDifferences(s, y, -1, "B", "C");
    }

    @Test
    void matMulWithTheWeightOnTheLeft() {
        Segment s = new Segment(17, 13, 5, 3);
        String y = s.node("MatMul", List.of(s.weight("W", 2, 5), "x"));
        checkAgainstFiniteDifferences(s, y, 0, "W");
    }

    @Test
    void oneDimensionalConvWithStrideDilationAndPads() {
        Segment s = new Segment(18, 13, 2, 3, 11);
        String y = s.node("Conv", List.of("x", s.weight("W", 4, 3, 3), s.weight("B", 4)),
                Attribute.ofLongs("strides", 2), Attribute.ofLongs("dilations", 2), Attribute.ofLongs("pads", 1, 2));
        checkAgainstFiniteDifferences(s, y, 1, "W", "B");
    }

    /** Normalized over the last two axes: Scale and B are [positions, features]. */
    @Test
    void layerNormalizationOverTwoAxes() {
        Segment s = new Segment(19, 17, 2, 3, 4);
        String y = s.node("LayerNormalization", List.of("x", s.weight("scale", 3, 4), s.weight("bias", 3, 4)),
                Attribute.ofLong("axis", -2));
        checkAgainstFiniteDifferences(s, y, -1, "scale", "bias");
    }

    @Test
    void gemmWithRowBias() {
        Segment s = new Segment(2, 13, 3, 4);
        String y = s.node("Gemm", List.of("x", s.weight("B", 4, 2), s.weight("C", 1, 2)), Attribute.ofFloat("beta", 0.5f));
        checkAgainstFiniteDifferences(s, y, 1, "B", "C");
    }

    @Test
    void matMulOverPositionsWithBiasAdd() {
        Segment s = new Segment(3, 13, 2, 3, 5);
        String z = s.node("MatMul", List.of("x", s.weight("W", 5, 4)));
        String y = s.node("Add", List.of(z, s.weight("bias", 4)));
        checkAgainstFiniteDifferences(s, y, -1, "W", "bias");
    }

    /** Group 1 and 2, a non-square kernel, strides, asymmetric pads and dilations on both axes. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void convWithStridePaddingAndDilation(int group) {
        Segment s = new Segment(4 + group, 13, 2, 4, 9, 8);
        String y = s.node("Conv", List.of("x", s.weight("W", 6, 4 / group, 3, 2), s.weight("B", 6)),
                Attribute.ofLong("group", group), Attribute.ofLongs("kernel_shape", 3, 2),
                Attribute.ofLongs("strides", 2, 1), Attribute.ofLongs("pads", 1, 0, 2, 1),
                Attribute.ofLongs("dilations", 2, 2));
        checkAgainstFiniteDifferences(s, y, 1, "W", "B");
    }

    @Test
    void depthwiseConvWithStride() {
        Segment s = new Segment(6, 13, 2, 3, 6, 6);
        String y = s.node("Conv", List.of("x", s.weight("W", 3, 1, 3, 3), s.weight("B", 3)),
                Attribute.ofLong("group", 3), Attribute.ofLongs("strides", 2, 2), Attribute.ofLongs("pads", 1, 1, 1, 1));
        checkAgainstFiniteDifferences(s, y, 1, "W", "B");
    }

    @Test
    void batchNormalizationScaleAndBias() {
        Segment s = new Segment(7, 13, 3, 4, 3, 3);
        String y = s.node("BatchNormalization", List.of("x", s.weight("scale", 4), s.weight("bias", 4),
                s.weight("mean", 4), s.positive("var", 0.5, 2, 4)), Attribute.ofFloat("epsilon", 1e-3f));
        checkAgainstFiniteDifferences(s, y, 1, "scale", "bias");
    }

    @Test
    void layerNormalizationAfterMatMul() {
        Segment s = new Segment(8, 17, 2, 3, 5);
        String z = s.node("MatMul", List.of("x", s.weight("W", 5, 6)));
        String y = s.node("LayerNormalization", List.of(z, s.weight("scale", 6), s.weight("bias", 6)),
                Attribute.ofLong("axis", -1), Attribute.ofFloat("epsilon", 1e-5f));
        checkAgainstFiniteDifferences(s, y, -1, "W", "scale", "bias");
    }

    @Test
    void perChannelMulSubDivOnEitherSide() {
        Segment s = new Segment(9, 13, 2, 3, 4, 4);
        String scaled = s.node("Mul", List.of("x", s.weight("scale", 3, 1, 1)));
        String gated = s.node("Mul", List.of(s.weight("gain", 3, 1, 1), scaled));
        String shifted = s.node("Sub", List.of(s.weight("shift", 3, 1, 1), gated));
        String lowered = s.node("Sub", List.of(shifted, s.weight("offset", 3, 1, 1)));
        String y = s.node("Div", List.of(lowered, s.positive("divisor", 0.8, 1.6, 3, 1, 1)));
        checkAgainstFiniteDifferences(s, y, 1, "scale", "gain", "shift", "offset", "divisor");
    }

    @Test
    void classTokenConcatAndPositionEmbedding() {
        Segment s = new Segment(10, 17, 2, 4, 6);
        String batch = s.node("Shape", List.of("x"), Attribute.ofLong("start", 0), Attribute.ofLong("end", 1));
        String target = s.node("Concat", List.of(batch, s.longs("rest", 1, 6)), Attribute.ofLong("axis", 0));
        String tokens = s.node("Expand", List.of(s.weight("cls", 1, 1, 6), target));
        String joined = s.node("Concat", List.of(tokens, "x"), Attribute.ofLong("axis", 1));
        String y = s.node("Add", List.of(joined, s.weight("position", 1, 5, 6)));
        checkAgainstFiniteDifferences(s, y, -1, "cls", "position");
    }

    @Test
    void selfAttentionWithHeadsComputedFromTheInputShape() {
        // q, k, v projections, [N, T, D] -> [N, T, H, d] -> heads first, scores scaled, Softmax over the keys,
        // weights times v, heads merged back by a target computed from the input's shape, output projection
        Segment s = new Segment(12, 17, 2, 5, 6);
        String q = s.node("Add", List.of(s.node("MatMul", List.of("x", s.weight("Wq", 6, 6))), s.weight("bq", 6)));
        String k = s.node("Add", List.of(s.node("MatMul", List.of("x", s.weight("Wk", 6, 6))), s.weight("bk", 6)));
        String v = s.node("Add", List.of(s.node("MatMul", List.of("x", s.weight("Wv", 6, 6))), s.weight("bv", 6)));
        String front = s.node("Shape", List.of("x"), Attribute.ofLong("start", 0), Attribute.ofLong("end", 2));
        String split = s.node("Concat", List.of(front, s.longs("heads", 3, 2)), Attribute.ofLong("axis", 0));
        String merged = s.node("Concat", List.of(front, s.longs("width", 6)), Attribute.ofLong("axis", 0));
        String qh = s.node("Transpose", List.of(s.node("Reshape", List.of(q, split))), Attribute.ofLongs("perm", 0, 2,
                1, 3));
        String kh = s.node("Transpose", List.of(s.node("Reshape", List.of(k, split))), Attribute.ofLongs("perm", 0, 2,
                3, 1));
        String vh = s.node("Transpose", List.of(s.node("Reshape", List.of(v, split))), Attribute.ofLongs("perm", 0, 2,
                1, 3));
        String scores = s.node("Mul", List.of(s.node("MatMul", List.of(qh, kh)), s.constant("scale", new long[0],
                new float[] {0.7f})));
        // a bias per head and query/key pair (a relative-position bias), trained with the attention
        String biased = s.node("Add", List.of(scores, s.weight("bias", 1, 3, 5, 5)));
        String weights = s.node("Softmax", List.of(biased), Attribute.ofLong("axis", -1));
        String heads = s.node("Transpose", List.of(s.node("MatMul", List.of(weights, vh))), Attribute.ofLongs("perm", 0,
                2, 1, 3));
        String attended = s.node("Reshape", List.of(heads, merged));
        String y = s.node("Add", List.of(s.node("MatMul", List.of(attended, s.weight("Wo", 6, 6))), s.weight("bo", 6)));
        checkAgainstFiniteDifferences(s, y, -1, "Wq", "bq", "Wk", "Wv", "bv", "Wo", "bo", "bias");
    }

    @Test
    void slicesOfPositionsWithStepsAndAShiftedConcat() {
        // Swin's patch merging (every other token from 1) and cyclic shift (torch.roll as two Slices and a Concat)
        Segment s = new Segment(18, 17, 2, 7, 4);
        String z = s.node("MatMul", List.of("x", s.weight("W", 4, 5)));
        String odd = s.node("Slice", List.of(z, s.longs("s1", 1), s.longs("e1", 7), s.longs("a1", 1), s.longs("t1", 2)));
        String tail = s.node("Slice", List.of(z, s.longs("s2", 4), s.longs("e2", 100), s.longs("a2", 1)));
        String head = s.node("Slice", List.of(z, s.longs("s3", 0), s.longs("e3", 4), s.longs("a3", 1)));
        String rolled = s.node("Concat", List.of(tail, head, odd), Attribute.ofLong("axis", 1));
        String y = s.node("Add", List.of(rolled, s.weight("b", 5)));
        checkAgainstFiniteDifferences(s, y, -1, "W", "b");
    }

    @Test
    void convBatchNormReluConvWithResidualAdd() {
        Segment s = new Segment(11, 13, 2, 3, 5, 5);
        Attribute same = Attribute.ofLongs("pads", 1, 1, 1, 1);
        String c1 = s.node("Conv", List.of("x", s.weight("W1", 3, 3, 3, 3), s.weight("B1", 3)), same);
        String bn = s.node("BatchNormalization", List.of(c1, s.weight("scale", 3), s.weight("bias", 3),
                s.weight("mean", 3), s.positive("var", 0.5, 2, 3)));
        String r = s.node("Relu", List.of(bn));
        String c2 = s.node("Conv", List.of(r, s.weight("W2", 3, 3, 3, 3), s.weight("B2", 3)), same);
        String y = s.node("Add", List.of("x", c2));
        Problem p = problem(s, y, 1, List.of("W1", "B1", "scale", "bias", "W2", "B2"));
        checkAgainstFiniteDifferences(p, 1e-3, 5e-3);
    }

    @Test
    void maskInputsOfIntegersAreDataOfTheirTypeWithoutGradients() {
        // a bool mask filling -3 where it is set (torch's key_padding_mask) and an int64 one made additive
        // (HuggingFace's (1 - mask) * -1e4, here Cast * -2): segment inputs declared BOOL and INT64, whose
        // Where, Cast and Mul need no gradient rule; the parameters' gradients match finite differences
        Segment s = new Segment(19, 17, 3, 4);
        String z = s.node("Gemm", List.of("x", s.weight("W", 4, 5), s.weight("b", 5)));
        String filled = s.node("Where", List.of("keep", s.constant("zero", new long[0], new float[] {0f}),
                s.constant("minus", new long[0], new float[] {-3f})));
        String additive = s.node("Mul", List.of(s.node("Cast", List.of("pad"), Attribute.ofLong("to", 1)),
                s.constant("scale", new long[0], new float[] {-2f})));
        String y = s.node("Tanh", List.of(s.node("Add", List.of(s.node("Add", List.of(z, filled)), additive))));
        List<Dim> rows = List.of(Dim.symbol("N"), Dim.of(5));
        Model m = s.model(y, ValueInfo.tensor("keep", new TensorType(DataType.BOOL, rows)),
                ValueInfo.tensor("pad", new TensorType(DataType.INT64, rows)));
        ParameterGradients g = GradientGraph.forParameters(m, List.of("x", "keep", "pad"), List.of(y),
                List.of("W", "b"), new SegmentLoss.WeightedMse(1));
        Map<String, DataType> types = new HashMap<>();
        g.model().graph().inputs().forEach(v -> types.put(v.name(), v.tensorType().elementType()));
        assertEquals(DataType.BOOL, types.get("keep"));
        assertEquals(DataType.INT64, types.get("pad"));
        long[] shape = {3, 5};
        Map<String, IntegerBatch> masks = Map.of(
                "keep", new IntegerBatch(0, 3, shape, new long[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0}),
                "pad", new IntegerBatch(0, 3, shape, new long[] {0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}));
        Problem p = new Problem(s, y, g, new Activation("x", new long[] {3, 4}, s.gaussian(new long[] {3, 4})), masks,
                new Activation("t", shape, s.gaussian(shape)), new Activation("w", new long[] {5},
                new float[] {0.7f, 1.2f, 0.9f, 1.1f, 0.8f}), 1);
        checkAgainstFiniteDifferences(p, 1e-2, TOLERANCE);
        try (ParameterGradientRunner runner = ParameterGradientRunner.open(g, 1)) {
            Map<String, IntegerBatch> open = Map.of("keep", new IntegerBatch(0, 3, shape, new long[15]),
                    "pad", new IntegerBatch(0, 3, shape, new long[15]));
            float[] masked = runner.run(p.feeds(p.initialParameters()), masks).outputs().get(y).values();
            float[] unmasked = runner.run(p.feeds(p.initialParameters()), open).outputs().get(y).values();
            assertTrue(!Arrays.equals(masked, unmasked), "the masks reach the output");
        }
    }

    /** A segment that starts and ends inside the model: its input's shape is worked out from the model's. */
    @Test
    void segmentBetweenInnerValues() {
        Segment s = new Segment(15, 13, 3, 4);
        String hidden = s.node("Relu", List.of(s.node("Gemm", List.of("x", s.weight("W0", 4, 5)))));
        String y = s.node("Gemm", List.of(hidden, s.weight("W1", 5, 2), s.weight("b1", 2)));
        String after = s.node("Softmax", List.of(y));
        ParameterGradients g = GradientGraph.forParameters(s.model(after), List.of(hidden), List.of(y),
                List.of("W1", "b1"), new SegmentLoss.WeightedMse(1));
        assertEquals(List.of(hidden, "W1", "b1", SegmentLoss.targetName(y), SegmentLoss.weightName(y)),
                g.model().graph().inputs().stream().map(ValueInfo::name).toList());
        assertEquals(List.of(Dim.symbol("N"), Dim.of(5)), g.model().graph().inputs().get(0).tensorType().shape());
        Problem p = new Problem(s, y, g, new Activation(hidden, new long[] {3, 5}, s.gaussian(new long[] {3, 5})),
                Map.of(), new Activation("t", new long[] {3, 2}, s.gaussian(new long[] {3, 2})),
                new Activation("w", new long[] {2}, new float[] {0.7f, 1.2f}), 1);
        checkAgainstFiniteDifferences(p, 1e-2, TOLERANCE);
    }

    @Test
    void segmentReadingAValueOutsideItIsRefused() {
        Segment s = new Segment(16, 13, 3, 4);
        String hidden = s.node("Gemm", List.of("x", s.weight("W0", 4, 4)));
        String y = s.node("Add", List.of(s.node("Gemm", List.of(hidden, s.weight("W1", 4, 4))), "x"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GradientGraph.forParameters(
                s.model(y), List.of(hidden), List.of(y), List.of("W1"), new SegmentLoss.WeightedMse(1)));
        assertTrue(e.getMessage().contains("reads 'x'"), e.getMessage());
    }

    @Test
    void upstreamGradientGivesTheGradientsOfTheCallersLoss() {
        Segment s = new Segment(12, 13, 3, 4);
        String y = s.node("Tanh", List.of(s.node("Gemm", List.of("x", s.weight("B", 4, 3), s.weight("C", 3)))));
        Problem mse = problem(s, y, 1, List.of("B", "C"));
        ParameterGradients upstream = GradientGraph.forParameters(s.model(y), List.of("x"), List.of(y),
                List.of("B", "C"), new SegmentLoss.Upstream());
        Map<String, float[]> params = mse.initialParameters();
        Step expected;
        try (ParameterGradientRunner runner = ParameterGradientRunner.open(mse.gradients(), 1)) {
            expected = runner.run(mse.feeds(params));
        }
        // dL/dy of the weighted MSE: 2 w_j (y - t) / (elements per neuron)
        Activation out = expected.outputs().get(y);
        float[] dy = new float[out.values().length];
        int neurons = (int) out.dim(1);
        for (int i = 0; i < dy.length; i++) {
            dy[i] = (float) (2.0 * mse.weights().values()[i % neurons] * (out.values()[i] - mse.target().values()[i])
                    / (dy.length / neurons));
        }
        Map<String, Activation> feeds = new HashMap<>(mse.feeds(params));
        feeds.remove(SegmentLoss.targetName(y));
        feeds.remove(SegmentLoss.weightName(y));
        feeds.put(SegmentLoss.upstreamName(y), new Activation("dy", out.shape(), dy));
        try (ParameterGradientRunner runner = ParameterGradientRunner.open(upstream, 1)) {
            Step step = runner.run(feeds);
            double linearised = 0;
            for (int i = 0; i < dy.length; i++) {
                linearised += (double) dy[i] * out.values()[i];
            }
            assertEquals(linearised, step.loss(), 1e-5 * (1 + Math.abs(linearised)), "loss is sum(dL/dy * y)");
            for (String p : List.of("B", "C")) {
                float[] want = expected.gradients().get(p).values();
                float[] got = step.gradients().get(p).values();
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), p + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void weightedMseLossMatchesItsDefinition() {
        Segment s = new Segment(13, 13, 2, 3, 2, 2);
        String y = s.node("Conv", List.of("x", s.weight("W", 4, 3, 1, 1)));
        Problem p = problem(s, y, 1, List.of("W"));
        try (ParameterGradientRunner runner = ParameterGradientRunner.open(p.gradients(), 1)) {
            Step step = runner.run(p.feeds(p.initialParameters()));
            Activation out = step.outputs().get(y);
            // by hand: neuron j owns elements (n, j, h, w); 2 samples x 4 positions each
            double want = 0;
            for (int j = 0; j < 4; j++) {
                double sum = 0;
                for (int n = 0; n < 2; n++) {
                    for (int q = 0; q < 4; q++) {
                        int i = (n * 4 + j) * 4 + q;
                        double d = out.values()[i] - p.target().values()[i];
                        sum += d * d;
                    }
                }
                want += p.weights().values()[j] * sum / 8;
            }
            assertEquals(want, step.loss(), 1e-5 * want);
        }
    }

    @Test
    void batchNormalizationRunningStatisticsAreNotTrained() {
        Segment s = new Segment(20, 13, 2, 3, 2, 2);
        String y = s.node("BatchNormalization", List.of("x", s.weight("scale", 3), s.weight("bias", 3),
                s.weight("mean", 3), s.positive("var", 0.5, 2, 3)));
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, () -> GradientGraph.forParameters(
                s.model(y), List.of("x"), List.of(y), List.of("scale", "mean"), new SegmentLoss.WeightedMse(1)));
        assertTrue(e.getMessage().contains("running statistic 'mean'"), e.getMessage());
    }

    @Test
    void parameterOutsideTheSegmentIsRefused() {
        Segment s = new Segment(14, 13, 2, 3);
        String y = s.node("Gemm", List.of("x", s.weight("B", 3, 2)));
        s.weight("unused", 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GradientGraph.forParameters(
                s.model(y), List.of("x"), List.of(y), List.of("B", "unused"), new SegmentLoss.WeightedMse(1)));
        assertTrue(e.getMessage().contains("'unused'"), e.getMessage());
    }

    // ------------------------------------------------------------------ distillation

    /** A distillation check: the segment input x and the target probabilities p; the parameters vary. */
    private record KlProblem(String y, ParameterGradients gradients, Activation x, Activation target,
                             double temperature, int axis) implements LossCheck {
        @Override
        public Map<String, Activation> feeds(Map<String, float[]> parameters) {
            Map<String, Activation> feeds = new HashMap<>();
            feeds.put(x.name(), x);
            feeds.put(SegmentLoss.targetName(y), target);
            parameters.forEach((p, v) -> feeds.put(p, new Activation(p, gradients.initialValues().get(p).dims(), v)));
            return feeds;
        }

        /** T^2 mean_rows sum_c p_c (log p_c - log softmax(y / T)_c), p log p = 0 at p = 0, in float64. */
        @Override
        public double loss(Activation out) {
            long[] shape = out.shape();
            int classes = (int) shape[axis];
            long inner = 1;
            for (int i = axis + 1; i < shape.length; i++) {
                inner *= shape[i];
            }
            float[] yv = out.values();
            float[] pv = target.values();
            int rows = yv.length / classes;
            double sum = 0;
            for (int r = 0; r < rows; r++) {
                long base = (r / inner) * classes * inner + r % inner;
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, yv[(int) (base + c * inner)] / temperature);
                }
                double norm = 0;
                for (int c = 0; c < classes; c++) {
                    norm += Math.exp(yv[(int) (base + c * inner)] / temperature - max);
                }
                double logNorm = max + Math.log(norm);
                for (int c = 0; c < classes; c++) {
                    int i = (int) (base + c * inner);
                    if (pv[i] > 0) {
                        sum += pv[i] * (Math.log(pv[i]) - (yv[i] / temperature - logNorm));
                    }
                }
            }
            return temperature * temperature * sum / rows;
        }
    }

    /**
     * Target probabilities for every row of {@code yShape} along {@code axis}: the first row has a
     * zero probability, the second is one-hot (if there are two), the rest are dense and uneven.
     */
    private static float[] probabilities(Random rng, long[] yShape, int axis) {
        int classes = (int) yShape[axis];
        long inner = 1;
        for (int i = axis + 1; i < yShape.length; i++) {
            inner *= yShape[i];
        }
        float[] p = new float[Math.toIntExact(Tensor.elementCount(yShape))];
        int rows = p.length / classes;
        for (int r = 0; r < rows; r++) {
            long base = (r / inner) * classes * inner + r % inner;
            double[] row = new double[classes];
            double total = 0;
            for (int c = 0; c < classes; c++) {
                row[c] = r == 1 ? (c == classes - 1 ? 1 : 0) : r == 0 && c == 0 ? 0 : Math.exp(1.5 * rng.nextGaussian());
                total += row[c];
            }
            for (int c = 0; c < classes; c++) {
                p[(int) (base + c * inner)] = (float) (row[c] / total);
            }
        }
        return p;
    }

    private static KlProblem distillation(Segment s, String y, double temperature, int classAxis,
                                          List<String> parameters) {
        Model m = s.model(y);
        float[] x = s.gaussian(s.xShape);
        long[] yShape;
        try (OrtRunner r = OrtRunner.open("probe", m, List.of(), 1)) {
            yShape = r.run(x, s.xShape, List.of(y)).get(y).shape();
        }
        int axis = classAxis < 0 ? classAxis + yShape.length : classAxis;
        ParameterGradients g = GradientGraph.forParameters(m, List.of("x"), List.of(y), parameters,
                new SegmentLoss.Distillation(temperature, classAxis));
        return new KlProblem(y, g, new Activation("x", s.xShape, x),
                new Activation("p", yShape, probabilities(s.rng, yShape, axis)), temperature, axis);
    }

    @ParameterizedTest
    @ValueSource(doubles = {1, 4})
    void distillationGradientsOfGemmWeightAndBias(double temperature) {
        Segment s = new Segment(21, 13, 6, 5);
        String y = s.node("Gemm", List.of("x", s.weight("B", 5, 4), s.weight("C", 4)), Attribute.ofFloat("alpha", 1.5f));
        KlProblem p = distillation(s, y, temperature, 1, List.of("B", "C"));
        assertEquals(List.of("x", "B", "C", SegmentLoss.targetName(y)),
                p.gradients().model().graph().inputs().stream().map(ValueInfo::name).toList());
        checkAgainstFiniteDifferences(p, 1e-2, TOLERANCE);
    }

    /** rows = N * S: every (sample, position) is a distribution over the last axis. */
    @Test
    void distillationOverPositionsOfAMatMul() {
        Segment s = new Segment(22, 13, 2, 3, 5);
        String y = s.node("MatMul", List.of("x", s.weight("W", 5, 4)));
        checkAgainstFiniteDifferences(distillation(s, y, 2, -1, List.of("W")), 1e-2, TOLERANCE);
    }

    /**
     * The loss against a float64 KL written out by hand, at targets with zero probabilities (a row
     * [0, ...] and a one-hot row): finite, no NaN, in the loss or the gradients. The softmax is over
     * axis 1 of a [N, C, L] Conv output, so the rows are the N * L (sample, position) pairs.
     */
    @ParameterizedTest
    @ValueSource(doubles = {1, 3})
    void distillationLossIsTheKlDivergenceAlsoAtZeroProbabilities(double temperature) {
        Segment s = new Segment(23, 13, 2, 3, 4);
        String y = s.node("Conv", List.of("x", s.weight("W", 5, 3, 1), s.weight("B", 5)));
        KlProblem p = distillation(s, y, temperature, 1, List.of("W", "B"));
        float[] target = p.target().values();
        assertEquals(0f, target[0], "row (0, 0) has a zero probability for class 0");
        assertEquals(0f, target[1], "row (0, 1) is one-hot");
        assertEquals(1f, target[4 * 4 + 1], "row (0, 1) is one-hot");
        try (ParameterGradientRunner runner = ParameterGradientRunner.open(p.gradients(), 1)) {
            Step step = runner.run(p.feeds(p.initialParameters()));
            Activation out = step.outputs().get(y);
            // by hand: y is [2, 5, 4]; row (n, l) holds the classes c at (n * 5 + c) * 4 + l
            double sum = 0;
            for (int n = 0; n < 2; n++) {
                for (int l = 0; l < 4; l++) {
                    double norm = 0;
                    for (int c = 0; c < 5; c++) {
                        norm += Math.exp(out.values()[(n * 5 + c) * 4 + l] / temperature);
                    }
                    for (int c = 0; c < 5; c++) {
                        int i = (n * 5 + c) * 4 + l;
                        double q = Math.exp(out.values()[i] / temperature) / norm;
                        if (target[i] > 0) {
                            sum += target[i] * Math.log(target[i] / q);
                        }
                    }
                }
            }
            double want = temperature * temperature * sum / 8;
            assertTrue(Double.isFinite(step.loss()), "loss " + step.loss());
            assertEquals(want, step.loss(), 1e-5 * want);
            assertEquals(want, p.loss(out), 1e-9 * want, "the finite-difference checks' loss");
            for (String param : List.of("W", "B")) {
                for (float g : step.gradients().get(param).values()) {
                    assertTrue(Float.isFinite(g), param + " gradient " + g);
                }
            }
        }
        checkAgainstFiniteDifferences(p, 1e-2, TOLERANCE);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0, -1, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY})
    void distillationTemperatureMustBePositiveAndFinite(double temperature) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SegmentLoss.Distillation(temperature, -1));
        assertTrue(e.getMessage().contains("positive finite distillation temperature")
                && e.getMessage().contains("found " + temperature), e.getMessage());
    }

    @Test
    void distillationClassAxisOutsideTheOutputIsRefused() {
        Segment s = new Segment(24, 13, 2, 3);
        String y = s.node("Gemm", List.of("x", s.weight("B", 3, 2)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GradientGraph.forParameters(
                s.model(y), List.of("x"), List.of(y), List.of("B"), new SegmentLoss.Distillation(1, 2)));
        assertTrue(e.getMessage().contains("class axis 2"), e.getMessage());
    }
}
