package org.onnxfuse.fusion.group;

import java.util.Objects;
import org.onnxfuse.fusion.collect.LevelRows;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;
import org.onnxfuse.kernels.Transpose;

/**
 * One level's ridge least-squares fit and everything the distances of ALGORITHM.md section 3 need,
 * computed once from the sufficient statistics (O(d<sup>3</sup> + d<sup>2</sup>m + dm<sup>2</sup>)),
 * after which no distance depends on d or on the number of samples. This is the project's one
 * least-squares path.
 *
 * <p>With lambda = ridgeFactor * trace(S_xx) / d and an optional prior W0 (d x m, default 0):
 * <ul>
 *   <li>W = argmin ||X W - A||<sup>2</sup> + lambda ||W - W0||<sup>2</sup>, i.e.
 *       (S_xx + lambda I) W = S_xa + lambda W0 (d x m): w_i is neuron i's weights. Without a prior
 *       this is the plain ridge (tending to the minimum-norm solution, like the reference's pinv,
 *       when X is rank deficient). With the parents' own weights as W0, directions the calibration
 *       data never excites (pixels that are constant in every calibration image, dead units) keep
 *       the parents' weights instead of being zeroed: a parent fused with a permuted copy of
 *       itself is then reproduced on data outside the calibration set too.</li>
 *   <li>C = S_xa<sup>T</sup> W (m x m): C_ij = a_i<sup>T</sup> (X w_j), the cross term
 *       ({@link #cross(int, int)} is C<sup>T</sup>). Symmetric only without a prior.</li>
 *   <li>G = W<sup>T</sup> S_xx W (m x m): G_ij = (X w_i)<sup>T</sup> (X w_j), the Gram matrix of the
 *       projected targets.</li>
 * </ul>
 * For a centroid w = W u, ||X w - a_i||<sup>2</sup> = u<sup>T</sup>G u - 2 (C u)_i + (S_aa)_ii, exact
 * for whatever W was solved (these are identities in W; nothing assumes W is the plain solution).
 * ALGORITHM.md writes Q for both terms; that is exact only without ridge and prior (then G = C).
 *
 * <p>Both are kept as plain column-major arrays: column j of C is a<sup>T</sup> X w_j for every
 * target, the contiguous run K-means adds to a centroid's cross terms (see {@link KMeansGrouping}).
 *
 * <p><b>Factor form</b> ({@link GroupingForm#FACTOR}): C and G are never built. With v = W u (d x 1)
 * the same distance is v<sup>T</sup>S_xx v - 2 (S_xa<sup>T</sup> v)_i + (S_aa)_ii, so only W, S_xx,
 * S_xa, the diagonal of S_aa and that of G are kept (O(d m + d<sup>2</sup>)), and {@link FactorKMeans}
 * forms the products per iteration; {@link #cross} and {@link #gram} then compute single entries
 * (O(d) and O(d<sup>2</sup>)). The <b>cross form</b> ({@link GroupingForm#CROSS}) is the factor form
 * with C kept as well ({@link Factors#crossTable}), from which {@link FactorKMeans} reads the cross
 * terms instead of forming them.
 */
public final class ProjectedTargets {
    private final int inputDim;
    private final int neurons;
    private final double ridge;
    private final DenseMatrix weights;
    /** C, column-major m x m: cross[i + j * m] = a_i^T X w_j; null in factor form. */
    private final double[] cross;
    /** G, column-major m x m (symmetric); null in factor form. */
    private final double[] gram;
    private final double[] targetSquaredNorms;
    /** The factor form's S_xx, S_xa and diag(G); null in Gram form. */
    private final Factors factors;

    /**
     * What the factor form computes its distances from: S_xx, S_xa, diag(G), and the ridge's
     * prior W0 (null without one) and lambda, with which S_xx w_i = s_i + lambda (w0_i - w_i); in
     * the cross form also C = S_xa<sup>T</sup> W (column-major m x m, as the Gram form's; null in
     * the factor form).
     */
    record Factors(DenseMatrix sxx, DenseMatrix sxa, double[] projectedSquaredNorms, DenseMatrix prior,
                   double ridge, double[] crossTable) {
    }

