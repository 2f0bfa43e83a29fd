package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

/** Models whose weights live in side files: read lazily, written next to the output, run by ORT. */
class ExternalDataTest {
    @TempDir
    Path dir;

    private Path source;
    private Map<String, Object> expected;

    /** The MLP with W1 and W2 in "weights.bin" (W2 first, at offset 256, to make offsets matter). */
    static ModelProto externalMlp(Path folder, long seed) throws IOException {
        ModelProto inline = Protos.mlp(seed, false);
        GraphProto.Builder g = inline.getGraph().toBuilder();
        TensorProto w1 = g.getInitializer(0);
        TensorProto w2 = g.getInitializer(2);
        byte[] file = new byte[256 + w1.getRawData().size()];
        w2.getRawData().copyTo(file, 0);
        w1.getRawData().copyTo(file, 256);
        Files.write(folder.resolve("weights.bin"), file);
        g.setInitializer(0, external(w1, "weights.bin", 256, w1.getRawData().size()));
        g.setInitializer(2, external(w2, "weights.bin", 0, w2.getRawData().size()));
        return inline.toBuilder().setGraph(g).build();
    }

    static TensorProto external(TensorProto t, String location, long offset, long length) {
        return t.toBuilder().clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(entry("location", location)).addExternalData(entry("offset", Long.toString(offset)))
                .addExternalData(entry("length", Long.toString(length))).build();
    }

    static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    /** The model with external_data entries removed, for comparing everything else. */
    static ModelProto withoutExternalEntries(ModelProto m) {
        GraphProto.Builder g = m.getGraph().toBuilder();
        for (int i = 0; i < g.getInitializerCount(); i++) {
            g.setInitializer(i, g.getInitializer(i).toBuilder().clearExternalData());
        }
        return m.toBuilder().setGraph(g).build();
    }

    static Map<String, String> entries(TensorProto t) {
        Map<String, String> map = new HashMap<>();
        t.getExternalDataList().forEach(e -> map.put(e.getKey(), e.getValue()));
        return map;
    }

