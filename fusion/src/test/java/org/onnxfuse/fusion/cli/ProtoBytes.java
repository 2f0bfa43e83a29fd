package org.onnxfuse.fusion.cli;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A tiny protobuf encoder for writing deliberately broken ONNX files: the IR refuses to build
 * them, and fusion's tests do not use the generated protobuf classes (only onnx-io does).
 */
final class ProtoBytes {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    ProtoBytes varint(int field, long value) {
        tag(field, 0);
        rawVarint(value);
        return this;
    }

    ProtoBytes string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    ProtoBytes message(int field, ProtoBytes value) {
        return bytes(field, value.toByteArray());
    }

    ProtoBytes bytes(int field, byte[] value) {
        tag(field, 2);
        rawVarint(value.length);
        bytes.writeBytes(value);
        return this;
    }

    byte[] toByteArray() {
        return bytes.toByteArray();
    }

    private void tag(int field, int wireType) {
        rawVarint(((long) field << 3) | wireType);
    }

    private void rawVarint(long v) {
        while ((v & ~0x7fL) != 0) {
            bytes.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        bytes.write((int) v);
    }

    // ONNX field numbers used by the tests.
    static ProtoBytes node(String op, String[] inputs, String[] outputs) {
        ProtoBytes n = new ProtoBytes();
        for (String in : inputs) {
            n.string(1, in);
        }
        for (String out : outputs) {
            n.string(2, out);
        }
        return n.string(3, op + "_" + String.join("_", outputs)).string(4, op);
    }

    static ProtoBytes valueInfo(String name) {
        return new ProtoBytes().string(1, name);
    }

    static ProtoBytes floatTensor(String name, long[] dims) {
        ProtoBytes t = new ProtoBytes();
        for (long d : dims) {
            t.varint(1, d);
        }
        return t.varint(2, 1).string(8, name);
    }

    static ProtoBytes externalEntry(String key, String value) {
        return new ProtoBytes().string(1, key).string(2, value);
    }

    /** A model around {@code graph}: ir_version 8, opset 13. */
    static byte[] model(ProtoBytes graph) {
        return new ProtoBytes().varint(1, 8).message(7, graph)
                .message(8, new ProtoBytes().string(1, "").varint(2, 13)).toByteArray();
    }
}
