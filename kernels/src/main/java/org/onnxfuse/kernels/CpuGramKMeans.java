package org.onnxfuse.kernels;

import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * {@link GramKMeans} in plain Java on the caller's arrays (not copied: they must not change while
 * this is open). Holds one m x k table of C U, kept between steps ({@link NearestGroups}). The
 * order of operations (here and in {@link NearestGroups}) is the reference the device reproduces
 * (kmeans.cu); Java never fuses a multiply and an add.
 */
final class CpuGramKMeans implements GramKMeans {
    private final double[] cross;
    private final double[] gram;
    private final double[] targetSquaredNorms;
    private final int m;
    private final NearestGroups nearestGroups;

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
        this.nearestGroups = new NearestGroups(cross, m, workers, runner);
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
        GramKMeansArguments.step(m, k, owner, weight, current);
        double[] currentD2 = current == null ? null : new double[m];
        int[] next = new int[m];
        double[] nextD2 = new double[m];
        nearestGroups.update(k, owner, weight);
        nearestGroups.search(current, quadratics(k, owner, weight), targetSquaredNorms, currentD2, next, nextD2);
        return new Step(currentD2, next, nextD2);
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
        nearestGroups.release();
    }
}
