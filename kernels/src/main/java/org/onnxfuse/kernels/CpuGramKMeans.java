package org.onnxfuse.kernels;

import java.util.Arrays;

/**
 * {@link GramKMeans} in plain Java on the caller's arrays (not copied: they must not change while
 * this is open). Holds one m x k work table, reused between steps. The order of operations is
 * the reference the device reproduces (kmeans.cu); Java never fuses a multiply and an add.
 */
final class CpuGramKMeans implements GramKMeans {
    private final double[] cross;
    private final double[] gram;
    private final double[] targetSquaredNorms;
    private final int m;
    private double[] table;

    /** C and G column-major m x m: cross[i + j * m] = C_ij, gram[a + b * m] = G_ab. */
    CpuGramKMeans(double[] cross, double[] gram, double[] targetSquaredNorms, int m) {
        GramKMeansArguments.inputs(cross, gram, targetSquaredNorms, m);
        this.cross = cross;
        this.gram = gram;
        this.targetSquaredNorms = targetSquaredNorms;
        this.m = m;
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
        double[] d2 = squaredDistances(k, owner, weight);
        double[] currentD2 = current == null ? null : new double[m];
        int[] next = new int[m];
        double[] nextD2 = new double[m];
        for (int i = 0; i < m; i++) {
            int best = current == null ? 0 : current[i];
            next[i] = best;
            nextD2[i] = d2[i + best * m];
            if (current != null) {
                currentD2[i] = nextD2[i];
            }
        }
        // group by group down the table's columns (contiguous), each neuron comparing its groups in
        // the same order as before, so the same ties break the same way; neuron by neuron along the
        // rows read one value per cache line and took most of a step's time (m = 4096, k = 2048)
        for (int g = 0; g < k; g++) {
            int at = g * m;
            for (int i = 0; i < m; i++) {
                double value = d2[at + i];
                if (value < nextD2[i]) {
                    next[i] = g;
                    nextD2[i] = value;
                }
            }
        }
        return new Step(currentD2, next, nextD2);
    }

    /**
     * Fills the work table with d<sup>2</sup>(i, g) (m x k, column-major). U has at most one
     * non-zero per row, so C U is each member's column of C added to its group's column, and
     * u_g<sup>T</sup> G u_g needs only the members' block of G: O(m<sup>2</sup> + sum |g|<sup>2</sup>),
     * where a dense C U would cost O(m<sup>2</sup> k).
     */
    private double[] squaredDistances(int k, int[] owner, double[] weight) {
        if (table == null || table.length != m * k) {
            table = null; // let the old one go before allocating the new one
            table = new double[Math.multiplyExact(m, k)];
        }
        double[] d2 = table;
        Arrays.fill(d2, 0.0);
        int[] size = new int[k];
        for (int j = 0; j < m; j++) {
            int g = owner[j];
            if (g < 0) {
                continue;
            }
            size[g]++;
            double w = weight[j];
            int to = g * m;
            int from = j * m;
            for (int i = 0; i < m; i++) {
                d2[to + i] += w * cross[from + i];
            }
        }
        int[][] members = new int[k][];
        for (int g = 0; g < k; g++) {
            members[g] = new int[size[g]];
        }
        int[] filled = new int[k];
        for (int j = 0; j < m; j++) {
            if (owner[j] >= 0) {
                members[owner[j]][filled[owner[j]]++] = j;
            }
        }
        for (int g = 0; g < k; g++) {
            int[] idx = members[g];
            double quadratic = 0.0;
            for (int a : idx) {
                double row = 0.0;
                for (int b : idx) {
                    row += gram[a + b * m] * weight[b];
                }
                quadratic += weight[a] * row;
            }
            int at = g * m;
            for (int i = 0; i < m; i++) {
                d2[at + i] = clamp(quadratic - 2.0 * d2[at + i] + targetSquaredNorms[i]);
            }
        }
        return d2;
    }

    /** Negative rounding residue becomes 0; NaN stays NaN. */
    static double clamp(double squared) {
        return squared < 0.0 ? 0.0 : squared;
    }

    @Override
    public void close() {
        table = null;
    }
}
