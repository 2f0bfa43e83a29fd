package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.onnx.ir.Model;

/**
 * Runs the gradient model of one parent ({@link GradientGraph#build}) in ONNX Runtime, batch by
 * batch, through an {@link OrtRunner} (reused native buffers, no arrays allocated per run once a
 * batch shape has been seen). Owns that runner until {@link #close()}. For
 * {@link GradientGraph.Rule#RESCALE} the baseline fed is all zeros (batch 1), fixed when the first
 * batch shows the sample shape. Not thread-safe.
 */
public final class GradientRunner implements AutoCloseable {
    /** One cut's values on a batch, dF/d(cut) (or the rescale multipliers), and its value on the baseline. */
    public record CutGradient(Activation value, Activation gradient, Activation baseline) {
    }

    private final String label;
    private final Model gradients;
    private final int threads;
    private final List<String> cuts;
    private final GradientGraph.Rule rule;
    private final List<String> outputs = new ArrayList<>();
    private OrtRunner runner;
    private long[] sampleShape;
    private boolean closed;

    private GradientRunner(String label, Model gradients, List<String> cuts, GradientGraph.Rule rule, int threads) {
        this.label = label;
        this.gradients = gradients;
        this.cuts = List.copyOf(cuts);
        this.rule = rule;
        this.threads = threads;
        for (String c : cuts) {
            outputs.add(c);
            outputs.add(GradientGraph.gradientName(c));
            if (rule == GradientGraph.Rule.RESCALE) {
                outputs.add(GradientGraph.baselineName(c));
            }
        }
    }

    /**
     * Builds the gradient model of {@code parent} for {@code cuts}; the ONNX Runtime session opens
     * with the first batch.
     *
     * @param label   names the model in messages ("parent 1")
     * @param threads intra-op threads; 0 lets ONNX Runtime choose
     */
    public static GradientRunner open(String label, Model parent, List<String> cuts, GradientGraph.Rule rule,
                                      int threads) {
        return new GradientRunner(label, GradientGraph.build(parent, cuts, rule), cuts, rule, threads);
    }

    /**
     * Runs one batch: {@code values} row-major of {@code shape} (batch first), {@code labels} one
     * class index per sample. Returns, per cut in order, its value, gradient and (RESCALE) baseline.
     * The arrays belong to this runner and are overwritten by its next run: use or copy them first.
     */
    public Map<String, CutGradient> run(float[] values, long[] shape, long[] labels) {
        if (closed) {
            throw new IllegalStateException(label + ": gradient session already closed");
        }
        if (shape.length == 0 || shape[0] != labels.length) {
            throw new IllegalArgumentException(label + ": a batch of shape " + Arrays.toString(shape) + " needs "
                    + (shape.length == 0 ? "a batch axis" : shape[0] + " labels") + ", found " + labels.length);
        }
        long[] samples = Arrays.copyOfRange(shape, 1, shape.length);
        if (runner == null) {
            sampleShape = samples;
            runner = OrtRunner.open("the gradient model of " + label, gradients, List.of(), extraInputs(samples),
                    threads);
        } else if (!Arrays.equals(sampleShape, samples)) {
            throw new IllegalArgumentException(label + ": samples of shape " + Arrays.toString(samples)
                    + ", but the first batch had samples of shape " + Arrays.toString(sampleShape));
        }
        Map<String, Activation> result = runner.runShared(values, shape, labels, outputs);
        Map<String, CutGradient> out = new LinkedHashMap<>();
        for (String c : cuts) {
            out.put(c, new CutGradient(result.get(c), result.get(GradientGraph.gradientName(c)),
                    result.get(GradientGraph.baselineName(c))));
        }
        return out;
    }

    private OrtRunner.ExtraInputs extraInputs(long[] samples) {
        if (rule != GradientGraph.Rule.RESCALE) {
            return new OrtRunner.ExtraInputs(GradientGraph.LABELS, Map.of());
        }
        long[] baseShape = new long[samples.length + 1];
        baseShape[0] = 1;
        System.arraycopy(samples, 0, baseShape, 1, samples.length);
        long size = 1;
        for (long d : samples) {
            size *= d;
        }
        Activation zeros = new Activation(GradientGraph.BASELINE, baseShape, new float[Math.toIntExact(size)]);
        return new OrtRunner.ExtraInputs(GradientGraph.LABELS, Map.of(GradientGraph.BASELINE, zeros));
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (runner != null) {
            runner.close();
        }
    }
}
