package org.onnxfuse.fusion.pipeline;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.fusion.importance.GradientGraph;
import org.onnxfuse.fusion.importance.ParameterGradients;
import org.onnxfuse.fusion.importance.SegmentLoss;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.train.HeldRows;
import org.onnxfuse.fusion.train.Initializer;
import org.onnxfuse.fusion.train.ParameterLayout;
import org.onnxfuse.fusion.train.ParameterSpec;
import org.onnxfuse.fusion.train.SegmentObjective;
import org.onnxfuse.fusion.train.LearningRateRangeTest;
import org.onnxfuse.fusion.train.Trainer;
import org.onnxfuse.fusion.train.TrainingOutcome;
import org.onnxfuse.fusion.train.TrainingProgress;
import org.onnxfuse.fusion.train.TrainingSettings;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Trains one written level of the fused model (the gradient variant, ALGORITHM.md section 4, step
 * 4): the segment from the affine op's input to the cut, whose parameters are the float
 * initializers its nodes read (the weight and bias of the Gemm, MatMul + Add or Conv), is turned
 * into a training graph ({@link GradientGraph#forParameters}) and trained by {@link Trainer} on
 * the held rows; the best parameters are written back into the model.
 */
final class LevelTraining {
    /** The trained model, the trainer's report and the parameters' names. */
    record Outcome(Model fused, TrainingOutcome training, List<String> parameters) {
    }

    private LevelTraining() {
    }

    /**
     * @param written  the fused model with {@code level}'s starting weights written
     * @param level    the level, as planned on the template
     * @param output   where the segment ends: the level's cut, or the model output its classes reach
     * @param rows     the inputs and targets, one row per calibration sample
     * @param loss     the weighted MSE on the cut's neuron axis, or the distillation
     * @param weights  the weighted MSE's per-neuron weights (null for the distillation)
     * @param training the loop's settings (epochs already chosen for this level)
     */
    static Outcome train(Model written, Level level, String output, HeldRows rows, long[] inputSample,
                         long[] targetSample,
                         SegmentLoss loss, float[] weights, TrainingSettings training, int threads,
                         TrainingProgress progress, double negligibleLoss) {
        List<String> parameters = parameters(written.graph(), level);
        Map<String, Integer> fanIns = new HashMap<>();
        parameters.forEach(p -> fanIns.put(p, unbiasedFanIn(level)));
        return train(written, level.index(), List.of(level.input()), output, parameters, fanIns, rows,
                List.of(inputSample), targetSample, loss, weights, training, threads, progress, negligibleLoss,
                LearningRateRangeTest.SMALLEST);
    }

    /**
     * Trains the segment of {@code written} from {@code inputs} to {@code output} (every path back
     * from the output must reach an input or an initializer), whose parameters are {@code
     * parameters}; the others as {@link #train(Model, Level, String, HeldRows, long[], long[],
     * SegmentLoss, float[], TrainingSettings, int, TrainingProgress, double)}. The rows hold the float
     * inputs, then the int64 or bool ones (model inputs, such as a key padding mask, fed as the model
     * declares them), each in the order of {@code inputs}.
     *
     * @param index        the level the training is reported under
     * @param fanIns       per parameter, the fan-in a re-initialisation scales by
     * @param inputSamples one sample's shape per input
     * @param smallestRate where an automatic learning rate's sweep starts ({@link LearningRateRangeTest})
     */
    static Outcome train(Model written, int index, List<String> inputs, String output, List<String> parameters,
                         Map<String, Integer> fanIns, HeldRows rows, List<long[]> inputSamples, long[] targetSample,
                         SegmentLoss loss, float[] weights, TrainingSettings training, int threads,
                         TrainingProgress progress, double negligibleLoss, double smallestRate) {
        Graph graph = written.graph();
        // the segment's float inputs' and output's shapes as the rows have them, for the training graph's shape
        // inference (an int64 or bool input is a model input, declared as it is)
        Map<String, long[]> declared = new LinkedHashMap<>();
        for (int i = 0; i < inputs.size(); i++) {
            if (!integer(graph, inputs.get(i))) {
                declared.put(inputs.get(i), inputSamples.get(i));
            }
        }
        declared.put(output, targetSample);
        List<ValueInfo> infos = new ArrayList<>(graph.valueInfos().stream()
                .filter(v -> !declared.containsKey(v.name())).toList());
        declared.forEach((name, sample) -> infos.add(ValueInfo.tensor(name, new TensorType(DataType.FLOAT,
                batchOf(sample)))));
        Model shaped = written.withGraph(graph.toBuilder().valueInfos(infos).build());
        ParameterGradients gradients = GradientGraph.forParameters(shaped, inputs, List.of(output), parameters, loss);
        List<ParameterSpec> specs = new ArrayList<>();
        float[][] initial = new float[parameters.size()][];
        for (int i = 0; i < parameters.size(); i++) {
            Tensor t = graph.initializer(parameters.get(i)).orElseThrow();
            List<Integer> shape = new ArrayList<>();
            for (long d : t.dims()) {
                shape.add(Math.toIntExact(d));
            }
            specs.add(new ParameterSpec(t.name(), shape, Initializer.fanIn(fanIns.get(t.name()))));
            initial[i] = t.toFloats();
        }
        ParameterLayout layout = new ParameterLayout(specs);
        TrainingOutcome outcome;
        try (SegmentObjective objective = new SegmentObjective(gradients, layout, inputSamples, targetSample, weights,
                threads)) {
            outcome = new Trainer(training).train(index, objective, initial, rows, progress, negligibleLoss,
                    smallestRate);
        }
        Graph.Builder b = graph.toBuilder();
        for (int i = 0; i < parameters.size(); i++) {
            Tensor old = graph.initializer(parameters.get(i)).orElseThrow();
            b.putInitializer(old.withFloats(old.dims(), outcome.parameters()[i]));
        }
        return new Outcome(written.withGraph(b.build()), outcome, parameters);
    }

    /** Whether the model declares {@code value} int64 or bool (a key padding mask input): data, never trained. */
    static boolean integer(Graph graph, String value) {
        DataType type = graph.declaredType(value).map(TensorType::elementType).orElse(null);
        return type == DataType.INT64 || type == DataType.BOOL;
    }

    /** The level's fan-in without the bias column (at least 1): what a fresh weight is scaled by. */
    static int unbiasedFanIn(Level level) {
        return Math.max(1, Math.toIntExact(level.fanIn() - (level.hasBias() ? 1 : 0)));
    }

    /** [N, sample...] with a symbolic batch. */
    private static List<Dim> batchOf(long[] sample) {
        List<Dim> dims = new ArrayList<>();
        dims.add(Dim.symbol("N"));
        for (long d : sample) {
            dims.add(Dim.of(d));
        }
        return dims;
    }

    /**
     * The float initializers read by the nodes between the level's affine input and its cut (in
     * the written graph: the affine op, its bias Add), in the order the nodes read them.
     */
    static List<String> parameters(Graph graph, Level level) {
        Set<String> found = new LinkedHashSet<>();
        Set<Node> seen = new HashSet<>();
        Deque<String> work = new ArrayDeque<>(List.of(level.cut()));
        List<Node> nodes = new ArrayList<>();
        while (!work.isEmpty()) {
            String value = work.pop();
            if (value.equals(level.input()) || value.isEmpty()) {
                continue;
            }
            Node n = graph.producer(value).orElse(null);
            if (n == null || !seen.add(n)) {
                continue;
            }
            nodes.add(0, n);
            for (String in : n.inputs()) {
                if (graph.initializer(in).isEmpty()) {
                    work.push(in);
                }
            }
        }
        for (Node n : nodes) {
            for (String in : n.inputs()) {
                graph.initializer(in).filter(t -> t.dataType() == DataType.FLOAT).ifPresent(t -> found.add(in));
            }
        }
        if (found.isEmpty()) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, "level " + level.index() + " ('" + level.cut()
                    + "'): no float parameters between '" + level.input() + "' and the cut");
        }
        return new ArrayList<>(found);
    }
}
