package org.onnxfuse.fusion.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.Finite;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.evaluate.Accuracy;
import org.onnxfuse.fusion.evaluate.Ensemble;
import org.onnxfuse.fusion.evaluate.Labels;
import org.onnxfuse.fusion.pipeline.Fusion;
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
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Model;
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
        footer = {"%nCommands:", "  plan       print the level plan of one or more models",
                "  diagnose   environment report; --bench measures the compute backend"})
public final class FuseCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Parameters(paramLabel = "PARENT.onnx", arity = "0..*", description = "parent models, best first")
    private List<Path> parents = new ArrayList<>();

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "where to write the fused model")
    private Path output;

    @Option(names = "--data", paramLabel = "FILE",
            description = "calibration data: .npy, or .npz keyed by input name")
    private Path data;

    @Option(names = "--labels", paramLabel = "FILE", description = "integer labels of the calibration data (.npy)")
    private Path labels;

    @Option(names = "--eval-data", paramLabel = "FILE", description = "held-out data to report accuracy on")
    private Path evalData;

    @Option(names = "--eval-labels", paramLabel = "FILE", description = "labels of --eval-data")
    private Path evalLabels;

    @Option(names = "--method", paramLabel = "NAME",
            description = "kf-linear (default with --data), hf-linear (2 parents), average, weight-match"
                    + " (default without --data), act-match")
    private String method;

    @Option(names = "--width", paramLabel = "W",
            description = "fused widths: a factor of parent 0's (1.5) or per level (1:300,2:128)")
    private String width;

    @Option(names = "--samples", paramLabel = "N", description = "use the first N calibration samples")
    private Long samples;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "256",
            description = "samples per inference batch (default ${DEFAULT-VALUE})")
    private int batchSize;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "compute threads; 0 = all cores (default)")
    private int threads;

    @Option(names = "--device", paramLabel = "DEV", defaultValue = "auto",
            description = "auto, cpu or cuda (default ${DEFAULT-VALUE})")
    private String device;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "random seed (default 0)")
    private long seed;

    @Option(names = "--paper-exact", description = "reproduce the reference implementation's choices")
    private boolean paperExact;

    @Option(names = "--importance", paramLabel = "M",
            description = "neuron importance: deeplift (default), conductance, ablation or uniform; the attributions"
                    + " explain the logit of each sample's --labels class (without labels: each parent's prediction)")
    private String importance;

    @Option(names = "--report", paramLabel = "FILE", description = "write a JSON report here")
    private Path report;

    @Option(names = {"-q", "--quiet"}, description = "no progress bars")
    private boolean quiet;

    @Option(names = "--verbose", description = "stack traces on errors")
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
            spec.commandLine().usage(out);
            return 0;
        }
        String chosen = resolveMethod();
        checkArguments(chosen);
        Map<String, Double> timings = new LinkedHashMap<>();
        long start = System.nanoTime();

        List<Model> models = new ArrayList<>();
        List<LevelPlan> plans = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (Path parent : parents) {
            Model model = ConstantFolding.fold(OnnxReader.read(parent));
            models.add(model);
            plans.add(LevelPlanner.plan(model));
            names.add(String.valueOf(parent.getFileName()));
        }
        PlanComparison.requireCompatible(plans, names);
        LevelPlan plan = plans.get(0);
        checkEvaluationBatches(plan);
        timings.put("read_ms", millisSince(start));
        if (method == null && data == null) {
            err.println("onnx-fuse: no --data given: neuron interpolation needs calibration data, running the"
                    + " data-free weight-match baseline instead");
        }

        List<String> warnings = new ArrayList<>();
        FusionResult result;
        Model fused;
        long fuseStart = System.nanoTime();
        try (CalibrationData calibration = data == null ? null : CalibrationData.open(data, plan)) {
            if (calibration != null) {
                checkInputData(calibration, plan);
            }
            result = fuse(FusionMethod.fromName(chosen), models, plans, calibration);
            fused = result.model();
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

        long writeStart = System.nanoTime();
        OnnxWriter.write(fused, output);
        timings.put("write_ms", millisSince(writeStart));

        long evalStart = System.nanoTime();
        AccuracySummary accuracy = evaluate(models, names, fused, plan);
        if (accuracy != null) {
            timings.put("evaluate_ms", millisSince(evalStart));
        }
        timings.put("total_ms", millisSince(start));

        RunReport run = new RunReport(configuration(chosen, result), result.levels(),
                parentWidths(plans), result.importance(), timings, accuracy, warnings);
        out.printf("fused %d parents with %s -> %s%n", parents.size(), chosen, output);
        run.printTable(out);
        if (report != null) {
            run.write(report);
        }
        return 0;
    }

    private String resolveMethod() {
        if (method == null) {
            return data == null ? "weight-match" : "kf-linear";
        }
        return FusionMethod.fromName(method).cliName();
    }

    private void checkArguments(String chosen) {
        if (parents.size() < 2) {
            throw new OnnxFuseException(ErrorCode.USAGE, "fusion needs at least 2 parent models, found "
                    + parents.size() + " (" + parents.get(0) + ")");
        }
        if (output == null) {
            throw new OnnxFuseException(ErrorCode.USAGE, "no output given: add -o fused.onnx");
        }
        boolean needsData = !chosen.equals("average") && !chosen.equals("weight-match");
        if (needsData && data == null) {
            throw new OnnxFuseException(ErrorCode.USAGE, chosen + " needs calibration data: add --data calib.npy");
        }
        if (chosen.equals("hf-linear") && parents.size() != 2) {
            throw new OnnxFuseException(ErrorCode.USAGE, "hf-linear fuses exactly 2 parents, found " + parents.size()
                    + "; use kf-linear");
        }
        if (labels != null && data == null) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--labels belongs to --data, which is missing");
        }
        if ((evalData == null) != (evalLabels == null)) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--eval-data and --eval-labels go together; found only "
                    + (evalData != null ? "--eval-data" : "--eval-labels"));
        }
        if (batchSize <= 0) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--batch-size must be positive, found " + batchSize);
        }
        if (threads < 0) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--threads must be 0 (all cores) or more, found " + threads);
        }
        if (samples != null && samples <= 0) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--samples must be positive, found " + samples);
        }
        if (importance != null) {
            ImportanceMethod.fromName(importance);
            if (!FusionMethod.fromName(chosen).isInterpolation()) {
                throw new OnnxFuseException(ErrorCode.USAGE, "--importance needs --method kf-linear or hf-linear ("
                        + chosen + " does not weight neurons)");
            }
        }
        if (width != null && !chosen.equals("kf-linear")) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--width needs --method kf-linear (other methods keep parent 0's"
                    + " widths)");
        }
        checkNotAnInput(output, "output");
        if (report != null) {
            checkNotAnInput(report, "report");
            if (report.toAbsolutePath().normalize().equals(output.toAbsolutePath().normalize())) {
                throw new OutputException(ErrorCode.OUTPUT_IS_INPUT, "--report " + report + " is the same file as -o "
                        + output);
            }
            checkWritableFolder(report);
        }
        checkWritableFolder(output);
    }

    private void checkNotAnInput(Path target, String what) {
        Path t = target.toAbsolutePath().normalize();
        List<Path> inputs = new ArrayList<>(parents);
        for (Path p : new Path[] {data, labels, evalData, evalLabels}) {
            if (p != null) {
                inputs.add(p);
            }
        }
        for (Path in : inputs) {
            if (in.toAbsolutePath().normalize().equals(t)) {
                throw new OutputException(ErrorCode.OUTPUT_IS_INPUT, what + " " + target + " is also an input ("
                        + in + "); choose another path");
            }
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
            Path probe = Files.createTempFile(folder, ".onnx-fuse-probe", ".tmp");
            Files.delete(probe);
        } catch (IOException | SecurityException e) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write into folder " + folder + ": "
                    + e.getMessage(), e);
        }
    }

    private FusionResult fuse(FusionMethod chosen, List<Model> models, List<LevelPlan> plans,
                              CalibrationData calibration) {
        Fusion.Builder builder = Fusion.builder();
        for (int k = 0; k < parents.size(); k++) {
            builder.parent(parents.get(k), models.get(k), plans.get(k));
        }
        builder.method(chosen)
                .seed(seed)
                .batchSize(batchSize)
                .threads(threads)
                .device(device)
                .paperExact(paperExact);
        if (importance != null) {
            builder.importance(ImportanceMethod.fromName(importance));
        }
        if (labels != null) {
            builder.labels(labels);
        }
        if (calibration != null) {
            builder.calibration(calibration);
        }
        if (samples != null) {
            builder.samples(samples);
        }
        WidthOption.apply(width, builder);
        FusionProgress progress = ProgressDisplay.forTerminal(quiet);
        builder.progress(progress);
        builder.log(line -> spec.commandLine().getErr().println(line));
        try {
            return builder.build().fuse();
        } finally {
            if (progress instanceof ProgressDisplay display) {
                display.close();
            }
        }
    }

    private AccuracySummary evaluate(List<Model> models, List<String> names, Model fused, LevelPlan plan) {
        Path x = evalData != null ? evalData : labels != null ? data : null;
        Path y = evalData != null ? evalLabels : labels;
        if (x == null) {
            return null;
        }
        int classes = Math.toIntExact(plan.lastLevel().width());
        try (CalibrationData xs = CalibrationData.open(x, plan); SampleArray ys = NpyArray.open(y)) {
            checkInputData(xs, plan);
            Labels.checkCount(ys, xs);
            Labels.read(ys, 0, Math.toIntExact(ys.samples()), classes);
            int batch = runBatch(plan);
            Ensemble.Result parentsAndEnsemble = Ensemble.evaluate(models, xs, ys, batch, effectiveThreads());
            List<Double> parentAccuracies = parentsAndEnsemble.members().stream().map(Accuracy::value).toList();
            double ensemble = parentsAndEnsemble.ensemble().value();
            double fusedAccuracy = Accuracy.of(fused, xs, ys, batch, effectiveThreads()).value();
            return new AccuracySummary(String.valueOf(x), xs.samples(), names, parentAccuracies, ensemble,
                    fusedAccuracy);
        }
    }

    /** Shape and finiteness of every sample, before any work: a bad file fails fast and writes nothing. */
    private void checkInputData(CalibrationData data, LevelPlan plan) {
        if (plan.inputs().size() == 1) {
            DataShapes.check(data.source(), data.shape(), inputDims(plan), plan.input());
        }
        for (InputBatch batch : data.inputBatches(runBatch(plan))) {
            Finite.check(data.source(), batch);
        }
    }

    /** The batch size ONNX Runtime runs the parents with: their fixed one, if they have one (see Fusion). */
    private int runBatch(LevelPlan plan) {
        int fixed = DataShapes.fixedBatch(inputDims(plan));
        return fixed > 0 ? fixed : batchSize;
    }

    /**
     * Opens the evaluation data before any work, so that an archive that does not fit the inputs
     * is refused before the fused model is written; so are parents fixed to a batch size above 1
     * with data that is not whole batches.
     */
    private void checkEvaluationBatches(LevelPlan plan) {
        int fixed = DataShapes.fixedBatch(inputDims(plan));
        Path x = evalData != null ? evalData : labels != null ? data : null;
        if (x == null) {
            return;
        }
        try (CalibrationData xs = CalibrationData.open(x, plan)) {
            if (fixed > 1 && xs.samples() % fixed != 0) {
                throw new DataException(ErrorCode.DATA_SHAPE, xs.source() + " holds " + xs.samples() + " samples, but"
                        + " the parents' input takes batches of exactly " + fixed + " (exported without a dynamic"
                        + " batch axis); evaluate on a multiple of " + fixed + " samples or re-export the parents");
            }
        }
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

    /** The command's settings; the importance is the one the fusion used (uniform when the default could not run). */
    private Map<String, Object> configuration(String chosen, FusionResult result) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("method", chosen);
        c.put("parents", parents.stream().map(String::valueOf).toList());
        c.put("output", String.valueOf(output));
        c.put("data", data == null ? null : String.valueOf(data));
        c.put("labels", labels == null ? null : String.valueOf(labels));
        c.put("evalData", evalData == null ? null : String.valueOf(evalData));
        c.put("evalLabels", evalLabels == null ? null : String.valueOf(evalLabels));
        c.put("samples", samples);
        c.put("width", width);
        c.put("batchSize", batchSize);
        c.put("threads", effectiveThreads());
        c.put("device", device);
        c.put("seed", seed);
        c.put("paperExact", paperExact);
        c.put("importance", result.importance() == null ? null : result.importance().method().cliName());
        return c;
    }

    private int effectiveThreads() {
        return threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    }

    private static double millisSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e6;
    }
}
