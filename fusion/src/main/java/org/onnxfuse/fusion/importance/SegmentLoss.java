package org.onnxfuse.fusion.importance;

/**
 * The loss a parameter-gradient model ({@link GradientGraph#forParameters}) differentiates, summed
 * over the segment's outputs y. Each kind reads its own inputs per output, named by
 * {@link #upstreamName}, {@link #targetName} and {@link #weightName}.
 */
public sealed interface SegmentLoss permits SegmentLoss.Upstream, SegmentLoss.WeightedMse, SegmentLoss.Distillation {
    /** TEMPORARY placeholder until the distillation loss lands. */
    record Distillation(double temperature, int classAxis) implements SegmentLoss {
    }

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
