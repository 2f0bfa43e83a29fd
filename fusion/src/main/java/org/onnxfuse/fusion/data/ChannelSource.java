package org.onnxfuse.fusion.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Array data read from a file with positional reads into one reusable chunk buffer, then
 * decoded. Unlike a memory mapping, nothing of the file stays in this process's resident memory:
 * pages of a mapped file count in RSS, so a mapped 78 MB data file added up to 78 MB to the
 * peak memory, growing with the sample count; here the resident data is one chunk (at most
 * {@link #MAX_CHUNK_BYTES}) whatever the file size. The file's pages stay in the OS page cache,
 * so reading a batch is a memory copy (several GB/s), about what decoding costs anyway.
 *
 * <p>Chunks are a multiple of 8 bytes from the first data byte, so no element of 1, 2, 4 or 8
 * bytes straddles two chunks. Does not own the channel. Not thread-safe.
 */
final class ChannelSource implements ElementSource {
    /** Largest chunk read at once: 1 MiB, more than a typical batch and small next to the heap. */
    static final int MAX_CHUNK_BYTES = 1 << 20;

    private final FileChannel channel;
    private final long dataStart;
    private final long dataBytes;
    private final DType dtype;
    private final ByteOrder order;
    private final int chunkBytes;
    private final String source;
    private ByteBuffer chunk;
    private boolean closed;

    /**
     * @param chunkBytes bytes read per call, a positive multiple of 8 (capped at
     *     {@link #MAX_CHUNK_BYTES}); tests make it small to cross chunk borders
     */
    ChannelSource(FileChannel channel, long dataStart, ArrayHeader h, int chunkBytes, String source) {
        if (chunkBytes <= 0 || chunkBytes % 8 != 0) {
            throw new IllegalArgumentException("chunk size must be a positive multiple of 8, got " + chunkBytes);
        }
        this.channel = channel;
        this.dataStart = dataStart;
        this.dataBytes = h.dataBytes();
        this.dtype = h.dtype();
        this.order = h.byteOrder();
        this.chunkBytes = Math.min(chunkBytes, MAX_CHUNK_BYTES);
        this.source = source;
    }

    @Override
    public void readFloats(long index, int n, float[] dst, int off, int stride) {
        inChunks(index, n, off, stride, (b, m, at) -> Decoding.floats(dtype, b, 0, m, dst, at, stride));
    }

    @Override
    public void readLongs(long index, int n, long[] dst, int off, int stride) {
        inChunks(index, n, off, stride, (b, m, at) -> Decoding.longs(dtype, b, 0, m, dst, at, stride));
    }

    /** Decodes one chunk of {@code m} elements from {@code bytes} to destination offset {@code at}. */
    @FunctionalInterface
    private interface ChunkDecoder {
        void decode(ByteBuffer bytes, int m, int at);
    }

    /** Elements {@code [index, index + n)} loaded chunk by chunk into the buffer and handed to {@code decoder}. */
    private void inChunks(long index, int n, int off, int stride, ChunkDecoder decoder) {
        int item = dtype.itemSize();
        long pos = index * item;
        while (n > 0) {
            int m = Math.min(n, chunkBytes / item);
            decoder.decode(load(pos, m * item), m, off);
            n -= m;
            off += m * stride;
            pos += (long) m * item;
        }
    }

    /** Reads data bytes {@code [pos, pos + length)} into the chunk buffer, which it returns. */
    private ByteBuffer load(long pos, int length) {
        if (closed) {
            throw new IllegalStateException(source + " is closed");
        }
        if (pos < 0 || pos + length > dataBytes) {
            throw new IndexOutOfBoundsException(source + ": bytes " + pos + ".." + (pos + length) + " of "
                    + dataBytes);
        }
        if (chunk == null) {
            chunk = ByteBuffer.allocateDirect((int) Math.min(chunkBytes, Math.max(8, dataBytes))).order(order);
        }
        ByteBuffer b = chunk;
        b.clear().limit(length);
        try {
            while (b.hasRemaining()) {
                if (channel.read(b, dataStart + pos + b.position()) < 0) {
                    throw new DataException(ErrorCode.DATA_FORMAT, source + ": file ends at byte "
                            + (dataStart + pos + b.position()) + ", expected " + dataBytes
                            + " data bytes from byte " + dataStart + "; the file is truncated");
                }
            }
        } catch (IOException e) {
            throw new DataException(ErrorCode.READ_FAILED, source + ": cannot read bytes " + pos + ".."
                    + (pos + length) + " of the data: " + e.getMessage(), e);
        }
        return b;
    }

    /** Drops the chunk buffer; the channel belongs to the caller. */
    @Override
    public void close() {
        closed = true;
        chunk = null;
    }
}
