package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.onnxfuse.fusion.plan.TestNets.dims;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.ops.OpRole;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/** Plans of graphs built in code: each supported op, and the errors for what cannot be planned. */
class LevelPlannerTest {

    private static UnsupportedOpException unsupported(Net net) {
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, net::plan);
        assertEquals(ErrorCode.UNSUPPORTED_OP, e.code());
        return e;
    }

    @Test
    void gemmWithoutTransposeReadsWidthFromSecondDim() {
        LevelPlan p = Net.input("batch", 20).gemm("fc1", 20, 7, false, true).op("r", "Relu")
                .gemm("fc2", 7, 3, false, false).plan();
        assertEquals(2, p.levels().size());
        assertEquals(7, p.level(1).width());
        assertEquals(21, p.level(1).fanIn());
        assertEquals("[batch, 7]", dims(p.level(1).cutShape()));
        assertEquals(3, p.level(2).width());
        assertEquals(7, p.level(2).fanIn());
        assertFalse(p.level(2).hasBias());
        assertTrue(p.level(2).last());
        assertFalse(p.level(1).last());
    }

    @Test
    void matMulWithoutBias() {
        LevelPlan p = Net.input("N", 784).matmul("mm1", 784, 32, false).op("r", "Relu").matmul("mm2", 32, 10, false)
                .plan();
        assertEquals(List.of("MatMul"), p.level(1).opTypes());
        assertEquals(List.of("Relu", "MatMul"), p.level(2).opTypes());
        assertEquals(32, p.level(1).width());
        assertEquals(784, p.level(1).fanIn());
        assertFalse(p.level(1).hasBias());
        assertEquals("mm1_out", p.level(1).cut());
        assertEquals("[N, 10]", dims(p.outputShape()));
    }

    @Test
    void matMulOnTokensHasTheLastAxisAsNeuronAxis() {
        LevelPlan p = Net.input("batch", 5, 16).matmul("mm1", 16, 24, true).op("g", "Tanh").matmul("mm2", 24, 4, true)
                .plan();
        assertEquals(2, p.level(1).neuronAxis());
        assertEquals("[batch, 5, 24]", dims(p.level(1).cutShape()));
        assertEquals("mm1_add_out", p.level(1).cut());
        assertEquals(17, p.level(1).fanIn());
        assertEquals(Long.valueOf(5), p.level(1).positionsPerSample().orElseThrow());
    }

    @Test
    void activationsDropoutAndIdentityStayInTheirLevel() {
        Net net = Net.input("batch", 8).opset(13).gemm("fc1", 8, 8, true, true).op("lr", "LeakyRelu",
                Attribute.ofFloat("alpha", 0.2f)).gemm("fc2", 8, 8, true, true).op("s", "Sigmoid")
                .gemm("fc3", 8, 8, true, true).op("t", "Tanh").op("d", "Dropout").op("i", "Identity");
        String lo = net.scalar("lo", -1f);
        String hi = net.scalar("hi", 1f);
        LevelPlan p = net.op("c", "Clip", List.of(lo, hi)).gemm("fc4", 8, 4, true, true).plan();
        assertEquals(4, p.levels().size());
        assertEquals(List.of("Gemm"), p.level(1).opTypes());
        assertEquals(List.of("LeakyRelu", "Gemm"), p.level(2).opTypes());
        assertEquals(Map.of("alpha", "0.2"), p.level(2).ops().get(0).signature());
        assertEquals(List.of("Sigmoid", "Gemm"), p.level(3).opTypes());
        assertEquals(List.of("Tanh", "Dropout", "Identity", "Clip", "Gemm"), p.level(4).opTypes());
        LevelOp clip = p.level(4).ops().get(3);
        assertEquals(Map.of("min", "-1.0", "max", "1.0"), clip.signature());
        assertEquals(List.of("lo", "hi", "c"), clip.nodes().stream().map(Node::name).toList());
        assertEquals(OpRole.ELEMENTWISE, clip.role());
        assertEquals(List.of("t", "d", "i", "lo", "hi", "c"), p.level(4).opNodes().stream().map(Node::name).toList());
    }

    @Test
    void clipWithAttributeBoundsBeforeOpset11() {
        LevelPlan p = Net.input("batch", 4).opset(7).gemm("fc1", 4, 4, true, true).op("c", "Clip",
                Attribute.ofFloat("min", 0f), Attribute.ofFloat("max", 6f)).gemm("fc2", 4, 2, true, true).plan();
        assertEquals(Map.of("min", "0.0", "max", "6.0"), p.level(2).ops().get(0).signature());
    }

    @Test
    void geluOpFromOpset20() {
        LevelPlan p = Net.input("batch", 4).opset(20).gemm("fc1", 4, 4, true, true).op("g", "Gelu")
                .gemm("fc2", 4, 2, true, true).plan();
        assertEquals(List.of("Gelu", "Gemm"), p.level(2).opTypes());
        assertEquals(Map.of("approximate", "none"), p.level(2).ops().get(0).signature());
        assertFalse(p.level(2).ops().get(0).pattern());
    }

    @Test
    void geluOpBeforeOpset20IsUnknown() {
        UnsupportedOpException e = unsupported(Net.input("batch", 4).opset(13).gemm("fc1", 4, 4, true, true)
                .op("g", "Gelu").gemm("fc2", 4, 2, true, true));
        assertTrue(e.getMessage().startsWith("node 'g' (Gelu) cannot be placed in a level: supported ops are"),
                e.getMessage());
    }

    /** x * 0.5 * (1 + erf(x / sqrt2)) in the three orders exporters write. */
    private static LevelPlan erfGelu(String order, boolean mulBySqrtHalf) {
        Net net = Net.input("batch", 4).gemm("fc1", 4, 4, true, true);
        String x = net.value();
        String c = net.scalar("c_scale", mulBySqrtHalf ? (float) Math.sqrt(0.5) : (float) Math.sqrt(2));
        net.node(Node.of("scale", mulBySqrtHalf ? "Mul" : "Div", List.of(x, c), List.of("scaled")));
        net.node(Node.of("erf", "Erf", List.of("scaled"), List.of("erf_out")));
        String one = net.scalar("c_one", 1f);
        net.node(Node.of("plus", "Add", List.of(one, "erf_out"), List.of("plus_out")));
        String half = net.scalar("c_half", 0.5f);
        switch (order) {
            case "x_first" -> {
                net.node(Node.of("m1", "Mul", List.of(x, "plus_out"), List.of("m1_out")));
                net.node(Node.of("m2", "Mul", List.of("m1_out", half), List.of("m2_out")));
            }
            case "half_first" -> {
                net.node(Node.of("m1", "Mul", List.of("plus_out", half), List.of("m1_out")));
                net.node(Node.of("m2", "Mul", List.of(x, "m1_out"), List.of("m2_out")));
            }
            default -> {
                net.extra(Node.of("m1", "Mul", List.of(x, half), List.of("m1_out")));
                net.node(Node.of("m2", "Mul", List.of("m1_out", "plus_out"), List.of("m2_out")));
            }
        }
        return net.gemm("fc2", 4, 2, true, true).plan();
    }

    @Test
    void erfGeluPatternIsOneActivationInEveryOrder() {
        for (String order : List.of("x_first", "half_first", "x_half_first")) {
            for (boolean mul : List.of(false, true)) {
                LevelPlan p = erfGelu(order, mul);
                assertEquals(List.of("Gelu", "Gemm"), p.level(2).opTypes(), order);
                LevelOp gelu = p.level(2).ops().get(0);
                assertTrue(gelu.pattern());
                assertEquals("m2_out", gelu.output());
                assertEquals("scale", gelu.node().name(), order);
                assertEquals(8, gelu.nodes().size(), order);
                assertEquals("m2_out", p.level(2).input());
            }
        }
    }

    @Test
    void softmaxAfterTheLastLevelIsATrailingOp() {
        LevelPlan p = Net.input("batch", 6).gemm("fc1", 6, 5, true, true).op("r", "Relu").gemm("fc2", 5, 3, true, true)
                .op("sm", "Softmax", Attribute.ofLong("axis", 1)).plan();
        assertEquals(2, p.levels().size());
        assertTrue(p.level(2).last());
        assertEquals("fc2_out", p.level(2).cut());
        assertEquals(List.of("Softmax"), p.trailingOps().stream().map(LevelOp::opType).toList());
        assertEquals("sm_out", p.output());
    }

    @Test
    void softmaxInTheMiddleNamesTheNodeAndListsSupportedOps() {
        UnsupportedOpException e = unsupported(Net.input("batch", 6).gemm("fc1", 6, 5, true, true)
                .op("/sm/Softmax", "Softmax").gemm("fc2", 5, 3, true, true));
        String m = e.getMessage();
        assertTrue(m.startsWith("node '/sm/Softmax' (Softmax) cannot be placed in a level"), m);
        assertTrue(m.contains("allowed only after the last level"), m);
        assertTrue(m.contains("supported ops are Gemm, MatMul(+Add), Conv, BatchNormalization"), m);
        for (String op : List.of("Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Clip", "Dropout", "Identity",
                "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape")) {
            assertTrue(m.contains(op), op + " in " + m);
        }
    }

    @Test
    void unknownOpInThePath() {
        UnsupportedOpException e = unsupported(Net.input("batch", 6).gemm("fc1", 6, 5, true, true)
                .op("/rnn/LSTM", "LSTM").gemm("fc2", 5, 3, true, true));
        assertEquals("constructs in this model that onnx-fuse does not fuse yet: recurrent layer (LSTM) at"
                + " '/rnn/LSTM' (recurrent layers are not supported) (the planner stopped first at node '/rnn/LSTM'"
                + " (LSTM) cannot be placed in a level)", e.getMessage());
    }

    @Test
    void groupedConvIsRefused() {
        UnsupportedOpException e = unsupported(Net.input("batch", 4, 8, 8).conv("/c1/Conv", 2, 4, 3, true,
                Attribute.ofLong("group", 2)));
        assertTrue(e.getMessage().contains("'/c1/Conv' (Conv) has group=2"), e.getMessage());
    }

    @Test
    void weightFromAConstantNodeIsRefused() {
        Net net = Net.input("batch", 3);
        String w = net.constant("wc", Tensor.ofFloats("w", new long[] {3, 2}, new float[6]));
        net.node(Node.of("/fc/MatMul", "MatMul", List.of(net.value(), w), List.of("y")));
        UnsupportedOpException e = unsupported(net);
        assertEquals("node '/fc/MatMul' (MatMul) reads its weight B 'wc_out' from node 'wc' (Constant); fusion"
                + " rewrites the weights of affine ops and needs them stored as initializers", e.getMessage());
    }

    @Test
    void weightComputedByANodeIsRefused() {
        Net net = Net.input("batch", 3);
        net.init("w", new long[] {2, 3});
        net.extra(Node.of("t", "Transpose", List.of("w"), List.of("wt")));
        net.node(Node.of("fc", "MatMul", List.of(net.value(), "wt"), List.of("y")));
        UnsupportedOpException e = unsupported(net);
        assertTrue(e.getMessage().startsWith("node 'fc' (MatMul) reads input 1 'wt' from node 't' (Transpose)"),
                e.getMessage());
    }

    @Test
    void residualAddTiesTheSkipAndTheBranchIntoOneSpace() {
        Net net = Net.input("batch", 4).gemm("fc1", 4, 4, true, true).op("r", "Relu");
        String skip = net.value();
        net.gemm("fc2", 4, 4, true, true);
        net.node(Node.of("res", "Add", List.of(net.value(), skip), List.of("sum")));
        LevelPlan p = net.gemm("fc3", 4, 2, true, true).plan();
        assertFalse(p.sequential());
        assertEquals(List.of(0, 0, 1), p.levels().stream().map(Level::space).toList());
        assertEquals(List.of("fc1_out", "fc2_out", "sum"), p.space(0).cuts());
        assertEquals(List.of(1, 2), p.space(0).levels());
        assertTrue(p.space(0).shared());
        assertFalse(p.space(1).shared());
        assertEquals(List.of(0), p.level(2).binding().spaces());
        assertEquals(List.of(0), p.level(3).binding().spaces());
        assertEquals(List.of("Add"), p.joins().stream().map(LevelOp::opType).toList());
        assertEquals("sum", p.level(3).from());
    }

    @Test
    void nodeOffTheChainIsReported() {
        Net net = Net.input("batch", 4).gemm("fc1", 4, 2, true, true);
        net.init("k", new long[] {2});
        net.extra(Node.of("lonely", "Relu", List.of("k"), List.of("unused")));
        UnsupportedOpException e = unsupported(net);
        assertTrue(e.getMessage().startsWith("node 'lonely' (Relu) is not on a path of activations from input"
                + " 'input' to output 'fc1_out'"), e.getMessage());
    }

    @Test
    void batchNormNotRightAfterAnAffineOpKeepsParametersPerNeuron() {
        LevelPlan p = Net.input("batch", 4, 6, 6).conv("c1", 4, 8, 3, true).op("r", "Relu").batchNorm("bn", 8)
                .conv("c2", 8, 8, 3, true).plan();
        assertEquals(1, p.perNeuron().size());
        assertEquals("bn", p.perNeuron().get(0).op().node().name());
        assertEquals(List.of(0), p.perNeuron().get(0).spaces());
        assertEquals(List.of("Relu", "BatchNormalization", "Conv"), p.level(2).opTypes());
        assertFalse(p.sequential());
    }

    @Test
    void batchNormOnFlattenedNeuronsIsRefused() {
        UnsupportedOpException e = unsupported(Net.input("batch", 4, 6, 6).conv("c1", 4, 8, 3, true)
                .op("f", "Flatten").batchNorm("bn", 128).gemm("fc", 128, 2, true, true));
        assertTrue(e.getMessage().startsWith("node 'bn' (BatchNormalization) cannot be placed in a level (it"
                + " normalises axis 1, but the neurons of 'f_out' [batch, 128] were flattened"), e.getMessage());
    }

    /** Found by LevelPlannerFuzzTest: the overflowing product reached InputLayout as IllegalArgumentException. */
    @Test
    void flatteningAShapeWhoseSizeOverflowsIsAnInvalidModel() {
        Net net = Net.input("batch", 4, 1L << 40, 1L << 40).conv("c1", 4, 8, 1, true).op("f", "Flatten");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> net.plan());
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().startsWith("node 'f' (Flatten) flattens [batch, 8, 1099511627776, 1099511627776]:"
                + " expected a shape whose element count fits 64 bits"), e.getMessage());
    }

    /** Found by LevelPlannerFuzzTest: ArrayIndexOutOfBoundsException reading the first output. */
    @Test
    void aGraphWithoutOutputsIsAnInvalidModel() {
        Model m = Net.input("batch", 4).gemm("fc", 4, 2, true, true).build();
        Model noOutputs = m.withGraph(m.graph().toBuilder().outputs(List.of()).build());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> LevelPlanner.plan(noOutputs));
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().endsWith("expected at least one graph output, found none (the model computes"
                + " nothing)"), e.getMessage());
    }

    /** Found by LevelPlannerFuzzTest: a stride of 0 divided by zero computing the pool's output shape. */
    @Test
    void windowsWithZeroStridesOrOverflowingPadsAreAnInvalidModel() {
        Net zero = Net.input("batch", 4, 6, 6).conv("c1", 4, 8, 3, true).op("p", "AveragePool",
                Attribute.ofLongs("kernel_shape", 2, 2), Attribute.ofLongs("strides", 0, 1));
        ModelFormatException e = assertThrows(ModelFormatException.class, zero::plan);
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("expected kernel sizes, strides and dilations of at least 1 and pads of"
                + " at least 0, found kernel [2, 2], strides [0, 1]"), e.getMessage());

        Net huge = Net.input("batch", 4, 6, 6).conv("c1", 4, 8, 3, true).op("p", "AveragePool",
                Attribute.ofLongs("kernel_shape", 2, 2), Attribute.ofLongs("pads", Long.MAX_VALUE, 0, 0, 0));
        e = assertThrows(ModelFormatException.class, huge::plan);
        assertTrue(e.getMessage().contains("expected sizes that fit 64 bits"), e.getMessage());
    }

    @Test
    void batchNormAfterMatMulOnTokensCannotBeFolded() {
        UnsupportedOpException e = unsupported(Net.input("batch", 5, 16).matmul("mm", 16, 5, false)
                .batchNorm("bn", 5));
        assertTrue(e.getMessage().contains("normalises axis 1 but the neuron axis"), e.getMessage());
    }

    @Test
    void batchNormAfterGemmIsFolded() {
        LevelPlan p = Net.input("batch", 6).gemm("fc1", 6, 4, true, false).batchNorm("bn", 4).op("r", "Relu")
                .gemm("fc2", 4, 2, true, true).plan();
        assertEquals(List.of("Gemm", "BatchNormalization"), p.level(1).opTypes());
        assertEquals("bn_out", p.level(1).cut());
        assertTrue(p.level(1).hasBias());
        assertEquals(7, p.level(1).fanIn());
    }

    @Test
    void modelsWithoutAffineOpsOrWithoutShapes() {
        assertTrue(unsupported(Net.input("batch", 4).op("r", "Relu")).getMessage()
                .contains("no Gemm, MatMul or Conv"));
        Graph two = Graph.builder()
                .addInput(ValueInfo.tensor("a", new TensorType(DataType.FLOAT, List.of(Dim.of(2)))))
                .addInput(ValueInfo.tensor("b", new TensorType(DataType.FLOAT, List.of(Dim.of(2)))))
                .addNode(Node.of("add", "Add", List.of("a", "b"), List.of("c")))
                .addOutput(ValueInfo.tensor("c", null)).build();
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(Model.of(two, 13)));
        assertTrue(e.getMessage().contains("between inputs 'a', 'b' and output 'c', so it has no level"),
                e.getMessage());
        Graph noShape = Graph.builder().addInput(ValueInfo.tensor("a", new TensorType(DataType.FLOAT, null)))
                .addNode(Node.of("r", "Relu", List.of("a"), List.of("c"))).addOutput(ValueInfo.tensor("c", null))
                .build();
        e = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(Model.of(noShape, 13)));
        assertTrue(e.getMessage().contains("has no declared shape"), e.getMessage());
    }

    @Test
    void reshapeWithConstantShapeKeepsTheBatchSymbol() {
        Net net = Net.input("batch", 3, 8, 8).conv("c1", 3, 4, 3, true, Attribute.ofLongs("pads", 1, 1, 1, 1))
                .op("r", "Relu").op("mp", "MaxPool", Attribute.ofLongs("kernel_shape", 2, 2),
                        Attribute.ofLongs("strides", 2, 2));
        net.initializer(Tensor.ofLongs("target", new long[] {2}, new long[] {-1, 64}));
        LevelPlan p = net.op("rs", "Reshape", List.of("target")).gemm("fc", 64, 5, true, true).plan();
        assertEquals(List.of("Relu", "MaxPool", "Reshape", "Gemm"), p.level(2).opTypes());
        assertEquals("[batch, 64]", dims(p.level(2).inputShape()));
        assertEquals("[batch, 4, 8, 8]", dims(p.level(1).cutShape()));
        assertEquals(28, p.level(1).fanIn());

        Net viaConstant = Net.input("batch", 2, 4, 4).conv("c1", 2, 3, 3, false);
        String shape = viaConstant.constant("shape", Tensor.ofLongs("shape", new long[] {2}, new long[] {0, -1}));
        LevelPlan q = viaConstant.op("rs", "Reshape", List.of(shape)).gemm("fc", 12, 2, true, false).plan();
        assertEquals("[batch, 12]", dims(q.level(2).inputShape()));
        assertEquals(List.of("shape", "rs"), q.level(2).ops().get(0).nodes().stream().map(Node::name).toList());
    }

    /** torch's export of h.view(h.size(0), -1): Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape. */
    private static Net viewOfBatch(Net net, boolean batchLast) {
        String h = net.value();
        net.initializer(Tensor.ofLongs("zero", new long[0], new long[] {0}));
        net.initializer(Tensor.ofLongs("axes", new long[] {1}, new long[] {0}));
        net.initializer(Tensor.ofLongs("minus_one", new long[] {1}, new long[] {-1}));
        net.extra(Node.of("shape", "Shape", List.of(h), List.of("shape_out")));
        net.extra(Node.of("batch", "Gather", List.of("shape_out", "zero"), List.of("batch_out"),
                Attribute.ofLong("axis", 0)));
        net.extra(Node.of("unsq", "Unsqueeze", List.of("batch_out", "axes"), List.of("unsq_out")));
        List<String> parts = batchLast ? List.of("minus_one", "unsq_out") : List.of("unsq_out", "minus_one");
        net.extra(Node.of("cat", "Concat", parts, List.of("target"), Attribute.ofLong("axis", 0)));
        return net.op("rs", "Reshape", List.of("target"));
    }

    @Test
    void reshapeToTheInputsOwnBatchSizeIsPlanned() {
        Net net = Net.input("batch", 2, 4, 4).opset(13).conv("c1", 2, 3, 3, false).op("r", "Relu");
        LevelPlan p = viewOfBatch(net, false).gemm("fc", 12, 2, true, true).plan();
        assertEquals(List.of("Relu", "Reshape", "Gemm"), p.level(2).opTypes());
        assertEquals("[batch, 12]", dims(p.level(2).inputShape()));
        assertEquals(13, p.level(2).fanIn());
        // the shape computation belongs to the Reshape's step
        assertEquals(List.of("shape", "batch", "unsq", "cat", "rs"),
                p.level(2).ops().get(1).nodes().stream().map(Node::name).toList());
    }

    @Test
    void shapeArithmeticOnFixedSizesIsWorkedOut() {
        // view(n, c * h * w) with the sizes read from the shape and multiplied in the graph
        Net net = Net.input("batch", 2, 4, 4).opset(13).conv("c1", 2, 3, 3, false);
        String h = net.value();
        net.initializer(Tensor.ofLongs("i0", new long[0], new long[] {0}));
        net.initializer(Tensor.ofLongs("rest", new long[] {3}, new long[] {1, 2, 3}));
        net.initializer(Tensor.ofLongs("axes", new long[] {1}, new long[] {0}));
        net.extra(Node.of("shape", "Shape", List.of(h), List.of("s")));
        net.extra(Node.of("n", "Gather", List.of("s", "i0"), List.of("n_out")));
        net.extra(Node.of("chw", "Gather", List.of("s", "rest"), List.of("chw_out")));
        net.extra(Node.of("c", "Slice", List.of("chw_out", "i_start", "i_one"), List.of("c_out")));
        net.initializer(Tensor.ofLongs("i_start", new long[] {1}, new long[] {0}));
        net.initializer(Tensor.ofLongs("i_one", new long[] {1}, new long[] {1}));
        net.extra(Node.of("hw", "Slice", List.of("chw_out", "i_one", "i_end"), List.of("hw_out")));
        net.initializer(Tensor.ofLongs("i_end", new long[] {1}, new long[] {3}));
        net.extra(Node.of("h_", "Slice", List.of("hw_out", "i_start", "i_one"), List.of("h_out")));
        net.extra(Node.of("w_", "Slice", List.of("hw_out", "i_one", "i_two"), List.of("w_out")));
        net.initializer(Tensor.ofLongs("i_two", new long[] {1}, new long[] {2}));
        net.extra(Node.of("m1", "Mul", List.of("c_out", "h_out"), List.of("m1_out")));
        net.extra(Node.of("m2", "Mul", List.of("m1_out", "w_out"), List.of("m2_out")));
        net.extra(Node.of("un", "Unsqueeze", List.of("n_out", "axes"), List.of("un_out")));
        net.extra(Node.of("cat", "Concat", List.of("un_out", "m2_out"), List.of("target"), Attribute.ofLong("axis", 0)));
        LevelPlan p = net.op("rs", "Reshape", List.of("target")).gemm("fc", 12, 2, true, false).plan();
        assertEquals("[batch, 12]", dims(p.level(2).inputShape()));
        assertEquals(12, p.level(2).fanIn());
    }

    @Test
    void aComputedShapeThatMovesTheBatchIsRefused() {
        Net net = Net.input("batch", 2, 4, 4).opset(13).conv("c1", 2, 3, 3, false);
        UnsupportedOpException e = unsupported(viewOfBatch(net, true).gemm("fc", 12, 2, true, false));
        assertTrue(e.getMessage().contains("moves dimension 0"), e.getMessage());
    }

    @Test
    void siluWrittenAsSigmoidTimesInputIsOneOp() {
        Net net = Net.input("batch", 8).opset(13).gemm("fc1", 8, 6, true, true);
        String h = net.value();
        net.extra(Node.of("sig", "Sigmoid", List.of(h), List.of("sig_out")));
        LevelPlan p = net.node(Node.of("swish", "Mul", List.of(h, "sig_out"), List.of("swish_out")))
                .gemm("fc2", 6, 3, true, true).plan();
        assertEquals(List.of("Silu", "Gemm"), p.level(2).opTypes());
        assertEquals(List.of("sig", "swish"), p.level(2).ops().get(0).nodes().stream().map(Node::name).toList());
    }

    @Test
    void inputNormalisationAndScalarArithmeticArePlanned() {
        Net net = Net.input("batch", 2, 4, 4).opset(13);
        net.initializer(Tensor.ofFloats("mean", new long[] {1, 2, 1, 1}, new float[] {0.5f, 0.4f}));
        net.initializer(Tensor.ofFloats("std", new long[] {1, 2, 1, 1}, new float[] {0.2f, 0.3f}));
        net.initializer(Tensor.ofFloats("two", new long[0], new float[] {2f}));
        LevelPlan p = net.op("sub", "Sub", List.of("mean")).op("div", "Div", List.of("std"))
                .conv("c1", 2, 3, 3, false).op("r", "Relu").node(Node.of("scale", "Mul", List.of("two", net.value()),
                        List.of("scale_out"))).op("flat", "Flatten").gemm("fc", 12, 2, true, true).plan();
        assertEquals(List.of("Sub", "Div", "Conv"), p.level(1).opTypes());
        assertEquals(List.of("Relu", "Mul", "Flatten", "Gemm"), p.level(2).opTypes());
        assertEquals("[0.5, 0.4]", p.level(1).ops().get(0).signature().get("constant"));
    }

    @Test
    void aPerNeuronConstantAfterALevelIsAPerNeuronOp() {
        Net net = Net.input("batch", 6).opset(13).gemm("fc1", 6, 3, true, true);
        net.initializer(Tensor.ofFloats("gain", new long[] {3}, new float[] {1f, 2f, 3f}));
        LevelPlan p = net.op("g", "Mul", List.of("gain")).gemm("fc2", 3, 2, true, true).plan();
        assertEquals(List.of("g"), p.perNeuron().stream().map(op -> op.op().node().name()).toList());
    }

    @Test
    void aConstantAlongThePositionsAloneAfterALevelIsRefused() {
        Net net = Net.input("batch", 4, 6).opset(13).matmul("proj", 6, 3, true);
        net.initializer(Tensor.ofFloats("per_token", new long[] {4, 1}, new float[] {1f, 2f, 3f, 4f}));
        UnsupportedOpException e = unsupported(net.op("g", "Mul", List.of("per_token")).matmul("head", 3, 2, true));
        assertTrue(e.getMessage().contains("does not vary along the neurons"), e.getMessage());
    }

    @Test
    void anActivationTimesItselfIsAJoinWithinOneSpace() {
        Net both = Net.input("batch", 6).opset(13).gemm("fc1", 6, 3, true, true);
        String h = both.value();
        LevelPlan p = both.node(Node.of("sq", "Mul", List.of(h, h), List.of("sq_out"))).gemm("fc2", 3, 2, true, true)
                .plan();
        assertEquals(List.of("fc1_out", "sq_out"), p.space(0).cuts());
        assertEquals(List.of(0), p.level(2).binding().spaces());
    }

    @Test
    void transposesFromChannelsLastInputAndToAChannelsLastFlatten() {
        Net net = Net.input("batch", 4, 4, 2).opset(13).op("nchw", "Transpose", Attribute.ofLongs("perm", 0, 3, 1, 2))
                .conv("c1", 2, 3, 3, false).op("r", "Relu").op("nhwc", "Transpose", Attribute.ofLongs("perm", 0, 2, 3, 1))
                .op("flat", "Flatten");
        LevelPlan p = net.gemm("fc", 12, 2, true, true).plan();
        assertEquals(List.of("Transpose", "Conv"), p.level(1).opTypes());
        assertEquals("[batch, 3, 2, 2]", dims(p.level(1).cutShape()));
        assertEquals(List.of("Relu", "Transpose", "Flatten", "Gemm"), p.level(2).opTypes());
        // features (h, w, c): each of the 3 neurons appears once in each of the 4 positions
        assertEquals(new InputLayout(4, 1), InputLayout.of(p.level(1), p.level(2)).orElseThrow());

        UnsupportedOpException e = unsupported(Net.input("batch", 4).opset(13)
                .op("swap", "Transpose", Attribute.ofLongs("perm", 1, 0)).gemm("fc", 4, 2, true, true));
        assertTrue(e.getMessage().contains("moves the batch axis"), e.getMessage());
    }

    @Test
    void constantPaddingOfSpatialAxesIsPlanned() {
        // torch exports F.avg_pool2d as Pad + AveragePool
        Net net = Net.input("batch", 2, 4, 4).opset(13).conv("c1", 2, 3, 3, false, Attribute.ofLongs("pads", 1, 1, 1, 1))
                .op("r", "Relu");
        net.initializer(Tensor.ofLongs("pads", new long[] {8}, new long[] {0, 0, 1, 1, 0, 0, 1, 1}));
        LevelPlan p = net.op("pad", "Pad", List.of("pads")).op("ap", "AveragePool", Attribute.ofLongs("kernel_shape",
                2, 2), Attribute.ofLongs("strides", 2, 2)).op("flat", "Flatten").gemm("fc", 27, 2, true, true).plan();
        assertEquals(List.of("Relu", "Pad", "AveragePool", "Flatten", "Gemm"), p.level(2).opTypes());
        assertEquals("[batch, 27]", dims(p.level(2).inputShape()));

        Net channels = Net.input("batch", 2, 4, 4).opset(13).conv("c1", 2, 3, 3, false);
        channels.initializer(Tensor.ofLongs("pads", new long[] {8}, new long[] {0, 1, 0, 0, 0, 0, 0, 0}));
        UnsupportedOpException e = unsupported(channels.op("pad", "Pad", List.of("pads")).op("flat", "Flatten")
                .gemm("fc", 16, 2, true, true));
        assertTrue(e.getMessage().contains("pads axis 1, which holds the neurons"), e.getMessage());
    }

    @Test
    void slicesOfPositionsArePlannedAndASliceOfTheNeuronsIsRefusedByNode() {
        Net rows = Net.input("batch", 2, 4, 4).opset(13).conv("c1", 2, 3, 3, false, Attribute.ofLongs("pads", 1, 1, 1, 1));
        rows.initializer(Tensor.ofLongs("starts", new long[] {1}, new long[] {1}));
        rows.initializer(Tensor.ofLongs("ends", new long[] {1}, new long[] {4}));
        rows.initializer(Tensor.ofLongs("axes", new long[] {1}, new long[] {2}));
        rows.initializer(Tensor.ofLongs("steps", new long[] {1}, new long[] {2}));
        LevelPlan p = rows.op("every_other_row", "Slice", List.of("starts", "ends", "axes", "steps"))
                .op("flat", "Flatten").gemm("fc", 24, 2, true, true).plan();
        assertEquals("[batch, 24]", dims(p.level(2).inputShape()), "rows 1 and 3 of 4, 3 channels, 4 columns");

        Net channels = Net.input("batch", 2, 4, 4).opset(13).conv("c1", 2, 3, 3, false, Attribute.ofLongs("pads", 1, 1,
                1, 1));
        channels.initializer(Tensor.ofLongs("starts", new long[] {1}, new long[] {0}));
        channels.initializer(Tensor.ofLongs("ends", new long[] {1}, new long[] {2}));
        channels.initializer(Tensor.ofLongs("axes", new long[] {1}, new long[] {1}));
        UnsupportedOpException e = unsupported(channels.op("two_channels", "Slice", List.of("starts", "ends", "axes"))
                .op("flat", "Flatten").gemm("fc", 32, 2, true, true));
        assertTrue(e.getMessage().contains("'two_channels'") && e.getMessage().contains("slices axis 1, which holds"
                + " the neurons"), e.getMessage());
    }

    @Test
    void reshapeWithComputedShapeIsRefused() {
        Net net = Net.input("batch", 2, 4, 4).conv("c1", 2, 3, 3, false);
        net.init("shape_src", new long[] {2});
        net.extra(Node.of("cast", "Cast", List.of("shape_src"), List.of("shape"), Attribute.ofLong("to", 7)));
        UnsupportedOpException e = unsupported(net.op("rs", "Reshape", List.of("shape")).gemm("fc", 12, 2, true, false));
        assertTrue(e.getMessage().contains("'rs' (Reshape) reads input 1 'shape' from node 'cast' (Cast)"),
                e.getMessage());
    }

    @Test
    void convAndPoolShapesFollowPadsStridesDilationsAndCeilMode() {
        LevelPlan p = Net.input("batch", 1, 28, 28)
                .conv("c1", 1, 4, 3, true, Attribute.ofLongs("strides", 2, 2), Attribute.ofString("auto_pad", "SAME_UPPER"))
                .op("mp", "MaxPool", Attribute.ofLongs("kernel_shape", 3, 3), Attribute.ofLongs("strides", 2, 2),
                        Attribute.ofLong("ceil_mode", 1))
                .conv("c2", 4, 6, 3, true, Attribute.ofLongs("dilations", 2, 2), Attribute.ofLongs("pads", 1, 1, 1, 1))
                .op("ap", "AveragePool", Attribute.ofLongs("kernel_shape", 2, 2), Attribute.ofLongs("strides", 1, 1))
                .op("gap", "GlobalAveragePool").op("fl", "Flatten").gemm("fc", 6, 3, true, true).plan();
        assertEquals("[batch, 4, 14, 14]", dims(p.level(1).cutShape()));
        // ceil((14 - 3) / 2) + 1 = 7 with ceil_mode; then dilated 3x3 (5x5 effective) with pads 1: 7 + 2 - 5 + 1 = 5
        assertEquals("[batch, 4, 7, 7]", dims(p.level(2).inputShape()));
        assertEquals("[batch, 6, 5, 5]", dims(p.level(2).cutShape()));
        assertEquals("[batch, 6]", dims(p.level(3).inputShape()));
    }

    @Test
    void featureMismatchIsAnInvalidModel() {
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> Net.input("batch", 5).gemm("fc", 6, 2, true, true).plan());
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("has 5 features on axis 1, but the weights expect 6"), e.getMessage());
    }

    @Test
    void dropoutInTrainingModeIsRefused() {
        Net net = Net.input("batch", 4).gemm("fc1", 4, 4, true, true);
        net.initializer(Tensor.ofFloats("ratio", new long[0], new float[] {0.5f}));
        net.constant("train", new Tensor("train", DataType.BOOL, new long[0],
                new org.onnxfuse.onnx.ir.TensorData.InMemory(java.nio.ByteBuffer.wrap(new byte[] {1})), "", null));
        UnsupportedOpException e = unsupported(net.op("d", "Dropout", List.of("ratio", "train_out"))
                .gemm("fc2", 4, 2, true, true));
        assertTrue(e.getMessage().contains("training mode"), e.getMessage());
    }
}
