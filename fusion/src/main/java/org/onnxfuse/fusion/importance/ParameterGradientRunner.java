package org.onnxfuse.fusion.importance;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.IntegerBatch;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.TensorType;

/**
 * Runs a {@link ParameterGradients} model in ONNX Runtime, one step per call: the caller feeds
 * every input by name (segment inputs, current parameters, the loss's inputs) and gets the loss,
 * the segment outputs and every parameter's gradient. Owns its session until {@link #close()};
 * the input tensors are made per step and released before the step returns. Not thread-safe.
 */
public final class ParameterGradientRunner implements AutoCloseable {
    /** One step's results: the loss, the segment outputs by name and dL/dp by parameter name. */
    public record Step(double loss, Map<String, Activation> outputs, Map<String, Activation> gradients) {
        public Step {
            outputs = Map.copyOf(outputs);
            gradients = Map.copyOf(gradients);
        }
    }

    private final ParameterGradients gradients;
    private final OrtRunner.Session session;
    private final Set<String> inputNames;

    private ParameterGradientRunner(ParameterGradients gradients, OrtRunner.Session session) {
        this.gradients = gradients;
        this.session = session;
        this.inputNames = session.session().getInputNames();
    }

    /** Opens a CPU session on {@code gradients}' model with {@code threads} intra-op threads (0: ONNX Runtime's choice). */
    public static ParameterGradientRunner open(ParameterGradients gradients, int threads) {
        return new ParameterGradientRunner(gradients, OrtRunner.openSession("the parameter-gradient model",
                gradients.model(), threads));
    }

    /** The names this runner must be fed, in the model's order. */
    public Set<String> inputNames() {
        return inputNames;
    }

    /**
     * Runs one step on {@code feeds}, one tensor per input name.
     *
     * @throws IllegalArgumentException naming the missing and the unknown inputs when the names differ
     */
    public Step run(Map<String, Activation> feeds) {
        return run(feeds, Map.of());
    }

    /**
     * {@link #run(Map)} with the int64 or bool segment inputs (a key padding mask) fed from
     * {@code integers}, each as the model declares it (a bool from 0 and 1).
     */
    public Step run(Map<String, Activation> feeds, Map<String, IntegerBatch> integers) {
        Set<String> names = new HashSet<>(feeds.keySet());
        names.addAll(integers.keySet());
        if (!names.equals(inputNames) || names.size() != feeds.size() + integers.size()) {
            List<String> missing = new ArrayList<>(inputNames);
            missing.removeAll(names);
            List<String> unknown = new ArrayList<>(names);
            unknown.removeAll(inputNames);
            throw new IllegalArgumentException("parameter-gradient model inputs missing " + missing + ", unknown "
                    + unknown + "; expected exactly " + inputNames + ", each once");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Map<String, OnnxTensor> tensors = new HashMap<>();
        try {
            for (Map.Entry<String, Activation> f : feeds.entrySet()) {
                tensors.put(f.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(f.getValue().values()),
                        f.getValue().shape()));
            }
            for (Map.Entry<String, IntegerBatch> f : integers.entrySet()) {
                tensors.put(f.getKey(), integerTensor(env, f.getKey(), f.getValue()));
            }
            try (OrtSession.Result result = session.session().run(tensors)) {
                double loss = asTensor(result, ParameterGradients.LOSS).getFloatBuffer().get(0);
                Map<String, Activation> outputs = new LinkedHashMap<>();
                for (String y : gradients.outputs()) {
                    outputs.put(y, copy(result, y, y));
                }
                Map<String, Activation> grads = new LinkedHashMap<>();
                for (String p : gradients.parameters()) {
                    grads.put(p, copy(result, ParameterGradients.gradientName(p), p));
                }
                return new Step(loss, outputs, grads);
            }
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime failed on the parameter-gradient model: "
                    + e.getMessage(), e);
        } finally {
            tensors.values().forEach(OnnxTensor::close);
        }
    }

    /** An int64 input's tensor, or a bool input's (0 is false). */
    private OnnxTensor integerTensor(OrtEnvironment env, String name, IntegerBatch b) throws OrtException {
        DataType type = gradients.model().graph().declaredType(name).map(TensorType::elementType).orElse(null);
        if (type == DataType.INT64) {
            return OnnxTensor.createTensor(env, LongBuffer.wrap(b.values()), b.shape());
        }
        if (type != DataType.BOOL) {
            throw new IllegalArgumentException("parameter-gradient model input '" + name + "' is of type " + type
                    + "; integers feed only INT64 and BOOL inputs");
        }
        long[] v = b.values();
        ByteBuffer bytes = ByteBuffer.allocateDirect(Math.max(v.length, 1)).order(ByteOrder.nativeOrder());
        for (int i = 0; i < v.length; i++) {
            bytes.put(i, (byte) (v[i] != 0 ? 1 : 0));
        }
        return OnnxTensor.createTensor(env, bytes.limit(v.length), b.shape(), OnnxJavaType.BOOL);
    }

    private static OnnxTensor asTensor(OrtSession.Result result, String name) {
        OnnxValue v = result.get(name).orElseThrow(() -> new IllegalStateException("no output '" + name + "'"));
        return (OnnxTensor) v;
    }

    private static Activation copy(OrtSession.Result result, String output, String name) {
        OnnxTensor t = asTensor(result, output);
        FloatBuffer b = t.getFloatBuffer();
        float[] values = new float[b.remaining()];
        b.get(values);
        long[] shape = t.getInfo().getShape();
        return new Activation(name, shape, values);
    }

    @Override
    public void close() {
        try {
            session.session().close();
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "cannot close the parameter-gradient session: "
                    + e.getMessage(), e);
        } finally {
            session.options().close();
        }
    }
}
