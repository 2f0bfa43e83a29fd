package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Objects;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.OutputHead;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Model;

/**
 * Scores every neuron of every level of every parent (ALGORITHM.md section 6), before the level
 * loop: the scores depend on the parents alone. F is the logit (the last cut) of the sample's
 * class: its label when labels are given, else the parent's own predicted class. One pass over the
 * calibration data per parent, all levels at once (one backward pass gives the gradient at every
 * cut); conductance runs the parent at 11 scaled copies of each batch.
 */
public final class ImportanceScorer {
    /** Conductance's path points (ALGORITHM.md: 11 Gauss-Legendre nodes mapped to [0, 1]). */
    static final int CONDUCTANCE_POINTS = 11;

    /** Told how far scoring is, e.g. to drive a progress bar. */
    public interface Progress {
        Progress NONE = new Progress() {
        };

        /** Parent {@code parent} (0-based) of {@code parents} starts. */
        default void parentStarted(int parent, int parents) {
        }

        /** {@code done} of {@code total} samples of the current parent are scored. */
        default void samplesScored(long done, long total) {
        }
    }

    /**
     * Cut elements held per batch at most (values, gradients and attributions of every cut are
     * held at once): about 64 M floats, so scoring large images does not run out of memory.
     */
    static final long CUT_ELEMENTS_PER_BATCH = 1L << 26;

    private final ImportanceMethod method;
    private final int batchSize;
    private final int threads;

