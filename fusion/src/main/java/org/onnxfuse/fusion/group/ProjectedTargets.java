package org.onnxfuse.fusion.group;

import java.util.Objects;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;
import org.onnxfuse.kernels.Transpose;

/**
 * One level's ridge least-squares fit and everything the distances of ALGORITHM.md section 3 need,
 * computed once from the sufficient statistics (O(d<sup>3</sup> + d<sup>2</sup>m + dm<sup>2</sup>)),
 * after which no distance depends on d or on the number of samples.
 *
 * <p>With lambda = ridgeFactor * trace(S_xx) / d:
 * <ul>
 *   <li>W = (S_xx + lambda I)<sup>-1</sup> S_xa (d x m): w_i is neuron i's least-squares weights.</li>
 *   <li>Q = S_xa<sup>T</sup> W (m x m): Q_ij = (X w_i)<sup>T</sup> a_j, the cross term.</li>
 *   <li>G = W<sup>T</sup> S_xx W (m x m): G_ij = (X w_i)<sup>T</sup> (X w_j), the Gram matrix of the
 *       projected targets.</li>
 * </ul>
 * For a centroid w = W u, ||X w - a_i||<sup>2</sup> = u<sup>T</sup>G u - 2 (Q u)_i + (S_aa)_ii.
 * ALGORITHM.md writes Q for both terms; that is exact only without a ridge (then G = Q). Using G
 * for the quadratic term keeps the formula exact for the ridge solution we actually write back,
 * at the price of one more m x m matrix.
 *
 * <p>Both matrices are kept stacked as one 2m x m matrix [Q; G], so that one gemm with the m x k
 * member-weight matrix U gives Q U and G U together (one product per K-means iteration).
 */
public final class ProjectedTargets {
    private final int inputDim;
    private final int neurons;
    private final double ridge;
    private final DenseMatrix weights;
    private final DenseMatrix crossAndGram;
    private final double[] targetSquaredNorms;

    private ProjectedTargets(int inputDim, int neurons, double ridge, DenseMatrix weights, DenseMatrix crossAndGram,
                             double[] targetSquaredNorms) {
        this.inputDim = inputDim;
        this.neurons = neurons;
        this.ridge = ridge;
        this.weights = weights;
        this.crossAndGram = crossAndGram;
        this.targetSquaredNorms = targetSquaredNorms;
    }

    /**
     * Solves the level's least squares on {@code backend}.
     *
     * @param ridgeFactor lambda = ridgeFactor * trace(S_xx) / d, see {@link GroupingConfig#ridgeFactor()}
     * @throws org.onnxfuse.kernels.NotPositiveDefiniteException if S_xx + lambda I is singular (e.g.
     *     ridgeFactor 0 with fewer samples than features)
     */
    public static ProjectedTargets fit(ComputeBackend backend, SufficientStatistics stats, double ridgeFactor) {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(stats, "stats");
        if (!(ridgeFactor >= 0) || Double.isInfinite(ridgeFactor)) {
            throw new IllegalArgumentException("ridgeFactor must be finite and >= 0, found " + ridgeFactor);
        }
        int d = stats.inputDim();
        int m = stats.targetDim();
        if (d == 0 || m == 0) {
            throw new IllegalArgumentException("expected statistics with d >= 1 features and m >= 1 targets, found d = "
                    + d + ", m = " + m);
        }
        DenseMatrix sxx = stats.xx();
        double trace = 0.0;
        for (int i = 0; i < d; i++) {
            trace += sxx.get(i, i);
        }
        double ridge = ridgeFactor * trace / d;
        DenseMatrix w = backend.choleskySolve(sxx, stats.xa(), ridge);
        DenseMatrix cross = backend.gemm(Transpose.YES, Transpose.NO, 1.0, stats.xa(), w, 0.0, null);
        DenseMatrix sxxW = backend.multiply(sxx, w);
        DenseMatrix gram = backend.gemm(Transpose.YES, Transpose.NO, 1.0, w, sxxW, 0.0, null);

        // Both are symmetric in exact arithmetic; averaging with the transpose removes the rounding
        // asymmetry so that twin neurons see bitwise-identical distances.
        double[] q = cross.toColumnMajor();
        double[] g = gram.toColumnMajor();
        double[] stacked = new double[2 * m * m];
        int rows = 2 * m;
        for (int j = 0; j < m; j++) {
            for (int i = 0; i < m; i++) {
                stacked[i + j * rows] = 0.5 * (q[i + j * m] + q[j + i * m]);
                stacked[m + i + j * rows] = 0.5 * (g[i + j * m] + g[j + i * m]);
            }
        }
        double[] norms = new double[m];
        for (int i = 0; i < m; i++) {
            norms[i] = stats.aa().get(i, i);
        }
        return new ProjectedTargets(d, m, ridge, w, new DenseMatrix(rows, m, stacked), norms);
    }

