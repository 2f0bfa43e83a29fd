package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/** Known values in every decodable element type, stored as raw_data and as typed fields. */
class TensorDecodingTest {
    private static Tensor readOne(TensorProto t) {
        GraphProto g = GraphProto.newBuilder().setName("g").addInitializer(t)
                .addOutput(Protos.valueInfo(t.getName(), t.getDataType())).build();
        ModelProto model = Protos.model(g);
        Model m = OnnxReader.parse(model.toByteArray(), null);
        assertEquals(model, RoundTrip.parse(OnnxWriter.toBytes(m)), "round trip of " + t.getName());
        return m.graph().initializer(t.getName()).orElseThrow();
    }

    private static TensorProto.Builder tensor(String name, DataType type, long... dims) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type.code());
        for (long d : dims) {
            b.addDims(d);
        }
        return b;
    }

    private static ByteString raw(int bytes, Consumer<ByteBuffer> fill) {
        ByteBuffer b = ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
        fill.accept(b);
        return ByteString.copyFrom(b.array());
    }

    @Test
    void bfloat16() {
        float[] expected = {1.5f, -2.0f, 0.15625f, 3.0e38f, Float.NEGATIVE_INFINITY, 0.0f};
        short[] bits = new short[expected.length];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = (short) (Float.floatToRawIntBits(expected[i]) >>> 16);
            expected[i] = Float.intBitsToFloat(bits[i] << 16); // the exact bfloat16 value
        }
        TensorProto.Builder typed = tensor("bf", DataType.BFLOAT16, 2, 3);
        for (short s : bits) {
            typed.addInt32Data(s & 0xffff);
        }
        Tensor t = readOne(typed.build());
        assertInstanceOf(ProtoTensorData.Typed.class, t.data());
        assertArrayEquals(expected, t.toFloats());
        Tensor r = readOne(tensor("bf", DataType.BFLOAT16, 2, 3).setRawData(raw(12, b -> {
            for (short s : bits) {
                b.putShort(s);
            }
        })).build());
        assertInstanceOf(ProtoTensorData.Raw.class, r.data());
        assertArrayEquals(expected, r.toFloats());
    }

    @Test
    void float16() {
        short[] bits = {0x3c00, (short) 0xc100, 0x7bff, 0x0001, (short) 0xfc00, 0x3555};
        float[] expected = {1.0f, -2.5f, 65504f, 0x1p-24f, Float.NEGATIVE_INFINITY, 0.33325195f};
        TensorProto.Builder typed = tensor("h", DataType.FLOAT16, 6);
        for (short s : bits) {
            typed.addInt32Data(s & 0xffff);
        }
        assertArrayEquals(expected, readOne(typed.build()).toFloats());
        assertArrayEquals(expected, readOne(tensor("h", DataType.FLOAT16, 6).setRawData(raw(12, b -> {
            for (short s : bits) {
                b.putShort(s);
            }
        })).build()).toFloats());
    }

    @Test
    void int8AndUint8() {
        long[] values = {-128, -1, 0, 127};
        TensorProto.Builder typed = tensor("i8", DataType.INT8, 4);
        for (long v : values) {
            typed.addInt32Data((int) v);
        }
        assertArrayEquals(values, readOne(typed.build()).toLongs());
        assertArrayEquals(values, readOne(tensor("i8", DataType.INT8, 4)
                .setRawData(ByteString.copyFrom(new byte[] {-128, -1, 0, 127})).build()).toLongs());
        assertArrayEquals(new float[] {-128, -1, 0, 127}, readOne(typed.build()).toFloats());
        assertArrayEquals(new long[] {200, 0, 255}, readOne(tensor("u8", DataType.UINT8, 3)
                .addInt32Data(200).addInt32Data(0).addInt32Data(255).build()).toLongs());
        assertArrayEquals(new long[] {200, 0, 255}, readOne(tensor("u8", DataType.UINT8, 3)
                .setRawData(ByteString.copyFrom(new byte[] {(byte) 200, 0, (byte) 255})).build()).toLongs());
    }

    @Test
    void int64AndInt32() {
        long[] values = {Long.MIN_VALUE, -1, 5, Long.MAX_VALUE};
        TensorProto.Builder typed = tensor("i64", DataType.INT64, 2, 2);
        for (long v : values) {
            typed.addInt64Data(v);
        }
        assertArrayEquals(values, readOne(typed.build()).toLongs());
        assertArrayEquals(values, readOne(tensor("i64", DataType.INT64, 2, 2).setRawData(raw(32, b -> {
            for (long v : values) {
                b.putLong(v);
            }
        })).build()).toLongs());
        assertArrayEquals(new long[] {Integer.MIN_VALUE, 7}, readOne(tensor("i32", DataType.INT32, 2)
                .addInt32Data(Integer.MIN_VALUE).addInt32Data(7).build()).toLongs());
    }

    @Test
    void bool() {
        long[] values = {1, 0, 1, 1};
        assertArrayEquals(values, readOne(tensor("b", DataType.BOOL, 4).addInt32Data(1).addInt32Data(0)
                .addInt32Data(1).addInt32Data(1).build()).toLongs());
        assertArrayEquals(values, readOne(tensor("b", DataType.BOOL, 4)
                .setRawData(ByteString.copyFrom(new byte[] {1, 0, 1, 1})).build()).toLongs());
    }

    @Test
    void float32AndFloat64() {
        float[] f = {Float.MIN_VALUE, -0.0f, Float.MAX_VALUE, Float.NaN};
        TensorProto.Builder typed = tensor("f", DataType.FLOAT, 4);
        for (float v : f) {
            typed.addFloatData(v);
        }
        assertArrayEquals(f, readOne(typed.build()).toFloats());
        assertArrayEquals(f, readOne(Protos.rawFloatTensor("f", new long[] {4}, f)).toFloats());
        double[] d = {Math.PI, -Double.MAX_VALUE, 1e-300};
        TensorProto.Builder doubles = tensor("d", DataType.DOUBLE, 3);
        for (double v : d) {
            doubles.addDoubleData(v);
        }
        assertArrayEquals(d, readOne(doubles.build()).toDoubles());
        assertArrayEquals(d, readOne(tensor("d", DataType.DOUBLE, 3).setRawData(raw(24, b -> {
            for (double v : d) {
                b.putDouble(v);
            }
        })).build()).toDoubles());
    }

    @Test
    void uint16Uint32Uint64AndScalars() {
        assertArrayEquals(new long[] {65535, 1}, readOne(tensor("u16", DataType.UINT16, 2).addInt32Data(65535)
                .addInt32Data(1).build()).toLongs());
        assertArrayEquals(new long[] {4294967295L}, readOne(tensor("u32", DataType.UINT32, 1)
                .addUint64Data(4294967295L).build()).toLongs());
        assertArrayEquals(new long[] {-1L}, readOne(tensor("u64", DataType.UINT64).addUint64Data(-1L).build()).toLongs());
        assertArrayEquals(new double[] {18446744073709551615.0}, readOne(tensor("u64", DataType.UINT64)
                .addUint64Data(-1L).build()).toDoubles());
        Tensor empty = readOne(tensor("empty", DataType.FLOAT, 0, 3).build());
        assertEquals(0, empty.toFloats().length);
    }

    @Test
    void stringsAndOtherKindsAreKeptInTheOrigin() {
        Tensor s = readOne(tensor("s", DataType.STRING, 2).addStringData(ByteString.copyFromUtf8("a"))
                .addStringData(ByteString.copyFromUtf8("b")).build());
        assertEquals(DataType.STRING, s.dataType());
        assertNull(s.data());
        Tensor int4 = readOne(tensor("q", DataType.INT4, 3).setRawData(ByteString.copyFrom(new byte[] {0x21, 0x03}))
                .build());
        assertEquals(2, int4.data().byteLength());
    }

    @Test
    void rawBytesBuildATensorOfAnyFixedWidthType() {
        byte[] raw = {1, 0, (byte) 0xff, (byte) 0xff, 3, 0};
        Tensor t = Tensor.ofRawBytes("i16", DataType.INT16, new long[] {3}, raw);
        raw[0] = 9; // copied: the caller's array is not kept
        assertArrayEquals(new long[] {1, -1, 3}, t.toLongs());
        Graph g = Graph.builder().name("g").addInitializer(t).addOutput(ValueInfo.tensor("i16", null)).build();
        Model m = OnnxReader.parse(OnnxWriter.toBytes(Model.of(g, 13)), null);
        assertArrayEquals(new long[] {1, -1, 3}, m.graph().initializer("i16").orElseThrow().toLongs());
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                () -> Tensor.ofRawBytes("f", DataType.FLOAT, new long[] {2}, new byte[6]));
        assertTrue(size.getMessage().contains("takes 8 bytes, found 6"), size.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.ofRawBytes("s", DataType.STRING, new long[] {1}, new byte[0]));
    }
}
