package org.onnxfuse.fusion.pipeline;

/** The fusion algorithms the pipeline runs (ALGORITHM.md section 3). */
public enum FusionMethod {
    /** Importance-weighted K-means over all parents' neurons, then least squares; any K >= 2. */
    KF_LINEAR,
    /** Optimal one-to-one matching of two parents' neurons (K = 2, fused width = parent 0's width). */
    HF_LINEAR
}
