package org.onnxfuse.kernels;

import java.util.ArrayList;
import java.util.List;

/**
 * Dense float64 numerics on one device. Opened by {@link Backends#open(String, int)}; owns native
 * resources (OpenBLAS thread settings are process-wide and applied before each call; a CUDA
 * context and device memory) until {@link #close()}. A backend may be used from several threads,
 * but its calls are serialised; every {@link StatisticsAccumulator} it opens must be closed
 * before the backend is.
 *
 * <p>Backends agree within floating-point rounding on the same inputs: both compute the
 * statistics with exact float32 x float32 products summed in float64. K-means in Gram form and the
 * optimiser steps ({@link OptimizerSteps}, host loops unless the backend overrides them) give the
 * same bits on every backend.
 */
public interface ComputeBackend extends OptimizerSteps, AutoCloseable {

    /** "cpu" or "cuda". */
    String name();

    /** Host threads used by BLAS and LAPACK. */
    int threads();

    /** One line for logs and {@code --diagnose}: library, device, threads. */
    String description();

    /**
     * C' = alpha op(A) op(B) + beta C in float64, returned as a new matrix; {@code c} may be null
     * when {@code beta == 0} (then it is not read, as in BLAS).
     *
     * @throws IllegalArgumentException if the shapes do not fit
     */
    DenseMatrix gemm(Transpose opA, Transpose opB, double alpha, DenseMatrix a, DenseMatrix b,
                     double beta, DenseMatrix c);

    /** A B. */
    default DenseMatrix multiply(DenseMatrix a, DenseMatrix b) {
        return gemm(Transpose.NO, Transpose.NO, 1.0, a, b, 0.0, null);
    }

    /**
     * A U where U has few non-zeros, such as a grouping's member weights (one or two per row): on
     * the heap, reading U's non-zeros only ({@link DenseMatrix#timesSparse}), while U has at most
     * two per row and column on average; otherwise {@link #multiply}. A 4096 x 2048 U of member
     * weights makes the product ~2000x fewer flops than the dense one.
     */
    default DenseMatrix multiplySparse(DenseMatrix a, DenseMatrix u) {
        return u.nonZeros() <= 2L * ((long) u.rows() + u.cols()) ? a.timesSparse(u) : multiply(a, u);
    }

    /**
     * op(A) op(B) (alpha 1, no C) as a column-major array that the caller owns: the product's own
     * storage, not a copy of it ({@link DenseMatrix#toColumnMajor} would hold the product twice).
     */
    default double[] productColumns(Transpose opA, Transpose opB, DenseMatrix a, DenseMatrix b) {
        return gemm(opA, opB, 1.0, a, b, 0.0, null).data();
    }

    /**
     * op(A) B written into {@code out} (column-major, op(A)'s rows by B's columns, from index 0), made
     * by blocks of {@code blockColumns} of B's columns: the backend holds A once and one block of B
     * and of the product at a time, so a product too large to hold twice (the cross form's m x m C)
     * is never copied whole. Each block is the product {@link #productColumns} would give for those
     * columns (the same bits). This default calls it block by block.
     *
     * @throws IllegalArgumentException if the shapes do not fit, {@code out} is shorter than the
     *     product or {@code blockColumns} is below 1
     */
    default void productColumnsInto(Transpose opA, DenseMatrix a, DenseMatrix b, int blockColumns, double[] out) {
        int rows = Shapes.productInto(opA, a, b, blockColumns, out);
        for (int from = 0; from < b.cols(); from += blockColumns) {
            int to = Math.min(b.cols(), from + blockColumns);
            double[] part = productColumns(opA, Transpose.NO, a, b.columns(from, to));
            System.arraycopy(part, 0, out, from * rows, part.length);
        }
    }

    /**
     * G = W<sup>T</sup> S W (m x m, column-major, the caller owns the array) for the W that solved
     * (S + ridge I) W = B + ridge W0 ({@link #choleskySolve(DenseMatrix, DenseMatrix, double,
     * DenseMatrix)}), without S: by those normal equations S W = B + ridge (W0 - W), so
     * G = W<sup>T</sup> (B + ridge (W0 - W)), O(n m<sup>2</sup>) where W<sup>T</sup> (S W) is
     * O(n<sup>2</sup> m + n m<sup>2</sup>), and exact up to the solve's own residual. Only the upper
     * triangle is formed (the CPU backend computes no more; the default forms the whole product
     * and drops the lower half) and mirrored, so G comes out exactly symmetric.
     *
     * @param centre W0 (n x m like W), or null for 0
     * @throws IllegalArgumentException if B or W0 is not shaped like W, or ridge is negative or not finite
     */
    default double[] solutionGram(DenseMatrix w, DenseMatrix b, DenseMatrix centre, double ridge) {
        checkSolutionGram(w, b, centre, ridge);
        double[] d = b.toColumnMajor();
        double[] wd = w.data();
        double[] cd = centre == null ? null : centre.data();
        for (int k = 0; k < d.length; k++) {
            d[k] += ridge * ((cd == null ? 0.0 : cd[k]) - wd[k]);
        }
        double[] g = productColumns(Transpose.YES, Transpose.NO, w, DenseMatrix.wrap(b.rows(), b.cols(), d));
        AbstractStatisticsAccumulator.mirrorUpperToLower(g, w.cols());
        return g;
    }

