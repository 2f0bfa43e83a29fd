package org.onnxfuse.fusion.cli;

import org.onnxfuse.fusion.pipeline.GradientSettings;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;
import org.onnxfuse.fusion.train.LearningRate;
import org.onnxfuse.fusion.train.OptimizerKind;
import org.onnxfuse.fusion.train.StartingPoint;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.RuntimeLogging;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.Finite;
import org.onnxfuse.fusion.data.ImageFolder;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.evaluate.AgreementCheck;
import org.onnxfuse.fusion.evaluate.Confusion;
import org.onnxfuse.fusion.evaluate.Labels;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionConfig;
import org.onnxfuse.fusion.pipeline.LevelSelection;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.pipeline.GroupingChoice;
import org.onnxfuse.fusion.solve.StoredWeights;
import org.onnxfuse.fusion.solve.WeightType;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.pipeline.FusionMethod;
import org.onnxfuse.fusion.pipeline.FusionProgress;
import org.onnxfuse.fusion.pipeline.FusionResult;
import org.onnxfuse.fusion.pipeline.Provenance;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.errors.OutputException;
import org.onnxfuse.onnx.errors.TerminalText;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.io.StagedFiles;
import org.onnxfuse.onnx.io.TempFiles;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Model;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code onnx-fuse a.onnx b.onnx [...] --data calib.npy -o fused.onnx}: fuses the parents, writes
 * the fused model atomically, prints per-level fit and (with labels) accuracies, and optionally a
 * JSON report.
 */
@Command(name = "onnx-fuse", mixinStandardHelpOptions = true, versionProvider = FuseCommand.Version.class,
        sortOptions = false,
        description = {"Fuses several trained ONNX models into one by neuron interpolation.",
                "Parent 0 (the first) is the template: list the best parent first."},
        footer = {"", "The level table's columns: fan-in = d, the inputs of a fused neuron (a ones column"
                + " included); fit error = ||X W_fused - A U|| / ||A U||, how far the fused level's outputs are from"
                + " the groups' importance-weighted mean outputs (0 = exact); grouping cost = sum_i s_i"
                + " ||X w_group(i) - a_i||, each parent neuron's distance from its group's fit, weighted by its"
                + " importance. Training: validation loss = the loss on the held-out 20 %% of the samples.",
            "Exit codes: 0 done, 2 usage, 10-24 model files, 30-31 models that cannot be fused, 40-43 data, 50-51"
                + " output, 60 compute backend, 61 not enough memory, 70 a bug (please report). README: all of them."})