    /** d: rows of W (features of X, including a ones column when the op has a bias). */
    public int inputDim() {
        return inputDim;
    }

    /** m: all parents' neurons. */
    public int neurons() {
        return neurons;
    }

    /** The absolute ridge lambda that was added to the diagonal of S_xx. */
    public double ridge() {
        return ridge;
    }

    /** W (d x m): column i is neuron i's least-squares weights. */
    public DenseMatrix weights() {
        return weights;
    }

    /** Q_ij = (X w_i)<sup>T</sup> a_j. */
    public double cross(int i, int j) {
        return crossAndGram.get(i, j);
    }

    /** G_ij = (X w_i)<sup>T</sup> (X w_j). */
    public double gram(int i, int j) {
        return crossAndGram.get(neurons + i, j);
    }

    /** (S_aa)_ii = ||a_i||<sup>2</sup>. */
    public double targetSquaredNorm(int i) {
        return targetSquaredNorms[i];
    }

    /** ||X w_i - a_i||: how well neuron i alone is fitted (its distance to a group of itself). */
    public double residual(int i) {
        return Math.sqrt(clamp(gram(i, i) - 2.0 * cross(i, i) + targetSquaredNorms[i]));
    }

    /**
     * ||X W u - a_target||<sup>2</sup> for a centroid with the given members and weights (u is zero
     * elsewhere), clamped at 0 against rounding. O(|members|<sup>2</sup>).
     */
    public double squaredDistance(int[] members, double[] memberWeights, int target) {
        if (members.length != memberWeights.length) {
            throw new IllegalArgumentException(members.length + " members but " + memberWeights.length + " weights");
        }
        double quadratic = 0.0;
        double crossTerm = 0.0;
        for (int a = 0; a < members.length; a++) {
            double row = 0.0;
            for (int b = 0; b < members.length; b++) {
                row += gram(members[a], members[b]) * memberWeights[b];
            }
            quadratic += memberWeights[a] * row;
            crossTerm += memberWeights[a] * cross(members[a], target);
        }
        return clamp(quadratic - 2.0 * crossTerm + targetSquaredNorms[target]);
    }

    /** ||X W u - a_target||, see {@link #squaredDistance(int[], double[], int)}. */
    public double distance(int[] members, double[] memberWeights, int target) {
        return Math.sqrt(squaredDistance(members, memberWeights, target));
    }

    /** [Q; G] (2m x m), for one gemm per K-means iteration. */
    DenseMatrix crossAndGram() {
        return crossAndGram;
    }

    /** W U: the centroid weights of the groups whose member weights are the columns of U (m x k). */
    public DenseMatrix centroidWeights(ComputeBackend backend, DenseMatrix memberWeights) {
        if (memberWeights.rows() != neurons) {
            throw new IllegalArgumentException("expected member weights with " + neurons + " rows (one per neuron), found "
                    + memberWeights.shape());
        }
        return backend.multiply(weights, memberWeights);
    }

    /** Negative rounding residue becomes 0; NaN stays NaN so that bad statistics are not hidden. */
    static double clamp(double squared) {
        return squared < 0.0 ? 0.0 : squared;
    }
}
