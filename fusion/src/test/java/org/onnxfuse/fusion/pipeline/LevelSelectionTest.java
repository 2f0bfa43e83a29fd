package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/** --keep-levels and --fuse-levels: kept levels are their parent's, fused ones as before; what is refused. */
class LevelSelectionTest {
    private static final Model P0 = Fixtures.read("mlp_k2_p0.onnx");
    private static final Model P1 = Fixtures.read("mlp_k2_p1.onnx");

    private static FusionResult fuse(List<Model> parents, UnaryOperator<Fusion.Builder> selection) {
        Fusion.Builder b = Fusion.builder().parentModels(parents).calibration(Fixtures.data("calib400_x.npy"))
                .samples(300).device("cpu").threads(2).batchSize(100).seed(1).log(s -> { });
        FusionResult r = selection.apply(b).build().fuse();
        for (LevelReport l : r.levels()) {
            System.out.printf("level %d %s %s k=%d residual=%.3g%n", l.level(), l.opType(), l.method(), l.width(),
                    l.relativeResidual());
        }
        return r;
    }

    private static AffineWeights weights(Model model, int level) {
        LevelPlan plan = LevelPlanner.plan(model);
        return LevelWeights.read(model.graph(), plan.level(level));
    }

    private static double maxLogitDifference(Model a, Model b) {
        return Fixtures.maxAbsDifference(Fixtures.logits(a, Fixtures.data("test_x.npy")),
                Fixtures.logits(b, Fixtures.data("test_x.npy")));
    }

    @Test
    void aKeptFirstLevelIsParent0sExactly() {
        FusionResult r = fuse(List.of(P0, P1), b -> b.keepLevel(1));
        AffineWeights expected = weights(P0, 1);
        AffineWeights actual = weights(r.model(), 1);
        assertEquals(expected.rows(), actual.rows());
        assertEquals(expected.cols(), actual.cols());
        assertArrayEquals(expected.data(), actual.data(), 0f, "level 1 is parent 0's, bit for bit");
        assertEquals("kept (parent 0)", r.levels().get(0).method());
        assertEquals("class mean", r.levels().get(1).method());
        double fused = Fixtures.testAccuracy(r.model());
        double parent0 = Fixtures.testAccuracy(P0);
        double parent1 = Fixtures.testAccuracy(P1);
        double all = Fixtures.testAccuracy(fuse(List.of(P0, P1), b -> b).model());
        System.out.printf("test accuracy: parent 0 %.4f, parent 1 %.4f, all fused %.4f, level 1 kept %.4f%n",
                parent0, parent1, all, fused);
        // the class level still fuses both parents' classes on parent 0's features
        assertTrue(fused > 0.5, "accuracy " + fused);
        assertEquals(Map.of("1", 0), r.settings().get("keptLevels"));
    }

    @Test
    void fuseLevelsIsKeepingTheComplement() {
        FusionResult fuse = fuse(List.of(P0, P1), b -> b.fuseLevel(2));
        FusionResult keep = fuse(List.of(P0, P1), b -> b.keepLevel(1));
        assertArrayEquals(OnnxWriter.toBytes(keep.model()), OnnxWriter.toBytes(fuse.model()),
                "byte-identical models, provenance included");
    }

    @Test
    void keepingEveryLevelGivesParent0sFunction() {
        FusionResult r = fuse(List.of(P0, P1), b -> b.keepLevel(1).keepLevel(2));
        double diff = maxLogitDifference(P0, r.model());
        System.out.println("max abs logit difference to parent 0: " + diff);
        assertTrue(diff < 1e-4, "max abs logit difference " + diff);
        assertEquals("kept (parent 0)", r.levels().get(1).method());
    }

    @Test
    void keepingEveryLevelFromParent1GivesParent1sFunction() {
        FusionResult r = fuse(List.of(P0, P1), b -> b.keepLevel(1, 1).keepLevel(2, 1));
        double diff = maxLogitDifference(P1, r.model());
        System.out.println("max abs logit difference to parent 1: " + diff);
        assertTrue(diff < 1e-4, "max abs logit difference " + diff);
        assertEquals("kept (parent 1)", r.levels().get(0).method());
    }

