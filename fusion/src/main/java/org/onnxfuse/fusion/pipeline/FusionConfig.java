package org.onnxfuse.fusion.pipeline;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.group.GroupingConfig;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.solve.WeightType;
import org.onnxfuse.fusion.importance.Importance;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.fusion.train.TrainingSettings;
import org.onnxfuse.kernels.Backends;

/**
 * Every setting of one fusion, checked once, here: the command line parses its options into this,
 * {@link Fusion.Builder} builds it, {@link Fusion} runs from it, and {@link #recorded} is what both
 * the fused model's provenance and the command line's report write down. A setting that cannot be
 * used raises {@link InvalidSettingException}, whose message names the setting and its option,
 * what was expected and what was found, the same from both front ends. The checks that need the
 * parents ({@link #checkInputs}: how many, whether there is data) and their plans
 * ({@link #targetWidths}: widths against levels) live here too and run once those are known.
 *
 * @param method        the fusion method
 * @param widths        fused widths: parent 0's, scaled, or set per level; kf-linear only
 * @param seed          seeds every random choice
 * @param batchSize     samples per inference batch (parents with a fixed batch size use theirs)
 * @param threads       compute threads; 0 = one per processor
 * @param device        {@code auto}, {@code cpu} or {@code cuda}, lower case
 * @param samples       the first this many calibration samples are used; 0 = all
 * @param ridge         ridge factor: lambda = ridge * trace(S_xx) / d
 * @param parentPrior   whether the ridge is centred on the parents' own weights (ignored when paper-exact)
 * @param paperExact    reproduce the reference implementation's choices
 * @param importance    neuron importance, or null for the default ({@link #importanceToUse()}),
 *                      which falls back to uniform scores where it cannot run
 * @param restarts      K-means restarts
 * @param maxIterations Lloyd iterations per restart at most
 * @param groupingForm  K-means in Gram, cross or factor form, or auto ({@link GroupingForm#resolve}); a hidden setting
 * @param classWeights  how the last level weighs each parent's class-c logit
 * @param weightType    the element type the fused weights are stored in ({@code --dtype})
 * @param gradient      the gradient variant's settings (kf-gradient and kf-auto; its training seed is {@code seed})
 * @param levels        which levels are fused and which kept from one parent ({@code --keep-levels},
 *                      {@code --fuse-levels}); checked against the plans by {@link #keptLevels}
 * @param groupingChoice kf-linear: K-means groups only, or also one-to-one matching with the closer
 *                      fused model kept ({@code --grouping}; {@link GroupingChoice})
 */
