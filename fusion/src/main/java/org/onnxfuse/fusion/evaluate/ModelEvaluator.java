package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.function.Function;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Runs one model in ONNX Runtime (CPU) over a data set, batch by batch: one float input fed from
 * a single array, or several inputs fed by name ({@link CalibrationData#inputBatches}). Owns one
 * ONNX Runtime session (an {@link OrtRunner}, which closes every input tensor and result within
 * the call that made it and copies outputs into Java arrays) until {@link #close()}, so a
 * {@link BatchOutputs} outlives its run. Only one batch is decoded at a time. Not thread-safe.
 *
 * <p>Intermediate tensors (the cuts of a level plan) can be requested as extra outputs: they are
 * added to a copy of the graph as graph outputs, which ONNX Runtime accepts for any value.
 */
public final class ModelEvaluator implements AutoCloseable {
    /** Intra-op threads when the caller does not choose: one per available processor. */
    public static int defaultThreads() {
        return Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    private final OrtRunner runner;
    private final long[] inputShape;
    private final List<ValueInfo> inputs;
    private final List<String> outputNames;

    private ModelEvaluator(OrtRunner runner, long[] inputShape, List<ValueInfo> inputs, List<String> outputNames) {
        this.runner = runner;
        this.inputShape = inputShape;
        this.inputs = List.copyOf(inputs);
        this.outputNames = List.copyOf(outputNames);
    }

    /** An evaluator of {@code model}'s own outputs with {@code threads} intra-op threads. */
    public static ModelEvaluator open(Model model, int threads) {
        return open(model, List.of(), threads);
    }

    /**
     * An evaluator of {@code model}'s own outputs followed by the intermediate values
     * {@code extraOutputs} (float tensors, e.g. level cuts), with {@code threads} intra-op threads
     * (explicit: ONNX Runtime's own default oversubscribes busy machines).
     *
     * @throws ModelFormatException when an extra output names no value computed by the graph
     * @throws org.onnxfuse.onnx.errors.OnnxFuseException when the model has no input or one of a
     *     type other than float32, int64 and bool, or ONNX Runtime cannot load it (BACKEND)
     */
    public static ModelEvaluator open(Model model, List<String> extraOutputs, int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be positive, got " + threads);
        }
        Graph graph = model.graph();
        Set<String> outputs = new LinkedHashSet<>();
        graph.outputs().forEach(o -> outputs.add(o.name()));
        for (String name : extraOutputs) {
            if (outputs.add(name) && graph.producer(name).isEmpty()) {
                throw new ModelFormatException(ErrorCode.INVALID_MODEL, "extra output '" + name
                        + "' is produced by no node of the model; expected an intermediate value such as a level cut");
            }
        }
        List<ValueInfo> feeds = graph.feedInputs();
        long[] shape = feeds.size() == 1 && feeds.get(0).tensorType() != null
                ? feeds.get(0).tensorType().dimsOrMinusOne() : null;
        OrtRunner runner = OrtRunner.open("the model", model, extraOutputs, threads);
        return new ModelEvaluator(runner, shape, feeds, new ArrayList<>(outputs));
    }

    /** The output names in result order: the model's own outputs, then the extra ones. */
    public List<String> outputNames() {
        return outputNames;
    }

    /** The model's input name. */
    public String inputName() {
        return runner.inputName();
    }

    /**
     * Checks that {@code data}'s samples fit the model input.
     *
     * @throws org.onnxfuse.onnx.errors.DataException DATA_SHAPE naming both shapes
     */
    public void checkData(SampleArray data) {
        checkShape(data.source(), data.header().shape());
    }

    /**
     * Checks that {@code data} holds samples for every model input that fit it.
     *
     * @throws org.onnxfuse.onnx.errors.DataException DATA_SHAPE naming the input and both shapes
     */
    public void checkData(CalibrationData data) {
        data.checkShapes(inputs);
    }

    /** Checks that data of {@code shape} (samples first) from {@code source} fits the model input. */
    public void checkShape(String source, long[] shape) {
        if (inputShape != null) {
            DataShapes.check(source, shape, inputShape, runner.inputName());
        }
    }

    /** Runs one batch and copies every output out of ONNX Runtime. */
    public BatchOutputs run(FloatBatch batch) {
        Map<String, Activation> out = runner.run(batch, outputNames);
        return new BatchOutputs(batch.firstSample(), batch.count(), new LinkedHashMap<>(out));
    }

    /** Runs one batch of every input and copies every output out of ONNX Runtime. */
    public BatchOutputs run(InputBatch batch) {
        Map<String, Activation> out = runner.run(batch, outputNames);
        return new BatchOutputs(batch.firstSample(), batch.count(), new LinkedHashMap<>(out));
    }

    /**
     * The outputs of every batch of {@code data} (every model input) in order, {@code batchSize}
     * samples at a time, computed lazily; the data's shapes are checked first.
     */
    public Iterable<BatchOutputs> run(CalibrationData data, int batchSize) {
        checkData(data);
        return outputs(data.inputBatches(batchSize), this::run);
    }

    /**
     * The outputs of every batch of {@code data} in order, {@code batchSize} samples at a time,
     * computed lazily: each {@code next()} decodes and runs one batch. The data's shape is
     * checked first.
     */
    public Iterable<BatchOutputs> run(SampleArray data, int batchSize) {
        checkData(data);
        return outputs(data.batches(batchSize), this::run);
    }

    private static <B> Iterable<BatchOutputs> outputs(Iterable<B> batches, Function<B, BatchOutputs> run) {
        return () -> new Iterator<>() {
            private final Iterator<B> it = batches.iterator();

            @Override
            public boolean hasNext() {
                return it.hasNext();
            }

            @Override
            public BatchOutputs next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return run.apply(it.next());
            }
        };
    }

    /** Closes the session; idempotent. */
    @Override
    public void close() {
        runner.close();
    }
}
