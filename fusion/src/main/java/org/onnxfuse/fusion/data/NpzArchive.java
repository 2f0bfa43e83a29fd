package org.onnxfuse.fusion.data;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.TerminalText;

/**
 * A {@code .npz} archive (np.savez, np.savez_compressed): named {@code .npy} arrays, keyed by
 * entry name without the {@code .npy} suffix.
 *
 * <p>Stored entries are read in place at their offset in the zip ({@link ChannelSource}). Deflated entries up to a
 * size limit (64 MiB of array data) are inflated into memory once; larger ones are inflated
 * batch by batch on demand, which is fast for reading forward through C-order data and costs a
 * pass over the entry per batch for Fortran order or backward reads.
 *
 * <p>The archive owns its file channel and every array it hands out: closing the archive closes
 * them. Closing an array earlier releases its inflater.
 */
public final class NpzArchive implements AutoCloseable {
    static final long DEFAULT_IN_MEMORY_LIMIT = 64L << 20;
    /** Deflate expands at most 1032:1 (zlib's bound); the slack covers tiny entries. */
    static final long MAX_DEFLATE_RATIO = 1032;
    private static final long DEFLATE_SLACK_BYTES = 1024;

    private final Path path;
    private final String source;
    private final FileChannel channel;
    private final long size;
    private final Map<String, ZipDirectory.Entry> entries;
    private final long inMemoryLimit;
    private final int windowBytes;
    private final List<NpyArray> opened = new ArrayList<>();
    private boolean closed;

    private NpzArchive(Path path, FileChannel channel, long size, Map<String, ZipDirectory.Entry> entries,
                       long inMemoryLimit, int windowBytes) {
        this.path = path;
        this.source = path.toString();
        this.channel = channel;
        this.size = size;
        this.entries = entries;
        this.inMemoryLimit = inMemoryLimit;
        this.windowBytes = windowBytes;
    }

    /**
     * Opens an archive and reads its directory; arrays are opened by {@link #array}.
     *
     * @throws DataException FILE_NOT_FOUND, IS_DIRECTORY; DATA_FORMAT for a file that is not a
     *     readable zip archive of {@code .npy} entries
     */
    public static NpzArchive open(Path path) {
        return open(path, DEFAULT_IN_MEMORY_LIMIT, WindowedSource.DEFAULT_WINDOW_BYTES);
    }

    /** {@link #open(Path)} with chosen limits, so tests can force streaming and small windows. */
    static NpzArchive open(Path path, long inMemoryLimit, int windowBytes) {
        return open(path, DataFiles.open(path, "a .npz file"), inMemoryLimit, windowBytes);
    }

    /** Reads the archive from {@code channel} (owned from here on), named {@code path} in messages. */
    static NpzArchive open(Path path, FileChannel channel, long inMemoryLimit, int windowBytes) {
        String source = path.toString();
        try {
            long size = DataFiles.size(channel, source);
            Map<String, ZipDirectory.Entry> byKey = new LinkedHashMap<>();
            for (ZipDirectory.Entry e : ZipDirectory.read(channel, size, source)) {
                if (e.isDirectory()) {
                    continue;
                }
                String key = e.name().endsWith(".npy")
                        ? e.name().substring(0, e.name().length() - 4) : e.name();
                if (byKey.put(key, e) != null) {
                    throw new DataException(ErrorCode.DATA_FORMAT, source + ": two entries named "
                            + TerminalText.quote(key) + "; expected unique array names");
                }
            }
            return new NpzArchive(path, channel, size, Collections.unmodifiableMap(byKey),
                    inMemoryLimit, windowBytes);
        } catch (RuntimeException e) {
            DataFiles.closeQuietly(channel);
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** Array names in archive order. */
    public List<String> names() {
        return List.copyOf(entries.keySet());
    }

    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /**
     * Opens one array; each call returns a new, independent reader, owned by this archive.
     *
     * @throws DataException DATA_FORMAT when the key is absent (the message lists the keys
     *     present) or the entry is not a readable {@code .npy}; DATA_DTYPE for an unsupported
     *     element type
     */
    public NpyArray array(String name) {
        if (closed) {
            throw new IllegalStateException(source + " is closed");
        }
        ZipDirectory.Entry e = entries.get(name);
        if (e == null) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": no array " + TerminalText.quote(name)
                    + " (entry '" + name + ".npy'); found " + keyList());
        }
        String entrySource = source + ":" + name;
        if ((e.flags() & 1) != 0) {
            throw new DataException(ErrorCode.DATA_FORMAT, entrySource
                    + ": entry is encrypted; expected a plain np.savez archive");
        }
        long start = ZipDirectory.dataStart(channel, e, size, entrySource);
        NpyArray array = switch (e.method()) {
            case ZipDirectory.STORED -> stored(e, start, entrySource);
            case ZipDirectory.DEFLATED -> deflated(e, start, entrySource);
            default -> throw new DataException(ErrorCode.DATA_FORMAT, entrySource
                    + ": zip compression method " + e.method()
                    + " found; expected 0 (stored, np.savez) or 8 (deflate, np.savez_compressed)");
        };
        opened.add(array);
        return array;
    }

