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
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Model;

/**
 * LayerNormalization over the neurons (issue 9's first step): planned as a per-neuron op of the
 * space it normalises, its Scale and B rewritten for the fused neurons like an unfolded
 * BatchNormalization's, so permuted copies come back and parents with LayerNorm fuse.
 */
class LayerNormFusionTest {
    /** 1x28x28 flattened -> 32 -> LayerNorm -> Relu -> 16 -> LayerNorm -> Relu -> 10, random weights scaled to keep logits moderate. */
    private static Model mlp(int seed) {
        Net net = Net.input("batch", 1, 28, 28).opset(17);
        for (int i = 0; i < seed; i++) {
            net.init("unused" + i, new long[] {1});
        }
        return net.op("flat", "Flatten").gemm("fc1", 784, 32, true, true).layerNorm("ln1", 32).op("r1", "Relu")
                .gemm("fc2", 32, 16, true, true).layerNorm("ln2", 16).op("r2", "Relu")
                .gemm("fc3", 16, 10, true, true).build();
    }

    private static FusionResult fuse(List<Model> parents, FusionMethod method) {
        return Fusion.builder().parentModels(parents).calibration(Fixtures.data("calib400_x.npy")).samples(300)
                .method(method).device("cpu").threads(2).seed(1).restarts(2).log(s -> { }).build().fuse();
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
    void aParentFusedWithItsPermutedCopyComesBack() {
        Model p0 = mlp(0);
        Model copy = ModelEdits.permuted(p0, 5);
        float[] expected = Fixtures.logits(p0, Fixtures.data("test_x.npy"));
        assertTrue(Fixtures.maxAbsDifference(expected, Fixtures.logits(copy, Fixtures.data("test_x.npy"))) < 1e-4,
                "the permuted copy computes the same function");
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT)) {
            Model fused = fuse(List.of(p0, copy), method).model();
            double diff = Fixtures.maxAbsDifference(expected, Fixtures.logits(fused, Fixtures.data("test_x.npy")));
            System.out.println(method + ": max abs logit difference " + diff);
            assertTrue(diff < 1e-3, method + ": " + diff);
        }
    }

    @Test
    void twoDifferentParentsFuseIntoAModelOfTheirWidths() {
        Model p0 = mlp(0);
        Model p1 = mlp(3);
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
