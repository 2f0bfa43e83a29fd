package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionMethod;
import org.onnxfuse.fusion.pipeline.FusionResult;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Constant folding on graphs built in code and on fixtures: the structure after folding, and the
 * folded model against the original in ONNX Runtime, bit for bit.
 */
class ConstantFoldingTest {

    // ------------------------------------------------------------------ helpers

    /** The first output of {@code model} on seeded Gaussian input of {@code shape}. */
    private static float[] run(Model model, long... shape) {
        float[] x = TestNets.randoms(new Random(3), Tensor.elementCount(shape));
        String out = model.graph().outputs().get(0).name();
        try (OrtRunner r = OrtRunner.open("test model", model, List.of(), 1)) {
            return r.run(x, shape, List.of(out)).get(out).values();
        }
    }

    private static Model foldedComputingTheSame(Model model, long... shape) {
        Model folded = ConstantFolding.fold(model);
        assertArrayEquals(run(model, shape), run(folded, shape), "outputs of the folded model");
        return folded;
    }

    private static List<String> opTypes(Model m) {
        return m.graph().topologicalOrder().stream().map(Node::opType).toList();
    }

    private static Tensor initializer(Model m, String name) {
        return m.graph().initializer(name).orElseThrow(() -> new AssertionError("no initializer '" + name + "' in "
                + m.graph().initializers().keySet()));
    }

    /** No initializer is read as a parameter by two nodes. */
    private static void assertNoSharedParameters(Model m) {
        Set<String> seen = new HashSet<>();
        for (Node n : m.graph().nodes()) {
            for (String in : new HashSet<>(n.inputs().subList(1, n.inputs().size()))) {
                if (m.graph().initializer(in).isPresent()) {
                    assertTrue(seen.add(in), "initializer '" + in + "' is read by two nodes");
                }
            }
        }
    }

    private static Tensor longs(String name, long... values) {
        return Tensor.ofLongs(name, new long[] {values.length}, values);
    }

    private static Node constant(String output, Tensor value) {
        return Node.of(output, "Constant", List.of(), List.of(output), Attribute.ofTensor("value", value));
    }

    private static Node node(String opType, List<String> inputs, String output, Attribute... attributes) {
        return Node.of(output, opType, inputs, List.of(output), attributes);
    }

    // ------------------------------------------------------------------ exporter forms

    @Test
    void anIdentityOfAnInitializerFeedingAConvBiasBecomesAnInitializer() {
        Net net = Net.input(2, 2, 6, 6);
        net.init("conv1.weight", new long[] {3, 2, 3, 3});
        net.init("conv1.bias", new long[] {3});
        net.init("conv2.weight", new long[] {3, 3, 3, 3});
        net.extra(node("Identity", List.of("conv1.bias"), "conv2.bias"));
        Model m = net.op("conv1", "Conv", List.of("conv1.weight", "conv1.bias")).op("relu", "Relu")
                .op("conv2", "Conv", List.of("conv2.weight", "conv2.bias")).build();
        UnsupportedOpException before = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(m));
        assertTrue(before.getMessage().contains("Identity"), before.getMessage());