    /** The argument checks of {@link #solutionGram}. */
    static void checkSolutionGram(DenseMatrix w, DenseMatrix b, DenseMatrix centre, double ridge) {
        if (b.rows() != w.rows() || b.cols() != w.cols()) {
            throw new IllegalArgumentException("solutionGram: expected B shaped like W " + w.shape() + ", found "
                    + b.shape());
        }
        if (centre != null && (centre.rows() != w.rows() || centre.cols() != w.cols())) {
            throw new IllegalArgumentException("solutionGram: expected W0 shaped like W " + w.shape() + ", found "
                    + centre.shape());
        }
        if (!(ridge >= 0) || Double.isInfinite(ridge)) {
            throw new IllegalArgumentException("solutionGram: ridge must be finite and >= 0, found " + ridge);
        }
    }

    /**
     * A streaming accumulator of X<sup>T</sup>X, X<sup>T</sup>A and A<sup>T</sup>A for samples of
     * {@code d} features and {@code m} targets. Close it when done.
     */
    default StatisticsAccumulator openStatistics(int d, int m) {
        return openStatistics(d, m, true);
    }

    /**
     * As {@link #openStatistics(int, int)}; without {@code targetGram} only the diagonal of
     * A<sup>T</sup>A is kept (O(m) instead of O(m<sup>2</sup>) memory and no A<sup>T</sup>A work),
     * and {@link SufficientStatistics#aa()} is null.
     */
    StatisticsAccumulator openStatistics(int d, int m, boolean targetGram);

    /**
     * Whether {@link StatisticsAccumulator#accumulateGathered} unfolds on the device (only the
     * input crosses the bus). Either way callers hand over a convolution's raw input: the CPU
     * accumulator unfolds it a block of rows at a time, never the whole batch's rows at once.
     */
    default boolean gathersRowsOnDevice() {
        return false;
    }

    /**
     * Solves (S + ridge I) W = B for W, with S symmetric positive definite (n x n; only its upper
     * triangle is read) and B n x k, by Cholesky factorisation (LAPACK dposv).
     *
     * @throws NotPositiveDefiniteException if S + ridge I is not positive definite
     * @throws IllegalArgumentException if the shapes do not fit or ridge is negative or not finite
     */
    DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge);

    /**
     * Solves (S + ridge I) W = B + ridge W0, the ridge centred on {@code centre} = W0 (n x k like B;
     * null for 0, then this is {@link #choleskySolve(DenseMatrix, DenseMatrix, double)}). By default
     * the right-hand side is formed on the heap first; the CPU backend forms it in the solve's own
     * native copy of B, so no n x k right-hand side is held besides B, W0 and the solution (the
     * same bits: each element is b + ridge w0 either way).
     *
     * @throws IllegalArgumentException if {@code centre} is not shaped like B
     */
    default DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge, DenseMatrix centre) {
        return choleskySolve(s, centre == null ? b : b.plusScaled(ridge, centre), ridge);
    }

    /**
     * Weighted K-means in Gram form over m neurons (see {@link GramKMeans}): C and G column-major
     * m x m ({@code cross[i + j * m]} = C_ij), t the m targets' squared norms. The CPU keeps the
     * arrays (do not modify them while it is open); CUDA copies them to the device once. Close it
     * when done; results are bit-identical on every backend.
     */
    GramKMeans openGramKMeans(double[] cross, double[] gram, double[] targetSquaredNorms, int m);

    /**
     * Runs independent host tasks (each writes only what no other task reads or writes) on this
     * backend's host threads and waits for all of them; the first failure is rethrown. Since no
     * task sees another's results, what they compute does not depend on the thread count. This
     * default runs them in order on the caller's thread.
     */
    default void runTasks(List<Runnable> tasks) {
        tasks.forEach(Runnable::run);
    }

    /**
     * Solves (S<sub>i</sub> + ridges[i] I) W<sub>i</sub> = B<sub>i</sub> for every system i, each as
     * {@link #choleskySolve} does (this default calls it in order; the CUDA backend solves many small
     * systems of one size in one launch).
     *
     * @return W<sub>i</sub> in the order of the systems
     * @throws NotPositiveDefiniteException for the first system found not positive definite, with its
     *     index ({@link NotPositiveDefiniteException#system()}) in the message
     * @throws IllegalArgumentException if the lists and ridges differ in length, or a system is
     *     invalid for choleskySolve (the message names its index)
     */
    default List<DenseMatrix> choleskySolveAll(List<DenseMatrix> systems, List<DenseMatrix> rightHandSides,
                                               double[] ridges) {
        Shapes.choleskySolveAll(systems, rightHandSides, ridges);
        List<DenseMatrix> solutions = new ArrayList<>(systems.size());
        for (int i = 0; i < systems.size(); i++) {
            try {
                solutions.add(choleskySolve(systems.get(i), rightHandSides.get(i), ridges[i]));
            } catch (NotPositiveDefiniteException e) {
                throw e.inSystem(i, systems.size());
            }
        }
        return solutions;
    }

    /** Releases the backend's resources; idempotent. */
    @Override
    void close();
}
