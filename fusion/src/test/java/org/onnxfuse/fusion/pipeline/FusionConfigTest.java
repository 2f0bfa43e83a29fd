package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.fusion.testing.Fixtures;

/** The one place where fusion settings are checked: defaults, --width's syntax, widths against plans. */
class FusionConfigTest {

    @Test
    void defaultsAreTheDocumentedOnes() {
        FusionConfig c = FusionConfig.defaults();
        assertEquals(FusionMethod.KF_LINEAR, c.method());
        assertTrue(c.widths().keepsParent0());
        assertEquals(0, c.seed());
        assertEquals(256, c.batchSize());
        assertEquals(0, c.threads());
        assertEquals(Runtime.getRuntime().availableProcessors(), c.threadsToUse());
        assertEquals("auto", c.device());
        assertEquals(0, c.samples());
        assertEquals(1e-6, c.ridge());
        assertTrue(c.usesParentPrior());
        assertNull(c.importance());
        assertEquals(ImportanceMethod.DEEPLIFT, c.importanceToUse(true));
        assertEquals(ClassWeights.AUTO, c.classWeights());
        assertEquals(10, c.restarts());
        assertEquals(100, c.maxIterations());
    }

    @Test
    void kfLinearDefaultsToUniformImportanceAndConfidenceWeightsOnDags() {
        FusionConfig c = FusionConfig.defaults();
        assertEquals(ImportanceMethod.DEEPLIFT, c.importanceToUse(true), "a chain keeps DeepLIFT");
        assertEquals(ImportanceMethod.UNIFORM, c.importanceToUse(false), "a DAG scores uniformly");
        assertEquals(ClassWeights.IMPORTANCE, c.classWeightsToUse(true, true), "a chain keeps the importance");
        assertEquals(ClassWeights.CONFIDENCE, c.classWeightsToUse(false, true), "a DAG with labels: confidence");
        assertEquals(ClassWeights.IMPORTANCE, c.classWeightsToUse(false, false), "confidence needs labels");
        FusionConfig gradient = FusionConfig.builder().method(FusionMethod.KF_GRADIENT).build();
        assertEquals(ImportanceMethod.DEEPLIFT, gradient.importanceToUse(false), "only kf-linear changes default");
        assertEquals(ClassWeights.IMPORTANCE, gradient.classWeightsToUse(false, true));
        FusionConfig asked = FusionConfig.builder().importance(ImportanceMethod.DEEPLIFT)
                .classWeights(ClassWeights.UNIFORM).build();
        assertEquals(ImportanceMethod.DEEPLIFT, asked.importanceToUse(false), "what was asked for holds");
        assertEquals(ClassWeights.UNIFORM, asked.classWeightsToUse(false, true));
    }

    @Test
    void aConfigurationCopiedIntoABuilderBuildsTheSame() {
        FusionConfig c = FusionConfig.builder().seed(7).widthFactor(0.5).width(1, 30).batchSize(32).threads(3)
                .device("CPU").samples(99).ridge(0).parentPrior(false).importance(ImportanceMethod.ABLATION)
                .restarts(4).maxIterations(9).groupingChoice(GroupingChoice.KMEANS).build();
        assertEquals("cpu", c.device());
        assertEquals(c, FusionConfig.builder().config(c).build());
        assertEquals(c, Fusion.builder().config(c).configuration());
    }

    @Test
    void paperExactSwitchesThePriorOffInTheRecord() {
        FusionConfig c = FusionConfig.builder().paperExact(true).build();
        assertFalse(c.usesParentPrior());
        Map<String, Object> recorded = c.recorded(400, "cpu", null);
        assertEquals(false, recorded.get("parentPrior"));
        assertEquals(400L, recorded.get("samples"));
        assertFalse(recorded.containsKey("importance"), "baselines record no importance");
        assertEquals(List.of("method", "seed", "samples", "batchSize", "device", "backend", "ridge",
                "parentPrior", "paperExact", "restarts", "maxIterations", "groupingForm", "grouping", "dtype",
                "widths"), List.copyOf(recorded.keySet()));
    }

    /**
     * kf-linear compares K-means with one-to-one matching by default only on two parents whose
     * levels form a DAG at their own widths (ALGORITHM.md section 3, "Choosing the grouping").
     */
    @Test
    void groupingAutoComparesOnlyTwoParentsOfADagAtTheirWidths() {
        assertEquals(GroupingChoice.AUTO, FusionConfig.defaults().groupingChoice());
        assertTrue(GroupingChoice.AUTO.compares(2, false, true));
        assertFalse(GroupingChoice.AUTO.compares(2, true, true), "a chain keeps K-means");
        assertFalse(GroupingChoice.AUTO.compares(3, false, true), "matching pairs two parents");
        assertFalse(GroupingChoice.AUTO.compares(2, false, false), "matching keeps the parents' widths");
        assertTrue(GroupingChoice.BOTH.compares(2, true, true));
        assertFalse(GroupingChoice.KMEANS.compares(2, false, true));
        assertEquals(GroupingChoice.BOTH, GroupingChoice.fromName(" Both "));
        org.onnxfuse.onnx.errors.OnnxFuseException unknown = assertThrows(
                org.onnxfuse.onnx.errors.OnnxFuseException.class, () -> GroupingChoice.fromName("hungarian"));
        assertEquals("unknown grouping 'hungarian'; expected one of [auto, kmeans, both]", unknown.getMessage());
    }

