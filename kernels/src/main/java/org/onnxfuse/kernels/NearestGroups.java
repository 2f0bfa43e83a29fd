package org.onnxfuse.kernels;

import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * The nearest-group search of K-means from a kept cross table C (column-major m x m, {@code
 * cross[i + j * m]} = C_ij) and the centroids' quadratic terms: the order of operations that
 * {@link GramKMeans#step} defines, shared by the CPU Gram form and the fusion's cross form. Java
 * never fuses a multiply and an add, so both give the same bits.
 *
 * <p>It keeps T = C U (m x k, column g = the sum over group g's members j, in ascending j, of
 * weight_j times column j of C) between steps and recomputes only the columns of groups whose
 * members or weights changed since the last step ({@link #update}). After a run's first steps few
 * groups change (on 2 wide MLP parents, 2 to 55 of 2048 per step), so a step costs O(m k) for the
 * search plus O(m) per member of a changed group, where summing every member anew read all of C
 * (O(m<sup>2</sup>)). A recomputed column is summed in the same order as a fresh one, so the
 * results are the same bits as without the kept table.
 *
 * <p>Work is shared out through {@code runner} (a list of independent tasks, run to completion):
 * changed groups in contiguous runs, the search in contiguous runs of neurons; neither depends on
 * how many threads run them. Holds one m x k table; not thread-safe.
 */
public final class NearestGroups {
    private final double[] cross;
    private final int m;
    private final int workers;
    private final Consumer<List<Runnable>> runner;
    private double[] table;
    private int k;
    /** The owners and weights T was summed for; null before the first update. */
    private int[] summedOwner;
    private double[] summedWeight;
    private long columnsSummed;

    /**
     * @param cross   C, column-major m x m (not copied: it must not change while this is used)
     * @param workers how many tasks to split each stage into (the runner's threads)
     * @param runner  runs a list of independent tasks and returns when all are done
     */
    public NearestGroups(double[] cross, int m, int workers, Consumer<List<Runnable>> runner) {
        if (m < 1 || cross.length < (long) m * m) {
            throw new IllegalArgumentException("expected C of m x m values with m >= 1, found m = " + m + " and "
                    + cross.length + " values");
        }
        if (workers < 1) {
            throw new IllegalArgumentException("expected >= 1 worker, found " + workers);
        }
        this.cross = cross;
        this.m = m;
        this.workers = workers;
        this.runner = runner;
    }

    /** Columns of T summed anew so far (a measure of the work {@link #update} did). */
    public long columnsSummed() {
        return columnsSummed;
    }

    /**
     * Brings T to k groups where neuron j is a member of group {@code owner[j]} (-1: of none) with
     * weight {@code weight[j]}: the columns of groups that gained or lost a member, or whose member's
     * weight changed, are summed anew (every column when k changed or at the first call).
     *
     * @return per group, whether its column was summed anew (the groups whose centroid moved)
     */
    public boolean[] update(int k, int[] owner, double[] weight) {
        boolean[] changed = new boolean[k];
        if (table == null || this.k != k) {
            table = null; // let the old one go before allocating the new one
            table = new double[Math.multiplyExact(m, k)];
            this.k = k;
            Arrays.fill(changed, true);
        } else {
            for (int j = 0; j < m; j++) {
                int was = summedOwner[j];
                int is = owner[j];
                if (was != is) {
                    if (was >= 0) {
                        changed[was] = true;
                    }
                    if (is >= 0) {
                        changed[is] = true;
                    }
                } else if (is >= 0 && Double.doubleToRawLongBits(weight[j])
                        != Double.doubleToRawLongBits(summedWeight[j])) {
                    changed[is] = true;
                }
            }
        }
        GroupMembers grouped = GroupMembers.of(owner, k, changed);
        int[] groups = grouped.groups();
        runner.accept(ContiguousRuns.tasks(groups.length, workers, (first, end) -> {
            for (int at = first; at < end; at++) {
                sumColumn(groups[at], grouped.members(), grouped.start(), weight);
            }
        }));
        columnsSummed += groups.length;
        summedOwner = owner.clone();
        summedWeight = weight.clone();
        return changed;
    }

    /** Column g of T: 0, then weight_j C[:, j] added for g's members j in ascending order. */
    private void sumColumn(int g, int[] members, int[] start, double[] weight) {
        int target = g * m;
        Arrays.fill(table, target, target + m, 0.0);
        for (int at = start[g]; at < start[g + 1]; at++) {
            int j = members[at];
            double w = weight[j];
            int source = j * m;
            for (int i = 0; i < m; i++) {
                table[target + i] += w * cross[source + i];
            }
        }
    }

    /**
     * For every neuron, d<sup>2</sup>(i, g) = clamp(quadratic[g] - 2 T_ig + t_i) and its nearest
     * group by {@link GramKMeans#step}'s rule (it stays in {@code current[i]} unless another is
     * strictly nearer; without current the search starts at group 0; the lowest id wins ties),
     * searched group by group down T's columns, from the groups of the last {@link #update}. Writes
     * {@code next}, {@code nextD2} and (when {@code current} is not null) {@code currentD2}.
     */
    public void search(int[] current, double[] quadratic, double[] targetSquaredNorms, double[] currentD2,
                       int[] next, double[] nextD2) {
        if (table == null) {
            throw new IllegalStateException("search before update: no groups to search");
        }
        runner.accept(ContiguousRuns.tasks(m, workers,
                (from, to) -> search(from, to, current, quadratic, targetSquaredNorms, currentD2, next, nextD2)));
    }

    private void search(int from, int to, int[] current, double[] quadratic, double[] targetSquaredNorms,
                        double[] currentD2, int[] next, double[] nextD2) {
        for (int i = from; i < to; i++) {
            int best = current == null ? 0 : current[i];
            double bestD2 = CpuGramKMeans.clamp(quadratic[best] - 2.0 * table[i + best * m] + targetSquaredNorms[i]);
            next[i] = best;
            nextD2[i] = bestD2;
            if (current != null) {
                currentD2[i] = bestD2;
            }
        }
        // group by group down T's columns (contiguous), each neuron comparing its groups in
        // ascending order as neuron by neuron would
        for (int g = 0; g < k; g++) {
            double q = quadratic[g];
            int at = g * m;
            for (int i = from; i < to; i++) {
                double d2 = CpuGramKMeans.clamp(q - 2.0 * table[at + i] + targetSquaredNorms[i]);
                if (d2 < nextD2[i]) {
                    next[i] = g;
                    nextD2[i] = d2;
                }
            }
        }
    }

    /** Lets T go. */
    public void release() {
        table = null;
        summedOwner = null;
        summedWeight = null;
    }
}
