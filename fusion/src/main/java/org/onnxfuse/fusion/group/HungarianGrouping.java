package org.onnxfuse.fusion.group;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;

/**
 * HF grouping (ALGORITHM.md section 3.4), two parents only: each neuron i of parent 0 is paired
 * with one neuron j of parent 1 by an optimal assignment on
 * C_ij = s_i ||X w_ij - a_i|| + s_j ||X w_ij - a_j||, with w_ij = (s_i w_i + s_j w_j) / (s_i + s_j);
 * fused neuron i is w_{i, pi(i)}, in parent-0 order, so the fused width is n_0. The scores are used
 * as given (not normalised per parent), as in the paper's formula.
 *
 * <p>Different widths: when n_1 > n_0, every parent-0 neuron gets a distinct partner and parent 1's
 * leftover neurons are dropped ({@link Grouping#UNASSIGNED}). When n_1 < n_0, every parent-1
 * neuron gets a distinct parent-0 partner and the parent-0 neurons left unmatched keep their own
 * weights (u = e_i, cost s_i ||X w_i - a_i||). Which ones stay single then matters for the total,
 * so we minimise the total grouping cost: the assignment runs on C_ij - s_i ||X w_i - a_i||, which
 * for equal widths has the same optimum as C (the subtracted terms add up to a constant).
 *
 * <p>Cost: O(n_0 n_1) to build C from the m x m statistics of {@link ProjectedTargets}, then
 * O(min(n)<sup>2</sup> max(n)) for the assignment ({@link LinearAssignment}).
 */
public final class HungarianGrouping {
    private HungarianGrouping() {
    }

    /** Fits the level's least squares ({@link ProjectedTargets#fit}) and matches its neurons. */
    public static Grouping match(ComputeBackend backend, SufficientStatistics stats, NeuronLayout layout,
                                 double[] scores, GroupingConfig config) {
        layout.requireNeurons(stats.targetDim(), "the statistics");
        return match(backend, ProjectedTargets.fit(backend, stats, config.ridgeFactor()), layout, scores);
    }

    /**
     * @param scores importance scores, one per neuron (> 0), used as given
     * @throws IllegalArgumentException unless the layout has exactly two parents matching {@code fit}
     */
    public static Grouping match(ComputeBackend backend, ProjectedTargets fit, NeuronLayout layout, double[] scores) {
        Objects.requireNonNull(backend, "backend");
        if (layout.parents() != 2) {
            throw new IllegalArgumentException("Hungarian fusion (HF) takes exactly 2 parents, found "
                    + layout.parents() + "; use K-means fusion (KF) for more");
        }
        layout.requireNeurons(fit.neurons(), "the least-squares fit");
        double[] s = ImportanceScores.validated(layout, scores);
        int n0 = layout.width(0);
        int n1 = layout.width(1);
        int m = n0 + n1;

        double[][] pair = pairCosts(fit, s, n0, n1);
        double[] single = new double[n0];
        for (int i = 0; i < n0; i++) {
            single[i] = s[i] * fit.residual(i);
        }
        int[] partner = new int[n0]; // parent-1 index (0-based within parent 1), or -1
        Arrays.fill(partner, -1);
        if (n1 >= n0) {
            int[] colOfRow = LinearAssignment.solve(pair);
            System.arraycopy(colOfRow, 0, partner, 0, n0);
        } else {
            double[][] marginal = new double[n1][n0];
            for (int j = 0; j < n1; j++) {
                for (int i = 0; i < n0; i++) {
                    marginal[j][i] = pair[i][j] - single[i];
                }
            }
            int[] colOfRow = LinearAssignment.solve(marginal);
            for (int j = 0; j < n1; j++) {
                partner[colOfRow[j]] = j;
            }
        }

        int[] assignment = new int[m];
        Arrays.fill(assignment, Grouping.UNASSIGNED);
        List<Group> groups = new ArrayList<>(n0);
        double total = 0.0;
        for (int i = 0; i < n0; i++) {
            assignment[i] = i;
            Group group;
            if (partner[i] >= 0) {
                int j = partner[i];
                double si = s[i];
                double sj = s[n0 + j];
                assignment[n0 + j] = i;
                group = new Group(new int[] {i, n0 + j}, new double[] {si / (si + sj), sj / (si + sj)}, pair[i][j]);
            } else {
                group = new Group(new int[] {i}, new double[] {1.0}, single[i]);
            }
            groups.add(group);
            total += group.cost();
        }
        DenseMatrix fused = fit.centroidWeights(backend, Grouping.memberWeightMatrix(m, groups));
        return new Grouping(GroupingMethod.HUNGARIAN, assignment, groups, fused, total, new double[0], new double[0],
                0, 0, 0);
    }

    /**
     * C (n_0 x n_1): C_ij = s_i ||X w_ij - a_i|| + s_j ||X w_ij - a_j||, O(1) each from the cross and
     * Gram terms of {@code fit}.
     */
    static double[][] pairCosts(ProjectedTargets fit, double[] s, int n0, int n1) {
        double[][] c = new double[n0][n1];
        for (int i = 0; i < n0; i++) {
            double gii = fit.gram(i, i);
            double qii = fit.cross(i, i);
            double normI = fit.targetSquaredNorm(i);
            for (int j = 0; j < n1; j++) {
                int jj = n0 + j;
                double ui = s[i] / (s[i] + s[jj]);
                double uj = s[jj] / (s[i] + s[jj]);
                double quadratic = ui * ui * gii + 2.0 * ui * uj * fit.gram(i, jj) + uj * uj * fit.gram(jj, jj);
                // cross(i, j) = (X w_i)^T a_j is not symmetric when the fit has a prior
                double toI = ProjectedTargets.clamp(quadratic - 2.0 * (ui * qii + uj * fit.cross(jj, i)) + normI);
                double toJ = ProjectedTargets.clamp(quadratic - 2.0 * (ui * fit.cross(i, jj) + uj * fit.cross(jj, jj))
                        + fit.targetSquaredNorm(jj));
                c[i][j] = s[i] * Math.sqrt(toI) + s[jj] * Math.sqrt(toJ);
            }
        }
        return c;
    }
}
