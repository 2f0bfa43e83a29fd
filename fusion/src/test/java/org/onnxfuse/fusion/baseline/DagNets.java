package org.onnxfuse.fusion.baseline;

import java.util.List;
import java.util.Random;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.evaluate.ModelEvaluator;
import org.onnxfuse.fusion.plan.TestNets;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/** Small networks that are not one chain, built in code, and random data to run them on. */
final class DagNets {
    static final int CLASSES = 3;

    private DagNets() {
    }

    /**
     * Dense residual blocks on one stream of {@code width} neurons: fc1, then fc3(relu(fc2(s))) + s
     * with fc2 {@code hidden} wide, then fc4(s) + s, then the classes. The stream (fc1, fc3,
     * fc4 and both sums) is one neuron space.
     */
    static Model residualMlp(int width, int hidden) {
        Net net = Net.input("batch", 5).gemm("fc1", 5, width, true, true).op("r1", "Relu");
        String stream = net.value();
        net.gemm("fc2", width, hidden, true, true).op("r2", "Relu").gemm("fc3", hidden, width, true, true);
        net.node(Node.of("add1", "Add", List.of(net.value(), stream), List.of("sum1"))).op("r3", "Relu");
        stream = net.value();
        net.gemm("fc4", width, width, true, false);
        net.node(Node.of("add2", "Add", List.of(net.value(), stream), List.of("sum2"))).op("r4", "Relu");
        return scaled(net.gemm("fc5", width, CLASSES, true, true).build());
    }

    /**
     * Convolutions on [N, 2, 6, 6]: a stem, two branches stacked by a Concat, a BatchNormalization
     * on the stacked channels that is not folded, a 1x1 conv, a depthwise conv added back to its
     * input, a squeeze-excitation gate, and a Gemm on the flattened 3x3 map.
     */
    static Model convDag() {
        Attribute pad1 = Attribute.ofLongs("pads", 1, 1, 1, 1);
        Net net = Net.input("batch", 2, 6, 6).conv("stem", 2, 4, 3, true, pad1).op("rs", "Relu");
        String stem = net.value();
        net.conv("b1", 4, 3, 1, true);
        String b1 = net.value();
        net.init("b2.weight", new long[] {5, 4, 3, 3});
        net.extra(Node.of("b2", "Conv", List.of(stem, "b2.weight"), List.of("b2_out"), pad1));
        net.node(Node.of("cat", "Concat", List.of(b1, "b2_out"), List.of("cat_out"), Attribute.ofLong("axis", 1)));
        net.op("rc", "Relu").batchNorm("bn", 8).conv("mix", 8, 6, 1, true).op("rm", "Relu");
        String mixed = net.value();
        net.conv("dw", 1, 6, 3, true, pad1, Attribute.ofLong("group", 6));
        net.node(Node.of("res", "Add", List.of(net.value(), mixed), List.of("res_out"))).op("rr", "Relu");
        String x = net.value();
        net.op("gap", "GlobalAveragePool").conv("se1", 6, 2, 1, true).op("rse", "Relu").conv("se2", 2, 6, 1, true)
                .op("sig", "Sigmoid");
        net.node(Node.of("gate", "Mul", List.of(x, net.value()), List.of("gated")));
        net.op("pool", "MaxPool", Attribute.ofLongs("kernel_shape", 2, 2), Attribute.ofLongs("strides", 2, 2))
                .op("flat", "Flatten");
        return scaled(net.gemm("fc", 54, CLASSES, true, true).build());
    }

    /** {@code model} with Gaussian noise of deviation {@code scale} (times the weight's own scale) on every weight. */
    static Model perturbed(Model model, long seed, double scale) {
        Random random = new Random(seed);
        Graph.Builder b = model.graph().toBuilder();
        for (Tensor t : model.graph().initializers().values()) {
            if (t.name().endsWith(".weight")) {
                float[] v = t.toFloats();
                double f = scale / Math.sqrt((double) v.length / t.dims()[0]);
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (v[i] + f * random.nextGaussian());
                }
                b.putInitializer(t.withFloats(t.dims(), v));
            }
        }
        return model.withGraph(b.build());
    }

    /** {@code model} with every weight divided by the square root of its fan-in, so that activations stay near 1. */
    private static Model scaled(Model model) {
        Graph.Builder b = model.graph().toBuilder();
        for (Tensor t : model.graph().initializers().values()) {
            if (t.name().endsWith(".weight")) {
                float[] v = t.toFloats();
                double f = 1 / Math.sqrt((double) v.length / t.dims()[0]);
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (v[i] * f);
                }
                b.putInitializer(t.withFloats(t.dims(), v));
            }
        }
        return model.withGraph(b.build());
    }

    /** {@code samples} standard normal samples shaped like {@code model}'s input. */
    static FloatBatch data(Model model, int samples, long seed) {
        long[] shape = model.graph().feedInputs().get(0).tensorType().shape().stream()
                .mapToLong(d -> d.isFixed() ? d.value() : samples).toArray();
        shape[0] = samples;
        return new FloatBatch(0, samples, shape, TestNets.randoms(new Random(seed), product(shape)));
    }

    static CalibrationData calibration(Model model, int samples, long seed) {
        FloatBatch b = data(model, samples, seed);
        return CalibrationData.ofArray(b.values(), b.shape());
    }

    /** The first output of {@code model} on {@code batch}. */
    static float[] logits(Model model, FloatBatch batch) {
        try (ModelEvaluator e = ModelEvaluator.open(model, 1)) {
            return e.run(batch).first().values();
        }
    }

    private static long product(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
