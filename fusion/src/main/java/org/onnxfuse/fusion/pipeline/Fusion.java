package org.onnxfuse.fusion.pipeline;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import org.onnxfuse.fusion.baseline.ActivationMatching;
import org.onnxfuse.fusion.baseline.VanillaAverage;
import org.onnxfuse.fusion.baseline.WeightMatching;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.StatisticsCollector;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.ImageFolder;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.evaluate.EnsembleDistance;
import org.onnxfuse.fusion.evaluate.Labels;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.group.HungarianGrouping;
import org.onnxfuse.fusion.group.KMeansGrouping;
import org.onnxfuse.fusion.group.LastLevelTargets;
import org.onnxfuse.fusion.group.ProjectedTargets;
import org.onnxfuse.fusion.importance.ClassConfidence;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.solve.StoredWeights;
import org.onnxfuse.fusion.importance.Importance;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.importance.ImportanceScorer;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * The linear fusion loop (ALGORITHM.md sections 3 and 5) as a library call:
 * <pre>{@code
 * FusionResult r = Fusion.builder()
 *         .parents(Path.of("a.onnx"), Path.of("b.onnx"))
 *         .calibration(Path.of("calib.npy"))
 *         .method(FusionMethod.KF_LINEAR)
 *         .seed(0).batchSize(256).threads(2).device("cpu")
 *         .build().fuse();
 * OnnxWriter.write(r.model(), Path.of("fused.onnx"));
 * }</pre>
 * Parents may also be given as in-memory {@link Model}s and calibration data as a float array.
 * Parent 0 is the template: the fused model is its graph with every level rewritten. For each
 * level in order: collect the statistics (X from the fused-so-far model, A from the parents),
 * solve the ridge least squares ({@link ProjectedTargets}, centred on the parents' own weights
 * unless paper-exact, see {@link FusionConfig#parentPrior}), group ({@link KMeansGrouping} for KF,
 * {@link HungarianGrouping} for HF) or, for the last level, average the parents' logits class by
 * class ({@link LastLevelTargets}), and write the fused weights back. Importance scores (DeepLIFT
 * attributions by default, see {@link ImportanceScorer}; or uniform) are computed once before the level loop.
 * kf-linear on two parents of a DAG runs the loop a second time by one-to-one matching and keeps the
 * fused model closer to the parents ({@link GroupingChoice}).
 *
 * <p>The fused model records its provenance in {@code metadata_props} ({@link Provenance}):
 * {@code onnx-fuse.version}, {@code .method}, {@code .seed}, {@code .parents} (file names, or
 * "parent k" for in-memory models), {@code .parents.sha256} (of each parent file's bytes, or of
 * an in-memory model's serialised form), {@code .samples}, {@code .widths} (fused width per level)
 * and {@code .config} (the whole configuration as compact JSON).
 *
 * <p>Every setting is one {@link FusionConfig}, checked when the job is built ({@link Builder#build()}
 * or, for the widths against the levels, when the parents are planned) with
 * {@link InvalidSettingException}. A {@code Fusion} is a configured, immutable job; {@link #fuse()}
 * opens and closes every resource it uses (files it opened, the compute backend, ONNX Runtime
 * sessions). Calibration data passed as a {@link CalibrationData} is not closed.
 */
public final class Fusion {
    private final List<ParentSource> parentSources;
    private final Path calibrationPath;
    private final CalibrationData calibrationData;
    private final long[] labels;
    private final Path labelsPath;
    private final ImageFolder.Options imageOptions;
    /** The class sub-folders of a calibration image folder given without labels, or null. */
    private final ImageFolder.ClassFolders classFolders;
    private final FusionConfig config;
    private final Consumer<String> log;
    private final FusionProgress progress;

    private Fusion(Builder b, FusionConfig config) {
        this.parentSources = List.copyOf(b.parentSources);
        this.calibrationPath = b.calibrationPath;
        this.calibrationData = b.calibrationData;
        this.labels = b.labels;
        this.labelsPath = b.labelsPath;
        this.imageOptions = b.imageOptions;
        this.classFolders = b.classFolders;
        this.config = config;
        this.log = b.log;
        this.progress = b.progress;
    }

    /**
     * A parent as given: a file, a model, or both (a model already read from the file), and its
     * plan when the caller has planned it (then the model is taken as planned: folded, see
     * {@link ConstantFolding}).
     */
    private record ParentSource(Path file, Model model, LevelPlan plan) {
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Runs the fusion. */
    public FusionResult fuse() {
        long start = System.nanoTime();
        List<Model> parents = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<String> digests = new ArrayList<>();
        List<LevelPlan> plans = new ArrayList<>();
        for (ParentSource source : parentSources) {
            Path file = source.file();
            Model model = source.plan() != null ? source.model()
                    : ConstantFolding.fold(source.model() != null ? source.model() : OnnxReader.read(file));
            parents.add(model);
            plans.add(source.plan() != null ? source.plan() : LevelPlanner.plan(model));
            names.add(file != null ? String.valueOf(file.getFileName()) : "parent " + names.size());
            digests.add(file != null ? Provenance.sha256(file) : Provenance.sha256(source.model()));
        }
        PlanComparison.requireCompatible(plans, names);
        StoredWeights.requireSupported(parents.get(0), config.weightType());
        LevelPlan template = plans.get(0);
        int[] targetWidths = config.targetWidths(plans);
        Map<Integer, Integer> keptLevels = config.keptLevels(plans);

        FusionMethod method = config.method();
        int threads = config.threadsToUse();
        List<String> warnings = new ArrayList<>();
        List<LevelReport> reports = new ArrayList<>();
        int fixedBatch = fixedBatch(parents, warnings);
        int batch = fixedBatch > 0 ? fixedBatch : config.batchSize();
        CalibrationData opened = calibrationPath != null
                ? CalibrationData.open(calibrationPath, template, imageOptions) : null;
        CalibrationData given = opened != null ? opened : calibrationData;
        CalibrationData data = given == null ? null : given.limit(config.samples());
        if (data != null && fixedBatch > 0 && data.samples() % fixedBatch != 0) {
            long kept = data.samples() / batch * batch;
            String warning = "the parents run only in batches of " + batch + ": using the first " + kept + " of the "
                    + data.samples() + " calibration samples";
            warnings.add(warning);
            log.accept("onnx-fuse: warning: " + warning);
            data = data.limit(Math.max(kept, batch));
        }
        Model fused;
        String backendName;
        boolean labelsGiven = labels != null || labelsPath != null || classFolders != null;
        ClassWeights classWeights = config.classWeightsToUse(template.sequential(), labelsGiven);
        Importance scores = null;
        double scoringMillis = 0;
        Map<String, Object> selection = null;
        try {
            if (method.isInterpolation()) {
                Candidate chosen = interpolateWith(config, parents, plans, targetWidths, keptLevels, data, fixedBatch,
                        batch, labelsGiven, log);
                if (method == FusionMethod.KF_LINEAR && config.groupingChoice().compares(parents.size(),
                        template.sequential(), ownWidths(plans, targetWidths))) {
                    Selection kept = closerOfBoth(chosen, parents, plans, targetWidths, keptLevels, data, fixedBatch,
                            batch, labelsGiven);
                    chosen = kept.candidate();
                    selection = kept.record();
                }
                fused = chosen.model();
                backendName = chosen.backendName();
                scores = chosen.scores();
                classWeights = chosen.classWeights();
                scoringMillis = chosen.scoringMillis();
                warnings.addAll(chosen.warnings());
                reports.addAll(chosen.reports());
            } else {
                fused = switch (method) {
                    case AVERAGE -> VanillaAverage.fuse(parents, plans);
                    case WEIGHT_MATCH -> WeightMatching.fuse(parents, plans);
                    case ACT_MATCH -> ActivationMatching.fuse(parents, plans, data, batch, threads);
                    default -> throw new IllegalStateException(method.name());
                };
                backendName = "none";
            }
        } finally {
            if (opened != null) {
                opened.close();
            }
        }
        long samplesUsed = data == null ? 0 : data.samples();
        Map<String, Object> settings = new LinkedHashMap<>(config.recorded(samplesUsed, backendName, scores,
                classWeights, keptLevels));
        if (selection != null) {
            settings.put("groupingKept", selection);
        }
        Map<String, String> provenance = new LinkedHashMap<>();
        provenance.put("method", method.cliName());
        provenance.put("seed", Long.toString(config.seed()));
        provenance.put("parents", String.join(",", names));
        provenance.put("parents.sha256", String.join(",", digests));
        provenance.put("samples", Long.toString(samplesUsed));
        List<String> fusedWidths = reports.isEmpty()
                ? template.widths().stream().map(String::valueOf).toList()
                : reports.stream().map(r -> Integer.toString(r.width())).toList();
        provenance.put("widths", String.join(",", fusedWidths));
        provenance.put("config", Provenance.json(settings));
        Model result = Provenance.stamp(fused, provenance);
        Model stored = StoredWeights.convert(result, config.weightType());
        return new FusionResult(stored, settings, reports, warnings, scores, scoringMillis,
                (System.nanoTime() - start) / 1e6, result);
    }

    private record Interpolated(Model model, String backendName) {
    }

    /**
     * The matching is kept only when its logit error is lower than K-means' by more than this share
     * of K-means' error and by more than {@link #MATCHING_FLOOR}: two fusions that are equally close
     * (a parent and its permuted copy both fuse back to the parent, up to rounding) keep K-means, the
     * grouping every other plan uses.
     */
    static final double MATCHING_MARGIN = 0.05;
    static final double MATCHING_FLOOR = 1e-3;

    /** At most this many calibration rows decide between the two groupings: enough to rank them, few to run. */
    static final long SELECTION_ROWS = 10_000;

    /** One interpolation's fused model and what it used and said. */
    private record Candidate(Model model, String backendName, Importance scores, ClassWeights classWeights,
                             double scoringMillis, List<String> warnings, List<LevelReport> reports) {
    }

    /** The candidate a comparison kept, and what {@code groupingKept} records of it. */
    private record Selection(Candidate candidate, Map<String, Object> record) {
    }

    /**
     * Fuses again by one-to-one matching (hf-linear's settings) and keeps whichever of it and
     * {@code kmeans} has logits closer to the parents' mean on the first calibration rows
     * (ALGORITHM.md section 3, "Choosing the grouping"); the matching's log is shown only if it is kept.
     */
    private Selection closerOfBoth(Candidate kmeans, List<Model> parents, List<LevelPlan> plans, int[] targetWidths,
                                   Map<Integer, Integer> keptLevels, CalibrationData data, int fixedBatch, int batch,
                                   boolean labelsGiven) {
        FusionConfig matching = FusionConfig.builder().config(config).method(FusionMethod.HF_LINEAR)
                .groupingChoice(GroupingChoice.AUTO).build();
        progress.stageStarted("fusing again by one-to-one matching, to keep the closer of the two");
        List<String> matchingLog = new ArrayList<>();
        Candidate matched = interpolateWith(matching, parents, plans, targetWidths, keptLevels, data, fixedBatch,
                batch, labelsGiven, matchingLog::add);
        long rows = selectionRows(data.samples(), fixedBatch);
        progress.stageStarted("comparing both fused models with the ensemble on " + rows + " calibration samples");
        List<EnsembleDistance> distances = EnsembleDistance.measure(List.of(kmeans.model(), matched.model()),
                parents, data, 0, (int) rows, batch, config.threadsToUse());
        double gain = distances.get(0).logitError() - distances.get(1).logitError();
        boolean keepMatching = gain > Math.max(MATCHING_MARGIN * distances.get(0).logitError(), MATCHING_FLOOR);
        log.accept(String.format(java.util.Locale.ROOT, "onnx-fuse: grouping: kept %s (logit error to the parents'"
                        + " mean %.4f) over %s (%.4f) on %d calibration samples",
                keepMatching ? "one-to-one matching" : "K-means", distances.get(keepMatching ? 1 : 0).logitError(),
                keepMatching ? "K-means" : "one-to-one matching", distances.get(keepMatching ? 0 : 1).logitError(),
                rows)
                + (!keepMatching && gain > 0 ? ": the matching's lead is within the margin of "
                + Math.round(MATCHING_MARGIN * 100) + " % that it needs" : ""));
        if (keepMatching) {
            matchingLog.forEach(log);
        }
        return new Selection(keepMatching ? matched : kmeans, selectionRecord(distances, keepMatching, rows));
    }

    /**
     * The calibration rows that decide between the groupings: the first {@link #SELECTION_ROWS} at
     * most, in whole batches where the parents run only in batches of {@code fixedBatch} (> 0).
     */
    static long selectionRows(long samples, int fixedBatch) {
        long rows = Math.min(samples, SELECTION_ROWS);
        return fixedBatch > 0 ? Math.min(samples, Math.max(fixedBatch, rows / fixedBatch * fixedBatch)) : rows;
    }

    /** Whether every parent's every level has the fused width (one-to-one matching keeps them). */
    private static boolean ownWidths(List<LevelPlan> plans, int[] targetWidths) {
        for (LevelPlan plan : plans) {
            for (int l = 1; l <= targetWidths.length; l++) {
                if (plan.level(l).width() != targetWidths[l - 1]) {
                    return false;
                }
            }
        }
        return true;
    }

    private static Map<String, Object> selectionRecord(List<EnsembleDistance> distances, boolean keepMatching,
                                                       long rows) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("kept", keepMatching ? "matching" : "kmeans");
        out.put("samples", rows);
        String[] names = {"kmeans", "matching"};
        for (int k = 0; k < 2; k++) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("crossEntropy", distances.get(k).crossEntropy());
            d.put("logitError", distances.get(k).logitError());
            d.put("agreement", distances.get(k).agreement());
            out.put(names[k], java.util.Collections.unmodifiableMap(d));
        }
        return java.util.Collections.unmodifiableMap(out);
    }

    /** Scores the neurons and runs the level loop under {@code cfg}; warnings and reports are the candidate's own. */
    private Candidate interpolateWith(FusionConfig cfg, List<Model> parents, List<LevelPlan> plans,
                                      int[] targetWidths, Map<Integer, Integer> keptLevels, CalibrationData data,
                                      int fixedBatch, int batch, boolean labelsGiven, Consumer<String> out) {
        FusionMethod method = cfg.method();
        ClassWeights classWeights = cfg.classWeightsToUse(plans.get(0).sequential(), labelsGiven);
        List<String> warnings = new ArrayList<>();
        List<LevelReport> reports = new ArrayList<>();
        long heap = Runtime.getRuntime().maxMemory();
        GroupingForm.Rule forms = LevelMemory.forms(cfg.grouping().form(), heap);
        long parentBytes = parents.stream().mapToLong(LevelMemory::heldBytes).sum();
        List<LevelMemory> memory = LevelMemory.of(plans, parentBytes, targetWidths, cfg.batchSize(),
                (m, d, k) -> method.mayGroupInFactorForm() ? forms.of(m, d, k) : GroupingForm.GRAM,
                data == null ? 0 : data.samples(), StatisticsCollector.frontierHeapBudget(heap), heap);
        LevelMemory.requireFits(memory, heap, parents.size());
        List<GroupingForm> levelForms = memory.stream().map(LevelMemory::form).toList();
        long scoringStart = System.nanoTime();
        Importance scores = score(cfg, parents, plans, data, fixedBatch > 0 ? batch
                : ImportanceScorer.batchWithinBudget(plans.get(0), batch), classWeights, warnings, out);
        double scoringMillis = (System.nanoTime() - scoringStart) / 1e6;
        Interpolated result = interpolate(cfg, parents, plans, targetWidths, keptLevels, data,
                fixedBatch > 0 ? batch : collectionBatch(plans, batch, out), scores, levelForms, warnings, reports,
                out);
        return new Candidate(result.model(), result.backendName(), scores, classWeights, scoringMillis, warnings,
                reports);
    }

    /** {@code batch}, or a smaller one where a level's rows would not fit. */
    private static int collectionBatch(List<LevelPlan> plans, int batch, Consumer<String> log) {
        int bounded = StatisticsCollector.batchWithinBudget(plans, batch);
        if (bounded == batch) {
            return batch;
        }
        log.accept("onnx-fuse: collecting in batches of " + bounded + " samples: a level's rows would take more"
                + " than 256 MB at " + batch);
        return bounded;
    }

    /**
     * The batch size the parents' input is fixed to (an export without a dynamic batch axis; ONNX
     * Runtime then refuses any other), or 0 when it is free. Parents with different input shapes
     * have already been refused by {@link PlanComparison}.
     */
    private int fixedBatch(List<Model> parents, List<String> warnings) {
        ValueInfo in = parents.get(0).graph().feedInputs().get(0);
        int fixed = DataShapes.fixedBatch(in.tensorType() == null || !in.tensorType().hasShape() ? null
                : in.tensorType().dimsOrMinusOne());
        int batchSize = config.batchSize();
        if (fixed == 0 || fixed == batchSize) {
            return fixed;
        }
        String note = "the parents' input has a fixed batch size of " + fixed + " (exported without a dynamic batch"
                + " axis): running batches of " + fixed + " instead of " + batchSize + "; export with"
                + " dynamic_axes={'<input>': {0: 'batch'}} for speed";
        warnings.add(note);
        log.accept("onnx-fuse: warning: " + note);
        return fixed;
    }

    /** Every neuron's importance (ALGORITHM.md section 6), before the level loop: it depends on the parents only. */
    private Importance score(FusionConfig cfg, List<Model> parents, List<LevelPlan> plans, CalibrationData data,
                             int batch, ClassWeights classWeights, List<String> warnings, Consumer<String> log) {
        ImportanceMethod importance = cfg.importanceToUse(plans.get(0).sequential());
        int threads = cfg.threadsToUse();
        long[] y = labels;
        boolean confidence = classWeights == ClassWeights.CONFIDENCE;
        if (y == null && labelsPath != null && (importance.needsData() || confidence)) {
            y = readLabels(labelsPath, data, plans.get(0));
        } else if (y == null && classFolders != null && (importance.needsData() || confidence)) {
            y = Labels.ofClassFolders(classFolders, Math.toIntExact(plans.get(0).lastLevel().width()));
        }
        if (y != null && y.length > data.samples()) {
            y = java.util.Arrays.copyOf(y, Math.toIntExact(data.samples())); // --samples kept the first ones
        }
        ImportanceScorer.Progress scoring = new ImportanceScorer.Progress() {
            @Override
            public void parentStarted(int parent, int parentCount) {
                progress.stageStarted("importance (" + importance.cliName() + ") parent " + (parent + 1) + "/"
                        + parentCount);
            }

            @Override
            public void samplesScored(long done, long total) {
                progress.samplesCollected(done, total);
            }
        };
        Importance neurons = neuronScores(cfg, importance, batch, threads, parents, plans, data, y, scoring,
                warnings, log);
        LevelPlan template = plans.get(0);
        int classLevel = template.lastLevel().index();
        return switch (classWeights) {
            case AUTO, IMPORTANCE -> neurons;
            case UNIFORM -> neurons.withLevel(classLevel, plans.stream().map(p -> {
                double[] ones = new double[Math.toIntExact(p.lastLevel().width())];
                java.util.Arrays.fill(ones, 1.0);
                return ones;
            }).toList());
            case CONFIDENCE -> {
                progress.stageStarted("class confidence");
                yield neurons.withLevel(classLevel, ClassConfidence.measure(parents, template, data, y, batch, threads));
            }
        };
    }

    private Importance neuronScores(FusionConfig cfg, ImportanceMethod importance, int batch, int threads,
                                    List<Model> parents, List<LevelPlan> plans, CalibrationData data, long[] y,
                                    ImportanceScorer.Progress scoring, List<String> warnings,
                                    Consumer<String> log) {
        try {
            return new ImportanceScorer(importance, batch, threads).score(parents, plans, data, y, scoring);
        } catch (OnnxFuseException e) {
            // an op without a gradient rule, or a backward graph ONNX Runtime cannot run (e.g. a
            // Reshape to a fixed batch size that the batch-1 baseline breaks); bad data is still an error
            boolean backward = e.code() == ErrorCode.UNSUPPORTED_OP || e.code() == ErrorCode.BACKEND;
            if (cfg.importance() != null || !backward) {
                throw e;
            }
            // The default must not make a fusion fail that uniform scores can do.
            String warning = "the default " + importance.cliName() + " importance cannot run on these parents ("
                    + e.getMessage() + "); using uniform importance";
            warnings.add(warning);
            log.accept("onnx-fuse: warning: " + warning);
            return new ImportanceScorer(ImportanceMethod.UNIFORM, batch, threads).score(parents, plans, data, y,
                    scoring);
        }
    }

    private static long[] readLabels(Path file, CalibrationData data, LevelPlan plan) {
        try (SampleArray ys = NpyArray.open(file)) {
            if (ys.samples() < data.samples()) {
                throw new DataException(ErrorCode.DATA_SHAPE, file + " holds " + ys.samples() + " labels but "
                        + data.source() + " holds " + data.samples() + " samples; expected one label per sample");
            }
            return Labels.read(ys, 0, Math.toIntExact(data.samples()), Math.toIntExact(plan.lastLevel().width()));
        }
    }

    /** The level loop of the linear variant (ALGORITHM.md section 3); fills {@code warnings} and {@code reports}. */
    private Interpolated interpolate(FusionConfig cfg, List<Model> parents, List<LevelPlan> plans, int[] targetWidths,
                                     Map<Integer, Integer> kept, CalibrationData data,
                                     int batch, Importance scores, List<GroupingForm> levelForms,
                                     List<String> warnings, List<LevelReport> reports,
                                     Consumer<String> log) {
        int threads = cfg.threadsToUse();
        LevelLoop.Settings settings = new LevelLoop.Settings(cfg.method(), cfg.grouping(),
                cfg.usesParentPrior(), log, progress, cfg.gradient(), cfg.seed(), threads, levelForms);
        try (ComputeBackend backend = Backends.open(cfg.device(), threads, log);
             StatisticsCollector collector = new StatisticsCollector(parents, plans, data, batch, threads)) {
            progress.levelsPlanned(LevelWork.of(plans, targetWidths), data.samples());
            Model fused = new LevelLoop(parents, plans, targetWidths, kept, scores, settings, warnings, reports)
                    .run(backend, collector);
            return new Interpolated(fused, backend.name());
        }
    }

    /**
     * Configures a {@link Fusion}: its inputs, where its log and progress go, and its settings
     * (the setters of {@link FusionConfig.Settings}, or {@link #config} for all at once). Defaults:
     * KF-linear, seed 0, batch 256, threads 0 (all), device auto, all samples, parent 0's widths,
     * DeepLIFT importance, ridge factor 1e-6 with the parent prior, 10 restarts, 100 iterations, not
     * paper-exact, no progress, log to standard error.
     */
    public static final class Builder extends FusionConfig.Settings<Builder> {
        private final List<ParentSource> parentSources = new ArrayList<>();
        private Path calibrationPath;
        private CalibrationData calibrationData;
        private long[] labels;
        private Path labelsPath;
        private ImageFolder.Options imageOptions = ImageFolder.Options.DEFAULT;
        private ImageFolder.ClassFolders classFolders;
        private Consumer<String> log = System.err::println;
        private FusionProgress progress = FusionProgress.NONE;

        private Builder() {
        }

        /** Parent model files, read when fusing. Parents count in the order they are added; parent 0 is the template. */
        public Builder parents(Path... files) {
            return parentFiles(List.of(files));
        }

        public Builder parentFiles(List<Path> files) {
            files.forEach(f -> parentSources.add(new ParentSource(Objects.requireNonNull(f), null, null)));
            return this;
        }

        /** In-memory parent models (provenance hashes their serialised bytes). */
        public Builder parents(Model... models) {
            return parentModels(List.of(models));
        }

        public Builder parentModels(List<Model> models) {
            models.forEach(m -> parentSources.add(new ParentSource(null, Objects.requireNonNull(m), null)));
            return this;
        }

        /** A parent the caller has already read from {@code file}: not read again; provenance hashes the file. */
        public Builder parent(Path file, Model model) {
            parentSources.add(new ParentSource(Objects.requireNonNull(file), Objects.requireNonNull(model), null));
            return this;
        }

        /**
         * A parent the caller has read from {@code file}, folded ({@link ConstantFolding}) and
         * planned ({@link LevelPlanner}): neither is done again.
         */
        public Builder parent(Path file, Model folded, LevelPlan plan) {
            parentSources.add(new ParentSource(Objects.requireNonNull(file), Objects.requireNonNull(folded),
                    Objects.requireNonNull(plan)));
            return this;
        }

        /**
         * Calibration inputs from a file: a {@code .npy} (samples first), an {@code .npz} with one
         * array per model input, a CSV of numbers, or a folder of images read with the default
         * {@link ImageFolder.Options} (see {@link #calibration(Path, ImageFolder.Options)}).
         */
        public Builder calibration(Path file) {
            return calibration(file, ImageFolder.Options.DEFAULT);
        }

        /**
         * Calibration inputs from a file or a folder of images read as {@code images} says (resize,
         * channel order, layout, mean and standard deviation). A folder with one sub-folder of
         * images per class also gives the labels (numeric sub-folder names are the labels, other
         * names are sorted to 0..C-1) unless {@link #labels} are given.
         */
        public Builder calibration(Path file, ImageFolder.Options images) {
            this.calibrationPath = Objects.requireNonNull(file);
            this.imageOptions = Objects.requireNonNull(images);
            this.calibrationData = null;
            return this;
        }

        /** Calibration inputs in memory, row-major with {@code shape} samples first; not copied. */
        public Builder calibration(float[] values, long... shape) {
            this.calibrationData = CalibrationData.ofArray(values, shape);
            this.calibrationPath = null;
            return this;
        }

        /** Calibration data the caller owns (and closes). */
        public Builder calibration(CalibrationData data) {
            this.calibrationData = Objects.requireNonNull(data);
            this.calibrationPath = null;
            return this;
        }

        /**
         * The class of every calibration sample, for the attribution methods' F (the logit of the
         * sample's class); without labels they explain each parent's own prediction. Not copied.
         */
        public Builder labels(long[] value) {
            this.labels = Objects.requireNonNull(value);
            this.labelsPath = null;
            return this;
        }

        /** Labels as an integer {@code .npy} file, one per calibration sample; see {@link #labels(long[])}. */
        public Builder labels(Path npy) {
            this.labelsPath = Objects.requireNonNull(npy);
            this.labels = null;
            return this;
        }

        /** Receives warnings and backend notes; default standard error. */
        public Builder log(Consumer<String> value) {
            this.log = Objects.requireNonNull(value);
            return this;
        }

        /** Receives level and sample progress on the fusing thread; default none. */
        public Builder progress(FusionProgress value) {
            this.progress = Objects.requireNonNull(value);
            return this;
        }

        /**
         * The job, its settings checked ({@link FusionConfig}) against the inputs given.
         *
         * @throws InvalidSettingException for the first setting that cannot be used
         */
        public Fusion build() {
            FusionConfig config = configuration();
            classFolders = null;
            if (calibrationPath != null && labels == null && labelsPath == null
                    && Files.isDirectory(calibrationPath)) {
                ImageFolder.ClassFolders classes = ImageFolder.scan(calibrationPath);
                classFolders = classes.labelled() ? classes : null;
            }
            config.checkInputs(parentSources.size(), calibrationPath != null || calibrationData != null,
                    labels != null || labelsPath != null || classFolders != null);
            return new Fusion(this, config);
        }
    }
}
