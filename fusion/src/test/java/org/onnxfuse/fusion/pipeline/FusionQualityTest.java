package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/**
 * Fusion quality on the MNIST MLP fixtures (K = 2, 4, 8 non-IID parents): test accuracy of the
 * parents, their ensemble, elementwise averaging, KF-linear and (K = 2) HF-linear, for both
 * calibration sets. KF-linear must beat averaging.
 */
class FusionQualityTest {

    private static List<Model> parents(int k) {
        List<Model> out = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            out.add(Fixtures.read("mlp_k" + k + "_p" + i + ".onnx"));
        }
        return out;
    }

    private static double fusedAccuracy(List<Model> parents, String calib, FusionMethod method) {
        long start = System.nanoTime();
        FusionResult r = Fusion.builder().parentModels(parents).calibration(Fixtures.data(calib + ".npy")).method(method)
                .device("cpu").threads(2).batchSize(500).seed(0).log(s -> { }).build().fuse();
        double acc = Fixtures.testAccuracy(OnnxReader.parse(OnnxWriter.toBytes(r.model()), null));
        System.out.printf("  %s %s: %.4f (%.1f s; inference %.1f, statistics %.1f, grouping %.1f, solve %.1f)%n",
                method, calib, acc, (System.nanoTime() - start) / 1e9, r.inferenceMillis() / 1e3, r.statisticsMillis() / 1e3,
                r.groupingMillis() / 1e3, r.solveMillis() / 1e3);
        return acc;
    }

    /** Prints one table row per calibration set; asserts KF-linear beats averaging. */
    private static void compare(int k) {
        List<Model> parents = parents(k);
        StringBuilder accs = new StringBuilder();
        for (Model p : parents) {
            accs.append(String.format(" %.4f", Fixtures.testAccuracy(p)));
        }
        double ensemble = Fixtures.ensembleTestAccuracy(parents);
        double average = Fixtures.testAccuracy(ModelEdits.average(parents));
        System.out.printf("mlp_k%d: parents%s | ensemble %.4f | averaging %.4f%n", k, accs, ensemble, average);
        for (String calib : List.of("calib400_x", "calib5000_x")) {
            double kf = fusedAccuracy(parents, calib, FusionMethod.KF_LINEAR);
            String hf = "";
            if (k == 2) {
                hf = String.format(" | HF-linear %.4f", fusedAccuracy(parents, calib, FusionMethod.HF_LINEAR));
            }
            System.out.printf("mlp_k%d %s: KF-linear %.4f%s%n", k, calib, kf, hf);
            assertTrue(kf > average, "K = " + k + ", " + calib + ": KF-linear " + kf + " vs averaging " + average);
        }
    }

    @Test
    void twoParents() {
        compare(2);
    }

    @Test
    void fourParents() {
        compare(4);
    }

    @Test
    void eightParents() {
        compare(8);
    }
}
