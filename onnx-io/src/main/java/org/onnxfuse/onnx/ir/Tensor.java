package org.onnxfuse.onnx.ir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/**
 * A named constant tensor (an initializer or a tensor attribute). Immutable; data decoded on
 * demand. {@code data} is null only for STRING tensors and other kinds the IR keeps as their
 * protobuf origin.
 */
public final class Tensor {
    private final String name;
    private final DataType dataType;
    private final long[] dims;
    private final TensorData data;
    private final String docString;
    private final ProtoOrigin origin;

    public Tensor(String name, DataType dataType, long[] dims, TensorData data, String docString, ProtoOrigin origin) {
        this.name = Objects.requireNonNull(name, "name");
        this.dataType = Objects.requireNonNull(dataType, "dataType");
        this.dims = dims.clone();
        this.data = data;
        this.docString = docString == null ? "" : docString;
        this.origin = origin;
        for (long d : this.dims) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': negative dimension in " + Arrays.toString(dims));
            }
        }
    }

    /** A float32 tensor built in code. */
    public static Tensor ofFloats(String name, long[] dims, float[] values) {
        checkCount(name, dims, values.length);
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(values);
        return new Tensor(name, DataType.FLOAT, dims, new TensorData.InMemory(bytes), "", null);
    }

    /** An int64 tensor built in code. */
    public static Tensor ofLongs(String name, long[] dims, long[] values) {
        checkCount(name, dims, values.length);
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asLongBuffer().put(values);
        return new Tensor(name, DataType.INT64, dims, new TensorData.InMemory(bytes), "", null);
    }

    /**
     * A tensor of any fixed-width element type built in code from its {@code raw_data} layout
     * (little-endian, packed). The bytes are copied, so the caller may reuse {@code raw}.
     */
    public static Tensor ofRawBytes(String name, DataType dataType, long[] dims, byte[] raw) {
        if (dataType.bits() == 0) {
            throw new IllegalArgumentException("tensor '" + name + "': " + dataType + " has no raw byte layout;"
                    + " expected a numeric type");
        }
        long expected = dataType.rawByteCount(elementCount(dims));
        if (expected != raw.length) {
            throw new IllegalArgumentException("tensor '" + name + "': " + dataType + Arrays.toString(dims)
                    + " takes " + expected + " bytes, found " + raw.length);
        }
        return new Tensor(name, dataType, dims, new TensorData.InMemory(ByteBuffer.wrap(raw.clone())), "", null);
    }

    private static void checkCount(String name, long[] dims, int count) {
        long expected = elementCount(dims);
        if (expected != count) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(dims)
                    + " holds " + expected + " elements, found " + count + " values");
        }
    }

    public static long elementCount(long[] dims) {
        long n = 1;
        for (long d : dims) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public String name() {
        return name;
    }

    public DataType dataType() {
        return dataType;
    }

    public long[] dims() {
        return dims.clone();
    }

    public int rank() {
        return dims.length;
    }

    public long dim(int axis) {
        return dims[axis];
    }

    public long elementCount() {
        return elementCount(dims);
    }

    public TensorData data() {
        return data;
    }

    public String docString() {
        return docString;
    }

    public ProtoOrigin origin() {
        return origin;
    }

    public Tensor withName(String newName) {
        return new Tensor(newName, dataType, dims, data, docString, origin);
    }

    /** Same name, doc string and origin (so unknown fields survive), new float32 contents. */
    public Tensor withFloats(long[] newDims, float[] values) {
        Tensor t = ofFloats(name, newDims, values);
        return new Tensor(name, DataType.FLOAT, newDims, t.data, docString, origin);
    }

    private ByteBuffer raw() {
        if (data == null || !dataType.isNumericDecodable()) {
            throw new UnsupportedOperationException("tensor '" + name + "' of type " + dataType
                    + " cannot be decoded to numbers; supported: " + DataType.supportedNumericList());
        }
        ByteBuffer b = data.rawBytes().order(ByteOrder.LITTLE_ENDIAN);
        long need = dataType.rawByteCount(elementCount());
        if (b.remaining() < need) {
            throw new IllegalStateException("tensor '" + name + "': " + need + " bytes needed, " + b.remaining() + " present");
        }
        return b;
    }

    private int intCount() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new UnsupportedOperationException("tensor '" + name + "' has " + n + " elements, too many for one Java array");
        }
        return (int) n;
    }

    /** All elements converted to float32 (float16 and bfloat16 exactly; wider types rounded). */
    public float[] toFloats() {
        return floats(raw(), intCount());
    }

    // the decoders share one buffer, so lazily read data (external files) is fetched once per call
    private float[] floats(ByteBuffer b, int n) {
        float[] out = new float[n];
        switch (dataType) {
            case FLOAT -> b.asFloatBuffer().get(out);
            case DOUBLE -> {
                for (int i = 0; i < n; i++) out[i] = (float) b.getDouble(i * 8);
            }
            case FLOAT16 -> {
                for (int i = 0; i < n; i++) out[i] = HalfFloats.halfToFloat(b.getShort(i * 2));
            }
            case BFLOAT16 -> {
                for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16);
            }
            default -> {
                double[] d = doubles(b, n);
                for (int i = 0; i < n; i++) out[i] = (float) d[i];
            }
        }
        return out;
    }

    /** All elements converted to float64. */
    public double[] toDoubles() {
        return doubles(raw(), intCount());
    }

    private double[] doubles(ByteBuffer b, int n) {
        double[] out = new double[n];
        switch (dataType) {
            case DOUBLE -> b.asDoubleBuffer().get(out);
            case FLOAT, FLOAT16, BFLOAT16 -> {
                float[] f = floats(b, n);
                for (int i = 0; i < n; i++) out[i] = f[i];
            }
            default -> {
                long[] l = longs(b, n);
                for (int i = 0; i < n; i++) out[i] = dataType == DataType.UINT64 ? unsignedToDouble(l[i]) : l[i];
            }
        }
        return out;
    }

    private static double unsignedToDouble(long v) {
        double d = (double) (v >>> 1) * 2.0;
        return d + (v & 1);
    }

    /** All elements as int64 (integer and bool types only; floats are refused, not truncated). */
    public long[] toLongs() {
        return longs(raw(), intCount());
    }

    private long[] longs(ByteBuffer b, int n) {
        long[] out = new long[n];
        switch (dataType) {
            case INT64, UINT64 -> b.asLongBuffer().get(out);
            case INT32 -> {
                for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4);
            }
            case UINT32 -> {
                for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4) & 0xffffffffL;
            }
            case INT16 -> {
                for (int i = 0; i < n; i++) out[i] = b.getShort(i * 2);
            }
            case UINT16 -> {
                for (int i = 0; i < n; i++) out[i] = b.getShort(i * 2) & 0xffff;
            }
            case INT8 -> {
                for (int i = 0; i < n; i++) out[i] = b.get(i);
            }
            case UINT8, BOOL -> {
                for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff;
            }
            default -> throw new ModelFormatException(ErrorCode.INVALID_MODEL, "tensor '" + name + "': expected"
                    + " integers (a shape, axes, pads or indices), found " + dataType);
        }
        return out;
    }

    @Override
    public String toString() {
        return "Tensor[" + name + ", " + dataType + Arrays.toString(dims) + "]";
    }
}
