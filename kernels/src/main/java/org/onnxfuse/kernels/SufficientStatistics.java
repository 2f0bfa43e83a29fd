package org.onnxfuse.kernels;

import java.util.Objects;

/**
 * The sums over samples that least squares needs (docs/ALGORITHM.md section 3), in float64:
 * {@code xx} = X<sup>T</sup>X (d x d, symmetric, both triangles filled), {@code xa} =
 * X<sup>T</sup>A (d x m) and {@code aa} = A<sup>T</sup>A (m x m, symmetric), over {@code rows}
 * samples.
 */
public record SufficientStatistics(long rows, DenseMatrix xx, DenseMatrix xa, DenseMatrix aa) {
    public SufficientStatistics {
        Objects.requireNonNull(xx, "xx");
        Objects.requireNonNull(xa, "xa");
        Objects.requireNonNull(aa, "aa");
        if (rows < 0) {
            throw new IllegalArgumentException("rows must be >= 0, found " + rows);
        }
        if (!xx.isSquare() || !aa.isSquare() || xa.rows() != xx.rows() || xa.cols() != aa.rows()) {
            throw new IllegalArgumentException("expected xx d x d, xa d x m, aa m x m; found xx "
                    + xx.shape() + ", xa " + xa.shape() + ", aa " + aa.shape());
        }
    }

    /** d: the number of input features (columns of X). */
    public int inputDim() {
        return xx.rows();
    }

    /** m: the number of targets (columns of A). */
    public int targetDim() {
        return aa.rows();
    }
}
