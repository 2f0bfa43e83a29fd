package org.onnxfuse.onnx.ir;

import java.util.Arrays;

/** ONNX tensor element types, numbered as in {@code TensorProto.DataType}. */
public enum DataType {
    UNDEFINED(0, 0),
    FLOAT(1, 32),
    UINT8(2, 8),
    INT8(3, 8),
    UINT16(4, 16),
    INT16(5, 16),
    INT32(6, 32),
    INT64(7, 64),
    STRING(8, 0),
    BOOL(9, 8),
    FLOAT16(10, 16),
    DOUBLE(11, 64),
    UINT32(12, 32),
    UINT64(13, 64),
    COMPLEX64(14, 64),
    COMPLEX128(15, 128),
    BFLOAT16(16, 16),
    FLOAT8E4M3FN(17, 8),
    FLOAT8E4M3FNUZ(18, 8),
    FLOAT8E5M2(19, 8),
    FLOAT8E5M2FNUZ(20, 8),
    UINT4(21, 4),
    INT4(22, 4),
    FLOAT4E2M1(23, 4),
    FLOAT8E8M0(24, 8),
    UINT2(25, 2),
    INT2(26, 2);

    private static final DataType[] BY_CODE = new DataType[27];

    static {
        for (DataType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    private final int code;
    private final int bits;

    DataType(int code, int bits) {
        this.code = code;
        this.bits = bits;
    }

    public int code() {
        return code;
    }

    /** Bits per element in raw storage; 0 for STRING and UNDEFINED. */
    public int bits() {
        return bits;
    }

    /** Bytes that {@code count} elements occupy in {@code raw_data} (sub-byte types are packed). */
    public long rawByteCount(long count) {
        long totalBits = Math.multiplyExact(count, (long) bits);
        return totalBits / 8 + (totalBits % 8 == 0 ? 0 : 1);
    }

    /** Whether {@link Tensor#toFloats()} can decode this type. */
    public boolean isNumericDecodable() {
        return switch (this) {
            case FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT8, UINT8, INT16, UINT16, INT32, UINT32, INT64, UINT64,
                 BOOL -> true;
            default -> false;
        };
    }

    /** The type for a protobuf code, or null when the code is unknown to this version. */
    public static DataType fromCode(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    static String supportedNumericList() {
        return Arrays.stream(values()).filter(DataType::isNumericDecodable).map(Enum::name)
                .reduce((a, b) -> a + ", " + b).orElse("");
    }
}