    private ProjectedTargets(int inputDim, int neurons, double ridge, DenseMatrix weights, double[] cross,
                             double[] gram, double[] targetSquaredNorms, Factors factors) {
        this.inputDim = inputDim;
        this.neurons = neurons;
        this.ridge = ridge;
        this.weights = weights;
        this.cross = cross;
        this.gram = gram;
        this.targetSquaredNorms = targetSquaredNorms;
        this.factors = factors;
    }

    /** The plain ridge: {@link #fit(ComputeBackend, SufficientStatistics, double, DenseMatrix)} without a prior. */
    public static ProjectedTargets fit(ComputeBackend backend, SufficientStatistics stats, double ridgeFactor) {
        return fit(backend, stats, ridgeFactor, null);
    }

    /**
     * Solves (S_xx + lambda I) W = S_xa + lambda W0 on {@code backend}.
     *
     * @param ridgeFactor lambda = ridgeFactor * trace(S_xx) / d, see {@link GroupingConfig#ridgeFactor()}
     * @param prior W0 (d x m) to shrink towards, or null for 0 (the plain ridge); no effect when
     *     lambda is 0
     * @throws org.onnxfuse.kernels.NotPositiveDefiniteException if S_xx + lambda I is singular (e.g.
     *     ridgeFactor 0 with fewer samples than features)
     */
    public static ProjectedTargets fit(ComputeBackend backend, SufficientStatistics stats, double ridgeFactor,
                                       DenseMatrix prior) {
        return fit(backend, stats, ridgeFactor, prior, GroupingForm.GRAM);
    }

    /**
     * As {@link #fit(ComputeBackend, SufficientStatistics, double, DenseMatrix)}, in {@code form}
     * (GRAM or FACTOR; AUTO must be resolved first, {@link GroupingForm#resolve}). Either form reads
     * only the diagonal of S_aa, so statistics that kept only the diagonal do.
     */
    public static ProjectedTargets fit(ComputeBackend backend, SufficientStatistics stats, double ridgeFactor,
                                       DenseMatrix prior, GroupingForm form) {
        return fit(backend, stats, ridgeFactor, prior, form, null);
    }

