package org.onnxfuse.fusion.data;

import java.nio.ByteBuffer;

/**
 * Elements of a compressed {@code .npz} entry, inflated as they are asked for. Reading forward
 * (batch after batch, C order) is one pass over the entry; a read behind the current position
 * starts a new pass, so random access and Fortran order cost a pass per batch. Memory stays at
 * one chunk whatever the array size.
 */
final class StreamingSource implements ElementSource {
    private static final int CHUNK_BYTES = 1 << 16;

    private final InflatingReader reader;
    private final long dataOffset;
    private final DType dtype;
    private final byte[] chunk = new byte[CHUNK_BYTES];
    private final ByteBuffer chunkBuffer;

    StreamingSource(InflatingReader reader, ArrayHeader h) {
        this.reader = reader;
        this.dataOffset = h.dataOffset();
        this.dtype = h.dtype();
        this.chunkBuffer = ByteBuffer.wrap(chunk).order(h.byteOrder());
    }

    @Override
    public void readFloats(long index, int n, float[] dst, int off, int stride) {
        seek(index);
        int perChunk = CHUNK_BYTES / dtype.itemSize();
        while (n > 0) {
            int m = Math.min(n, perChunk);
            reader.readFully(chunk, 0, m * dtype.itemSize());
            Decoding.floats(dtype, chunkBuffer, 0, m, dst, off, stride);
            n -= m;
            off += m * stride;
        }
    }

    @Override
    public void readLongs(long index, int n, long[] dst, int off, int stride) {
        seek(index);
        int perChunk = CHUNK_BYTES / dtype.itemSize();
        while (n > 0) {
            int m = Math.min(n, perChunk);
            reader.readFully(chunk, 0, m * dtype.itemSize());
            Decoding.longs(dtype, chunkBuffer, 0, m, dst, off, stride);
            n -= m;
            off += m * stride;
        }
    }

    private void seek(long index) {
        long target = dataOffset + index * dtype.itemSize();
        if (target < reader.position()) {
            reader.rewind();
        }
        reader.skip(target - reader.position());
    }

    @Override
    public void close() {
        reader.close();
    }
}
