package org.onnxfuse.kernels;

import static org.bytedeco.openblas.global.openblas.CblasColMajor;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.LAPACK_COL_MAJOR;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotrf;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotrs;
import static org.bytedeco.openblas.global.openblas.cblas_dgemm;

import java.nio.DoubleBuffer;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;

/**
 * OpenBLAS BLAS and LAPACK through JavaCPP. {@code threads} threads share fixed blocks of each
 * output ({@link BlockTasks}), so the results are the same bits whatever the thread count.
 */
final class CpuBackend implements ComputeBackend {
    /**
     * System property choosing how the statistics' block products are computed: {@code float64}
     * (default: widened, dgemm) or {@code float32} (sgemm over blocks of 512 rows, added in
     * float64: about twice the rate, sums about 1e-6 relative apart; see
     * {@link CpuStatisticsAccumulator}).
     */
    static final String STATISTICS_PRECISION_PROPERTY = "onnxfuse.cpu.statistics";

    private final int threads;
    private final CpuStatisticsAccumulator.Precision statisticsPrecision;
    private final BlockTasks blocks;
    private volatile boolean closed;

    CpuBackend(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("the CPU backend needs >= 1 thread, found " + threads);
        }
        OpenBlas.load();
        this.threads = threads;
        this.blocks = new BlockTasks(threads);
        this.statisticsPrecision = statisticsPrecision(System.getProperty(STATISTICS_PRECISION_PROPERTY, "float64"));
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public String description() {
        return "cpu: OpenBLAS (JavaCPP org.bytedeco:openblas), " + threads + (threads == 1 ? " thread" : " threads")
                + (statisticsPrecision == CpuStatisticsAccumulator.Precision.FLOAT32 ? ", float32 statistics blocks" : "");
    }

    @Override
    public DenseMatrix gemm(Transpose opA, Transpose opB, double alpha, DenseMatrix a, DenseMatrix b,
                            double beta, DenseMatrix c) {
        requireOpen();
        int[] mnk = Shapes.gemm(opA, opB, a, b, beta, c);
        int m = mnk[0];
        int n = mnk[1];
        int k = mnk[2];
        double[] out = beta != 0.0 ? c.toColumnMajor() : new double[m * n];
        if (m == 0 || n == 0) {
            return DenseMatrix.wrap(m, n, out);
        }
        int lda = Math.max(1, a.rows());
        int ldb = Math.max(1, b.rows());
        // with beta 0 BLAS writes C without reading it: no copy of the zeros
        try (DoublePointer pa = new DoublePointer(a.data()); DoublePointer pb = new DoublePointer(b.data());
             DoublePointer pc = beta != 0.0 ? new DoublePointer(out) : new DoublePointer((long) m * n)) {
            List<Runnable> tasks = new ArrayList<>();
            for (int[] block : BlockTasks.blocks(n)) {
                int first = block[0];
                int width = block[1] - block[0];
                // columns first.. of op(B): columns of B, or rows of B when it is transposed
                long bOffset = opB == Transpose.NO ? (long) first * ldb : first;
                tasks.add(() -> cblas_dgemm(CblasColMajor, blasOp(opA), blasOp(opB), m, width, k, alpha, pa, lda,
                        pb.getPointer(bOffset), ldb, beta, pc.getPointer((long) first * m), m));
            }
            blocks.run(tasks);
            pc.get(out);
        }
        return DenseMatrix.wrap(m, n, out);
    }

