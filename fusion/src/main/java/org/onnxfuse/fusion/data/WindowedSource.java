package org.onnxfuse.fusion.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Array data held in fixed-size byte windows, each loaded on first use: the decompressed
 * {@code .npz} entries kept in memory. (Files are no longer memory-mapped through here: see
 * {@link ChannelSource}.) A single {@link ByteBuffer} cannot exceed 2 GB, so larger data spans
 * several windows.
 *
 * <p>Windows start at the first data byte and their size is a multiple of 8, so no element of
 * 1, 2, 4 or 8 bytes straddles two windows.
 */
final class WindowedSource implements ElementSource {
    /** Default window: 1 GiB, far below the 2 GB mapping limit and a multiple of any item size. */
    static final int DEFAULT_WINDOW_BYTES = 1 << 30;

    @FunctionalInterface
    interface WindowLoader {
        /** The bytes {@code [start, start + length)} of the data. */
        ByteBuffer load(long start, int length) throws IOException;
    }

    private final DType dtype;
    private final ByteOrder order;
    private final long dataBytes;
    private final int windowBytes;
    private final WindowLoader loader;
    private final String source;
    private ByteBuffer[] windows;

    WindowedSource(DType dtype, ByteOrder order, long dataBytes, int windowBytes,
                   WindowLoader loader, String source) {
        if (windowBytes <= 0 || windowBytes % 8 != 0) {
            throw new IllegalArgumentException("window size must be a positive multiple of 8, got "
                    + windowBytes);
        }
        this.dtype = dtype;
        this.order = order;
        this.dataBytes = dataBytes;
        this.windowBytes = windowBytes;
        this.loader = loader;
        this.source = source;
        long count = (dataBytes + windowBytes - 1) / windowBytes;
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("too many windows: " + count);
        }
        this.windows = new ByteBuffer[(int) count];
    }

    /** Data already in memory. */
    static WindowedSource inMemory(ByteBuffer data, ArrayHeader h, String source) {
        int window = Math.max(8, (data.remaining() + 7) & ~7);
        return new WindowedSource(h.dtype(), h.byteOrder(), data.remaining(), window,
                (start, length) -> data.slice((int) start, length), source);
    }

    @Override
    public void readFloats(long index, int n, float[] dst, int off, int stride) {
        int item = dtype.itemSize();
        long pos = index * item;
        while (n > 0) {
            ByteBuffer w = window(pos);
            int inWindow = (int) (pos % windowBytes);
            int m = Math.min(n, (w.limit() - inWindow) / item);
            Decoding.floats(dtype, w, inWindow, m, dst, off, stride);
            n -= m;
            off += m * stride;
            pos += (long) m * item;
        }
    }

    @Override
    public void readLongs(long index, int n, long[] dst, int off, int stride) {
        int item = dtype.itemSize();
        long pos = index * item;
        while (n > 0) {
            ByteBuffer w = window(pos);
            int inWindow = (int) (pos % windowBytes);
            int m = Math.min(n, (w.limit() - inWindow) / item);
            Decoding.longs(dtype, w, inWindow, m, dst, off, stride);
            n -= m;
            off += m * stride;
            pos += (long) m * item;
        }
    }

    private ByteBuffer window(long pos) {
        ByteBuffer[] ws = windows;
        if (ws == null) {
            throw new IllegalStateException(source + " is closed");
        }
        int k = (int) (pos / windowBytes);
        ByteBuffer w = ws[k];
        if (w == null) {
            long start = (long) k * windowBytes;
            int length = (int) Math.min(windowBytes, dataBytes - start);
            try {
                w = loader.load(start, length).order(order);
            } catch (IOException e) {
                throw new DataException(ErrorCode.READ_FAILED, source + ": cannot map bytes "
                        + start + ".." + (start + length) + " of the data: " + e.getMessage(), e);
            } catch (UncheckedIOException e) {
                throw new DataException(ErrorCode.READ_FAILED, source + ": cannot map the data: "
                        + e.getMessage(), e);
            }
            ws[k] = w;
        }
        return w;
    }

    /** Drops the windows; the mappings are released when the buffers are collected. */
    @Override
    public void close() {
        windows = null;
    }
}
