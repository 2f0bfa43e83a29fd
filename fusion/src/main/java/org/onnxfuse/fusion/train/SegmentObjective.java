package org.onnxfuse.fusion.train;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.data.IntegerBatch;
import org.onnxfuse.fusion.importance.ParameterGradientRunner;
import org.onnxfuse.fusion.importance.ParameterGradients;
import org.onnxfuse.fusion.importance.SegmentLoss;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.TensorType;

/**
 * The {@link Objective} of one segment with one output, run in ONNX Runtime: the segment's
 * training graph ({@link org.onnxfuse.fusion.importance.GradientGraph#forParameters}, forward pass,
 * loss and backward pass) is fed a batch's inputs and targets, the current parameters and, for the
 * weighted MSE, the per-neuron loss weights, and returns the loss and every parameter's gradient. A
 * batch's rows are whole samples: an input tensor is [rows, input shape...] and the target [rows,
 * output shape...]. A segment may have several inputs (an attention block's stream, the other
 * stream its keys and values come from, a key padding mask): the float ones are fed from the batch's
 * {@link Batch#inputs()} and the int64 or bool ones, as the graph declares them, from its
 * {@link Batch#integers()}, each in the segment's order.
 *
 * <p>Owns its ONNX Runtime session until {@link #close()}. Validation runs the same graph and
 * discards the gradients (one graph, one session; the backward pass costs about as much as the
 * forward one on an affine segment).
 */
public final class SegmentObjective implements Objective {
    private final ParameterGradients gradients;
    private final ParameterGradientRunner runner;
    private final ParameterLayout layout;
    /** One sample's shape per segment input, in {@code gradients.inputs()} order. */
    private final long[][] inputShapes;
    /** Per segment input: whether the graph declares it int64 or bool. */
    private final boolean[] integer;
    private final long[] targetShape;
    private final Activation neuronWeights;
    private final String output;
    /** Each parameter's shape, as its tensor is fed every step. */
    private final long[][] parameterShapes;

    /**
     * A segment of one input.
     *
     * @param gradients   the segment's training graph: one input, one output, loss
     *                    {@link SegmentLoss.WeightedMse} or a target-only loss
     * @param layout      its parameters, in {@code gradients.parameters()} order and shapes
     * @param inputShape  one sample's input shape (the batch axis left out)
     * @param targetShape one sample's output shape (the batch axis left out)
     * @param weights     the weighted MSE's per-neuron weights (null for a loss without them)
     * @param threads     ONNX Runtime intra-op threads (0: its choice)
     */
    public SegmentObjective(ParameterGradients gradients, ParameterLayout layout, long[] inputShape,
                            long[] targetShape, float[] weights, int threads) {
        this(gradients, layout, List.of(requireOneInput(gradients, inputShape)), targetShape, weights, threads);
    }

    /**
     * A segment of any number of inputs: {@code inputShapes} holds one sample's shape per input of
     * {@code gradients}, in its order; the others as {@link #SegmentObjective(ParameterGradients,
     * ParameterLayout, long[], long[], float[], int)}.
     */
    public SegmentObjective(ParameterGradients gradients, ParameterLayout layout, List<long[]> inputShapes,
                            long[] targetShape, float[] weights, int threads) {
        this.gradients = Objects.requireNonNull(gradients, "gradients");
        this.layout = Objects.requireNonNull(layout, "layout");
        if (gradients.inputs().size() != inputShapes.size() || gradients.outputs().size() != 1) {
            throw new IllegalArgumentException("segment objective: expected " + inputShapes.size() + " input shapes"
                    + " and one output, found " + gradients.inputs() + " -> " + gradients.outputs());
        }
        if (layout.count() != gradients.parameters().size()) {
            throw new IllegalArgumentException("segment objective: " + layout.count() + " parameters in the layout, "
                    + gradients.parameters().size() + " in the graph");
        }
        for (int i = 0; i < layout.count(); i++) {
            if (!layout.get(i).name().equals(gradients.parameters().get(i))) {
                throw new IllegalArgumentException("segment objective: parameter " + i + " is '"
                        + layout.get(i).name() + "' in the layout but '" + gradients.parameters().get(i)
                        + "' in the graph");
            }
        }
        boolean weighted = gradients.loss() instanceof SegmentLoss.WeightedMse;
        if (weighted != (weights != null)) {
            throw new IllegalArgumentException("segment objective: per-neuron weights go with the weighted MSE only");
        }
        this.inputShapes = new long[inputShapes.size()][];
        this.integer = new boolean[inputShapes.size()];
        for (int i = 0; i < this.inputShapes.length; i++) {
            this.inputShapes[i] = inputShapes.get(i).clone();
            DataType type = gradients.model().graph().declaredType(gradients.inputs().get(i))
                    .map(TensorType::elementType).orElse(DataType.FLOAT);
            this.integer[i] = type == DataType.INT64 || type == DataType.BOOL;
        }
        this.targetShape = targetShape.clone();
        this.output = gradients.outputs().get(0);
        this.neuronWeights = weights == null ? null
                : new Activation(ParameterGradients.weightInput(output), new long[] {weights.length}, weights.clone());
        this.parameterShapes = new long[layout.count()][];
        for (int i = 0; i < layout.count(); i++) {
            parameterShapes[i] = layout.get(i).shape().stream().mapToLong(Integer::longValue).toArray();
        }
        this.runner = ParameterGradientRunner.open(gradients, threads);
    }