    @Test
    void groupingSettingsThatCannotApplyAreRefused() {
        InvalidSettingException method = assertThrows(InvalidSettingException.class, () -> FusionConfig.builder()
                .method(FusionMethod.HF_LINEAR).groupingChoice(GroupingChoice.BOTH).build());
        assertEquals("grouping (--grouping): expected --method kf-linear, found hf-linear", method.getMessage());
        assertThrows(InvalidSettingException.class, () -> FusionConfig.builder().method(FusionMethod.KF_GRADIENT)
                .groupingChoice(GroupingChoice.KMEANS).build());
        InvalidSettingException widths = assertThrows(InvalidSettingException.class, () -> FusionConfig.builder()
                .groupingChoice(GroupingChoice.BOTH).widthFactor(1.5).build());
        assertEquals("grouping (--grouping both): expected parent 0's widths, as one-to-one matching keeps them,"
                + " found other widths (--width)", widths.getMessage());
        FusionConfig both = FusionConfig.builder().groupingChoice(GroupingChoice.BOTH).build();
        InvalidSettingException parents = assertThrows(InvalidSettingException.class,
                () -> both.checkInputs(3, true, false));
        assertEquals("parents of --grouping both: expected exactly 2 parents, as one-to-one matching pairs two,"
                + " found 3", parents.getMessage());
        both.checkInputs(2, true, false);
        FusionConfig.builder().groupingChoice(GroupingChoice.KMEANS).widthFactor(1.5).build().checkInputs(3, true,
                false);
        assertEquals("both", both.recorded(10, "cpu", null).get("grouping"));
        assertFalse(FusionConfig.builder().method(FusionMethod.HF_LINEAR).build().recorded(10, "cpu", null)
                .containsKey("grouping"), "only kf-linear chooses a grouping");
    }

    @Test
    void widthTextIsAFactorOrPerLevelWidths() {
        assertEquals(1.5, FusionConfig.Widths.parse(" 1.5 ").factor());
        FusionConfig.Widths perLevel = FusionConfig.Widths.parse("2:128, 1:300");
        assertEquals(1.0, perLevel.factor());
        assertEquals(Map.of(1, 300, 2, 128), perLevel.levels());
        assertEquals(List.of(1, 2), List.copyOf(perLevel.levels().keySet()));
        assertTrue(FusionConfig.Widths.parse("").keepsParent0());
        for (String bad : List.of("abc", "1:2:3", "1:x", "one:3")) {
            InvalidSettingException e = assertThrows(InvalidSettingException.class,
                    () -> FusionConfig.Widths.parse(bad));
            assertTrue(e.getMessage().startsWith("--width " + bad + ": "), e.getMessage());
            assertTrue(e.getMessage().endsWith("expected a factor such as 1.5 or per-level widths such as 1:300,2:128"),
                    e.getMessage());
        }
        assertThrows(InvalidSettingException.class, () -> FusionConfig.Widths.parse("Infinity"));
        assertThrows(InvalidSettingException.class, () -> FusionConfig.Widths.parse("1:-3"));
    }

    @Test
    void widthsFollowTheParentsPlans() {
        List<LevelPlan> plans = List.of(plan("mlp_k2_p0.onnx"), plan("mlp_k2_p1.onnx"));
        assertArrayEquals(new int[] {256, 10}, FusionConfig.defaults().targetWidths(plans));
        assertArrayEquals(new int[] {128, 10}, FusionConfig.builder().widthFactor(0.5).build().targetWidths(plans));
        assertArrayEquals(new int[] {1, 10}, FusionConfig.builder().widthFactor(1e-9).build().targetWidths(plans));
        assertArrayEquals(new int[] {512, 10}, FusionConfig.builder().width(1, 512).build().targetWidths(plans));
        assertThrows(InvalidSettingException.class, () -> FusionConfig.builder().width(1, 513).build()
                .targetWidths(plans));
        assertThrows(InvalidSettingException.class, () -> FusionConfig.builder().width(0, 5).build()
                .targetWidths(plans));
    }

    @Test
    void theLevelsOfOneNeuronSpaceTakeOneWidth() {
        LevelPlan resnet = plan("dag/resnet_p0.onnx");
        List<LevelPlan> plans = List.of(resnet, plan("dag/resnet_p1.onnx"));
        NeuronSpace shared = resnet.spaces().stream().filter(s -> s.levels().size() > 1).findFirst().orElseThrow();
        int first = shared.levels().get(0);
        int second = shared.levels().get(1);
        int[] widths = FusionConfig.builder().width(second, 5).build().targetWidths(plans);
        for (int level : shared.levels()) {
            assertEquals(5, widths[level - 1], "level " + level + " of space " + shared.id());
        }
        InvalidSettingException e = assertThrows(InvalidSettingException.class,
                () -> FusionConfig.builder().width(first, 5).width(second, 6).build().targetWidths(plans));
        assertTrue(e.getMessage().contains("share neuron space " + shared.id()) && e.getMessage().endsWith(
                "found 5 and 6"), e.getMessage());
    }

    private static LevelPlan plan(String file) {
        return LevelPlanner.plan(ConstantFolding.fold(Fixtures.read(file)));
    }
}