public final class FuseCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Parameters(paramLabel = "PARENT.onnx", arity = "0..*", description = "parent models, best first")
    private List<Path> parents = new ArrayList<>();

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "where to write the fused model")
    private Path output;

    @Option(names = "--data", paramLabel = "FILE",
            description = "calibration data: .npy, .npz keyed by input name, .csv, or a folder of images (one"
                    + " sub-folder per class gives the labels)")
    private Path data;

    @Option(names = "--labels", paramLabel = "FILE", description = "integer labels of the calibration data (.npy)")
    private Path labels;

    @Option(names = "--eval-data", paramLabel = "FILE", description = "held-out data to report accuracy on")
    private Path evalData;

    @Option(names = "--eval-labels", paramLabel = "FILE",
            description = "labels of --eval-data (a folder of images with class sub-folders has its own)")
    private Path evalLabels;

    @Option(names = "--method", paramLabel = "NAME",
            description = "kf-linear (default with --data), hf-linear (2 parents), kf-gradient (levels trained by"
                    + " gradient descent), kf-auto (kf-linear, training only segments beyond one affine op), average,"
                    + " weight-match (default without --data), act-match")
    private String method;

    @Option(names = "--width", paramLabel = "W",
            description = "fused widths: a factor of parent 0's (1.5) or per level (1:300,2:128)")
    private String width;

    @Option(names = "--keep-levels", paramLabel = "LEVELS",
            description = "levels not fused but kept from parent 0 (1,3 or 1-2), or from parent P (2:1, where"
                    + " the level's inputs are parent P's own neurons)")
    private String keepLevels;

    @Option(names = "--fuse-levels", paramLabel = "LEVELS",
            description = "fuse only these levels (2,3 or 2-3); keep the others from parent 0")
    private String fuseLevels;

    @Option(names = "--samples", paramLabel = "N", description = "use the first N calibration samples (0: all)")
    private Long samples;

    @Option(names = "--batch-size", paramLabel = "N",
            description = "samples per inference batch (default " + FusionConfig.DEFAULT_BATCH_SIZE + ")")
    private Integer batchSize;

    @Option(names = "--max-nodes", paramLabel = "N", description = "refuse a parent of more nodes than this before"
            + " any work (default " + MAX_NODES_DEFAULT + ")")
    private Integer maxNodes;

    @Option(names = "--threads", paramLabel = "N", description = "compute threads; 0 = all cores (default)")
    private Integer threads;

    @Option(names = "--device", paramLabel = "DEV", description = "auto (default), cpu or cuda")
    private String device;

    @Option(names = "--seed", paramLabel = "N", description = "random seed (default 0)")
    private Long seed;

    @Option(names = "--paper-exact", description = "reproduce the reference implementation's choices")
    private boolean paperExact;

    @Option(names = "--importance", paramLabel = "M",
            description = "neuron importance: deeplift (the default; uniform for kf-linear on parents whose levels"
                    + " form a DAG), conductance, ablation or uniform; the attributions explain the logit of each"
                    + " sample's --labels class (without labels: each parent's prediction)")
    private String importance;

    @Option(names = "--class-weights", paramLabel = "W",
            description = "how the last level weighs each parent's class logits: auto (default: confidence for"
                    + " kf-linear on parents whose levels form a DAG, given --labels; else importance), importance,"
                    + " confidence (each parent's mean probability of the true class, per class; needs --labels) or"
                    + " uniform")
    private String classWeights;

    @Option(names = "--grouping", paramLabel = "G",
            description = "kf-linear: auto (default: both for two parents whose levels form a DAG, at their widths;"
                    + " else kmeans), kmeans, or both (fuse with K-means groups and again by one-to-one matching, as"
                    + " hf-linear does, and keep the fused model closer to the parents' ensemble on the calibration"
                    + " data; two parents)")
    private String grouping;

    static final int DEFAULT_CHECK_SAMPLES = 1000;

    @Option(names = "--check", paramLabel = "N",
            description = "after fusing, compare the fused model's predictions with the ensemble's and each parent's"
                    + " on N calibration samples that the fusion did not use (default 1000; no labels needed)")
    private Integer checkSamples;

    @Option(names = "--no-check", description = "skip that comparison")
    private boolean noCheck;

    @Option(names = "--mean", paramLabel = "M[,M,M]", split = ",",
            description = "for a folder of images as data: per-channel mean subtracted after scaling to [0, 1]")
    private float[] imageMean;

    @Option(names = "--std", paramLabel = "S[,S,S]", split = ",",
            description = "for a folder of images as data: per-channel standard deviation divided by")
    private float[] imageStd;

    @Option(names = "--resize", paramLabel = "HOW",
            description = "for a folder of images: fit (default: bilinear to the input's H x W), center-crop (scale"
                    + " the short side to its target, crop the centre) or none (images must be H x W)")
    private String imageResize;

    @Option(names = "--channels", paramLabel = "ORDER",
            description = "for a folder of images with 3 channels: rgb (default) or bgr")
    private String imageChannels;

    @Option(names = "--layout", paramLabel = "L",
            description = "for a folder of images: nchw or nhwc (default: from the input's shape, nhwc when its last"
                    + " axis is 1 or 3 and its second is not)")
    private String imageLayout;

    /** The class sub-folders of --data and --eval-data when they are image folders; null otherwise. */
    private ImageFolder.ClassFolders dataClasses;
    private ImageFolder.ClassFolders evalClasses;

    @Option(names = "--dtype", paramLabel = "T",
            description = "element type the fused weights are stored in: float32 (default), float16 or bfloat16"
                    + " (bfloat16 needs opset 13+); the model still computes in float32 through a Cast per weight")
    private String dtype;

    @Option(names = "--ridge", paramLabel = "F",
            description = "ridge factor of the least squares, lambda = F * trace(X^T X) / d (default 1e-6)")
    private Double ridge;

    @Option(names = "--restarts", paramLabel = "N", description = "K-means restarts (default 10)")
    private Integer restarts;

    @Option(names = "--max-iterations", paramLabel = "N",
            description = "K-means iterations per restart at most (default 100)")
    private Integer maxIterations;

    @Option(names = "--grouping-form", paramLabel = "F", hidden = true,
            description = "K-means distances: auto (default: gram while its m x m matrices fit a quarter of the heap,"
                    + " else cross while its one m x m matrix fits, else factor), gram, cross or factor")
    private String groupingForm;

    @Option(names = "--epochs", paramLabel = "N",
            description = "kf-gradient, kf-auto: training epochs per level at most (default 100; early stopping ends"
                    + " most levels sooner)")
    private Integer epochs;

    @Option(names = "--lr", paramLabel = "LR",
            description = "kf-gradient, kf-auto: learning rate, a number or auto (default: a range test per level);"
                    + " per level as 1:1e-3,3:auto")
    private String learningRate;

    @Option(names = "--optimizer", paramLabel = "NAME", description = "kf-gradient, kf-auto: adam (default) or sgd")
    private String optimizer;

    @Option(names = "--weight-decay", paramLabel = "WD",
            description = "kf-gradient, kf-auto: L2 weight decay (default 1e-4)")
    private Double weightDecay;

    @Option(names = "--patience", paramLabel = "N",
            description = "kf-gradient, kf-auto: stop a level after N epochs without a better validation loss"
                    + " (default 15)")
    private Integer patience;

    @Option(names = "--train-from", paramLabel = "FROM",
            description = "kf-gradient: start each level from the linear fit (linear, default) or from the parents'"
                    + " weights averaged in the groups (parents)")
    private String trainFrom;

    @Option(names = "--perturb", paramLabel = "EPS",
            description = "kf-gradient, kf-auto: start each level from (1 - EPS) x its start + EPS x fresh weights"
                    + " (PyTorch's initialisation), EPS in (0, 1]")
    private Double perturb;

    @Option(names = "--reinit", description = "kf-gradient, kf-auto: start each level from fresh weights")
    private boolean reinit;

    @Option(names = "--distill", paramLabel = "T",
            description = "kf-gradient, kf-auto: train the last level by KL divergence to the parents' mean"
                    + " softmax at temperature T (default: regress the mean logits)")
    private Double distill;

    @Option(names = "--segments", paramLabel = "UNIT",
            description = "kf-gradient, kf-auto: train each residual block's levels together towards the block's"
                    + " output (blocks, default) or each level alone (levels)")
    private String segments;

    @Option(names = "--refine", paramLabel = "N",
            description = "kf-auto: train each level for up to N epochs after its linear fit (default 0)")
    private Integer refine;

    @Option(names = "--print-config", paramLabel = "FILE",
            description = "also write this run's parents and options as YAML, for 'onnx-fuse run FILE' to replay")
    private Path printConfig;

    @Option(names = "--report", paramLabel = "FILE", description = "write a JSON report here")
    private Path report;

    @Option(names = "--report-html", paramLabel = "FILE",
            description = "write a self-contained HTML report here (settings, level and training tables, charts)")
    private Path reportHtml;

    @Option(names = {"-q", "--quiet"}, description = "errors only: no progress, no log lines, no result table (the"
            + " --report keeps the results and the warnings)")
    private boolean quiet;

    @Option(names = "--verbose", description = "stack traces on errors, and ONNX Runtime's own warnings")
    private boolean verbose;

    /** Supplies --version. */
    static final class Version implements picocli.CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"onnx-fuse " + Provenance.VERSION};
        }
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (parents.isEmpty()) {
            spec.commandLine().usage(err);
            err.println("onnx-fuse: error: " + ErrorCode.USAGE.title() + ": no parent models given; expected"
                    + " 'onnx-fuse a.onnx b.onnx --data calib.npy -o fused.onnx' (--help for everything)");
            return ErrorCode.USAGE.exitCode();
        }
        RuntimeLogging.configure(verbose);
        FusionConfig config = configuration();
        if (config.method().isInterpolation() && data != null) {
            Startup.preloadBackend(config.device()); // loads while the parents are read and scored
        }
        imageOptions(); // refuses a bad --resize, --channels or --layout before anything is read
        dataClasses = labels == null && isFolder(data) ? ImageFolder.scan(data) : null;
        evalClasses = evalLabels == null && isFolder(evalData) ? ImageFolder.scan(evalData) : null;
        config.checkInputs(parents.size(), data != null, calibrationLabelled());
        checkFiles();
        removeStaleTemporaries();
        if (printConfig != null) {
            ConfigFile.save(ConfigFile.write(parents, spec), printConfig);
        }
        Map<String, Double> timings = new LinkedHashMap<>();
        long start = System.nanoTime();

        List<Model> models = new ArrayList<>();
        List<LevelPlan> plans = new ArrayList<>();
        List<String> names = displayNames(parents);
        int nodeLimit = maxNodes == null ? MAX_NODES_DEFAULT : maxNodes;
        if (nodeLimit < 1) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--max-nodes must be at least 1; found " + nodeLimit);
        }
        for (int k = 0; k < parents.size(); k++) {
            Path parent = parents.get(k);
            Model read = OnnxReader.read(parent);
            requireNodesWithin(read, names.get(k), nodeLimit);
            Model model = ConstantFolding.fold(read);
            models.add(model);
            plans.add(LevelPlanner.plan(model));
        }
        PlanComparison.requireCompatible(plans, names);
        config.targetWidths(plans); // refuses widths these levels cannot take before the data is read
        StoredWeights.requireSupported(models.get(0), config.weightType());
        LevelPlan plan = plans.get(0);
        checkClassFolders(plan, err);
        checkEvaluationSet(plan, config.batchSize());
        timings.put("read_ms", millisSince(start));
        if (method == null && data == null && !quiet) {
            err.println("onnx-fuse: no --data given: neuron interpolation needs calibration data, running the"
                    + " data-free weight-match baseline instead");
        }

        List<String> warnings = new ArrayList<>();
        FusionResult result;
        Model fused;
        AgreementCheck check = null;
        long fuseStart = System.nanoTime();
        try (CalibrationData calibration = data == null ? null : CalibrationData.open(data, plan, imageOptions())) {
            if (calibration != null) {
                checkInputData(calibration, plan, config.batchSize());
            }
            result = fuse(config, models, plans, calibration);
            fused = result.model();
            if (calibration != null && !noCheck) {
                long checkStart = System.nanoTime();
                check = labelFreeCheck(fused, models, calibration, result, plan, config, warnings);
                if (check != null) {
                    timings.put("check_ms", millisSince(checkStart));
                }
            }
            warnings.addAll(result.warnings());
            if (!result.levels().isEmpty()) {
                timings.put("importance_ms", result.importanceMillis());
                timings.put("inference_ms", result.inferenceMillis());
                timings.put("statistics_ms", result.statisticsMillis());
                timings.put("grouping_ms", result.groupingMillis());
                timings.put("solve_ms", result.solveMillis());
            }
        }
        timings.put("fuse_ms", millisSince(fuseStart));

        long evalStart = System.nanoTime();
        AccuracySummary accuracy = evaluate(models, names, fused,
                config.weightType() == WeightType.FLOAT32 ? null : result.float32Model(), plan, config);
        if (accuracy != null) {
            timings.put("evaluate_ms", millisSince(evalStart));
        }

        long writeStart = System.nanoTime();
        try (StagedFiles model = OnnxWriter.stage(fused, output)) {
            timings.put("write_ms", millisSince(writeStart));
            timings.put("total_ms", millisSince(start));
            RunReport run = new RunReport(reportedConfiguration(result, config), result.levels(),
                    parentWidths(plans), result.importance(), timings, accuracy, check, names, warnings);
            try (StagedFiles json = report == null ? null : run.stage(report);
                 StagedFiles html = reportHtml == null ? null : run.stageHtml(reportHtml)) {
                putInPlace(model, json, html);
            }
            if (!quiet) {
                out.printf("fused %d parents with %s -> %s%n", parents.size(), config.method().cliName(),
                        TerminalText.escape(String.valueOf(output)));
                run.printTable(out);
            }
        }
        return 0;
    }

    /**
     * Moves the written model, then the reports (JSON, then HTML; null for one not asked for), into
     * place. All were written completely before, so only a rename can still fail; if a report's
     * does, what was already moved is removed again, so that a failed run never leaves a model
     * without its reports.
     */
    /**
     * The default of --max-nodes: 12 times the largest export we fuse (torchvision swin_t, 4,197
     * nodes). ONNX Runtime's session set-up grows with the node count, and fusion opens several
     * sessions per parent: two parents of 100,000 chained Relu nodes had not passed the first
     * importance session after 45 s (nor fused in 500 s before this limit).
     */
    static final int MAX_NODES_DEFAULT = 50_000;

    /** Refuses, before any work, a model whose graph has more than {@code limit} nodes. */
    static void requireNodesWithin(Model model, String name, int limit) {
        int nodes = model.graph().nodes().size();
        if (nodes > limit) {
            throw new OnnxFuseException(ErrorCode.TOO_MANY_NODES, name + " has " + nodes + " nodes; expected at most "
                    + limit + (limit == MAX_NODES_DEFAULT ? " (the default limit)" : "") + ": fusion's time grows with"
                    + " the node count (ONNX Runtime sets up several sessions per parent); give --max-nodes " + nodes
                    + " to fuse it anyway");
        }
    }

    /**
     * The parents as messages and reports name them: their file names, or their paths as given
     * where two share a file name (p0/model.onnx and p1/model.onnx, not model.onnx twice).
     */
    static List<String> displayNames(List<Path> parents) {
        Map<String, Integer> uses = new HashMap<>();
        parents.forEach(p -> uses.merge(String.valueOf(p.getFileName()), 1, Integer::sum));
        List<String> names = new ArrayList<>();
        for (Path p : parents) {
            String file = String.valueOf(p.getFileName());
            names.add(uses.get(file) > 1 ? p.toString() : file);
        }
        return names;
    }

    private static void putInPlace(StagedFiles model, StagedFiles... reports) {
        model.commit();
        List<StagedFiles> committed = new ArrayList<>(List.of(model));
        for (StagedFiles r : reports) {
            if (r == null) {
                continue;
            }
            try {
                r.commit();
                committed.add(r);
            } catch (RuntimeException e) {
                committed.forEach(StagedFiles::removeCommitted);
                throw e;
            }
        }
    }

    /**
     * Temporary files that killed runs left next to the outputs and in the temporary folder (spilled
     * activations, models handed to ONNX Runtime through a file); see {@link TempFiles#removeStale}.
     */
    private void removeStaleTemporaries() {
        TempFiles.removeStale(Path.of(System.getProperty("java.io.tmpdir")));
        TempFiles.removeStale(output.toAbsolutePath().normalize().getParent());
        if (report != null) {
            TempFiles.removeStale(report.toAbsolutePath().normalize().getParent());
        }
        if (reportHtml != null) {
            TempFiles.removeStale(reportHtml.toAbsolutePath().normalize().getParent());
        }
    }

    /** --lr: "auto", a number, or per-level entries "1:1e-3,3:auto" (an entry without a level sets the rest). */
    private static void learningRates(FusionConfig.Builder config, String text) {
        for (String entry : text.split(",")) {
            String e = entry.strip();
            int colon = e.indexOf(':');
            if (colon < 0) {
                config.learningRate(LearningRate.parse(e));
                continue;
            }
            int level;
            try {
                level = Integer.parseInt(e.substring(0, colon).strip());
            } catch (NumberFormatException ex) {
                throw new InvalidSettingException("learning rate (--lr): expected auto, a number, or LEVEL:RATE entries"
                        + " such as 1:1e-3,3:auto, found '" + text + "'");
            }
            config.learningRate(level, LearningRate.parse(e.substring(colon + 1)));
        }
    }

    /**
     * The options as one {@link FusionConfig}: what the options left out keeps the configuration's
     * default, except the method, which is weight-match without --data.
     */
    private FusionConfig configuration() {
        FusionConfig.Builder config = FusionConfig.builder();
        config.method(method != null ? FusionMethod.fromName(method)
                : data == null ? FusionMethod.WEIGHT_MATCH : FusionMethod.KF_LINEAR);
        if (width != null) {
            config.widths(FusionConfig.Widths.parse(width));
        }
        if (keepLevels != null || fuseLevels != null) {
            config.levels(LevelSelection.parse(keepLevels, fuseLevels));
        }
        if (samples != null) {
            config.samples(samples);
        }
        if (batchSize != null) {
            config.batchSize(batchSize);
        }
        if (threads != null) {
            config.threads(threads);
        }
        if (device != null) {
            config.device(device);
        }
        if (seed != null) {
            config.seed(seed);
        }
        if (classWeights != null) {
            config.classWeights(ClassWeights.fromName(classWeights));
        }
        if (importance != null) {
            config.importance(ImportanceMethod.fromName(importance));
        }
        if (grouping != null) {
            config.groupingChoice(GroupingChoice.fromName(grouping));
        }
        if (dtype != null) {
            config.weightType(WeightType.fromName(dtype));
        }
        if (ridge != null) {
            config.ridge(ridge);
        }
        if (restarts != null) {
            config.restarts(restarts);
        }
        if (maxIterations != null) {
            config.maxIterations(maxIterations);
        }
        if (groupingForm != null) {
            config.groupingForm(GroupingForm.fromName(groupingForm));
        }
        if (epochs != null) {
            config.epochs(epochs);
        }
        if (learningRate != null) {
            learningRates(config, learningRate);
        }
        if (optimizer != null) {
            config.optimizer(OptimizerKind.parse(optimizer));
        }
        if (weightDecay != null) {
            config.weightDecay(weightDecay);
        }
        if (patience != null) {
            config.patience(patience);
        }
        if (trainFrom != null) {
            config.trainFrom(GradientSettings.Start.fromName(trainFrom));
        }
        if (perturb != null && reinit) {
            throw new InvalidSettingException("training start: --perturb and --reinit contradict each other; give one");
        }
        if (perturb != null) {
            config.trainingStart(StartingPoint.perturb(perturb));
        }
        if (reinit) {
            config.trainingStart(StartingPoint.REINITIALISE);
        }
        if (distill != null) {
            config.distill(distill);
        }
        if (refine != null) {
            config.refine(refine);
        }
        if (segments != null) {
            config.segments(GradientSettings.Segments.fromName(segments));
        }
        return config.paperExact(paperExact).build();
    }

    /** The options that name files, which only the command line has. */
    private void checkFiles() {
        if (output == null) {
            throw new OnnxFuseException(ErrorCode.USAGE, "no output given: add -o fused.onnx");
        }
        if ((evalData == null) != (evalLabels == null) && !labelled(evalClasses)) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--eval-data and --eval-labels go together (a folder of"
                    + " images with one sub-folder per class needs no --eval-labels); found only "
                    + (evalData != null ? "--eval-data" : "--eval-labels"));
        }
        if (checkSamples != null && (checkSamples < 1 || noCheck)) {
            throw new OnnxFuseException(ErrorCode.USAGE, noCheck ? "--check and --no-check contradict each other;"
                    + " give one" : "--check N: expected at least 1 sample, found " + checkSamples);
        }
        if ((imageMean != null || imageStd != null) && !(isFolder(data) || isFolder(evalData))) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--mean and --std normalise a folder of images given as"
                    + " --data or --eval-data; found neither a folder");
        }
        if ((imageResize != null || imageChannels != null || imageLayout != null)
                && !(isFolder(data) || isFolder(evalData))) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--resize, --channels and --layout read a folder of images"
                    + " given as --data or --eval-data; found neither a folder");
        }
        checkFilePath(output, "-o", "fused.onnx");
        if (report != null) {
            checkFilePath(report, "--report", "report.json");
        }
        if (reportHtml != null) {
            checkFilePath(reportHtml, "--report-html", "report.html");
        }
        checkNotAnInput(output, "output");
        if (report != null) {
            checkNotAnInput(report, "report");
            if (sameFile(report, output)) {
                throw new OutputException(ErrorCode.OUTPUT_IS_INPUT, "--report " + report + " is the same file as -o "
                        + output);
            }
            checkWritableFolder(report);
        }
        if (reportHtml != null) {
            checkNotAnInput(reportHtml, "HTML report");
            if (sameFile(reportHtml, output)) {
                throw new OutputException(ErrorCode.OUTPUT_IS_INPUT, "--report-html " + reportHtml + " is the same file"
                        + " as -o " + output);
            }
            if (report != null && sameFile(reportHtml, report)) {
                throw new OutputException(ErrorCode.OUTPUT_IS_INPUT, "--report-html " + reportHtml + " is the same file"
                        + " as --report " + report);
            }
            checkWritableFolder(reportHtml);
        }
        checkWritableFolder(output);
    }

    /**
     * A path ending in a separator names a folder; {@link Path} drops the separator, and the model
     * would be written as a file of the folder's name.
     */
    private void checkFilePath(Path target, String option, String example) {
        CommandLine.Model.OptionSpec spec = this.spec.commandLine().getParseResult().matchedOption(option);
        String given = spec == null || spec.originalStringValues().isEmpty() ? String.valueOf(target)
                : spec.originalStringValues().get(spec.originalStringValues().size() - 1);
        if (given.endsWith("/") || given.endsWith(java.io.File.separator)) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, option + " " + given + " ends in a separator, so it"
                    + " names a folder; expected a file path such as " + given + example);
        }
    }

    private void checkNotAnInput(Path target, String what) {
        List<Path> inputs = new ArrayList<>(parents);
        for (Path p : new Path[] {data, labels, evalData, evalLabels}) {
            if (p != null) {
                inputs.add(p);
            }
        }
        for (Path in : inputs) {
            if (sameFile(target, in)) {
                throw new OutputException(ErrorCode.OUTPUT_IS_INPUT, what + " " + target + " is also an input ("
                        + in + "); choose another path");
            }
        }
    }

    /**
     * Whether writing {@code target} would replace the file {@code other} names, by identity
     * (device and inode), not by path text: links in the target's folder and in {@code other}
     * are followed; a symbolic link at the target path itself is not, because the write renames a
     * new file over the link and leaves what it pointed to alone.
     */
    static boolean sameFile(Path target, Path other) {
        Path written = withRealFolder(target);
        Path read = withRealFolder(other);
        if (written.equals(read)) {
            return true;
        }
        if (!Files.exists(written, LinkOption.NOFOLLOW_LINKS) || Files.isSymbolicLink(written)
                || !Files.exists(read)) {
            return false;
        }
        try {
            return Files.isSameFile(written, read);
        } catch (IOException e) {
            return false;
        }
    }

    /** {@code path} absolute, with its folder's links resolved when the folder exists. */
    private static Path withRealFolder(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Path folder = absolute.getParent();
        if (folder == null || absolute.getFileName() == null) {
            return absolute;
        }
        try {
            return folder.toRealPath().resolve(absolute.getFileName());
        } catch (IOException e) {
            return absolute;
        }
    }

    /** Fails before any work when the output's folder cannot take a new file. */
    private static void checkWritableFolder(Path target) {
        Path absolute = target.toAbsolutePath();
        if (Files.isDirectory(absolute)) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, target + " is a directory; expected a file path");
        }
        Path folder = absolute.getParent();
        if (folder == null || !Files.isDirectory(folder)) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write " + target + ": folder " + folder
                    + " does not exist");
        }
        try {
            TempFiles.delete(TempFiles.create(folder, "onnx-fuse-probe"));
        } catch (IOException | SecurityException e) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write into folder " + folder + ": "
                    + e.getMessage(), e);
        }
    }

    private FusionResult fuse(FusionConfig config, List<Model> models, List<LevelPlan> plans,
                              CalibrationData calibration) {
        Fusion.Builder builder = Fusion.builder().config(config);
        for (int k = 0; k < parents.size(); k++) {
            builder.parent(parents.get(k), models.get(k), plans.get(k));
        }
        if (labels != null) {
            builder.labels(labels);
        } else if (labelled(dataClasses)) {
            builder.labels(dataClasses.labels());
        }
        if (calibration != null) {
            builder.calibration(calibration);
        }
        FusionProgress progress = ProgressDisplay.forTerminal(quiet);
        builder.progress(progress);
        if (quiet) {
            builder.log(line -> { });
        } else if (progress instanceof ProgressDisplay display) {
            builder.log(line -> display.log(TerminalText.escape(line)));
        } else {
            builder.log(line -> spec.commandLine().getErr().println(TerminalText.escape(line)));
        }
        try {
            return builder.build().fuse();
        } finally {
            if (progress instanceof ProgressDisplay display) {
                display.close();
            }
        }
    }

    /**
     * The check without labels (AgreementCheck) on up to --check calibration samples after those the
     * fusion used, or on the last ones (saying so) when it used them all; null, with a warning, when
     * the parents' fixed batch size leaves no whole batch to run.
     */
    private AgreementCheck labelFreeCheck(Model fused, List<Model> models, CalibrationData calibration,
                                          FusionResult result, LevelPlan plan, FusionConfig config,
                                          List<String> warnings) {
        int wanted = checkSamples == null ? DEFAULT_CHECK_SAMPLES : checkSamples;
        long total = calibration.samples();
        Object recorded = result.settings().get("samples");
        long used = recorded instanceof Number n ? Math.min(total, n.longValue()) : total;
        boolean heldOut = used < total;
        long available = heldOut ? total - used : total;
        int batch = runBatch(plan, config.batchSize());
        int fixed = DataShapes.fixedBatch(inputDims(plan));
        long count = Math.min(wanted, available);
        if (fixed > 0) {
            count -= count % fixed;
        }
        if (count < 1) {
            warnings.add("the check without labels was skipped: no whole batch of " + Math.max(fixed, 1)
                    + " samples to run");
            return null;
        }
        long first = heldOut ? used : total - count;
        return AgreementCheck.run(fused, models, calibration, first, Math.toIntExact(count), heldOut, batch,
                config.threadsToUse());
    }

    private static boolean isFolder(Path p) {
        return p != null && Files.isDirectory(p);
    }

    private static boolean labelled(ImageFolder.ClassFolders classes) {
        return classes != null && classes.labelled();
    }

    /** Whether the calibration data has labels: --labels, or an image folder's class sub-folders. */
    private boolean calibrationLabelled() {
        return labels != null || labelled(dataClasses);
    }

    /** --labels, --eval-labels, or (null) the class sub-folders of the image folder {@code x}. */
    private SampleArray openLabels(Path x, Path y) {
        if (y != null) {
            return NpyArray.open(y);
        }
        ImageFolder.ClassFolders classes = x.equals(evalData) && evalClasses != null ? evalClasses : dataClasses;
        return classes.labelArray();
    }

    /**
     * Class sub-folders as labels: each label a class of the model (more classes than its outputs is
     * an error naming both), then the same checks as --labels (Labels.read); prints the mapping when
     * the names are not the labels themselves.
     */
    private void checkClassFolders(LevelPlan plan, PrintWriter err) {
        int outputs = Math.toIntExact(plan.lastLevel().width());
        for (ImageFolder.ClassFolders classes : new ImageFolder.ClassFolders[] {dataClasses,
                evalData != null && !evalData.equals(data) ? evalClasses : null}) {
            if (!labelled(classes)) {
                continue;
            }
            Labels.ofClassFolders(classes, outputs);
            if (!classes.numericNames() && !quiet) {
                err.println(TerminalText.escape("onnx-fuse: labels from the class sub-folders of " + classes.folder()
                        + ": " + classes.mapping()));
            }
        }
    }

    /** --resize, --channels, --layout, --mean and --std for image folders. */
    private ImageFolder.Options imageOptions() {
        return new ImageFolder.Options(normalisation(),
                imageResize == null ? ImageFolder.Resize.FIT : ImageFolder.Resize.fromName(imageResize),
                imageChannels != null && ImageFolder.Options.parseBgr(imageChannels),
                imageLayout == null ? null : ImageFolder.Layout.fromName(imageLayout));
    }

    /** --mean and --std for image folders (each defaults to no change). */
    private ImageFolder.Normalisation normalisation() {
        return new ImageFolder.Normalisation(imageMean == null ? new float[] {0f} : imageMean,
                imageStd == null ? new float[] {1f} : imageStd);
    }

    /** Accuracies on the evaluation set; {@code float32} (or null) is the fused model before --dtype. */
    private AccuracySummary evaluate(List<Model> models, List<String> names, Model fused, Model float32,
                                     LevelPlan plan, FusionConfig config) {
        Path x = evaluationData();
        Path y = evalData != null ? evalLabels : labels;
        if (x == null) {
            return null;
        }
        try (CalibrationData xs = CalibrationData.open(x, plan, imageOptions()); SampleArray ys = openLabels(x, y)) {
            int batch = runBatch(plan, config.batchSize());
            List<Model> evaluated = new ArrayList<>(models);
            evaluated.add(fused);
            if (float32 != null) {
                evaluated.add(float32);
            }
            // one pass: each parent, the fused model (as written, then with float32 weights), the ensemble
            List<Confusion> confusions = Confusion.evaluate(evaluated, models.size(), xs, ys, batch,
                    config.threadsToUse());
            List<Confusion> parents = confusions.subList(0, models.size());
            Confusion fusedConfusion = confusions.get(models.size());
            Confusion ensemble = confusions.get(confusions.size() - 1);
            Double float32Accuracy = float32 == null ? null : confusions.get(models.size() + 1).accuracy();
            return new AccuracySummary(String.valueOf(x), xs.samples(), names, config.weightType().cliName(),
                    float32Accuracy, parents, ensemble, fusedConfusion);
        }
    }

    /** Shape and finiteness of every sample, before any work: a bad file fails fast and writes nothing. */
    private static void checkInputData(CalibrationData data, LevelPlan plan, int batchSize) {
        if (plan.inputs().size() == 1) {
            DataShapes.check(data.source(), data.shape(), inputDims(plan), plan.input());
        }
        for (InputBatch batch : data.inputBatches(runBatch(plan, batchSize))) {
            Finite.check(data.source(), batch);
        }
    }

    /** The batch size ONNX Runtime runs the parents with: their fixed one, if they have one (see Fusion). */
    private static int runBatch(LevelPlan plan, int batchSize) {
        int fixed = DataShapes.fixedBatch(inputDims(plan));
        return fixed > 0 ? fixed : batchSize;
    }

    /**
     * Everything about the evaluation set (--eval-data and --eval-labels, or --data and --labels)
     * that can fail, checked before any work so that a bad file fails fast and nothing is written:
     * the data's shape and finiteness, one label per sample, every label a class of the model; and,
     * for parents fixed to a batch size above 1, data that is whole batches.
     */
    private void checkEvaluationSet(LevelPlan plan, int batchSize) {
        Path x = evaluationData();
        Path y = evalData != null ? evalLabels : labels;
        if (x == null) {
            return;
        }
        int fixed = DataShapes.fixedBatch(inputDims(plan));
        int classes = Math.toIntExact(plan.lastLevel().width());
        try (CalibrationData xs = CalibrationData.open(x, plan, imageOptions()); SampleArray ys = openLabels(x, y)) {
            if (fixed > 1 && xs.samples() % fixed != 0) {
                throw new DataException(ErrorCode.DATA_SHAPE, xs.source() + " holds " + xs.samples() + " samples, but"
                        + " the parents' input takes batches of exactly " + fixed + " (exported without a dynamic"
                        + " batch axis); evaluate on a multiple of " + fixed + " samples or re-export the parents");
            }
            checkInputData(xs, plan, batchSize);
            Labels.checkCount(ys, xs);
            Labels.read(ys, 0, Math.toIntExact(ys.samples()), classes);
        }
    }

    /** What accuracies are reported on: --eval-data, or the calibration data when --labels are given. */
    private Path evaluationData() {
        return evalData != null ? evalData : calibrationLabelled() ? data : null;
    }

    private static long[] inputDims(LevelPlan plan) {
        return plan.inputShape().stream().mapToLong(Dim::sizeOrMinusOne).toArray();
    }

    private static List<List<Long>> parentWidths(List<LevelPlan> plans) {
        List<List<Long>> perLevel = new ArrayList<>();
        for (int l = 0; l < plans.get(0).levels().size(); l++) {
            List<Long> widths = new ArrayList<>();
            for (LevelPlan p : plans) {
                Level level = p.levels().get(l);
                widths.add(level.width());
            }
            perLevel.add(widths);
        }
        return perLevel;
    }

    /**
     * The report's configuration: the settings exactly as the fused model's provenance records them
     * ({@link FusionResult#settings()}), then the files, which only the command line has.
     */
    private Map<String, Object> reportedConfiguration(FusionResult result, FusionConfig config) {
        Map<String, Object> c = new LinkedHashMap<>(result.settings());
        // not in the model's own record: the thread count does not change the result
        c.put("threads", config.threadsToUse());
        c.put("parents", parents.stream().map(String::valueOf).toList());
        c.put("output", String.valueOf(output));
        c.put("data", data == null ? null : String.valueOf(data));
        c.put("labels", labels == null ? null : String.valueOf(labels));
        c.put("evalData", evalData == null ? null : String.valueOf(evalData));
        c.put("evalLabels", evalLabels == null ? null : String.valueOf(evalLabels));
        if (labelled(dataClasses)) {
            c.put("dataClasses", dataClasses.classes());
        }
        if (labelled(evalClasses)) {
            c.put("evalDataClasses", evalClasses.classes());
        }
        if (isFolder(data) || isFolder(evalData)) {
            ImageFolder.Options images = imageOptions();
            c.put("imageResize", images.resize().cliName());
            c.put("imageChannels", images.bgr() ? "bgr" : "rgb");
            c.put("imageLayout", images.layout() == null ? "auto" : images.layout().cliName());
        }
        return c;
    }

    private static double millisSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e6;
    }
}
