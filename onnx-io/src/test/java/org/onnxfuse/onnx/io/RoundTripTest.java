package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.FunctionProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.SparseTensorProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorAnnotation;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TrainingInfoProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.AttributeType;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.HalfFloats;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/** Read-write-read round trips: every field kept, ONNX Runtime outputs bit-identical. */
class RoundTripTest {
    @TempDir
    Path dir;

    /** The fixture folder (system property from the build; the sibling module when run from an IDE). */
    static Path testModelsFolder() {
        String property = System.getProperty("onnxfuse.testModels");
        Path root = property != null ? Path.of(property) : Path.of("..", "test-models");
        return root.resolve("models").toAbsolutePath().normalize();
    }

    static List<Path> fixtureModels() throws IOException {
        Path folder = testModelsFolder();
        assertTrue(Files.isDirectory(folder), "expected the fixture folder " + folder);
        try (Stream<Path> files = Files.list(folder)) {
            List<Path> models = files.filter(p -> p.getFileName().toString().endsWith(".onnx")).sorted().toList();
            assertFalse(models.isEmpty(), "expected .onnx fixtures in " + folder + ", found none; run "
                    + "test-models/scripts/make_test_models.py");
            return models;
        }
    }

    @TestFactory
    Stream<DynamicTest> everyFixtureModelRoundTrips() throws IOException {
        return fixtureModels().stream().map(model -> DynamicTest.dynamicTest(model.getFileName().toString(), () -> {
            Path copyDir = Files.createTempDirectory(dir, "fixture");
            Path copy = Files.copy(model, copyDir.resolve(model.getFileName()));
            Model m = RoundTrip.check(copy, copyDir.resolve("rewritten.onnx"), true, true);
            assertFalse(m.graph().nodes().isEmpty());
            for (Tensor t : m.graph().initializers().values()) {
                if (t.dataType().isNumericDecodable()) {
                    assertEquals(t.elementCount(), t.toDoubles().length, t.name());
                }
            }
        }));
    }

    @Test
    void gemmReluMlpRoundTrips() {
        Path in = RoundTrip.save(Protos.mlp(1, false).toByteArray(), dir.resolve("mlp.onnx"));
        Model m = RoundTrip.check(in, dir.resolve("out.onnx"), true, true);
        assertEquals(List.of("fc1", "relu", "fc2"), m.graph().nodes().stream().map(Node::name).toList());
        assertEquals(1L, m.graph().nodes().get(0).longAttribute("transB", 0));
        assertEquals(13, m.defaultOpset());
    }

    @Test
    void typedFieldInitializersStayTyped() {
        Path in = RoundTrip.save(Protos.mlp(2, true).toByteArray(), dir.resolve("typed.onnx"));
        Model m = RoundTrip.check(in, dir.resolve("out.onnx"), true, true);
        Tensor w1 = m.graph().initializer("W1").orElseThrow();
        Random r = new Random(2);
        assertArrayEquals(Protos.randomFloats(r, 32), w1.toFloats());
        TensorProto written = RoundTrip.parse(RoundTrip.bytes(dir.resolve("out.onnx"))).getGraph().getInitializer(0);
        assertEquals(32, written.getFloatDataCount());
        assertFalse(written.hasRawData());
    }

