package org.onnxfuse.fusion.collect;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * One ONNX Runtime session over a model with one float input, run batch by batch. Owns the
 * session and its options until {@link #close()}; the process-wide {@link OrtEnvironment} is
 * shared and never closed here. Each {@link #run} creates the input tensor and the result and
 * closes both before returning, so no native memory outlives a call: the caller gets plain Java
 * arrays. Not thread-safe.
 */
public final class OrtRunner implements AutoCloseable {
    private final String label;
    private final OrtSession.SessionOptions options;
    private final OrtSession session;
    private final String inputName;
    private final Set<String> outputNames;
    /**
     * The input batch in native memory, reused across runs. ONNX Runtime copies a heap buffer into
     * a fresh direct buffer per tensor, freed only when the garbage collector finds it: with many
     * batches that native memory piled up (1.4 GB at 50,000 samples), so inputs go through here.
     */
    private FloatBuffer inputBuffer;
    private boolean closed;

    private OrtRunner(String label, OrtSession.SessionOptions options, OrtSession session, String inputName) {
        this.label = label;
        this.options = options;
        this.session = session;
        this.inputName = inputName;
        this.outputNames = Set.copyOf(session.getOutputNames());
    }

    /**
     * Opens a session for {@code model} (serialised with {@link OnnxWriter#toBytes}) after adding
     * {@code extraOutputs} as graph outputs.
     *
     * @param label   names the model in messages ("parent 1", "fused model")
     * @param threads intra-op threads; 0 lets ONNX Runtime choose
     */
    public static OrtRunner open(String label, Model model, Collection<String> extraOutputs, int threads) {
        Model withOutputs = ModelSlicing.withOutputs(model, List.copyOf(extraOutputs));
        List<ValueInfo> feeds = withOutputs.graph().feedInputs();
        if (feeds.size() != 1) {
            throw new OnnxFuseException(ErrorCode.UNSUPPORTED_OP, label + " has " + feeds.size()
                    + " inputs to feed; activation collection supports models with exactly one input");
        }
        byte[] bytes = OnnxWriter.toBytes(withOutputs);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        try {
            if (threads > 0) {
                options.setIntraOpNumThreads(threads);
                options.setInterOpNumThreads(1);
            }
            // Idle intra-op threads must sleep, not spin: between runs the same cores do BLAS work
            // (statistics, solves) and spinning ONNX Runtime threads starved it (8 parents / 5000
            // samples: statistics 7.0 s with spinning, 1.3 s without, on 2 cores).
            options.addConfigEntry("session.intra_op.allow_spinning", "0");
            OrtSession session = env.createSession(bytes, options);
            return new OrtRunner(label, options, session, feeds.get(0).name());
        } catch (OrtException | RuntimeException e) {
            options.close();
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime could not load " + label + ": "
                    + e.getMessage(), e);
        }
    }

    public String inputName() {
        return inputName;
    }

    public Set<String> outputNames() {
        return outputNames;
    }

    /** Runs one batch and copies out the requested outputs (float32 tensors), in the order asked. */
    public Map<String, Activation> run(FloatBatch batch, Collection<String> outputs) {
        return run(batch.values(), batch.shape(), outputs);
    }

    /** Runs {@code values} of {@code shape} (row-major) and copies out the requested outputs. */
    public Map<String, Activation> run(float[] values, long[] shape, Collection<String> outputs) {
        if (closed) {
            throw new IllegalStateException(label + ": session already closed");
        }
        Set<String> requested = new LinkedHashSet<>(outputs);
        for (String name : requested) {
            if (!outputNames.contains(name)) {
                throw new IllegalArgumentException("unknown output '" + name + "' of " + label + ", expected one of "
                        + outputNames);
            }
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Map<String, Activation> out = new LinkedHashMap<>();
        try (OnnxTensor input = OnnxTensor.createTensor(env, direct(values), shape);
             OrtSession.Result result = session.run(Map.of(inputName, input), requested)) {
            for (String name : requested) {
                Optional<OnnxValue> value = result.get(name);
                if (value.isEmpty() || !(value.get() instanceof OnnxTensor tensor)) {
                    throw new OnnxFuseException(ErrorCode.BACKEND, label + ": output '" + name + "' is not a tensor");
                }
                FloatBuffer fb;
                try {
                    fb = tensor.getFloatBuffer();
                } catch (IllegalStateException e) {
                    fb = null;
                }
                if (fb == null) {
                    throw new OnnxFuseException(ErrorCode.UNSUPPORTED_TENSOR_TYPE, label + ": output '" + name
                            + "' is " + tensor.getInfo().type + ", expected FLOAT");
                }
                float[] data = new float[fb.remaining()];
                fb.get(data);
                out.put(name, new Activation(name, tensor.getInfo().getShape(), data));
            }
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime failed to run " + label + " on a batch of shape "
                    + java.util.Arrays.toString(shape) + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** {@code values} copied into the reusable direct input buffer (grown when a batch is larger). */
    private FloatBuffer direct(float[] values) {
        if (inputBuffer == null || inputBuffer.capacity() < values.length) {
            inputBuffer = ByteBuffer.allocateDirect(Math.multiplyExact(values.length, Float.BYTES))
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
        }
        inputBuffer.clear();
        inputBuffer.put(values).flip();
        return inputBuffer;
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
            throw new OnnxFuseException(ErrorCode.BACKEND, "closing the session of " + label + ": " + e.getMessage(), e);
        } finally {
            options.close();
        }
    }
}