    private NpyArray stored(ZipDirectory.Entry e, long start, String entrySource) {
        if (e.compressedSize() != e.uncompressedSize()) {
            throw new DataException(ErrorCode.DATA_FORMAT, entrySource + ": stored entry with "
                    + e.compressedSize() + " bytes in the zip but " + e.uncompressedSize()
                    + " uncompressed; the archive is corrupt");
        }
        long[] position = {0};
        long length = e.uncompressedSize();
        ArrayHeader h = NpyFormat.read((dst, len) -> {
            DataFiles.readFully(channel, start + position[0], dst, len, entrySource);
            position[0] += len;
        }, length, entrySource);
        NpyArray.checkDataSize(h, length - h.dataOffset(), entrySource, "the entry holds");
        ElementSource data = new ChannelSource(channel, start + h.dataOffset(), h, windowBytes,
                entrySource);
        return new NpyArray(entrySource, h, data, null);
    }

    private NpyArray deflated(ZipDirectory.Entry e, long start, String entrySource) {
        // checked before the in-memory buffer is allocated: 200 bytes could otherwise claim 64 MiB
        if (e.uncompressedSize() > e.compressedSize() * MAX_DEFLATE_RATIO + DEFLATE_SLACK_BYTES) {
            throw new DataException(ErrorCode.DATA_FORMAT, entrySource + ": the zip directory says "
                    + e.uncompressedSize() + " bytes inflate from " + e.compressedSize() + "; expected at most "
                    + MAX_DEFLATE_RATIO + " times as many (deflate expands at most " + MAX_DEFLATE_RATIO
                    + ":1); the archive is corrupt");
        }
        InflatingReader reader = new InflatingReader(channel, start, e.compressedSize(),
                e.uncompressedSize(), e.crc(), entrySource);
        try {
            ArrayHeader h = NpyFormat.read((dst, len) -> reader.readFully(dst, 0, len),
                    e.uncompressedSize(), entrySource);
            NpyArray.checkDataSize(h, e.uncompressedSize() - h.dataOffset(), entrySource, "the entry holds");
            if (h.dataBytes() <= Math.min(inMemoryLimit, NpyArray.MAX_ARRAY)) {
                byte[] bytes = new byte[(int) h.dataBytes()];
                reader.readFully(bytes, 0, bytes.length);
                // Reading to the end checks the CRC of the whole entry.
                reader.skip(e.uncompressedSize() - reader.position());
                reader.close();
                return new NpyArray(entrySource, h,
                        WindowedSource.inMemory(ByteBuffer.wrap(bytes), h, entrySource), null);
            }
            return new NpyArray(entrySource, h, new StreamingSource(reader, h), null);
        } catch (RuntimeException ex) {
            reader.close();
            throw ex;
        }
    }

    private String keyList() {
        List<String> keys = new ArrayList<>();
        for (String k : entries.keySet()) {
            keys.add("'" + k + "'");
        }
        return keys.isEmpty() ? "no arrays" : "[" + String.join(", ", keys) + "]";
    }

    /** Closes every array opened from this archive, then the file; idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            for (NpyArray a : opened) {
                a.close();
            }
            opened.clear();
            DataFiles.closeQuietly(channel);
        }
    }

    @Override
    public String toString() {
        return "NpzArchive[" + source + ", " + names() + "]";
    }
}