    @Test
    void modelBuiltInCodeRunsLikeTheSameModelFromProtobuf() {
        ModelProto reference = Protos.mlp(3, false);
        Model read = OnnxReader.parse(reference.toByteArray(), null);
        Graph.Builder g = Graph.builder().name("mlp");
        for (Tensor t : read.graph().initializers().values()) {
            g.addInitializer(Tensor.ofFloats(t.name(), t.dims(), t.toFloats()));
        }
        read.graph().inputs().forEach(v -> g.addInput(org.onnxfuse.onnx.ir.ValueInfo.tensor(v.name(), v.tensorType())));
        read.graph().outputs().forEach(v -> g.addOutput(org.onnxfuse.onnx.ir.ValueInfo.tensor(v.name(), v.tensorType())));
        g.addNode(Node.of("fc1", "Gemm", List.of("x", "W1", "b1"), List.of("h"), Attribute.ofLong("transB", 1),
                Attribute.ofFloat("alpha", 1.0f)));
        g.addNode(Node.of("relu", "Relu", List.of("h"), List.of("a")));
        g.addNode(Node.of("fc2", "Gemm", List.of("a", "W2", "b2"), List.of("y"), Attribute.ofLong("transB", 1)));
        Model built = Model.of(g.build(), 13);
        byte[] bytes = OnnxWriter.toBytes(built);
        Ort.assertSameOutputs(Ort.run(reference.toByteArray(), 7), Ort.run(bytes, 7));
        // the written model reads back to the same IR
        Model back = OnnxReader.parse(bytes, null);
        assertEquals(built.graph().nodes().size(), back.graph().nodes().size());
        assertArrayEquals(built.graph().initializer("W2").orElseThrow().toFloats(),
                back.graph().initializer("W2").orElseThrow().toFloats());
    }

    @Test
    void editedInitializerIsWrittenAndTheRestKept() {
        Model m = OnnxReader.parse(Protos.mlp(4, true).toByteArray(), null);
        Tensor w1 = m.graph().initializer("W1").orElseThrow();
        float[] zeros = new float[32];
        Model edited = m.withGraph(m.graph().toBuilder().putInitializer(w1.withFloats(w1.dims(), zeros)).build());
        ModelProto written = RoundTrip.parse(OnnxWriter.toBytes(edited));
        TensorProto newW1 = written.getGraph().getInitializer(0);
        assertEquals("W1", newW1.getName());
        assertEquals(0, newW1.getFloatDataCount());
        assertEquals(128, newW1.getRawData().size());
        ModelProto original = Protos.mlp(4, true);
        assertEquals(original.getGraph().getInitializer(1), written.getGraph().getInitializer(1), "b1 untouched");
        assertEquals(original.getGraph().getNodeList(), written.getGraph().getNodeList());
        assertArrayEquals(zeros, OnnxReader.parse(written.toByteArray(), null).graph().initializer("W1").orElseThrow()
                .toFloats());
    }

    @Test
    void float16InitializersRawAndTypedRoundTripAndRun() {
        float[] values = {1.0f, -2.5f, 0.5f, 65504f, 0.099975586f, -0.0f, 3.0f, 2.0f, -1.0f, 0.25f, 6.0f, 1.5f};
        ByteString raw;
        short[] halves = new short[values.length];
        byte[] rawBytes = new byte[values.length * 2];
        for (int i = 0; i < values.length; i++) {
            halves[i] = HalfFloats.floatToHalf(values[i]);
            rawBytes[2 * i] = (byte) halves[i];
            rawBytes[2 * i + 1] = (byte) (halves[i] >> 8);
        }
        raw = ByteString.copyFrom(rawBytes);
        TensorProto.Builder typed = TensorProto.newBuilder().setName("W16").setDataType(TensorProto.DataType.FLOAT16_VALUE)
                .addDims(4).addDims(3);
        for (short h : halves) {
            typed.addInt32Data(h & 0xffff);
        }
        for (TensorProto w : List.of(typed.build(), typed.clone().clearInt32Data().setRawData(raw).build())) {
            GraphProto.Builder g = GraphProto.newBuilder().setName("half");
            g.addInput(Protos.valueInfo("x", Protos.FLOAT, -1, 4));
            g.addOutput(Protos.valueInfo("y", Protos.FLOAT, -1, 3));
            g.addInitializer(w);
            g.addNode(Protos.node("cast", "Cast", new String[] {"W16"}, new String[] {"W"}, Protos.intAttr("to", 1)));
            g.addNode(Protos.node("mm", "MatMul", new String[] {"x", "W"}, new String[] {"y"}));
            Path in = RoundTrip.save(Protos.model(g.build()).toByteArray(), dir.resolve("half.onnx"));
            Model m = RoundTrip.check(in, dir.resolve("half-out.onnx"), true, true);
            Tensor t = m.graph().initializer("W16").orElseThrow();
            assertEquals(DataType.FLOAT16, t.dataType());
            assertArrayEquals(values, t.toFloats());
        }
    }

