package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnx.proto.OnnxMl.ModelProto;
import com.google.protobuf.InvalidProtocolBufferException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.onnxfuse.onnx.ir.Model;

/** Read, write, read again; compare protobuf messages and ONNX Runtime outputs. */
final class RoundTrip {
    private RoundTrip() {
    }

    static ModelProto parse(byte[] bytes) {
        try {
            return ModelProto.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError("not a ModelProto", e);
        }
    }

    static byte[] bytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path save(byte[] bytes, Path file) {
        try {
            Files.write(file, bytes);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Round trip of a self-contained model file: the rewritten file holds an equal ModelProto
     * (unknown fields included), {@link OnnxWriter#toBytes} gives the same, the rewritten file
     * reads again, and ONNX Runtime gives bit-identical outputs. With {@code sameBytes} the files
     * must also be byte-identical (true whenever protobuf-java wrote the original).
     */
    static Model check(Path original, Path rewritten, boolean sameBytes, boolean runOrt) {
        Model model = OnnxReader.read(original);
        OnnxWriter.write(model, rewritten);
        byte[] before = bytes(original);
        byte[] after = bytes(rewritten);
        assertEquals(parse(before), parse(after), "ModelProto changed by the round trip of " + original);
        assertEquals(parse(before), parse(OnnxWriter.toBytes(model)), "toBytes differs for " + original);
        if (sameBytes) {
            assertArrayEquals(before, after, "bytes changed by the round trip of " + original);
        }
        Model again = OnnxReader.read(rewritten);
        assertEquals(parse(before), parse(OnnxWriter.toBytes(again)), "second round trip differs");
        if (runOrt) {
            Map<String, Object> expected = Ort.run(original, 42);
            Ort.assertSameOutputs(expected, Ort.run(rewritten, 42));
            Ort.assertSameOutputs(expected, Ort.run(OnnxWriter.toBytes(model), 42));
        }
        return model;
    }
}