    /**
     * As above; with the level's {@code rows} (X and A as the statistics were summed from them;
     * null: none), C and G are formed in row space, C = A<sup>T</sup> (X W) and G = (X W)<sup>T</sup>
     * (X W): O(n d m + n m<sup>2</sup>) instead of O(d m<sup>2</sup>), for levels with n &lt; d rows
     * ({@link #rowFormFits}). The same matrices in exact arithmetic (S_xx = X<sup>T</sup>X and
     * S_xa = X<sup>T</sup>A), rounded otherwise.
     */
    public static ProjectedTargets fit(ComputeBackend backend, SufficientStatistics stats, double ridgeFactor,
                                       DenseMatrix prior, GroupingForm form, LevelRows rows) {
        Objects.requireNonNull(form, "form");
        if (form == GroupingForm.AUTO) {
            throw new IllegalArgumentException("resolve the grouping form before fitting (GroupingForm.resolve)");
        }
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
        if (prior != null && (prior.rows() != d || prior.cols() != m)) {
            throw new IllegalArgumentException("expected a prior of shape " + d + " x " + m + " (like S_xa), found "
                    + prior.shape());
        }
        DenseMatrix sxx = stats.xx();
        double trace = 0.0;
        for (int i = 0; i < d; i++) {
            trace += sxx.get(i, i);
        }
        double ridge = ridgeFactor * trace / d;
        boolean centred = prior != null && ridge > 0;
        // rows that are not those of the statistics (none kept: a level whose rows came gathered) are not used
        boolean rowSpace = rows != null && form != GroupingForm.FACTOR && rows.rows() > 0
                && rows.rows() == stats.rows() && rows.inputDim() == d && rows.targetDim() == m;
        DenseMatrix x = rowSpace ? rows.inputs() : null;
        DenseMatrix a = rowSpace ? rows.targets() : null;
        // the right-hand side S_xa + lambda W0 is formed in the solve's own copy of S_xa, and the
        // ridge added to its own copy of S_xx: the heap holds W besides the statistics and W0
        RowSolution solved = rowSpace && ridge > 0 ? rowSpaceSolve(backend, x, a, ridge, centred ? prior : null)
                : null;
        DenseMatrix w = solved != null ? solved.weights()
                : backend.choleskySolve(sxx, stats.xa(), ridge, centred ? prior : null);
        double[] norms = new double[m];
        for (int i = 0; i < m; i++) {
            norms[i] = stats.targetSquaredNorm(i);
        }
        DenseMatrix projected = solved != null ? solved.projected() : rowSpace ? backend.multiply(x, w) : null;
        solved = null;
        x = null;
        DenseMatrix left = projected == null ? stats.xa() : a;
        DenseMatrix right = projected == null ? w : projected;
        if (form.factored()) {
            double[] crossTable = form == GroupingForm.CROSS
                    ? crossTable(backend, left, right, !centred, crossTableBlock(m)) : null;
            return new ProjectedTargets(d, m, ridge, w, null, null, norms,
                    new Factors(sxx, stats.xa(), projectedSquaredNorms(stats.xa(), centred ? prior : null, ridge, w),
                            centred ? prior : null, ridge, crossTable));
        }
        // the products' own arrays (no copies): two m x m arrays live at the end, and no d x m
        // temporary. G = W^T S_xx W from the normal equations, S_xx W = S_xa + lambda (W0 - W):
        // O(d m^2) for its upper triangle instead of O(d^2 m + d m^2), the same number up to the
        // solve's residual, as the factor form's diag(G); it comes out exactly symmetric.
        double[] c = backend.productColumns(Transpose.YES, Transpose.NO, left, right);
        double[] gs;
        if (projected != null) {
            gs = backend.productColumns(Transpose.YES, Transpose.NO, projected, projected);
            symmetriseInPlace(gs, m);
        } else {
            gs = backend.solutionGram(w, stats.xa(), centred ? prior : null, ridge);
        }
        // C is symmetric without a prior; averaging with the transpose removes the rounding
        // asymmetry so that twin neurons see bitwise-identical distances. With a prior C is not
        // symmetric in exact arithmetic and is kept as computed.
        if (!centred) {
            symmetriseInPlace(c, m);
        }
        return new ProjectedTargets(d, m, ridge, w, c, gs, norms, null);
    }

    /**
     * The ridge solution from the level's n rows when n is below d (the row form): with K = X
     * X<sup>T</sup> + lambda I (n x n), W = W0 + X<sup>T</sup> K<sup>-1</sup> (A - X W0), the same W
     * as (X<sup>T</sup>X + lambda I) W = X<sup>T</sup>A + lambda W0 (multiply out: X<sup>T</sup>X W0 +
     * lambda W0 + X<sup>T</sup>(A - X W0)), in O(n d m + n<sup>2</sup> d + n<sup>2</sup> m) instead of
     * the d x d factorisation and its O(d<sup>2</sup> m) solve; W0 null for 0. lambda must be
     * positive: K is then positive definite whatever the rows. With Z = K<sup>-1</sup> (A - X W0),
     * X X<sup>T</sup> Z = (A - X W0) - lambda Z, so the projection X W = X W0 + X X<sup>T</sup> Z =
     * A - lambda Z comes without another n x d x m product.
     */
    static RowSolution rowSpaceSolve(ComputeBackend backend, DenseMatrix x, DenseMatrix a, double ridge,
                                     DenseMatrix prior) {
        int n = x.rows();
        int d = x.cols();
        int m = a.cols();
        DenseMatrix residual = a;
        if (prior != null) {
            residual = a.plusScaled(-1.0, backend.multiply(x, prior));
        }
        DenseMatrix gram = DenseMatrix.handedOver(n, n, backend.productColumns(Transpose.NO, Transpose.YES, x, x));
        DenseMatrix z = backend.choleskySolve(gram, residual, ridge);
        double[] w = backend.productColumns(Transpose.YES, Transpose.NO, x, z);
        if (prior != null) {
            for (int j = 0; j < m; j++) {
                prior.addScaledColumn(j, 1.0, w, j * d);
            }
        }
        return new RowSolution(DenseMatrix.handedOver(d, m, w), a.plusScaled(-ridge, z));
    }