    /** Unknown fields (numbers the tribuo schema lacks) on every kind of message come back byte-identical. */
    @Test
    void fieldsNewerThanTheSchemaSurvive() {
        UnknownFieldSet unknown = UnknownFieldSet.newBuilder()
                .addField(1000, UnknownFieldSet.Field.newBuilder().addVarint(42).build())
                .addField(1001, UnknownFieldSet.Field.newBuilder()
                        .addLengthDelimited(ByteString.copyFromUtf8("from a newer onnx.proto")).build())
                .addField(1002, UnknownFieldSet.Field.newBuilder().addFixed32(0x3f800000).build())
                .addField(1003, UnknownFieldSet.Field.newBuilder().addFixed64(-1L).build())
                .build();
        ModelProto base = Protos.mlp(5, false);
        GraphProto.Builder g = base.getGraph().toBuilder().setUnknownFields(unknown);
        NodeProto.Builder fc1 = g.getNode(0).toBuilder().setUnknownFields(unknown);
        fc1.setAttribute(0, fc1.getAttribute(0).toBuilder().setUnknownFields(unknown));
        g.setNode(0, fc1);
        g.setInitializer(0, g.getInitializer(0).toBuilder().setUnknownFields(unknown));
        g.setInitializer(1, g.getInitializer(1).toBuilder().setUnknownFields(unknown).addExternalData(
                StringStringEntryProto.newBuilder().setKey("note").setValue("not external").setUnknownFields(unknown)));
        g.setInput(0, g.getInput(0).toBuilder().setUnknownFields(unknown)
                .setType(g.getInput(0).getType().toBuilder().setUnknownFields(unknown)));
        g.setOutput(0, g.getOutput(0).toBuilder().setUnknownFields(unknown));
        ModelProto model = base.toBuilder().setGraph(g).setUnknownFields(unknown)
                .setOpsetImport(0, base.getOpsetImport(0).toBuilder().setUnknownFields(unknown)).build();
        assertEquals(4, model.getUnknownFields().asMap().size(), "the test fields are unknown to the schema");
        Path in = RoundTrip.save(model.toByteArray(), dir.resolve("newer.onnx"));
        RoundTrip.check(in, dir.resolve("out.onnx"), true, true);
        ModelProto back = RoundTrip.parse(RoundTrip.bytes(dir.resolve("out.onnx")));
        assertEquals(unknown, back.getUnknownFields());
        assertEquals(unknown, back.getGraph().getNode(0).getAttribute(0).getUnknownFields());
        assertEquals(unknown, back.getGraph().getInitializer(0).getUnknownFields());
    }

    /** Also when the IR is edited elsewhere: the untouched elements keep their unknown fields. */
    @Test
    void unknownFieldsSurviveAnEdit() {
        UnknownFieldSet unknown = UnknownFieldSet.newBuilder()
                .addField(777, UnknownFieldSet.Field.newBuilder().addVarint(7).build()).build();
        ModelProto base = Protos.mlp(6, false);
        GraphProto.Builder g = base.getGraph().toBuilder().setUnknownFields(unknown);
        g.setNode(1, g.getNode(1).toBuilder().setUnknownFields(unknown));
        g.setInitializer(0, g.getInitializer(0).toBuilder().setUnknownFields(unknown));
        Model m = OnnxReader.parse(base.toBuilder().setGraph(g).setUnknownFields(unknown).build().toByteArray(), null);
        Tensor w1 = m.graph().initializer("W1").orElseThrow();
        Model edited = m.withMetadata(java.util.Map.of("fused_by", "onnx-fuse")).withGraph(m.graph().toBuilder()
                .putInitializer(w1.withFloats(w1.dims(), new float[32])).build());
        ModelProto out = RoundTrip.parse(OnnxWriter.toBytes(edited));
        assertEquals(unknown, out.getUnknownFields());
        assertEquals(unknown, out.getGraph().getUnknownFields());
        assertEquals(unknown, out.getGraph().getNode(1).getUnknownFields());
        assertEquals(unknown, out.getGraph().getInitializer(0).getUnknownFields(), "edited tensor keeps unknown fields");
        assertEquals("fused_by", out.getMetadataProps(0).getKey());
    }

