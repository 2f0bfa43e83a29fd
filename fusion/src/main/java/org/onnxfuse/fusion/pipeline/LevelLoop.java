package org.onnxfuse.fusion.pipeline;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.LevelRows;
import org.onnxfuse.fusion.collect.LevelStatistics;
import org.onnxfuse.fusion.collect.StatisticsCollector;
import org.onnxfuse.fusion.collect.StatisticsCollector.Targets;
import org.onnxfuse.fusion.data.IntegerBatch;
import org.onnxfuse.fusion.group.Grouping;
import org.onnxfuse.fusion.group.GroupingConfig;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.group.HeadedGrouping;
import org.onnxfuse.fusion.group.HungarianGrouping;
import org.onnxfuse.fusion.group.KMeansGrouping;
import org.onnxfuse.fusion.group.LastLevelTargets;
import org.onnxfuse.fusion.group.NeuronLayout;
import org.onnxfuse.fusion.group.ProjectedTargets;
import org.onnxfuse.fusion.importance.Importance;
import org.onnxfuse.fusion.importance.SegmentLoss;
import org.onnxfuse.fusion.train.EpochReport;
import org.onnxfuse.fusion.train.HeldRows;
import org.onnxfuse.fusion.train.LearningRateRangeTest;
import org.onnxfuse.fusion.train.TrainingProgress;
import org.onnxfuse.fusion.train.TrainingResult;
import org.onnxfuse.fusion.train.TrainingSettings;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.fusion.plan.OutputHead;
import org.onnxfuse.fusion.plan.PerNeuronOp;
import org.onnxfuse.fusion.plan.ResidualBlock;
import org.onnxfuse.fusion.solve.FitError;
import org.onnxfuse.fusion.solve.LevelWriter;
import org.onnxfuse.fusion.solve.NormWriter;
import org.onnxfuse.fusion.solve.PooledHeadFit;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.io.TensorSpill;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;

/**
 * The level loop of the linear variant (ALGORITHM.md section 3, neuron spaces included), over
 * the levels of the template's plan in topological order. A level alone in its space is grouped
 * from its own fit, as in a sequential network. A shared space (a residual stream, a gated or
 * depthwise block) is grouped once, before its first level, from the parents' activations at all
 * its member cuts (Gram form); each of its levels is then fitted to the grouped target, or, when
 * its cut feeds a residual Add whose other operand the fused model already computes, to the
 * grouped output of the Add minus that operand. A depthwise Conv is fitted channel by channel.
 * Per-neuron parameters (a BatchNormalization that is not folded) are averaged within the groups
 * as soon as their spaces are grouped.
 *
 * <p>One instance runs one fusion; it owns nothing that needs closing.
 */
final class LevelLoop {
    /**
     * The settings of the fusion that the loop reads; {@code levelForms}: the grouping form the
     * memory estimate chose for each level (index - 1; {@link LevelMemory#of}), or null to resolve
     * it here.
     */
    record Settings(FusionMethod method, GroupingConfig grouping, boolean parentPrior, Consumer<String> log,
                    FusionProgress progress, GradientSettings gradient, long seed, int threads,
                    List<GroupingForm> levelForms) {
        Settings(FusionMethod method, GroupingConfig grouping, boolean parentPrior, Consumer<String> log,
                 FusionProgress progress) {
            this(method, grouping, parentPrior, log, progress, GradientSettings.defaults(), 0, 0, null);
        }
    }

    private final List<Model> parents;
    private final List<LevelPlan> plans;
    private final LevelPlan template;
    private final int[] targetWidths;
    /** Kept levels (--keep-levels) and the parent each is kept from. */
    private final Map<Integer, Integer> kept;
    private final Importance scores;
    private final Settings settings;
    private final List<String> warnings;
    private final List<LevelReport> reports;
    private final Map<Integer, FusedSpace> spaces = new HashMap<>();
    private final Set<Integer> perNeuronWritten = new HashSet<>();
    private final Map<Node, Integer> levelOfAffine = new IdentityHashMap<>();
    private final boolean sequential;
    private Model fused;
    /** Fused tensors of at least this many bytes leave the heap once their level is done ({@link #spilled}). */
    static final long SPILL_MIN_BYTES = 1 << 20;
    private TensorSpill spill;
    /** Every op of the template's plan that may be a Reshape: the levels' ops, the joins and the trailing ops. */
    private final List<LevelOp> reshapes = new ArrayList<>();
    private final Map<Integer, Long> templateWidths = new HashMap<>();

    LevelLoop(List<Model> parents, List<LevelPlan> plans, int[] targetWidths, Map<Integer, Integer> kept,
              Importance scores, Settings settings, List<String> warnings, List<LevelReport> reports) {
        this.parents = parents;
        this.kept = Map.copyOf(kept);
        this.plans = plans;
        this.template = plans.get(0);
        this.targetWidths = targetWidths;
        this.scores = scores;
        this.settings = settings;
        this.warnings = warnings;
        this.reports = reports;
        this.sequential = template.sequential();
        template.levels().forEach(l -> levelOfAffine.put(l.affine(), l.index()));
        template.levels().forEach(l -> reshapes.addAll(l.ops()));
        reshapes.addAll(template.joins());
        reshapes.addAll(template.trailingOps());
        reshapes.removeIf(op -> !op.opType().equals("Reshape"));
        template.spaces().forEach(s -> templateWidths.put(s.id(), s.width()));
        Model start = parents.get(0);
        if (!sequential && changesWidths()) {
            // declared shapes inside the graph go stale as spaces change width; they are optional
            start = start.withGraph(start.graph().toBuilder().valueInfos(List.of()).build());
        }
        this.fused = start;
    }

    private boolean changesWidths() {
        for (Level l : template.levels()) {
            if (targetWidths[l.index() - 1] != l.width()) {
                return true;
            }
        }
        return false;
    }

