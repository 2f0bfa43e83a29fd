package org.onnxfuse.onnx.io;

import java.util.ArrayList;
import java.util.List;

/**
 * A walk over the top-level fields of a protobuf message, without knowing its schema. The reader
 * uses it to explain why bytes are not a model: where the input ends inside a field (a truncated
 * file), where the wire format breaks (not protobuf at all), or which fields have the wrong wire
 * type for a ModelProto (some other message).
 */
final class WireScan {
    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LENGTH_DELIMITED = 2;
    static final int FIXED32 = 5;

    enum Problem {
        NONE, TRUNCATED, INVALID_TAG, INVALID_WIRE_TYPE, MALFORMED_VARINT
    }

    /** One top-level field: bytes [start, end) including its tag; {@code varint} for wire type 0. */
    record Field(int number, int wireType, long start, long end, long varint) {
    }

    /**
     * The fields read before any problem; for TRUNCATED, {@code problemField} is the field the
     * input ended in (-1 when it ended inside a tag) and {@code declaredEnd} where it should end.
     */
    record Result(List<Field> fields, Problem problem, long problemOffset, int problemField, int problemWireType,
                  long declaredEnd) {
    }

    private final byte[] bytes;
    private int pos;
    private Problem status = Problem.NONE;

    private WireScan(byte[] bytes) {
        this.bytes = bytes;
    }

    static Result scan(byte[] bytes) {
        return new WireScan(bytes).run();
    }

    private Result run() {
        List<Field> fields = new ArrayList<>();
        while (pos < bytes.length) {
            int start = pos;
            long tag = readVarint();
            if (status != Problem.NONE) {
                return new Result(fields, status, start, -1, -1, -1);
            }
            int wireType = (int) (tag & 7);
            long number = tag >>> 3;
            if (number == 0 || tag > 0xffffffffL) {
                return new Result(fields, Problem.INVALID_TAG, start, (int) Math.min(number, Integer.MAX_VALUE), wireType, -1);
            }
            long value = 0;
            long end;
            switch (wireType) {
                case VARINT -> {
                    value = readVarint();
                    if (status != Problem.NONE) {
                        return new Result(fields, status, start, (int) number, wireType, -1);
                    }
                    end = pos;
                }
                case FIXED64, FIXED32 -> end = (long) pos + (wireType == FIXED64 ? 8 : 4);
                case LENGTH_DELIMITED -> {
                    long length = readVarint();
                    if (status != Problem.NONE) {
                        return new Result(fields, status, start, (int) number, wireType, -1);
                    }
                    if (length < 0 || length > Integer.MAX_VALUE) {
                        // protobuf lengths are 32-bit and non-negative: this is not a length a writer produces
                        return new Result(fields, Problem.MALFORMED_VARINT, start, (int) number, wireType, -1);
                    }
                    end = pos + length;
                }
                default -> {
                    // 3 and 4 (groups) are valid protobuf but absent from every ONNX message; 6 and 7 are invalid
                    return new Result(fields, Problem.INVALID_WIRE_TYPE, start, (int) number, wireType, -1);
                }
            }
            if (end > bytes.length || end < 0) {
                return new Result(fields, Problem.TRUNCATED, start, (int) number, wireType, end);
            }
            fields.add(new Field((int) number, wireType, start, end, wireType == VARINT ? value : 0));
            pos = (int) end;
        }
        return new Result(fields, Problem.NONE, -1, -1, -1, -1);
    }

    /** The next varint; {@link #status} says whether it was complete (OK), cut off or longer than 10 bytes. */
    private long readVarint() {
        long result = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (pos >= bytes.length) {
                status = Problem.TRUNCATED;
                return 0;
            }
            byte b = bytes[pos++];
            result |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                status = Problem.NONE;
                return result;
            }
        }
        status = Problem.MALFORMED_VARINT;
        return 0;
    }

    static String wireTypeName(int wireType) {
        return switch (wireType) {
            case VARINT -> "varint";
            case FIXED64 -> "64-bit";
            case LENGTH_DELIMITED -> "length-delimited";
            case 3 -> "start-group";
            case 4 -> "end-group";
            case FIXED32 -> "32-bit";
            default -> "invalid wire type " + wireType;
        };
    }
}
