package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.OutputHead;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;

/**
 * A class level whose classes pass a Relu and an average over the positions (SqueezeNet's head):
 * recognised from the plan, its targets from the parents' logits, and fitted through the head.
 */
class PooledHeadTest {
    /** {@code model} with its GlobalAveragePool written as ReduceMean over {@code axes}, keepdims 1 (opset 13). */
    static Model reduceMeanInsteadOfGlobalPool(Model model, long... axes) {
        Graph g = model.graph();
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            nodes.add(!n.opType().equals("GlobalAveragePool") ? n : Node.of(n.name() + "_as_mean", "ReduceMean",
                    n.inputs(), n.outputs(), Attribute.ofLongs("axes", axes), Attribute.ofLong("keepdims", 1)));
        }
        return model.withGraph(g.toBuilder().nodes(nodes).build());
    }

    private static boolean pooledHead(Model model) {
        LevelPlan plan = LevelPlanner.plan(model);
        int last = plan.levels().size();
        OutputHead head = plan.heads().stream().filter(h -> h.classLevel() == last).findFirst().orElseThrow();
        return !head.trailing().isEmpty() && PooledHead.averagesAfterRelu(head, model.graph(),
                head.trailing().get(0).outputShape().size(), plan.level(last).neuronAxis());
    }

    @Test
    void squeezeNetsHeadIsAReluThenAnAverage() {
        Model squeeze = Fixtures.read("dag/squeeze_p0.onnx");
        assertTrue(pooledHead(squeeze));
        assertTrue(pooledHead(reduceMeanInsteadOfGlobalPool(squeeze, 2, 3)));
        assertTrue(pooledHead(reduceMeanInsteadOfGlobalPool(squeeze, -1, -2)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet", "mbv2", "se", "dense", "twohead"})
    void headsWithoutTheReluAndAverageAreNot(String family) {
        Model model = Fixtures.read("dag/" + family + "_p0.onnx");
        LevelPlan plan = LevelPlanner.plan(model);
        for (OutputHead head : plan.heads()) {
            assertFalse(!head.trailing().isEmpty() && PooledHead.averagesAfterRelu(head, model.graph(),
                    head.trailing().get(0).outputShape().size(), 1), family + " " + head.output());
        }
    }

    @Test
    void anAverageOverOnlySomePositionsIsNot() {
        Model squeeze = Fixtures.read("dag/squeeze_p0.onnx");
        Model partial = reduceMeanInsteadOfGlobalPool(squeeze, 3);
        Graph g = partial.graph();
        Node mean = g.nodes().stream().filter(n -> n.opType().equals("ReduceMean")).findFirst().orElseThrow();
        LevelPlan plan = LevelPlanner.plan(squeeze);
        OutputHead head = plan.heads().get(0);
        List<org.onnxfuse.fusion.plan.LevelOp> ops = new ArrayList<>(head.trailing());
        org.onnxfuse.fusion.plan.LevelOp pool = ops.get(1);
        ops.set(1, new org.onnxfuse.fusion.plan.LevelOp("ReduceMean", pool.role(), mean, List.of(mean), false,
                pool.input(), pool.output(), pool.outputShape(), pool.signature(), pool.neuronAxis(), pool.spaces()));
        OutputHead edited = new OutputHead(head.output(), head.shape(), ops, head.classLevel());
        assertFalse(PooledHead.averagesAfterRelu(edited, g, 4, 1));
        assertTrue(PooledHead.averagesAfterRelu(head, squeeze.graph(), 4, 1));
        assertFalse(PooledHead.averagesAfterRelu(head, squeeze.graph(), 4, 2), "the neurons are not on axis 1");
    }

    @Test
    void identicalParentsTargetTheirOwnLogits() {
        float[] logits = {1f, 3f, 0f, 1f, 3f, 0f, 0.5f, 0.25f, 2f, 0.5f, 0.25f, 2f};
        double[] t = PooledHead.mixtureLogits(logits, 2, halves(3));
        double[] expected = {1, 3, 0, 0.5, 0.25, 2};
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], t[i], 1e-12);
        }
    }

    @Test
    void targetsAreTheLogOfTheClassWeightedMeanProbability() {
        // parent 0: logits (0, ln 3) -> (1/4, 3/4); parent 1: (ln 3, 0) -> (3/4, 1/4); class 0 weighs
        // parent 0 by 1/4, class 1 both by 1/2: p = (1/16 + 9/16, 3/8 + 1/8) = (5/8, 1/2)
        float ln3 = (float) Math.log(3);
        float[] logits = {0f, ln3, ln3, 0f};
        DenseMatrix u = DenseMatrix.fromRowMajor(4, 2, new double[] {0.25, 0, 0, 0.5, 0.75, 0, 0, 0.5});
        double[] t = PooledHead.mixtureLogits(logits, 1, u);
        double meanLogit = 2 * ln3 / 4;
        double meanLog = (Math.log(5.0 / 8) + Math.log(0.5)) / 2;
        assertEquals(Math.log(5.0 / 8) - meanLog + meanLogit, t[0], 1e-6);
        assertEquals(Math.log(0.5) - meanLog + meanLogit, t[1], 1e-6);
    }

    @Test
    void targetsBelowZeroAreClamped() {
        // parents sure of classes 2 and 0: p = (1/2, e^-60, 1/2) up to e^-60; mean log p is
        // (2 ln 1/2 - 60) / 3, the mean logit 20, so class 1's -60 + 20 - 2 ln 2 / 3 + 20 < 0
        float[] logits = {0f, 0f, 60f, 60f, 0f, 0f};
        double[] t = PooledHead.mixtureLogits(logits, 1, halves(3));
        assertEquals(Math.log(0.5) - (2 * Math.log(0.5) - 60) / 3 + 20, t[0], 1e-6);
        assertEquals(0.0, t[1]);
        assertEquals(t[0], t[2], 1e-9);
    }

    @Test
    void aClassNoParentGivesAnyChanceKeepsTheTargetsFinite() {
        float[] logits = {2000f, 0f, 0f, 0f, 0f, 2000f};
        double[] t = PooledHead.mixtureLogits(logits, 1, halves(3));
        for (double v : t) {
            assertTrue(Double.isFinite(v) && v >= 0, java.util.Arrays.toString(t));
        }
        assertTrue(t[1] < t[0] - 700 && t[0] == t[2], java.util.Arrays.toString(t));
    }

    @Test
    void theSinkPoolsEachParentColumnAfterTheRelu() {
        PooledHead sink = new PooledHead(1 << 20);
        // 2 samples x 2 positions, 1 feature, one parent of 2 classes
        float[] a = {1f, -2f, 3f, 4f, -1f, 0.5f, -3f, 1f};
        sink.rawBatch(new Activation("x", new long[] {2, 1, 1, 2}, new float[4]), new long[] {2, 2, 1, 2}, a, 2, 4);
        sink.accept(new float[] {1f, 2f, 3f, 4f}, 1, a, 2, 4);
        assertEquals(2, sink.positions());
        assertEquals(2, sink.samples());
        assertEquals(1, sink.features());
        // the parent's logits, the means of its columns after the Relu: (2, 2) and (0, 0.75); one
        // parent's mixture is its own softmax, so the targets are its logits
        double[] t = sink.targets(DenseMatrix.identity(2));
        double[] expected = {2, 2, 0, 0.75};
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], t[i], 1e-12, "target " + i);
        }
        assertEquals(4, sink.inputRows().length);
    }

    @Test
    void theSinkGivesUpPastItsBudget() {
        PooledHead sink = new PooledHead(8);
        float[] a = new float[8];
        sink.rawBatch(new Activation("x", new long[] {2, 1, 1, 2}, new float[4]), new long[] {2, 1, 1, 2}, a, 2, 4);
        sink.accept(new float[4], 1, a, 2, 4);
        assertTrue(sink.overBudget());
    }

    @Test
    void theBundledHeadFitsTheWorkBudgetAndAnImageNetHeadDoesNot() {
        // squeeze_p*.onnx: 10 classes of 24 features + bias at 7 x 7 positions, 5000 samples
        double squeeze = 10.0 * org.onnxfuse.fusion.solve.PooledHeadFit.MAX_ITERATIONS
                * org.onnxfuse.fusion.solve.PooledHeadFit.workPerClassIteration(5000, 49, 25);
        assertTrue(squeeze < LevelLoop.POOLED_FIT_WORK, "squeeze: " + squeeze);
        // torchvision's squeezenet1_0: 1000 classes of 512 features + bias, 32 samples at 3 x 3 positions
        double imageNet = 1000.0 * org.onnxfuse.fusion.solve.PooledHeadFit.MAX_ITERATIONS
                * org.onnxfuse.fusion.solve.PooledHeadFit.workPerClassIteration(32, 9, 513);
        assertTrue(imageNet > LevelLoop.POOLED_FIT_WORK, "squeezenet1_0: " + imageNet);
    }

    /** u (K C x C): every parent's class c weighted 1/K for fused class c. */
    private static DenseMatrix halves(int classes) {
        double[] u = new double[2 * classes * classes];
        for (int q = 0; q < 2; q++) {
            for (int c = 0; c < classes; c++) {
                u[(q * classes + c) + c * 2 * classes] = 0.5;
            }
        }
        return new DenseMatrix(2 * classes, classes, u);
    }
}
