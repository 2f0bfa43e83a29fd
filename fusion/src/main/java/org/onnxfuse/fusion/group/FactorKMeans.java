package org.onnxfuse.fusion.group;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.ContiguousRuns;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.FarthestFirst;
import org.onnxfuse.kernels.GramKMeans;
import org.onnxfuse.kernels.GroupMembers;
import org.onnxfuse.kernels.NearestGroups;
import org.onnxfuse.kernels.Transpose;

/**
 * {@link GramKMeans} in factor form (ALGORITHM.md section 3): the squared distance of neuron i to
 * a centroid u is v<sup>T</sup>S_xx v - 2 (S_xa<sup>T</sup> v)_i + t_i with v = W u, the same
 * quantity as the Gram form's u<sup>T</sup>G u - 2 (C u)_i + t_i (identities in W, whatever ridge
 * and prior it was solved with), computed without any m x m matrix.
 *
 * <p>A step forms V = W U (d x k; U has one non-zero per row, so O(d m)), the quadratic terms
 * diag(V<sup>T</sup>S_xx V) (S_xx V from the normal equations, also O(d m)) and the cross table S_xa<sup>T</sup>V by blocks of
 * neurons (m x d x k in all), taking each block's nearest groups before the next: O(m k d) work,
 * O(d k + block k) memory besides W and S_xa. Farthest-first needs S_xa<sup>T</sup> w_j for each
 * seed j (O(d m)), computed in batches of likely seeds; the columns are cached up to about one
 * m x k table, as restarts tend to pick the same far neurons.
 *
 * <p>Ties, clamping and the order of assignment follow {@link GramKMeans}; only the rounding of the
 * distances differs from the Gram form (sums in another order), so near-ties may break otherwise.
 *
 * <p><b>Hamerly bounds.</b> d<sup>2</sup>(i, g) is ||X v_g - a_i||<sup>2</sup>, a squared Euclidean
 * distance in sample space, so the triangle inequality bounds how far a centroid's move changes it:
 * by drift_g = ||X (v_g' - v_g)|| = sqrt(delta<sup>T</sup> S_xx delta), with S_xx delta from the
 * normal equations as above (O(d k) per step). Each step keeps, per neuron, a lower bound l_i on its
 * distance to every group but the one it was assigned (the second-nearest distance when all were
 * computed, less the largest other drift at each later step). When a step's {@code current} group
 * is that group, the neuron's own distance (needed for the cost anyway: O(d)) is computed; if it is
 * below l_i by a margin that covers the rounding ({@link #BOUND_MARGIN}), no other group can be
 * nearer and the other k - 1 distances are skipped. The rest go through the blocked gemm as before.
 * The assignments are those without bounds (the skipped neurons' current group was strictly
 * nearest); only the own distances of skipped neurons are summed in another order (a dot product
 * instead of gemm), within rounding of the gemm's. The bounds keep the last step's V and S_xx V (two
 * more d x k arrays) and two m-vectors.
 *
 * <p><b>Cross form.</b> When the fit kept C = S_xa<sup>T</sup> W ({@link GroupingForm#CROSS}), the
 * cross terms are read from it instead: (C u_g)_i sums the members' columns of C (ascending j,
 * {@link NearestGroups}, as the CPU Gram form does), kept as an m x k table between steps so that
 * only the groups whose members changed are summed anew, with their quadratic terms (O(d) per
 * member); farthest-first reads a seed's column directly. A step then costs O(m k) plus O(m + d)
 * per member of a changed group (the first step of a run O(m<sup>2</sup> + d m)) instead of
 * O(m k d), so the bounds are not used. Only the rounding of the cross terms differs from the
 * factor form's (a sum of the members' C entries instead of a gemm with V).
 */
final class FactorKMeans implements GramKMeans {
    /** Seed columns kept across restarts, at most this many doubles (256 MB)... */
    private static final long SEED_CACHE_DOUBLES = 1L << 25;
    /** Columns of S_xa^T W computed at once in farthest-first (one pass over S_xa). */
    static final int SEED_BATCH = 64;
    /**
     * A neuron's other distances are skipped only when its own distance is below its lower bound by
     * this fraction of sqrt(t_i + max_g v_g^T S_xx v_g), the scale of the terms a squared distance is
     * the difference of: far above their rounding (d-term float64 sums, and the normal equations' residual
     * in S_xx v), far below the gaps that decide an assignment.
     */
    static final double BOUND_MARGIN = 1e-6;

