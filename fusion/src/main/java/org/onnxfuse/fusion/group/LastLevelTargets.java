package org.onnxfuse.fusion.group;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;

/**
 * The last level of the linear variant (ALGORITHM.md section 5): output classes are never
 * clustered. Fused class c is the importance-weighted mean over parents of their class-c neuron:
 * u_c has one entry per parent, u_{k,c} = s'_{k,c} / sum_k' s'_{k',c}, where s' are the scores
 * normalised per parent ({@link ImportanceScores#normalisedPerParent}, so that a parent's overall
 * attribution scale does not tilt the mean); with uniform scores this is the plain mean, i.e. the
 * least-squares fit of the mean of the parents' logits. All parents must have the same width.
 */
public final class LastLevelTargets {
    private LastLevelTargets() {
    }

    /** Fits the level's least squares ({@link ProjectedTargets#fit}) and averages class by class. */
    public static Grouping classMeans(ComputeBackend backend, SufficientStatistics stats, NeuronLayout layout,
                                      double[] scores, GroupingConfig config) {
        layout.requireNeurons(stats.targetDim(), "the statistics");
        return classMeans(backend, ProjectedTargets.fit(backend, stats, config.ridgeFactor()), layout, scores);
    }

    /**
     * @param scores importance scores, one per neuron (> 0), or null for uniform
     * @throws IllegalArgumentException if the parents' widths (class counts) differ
     */
    public static Grouping classMeans(ComputeBackend backend, ProjectedTargets fit, NeuronLayout layout,
                                      double[] scores) {
        Objects.requireNonNull(backend, "backend");
        layout.requireNeurons(fit.neurons(), "the least-squares fit");
        int classes = layout.width(0);
        for (int k = 1; k < layout.parents(); k++) {
            if (layout.width(k) != classes) {
                throw new IllegalArgumentException("the last level maps class c of every parent to fused class c, so "
                        + "all parents need the same number of classes; parent 0 has " + classes + ", parent " + k
                        + " has " + layout.width(k));
            }
        }
        double[] s = ImportanceScores.normalisedPerParent(layout,
                scores == null ? ImportanceScores.uniform(layout) : scores);
        int parents = layout.parents();
        int m = layout.neurons();
        int[] assignment = new int[m];
        List<Group> groups = new ArrayList<>(classes);
        double total = 0.0;
        for (int c = 0; c < classes; c++) {
            int[] members = new int[parents];
            double[] weights = new double[parents];
            double sum = 0.0;
            for (int k = 0; k < parents; k++) {
                members[k] = layout.offset(k) + c;
                sum += s[members[k]];
            }
            for (int k = 0; k < parents; k++) {
                weights[k] = s[members[k]] / sum;
                assignment[members[k]] = c;
            }
            double cost = 0.0;
            for (int member : members) {
                cost += s[member] * fit.distance(members, weights, member);
            }
            groups.add(new Group(members, weights, cost));
            total += cost;
        }
        DenseMatrix fused = fit.centroidWeights(backend, Grouping.memberWeightMatrix(m, groups));
        return new Grouping(GroupingMethod.CLASS_MEAN, assignment, groups, fused, total, new double[0], new double[0],
                0, 0, 0);
    }
}
