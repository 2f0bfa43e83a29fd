package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;

/**
 * The factor and cross forms forced on bundled pairs against the Gram form: the levels that group
 * their own fit take it (the others stay in Gram form), the groupings cost the same and the fused
 * models compute the same function up to the rounding of the distances and of the fit.
 */
class GroupingFormFusionTest {

    private static FusionResult fuse(List<Model> parents, GroupingForm form) {
        return Fusion.builder().parentModels(parents).calibration(Fixtures.data("calib400_x.npy")).samples(400)
                .device("cpu").threads(2).seed(1).groupingForm(form).log(s -> { }).build().fuse();
    }

    @ParameterizedTest
    @CsvSource({"mlp_k2, factor", "dag/resnet, factor", "mlp_k2, cross", "dag/resnet, cross"})
    void factoredFormsFuseLikeTheGramForm(String pair, String formName) {
        List<Model> parents = List.of(Fixtures.read(pair + "_p0.onnx"), Fixtures.read(pair + "_p1.onnx"));
        GroupingForm form = GroupingForm.fromName(formName);
        FusionResult gram = fuse(parents, GroupingForm.GRAM);
        FusionResult factor = fuse(parents, form);
        assertEquals("gram", gram.settings().get("groupingForm"));
        assertEquals(formName, factor.settings().get("groupingForm"));
        String label = " (" + formName + " form)";
        int factorLevels = 0;
        for (int i = 0; i < gram.levels().size(); i++) {
            LevelReport g = gram.levels().get(i);
            LevelReport f = factor.levels().get(i);
            System.out.printf("%s level %d: %s / %s, cost %.9g / %.9g, fit error %.6g / %.6g%n", pair, g.level(),
                    g.method(), f.method(), g.groupingCost(), f.groupingCost(), g.relativeResidual(),
                    f.relativeResidual());
            if (f.method().endsWith(label)) {
                factorLevels++;
                assertEquals(g.method() + label, f.method());
            } else {
                assertEquals(g.method(), f.method());
                assertEquals(g.relativeResidual(), f.relativeResidual(), 1e-6 * Math.max(1, g.relativeResidual()));
            }
            assertEquals(g.groupingCost(), f.groupingCost(), 1e-7 * Math.max(1e-12, g.groupingCost()));
        }
        assertTrue(factorLevels > 0, pair + ": no level took the " + formName + " form");
        float[] a = Fixtures.logits(gram.model(), Fixtures.data("test_x.npy"));
        float[] b = Fixtures.logits(factor.model(), Fixtures.data("test_x.npy"));
        double diff = Fixtures.maxAbsDifference(a, b);
        double accGram = Fixtures.testAccuracy(gram.model());
        double accFactor = Fixtures.testAccuracy(factor.model());
        System.out.printf("%s: test accuracy gram %.4f %s %.4f, max abs logit difference %.3g%n", pair, accGram,
                formName, accFactor, diff);
        assertEquals(accGram, accFactor, 1e-9);
        assertTrue(diff < 1e-3, "max abs logit difference " + diff);
    }
}
