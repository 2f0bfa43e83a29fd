package org.onnxfuse.fusion.collect;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
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
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.InputTensor;
import org.onnxfuse.fusion.data.IntegerBatch;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.io.TempFiles;
import org.onnxfuse.onnx.io.WriteOptions;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * One ONNX Runtime session over a model, run batch by batch: its data inputs (one float input, or
 * several float, int64 and bool inputs fed from an {@link InputBatch} by name) plus, optionally,
 * per-sample labels and fixed inputs ({@link ExtraInputs}). Owns the
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
    /** The data inputs, in graph order: every feed input but the labels and the fixed ones. */
    private final List<Feed> feeds;
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

    /** A data input: its name and element type (FLOAT, INT64 or BOOL). */
    private record Feed(String name, DataType type) {
    }

    private OrtRunner(String label, OrtSession.SessionOptions options, OrtSession session, List<Feed> feeds,
                      ExtraInputs extra) {
        this.label = label;
        this.options = options;
        this.session = session;
        this.feeds = List.copyOf(feeds);
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
        List<ValueInfo> inputs = withOutputs.graph().feedInputs();
        List<Feed> feeds = new ArrayList<>();
        for (ValueInfo v : inputs) {
            if (v.name().equals(extra.labels()) || extra.constants().containsKey(v.name())) {
                continue;
            }
            DataType type = v.tensorType() == null ? DataType.FLOAT : v.tensorType().elementType();
            if (type != DataType.FLOAT && type != DataType.INT64 && type != DataType.BOOL) {
                throw new OnnxFuseException(ErrorCode.UNSUPPORTED_TENSOR_TYPE, label + " has input '" + v.name()
                        + "' of type " + type + "; expected FLOAT, INT64 or BOOL");
            }
            feeds.add(new Feed(v.name(), type));
        }
        if (feeds.isEmpty() || inputs.size() != feeds.size() + extra.count()) {
            throw new OnnxFuseException(ErrorCode.UNSUPPORTED_OP, label + " has inputs "
                    + inputs.stream().map(ValueInfo::name).toList() + "; expected at least one data input besides "
                    + extra);
        }
        Session opened = openSession(label, withOutputs, threads);
        OrtRunner runner = new OrtRunner(label, opened.options(), opened.session(), feeds, extra);
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
        return openSession(label, model, threads, inMemoryLimit(Runtime.getRuntime().maxMemory()));
    }

    /** {@link #openSession(String, Model, int)}, through a file when the tensors reach {@code inMemoryLimit} bytes. */
    static Session openSession(String label, Model model, int threads, long inMemoryLimit) {
        boolean inMemory = tensorBytes(model) < inMemoryLimit;
        byte[] bytes = inMemory ? OnnxWriter.toBytes(model) : null;
        OrtEnvironment env = RuntimeLogging.environment();
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
            return new Session(options, inMemory ? env.createSession(bytes, options)
                    : sessionFromFile(env, label, model, options));
        } catch (OrtException | RuntimeException e) {
            options.close();
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime could not load " + label + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * Models whose tensors pass this are handed to ONNX Runtime as a file with external data
     * instead of one protobuf message in memory, which cannot exceed 2 GiB.
     */
    static final long IN_MEMORY_LIMIT = 1L << 30;

    /**
     * The tensor bytes from which a model goes through a file with a heap of {@code maxHeap} bytes:
     * {@link #IN_MEMORY_LIMIT}, or an eighth of the heap where that is less. In memory, the model
     * is serialised on the heap (the tensors' bytes, then the message's one array: twice the
     * weights, the array in one piece), which ran a 1 GiB heap out of memory after a 275 MB fused
     * model's last level; through a file, one tensor at a time is on the heap.
     */
    static long inMemoryLimit(long maxHeap) {
        return Math.min(IN_MEMORY_LIMIT, maxHeap / 8);
    }

    /** The tensor bytes of the model's initializers (Constant nodes are small and left out). */
    static long tensorBytes(Model model) {
        long total = 0;
        for (Tensor t : model.graph().initializers().values()) {
            total += t.dataType().rawByteCount(t.elementCount());
        }
        return total;
    }

    /**
     * A session on a copy of {@code model} written to the temporary folder, every tensor over a
     * kilobyte in a page-aligned side file; both files are removed once ONNX Runtime has loaded them
     * (it keeps what it memory-mapped, which outlives the removal on Linux).
     */
    private static OrtSession sessionFromFile(OrtEnvironment env, String label, Model model,
                                              OrtSession.SessionOptions options) throws OrtException {
        Path folder = Path.of(System.getProperty("java.io.tmpdir"));
        SessionFiles files = SessionFiles.write(label, model, folder);
        try {
            return env.createSession(files.model().toString(), options);
        } finally {
            files.delete();
        }
    }

    /**
     * The model file and side file a session is loaded from: {@link TempFiles}, so the shutdown hook
     * deletes them if the JVM ends while they exist, and a later run's {@link TempFiles#removeStale}
     * deletes what a killed one left.
     */
    record SessionFiles(Path model, Path side) {
        static SessionFiles write(String label, Model model, Path folder) {
            Path modelFile = null;
            Path sideFile = null;
            try {
                modelFile = TempFiles.create(folder, "session.onnx");
                sideFile = TempFiles.create(folder, "session.onnx.data");
                OnnxWriter.write(model, modelFile, WriteOptions.externalAbove(1024, sideFile.getFileName().toString())
                        .withAlignment(WriteOptions.PAGE_ALIGNMENT));
                return new SessionFiles(modelFile, sideFile);
            } catch (IOException e) {
                TempFiles.delete(modelFile);
                TempFiles.delete(sideFile);
                throw new OnnxFuseException(ErrorCode.BACKEND, label + " holds more weights than go to ONNX Runtime"
                        + " in memory (an eighth of the heap, at most " + (IN_MEMORY_LIMIT >> 30) + " GiB), so it goes"
                        + " through a temporary file, but the temporary folder " + folder + " cannot take one: "
                        + e.getMessage(), e);
            } catch (RuntimeException | Error e) {
                TempFiles.delete(modelFile);
                TempFiles.delete(sideFile);
                throw e;
            }
        }

        void delete() {
            TempFiles.delete(model);
            TempFiles.delete(side);
        }
    }

    /** The main data input: the first float one (the first one when none is float). */
    public String inputName() {
        return feeds.stream().filter(f -> f.type() == DataType.FLOAT).findFirst().orElse(feeds.get(0)).name();
    }

    /** The data inputs' names, in graph order. */
    public List<String> inputNames() {
        return feeds.stream().map(Feed::name).toList();
    }

    public Set<String> outputNames() {
        return outputNames;
    }

    /** Whether output {@code name} is a float32 tensor, as the session declares it. */
    public boolean floatOutput(String name) {
        try {
            ai.onnxruntime.NodeInfo info = session.getOutputInfo().get(name);
            return info != null && info.getInfo() instanceof ai.onnxruntime.TensorInfo t
                    && t.type == OnnxJavaType.FLOAT;
        } catch (OrtException e) {
            return false;
        }
    }

    /** Runs one batch and copies out the requested outputs (float32 tensors), in the order asked. */
    public Map<String, Activation> run(FloatBatch batch, Collection<String> outputs) {
        return run(batch.values(), batch.shape(), outputs);
    }

    /** Runs one batch of every data input and copies out the requested outputs. */
    public Map<String, Activation> run(InputBatch batch, Collection<String> outputs) {
        return copied(runShared(batch, outputs));
    }

    /** Runs {@code values} of {@code shape} (row-major) and copies out the requested outputs. */
    public Map<String, Activation> run(float[] values, long[] shape, Collection<String> outputs) {
        return copied(runShared(values, shape, outputs));
    }

    private static Map<String, Activation> copied(Map<String, Activation> shared) {
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

    /**
     * {@link #runShared(FloatBatch, Collection)} for a batch of every data input, each fed from
     * the batch's tensor of its name ({@link InputBatch#tensor}).
     */
    public Map<String, Activation> runShared(InputBatch batch, Collection<String> outputs) {
        long[][] shapes = new long[feeds.size()][];
        InputTensor[] tensors = new InputTensor[feeds.size()];
        for (int i = 0; i < feeds.size(); i++) {
            tensors[i] = batch.tensor(feeds.get(i).name());
            shapes[i] = tensors[i].shape();
        }
        Shaped io = shaped(shapes);
        for (int i = 0; i < feeds.size(); i++) {
            io.inputs[i].write(tensors[i], label);
        }
        return execute(io, null, outputs);
    }

    /** {@link #runShared(FloatBatch, Collection)} for {@code values} of {@code shape} (row-major). */
    public Map<String, Activation> runShared(float[] values, long[] shape, Collection<String> outputs) {
        return runShared(values, shape, null, outputs);
    }

    /**
     * {@link #runShared(float[], long[], Collection)} with {@code labels} (one per batch row) fed
     * to the {@link ExtraInputs#labels()} input; null when the runner has none. Only for a model
     * with one data input, a float one.
     */
    public Map<String, Activation> runShared(float[] values, long[] shape, long[] labels,
                                             Collection<String> outputs) {
        if (feeds.size() != 1 || feeds.get(0).type() != DataType.FLOAT) {
            throw new IllegalArgumentException(label + " has data inputs " + feeds + "; a float array feeds only"
                    + " a model with one float input");
        }
        Shaped io = shaped(new long[][] {shape});
        io.inputs[0].write(values);
        return execute(io, labels, outputs);
    }

    /** Runs with the inputs already in {@code io}'s buffers, labels fed here. */
    private Map<String, Activation> execute(Shaped io, long[] labels, Collection<String> outputs) {
        long[] shape = io.inputs[0].shape;
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
        Map<String, OnnxTensor> fed = new LinkedHashMap<>();
        for (int i = 0; i < feeds.size(); i++) {
            fed.put(feeds.get(i).name(), io.inputs[i].tensor);
        }
        if (labels != null) {
            io.labels.clear();
            io.labels.put(labels).flip();
            fed.put(extra.labels(), io.labelTensor);
        }
        constants.forEach((name, p) -> fed.put(name, p.tensor));
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
        try (OrtSession.Result result = session.run(fed, allocated, pinned)) {
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
     * One data input's tensor for one batch shape over a direct buffer, reused across runs: ONNX
     * Runtime reads it without copying. Float inputs take float32 values, int64 inputs longs and
     * bool inputs bytes (0 or 1).
     */
    private static final class FedInput {
        final DataType type;
        final long[] shape;
        final int size;
        final ByteBuffer bytes;
        final OnnxTensor tensor;

        FedInput(DataType type, long[] shape) throws OrtException {
            this.type = type;
            this.shape = shape.clone();
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            this.size = Math.toIntExact(n);
            int itemSize = type == DataType.FLOAT ? Float.BYTES : type == DataType.INT64 ? Long.BYTES : 1;
            this.bytes = ByteBuffer.allocateDirect(Math.multiplyExact(Math.max(size, 1), itemSize))
                    .order(ByteOrder.nativeOrder());
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            this.tensor = switch (type) {
                case FLOAT -> OnnxTensor.createTensor(env, limited(bytes.asFloatBuffer()), shape);
                case INT64 -> OnnxTensor.createTensor(env, limited(bytes.asLongBuffer()), shape);
                default -> OnnxTensor.createTensor(env, bytes.limit(size), shape, OnnxJavaType.BOOL);
            };
        }

        private <B extends java.nio.Buffer> B limited(B buffer) {
            buffer.limit(size);
            return buffer;
        }

        void write(float[] values) {
            FloatBuffer f = bytes.asFloatBuffer();
            f.put(values, 0, size);
        }

        void write(InputTensor t, String label) {
            if (t instanceof FloatBatch f && type == DataType.FLOAT) {
                write(f.values());
            } else if (t instanceof IntegerBatch b && type == DataType.INT64) {
                bytes.asLongBuffer().put(b.values(), 0, size);
            } else if (t instanceof IntegerBatch b && type == DataType.BOOL) {
                long[] v = b.values();
                for (int i = 0; i < size; i++) {
                    bytes.put(i, (byte) (v[i] != 0 ? 1 : 0));
                }
            } else {
                throw new IllegalArgumentException(label + ": an input of type " + type + " cannot take "
                        + (t instanceof FloatBatch ? "float32 values" : "integer values"));
            }
        }
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
     * The data input tensors for one combination of batch shapes, the labels tensor when the model
     * takes labels, and the pinned outputs learnt from the first run with these shapes.
     */
    private static final class Shaped {
        final FedInput[] inputs;
        final LongBuffer labels;
        final OnnxTensor labelTensor;
        final Map<String, Pinned> outputs = new HashMap<>();

        Shaped(FedInput[] inputs, boolean withLabels) throws OrtException {
            this.inputs = inputs;
            if (withLabels) {
                long rows = inputs[0].shape[0];
                labels = ByteBuffer.allocateDirect(Math.toIntExact(Math.max(rows, 1) * Long.BYTES))
                        .order(ByteOrder.nativeOrder()).asLongBuffer();
                labels.limit(Math.toIntExact(rows));
                labelTensor = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), labels, new long[] {rows});
            } else {
                labels = null;
                labelTensor = null;
            }
        }

        boolean fits(long[][] shapes) {
            for (int i = 0; i < inputs.length; i++) {
                if (!java.util.Arrays.equals(inputs[i].shape, shapes[i])) {
                    return false;
                }
            }
            return true;
        }

        void close() {
            for (FedInput in : inputs) {
                if (in != null) {
                    in.tensor.close();
                }
            }
            if (labelTensor != null) {
                labelTensor.close();
            }
            for (Pinned p : outputs.values()) {
                p.tensor.close();
            }
        }
    }

    /**
     * The buffers for batches of {@code batchShapes} (one per data input). A run over data meets two
     * (full batches and the last one); more are kept up to a small bound, then the oldest is dropped.
     */
    private Shaped shaped(long[][] batchShapes) {
        for (Shaped s : shapes) {
            if (s.fits(batchShapes)) {
                return s;
            }
        }
        if (shapes.size() == MAX_SHAPES) {
            shapes.remove(0).close();
        }
        FedInput[] inputs = new FedInput[feeds.size()];
        try {
            for (int i = 0; i < inputs.length; i++) {
                inputs[i] = new FedInput(feeds.get(i).type(), batchShapes[i]);
            }
            Shaped s = new Shaped(inputs, extra.labels() != null);
            shapes.add(s);
            return s;
        } catch (OrtException e) {
            for (FedInput in : inputs) {
                if (in != null) {
                    in.tensor.close();
                }
            }
            throw new OnnxFuseException(ErrorCode.BACKEND, label + ": cannot create input tensors of shapes "
                    + java.util.Arrays.deepToString(batchShapes) + ": " + e.getMessage(), e);
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