    /** Fuses every level; returns the fused model. */
    Model run(ComputeBackend backend, StatisticsCollector collector) {
        int levels = template.levels().size();
        if (settings.gradient().trainsBlocks(settings.method())) {
            for (String why : template.unsegmented()) {
                String warning = why + "; its levels are fused without training them together";
                warnings.add(warning);
                settings.log().accept("onnx-fuse: warning: " + warning);
            }
        }
        for (Level level : template.levels()) {
            int l = level.index();
            String name = level.affine().name().isEmpty() ? level.cut() : level.affine().name();
            settings.progress().levelStarted(l, levels, level.affineOpType() + " " + name);
            NeuronSpace space = template.space(level.space());
            long t0 = System.nanoTime();
            double spaceGroupingMillis = 0;
            Integer keptFrom = kept.get(l);
            if (keptFrom != null && !spaces.containsKey(space.id())) {
                spaces.put(space.id(), keptSpace(level, space, keptFrom));
                writePerNeuronParameters();
            } else if (space.shared() && !spaces.containsKey(space.id())) {
                spaces.put(space.id(), groupSpace(backend, collector, space, targetWidths[l - 1]));
                spaceGroupingMillis = (System.nanoTime() - t0) / 1e6;
                writePerNeuronParameters();
            }
            boolean copies = keptFrom != null && copiesExactly(level, keptFrom);
            Optional<Targets> join = space.shared() && !copies ? joinTargets(level) : Optional.empty();
            Targets targets = join.orElseGet(() -> collector.cutsOf(l));
            if (level.last() && keptFrom == null && rectifiedAfter(level)) {
                targets = targets.mapped(new RectifiedClassTargets(parents.size(), Math.toIntExact(level.width())));
            } else if (!level.last() && keptFrom == null && join.isEmpty() && space.shared()
                    && !settings.method().trains()) {
                // a shared space's grouping is fixed before its levels are fitted, so their targets
                // can follow the clamp after the cut (ALGORITHM.md section 3)
                float[] clamp = clampAfter(level);
                if (clamp != null) {
                    Grouping g = spaces.get(space.id()).grouping();
                    targets = targets.mapped(new RectifiedGroupTargets(g.groups(), g.assignment().length, clamp[0],
                            clamp[1]));
                }
            }
            boolean trainsBlocks = settings.gradient().trainsBlocks(settings.method());
            boolean trains = keptFrom == null && !level.depthwise()
                    && !(trainsBlocks && template.inBlock(l))
                    && settings.gradient().trains(settings.method(), level.last(),
                    level.last() && trailingHead(l) != null);
            TrainingRows rows = trains ? new TrainingRows(TrainingRows.defaultBudget(), level.neuronAxis()) : null;
            // a head of Relu and pooling is fitted through them; a level that trains then starts there
            PooledHead pooled = !copies && keptFrom == null && !level.depthwise() && !startsFromParents()
                    && averagesAfterRelu(level) ? new PooledHead(TrainingRows.defaultBudget()) : null;
            Fitted fit = copies ? copyLevel(level, keptFrom)
                    : level.depthwise()
                    ? fitDepthwise(backend, collector, level, targets, join.isPresent())
                    : fitAffine(backend, collector, level, targets, join.isPresent(), rows, pooled);
            if (pooled != null) {
                fit = fitThroughPooling(backend, level, fit, pooled);
            }
            long t1 = System.nanoTime();
            settings.progress().levelStep("writing");
            Level next = sequential && !level.last() ? template.level(l + 1) : null;
            TrainingResult trained = null;
            double residual = fit.residual();
            if (trains && rows.overBudget()) {
                String warning = "level " + l + " ('" + level.cut() + "'): its training rows outgrew "
                        + TrainingRows.defaultBudget() / (1 << 20) + " MiB (a quarter of the heap); it keeps the"
                        + " linear fit (use fewer samples or a larger -Xmx)";
                warnings.add(warning);
                settings.log().accept("onnx-fuse: warning: " + warning);
                fused = fused.withGraph(LevelWriter.write(fused.graph(), level, next, fit.weights()));
            } else if (trains) {
                Trained t = train(backend, collector, level, next, fit, rows, pooled);
                trained = t.result();
                residual = t.error();
            } else {
                fused = fused.withGraph(LevelWriter.write(fused.graph(), level, next, fit.weights()));
            }
            if (pooled != null) {
                pooled.clear();
            }
            writePerNeuronParameters();
            if (!sequential) {
                fused = fused.withGraph(LevelWriter.fixReshapeTargets(fused.graph(), parents.get(0).graph(), reshapes,
                        templateWidths, fusedWidths()));
            }
            String method = fit.method();
            if (trainsBlocks) {
                for (ResidualBlock block : template.blocksEndingAt(l)) {
                    Trained t = trainBlock(backend, collector, block);
                    if (t != null) {
                        trained = t.result();
                        residual = t.error();
                        method += "; block of levels " + block.levels().stream().map(String::valueOf)
                                .collect(java.util.stream.Collectors.joining(", ")) + " trained";
                    }
                }
            }
            double writeMillis = (System.nanoTime() - t1) / 1e6;
            LevelReport report = new LevelReport(l, level.affineOpType(), level.cut(), method,
                    fit.weights().cols(), fit.fanIn(), fit.samples(), fit.rows(), residual, fit.cost(),
                    fit.inferenceMillis(), fit.statisticsMillis(), fit.groupingMillis() + spaceGroupingMillis,
                    fit.solveMillis() + writeMillis, fit.warning(), trained);
            reports.add(report);
            settings.progress().levelFinished(report);
            fused = spilled(fused);
        }
        return fused;
    }

    /**
     * The fused model with the weights written so far moved to a temporary file (created with the
     * first tensor of {@link #SPILL_MIN_BYTES} or more): later levels read them back only when
     * they run the fused model's segment, and the writer copies them out at the end, so the heap
     * holds one level's work rather than the whole fused model.
     */
    private Model spilled(Model model) {
        if (!TensorSpill.holdsBuilt(model, SPILL_MIN_BYTES)) {
            return model;
        }
        if (spill == null) {
            spill = TensorSpill.create(Path.of(System.getProperty("java.io.tmpdir")));
        }
        return spill.offload(model, SPILL_MIN_BYTES);
    }

    private Map<Integer, Integer> fusedWidths() {
        Map<Integer, Integer> out = new HashMap<>();
        spaces.forEach((id, space) -> out.put(id, space.width()));
        return out;
    }

    /**
     * What fitting one level produced, for the write-back and the report; {@code residual} is NaN
     * for a level that goes on to train (its report gives the trained error), {@code parentsStart}
     * null unless it trains from the parents' weights.
     */
    private record Fitted(DenseMatrix weights, String method, double residual, double cost, int fanIn, long samples,
                          long rows, double inferenceMillis, double statisticsMillis, double groupingMillis,
                          double solveMillis, String warning, DenseMatrix members, DenseMatrix parentsStart,
                          int[] assignment) {
    }

    /** Whether trained levels start from the parents' weights averaged in the groups (--train-from parents). */
    private boolean startsFromParents() {
        return settings.method() == FusionMethod.KF_GRADIENT
                && settings.gradient().from() == GradientSettings.Start.PARENTS;
    }

    /**
     * Trains the level from its start (the linear fit, or the parents' weights averaged in the
     * groups) to the grouped targets held in {@code rows}, and writes the best weights.
     */
    private Trained train(ComputeBackend backend, StatisticsCollector collector, Level level, Level next, Fitted fit,
                          TrainingRows rows,
                          PooledHead pooled) {
        int l = level.index();
        GradientSettings g = settings.gradient();
        boolean fromParents = startsFromParents() && fit.parentsStart() != null;
        DenseMatrix start = fromParents ? fit.parentsStart() : fit.weights();
        Model written = fused.withGraph(LevelWriter.write(fused.graph(), level, next, start));
        int k = fit.weights().cols();
        boolean distill = level.last() && g.distill() > 0;
        // the classes reach the output through more ops (a Conv head's Relu and pooling): kf-gradient
        // trains through them, towards the parents' outputs themselves
        OutputHead head = level.last() ? trailingHead(l) : null;
        String output = head == null ? level.cut() : head.output();
        float[] targets;
        float[] weights = null;
        SegmentLoss loss;
        long[] targetSample;
        if (head != null) {
            List<String> names = new ArrayList<>();
            for (LevelPlan p : plans) {
                names.add(p.heads().stream().filter(h -> h.classLevel() == l).findFirst().orElseThrow().output());
            }
            int samples = rows.samples();
            // a head of Relu and pooling: its statistics pass already averaged the parents' outputs
            float[] columns = pooled == null ? null : pooled.parentLogits();
            if (columns == null) {
                List<float[]> outputs = collector.parentValues(names).stream().map(Activation::values).toList();
                int perSample = outputs.get(0).length / samples;
                if (perSample != k) {
                    throw new OnnxFuseException(ErrorCode.INTERNAL, "level " + l + ": output '" + head.output()
                            + "' has " + perSample + " values per sample for " + k + " classes");
                }
                columns = new float[samples * k * parents.size()];
                for (int p = 0; p < parents.size(); p++) {
                    float[] o = outputs.get(p);
                    for (int n = 0; n < samples; n++) {
                        System.arraycopy(o, n * k, columns, (n * parents.size() + p) * k, k);
                    }
                }
            }
            targetSample = new long[] {k};
            if (distill) {
                targets = TrainingRows.meanSoftmax(columns, samples, parents.size(), k, g.distill());
                loss = new SegmentLoss.Distillation(g.distill(), -1);
            } else {
                // towards the targets of the fit through the pooling, from which it starts
                targets = averagesAfterRelu(level) ? TrainingRows.toFloats(PooledHead.mixtureLogits(columns, samples, fit.members()))
                        : TrainingRows.project(columns, samples, fit.members(), backend);
                weights = groupWeights(null, null, k, true);
                loss = new SegmentLoss.WeightedMse(-1);
            }
        } else if (distill) {
            targets = rows.meanSoftmax(parents.size(), g.distill());
            loss = new SegmentLoss.Distillation(g.distill(), -1);
            targetSample = rows.targetSample(k);
        } else {
            targets = rows.targets(fit.members(), backend);
            weights = groupWeights(fit.assignment(), scores.level(l), k, level.last());
            loss = new SegmentLoss.WeightedMse(level.neuronAxis());
            targetSample = rows.targetSample(k);
        }
        boolean channelsFirst = head == null && targetSample.length > 1 && level.neuronAxis() == 1;
        int positions = Math.toIntExact(java.util.Arrays.stream(targetSample).reduce(1, (a, b) -> a * b) / k);
        double power = distill ? 0 : weightedPower(targets, weights, channelsFirst, positions);
        long[] inputSample = rows.inputSample();
        HeldRows held = rows.rows(targets);
        rows.clear();
        int epochs = settings.method() == FusionMethod.KF_AUTO && !distill && head == null ? g.refine()
                : g.training().epochs();
        LevelTraining.Outcome outcome = LevelTraining.train(written, level, output, held, inputSample, targetSample, loss,
                weights, trainingStarted(l, epochs), settings.threads(), epochProgress(),
                distill ? 0 : NEGLIGIBLE_RELATIVE_LOSS * power);
        fused = outcome.fused();
        TrainingResult result = outcome.training().result();
        double error = distill ? result.bestValidationLoss()
                : power > 0 ? Math.sqrt(Math.max(result.bestValidationLoss(), 0) / power) : 0;
        return new Trained(result, error);
    }