    /**
     * A's native copy is made once; each block of B's columns is copied into one native buffer and
     * its product read back into {@code out}, with the block's columns shared out as {@link #gemm}
     * shares a product's (the same calls, so the same bits).
     */
    @Override
    public void productColumnsInto(Transpose opA, DenseMatrix a, DenseMatrix b, int blockColumns, double[] out) {
        requireOpen();
        int m = Shapes.productInto(opA, a, b, blockColumns, out);
        int k = opA.colsOf(a);
        int n = b.cols();
        if (m == 0 || n == 0) {
            return;
        }
        int lda = Math.max(1, a.rows());
        int ldb = Math.max(1, k);
        int widest = Math.min(n, blockColumns);
        try (DoublePointer pa = new DoublePointer(a.data()); DoublePointer pb = new DoublePointer((long) ldb * widest);
             DoublePointer pc = new DoublePointer((long) m * widest)) {
            for (int from = 0; from < n; from += blockColumns) {
                int columns = Math.min(n, from + blockColumns) - from;
                pb.position(0).put(b.data(), from * k, columns * k);
                List<Runnable> tasks = new ArrayList<>();
                for (int[] block : BlockTasks.blocks(columns)) {
                    int first = block[0];
                    int width = block[1] - block[0];
                    tasks.add(() -> cblas_dgemm(CblasColMajor, blasOp(opA), CblasNoTrans, m, width, k, 1.0, pa, lda,
                            pb.getPointer((long) first * ldb), ldb, 0.0, pc.getPointer((long) first * m), m));
                }
                blocks.run(tasks);
                pc.position(0).get(out, from * m, columns * m);
            }
        }
    }

    @Override
    public StatisticsAccumulator openStatistics(int d, int m, boolean targetGram) {
        requireOpen();
        return new CpuStatisticsAccumulator(blocks, d, m, targetGram, CpuStatisticsAccumulator.BUFFER_ELEMENTS,
                statisticsPrecision);
    }

