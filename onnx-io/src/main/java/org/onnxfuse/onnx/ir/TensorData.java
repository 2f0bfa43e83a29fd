package org.onnxfuse.onnx.ir;

import java.nio.ByteBuffer;

/**
 * Where a tensor's elements live. Decoding is lazy: nothing is copied or converted until
 * {@link #rawBytes()} is called, so reading a model does not decode its weights.
 */
public interface TensorData {
    /** Number of bytes of the raw little-endian form (as in {@code raw_data}). */
    long byteLength();

    /**
     * The elements in ONNX {@code raw_data} layout (little-endian, packed), as a read-only
     * buffer positioned at 0. May read a file or decode typed protobuf fields on each call.
     */
    ByteBuffer rawBytes();

    /** Whether the elements are held in memory (false: read from a file on each call). */
    default boolean inMemory() {
        return true;
    }

    /** Data held in memory in raw layout. */
    record InMemory(ByteBuffer bytes) implements TensorData {
        public InMemory {
            bytes = bytes.asReadOnlyBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
        }

        @Override
        public long byteLength() {
            return bytes.remaining();
        }

        @Override
        public ByteBuffer rawBytes() {
            return bytes.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
        }
    }
}