    /** Metadata, doc strings, value_info, training info, functions, annotations, graph/node metadata, If + Loop. */
    @Test
    void everythingTheIrDoesNotModelSurvives() {
        TensorProto one = Protos.rawFloatTensor("one", new long[] {}, new float[] {1f});
        GraphProto thenBranch = GraphProto.newBuilder().setName("then").setDocString("then branch")
                .addNode(Protos.node("then_relu", "Relu", new String[] {"x"}, new String[] {"t"}))
                .addOutput(Protos.valueInfo("t", Protos.FLOAT, -1, 4)).build();
        GraphProto elseBranch = GraphProto.newBuilder().setName("else")
                .addNode(Protos.node("else_neg", "Neg", new String[] {"x"}, new String[] {"e"}))
                .addOutput(Protos.valueInfo("e", Protos.FLOAT, -1, 4)).build();
        GraphProto loopBody = GraphProto.newBuilder().setName("body")
                .addInput(Protos.valueInfo("i", TensorProto.DataType.INT64_VALUE))
                .addInput(Protos.valueInfo("cond_in", TensorProto.DataType.BOOL_VALUE))
                .addInput(ValueInfoProto.newBuilder().setName("v_in").build())
                .addNode(Protos.node("body_cond", "Identity", new String[] {"cond_in"}, new String[] {"cond_out"}))
                .addNode(Protos.node("body_add", "Add", new String[] {"v_in", "one"}, new String[] {"v_out"}))
                .addOutput(Protos.valueInfo("cond_out", TensorProto.DataType.BOOL_VALUE))
                .addOutput(Protos.valueInfo("v_out", Protos.FLOAT, -1, 4)).build();
        TensorProto trips = TensorProto.newBuilder().setName("trips").setDataType(TensorProto.DataType.INT64_VALUE)
                .addInt64Data(3).build();
        NodeProto ifNode = Protos.node("branch", "If", new String[] {"c"}, new String[] {"b"},
                Protos.graphAttr("then_branch", thenBranch), Protos.graphAttr("else_branch", elseBranch)).toBuilder()
                .setDocString("picks a branch")
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("node-key").setValue("node-value"))
                .build();
        NodeProto loop = Protos.node("repeat", "Loop", new String[] {"trips", "", "b"}, new String[] {"y"},
                Protos.graphAttr("body", loopBody));
        GraphProto graph = GraphProto.newBuilder().setName("control").setDocString("graph doc")
                .addInput(Protos.valueInfo("x", Protos.FLOAT, -1, 4))
                .addInput(Protos.valueInfo("c", TensorProto.DataType.BOOL_VALUE))
                .addOutput(Protos.valueInfo("y", Protos.FLOAT, -1, 4))
                .addValueInfo(Protos.valueInfo("b", Protos.FLOAT, -1, 4).toBuilder().setDocString("branch result"))
                .addInitializer(one).addInitializer(trips).addNode(ifNode).addNode(loop)
                .addQuantizationAnnotation(TensorAnnotation.newBuilder().setTensorName("b").addQuantParameterTensorNames(
                        StringStringEntryProto.newBuilder().setKey("SCALE_TENSOR").setValue("one")))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("graph-key").setValue("graph-value"))
                .build();
        ModelProto model = Protos.model(graph).toBuilder().setDocString("model doc").setDomain("org.onnxfuse.test")
                .setModelVersion(7).setProducerVersion("1.2.3")
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("author").setValue("tests"))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("license").setValue("none"))
                .addTrainingInfo(TrainingInfoProto.newBuilder().setAlgorithm(GraphProto.newBuilder().setName("train")))
                .addFunctions(FunctionProto.newBuilder().setName("Unused").setDomain("custom").addInput("a")
                        .addOutput("b").addNode(Protos.node("f", "Identity", new String[] {"a"}, new String[] {"b"}))
                        .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(Protos.OPSET)))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("custom").setVersion(1)).build();
        Path in = RoundTrip.save(model.toByteArray(), dir.resolve("control.onnx"));
        Model m = RoundTrip.check(in, dir.resolve("out.onnx"), true, true);
        assertEquals("model doc", m.docString());
        assertEquals(List.of("author", "license"), List.copyOf(m.metadata().keySet()));
        Node branch = m.graph().nodes().get(0);
        assertEquals("picks a branch", branch.docString());
        assertEquals(2, branch.subgraphs().count());
        Graph then = branch.attribute("then_branch").orElseThrow().asGraph();
        assertEquals("then branch", then.docString());
        assertEquals("Relu", then.nodes().get(0).opType());
        Graph body = m.graph().nodes().get(1).attribute("body").orElseThrow().asGraph();
        assertEquals(List.of("i", "cond_in", "v_in"), body.inputs().stream().map(v -> v.name()).toList());
        assertEquals(null, body.inputs().get(2).tensorType(), "an untyped loop-carried input has no tensor type");
        assertEquals("branch result", m.graph().valueInfos().get(0).docString());
        assertArrayEquals(new long[] {3}, m.graph().initializer("trips").orElseThrow().toLongs());
    }

    @Test
    void sparseInitializerIsDensifiedOnDemandAndWrittenBackSparse() {
        TensorProto values = Protos.rawFloatTensor("S", new long[] {3}, new float[] {1.5f, -2f, 4f});
        TensorProto indices = TensorProto.newBuilder().setName("S_indices").setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(3).addInt64Data(0).addInt64Data(4).addInt64Data(11).build();
        GraphProto graph = GraphProto.newBuilder().setName("sparse")
                .addInput(Protos.valueInfo("x", Protos.FLOAT, 3, 4))
                .addOutput(Protos.valueInfo("y", Protos.FLOAT, 3, 4))
                .addSparseInitializer(SparseTensorProto.newBuilder().setValues(values).setIndices(indices).addDims(3)
                        .addDims(4))
                .addNode(Protos.node("add", "Add", new String[] {"x", "S"}, new String[] {"y"})).build();
        Path in = RoundTrip.save(Protos.model(graph).toByteArray(), dir.resolve("sparse.onnx"));
        Model m = RoundTrip.check(in, dir.resolve("out.onnx"), true, true);
        Tensor s = m.graph().initializer("S").orElseThrow();
        assertArrayEquals(new long[] {3, 4}, s.dims());
        assertArrayEquals(new float[] {1.5f, 0, 0, 0, -2f, 0, 0, 0, 0, 0, 0, 4f}, s.toFloats());
        // once its data changes it is written as a dense initializer
        Model edited = m.withGraph(m.graph().toBuilder().putInitializer(s.withFloats(s.dims(), new float[12])).build());
        GraphProto out = RoundTrip.parse(OnnxWriter.toBytes(edited)).getGraph();
        assertEquals(0, out.getSparseInitializerCount());
        assertEquals("S", out.getInitializer(0).getName());
    }

    @Test
    void attributesOfEveryKindDecode() {
        NodeProto node = NodeProto.newBuilder().setOpType("Custom").setDomain("custom").addInput("x").addOutput("y")
                .addAttribute(AttributeProto.newBuilder().setName("f").setType(AttributeProto.AttributeType.FLOAT).setF(0.5f))
                .addAttribute(AttributeProto.newBuilder().setName("s").setType(AttributeProto.AttributeType.STRING)
                        .setS(ByteString.copyFromUtf8("héllo")))
                .addAttribute(AttributeProto.newBuilder().setName("ints").setType(AttributeProto.AttributeType.INTS)
                        .addInts(1).addInts(-2))
                .addAttribute(AttributeProto.newBuilder().setName("floats").setType(AttributeProto.AttributeType.FLOATS)
                        .addFloats(1.5f))
                .addAttribute(AttributeProto.newBuilder().setName("strings").setType(AttributeProto.AttributeType.STRINGS)
                        .addStrings(ByteString.copyFromUtf8("a")).addStrings(ByteString.copyFromUtf8("b")))
                .addAttribute(AttributeProto.newBuilder().setName("t").setType(AttributeProto.AttributeType.TENSOR)
                        .setT(Protos.rawFloatTensor("", new long[] {2}, new float[] {1, 2})))
                .addAttribute(AttributeProto.newBuilder().setName("untyped").setI(9)) // old files leave type unset
                .build();
        GraphProto graph = GraphProto.newBuilder().setName("attrs").addInput(Protos.valueInfo("x", Protos.FLOAT, 1))
                .addOutput(Protos.valueInfo("y", Protos.FLOAT, 1)).addNode(node).build();
        ModelProto model = Protos.model(graph).toBuilder()
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("custom").setVersion(1)).build();
        Model m = OnnxReader.parse(model.toByteArray(), null);
        Node n = m.graph().nodes().get(0);
        assertEquals(0.5f, n.floatAttribute("f", 0));
        assertEquals("héllo", n.stringAttribute("s", ""));
        assertArrayEquals(new long[] {1, -2}, n.longsAttribute("ints", null));
        assertArrayEquals(new float[] {1.5f}, n.attribute("floats").orElseThrow().asFloats());
        assertEquals(List.of("a", "b"), n.attribute("strings").orElseThrow().asStrings());
        assertArrayEquals(new float[] {1, 2}, n.attribute("t").orElseThrow().asTensor().toFloats());
        assertEquals(AttributeType.INT, n.attribute("untyped").orElseThrow().type());
        assertEquals(9, n.longAttribute("untyped", 0));
        assertEquals(model, RoundTrip.parse(OnnxWriter.toBytes(m)));
        // replacing attributes through the IR
        Node changed = n.withAttribute(Attribute.ofLong("untyped", 10)).withAttribute(Attribute.ofString("s", "new"));
        Model edited = m.withGraph(m.graph().toBuilder().replaceNode(n, changed).build());
        NodeProto out = RoundTrip.parse(OnnxWriter.toBytes(edited)).getGraph().getNode(0);
        assertEquals(10, out.getAttribute(6).getI());
        assertEquals(AttributeProto.AttributeType.INT, out.getAttribute(6).getType());
        assertEquals("new", out.getAttribute(1).getS().toStringUtf8());
        assertEquals(node.getAttribute(3), out.getAttribute(3));
    }

    @Test
    void rawDataIsAliasedNotCopied() {
        byte[] bytes = Protos.mlp(8, false).toByteArray();
        Model m = OnnxReader.parse(bytes, null);
        Tensor b2 = m.graph().initializer("b2").orElseThrow();
        assertInstanceOf(ProtoTensorData.Raw.class, b2.data());
        float before = b2.toFloats()[0];
        // find b2's bytes in the file and change them: the tensor sees the change (no copy was made)
        byte[] raw = RoundTrip.parse(bytes).getGraph().getInitializer(3).getRawData().toByteArray();
        int at = indexOf(bytes, raw);
        bytes[at + 3] ^= 0x40;
        assertFalse(before == b2.toFloats()[0], "raw_data should alias the parsed bytes");
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