    /** W (d x m) solved in row space, and the projection X W (n x m). */
    record RowSolution(DenseMatrix weights, DenseMatrix projected) {
    }

    /**
     * C = L<sup>T</sup> R for the cross form, with L = S_xa and R = W, or in row space L = A and
     * R = X W: made by blocks of {@code columns} of R's columns so that the backend's copy of each
     * product is one block (about 128 MB with {@link #crossTableBlock}), not a second m x m matrix;
     * symmetrised as in the Gram form when {@code symmetric} (no prior).
     */
    static double[] crossTable(ComputeBackend backend, DenseMatrix left, DenseMatrix right, boolean symmetric,
                               int columns) {
        int m = right.cols();
        double[] c = new double[Math.multiplyExact(m, m)];
        backend.productColumnsInto(Transpose.YES, left, right, columns, c);
        if (symmetric) {
            symmetriseInPlace(c, m);
        }
        return c;
    }

    /**
     * Whether a level's products are formed from its n rows ({@link #fit} with rows): when they are
     * at most half its d inputs, so that row space saves at least half the work of C (and of G), and
     * the rows (float32 as kept, float64 while used), the row-space solve's n x m and n x n
     * products ({@link #rowSpaceSolve}) and X W take at most a sixteenth of the heap.
     * Only rows that come unfolded are kept: not a Conv level's.
     */
    public static boolean rowFormFits(long rows, long inputs, long neurons, boolean conv, long maxHeapBytes) {
        return !conv && rows >= 1 && 2 * rows <= inputs && rowFormBytes(rows, inputs, neurons) <= maxHeapBytes / 16;
    }

    /**
     * The row form's heap: the kept rows (float32), their float64 copies, and at most three more n x
     * m products and K (n x n) while W is solved (X W0, A - X W0 and K<sup>-1</sup> (A - X W0)),
     * then X W.
     */
    public static long rowFormBytes(long rows, long inputs, long neurons) {
        return 4 * rows * (inputs + neurons) + 8 * rows * (inputs + 4 * neurons + rows);
    }

    /** Columns of C per product in {@link #crossTable}: about 16 M values, a multiple of 128, at least 128. */
    public static int crossTableBlock(int m) {
        return Math.min(m, Math.max(128, ((1 << 24) / Math.max(1, m)) / 128 * 128));
    }

    /** a = (a + a^T) / 2 for a column-major n x n array; both entries of a pair get the same value. */
    private static void symmetriseInPlace(double[] a, int n) {
        for (int j = 0; j < n; j++) {
            for (int i = j + 1; i < n; i++) {
                double mean = 0.5 * (a[i + j * n] + a[j + i * n]);
                a[i + j * n] = mean;
                a[j + i * n] = mean;
            }
        }
    }

    /** Neurons per block of the factor form's products: a d x block slice of W or S_xa stays near 32 MB. */
    static int neuronBlock(int d, int m) {
        return Math.max(1, Math.min(m, (1 << 22) / Math.max(1, d)));
    }