public record FusionConfig(FusionMethod method, Widths widths, long seed, int batchSize, int threads, String device,
                           long samples, double ridge, boolean parentPrior, boolean paperExact,
                           ImportanceMethod importance, int restarts, int maxIterations, GroupingForm groupingForm,
                           ClassWeights classWeights, WeightType weightType, GradientSettings gradient, LevelSelection levels,
                           GroupingChoice groupingChoice) {
    public static final int DEFAULT_BATCH_SIZE = 256;
    /** More threads than this is a typing slip, not a machine: each ONNX Runtime and BLAS thread takes a stack. */
    public static final int MAX_THREADS = 1024;
    /** The default importance where the parents' levels form one chain (and for every method but kf-linear). */
    public static final ImportanceMethod DEFAULT_IMPORTANCE = ImportanceMethod.DEEPLIFT;
    /**
     * The default importance of kf-linear where the parents' levels form a DAG: uniform scores
     * beat DeepLIFT's on the bundled residual, depthwise and dense pairs (docs/ALGORITHM.md
     * section 3, "Defaults on DAGs").
     */
    public static final ImportanceMethod DEFAULT_DAG_IMPORTANCE = ImportanceMethod.UNIFORM;

    public FusionConfig {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(widths, "widths");
        Objects.requireNonNull(device, "device");
        device = device.strip().toLowerCase(Locale.ROOT);
        if (!Backends.DEVICES.contains(device)) {
            throw invalid("device (--device)", "one of " + Backends.DEVICES, "'" + device + "'");
        }
        if (batchSize < 1) {
            throw invalid("batch size (--batch-size)", "at least 1 sample", batchSize);
        }
        if (threads < 0 || threads > MAX_THREADS) {
            throw invalid("threads (--threads)", "0 (one per processor) to " + MAX_THREADS, threads);
        }
        if (samples < 0) {
            throw invalid("samples (--samples)", "0 (all) or more", samples);
        }
        if (!(ridge >= 0) || Double.isInfinite(ridge)) {
            throw invalid("ridge factor (--ridge)", "a finite number >= 0", ridge);
        }
        if (restarts < 1) {
            throw invalid("K-means restarts (--restarts)", "at least 1", restarts);
        }
        if (maxIterations < 1) {
            throw invalid("K-means iterations (--max-iterations)", "at least 1", maxIterations);
        }
        if (importance != null && !method.isInterpolation()) {
            throw invalid("importance (--importance)", "--method kf-linear, hf-linear, kf-gradient or kf-auto",
                    method.cliName() + ", which does not weight neurons");
        }
        Objects.requireNonNull(groupingForm, "groupingForm");
        Objects.requireNonNull(classWeights, "classWeights");
        Objects.requireNonNull(weightType, "weightType");
        if (classWeights != ClassWeights.AUTO && classWeights != ClassWeights.IMPORTANCE
                && !method.isInterpolation()) {
            throw invalid("class weights (--class-weights)", "--method kf-linear, hf-linear, kf-gradient or kf-auto",
                    method.cliName() + ", which has no class targets");
        }
        if (!widths.keepsParent0() && !method.usesKMeans()) {
            throw invalid("widths (--width)", "--method kf-linear, kf-gradient or kf-auto", method.cliName()
                    + ", which keeps parent 0's widths");
        }
        Objects.requireNonNull(gradient, "gradient");
        if (!method.trains() && !gradient.training().withSeed(0).equals(TrainingSettings.defaults())) {
            throw invalid("training settings (--epochs, --lr, --optimizer, --weight-decay, --patience, --perturb,"
                    + " --reinit)",
                    "--method kf-gradient or kf-auto", method.cliName() + ", which trains nothing");
        }
        if (gradient.distill() > 0 && !method.trains()) {
            throw invalid("distillation (--distill)", "--method kf-gradient or kf-auto", method.cliName());
        }
        if (gradient.segments() != GradientSettings.defaults().segments() && !method.trains()) {
            throw invalid("training segments (--segments)", "--method kf-gradient or kf-auto", method.cliName()
                    + ", which trains nothing");
        }
        if (gradient.refine() > 0 && method != FusionMethod.KF_AUTO) {
            throw invalid("refinement (--refine)", "--method kf-auto (kf-gradient trains every level already)",
                    method.cliName());
        }
        Objects.requireNonNull(levels, "levels");
        Objects.requireNonNull(groupingChoice, "groupingChoice");
        if (groupingChoice != GroupingChoice.AUTO && method != FusionMethod.KF_LINEAR) {
            throw invalid("grouping (--grouping)", "--method kf-linear", method.cliName());
        }
        if (groupingChoice == GroupingChoice.BOTH && !widths.keepsParent0()) {
            throw invalid("grouping (--grouping both)", "parent 0's widths, as one-to-one matching keeps them",
                    "other widths (--width)");
        }
        if (!levels.fusesAll() && !method.isInterpolation()) {
            throw invalid("level selection (--keep-levels, --fuse-levels)",
                    "--method kf-linear, hf-linear, kf-gradient or kf-auto", method.cliName()
                            + ", which aligns every level");
        }
    }

    /** The defaults: kf-linear, parent 0's widths, seed 0, batch 256, all threads, device auto, all samples, ... */
    public static FusionConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Whether the ridge is centred on the parents' weights: asked for, and not paper-exact. */
    public boolean usesParentPrior() {
        return parentPrior && !paperExact;
    }

    /**
     * The importance method to score with: the one asked for, else {@link #DEFAULT_DAG_IMPORTANCE}
     * for kf-linear on parents whose levels form a DAG, else {@link #DEFAULT_IMPORTANCE}.
     *
     * @param chain whether the parents' plan is one chain of levels ({@code LevelPlan.sequential()})
     */
    public ImportanceMethod importanceToUse(boolean chain) {
        if (importance != null) {
            return importance;
        }
        return !chain && method == FusionMethod.KF_LINEAR ? DEFAULT_DAG_IMPORTANCE : DEFAULT_IMPORTANCE;
    }

    /**
     * The class weights to use: the ones asked for, or what {@link ClassWeights#AUTO} stands for
     * ({@link ClassWeights#resolve}).
     */
    public ClassWeights classWeightsToUse(boolean chain, boolean labelsGiven) {
        return classWeights.resolve(chain, method == FusionMethod.KF_LINEAR, labelsGiven);
    }

    /** Compute threads to use: {@link #threads}, or one per processor for 0. */
    public int threadsToUse() {
        return threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    }

    /** The grouping stage's share of the settings. */
    public GroupingConfig grouping() {
        return new GroupingConfig(ridge, seed, restarts, maxIterations, paperExact, groupingForm);
    }

    /**
     * Refuses settings that do not fit the inputs, before any is read: fewer than 2 parents,
     * hf-linear with other than 2, a method that runs the parents without calibration data, labels
     * without the data they label.
     */
    public void checkInputs(int parents, boolean calibrationGiven, boolean labelsGiven) {
        if (parents < 2) {
            throw invalid("parents", "at least 2 parent models", parents);
        }
        if (method == FusionMethod.HF_LINEAR && parents != 2) {
            throw invalid("parents of hf-linear", "exactly 2 parents (kf-linear fuses more)", parents);
        }
        if (groupingChoice == GroupingChoice.BOTH && parents != 2) {
            throw invalid("parents of --grouping both", "exactly 2 parents, as one-to-one matching pairs two",
                    parents);
        }
        if (classWeights == ClassWeights.CONFIDENCE && !labelsGiven) {
            throw invalid("class weights (--class-weights)", "--labels with confidence, which compares each"
                    + " parent's probability of the true class", "no labels");
        }
        if (method.needsData() && !calibrationGiven) {
            throw invalid("calibration data (--data)", "some for " + method.cliName()
                    + ", which runs the parents on it", "none");
        }
        if (labelsGiven && !calibrationGiven) {
            throw invalid("labels (--labels)", "calibration data (--data) for them to label", "none");
        }
    }

    /**
     * The fused width of every level (index l - 1 for level l): a width set for the level, else
     * round(factor x parent 0's width), at least 1; the last level keeps the classes, and the
     * levels of one neuron space take one width. Refuses widths set for levels that are not
     * hidden levels of these plans, widths the parents together cannot fill, and different widths
     * within a space; also refuses learning rates set for levels the plans lack. A kept level
     * ({@link #keptLevels}) takes its parent's width, and a width set for it is refused.
     */
    public int[] targetWidths(List<LevelPlan> plans) {
        int levelCount = plans.get(0).levels().size();
        SortedMap<Integer, Integer> kept = keptLevels(plans);
        gradient.training().levelLearningRates().forEach((level, rate) -> {
            if (level > levelCount) {
                throw invalid("learning rate of level " + level + " (--lr " + level + ":" + rate + ")",
                        "a level from 1 to " + levelCount, level);
            }
        });
        LevelPlan template = plans.get(0);
        Map<Integer, Integer> set = widths.levels();
        for (int level : set.keySet()) {
            if (level < 1 || level > template.levels().size() || template.level(level).last()) {
                List<Integer> hidden = template.levels().stream().filter(l -> !l.last()).map(Level::index).toList();
                String classes = template.levels().stream().filter(Level::last).map(l -> Integer.toString(l.index()))
                        .collect(Collectors.joining(", "));
                throw invalid("width (--width " + level + ":" + set.get(level) + ")", "one of the hidden levels "
                        + ranges(hidden) + " (level " + classes + " keeps the classes)", "level " + level);
            }
            if (kept.containsKey(level)) {
                throw invalid("width (--width " + level + ":" + set.get(level) + ")", "a level that is fused",
                        "level " + level + ", kept from parent " + kept.get(level) + " with its own width");
            }
        }
        int[] out = new int[template.levels().size()];
        for (Level level : template.levels()) {
            int l = level.index();
            int own = Math.toIntExact(level.width());
            if (level.last()) {
                out[l - 1] = own;
                continue;
            }
            int k = set.containsKey(l) ? set.get(l) : (int) Math.max(1, Math.round(widths.factor() * own));
            long all = plans.stream().mapToLong(p -> p.level(l).width()).sum();
            if (k > all) {
                throw invalid("fused width of level " + l + " (--width)", "at most the " + all
                        + " neurons all parents have there", k);
            }
            out[l - 1] = k;
        }
        for (NeuronSpace space : template.spaces()) {
            Integer chosen = null;
            for (int l : space.levels()) {
                if (set.containsKey(l)) {
                    if (chosen != null && !chosen.equals(set.get(l))) {
                        throw invalid("widths of levels " + space.levels() + " (--width)", "one width, as they share"
                                + " neuron space " + space.id() + " (their neurons are joined)", chosen + " and "
                                + set.get(l));
                    }
                    chosen = set.get(l);
                }
            }
            for (int l : space.levels()) {
                out[l - 1] = chosen != null ? chosen : out[space.levels().get(0) - 1];
            }
        }
        // a kept level keeps its parent's neurons, one for one
        kept.forEach((level, parent) -> out[level - 1] = Math.toIntExact(plans.get(parent).level(level).width()));
        // attention reshapes q, k, v into heads and back by the parents' sizes (torch's merge reads the width of the
        // stream the projections read), so those spaces keep their widths; an MLP's hidden units may change
        Set<Integer> fixed = new TreeSet<>();
        for (NeuronSpace sp : template.spaces()) {
            List<Long> parentWidths = plans.stream().map(p -> p.space(sp.id()).width()).toList();
            if (sp.headed() && parentWidths.stream().distinct().count() > 1) {
                throw invalid("parents' widths at levels " + ranges(sp.levels()) + " (attention heads)", "one width"
                        + " in every parent: whole heads are matched", parentWidths);
            }
            if (sp.headed()) {
                fixed.add(sp.id());
                sp.levels().forEach(l -> fixed.addAll(template.level(l).binding().spaces()));
            }
        }
        for (Level level : template.levels()) {
            if (fixed.contains(level.space()) && out[level.index() - 1] != level.width()) {
                List<Integer> attention = template.levels().stream().filter(l -> fixed.contains(l.space()))
                        .map(Level::index).toList();
                throw invalid("fused width of level " + level.index() + " (--width)", "its parents' width "
                        + level.width() + ": levels " + ranges(attention) + " are attention heads or the stream"
                        + " they read, whose reshapes into heads and back fix their widths", out[level.index() - 1]);
            }
        }
        return out;
    }

    /**
     * The levels kept from one parent instead of fused, and that parent (level to parent, in level
     * order; empty when every level is fused); refuses what {@link LevelSelection#resolve} refuses.
     */
    public SortedMap<Integer, Integer> keptLevels(List<LevelPlan> plans) {
        return levels.resolve(plans);
    }

    /**
     * The settings as a fusion records them, in the fused model's {@code onnx-fuse.config} and in
     * the command line's report, with what the run resolved: the samples it used, the
     * backend it ran on, the importance its scores came from (uniform where the default could not
     * run) and whose classes the attributions explained ("labels", "predictions" or "none"); the
     * baselines, which score nothing, record neither.
     */
    public Map<String, Object> recorded(long samplesUsed, String backend, Importance scores) {
        return recorded(samplesUsed, backend, scores, classWeights, Map.of());
    }

    /**
     * As {@link #recorded(long, String, Importance)}, with the class weights the run used
     * ({@link #classWeightsToUse}, what {@link ClassWeights#AUTO} stood for) and the kept levels
     * it resolved ({@link #keptLevels}): {@code keptLevels} maps each kept level to its parent,
     * written only when some level was kept, so that {@code --fuse-levels 2} and
     * {@code --keep-levels 1} on a 2-level plan record (and write) the same.
     */
    public Map<String, Object> recorded(long samplesUsed, String backend, Importance scores,
                                        ClassWeights classWeightsUsed, Map<Integer, Integer> kept) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("method", method.cliName());
        c.put("seed", seed);
        c.put("samples", samplesUsed);
        c.put("batchSize", batchSize);
        c.put("device", device);
        c.put("backend", backend);
        c.put("ridge", ridge);
        c.put("parentPrior", usesParentPrior());
        c.put("paperExact", paperExact);
        if (scores != null) {
            c.put("importance", scores.method().cliName());
            c.put("explains", scores.labelSource());
            c.put("classWeights", classWeightsUsed.cliName());
        }
        c.put("restarts", restarts);
        c.put("maxIterations", maxIterations);
        c.put("groupingForm", groupingForm.cliName());
        if (method == FusionMethod.KF_LINEAR) {
            c.put("grouping", groupingChoice.cliName());
        }
        c.put("dtype", weightType.cliName());
        if (method.trains()) {
            c.put("training", gradient.recorded());
        }
        Map<String, Object> w = new LinkedHashMap<>();
        w.put("factor", widths.factor());
        Map<String, Integer> perLevel = new LinkedHashMap<>();
        widths.levels().forEach((level, k) -> perLevel.put(Integer.toString(level), k));
        w.put("levels", Collections.unmodifiableMap(perLevel));
        c.put("widths", Collections.unmodifiableMap(w));
        if (!kept.isEmpty()) {
            Map<String, Integer> k = new LinkedHashMap<>();
            new TreeMap<>(kept).forEach((level, parent) -> k.put(Integer.toString(level), parent));
            c.put("keptLevels", Collections.unmodifiableMap(k));
        }
        return Collections.unmodifiableMap(c);
    }

    private static InvalidSettingException invalid(String setting, String expected, Object found) {
        return new InvalidSettingException(setting + ": expected " + expected + ", found " + found);
    }

    /** "1..3, 5..7" for [1, 2, 3, 5, 6, 7]. */
    private static String ranges(List<Integer> sorted) {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < sorted.size(); ) {
            int j = i;
            while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) {
                j++;
            }
            parts.add(sorted.get(i) + ".." + sorted.get(j));
            i = j + 1;
        }
        return String.join(", ", parts);
    }

    /**
     * Fused widths: every hidden level round({@code factor} x parent 0's width), at least 1, except
     * the levels in {@code levels} (1-based level index to width). Which levels exist is checked
     * against the plans ({@link FusionConfig#targetWidths}).
     */
    public record Widths(double factor, SortedMap<Integer, Integer> levels) {
        /** Parent 0's widths. */
        public static final Widths PARENT_0 = new Widths(1.0, new TreeMap<>());

        private static final String SYNTAX = "a factor such as 1.5 or per-level widths such as 1:300,2:128";

        public Widths {
            if (!(factor > 0) || Double.isInfinite(factor)) {
                throw invalid("width factor (--width)", "a finite number above 0", factor);
            }
            levels = Collections.unmodifiableSortedMap(new TreeMap<>(levels));
            levels.forEach((level, k) -> {
                if (k < 1) {
                    throw invalid("width of level " + level + " (--width " + level + ":" + k + ")", "at least 1", k);
                }
            });
        }

        /** Whether these are parent 0's widths. */
        public boolean keepsParent0() {
            return factor == 1.0 && levels.isEmpty();
        }

        /** {@code --width}'s text: a factor ("1.5") or per-level widths ("1:300,2:128"); blank keeps parent 0's. */
        public static Widths parse(String text) {
            String s = text.strip();
            if (s.isEmpty()) {
                return PARENT_0;
            }
            if (!s.contains(":")) {
                return new Widths(parseNumber(s, text), new TreeMap<>());
            }
            SortedMap<Integer, Integer> perLevel = new TreeMap<>();
            for (String part : s.split(",")) {
                String[] levelAndWidth = part.strip().split(":");
                if (levelAndWidth.length != 2) {
                    throw syntax(text, "each entry is LEVEL:WIDTH");
                }
                perLevel.put(parseWhole(levelAndWidth[0], text), parseWhole(levelAndWidth[1], text));
            }
            return new Widths(1.0, perLevel);
        }

        private static double parseNumber(String s, String text) {
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                throw syntax(text, "'" + s + "' is not a number");
            }
        }

        private static int parseWhole(String s, String text) {
            try {
                return Integer.parseInt(s.strip());
            } catch (NumberFormatException e) {
                throw syntax(text, "'" + s.strip() + "' is not a whole number");
            }
        }

        private static InvalidSettingException syntax(String text, String why) {
            return new InvalidSettingException("--width " + text + ": " + why + "; expected " + SYNTAX);
        }
    }

    /**
     * The fluent setters of every setting, shared by {@link FusionConfig.Builder} and
     * {@link Fusion.Builder}; nothing is checked until the configuration is built.
     */
    public abstract static class Settings<B extends Settings<B>> {
        private FusionMethod method = FusionMethod.KF_LINEAR;
        private double widthFactor = 1.0;
        private final SortedMap<Integer, Integer> levelWidths = new TreeMap<>();
        private long seed;
        private int batchSize = DEFAULT_BATCH_SIZE;
        private int threads;
        private String device = "auto";
        private long samples;
        private double ridge = GroupingConfig.DEFAULT_RIDGE_FACTOR;
        private boolean parentPrior = true;
        private boolean paperExact;
        private ImportanceMethod importance;
        private int restarts = GroupingConfig.DEFAULT_RESTARTS;
        private int maxIterations = GroupingConfig.DEFAULT_MAX_ITERATIONS;
        private GroupingForm groupingForm = GroupingForm.AUTO;
        private ClassWeights classWeights = ClassWeights.AUTO;
        private WeightType weightType = WeightType.FLOAT32;
        private TrainingSettings.Builder training = TrainingSettings.builder();
        private GradientSettings.Start trainFrom = GradientSettings.Start.LINEAR;
        private double distill;
        private GradientSettings.Segments segments = GradientSettings.defaults().segments();
        private int refine;
        private final SortedMap<Integer, Integer> keep = new TreeMap<>();
        private final java.util.SortedSet<Integer> fuse = new java.util.TreeSet<>();
        private GroupingChoice groupingChoice = GroupingChoice.AUTO;

        Settings() {
        }

        @SuppressWarnings("unchecked")
        private B self() {
            return (B) this;
        }

        /** Every setting from {@code config}, replacing all set so far. */
        public B config(FusionConfig config) {
            method = config.method();
            widths(config.widths());
            seed = config.seed();
            batchSize = config.batchSize();
            threads = config.threads();
            device = config.device();
            samples = config.samples();
            ridge = config.ridge();
            parentPrior = config.parentPrior();
            paperExact = config.paperExact();
            importance = config.importance();
            restarts = config.restarts();
            maxIterations = config.maxIterations();
            groupingForm = config.groupingForm();
            classWeights = config.classWeights();
            weightType = config.weightType();
            gradient(config.gradient());
            levels(config.levels());
            groupingChoice = config.groupingChoice();
            return self();
        }

        /** The level selection at once, replacing the kept and fused levels set so far. */
        public B levels(LevelSelection value) {
            keep.clear();
            keep.putAll(value.keep());
            fuse.clear();
            fuse.addAll(value.fuse());
            return self();
        }

        /** Keeps level {@code level} (1-based) from parent 0 instead of fusing it ({@code --keep-levels}). */
        public B keepLevel(int level) {
            return keepLevel(level, 0);
        }

        /**
         * Keeps level {@code level} (1-based) from parent {@code parent} ({@code --keep-levels L:P}); a
         * parent other than 0 only where the level's inputs are that parent's neurons too.
         */
        public B keepLevel(int level, int parent) {
            keep.put(level, parent);
            return self();
        }

        /** Fuses level {@code level} (1-based) and, once any is named, keeps the others from parent 0 ({@code --fuse-levels}). */
        public B fuseLevel(int level) {
            fuse.add(level);
            return self();
        }

        /** The gradient variant's settings at once, replacing them (their seed is the fusion's). */
        public B gradient(GradientSettings value) {
            TrainingSettings t = value.training();
            training = TrainingSettings.builder().epochs(t.epochs()).learningRate(t.learningRate())
                    .optimizer(t.optimizer()).weightDecay(t.weightDecay()).weightDecayMode(t.weightDecayMode())
                    .momentum(t.momentum()).nesterov(t.nesterov()).patience(t.patience()).batchSize(t.batchSize())
                    .start(t.start());
            t.levelLearningRates().forEach(training::learningRate);
            trainFrom = value.from();
            distill = value.distill();
            refine = value.refine();
            segments = value.segments();
            return self();
        }

        /** Training epochs per level at most (kf-gradient, kf-auto); default 100. */
        public B epochs(int value) {
            training.epochs(value);
            return self();
        }

        /** Every trained level's learning rate; default auto (a range test per level). */
        public B learningRate(org.onnxfuse.fusion.train.LearningRate value) {
            training.learningRate(value);
            return self();
        }

        /** Level {@code level}'s own learning rate (1-based). */
        public B learningRate(int level, org.onnxfuse.fusion.train.LearningRate value) {
            training.learningRate(level, value);
            return self();
        }

        /** Default adam. */
        public B optimizer(org.onnxfuse.fusion.train.OptimizerKind value) {
            training.optimizer(value);
            return self();
        }

        /** Default 1e-4 (L2, as the reference's Adam). */
        public B weightDecay(double value) {
            training.weightDecay(value);
            return self();
        }

        /** Epochs without a better validation loss before a level stops; default 15. */
        public B patience(int value) {
            training.patience(value);
            return self();
        }

        /** Rows per training mini-batch; default 32. */
        public B trainingBatchSize(int value) {
            training.batchSize(value);
            return self();
        }

        /** Keep, perturb or re-initialise each level's starting weights; default keep. */
        public B trainingStart(org.onnxfuse.fusion.train.StartingPoint value) {
            training.start(value);
            return self();
        }

        /** Where kf-gradient starts each level: the linear fit (default) or the parents' averaged weights. */
        public B trainFrom(GradientSettings.Start value) {
            trainFrom = Objects.requireNonNull(value);
            return self();
        }

        /** The last level's distillation temperature T (kf-gradient, kf-auto); default 0: none. */
        public B distill(double temperature) {
            distill = temperature;
            return self();
        }

        /** What one training segment is: each level alone, or a whole residual block (default). */
        public B segments(GradientSettings.Segments value) {
            segments = Objects.requireNonNull(value);
            return self();
        }

        /** kf-auto: training epochs after each level's linear fit; default 0: none. */
        public B refine(int epochs) {
            refine = epochs;
            return self();
        }

        /** Default kf-linear. */
        public B method(FusionMethod value) {
            this.method = Objects.requireNonNull(value);
            return self();
        }

        /**
         * Fused width of hidden level {@code level} (1-based); default: parent 0's width (times
         * {@link #widthFactor}). Overrides the factor for that level. kf-linear only.
         */
        public B width(int level, int k) {
            levelWidths.put(level, k);
            return self();
        }

        /**
         * Every hidden level's fused width is round(f x parent 0's width), at least 1, unless set by
         * {@link #width(int, int)}; default 1. Wider keeps more of the parents, narrower compresses.
         */
        public B widthFactor(double f) {
            this.widthFactor = f;
            return self();
        }

        /** The factor and the per-level widths at once, replacing both. */
        public B widths(Widths value) {
            widthFactor = value.factor();
            levelWidths.clear();
            levelWidths.putAll(value.levels());
            return self();
        }

        /** Seeds every random choice; default 0. */
        public B seed(long value) {
            this.seed = value;
            return self();
        }

        /** Samples per inference batch; default 256. */
        public B batchSize(int value) {
            this.batchSize = value;
            return self();
        }

        /** Threads for ONNX Runtime and BLAS; 0 (default) = one per processor. */
        public B threads(int value) {
            this.threads = value;
            return self();
        }

        /** auto (default), cpu or cuda. */
        public B device(String value) {
            this.device = Objects.requireNonNull(value);
            return self();
        }

        /** Use only the first {@code n} calibration samples; 0 (default): all. */
        public B samples(long n) {
            this.samples = n;
            return self();
        }

        /** lambda = factor * trace(S_xx) / d; default 1e-6. */
        public B ridge(double factor) {
            this.ridge = factor;
            return self();
        }

        /**
         * Whether the ridge is centred on the parents' own weights (default) rather than on 0; see
         * {@link org.onnxfuse.fusion.group.ProjectedTargets}. Off gives the plain ridge of
         * ALGORITHM.md (minimum-norm tendency, like the reference's pinv). Ignored (off) when
         * {@link #paperExact} is set.
         */
        public B parentPrior(boolean value) {
            this.parentPrior = value;
            return self();
        }

        /**
         * Reproduce the reference implementation where we differ from it ({@link GroupingConfig#paperExact()}):
         * plain ridge without the parent prior, K-means group ids compacted after an empty group.
         */
        public B paperExact(boolean value) {
            this.paperExact = value;
            return self();
        }

        /**
         * How neurons are weighted in grouping and at the last level (ALGORITHM.md section 6); default
         * DeepLIFT (one extra forward and backward pass per parent; more accurate than uniform on 13 of
         * our 16 benchmark settings, see bench/results/quality.md), uniform where it cannot run. A
         * method asked for here fails instead. kf-linear and hf-linear only.
         */
        public B importance(ImportanceMethod value) {
            this.importance = Objects.requireNonNull(value);
            return self();
        }

        /** K-means restarts, the lowest cost wins; default 10. */
        public B restarts(int value) {
            this.restarts = value;
            return self();
        }

        /** Lloyd iterations per K-means restart at most; default 100. */
        public B maxIterations(int value) {
            this.maxIterations = value;
            return self();
        }

        /** K-means distances in Gram or factor form; default auto (ALGORITHM.md section 3). */
        public B groupingForm(GroupingForm value) {
            this.groupingForm = Objects.requireNonNull(value);
            return self();
        }

        /**
         * How the last level weighs each parent's class-c logit (ALGORITHM.md section 3); default
         * {@link ClassWeights#AUTO}. {@link ClassWeights#CONFIDENCE} needs labels.
         */
        public B classWeights(ClassWeights value) {
            this.classWeights = Objects.requireNonNull(value);
            return self();
        }

        /**
         * The element type the fused weights are stored in: float32 (default), or float16 /
         * bfloat16 read through a Cast to float32 ({@link org.onnxfuse.fusion.solve.StoredWeights}).
         */
        public B weightType(WeightType value) {
            this.weightType = Objects.requireNonNull(value);
            return self();
        }

        /**
         * kf-linear: whether to fuse with K-means groups only or also by one-to-one matching, keeping
         * the fused model closer to the parents' ensemble; default {@link GroupingChoice#AUTO}.
         */
        public B groupingChoice(GroupingChoice value) {
            this.groupingChoice = Objects.requireNonNull(value);
            return self();
        }

        /** The configuration of the settings made so far; throws {@link InvalidSettingException}. */
        FusionConfig configuration() {
            return new FusionConfig(method, new Widths(widthFactor, levelWidths), seed, batchSize, threads, device,
                    samples, ridge, parentPrior, paperExact, importance, restarts, maxIterations, groupingForm, classWeights,
                    weightType, new GradientSettings(training.seed(seed).build(), trainFrom, distill, refine,
                    segments),
                    new LevelSelection(keep, fuse), groupingChoice);
        }
    }

    /** Builds a {@link FusionConfig}; defaults as {@link #defaults()}. */
    public static final class Builder extends Settings<Builder> {
        private Builder() {
        }

        /** @throws InvalidSettingException for the first setting that cannot be used */
        public FusionConfig build() {
            return configuration();
        }
    }
}
