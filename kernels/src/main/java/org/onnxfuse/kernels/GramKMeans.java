package org.onnxfuse.kernels;

/**
 * The O(m<sup>2</sup>) part of weighted K-means in Gram form on one backend, for m neurons whose
 * squared distance to a centroid u (zero outside its members) is u<sup>T</sup>G u - 2 (C u)_i + t_i,
 * clamped at 0 (negative rounding residue becomes 0, NaN stays NaN). Opened by
 * {@link ComputeBackend#openGramKMeans}; the m x m inputs stay where the backend keeps them (the
 * device for CUDA) while it is open, so that a Lloyd iteration moves O(m) values, never the m x k
 * distance table.
 *
 * <p>Every backend computes bit-identical results: the same float64 operations in the same order,
 * without fused multiply-adds (see {@link CpuGramKMeans} for the order and kmeans.cu for how the
 * device keeps it). Hence the same seed gives the same grouping on every backend. Not thread-safe.
 */
public interface GramKMeans extends AutoCloseable {

    /** m. */
    int neurons();

    /**
     * k distinct seed neurons: {@code first}, then repeatedly the neuron (not yet a seed) farthest
     * from its nearest seed, the lowest index on ties, where a seed j is the centroid u = e_j:
     * d<sup>2</sup>(j, i) = clamp(G_jj - 2 C_ij + t_i).
     *
     * @throws IllegalArgumentException unless 0 <= first < m and 1 <= k <= m
     */
    int[] farthestFirst(int first, int k);

    /**
     * One assignment step against k centroids, where neuron j is a member of centroid
     * {@code owner[j]} (-1: of none) with weight {@code weight[j]}; d<sup>2</sup>(i, g) as in the
     * class comment, with (C u_g)_i summed over the members j of g in ascending j and
     * u_g<sup>T</sup>G u_g as sum_a w_a (sum_b G_ab w_b) over the members a, b of g in ascending order.
     *
     * @param current each neuron's current group (0..k-1), or null: a neuron stays in its current
     *     group unless another is strictly nearer; without one the search starts at group 0; among
     *     equally near groups the lowest id wins
     * @throws IllegalArgumentException if the lengths or ids are out of range
     */
    Step step(int k, int[] owner, double[] weight, int[] current);

    /** Releases the backend's copies (device memory); idempotent. */
    @Override
    void close();

    /**
     * What a Lloyd iteration reads, per neuron i.
     *
     * @param currentSquaredDistance d<sup>2</sup>(i, current[i]); null when {@code current} was null
     * @param next the nearest group by the rule of {@link #step}
     * @param nextSquaredDistance d<sup>2</sup>(i, next[i])
     */
    record Step(double[] currentSquaredDistance, int[] next, double[] nextSquaredDistance) {
    }
}
