package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;

/**
 * K >= 2 parents planned and checked to share one plan up to widths, with each one's weights
 * read once ({@link ModelWeights}: a fan-in x width matrix per level, an affine form per
 * per-neuron op). Parent 0 is the template.
 */
final class Parents {
    /** Metadata key recording which baseline made a model. */
    static final String METHOD_KEY = "onnx-fuse.baseline";

    private final List<Model> models;
    private final List<LevelPlan> plans;
    private final List<String> names;
    private final List<ModelWeights> weights = new ArrayList<>();

    private Parents(List<Model> models, List<LevelPlan> plans, List<String> names) {
        this.models = List.copyOf(models);
        this.plans = List.copyOf(plans);
        this.names = List.copyOf(names);
        for (int k = 0; k < models.size(); k++) {
            weights.add(ModelWeights.read(models.get(k).graph(), plans.get(k)));
        }
    }

    /**
     * Plans {@code models} and checks that they share one plan.
     *
     * @throws IncompatibleModelsException at the first difference, or for fewer than two parents
     */
    static Parents of(List<Model> models) {
        if (models.size() < 2) {
            throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "fusion needs at least 2 parents, got "
                    + models.size());
        }
        List<LevelPlan> plans = models.stream().map(LevelPlanner::plan).toList();
        PlanComparison.requireCompatible(plans, names(models.size()));
        return new Parents(models, plans, names(models.size()));
    }

    /** {@code models} with the plans the caller made and compared already (one per model). */
    static Parents of(List<Model> models, List<LevelPlan> plans) {
        if (models.size() < 2 || plans.size() != models.size()) {
            throw new IllegalArgumentException(models.size() + " parents with " + plans.size() + " plans; expected at"
                    + " least 2 parents, one plan each");
        }
        return new Parents(models, plans, names(models.size()));
    }

    private static List<String> names(int count) {
        List<String> names = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            names.add("parent " + k);
        }
        return names;
    }

    int count() {
        return models.size();
    }

    Model model(int k) {
        return models.get(k);
    }

    LevelPlan plan(int k) {
        return plans.get(k);
    }

    /** Level {@code l} (1-based) of parent {@code k}. */
    Level level(int k, int l) {
        return plans.get(k).level(l);
    }

    int width(int k, int l) {
        return Math.toIntExact(level(k, l).width());
    }

    /** Neurons of space {@code s} in parent {@code k}. */
    int spaceWidth(int k, int s) {
        return Math.toIntExact(plans.get(k).space(s).width());
    }

    /** The spaces the baselines align: all but those of classes, in id order (the same in every parent). */
    List<Integer> movableSpaces() {
        return SpaceAlignment.movableSpaces(plans.get(0));
    }

    /** Parent k's weights; shared, do not modify. */
    ModelWeights weights(int k) {
        return weights.get(k);
    }

    /**
     * Requires the same width at every level in all parents.
     *
     * @throws IncompatibleModelsException naming the first level whose widths differ
     */
    void requireEqualWidths(String method) {
        for (int l = 1; l <= plans.get(0).levels().size(); l++) {
            for (int k = 1; k < count(); k++) {
                if (width(k, l) != width(0, l)) {
                    Level level = level(0, l);
                    throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, method + " needs equal"
                            + " widths, but at level " + l + " (" + level.affine().describe() + ", cut '" + level.cut()
                            + "') parent 0 has " + width(0, l) + " neurons and " + name(k) + " has " + width(k, l)
                            + "; use act-match, which fuses different widths by optimal transport");
                }
            }
        }
    }

    private String name(int k) {
        return names.get(k);
    }

    /**
     * Aligns every parent to parent 0 and averages: parent k's weights mapped by
     * {@code alignments.get(k - 1)} (level input rows and columns, per-neuron parameters), then
     * the K aligned matrices of each level and per-neuron op averaged elementwise.
     */
    ModelWeights alignAndAverage(List<SpaceAlignment> alignments) {
        List<ModelWeights> aligned = new ArrayList<>();
        aligned.add(weights(0));
        for (int k = 1; k < count(); k++) {
            aligned.add(alignments.get(k - 1).apply(weights(k)));
        }
        List<double[][]> levels = new ArrayList<>();
        for (Level level : plans.get(0).levels()) {
            int l = level.index();
            levels.add(mean(aligned.stream().map(w -> w.level(l)).toList(), "level " + l + ": ", "weights"));
        }
        List<double[][]> ops = new ArrayList<>();
        for (int i = 0; i < plans.get(0).perNeuron().size(); i++) {
            int op = i;
            ops.add(mean(aligned.stream().map(w -> w.perNeuron(op)).toList(), plans.get(0).perNeuron().get(i).op()
                    .describe() + ": ", "parameters"));
        }
        return new ModelWeights(levels, ops);
    }

    /** The elementwise mean of the parents' aligned matrices {@code perParent}, summed in parent order. */
    private double[][] mean(List<double[][]> perParent, String where, String what) {
        double[][] sum = copy(perParent.get(0));
        for (int k = 1; k < count(); k++) {
            double[][] aligned = perParent.get(k);
            if (aligned.length != sum.length || aligned[0].length != sum[0].length) {
                throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, where + name(k) + "'s " + what
                        + " align to " + aligned.length + " x " + aligned[0].length + " where parent 0 has "
                        + sum.length + " x " + sum[0].length);
            }
            add(sum, aligned);
        }
        scale(sum, 1.0 / count());
        return sum;
    }

    /** The template (parent 0) with every level's weights and per-neuron op replaced, recording {@code method}. */
    Model write(ModelWeights fused, String method) {
        Graph graph = fused.write(models.get(0).graph(), plans.get(0), level -> true, op -> true);
        Map<String, String> metadata = new LinkedHashMap<>(models.get(0).metadata());
        metadata.put(METHOD_KEY, method);
        return models.get(0).withGraph(graph).withMetadata(metadata);
    }

    static double[][] copy(double[][] w) {
        double[][] out = new double[w.length][];
        for (int r = 0; r < w.length; r++) {
            out[r] = w[r].clone();
        }
        return out;
    }

    private static void add(double[][] sum, double[][] w) {
        for (int r = 0; r < sum.length; r++) {
            for (int c = 0; c < sum[r].length; c++) {
                sum[r][c] += w[r][c];
            }
        }
    }

    private static void scale(double[][] w, double f) {
        for (double[] row : w) {
            for (int c = 0; c < row.length; c++) {
                row[c] *= f;
            }
        }
    }
}
