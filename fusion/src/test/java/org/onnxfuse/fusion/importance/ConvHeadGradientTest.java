package org.onnxfuse.fusion.importance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;

/**
 * A class level whose classes reach the logits through a Relu, GlobalAveragePool and Flatten
 * (squeeze_p0.onnx): attributions explain the logit, so the gradient is seeded there and flows
 * back through the head, instead of being seeded at the class Conv's [N, C, H, W] output.
 */
class ConvHeadGradientTest {
    @Test
    void theLogitsGradientAtTheClassMapsIsTheAverageOverTheActivePositions() {
        Model model = Fixtures.read("dag/squeeze_p0.onnx");
        LevelPlan plan = LevelPlanner.plan(model);
        String classCut = plan.cuts().get(plan.cuts().size() - 1);
        int samples = 8;
        float[] x;
        long[] shape;
        try (NpyArray data = NpyArray.open(Fixtures.data("calib400_x.npy"))) {
            shape = data.header().shape().clone();
            shape[0] = samples;
            x = data.readFloats(0, samples);
        }
        long[] labels = {0, 1, 2, 3, 4, 5, 6, 7};
        try (GradientRunner runner = GradientRunner.open("parent", model, List.of(classCut, "logits"),
                GradientGraph.Rule.GRADIENT, 1)) {
            Map<String, GradientRunner.CutGradient> out = runner.run(x, shape, labels);
            GradientRunner.CutGradient head = out.get(classCut);
            long[] s = head.value().shape();
            assertEquals(4, s.length, "the class maps: " + Arrays.toString(s));
            int classes = (int) s[1];
            int positions = (int) (s[2] * s[3]);
            float[] z = head.value().values();
            float[] g = head.gradient().values();
            int active = 0;
            for (int n = 0; n < samples; n++) {
                for (int c = 0; c < classes; c++) {
                    for (int p = 0; p < positions; p++) {
                        int i = (n * classes + c) * positions + p;
                        double expected = c == labels[n] && z[i] > 0 ? 1.0 / positions : 0.0;
                        assertEquals(expected, g[i], 1e-7, "sample " + n + " class " + c + " position " + p);
                        active += expected > 0 ? 1 : 0;
                    }
                }
            }
            assertTrue(active > 0, "some class map is positive");
        }
    }

    @Test
    void deepLiftScoresEveryLevelOfASqueezeNet() {
        Model model = Fixtures.read("dag/squeeze_p0.onnx");
        LevelPlan plan = LevelPlanner.plan(model);
        float[] x;
        long[] shape;
        try (NpyArray data = NpyArray.open(Fixtures.data("calib400_x.npy"))) {
            shape = data.header().shape().clone();
            shape[0] = 16;
            x = data.readFloats(0, 16);
        }
        long[] labels = Fixtures.labels(Fixtures.data("calib400_y.npy"), 16);
        List<ImportanceScorer.Attribution> attributions = new ImportanceScorer(ImportanceMethod.DEEPLIFT, 16, 1)
                .attributions(model, plan, new org.onnxfuse.fusion.data.FloatBatch(0, 16, shape, x), labels);
        assertEquals(plan.levels().size(), attributions.size());
        for (ImportanceScorer.Attribution a : attributions) {
            assertTrue(Arrays.stream(a.values()).anyMatch(v -> v != 0) && Arrays.stream(a.values())
                    .allMatch(Double::isFinite), Arrays.toString(a.shape()));
        }
    }
}