    @BeforeEach
    void writeSource() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("src"));
        source = RoundTrip.save(externalMlp(folder, 11).toByteArray(), folder.resolve("model.onnx"));
        expected = Ort.run(source, 5);
    }

    @Test
    void externalTensorsAreReadLazilyAndDecode() {
        Model m = OnnxReader.read(source);
        Tensor w1 = m.graph().initializer("W1").orElseThrow();
        assertInstanceOf(ProtoTensorData.External.class, w1.data());
        assertEquals(128, w1.data().byteLength());
        Random r = new Random(11);
        assertArrayEquals(Protos.randomFloats(r, 32), w1.toFloats());
        assertEquals(dir.resolve("src").toAbsolutePath(), m.baseDirectory());
    }

    @Test
    void writtenElsewhereWithSideFileOrtLoadsItFromItsPath() throws IOException {
        Model m = OnnxReader.read(source);
        Path outDir = Files.createDirectory(dir.resolve("out"));
        Path out = outDir.resolve("copy.onnx");
        OnnxWriter.write(m, out);
        assertTrue(Files.isRegularFile(outDir.resolve("copy.onnx.data")));
        Ort.assertSameOutputs(expected, Ort.run(out, 5));
        ModelProto written = RoundTrip.parse(RoundTrip.bytes(out));
        ModelProto original = RoundTrip.parse(RoundTrip.bytes(source));
        assertEquals(withoutExternalEntries(original), withoutExternalEntries(written));
        Map<String, String> w1 = entries(written.getGraph().getInitializer(0));
        assertEquals("copy.onnx.data", w1.get("location"));
        assertEquals("128", w1.get("length"));
        assertEquals(0, Long.parseLong(w1.get("offset")) % 64);
        // and read back: the same numbers
        Model back = OnnxReader.read(out);
        for (String name : List.of("W1", "b1", "W2", "b2")) {
            assertArrayEquals(m.graph().initializer(name).orElseThrow().toFloats(),
                    back.graph().initializer(name).orElseThrow().toFloats(), name);
        }
        // writing the re-read model again gives the same files
        Path again = outDir.resolve("again.onnx");
        OnnxWriter.write(back, again, WriteOptions.defaults().withSideFileName("copy.onnx.data.2"));
        assertEquals(withoutExternalEntries(written), withoutExternalEntries(RoundTrip.parse(RoundTrip.bytes(again))));
        assertArrayEquals(RoundTrip.bytes(outDir.resolve("copy.onnx.data")),
                RoundTrip.bytes(outDir.resolve("copy.onnx.data.2")));
    }

    @Test
    void thresholdAndAlignmentOptions() throws IOException {
        Model m = OnnxReader.read(RoundTrip.save(Protos.mlp(12, true).toByteArray(), dir.resolve("inline.onnx")));
        Map<String, Object> reference = Ort.run(dir.resolve("inline.onnx"), 3);
        Path out = dir.resolve("split.onnx");
        OnnxWriter.write(m, out, WriteOptions.externalAbove(64, "weights.bin").withAlignment(WriteOptions.PAGE_ALIGNMENT));
        GraphProto g = RoundTrip.parse(RoundTrip.bytes(out)).getGraph();
        // W1 (128 bytes) and W2 (96 bytes) go out, the biases (32 and 12 bytes) stay inline and typed
        assertEquals(TensorProto.DataLocation.EXTERNAL, g.getInitializer(0).getDataLocation());
        assertEquals(TensorProto.DataLocation.EXTERNAL, g.getInitializer(2).getDataLocation());
        assertEquals(8, g.getInitializer(1).getFloatDataCount());
        assertEquals("4096", entries(g.getInitializer(2)).get("offset"));
        assertEquals("weights.bin", entries(g.getInitializer(2)).get("location"));
        assertEquals(4096 + 96, Files.size(dir.resolve("weights.bin")));
        Ort.assertSameOutputs(reference, Ort.run(out, 3));
        // all inline again: one self-contained file
        Model split = OnnxReader.read(out);
        Path inline = dir.resolve("inline-again.onnx");
        OnnxWriter.write(split, inline, WriteOptions.allInline());
        assertFalse(Files.exists(dir.resolve("inline-again.onnx.data")));
        Ort.assertSameOutputs(reference, Ort.run(RoundTrip.bytes(inline), 3));
    }

    @Test
    void toBytesInlinesExternalData() {
        Model m = OnnxReader.read(source);
        byte[] bytes = OnnxWriter.toBytes(m);
        ModelProto proto = RoundTrip.parse(bytes);
        for (TensorProto t : proto.getGraph().getInitializerList()) {
            assertEquals(0, t.getExternalDataCount(), t.getName());
            assertTrue(t.hasRawData(), t.getName());
        }
        Ort.assertSameOutputs(expected, Ort.run(bytes, 5));
    }

    /** Writing over the very files the model was read from: safe, and the model in memory keeps working. */
    @Test
    void overwritingTheSourceFilesIsSafe() throws IOException {
        Model m = OnnxReader.read(source);
        Model readEarlier = OnnxReader.read(source);
        float[] w1 = m.graph().initializer("W1").orElseThrow().toFloats();
        OnnxWriter.write(m, source, WriteOptions.defaults().withSideFileName("weights.bin"));
        Ort.assertSameOutputs(expected, Ort.run(source, 5));
        // the model that was written still reads its (pinned) old side file
        assertArrayEquals(w1, m.graph().initializer("W1").orElseThrow().toFloats());
        // another model read from the replaced file refuses to read someone else's bytes
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> readEarlier.graph().initializer("W1").orElseThrow().toFloats());
        assertEquals(ErrorCode.READ_FAILED, e.code());
        assertTrue(e.getMessage().contains("changed since the model was read"), e.getMessage());
        // written back once more with the default side file name, from the rewritten files
        Model again = OnnxReader.read(source);
        OnnxWriter.write(again, source);
        Ort.assertSameOutputs(expected, Ort.run(source, 5));
        assertArrayEquals(w1, OnnxReader.read(source).graph().initializer("W1").orElseThrow().toFloats());
        try (var files = Files.list(source.getParent())) {
            assertEquals(List.of("model.onnx", "model.onnx.data", "weights.bin"),
                    files.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary files left");
        }
    }
}
