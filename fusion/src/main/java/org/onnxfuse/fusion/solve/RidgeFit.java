package org.onnxfuse.fusion.solve;

import java.util.Objects;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;
import org.onnxfuse.kernels.Transpose;

/**
 * A level's per-neuron ridge least squares from sufficient statistics, optionally centred on a
 * prior: W = argmin ||X W - A||<sup>2</sup> + lambda ||W - W0||<sup>2</sup>, i.e.
 * (S_xx + lambda I) W = S_xa + lambda W0, with lambda = ridgeFactor * trace(S_xx) / d. Without a
 * prior (W0 = 0) this is the plain ridge of ALGORITHM.md section 3 step 3, which tends to the
 * minimum-norm solution when X is rank deficient. With the parents' own weights as W0, the
 * directions the calibration data never excites (image pixels that are constant in every
 * calibration sample, dead units) keep the parents' weights instead of being zeroed, so a
 * parent fused with a copy of itself is reproduced on data outside the calibration set too.
 *
 * <p>Also keeps the m x m matrices every grouping distance needs: Q = S_xa<sup>T</sup> W (Q_ij =
 * (X w_i)<sup>T</sup> a_j) and G = W<sup>T</sup> S_xx W, so that for a centroid W u,
 * ||X W u - a_t||<sup>2</sup> = u<sup>T</sup> G u - 2 (Q u)_t + (S_aa)_tt for any W.
 */
public final class RidgeFit {
    private final int neurons;
    private final double ridge;
    private final DenseMatrix weights;
    private final double[] cross;
    private final double[] gram;
    private final double[] targetNorms;

    private RidgeFit(int neurons, double ridge, DenseMatrix weights, double[] cross, double[] gram, double[] norms) {
        this.neurons = neurons;
        this.ridge = ridge;
        this.weights = weights;
        this.cross = cross;
        this.gram = gram;
        this.targetNorms = norms;
    }

    /**
     * @param prior d x m weights to shrink towards, or null for the plain ridge
     */
    public static RidgeFit fit(ComputeBackend backend, SufficientStatistics s, double ridgeFactor, DenseMatrix prior) {
        Objects.requireNonNull(backend, "backend");
        int d = s.inputDim();
        int m = s.targetDim();
        if (prior != null && (prior.rows() != d || prior.cols() != m)) {
            throw new IllegalArgumentException("prior " + prior.shape() + " does not match statistics with d = " + d
                    + ", m = " + m);
        }
        double trace = 0;
        for (int i = 0; i < d; i++) {
            trace += s.xx().get(i, i);
        }
        double ridge = ridgeFactor * trace / Math.max(d, 1);
        DenseMatrix rhs = s.xa();
        if (prior != null && ridge > 0) {
            double[] b = s.xa().toColumnMajor();
            double[] p = prior.toColumnMajor();
            for (int i = 0; i < b.length; i++) {
                b[i] += ridge * p[i];
            }
            rhs = new DenseMatrix(d, m, b);
        }
        DenseMatrix w = backend.choleskySolve(s.xx(), rhs, ridge);
        DenseMatrix q = backend.gemm(Transpose.YES, Transpose.NO, 1.0, s.xa(), w, 0.0, null);
        DenseMatrix g = backend.gemm(Transpose.YES, Transpose.NO, 1.0, w, backend.multiply(s.xx(), w), 0.0, null);
        double[] qa = q.toColumnMajor();
        double[] ga = g.toColumnMajor();
        double[] cross = new double[m * m];
        double[] gram = new double[m * m];
        // row-major copies, symmetrised so that twin neurons see bitwise-equal distances
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < m; j++) {
                cross[i * m + j] = 0.5 * (qa[i + j * m] + qa[j + i * m]);
                gram[i * m + j] = 0.5 * (ga[i + j * m] + ga[j + i * m]);
            }
        }
        double[] norms = new double[m];
        for (int i = 0; i < m; i++) {
            norms[i] = s.aa().get(i, i);
        }
        return new RidgeFit(m, ridge, w, cross, gram, norms);
    }

    public int neurons() {
        return neurons;
    }

    /** The absolute lambda added to the diagonal. */
    public double ridge() {
        return ridge;
    }

    /** W (d x m). */
    public DenseMatrix weights() {
        return weights;
    }

    /** Q_ij. */
    public double cross(int i, int j) {
        return cross[i * neurons + j];
    }

    /** G_ij. */
    public double gram(int i, int j) {
        return gram[i * neurons + j];
    }

    /** (S_aa)_ii. */
    public double targetSquaredNorm(int i) {
        return targetNorms[i];
    }

    /** W U for member weights U (m x k). */
    public DenseMatrix centroidWeights(ComputeBackend backend, DenseMatrix memberWeights) {
        return backend.multiply(weights, memberWeights);
    }
}
