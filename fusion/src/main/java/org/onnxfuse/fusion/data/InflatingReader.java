package org.onnxfuse.fusion.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Sequential reader of one deflate-compressed zip entry, straight from the file channel. It can
 * only move forward; {@link #rewind()} starts over. Owns a native {@link Inflater}: close it.
 * The CRC is checked whenever a pass reaches the end of the entry.
 */
final class InflatingReader implements AutoCloseable {
    private static final int INPUT_BYTES = 1 << 16;

    private final FileChannel channel;
    private final long start;
    private final long compressedSize;
    private final long uncompressedSize;
    private final long expectedCrc;
    private final String source;
    private final Inflater inflater = new Inflater(true);
    private final byte[] input = new byte[INPUT_BYTES];
    private final CRC32 crc = new CRC32();
    private long compressedRead;
    private long produced;
    private boolean closed;

    InflatingReader(FileChannel channel, long start, long compressedSize, long uncompressedSize,
                    long expectedCrc, String source) {
        this.channel = channel;
        this.start = start;
        this.compressedSize = compressedSize;
        this.uncompressedSize = uncompressedSize;
        this.expectedCrc = expectedCrc;
        this.source = source;
    }

    /** Uncompressed bytes delivered so far in this pass. */
    long position() {
        return produced;
    }

    long uncompressedSize() {
        return uncompressedSize;
    }

    void rewind() {
        checkOpen();
        inflater.reset();
        compressedRead = 0;
        produced = 0;
        crc.reset();
    }

    void readFully(byte[] dst, int off, int len) {
        checkOpen();
        if (len > uncompressedSize - produced) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": entry holds "
                    + uncompressedSize + " bytes, read past its end at " + (produced + len));
        }
        while (len > 0) {
            int k;
            try {
                k = inflater.inflate(dst, off, len);
            } catch (DataFormatException e) {
                throw new DataException(ErrorCode.DATA_FORMAT, source
                        + ": corrupt compressed data: " + e.getMessage(), e);
            }
            if (k == 0) {
                if (inflater.finished() || inflater.needsDictionary()) {
                    throw truncated();
                }
                if (inflater.needsInput()) {
                    fill();
                }
                continue;
            }
            crc.update(dst, off, k);
            produced += k;
            off += k;
            len -= k;
        }
        if (produced == uncompressedSize && crc.getValue() != expectedCrc) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": CRC-32 mismatch: the zip "
                    + "directory says " + String.format("%08x", expectedCrc) + ", the data gives "
                    + String.format("%08x", crc.getValue()) + "; the archive is corrupt");
        }
    }

    void skip(long n) {
        byte[] scratch = new byte[(int) Math.min(n, INPUT_BYTES)];
        while (n > 0) {
            int k = (int) Math.min(n, scratch.length);
            readFully(scratch, 0, k);
            n -= k;
        }
    }

    private void fill() {
        long remaining = compressedSize - compressedRead;
        if (remaining == 0) {
            // Reads stop at the declared size, so the inflater never has to see the end of the
            // stream (the case the Inflater docs' "dummy byte" is for): more input wanted here
            // means the entry is cut short.
            throw truncated();
        }
        int n = (int) Math.min(remaining, input.length);
        ByteBuffer b = ByteBuffer.wrap(input, 0, n);
        try {
            while (b.hasRemaining()) {
                if (channel.read(b, start + compressedRead + b.position()) < 0) {
                    throw new DataException(ErrorCode.DATA_FORMAT, source
                            + ": compressed data ends early: the file is truncated");
                }
            }
        } catch (IOException e) {
            throw new DataException(ErrorCode.READ_FAILED, source + ": read failed: " + e.getMessage(), e);
        }
        compressedRead += n;
        inflater.setInput(input, 0, n);
    }

    private DataException truncated() {
        return new DataException(ErrorCode.DATA_FORMAT, source + ": compressed data ends after "
                + produced + " bytes, the zip directory says " + uncompressedSize
                + "; the archive is truncated or corrupt");
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(source + " is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            inflater.end();
        }
    }
}
