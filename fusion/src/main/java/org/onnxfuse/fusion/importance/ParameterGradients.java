package org.onnxfuse.fusion.importance;

import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * A model that computes a segment's loss and its gradient with respect to each of the segment's
 * parameters ({@link GradientGraph#forParameters}), for a training loop that feeds the current
 * parameters every step.
 *
 * <p>Inputs, float but for an int64 or bool segment input (a mask, as the model declares it): every
 * segment input (by its own name), every parameter (by its own name,
 * its initializer's shape) and, per segment output y, the loss's inputs
 * ({@link SegmentLoss#upstreamName} for {@link SegmentLoss.Upstream}, {@link SegmentLoss#targetName} and
 * {@link SegmentLoss#weightName} for {@link SegmentLoss.WeightedMse}, {@link SegmentLoss#targetName}
 * for {@link SegmentLoss.Distillation}). Outputs: {@link #LOSS} (a scalar), every segment output y (the
 * forward values, for validation) and {@link #gradientName}(p) for every parameter p (p's shape).
 *
 * @param model         the model to run (opset max(parent's, {@value GradientGraph#GRADIENT_OPSET}))
 * @param inputs        the segment's inputs, in the order given
 * @param outputs       the segment's outputs, in the order given
 * @param parameters    the trained parameters, in the order given
 * @param initialValues each parameter's value in the source model
 * @param loss          the loss differentiated
 */
public record ParameterGradients(Model model, List<String> inputs, List<String> outputs, List<String> parameters,
                                 Map<String, Tensor> initialValues, SegmentLoss loss) {
    /** The scalar loss output. */
    public static final String LOSS = "onnxfuse_loss";

    public ParameterGradients {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        parameters = List.copyOf(parameters);
        initialValues = Map.copyOf(initialValues);
    }

    /** The input holding segment output {@code output}'s target (the weighted MSE's and the distillation's). */
    public static String targetInput(String output) {
        return SegmentLoss.targetName(output);
    }

    /** The input holding the weighted MSE's per-neuron weights of segment output {@code output}. */
    public static String weightInput(String output) {
        return SegmentLoss.weightName(output);
    }

    /** The output dL/d{@code parameter}. */
    public static String gradientName(String parameter) {
        return GradientGraph.gradientName(parameter);
    }
}