    public ImportanceScorer(ImportanceMethod method, int batchSize, int threads) {
        this.method = Objects.requireNonNull(method, "method");
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, found " + batchSize);
        }
        this.batchSize = batchSize;
        this.threads = threads;
    }

    /**
     * @param labels one class per calibration sample, or null to explain each parent's own
     *     predicted class
     * @throws DataException DATA_SHAPE when {@code labels} does not hold one label per sample,
     *     DATA_FORMAT when a label is outside the parents' classes
     */
    public Importance score(List<Model> parents, List<LevelPlan> plans, CalibrationData data, long[] labels,
                            Progress progress) {
        if (parents.size() != plans.size()) {
            throw new IllegalArgumentException(parents.size() + " parents but " + plans.size() + " plans");
        }
        if (method == ImportanceMethod.UNIFORM) {
            return Importance.uniform(plans.stream().map(p -> p.widths().stream().map(Math::toIntExact).toList())
                    .toList());
        }
        Objects.requireNonNull(data, "data");
        LevelPlan template = plans.get(0);
        List<String> classOutputs = template.heads().stream().filter(OutputHead::carriesClasses)
                .map(h -> "'" + h.output() + "'").toList();
        if (classOutputs.size() > 1 || template.lastLevel().index() != template.levels().size()) {
            throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, method.cliName() + " attributions explain one"
                    + " output, the logits of the last level; this model has " + classOutputs.size() + " outputs of"
                    + " classes (" + String.join(", ", classOutputs) + ")");
        }
        if (template.inputs().size() != 1 || !template.mainInput().floating()) {
            throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, method.cliName() + " attributions start from"
                    + " one float input; this model has the inputs " + template.inputs().stream()
                    .map(in -> "'" + in.name() + "' (" + in.elementType() + ")").toList());
        }
        if (labels != null) {
            checkLabels(labels, data, plans.get(0));
        }
        List<List<double[]>> all = new ArrayList<>();
        for (int k = 0; k < parents.size(); k++) {
            progress.parentStarted(k, parents.size());
            all.add(scoreParent("parent " + k, parents.get(k), plans.get(k), data, labels, progress));
        }
        return new Importance(method, labels != null ? "labels" : "predictions", all);
    }

    /**
     * {@code batchSize}, or fewer samples when all cuts of one batch would hold more than
     * {@link #CUT_ELEMENTS_PER_BATCH} elements (at least 1). Cuts of unknown size count as nothing.
     */
    public static int batchWithinBudget(LevelPlan plan, int batchSize) {
        long perSample = 0;
        for (Level level : plan.levels()) {
            long n = 1;
            for (Dim d : level.cutShape().subList(1, level.cutShape().size())) {
                n = d.isFixed() ? Math.multiplyExact(n, d.value()) : 0;
            }
            perSample += n;
        }
        if (perSample == 0) {
            return batchSize;
        }
        return (int) Math.max(1, Math.min(batchSize, CUT_ELEMENTS_PER_BATCH / perSample));
    }

    private static void checkLabels(long[] labels, CalibrationData data, LevelPlan plan) {
        if (labels.length != data.samples()) {
            throw new DataException(ErrorCode.DATA_SHAPE, "expected one label per calibration sample of "
                    + data.source() + " (" + data.samples() + "), found " + labels.length + " labels");
        }
        long classes = plan.lastLevel().width();
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                throw new DataException(ErrorCode.DATA_FORMAT, "label " + labels[i] + " at index " + i
                        + " is outside the model's classes [0, " + classes + ")");
            }
        }
    }

    private List<double[]> scoreParent(String label, Model parent, LevelPlan plan, CalibrationData data,
                                       long[] labels, Progress progress) {
        List<String> cuts = plan.cuts();
        String logits = classOutput(plan);
        List<NeuronScores> scores = new ArrayList<>();
        List<Integer> axes = new ArrayList<>();
        for (Level level : plan.levels()) {
            scores.add(new NeuronScores(Math.toIntExact(level.width())));
            axes.add(level.neuronAxis());
        }
        long total = data.samples();
        long done = 0;
        // The parent's own forward pass is needed for ablation (the cuts to ablate) and, without
        // labels, for the predicted classes; the gradient runners compute the cuts themselves.
        List<String> forwardOutputs = method == ImportanceMethod.ABLATION ? cuts
                : labels == null ? List.of(logits) : List.of();
        try (OrtRunner forward = forwardOutputs.isEmpty() ? null : OrtRunner.open(label, parent, forwardOutputs,
                threads);
             BatchAttribution attribution = open(label, parent, cuts, axes, logits)) {
            for (FloatBatch batch : data.reusedBatches(batchSize)) {
                Map<String, Activation> values = forward == null ? Map.of()
                        : forward.runShared(batch, forwardOutputs);
                long[] y = labels != null ? slice(labels, batch.firstSample(), batch.count())
                        : predictions(values.get(logits));
                List<Attribution> attr = attribution.attribute(batch, values, y);
                for (int i = 0; i < cuts.size(); i++) {
                    Attribution a = attr.get(i);
                    scores.get(i).add(a.values(), a.shape(), a.neuronAxis());
                }
                done += batch.count();
                progress.samplesScored(done, total);
            }
        }
        return scores.stream().map(NeuronScores::scores).toList();
    }

    /**
     * The signed attributions of one batch at every cut, in cut order (see {@link BatchAttribution}
     * for the shapes): what {@link #score} sums the absolute values of. For tests and diagnostics.
     */
    List<Attribution> attributions(Model parent, LevelPlan plan, FloatBatch batch, long[] labels) {
        if (method == ImportanceMethod.UNIFORM) {
            throw new IllegalStateException("uniform scores need no attribution");
        }
        List<String> cuts = plan.cuts();
        List<Integer> axes = plan.levels().stream().map(Level::neuronAxis).toList();
        try (OrtRunner forward = OrtRunner.open("parent", parent, cuts, threads);
             BatchAttribution attribution = open("parent", parent, cuts, axes, classOutput(plan))) {
            return attribution.attribute(batch, forward.run(batch, cuts), labels);
        }
    }

    /**
     * One cut's attributions for one batch, row-major: shaped like the cut (one per element), or
     * for ablation [samples, width] (one per neuron and sample). {@code values} may be a reused
     * buffer longer than the shape needs: only its first prod(shape) entries are the batch's.
     */
    record Attribution(double[] values, long[] shape, int neuronAxis) {
    }

    /**
     * One method's attributions at every cut for one batch, in cut order. {@code values} holds
     * the parent's cuts when the method needs them (ablation), else may be empty.
     */
    private interface BatchAttribution extends AutoCloseable {
        List<Attribution> attribute(FloatBatch batch, Map<String, Activation> values, long[] labels);

        @Override
        void close();
    }

    /** Trailing ops that turn per-position class maps into one logit per class. */
    private static final Set<String> POOLING = Set.of("GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool",
            "ReduceMean", "ReduceSum", "ReduceMax");

    /**
     * The value whose class logits the attributions explain: the last level's cut, unless its
     * classes are per-position maps that trailing ops pool into logits (a Conv head: Relu,
     * GlobalAveragePool, Flatten), then the value those ops end at, before any Softmax or
     * LogSoftmax (which normalise logits rather than make them).
     */
    private static String classOutput(LevelPlan plan) {
        int last = plan.levels().size();
        String cut = plan.cuts().get(plan.cuts().size() - 1);
        OutputHead head = plan.heads().stream().filter(h -> h.classLevel() == last).findFirst().orElse(null);
        if (head == null) {
            return cut;
        }
        String logits = cut;
        boolean pooled = false;
        for (LevelOp op : head.trailing()) {
            if (op.opType().equals("Softmax") || op.opType().equals("LogSoftmax")) {
                break;
            }
            pooled |= POOLING.contains(op.opType());
            logits = op.output();
        }
        return pooled ? logits : cut;
    }

    /**
     * The attributions at {@code cuts} of {@code output}'s logit of each sample's class: the
     * gradient graph runs on to {@code output} when it lies past the last cut.
     */
    private BatchAttribution open(String label, Model parent, List<String> cuts, List<Integer> axes, String output) {
        List<String> traced = new ArrayList<>(cuts);
        if (!traced.contains(output)) {
            traced.add(output);
        }
        return switch (method) {
            case CONDUCTANCE -> conductance(GradientRunner.open(label, parent, traced, GradientGraph.Rule.GRADIENT,
                    threads), cuts, axes);
            case DEEPLIFT -> deepLift(GradientRunner.open(label, parent, traced, GradientGraph.Rule.RESCALE, threads),
                    cuts, axes);
            case ABLATION -> ablation(FeatureAblation.openAll(label, parent, cuts, axes, threads), cuts);
            case UNIFORM -> throw new IllegalStateException("uniform scores need no attribution");
        };
    }

    /**
     * cond(x) = sum_{m=0..9} (y(alpha_{m+1} x) - y(alpha_m x)) * dF/dy(alpha_m x) per element of
     * each cut, alpha the Gauss-Legendre nodes on [0, 1] (ALGORITHM.md section 6 as written: the
     * path is sampled at the nodes, not weighted by their quadrature weights).
     */
    private static BatchAttribution conductance(GradientRunner runner, List<String> cuts, List<Integer> axes) {
        double[] alphas = GaussLegendre.unitNodes(CONDUCTANCE_POINTS);
        // kept across batches so that a pass allocates nothing once the batch size is known
        Buffers buffers = new Buffers(cuts.size());
        return new BatchAttribution() {
            private float[] scaled = new float[0];

            @Override
            public List<Attribution> attribute(FloatBatch batch, Map<String, Activation> values, long[] labels) {
                int size = batch.count() * batch.sampleSize();
                if (scaled.length < size) {
                    scaled = new float[size];
                }
                float[] x = batch.values();
                List<Attribution> out = new ArrayList<>();
                for (int m = 0; m < alphas.length; m++) {
                    for (int i = 0; i < size; i++) {
                        scaled[i] = (float) (alphas[m] * x[i]);
                    }
                    Map<String, GradientRunner.CutGradient> current = runner.run(scaled, batch.shape(), labels);
                    for (int c = 0; c < cuts.size(); c++) {
                        GradientRunner.CutGradient now = current.get(cuts.get(c));
                        float[] y1 = now.value().values();
                        int n = y1.length;
                        double[] a = buffers.attributions(c, n);
                        float[] y0 = buffers.previousValue(c, n);
                        float[] g0 = buffers.previousGradient(c, n);
                        if (m == 0) {
                            java.util.Arrays.fill(a, 0, n, 0.0);
                        } else {
                            for (int i = 0; i < n; i++) {
                                a[i] += ((double) y1[i] - y0[i]) * g0[i];
                            }
                        }
                        // the runner's arrays are overwritten by its next run
                        System.arraycopy(y1, 0, y0, 0, n);
                        System.arraycopy(now.gradient().values(), 0, g0, 0, n);
                        if (m == alphas.length - 1) {
                            out.add(new Attribution(a, now.value().shape(), axes.get(c)));
                        }
                    }
                }
                return out;
            }

            @Override
            public void close() {
                runner.close();
            }
        };
    }

    /** Per-cut arrays reused from batch to batch, grown when a cut has more elements than before. */
    private static final class Buffers {
        private final double[][] attributions;
        private final float[][] values;
        private final float[][] gradients;

        Buffers(int cuts) {
            attributions = new double[cuts][0];
            values = new float[cuts][0];
            gradients = new float[cuts][0];
        }

        double[] attributions(int cut, int size) {
            if (attributions[cut].length < size) {
                attributions[cut] = new double[size];
            }
            return attributions[cut];
        }

        float[] previousValue(int cut, int size) {
            if (values[cut].length < size) {
                values[cut] = new float[size];
            }
            return values[cut];
        }

        float[] previousGradient(int cut, int size) {
            if (gradients[cut].length < size) {
                gradients[cut] = new float[size];
            }
            return gradients[cut];
        }
    }

    /** DeepLIFT (rescale rule, zero baseline): (y(x) - y(0)) times the rescale multiplier, per element. */
    private static BatchAttribution deepLift(GradientRunner runner, List<String> cuts, List<Integer> axes) {
        Buffers buffers = new Buffers(cuts.size());
        return new BatchAttribution() {
            @Override
            public List<Attribution> attribute(FloatBatch batch, Map<String, Activation> values, long[] labels) {
                Map<String, GradientRunner.CutGradient> result = runner.run(batch.values(), batch.shape(), labels);
                List<Attribution> attr = new ArrayList<>();
                for (int c = 0; c < cuts.size(); c++) {
                    GradientRunner.CutGradient r = result.get(cuts.get(c));
                    float[] y = r.value().values();
                    float[] m = r.gradient().values();
                    float[] base = r.baseline().values();
                    double[] a = buffers.attributions(c, y.length);
                    for (int i = 0; i < y.length; i++) {
                        a[i] = ((double) y[i] - base[i % base.length]) * m[i];
                    }
                    attr.add(new Attribution(a, r.value().shape(), axes.get(c)));
                }
                return attr;
            }

            @Override
            public void close() {
                runner.close();
            }
        };
    }

    private static BatchAttribution ablation(List<FeatureAblation> ablations, List<String> cuts) {
        String logits = cuts.get(cuts.size() - 1);
        return new BatchAttribution() {
            @Override
            public List<Attribution> attribute(FloatBatch batch, Map<String, Activation> values, long[] labels) {
                List<Attribution> attr = new ArrayList<>();
                for (FeatureAblation a : ablations) {
                    Activation cut = values.get(a.cut());
                    long[] shape = {cut.shape()[0], a.width(cut)};
                    attr.add(new Attribution(a.attributions(cut, values.get(logits), labels), shape, 1));
                }
                return attr;
            }

            @Override
            public void close() {
                ablations.forEach(FeatureAblation::close);
            }
        };
    }

    private static long[] slice(long[] labels, long first, int count) {
        long[] y = new long[count];
        System.arraycopy(labels, Math.toIntExact(first), y, 0, count);
        return y;
    }

    /** Each row's arg max over the classes. */
    static long[] predictions(Activation logits) {
        int n = Math.toIntExact(logits.shape()[0]);
        int classes = logits.values().length / Math.max(1, n);
        long[] y = new long[n];
        float[] z = logits.values();
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (z[i * classes + c] > z[i * classes + best]) {
                    best = c;
                }
            }
            y[i] = best;
        }
        return y;
    }
}
