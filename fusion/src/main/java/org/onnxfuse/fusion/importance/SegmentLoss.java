package org.onnxfuse.fusion.importance;

/**
 * The loss a parameter-gradient model ({@link GradientGraph#forParameters}) differentiates, summed
 * over the segment's outputs y. Each kind reads its own inputs per output, named by
 * {@link #upstreamName}, {@link #targetName} and {@link #weightName}.
 */
public sealed interface SegmentLoss permits SegmentLoss.Upstream, SegmentLoss.WeightedMse,
        SegmentLoss.Distillation {
    /**
     * The caller's loss, given only as dL/dy (input {@code onnxfuse_upstream/y}, y's shape). The
     * loss output is then the linearised loss sum(dL/dy * y), whose gradients are the caller's.
     */
    record Upstream() implements SegmentLoss {
    }

    /**
     * loss = sum_j w_j mean((y_j - t_j)^2): j runs over the neurons on {@code neuronAxis} (1 for a
     * Conv's channels, -1 for the features of a Gemm or MatMul), the mean over every other axis
     * (samples and positions). Inputs: the target {@code onnxfuse_target/y} (y's shape) and the
     * per-neuron weights {@code onnxfuse_weight/y} ([neurons]; all ones for the plain MSE summed
     * over neurons).
     */
    record WeightedMse(int neuronAxis) implements SegmentLoss {
    }

    /**
     * Knowledge distillation: loss = T^2 mean_rows KL(p || q) = T^2 mean_rows sum_c p_c (log p_c - log q_c)
     * with q = softmax(y / T) over {@code classAxis} and T the {@code temperature}; a row is one index
     * of every other axis (N rows for [N, C], N * S for [N, S, C]), counted from y's shape at run
     * time. Input: the target probabilities {@code onnxfuse_target/y} (y's shape, each row summing to
     * 1; p log p counts as 0 where p = 0). dL/dy = T (q - p) / rows, which uses that the rows of p sum
     * to 1.
     *
     * @param temperature T, positive and finite
     * @param classAxis   the axis of the classes (-1 for the last)
     */
    record Distillation(double temperature, int classAxis) implements SegmentLoss {
        public Distillation {
            if (!(temperature > 0) || Double.isInfinite(temperature)) {
                throw new IllegalArgumentException("expected a positive finite distillation temperature, found "
                        + temperature);
            }
        }
    }

    /** The input of dL/dy for segment output {@code output}. */
    static String upstreamName(String output) {
        return "onnxfuse_upstream/" + output;
    }

    /** The input of the target of segment output {@code output}. */
    static String targetName(String output) {
        return "onnxfuse_target/" + output;
    }

    /** The input of the per-neuron loss weights of segment output {@code output}. */
    static String weightName(String output) {
        return "onnxfuse_weight/" + output;
    }
}
