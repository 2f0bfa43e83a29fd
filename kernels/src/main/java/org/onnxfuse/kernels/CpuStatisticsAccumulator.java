package org.onnxfuse.kernels;

import static org.bytedeco.openblas.global.openblas.CblasColMajor;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;
import static org.bytedeco.openblas.global.openblas.cblas_dgemm;
import static org.bytedeco.openblas.global.openblas.cblas_dsyrk;

import java.nio.DoubleBuffer;
import org.bytedeco.javacpp.DoublePointer;

/**
 * The sums live in native memory (JavaCPP {@link DoublePointer}s) so BLAS updates them in place
 * without copying d<sup>2</sup> doubles across JNI per batch. A float32 row-major batch X (rows x
 * d) read as column-major is X<sup>T</sup> (d x rows, leading dimension d): after widening it to
 * float64 once, S_xx += X<sup>T</sup>X is dsyrk('U', 'N') on it and S_xa += X<sup>T</sup>A is
 * dgemm('N', 'T') with A<sup>T</sup>, with no transposing copies.
 */
final class CpuStatisticsAccumulator extends AbstractStatisticsAccumulator {
    /** Widened samples held at once, per operand: 32 MB of doubles bounds the buffer memory. */
    static final int BUFFER_ELEMENTS = 1 << 22;

    private final int threads;
    private final int maxChunkRows;
    private final DoublePointer sxx;
    private final DoublePointer sxa;
    private final DoublePointer saa;
    private DoublePointer xBuffer;
    private DoublePointer aBuffer;
    private DoubleBuffer xView;
    private DoubleBuffer aView;
    private int bufferRows;

    CpuStatisticsAccumulator(int threads, int d, int m) {
        this(threads, d, m, BUFFER_ELEMENTS);
    }

    /** {@code bufferElements} bounds each widening buffer; tests make it small to exercise chunking. */
    CpuStatisticsAccumulator(int threads, int d, int m, int bufferElements) {
        super(d, m);
        this.threads = threads;
        this.maxChunkRows = Math.max(1, bufferElements / Math.max(d, m));
        DoublePointer xx = null;
        DoublePointer xa = null;
        DoublePointer aa = null;
        try {
            xx = zeroed((long) d * d);
            xa = zeroed((long) d * m);
            aa = zeroed((long) m * m);
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
        for (int start = 0; start < batchRows; start += maxChunkRows) {
            int rows = Math.min(maxChunkRows, batchRows - start);
            ensureBuffers(rows);
            widen(x, start * d, rows * d, xView);
            widen(a, start * m, rows * m, aView);
            OpenBlas.run(threads, () -> {
                cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, d, rows, 1.0, xBuffer, d, 1.0, sxx, d);
                if (m > 0) {
                    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, d, m, rows, 1.0, xBuffer, d, aBuffer, m,
                            1.0, sxa, d);
                    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, m, rows, 1.0, aBuffer, m, 1.0, saa, m);
                }
            });
        }
    }

    @Override
    void read(double[] xx, double[] xa, double[] aa) {
        sxx.position(0).get(xx);
        sxa.position(0).get(xa);
        saa.position(0).get(aa);
    }

    @Override
    void clear() {
        sxx.zero();
        sxa.zero();
        saa.zero();
    }

    @Override
    void release() {
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

    /** Grows the widening buffers to hold {@code rows} samples (at most maxChunkRows). */
    private void ensureBuffers(int rows) {
        if (rows <= bufferRows) {
            return;
        }
        int capacity = Math.min(maxChunkRows, Math.max(rows, 2 * bufferRows));
        free(xBuffer);
        free(aBuffer);
        xBuffer = null;
        aBuffer = null;
        bufferRows = 0;
        xBuffer = new DoublePointer((long) capacity * d);
        aBuffer = new DoublePointer(Math.max(1L, (long) capacity * m));
        xView = xBuffer.asBuffer();
        aView = aBuffer.asBuffer();
        bufferRows = capacity;
    }

    private static void widen(float[] from, int offset, int count, DoubleBuffer to) {
        for (int i = 0; i < count; i++) {
            to.put(i, from[offset + i]);
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
