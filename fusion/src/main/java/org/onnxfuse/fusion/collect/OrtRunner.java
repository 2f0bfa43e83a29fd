package org.onnxfuse.fusion.collect;

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
import java.util.Collection;
import java.util.HashMap;
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
 * One ONNX Runtime session over a model with one float input (plus, optionally, per-sample labels
 * and fixed inputs: {@link ExtraInputs}), run batch by batch. Owns the
 * session and its options until {@link #close()}; the process-wide {@link OrtEnvironment} is
 * shared and never closed here. Each {@link #run} closes its result before returning and the
 * caller gets plain Java arrays; the input and pinned output tensors (native buffers per batch
 * shape) are reused across runs and closed with the runner. Not
 * thread-safe.
 */
public final class OrtRunner implements AutoCloseable {
    private final String label;
    private final OrtSession.SessionOptions options;
    private final OrtSession session;
    private final String inputName;
    private final ExtraInputs extra;
    /** The fixed tensors of {@link ExtraInputs#constants()}, over direct buffers, fed to every run. */
    private final Map<String, Pinned> constants = new LinkedHashMap<>();
    private final Set<String> outputNames;
    /** Bound on the batch shapes whose buffers are kept. */
    private static final int MAX_SHAPES = 4;
    /**
     * Per batch shape, the input and the outputs in native memory, reused across runs. ONNX
     * Runtime copies a heap buffer into a fresh direct buffer per tensor, freed only when the
     * garbage collector finds it: with many batches that native memory piled up (1.4 GB at 50,000
     * samples). Outputs it allocates itself are copied out twice (OnnxTensor.getFloatBuffer makes
     * a heap copy); outputs pinned to our buffers are written in place and copied once into
     * reused arrays, so a run allocates no arrays and the heap does not grow with the batches.
     */
    private final List<Shaped> shapes = new ArrayList<>();
    private boolean closed;

    private OrtRunner(String label, OrtSession.SessionOptions options, OrtSession session, String inputName,
                      ExtraInputs extra) {
        this.label = label;
        this.options = options;
        this.session = session;
        this.inputName = inputName;
        this.extra = extra;
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
        return open(label, model, extraOutputs, ExtraInputs.NONE, threads);
    }

    /**
     * Graph inputs fed beside the float batch: per-sample int64 labels (one per batch row, given
     * with each run) and fixed float tensors fed unchanged to every run (e.g. a baseline input).
     *
     * @param labels    the name of the int64 [N] input, or null for none
     * @param constants fixed inputs by name, copied into native memory once when the runner opens
     */
    public record ExtraInputs(String labels, Map<String, Activation> constants) {
        public static final ExtraInputs NONE = new ExtraInputs(null, Map.of());

        public ExtraInputs {
            constants = Map.copyOf(constants);
        }

        int count() {
            return (labels == null ? 0 : 1) + constants.size();
        }
    }

    /**
     * As {@link #open(String, Model, Collection, int)} for a model whose feed inputs are the float
     * batch plus {@code extra}'s inputs.
     */
    public static OrtRunner open(String label, Model model, Collection<String> extraOutputs, ExtraInputs extra,
                                 int threads) {
        Model withOutputs = ModelSlicing.withOutputs(model, List.copyOf(extraOutputs));
        List<ValueInfo> feeds = withOutputs.graph().feedInputs().stream()
                .filter(v -> !v.name().equals(extra.labels()) && !extra.constants().containsKey(v.name())).toList();
        if (feeds.size() != 1 || withOutputs.graph().feedInputs().size() != 1 + extra.count()) {
            throw new OnnxFuseException(ErrorCode.UNSUPPORTED_OP, label + " has inputs "
                    + withOutputs.graph().feedInputs().stream().map(ValueInfo::name).toList()
                    + "; expected exactly one float input besides " + extra);
        }
        Session opened = openSession(label, withOutputs, threads);
        OrtRunner runner = new OrtRunner(label, opened.options(), opened.session(), feeds.get(0).name(), extra);
        try {
            for (Map.Entry<String, Activation> c : extra.constants().entrySet()) {
                Pinned p = new Pinned(c.getValue().shape(), false);
                p.buffer.put(c.getValue().values()).flip();
                runner.constants.put(c.getKey(), p);
            }
        } catch (OrtException | RuntimeException e) {
            runner.close();
            throw new OnnxFuseException(ErrorCode.BACKEND, label + ": cannot create the fixed inputs: "
                    + e.getMessage(), e);
        }
        return runner;
    }

    /** An ONNX Runtime session and the options it was made with; whoever receives it closes both. */
    public record Session(OrtSession.SessionOptions options, OrtSession session) {
    }

    /**
     * Opens a CPU session on {@code model} with this project's settings: {@code threads} intra-op
     * threads (0: ONNX Runtime's choice), one inter-op thread, idle threads sleeping.
     *
     * @throws OnnxFuseException BACKEND when ONNX Runtime cannot load the model
     */
    public static Session openSession(String label, Model model, int threads) {
        byte[] bytes = OnnxWriter.toBytes(model);
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
            return new Session(options, env.createSession(bytes, options));
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
        Map<String, Activation> shared = runShared(values, shape, outputs);
        Map<String, Activation> out = new LinkedHashMap<>();
        for (Activation a : shared.values()) {
            out.put(a.name(), new Activation(a.name(), a.shape(), a.values().clone()));
        }
        return out;
    }

    /**
     * Like {@link #run(FloatBatch, Collection)}, but the activations' arrays belong to this runner
     * and are overwritten by its next run of a batch of the same shape: use them before running
     * again. Allocates no arrays once a batch shape has been seen (ONNX Runtime writes straight
     * into the runner's buffers), so a loop over many batches makes almost no garbage.
     */
    public Map<String, Activation> runShared(FloatBatch batch, Collection<String> outputs) {
        return runShared(batch.values(), batch.shape(), outputs);
    }

    /** {@link #runShared(FloatBatch, Collection)} for {@code values} of {@code shape} (row-major). */
    public Map<String, Activation> runShared(float[] values, long[] shape, Collection<String> outputs) {
        return runShared(values, shape, null, outputs);
    }

    /**
     * {@link #runShared(float[], long[], Collection)} with {@code labels} (one per batch row) fed
     * to the {@link ExtraInputs#labels()} input; null when the runner has none.
     */
    public Map<String, Activation> runShared(float[] values, long[] shape, long[] labels,
                                             Collection<String> outputs) {
        if ((labels == null) != (extra.labels() == null)) {
            throw new IllegalArgumentException(label + ": " + (labels == null ? "labels for input '" + extra.labels()
                    + "' are missing" : "labels given but the model has no labels input"));
        }
        if (labels != null && (shape.length == 0 || labels.length != shape[0])) {
            throw new IllegalArgumentException(label + ": a batch of shape " + java.util.Arrays.toString(shape)
                    + " needs one label per row, found " + labels.length);
        }
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
        Shaped io = shaped(shape);
        io.input.buffer.clear();
        io.input.buffer.put(values, 0, Math.toIntExact(io.input.size)).flip();
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        feeds.put(inputName, io.input.tensor);
        if (labels != null) {
            io.labels.clear();
            io.labels.put(labels).flip();
            feeds.put(extra.labels(), io.labelTensor);
        }
        constants.forEach((name, p) -> feeds.put(name, p.tensor));
        Map<String, OnnxTensor> pinned = new LinkedHashMap<>();
        Set<String> allocated = new LinkedHashSet<>();
        for (String name : requested) {
            Pinned p = io.outputs.get(name);
            if (p != null) {
                pinned.put(name, p.tensor);
            } else {
                allocated.add(name);
            }
        }
        Map<String, Activation> out = new LinkedHashMap<>();
        try (OrtSession.Result result = session.run(feeds, allocated, pinned)) {
            for (String name : requested) {
                Pinned p = io.outputs.get(name);
                if (p == null) {
                    p = pin(io, name, result.get(name));
                }
                p.buffer.get(0, p.values, 0, p.values.length);
                out.put(name, new Activation(name, p.shape, p.values));
            }
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime failed to run " + label + " on a batch of shape "
                    + java.util.Arrays.toString(shape) + ": " + e.getMessage(), e);
        }
        return out;
    }

    /**
     * A direct buffer and an ONNX Runtime tensor over it, reused across runs: ONNX Runtime reads
     * the input from (or writes a pinned output into) the buffer without copying, and the Java
     * side copies it into {@code values}, also reused.
     */
    private static final class Pinned {
        final long[] shape;
        final long size;
        final FloatBuffer buffer;
        final OnnxTensor tensor;
        final float[] values;

        Pinned(long[] shape, boolean withArray) throws OrtException {
            this.shape = shape.clone();
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            this.size = n;
            this.buffer = ByteBuffer.allocateDirect(Math.toIntExact(Math.multiplyExact(Math.max(n, 1), Float.BYTES)))
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
            this.buffer.limit(Math.toIntExact(n));
            this.tensor = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), buffer, shape);
            this.values = withArray ? new float[Math.toIntExact(n)] : null;
        }
    }

    /**
     * The input tensor for one batch shape, the labels tensor when the model takes labels, and the
     * pinned outputs learnt from the shape's first run.
     */
    private static final class Shaped {
        final Pinned input;
        final LongBuffer labels;
        final OnnxTensor labelTensor;
        final Map<String, Pinned> outputs = new HashMap<>();

        Shaped(Pinned input, boolean withLabels) throws OrtException {
            this.input = input;
            if (withLabels) {
                long rows = input.shape[0];
                labels = ByteBuffer.allocateDirect(Math.toIntExact(Math.max(rows, 1) * Long.BYTES))
                        .order(ByteOrder.nativeOrder()).asLongBuffer();
                labels.limit(Math.toIntExact(rows));
                labelTensor = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), labels, new long[] {rows});
            } else {
                labels = null;
                labelTensor = null;
            }
        }

        void close() {
            input.tensor.close();
            if (labelTensor != null) {
                labelTensor.close();
            }
            for (Pinned p : outputs.values()) {
                p.tensor.close();
            }
        }
    }

    /**
     * The buffers for batches of {@code shape}. A run over data meets two shapes (full batches and
     * the last one); more are kept up to a small bound, then the oldest is dropped.
     */
    private Shaped shaped(long[] shape) {
        for (Shaped s : shapes) {
            if (java.util.Arrays.equals(s.input.shape, shape)) {
                return s;
            }
        }
        if (shapes.size() == MAX_SHAPES) {
            shapes.remove(0).close();
        }
        try {
            Shaped s = new Shaped(new Pinned(shape, false), extra.labels() != null);
            shapes.add(s);
            return s;
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, label + ": cannot create an input tensor of shape "
                    + java.util.Arrays.toString(shape) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Output {@code name} of a first run with this input shape: its shape is now known, so later
     * runs get a pinned output of that shape, and this run's values are copied into its buffer.
     */
    private Pinned pin(Shaped io, String name, Optional<OnnxValue> value) throws OrtException {
        if (value.isEmpty() || !(value.get() instanceof OnnxTensor tensor)) {
            throw new OnnxFuseException(ErrorCode.BACKEND, label + ": output '" + name + "' is not a tensor");
        }
        if (tensor.getInfo().type != OnnxJavaType.FLOAT) {
            throw new OnnxFuseException(ErrorCode.UNSUPPORTED_TENSOR_TYPE, label + ": output '" + name
                    + "' is " + tensor.getInfo().type + ", expected FLOAT");
        }
        Pinned p = new Pinned(tensor.getInfo().getShape(), true);
        p.buffer.clear();
        p.buffer.put(tensor.getFloatBuffer()).flip();
        io.outputs.put(name, p);
        return p;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            for (Shaped sh : shapes) {
                sh.close();
            }
            shapes.clear();
            for (Pinned p : constants.values()) {
                p.tensor.close();
            }
            constants.clear();
            session.close();
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "closing the session of " + label + ": " + e.getMessage(), e);
        } finally {
            options.close();
        }
    }
}
