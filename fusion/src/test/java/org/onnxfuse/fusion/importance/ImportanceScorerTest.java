package org.onnxfuse.fusion.importance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.fusion.plan.TestNets;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.ir.Model;
import org.junit.jupiter.api.Test;

/** Attributions against answers computed another way on the fixture models. */
class ImportanceScorerTest {
    private static final int SAMPLES = 32;

    private static FloatBatch batch(int count) {
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy"))) {
            return data.batch(0, count);
        }
    }

    private static long[] labels(int count) {
        return Fixtures.labels(Fixtures.data("calib400_y.npy"), count);
    }

    private static Map<String, Activation> run(Model model, LevelPlan plan, float[] x, long[] shape) {
        try (OrtRunner r = OrtRunner.open("test", model, plan.cuts(), Fixtures.THREADS)) {
            return r.run(x, shape, plan.cuts());
        }
    }

    private static float[] scaled(float[] x, double alpha) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) (alpha * x[i]);
        }
        return out;
    }

    /** A fixture model's signed attributions on the first {@link #SAMPLES} calibration samples. */
    private record Attributed(Model model, LevelPlan plan, FloatBatch batch, long[] labels,
                              List<double[]> attributions) {
        static Attributed of(String file, ImportanceMethod method) {
            Model model = Fixtures.read(file);
            LevelPlan plan = LevelPlanner.plan(model);
            FloatBatch b = ImportanceScorerTest.batch(SAMPLES);
            long[] y = ImportanceScorerTest.labels(SAMPLES);
            List<double[]> attr = new ImportanceScorer(method, 64, Fixtures.THREADS).attributions(model, plan, b, y)
                    .stream().map(ImportanceScorer.Attribution::values).toList();
            return new Attributed(model, plan, b, y, attr);
        }
    }

    @Test
    void gaussLegendreNodesAreTheKnownOnes() {
        double[] two = GaussLegendre.unitNodes(2);
        assertEquals((1 - 1 / Math.sqrt(3)) / 2, two[0], 1e-15);
        assertEquals((1 + 1 / Math.sqrt(3)) / 2, two[1], 1e-15);
        double[] eleven = GaussLegendre.unitNodes(11);
        // the 11-point nodes on [-1, 1]: 0, +-0.26954315595, +-0.51909612921, +-0.73015200557,
        // +-0.88706259977, +-0.97822865815
        double[] positive = {0.0, 0.2695431559523450, 0.5190961292068118, 0.7301520055740494, 0.8870625997680953,
            0.9782286581460570};
        for (int i = 0; i < positive.length; i++) {
            assertEquals((1 + positive[i]) / 2, eleven[5 + i], 1e-13);
            assertEquals((1 - positive[i]) / 2, eleven[5 - i], 1e-13);
        }
    }

    /** DeepLIFT's summation to delta: per sample, the attributions at any cut add up to F(x) - F(0). */
    private static void deepLiftSumsToDelta(String file) {
        Attributed fixture = Attributed.of(file, ImportanceMethod.DEEPLIFT);
        Model model = fixture.model();
        LevelPlan plan = fixture.plan();
        FloatBatch b = fixture.batch();
        long[] y = fixture.labels();
        List<double[]> attr = fixture.attributions();
        String logits = plan.lastLevel().cut();
        float[] z = run(model, plan, b.values(), b.shape()).get(logits).values();
        long[] one = b.shape().clone();
        one[0] = 1;
        float[] z0 = run(model, plan, new float[b.sampleSize()], one).get(logits).values();
        int classes = Math.toIntExact(plan.lastLevel().width());
        for (int c = 0; c < attr.size(); c++) {
            double[] a = attr.get(c);
            int per = a.length / SAMPLES;
            for (int n = 0; n < SAMPLES; n++) {
                double sum = 0;
                for (int i = 0; i < per; i++) {
                    sum += a[n * per + i];
                }
                int label = (int) y[n];
                double delta = z[n * classes + label] - z0[label];
                assertEquals(delta, sum, 2e-3 * Math.max(1, Math.abs(delta)), file + " cut " + (c + 1) + " sample " + n);
            }
        }
    }

    @Test
    void deepLiftSumsToDeltaOnTheReluMlp() {
        deepLiftSumsToDelta("mlp_k2_p0.onnx");
    }

    @Test
    void deepLiftSumsToDeltaThroughTanhSigmoidLeakyReluGeluClip() {
        deepLiftSumsToDelta("zoo_p0.onnx");
    }

    /** At the logits the gradient of F is the label's one-hot, so conductance telescopes exactly. */
    @Test
    void conductanceAtTheLogitsTelescopes() {
        Attributed fixture = Attributed.of("mlp_k2_p1.onnx", ImportanceMethod.CONDUCTANCE);
        Model model = fixture.model();
        LevelPlan plan = fixture.plan();
        FloatBatch b = fixture.batch();
        long[] y = fixture.labels();
        List<double[]> attr = fixture.attributions();
        double[] nodes = GaussLegendre.unitNodes(ImportanceScorer.CONDUCTANCE_POINTS);
        String logits = plan.lastLevel().cut();
        float[] hi = run(model, plan, scaled(b.values(), nodes[nodes.length - 1]), b.shape()).get(logits).values();
        float[] lo = run(model, plan, scaled(b.values(), nodes[0]), b.shape()).get(logits).values();
        double[] last = attr.get(attr.size() - 1);
        int classes = Math.toIntExact(plan.lastLevel().width());
        for (int n = 0; n < SAMPLES; n++) {
            for (int c = 0; c < classes; c++) {
                double expected = c == y[n] ? hi[n * classes + c] - lo[n * classes + c] : 0.0;
                assertEquals(expected, last[n * classes + c], 1e-4 * Math.max(1, Math.abs(expected)));
            }
        }
        // hidden cut: the path sum approximates F(alpha_10 x) - F(alpha_0 x) (a Riemann sum with
        // 10 steps); the ReLU kinks keep it from being exact, so only the total is checked loosely.
        double[] hidden = attr.get(0);
        int per = hidden.length / SAMPLES;
        double total = 0;
        double expected = 0;
        for (int n = 0; n < SAMPLES; n++) {
            for (int i = 0; i < per; i++) {
                total += hidden[n * per + i];
            }
            expected += hi[n * classes + (int) y[n]] - lo[n * classes + (int) y[n]];
        }
        assertEquals(expected, total, 0.1 * Math.abs(expected));
    }

    /** Ablating hidden neuron j of the MLP's first cut changes the label's logit by W2[y, j] relu(h_j). */
    @Test
    void ablationOfTheMlpsFirstCutHasItsClosedForm() {
        Attributed fixture = Attributed.of("mlp_k2_p0.onnx", ImportanceMethod.ABLATION);
        Model model = fixture.model();
        LevelPlan plan = fixture.plan();
        FloatBatch b = fixture.batch();
        long[] y = fixture.labels();
        List<double[]> attr = fixture.attributions();
        Level first = plan.level(1);
        float[] h = run(model, plan, b.values(), b.shape()).get(first.cut()).values();
        AffineWeights w2 = LevelWeights.read(model.graph(), plan.level(2));
        int width = Math.toIntExact(first.width());
        double[] a = attr.get(0);
        assertEquals(SAMPLES * width, a.length);
        for (int n = 0; n < SAMPLES; n++) {
            for (int j = 0; j < width; j++) {
                double expected = w2.get(j, (int) y[n]) * Math.max(0f, h[n * width + j]);
                assertEquals(expected, a[n * width + j], 1e-4 * Math.max(1, Math.abs(expected)), "sample " + n
                        + " neuron " + j);
            }
        }
    }

    @Test
    void scoresCoverEveryNeuronOfEveryLevelAndParent() {
        List<Model> parents = List.of(Fixtures.read("vgg_p0.onnx"), Fixtures.read("vgg_p1.onnx"));
        List<LevelPlan> plans = parents.stream().map(LevelPlanner::plan).toList();
        for (ImportanceMethod method : ImportanceMethod.values()) {
            try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(24)) {
                Importance s = new ImportanceScorer(method, 16, Fixtures.THREADS).score(parents, plans, data,
                        method == ImportanceMethod.ABLATION ? null : labels(24), ImportanceScorer.Progress.NONE);
                assertEquals(method, s.method());
                for (int k = 0; k < 2; k++) {
                    for (Level level : plans.get(k).levels()) {
                        double[] v = s.of(k, level.index());
                        assertEquals(level.width(), v.length);
                        for (double x : v) {
                            assertTrue(x > 0 && Double.isFinite(x), method + ": " + x);
                        }
                        if (method != ImportanceMethod.UNIFORM) {
                            // attributions tell neurons apart
                            assertNotEquals(v[0], v[1]);
                        }
                    }
                }
                assertEquals(method == ImportanceMethod.UNIFORM ? "none"
                        : method == ImportanceMethod.ABLATION ? "predictions" : "labels", s.labelSource());
            }
        }
    }

    @Test
    void labelsMustMatchTheDataAndTheClasses() {
        List<Model> parents = List.of(Fixtures.read("mlp_k2_p0.onnx"), Fixtures.read("mlp_k2_p1.onnx"));
        List<LevelPlan> plans = parents.stream().map(LevelPlanner::plan).toList();
        ImportanceScorer scorer = new ImportanceScorer(ImportanceMethod.DEEPLIFT, 16, 1);
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(8)) {
            DataException count = assertThrows(DataException.class, () -> scorer.score(parents, plans, data,
                    new long[7], ImportanceScorer.Progress.NONE));
            assertEquals(ErrorCode.DATA_SHAPE, count.code());
            long[] bad = new long[8];
            bad[3] = 10;
            DataException range = assertThrows(DataException.class, () -> scorer.score(parents, plans, data, bad,
                    ImportanceScorer.Progress.NONE));
            assertEquals(ErrorCode.DATA_FORMAT, range.code());
            assertTrue(range.getMessage().contains("label 10 at index 3"), range.getMessage());
        }
    }

    @Test
    void largeCutsScoreInSmallerBatches() {
        LevelPlan small = LevelPlanner.plan(Fixtures.read("vgg_p0.onnx"));
        assertEquals(256, ImportanceScorer.batchWithinBudget(small, 256));
        // 64 channels of 512 x 512 at the first cut: 16.8 M elements per sample, 3 samples per batch
        LevelPlan large = TestNets.Net.input("batch", 3, 512, 512).conv("c1", 3, 64, 3, true,
                Attribute.ofLongs("pads", 1, 1, 1, 1)).op("r", "Relu").op("gap", "GlobalAveragePool")
                .op("flat", "Flatten").gemm("fc", 64, 10, true, true).plan();
        assertEquals(3, ImportanceScorer.batchWithinBudget(large, 256));
        assertEquals(2, ImportanceScorer.batchWithinBudget(large, 2));
    }

    @Test
    void predictionsAreTheArgMax() {
        Activation z = new Activation("z", new long[] {2, 3}, new float[] {0f, 2f, 1f, 5f, -1f, 4.9f});
        assertArrayEquals(new long[] {1, 0}, ImportanceScorer.predictions(z));
    }
}