    private final ComputeBackend backend;
    private final DenseMatrix weights;
    private final DenseMatrix sxa;
    private final ProjectedTargets fit;
    private final double[] projectedSquaredNorms;
    private final double[] targetSquaredNorms;
    private final int d;
    private final int m;
    private final int block;
    private final Map<Integer, double[]> seedColumns = new HashMap<>();
    private final int seedCacheCapacity;
    private final boolean bounds;
    /** C, column-major m x m, in the cross form; null in the factor form. */
    private final double[] crossTable;
    /** Tasks per stage of a step (the backend's threads unless a test asks for another split). */
    private final int workers;
    /** The cross form's kept C U and its groups' quadratic terms; null before its first step. */
    private NearestGroups nearestGroups;
    private double[] crossQuadratic;
    /** The last step's centroids V and S_xx V (d x k), its k; null before a step. */
    private double[] lastCentroids;
    private double[] lastProducts;
    private int lastK;
    /** Per neuron: the group the last step assigned (-1: none), and the lower bound on every other group's distance. */
    private final int[] boundGroup;
    private final double[] lowerBound;
    private long distancesComputed;
    private long distancesSkipped;

    FactorKMeans(ComputeBackend backend, ProjectedTargets fit) {
        this(backend, fit, true);
    }

    /** With {@code bounds} false every step computes all m x k distances (the tests compare both). */
    FactorKMeans(ComputeBackend backend, ProjectedTargets fit, boolean bounds) {
        this(backend, fit, bounds, 0);
    }

    /** As above, each stage of a step split into {@code workers} tasks (0: one per backend thread). */
    FactorKMeans(ComputeBackend backend, ProjectedTargets fit, boolean bounds, int workers) {
        ProjectedTargets.Factors factors = fit.factors();
        if (factors == null) {
            throw new IllegalArgumentException("the fit is in Gram form; factor K-means needs one in factor form");
        }
        this.backend = backend;
        this.weights = fit.weights();
        this.sxa = factors.sxa();
        this.fit = fit;
        this.projectedSquaredNorms = factors.projectedSquaredNorms();
        this.targetSquaredNorms = fit.targetSquaredNorms();
        this.d = fit.inputDim();
        this.m = fit.neurons();
        this.block = ProjectedTargets.neuronBlock(d, m);
        this.seedCacheCapacity = (int) Math.min(Integer.MAX_VALUE, SEED_CACHE_DOUBLES / m);
        this.crossTable = factors.crossTable();
        this.workers = workers > 0 ? workers : Math.max(1, backend.threads());
        this.bounds = bounds && crossTable == null;
        this.boundGroup = new int[m];
        this.lowerBound = new double[m];
        Arrays.fill(boundGroup, -1);
    }

    /** Neuron-to-centroid distances the steps computed so far (a skipped neuron's own distance counts). */
    long distancesComputed() {
        return distancesComputed;
    }

    /** Whether C is kept (the cross form). */
    boolean crossForm() {
        return crossTable != null;
    }

    /** Whether the steps use Hamerly bounds (never in the cross form). */
    boolean bounded() {
        return bounds;
    }

    /** Neuron-to-centroid distances the bounds let the steps skip. */
    long distancesSkipped() {
        return distancesSkipped;
    }

    @Override
    public int neurons() {
        return m;
    }