    /**
     * Trains a residual block's levels together (they are written with their linear fits): from the
     * fused model's value at the block's input (and at what else it reads: the other stream an
     * attention's keys and values come from; a key padding mask input, from the data) to its Add's
     * output, towards the parents' Add outputs grouped by the output space's grouping,
     * T = (A_1 | ... | A_K) U. Returns null, with a warning, when the block cannot be trained (a kept
     * level inside, rows over the budget).
     */
    private Trained trainBlock(ComputeBackend backend, StatisticsCollector collector, ResidualBlock block) {
        int l = block.lastLevel();
        String where = "residual block '" + block.input() + "' -> '" + block.output() + "'";
        if (block.levels().stream().anyMatch(kept::containsKey)) {
            settings.log().accept("onnx-fuse: " + where + ": not trained as one segment, it holds a kept level");
            return null;
        }
        NeuronSpace space = template.spaces().stream().filter(sp -> sp.cuts().contains(block.output())).findFirst()
                .orElseThrow(() -> new OnnxFuseException(ErrorCode.INTERNAL, where + ": its output is in no space"));
        FusedSpace grouped = spaces.get(space.id());
        int blockIndex = template.blocks().indexOf(block);
        // the block's input and what else it reads (the other stream an attention's keys and values come from,
        // a key padding mask input), float values from the fused model, int64 or bool inputs from the data
        List<float[]> floats = new ArrayList<>();
        List<long[]> integers = new ArrayList<>();
        List<long[]> inputSamples = new ArrayList<>();
        long inputBytes = 0;
        long samples = 0;
        for (String in : block.segmentInputs()) {
            long[] shape;
            if (LevelTraining.integer(fused.graph(), in)) {
                IntegerBatch values = collector.integerInput(in);
                integers.add(values.values());
                shape = values.shape();
                inputBytes += 8L * values.values().length;
            } else {
                Activation values = collector.values("fused model", fused, in);
                floats.add(values.values());
                shape = values.shape();
                inputBytes += 4L * values.values().length;
            }
            inputSamples.add(java.util.Arrays.copyOfRange(shape, 1, shape.length));
            samples = shape[0];
        }
        List<Activation> parentOutputs = collector.parentValues(plans.stream()
                .map(p -> p.blocks().get(blockIndex).output()).toList());
        List<float[]> outputs = parentOutputs.stream().map(Activation::values).toList();
        long[] outputShape = parentOutputs.get(0).shape();
        long outputValues = outputs.stream().mapToLong(v -> v.length).sum();
        // held: the inputs and the parents' outputs; then the columns (float and float64) and the targets
        long bytes = inputBytes + 16L * outputValues + 4L * outputValues / parents.size();
        long budget = TrainingRows.defaultBudget();
        if (bytes > budget) {
            String warning = where + ": its training rows need about " + bytes / (1 << 20) + " MiB, more than "
                    + budget / (1 << 20) + " MiB (a quarter of the heap); its levels keep their linear fits (use"
                    + " fewer samples or a larger -Xmx)";
            warnings.add(warning);
            settings.log().accept("onnx-fuse: warning: " + warning);
            return null;
        }
        int outputAxis = template.neuronAxisOf(block.output());
        int neuronAxis = outputAxis >= 0 ? outputAxis : 1;
        DenseMatrix members = grouped.memberWeights();
        int k = members.cols();
        long[] targetSample = java.util.Arrays.copyOfRange(outputShape, 1, outputShape.length);
        targetSample[neuronAxis - 1] = k;
        float[] targets = groupedValues(outputs, grouped.parentWidths(), Math.toIntExact(samples), neuronAxis,
                outputShape, members, backend);
        double[] importance = space.levels().contains(l) ? scores.level(l) : null;
        float[] weights = groupWeights(grouped.grouping().assignment(), importance, k, false);
        boolean channelsFirst = targetSample.length > 1 && neuronAxis == 1;
        int positions = Math.toIntExact(java.util.Arrays.stream(targetSample).reduce(1, (a, b) -> a * b) / k);
        double power = weightedPower(targets, weights, channelsFirst, positions);
        List<String> parameters = new ArrayList<>();
        Map<String, Integer> fanIns = new HashMap<>();
        for (int level : block.levels()) {
            Level planned = template.level(level);
            for (String p : LevelTraining.parameters(fused.graph(), planned)) {
                if (!parameters.contains(p)) {
                    parameters.add(p);
                    fanIns.put(p, LevelTraining.unbiasedFanIn(planned));
                }
            }
        }
        for (String p : scoreBiases(block)) {
            parameters.add(p);
            fanIns.put(p, 1);
        }
        HeldRows held = new HeldRows(Math.toIntExact(samples), floats, integers, targets);
        GradientSettings g = settings.gradient();
        // the blocks of a transformer's stream, attention and MLP alike, sweep their rates from higher up
        boolean transformer = template.blocks().stream().anyMatch(template::holdsAttention);
        int epochs = settings.method() == FusionMethod.KF_AUTO && g.refine() > 0 ? g.refine() : g.training().epochs();
        LevelTraining.Outcome outcome;
        try {
            outcome = LevelTraining.train(fused, l, block.segmentInputs(), block.output(), parameters, fanIns, held,
                    inputSamples, targetSample, new SegmentLoss.WeightedMse(neuronAxis), weights,
                    trainingStarted(l, epochs), settings.threads(), epochProgress(), NEGLIGIBLE_RELATIVE_LOSS * power,
                    transformer ? LearningRateRangeTest.SMALLEST_TRANSFORMER : LearningRateRangeTest.SMALLEST);
        } catch (UnsupportedOpException e) {
            // an op inside the block without a gradient rule: the block keeps what the levels were fitted to
            String warning = where + ": not trained as one segment (" + e.getMessage() + "); its levels keep their"
                    + " linear fits";
            warnings.add(warning);
            settings.log().accept("onnx-fuse: warning: " + warning);
            return null;
        }
        fused = outcome.fused();
        TrainingResult result = outcome.training().result();
        return new Trained(result, power > 0 ? Math.sqrt(Math.max(result.bestValidationLoss(), 0) / power) : 0);
    }

