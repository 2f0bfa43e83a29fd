package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Model;

/**
 * LayerNormalization over the neurons (issue 9's first step): planned as a per-neuron op of the
 * space it normalises, its Scale and B rewritten for the fused neurons like an unfolded
 * BatchNormalization's, so permuted copies come back and parents with LayerNorm fuse.
 */
class LayerNormFusionTest {
    /**
     * 1x28x28 flattened -> 32 -> LayerNorm -> Relu -> 16 -> LayerNorm -> Relu -> 10, random
     * weights; the LayerNorms as the op (opset 17) or decomposed as torch writes them at opset 13.
     */
    private static Model mlp(int seed, boolean decomposed) {
        Net net = Net.input("batch", 1, 28, 28).opset(decomposed ? 13 : 17);
        for (int i = 0; i < seed; i++) {
            net.init("unused" + i, new long[] {1});
        }
        net.op("flat", "Flatten").gemm("fc1", 784, 32, true, true);
        norm(net, "ln1", 32, decomposed).op("r1", "Relu").gemm("fc2", 32, 16, true, true);
        return norm(net, "ln2", 16, decomposed).op("r2", "Relu").gemm("fc3", 16, 10, true, true).build();
    }

    private static Net norm(Net net, String name, long width, boolean decomposed) {
        return decomposed ? net.layerNormDecomposed(name, width) : net.layerNorm(name, width);
    }

    private static Model mlp(int seed) {
        return mlp(seed, false);
    }

    private static FusionResult fuse(List<Model> parents, FusionMethod method) {
        return Fixtures.fuse(parents, method, 300);
    }

    @Test
    void aLayerNormAfterALevelIsAPerNeuronOpOfItsSpace() {
        LevelPlan p = LevelPlanner.plan(mlp(0));
        assertEquals(3, p.levels().size());
        assertEquals(List.of("ln1", "ln2"), p.perNeuron().stream().map(op -> op.op().node().name()).toList());
        assertEquals(List.of(p.level(1).space()), p.perNeuron().get(0).spaces());
        assertEquals(List.of(p.level(2).space()), p.perNeuron().get(1).spaces());
        assertEquals(List.of("LayerNormalization", "Relu"), p.level(2).ops().stream().map(o -> o.opType()).toList());
    }

    @Test
    void aLayerNormOfTheModelInputKeepsItsParameters() {
        LevelPlan p = LevelPlanner.plan(Net.input("batch", 784).opset(17).layerNorm("ln0", 784)
                .gemm("fc1", 784, 8, true, true).op("r", "Relu").gemm("fc2", 8, 3, true, true).build());
        assertEquals(List.of(), p.perNeuron(), "the input's features are not fused");
    }

    @Test
    void aLayerNormOverMoreThanTheNeuronsIsRefusedByName() {
        // [N, 4, 8] -> MatMul to 6 neurons on the last axis -> LayerNorm over axes 1 and 2
        Net net = Net.input("batch", 4, 8).opset(17).matmul("proj", 8, 6, true)
                .layerNorm("ln_both", 24, Attribute.ofLong("axis", 1));
        net.matmul("head", 6, 3, true);
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, net::plan);
        assertTrue(e.getMessage().contains("ln_both") && e.getMessage().contains("neurons alone"), e.getMessage());
    }

    @Test
    void theDecomposedFormIsOnePerNeuronOpToo() {
        LevelPlan p = LevelPlanner.plan(mlp(0, true));
        assertEquals(3, p.levels().size());
        assertEquals(2, p.perNeuron().size());
        assertEquals(List.of(p.level(1).space()), p.perNeuron().get(0).spaces());
        assertEquals(List.of("LayerNormalization", "Relu"), p.level(2).ops().stream().map(o -> o.opType()).toList());
        assertEquals("1.0E-5", p.level(2).ops().get(0).signature().get("epsilon"));
        LevelPlan torch = LevelPlanner.plan(org.onnxfuse.fusion.plan.ConstantFolding.fold(
                Fixtures.read("refused/layernorm_opset13.onnx")));
        assertEquals(1, torch.perNeuron().size(), "torch's opset-13 export plans");
        assertEquals(9, torch.perNeuron().get(0).op().nodes().size(), "its nine ops (the Constant nodes folded)");
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aParentFusedWithItsPermutedCopyComesBack(boolean decomposed) {
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT)) {
            double diff = Fixtures.permutedCopyDifference(mlp(0, decomposed), method, 5, 300);
            assertTrue(diff < 1e-3, method + ": " + diff);
        }
    }

    @Test
    void bothFormsFuseIntoTheSameFunctionWithDeepLiftScores() {
        // the decomposed LayerNorm is differentiated as the op: same scores, same groups, same fused function
        FusionResult op = fuse(List.of(mlp(0, false), mlp(3, false)), FusionMethod.KF_LINEAR);
        FusionResult decomposed = fuse(List.of(mlp(0, true), mlp(3, true)), FusionMethod.KF_LINEAR);
        assertTrue(decomposed.warnings().stream().noneMatch(w -> w.contains("uniform")), decomposed.warnings()
                .toString());
        double diff = Fixtures.maxAbsDifference(Fixtures.logits(op.model(), Fixtures.data("test_x.npy")),
                Fixtures.logits(decomposed.model(), Fixtures.data("test_x.npy")));
        System.out.println("op vs decomposed form: max abs logit difference " + diff);
        assertTrue(diff < 1e-3, "op vs decomposed: " + diff);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void twoDifferentParentsFuseIntoAModelOfTheirWidths(boolean decomposed) {
        Model p0 = mlp(0, decomposed);
        Model p1 = mlp(3, decomposed);
        FusionResult r = fuse(List.of(p0, p1), FusionMethod.KF_LINEAR);
        LevelPlan fused = LevelPlanner.plan(r.model());
        assertEquals(List.of(32L, 16L, 10L), fused.widths());
        assertEquals(2, fused.perNeuron().size());
        float[] logits = Fixtures.logits(r.model(), Fixtures.data("test_x.npy"));
        for (float v : logits) {
            assertTrue(Float.isFinite(v));
        }
    }
}
