package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.onnxfuse.fusion.plan.TestNets.shape;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/** Plans of models with several inputs: float inputs meeting before the first level, int64 and bool inputs passed through. */
class MultiInputPlannerTest {
    private static UnsupportedOpException refused(Net net) {
        return assertThrows(UnsupportedOpException.class, net::plan);
    }

    @Test
    void twoFloatInputsConcatenatedBeforeTheFirstLevel() {
        Net net = new Net("x", shape("batch", 6)).addInput("side", DataType.FLOAT, shape("batch", 3));
        net.node(Node.of("cat", "Concat", List.of("x", "side"), List.of("joined"), Attribute.ofLong("axis", 1)));
        LevelPlan plan = net.gemm("fc1", 9, 5, true, true).op("r", "Relu").gemm("fc2", 5, 2, true, true).plan();
        assertEquals("joined", plan.level(1).from());
        assertEquals(10, plan.level(1).fanIn());
        assertEquals(List.of(), plan.level(1).binding().spaces());
        assertEquals(List.of("Concat"), plan.joins().stream().map(LevelOp::opType).toList());
    }

    @Test
    void aBoolMaskThroughNotAndWhereReachesTheFeatures() {
        Net net = new Net("x", shape("batch", 6)).addInput("pad", DataType.BOOL, shape("batch", 6));
        net.extra(Node.of("keep", "Not", List.of("pad"), List.of("kept")));
        net.initializer(Tensor.ofFloats("zero", new long[0], new float[] {0}));
        net.node(Node.of("select", "Where", List.of("kept", "x", "zero"), List.of("selected")));
        LevelPlan plan = net.gemm("fc1", 6, 4, true, true).op("r", "Relu").gemm("fc2", 4, 2, true, true).plan();
        assertEquals(List.of(DataType.FLOAT, DataType.BOOL), plan.inputs().stream().map(ModelInput::elementType)
                .toList());
        assertEquals("selected", plan.level(1).from());
    }

    @Test
    void aMaskOnActivationsAfterALevelIsRefusedNamingTheNodeAndTheInput() {
        Net net = new Net("x", shape("batch", 6)).addInput("mask", DataType.INT64, shape("batch", 8));
        net.gemm("fc1", 6, 8, true, true);
        String hidden = net.value();
        net.extra(Node.of("mask_cast", "Cast", List.of("mask"), List.of("mask_f"), Attribute.ofLong("to", 1)));
        net.node(Node.of("apply_mask", "Mul", List.of(hidden, "mask_f"), List.of("masked")));
        String message = refused(net.gemm("fc2", 8, 2, true, true)).getMessage();
        assertTrue(message.contains("'apply_mask'") && message.contains("computed from the INT64 input 'mask'"),
                message);
        assertTrue(message.contains("8 values along axis 1, the neuron axis"), message);
    }

    /**
     * fc1's activations [batch, 8] and, by {@code op}, the count of the int64 mask [batch, 3] clamped away from
     * 0 (ReduceSum over axis 1 kept [batch, 1], Clip, Cast), the activations first unless {@code dataFirst};
     * {@code mask_f} [batch, 1] is 1 where the mask is full (Equal, Cast). Data with size 1 on the neuron axis.
     */
    private static Net scaledByMaskData(boolean dataFirst, String op) {
        Net net = new Net("x", shape("batch", 6)).addInput("mask", DataType.INT64, shape("batch", 3));
        net.gemm("fc1", 6, 8, true, true);
        String hidden = net.value();
        net.initializer(Tensor.ofLongs("three", new long[0], new long[] {3}));
        net.initializer(Tensor.ofLongs("ones", new long[] {1}, new long[] {1}));
        net.initializer(Tensor.ofLongs("least", new long[0], new long[] {1}));
        net.extra(Node.of("count", "ReduceSum", List.of("mask", "ones"), List.of("counted"),
                Attribute.ofLong("keepdims", 1)));
        net.extra(Node.of("clamp", "Clip", List.of("counted", "least", ""), List.of("clamped")));
        net.extra(Node.of("count_f", "Cast", List.of("clamped"), List.of("count_f_out"), Attribute.ofLong("to", 1)));
        net.extra(Node.of("full", "Equal", List.of("counted", "three"), List.of("is_full")));
        net.extra(Node.of("mask_cast", "Cast", List.of("is_full"), List.of("mask_f"), Attribute.ofLong("to", 1)));
        List<String> operands = dataFirst ? List.of("count_f_out", hidden) : List.of(hidden, "count_f_out");
        net.node(Node.of("scale", op, operands, List.of("scaled")));
        return net;
    }

