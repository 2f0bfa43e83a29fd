package org.onnxfuse.kernels;

import static org.bytedeco.openblas.global.openblas.CblasColMajor;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.cblas_dgemm;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.function.LongFunction;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
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
 *
 * <p>In {@link Precision#FLOAT32} (opt-in, {@link CpuBackend#STATISTICS_PRECISION_PROPERTY}) the
 * block stays float32 and each column block is one sgemm into a float32 scratch block, added to
 * the float64 sums at once: float32 products summed in float32 over at most
 * {@link #FLOAT32_BLOCK_ROWS} rows, float64 across blocks. sgemm runs at about twice dgemm's rate;
 * the sums then differ from the float64 ones by about 1e-6 relative (float32 rounding over a
 * block), so this mode is not the default.
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
    /**
     * Rows per block in float32 at most: each sum in a block is rounded in float32 over this many
     * products (relative error about sqrt(512) x 6e-8, 1e-6), then added in float64.
     */
    static final int FLOAT32_BLOCK_ROWS = 512;

    /** How a block's products are computed and summed before they are added to the float64 sums. */
    enum Precision {
        /** Widened to float64, dgemm: the sums as float64 arithmetic makes them. */
        FLOAT64,
        /** float32 blocks, sgemm into float32 block sums, added in float64. */
        FLOAT32
    }

    private final BlockTasks blocks;
    private final Precision precision;
    private final int maxBlockRows;
    private final DoublePointer sxx;
    private final DoublePointer sxa;
    private final DoublePointer saa;
    private final double[] staging;
    private DoublePointer xBuffer;
    private DoublePointer aBuffer;
    private DoubleBuffer xView;
    private DoubleBuffer aView;
    /** FLOAT32: the block of rows, float32. */
    private FloatPointer xSingle;
    private FloatPointer aSingle;
    /** FLOAT32: one scratch block per running task (max(d, m) x {@link BlockTasks#COLUMNS} floats each). */
    private BlockingQueue<FloatPointer> scratch;
    private final List<FloatPointer> scratchBlocks = new ArrayList<>();
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
        this(blocks, d, m, targetGram, bufferElements, Precision.FLOAT64);
    }

    CpuStatisticsAccumulator(BlockTasks blocks, int d, int m, boolean targetGram, int bufferElements,
                             Precision precision) {
        super(d, m, targetGram);
        this.blocks = blocks;
        this.precision = precision;
        int blockRows = precision == Precision.FLOAT32 ? FLOAT32_BLOCK_ROWS : MAX_BLOCK_ROWS;
        this.maxBlockRows = Math.max(1, Math.min(blockRows, bufferElements / Math.max(d, m)));
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
            if (precision == Precision.FLOAT32) {
                xSingle.position((long) pendingRows * d).put(x, start * d, rows * d).position(0);
                if (m > 0) {
                    aSingle.position((long) pendingRows * m).put(a, start * m, rows * m).position(0);
                }
            } else {
                widen(x, start * d, rows * d, xView, pendingRows * d);
                widen(a, start * m, rows * m, aView, pendingRows * m);
            }
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
        if (precision == Precision.FLOAT32) {
            flushSingle(rows);
            pendingRows = 0;
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
     * FLOAT32: the same column blocks as {@link #flush()}, each an sgemm (beta 0) into a scratch
     * block that is then added to the float64 sum; the blocks depend only on d, m and the rows, so
     * the sums are the same bits whatever the thread count.
     */
    private void flushSingle(int rows) {
        List<Runnable> tasks = new ArrayList<>();
        addSingleProducts(tasks, xSingle, d, xSingle, d, d, sxx, true, rows);
        if (m > 0) {
            addSingleProducts(tasks, xSingle, d, aSingle, m, m, sxa, false, rows);
            if (targetGram) {
                addSingleProducts(tasks, aSingle, m, aSingle, m, m, saa, true, rows);
            }
        }
        blocks.run(tasks);
    }

    /**
     * Tasks adding U V<sup>T</sup> (U: n x rows, V: width x rows, column-major, float32) to the n x
     * width float64 sum, one per block of its columns; for a Gram sum (U = V) only rows 0 to the
     * block's last column.
     */
    private void addSingleProducts(List<Runnable> tasks, FloatPointer u, int n, FloatPointer v, int ldv, int columns,
                                   DoublePointer sum, boolean gram, int rows) {
        DoubleBuffer to = sum.asBuffer(); // absolute reads and writes only: each task its own columns
        for (int[] block : BlockTasks.blocks(columns)) {
            int first = block[0];
            int width = block[1] - block[0];
            int height = gram ? block[1] : n;
            tasks.add(() -> {
                FloatPointer c = takeScratch();
                try {
                    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, height, width, rows, 1f, u, n,
                            v.getPointer(first), ldv, 0f, c, height);
                    FloatBuffer from = c.asBuffer();
                    for (int j = 0; j < width; j++) {
                        int at = (first + j) * n;
                        int src = j * height;
                        for (int i = 0; i < height; i++) {
                            to.put(at + i, to.get(at + i) + from.get(src + i));
                        }
                    }
                } finally {
                    scratch.add(c);
                }
            });
        }
    }

    private FloatPointer takeScratch() {
        try {
            return scratch.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BackendException("interrupted while waiting for a scratch block", e);
        }
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
        free(xSingle);
        free(aSingle);
        xSingle = null;
        aSingle = null;
        scratchBlocks.forEach(CpuStatisticsAccumulator::free);
        scratchBlocks.clear();
        scratch = null;
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
        if (precision == Precision.FLOAT32) {
            RowBlocks<FloatPointer> grown = grow(xSingle, aSingle, capacity, Float.BYTES, FloatPointer::new);
            xSingle = grown.x();
            aSingle = grown.a();
            if (scratch == null) {
                scratch = new ArrayBlockingQueue<>(blocks.threads());
                for (int t = 0; t < blocks.threads(); t++) {
                    FloatPointer c = new FloatPointer((long) Math.max(d, m) * BlockTasks.COLUMNS);
                    scratchBlocks.add(c);
                    scratch.add(c);
                }
            }
        } else {
            RowBlocks<DoublePointer> grown = grow(xBuffer, aBuffer, capacity, Double.BYTES, DoublePointer::new);
            xBuffer = grown.x();
            aBuffer = grown.a();
            xView = xBuffer.asBuffer();
            aView = aBuffer.asBuffer();
        }
        bufferRows = capacity;
    }

    /** The X and A blocks of rows, float64 or float32. */
    private record RowBlocks<P extends Pointer>(P x, P a) {
    }

    /**
     * New X and A blocks of {@code capacity} rows ({@code bytes} per value) holding the pending rows
     * of {@code x} and {@code a}, which are freed.
     */
    private <P extends Pointer> RowBlocks<P> grow(P x, P a, int capacity, int bytes, LongFunction<P> allocate) {
        P newX = allocate.apply((long) capacity * d);
        P newA;
        try {
            newA = allocate.apply(Math.max(1L, (long) capacity * m));
        } catch (RuntimeException | OutOfMemoryError e) {
            newX.close();
            throw e;
        }
        if (pendingRows > 0) {
            Pointer.memcpy(newX, x, (long) bytes * pendingRows * d);
            if (m > 0) {
                Pointer.memcpy(newA, a, (long) bytes * pendingRows * m);
            }
        }
        free(x);
        free(a);
        return new RowBlocks<>(newX, newA);
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

    private static void free(Pointer p) {
        if (p != null) {
            p.close();
        }
    }
}
