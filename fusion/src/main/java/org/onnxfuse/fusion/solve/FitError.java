package org.onnxfuse.fusion.solve;

import org.onnxfuse.fusion.group.ProjectedTargets;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;

/**
 * The fit error of fused weights F (d x k) against the fused target T = A U (U m x k), from the
 * sufficient statistics alone: ||X F - A U||<sup>2</sup> = tr(F<sup>T</sup> S_xx F) - 2 tr(F<sup>T</sup>
 * S_xa U) + tr(U<sup>T</sup> S_aa U).
 */
public final class FitError {
    private FitError() {
    }

    /**
     * ||X F - A U|| / ||A U||; 0 when the target is 0 and fitted exactly. Statistics without the
     * full S_aa (factor form) do not know ||A u_g||, so there U must hold convex weights (as a
     * grouping's do) and the error is measured against each member's own target instead:
     * sqrt(sum_g sum_i u_ig ||X f_g - a_i||<sup>2</sup> / sum_g sum_i u_ig ||a_i||<sup>2</sup>),
     * which exceeds the exact ratio's numerator by the members' spread around their mean target.
     */
    public static double relativeResidual(ComputeBackend backend, SufficientStatistics s, DenseMatrix f, DenseMatrix u) {
        return relativeResidual(s, traceOfProduct(f, backend.multiply(s.xx(), f)), f, u);
    }

    /**
     * As {@link #relativeResidual(ComputeBackend, SufficientStatistics, DenseMatrix, DenseMatrix)}
     * with tr(F<sup>T</sup> S_xx F) given: for F = W U of a least-squares fit it comes without
     * S_xx ({@code ProjectedTargets.centroidSquaredNorms}), and the rest costs O(d nnz(U)).
     */
    public static double relativeResidual(SufficientStatistics s, double fxf, DenseMatrix f, DenseMatrix u) {
        double fxu = crossTrace(s.xa(), f, u);
        double uau = s.hasTargetGram() ? ProjectedTargets.groupQuadratics(u, s.aa()::get) : memberTargets(s, u);
        double residual = Math.max(fxf - 2 * fxu + uau, 0);
        if (uau <= 0) {
            return residual == 0 ? 0 : Double.POSITIVE_INFINITY;
        }
        return Math.sqrt(residual / uau);
    }

    /**
     * tr(F<sup>T</sup> S_xa U) = sum over the non-zeros u_ig of u_ig (f_g . s_i), s_i column i of
     * S_xa: O(d nnz(U)) for a grouping's U (one non-zero per neuron), where S_xa U would be O(d m k).
     */
    private static double crossTrace(DenseMatrix sxa, DenseMatrix f, DenseMatrix u) {
        double total = 0;
        for (int g = 0; g < u.cols(); g++) {
            double[] fg = null;
            for (int i = 0; i < u.rows(); i++) {
                double uig = u.get(i, g);
                if (uig == 0) {
                    continue;
                }
                if (fg == null) {
                    fg = f.column(g);
                }
                double[] si = sxa.column(i);
                double dot = 0;
                for (int p = 0; p < si.length; p++) {
                    dot += fg[p] * si[p];
                }
                total += uig * dot;
            }
        }
        return total;
    }

    /** sum_g sum_i u_ig ||a_i||<sup>2</sup>, from the diagonal of S_aa. */
    private static double memberTargets(SufficientStatistics s, DenseMatrix u) {
        double total = 0;
        for (int g = 0; g < u.cols(); g++) {
            for (int i = 0; i < u.rows(); i++) {
                total += u.get(i, g) * s.targetSquaredNorm(i);
            }
        }
        return total;
    }

    /** tr(A<sup>T</sup> B) for equally shaped A and B. */
    private static double traceOfProduct(DenseMatrix a, DenseMatrix b) {
        double[] x = a.toColumnMajor();
        double[] y = b.toColumnMajor();
        double t = 0;
        for (int i = 0; i < x.length; i++) {
            t += x[i] * y[i];
        }
        return t;
    }
}