    @Test
    void dataWithSizeOneOnTheNeuronAxisScalesTheActivationsAfterALevel() {
        Net net = scaledByMaskData(false, "Div");
        net.node(Node.of("weigh", "Mul", List.of("mask_f", net.value()), List.of("weighed")));
        LevelPlan plan = net.op("r", "Relu").gemm("fc2", 8, 2, true, true).plan();
        assertEquals(List.of("Div", "Mul", "Relu"), plan.level(2).ops().stream().map(LevelOp::opType).toList());
        assertEquals(List.of(plan.level(1).space()), plan.level(2).binding().spaces(), "fc1's neurons pass through");
        assertTrue(plan.joins().stream().map(LevelOp::opType).toList().containsAll(List.of("ReduceSum", "Clip",
                "Cast", "Equal")), "the data's ops are placed: " + plan.joins());
    }

    @Test
    void dataDividedByActivationsIsRefusedNamingTheNode() {
        String message = refused(scaledByMaskData(true, "Div").gemm("fc2", 8, 2, true, true)).getMessage();
        assertTrue(message.contains("'scale' (Div) divides 'count_f_out' (computed from the INT64 input 'mask') by"
                + " the activations"), message);
    }

    @Test
    void dataAddedToActivationsAfterALevelIsStillRefused() {
        String message = refused(scaledByMaskData(false, "Add").gemm("fc2", 8, 2, true, true)).getMessage();
        assertTrue(message.contains("'scale'") && message.contains("comes before the first level"), message);
    }

    @Test
    void anIntInputInAnOpThePlannerCannotFollowIsRefusedNamingBoth() {
        Net net = new Net("x", shape("batch", 6)).addInput("ids", DataType.INT64, shape("batch", 6));
        net.initializer(Tensor.ofLongs("axis", new long[0], new long[] {1}));
        net.extra(Node.of("running", "CumSum", List.of("ids", "axis"), List.of("positions")));
        net.extra(Node.of("positions_f", "Cast", List.of("positions"), List.of("pf"), Attribute.ofLong("to", 1)));
        net.node(Node.of("add_positions", "Add", List.of("x", "pf"), List.of("placed")));
        String message = refused(net.gemm("fc1", 6, 2, true, true)).getMessage();
        assertTrue(message.contains("'running' (CumSum)") && message.contains("'ids' (the INT64 input)"), message);
    }

    private static Net masked(String maskName, DataType maskType) {
        Net net = new Net("x", shape("batch", 6)).addInput(maskName, maskType, shape("batch", 6));
        net.extra(Node.of("mask_cast", "Cast", List.of(maskName), List.of("mask_f"), Attribute.ofLong("to", 1)));
        net.node(Node.of("apply_mask", "Mul", List.of("x", "mask_f"), List.of("masked")));
        return net.gemm("fc1", 6, 4, true, true).op("r", "Relu").gemm("fc2", 4, 2, true, true);
    }

    @Test
    void parentsWithSeveralInputsMustShareTheirNamesAndTypes() {
        PlanComparison.requireCompatible(List.of(masked("mask", DataType.INT64).plan(),
                masked("mask", DataType.INT64).plan()), List.of("a.onnx", "b.onnx"));
        for (Net other : List.of(masked("valid", DataType.INT64), masked("mask", DataType.BOOL))) {
            IncompatibleModelsException e = assertThrows(IncompatibleModelsException.class, () ->
                    PlanComparison.requireCompatible(List.of(masked("mask", DataType.INT64).plan(), other.plan()),
                            List.of("a.onnx", "b.onnx")));
            assertTrue(e.getMessage().contains("a.onnx has inputs 'x' FLOAT [6], 'mask' INT64 [6] where b.onnx"
                    + " has inputs"), e.getMessage());
        }
    }

    @Test
    void anInt64InputCastToFloatFeaturesIsNormalisedAndReadByTheFirstLevel() {
        // Cast, then Sub of a constant: float data computed from the int64 input alone, which stays parameter-free
        // (as HuggingFace's (1 - mask.float()) * -1e4 does); the Gemm reading it is placed by its handler, a level
        // whose chain starts at the input
        Net net = new Net("counts", DataType.INT64, shape("batch", 6));
        net.node(Node.of("counts_f", "Cast", List.of("counts"), List.of("cf"), Attribute.ofLong("to", 1)));
        net.initializer(Tensor.ofFloats("mean", new long[0], new float[] {2}));
        net.node(Node.of("centre", "Sub", List.of("cf", "mean"), List.of("centred")));
        LevelPlan plan = net.gemm("fc1", 6, 4, true, true).op("r", "Relu").gemm("fc2", 4, 2, true, true).plan();
        assertEquals(2, plan.levels().size());
        assertEquals("counts", plan.level(1).from());
        assertEquals("centred", plan.level(1).input());
        assertEquals(List.of("Cast", "Sub"), plan.level(1).ops().stream().map(LevelOp::opType).toList());
    }

    @Test
    void inputsOfOtherTypesAreRefused() {
        Net net = new Net("x", DataType.INT32, shape("batch", 6)).gemm("fc1", 6, 2, true, true);
        String message = refused(net).getMessage();
        assertTrue(message.contains("model input 'x' is INT32; expected FLOAT"), message);
    }
}
