package org.onnxfuse.fusion.pipeline;

import java.util.List;
import org.onnxfuse.fusion.group.Grouping;
import org.onnxfuse.kernels.DenseMatrix;

/**
 * A neuron space once its grouping is fixed: which fused neuron each parent neuron went to and
 * with what weight. Every later level that reads the space maps the parents' weights through it
 * ({@link Priors}), and every per-neuron parameter of the space is averaged with its weights.
 *
 * @param grouping     the grouping of the space's m = sum of parent widths neurons, parents side by side;
 *                     kept without its fused weights ({@link Grouping#withoutWeights}), which the
 *                     level that made it has already written
 * @param parentWidths each parent's width of the space
 */
record FusedSpace(Grouping grouping, List<Integer> parentWidths) {
    FusedSpace {
        grouping = grouping.withoutWeights();
        parentWidths = List.copyOf(parentWidths);
    }

    /** k: fused neurons. */
    int width() {
        return grouping.width();
    }

    /** Index of parent {@code k}'s first neuron among the m. */
    int offset(int k) {
        int o = 0;
        for (int q = 0; q < k; q++) {
            o += parentWidths.get(q);
        }
        return o;
    }

    /** U (m x k): column g holds the normalised importance weights of group g's members. */
    DenseMatrix memberWeights() {
        return grouping.memberWeights();
    }
}
