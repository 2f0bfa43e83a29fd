package org.onnxfuse.kernels;

/**
 * The step of farthest-first K-means initialisation that every grouping form shares: the next
 * seed is the unchosen neuron farthest from its nearest seed so far, the lowest index on a tie
 * (the CUDA kernel picks the same one).
 */
public final class FarthestFirst {
    private FarthestFirst() {
    }

    /** The unchosen index with the largest {@code nearest} distance, the lowest on a tie; -1 when all are chosen. */
    public static int nextSeed(boolean[] chosen, double[] nearest) {
        int seed = -1;
        for (int i = 0; i < nearest.length; i++) {
            if (!chosen[i] && (seed < 0 || nearest[i] > nearest[seed])) {
                seed = i;
            }
        }
        return seed;
    }
}