    private static long[] requireOneInput(ParameterGradients gradients, long[] inputShape) {
        if (gradients.inputs().size() != 1) {
            throw new IllegalArgumentException("segment objective: expected one input and one output, found "
                    + gradients.inputs() + " -> " + gradients.outputs());
        }
        return inputShape;
    }

    @Override
    public ParameterLayout parameters() {
        return layout;
    }

    @Override
    public double lossAndGradients(Batch batch, float[][] parameters, float[][] out) {
        ParameterGradientRunner.Step step = run(batch, parameters);
        List<String> names = gradients.parameters();
        for (int i = 0; i < names.size(); i++) {
            float[] g = step.gradients().get(names.get(i)).values();
            if (g.length != out[i].length) {
                throw new IllegalStateException("gradient of '" + names.get(i) + "': expected " + out[i].length
                        + " values, found " + g.length);
            }
            System.arraycopy(g, 0, out[i], 0, g.length);
        }
        return step.loss();
    }

    @Override
    public double loss(Batch batch, float[][] parameters) {
        return run(batch, parameters).loss();
    }

    private ParameterGradientRunner.Step run(Batch batch, float[][] parameters) {
        Map<String, Activation> feeds = new HashMap<>();
        Map<String, IntegerBatch> integers = new HashMap<>();
        int floats = 0;
        int longs = 0;
        for (int i = 0; i < inputShapes.length; i++) {
            String name = gradients.inputs().get(i);
            long[] shape = withRows(batch.rows(), inputShapes[i]);
            if (integer[i]) {
                integers.put(name, new IntegerBatch(0, batch.rows(), shape, batch.integers().get(longs++)));
            } else {
                feeds.put(name, new Activation(name, shape, batch.inputs().get(floats++)));
            }
        }
        if (floats != batch.inputs().size() || longs != batch.integers().size()) {
            throw new IllegalArgumentException("segment objective: the batch holds " + batch.inputs().size()
                    + " float and " + batch.integers().size() + " integer inputs; the segment reads " + floats
                    + " and " + longs);
        }
        String target = ParameterGradients.targetInput(output);
        feeds.put(target, new Activation(target, withRows(batch.rows(), targetShape), batch.targets()));
        if (neuronWeights != null) {
            feeds.put(neuronWeights.name(), neuronWeights);
        }
        for (int i = 0; i < layout.count(); i++) {
            String name = layout.get(i).name();
            feeds.put(name, new Activation(name, parameterShapes[i], parameters[i]));
        }
        return runner.run(feeds, integers);
    }

    private static long[] withRows(int rows, long[] sample) {
        long[] shape = new long[sample.length + 1];
        shape[0] = rows;
        System.arraycopy(sample, 0, shape, 1, sample.length);
        return shape;
    }

    @Override
    public void close() {
        runner.close();
    }
}
