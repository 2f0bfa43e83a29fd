package org.onnxfuse.kernels;

import java.util.Objects;

/**
 * The sums over samples that least squares needs (docs/ALGORITHM.md section 3), in float64:
 * {@code xx} = X<sup>T</sup>X (d x d, symmetric, both triangles filled), {@code xa} =
 * X<sup>T</sup>A (d x m) and {@code aa} = A<sup>T</sup>A (m x m, symmetric), over {@code rows}
 * samples. {@code aaDiagonal} (m x 1) is the diagonal of A<sup>T</sup>A, the targets' squared
 * norms; an accumulator opened without the target Gram keeps only it, and then {@code aa} is
 * null (the factor form of the grouping, where an m x m matrix would not fit).
 */
public record SufficientStatistics(long rows, DenseMatrix xx, DenseMatrix xa, DenseMatrix aa, DenseMatrix aaDiagonal) {
    public SufficientStatistics {
        Objects.requireNonNull(xx, "xx");
        Objects.requireNonNull(xa, "xa");
        if (aa == null && aaDiagonal == null) {
            throw new NullPointerException("aa and aaDiagonal are both null");
        }
        if (rows < 0) {
            throw new IllegalArgumentException("rows must be >= 0, found " + rows);
        }
        int m = xa.cols();
        if (!xx.isSquare() || xa.rows() != xx.rows() || (aa != null && (!aa.isSquare() || aa.rows() != m))
                || (aaDiagonal != null && (aaDiagonal.rows() != m || aaDiagonal.cols() != 1))) {
            throw new IllegalArgumentException("expected xx d x d, xa d x m, aa m x m, aaDiagonal m x 1; found xx "
                    + xx.shape() + ", xa " + xa.shape() + ", aa " + (aa == null ? "none" : aa.shape())
                    + ", aaDiagonal " + (aaDiagonal == null ? "none" : aaDiagonal.shape()));
        }
        if (aaDiagonal == null) {
            double[] diagonal = new double[m];
            for (int i = 0; i < m; i++) {
                diagonal[i] = aa.get(i, i);
            }
            aaDiagonal = DenseMatrix.wrap(m, 1, diagonal);
        }
    }

    /** Statistics with the full target Gram; its diagonal is read from it. */
    public SufficientStatistics(long rows, DenseMatrix xx, DenseMatrix xa, DenseMatrix aa) {
        this(rows, xx, xa, Objects.requireNonNull(aa, "aa"), null);
    }

    /** d: the number of input features (columns of X). */
    public int inputDim() {
        return xx.rows();
    }

    /** m: the number of targets (columns of A). */
    public int targetDim() {
        return xa.cols();
    }

    /** Whether the full A<sup>T</sup>A was kept ({@link #aa()} is not null). */
    public boolean hasTargetGram() {
        return aa != null;
    }

    /** (A<sup>T</sup>A)_ii = ||a_i||<sup>2</sup>. */
    public double targetSquaredNorm(int i) {
        return aaDiagonal.get(i, 0);
    }
}