    /**
     * The parents' values (each samples x [their neurons on {@code neuronAxis}, positions]) grouped
     * by {@code members} (m x k): per sample and position, sum_i u_ig a_i, laid out as the values
     * are with k neurons. The neuron axis is axis 1 or the last.
     */
    private static float[] groupedValues(List<float[]> values, List<Integer> widths, int samples, int neuronAxis,
                                         long[] shape, DenseMatrix members, ComputeBackend backend) {
        boolean last = neuronAxis == shape.length - 1;
        if (!last && neuronAxis != 1) {
            throw new IllegalStateException("the neuron axis " + neuronAxis + " of a value of rank " + shape.length
                    + " is neither axis 1 nor the last");
        }
        int m = members.rows();
        int k = members.cols();
        int positions = Math.toIntExact(values.get(0).length / samples / widths.get(0));
        int rows = samples * positions;
        float[] columns = new float[Math.toIntExact((long) rows * m)];
        int offset = 0;
        for (int p = 0; p < values.size(); p++) {
            float[] v = values.get(p);
            int width = widths.get(p);
            for (int n = 0; n < samples; n++) {
                for (int c = 0; c < width; c++) {
                    for (int q = 0; q < positions; q++) {
                        int from = last ? (n * positions + q) * width + c : (n * width + c) * positions + q;
                        columns[(n * positions + q) * m + offset + c] = v[from];
                    }
                }
            }
            offset += width;
        }
        float[] out = new float[rows * k];
        TrainingRows.placeInCutLayout(TrainingRows.project(columns, rows, members, backend), 0, rows, positions, k,
                last, out);
        return out;
    }

    /** The training loop's settings for a segment reported under level {@code l}, announced to the progress display. */
    private TrainingSettings trainingStarted(int l, int epochs) {
        settings.progress().trainingStarted(l, epochs);
        return settings.gradient().training().withEpochs(epochs).withSeed(settings.seed() * 1_000_003L + l);
    }

    /** Passes each finished epoch on to the fusion's progress display. */
    private TrainingProgress epochProgress() {
        return new TrainingProgress() {
            @Override
            public void epochFinished(EpochReport report) {
                settings.progress().epochFinished(report);
            }
        };
    }

    /** The output carrying level {@code level}'s classes through trailing ops, or null when the level's cut is it. */
    private OutputHead trailingHead(int level) {
        return template.heads().stream().filter(h -> h.classLevel() == level && !h.trailing().isEmpty()).findFirst()
                .orElse(null);
    }

    /** A start whose weighted MSE is below this share of the targets' weighted power fits them to float precision. */
    private static final double NEGLIGIBLE_RELATIVE_LOSS = 1e-10;

    /** A trained level's report and its fit error (relative RMS error of the best weights, or the distillation's KL). */
    private record Trained(TrainingResult result, double error) {
    }

    /**
     * sum_g w_g mean(t_g^2): the weighted MSE of predicting zero, the scale the trained error is
     * relative to. Neuron g of a value is at {@code (index / positions) % k} when the neurons come
     * before {@code positions} values each (a Conv's [k, H, W] per sample), else at {@code index % k}.
     */
    private static double weightedPower(float[] targets, float[] weights, boolean channelsFirst, int positions) {
        int k = weights.length;
        double[] sums = new double[k];
        for (int i = 0; i < targets.length; i++) {
            int g = channelsFirst ? (i / positions) % k : i % k;
            sums[g] += (double) targets[i] * targets[i];
        }
        double perNeuron = (double) targets.length / k;
        double power = 0;
        for (int g = 0; g < k; g++) {
            power += weights[g] * sums[g] / perNeuron;
        }
        return power;
    }

    /**
     * The weighted MSE's weight of each fused neuron: the sum of its members' importance,
     * normalised to sum 1 (so that uniform weights give the plain mean squared error); the last
     * level's classes weigh alike.
     */
    private static float[] groupWeights(int[] assignment, double[] importance, int k, boolean last) {
        double[] w = new double[k];
        if (last || assignment == null || importance == null) {
            java.util.Arrays.fill(w, 1);
        } else {
            for (int i = 0; i < assignment.length && i < importance.length; i++) {
                if (assignment[i] >= 0) {
                    w[assignment[i]] += importance[i];
                }
            }
        }
        double total = 0;
        for (double v : w) {
            total += v;
        }
        float[] out = new float[k];
        for (int g = 0; g < k; g++) {
            out[g] = (float) (total > 0 ? w[g] / total : 1.0 / k);
        }
        return out;
    }

    /**
     * A Gemm, MatMul or Conv level: ridge least squares on the statistics, then either the
     * level's own grouping (a space of one cut; at the last level the class means) or the
     * space's grouping fixed earlier.
     */
    private Fitted fitAffine(ComputeBackend backend, StatisticsCollector collector, Level level, Targets targets,
                             boolean join, TrainingRows tap, PooledHead pooled) {
        int l = level.index();
        GroupingForm form = groupingForm(level);
        LevelRows rows = rowsToKeep(level, form, collector.samples(),
                plans.stream().mapToLong(p -> p.level(l).width()).sum());
        LevelStatistics stats = collector.collect(l, fused, level, targets, backend,
                settings.progress()::samplesCollected, both(tap, pooled), form == GroupingForm.GRAM, rows);
        String warning = null;
        if (stats.rows() < stats.fanIn()) {
            warning = "level " + l + " (" + level.affineOpType() + " '" + level.affine().name() + "'): "
                    + stats.rows() + " rows from " + stats.samples() + " samples for a fan-in of "
                    + stats.fanIn() + "; the least squares is underdetermined"
                    + (settings.parentPrior() ? ": in the directions the samples do not reach, the ridge keeps the"
                    + " parents' weights (parent prior), which usually does well (README, benchmarks); more samples"
                    + " would determine them" : " and the ridge decides the weights: use more calibration samples");
            warnings.add(warning);
            settings.log().accept("onnx-fuse: warning: " + warning);
        }
        long t0 = System.nanoTime();
        DenseMatrix prior = null;
        // the parents' weights on the fused inputs: the ridge's centre, and kf-gradient's start
        DenseMatrix parentsWeights = null;
        if (tap != null || settings.parentPrior()) {
            parentsWeights = Priors.of(parents, plans, l, stats.fanIn(), stats.parentWidths(), stats.hasBias(), spaces);
            if (parentsWeights != null && stats.targets() > parentsWeights.cols()) {
                parentsWeights = withZeroColumns(parentsWeights, stats.targets() - parentsWeights.cols());
            }
        }
        if (settings.parentPrior()) {
            prior = parentsWeights;
            if (prior == null) {
                settings.log().accept("onnx-fuse: level " + l + ": the parents' weights do not line up with the"
                        + " fused inputs; solving the plain ridge there");
            }
        }
        settings.progress().levelStep("least squares");
        ProjectedTargets fit = ProjectedTargets.fit(backend, stats.statistics(), settings.grouping().ridgeFactor(),
                prior, form, rows);
        rows = null; // the products are formed: let the rows go before the grouping
        long t1 = System.nanoTime();
        settings.progress().levelStep("grouping");
        DenseMatrix weights;
        DenseMatrix members;
        String method;
        double cost;
        int[] assignment;
        NeuronSpace space = template.space(level.space());
        FusedSpace fixed = spaces.get(space.id());
        if (fixed != null) {
            // a shared space grouped before its first level, or a kept level's identity onto its parent
            FusedSpace fs = fixed;
            assignment = fs.grouping().assignment();
            members = join ? withNegativeIdentity(fs.memberWeights()) : fs.memberWeights();
            weights = fit.centroidWeights(backend, members);
            method = kept.containsKey(l) ? "kept (parent " + kept.get(l) + ", fitted" + (join ? ", residual" : "") + ")"
                    : describe(fs.grouping()) + (join ? " (space " + space.id() + ", residual)"
                    : " (space " + space.id() + ")");
            cost = 0;
        } else {
            Grouping grouped = group(backend, fit, stats, level, targetWidths[l - 1], scores.level(l));
            spaces.put(space.id(), new FusedSpace(grouped, stats.parentWidths()));
            assignment = grouped.assignment();
            members = grouped.memberWeights();
            weights = settings.method() == FusionMethod.KF_GRADIENT && !level.last()
                    ? fit.centroidWeights(backend, members) : grouped.fusedWeights();
            method = describe(grouped) + (form.factored() ? " (" + form.cliName() + " form)" : "");
            cost = grouped.cost();
        }
        long t2 = System.nanoTime();
        // a level that trains reports its trained error, and starts from the parents' weights only
        // when asked: the linear fit's error and the parents' start are not computed for nothing
        boolean trains = tap != null && !tap.overBudget();
        double residual = trains ? Double.NaN
                : FitError.relativeResidual(stats.statistics(), fit.centroidSquaredNorms(members), weights, members);
        DenseMatrix parentsStart = null;
        if (trains && parentsWeights != null && startsFromParents()) {
            parentsStart = backend.multiplySparse(parentsWeights, members);
        }
        long t3 = System.nanoTime();
        return new Fitted(weights, method, residual, cost, stats.fanIn(), stats.samples(), stats.rows(),
                stats.inferenceNanos() / 1e6, stats.statisticsNanos() / 1e6, (t2 - t1) / 1e6,
                ((t1 - t0) + (t3 - t2)) / 1e6, warning, members, parentsStart, assignment);
    }

