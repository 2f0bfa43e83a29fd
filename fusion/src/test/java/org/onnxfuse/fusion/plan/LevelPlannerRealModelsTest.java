package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.ops.OpRole;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Model;

/** Plans of the torch-exported fixture models in test-models/models. */
class LevelPlannerRealModelsTest {

    private static LevelPlan plan(String file) {
        Model m = Fixtures.read(file);
        LevelPlan plan = LevelPlanner.plan(m);
        // the planned output shape agrees with the exporter's declared one
        assertEquals(TestNets.dims(m.graph().outputs().get(0).tensorType().shape()), TestNets.dims(plan.outputShape()),
                file + " output shape");
        return plan;
    }

    private static void assertLevel(Level l, int index, List<String> ops, String affineNode, String cut,
                                    String cutShape, int axis, long width, long fanIn, boolean last) {
        String at = "level " + index;
        assertEquals(index, l.index(), at);
        assertEquals(ops, l.opTypes(), at + " ops");
        assertEquals(affineNode, l.affine().name(), at + " affine node");
        assertEquals(cut, l.cut(), at + " cut");
        assertEquals(cutShape, TestNets.dims(l.cutShape()), at + " cut shape");
        assertEquals(axis, l.neuronAxis(), at + " neuron axis");
        assertEquals(width, l.width(), at + " width");
        assertEquals(fanIn, l.fanIn(), at + " fan-in");
        assertEquals(last, l.last(), at + " last");
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp_k2_p0.onnx", "mlp_k2_p1.onnx", "mlp_k4_p0.onnx", "mlp_k4_p1.onnx", "mlp_k4_p2.onnx",
        "mlp_k4_p3.onnx", "mlp_k8_p0.onnx", "mlp_k8_p1.onnx", "mlp_k8_p2.onnx", "mlp_k8_p3.onnx", "mlp_k8_p4.onnx",
        "mlp_k8_p5.onnx", "mlp_k8_p6.onnx", "mlp_k8_p7.onnx"})
    void mlpHasTwoGemmLevels(String file) {
        LevelPlan p = plan(file);
        assertEquals("input", p.input());
        assertEquals("[batch, 1, 28, 28]", TestNets.dims(p.inputShape()));
        assertEquals("logits", p.output());
        assertEquals(2, p.levels().size());
        assertLevel(p.level(1), 1, List.of("Flatten", "Gemm"), "/fc1/Gemm", "/fc1/Gemm_output_0", "[batch, 256]", 1,
                256, 785, false);
        assertLevel(p.level(2), 2, List.of("Relu", "Gemm"), "/fc2/Gemm", "logits", "[batch, 10]", 1, 10, 257, true);
        assertEquals("input", p.level(1).from());
        assertEquals("/Flatten_output_0", p.level(1).input());
        assertEquals("[batch, 784]", TestNets.dims(p.level(1).inputShape()));
        assertEquals("/fc1/Gemm_output_0", p.level(2).from());
        assertEquals("/Relu_output_0", p.level(2).input());
        assertTrue(p.level(1).hasBias());
        assertTrue(p.trailingOps().isEmpty());
        assertEquals(List.of(256L, 10L), p.widths());
    }

    @Test
    void mlpWeightsReadAsFanInByWidth() {
        Model m = Fixtures.read("mlp_k2_p0.onnx");
        Level l = LevelPlanner.plan(m).level(1);
        AffineWeights w = LevelWeights.read(m.graph(), l);
        assertEquals(785, w.rows());
        assertEquals(256, w.cols());
        float[] weight = m.graph().initializer("fc1.weight").orElseThrow().toFloats();  // [256, 784]
        float[] bias = m.graph().initializer("fc1.bias").orElseThrow().toFloats();
        for (int[] ij : new int[][] {{0, 0}, {783, 255}, {100, 7}, {5, 200}}) {
            assertEquals(weight[ij[1] * 784 + ij[0]], w.get(ij[0], ij[1]));
        }
        assertEquals(bias[17], w.get(784, 17));
    }

    @Test
    void vggHasConvLevelsThenGemm() {
        LevelPlan p = plan("vgg_p0.onnx");
        assertEquals(3, p.levels().size());
        assertLevel(p.level(1), 1, List.of("Conv"), "/conv1/Conv", "/conv1/Conv_output_0", "[batch, 8, 28, 28]", 1, 8,
                10, false);
        assertLevel(p.level(2), 2, List.of("Relu", "MaxPool", "Conv"), "/conv2/Conv", "/conv2/Conv_output_0",
                "[batch, 16, 14, 14]", 1, 16, 73, false);
        assertLevel(p.level(3), 3, List.of("Relu", "MaxPool", "Flatten", "Gemm"), "/fc/Gemm", "logits",
                "[batch, 10]", 1, 10, 785, true);
        assertEquals("[batch, 8, 14, 14]", TestNets.dims(p.level(2).inputShape()));
        assertEquals(Map.of("kernel_shape", "[3, 3]", "strides", "[1, 1]", "pads", "[1, 1, 1, 1]", "dilations",
                "[1, 1]"), p.level(2).affineSignature());
        assertEquals(OpRole.POOLING, p.level(2).ops().get(1).role());
        assertEquals(Long.valueOf(28 * 28), p.level(1).positionsPerSample().orElseThrow());
    }

    @Test
    void batchNormsAreFoldedIntoConvAndGemmLevels() {
        LevelPlan p = plan("bn_p0.onnx");
        assertEquals(4, p.levels().size());
        assertLevel(p.level(1), 1, List.of("Conv", "BatchNormalization"), "/conv1/Conv",
                "/bn1/BatchNormalization_output_0", "[batch, 8, 28, 28]", 1, 8, 10, false);
        assertLevel(p.level(2), 2, List.of("Relu", "MaxPool", "Conv", "BatchNormalization"), "/conv2/Conv",
                "/bn2/BatchNormalization_output_0", "[batch, 16, 14, 14]", 1, 16, 73, false);
        assertLevel(p.level(3), 3, List.of("Relu", "MaxPool", "Flatten", "Gemm", "BatchNormalization"), "/fc1/Gemm",
                "/bn3/BatchNormalization_output_0", "[batch, 32]", 1, 32, 785, false);
        assertLevel(p.level(4), 4, List.of("Relu", "Gemm"), "/fc2/Gemm", "logits", "[batch, 10]", 1, 10, 33, true);
        // the convolutions have no bias of their own; folding the norm gives them one
        assertTrue(p.level(1).hasBias());
        assertEquals("/bn1/BatchNormalization", p.level(1).foldedNorm().name());
        assertNull(p.level(4).foldedNorm());
    }

    @Test
    void matMulAddLevelsIncludeTheBiasAdd() {
        LevelPlan p = plan("mlpmm_p0.onnx");
        assertEquals(2, p.levels().size());
        assertLevel(p.level(1), 1, List.of("Flatten", "MatMul", "Add"), "/fc1/MatMul", "/fc1/Add_output_0",
                "[batch, 64]", 1, 64, 785, false);
        assertLevel(p.level(2), 2, List.of("Relu", "MatMul", "Add"), "/fc2/MatMul", "logits", "[batch, 10]", 1, 10, 65,
                true);
        assertEquals("/fc1/Add", p.level(1).biasAdd().name());
    }

    @Test
    void zooRecognisesEveryActivation() {
        LevelPlan p = plan("zoo_p0.onnx");
        assertEquals(6, p.levels().size());
        assertLevel(p.level(1), 1, List.of("Flatten", "Gemm"), "/fc1/Gemm", "/fc1/Gemm_output_0", "[batch, 32]", 1, 32,
                785, false);
        String[] activations = {"Tanh", "Sigmoid", "LeakyRelu", "Gelu", "Clip"};
        for (int i = 0; i < activations.length; i++) {
            Level l = p.level(i + 2);
            assertEquals(List.of(activations[i], "Gemm"), l.opTypes(), "level " + l.index());
            assertEquals(i == 4 ? 10 : 32, l.width());
            assertEquals(33, l.fanIn());
            assertEquals(i == 4, l.last());
        }
        assertEquals(Map.of("alpha", "0.1"), p.level(4).ops().get(0).signature());
        LevelOp gelu = p.level(5).ops().get(0);
        assertTrue(gelu.pattern());
        assertEquals("/act4/Div", gelu.node().name());
        assertEquals("/act4/Mul_1_output_0", gelu.output());
        // the pattern owns its three Constant nodes and five compute nodes
        assertEquals(8, gelu.nodes().size());
        assertEquals(Map.of("min", "0.0", "max", "6.0"), p.level(6).ops().get(0).signature());
        assertEquals(3, p.level(6).ops().get(0).nodes().size());
    }

    @Test
    void gapHandlesAveragePoolStridedDilatedConvAndGlobalPool() {
        LevelPlan p = plan("gap_p0.onnx");
        assertEquals(3, p.levels().size());
        assertLevel(p.level(1), 1, List.of("Conv"), "/conv1/Conv", "/conv1/Conv_output_0", "[batch, 8, 28, 28]", 1, 8,
                10, false);
        assertLevel(p.level(2), 2, List.of("Relu", "AveragePool", "Conv"), "/conv2/Conv", "/conv2/Conv_output_0",
                "[batch, 16, 5, 5]", 1, 16, 73, false);
        assertLevel(p.level(3), 3, List.of("Relu", "GlobalAveragePool", "Flatten", "Gemm"), "/fc/Gemm", "logits",
                "[batch, 10]", 1, 10, 17, true);
        assertEquals("[batch, 8, 14, 14]", TestNets.dims(p.level(2).inputShape()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp_k2", "mlp_k4", "mlp_k8", "vgg", "bn", "mlpmm", "zoo", "gap"})
    void parentsOfOneSetAreCompatible(String set) {
        int k = set.startsWith("mlp_k") ? Integer.parseInt(set.substring(5)) : 2;
        List<LevelPlan> plans = new java.util.ArrayList<>();
        List<String> names = new java.util.ArrayList<>();
        for (int i = 0; i < k; i++) {
            names.add(set + "_p" + i + ".onnx");
            plans.add(plan(names.get(i)));
        }
        PlanComparison.requireCompatible(plans, names);
    }

    @Test
    void gemmAndMatMulParentsDoNotMatch() {
        IncompatibleModelsException e = assertThrows(IncompatibleModelsException.class,
                () -> PlanComparison.requireCompatible(List.of(plan("mlp_k2_p0.onnx"), plan("mlpmm_p0.onnx")),
                        List.of("mlp_k2_p0.onnx", "mlpmm_p0.onnx")));
        assertEquals(ErrorCode.INCOMPATIBLE_PARENTS, e.code());
        assertEquals("parents do not match at level 1: mlp_k2_p0.onnx has node '/fc1/Gemm' (Gemm) where mlpmm_p0.onnx"
                + " has '/fc1/MatMul' (MatMul)", e.getMessage());
    }

    @Test
    void vggAndBnParentsDoNotMatch() {
        IncompatibleModelsException e = assertThrows(IncompatibleModelsException.class,
                () -> PlanComparison.requireCompatible(List.of(plan("vgg_p0.onnx"), plan("bn_p0.onnx")),
                        List.of("vgg_p0.onnx", "bn_p0.onnx")));
        assertEquals("parents do not match: vgg_p0.onnx has 3 levels where bn_p0.onnx has 4 (level count 3 vs 4)",
                e.getMessage());
    }
}
