package org.onnxfuse.fusion.baseline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionMethod;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.evaluate.Accuracy;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Model;

/** The baselines on the fixture parents, checked through ONNX Runtime on the test data. */
class BaselineTest {
    private static NpyArray testX;
    private static NpyArray testY;
    private static NpyArray calib;

    @BeforeAll
    static void open() {
        testX = Fixtures.array("test_x.npy");
        testY = Fixtures.array("test_y.npy");
        calib = Fixtures.array("calib400_x.npy");
    }

    @AfterAll
    static void close() {
        testX.close();
        testY.close();
        calib.close();
    }

    private static Model actMatch(Model... parents) {
        return ActivationMatching.fuse(List.of(parents), CalibrationData.of(calib), Fixtures.BATCH, Fixtures.THREADS);
    }

    private static double diff(Model a, Model b) {
        return Fixtures.maxAbsDifference(Fixtures.logits(a, testX), Fixtures.logits(b, testX));
    }

    private static double accuracy(Model m) {
        return Accuracy.of(m, testX, testY, Fixtures.BATCH, Fixtures.THREADS).value();
    }

    @Test
    void averagingIdenticalParentsReturnsTheParent() {
        Model p = Fixtures.read("mlp_k2_p0.onnx");
        Model fused = VanillaAverage.fuse(List.of(p, p));
        assertTrue(diff(p, fused) < 1e-5, "max abs logit diff " + diff(p, fused));
        assertEquals(VanillaAverage.NAME, fused.metadata().get("onnx-fuse.baseline"));
    }

    /** Folded BatchNormalization: the fused graph carries the folded weights and no BN node. */
    @Test
    void averagingIdenticalBatchNormParentsReturnsTheParent() {
        Model p = Fixtures.read("bn_p0.onnx");
        Model fused = VanillaAverage.fuse(List.of(p, p, p));
        assertTrue(diff(p, fused) < 1e-4, "max abs logit diff " + diff(p, fused));
        assertTrue(fused.graph().nodes().stream().noneMatch(n -> n.opType().equals("BatchNormalization")));
    }

    @Test
    void weightMatchRecoversANeuronPermutedCopy() {
        Model p = Fixtures.read("mlp_k2_p0.onnx");
        Model q = ModelEdits.select(p, 1, ModelEdits.shuffled(256, 1));
        Model r = ModelEdits.select(p, 1, ModelEdits.shuffled(256, 2));
        assertTrue(diff(p, q) < 1e-4, "the permuted copy computes the same function");
        assertTrue(diff(VanillaAverage.fuse(List.of(p, q)), p) > 0.1, "unaligned averaging does not recover it");
        double d = diff(WeightMatching.fuse(List.of(p, q, r)), p);
        assertTrue(d < 1e-4, "max abs logit diff " + d);
    }

    @Test
    void actMatchRecoversANeuronPermutedCopy() {
        Model p = Fixtures.read("mlp_k2_p0.onnx");
        Model q = ModelEdits.select(p, 1, ModelEdits.shuffled(256, 3));
        double d = diff(actMatch(p, q), p);
        assertTrue(d < 1e-4, "max abs logit diff " + d);
    }

    /** Two conv cuts: conv channels, the next conv's input channels and the Flatten blocks of 49. */
    @Test
    void bothMatchersRecoverAChannelPermutedCnn() {
        Model p = Fixtures.read("vgg_p0.onnx");
        Model q = ModelEdits.select(p, Map.of(1, ModelEdits.shuffled(8, 4), 2, ModelEdits.shuffled(16, 5)));
        assertTrue(diff(p, q) < 1e-4, "the permuted copy computes the same function");
        double w = diff(WeightMatching.fuse(List.of(p, q)), p);
        double a = diff(actMatch(p, q), p);
        assertTrue(w < 1e-4, "weight-match: max abs logit diff " + w);
        assertTrue(a < 1e-4, "act-match: max abs logit diff " + a);
    }

    @Test
    void vggPairFusesWithEveryMethod() {
        Model p0 = Fixtures.read("vgg_p0.onnx");
        Model p1 = Fixtures.read("vgg_p1.onnx");
        StringBuilder report = new StringBuilder("vgg K=2 test accuracy:");
        for (FusionMethod m : List.of(FusionMethod.AVERAGE, FusionMethod.WEIGHT_MATCH, FusionMethod.ACT_MATCH)) {
            Model fused = Fusion.builder().parents(p0, p1).method(m).calibration(CalibrationData.of(calib))
                    .batchSize(Fixtures.BATCH).threads(Fixtures.THREADS).build().fuse().model();
            assertEquals(LevelPlanner.plan(p0).widths(), LevelPlanner.plan(fused).widths());
            double acc = accuracy(fused);
            assertTrue(acc > 0.05, m + " accuracy " + acc);
            report.append(String.format(java.util.Locale.ROOT, " %s %.4f", m.cliName(), acc));
        }
        System.out.println(report);
    }

    @Test
    void actMatchFusesDifferentWidthsByOptimalTransport() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = ModelEdits.select(Fixtures.read("mlp_k2_p1.onnx"), 1, ModelEdits.firstN(200));
        assertEquals(List.of(200L, 10L), LevelPlanner.plan(p1).widths());
        Model fused = actMatch(p0, p1);
        LevelPlan plan = LevelPlanner.plan(fused);
        assertEquals(List.of(256L, 10L), plan.widths(), "the fused model has parent 0's widths");
        double acc = accuracy(fused);
        System.out.printf(java.util.Locale.ROOT, "mlp_k2 p0 (256) + p1 truncated to 200: act-match (OT) %.4f%n", acc);
        assertTrue(acc > 0.5, "accuracy " + acc);

        IncompatibleModelsException e = assertThrows(IncompatibleModelsException.class,
                () -> VanillaAverage.fuse(List.of(p0, p1)));
        assertEquals(ErrorCode.INCOMPATIBLE_PARENTS, e.code());
        assertTrue(e.getMessage().contains("level 1") && e.getMessage().contains("256")
                && e.getMessage().contains("200"), e.getMessage());
        assertThrows(IncompatibleModelsException.class, () -> WeightMatching.fuse(List.of(p0, p1)));
    }

    /** The figures for the benchmark (BENCHMARKS.md, K = 2 MLPs, 1500 test images). */
    @Test
    void accuracyTableForTwoMlps() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        List<Model> parents = List.of(p0, p1);
        double a0 = accuracy(p0);
        double a1 = accuracy(p1);
        double ens = org.onnxfuse.fusion.evaluate.Ensemble.accuracy(parents, testX, testY, Fixtures.BATCH,
                Fixtures.THREADS).value();
        double avg = accuracy(VanillaAverage.fuse(parents));
        double wm = accuracy(WeightMatching.fuse(parents));
        double am = accuracy(ActivationMatching.fuse(parents, CalibrationData.of(calib), Fixtures.BATCH, Fixtures.THREADS));
        double am5000;
        try (NpyArray big = Fixtures.array("calib5000_x.npy")) {
            am5000 = accuracy(ActivationMatching.fuse(parents, CalibrationData.of(big), Fixtures.BATCH, Fixtures.THREADS));
        }
        System.out.printf(java.util.Locale.ROOT, "mlp_k2 test accuracy: parent0 %.4f parent1 %.4f ensemble %.4f"
                + " average %.4f weight-match %.4f act-match(400) %.4f act-match(5000) %.4f%n", a0, a1, ens, avg, wm,
                am, am5000);
        for (double a : new double[] {avg, wm, am, am5000}) {
            assertTrue(a > 0.1 && a <= 1, "accuracy " + a);
        }
    }
}