    @Override
    public int[] farthestFirst(int first, int k) {
        if (first < 0 || first >= m || k < 1 || k > m) {
            throw new IllegalArgumentException("farthest-first needs 0 <= first < m and 1 <= k <= m = " + m
                    + ", found first = " + first + ", k = " + k);
        }
        int[] seeds = new int[k];
        boolean[] chosen = new boolean[m];
        double[] nearest = new double[m];
        Arrays.fill(nearest, Double.POSITIVE_INFINITY);
        Map<Integer, double[]> candidates = new HashMap<>();
        int seed = first;
        for (int c = 0; c < k; c++) {
            if (c > 0) {
                seed = FarthestFirst.nextSeed(chosen, nearest);
            }
            seeds[c] = seed;
            chosen[seed] = true;
            double seedGram = projectedSquaredNorms[seed];
            double[] cross = crossTable != null ? crossTable : seedColumn(seed, nearest, chosen, candidates);
            int at = crossTable != null ? seed * m : 0;
            for (int i = 0; i < m; i++) {
                double d2 = ProjectedTargets.clamp(seedGram - 2.0 * cross[at + i] + targetSquaredNorms[i]);
                if (d2 < nearest[i]) {
                    nearest[i] = d2;
                }
            }
        }
        return seeds;
    }

    /**
     * S_xa<sup>T</sup> w_j: every target's cross term with neuron j's fit (column j of C). One
     * column alone would read all of S_xa (d x m) for O(d m) work, so a missing column is computed
     * with those of the next {@link #SEED_BATCH} - 1 farthest neurons in one blocked gemm: they are
     * likely to be the next seeds, as a new seed lowers only the distances of the neurons near it.
     * Either way a column has the same value; only the work differs.
     */
    private double[] seedColumn(int seed, double[] nearest, boolean[] chosen, Map<Integer, double[]> candidates) {
        double[] column = seedColumns.get(seed);
        if (column == null) {
            column = candidates.remove(seed);
        }
        if (column == null) {
            if (candidates.size() + SEED_BATCH > seedCacheCapacity) {
                candidates.clear();
            }
            int[] batch = farthestCandidates(seed, nearest, chosen, candidates);
            double[][] columns = crossColumns(batch);
            for (int b = 1; b < batch.length; b++) {
                candidates.put(batch[b], columns[b]);
            }
            column = columns[0];
        }
        if (seedColumns.size() < seedCacheCapacity) {
            seedColumns.put(seed, column);
        }
        return column;
    }

    /** {@code seed}, then up to SEED_BATCH - 1 unchosen neurons without a column yet, farthest first (lowest index on ties). */
    private int[] farthestCandidates(int seed, double[] nearest, boolean[] chosen, Map<Integer, double[]> candidates) {
        java.util.PriorityQueue<Integer> farthest = new java.util.PriorityQueue<>(SEED_BATCH,
                (a, b) -> nearest[a] != nearest[b] ? Double.compare(nearest[a], nearest[b]) : Integer.compare(b, a));
        for (int i = 0; i < m; i++) {
            if (chosen[i] || candidates.containsKey(i) || seedColumns.containsKey(i)) {
                continue;
            }
            farthest.add(i);
            if (farthest.size() > SEED_BATCH - 1) {
                farthest.poll();
            }
        }
        int[] batch = new int[1 + farthest.size()];
        batch[0] = seed;
        for (int b = batch.length - 1; b >= 1; b--) {
            batch[b] = farthest.poll();
        }
        return batch;
    }

    /** S_xa<sup>T</sup> W[:, neurons], one m-vector per neuron, by blocks of targets. */
    private double[][] crossColumns(int[] neurons) {
        int n = neurons.length;
        double[] w = new double[d * n];
        for (int b = 0; b < n; b++) {
            weights.addScaledColumn(neurons[b], 1.0, w, b * d);
        }
        DenseMatrix fits = new DenseMatrix(d, n, w);
        double[][] out = new double[n][m];
        for (int from = 0; from < m; from += block) {
            int to = Math.min(m, from + block);
            int rows = to - from;
            double[] part = backend.productColumns(Transpose.YES, Transpose.NO, sxa.columns(from, to), fits);
            for (int b = 0; b < n; b++) {
                System.arraycopy(part, b * rows, out[b], from, rows);
            }
        }
        return out;
    }

