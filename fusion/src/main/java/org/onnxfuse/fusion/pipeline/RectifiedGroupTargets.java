package org.onnxfuse.fusion.pipeline;

import java.util.List;
import org.onnxfuse.fusion.collect.StatisticsCollector.RowMap;
import org.onnxfuse.fusion.group.Group;

/**
 * Targets of a hidden level in a shared space whose cut goes through a clamp, Relu (lower 0) or
 * Clip (ReLU6: 0 and 6), before anything reads it. Fused neuron g is fitted to the weighted mean of
 * its members' cut values; averaged before the clamp, that mean is not the mean of what the members
 * output after it (clamp(mean) is not mean(clamp)), which is what the next level's parents read and
 * what its prior averages. Per row and group: where every member lies at or below the lower bound,
 * or every member at or above the upper bound, the raw values stay (their mean lies beyond that
 * bound too, so the fused clamp gives the bound, like every member); otherwise every member's value
 * is replaced by its clamped value, so the weighted mean is the mean of the members' outputs, which
 * lies within the bounds and which the fused clamp keeps. The same rule as {@link RectifiedClassTargets},
 * per group of any size instead of per class, with an upper bound as well.
 */
final class RectifiedGroupTargets implements RowMap {
    private final int[][] members;
    private final int neurons;
    private final float lower;
    private final float upper;

    /**
     * @param groups  the space's groups, members indexed among the m parent neurons
     * @param neurons m
     * @param lower   the clamp's lower bound (0 for Relu)
     * @param upper   its upper bound ({@code Float.POSITIVE_INFINITY} for Relu)
     */
    RectifiedGroupTargets(List<Group> groups, int neurons, float lower, float upper) {
        if (!(lower < upper)) {
            throw new IllegalArgumentException("clamp bounds " + lower + " and " + upper);
        }
        this.members = groups.stream().map(Group::members).toArray(int[][]::new);
        this.neurons = neurons;
        this.lower = lower;
        this.upper = upper;
    }

    @Override
    public void apply(float[] a, int m, int rows) {
        if (m != neurons) {
            throw new IllegalStateException("targets of " + neurons + " parent neurons, but a batch of " + m
                    + " columns");
        }
        for (int r = 0; r < rows; r++) {
            int row = r * m;
            for (int[] group : members) {
                boolean allLow = true;
                boolean allHigh = true;
                for (int i : group) {
                    float v = a[row + i];
                    allLow &= v <= lower;
                    allHigh &= v >= upper;
                }
                if (!allLow && !allHigh) {
                    for (int i : group) {
                        int at = row + i;
                        a[at] = Math.min(Math.max(a[at], lower), upper);
                    }
                }
            }
        }
    }
}
