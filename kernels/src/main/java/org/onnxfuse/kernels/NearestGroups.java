package org.onnxfuse.kernels;

/**
 * The nearest-group search of K-means from a kept cross table C (column-major m x m, {@code
 * cross[i + j * m]} = C_ij) and the centroids' quadratic terms, for a block of neurons: the order of
 * operations that {@link GramKMeans#step} defines, shared by the CPU Gram form (all m neurons at
 * once) and the fusion's cross form (blocks of neurons on several threads). Java never fuses a
 * multiply and an add, so both give the same bits.
 */
public final class NearestGroups {
    private NearestGroups() {
    }

    /**
     * For neurons [from, to): (C u_g)_i summed over the members j of group g ({@code owner[j] == g},
     * weight {@code weight[j]}) in ascending j, then d<sup>2</sup>(i, g) = clamp(quadratic[g] - 2
     * (C u_g)_i + t_i), and each neuron's nearest group by {@link GramKMeans#step}'s rule (it stays
     * in {@code current[i]} unless another is strictly nearer; without current the search starts at
     * group 0; the lowest id wins ties), searched group by group down the block's columns. Writes
     * {@code next}, {@code nextD2} and (when {@code current} is not null) {@code currentD2} at the
     * neurons' own indices; {@code table} is work space of at least (to - from) x k values.
     */
    public static void search(double[] cross, int m, int from, int to, int k, int[] owner, double[] weight,
                              int[] current, double[] quadratic, double[] targetSquaredNorms, double[] table,
                              double[] currentD2, int[] next, double[] nextD2) {
        int size = to - from;
        java.util.Arrays.fill(table, 0, size * k, 0.0);
        for (int j = 0; j < m; j++) {
            int g = owner[j];
            if (g < 0) {
                continue;
            }
            double w = weight[j];
            int source = j * m + from;
            int target = g * size;
            for (int r = 0; r < size; r++) {
                table[target + r] += w * cross[source + r];
            }
        }
        for (int r = 0; r < size; r++) {
            int i = from + r;
            int best = current == null ? 0 : current[i];
            double bestD2 = CpuGramKMeans.clamp(quadratic[best] - 2.0 * table[best * size + r] + targetSquaredNorms[i]);
            next[i] = best;
            nextD2[i] = bestD2;
            if (current != null) {
                currentD2[i] = bestD2;
            }
        }
        // group by group down the table's columns (contiguous), each neuron comparing its groups in
        // ascending order as neuron by neuron would; along the rows one value per cache line was read
        for (int g = 0; g < k; g++) {
            double q = quadratic[g];
            int at = g * size;
            for (int r = 0; r < size; r++) {
                double d2 = CpuGramKMeans.clamp(q - 2.0 * table[at + r] + targetSquaredNorms[from + r]);
                if (d2 < nextD2[from + r]) {
                    next[from + r] = g;
                    nextD2[from + r] = d2;
                }
            }
        }
    }
}
