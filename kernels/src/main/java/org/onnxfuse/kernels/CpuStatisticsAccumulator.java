package org.onnxfuse.kernels;

import static org.bytedeco.openblas.global.openblas.CblasColMajor;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.cblas_dgemm;

import java.nio.DoubleBuffer;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The sums live in native memory (JavaCPP {@link DoublePointer}s) so BLAS updates them in place
 * without copying d<sup>2</sup> doubles across JNI per batch. A float32 row-major batch X (rows x
 * d) read as column-major is X<sup>T</sup> (d x rows, leading dimension d): after widening it to
 * float64 once, S_xx += X<sup>T</sup>X and S_xa += X<sup>T</sup>A are dgemm('N', 'T') on it and
 * A<sup>T</sup>, with no transposing copies, in fixed column blocks ({@link BlockTasks}: the same
 * bits whatever the thread count); for S_xx and S_aa each block computes only the rows up to its
 * last column (the upper triangle and a little of the diagonal block's lower part).
 *
 * <p>Batches are widened into a block of up to {@code maxBlockRows} rows and the BLAS calls run
 * only when the block is full (or the sums are read): ONNX Runtime batches are small (256 rows
 * by default), and a threaded syrk/gemm over 256 rows spends much of its time synchronising its
 * threads. Measured on 2 cores (d = 785, m = 2048, 2 threads): 21 GFLOP/s in 256-row calls
 * against 36 in 2048-row calls while other processes kept the cores busy; ~5% apart when idle.
 * The block is bounded by {@link #MAX_BLOCK_ROWS} rows and {@link #BUFFER_ELEMENTS} per operand,
 * so memory does not grow with the sample count once a block has been filled.
 */
final class CpuStatisticsAccumulator extends AbstractStatisticsAccumulator {
    /** Widened samples held at once, per operand: 32 MB of doubles bounds the buffer memory. */
    static final int BUFFER_ELEMENTS = 1 << 22;
    /**
     * Rows per BLAS block at most. Past ~2048 rows larger calls gain nothing, and a block sized
     * only by {@link #BUFFER_ELEMENTS} (16,000 rows at d = 257) was filled further the more
     * samples there were: peak memory then grew from 5,000 to 20,000 samples.
     */
    static final int MAX_BLOCK_ROWS = 2048;
    /** Floats widened per bulk copy into native memory. */
    private static final int STAGING_ELEMENTS = 1 << 14;

    private final BlockTasks blocks;
    private final int maxBlockRows;
    private final DoublePointer sxx;
    private final DoublePointer sxa;
    private final DoublePointer saa;
    private final double[] staging;
    private DoublePointer xBuffer;
    private DoublePointer aBuffer;
    private DoubleBuffer xView;
    private DoubleBuffer aView;
    private int bufferRows;
    /** Rows widened into the buffers but not yet added to the sums. */
    private int pendingRows;

    CpuStatisticsAccumulator(BlockTasks blocks, int d, int m) {
        this(blocks, d, m, true, BUFFER_ELEMENTS);
    }

    CpuStatisticsAccumulator(BlockTasks blocks, int d, int m, boolean targetGram) {
        this(blocks, d, m, targetGram, BUFFER_ELEMENTS);
    }

    CpuStatisticsAccumulator(BlockTasks blocks, int d, int m, int bufferElements) {
        this(blocks, d, m, true, bufferElements);
    }

    /** {@code bufferElements} bounds each widening buffer; tests make it small to exercise chunking. */
    CpuStatisticsAccumulator(BlockTasks blocks, int d, int m, boolean targetGram, int bufferElements) {
        super(d, m, targetGram);
        this.blocks = blocks;
        this.maxBlockRows = Math.max(1, Math.min(MAX_BLOCK_ROWS, bufferElements / Math.max(d, m)));
        this.staging = new double[Math.min(STAGING_ELEMENTS, Math.max(1, bufferElements))];
        DoublePointer xx = null;
        DoublePointer xa = null;
        DoublePointer aa = null;
        try {
            xx = zeroed((long) d * d);
            xa = zeroed((long) d * m);
            aa = targetGram ? zeroed((long) m * m) : null;
        } catch (RuntimeException | OutOfMemoryError e) {
            free(xx);
            free(xa);
            throw new BackendException("could not allocate native memory for the statistics (d = " + d + ", m = " + m
                    + ", " + 8L * ((long) d * d + (long) d * m + (long) m * m) / (1 << 20) + " MiB): " + e.getMessage()
                    + "; JavaCPP caps native memory at the heap size by default: raise -Xmx or set"
                    + " -Dorg.bytedeco.javacpp.maxBytes", e);
        }
        this.sxx = xx;
        this.sxa = xa;
        this.saa = aa;
    }

    @Override
    void add(float[] x, float[] a, int batchRows) {
        int start = 0;
        while (start < batchRows) {
            if (pendingRows == maxBlockRows) {
                flush();
            }
            int rows = Math.min(maxBlockRows - pendingRows, batchRows - start);
            ensureBuffers(pendingRows + rows);
            widen(x, start * d, rows * d, xView, pendingRows * d);
            widen(a, start * m, rows * m, aView, pendingRows * m);
            pendingRows += rows;
            start += rows;
        }
    }

    /** Adds the buffered rows to the sums. */
    private void flush() {
        int rows = pendingRows;
        if (rows == 0) {
            return;
        }
        List<Runnable> tasks = new ArrayList<>();
        addGram(tasks, xBuffer, d, sxx, rows);
        if (m > 0) {
            for (int[] block : BlockTasks.blocks(m)) {
                int first = block[0];
                int width = block[1] - block[0];
                tasks.add(() -> cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, d, width, rows, 1.0, xBuffer, d,
                        aBuffer.getPointer(first), m, 1.0, sxa.getPointer((long) first * d), d));
            }
            if (targetGram) {
                addGram(tasks, aBuffer, m, saa, rows);
            }
        }
        blocks.run(tasks);
        pendingRows = 0;
    }

    /**
     * Tasks adding V V<sup>T</sup> (V: n x rows, column-major) to the upper triangle of the n x n
     * sum, one per column block: rows 0 to the block's last column.
     */
    private static void addGram(List<Runnable> tasks, DoublePointer v, int n, DoublePointer sum, int rows) {
        for (int[] block : BlockTasks.blocks(n)) {
            int first = block[0];
            int end = block[1];
            tasks.add(() -> cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, end, end - first, rows, 1.0, v, n,
                    v.getPointer(first), n, 1.0, sum.getPointer((long) first * n), n));
        }
    }

    @Override
    void read(double[] xx, double[] xa, double[] aa) {
        flush();
        sxx.position(0).get(xx);
        sxa.position(0).get(xa);
        if (targetGram) {
            saa.position(0).get(aa);
        }
    }

    @Override
    void clear() {
        pendingRows = 0;
        sxx.zero();
        sxa.zero();
        if (targetGram) {
            saa.zero();
        }
    }

    @Override
    void release() {
        pendingRows = 0;
        free(sxx);
        free(sxa);
        free(saa);
        free(xBuffer);
        free(aBuffer);
        xBuffer = null;
        aBuffer = null;
        xView = null;
        aView = null;
    }

    /**
     * Grows the widening buffers to hold {@code rows} samples (at most maxBlockRows), keeping the
     * pending rows.
     */
    private void ensureBuffers(int rows) {
        if (rows <= bufferRows) {
            return;
        }
        int capacity = Math.min(maxBlockRows, Math.max(rows, 2 * bufferRows));
        DoublePointer x = new DoublePointer((long) capacity * d);
        DoublePointer a;
        try {
            a = new DoublePointer(Math.max(1L, (long) capacity * m));
        } catch (RuntimeException | OutOfMemoryError e) {
            x.close();
            throw e;
        }
        if (pendingRows > 0) {
            Pointer.memcpy(x, xBuffer, 8L * pendingRows * d);
            if (m > 0) {
                Pointer.memcpy(a, aBuffer, 8L * pendingRows * m);
            }
        }
        free(xBuffer);
        free(aBuffer);
        xBuffer = x;
        aBuffer = a;
        xView = x.asBuffer();
        aView = a.asBuffer();
        bufferRows = capacity;
    }

    /** Writes {@code from[offset .. offset + count)} as doubles at {@code to[at ..]}, in bulk copies. */
    private void widen(float[] from, int offset, int count, DoubleBuffer to, int at) {
        double[] s = staging;
        for (int done = 0; done < count; done += s.length) {
            int n = Math.min(s.length, count - done);
            int base = offset + done;
            for (int i = 0; i < n; i++) {
                s[i] = from[base + i];
            }
            to.put(at + done, s, 0, n);
        }
    }

    private static DoublePointer zeroed(long size) {
        DoublePointer p = new DoublePointer(Math.max(1L, size));
        if (p.isNull()) {
            throw new OutOfMemoryError("native allocation of " + 8 * size + " bytes failed");
        }
        p.zero();
        return p;
    }

    private static void free(DoublePointer p) {
        if (p != null) {
            p.close();
        }
    }
}
