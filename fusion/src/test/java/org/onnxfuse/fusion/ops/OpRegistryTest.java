package org.onnxfuse.fusion.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxfuse.onnx.ir.Node;

class OpRegistryTest {
    private final OpRegistry registry = OpRegistry.standard();

    private OpRole role(String opType, long opset) {
        return registry.find(Node.of("n", opType, List.of("x"), List.of("y")), opset).orElseThrow().role();
    }

    @Test
    void everyFamilyHasItsRole() {
        Map<String, OpRole> expected = Map.ofEntries(Map.entry("Gemm", OpRole.AFFINE), Map.entry("MatMul", OpRole.AFFINE),
                Map.entry("Conv", OpRole.AFFINE), Map.entry("BatchNormalization", OpRole.FOLDABLE_NORM),
                Map.entry("Relu", OpRole.ELEMENTWISE), Map.entry("LeakyRelu", OpRole.ELEMENTWISE),
                Map.entry("Sigmoid", OpRole.ELEMENTWISE), Map.entry("Tanh", OpRole.ELEMENTWISE),
                Map.entry("Clip", OpRole.ELEMENTWISE), Map.entry("Dropout", OpRole.ELEMENTWISE),
                Map.entry("Identity", OpRole.ELEMENTWISE), Map.entry("MaxPool", OpRole.POOLING),
                Map.entry("AveragePool", OpRole.POOLING), Map.entry("GlobalAveragePool", OpRole.POOLING),
                Map.entry("Flatten", OpRole.SHAPE), Map.entry("Reshape", OpRole.SHAPE),
                Map.entry("Constant", OpRole.CONSTANT), Map.entry("Softmax", OpRole.OUTPUT_HEAD));
        expected.forEach((op, r) -> assertEquals(r, role(op, 13), op));
        assertEquals(OpRole.ELEMENTWISE, role("Gelu", 20));
    }

    @Test
    void opsetAndDomainSelectHandlers() {
        assertTrue(registry.find(Node.of("g", "Gelu", List.of("x"), List.of("y")), 13).isEmpty());
        Node msGelu = new Node("g", "Gelu", "com.microsoft", List.of("x"), List.of("y"), Map.of(), "", null);
        assertEquals(OpRole.ELEMENTWISE, registry.find(msGelu, 1).orElseThrow().role());
        Node custom = new Node("r", "Relu", "my.domain", List.of("x"), List.of("y"), Map.of(), "", null);
        assertTrue(registry.find(custom, 1).isEmpty());
        Node aiOnnx = new Node("r", "Relu", "ai.onnx", List.of("x"), List.of("y"), Map.of(), "", null);
        assertTrue(registry.find(aiOnnx, 13).isPresent());
    }

    @Test
    void unsupportedNamesTheNodeAndListsEverySupportedOp() {
        String m = registry.unsupported(Node.of("/x/Softsign", "Softsign", List.of("x"), List.of("y")), null)
                .getMessage();
        assertTrue(m.startsWith("node '/x/Softsign' (Softsign) cannot be placed in a level: supported ops are Gemm,"
                + " MatMul(+Add), Conv, BatchNormalization (right after an affine op), LayerNormalization (over the"
                + " neuron axis), Relu, LeakyRelu, Sigmoid,"
                + " Tanh, Gelu, "), m);
        assertTrue(m.contains("Erf-form GELU"), m);
        assertTrue(m.endsWith("Softmax (after the last level), LogSoftmax (after the last level)"), m);
    }
}