    @Test
    void aLevelKeptFromAWiderParentTakesItsWidth() {
        // a parent of hidden width 384 (a fusion at --width 1.5 is a valid MLP of that width)
        Model wide = fuse(List.of(P0, P1), b -> b.widthFactor(1.5)).model();
        assertEquals(384, LevelPlanner.plan(wide).level(1).width());
        FusionResult r = fuse(List.of(P0, wide), b -> b.keepLevel(1, 1));
        assertEquals("kept (parent 1)", r.levels().get(0).method());
        assertEquals(384, r.levels().get(0).width());
        AffineWeights expected = weights(wide, 1);
        AffineWeights actual = weights(r.model(), 1);
        assertEquals(expected.rows(), actual.rows());
        assertEquals(expected.cols(), actual.cols());
        assertArrayEquals(expected.data(), actual.data(), 0f, "level 1 is the wide parent's, bit for bit");
        // the class level reads 384 fused neurons, fitted on them
        assertEquals(385, r.levels().get(1).fanIn());
        double fused = Fixtures.testAccuracy(r.model());
        System.out.printf("kept from the 384-wide parent: test accuracy %.4f%n", fused);
        assertTrue(fused > 0.8, "test accuracy " + fused);
        // keeping every level of the wide parent gives its function
        FusionResult whole = fuse(List.of(P0, wide), b -> b.keepLevel(1, 1).keepLevel(2, 1));
        assertTrue(maxLogitDifference(wide, whole.model()) < 1e-4);
    }

    @Test
    void aKeptLevelAfterAFusedOneIsFittedToParent0sOutputs() {
        FusionResult r = fuse(List.of(P0, P1), b -> b.keepLevel(2));
        assertEquals("kept (parent 0, fitted)", r.levels().get(1).method());
        LevelReport level2 = r.levels().get(1);
        System.out.printf("fit error of the kept class level: %.4f; test accuracy %.4f%n", level2.relativeResidual(),
                Fixtures.testAccuracy(r.model()));
        assertTrue(level2.relativeResidual() < 1, "fit error " + level2.relativeResidual());
    }

    @Test
    void keepingAResidualNetworkWholeGivesParent0sFunction() {
        Model a = Fixtures.read("dag/resnet_p0.onnx");
        Model b = Fixtures.read("dag/resnet_p1.onnx");
        FusionResult r = fuse(List.of(a, b), s -> s.levels(LevelSelection.parseKeep("1-9")));
        double diff = maxLogitDifference(a, r.model());
        System.out.println("resnet, all kept: max abs logit difference to parent 0: " + diff);
        assertTrue(diff < 1e-4, "max abs logit difference " + diff);
    }

    @Test
    void aKeptStreamSpaceAfterFusedLevelsIsFittedThroughTheResidual() {
        Model a = Fixtures.read("dag/resnet_p0.onnx");
        Model b = Fixtures.read("dag/resnet_p1.onnx");
        // space 0 (levels 1 and 3, the stem and block 1's stream) kept; level 2 between them fused
        FusionResult r = fuse(List.of(a, b), s -> s.keepLevel(1).keepLevel(3));
        assertEquals("kept (parent 0)", r.levels().get(0).method());
        assertEquals("kept (parent 0, fitted, residual)", r.levels().get(2).method());
        double acc = Fixtures.testAccuracy(r.model());
        System.out.printf("resnet, space 0 kept: test accuracy %.4f (parent 0 %.4f)%n", acc,
                Fixtures.testAccuracy(a));
        assertTrue(acc > 0.5, "accuracy " + acc);
    }

    @Test
    void keptLevelsAreNotTrained() {
        FusionResult r = fuse(List.of(P0, P1), b -> b.method(FusionMethod.KF_GRADIENT).epochs(3).keepLevel(1));
        assertEquals("kept (parent 0)", r.levels().get(0).method());
        assertEquals(null, r.levels().get(0).training(), "a kept level is not trained");
        assertTrue(r.levels().get(1).training() != null, "the fused class level is");
        assertArrayEquals(weights(P0, 1).data(), weights(r.model(), 1).data(), 0f);
    }

    @Test
    void hfLinearKeepsLevelsToo() {
        FusionResult r = fuse(List.of(P0, P1), b -> b.method(FusionMethod.HF_LINEAR).fuseLevel(1));
        assertEquals("HF", r.levels().get(0).method());
        assertEquals("kept (parent 0, fitted)", r.levels().get(1).method());
    }