    /**
     * diag(G) = w_i<sup>T</sup> S_xx w_i for every neuron in O(d m), from the normal equations
     * instead of a d x d x m product: S_xx w_i = s_i + lambda (w0_i - w_i) with s_i neuron i's
     * column of S_xa (the solve's own rounding aside, the same number).
     */
    private static double[] projectedSquaredNorms(DenseMatrix sxa, DenseMatrix prior, double ridge, DenseMatrix w) {
        int d = w.rows();
        int m = w.cols();
        double[] out = new double[m];
        for (int i = 0; i < m; i++) {
            double[] wi = w.column(i);
            double[] si = sxa.column(i);
            double[] pi = prior == null ? null : prior.column(i);
            double sum = 0.0;
            for (int p = 0; p < d; p++) {
                double sxxW = si[p] + ridge * ((pi == null ? 0.0 : pi[p]) - wi[p]);
                sum += wi[p] * sxxW;
            }
            out[i] = sum;
        }
        return out;
    }

    /**
     * Targets that are their own projections, described by their Gram matrix alone (m x m,
     * symmetric): W = I, so C = G = {@code gram} and ||a_g - a_i||<sup>2</sup> = u<sup>T</sup>G u -
     * 2 (G u)_i + G_ii, the Gram form in which a shared neuron space is grouped from the parents'
     * activations (ALGORITHM.md section 3, "Neuron spaces"). The groups' centroid weights are
     * then their member weights U.
     */
    public static ProjectedTargets ofGram(DenseMatrix gram) {
        int m = gram.rows();
        if (gram.cols() != m || m == 0) {
            throw new IllegalArgumentException("expected a square Gram matrix with m >= 1, found " + gram.shape());
        }
        double[] g = new double[m * m];
        double[] norms = new double[m];
        for (int j = 0; j < m; j++) {
            for (int i = 0; i < m; i++) {
                g[i + j * m] = 0.5 * (gram.get(i, j) + gram.get(j, i));
            }
            norms[j] = gram.get(j, j);
        }
        return new ProjectedTargets(m, m, 0.0, DenseMatrix.identity(m), g, g.clone(), norms, null);
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

    /** Whether the distances come in factor form (no m x m matrices, {@link FactorKMeans}). */
    public boolean factorForm() {
        return factors != null;
    }

    /** The factor form's inputs; null in Gram form. */
    Factors factors() {
        return factors;
    }

    /** (X w_i)<sup>T</sup> a_j: how well neuron i's fit predicts neuron j's target (C_ji). */
    public double cross(int i, int j) {
        if (factors != null) {
            return dot(factors.sxa().column(j), weights.column(i));
        }
        return cross[j + i * neurons];
    }

    /** G_ij = (X w_i)<sup>T</sup> (X w_j). */
    public double gram(int i, int j) {
        if (factors != null) {
            return i == j ? factors.projectedSquaredNorms()[i] : quadratic(weights.column(i), weights.column(j));
        }
        return gram[i + j * neurons];
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
        if (factors != null) {
            double[] v = new double[inputDim];
            for (int a = 0; a < members.length; a++) {
                weights.addScaledColumn(members[a], memberWeights[a], v, 0);
            }
            return clamp(quadratic(v, v) - 2.0 * dot(factors.sxa().column(target), v) + targetSquaredNorms[target]);
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

    /** x^T S_xx y (factor form). */
    private double quadratic(double[] x, double[] y) {
        DenseMatrix sxx = factors.sxx();
        double sum = 0.0;
        for (int p = 0; p < inputDim; p++) {
            sum += x[p] * dot(sxx.column(p), y);
        }
        return sum;
    }

    private static double dot(double[] x, double[] y) {
        double sum = 0.0;
        for (int i = 0; i < x.length; i++) {
            sum += x[i] * y[i];
        }
        return sum;
    }

    /** C as stored (column-major, not copied: do not modify): column j is a<sup>T</sup> X w_j. */
    double[] crossColumns() {
        return cross;
    }

    /** G as stored (column-major, not copied: do not modify). */
    double[] gramColumns() {
        return gram;
    }

    /** t: the targets' squared norms as stored (not copied: do not modify). */
    double[] targetSquaredNorms() {
        return targetSquaredNorms;
    }

    /** W U: the centroid weights of the groups whose member weights are the columns of U (m x k). */
    public DenseMatrix centroidWeights(ComputeBackend backend, DenseMatrix memberWeights) {
        if (memberWeights.rows() != neurons) {
            throw new IllegalArgumentException("expected member weights with " + neurons + " rows (one per neuron), found "
                    + memberWeights.shape());
        }
        return backend.multiplySparse(weights, memberWeights);
    }

    /**
     * tr(U<sup>T</sup> G U) = sum_g ||X W u_g||<sup>2</sup> for member weights U (m x k): the fitted
     * centroids' squared norms, the first term of their fit error ({@link
     * org.onnxfuse.fusion.solve.FitError}). From G in Gram form (O(sum_g |g|<sup>2</sup>)); in factor form
     * from the normal equations, S_xx W u_g = (S_xa + lambda (W0 - W)) u_g (O(d nnz(U))): never the
     * O(d<sup>2</sup> k) product S_xx W U.
     */
    public double centroidSquaredNorms(DenseMatrix memberWeights) {
        if (memberWeights.rows() != neurons) {
            throw new IllegalArgumentException("expected member weights with " + neurons + " rows (one per neuron), found "
                    + memberWeights.shape());
        }
        if (factors == null) {
            return groupQuadratics(memberWeights, (i, j) -> gram[i + j * neurons]);
        }
        double total = 0.0;
        double[] v = new double[inputDim];
        double[] sv = new double[inputDim];
        for (int g = 0; g < memberWeights.cols(); g++) {
            java.util.Arrays.fill(v, 0.0);
            java.util.Arrays.fill(sv, 0.0);
            for (int i = 0; i < neurons; i++) {
                double u = memberWeights.get(i, g);
                if (u != 0) {
                    addCentroidColumn(i, u, v, sv, 0);
                }
            }
            total += dot(v, sv);
        }
        return total;
    }

    /**
     * Factor form: adds alpha w_j to {@code v} and alpha S_xx w_j to {@code sv} (from {@code offset}),
     * the latter from the normal equations, S_xx w_j = s_j + lambda (w0_j - w_j): a centroid v = W u
     * and its S_xx v built one member at a time, O(d) each.
     */
    void addCentroidColumn(int j, double alpha, double[] v, double[] sv, int offset) {
        weights.addScaledColumn(j, alpha, v, offset);
        factors.sxa().addScaledColumn(j, alpha, sv, offset);
        if (factors.ridge() != 0) {
            weights.addScaledColumn(j, -factors.ridge() * alpha, sv, offset);
            if (factors.prior() != null) {
                factors.prior().addScaledColumn(j, factors.ridge() * alpha, sv, offset);
            }
        }
    }

    /** Entry (i, j) of a symmetric m x m matrix, however it is stored. */
    @FunctionalInterface
    public interface SymmetricEntries {
        double at(int i, int j);
    }

    /**
     * tr(U<sup>T</sup> M U) = sum_g sum over members i, j of g of u_ig u_jg M_ij for member weights
     * U (m x k, few non-zeros per column): O(m k + sum_g |g|<sup>2</sup>), where M U would be
     * O(m<sup>2</sup> k).
     */
    public static double groupQuadratics(DenseMatrix memberWeights, SymmetricEntries matrix) {
        double total = 0;
        int[] members = new int[memberWeights.rows()];
        double[] weights = new double[memberWeights.rows()];
        for (int g = 0; g < memberWeights.cols(); g++) {
            int count = 0;
            for (int i = 0; i < memberWeights.rows(); i++) {
                double uig = memberWeights.get(i, g);
                if (uig != 0) {
                    members[count] = i;
                    weights[count++] = uig;
                }
            }
            for (int a = 0; a < count; a++) {
                double row = 0;
                for (int b = 0; b < count; b++) {
                    row += matrix.at(members[a], members[b]) * weights[b];
                }
                total += weights[a] * row;
            }
        }
        return total;
    }

    /** Negative rounding residue becomes 0; NaN stays NaN so that bad statistics are not hidden. */
    static double clamp(double squared) {
        return squared < 0.0 ? 0.0 : squared;
    }
}
