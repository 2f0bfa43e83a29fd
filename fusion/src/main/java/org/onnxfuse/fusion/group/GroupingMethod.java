package org.onnxfuse.fusion.group;

/** Which algorithm produced a {@link Grouping}. */
public enum GroupingMethod {
    /** KF: importance-weighted K-means over all parents' neurons (ALGORITHM.md 3.4). */
    KMEANS,
    /** HF: optimal one-to-one matching of two parents' neurons (ALGORITHM.md 3.4). */
    HUNGARIAN,
    /**
     * An attention space: whole heads of every parent aligned to centroid heads, neurons matched
     * within each pair of heads (ALGORITHM.md section 3, "Neuron spaces", attention).
     */
    HEADS,
    /** The last level: class c of every parent forms fused class c (ALGORITHM.md 5). */
    CLASS_MEAN,
    /** A kept level (--keep-levels): parent p's neuron i is fused neuron i, alone, with weight 1. */
    KEPT
}