    /** A tap that hands each batch to both (either may be null). */
    private static StatisticsCollector.BatchSink both(StatisticsCollector.BatchSink a, StatisticsCollector.BatchSink b) {
        if (a == null || b == null) {
            return a == null ? b : a;
        }
        return new StatisticsCollector.BatchSink() {
            @Override
            public void accept(float[] x, int d, float[] rowsA, int m, int rows) {
                if (a.takesRows()) {
                    a.accept(x, d, rowsA, m, rows);
                }
                if (b.takesRows()) {
                    b.accept(x, d, rowsA, m, rows);
                }
            }

            @Override
            public void rawBatch(Activation input, long[] cutShape, float[] rowsA, int m, int rows) {
                a.rawBatch(input, cutShape, rowsA, m, rows);
                b.rawBatch(input, cutShape, rowsA, m, rows);
            }

            @Override
            public boolean takesRows() {
                return a.takesRows() || b.takesRows();
            }
        };
    }

    /**
     * A depthwise Conv: fused channel g reads fused input channel g only, so each channel's
     * kernel (and bias) is its own small least squares (one d x d system per channel, d = kernel
     * size + 1), centred on the importance-weighted mean of its members' kernels.
     */
    private Fitted fitDepthwise(ComputeBackend backend, StatisticsCollector collector, Level level, Targets targets,
                                boolean join) {
        int l = level.index();
        FusedSpace space = spaces.get(level.space());
        int k = space.width();
        int m = space.parentWidths().stream().mapToInt(Integer::intValue).sum();
        boolean bias = level.hasBias();
        int kernel = Math.toIntExact(level.fanIn() - (bias ? 1 : 0));
        int dg = kernel + (bias ? 1 : 0);
        int[] assignment = space.grouping().assignment();
        DenseMatrix u = space.memberWeights();
        double[] weight = new double[m];
        for (int i = 0; i < m; i++) {
            weight[i] = assignment[i] < 0 ? 0 : u.get(i, assignment[i]);
        }
        double[][] sxx = new double[k][dg * dg];
        double[][] sxt = new double[k][dg];
        double[] stt = new double[k];
        long start = System.nanoTime();
        long inferenceBefore = collector.inferenceNanos();
        long waitBefore = collector.waitNanos();
        long[] counts = collector.stream(l, fused, level, targets, (x, d, a, columns, rows) -> {
            if (d != k * kernel + (bias ? 1 : 0)) {
                throw new IllegalStateException("level " + l + ": " + d + " input features for " + k
                        + " channels of kernel size " + kernel);
            }
            double[] t = new double[k];
            double[] xg = new double[dg];
            for (int r = 0; r < rows; r++) {
                java.util.Arrays.fill(t, 0);
                int row = r * columns;
                for (int i = 0; i < m; i++) {
                    if (assignment[i] >= 0) {
                        t[assignment[i]] += weight[i] * a[row + i];
                    }
                }
                for (int e = m; e < columns; e++) {
                    t[e - m] -= a[row + e];
                }
                int xRow = r * d;
                for (int g = 0; g < k; g++) {
                    for (int p = 0; p < kernel; p++) {
                        xg[p] = x[xRow + g * kernel + p];
                    }
                    if (bias) {
                        xg[kernel] = 1;
                    }
                    double[] s = sxx[g];
                    double[] b = sxt[g];
                    double tg = t[g];
                    for (int p = 0; p < dg; p++) {
                        double xp = xg[p];
                        for (int q = 0; q <= p; q++) {
                            s[p * dg + q] += xp * xg[q];
                        }
                        b[p] += xp * tg;
                    }
                    stt[g] += tg * tg;
                }
            }
        }, settings.progress()::samplesCollected);
        double inferenceMillis = (collector.inferenceNanos() - inferenceBefore) / 1e6;
        double statisticsMillis = (System.nanoTime() - start - (collector.waitNanos() - waitBefore)) / 1e6;
        long t0 = System.nanoTime();
        double[][] prior = settings.parentPrior() ? depthwisePrior(level, space, dg, weight) : null;
        List<DenseMatrix> systems = new ArrayList<>(k);
        List<DenseMatrix> rightHandSides = new ArrayList<>(k);
        double[] ridges = new double[k];
        for (int g = 0; g < k; g++) {
            double[] s = sxx[g];
            double trace = 0;
            for (int p = 0; p < dg; p++) {
                for (int q = 0; q < p; q++) {
                    s[q * dg + p] = s[p * dg + q];
                }
                trace += s[p * dg + p];
            }
            double ridge = settings.grouping().ridgeFactor() * trace / dg;
            if (ridge == 0) {
                ridge = 1e-12; // a channel the data never excites: keep the prior
            }
            double[] rhs = sxt[g].clone();
            if (prior != null) {
                for (int p = 0; p < dg; p++) {
                    rhs[p] += ridge * prior[g][p];
                }
            }
            systems.add(DenseMatrix.fromRowMajor(dg, dg, s));
            rightHandSides.add(new DenseMatrix(dg, 1, rhs));
            ridges[g] = ridge;
        }
        // One call for all channels: the CUDA backend solves them in one launch.
        List<DenseMatrix> solutions = backend.choleskySolveAll(systems, rightHandSides, ridges);
        double[] w = new double[dg * k];
        double residual = 0;
        double total = 0;
        for (int g = 0; g < k; g++) {
            double[] s = sxx[g];
            DenseMatrix solved = solutions.get(g);
            double fit = 0;
            for (int p = 0; p < dg; p++) {
                double wp = solved.get(p, 0);
                w[p + g * dg] = wp;
                double sw = 0;
                for (int q = 0; q < dg; q++) {
                    sw += s[p * dg + q] * solved.get(q, 0);
                }
                fit += wp * sw - 2 * wp * sxt[g][p];
            }
            residual += Math.max(fit + stt[g], 0);
            total += stt[g];
        }
        double relative = total > 0 ? Math.sqrt(residual / total) : 0;
        String method = kept.containsKey(l) ? "kept (parent " + kept.get(l) + ", fitted per channel)"
                : describe(space.grouping()) + " (space " + level.space() + ", per channel"
                + (join ? ", residual" : "") + ")";
        return new Fitted(new DenseMatrix(dg, k, w), method, relative, 0, dg, counts[0], counts[1], inferenceMillis,
                statisticsMillis, 0, (System.nanoTime() - t0) / 1e6, null, u, null, assignment);
    }

