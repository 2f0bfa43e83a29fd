package org.onnxfuse.fusion.evaluate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Runs one single-input model in ONNX Runtime (CPU) batch by batch. Owns one {@link OrtSession}
 * (and its options) until {@link #close()}; the process-wide {@link OrtEnvironment} is shared and
 * not closed. Every input tensor and result is closed within the call that made it, and the
 * outputs are copied into Java arrays, so a {@link BatchOutputs} outlives the run. Not
 * thread-safe.
 *
 * <p>Intermediate tensors (the cuts of a level plan) can be requested as extra outputs: they are
 * added to a copy of the graph as graph outputs, which ONNX Runtime accepts for any value.
 */
public final class ModelEvaluator implements AutoCloseable {
    /** Intra-op threads when the caller does not choose: one per available processor. */
    public static int defaultThreads() {
        return Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    private final OrtEnvironment env;
    private final OrtSession.SessionOptions options;
    private final OrtSession session;
    private final String inputName;
    private final long[] inputShape;
    private final List<String> outputNames;
    private boolean closed;

    private ModelEvaluator(OrtEnvironment env, OrtSession.SessionOptions options, OrtSession session, String inputName,
                           long[] inputShape, List<String> outputNames) {
        this.env = env;
        this.options = options;
        this.session = session;
        this.inputName = inputName;
        this.inputShape = inputShape;
        this.outputNames = List.copyOf(outputNames);
    }

    /** An evaluator of {@code model}'s own outputs with {@code threads} intra-op threads. */
    public static ModelEvaluator open(Model model, int threads) {
        return open(model, List.of(), threads);
    }

    /**
     * An evaluator of {@code model}'s own outputs followed by the intermediate values
     * {@code extraOutputs} (float tensors, e.g. level cuts), with {@code threads} intra-op threads.
     *
     * @throws ModelFormatException when the model has other than one input, or an extra output
     *     names no value of the graph
     * @throws OnnxFuseException    BACKEND when ONNX Runtime cannot load the model
     */
    public static ModelEvaluator open(Model model, List<String> extraOutputs, int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be positive, got " + threads);
        }
        Graph graph = model.graph();
        List<ValueInfo> feeds = graph.feedInputs();
        if (feeds.size() != 1) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "the model has " + feeds.size()
                    + " inputs " + feeds.stream().map(ValueInfo::name).toList() + "; evaluation supports exactly one");
        }
        ValueInfo input = feeds.get(0);
        long[] shape = input.tensorType() == null ? null : input.tensorType().dimsOrMinusOne();
        Set<String> outputs = new LinkedHashSet<>();
        graph.outputs().forEach(o -> outputs.add(o.name()));
        Graph.Builder b = graph.toBuilder();
        for (String name : extraOutputs) {
            if (!outputs.add(name)) {
                continue;
            }
            if (graph.producer(name).isEmpty()) {
                throw new ModelFormatException(ErrorCode.INVALID_MODEL, "extra output '" + name
                        + "' is produced by no node of the model; expected an intermediate value such as a level cut");
            }
            TensorType type = graph.declaredType(name).orElse(new TensorType(DataType.FLOAT, null));
            b.addOutput(ValueInfo.tensor(name, type));
        }
        byte[] bytes = OnnxWriter.toBytes(extraOutputs.isEmpty() ? model : model.withGraph(b.build()));
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        try {
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            OrtSession session = env.createSession(bytes, options);
            return new ModelEvaluator(env, options, session, input.name(), shape, new ArrayList<>(outputs));
        } catch (OrtException e) {
            options.close();
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime could not load the model: " + e.getMessage(), e);
        }
    }

    /** The output names in result order: the model's own outputs, then the extra ones. */
    public List<String> outputNames() {
        return outputNames;
    }

    /** The model's input name. */
    public String inputName() {
        return inputName;
    }

    /**
     * Checks that {@code data}'s samples fit the model input.
     *
     * @throws org.onnxfuse.onnx.errors.DataException DATA_SHAPE naming both shapes
     */
    public void checkData(SampleArray data) {
        if (inputShape != null) {
            DataShapes.check(data.source(), data.header().shape(), inputShape, inputName);
        }
    }

    /** Runs one batch and copies every output out of ONNX Runtime. */
    public BatchOutputs run(FloatBatch batch) {
        if (closed) {
            throw new IllegalStateException("evaluator is closed");
        }
        try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(batch.values()), batch.shape());
             OrtSession.Result result = session.run(Map.of(inputName, in), new LinkedHashSet<>(outputNames))) {
            Map<String, Activation> out = new LinkedHashMap<>();
            for (String name : outputNames) {
                OnnxValue v = result.get(name).orElseThrow(() -> new IllegalStateException("missing output " + name));
                if (!(v instanceof OnnxTensor t)) {
                    throw new ModelFormatException(ErrorCode.INVALID_MODEL, "output '" + name + "' is a "
                            + v.getType() + "; evaluation reads float tensors only");
                }
                FloatBuffer fb = t.getFloatBuffer();
                if (fb == null) {
                    throw new ModelFormatException(ErrorCode.INVALID_MODEL, "output '" + name + "' has element type "
                            + t.getInfo().type + "; evaluation reads float tensors only");
                }
                float[] values = new float[fb.remaining()];
                fb.get(values);
                out.put(name, new Activation(name, t.getInfo().getShape(), values));
            }
            return new BatchOutputs(batch.firstSample(), batch.count(), out);
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime failed on samples " + batch.firstSample()
                    + ".." + (batch.firstSample() + batch.count()) + ": " + e.getMessage(), e);
        }
    }

    /**
     * The outputs of every batch of {@code data} in order, {@code batchSize} samples at a time,
     * computed lazily: each {@code next()} decodes and runs one batch. The data's shape is
     * checked first.
     */
    public Iterable<BatchOutputs> run(SampleArray data, int batchSize) {
        checkData(data);
        Iterable<FloatBatch> batches = data.batches(batchSize);
        return () -> new Iterator<>() {
            private final Iterator<FloatBatch> it = batches.iterator();

            @Override
            public boolean hasNext() {
                return it.hasNext();
            }

            @Override
            public BatchOutputs next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return run(it.next());
            }
        };
    }

    /** Closes the session and its options; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            session.close();
        } catch (OrtException e) {
            throw new OnnxFuseException(ErrorCode.BACKEND, "ONNX Runtime could not close a session: " + e.getMessage(), e);
        } finally {
            options.close();
        }
    }
}
