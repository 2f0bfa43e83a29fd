package org.onnxfuse.kernels;

import static org.bytedeco.openblas.global.openblas.CblasColMajor;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.LAPACK_COL_MAJOR;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotrf;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotrs;
import static org.bytedeco.openblas.global.openblas.cblas_dgemm;

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
        try (DoublePointer pa = new DoublePointer(a.data()); DoublePointer pb = new DoublePointer(b.data());
             DoublePointer pc = new DoublePointer(out)) {
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

    @Override
    public StatisticsAccumulator openStatistics(int d, int m, boolean targetGram) {
        requireOpen();
        return new CpuStatisticsAccumulator(blocks, d, m, targetGram, CpuStatisticsAccumulator.BUFFER_ELEMENTS,
                statisticsPrecision);
    }

    @Override
    public DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge) {
        requireOpen();
        Shapes.choleskySolve(s, b, ridge);
        int n = s.rows();
        int k = b.cols();
        double[] factor = s.toColumnMajor();
        for (int i = 0; i < n; i++) {
            factor[i + i * n] += ridge;
        }
        double[] solution = b.toColumnMajor();
        if (n == 0 || k == 0) {
            return DenseMatrix.wrap(n, k, solution);
        }
        // the factorisation on one thread (its blocking would follow a thread count), then the
        // right-hand sides in fixed blocks
        OpenBlas.useOneThreadPerCall();
        try (DoublePointer f = new DoublePointer(factor); DoublePointer x = new DoublePointer(solution)) {
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
            x.get(solution);
        }
        return DenseMatrix.wrap(n, k, solution);
    }

    @Override
    public GramKMeans openGramKMeans(double[] cross, double[] gram, double[] targetSquaredNorms, int m) {
        requireOpen();
        return new CpuGramKMeans(cross, gram, targetSquaredNorms, m);
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