    @Override
    public Step step(int k, int[] owner, double[] weight, int[] current) {
        checkStep(k, owner, weight, current);
        double[] currentD2 = current == null ? null : new double[m];
        int[] next = new int[m];
        double[] nextD2 = new double[m];
        if (crossTable != null) {
            crossStep(k, owner, weight, current, currentD2, next, nextD2);
            return new Step(currentD2, next, nextD2);
        }
        // V = W U and S_xx V = S_xa U + lambda (W0 - W) U (the normal equations), both O(d m)
        double[] v = new double[Math.multiplyExact(d, k)];
        double[] sv = new double[v.length];
        double[] quadratic = new double[k];
        centroidColumns(k, owner, weight, null, v, sv, quadratic);
        DenseMatrix centroids = new DenseMatrix(d, k, v);
        boolean[] skipped = skippable(k, current, v, sv, quadratic, currentD2, next, nextD2);
        lastCentroids = v;
        lastProducts = sv;
        lastK = k;
        sv = null;
        int[] active = new int[Math.min(block, m)];
        for (int from = 0; from < m; from += block) {
            int to = Math.min(m, from + block);
            int rows = 0;
            for (int i = from; i < to; i++) {
                if (skipped == null || !skipped[i]) {
                    active[rows++] = i;
                }
            }
            if (rows == 0) {
                continue;
            }
            // all of the block: its columns of S_xa as they are (the product without bounds); else gathered
            DenseMatrix columns = rows == to - from ? sxa.columns(from, to) : sxa.gather(active, rows);
            double[] cross = backend.productColumns(Transpose.YES, Transpose.NO, columns, centroids);
            distancesComputed += (long) rows * k;
            for (int r = 0; r < rows; r++) {
                int i = active[r];
                double t = targetSquaredNorms[i];
                int best = current == null ? 0 : current[i];
                double bestD2 = ProjectedTargets.clamp(quadratic[best] - 2.0 * cross[r + best * rows] + t);
                if (current != null) {
                    currentD2[i] = bestD2;
                }
                for (int g = 0; g < k; g++) {
                    double d2 = ProjectedTargets.clamp(quadratic[g] - 2.0 * cross[r + g * rows] + t);
                    if (d2 < bestD2) {
                        best = g;
                        bestD2 = d2;
                    }
                }
                next[i] = best;
                nextD2[i] = bestD2;
                if (bounds) {
                    double second = Double.POSITIVE_INFINITY;
                    for (int g = 0; g < k; g++) {
                        if (g != best) {
                            second = Math.min(second, ProjectedTargets.clamp(quadratic[g] - 2.0 * cross[r + g * rows] + t));
                        }
                    }
                    boundGroup[i] = best;
                    lowerBound[i] = Math.sqrt(second);
                }
            }
        }
        return new Step(currentD2, next, nextD2);
    }

    /**
     * Each group's v_g<sup>T</sup>S_xx v_g (into {@code quadratic}) with v_g = W u_g and S_xx v_g,
     * its members added in ascending order, for the groups {@code only} marks (null: every group):
     * groups shared out in contiguous runs on the backend's threads, so each group's sums are in the
     * same order whatever the thread count. With {@code v} and {@code sv} (d x k) null, each task
     * builds a group's columns in its own two d-vectors and keeps only the quadratic term (the cross
     * form); otherwise the columns are kept there.
     */
    private void centroidColumns(int k, int[] owner, double[] weight, boolean[] only, double[] v, double[] sv,
                                 double[] quadratic) {
        GroupMembers grouped = GroupMembers.of(owner, k, only);
        int[] start = grouped.start();
        int[] members = grouped.members();
        int[] groups = grouped.groups();
        backend.runTasks(ContiguousRuns.tasks(groups.length, workers, (first, end) -> {
            double[] ownV = v == null ? new double[d] : v;
            double[] ownSv = sv == null ? new double[d] : sv;
            for (int at = first; at < end; at++) {
                int g = groups[at];
                int offset = v == null ? 0 : g * d;
                if (v == null) {
                    Arrays.fill(ownV, 0.0);
                    Arrays.fill(ownSv, 0.0);
                }
                for (int e = start[g]; e < start[g + 1]; e++) {
                    fit.addCentroidColumn(members[e], weight[members[e]], ownV, ownSv, offset);
                }
                double sum = 0.0;
                for (int p = offset; p < offset + d; p++) {
                    sum += ownV[p] * ownSv[p];
                }
                quadratic[g] = sum;
            }
        }));
    }

