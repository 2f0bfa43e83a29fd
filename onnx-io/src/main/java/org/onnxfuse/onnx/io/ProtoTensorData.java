package org.onnxfuse.onnx.io;

import ai.onnx.proto.OnnxMl.SparseTensorProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.TensorData;

/**
 * Tensor data as the reader found it, still in its protobuf (or side-file) form. Sizes were
 * checked when the model was read; nothing is decoded or copied until {@link #rawBytes()}. The
 * writer recognises these by {@link #source()}: a tensor whose data is still the one read from
 * its origin keeps its original encoding.
 */
sealed interface ProtoTensorData extends TensorData {
    /** The message the data was read from ({@link TensorProto} or {@link SparseTensorProto}). */
    Object source();

    /** Largest tensor one Java buffer can hold. */
    long MAX_BUFFER = Integer.MAX_VALUE - 8;

    static int bufferSize(long length) {
        if (length > MAX_BUFFER) {
            throw new UnsupportedOperationException("tensor data of " + length
                    + " bytes does not fit one Java buffer (at most " + MAX_BUFFER + " bytes)");
        }
        return (int) length;
    }

    /** {@code raw_data}: a read-only view of the parsed bytes, no copy. */
    record Raw(TensorProto source, ByteString bytes, long byteLength) implements ProtoTensorData {
        @Override
        public ByteBuffer rawBytes() {
            return bytes.substring(0, (int) byteLength).asReadOnlyByteBuffer().slice().order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /** {@code float_data}, {@code int32_data}, ...: converted to raw little-endian bytes on each call. */
    record Typed(TensorProto source, TypedField field, int bytesPerEntry, long byteLength) implements ProtoTensorData {
        @Override
        public ByteBuffer rawBytes() {
            ByteBuffer out = ByteBuffer.allocate(bufferSize(byteLength)).order(ByteOrder.LITTLE_ENDIAN);
            int entries = (int) (byteLength / bytesPerEntry);
            for (int i = 0; i < entries; i++) {
                long bits = field.bits(source, i);
                switch (bytesPerEntry) {
                    case 1 -> out.put((byte) bits);
                    case 2 -> out.putShort((short) bits);
                    case 4 -> out.putInt((int) bits);
                    default -> out.putLong(bits);
                }
            }
            out.flip();
            return out.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /** A range of a side file, read on each call (never cached, so memory stays bounded). */
    record External(TensorProto source, SideFile file, long offset, long byteLength) implements ProtoTensorData {
        @Override
        public ByteBuffer rawBytes() {
            return file.read(offset, bufferSize(byteLength));
        }

        @Override
        public boolean inMemory() {
            return false;
        }

        void copyTo(FileChannel target, long targetOffset) {
            file.copyTo(offset, byteLength, target, targetOffset);
        }
    }

    /**
     * A sparse initializer, scattered into dense raw form on each call. {@code indices} holds
     * int64 positions, either linear ([nnz]) or per axis ([nnz, rank]).
     */
    record Sparse(SparseTensorProto source, DataType dataType, long[] dims, TensorData values, TensorData indices,
                  boolean linearIndices, long byteLength) implements ProtoTensorData {
        @Override
        public ByteBuffer rawBytes() {
            int elementBytes = dataType.bits() / 8;
            if (dataType.bits() % 8 != 0 || elementBytes == 0) {
                throw new UnsupportedOperationException("sparse tensor '" + source.getValues().getName() + "' of type "
                        + dataType + " cannot be densified; expected a type of 8 bits or more");
            }
            ByteBuffer dense = ByteBuffer.allocate(bufferSize(byteLength)).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer v = values.rawBytes();
            ByteBuffer idx = indices.rawBytes().order(ByteOrder.LITTLE_ENDIAN);
            long total = byteLength / elementBytes;
            int nnz = (int) (values.byteLength() / elementBytes);
            long previous = -1;
            for (int k = 0; k < nnz; k++) {
                long linear;
                if (linearIndices) {
                    linear = idx.getLong(k * 8);
                } else {
                    linear = 0;
                    for (int axis = 0; axis < dims.length; axis++) {
                        long i = idx.getLong((k * dims.length + axis) * 8);
                        if (i < 0 || i >= dims[axis]) {
                            throw outOfRange(i);
                        }
                        linear = linear * dims[axis] + i;
                    }
                }
                if (linear < 0 || linear >= total) {
                    throw outOfRange(linear);
                }
                if (linear <= previous) {
                    throw new ModelFormatException(ErrorCode.INVALID_MODEL, "sparse tensor '"
                            + source.getValues().getName() + "': expected indices in strictly ascending order, found "
                            + linear + " after " + previous);
                }
                previous = linear;
                for (int b = 0; b < elementBytes; b++) {
                    dense.put((int) (linear * elementBytes + b), v.get(k * elementBytes + b));
                }
            }
            return dense.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }

        private ModelFormatException outOfRange(long index) {
            return new ModelFormatException(ErrorCode.INVALID_MODEL, "sparse tensor '" + source.getValues().getName() + "': index " + index
                    + " outside its shape " + Arrays.toString(dims) + "; expected indices within the shape");
        }
    }
}
