package org.onnxfuse.fusion.pipeline;

import java.util.Objects;
import org.onnxfuse.kernels.DenseMatrix;

/**
 * A level's grouping result as the pipeline needs it.
 *
 * @param fusedWeights  d x k fused weights W U (last row the bias when X had a ones column)
 * @param memberWeights m x k: column g holds fused neuron g's member weights u_g, so the fused
 *                      target is A U
 * @param cost          the grouping cost sum_i s_i ||X w_group(i) - a_i|| (0 for the last level)
 * @param method        "KF", "HF" or "class mean"
 */
public record LevelFit(DenseMatrix fusedWeights, DenseMatrix memberWeights, double cost, String method) {
    public LevelFit {
        Objects.requireNonNull(fusedWeights, "fusedWeights");
        Objects.requireNonNull(memberWeights, "memberWeights");
        if (fusedWeights.cols() != memberWeights.cols()) {
            throw new IllegalArgumentException("fused weights " + fusedWeights.shape() + " and member weights "
                    + memberWeights.shape() + " disagree on k");
        }
    }

    public int width() {
        return fusedWeights.cols();
    }
}
