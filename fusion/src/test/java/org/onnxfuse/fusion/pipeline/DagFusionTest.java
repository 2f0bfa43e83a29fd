package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.evaluate.BatchOutputs;
import org.onnxfuse.fusion.evaluate.ModelEvaluator;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.ir.Model;

/**
 * The linear variant on networks that are not one chain (test-models/models/dag): residual
 * blocks with projection shortcuts, inverted residuals with depthwise Convs, squeeze-excitation
 * gates, DenseNet and fire-module concatenations. A parent fused with a copy of itself whose
 * neurons are permuted consistently within every neuron space must come back as the same function.
 */
class DagFusionTest {
    private static Fusion.Builder fusion(Model a, Model b) {
        return Fusion.builder().parents(a, b).calibration(Fixtures.data("calib400_x.npy")).samples(200)
                .device("cpu").threads(Fixtures.THREADS).restarts(2).log(s -> { });
    }

    private static double maxDifference(Model expected, Model actual) {
        return Fixtures.maxAbsDifference(Fixtures.logits(expected, Fixtures.data("test_x.npy")),
                Fixtures.logits(actual, Fixtures.data("test_x.npy")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet", "mbv2", "se", "dense", "squeeze", "twohead"})
    void permutingEverySpaceKeepsTheFunction(String family) {
        Model model = Fixtures.read("dag/" + family + "_p0.onnx");
        Model permuted = ModelEdits.permuted(model, 5);
        double diff = maxDifference(model, permuted);
        assertTrue(diff < 1e-4, family + ": the permuted copy differs by " + diff);
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet", "mbv2", "se", "dense", "squeeze", "twohead"})
    void fusesWithItsPermutedCopyBackToItself(String family) {
        Model model = Fixtures.read("dag/" + family + "_p0.onnx");
        assertFalse(LevelPlanner.plan(model).sequential(), family);
        Model permuted = ModelEdits.permuted(model, 3);
        FusionResult r = fusion(model, permuted).build().fuse();
        double diff = maxDifference(model, r.model());
        assertTrue(diff < 1e-4, family + ": max abs logit difference " + diff + "; " + r.warnings());
        assertEquals(Fixtures.interfaceOf(model), Fixtures.interfaceOf(r.model()));
    }

    /**
     * kf-linear's defaults on a DAG with labels are uniform importance and confidence class
     * weights (docs/ALGORITHM.md section 3, "Defaults on DAGs"): the default fusion of the
     * bundled ResNet pair is the one those options give.
     */
    @Test
    void dagDefaultsAreUniformImportanceAndConfidenceWeights() {
        Model p0 = Fixtures.read("dag/resnet_p0.onnx");
        Model p1 = Fixtures.read("dag/resnet_p1.onnx");
        long[] labels = Fixtures.labels(Fixtures.data("calib400_y.npy"), 400);
        FusionResult byDefault = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy"))
                .labels(labels).device("cpu").threads(Fixtures.THREADS).log(s -> { }).build().fuse();
        assertEquals(ImportanceMethod.UNIFORM, byDefault.importance().method());
        assertEquals("confidence", byDefault.settings().get("classWeights"));
        FusionResult asked = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy"))
                .labels(labels).device("cpu").threads(Fixtures.THREADS).log(s -> { })
                .importance(ImportanceMethod.UNIFORM).classWeights(ClassWeights.CONFIDENCE)
                .groupingChoice(GroupingChoice.KMEANS).build().fuse();
        float[] logits = Fixtures.logits(byDefault.model(), Fixtures.data("test_x.npy"));
        assertEquals(0.0, Fixtures.maxAbsDifference(Fixtures.logits(asked.model(), Fixtures.data("test_x.npy")),
                logits));
    }

    /**
     * The default kf-linear fusion of each bundled DAG pair beats the better parent on the test set
     * with 400 calibration samples (uniform importance, confidence class weights, shared spaces
     * grouped and fitted through their Relu or Clip, and the grouping closer to the ensemble kept:
     * measured resnet 89.40, mbv2 81.60, se 81.93, dense 88.60, squeeze 78.53, twohead 90.33 % against
     * 87.93, 80.40, 81.80, 84.87, 78.27, 86.87 %; bench/results/quality_dag.md).
     */
    @ParameterizedTest
    @ValueSource(strings = {"resnet", "mbv2", "se", "dense", "squeeze", "twohead"})
    void theDefaultFusionBeatsTheBetterParent(String family) {
        Model p0 = Fixtures.read("dag/" + family + "_p0.onnx");
        Model p1 = Fixtures.read("dag/" + family + "_p1.onnx");
        FusionResult r = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy"))
                .labels(Fixtures.labels(Fixtures.data("calib400_y.npy"), 400)).device("cpu")
                .threads(Fixtures.THREADS).log(s -> { }).build().fuse();
        double best = Math.max(Fixtures.testAccuracy(p0), Fixtures.testAccuracy(p1));
        double fused = Fixtures.testAccuracy(r.model());
        assertTrue(fused > best, family + ": fused " + fused + " against the better parent's " + best);
    }

    /**
     * By default kf-linear fuses two parents of a DAG twice, with K-means groups and by one-to-one
     * matching (hf-linear's grouping, DeepLIFT importance and class weights), and keeps the fused
     * model whose logits are closer to the parents' mean on the calibration data: on squeeze (4- and
     * 6-wide squeeze spaces) that is the matching, on resnet K-means; the model kept is the
     * candidate's own, bit for bit, and the record says which was kept and why.
     */
    @Test
    void theGroupingCloserToTheEnsembleIsKept() {
        long[] labels = Fixtures.labels(Fixtures.data("calib400_y.npy"), 400);
        for (String family : List.of("squeeze", "resnet")) {
            Model p0 = Fixtures.read("dag/" + family + "_p0.onnx");
            Model p1 = Fixtures.read("dag/" + family + "_p1.onnx");
            java.util.function.Supplier<Fusion.Builder> job = () -> Fusion.builder().parents(p0, p1)
                    .calibration(Fixtures.data("calib400_x.npy")).labels(labels).device("cpu")
                    .threads(Fixtures.THREADS).log(s -> { });
            FusionResult chosen = job.get().build().fuse();
            FusionResult kmeans = job.get().groupingChoice(GroupingChoice.KMEANS).build().fuse();
            FusionResult matching = job.get().method(FusionMethod.HF_LINEAR).build().fuse();
            @SuppressWarnings("unchecked")
            Map<String, Object> kept = (Map<String, Object>) chosen.settings().get("groupingKept");
            double kmeansError = (double) ((Map<?, ?>) kept.get("kmeans")).get("logitError");
            double matchingError = (double) ((Map<?, ?>) kept.get("matching")).get("logitError");
            boolean matched = family.equals("squeeze");
            assertEquals(matched ? "matching" : "kmeans", kept.get("kept"), family);
            assertEquals(400L, kept.get("samples"));
            assertTrue(matched == matchingError < kmeansError, family + ": " + kept);
            FusionResult expected = matched ? matching : kmeans;
            assertEquals(0.0, maxDifference(expected.model(), chosen.model()), family);
            assertEquals(expected.levels().stream().map(LevelReport::method).toList(),
                    chosen.levels().stream().map(LevelReport::method).toList());
            assertEquals(expected.importance().method(), chosen.importance().method());
            assertEquals(matched ? ImportanceMethod.DEEPLIFT : ImportanceMethod.UNIFORM,
                    chosen.importance().method());
            assertEquals("kf-linear", chosen.settings().get("method"));
            assertEquals("auto", chosen.settings().get("grouping"));
            assertFalse(kmeans.settings().containsKey("groupingKept"), "kmeans fuses once");
        }
    }

    /** A chain, more than two parents, or other widths: auto fuses with K-means alone. */
    @Test
    void autoKeepsKMeansWhereMatchingDoesNotApply() {
        Model model = Fixtures.read("dag/resnet_p0.onnx");
        FusionResult wider = fusion(model, ModelEdits.permuted(model, 4)).widthFactor(1.5).build().fuse();
        assertFalse(wider.settings().containsKey("groupingKept"));
        FusionResult pair = fusion(model, ModelEdits.permuted(model, 4)).build().fuse();
        assertTrue(pair.settings().containsKey("groupingKept"), "two parents of a DAG compare");
        Model mlp = Fixtures.read("mlp_k2_p0.onnx");
        FusionResult chain = Fusion.builder().parents(mlp, Fixtures.read("mlp_k2_p1.onnx"))
                .calibration(Fixtures.data("calib400_x.npy")).samples(100).device("cpu").threads(Fixtures.THREADS)
                .log(s -> { }).build().fuse();
        assertFalse(chain.settings().containsKey("groupingKept"), "a chain fuses once");
        FusionResult forced = Fusion.builder().parents(mlp, Fixtures.read("mlp_k2_p1.onnx"))
                .calibration(Fixtures.data("calib400_x.npy")).samples(100).device("cpu").threads(Fixtures.THREADS)
                .groupingChoice(GroupingChoice.BOTH).log(s -> { }).build().fuse();
        assertTrue(forced.settings().containsKey("groupingKept"), "both compares on a chain too");
        FusionResult kf = Fusion.builder().parents(model, ModelEdits.permuted(model, 4), ModelEdits.permuted(model, 5))
                .calibration(Fixtures.data("calib400_x.npy")).samples(100).device("cpu").threads(Fixtures.THREADS)
                .restarts(2).log(s -> { }).build().fuse();
        assertFalse(kf.settings().containsKey("groupingKept"), "three parents fuse once");
    }

    /**
     * squeeze's classes pass a Relu and GlobalAveragePool: kf-linear fits its class Conv to the
     * parents' logits through them (measured 73.27 % with 400 samples, against 48.53 % for the
     * per-position least squares before; bench/results/dag_levers.md section 6), and a ReduceMean
     * over the positions is the same head: the same fused function.
     */
    @Test
    void aSqueezeNetHeadIsFittedThroughItsReluAndAverage() {
        Model p0 = Fixtures.read("dag/squeeze_p0.onnx");
        Model p1 = Fixtures.read("dag/squeeze_p1.onnx");
        FusionResult r = fusion(p0, p1).samples(400).labels(Fixtures.labels(Fixtures.data("calib400_y.npy"), 400))
                .groupingChoice(GroupingChoice.KMEANS).build().fuse();
        LevelReport last = r.levels().get(r.levels().size() - 1);
        assertTrue(last.method().contains("fitted through the Relu and pooling"), last.method());
        double fused = Fixtures.testAccuracy(r.model());
        assertTrue(fused > 0.70, "fused " + fused);
        FusionResult asMean = fusion(PooledHeadTest.reduceMeanInsteadOfGlobalPool(p0, 2, 3),
                PooledHeadTest.reduceMeanInsteadOfGlobalPool(p1, 2, 3)).samples(400)
                .groupingChoice(GroupingChoice.KMEANS).labels(Fixtures.labels(Fixtures.data("calib400_y.npy"), 400)).build().fuse();
        double diff = maxDifference(r.model(), asMean.model());
        assertTrue(diff < 1e-4, "GlobalAveragePool and ReduceMean heads fused " + diff + " apart");
    }

    @Test
    void bothOutputsOfATwoHeadedModelComeBack() {
        Model model = Fixtures.read("dag/twohead_p0.onnx");
        LevelPlan plan = LevelPlanner.plan(model);
        assertEquals(List.of("logits", "aux_logits"), plan.heads().stream().map(h -> h.output()).toList());
        assertTrue(plan.heads().stream().allMatch(h -> h.carriesClasses()));
        FusionResult r = fusion(model, ModelEdits.permuted(model, 2)).build().fuse();
        assertEquals(ImportanceMethod.UNIFORM, r.importance().method(), "attributions explain one output");
        try (NpyArray x = NpyArray.open(Fixtures.data("test_x.npy"));
             ModelEvaluator expected = ModelEvaluator.open(model, Fixtures.THREADS);
             ModelEvaluator actual = ModelEvaluator.open(r.model(), Fixtures.THREADS)) {
            Iterator<BatchOutputs> a = actual.run(x, Fixtures.BATCH).iterator();
            for (BatchOutputs e : expected.run(x, Fixtures.BATCH)) {
                BatchOutputs f = a.next();
                for (String output : List.of("logits", "aux_logits")) {
                    double diff = Fixtures.maxAbsDifference(e.get(output).values(), f.get(output).values());
                    assertTrue(diff < 1e-4, output + " differs by " + diff);
                }
            }
        }
    }

    @Test
    void identicalResidualParentsReturnTheParent() {
        Model model = Fixtures.read("dag/resnet_p0.onnx");
        FusionResult r = fusion(model, model).importance(ImportanceMethod.UNIFORM).build().fuse();
        assertTrue(maxDifference(model, r.model()) < 1e-4);
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet", "dense", "mbv2"})
    void otherWidthsGiveAWorkingModel(String family) {
        Model model = Fixtures.read("dag/" + family + "_p0.onnx");
        Model permuted = ModelEdits.permuted(model, 4);
        FusionResult r = fusion(model, permuted).widthFactor(1.5).build().fuse();
        LevelPlan fused = LevelPlanner.plan(r.model());
        LevelPlan parent = LevelPlanner.plan(model);
        for (int s = 0; s < parent.spaces().size(); s++) {
            long own = parent.space(s).width();
            long expected = s == parent.lastLevel().space() ? own : Math.round(1.5 * own);
            assertEquals(expected, fused.space(s).width(), family + " space " + s);
        }
        float[] logits = Fixtures.logits(r.model(), Fixtures.data("test_x.npy"));
        assertEquals(1500 * 10, logits.length);
        double diff = maxDifference(model, r.model());
        assertTrue(diff < 1e-2, family + ": a wider fusion of a model with its permuted copy differs by " + diff);
    }

    @Test
    void hungarianMatchingFusesAResidualNetToo() {
        Model model = Fixtures.read("dag/resnet_p0.onnx");
        FusionResult r = fusion(model, ModelEdits.permuted(model, 8)).method(FusionMethod.HF_LINEAR).build().fuse();
        assertTrue(maxDifference(model, r.model()) < 1e-4);
    }

    @ParameterizedTest
    @ValueSource(strings = {"average", "weight-match", "act-match"})
    void baselinesAlignAResidualNetWithItsPermutedCopy(String method) {
        Model model = Fixtures.read("dag/resnet_p0.onnx");
        Model copy = method.equals("average") ? model : ModelEdits.permuted(model, 6);
        FusionResult r = fusion(model, copy).method(FusionMethod.fromName(method)).build().fuse();
        assertTrue(maxDifference(model, r.model()) < 1e-4, method);
    }
}
