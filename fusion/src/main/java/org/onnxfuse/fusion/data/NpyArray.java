package org.onnxfuse.fusion.data;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Objects;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * One NumPy array, from a {@code .npy} file ({@link #open}) or a {@code .npz} entry
 * ({@link NpzArchive#array}). The data stays in the file: the requested samples are read with
 * positional reads into one reusable buffer ({@link ChannelSource}; inflated on demand for
 * compressed {@code .npz} entries) and decoded, so resident memory does not grow with the file.
 *
 * <p>An array opened with {@link #open} owns its file channel and must be closed. Fortran-order
 * data is reordered to row-major per sample.
 */
public final class NpyArray implements SampleArray {
    /** Java arrays hold slightly fewer than Integer.MAX_VALUE elements. */
    static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    private final String source;
    private final ArrayHeader header;
    private final ElementSource data;
    private final AutoCloseable owned;
    private final long sampleSize;
    private final boolean contiguous;
    private int[] fortranToC;
    private boolean closed;

    NpyArray(String source, ArrayHeader header, ElementSource data, AutoCloseable owned) {
        this.source = Objects.requireNonNull(source);
        this.header = Objects.requireNonNull(header);
        this.data = Objects.requireNonNull(data);
        this.owned = owned;
        long n = 1;
        for (long d : header.sampleShape()) {
            n *= d;  // cannot overflow: the whole element count fits in a long
        }
        this.sampleSize = n;
        // Fortran order equals C order when each sample is a single element.
        this.contiguous = !header.fortranOrder() || n <= 1;
    }

    /**
     * Opens a {@code .npy} file and maps its data.
     *
     * @throws DataException FILE_NOT_FOUND, IS_DIRECTORY; DATA_FORMAT for a bad or truncated
     *     file; DATA_DTYPE for an unsupported element type
     */
    public static NpyArray open(Path path) {
        return open(path, WindowedSource.DEFAULT_WINDOW_BYTES);
    }

    /** {@link #open(Path)} with a chosen read chunk, so tests can cross chunk borders. */
    static NpyArray open(Path path, int windowBytes) {
        String source = path.toString();
        FileChannel channel = DataFiles.open(path, "a .npy file");
        try {
            long size = DataFiles.size(channel, source);
            long[] position = {0};
            ArrayHeader h = NpyFormat.read((dst, len) -> {
                DataFiles.readFully(channel, position[0], dst, len, source);
                position[0] += len;
            }, size, source);
            checkDataSize(h, size - h.dataOffset(), source, "the file holds");
            ElementSource data = new ChannelSource(channel, h.dataOffset(), h, windowBytes, source);
            return new NpyArray(source, h, data, channel);
        } catch (RuntimeException e) {
            DataFiles.closeQuietly(channel);
            throw e;
        }
    }

    /**
     * DATA_FORMAT unless exactly the header's data bytes follow the header: fewer is a truncated
     * file; more is not what np.save writes, and a zip entry's trailing bytes would all be
     * inflated to check its CRC, however many there are.
     */
    static void checkDataSize(ArrayHeader h, long available, String source, String holder) {
        if (h.dataBytes() != available) {
            String problem = h.dataBytes() > available ? "truncated data" : "trailing data";
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": " + problem + ": header says "
                    + h.dtype().numpyName() + " shape " + Text.shape(h.shape()) + " = "
                    + h.dataBytes() + " bytes after the " + h.dataOffset() + "-byte header, "
                    + holder + " " + Math.max(0, available) + " bytes");
        }
    }

    @Override
    public String source() {
        return source;
    }

    @Override
    public ArrayHeader header() {
        return header;
    }

    @Override
    public float[] readFloats(long firstSample, int count) {
        float[] out = new float[checkRead(firstSample, count)];
        decode(firstSample, count, out);
        return out;
    }

    @Override
    public void readFloats(long firstSample, int count, float[] dst) {
        int total = checkRead(firstSample, count);
        if (dst.length < total) {
            throw new IllegalArgumentException(source + ": " + count + " samples need " + total
                    + " values, the destination holds " + dst.length);
        }
        decode(firstSample, count, dst);
    }

    private void decode(long firstSample, int count, float[] out) {
        int total = Math.toIntExact(count * sampleSize);
        if (total == 0) {
            // an empty array's samples may be huge ([0, 2000000000]): no permutation to build
            return;
        }
        if (contiguous) {
            data.readFloats(firstSample * sampleSize, total, out, 0, 1);
        } else {
            int[] perm = fortranToC();
            long n = header.samples();
            // In Fortran order the sample axis varies fastest: one sample-element position across
            // the batch's samples is a contiguous run.
            for (int f = 0; f < perm.length; f++) {
                data.readFloats(f * n + firstSample, count, out, perm[f], perm.length);
            }
        }
    }

    @Override
    public long[] readLongs(long firstSample, int count) {
        long[] out = new long[checkLongRead(firstSample, count)];
        decodeLongs(firstSample, count, out);
        return out;
    }

    @Override
    public void readLongs(long firstSample, int count, long[] dst) {
        int total = checkLongRead(firstSample, count);
        if (dst.length < total) {
            throw new IllegalArgumentException(source + ": " + count + " samples need " + total
                    + " values, the destination holds " + dst.length);
        }
        decodeLongs(firstSample, count, dst);
    }

    private int checkLongRead(long firstSample, int count) {
        if (!header.dtype().isInteger()) {
            throw Decoding.notInteger(source, header);
        }
        return checkRead(firstSample, count);
    }

    private void decodeLongs(long firstSample, int count, long[] out) {
        int total = Math.toIntExact(count * sampleSize);
        if (total == 0) {
            return;
        }
        if (contiguous) {
            data.readLongs(firstSample * sampleSize, total, out, 0, 1);
        } else {
            int[] perm = fortranToC();
            long n = header.samples();
            for (int f = 0; f < perm.length; f++) {
                data.readLongs(f * n + firstSample, count, out, perm[f], perm.length);
            }
        }
    }

    /** Validates a read and returns its element count. */
    private int checkRead(long firstSample, int count) {
        if (closed) {
            throw new IllegalStateException(source + " is closed");
        }
        long samples = header.samples();
        if (firstSample < 0 || count < 0 || firstSample > samples - count) {
            throw new IndexOutOfBoundsException(source + ": samples " + firstSample + ".."
                    + (firstSample + count) + " requested, the array has " + samples);
        }
        if (sampleSize > MAX_ARRAY) {
            throw new DataException(ErrorCode.DATA_SHAPE, source + ": one sample of shape "
                    + Text.shape(header.sampleShape()) + " has " + sampleSize
                    + " elements, more than a Java array holds (" + MAX_ARRAY + ")");
        }
        long total = count * sampleSize;
        if (total > MAX_ARRAY) {
            throw new IllegalArgumentException(source + ": a batch of " + count + " samples of "
                    + sampleSize + " elements exceeds the largest Java array (" + MAX_ARRAY
                    + " elements); use smaller batches");
        }
        return (int) total;
    }

    /** For each sample element in Fortran order, its row-major index within the sample. */
    private int[] fortranToC() {
        if (fortranToC == null) {
            long[] dims = header.sampleShape();
            int size = (int) sampleSize;
            int[] cStride = new int[dims.length];
            int stride = 1;
            for (int j = dims.length - 1; j >= 0; j--) {
                cStride[j] = stride;
                stride *= (int) dims[j];
            }
            int[] index = new int[dims.length];
            int[] perm = new int[size];
            int c = 0;
            for (int f = 0; f < size; f++) {
                perm[f] = c;
                // Fortran order: the first dimension varies fastest.
                for (int j = 0; j < dims.length; j++) {
                    index[j]++;
                    c += cStride[j];
                    if (index[j] < dims[j]) {
                        break;
                    }
                    c -= index[j] * cStride[j];
                    index[j] = 0;
                }
            }
            fortranToC = perm;
        }
        return fortranToC;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            data.close();
            DataFiles.closeQuietly(owned);
        }
    }

    @Override
    public String toString() {
        return "NpyArray[" + source + ", " + header.descr() + " " + Text.shape(header.shape())
                + (header.fortranOrder() ? " fortran" : "") + "]";
    }
}
