package org.onnxfuse.fusion.pipeline;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.LevelStatistics;
import org.onnxfuse.fusion.collect.StatisticsCollector;
import org.onnxfuse.fusion.group.GroupingConfig;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.fusion.solve.FitError;
import org.onnxfuse.fusion.solve.LevelWriter;
import org.onnxfuse.fusion.solve.RidgeFit;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.Model;

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
 * solve the ridge least squares, group (KF or HF) or, for the last level, average the parents'
 * logits class by class, and write the fused weights back.
 *
 * <p>A {@code Fusion} is a configured, immutable job; {@link #fuse()} opens and closes every
 * resource it uses (files it opened, the compute backend, ONNX Runtime sessions). Calibration
 * data passed as a {@link CalibrationData} is not closed.
 */
public final class Fusion {
    private final List<Path> parentPaths;
    private final List<Model> parentModels;
    private final Path calibrationPath;
    private final CalibrationData calibrationData;
    private final FusionMethod method;
    private final Map<Integer, Integer> widths;
    private final long seed;
    private final int batchSize;
    private final int threads;
    private final String device;
    private final long samples;
    private final double ridgeFactor;
    private final int restarts;
    private final int maxIterations;
    private final boolean parentPrior;
    private final Consumer<String> log;
    private final LevelGrouper grouper;

    private Fusion(Builder b) {
        this.parentPaths = List.copyOf(b.parentPaths);
        this.parentModels = List.copyOf(b.parentModels);
        this.calibrationPath = b.calibrationPath;
        this.calibrationData = b.calibrationData;
        this.method = b.method;
        this.widths = Map.copyOf(b.widths);
        this.seed = b.seed;
        this.batchSize = b.batchSize;
        this.threads = b.threads;
        this.device = b.device;
        this.samples = b.samples;
        this.ridgeFactor = b.ridgeFactor;
        this.restarts = b.restarts;
        this.maxIterations = b.maxIterations;
        this.parentPrior = b.parentPrior;
        this.log = b.log;
        this.grouper = b.grouper != null ? b.grouper : new BuiltinGrouper(seed, restarts, maxIterations);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Runs the fusion. */
    public FusionResult fuse() {
        long start = System.nanoTime();
        List<Model> parents = new ArrayList<>(parentModels);
        List<String> names = new ArrayList<>();
        for (int k = 0; k < parentModels.size(); k++) {
            names.add("parent " + k);
        }
        for (Path p : parentPaths) {
            parents.add(OnnxReader.read(p));
            names.add(String.valueOf(p.getFileName()));
        }
        if (parents.size() < 2) {
            throw new IllegalArgumentException("fusion needs at least 2 parents, found " + parents.size());
        }
        if (method == FusionMethod.HF_LINEAR && parents.size() != 2) {
            throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "HF-linear fuses exactly 2 parents, found "
                    + parents.size() + "; use KF-linear for more");
        }
        List<LevelPlan> plans = new ArrayList<>();
        for (Model m : parents) {
            plans.add(LevelPlanner.plan(m));
        }
        PlanComparison.requireCompatible(plans, names);
        LevelPlan template = plans.get(0);
        for (int level : widths.keySet()) {
            if (level < 1 || level >= template.levels().size()) {
                throw new IllegalArgumentException("a width can be set for levels 1.." + (template.levels().size() - 1)
                        + " (the last level keeps the classes), found level " + level);
            }
            if (method == FusionMethod.HF_LINEAR && widths.get(level) != template.level(level).width()) {
                throw new IllegalArgumentException("HF-linear keeps parent 0's width " + template.level(level).width()
                        + " at level " + level + "; use KF-linear for width " + widths.get(level));
            }
        }

        List<String> warnings = new ArrayList<>();
        List<LevelReport> reports = new ArrayList<>();
        CalibrationData opened = calibrationPath != null ? CalibrationData.open(calibrationPath) : null;
        CalibrationData data = (opened != null ? opened : calibrationData).limit(samples);
        Model fused = parents.get(0);
        int[] previous = null;
        List<Integer> previousWidths = null;
        int previousK = 0;
        try (ComputeBackend backend = Backends.open(device, threads, log);
             StatisticsCollector collector = new StatisticsCollector(parents, plans, data, batchSize, threads)) {
            for (Level level : template.levels()) {
                int l = level.index();
                LevelStatistics stats = collector.collect(l, fused, level, backend);
                String warning = null;
                if (stats.rows() < stats.fanIn()) {
                    warning = "level " + l + " (" + level.affineOpType() + " '" + level.affine().name() + "'): "
                            + stats.rows() + " rows from " + stats.samples() + " samples for a fan-in of "
                            + stats.fanIn() + "; the least squares is underdetermined and the ridge decides the"
                            + " weights: use more calibration samples";
                    warnings.add(warning);
                    log.accept("onnx-fuse: warning: " + warning);
                }
                long t0 = System.nanoTime();
                DenseMatrix prior = parentPrior ? Priors.of(parents, plans, l, stats, previous, previousWidths,
                        previousK) : null;
                RidgeFit fit = RidgeFit.fit(backend, stats.statistics(), ridgeFactor, prior);
                long t1 = System.nanoTime();
                LevelFit grouped = level.last() ? grouper.classMean(backend, stats, fit, l)
                        : grouper.group(backend, stats, fit, method,
                        widths.getOrDefault(l, Math.toIntExact(level.width())), l);
                long t2 = System.nanoTime();
                double residual = FitError.relativeResidual(backend, stats.statistics(), grouped.fusedWeights(),
                        grouped.memberWeights());
                previous = Priors.assignment(grouped.memberWeights());
                previousWidths = stats.parentWidths();
                previousK = grouped.width();
                Level next = level.last() ? null : template.level(l + 1);
                fused = fused.withGraph(LevelWriter.write(fused.graph(), level, next, grouped.fusedWeights()));
                long t3 = System.nanoTime();
                reports.add(new LevelReport(l, level.affineOpType(), level.cut(), grouped.method(), grouped.width(),
                        stats.fanIn(), stats.samples(), stats.rows(), residual, grouped.cost(),
                        stats.inferenceNanos() / 1e6, stats.statisticsNanos() / 1e6, (t2 - t1) / 1e6,
                        ((t1 - t0) + (t3 - t2)) / 1e6, warning));
            }
        } finally {
            if (opened != null) {
                opened.close();
            }
        }
        Map<String, String> metadata = new LinkedHashMap<>(parents.get(0).metadata());
        metadata.put("onnx-fuse.method", method.name());
        metadata.put("onnx-fuse.parents", String.join(",", names));
        metadata.put("onnx-fuse.samples", Long.toString(data.samples()));
        metadata.put("onnx-fuse.seed", Long.toString(seed));
        metadata.put("onnx-fuse.widths", reports.stream().map(r -> Integer.toString(r.width())).toList().toString());
        Model result = fused.withMetadata(metadata).withProducer("onnx-fuse", "0.1.0");
        return new FusionResult(result, reports, warnings, (System.nanoTime() - start) / 1e6);
    }

    /** Configures a {@link Fusion}; defaults: KF-linear, seed 0, batch 256, threads 0 (all), device auto. */
    public static final class Builder {
        private final List<Path> parentPaths = new ArrayList<>();
        private final List<Model> parentModels = new ArrayList<>();
        private Path calibrationPath;
        private CalibrationData calibrationData;
        private FusionMethod method = FusionMethod.KF_LINEAR;
        private final Map<Integer, Integer> widths = new TreeMap<>();
        private long seed;
        private int batchSize = 256;
        private int threads;
        private String device = "auto";
        private long samples;
        private double ridgeFactor = GroupingConfig.DEFAULT_RIDGE_FACTOR;
        private int restarts = GroupingConfig.DEFAULT_RESTARTS;
        private int maxIterations = GroupingConfig.DEFAULT_MAX_ITERATIONS;
        private boolean parentPrior = true;
        private Consumer<String> log = System.err::println;
        private LevelGrouper grouper;

        private Builder() {
        }

        /** Parent model files; parent 0 (the first) is the template. In-memory parents given too come first. */
        public Builder parents(Path... files) {
            parentPaths.addAll(List.of(files));
            return this;
        }

        public Builder parentFiles(List<Path> files) {
            parentPaths.addAll(files);
            return this;
        }

        /** In-memory parent models; the first is the template. */
        public Builder parents(Model... models) {
            parentModels.addAll(List.of(models));
            return this;
        }

        public Builder parentModels(List<Model> models) {
            parentModels.addAll(models);
            return this;
        }

        /** A {@code .npy} file of calibration inputs, samples first. */
        public Builder calibration(Path npy) {
            this.calibrationPath = Objects.requireNonNull(npy);
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

        public Builder method(FusionMethod value) {
            this.method = Objects.requireNonNull(value);
            return this;
        }

        /** Fused width of hidden level {@code level} (1-based); default: parent 0's width. */
        public Builder width(int level, int k) {
            if (k <= 0) {
                throw new IllegalArgumentException("width must be positive, found " + k);
            }
            widths.put(level, k);
            return this;
        }

        public Builder seed(long value) {
            this.seed = value;
            return this;
        }

        public Builder batchSize(int value) {
            if (value <= 0) {
                throw new IllegalArgumentException("batch size must be positive, found " + value);
            }
            this.batchSize = value;
            return this;
        }

        /** Threads for ONNX Runtime and BLAS; 0 = one per processor. */
        public Builder threads(int value) {
            if (value < 0) {
                throw new IllegalArgumentException("threads must be >= 0, found " + value);
            }
            this.threads = value;
            return this;
        }

        /** auto, cpu or cuda. */
        public Builder device(String value) {
            this.device = Objects.requireNonNull(value);
            return this;
        }

        /** Use only the first {@code n} calibration samples (0: all). */
        public Builder samples(long n) {
            if (n < 0) {
                throw new IllegalArgumentException("samples must be >= 0, found " + n);
            }
            this.samples = n;
            return this;
        }

        /** lambda = factor * trace(S_xx) / d. */
        public Builder ridge(double factor) {
            this.ridgeFactor = factor;
            return this;
        }

        /**
         * Whether the ridge is centred on the parents' own weights (default) rather than on 0; see
         * {@link RidgeFit}. Off gives the plain ridge of ALGORITHM.md (minimum-norm tendency).
         */
        public Builder parentPrior(boolean value) {
            this.parentPrior = value;
            return this;
        }

        public Builder restarts(int value) {
            this.restarts = value;
            return this;
        }

        public Builder maxIterations(int value) {
            this.maxIterations = value;
            return this;
        }

        /** Receives warnings and backend notes; default standard error. */
        public Builder log(Consumer<String> value) {
            this.log = Objects.requireNonNull(value);
            return this;
        }

        /** Replaces the grouping stage (tests, experiments). */
        public Builder grouper(LevelGrouper value) {
            this.grouper = value;
            return this;
        }

        public Fusion build() {
            if (parentPaths.size() + parentModels.size() < 2) {
                throw new IllegalArgumentException("fusion needs at least 2 parents, found "
                        + (parentPaths.size() + parentModels.size()));
            }
            if (calibrationPath == null && calibrationData == null) {
                throw new IllegalArgumentException("no calibration data: call calibration(path) or calibration(values, shape)");
            }
            return new Fusion(this);
        }
    }
}
