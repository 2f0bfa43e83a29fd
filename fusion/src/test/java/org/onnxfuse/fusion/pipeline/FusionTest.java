package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/** End-to-end linear fusion on the fixture models, checked in ONNX Runtime on held-out data. */
class FusionTest {

    private static FusionResult fuse(List<Model> parents, String calib, long samples, FusionMethod method) {
        List<String> log = new ArrayList<>();
        FusionResult r = Fusion.builder().parentModels(parents).calibration(TestFixtures.data(calib))
                .samples(samples).method(method).device("cpu").threads(2).batchSize(200).seed(1)
                .log(log::add).build().fuse();
        for (LevelReport l : r.levels()) {
            System.out.printf("level %d %s %s k=%d d=%d rows=%d residual=%.3g cost=%.4g times ms: infer %.0f stats %.0f"
                            + " group %.0f solve %.0f%n", l.level(), l.opType(), l.method(), l.width(), l.fanIn(),
                    l.rows(), l.relativeResidual(), l.groupingCost(), l.inferenceMillis(), l.statisticsMillis(),
                    l.groupingMillis(), l.solveMillis());
        }
        System.out.printf("total %.0f ms%n", r.totalMillis());
        return r;
    }

    private static void assertReproduces(Model parent, Model fused, double tolerance) {
        float[] expected = TestFixtures.logits(parent, TestFixtures.data("test_x"), 0);
        float[] actual = TestFixtures.logits(fused, TestFixtures.data("test_x"), 0);
        double diff = TestFixtures.maxAbsDifference(expected, actual);
        System.out.println("max abs logit difference on test data: " + diff);
        assertTrue(diff < tolerance, "max abs logit difference " + diff);
    }

    @Test
    void mlpFusedWithPermutedCopyOfItselfIsTheSameFunction() {
        Model p0 = TestFixtures.read("mlp_k2_p0");
        Model perm = TestFixtures.permuted(p0, 7);
        assertReproduces(p0, perm, 1e-4);
        FusionResult r = fuse(List.of(p0, perm), "calib400_x", 0, FusionMethod.KF_LINEAR);
        assertReproduces(p0, r.model(), 1e-4);
    }

    @Test
    void identicalParentsGiveTheParent() {
        Model p0 = TestFixtures.read("mlp_k2_p0");
        FusionResult r = fuse(List.of(p0, p0), "calib400_x", 0, FusionMethod.HF_LINEAR);
        assertReproduces(p0, r.model(), 1e-4);
    }

    @Test
    void kfLinearOnMlpBeatsAveraging() {
        Model p0 = TestFixtures.read("mlp_k2_p0");
        Model p1 = TestFixtures.read("mlp_k2_p1");
        FusionResult r = fuse(List.of(p0, p1), "calib400_x", 0, FusionMethod.KF_LINEAR);
        Model reloaded = OnnxReader.parse(OnnxWriter.toBytes(r.model()), null);
        double a0 = TestFixtures.testAccuracy(p0);
        double a1 = TestFixtures.testAccuracy(p1);
        double avg = TestFixtures.testAccuracy(TestFixtures.average(List.of(p0, p1)));
        double fused = TestFixtures.testAccuracy(reloaded);
        System.out.printf("mlp_k2 test accuracy: parent0 %.4f parent1 %.4f averaging %.4f KF-linear %.4f%n", a0, a1,
                avg, fused);
        assertTrue(fused > avg, "fused " + fused + " vs averaging " + avg);
        assertEquals(TestFixtures.interfaceOf(p0), TestFixtures.interfaceOf(reloaded));
        assertEquals(TestFixtures.interfaceOf(p1), TestFixtures.interfaceOf(reloaded));
        assertTrue(r.warnings().stream().anyMatch(w -> w.contains("underdetermined")), "calib400 < fan-in 785");
    }

    @Test
    void cnnFusedWithPermutedCopyOfItselfIsTheSameFunction() {
        Model p0 = TestFixtures.read("vgg_p0");
        Model perm = TestFixtures.permuted(p0, 11);
        assertReproduces(p0, perm, 1e-4);
        FusionResult r = fuse(List.of(p0, perm), "calib400_x", 200, FusionMethod.KF_LINEAR);
        assertReproduces(p0, r.model(), 1e-4);
    }

    @Test
    void otherFusedWidthsGiveLoadableModels() {
        Model p0 = TestFixtures.read("mlp_k2_p0");
        Model p1 = TestFixtures.read("mlp_k2_p1");
        FusionResult mlp = Fusion.builder().parents(p0, p1).calibration(TestFixtures.data("calib400_x"))
                .width(1, 100).device("cpu").threads(2).restarts(3).log(s -> { }).build().fuse();
        assertEquals(100, mlp.levels().get(0).width());
        System.out.printf("mlp_k2 KF-linear width 100: test accuracy %.4f%n",
                TestFixtures.testAccuracy(OnnxReader.parse(OnnxWriter.toBytes(mlp.model()), null)));
        Model v0 = TestFixtures.read("vgg_p0");
        Model v1 = TestFixtures.read("vgg_p1");
        FusionResult vgg = Fusion.builder().parents(v0, v1).calibration(TestFixtures.data("calib400_x")).samples(100)
                .width(1, 12).width(2, 10).device("cpu").threads(2).restarts(3).log(s -> { }).build().fuse();
        double acc = TestFixtures.testAccuracy(OnnxReader.parse(OnnxWriter.toBytes(vgg.model()), null));
        System.out.printf("vgg KF-linear widths 12/10: test accuracy %.4f (parents %.4f, %.4f)%n", acc,
                TestFixtures.testAccuracy(v0), TestFixtures.testAccuracy(v1));
        assertEquals(TestFixtures.interfaceOf(v0), TestFixtures.interfaceOf(vgg.model()));
    }

    @Test
    void batchNormIsFoldedAndRemoved() {
        Model p0 = TestFixtures.read("bn_p0");
        Model p1 = TestFixtures.read("bn_p1");
        FusionResult r = fuse(List.of(p0, p1), "calib400_x", 0, FusionMethod.HF_LINEAR);
        assertTrue(r.model().graph().nodes().stream().noneMatch(n -> n.opType().equals("BatchNormalization")));
        System.out.printf("bn HF-linear test accuracy %.4f (parents %.4f, %.4f, averaging %.4f)%n",
                TestFixtures.testAccuracy(r.model()), TestFixtures.testAccuracy(p0), TestFixtures.testAccuracy(p1),
                TestFixtures.testAccuracy(TestFixtures.average(List.of(p0, p1))));
    }
}