    /**
     * The cross form's step (class comment): the groups whose members or weights changed since the
     * last step get their C U column ({@link NearestGroups}) and their quadratic term anew, the
     * others keep theirs (the same bits as summed anew), then every neuron's nearest group. The
     * work is shared out in contiguous runs on the backend's threads, so the results do not depend
     * on the thread count.
     */
    private void crossStep(int k, int[] owner, double[] weight, int[] current, double[] currentD2, int[] next,
                           double[] nextD2) {
        if (nearestGroups == null) {
            nearestGroups = new NearestGroups(crossTable, m, workers, backend::runTasks);
        }
        boolean[] changed = nearestGroups.update(k, owner, weight);
        if (crossQuadratic == null || crossQuadratic.length != k) {
            crossQuadratic = new double[k];
        }
        centroidColumns(k, owner, weight, changed, null, null, crossQuadratic);
        nearestGroups.search(current, crossQuadratic, targetSquaredNorms, currentD2, next, nextD2);
        distancesComputed += (long) m * k;
    }

    /**
     * The Hamerly test of the class comment for every neuron whose {@code current} group is the one
     * its bound was kept for: moves the bounds by the centroids' drifts since the last step, computes
     * the own distance, and where it is below the bound fills the neuron's results (next = current).
     * Returns which neurons it filled, or null when none can be (no bounds, no current groups, a
     * first step or another k).
     */
    private boolean[] skippable(int k, int[] current, double[] v, double[] sv, double[] quadratic,
                                double[] currentD2, int[] next, double[] nextD2) {
        if (!bounds || current == null || lastCentroids == null || lastK != k) {
            Arrays.fill(boundGroup, -1);
            return null;
        }
        double maxQuadratic = 0.0;
        for (int g = 0; g < k; g++) {
            maxQuadratic = Math.max(maxQuadratic, Math.abs(quadratic[g]));
        }
        double[] drift = new double[k];
        int largest = -1;
        double secondLargest = 0.0;
        for (int g = 0; g < k; g++) {
            double moved = 0.0;
            for (int p = g * d; p < (g + 1) * d; p++) {
                moved += (v[p] - lastCentroids[p]) * (sv[p] - lastProducts[p]);
            }
            drift[g] = Math.sqrt(Math.max(0.0, moved));
            if (largest < 0 || drift[g] > drift[largest]) {
                secondLargest = largest < 0 ? 0.0 : drift[largest];
                largest = g;
            } else {
                secondLargest = Math.max(secondLargest, drift[g]);
            }
        }
        boolean[] skipped = new boolean[m];
        for (int i = 0; i < m; i++) {
            int own = current[i];
            if (boundGroup[i] != own) {
                continue;
            }
            double lower = lowerBound[i] - (own == largest ? secondLargest : drift[largest]);
            double t = targetSquaredNorms[i];
            double margin = BOUND_MARGIN * Math.sqrt(t + maxQuadratic);
            if (lower <= margin) {
                continue;
            }
            double ownD2 = ProjectedTargets.clamp(quadratic[own] - 2.0 * sxa.columnDot(i, v, own * d) + t);
            distancesComputed++;
            if (Math.sqrt(ownD2) + margin < lower) {
                skipped[i] = true;
                distancesSkipped += k - 1;
                currentD2[i] = ownD2;
                next[i] = own;
                nextD2[i] = ownD2;
                lowerBound[i] = lower;
            }
        }
        return skipped;
    }

    private void checkStep(int k, int[] owner, double[] weight, int[] current) {
        if (k < 1 || k > m) {
            throw new IllegalArgumentException("expected 1 <= k <= m = " + m + ", found k = " + k);
        }
        if (owner.length != m || weight.length != m || (current != null && current.length != m)) {
            throw new IllegalArgumentException("expected owner, weight and current of length m = " + m);
        }
        for (int i = 0; i < m; i++) {
            if (owner[i] < -1 || owner[i] >= k || (current != null && (current[i] < 0 || current[i] >= k))) {
                throw new IllegalArgumentException("neuron " + i + ": owner " + owner[i] + " or current group out of"
                        + " range for k = " + k);
            }
        }
    }

    @Override
    public void close() {
        seedColumns.clear();
        if (nearestGroups != null) {
            nearestGroups.release();
        }
    }
}
