package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Model;

/** A refusal names every construct the planner does not handle yet, in a user's terms. */
class ConstructsTest {

    private static String refusal(String file) {
        Model model = ConstantFolding.fold(Fixtures.read(file));
        return assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(model)).getMessage();
    }

    @Test
    void layerNormInBothExportFormsPlans() {
        // named as unsupported before the LayerNorm support; both forms are per-neuron ops now
        for (String file : List.of("refused/layernorm_opset13.onnx", "refused/layernorm_opset17.onnx")) {
            Model model = ConstantFolding.fold(Fixtures.read(file));
            assertEquals(List.of(), Constructs.find(model.graph()), file);
            assertEquals(1, LevelPlanner.plan(model).perNeuron().size(), file);
        }
    }

    @Test
    void recurrentAndTransformerLayersAreNamedAllAtOnce() {
        String lstm = refusal("refused/lstm.onnx");
        assertTrue(lstm.contains("recurrent layer (LSTM) at '/l/LSTM' (recurrent layers are not supported)"), lstm);
        String encoder = refusal("refused/encoder.onnx");
        assertTrue(encoder.contains("attention (Softmax of scores, then MatMul) at '/t/self_attn/Softmax'"), encoder);
        assertFalse(encoder.contains("LayerNorm"), "its LayerNorms are supported: " + encoder);
        List<Constructs.Found> found = Constructs.find(Fixtures.read("refused/encoder.onnx").graph());
        assertEquals(1, found.size(), found.toString());
    }

    @Test
    void modelsThatPlanHaveNothingToName() {
        for (String file : List.of("mlp_k2_p0.onnx", "vgg_p0.onnx", "dag/resnet_p0.onnx", "dag/mbv2_p0.onnx",
                "vit/vit_op13.onnx", "vit/vit_packed_op17.onnx")) {
            assertEquals(List.of(), Constructs.find(ConstantFolding.fold(Fixtures.read(file)).graph()), file);
        }
    }
}
