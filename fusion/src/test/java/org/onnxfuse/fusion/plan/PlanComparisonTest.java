package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Node;

/** Parents must share one plan up to widths; the first difference is named by node and op type. */
class PlanComparisonTest {

    private static Net mlp(long hidden, String activation, long classes) {
        return Net.input("batch", 12).gemm("/fc1/Gemm", 12, hidden, true, true).op("/act", activation)
                .gemm("/fc2/Gemm", hidden, classes, true, true);
    }

    private static Net cnn(long kernel, boolean bn) {
        Net n = Net.input("batch", 1, 12, 12).conv("/conv1/Conv", 1, 4, kernel, !bn,
                Attribute.ofLongs("pads", kernel / 2, kernel / 2, kernel / 2, kernel / 2));
        if (bn) {
            n.batchNorm("/bn1/BatchNormalization", 4);
        }
        return n.op("/Relu", "Relu").op("/Flatten", "Flatten").gemm("/fc/Gemm", 4 * 12 * 12, 10, true, true);
    }

    private static String mismatch(Net a, Net b) {
        IncompatibleModelsException e = assertThrows(IncompatibleModelsException.class,
                () -> PlanComparison.requireCompatible(List.of(a.plan(), b.plan()), List.of("a.onnx", "b.onnx")));
        assertEquals(ErrorCode.INCOMPATIBLE_PARENTS, e.code());
        return e.getMessage();
    }

    @Test
    void widthsMayDiffer() {
        PlanComparison.requireCompatible(List.of(mlp(16, "Relu", 10).plan(), mlp(24, "Relu", 10).plan(),
                mlp(8, "Relu", 10).plan()), List.of("a.onnx", "b.onnx", "c.onnx"));
    }

    @Test
    void differentOpAtALevel() {
        assertEquals("parents do not match at level 2: a.onnx has node '/act' (Relu) where b.onnx has '/act' (Tanh)",
                mismatch(mlp(16, "Relu", 10), mlp(16, "Tanh", 10)));
    }

    @Test
    void differentAffineOp() {
        Net b = Net.input("batch", 12).gemm("/fc1/Gemm", 12, 16, true, true).op("/act", "Relu")
                .matmul("/fc2/MatMul", 16, 10, true);
        assertEquals("parents do not match at level 2: a.onnx has node '/fc2/Gemm' (Gemm) where b.onnx has"
                + " '/fc2/MatMul' (MatMul)", mismatch(mlp(16, "Relu", 10), b));
    }

    @Test
    void missingOpInALevel() {
        Net b = Net.input("batch", 12).gemm("/fc1/Gemm", 12, 16, true, true).gemm("/fc2/Gemm", 16, 10, true, true);
        assertEquals("parents do not match at level 2: a.onnx has node '/act' (Relu) where b.onnx has '/fc2/Gemm'"
                + " (Gemm)", mismatch(mlp(16, "Relu", 10), b));
    }

    @Test
    void differentLevelCount() {
        Net b = mlp(16, "Relu", 16).op("/act2", "Relu").gemm("/fc3/Gemm", 16, 10, true, true);
        assertEquals("parents do not match: a.onnx has 3 levels where b.onnx has 2 (level count 3 vs 2)",
                mismatch(b, mlp(16, "Relu", 10)));
    }

    @Test
    void differentConvKernel() {
        assertEquals("parents do not match at level 1: a.onnx has node '/conv1/Conv' (Conv) with kernel_shape = [3, 3]"
                + " where b.onnx has '/conv1/Conv' (Conv) with kernel_shape = [5, 5]", mismatch(cnn(3, false),
                cnn(5, false)));
    }

    @Test
    void differentClassCount() {
        assertEquals("parents do not match at level 2: a.onnx has 10 output classes at '/fc2/Gemm' (Gemm) where b.onnx"
                + " has 12 at '/fc2/Gemm' (Gemm); classes are never clustered, so every parent needs the same classes",
                mismatch(mlp(16, "Relu", 10), mlp(16, "Relu", 12)));
    }

    @Test
    void differentActivationSetting() {
        Net a = Net.input("batch", 4).gemm("fc1", 4, 4, true, true).op("lr", "LeakyRelu",
                Attribute.ofFloat("alpha", 0.1f)).gemm("fc2", 4, 2, true, true);
        Net b = Net.input("batch", 4).gemm("fc1", 4, 4, true, true).op("lr", "LeakyRelu")
                .gemm("fc2", 4, 2, true, true);
        assertEquals("parents do not match at level 2: a.onnx has node 'lr' (LeakyRelu) with alpha = 0.1 where b.onnx"
                + " has 'lr' (LeakyRelu) with alpha = 0.01", mismatch(a, b));
    }

    @Test
    void foldedNormInOneParentOnly() {
        assertEquals("parents do not match at level 1: b.onnx has node '/bn1/BatchNormalization' (BatchNormalization)"
                + " after '/conv1/Conv' (Conv) where a.onnx has none after '/conv1/Conv' (Conv)",
                mismatch(cnn(3, false), cnn(3, true)));
    }

    @Test
    void differentInputShape() {
        Net b = Net.input("batch", 13).gemm("/fc1/Gemm", 13, 16, true, true).op("/act", "Relu")
                .gemm("/fc2/Gemm", 16, 10, true, true);
        assertEquals("parents do not match: a.onnx has input 'input' of shape [batch, 12] where b.onnx has input"
                + " 'input' of shape [batch, 13]", mismatch(mlp(16, "Relu", 10), b));
    }

    @Test
    void differentTrailingOps() {
        Net a = mlp(16, "Relu", 10).op("/sm", "Softmax", Attribute.ofLong("axis", 1));
        assertEquals("parents do not match after the last level: a.onnx has node '/sm' (Softmax) where b.onnx has the"
                + " model output '/fc2/Gemm_out'", mismatch(a, mlp(16, "Relu", 10)));
    }

    @Test
    void geluOpAndErfPatternAreTheSameActivation() {
        Net op = Net.input("batch", 4).opset(20).gemm("fc1", 4, 4, true, true).op("g", "Gelu")
                .gemm("fc2", 4, 2, true, true);
        Net erf = Net.input("batch", 4).gemm("fc1", 4, 4, true, true);
        String x = erf.value();
        erf.node(Node.of("div", "Div", List.of(x, erf.scalar("c1", (float) Math.sqrt(2))), List.of("d")));
        erf.node(Node.of("erf", "Erf", List.of("d"), List.of("e")));
        erf.node(Node.of("add", "Add", List.of("e", erf.scalar("c2", 1f)), List.of("a")));
        erf.node(Node.of("mul", "Mul", List.of(x, "a"), List.of("m")));
        erf.node(Node.of("half", "Mul", List.of("m", erf.scalar("c3", 0.5f)), List.of("h")));
        erf.gemm("fc2", 4, 2, true, true);
        PlanComparison.requireCompatible(List.of(op.plan(), erf.plan()), List.of("op.onnx", "erf.onnx"));
    }
}
