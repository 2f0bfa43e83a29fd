package org.onnxfuse.fusion.collect;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.TempFiles;

/**
 * One float32 value of a model's frontier, batch by batch (batch i of the calibration data, in
 * order): in heap arrays while the collector's {@link Budget} allows, else appended to a
 * memory-mapped temporary file in the system temp dir ({@link TempFiles}, so a JVM that ends
 * early removes it too). {@link #close()} gives the memory back and deletes the file. Not
 * thread-safe.
 */
final class StoredValue implements AutoCloseable {
    /**
     * Bytes of frontier values all stores of one collector keep on the heap together; what does
     * not fit is spilled to disk.
     */
    static final class Budget {
        private final long limit;
        private long used;

        Budget(long limit) {
            this.limit = limit;
        }

        /** The default: a quarter of the maximum heap. */
        static Budget ofHeap() {
            return new Budget(StatisticsCollector.frontierHeapBudget(Runtime.getRuntime().maxMemory()));
        }

        boolean reserve(long bytes) {
            if (used + bytes > limit) {
                return false;
            }
            used += bytes;
            return true;
        }

        void release(long bytes) {
            used -= bytes;
        }

        long used() {
            return used;
        }
    }

    private final String name;
    private final Budget budget;
    private final List<long[]> shapes = new ArrayList<>();
    /** Per batch: the values on the heap, or null when they are in the file at {@code offsets}. */
    private final List<float[]> onHeap = new ArrayList<>();
    private final List<Long> offsets = new ArrayList<>();
    private long heapBytes;
    private Path file;
    private FileChannel channel;
    private long fileSize;
    private float[] readBuffer;
    private boolean closed;

    StoredValue(String name, Budget budget) {
        this.name = name;
        this.budget = budget;
    }

    String name() {
        return name;
    }

    int batches() {
        return shapes.size();
    }

    /** Whether some batch went to disk. */
    boolean spilled() {
        return file != null;
    }

    /** Appends the next batch: the first {@code product(shape)} of {@code values}, copied. */
    void append(long[] shape, float[] values) {
        if (closed) {
            throw new IllegalStateException(name + ": store closed");
        }
        int n = size(shape);
        long bytes = (long) n * Float.BYTES;
        shapes.add(shape.clone());
        if (budget.reserve(bytes)) {
            heapBytes += bytes;
            onHeap.add(java.util.Arrays.copyOf(values, n));
            offsets.add(-1L);
            return;
        }
        onHeap.add(null);
        offsets.add(fileSize);
        try {
            if (channel == null) {
                file = TempFiles.create(Path.of(System.getProperty("java.io.tmpdir")), "frontier");
                channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
            }
            if (n > 0) {
                MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_WRITE, fileSize, bytes);
                map.order(ByteOrder.nativeOrder()).asFloatBuffer().put(values, 0, n);
            }
            fileSize += bytes;
        } catch (IOException e) {
            throw new OnnxFuseException(ErrorCode.OUTPUT_UNWRITABLE, "cannot spill the activations of '" + name + "' to "
                    + (file == null ? System.getProperty("java.io.tmpdir") : file) + ": " + e.getMessage(), e);
        }
    }

    long[] shape(int batch) {
        return shapes.get(batch).clone();
    }

    /**
     * Batch {@code batch}'s values: the stored array, or (spilled) a buffer reused by the next
     * read of this value. Read-only; valid until the next {@code read} of this store.
     */
    float[] read(int batch) {
        if (closed) {
            throw new IllegalStateException(name + ": store closed");
        }
        float[] kept = onHeap.get(batch);
        if (kept != null) {
            return kept;
        }
        int n = size(shapes.get(batch));
        if (readBuffer == null || readBuffer.length != n) {
            readBuffer = new float[n];
        }
        if (n > 0) {
            try {
                MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_ONLY, offsets.get(batch),
                        (long) n * Float.BYTES);
                map.order(ByteOrder.nativeOrder()).asFloatBuffer().get(readBuffer, 0, n);
            } catch (IOException e) {
                throw new OnnxFuseException(ErrorCode.READ_FAILED, "cannot read the spilled activations of '" + name
                        + "' from " + file + ": " + e.getMessage(), e);
            }
        }
        return readBuffer;
    }

    private static int size(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return Math.toIntExact(n);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        budget.release(heapBytes);
        heapBytes = 0;
        onHeap.clear();
        readBuffer = null;
        try {
            if (channel != null) {
                channel.close();
            }
        } catch (IOException ignored) {
            // the file is deleted next; nothing was lost
        } finally {
            TempFiles.delete(file);
        }
    }
}
