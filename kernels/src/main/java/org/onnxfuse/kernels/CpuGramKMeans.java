package org.onnxfuse.kernels;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * {@link GramKMeans} in plain Java on the caller's arrays (not copied: they must not change while
 * this is open). Holds one m x k table of C U per restart being stepped, kept between its steps
 * ({@link NearestGroups}); its {@link #restartBatch} is 1, so the grouping steps one restart at a
 * time and holds one table, as before restarts could be batched. The
 * order of operations (here and in {@link NearestGroups}) is the reference the device reproduces
 * (kmeans.cu); Java never fuses a multiply and an add.
 */
final class CpuGramKMeans implements GramKMeans {
    private final double[] cross;
    private final double[] gram;
    private final double[] targetSquaredNorms;
    private final int m;
    private final int workers;
    private final Consumer<List<Runnable>> runner;
    /** Each restart's table of C U, by the id its steps give. */
    private final Map<Integer, NearestGroups> tables = new HashMap<>();

    /**
     * C and G column-major m x m: cross[i + j * m] = C_ij, gram[a + b * m] = G_ab; a step's work
     * split into {@code workers} tasks for {@code runner} ({@link NearestGroups}).
     */
    CpuGramKMeans(double[] cross, double[] gram, double[] targetSquaredNorms, int m, int workers,
                  Consumer<List<Runnable>> runner) {
        GramKMeansArguments.inputs(cross, gram, targetSquaredNorms, m);
        this.cross = cross;
        this.gram = gram;
        this.targetSquaredNorms = targetSquaredNorms;
        this.m = m;
        this.workers = workers;
        this.runner = runner;
    }

    @Override
    public int neurons() {
        return m;
    }

    @Override
    public int[] farthestFirst(int first, int k) {
        GramKMeansArguments.farthestFirst(m, first, k);
        int[] seeds = new int[k];
        boolean[] chosen = new boolean[m];
        double[] nearest = new double[m];
        Arrays.fill(nearest, Double.POSITIVE_INFINITY);
        int seed = first;
        for (int c = 0; c < k; c++) {
            if (c > 0) {
                seed = FarthestFirst.nextSeed(chosen, nearest);
            }
            seeds[c] = seed;
            chosen[seed] = true;
            double seedGram = gram[seed + seed * m];
            int from = seed * m;
            for (int i = 0; i < m; i++) {
                double d2 = clamp(seedGram - 2.0 * cross[from + i] + targetSquaredNorms[i]);
                if (d2 < nearest[i]) {
                    nearest[i] = d2;
                }
            }
        }
        return seeds;
    }

    @Override
    public Step step(int k, int[] owner, double[] weight, int[] current) {
        return steps(k, new int[] {0}, new int[][] {owner}, new double[][] {weight}, new int[][] {current})[0];
    }

    /**
     * Restart by restart, each with its own table of C U ({@link NearestGroups}); a restart's
     * results are the bits it gets stepped alone (the tables only save work: a column is summed
     * anew, in the same order, wherever its group changed since the table's last step).
     */
    @Override
    public Step[] steps(int k, int[] restarts, int[][] owners, double[][] weights, int[][] currents) {
        GramKMeansArguments.steps(m, k, restarts, owners, weights, currents);
        NearestGroups[] kept = tablesFor(restarts);
        Step[] out = new Step[restarts.length];
        for (int b = 0; b < restarts.length; b++) {
            out[b] = step(kept[b], k, owners[b], weights[b], currents[b]);
        }
        return out;
    }

    private Step step(NearestGroups nearestGroups, int k, int[] owner, double[] weight, int[] current) {
        double[] currentD2 = current == null ? null : new double[m];
        int[] next = new int[m];
        double[] nextD2 = new double[m];
        nearestGroups.update(k, owner, weight);
        nearestGroups.search(current, quadratics(k, owner, weight), targetSquaredNorms, currentD2, next, nextD2);
        return new Step(currentD2, next, nextD2);
    }

    /**
     * A table per restart named: its own from its last step, else one that a restart not named now
     * held (so one restart after another reuses one table, as a single restart always did), else a
     * new one. The tables of restarts not named and not reused are let go.
     */
    private NearestGroups[] tablesFor(int[] restarts) {
        Set<Integer> named = new HashSet<>();
        for (int id : restarts) {
            named.add(id);
        }
        Deque<NearestGroups> spare = new ArrayDeque<>();
        tables.entrySet().removeIf(e -> !named.contains(e.getKey()) && spare.add(e.getValue()));
        NearestGroups[] kept = new NearestGroups[restarts.length];
        for (int b = 0; b < restarts.length; b++) {
            kept[b] = tables.computeIfAbsent(restarts[b], id -> spare.isEmpty()
                    ? new NearestGroups(cross, m, workers, runner) : spare.poll());
        }
        spare.forEach(NearestGroups::release);
        return kept;
    }

    /**
     * u_g<sup>T</sup> G u_g for every group, from the members' block of G only: O(sum |g|<sup>2</sup>).
     * With C U (each member's column of C added to its group's, {@link NearestGroups}) a step costs
     * O(m<sup>2</sup> + sum |g|<sup>2</sup>), where a dense C U would cost O(m<sup>2</sup> k).
     */
    private double[] quadratics(int k, int[] owner, double[] weight) {
        GroupMembers grouped = GroupMembers.of(owner, k, null);
        int[] start = grouped.start();
        int[] members = grouped.members();
        double[] quadratic = new double[k];
        for (int g = 0; g < k; g++) {
            double sum = 0.0;
            for (int ia = start[g]; ia < start[g + 1]; ia++) {
                int a = members[ia];
                double row = 0.0;
                for (int ib = start[g]; ib < start[g + 1]; ib++) {
                    int b = members[ib];
                    row += gram[a + b * m] * weight[b];
                }
                sum += weight[a] * row;
            }
            quadratic[g] = sum;
        }
        return quadratic;
    }

    /** Negative rounding residue becomes 0; NaN stays NaN. */
    static double clamp(double squared) {
        return squared < 0.0 ? 0.0 : squared;
    }

    @Override
    public void close() {
        tables.values().forEach(NearestGroups::release);
        tables.clear();
    }
}
