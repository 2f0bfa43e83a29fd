package org.onnxfuse.onnx.io;

import ai.onnx.proto.OnnxMl.TensorProto;
import org.onnxfuse.onnx.ir.DataType;

/**
 * The typed (non-raw) field of {@code TensorProto} that holds each element type, and how many
 * bytes of the raw little-endian form one entry of that field carries. Follows the comments of
 * onnx.proto: 8- and 16-bit types (and float16/bfloat16/float8 bit patterns) sit one per
 * {@code int32_data} entry, sub-byte types two or more per entry (packed as in raw form), complex
 * types two entries per element, uint32 in {@code uint64_data}.
 */
enum TypedField {
    FLOAT_DATA("float_data"),
    INT32_DATA("int32_data"),
    INT64_DATA("int64_data"),
    DOUBLE_DATA("double_data"),
    UINT64_DATA("uint64_data"),
    STRING_DATA("string_data");

    private final String protoName;

    TypedField(String protoName) {
        this.protoName = protoName;
    }

    String protoName() {
        return protoName;
    }

    static TypedField of(DataType type) {
        return switch (type) {
            case FLOAT, COMPLEX64 -> FLOAT_DATA;
            case INT64 -> INT64_DATA;
            case DOUBLE, COMPLEX128 -> DOUBLE_DATA;
            case UINT32, UINT64 -> UINT64_DATA;
            case STRING -> STRING_DATA;
            default -> INT32_DATA;
        };
    }

    /** Bytes of raw form one entry stands for (for sub-byte types: one packed byte). */
    static int bytesPerEntry(DataType type) {
        return switch (type) {
            case FLOAT, COMPLEX64, INT32, UINT32 -> 4;
            case INT64, UINT64, DOUBLE, COMPLEX128 -> 8;
            case UINT16, INT16, FLOAT16, BFLOAT16 -> 2;
            default -> 1;
        };
    }

    int count(TensorProto t) {
        return switch (this) {
            case FLOAT_DATA -> t.getFloatDataCount();
            case INT32_DATA -> t.getInt32DataCount();
            case INT64_DATA -> t.getInt64DataCount();
            case DOUBLE_DATA -> t.getDoubleDataCount();
            case UINT64_DATA -> t.getUint64DataCount();
            case STRING_DATA -> t.getStringDataCount();
        };
    }

    /** Entry {@code i} as raw bits (floats and doubles bit-exact). */
    long bits(TensorProto t, int i) {
        return switch (this) {
            case FLOAT_DATA -> Float.floatToRawIntBits(t.getFloatData(i)) & 0xffffffffL;
            case INT32_DATA -> t.getInt32Data(i);
            case INT64_DATA -> t.getInt64Data(i);
            case DOUBLE_DATA -> Double.doubleToRawLongBits(t.getDoubleData(i));
            case UINT64_DATA -> t.getUint64Data(i);
            case STRING_DATA -> throw new IllegalStateException("string_data has no numeric bits");
        };
    }

    /** Whether any typed field holds entries (used to tell "no data" from "data elsewhere"). */
    static boolean anyTyped(TensorProto t) {
        return t.getFloatDataCount() > 0 || t.getInt32DataCount() > 0 || t.getInt64DataCount() > 0
                || t.getDoubleDataCount() > 0 || t.getUint64DataCount() > 0 || t.getStringDataCount() > 0;
    }
}
