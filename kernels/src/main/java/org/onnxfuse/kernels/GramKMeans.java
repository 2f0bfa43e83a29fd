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
 * device keeps it). Hence the same seed gives the same grouping on every backend. Independent
 * restarts may be stepped together ({@link #restartBatch}, {@link #steps}), each restart's results
 * the same bits as alone. Not thread-safe.
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

    /**
     * How many restarts a caller should advance together through {@link #steps} and
     * {@link #farthestFirst(int[], int)} for k groups: 1 where batching gains nothing (the default;
     * the CPU, whose steps already share the backend's threads and which would keep one m x k table
     * per restart), more where one call for many restarts saves launches (CUDA, as many as its free
     * memory holds distance tables for).
     *
     * @throws IllegalArgumentException unless 1 <= k <= m
     */
    default int restartBatch(int k) {
        GramKMeansArguments.groups(neurons(), k);
        return 1;
    }

    /**
     * {@link #farthestFirst(int, int)} for each of several restarts at once: entry r is the seeds
     * from {@code firsts[r]}. This default calls it restart by restart.
     */
    default int[][] farthestFirst(int[] firsts, int k) {
        int[][] seeds = new int[firsts.length][];
        for (int r = 0; r < firsts.length; r++) {
            seeds[r] = farthestFirst(firsts[r], k);
        }
        return seeds;
    }

    /**
     * One assignment step of each of several independent restarts: entry b is exactly what
     * {@link #step} returns for {@code owners[b]}, {@code weights[b]} and {@code currents[b]} (null
     * allowed) when restart {@code restarts[b]} is stepped alone. The ids (distinct within a call,
     * the same restart keeping its id between calls) let an implementation keep state per restart
     * between its steps (the CPU its table of C U); what it kept for a restart not named in a call
     * may be let go. This default takes one restart per call (implementations whose results depend
     * on their earlier steps, such as the fusion's factor form, keep it: the caller then advances
     * one restart at a time, as {@link #restartBatch} says).
     *
     * @throws IllegalArgumentException if the arrays differ in count, an id repeats, or an entry is
     *     invalid for {@link #step}
     * @throws UnsupportedOperationException for more than one restart where steps are not batched
     */
    default Step[] steps(int k, int[] restarts, int[][] owners, double[][] weights, int[][] currents) {
        GramKMeansArguments.steps(neurons(), k, restarts, owners, weights, currents);
        if (restarts.length > 1) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " steps one restart at a time, found "
                    + restarts.length);
        }
        return restarts.length == 0 ? new Step[0] : new Step[] {step(k, owners[0], weights[0], currents[0])};
    }

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