    @Override
    public DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge) {
        return choleskySolve(s, b, ridge, null);
    }

    /**
     * LAPACK works on native copies of S and B (JavaCPP copies the arrays): the ridge is added to
     * the factor's diagonal and the centre to the right-hand sides there, so the heap holds no copy
     * of S or B, only the solution read back.
     */
    @Override
    public DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge, DenseMatrix centre) {
        requireOpen();
        Shapes.choleskySolve(s, b, ridge);
        if (centre != null && (centre.rows() != b.rows() || centre.cols() != b.cols())) {
            throw new IllegalArgumentException("choleskySolve: the centre must be shaped like B (" + b.shape()
                    + "), found " + centre.shape());
        }
        int n = s.rows();
        int k = b.cols();
        if (n == 0 || k == 0) {
            return DenseMatrix.zeros(n, k);
        }
        // the factorisation on one thread (its blocking would follow a thread count), then the
        // right-hand sides in fixed blocks
        OpenBlas.useOneThreadPerCall();
        try (DoublePointer f = new DoublePointer(s.data()); DoublePointer x = new DoublePointer(b.data())) {
            DoubleBuffer factor = f.asBuffer();
            for (int i = 0; i < n; i++) {
                int at = i + i * n;
                factor.put(at, factor.get(at) + ridge);
            }
            if (centre != null) {
                addScaled(x.asBuffer(), ridge, centre.data());
            }
            int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, (byte) 'U', n, f, n);
            if (info > 0) {
                throw new NotPositiveDefiniteException(n, info, ridge);
            }
            if (info < 0) {
                throw new BackendException("LAPACKE_dpotrf rejected its argument " + (-info) + " for S " + s.shape()
                        + "; expected valid arguments (this is a bug in onnx-fuse)");
            }
            List<Runnable> tasks = new ArrayList<>();
            int[] failed = new int[1];
            for (int[] block : BlockTasks.blocks(k)) {
                int first = block[0];
                int width = block[1] - block[0];
                tasks.add(() -> {
                    int code = LAPACKE_dpotrs(LAPACK_COL_MAJOR, (byte) 'U', n, width, f, n,
                            x.getPointer((long) first * n), n);
                    if (code != 0) {
                        failed[0] = code;
                    }
                });
            }
            blocks.run(tasks);
            if (failed[0] != 0) {
                throw new BackendException("LAPACKE_dpotrs rejected its argument " + (-failed[0]) + " for S "
                        + s.shape() + ", B " + b.shape() + "; expected valid arguments (this is a bug in onnx-fuse)");
            }
            double[] solution = new double[n * k];
            x.get(solution);
            return DenseMatrix.wrap(n, k, solution);
        }
    }

    /** to[i] = to[i] + alpha from[i], through a small heap buffer (the same expression as {@link DenseMatrix#plusScaled}). */
    private static void addScaled(DoubleBuffer to, double alpha, double[] from) {
        double[] chunk = new double[Math.min(from.length, 1 << 14)];
        for (int start = 0; start < from.length; start += chunk.length) {
            int count = Math.min(chunk.length, from.length - start);
            to.get(start, chunk, 0, count);
            for (int i = 0; i < count; i++) {
                chunk[i] = chunk[i] + alpha * from[start + i];
            }
            to.put(start, chunk, 0, count);
        }
    }

    /**
     * The upper triangle by blocks of G's columns: block J's right-hand side B_J + ridge (W0_J -
     * W_J) is formed on the heap (n x 128 at most per running block) and multiplied by the W
     * columns up to the block's last, so no n x m matrix besides W's native copy is held and half
     * the product's flops are skipped.
     */
    @Override
    public double[] solutionGram(DenseMatrix w, DenseMatrix b, DenseMatrix centre, double ridge) {
        requireOpen();
        ComputeBackend.checkSolutionGram(w, b, centre, ridge);
        int n = w.rows();
        int m = w.cols();
        double[] out = new double[DenseMatrix.checkedSize(m, m)];
        if (n == 0 || m == 0) {
            return out;
        }
        double[] wd = w.data();
        double[] bd = b.data();
        double[] cd = centre == null ? null : centre.data();
        try (DoublePointer pw = new DoublePointer(wd); DoublePointer pg = new DoublePointer((long) m * m)) {
            List<Runnable> tasks = new ArrayList<>();
            for (int[] block : BlockTasks.blocks(m)) {
                int first = block[0];
                int end = block[1];
                int width = end - first;
                tasks.add(() -> {
                    double[] rhs = new double[n * width];
                    int offset = first * n;
                    for (int k = 0; k < rhs.length; k++) {
                        int at = offset + k;
                        rhs[k] = bd[at] + ridge * ((cd == null ? 0.0 : cd[at]) - wd[at]);
                    }
                    try (DoublePointer pr = new DoublePointer(rhs)) {
                        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, end, width, n, 1.0, pw, n, pr, n, 0.0,
                                pg.getPointer((long) first * m), m);
                    }
                });
            }
            blocks.run(tasks);
            pg.get(out);
        }
        AbstractStatisticsAccumulator.mirrorUpperToLower(out, m);
        return out;
    }

    /** On the backend's worker threads ({@link BlockTasks}), {@code threads} at a time. */
    @Override
    public void runTasks(List<Runnable> tasks) {
        requireOpen();
        blocks.run(tasks);
    }

    @Override
    public GramKMeans openGramKMeans(double[] cross, double[] gram, double[] targetSquaredNorms, int m) {
        requireOpen();
        return new CpuGramKMeans(cross, gram, targetSquaredNorms, m, threads, blocks::run);
    }

    @Override
    public void close() {
        closed = true;
        blocks.close();
    }

    static CpuStatisticsAccumulator.Precision statisticsPrecision(String value) {
        return switch (value) {
            case "float64" -> CpuStatisticsAccumulator.Precision.FLOAT64;
            case "float32" -> CpuStatisticsAccumulator.Precision.FLOAT32;
            default -> throw new IllegalArgumentException("-D" + STATISTICS_PRECISION_PROPERTY + "=" + value
                    + ": expected float64 or float32");
        };
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the cpu backend is closed");
        }
    }

    private static int blasOp(Transpose op) {
        return op == Transpose.NO ? CblasNoTrans : CblasTrans;
    }

    @Override
    public String toString() {
        return description();
    }
}
