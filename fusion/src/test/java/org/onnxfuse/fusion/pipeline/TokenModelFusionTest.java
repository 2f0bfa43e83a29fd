package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.fusion.plan.ResidualBlock;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Model;

/**
 * torch exports of a token model (test-models/scripts/make_token_models.py: rows of the image as
 * tokens, pre-LayerNorm residual MLP blocks, mean pooling over the tokens): the residual stream is
 * one neuron space holding every LayerNorm's parameters, in both LayerNorm export forms.
 */
class TokenModelFusionTest {
    private static Model model(int opset) {
        return Fixtures.read("tokens/resmlp_op" + opset + ".onnx");
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void theStreamIsOneSpaceWithEveryLayerNormInIt(int opset) {
        LevelPlan p = LevelPlanner.plan(ConstantFolding.fold(model(opset)));
        assertEquals(6, p.levels().size());
        NeuronSpace stream = p.spaceOf(1);
        assertEquals(List.of(1, 3, 5), stream.levels());
        assertEquals(List.of("/embed/Add_output_0", "/b1/fc2/Add_output_0", "/b1/Add_output_0",
                "/b2/fc2/Add_output_0", "/b2/Add_output_0"), stream.cuts());
        assertEquals(3, p.perNeuron().size());
        assertTrue(p.perNeuron().stream().allMatch(op -> op.spaces().equals(List.of(stream.id()))
                && op.op().opType().equals("LayerNormalization")));
        assertEquals(List.of(new ResidualBlock("/embed/Add_output_0", "/b1/Add_output_0", List.of(2, 3)),
                new ResidualBlock("/b1/Add_output_0", "/b2/Add_output_0", List.of(4, 5))), p.blocks());
        for (int l = 1; l <= 5; l++) {
            assertEquals(2, p.level(l).neuronAxis(), "tokens count as samples: level " + l);
        }
        assertEquals(List.of("LayerNormalization", "ReduceMean"), p.level(6).ops().stream().map(o -> o.opType())
                .toList(), "the mean over the tokens before the head");
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void aParentFusedWithItsPermutedCopyComesBack(int opset) {
        // the export shares its (equal, untrained) LayerNorm weights through Identity nodes; the edit needs them folded
        Model p0 = ConstantFolding.fold(model(opset));
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT)) {
            double diff = Fixtures.permutedCopyDifference(p0, method, 9, 200);
            assertTrue(diff < (method == FusionMethod.KF_LINEAR ? 1e-4 : 1e-3), "opset " + opset + " " + method + ": "
                    + diff);
        }
    }

    @Test
    void aClassTokenAndAPositionEmbeddingAreFusedWithTheStream() {
        // torch's cat([cls.expand(N, -1, -1), x], 1) + pos, then a residual block and x[:, 0] before the head
        Model p0 = ConstantFolding.fold(Fixtures.read("tokens/clstoken_op17.onnx"));
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(List.of("Concat", "Add", "LayerNormalization"), p.level(2).ops().stream().map(o -> o.opType())
                .toList().subList(0, 3));
        NeuronSpace stream = p.spaceOf(1);
        assertEquals(List.of("Add", "LayerNormalization", "LayerNormalization", "Expand"), p.perNeuron().stream()
                .map(op -> op.op().opType()).toList());
        assertTrue(p.perNeuron().stream().allMatch(op -> op.spaces().equals(List.of(stream.id()))));
        Fixtures.requirePermutedCopyBack(p0, 5, 200, FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT,
                FusionMethod.AVERAGE, FusionMethod.WEIGHT_MATCH);
    }

    @Test
    void theFirstTokenGatheredBeforeTheHeadComesBackFromAPermutedCopy() {
        Net n = Net.input("batch", 1, 28, 28);
        n.initializer(org.onnxfuse.onnx.ir.Tensor.ofLongs("rows", new long[] {3}, new long[] {0, 28, 28}));
        n.initializer(org.onnxfuse.onnx.ir.Tensor.ofLongs("first", new long[0], new long[] {0}));
        Model p0 = n.op("as_tokens", "Reshape", List.of("rows")).matmul("embed", 28, 16, true).op("r", "Relu")
                .op("token0", "Gather", List.of("first"), Attribute.ofLong("axis", 1)).gemm("head", 16, 10, true, true)
                .build();
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(List.of("Relu", "Gather"), p.level(2).ops().stream().map(o -> o.opType()).toList());
        assertEquals(1, p.level(2).neuronAxis());
        double diff = Fixtures.permutedCopyDifference(p0, FusionMethod.KF_LINEAR, 2, 200);
        assertTrue(diff < 1e-5, "token 0: " + diff);
    }

    @Test
    void convNeXtStagesWithChannelsLastCutsComeBackFromAPermutedCopy() {
        // two torchvision CNBlock stages: each stream space holds NCHW cuts (the convolutions, the Add) and a
        // channels-last one (the block's last MatMul, before its permute back); grouping a space must read every
        // member cut on its own neuron axis (with the first level's axis for all: 0.11 of the logits' scale)
        Model p0 = ConstantFolding.fold(Fixtures.read("convnext/stages_op17.onnx"));
        LevelPlan p = LevelPlanner.plan(p0);
        NeuronSpace second = p.spaceOf(5);
        assertEquals(List.of(1, 1, 3, 1), second.cuts().stream().map(p::neuronAxisOf).toList());
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT)) {
            double diff = Fixtures.permutedCopyDifference(p0, method, 1, 64);
            assertTrue(diff < (method == FusionMethod.KF_LINEAR ? 1e-5 : 1e-3), method + ": " + diff);
        }
    }

    @Test
    void aGatherOfTheNeuronsIsRefusedByName() {
        Net net = Net.input("batch", 4, 8).matmul("proj", 8, 6, true);
        net.initializer(org.onnxfuse.onnx.ir.Tensor.ofLongs("which", new long[0], new long[] {2}));
        net.op("pick_neuron", "Gather", List.of("which"), Attribute.ofLong("axis", 2));
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, net::plan);
        assertTrue(e.getMessage().contains("pick_neuron") && e.getMessage().contains("holds the neurons"),
                e.getMessage());
    }

    @Test
    void aMeanOverTheNeuronsIsRefusedByName() {
        Net net = Net.input("batch", 4, 8).matmul("proj", 8, 6, true);
        net.op("mean_neurons", "ReduceMean", Attribute.ofLongs("axes", -1), Attribute.ofLong("keepdims", 1))
                .matmul("head", 1, 3, true);
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, net::plan);
        assertTrue(e.getMessage().contains("mean_neurons") && e.getMessage().contains("holds the neurons"),
                e.getMessage());
    }
}