        Model folded = foldedComputingTheSame(m, 2, 2, 6, 6);
        assertEquals(List.of("Conv", "Relu", "Conv"), opTypes(folded));
        assertArrayEquals(initializer(m, "conv1.bias").toFloats(), initializer(folded, "conv2.bias").toFloats());
        assertEquals(List.of("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"),
                List.copyOf(folded.graph().initializers().keySet()));
        assertEquals(2, LevelPlanner.plan(folded).levels().size());
    }

    @Test
    void integerEqualAndWhereOfConstantsFold() {
        // torch's expand(-1, H, ...) writes its target as Where(Equal(sizes, -1), ones, sizes): shape arithmetic
        Net net = Net.input(2, 3, 4);
        net.initializer(longs("sizes", -1, 12));
        net.initializer(longs("minus_ones", -1, -1));
        net.initializer(longs("twos", 2, 2));
        net.extra(node("Equal", List.of("sizes", "minus_ones"), "is_free"));
        net.extra(node("Where", List.of("is_free", "twos", "sizes"), "target"));
        Model m = net.op("reshape", "Reshape", List.of("target")).gemm("fc", 12, 5, true, true).build();
        Model folded = foldedComputingTheSame(m, 2, 3, 4);
        assertEquals(List.of("Reshape", "Gemm"), opTypes(folded));
        assertArrayEquals(new long[] {2, 12}, initializer(folded, "target").toLongs());
    }

    @Test
    void aConstantNodeFeedingAReshapeTargetBecomesAnInitializer() {
        Net net = Net.input(2, 3, 4);
        net.extra(constant("target", longs("t", 0, 12)));
        Model m = net.op("reshape", "Reshape", List.of("target")).gemm("fc", 12, 5, true, true).build();
        Model folded = foldedComputingTheSame(m, 2, 3, 4);
        assertEquals(List.of("Reshape", "Gemm"), opTypes(folded));
        Tensor target = initializer(folded, "target");
        assertEquals(DataType.INT64, target.dataType());
        assertArrayEquals(new long[] {0, 12}, target.toLongs());
        assertArrayEquals(new long[] {2}, target.dims());
    }

    /** Constant (int32) -> Cast (int64) -> Unsqueeze -> Concat with [-1]: a Reshape target, in both Unsqueeze forms. */
    @ParameterizedTest
    @ValueSource(longs = {11, 13})
    void aConstantCastUnsqueezeConcatChainFoldsToItsValue(long opset) {
        Net net = Net.input(2, 3, 4).opset(opset);
        net.initializer(longs("minus_one", -1));
        net.extra(constant("twelve", Tensor.ofRawBytes("v", DataType.INT32, new long[0], new byte[] {12, 0, 0, 0})));
        net.extra(node("Cast", List.of("twelve"), "twelve64", Attribute.ofLong("to", DataType.INT64.code())));
        if (opset < 13) {
            net.extra(node("Unsqueeze", List.of("twelve64"), "twelve1", Attribute.ofLongs("axes", 0)));
        } else {
            net.initializer(longs("axes", 0));
            net.extra(node("Unsqueeze", List.of("twelve64", "axes"), "twelve1"));
        }
        net.extra(node("Concat", List.of("minus_one", "twelve1"), "target", Attribute.ofLong("axis", 0)));
        Model m = net.op("reshape", "Reshape", List.of("target")).gemm("fc", 12, 5, false, true).build();

        Model folded = foldedComputingTheSame(m, 2, 3, 4);
        assertEquals(List.of("Reshape", "Gemm"), opTypes(folded));
        Tensor target = initializer(folded, "target");
        assertEquals(DataType.INT64, target.dataType());
        assertArrayEquals(new long[] {-1, 12}, target.toLongs());
        // the chain's inputs are read by nothing now
        assertFalse(folded.graph().initializers().containsKey("minus_one"));
        assertFalse(folded.graph().initializers().containsKey("axes"));
        assertEquals(1, LevelPlanner.plan(folded).levels().size());
    }

    /**
     * {@code net} (input [2 or batch, 3, 4]) then torch's export of {@code x.view(x.size(0), -1)}
     * and a Gemm: Shape -> Gather("zero") -> Unsqueeze("axes") -> Concat with "minus_one" -> Reshape.
     */
    private static Model viewAsBatchByRest(Net net) {
        net.extra(node("Shape", List.of("input"), "shape"));
        net.extra(node("Gather", List.of("shape", "zero"), "batch", Attribute.ofLong("axis", 0)));
        net.extra(node("Unsqueeze", List.of("batch", "axes"), "batch1"));
        net.extra(node("Concat", List.of("batch1", "minus_one"), "target", Attribute.ofLong("axis", 0)));
        return net.op("reshape", "Reshape", List.of("target")).gemm("fc", 12, 5, true, true).build();
    }

    @Test
    void theShapeOfAFixedShapeValueFoldsThroughGather() {
        Net net = Net.input(2, 3, 4);
        net.initializer(Tensor.ofLongs("zero", new long[0], new long[] {0}));
        net.initializer(longs("axes", 0));
        net.initializer(longs("minus_one", -1));
        Model m = viewAsBatchByRest(net);

        Model folded = foldedComputingTheSame(m, 2, 3, 4);
        assertEquals(List.of("Reshape", "Gemm"), opTypes(folded));
        assertArrayEquals(new long[] {2, -1}, initializer(folded, "target").toLongs());
    }

    @Test
    void theShapeOfAValueWithASymbolicBatchIsLeft() {
        Net net = Net.input("batch", 3, 4);
        net.extra(constant("zero", Tensor.ofLongs("z", new long[0], new long[] {0})));
        net.extra(constant("axes", longs("a", 0)));
        net.extra(constant("minus_one", longs("m", -1)));
        Model m = viewAsBatchByRest(net);

        Model folded = foldedComputingTheSame(m, 2, 3, 4);
        assertEquals(List.of("Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Gemm"), opTypes(folded));
        assertArrayEquals(new long[] {-1}, initializer(folded, "minus_one").toLongs());
        assertEquals(1, LevelPlanner.plan(folded).levels().size());
    }

    /** The pads of F.pad(x, (1, 1, 1, 1)) as torch 1.13 writes them at opsets 13 and 17, node for node. */
    private static void torchPadAmounts(Net net) {
        Tensor scalar4 = Tensor.ofLongs("v", new long[0], new long[] {4});
        Tensor scalar2 = Tensor.ofLongs("v", new long[0], new long[] {2});
        List.of(constant("torch_pads", longs("v", 1, 1, 1, 1)),
                constant("zero", longs("v", 0)),
                node("Shape", List.of("torch_pads"), "pads_shape"),
                node("Gather", List.of("pads_shape", "zero"), "pads_count", Attribute.ofLong("axis", 0)),
                constant("four", scalar4),
                constant("two", scalar2),
                node("Mul", List.of("four", "two"), "eight"),
                node("Sub", List.of("eight", "pads_count"), "missing"),
                node("Cast", List.of("torch_pads"), "pads64", Attribute.ofLong("to", DataType.INT64.code())),
                node("ConstantOfShape", List.of("missing"), "zeros", Attribute.ofTensor("value", longs("v", 0))),
                node("Concat", List.of("pads64", "zeros"), "all", Attribute.ofLong("axis", 0)),
                constant("pairs", longs("v", -1, 2)),
                node("Reshape", List.of("all", "pairs"), "by_axis"),
                constant("minus_one", longs("v", -1)),
                constant("lowest", longs("v", -Long.MAX_VALUE)),
                node("Slice", List.of("by_axis", "minus_one", "lowest", "zero", "minus_one"), "reversed"),
                node("Transpose", List.of("reversed"), "begins_ends", Attribute.ofLongs("perm", 1, 0)),
                node("Reshape", List.of("begins_ends", "minus_one"), "flat_pads"),
                node("Cast", List.of("flat_pads"), "pads", Attribute.ofLong("to", DataType.INT64.code())))
                .forEach(net::extra);
    }

    @Test
    void torchsPadAmountsFoldToOneInitializer() {
        Net net = Net.input(2, 2, 6, 6);
        net.conv("conv1", 2, 4, 3, true);
        torchPadAmounts(net);
        Model m = net.op("relu", "Relu").op("pad", "Pad", List.of("pads", ""))
                .op("pool", "AveragePool", Attribute.ofLongs("kernel_shape", 2, 2), Attribute.ofLongs("strides", 2, 2))
                .conv("conv2", 4, 3, 3, true).build();
        UnsupportedOpException before = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(m));
        assertTrue(before.getMessage().contains("'pads' from node 'pads' (Cast)"), before.getMessage());

        Model folded = foldedComputingTheSame(m, 2, 2, 6, 6);
        assertEquals(List.of("Conv", "Relu", "Pad", "AveragePool", "Conv"), opTypes(folded));
        assertArrayEquals(new long[] {0, 0, 1, 1, 0, 0, 1, 1}, initializer(folded, "pads").toLongs());
        assertEquals(Set.of("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "pads"),
                folded.graph().initializers().keySet());
        assertEquals(2, LevelPlanner.plan(folded).levels().size());
    }

    @Test
    void aBiasSharedByTwoBatchNormalizationsIsSplit() {
        Net net = Net.input(2, 3, 5, 5);
        net.init("conv1.weight", new long[] {4, 3, 3, 3});
        net.init("conv2.weight", new long[] {4, 4, 3, 3});
        net.init("shared_bias", new long[] {4});
        for (String bn : List.of("bn1", "bn2")) {
            net.init(bn + ".scale", new long[] {4});
            net.init(bn + ".mean", new long[] {4});
            net.initializer(Tensor.ofFloats(bn + ".var", new long[] {4}, new float[] {0.5f, 1f, 1.5f, 2f}));
        }
        Model m = net.op("conv1", "Conv", List.of("conv1.weight"))
                .op("bn1", "BatchNormalization", List.of("bn1.scale", "shared_bias", "bn1.mean", "bn1.var"))
                .op("relu", "Relu").op("conv2", "Conv", List.of("conv2.weight"))
                .op("bn2", "BatchNormalization", List.of("bn2.scale", "shared_bias", "bn2.mean", "bn2.var")).build();

        Model folded = foldedComputingTheSame(m, 2, 3, 5, 5);
        assertEquals(opTypes(m), opTypes(folded));
        assertNoSharedParameters(folded);
        assertFalse(folded.graph().initializers().containsKey("shared_bias"));
        Node bn1 = folded.graph().producer("bn1_out").orElseThrow();
        Node bn2 = folded.graph().producer("bn2_out").orElseThrow();
        assertEquals("shared_bias__bn1", bn1.inputs().get(2));
        assertEquals("shared_bias__bn2", bn2.inputs().get(2));
        float[] shared = initializer(m, "shared_bias").toFloats();
        assertArrayEquals(shared, initializer(folded, "shared_bias__bn1").toFloats());
        assertArrayEquals(shared, initializer(folded, "shared_bias__bn2").toFloats());
        assertEquals(2, LevelPlanner.plan(folded).levels().size());
    }

    @Test
    void aGemmWeightSharedByTwoGemmsIsSplit() {
        Net net = Net.input(3, 4);
        net.init("tied.weight", new long[] {4, 4});
        net.init("fc1.bias", new long[] {4});
        net.init("fc2.bias", new long[] {4});
        Model m = net.op("fc1", "Gemm", List.of("tied.weight", "fc1.bias"), Attribute.ofLong("transB", 1))
                .op("relu", "Relu")
                .op("fc2", "Gemm", List.of("tied.weight", "fc2.bias"), Attribute.ofLong("transB", 1)).build();

        Model folded = foldedComputingTheSame(m, 3, 4);
        assertNoSharedParameters(folded);
        assertEquals(List.of("tied.weight__fc1", "tied.weight__fc2", "fc1.bias", "fc2.bias"),
                List.copyOf(folded.graph().initializers().keySet()));
        assertEquals("tied.weight__fc1", folded.graph().producer("fc1_out").orElseThrow().inputs().get(1));
        assertEquals("tied.weight__fc2", folded.graph().producer("fc2_out").orElseThrow().inputs().get(1));
    }

    @Test
    void aConstantReadAsTheDataInputOfSeveralNodesStaysShared() {
        Net net = Net.input(3, 4);
        net.init("table", new long[] {3, 4});
        net.extra(node("Relu", List.of("table"), "relu_table"));
        net.extra(node("Sigmoid", List.of("table"), "sigmoid_table"));
        net.extra(node("Add", List.of("relu_table", "sigmoid_table"), "both"));
        Model m = net.op("add", "Add", List.of("both")).build();
        assertSame(m, ConstantFolding.fold(m));
    }

    @Test
    void aNodeWritingAGraphOutputStays() {
        Net net = Net.input(3, 4);
        net.init("c", new long[] {3, 4});
        Model m = net.op("add", "Add", List.of("c")).build();
        Graph g = m.graph().toBuilder().addNode(node("Identity", List.of("c"), "copy"))
                .addOutput(ValueInfo.tensor("copy", null)).build();
        assertSame(g, ConstantFolding.fold(m.withGraph(g)).graph());
    }

    // ------------------------------------------------------------------ each op against ONNX Runtime

    /** Constant chains ending in {@code c}, a float [2, 3, 4] added to the input, at opset 13 unless named. */
    static Stream<Arguments> chains() {
        Tensor shape234 = longs("s", 2, 3, 4);
        return Stream.of(
                Arguments.of("Range, Cast, Reshape, Transpose, Slice, Concat", 13L, List.of(
                        constant("start", Tensor.ofLongs("v", new long[0], new long[] {5})),
                        constant("limit", Tensor.ofLongs("v", new long[0], new long[] {-7})),
                        constant("delta", Tensor.ofLongs("v", new long[0], new long[] {-1})),
                        node("Range", List.of("start", "limit", "delta"), "r"),
                        node("Cast", List.of("r"), "rf", Attribute.ofLong("to", DataType.FLOAT.code())),
                        constant("s34", longs("v", 4, 3)),
                        node("Reshape", List.of("rf", "s34"), "r34"),
                        node("Transpose", List.of("r34"), "r43"),
                        constant("starts", longs("v", -1)),
                        constant("ends", longs("v", -100)),
                        constant("axes", longs("v", 1)),
                        constant("steps", longs("v", -2)),
                        node("Slice", List.of("r43", "starts", "ends", "axes", "steps"), "half"),
                        node("Concat", List.of("half", "half"), "c34", Attribute.ofLong("axis", 1)),
                        node("Unsqueeze", List.of("c34", "axes0"), "c134"),
                        node("Concat", List.of("c134", "c134"), "c", Attribute.ofLong("axis", 0)))),
                Arguments.of("ConstantOfShape, Div, Sub, Mul with broadcasting", 13L, List.of(
                        constant("s", shape234),
                        node("ConstantOfShape", List.of("s"), "ones", Attribute.ofTensor("value",
                                Tensor.ofFloats("v", new long[] {1}, new float[] {1f}))),
                        constant("three", Tensor.ofFloats("v", new long[0], new float[] {3f})),
                        node("Div", List.of("ones", "three"), "third"),
                        constant("row", Tensor.ofFloats("v", new long[] {4}, new float[] {0.1f, -2f, 7e-3f, 1e8f})),
                        node("Sub", List.of("third", "row"), "diff"),
                        constant("column", Tensor.ofFloats("v", new long[] {3, 1}, new float[] {1.1f, -0.3f, 3f})),
                        node("Mul", List.of("column", "diff"), "c"))),
                Arguments.of("integer arithmetic, Gather with negative indices, Cast to float", 13L, List.of(
                        constant("a", Tensor.ofLongs("v", new long[] {2, 4}, new long[] {7, -7, 9, 100, 1, 2, 3, 4})),
                        constant("b", longs("v", 2, 2, -4, 3)),
                        node("Div", List.of("a", "b"), "q"),
                        node("Mul", List.of("q", "b"), "p"),
                        node("Sub", List.of("a", "p"), "rem"),
                        constant("idx", Tensor.ofLongs("v", new long[] {3}, new long[] {-1, 0, 1})),
                        node("Gather", List.of("rem", "idx"), "g", Attribute.ofLong("axis", 0)),
                        node("Cast", List.of("g"), "gf", Attribute.ofLong("to", DataType.FLOAT.code())),
                        constant("idx2", Tensor.ofLongs("v", new long[] {3}, new long[] {-4, 1, 3})),
                        node("Gather", List.of("gf", "idx2"), "g33", Attribute.ofLong("axis", 1)),
                        constant("s", shape234),
                        node("Reshape", List.of("gf", "flat"), "g12"),
                        node("Concat", List.of("g12", "g12"), "g24", Attribute.ofLong("axis", 0)),
                        node("Reshape", List.of("g24", "s"), "c"))),
                Arguments.of("Casts through int32, float16 and bool", 13L, List.of(
                        constant("f", Tensor.ofFloats("v", new long[] {2, 3, 4}, TestNets.randoms(new Random(5), 24))),
                        constant("ten", Tensor.ofFloats("v", new long[0], new float[] {10f})),
                        node("Mul", List.of("f", "ten"), "f10"),
                        node("Cast", List.of("f10"), "i", Attribute.ofLong("to", DataType.INT32.code())),
                        node("Cast", List.of("i"), "fi", Attribute.ofLong("to", DataType.FLOAT.code())),
                        node("Cast", List.of("f"), "h", Attribute.ofLong("to", DataType.FLOAT16.code())),
                        node("Cast", List.of("h"), "fh", Attribute.ofLong("to", DataType.DOUBLE.code())),
                        node("Cast", List.of("fh"), "ff", Attribute.ofLong("to", DataType.FLOAT.code())),
                        node("Cast", List.of("i"), "nonzero", Attribute.ofLong("to", DataType.BOOL.code())),
                        node("Cast", List.of("nonzero"), "nz", Attribute.ofLong("to", DataType.FLOAT.code())),
                        node("Add", List.of("fi", "ff"), "sum"),
                        node("Add", List.of("sum", "nz"), "c"))),
                Arguments.of("Squeeze and Unsqueeze with axes attributes, Slice with attributes", 9L, List.of(
                        constant("f", Tensor.ofFloats("v", new long[] {1, 2, 1, 3, 5}, TestNets.randoms(new Random(6),
                                30))),
                        node("Squeeze", List.of("f"), "f236", Attribute.ofLongs("axes", 0, -3)),
                        node("Slice", List.of("f236"), "f234", Attribute.ofLongs("starts", 1),
                                Attribute.ofLongs("ends", 1000), Attribute.ofLongs("axes", -1)),
                        node("Slice", List.of("f234"), "f233", Attribute.ofLongs("starts", 0),
                                Attribute.ofLongs("ends", -1), Attribute.ofLongs("axes", 2)),
                        node("Unsqueeze", List.of("f234"), "f1234", Attribute.ofLongs("axes", 0)),
                        node("Squeeze", List.of("f1234"), "c"),
                        node("Identity", List.of("f233"), "unused"))),
                Arguments.of("Squeeze with an axes input", 13L, List.of(
                        constant("f", Tensor.ofFloats("v", new long[] {2, 1, 3, 4}, TestNets.randoms(new Random(8),
                                24))),
                        constant("one", longs("v", 1)),
                        node("Squeeze", List.of("f", "one"), "c"))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("chains")
    void everyFoldedOpComputesWhatOnnxRuntimeComputes(String title, long opset, List<Node> chain) {
        Net net = Net.input(2, 3, 4).opset(opset);
        net.initializer(longs("axes0", 0));
        net.initializer(longs("flat", 1, 12));
        chain.forEach(net::extra);
        Model m = net.op("add", "Add", List.of("c")).build();
        Model folded = foldedComputingTheSame(m, 2, 3, 4);
        assertEquals(List.of("Add"), opTypes(folded), title);
        assertEquals(DataType.FLOAT, initializer(folded, "c").dataType());
        assertArrayEquals(new long[] {2, 3, 4}, initializer(folded, "c").dims());
    }

    @Test
    void constantsThatDoNotFitTheirOpAreAnInvalidModel() {
        Net net = Net.input(2, 3, 4);
        net.init("w", new long[] {5});
        net.extra(constant("target", longs("t", 2, 2)));
        net.extra(node("Reshape", List.of("w", "target"), "w22"));
        Model m = net.op("add", "Add", List.of("w22")).build();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ConstantFolding.fold(m));
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("'w22' (Reshape)") && e.getMessage().contains("[5] (5 elements) to [2, 2]"
                + " (4 elements)"), e.getMessage());
    }

    @Test
    void formsOnnxRuntimeMightComputeOtherwiseAreLeft() {
        Net net = Net.input(2, 3, 4);
        net.extra(constant("start", Tensor.ofFloats("v", new long[0], new float[] {0.1f})));
        net.extra(constant("limit", Tensor.ofFloats("v", new long[0], new float[] {2.5f})));
        net.extra(constant("delta", Tensor.ofFloats("v", new long[0], new float[] {0.1f})));
        net.extra(node("Range", List.of("start", "limit", "delta"), "range"));
        net.extra(constant("big", Tensor.ofFloats("v", new long[0], new float[] {3e9f})));
        net.extra(node("Cast", List.of("big"), "overflow", Attribute.ofLong("to", DataType.INT32.code())));
        net.extra(node("Cast", List.of("overflow"), "overflowed", Attribute.ofLong("to", DataType.FLOAT.code())));
        net.extra(node("Mul", List.of("range", "overflowed"), "c"));
        Model m = net.op("add", "Add", List.of("c")).build();
        Model folded = ConstantFolding.fold(m);
        assertEquals(List.of("Range", "Cast", "Cast", "Mul", "Add"), opTypes(folded));
        assertEquals(Set.of("start", "limit", "delta", "big"), folded.graph().initializers().keySet());
    }

    /** Found by LevelPlannerFuzzTest: a ConstantOfShape of [2^62, 4] threw ArithmeticException. */
    @Test
    void shapesWhoseSizeOverflowsAreAnInvalidModel() {
        Net net = Net.input(2, 3, 4);
        net.extra(constant("s", longs("v", 1L << 62, 4)));
        net.extra(node("ConstantOfShape", List.of("s"), "c"));
        Model m = net.op("add", "Add", List.of("c")).build();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ConstantFolding.fold(m));
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("'c' (ConstantOfShape)") && e.getMessage().contains("overflows"),
                e.getMessage());

        Net range = Net.input(2, 3, 4);
        range.extra(constant("start", Tensor.ofLongs("v", new long[0], new long[] {-(1L << 62)})));
        range.extra(constant("limit", Tensor.ofLongs("v", new long[0], new long[] {1L << 62})));
        range.extra(constant("delta", Tensor.ofLongs("v", new long[0], new long[] {1})));
        range.extra(node("Range", List.of("start", "limit", "delta"), "c"));
        Model r = range.op("add", "Add", List.of("c")).build();
        assertEquals(ErrorCode.INVALID_MODEL, assertThrows(ModelFormatException.class, () -> ConstantFolding.fold(r))
                .code());
    }

    /** A few bytes of ConstantOfShape, Range or broadcasting must not ask for gigabytes: left to ONNX Runtime. */
    @Test
    void resultsLargerThanAWeightMatrixAreLeft() {
        Net net = Net.input(2, 3, 4);
        net.extra(constant("s", longs("v", 1L << 30)));
        net.extra(node("ConstantOfShape", List.of("s"), "huge"));
        net.extra(constant("start", Tensor.ofLongs("v", new long[0], new long[] {0})));
        net.extra(constant("limit", Tensor.ofLongs("v", new long[0], new long[] {1L << 40})));
        net.extra(constant("delta", Tensor.ofLongs("v", new long[0], new long[] {1})));
        net.extra(node("Range", List.of("start", "limit", "delta"), "range"));
        net.extra(constant("column", Tensor.ofFloats("v", new long[] {1 << 13, 1}, new float[1 << 13])));
        net.extra(constant("row", Tensor.ofFloats("v", new long[] {1, 1 << 13}, new float[1 << 13])));
        net.extra(node("Add", List.of("column", "row"), "square"));
        net.extra(node("Cast", List.of("range"), "rangeF", Attribute.ofLong("to", DataType.FLOAT.code())));
        net.extra(node("Add", List.of("huge", "rangeF"), "sum"));
        net.extra(node("Add", List.of("sum", "square"), "c"));
        Model m = net.op("add", "Add", List.of("c")).build();
        Set<String> left = new HashSet<>();
        ConstantFolding.fold(m).graph().nodes().forEach(n -> left.addAll(n.outputs()));
        assertTrue(left.containsAll(List.of("huge", "range", "square")), "left: " + left);
    }

    /** Each Concat doubles a 32 MB value; past the budget (256 MB here) the rest is left unfolded. */
    @Test
    void foldingStopsAtItsBudget() {
        Net net = Net.input(2, 3, 4);
        net.extra(constant("s", longs("v", 1L << 23)));
        net.extra(node("ConstantOfShape", List.of("s"), "x0"));
        for (int i = 0; i < 12; i++) {
            net.extra(node("Concat", List.of("x0", "x0"), "x" + (i + 1), Attribute.ofLong("axis", 0)));
        }
        List<String> all = new ArrayList<>();
        for (int i = 1; i <= 12; i++) {
            all.add("x" + i);
        }
        net.extra(node("Concat", all, "c", Attribute.ofLong("axis", 0)));
        Model m = net.op("add", "Add", List.of("c")).build();
        List<String> ops = opTypes(ConstantFolding.fold(m));
        long concats = ops.stream().filter("Concat"::equals).count();
        assertTrue(concats > 1 && concats < 13, "some, not all, Concats are left: " + ops);
    }

    // ------------------------------------------------------------------ fixtures and the pipeline

    @Test
    void aFixtureWithNothingToFoldIsReturnedAsItIs() {
        for (String fixture : List.of("vgg_p0.onnx", "bn_p0.onnx", "mlp_k2_p0.onnx")) {
            Model m = Fixtures.read(fixture);
            assertSame(m, ConstantFolding.fold(m), fixture);
        }
    }

    @Test
    void foldingIsDeterministic() {
        Model m = Fixtures.read("export_forms/gelu_opset17.onnx");
        Model a = ConstantFolding.fold(m);
        Model b = ConstantFolding.fold(Fixtures.read("export_forms/gelu_opset17.onnx"));
        assertNotEquals(m.graph().nodes().size(), a.graph().nodes().size());
        assertEquals(a.graph().nodes().stream().map(n -> n.inputs() + "->" + n.outputs()).toList(),
                b.graph().nodes().stream().map(n -> n.inputs() + "->" + n.outputs()).toList());
        assertEquals(List.copyOf(a.graph().initializers().keySet()), List.copyOf(b.graph().initializers().keySet()));
        assertSame(a, ConstantFolding.fold(a));
        assertEquals(LevelPlanner.plan(m).widths(), LevelPlanner.plan(a).widths());
    }

    /**
     * vgg_p0 with conv2's bias as torch writes a de-duplicated zero bias: an Identity of an
     * initializer of zeros.
     */
    private static Model withIdentityFedBias(Model m) {
        Graph g = m.graph();
        Node conv2 = g.producer("/conv2/Conv_output_0").orElseThrow();
        String bias = conv2.inputs().get(2);
        long[] dims = g.initializer(bias).orElseThrow().dims();
        List<String> inputs = new ArrayList<>(conv2.inputs());
        inputs.set(2, "conv2.bias.copy");
        return m.withGraph(g.toBuilder().removeInitializer(bias)
                .addInitializer(Tensor.ofFloats("zeros", dims, new float[(int) dims[0]]))
                .addNode(node("Identity", List.of("zeros"), "conv2.bias.copy"))
                .replaceNode(conv2, conv2.withInputs(inputs)).build());
    }

    @Test
    void anExporterStyleIdentityFedBiasPlansAndFuses() {
        Model m = withIdentityFedBias(Fixtures.read("vgg_p0.onnx"));
        UnsupportedOpException refused = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(m));
        assertTrue(refused.getMessage().contains("from node 'conv2.bias.copy' (Identity)"), refused.getMessage());
        assertEquals(List.of(8L, 16L, 10L), LevelPlanner.plan(ConstantFolding.fold(m)).widths());

        FusionResult r = Fusion.builder().parents(m, m).calibration(Fixtures.data("calib400_x.npy")).samples(200)
                .method(FusionMethod.KF_LINEAR).device("cpu").threads(2).restarts(2).seed(1).log(s -> { }).build()
                .fuse();
        assertTrue(r.model().graph().nodes().stream().noneMatch(n -> n.opType().equals("Identity")));
        double diff = Fixtures.maxAbsDifference(Fixtures.logits(m, Fixtures.data("test_x.npy")),
                Fixtures.logits(r.model(), Fixtures.data("test_x.npy")));
        assertTrue(diff < 1e-4, "max abs logit difference of the fused model from its parent: " + diff);
    }
}
