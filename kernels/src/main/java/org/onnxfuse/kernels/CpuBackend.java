package org.onnxfuse.kernels;

import static org.bytedeco.openblas.global.openblas.CblasColMajor;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.LAPACK_COL_MAJOR;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dposv;
import static org.bytedeco.openblas.global.openblas.cblas_dgemm;

/** OpenBLAS BLAS and LAPACK through JavaCPP, with an explicit thread count. */
final class CpuBackend implements ComputeBackend {
    private final int threads;
    private volatile boolean closed;

    CpuBackend(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("the CPU backend needs >= 1 thread, found " + threads);
        }
        OpenBlas.load();
        this.threads = threads;
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
        return "cpu: OpenBLAS (JavaCPP org.bytedeco:openblas), " + threads + (threads == 1 ? " thread" : " threads");
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
        OpenBlas.run(threads, () -> cblas_dgemm(CblasColMajor, blasOp(opA), blasOp(opB), m, n, k, alpha,
                a.data(), Math.max(1, a.rows()), b.data(), Math.max(1, b.rows()), beta, out, m));
        return DenseMatrix.wrap(m, n, out);
    }

    @Override
    public StatisticsAccumulator openStatistics(int d, int m, boolean targetGram) {
        requireOpen();
        return new CpuStatisticsAccumulator(threads, d, m, targetGram);
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
        int[] info = new int[1];
        OpenBlas.run(threads, () -> info[0] = LAPACKE_dposv(LAPACK_COL_MAJOR, (byte) 'U', n, k, factor, n,
                solution, n));
        if (info[0] > 0) {
            throw new NotPositiveDefiniteException(n, info[0], ridge);
        }
        if (info[0] < 0) {
            throw new BackendException("LAPACKE_dposv rejected its argument " + (-info[0]) + " for S " + s.shape()
                    + ", B " + b.shape() + "; expected valid arguments (this is a bug in onnx-fuse)");
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
