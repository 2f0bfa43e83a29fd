package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.ir.Model;

/**
 * The forms the PyTorch exporter really writes (test-models/models/export_forms: in-model
 * normalisation, Pad + AveragePool, flatten or view, SiLU/GELU as several nodes, a LogSoftmax
 * head, opsets 13 and 17): each plans, scores with DeepLIFT and fuses with a permuted copy of
 * itself back to the same function.
 */
class ExportFormsTest {
    @ParameterizedTest
    @ValueSource(strings = {"relu_opset13", "relu_opset17", "silu_opset17", "gelu_opset17", "tanh_opset17"})
    void fusesWithItsPermutedCopyBackToItself(String form) {
        Model model = Fixtures.read("export_forms/" + form + ".onnx");
        LevelPlan plan = LevelPlanner.plan(model);
        assertEquals(List.of(8L, 16L, 32L, 10L), plan.widths());
        Model permuted = ModelEdits.permuted(model, 3);
        FusionResult r = Fusion.builder().parents(model, permuted).calibration(Fixtures.data("calib400_x.npy"))
                .samples(200).device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse();
        assertEquals(ImportanceMethod.DEEPLIFT, r.importance().method(), r.warnings().toString());
        float[] expected = Fixtures.logits(model, Fixtures.data("test_x.npy"));
        float[] actual = Fixtures.logits(r.model(), Fixtures.data("test_x.npy"));
        double diff = Fixtures.maxAbsDifference(expected, actual);
        assertTrue(diff < 1e-4, form + ": max abs output difference " + diff);
        assertEquals(Fixtures.interfaceOf(model), Fixtures.interfaceOf(r.model()));
    }
}