    /** Per fused channel: the importance-weighted mean of its members' kernels (and biases), dg values each. */
    private double[][] depthwisePrior(Level level, FusedSpace space, int dg, double[] weight) {
        int[] assignment = space.grouping().assignment();
        double[][] prior = new double[space.width()][dg];
        for (int k = 0; k < parents.size(); k++) {
            AffineWeights w = LevelWeights.read(parents.get(k).graph(), plans.get(k).level(level.index()));
            if (w.rows() != dg || w.cols() != space.parentWidths().get(k)) {
                return null;
            }
            int offset = space.offset(k);
            for (int src = 0; src < w.cols(); src++) {
                int g = assignment[offset + src];
                if (g < 0) {
                    continue;
                }
                for (int p = 0; p < dg; p++) {
                    prior[g][p] += weight[offset + src] * w.get(p, src);
                }
            }
        }
        return prior;
    }

    /**
     * A kept level's space: parent {@code parent}'s neuron i is fused neuron i, alone, with weight
     * 1; no other parent's neuron is used. The space's parents' widths are the plans' own.
     */
    private FusedSpace keptSpace(Level level, NeuronSpace space, int parent) {
        List<Integer> widths = plans.stream().map(p -> Math.toIntExact(space.shared() ? p.space(space.id()).width()
                : p.level(level.index()).width())).toList();
        int m = widths.stream().mapToInt(Integer::intValue).sum();
        int offset = 0;
        for (int k = 0; k < parent; k++) {
            offset += widths.get(k);
        }
        int k = widths.get(parent);
        int[] assignment = new int[m];
        java.util.Arrays.fill(assignment, Grouping.UNASSIGNED);
        List<org.onnxfuse.fusion.group.Group> groups = new ArrayList<>(k);
        for (int i = 0; i < k; i++) {
            assignment[offset + i] = i;
            groups.add(new org.onnxfuse.fusion.group.Group(new int[] {offset + i}, new double[] {1.0}, 0));
        }
        Grouping identity = new Grouping(org.onnxfuse.fusion.group.GroupingMethod.KEPT, assignment, groups,
                DenseMatrix.zeros(1, k), 0, new double[0], new double[0], 0, 0, 0);
        return new FusedSpace(identity, widths);
    }

    /**
     * Whether a level kept from {@code parent} can take that parent's weights as they are: it
     * reads the model input, or every space it reads is kept from the same parent, so that its
     * input features are that parent's own, in its order.
     */
    private boolean copiesExactly(Level level, int parent) {
        for (int s : level.binding().spaces()) {
            for (int writer : template.space(s).levels()) {
                Integer from = kept.get(writer);
                if (from == null || from != parent) {
                    return false;
                }
            }
        }
        return true;
    }

    /** A kept level whose inputs are its parent's own: that parent's weights, unchanged. */
    private Fitted copyLevel(Level level, int parent) {
        long t0 = System.nanoTime();
        AffineWeights w = LevelWeights.read(parents.get(parent).graph(), plans.get(parent).level(level.index()));
        double[] rowMajor = new double[w.rows() * w.cols()];
        for (int i = 0; i < rowMajor.length; i++) {
            rowMajor[i] = w.data()[i];
        }
        DenseMatrix weights = DenseMatrix.fromRowMajor(w.rows(), w.cols(), rowMajor);
        FusedSpace space = spaces.get(level.space());
        return new Fitted(weights, "kept (parent " + parent + ")", 0, 0, w.rows(), 0, 0, 0, 0, 0,
                (System.nanoTime() - t0) / 1e6, null, space.memberWeights(), null, space.grouping().assignment());
    }

    /**
     * Groups a shared space from the parents' own activations at its member cuts (Gram form; a cut
     * that only a Relu or Clip reads is clamped first), with every neuron's importance summed over
     * the space's levels.
     */
    private FusedSpace groupSpace(ComputeBackend backend, StatisticsCollector collector, NeuronSpace space,
                                  int width) {
        for (int level : space.levels()) {
            if (targetWidths[level - 1] != width) {
                throw new IllegalArgumentException("levels " + space.levels().get(0) + " and " + level
                        + " share neuron space " + space.id() + " (their neurons are joined), so they need one fused"
                        + " width; found " + width + " and " + targetWidths[level - 1]);
            }
        }
        SpaceInputs in = spaceInputs(backend, collector, space);
        settings.progress().levelStep("grouping");
        if (space.headed()) {
            // spaces sharing the head order (queries/keys and values of one attention) are grouped together
            List<NeuronSpace> together = space.headOrder().stream().filter(id -> !spaces.containsKey(id))
                    .map(template::space).toList();
            List<SpaceInputs> inputs = new ArrayList<>(List.of(in));
            together.subList(1, together.size()).forEach(s -> inputs.add(spaceInputs(backend, collector, s)));
            List<Grouping> groupings = HeadedGrouping.group(backend, inputs.stream().map(SpaceInputs::gram).toList(),
                    inputs.stream().map(SpaceInputs::layout).toList(),
                    inputs.stream().map(SpaceInputs::importance).toList(), space.heads());
            for (int x = 1; x < together.size(); x++) {
                spaces.put(together.get(x).id(), new FusedSpace(groupings.get(x), inputs.get(x).widths()));
            }
            return new FusedSpace(groupings.get(0), in.widths());
        }
        Grouping grouping = settings.method() == FusionMethod.HF_LINEAR
                ? HungarianGrouping.match(backend, in.gram(), in.layout(), in.importance())
                : KMeansGrouping.group(backend, in.gram(), in.layout(), in.importance(), width,
                        settings.grouping().withSeed(settings.grouping().seed() * 1_000_003L + space.levels().get(0)));
        return new FusedSpace(grouping, in.widths());
    }

    /** What grouping a shared space starts from: the parents' Gram over its cuts, their layout and importance. */
    private record SpaceInputs(ProjectedTargets gram, NeuronLayout layout, double[] importance, List<Integer> widths) {
    }

    private SpaceInputs spaceInputs(ComputeBackend backend, StatisticsCollector collector, NeuronSpace space) {
        List<Integer> widths = plans.stream().map(p -> Math.toIntExact(p.space(space.id()).width())).toList();
        // a cut that only a Relu or Clip reads is compared by what its readers see, as its targets
        // are rectified (ALGORITHM.md section 3); the gradient variants keep the plain cuts
        float[][] clamps = settings.method().trains() ? null
                : space.cuts().stream().map(this::clampAfter).toArray(float[][]::new);
        ProjectedTargets gram = ProjectedTargets.ofGram(collector.spaceGram(space.id(), backend, clamps,
                settings.progress()::samplesCollected));
        double[] importance = null;
        for (int level : space.levels()) {
            double[] s = scores.level(level);
            if (importance == null) {
                importance = s.clone();
            } else {
                for (int i = 0; i < s.length; i++) {
                    importance[i] += s[i];
                }
            }
        }
        NeuronLayout layout = new NeuronLayout(widths.stream().mapToInt(Integer::intValue).toArray());
        return new SpaceInputs(gram, layout, importance, widths);
    }

