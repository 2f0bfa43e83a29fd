package org.onnxfuse.fusion.data;

import java.nio.ByteBuffer;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.TerminalText;
import org.onnxfuse.onnx.ir.HalfFloats;

/**
 * Element decoding from a buffer whose byte order is already set. Absolute reads only, so a
 * shared buffer is never repositioned.
 */
final class Decoding {
    private Decoding() {
    }

    /** Decodes {@code n} elements at byte {@code pos} into {@code dst[off + k * stride]}. */
    static void floats(DType t, ByteBuffer b, int pos, int n, float[] dst, int off, int stride) {
        switch (t) {
            case FLOAT32 -> {
                if (stride == 1) {
                    b.duplicate().order(b.order()).position(pos).asFloatBuffer().get(dst, off, n);
                } else {
                    for (int k = 0; k < n; k++) {
                        dst[off + k * stride] = b.getFloat(pos + 4 * k);
                    }
                }
            }
            case FLOAT64 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = (float) b.getDouble(pos + 8 * k);
                }
            }
            case FLOAT16 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = HalfFloats.halfToFloat(b.getShort(pos + 2 * k));
                }
            }
            case UINT8 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.get(pos + k) & 0xff;
                }
            }
            case INT8 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.get(pos + k);
                }
            }
            case BOOL -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.get(pos + k) != 0 ? 1f : 0f;
                }
            }
            case INT16 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.getShort(pos + 2 * k);
                }
            }
            case INT32 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.getInt(pos + 4 * k);
                }
            }
            case INT64 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.getLong(pos + 8 * k);
                }
            }
        }
    }

    /** Decodes {@code n} integer elements at byte {@code pos} into {@code dst[off + k * stride]}. */
    static void longs(DType t, ByteBuffer b, int pos, int n, long[] dst, int off, int stride) {
        switch (t) {
            case UINT8 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.get(pos + k) & 0xff;
                }
            }
            case INT8 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.get(pos + k);
                }
            }
            case BOOL -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.get(pos + k) != 0 ? 1 : 0;
                }
            }
            case INT16 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.getShort(pos + 2 * k);
                }
            }
            case INT32 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.getInt(pos + 4 * k);
                }
            }
            case INT64 -> {
                for (int k = 0; k < n; k++) {
                    dst[off + k * stride] = b.getLong(pos + 8 * k);
                }
            }
            default -> throw new IllegalStateException("not an integer type: " + t);
        }
    }

    /** DATA_DTYPE for reading labels from a floating-point array. */
    static DataException notInteger(String source, ArrayHeader h) {
        StringBuilder ints = new StringBuilder();
        for (DType t : DType.values()) {
            if (t.isInteger()) {
                ints.append(ints.length() > 0 ? ", " : "").append(t.numpyName())
                        .append(" (").append(t.descr()).append(')');
            }
        }
        return new DataException(ErrorCode.DATA_DTYPE, source + ": integer labels expected, found dtype "
                + TerminalText.quote(h.descr()) + " (" + h.dtype().numpyName() + "); expected one of " + ints
                + "; convert with e.g. y.astype(np.int64)");
    }
}
