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
 * Add, Sub, Mul and Div of a constant with one value per neuron after a level (a layer scale, a
 * per-channel shift): per-neuron ops of the space, their constants rewritten per fused neuron.
 */
class PerNeuronConstantTest {
    /** Conv -> Mul gamma [4, 1, 1] -> Relu -> Conv -> Div [3, 1, 1] -> Relu -> Flatten -> Gemm -> Sub [16] -> Relu -> Gemm. */
    private static Model net(int seed) {
        Net n = Net.input("batch", 1, 28, 28);
        for (int i = 0; i < seed; i++) {
            n.init("unused" + i, new long[] {1});
        }
        n.conv("c1", 1, 4, 3, true, Attribute.ofLongs("strides", 2, 2));
        n.init("gamma", new long[] {4, 1, 1});
        n.op("scale", "Mul", List.of("gamma")).op("r1", "Relu").conv("c2", 4, 3, 3, true, Attribute.ofLongs("strides",
                2, 2));
        n.initializer(org.onnxfuse.onnx.ir.Tensor.ofFloats("divisor", new long[] {3, 1, 1}, new float[] {2f, 0.5f, 4f}));
        n.op("div", "Div", List.of("divisor")).op("r2", "Relu").op("flat", "Flatten").gemm("fc1", 108, 16, true, true);
        n.init("shift", new long[] {16});
        return n.op("sub", "Sub", List.of("shift")).op("r3", "Relu").gemm("fc2", 16, 10, true, true).build();
    }

    private static FusionResult fuse(List<Model> parents, FusionMethod method) {
        return Fixtures.fuse(parents, method, 300);
    }

    @Test
    void perNeuronConstantsArePerNeuronOpsOfTheirSpaces() {
        LevelPlan p = LevelPlanner.plan(net(0));
        assertEquals(List.of("scale", "div", "sub"), p.perNeuron().stream().map(op -> op.op().node().name()).toList());
        assertEquals(List.of(p.level(1).space()), p.perNeuron().get(0).spaces());
        assertEquals(List.of(p.level(2).space()), p.perNeuron().get(1).spaces());
        assertEquals(List.of(p.level(3).space()), p.perNeuron().get(2).spaces());
    }

    @Test
    void aParentFusedWithItsPermutedCopyComesBack() {
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.WEIGHT_MATCH)) {
            double diff = Fixtures.permutedCopyDifference(net(0), method, 4, 300);
            assertTrue(diff < 1e-5, method + ": " + diff);
        }
    }

    @Test
    void twoDifferentParentsFuseAndTheConstantsFollowTheWidths() {
        FusionResult r = fuse(List.of(net(0), net(5)), FusionMethod.KF_LINEAR);
        LevelPlan fused = LevelPlanner.plan(r.model());
        assertEquals(3, fused.perNeuron().size());
        for (float v : Fixtures.logits(r.model(), Fixtures.data("test_x.npy"))) {
            assertTrue(Float.isFinite(v));
        }
    }

    /** The image's rows as 28 tokens -> MatMul to 16 -> Add of a position embedding [28, 16] -> Relu -> mean over tokens -> Gemm. */
    private static Model tokens(int seed) {
        Net n = Net.input("batch", 1, 28, 28);
        for (int i = 0; i < seed; i++) {
            n.init("unused" + i, new long[] {1});
        }
        n.initializer(org.onnxfuse.onnx.ir.Tensor.ofLongs("rows", new long[] {3}, new long[] {0, 28, 28}));
        n.op("as_tokens", "Reshape", List.of("rows")).matmul("embed", 28, 16, true);
        n.init("position", new long[] {28, 16});
        return n.op("add_position", "Add", List.of("position")).op("r", "Relu")
                .op("pool", "ReduceMean", Attribute.ofLongs("axes", 1), Attribute.ofLong("keepdims", 0))
                .gemm("head", 16, 10, true, true).build();
    }

    @Test
    void aPositionEmbeddingIsAPerNeuronOpWithAValuePerPosition() {
        Model p0 = tokens(0);
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(List.of("add_position"), p.perNeuron().stream().map(op -> op.op().node().name()).toList());
        assertEquals(2, p.perNeuron().get(0).neuronAxis());
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.WEIGHT_MATCH)) {
            double diff = Fixtures.permutedCopyDifference(p0, method, 6, 300);
            assertTrue(diff < 1e-5, "tokens " + method + ": " + diff);
        }
        FusionResult two = fuse(List.of(p0, tokens(4)), FusionMethod.KF_LINEAR);
        assertEquals(List.of(28L, 16L), java.util.Arrays.stream(two.model().graph().initializers().values().stream()
                .filter(t -> t.name().startsWith("add_position")).findFirst().orElseThrow().dims()).boxed().toList(),
                "the fused position embedding, one value per token and fused neuron");
    }

    @Test
    void aConstantThatVariesAlongTheBatchIsRefusedByName() {
        Net n = Net.input(2, 4, 8).matmul("proj", 8, 6, true);
        n.init("per_sample", new long[] {2, 4, 6});
        n.op("per_sample_add", "Add", List.of("per_sample")).matmul("head", 6, 3, true);
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, n::plan);
        assertTrue(e.getMessage().contains("per_sample_add"), e.getMessage());
    }
}