    /**
     * The targets of a level whose cut feeds only a residual Add whose other operand the fused
     * model already computes (every level before it is fused): the parents' Add outputs, and the
     * fused model's other operand, to be subtracted. Empty otherwise.
     */
    private Optional<Targets> joinTargets(Level level) {
        int l = level.index();
        List<String> parentValues = new ArrayList<>();
        String other = null;
        for (int k = 0; k < parents.size(); k++) {
            Graph g = parents.get(k).graph();
            String cut = plans.get(k).level(l).cut();
            List<Node> readers = g.consumers(cut);
            if (readers.size() != 1 || g.outputs().stream().anyMatch(v -> v.name().equals(cut))) {
                return Optional.empty();
            }
            Node add = readers.get(0);
            if (!add.isDefaultDomain() || !add.opType().equals("Add") || add.inputs().size() != 2) {
                return Optional.empty();
            }
            String operand = add.inputs().get(0).equals(cut) ? add.inputs().get(1) : add.inputs().get(0);
            if (operand.equals(cut) || g.initializer(operand).isPresent()) {
                return Optional.empty();
            }
            parentValues.add(add.outputs().get(0));
            if (k == 0) {
                other = operand;
            }
        }
        for (int upstream : upstreamLevels(other)) {
            if (upstream >= l) {
                return Optional.empty();
            }
        }
        return Optional.of(new Targets(parentValues, List.of(other), level.neuronAxis()));
    }

    /**
     * The bounds {lower, upper} of the clamp that alone reads {@code level}'s cut in the template (Relu:
     * 0 and +infinity; Clip: its min and max), or null when the cut has other readers or none is a clamp.
     */
    private float[] clampAfter(Level level) {
        return clampAfter(level.cut());
    }

    /** As {@link #clampAfter(Level)}, for any value of the template. */
    private float[] clampAfter(String cut) {
        Graph g = parents.get(0).graph();
        List<Node> readers = g.consumers(cut);
        if (readers.size() != 1 || g.outputs().stream().anyMatch(v -> v.name().equals(cut))) {
            return null;
        }
        Node n = readers.get(0);
        if (!n.isDefaultDomain()) {
            return null;
        }
        if (n.opType().equals("Relu")) {
            return new float[] {0f, Float.POSITIVE_INFINITY};
        }
        if (!n.opType().equals("Clip")) {
            return null;
        }
        float lower = clipBound(g, n, 1, "min", Float.NEGATIVE_INFINITY);
        float upper = clipBound(g, n, 2, "max", Float.POSITIVE_INFINITY);
        return Float.isNaN(lower) || Float.isNaN(upper) || !(lower < upper)
                || (lower == Float.NEGATIVE_INFINITY && upper == Float.POSITIVE_INFINITY) ? null
                : new float[] {lower, upper};
    }

    /** A Clip bound: its input {@code input} (an initializer, opset 11+), else its attribute, else the default; NaN when unknown. */
    private static float clipBound(Graph g, Node clip, int input, String attribute, float absent) {
        if (clip.inputs().size() > input && !clip.inputs().get(input).isEmpty()) {
            return g.initializer(clip.inputs().get(input)).map(t -> {
                float[] v = t.toFloats();
                return v.length == 1 ? v[0] : Float.NaN;
            }).orElse(Float.NaN);
        }
        return clip.attribute(attribute).map(a -> a.asFloat()).orElse(absent);
    }

    /**
     * Whether {@code level} is a class level whose classes reach the output through a Relu and an
     * average over every position ({@link PooledHead#averagesAfterRelu}).
     */
    private boolean averagesAfterRelu(Level level) {
        if (!level.last()) {
            return false;
        }
        OutputHead head = trailingHead(level.index());
        return head != null && PooledHead.averagesAfterRelu(head, parents.get(0).graph(),
                head.trailing().get(0).outputShape().size(), level.neuronAxis());
    }

    /** Work (multiply-adds) the pooled fit of a class level may take; past it the level keeps its per-position fit. */
    static final double POOLED_FIT_WORK = 4e10;

    /**
     * Refits a class level that {@link #averagesAfterRelu} to the parents' logits as the output
     * shows them ({@link PooledHeadFit}), from the per-position fit; keeps {@code fit} with a
     * warning where the rows outgrew their budget or the work would exceed {@link #POOLED_FIT_WORK}.
     */
    private Fitted fitThroughPooling(ComputeBackend backend, Level level, Fitted fit, PooledHead pooled) {
        int l = level.index();
        String where = "level " + l + " ('" + level.cut() + "')";
        String skipped = null;
        int classes = fit.weights().cols();
        if (pooled.overBudget()) {
            skipped = "its rows outgrew " + TrainingRows.defaultBudget() / (1 << 20) + " MiB (a quarter of the heap)";
        } else if (pooled.positions() > 1) {
            double work = (double) classes * PooledHeadFit.MAX_ITERATIONS
                    * PooledHeadFit.workPerClassIteration(pooled.samples(), pooled.positions(), pooled.features());
            if (work > POOLED_FIT_WORK) {
                skipped = String.format(java.util.Locale.ROOT, "fitting it through them would take up to %.1e"
                        + " multiply-adds (%d classes of %d features, %d samples x %d positions), over the %.0e"
                        + " allowed", work, classes, pooled.features(), pooled.samples(), pooled.positions(),
                        POOLED_FIT_WORK);
            }
        }
        if (skipped != null) {
            pooled.clearRows();
            String warning = where + ": its classes pass a Relu and an average before the output, but " + skipped
                    + "; it keeps the per-position least squares";
            warnings.add(warning);
            settings.log().accept("onnx-fuse: warning: " + warning);
            return fit;
        }
        if (pooled.positions() <= 1) {
            pooled.clearRows();
            return fit;
        }
        settings.progress().levelStep("fit through the pooling");
        long t0 = System.nanoTime();
        double[] targets = pooled.targets(fit.members());
        PooledHeadFit.Result r = new PooledHeadFit(pooled.inputRows(), pooled.samples(), pooled.positions(),
                pooled.features()).fit(backend, fit.weights(), targets, settings.grouping().ridgeFactor());
        pooled.clearRows();
        double millis = (System.nanoTime() - t0) / 1e6;
        String method = fit.method() + String.format(java.util.Locale.ROOT, "; fitted through the Relu and pooling"
                + " (logit error %.4f -> %.4f, %d iterations)", Math.sqrt(r.startLoss() / Math.max(r.targetPower(),
                Double.MIN_VALUE)), r.relativeError(), r.iterations());
        return new Fitted(r.weights(), method, r.relativeError(), fit.cost(), fit.fanIn(), fit.samples(), fit.rows(),
                fit.inferenceMillis(), fit.statisticsMillis(), fit.groupingMillis(), fit.solveMillis() + millis,
                fit.warning(), fit.members(), fit.parentsStart(), fit.assignment());
    }

    /** Whether the classes of {@code level} pass a Relu before they reach their output. */
    private boolean rectifiedAfter(Level level) {
        return template.heads().stream().filter(h -> h.classLevel() == level.index())
                .anyMatch(h -> !h.trailing().isEmpty() && h.trailing().get(0).opType().equals("Relu"));
    }

    /** Indices of the levels whose affine op {@code value} depends on, in the template. */
    private Set<Integer> upstreamLevels(String value) {
        Graph g = parents.get(0).graph();
        Set<Integer> found = new HashSet<>();
        Set<Node> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<String> work = new ArrayDeque<>(List.of(value));
        while (!work.isEmpty()) {
            g.producer(work.pop()).ifPresent(n -> {
                if (seen.add(n)) {
                    Integer level = levelOfAffine.get(n);
                    if (level != null) {
                        found.add(level);
                    }
                    n.inputs().stream().filter(v -> !v.isEmpty()).forEach(work::push);
                }
            });
        }
        return found;
    }

