package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OutputException;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorData;

/** Atomic output: a complete file or none, and clear errors for places that cannot be written. */
class WriterTest {
    @TempDir
    Path dir;

    private static List<String> list(Path folder) throws IOException {
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static Model mlp() {
        return OnnxReader.parse(Protos.mlp(1, false).toByteArray(), null);
    }

    /** A model whose W1 fails to produce its bytes half way through writing. */
    private static Model failingModel() {
        Model m = mlp();
        Tensor w1 = m.graph().initializer("W1").orElseThrow();
        TensorData broken = new TensorData() {
            @Override
            public long byteLength() {
                return 128;
            }

            @Override
            public ByteBuffer rawBytes() {
                throw new IllegalStateException("disk on fire");
            }
        };
        Tensor bad = new Tensor("W1", w1.dataType(), w1.dims(), broken, "", null);
        return m.withGraph(m.graph().toBuilder().putInitializer(bad).build());
    }

    @Test
    void folderThatIsAFile() throws IOException {
        Path file = Files.writeString(dir.resolve("file.txt"), "x");
        Path target = file.resolve("out.onnx");
        OutputException e = assertThrows(OutputException.class, () -> OnnxWriter.write(mlp(), target));
        assertEquals(ErrorCode.OUTPUT_UNWRITABLE, e.code());
        assertTrue(e.getMessage().contains(target.toString()) && e.getMessage().contains("expected")
                && e.getMessage().contains("found"), e.getMessage());
        assertEquals(List.of("file.txt"), list(dir));
    }

    @Test
    void folderThatCannotBeWritten() {
        Path target = Path.of("/proc/onnx-fuse-test-out.onnx");
        OutputException e = assertThrows(OutputException.class, () -> OnnxWriter.write(mlp(), target));
        assertEquals(ErrorCode.OUTPUT_UNWRITABLE, e.code());
        assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
        assertFalse(Files.exists(target));
    }

    @Test
    void missingFolderAndDirectoryTarget() throws IOException {
        OutputException e = assertThrows(OutputException.class,
                () -> OnnxWriter.write(mlp(), dir.resolve("no/such/folder/out.onnx")));
        assertEquals(ErrorCode.OUTPUT_UNWRITABLE, e.code());
        Files.createDirectory(dir.resolve("taken.onnx"));
        e = assertThrows(OutputException.class, () -> OnnxWriter.write(mlp(), dir.resolve("taken.onnx")));
        assertEquals(ErrorCode.OUTPUT_UNWRITABLE, e.code());
        assertTrue(e.getMessage().contains("directory"), e.getMessage());
    }

    @Test
    void failureWhileWritingLeavesNoPartialOutput() throws IOException {
        Model bad = failingModel();
        assertThrows(IllegalStateException.class, () -> OnnxWriter.write(bad, dir.resolve("out.onnx")));
        assertEquals(List.of(), list(dir), "no output and no temporary file");
        assertThrows(IllegalStateException.class,
                () -> OnnxWriter.write(bad, dir.resolve("out.onnx"), WriteOptions.externalAbove(0)));
        assertEquals(List.of(), list(dir), "no side file either");
    }

    @Test
    void failureKeepsThePreviousOutputIntact() throws IOException {
        Path out = dir.resolve("out.onnx");
        OnnxWriter.write(mlp(), out, WriteOptions.externalAbove(0));
        byte[] model = Files.readAllBytes(out);
        byte[] side = Files.readAllBytes(dir.resolve("out.onnx.data"));
        assertThrows(IllegalStateException.class, () -> OnnxWriter.write(failingModel(), out, WriteOptions.externalAbove(0)));
        assertArrayEquals(model, Files.readAllBytes(out));
        assertArrayEquals(side, Files.readAllBytes(dir.resolve("out.onnx.data")));
        assertEquals(List.of("out.onnx", "out.onnx.data"), list(dir));
    }

    @Test
    void replacingAFileKeepsItsPermissions() throws IOException {
        Path out = dir.resolve("out.onnx");
        OnnxWriter.write(mlp(), out);
        Path plain = Files.createFile(dir.resolve("plain"));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(out),
                "a new output gets the permissions of any new file");
        Files.delete(plain);
        Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rw-------"));
        OnnxWriter.write(mlp(), out);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
        assertEquals(RoundTrip.parse(OnnxWriter.toBytes(mlp())), RoundTrip.parse(Files.readAllBytes(out)));
    }

    @Test
    void optionsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> WriteOptions.defaults().withSideFileName("../x.data"));
        assertThrows(IllegalArgumentException.class, () -> WriteOptions.defaults().withAlignment(100));
        OutputException e = assertThrows(OutputException.class, () -> OnnxWriter.write(mlp(), dir.resolve("m.onnx"),
                WriteOptions.externalAbove(0, "m.onnx")));
        assertEquals(ErrorCode.OUTPUT_UNWRITABLE, e.code());
    }

    @Test
    void nodesStoredOutOfOrderAreWrittenInTopologicalOrder() {
        GraphProto.Builder g = Protos.mlpGraph(3, false);
        List<NodeProto> reversed = new java.util.ArrayList<>(g.getNodeList());
        java.util.Collections.reverse(reversed);
        g.clearNode().addAllNode(reversed);
        Model m = OnnxReader.parse(Protos.model(g.build()).toByteArray(), null);
        List<String> written = RoundTrip.parse(OnnxWriter.toBytes(m)).getGraph().getNodeList().stream()
                .map(NodeProto::getName).toList();
        assertEquals(List.of("fc1", "relu", "fc2"), written);
    }
}
