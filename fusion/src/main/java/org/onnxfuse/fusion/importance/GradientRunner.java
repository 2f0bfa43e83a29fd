package org.onnxfuse.fusion.importance;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Model;

/**
 * Runs the gradient model of one parent ({@link GradientGraph#build}) in ONNX Runtime, batch by
 * batch. Owns its session and session options until {@link #close()}; the process-wide
 * {@link OrtEnvironment} is shared and never closed here. Every input tensor and result of a
 * {@link #run} is closed before it returns, and the caller gets plain Java arrays it owns. For
 * {@link GradientGraph.Rule#RESCALE} the baseline fed is all zeros (batch 1). Not thread-safe.
 */
public final class GradientRunner implements AutoCloseable {
    /** One cut's values on a batch, dF/d(cut) (or the rescale multipliers), and its value on the baseline. */
    public record CutGradient(Activation value, Activation gradient, Activation baseline) {
    }

    private final String label;
    private final OrtSession.SessionOptions options;
    private final OrtSession session;
    private final String inputName;
    private final List<String> cuts;
    private final GradientGraph.Rule rule;
    private boolean closed;

    private GradientRunner(String label, OrtSession.SessionOptions options, OrtSession session, String inputName,
                           List<String> cuts, GradientGraph.Rule rule) {
        this.label = label;
        this.options = options;
        this.session = session;
        this.inputName = inputName;
        this.cuts = List.copyOf(cuts);
        this.rule = rule;
    }

    /**
     * Builds the gradient model of {@code parent} for {@code cuts} and opens a session on it.
     *
     * @param label   names the model in messages ("parent 1")
     * @param threads intra-op threads; 0 lets ONNX Runtime choose
     */
    public static GradientRunner open(String label, Model parent, List<String> cuts, GradientGraph.Rule rule,
                                      int threads) {
        Model gradients = GradientGraph.build(parent, cuts, rule);
        String inputName = parent.graph().feedInputs().get(0).name();
        OrtRunner.Session opened = OrtRunner.openSession("the gradient model of " + label, gradients, threads);
        return new GradientRunner(label, opened.options(), opened.session(), inputName, cuts, rule);
    }

    public List<String> cuts() {
        return cuts;
    }

    public GradientGraph.Rule rule() {
        return rule;
    }

    /**
     * Runs one batch: {@code values} row-major of {@code shape} (batch first), {@code labels} one
     * class index per sample. Returns, per cut in order, its value, gradient and (RESCALE) baseline.
     */
    public Map<String, CutGradient> run(float[] values, long[] shape, long[] labels) {
        if (closed) {
            throw new IllegalStateException(label + ": gradient session already closed");
        }
        if (shape.length == 0 || shape[0] != labels.length) {
            throw new IllegalArgumentException(label + ": a batch of shape " + Arrays.toString(shape) + " needs "
                    + (shape.length == 0 ? "a batch axis" : shape[0] + " labels") + ", found " + labels.length);
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Set<String> outputs = new LinkedHashSet<>();
        for (String c : cuts) {
            outputs.add(c);
            outputs.add(GradientGraph.gradientName(c));
            if (rule == GradientGraph.Rule.RESCALE) {
                outputs.add(GradientGraph.baselineName(c));
            }
        }
        List<OnnxTensor> inputs = new ArrayList<>();
        try {
            Map<String, OnnxTensor> feeds = new HashMap<>();
            feeds.put(inputName, track(inputs, OnnxTensor.createTensor(env, FloatBuffer.wrap(values), shape)));
            feeds.put(GradientGraph.LABELS, track(inputs, OnnxTensor.createTensor(env, LongBuffer.wrap(labels),
                    new long[] {labels.length})));
            if (rule == GradientGraph.Rule.RESCALE) {
                long[] baseShape = shape.clone();
                baseShape[0] = 1;
                float[] zeros = new float[Math.toIntExact(values.length / Math.max(shape[0], 1))];
                feeds.put(GradientGraph.BASELINE, track(inputs, OnnxTensor.createTensor(env, FloatBuffer.wrap(zeros),
                        baseShape)));
            }
            Map<String, Activation> copied = new HashMap<>();
            try (OrtSession.Result result = session.run(feeds, outputs)) {
                for (String name : outputs) {
                    copied.put(name, copy(name, result.get(name)));
                }
            }
            Map<String, CutGradient> out = new LinkedHashMap<>();
            for (String c : cuts) {
                out.put(c, new CutGradient(copied.get(c), copied.get(GradientGraph.gradientName(c)),
                        copied.get(GradientGraph.baselineName(c))));
            }
            return out;
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime failed to run the gradient model of " + label
                    + " on a batch of shape " + Arrays.toString(shape) + ": " + e.getMessage(), e);
        } finally {
            inputs.forEach(OnnxTensor::close);
        }
    }

    private static OnnxTensor track(List<OnnxTensor> open, OnnxTensor t) {
        open.add(t);
        return t;
    }

    private Activation copy(String name, Optional<OnnxValue> value) {
        if (value.isEmpty() || !(value.get() instanceof OnnxTensor tensor)) {
            throw new OnnxFuseException(ErrorCode.BACKEND, label + ": output '" + name + "' is not a tensor");
        }
        if (tensor.getInfo().type != OnnxJavaType.FLOAT) {
            throw new OnnxFuseException(ErrorCode.UNSUPPORTED_TENSOR_TYPE, label + ": output '" + name + "' is "
                    + tensor.getInfo().type + ", expected FLOAT");
        }
        FloatBuffer buffer = tensor.getFloatBuffer();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return new Activation(name, tensor.getInfo().getShape(), values);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            session.close();
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "closing the gradient session of " + label + ": "
                    + e.getMessage(), e);
        } finally {
            options.close();
        }
    }
}