    private static InvalidSettingException refused(List<Model> parents, UnaryOperator<Fusion.Builder> selection) {
        return assertThrows(InvalidSettingException.class, () -> fuse(parents, selection));
    }

    @Test
    void refusals() {
        assertEquals("level selection (--keep-levels 1, --fuse-levels 2): expected one of the two (each keeps what"
                + " the other fuses), found both", refused(List.of(P0, P1), b -> b.keepLevel(1).fuseLevel(2))
                .getMessage());
        assertEquals("kept level 3 (--keep-levels 3): expected a level from 1 to 2, found 3",
                refused(List.of(P0, P1), b -> b.keepLevel(3)).getMessage());
        assertEquals("fused level 5 (--fuse-levels 5): expected a level from 1 to 2, found 5",
                refused(List.of(P0, P1), b -> b.fuseLevel(5)).getMessage());
        assertEquals("kept level 0 (--keep-levels 0): expected a level numbered from 1, found 0",
                refused(List.of(P0, P1), b -> b.keepLevel(0)).getMessage());
        assertEquals("parent of kept level 1 (--keep-levels 1:2): expected a parent from 0 to 1, found 2",
                refused(List.of(P0, P1), b -> b.keepLevel(1, 2)).getMessage());
        assertEquals("parent of kept level 2 (--keep-levels 2:1): expected level 2's inputs to be parent 1's own"
                + " neurons (the model input, or levels kept from parent 1 too), as its weights are exact only there;"
                + " keep from parent 0 instead, which is fitted to fused inputs, found level 1 fused",
                refused(List.of(P0, P1), b -> b.keepLevel(2, 1)).getMessage());
        assertEquals("width (--width 1:100): expected a level that is fused, found level 1, kept from parent 0 with"
                + " its own width", refused(List.of(P0, P1), b -> b.keepLevel(1).width(1, 100)).getMessage());
        assertEquals("level selection (--keep-levels, --fuse-levels): expected --method kf-linear, hf-linear,"
                + " kf-gradient or kf-auto, found average, which aligns every level",
                refused(List.of(P0, P1), b -> b.method(FusionMethod.AVERAGE).keepLevel(1)).getMessage());
        Model a = Fixtures.read("dag/resnet_p0.onnx");
        Model b = Fixtures.read("dag/resnet_p1.onnx");
        assertEquals("level selection (--keep-levels 5): expected levels 5, 6, 8 kept or fused together, as they"
                + " share neuron space 3 (their neurons are joined), found 5 kept and 6, 8 fused",
                refused(List.of(a, b), s -> s.keepLevel(5)).getMessage());
        assertEquals("level selection (--fuse-levels 1,2): expected levels 1, 3 kept or fused together, as they"
                + " share neuron space 0 (their neurons are joined), found 3 kept and 1 fused",
                refused(List.of(a, b), s -> s.fuseLevel(1).fuseLevel(2)).getMessage());
    }

    @Test
    void syntax() {
        assertEquals(new LevelSelection(new java.util.TreeMap<>(Map.of(1, 0, 2, 0, 4, 1)), new java.util.TreeSet<>()),
                LevelSelection.parseKeep("1-2, 4:1"));
        assertEquals(new LevelSelection(new java.util.TreeMap<>(), new java.util.TreeSet<>(List.of(2, 3))),
                LevelSelection.parseFuse("2-3"));
        assertTrue(LevelSelection.parseKeep(" ").fusesAll());
        assertEquals("--keep-levels 1,x: 'x' is not a whole number; expected " + LevelSelection.KEEP_SYNTAX,
                assertThrows(InvalidSettingException.class, () -> LevelSelection.parseKeep("1,x")).getMessage());
        assertEquals("--keep-levels 3-1: the range '3-1' runs backwards; expected " + LevelSelection.KEEP_SYNTAX,
                assertThrows(InvalidSettingException.class, () -> LevelSelection.parseKeep("3-1")).getMessage());
        assertEquals("--keep-levels 1:0:1: '1:0:1' has more than one ':'; expected " + LevelSelection.KEEP_SYNTAX,
                assertThrows(InvalidSettingException.class, () -> LevelSelection.parseKeep("1:0:1")).getMessage());
        assertEquals("--fuse-levels 2:1: '2:1' is not a whole number; expected " + LevelSelection.FUSE_SYNTAX,
                assertThrows(InvalidSettingException.class, () -> LevelSelection.parseFuse("2:1")).getMessage());
    }
}
