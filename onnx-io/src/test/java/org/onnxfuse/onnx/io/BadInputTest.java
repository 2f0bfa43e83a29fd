package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/** Each kind of bad input gives its own error code and a message saying what was expected and found. */
class BadInputTest {
    @TempDir
    Path dir;

    private ModelFormatException readFails(Path file, ErrorCode code, String... messageParts) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxReader.read(file));
        assertEquals(code, e.code(), e.getMessage());
        assertOneLineNaming(e.getMessage(), messageParts);
        return e;
    }

    private ModelFormatException readFails(byte[] bytes, ErrorCode code, String... messageParts) {
        return readFails(RoundTrip.save(bytes, dir.resolve("bad-" + code + ".onnx")), code, messageParts);
    }

    private static void assertOneLineNaming(String message, String... parts) {
        assertTrue(!message.contains("\n"), "one line: " + message);
        assertTrue(message.contains("expected"), "says what was expected: " + message);
        assertTrue(message.contains("found"), "says what was found: " + message);
        for (String part : parts) {
            assertTrue(message.contains(part), "expected '" + part + "' in: " + message);
        }
    }

    private static byte[] withGraph(GraphProto graph) {
        return Protos.model(graph).toByteArray();
    }

    // ---------------------------------------------------------------------- files and bytes

    @Test
    void missingFile() {
        readFails(dir.resolve("nope.onnx"), ErrorCode.FILE_NOT_FOUND, "nope.onnx");
    }

    @Test
    void directory() {
        readFails(dir, ErrorCode.IS_DIRECTORY, dir.toString(), "directory");
    }

    @Test
    void specialFilesAreRefusedBeforeReading() throws Exception {
        Path device = Path.of("/dev/zero");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(device), "needs /dev/zero");
        readFails(device, ErrorCode.READ_FAILED, "/dev/zero", "special file");
        Path fifo = dir.resolve("model.fifo");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo.waitFor() == 0, "needs mkfifo");
        // would block forever if the reader opened the pipe
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(30),
                () -> readFails(fifo, ErrorCode.READ_FAILED, "model.fifo", "special file"));
    }

    @Test
    void realModelCutInHalf() throws IOException {
        byte[] model = Files.readAllBytes(RoundTripTest.fixtureModels().get(0));
        byte[] half = Arrays.copyOf(model, model.length / 2);
        readFails(half, ErrorCode.TRUNCATED_MODEL, "truncated", Integer.toString(half.length),
                "graph (7)", "cut short");
    }

    @Test
    void modelCutAtEveryFewBytesIsTruncated() {
        byte[] model = Protos.mlp(1, false).toByteArray();
        for (int cut = 1; cut < model.length; cut += 7) {
            byte[] part = Arrays.copyOf(model, cut);
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxReader.parse(part, null));
            assertEquals(ErrorCode.TRUNCATED_MODEL, e.code(), "cut at " + cut + ": " + e.getMessage());
        }
    }

    @Test
    void modelCutRightAfterTheGraph() {
        ModelProto m = Protos.mlp(1, false);
        byte[] bytes = m.toByteArray();
        byte[] withoutOpsets = Arrays.copyOf(bytes, bytes.length - m.getOpsetImport(0).getSerializedSize() - 2);
        readFails(withoutOpsets, ErrorCode.TRUNCATED_MODEL, "opset_import", "after the graph");
    }

    /** Found by OnnxReaderFuzzTest: the model read, but written back it no longer did. */
    @Test
    void groupFieldsAreRefusedThoughProtobufSkipsThem() {
        byte[] model = Protos.mlp(1, false).toByteArray();
        // field 12 as an empty group, then field 5 (model_version, a varint) as length-delimited
        byte[] tail = {0x63, 0x64, 0x2a, 0x01, 0x00};
        byte[] bytes = Arrays.copyOf(model, model.length + tail.length);
        System.arraycopy(tail, 0, bytes, model.length, tail.length);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxReader.parse(bytes, null));
        assertEquals(ErrorCode.NOT_A_MODEL, e.code(), e.getMessage());
        assertOneLineNaming(e.getMessage(), "field 12 with start-group", "byte offset " + model.length);
    }

    @Test
    void randomBytes() {
        for (int seed = 0; seed < 50; seed++) {
            byte[] noise = new byte[4096];
            new Random(seed).nextBytes(noise);
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxReader.parse(noise, null));
            assertEquals(ErrorCode.NOT_PROTOBUF, e.code(), "seed " + seed + ": " + e.getMessage());
            assertOneLineNaming(e.getMessage(), "not protobuf");
        }
        byte[] noise = new byte[1000];
        new Random(1).nextBytes(noise);
        readFails(noise, ErrorCode.NOT_PROTOBUF, "not protobuf", "ONNX ModelProto");
    }

    @Test
    void textFileIsNotProtobuf() {
        readFails("hello, this is not a model\n".getBytes(), ErrorCode.NOT_PROTOBUF, "not protobuf");
    }

    @Test
    void serializedTensorIsNotAModel() {
        TensorProto t = Protos.rawFloatTensor("weights", new long[] {2, 3}, new float[6]);
        readFails(t.toByteArray(), ErrorCode.NOT_A_MODEL, "not an ONNX model", "ModelProto");
        TensorProto typed = Protos.typedFloatTensor("w", new long[] {2}, new float[] {1, 2});
        readFails(typed.toByteArray(), ErrorCode.NOT_A_MODEL, "not an ONNX model");
        readFails(Protos.mlp(1, false).getGraph().toByteArray(), ErrorCode.NOT_A_MODEL, "not an ONNX model");
    }

    @Test
    void emptyFileIsNotAModel() {
        readFails(new byte[0], ErrorCode.NOT_A_MODEL, "empty", "0 bytes");
    }

    @Test
    void modelWithoutGraphOrVersion() {
        ModelProto noGraph = Protos.mlp(1, false).toBuilder().clearGraph().build();
        readFails(noGraph.toByteArray(), ErrorCode.NOT_A_MODEL, "no graph");
        ModelProto noVersion = Protos.mlp(1, false).toBuilder().clearIrVersion().build();
        readFails(noVersion.toByteArray(), ErrorCode.NOT_A_MODEL, "no ir_version");
    }

    @Test
    void fileOver2GiBIsRefusedBeforeReading() throws IOException {
        Path big = dir.resolve("big.onnx");
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(3L << 30); // sparse: no disk space used
        }
        assumeTrue(Files.size(big) == 3L << 30);
        readFails(big, ErrorCode.INVALID_MODEL, "2 GiB", "external data", Long.toString(3L << 30));
    }

    // ---------------------------------------------------------------------- graph structure

    @Test
    void cyclicGraph() {
        GraphProto g = GraphProto.newBuilder().setName("loop")
                .addInput(Protos.valueInfo("x", Protos.FLOAT, 1))
                .addOutput(Protos.valueInfo("b", Protos.FLOAT, 1))
                .addNode(Protos.node("first", "Add", new String[] {"x", "b"}, new String[] {"a"}))
                .addNode(Protos.node("second", "Relu", new String[] {"a"}, new String[] {"b"})).build();
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> OnnxReader.read(RoundTrip.save(withGraph(g), dir.resolve("cycle.onnx"))));
        assertEquals(ErrorCode.CYCLIC_GRAPH, e.code());
        assertTrue(e.getMessage().contains("first (Add)") && e.getMessage().contains("second (Relu)"), e.getMessage());
        assertTrue(e.getMessage().startsWith(dir.resolve("cycle.onnx").toString()), "names the file: " + e.getMessage());
    }

    @Test
    void duplicateTensorNames() {
        GraphProto.Builder twoInitializers = Protos.mlpGraph(1, false);
        twoInitializers.addInitializer(twoInitializers.getInitializer(0));
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> OnnxReader.parse(withGraph(twoInitializers.build()), null));
        assertEquals(ErrorCode.DUPLICATE_NAME, e.code());
        assertTrue(e.getMessage().contains("'W1'"), e.getMessage());

        GraphProto.Builder twoProducers = Protos.mlpGraph(1, false);
        twoProducers.addNode(Protos.node("again", "Relu", new String[] {"x"}, new String[] {"h"}));
        e = assertThrows(ModelFormatException.class, () -> OnnxReader.parse(withGraph(twoProducers.build()), null));
        assertEquals(ErrorCode.DUPLICATE_NAME, e.code());
        assertTrue(e.getMessage().contains("'h'") && e.getMessage().contains("again (Relu)"), e.getMessage());
    }

    @Test
    void inputWithoutProducer() {
        GraphProto.Builder g = Protos.mlpGraph(1, false);
        g.setNode(1, Protos.node("relu", "Relu", new String[] {"ghost"}, new String[] {"a"}));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxReader.parse(withGraph(g.build()), null));
        assertEquals(ErrorCode.MISSING_PRODUCER, e.code());
        assertTrue(e.getMessage().contains("'ghost'") && e.getMessage().contains("relu (Relu)"), e.getMessage());
    }

    // ---------------------------------------------------------------------- tensors

    @Test
    void declaredSizeLargerThanRawDataFailsWithoutAllocating() {
        TensorProto huge = TensorProto.newBuilder().setName("huge").setDataType(Protos.FLOAT).addDims(1_000_000_000L)
                .addDims(1000).setRawData(ByteString.copyFrom(new byte[16])).build();
        GraphProto g = GraphProto.newBuilder().setName("g").addInitializer(huge)
                .addOutput(Protos.valueInfo("huge", Protos.FLOAT, 1_000_000_000L, 1000)).build();
        long start = System.nanoTime();
        readFails(withGraph(g), ErrorCode.TENSOR_SIZE_MISMATCH, "'huge'", "4000000000000 bytes",
                "[1000000000, 1000]", "only 16 bytes in raw_data");
        assertTrue(System.nanoTime() - start < 2_000_000_000L, "fails fast");
    }

    @Test
    void shapeWhoseSizeOverflows() {
        TensorProto t = TensorProto.newBuilder().setName("vast").setDataType(Protos.FLOAT).addDims(1L << 40)
                .addDims(1L << 40).setRawData(ByteString.copyFrom(new byte[16])).build();
        readFails(withGraph(GraphProto.newBuilder().setName("g").addInitializer(t).build()),
                ErrorCode.TENSOR_SIZE_MISMATCH, "'vast'", "overflows");
    }

    @Test
    void typedFieldShorterThanShape() {
        TensorProto t = Protos.typedFloatTensor("short", new long[] {2, 2}, new float[] {1, 2, 3});
        readFails(withGraph(GraphProto.newBuilder().setName("g").addInitializer(t).build()),
                ErrorCode.TENSOR_SIZE_MISMATCH, "'short'", "only 3 entries in float_data", "4 needed");
        TensorProto none = TensorProto.newBuilder().setName("empty").setDataType(Protos.FLOAT).addDims(3).build();
        readFails(withGraph(GraphProto.newBuilder().setName("g").addInitializer(none).build()),
                ErrorCode.TENSOR_SIZE_MISMATCH, "'empty'", "no data (neither raw_data nor float_data)");
    }

    @Test
    void unknownDataTypeCode() {
        TensorProto t = TensorProto.newBuilder().setName("future").setDataType(99).addDims(2)
                .setRawData(ByteString.copyFrom(new byte[8])).build();
        readFails(withGraph(GraphProto.newBuilder().setName("g").addInitializer(t).build()),
                ErrorCode.UNSUPPORTED_TENSOR_TYPE, "'future'", "data_type 99");
    }

    // ---------------------------------------------------------------------- external data

    private Path modelWithExternal(Path folder, String location, long offset, long length) {
        TensorProto w = ExternalDataTest.external(Protos.rawFloatTensor("W", new long[] {4, 8}, new float[32]),
                location, offset, length);
        GraphProto g = GraphProto.newBuilder().setName("g").addInitializer(w)
                .addOutput(Protos.valueInfo("W", Protos.FLOAT, 4, 8)).build();
        return RoundTrip.save(withGraph(g), folder.resolve("model.onnx"));
    }

    @Test
    void externalDataEscapingTheFolder() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("models"));
        Files.write(dir.resolve("x.bin"), new byte[128]); // exists, so only the location is wrong
        readFails(modelWithExternal(folder, "../x.bin", 0, 128), ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER,
                "'../x.bin'", "inside the model's folder");
        readFails(modelWithExternal(folder, "sub/../../x.bin", 0, 128), ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER,
                "'sub/../../x.bin'");
    }

    @Test
    void externalDataAtAnAbsolutePath() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("models"));
        Path absolute = Files.write(dir.resolve("abs.bin"), new byte[128]).toAbsolutePath();
        readFails(modelWithExternal(folder, absolute.toString(), 0, 128), ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER,
                "absolute path", absolute.toString());
    }

    @Test
    void externalDataThroughASymlinkLeavingTheFolder() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("models"));
        Path outside = Files.write(dir.resolve("secret.bin"), new byte[128]);
        Files.createSymbolicLink(folder.resolve("link.bin"), outside);
        readFails(modelWithExternal(folder, "link.bin", 0, 128), ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER,
                "'link.bin'", outside.toRealPath().toString());
        // a link that stays inside the folder is fine
        Files.write(folder.resolve("real.bin"), new byte[128]);
        Files.createSymbolicLink(folder.resolve("inner.bin"), folder.resolve("real.bin"));
        assertEquals(32, OnnxReader.read(modelWithExternal(folder, "inner.bin", 0, 128)).graph()
                .initializer("W").orElseThrow().toFloats().length);
    }

    @Test
    void externalDataPastTheEndOfItsFile() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("models"));
        Files.write(folder.resolve("w.bin"), new byte[200]);
        readFails(modelWithExternal(folder, "w.bin", 100, 128), ErrorCode.EXTERNAL_DATA_PAST_END,
                "[100, 228)", "200 bytes long");
    }

    @Test
    void externalLengthSmallerThanShape() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("models"));
        Files.write(folder.resolve("w.bin"), new byte[200]);
        readFails(modelWithExternal(folder, "w.bin", 0, 64), ErrorCode.TENSOR_SIZE_MISMATCH, "expected 128 bytes",
                "length 64");
    }

    @Test
    void externalDataFileMissing() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("models"));
        readFails(modelWithExternal(folder, "gone.bin", 0, 128), ErrorCode.EXTERNAL_DATA_MISSING, "gone.bin",
                "no such file");
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> OnnxReader.parse(Files.readAllBytes(folder.resolve("model.onnx")), null));
        assertEquals(ErrorCode.EXTERNAL_DATA_MISSING, e.code());
    }

    // ---------------------------------------------------------------------- accepted silently before

    private byte[] mlpWithFirstWeight(TensorProto w1) {
        GraphProto.Builder g = Protos.mlpGraph(1, false);
        g.setInitializer(0, w1);
        return withGraph(g.build());
    }

    @Test
    void aTensorWithBothRawAndTypedData() {
        TensorProto raw = Protos.rawFloatTensor("W1", new long[] {8, 4}, new float[32]);
        readFails(mlpWithFirstWeight(raw.toBuilder().addFloatData(1f).build()), ErrorCode.INVALID_MODEL, "'W1'",
                "raw_data and a typed field (float_data");
    }

    @Test
    void aTensorWithBothRawAndExternalData() throws IOException {
        Files.write(dir.resolve("w.bin"), new byte[128]);
        TensorProto raw = Protos.rawFloatTensor("W1", new long[] {8, 4}, new float[32]).toBuilder()
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("location")
                        .setValue("w.bin")).build();
        readFails(mlpWithFirstWeight(raw), ErrorCode.INVALID_MODEL, "'W1'", "external data and raw_data");
    }

    @Test
    void aNodeDomainWithoutAnOpsetImport() {
        GraphProto.Builder g = Protos.mlpGraph(1, false);
        g.setNode(1, g.getNode(1).toBuilder().setDomain("com.example"));
        readFails(withGraph(g.build()), ErrorCode.INVALID_MODEL, "relu (Relu)", "'com.example'", "opset_import");
    }

    @Test
    void sparseIndicesOutOfOrderAreRefusedWhenDensified() {
        TensorProto values = Protos.rawFloatTensor("S", new long[] {2}, new float[] {1f, 2f});
        TensorProto indices = TensorProto.newBuilder().setName("S_indices").setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(2).addInt64Data(5).addInt64Data(1).build();
        GraphProto graph = GraphProto.newBuilder().setName("sparse").addInput(Protos.valueInfo("x", Protos.FLOAT, 8))
                .addOutput(Protos.valueInfo("y", Protos.FLOAT, 8))
                .addSparseInitializer(ai.onnx.proto.OnnxMl.SparseTensorProto.newBuilder().setValues(values)
                        .setIndices(indices).addDims(8))
                .addNode(Protos.node("add", "Add", new String[] {"x", "S"}, new String[] {"y"})).build();
        org.onnxfuse.onnx.ir.Tensor s = OnnxReader.parse(withGraph(graph), null).graph().initializer("S").orElseThrow();
        ModelFormatException e = assertThrows(ModelFormatException.class, s::toFloats);
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertOneLineNaming(e.getMessage(), "'S'", "ascending", "1 after 5");
    }
}
