package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;

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
    void recurrentLayersAndAttentionTheRewriteCannotFollowAreNamed() {
        String lstm = refusal("refused/lstm.onnx");
        assertTrue(lstm.contains("recurrent layer (LSTM) at '/l/LSTM' (recurrent layers are not supported)"), lstm);
        // nn.TransformerEncoderLayer: its nn.MultiheadAttention is rewritten batch first and planned
        Model encoder = ConstantFolding.fold(Fixtures.read("refused/encoder.onnx"));
        assertEquals(8, LevelPlanner.plan(encoder).levels().size());
        assertEquals(List.of(), Constructs.find(encoder.graph()));
        // the keys transposed another way: not the layout the rewrite knows, so the attention is named
        Graph g = Fixtures.read("refused/encoder.onnx").graph();
        List<Node> nodes = g.nodes().stream().map(n -> n.name().equals("/t/self_attn/Transpose_3")
                ? n.withAttribute(Attribute.ofLongs("perm", 2, 1, 0)) : n).toList();
        Model odd = ConstantFolding.fold(Fixtures.read("refused/encoder.onnx").withGraph(g.toBuilder().nodes(nodes)
                .build()));
        String message = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(odd)).getMessage();
        assertTrue(message.contains("attention (Softmax of scores, then MatMul) at '/t/self_attn/Softmax'"), message);
        assertFalse(message.contains("LayerNorm"), "its LayerNorms are supported: " + message);
    }

    @Test
    void multiheadAttentionFormsTheRewriteLeavesAreNamed() {
        // input [T, N, D] (batch on axis 1): the attention could be rewritten batch first, but the swaps it needs
        // lead back to the model input through the embedding alone, so nothing is rewritten and the input is named
        // with what is expected of it
        String input = refusal("mha/tokens_first_input_op17.onnx");
        assertTrue(input.contains("model input 'input' [28, batch, 28] tokens first (batch on axis 1), read by torch's"
                + " nn.MultiheadAttention at '/attn/Softmax'") && input.contains("expects the batch on axis 0 of every"
                + " model input") && input.contains("export the model with a batch-first input"), input);
        assertFalse(input.contains("attention (Softmax of scores, then MatMul)"), "named once, as the input: " + input);
        // a model that moves its own batch-first input tokens first is planned, and its input is not named
        assertEquals(List.of(), MultiheadAttentionLayout.tokensFirstInputs(ConstantFolding.fold(
                Fixtures.read("mha/encoder_tokens_first_op17.onnx")).graph()));
        assertEquals(List.of("input"), MultiheadAttentionLayout.tokensFirstInputs(ConstantFolding.fold(
                Fixtures.read("mha/tokens_first_input_op17.onnx")).graph()));
    }

    @Test
    void modelsThatPlanHaveNothingToName() {
        for (String file : List.of("mlp_k2_p0.onnx", "vgg_p0.onnx", "dag/resnet_p0.onnx", "dag/mbv2_p0.onnx",
                "vit/vit_op13.onnx", "vit/vit_packed_op17.onnx",
                "mha/encoder_tokens_first_op17.onnx", "mha/cross_op17.onnx", "mha/cross_separate_kv_op17.onnx")) {
            assertEquals(List.of(), Constructs.find(ConstantFolding.fold(Fixtures.read(file)).graph()), file);
        }
    }
}
