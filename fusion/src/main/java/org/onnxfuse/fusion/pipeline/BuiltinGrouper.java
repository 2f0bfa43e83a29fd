package org.onnxfuse.fusion.pipeline;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.onnxfuse.fusion.collect.LevelStatistics;
import org.onnxfuse.fusion.solve.RidgeFit;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;

/**
 * The pipeline's own KF / HF / class-mean grouping with uniform importance (each parent's scores
 * sum to 1), on the m x m matrices of {@link RidgeFit}. A stand-in until the group
 * package's K-means and Hungarian are wired in through {@link LevelGrouper}; follows ALGORITHM.md
 * 3.4: farthest-point init from a random parent-0 neuron, Lloyd iterations until the assignment
 * is stable (or the cost improved by less than 5% over the last 3 iterations), an empty group
 * takes the neuron with the largest s_i * dist_i, best of {@code restarts} seeded restarts.
 */
final class BuiltinGrouper implements LevelGrouper {
    private final long seed;
    private final int restarts;
    private final int maxIterations;

    BuiltinGrouper(long seed, int restarts, int maxIterations) {
        this.seed = seed;
        this.restarts = restarts;
        this.maxIterations = maxIterations;
    }

    /** Dense copies of Q, G and diag(S_aa), and the scores. */
    private record Problem(int m, double[] q, double[] g, double[] aa, double[] s) {
        static Problem of(LevelStatistics stats, RidgeFit fit) {
            int m = fit.neurons();
            double[] q = new double[m * m];
            double[] g = new double[m * m];
            double[] aa = new double[m];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < m; j++) {
                    q[i * m + j] = fit.cross(i, j);
                    g[i * m + j] = fit.gram(i, j);
                }
                aa[i] = fit.targetSquaredNorm(i);
            }
            double[] s = new double[m];
            for (int k = 0; k < stats.parents(); k++) {
                int n = stats.parentWidths().get(k);
                Arrays.fill(s, stats.offset(k), stats.offset(k) + n, 1.0 / n);
            }
            return new Problem(m, q, g, aa, s);
        }

        /** ||X W u - a_t|| for the centroid with members {@code idx} and weights {@code u}. */
        double dist(int[] idx, double[] u, int len, int t) {
            double quad = 0;
            double cross = 0;
            for (int a = 0; a < len; a++) {
                double row = 0;
                int ia = idx[a] * m;
                for (int b = 0; b < len; b++) {
                    row += g[ia + idx[b]] * u[b];
                }
                quad += u[a] * row;
                cross += u[a] * q[ia + t];
            }
            double d2 = quad - 2 * cross + aa[t];
            return Math.sqrt(Math.max(d2, 0));
        }
    }

    @Override
    public LevelFit group(ComputeBackend backend, LevelStatistics stats, RidgeFit fit, FusionMethod method,
                          int width, int level) {
        Problem p = Problem.of(stats, fit);
        int[] assignment;
        double cost;
        if (method == FusionMethod.HF_LINEAR) {
            if (stats.parents() != 2) {
                throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "HF-linear fuses exactly 2 parents, "
                        + "found " + stats.parents() + "; use KF-linear for more");
            }
            assignment = hungarian(p, stats);
            cost = cost(p, assignment, stats.parentWidths().get(0));
            width = stats.parentWidths().get(0);
        } else {
            SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + level);
            assignment = null;
            cost = Double.POSITIVE_INFINITY;
            for (int r = 0; r < restarts; r++) {
                int[] a = kmeans(p, stats, width, rng.split());
                double c = cost(p, a, width);
                if (c < cost) {
                    cost = c;
                    assignment = a;
                }
            }
        }
        DenseMatrix u = memberWeights(p, assignment, width);
        return new LevelFit(fit.centroidWeights(backend, u), u, cost, method == FusionMethod.HF_LINEAR ? "HF" : "KF");
    }

    @Override
    public LevelFit classMean(ComputeBackend backend, LevelStatistics stats, RidgeFit fit, int level) {
        int classes = stats.parentWidths().get(0);
        for (int k = 1; k < stats.parents(); k++) {
            if (stats.parentWidths().get(k) != classes) {
                throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "parent 0 has " + classes
                        + " outputs at the last level, parent " + k + " has " + stats.parentWidths().get(k));
            }
        }
        double[] u = new double[stats.targets() * classes];
        for (int k = 0; k < stats.parents(); k++) {
            for (int c = 0; c < classes; c++) {
                u[(stats.offset(k) + c) + c * stats.targets()] = 1.0 / stats.parents();
            }
        }
        DenseMatrix um = new DenseMatrix(stats.targets(), classes, u);
        return new LevelFit(fit.centroidWeights(backend, um), um, 0.0, "class mean");
    }

    private static DenseMatrix memberWeights(Problem p, int[] assignment, int k) {
        double[] total = new double[k];
        for (int i = 0; i < p.m; i++) {
            if (assignment[i] >= 0) {
                total[assignment[i]] += p.s[i];
            }
        }
        double[] u = new double[p.m * k];
        for (int i = 0; i < p.m; i++) {
            int g = assignment[i];
            if (g >= 0) {
                u[i + g * p.m] = p.s[i] / total[g];
            }
        }
        return new DenseMatrix(p.m, k, u);
    }

    /** Members (flat) and weights per group, from an assignment. */
    private static final class Groups {
        final int[][] members;
        final double[][] weights;
        final int[] size;

        Groups(Problem p, int[] assignment, int k) {
            size = new int[k];
            for (int a : assignment) {
                if (a >= 0) {
                    size[a]++;
                }
            }
            members = new int[k][];
            weights = new double[k][];
            double[] total = new double[k];
            for (int g = 0; g < k; g++) {
                members[g] = new int[size[g]];
                weights[g] = new double[size[g]];
            }
            int[] fill = new int[k];
            for (int i = 0; i < p.m; i++) {
                int g = assignment[i];
                if (g >= 0) {
                    members[g][fill[g]] = i;
                    weights[g][fill[g]++] = p.s[i];
                    total[g] += p.s[i];
                }
            }
            for (int g = 0; g < k; g++) {
                for (int j = 0; j < size[g]; j++) {
                    weights[g][j] /= total[g];
                }
            }
        }
    }

    private static double cost(Problem p, int[] assignment, int k) {
        Groups gs = new Groups(p, assignment, k);
        double c = 0;
        for (int i = 0; i < p.m; i++) {
            int g = assignment[i];
            if (g >= 0) {
                c += p.s[i] * p.dist(gs.members[g], gs.weights[g], gs.size[g], i);
            }
        }
        return c;
    }

    /** Distances of every neuron to every group centroid: O(m * sum |g| + sum |g|^2) with the sparse members. */
    private static double[][] distances(Problem p, Groups gs, int k) {
        double[][] d = new double[k][p.m];
        for (int g = 0; g < k; g++) {
            int[] idx = gs.members[g];
            double[] u = gs.weights[g];
            double quad = 0;
            for (int a = 0; a < idx.length; a++) {
                double row = 0;
                for (int b = 0; b < idx.length; b++) {
                    row += p.g[idx[a] * p.m + idx[b]] * u[b];
                }
                quad += u[a] * row;
            }
            double[] dg = d[g];
            for (int a = 0; a < idx.length; a++) {
                int base = idx[a] * p.m;
                double ua = u[a];
                for (int t = 0; t < p.m; t++) {
                    dg[t] += ua * p.q[base + t];
                }
            }
            for (int t = 0; t < p.m; t++) {
                dg[t] = Math.sqrt(Math.max(quad - 2 * dg[t] + p.aa[t], 0));
            }
        }
        return d;
    }

    private int[] kmeans(Problem p, LevelStatistics stats, int k, SplittableRandom rng) {
        int m = p.m;
        if (k > m) {
            throw new IllegalArgumentException("fused width " + k + " exceeds the " + m + " neurons of all parents");
        }
        // farthest-point initialisation, centroids are single neurons
        int[] centres = new int[k];
        centres[0] = rng.nextInt(stats.parentWidths().get(0));
        double[] nearest = new double[m];
        Arrays.fill(nearest, Double.POSITIVE_INFINITY);
        int[] assignment = new int[m];
        for (int c = 0; c < k; c++) {
            int ci = centres[c];
            double quad = p.g[ci * m + ci];
            for (int t = 0; t < m; t++) {
                double d = Math.sqrt(Math.max(quad - 2 * p.q[ci * m + t] + p.aa[t], 0));
                if (d < nearest[t]) {
                    nearest[t] = d;
                    assignment[t] = c;
                }
            }
            if (c + 1 < k) {
                int far = 0;
                for (int t = 1; t < m; t++) {
                    if (nearest[t] > nearest[far]) {
                        far = t;
                    }
                }
                centres[c + 1] = far;
            }
        }
        for (int c = 0; c < k; c++) {
            assignment[centres[c]] = c;
        }
        double[] history = new double[maxIterations + 1];
        for (int it = 0; it < maxIterations; it++) {
            Groups gs = new Groups(p, assignment, k);
            double[][] d = distances(p, gs, k);
            int[] next = new int[m];
            double[] own = new double[m];
            for (int t = 0; t < m; t++) {
                int best = 0;
                for (int g = 1; g < k; g++) {
                    if (d[g][t] < d[best][t]) {
                        best = g;
                    }
                }
                next[t] = best;
                own[t] = d[best][t];
            }
            repairEmpty(p, next, own, k);
            double c = 0;
            for (int t = 0; t < m; t++) {
                c += p.s[t] * own[t];
            }
            history[it] = c;
            boolean stable = Arrays.equals(next, assignment);
            assignment = next;
            if (stable) {
                break;
            }
            if (it >= 3 && history[it - 3] - c < 0.05 * history[it - 3]) {
                break;
            }
        }
        return assignment;
    }

    private static void repairEmpty(Problem p, int[] assignment, double[] own, int k) {
        int[] size = new int[k];
        for (int a : assignment) {
            size[a]++;
        }
        for (int g = 0; g < k; g++) {
            if (size[g] > 0) {
                continue;
            }
            int worst = -1;
            for (int t = 0; t < p.m; t++) {
                if (size[assignment[t]] > 1 && (worst < 0 || p.s[t] * own[t] > p.s[worst] * own[worst])) {
                    worst = t;
                }
            }
            size[assignment[worst]]--;
            assignment[worst] = g;
            own[worst] = 0;
            size[g] = 1;
        }
    }

    /** HF: parent-0 neuron i and its matched parent-1 neuron form fused neuron i. */
    private static int[] hungarian(Problem p, LevelStatistics stats) {
        int n0 = stats.parentWidths().get(0);
        int n1 = stats.parentWidths().get(1);
        int n = Math.max(n0, n1);
        double[][] cost = new double[n][n];
        int[] idx = new int[2];
        double[] u = new double[2];
        for (int i = 0; i < n0; i++) {
            for (int j = 0; j < n1; j++) {
                int jj = n0 + j;
                idx[0] = i;
                idx[1] = jj;
                double si = p.s[i];
                double sj = p.s[jj];
                u[0] = si / (si + sj);
                u[1] = sj / (si + sj);
                cost[i][j] = si * p.dist(idx, u, 2, i) + sj * p.dist(idx, u, 2, jj);
            }
        }
        int[] match = Hungarian.solve(cost);
        int[] assignment = new int[p.m];
        Arrays.fill(assignment, -1);
        for (int i = 0; i < n0; i++) {
            assignment[i] = i;
            if (match[i] < n1) {
                assignment[n0 + match[i]] = i;
            }
        }
        return assignment;
    }
}