    /**
     * The constants the fused model adds per head to the attention scores of {@code block}'s
     * levels (a relative-position bias): parameters of the block's attention, trained with it.
     */
    private List<String> scoreBiases(ResidualBlock block) {
        Set<Integer> blockSpaces = new HashSet<>();
        block.levels().forEach(l -> blockSpaces.add(template.level(l).space()));
        List<String> out = new ArrayList<>();
        Graph graph = fused.graph();
        for (PerNeuronOp op : template.perNeuron()) {
            if (op.perHead() && blockSpaces.contains(op.spaces().get(0))) {
                // a bias holding -inf masks too stays as written: an optimiser step would turn -inf into NaN
                graph.producer(op.op().output()).ifPresent(add -> add.inputs().stream()
                        .filter(in -> graph.initializer(in).filter(t -> t.dataType() == DataType.FLOAT
                                && allFinite(t.toFloats())).isPresent())
                        .findFirst().ifPresent(out::add));
            }
        }
        return out;
    }

    private static boolean allFinite(float[] values) {
        for (float v : values) {
            if (!Float.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Rewrites every per-neuron op whose spaces are all grouped: its parameters become, per fused
     * neuron, the importance-weighted mean over the group's members of each parent's affine form
     * of the op (a BatchNormalization y = a x + b; per position for a constant that varies along
     * positions too).
     */
    private void writePerNeuronParameters() {
        for (int idx = 0; idx < template.perNeuron().size(); idx++) {
            PerNeuronOp op = template.perNeuron().get(idx);
            if (perNeuronWritten.contains(idx) || !spaces.keySet().containsAll(op.spaces())) {
                continue;
            }
            int fusedChannels = op.spaces().stream().mapToInt(s -> spaces.get(s).width()).sum();
            double[][] form = null;
            for (int k = 0; k < parents.size(); k++) {
                double[][] parentForm = NormWriter.affineForm(parents.get(k).graph(), plans.get(k).perNeuron().get(idx));
                if (form == null) {
                    form = new double[parentForm.length][fusedChannels];
                }
                int parentOffset = 0;
                int fusedOffset = 0;
                for (int s : op.spaces()) {
                    FusedSpace space = spaces.get(s);
                    int[] assignment = space.grouping().assignment();
                    DenseMatrix u = space.memberWeights();
                    int n = space.parentWidths().get(k);
                    for (int src = 0; src < n; src++) {
                        int i = space.offset(k) + src;
                        int g = assignment[i];
                        double weight = g < 0 ? 0 : u.get(i, g);
                        if (weight == 0) {
                            continue; // also keeps 0 x -inf (a masked score) out of the sums
                        }
                        for (int row = 0; row < form.length; row++) {
                            form[row][fusedOffset + g] += weight * parentForm[row][parentOffset + src];
                        }
                    }
                    parentOffset += n;
                    fusedOffset += space.width();
                }
            }
            fused = fused.withGraph(NormWriter.writeAffine(fused.graph(), op, form));
            perNeuronWritten.add(idx);
        }
    }

    /**
     * Holds the level's rows when its products are better formed in row space
     * ({@link LevelMemory#keepsRows}: at most half as many rows as inputs); null otherwise.
     */
    private static LevelRows rowsToKeep(Level level, GroupingForm form, long samples, long neurons) {
        return LevelMemory.keepsRows(level, form, samples, neurons, Runtime.getRuntime().maxMemory())
                ? new LevelRows(samples * level.positionsPerSample().get()) : null;
    }

    /**
     * The form a level's own K-means runs in, decided before its statistics are collected (the
     * factor form keeps only the diagonal of S_aa). Only a level grouped from its own fit by KF
     * can take the factor form; every other level stays in Gram form: a level of a space grouped
     * already (its fit reads the grouping U, and a residual level's target A U - R needs S_aa's
     * cross terms with R), the last level (class means), HF (the pairwise costs of two parents)
     * and kf-gradient (which groups the parents' outputs by their Gram S_aa).
     */
    private GroupingForm groupingForm(Level level) {
        boolean ownKMeans = !level.last() && !spaces.containsKey(template.space(level.space()).id())
                && settings.method().mayGroupInFactorForm();
        if (!ownKMeans) {
            return GroupingForm.GRAM;
        }
        if (settings.levelForms() != null) {
            return settings.levelForms().get(level.index() - 1);
        }
        int m = plans.stream().mapToInt(p -> Math.toIntExact(p.level(level.index()).width())).sum();
        return settings.grouping().form().resolve(m, level.fanIn(), targetWidths[level.index() - 1],
                Runtime.getRuntime().maxMemory());
    }

    /** Groups a level's neurons (KF or HF) or, at the last level, averages the classes. */
    private Grouping group(ComputeBackend backend, ProjectedTargets fit, LevelStatistics stats, Level level,
                           int width, double[] levelScores) {
        NeuronLayout layout = new NeuronLayout(stats.parentWidths().stream().mapToInt(Integer::intValue).toArray());
        if (level.last()) {
            try {
                return LastLevelTargets.classMeans(backend, fit, layout, levelScores);
            } catch (IllegalArgumentException e) {
                throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "level " + level.index()
                        + " ('" + level.cut() + "'): " + e.getMessage(), e);
            }
        }
        if (settings.method() == FusionMethod.HF_LINEAR) {
            return HungarianGrouping.match(backend, fit, layout, levelScores);
        }
        // one seed per level, so that levels of equal shape do not repeat each other's choices
        GroupingConfig config = settings.grouping().withSeed(settings.grouping().seed() * 1_000_003L + level.index());
        // the gradient variant groups the parents' outputs themselves (ALGORITHM.md section 4, step 2)
        ProjectedTargets grouped = settings.method() == FusionMethod.KF_GRADIENT
                ? ProjectedTargets.ofGram(parentGram(stats.statistics().aa(), layout.neurons())) : fit;
        return KMeansGrouping.group(backend, grouped, layout, levelScores, width, config);
    }

    /** The top-left {@code m} x {@code m} block of S_aa: the parents' columns without the fused model's extras. */
    private static DenseMatrix parentGram(DenseMatrix aa, int m) {
        if (aa.rows() == m) {
            return aa;
        }
        double[] g = new double[m * m];
        for (int j = 0; j < m; j++) {
            for (int i = 0; i < m; i++) {
                g[i + j * m] = aa.get(i, j);
            }
        }
        return new DenseMatrix(m, m, g);
    }

    private static String describe(Grouping g) {
        return switch (g.method()) {
            case KMEANS -> "KF";
            case HUNGARIAN -> "HF";
            case CLASS_MEAN -> "class mean";
            case KEPT -> "kept";
            case HEADS -> "heads";
        };
    }

    /** [U; -I]: the fused target A U - R, when the fused model's R (k columns) follows the parents' m columns in A. */
    private static DenseMatrix withNegativeIdentity(DenseMatrix u) {
        int m = u.rows();
        int k = u.cols();
        double[] out = new double[(m + k) * k];
        for (int g = 0; g < k; g++) {
            for (int i = 0; i < m; i++) {
                out[i + g * (m + k)] = u.get(i, g);
            }
            out[m + g + g * (m + k)] = -1;
        }
        return new DenseMatrix(m + k, k, out);
    }

    /** {@code prior} with {@code extra} zero columns appended: no prior for the fused model's own columns. */
    private static DenseMatrix withZeroColumns(DenseMatrix prior, int extra) {
        double[] p = java.util.Arrays.copyOf(prior.toColumnMajor(), prior.rows() * (prior.cols() + extra));
        return new DenseMatrix(prior.rows(), prior.cols() + extra, p);
    }
}
