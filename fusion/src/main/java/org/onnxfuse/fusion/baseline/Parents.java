package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.InputLayout;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.fusion.solve.LevelWriter;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;

/**
 * K >= 2 parents planned and checked to share one plan up to widths, with each level's weights
 * read once as a fan-in x width matrix (row-major double[][]: rows are input features then the
 * bias, columns neurons; a BatchNormalization folded in). Parent 0 is the template.
 */
final class Parents {
    /** Metadata key recording which baseline made a model. */
    static final String METHOD_KEY = "onnx-fuse.baseline";

    private final List<Model> models;
    private final List<LevelPlan> plans;
    private final List<String> names;
    private final List<List<double[][]>> weights = new ArrayList<>();

    private Parents(List<Model> models, List<LevelPlan> plans, List<String> names) {
        this.models = List.copyOf(models);
        this.plans = List.copyOf(plans);
        this.names = List.copyOf(names);
        for (int k = 0; k < models.size(); k++) {
            List<double[][]> perLevel = new ArrayList<>();
            for (Level level : plans.get(k).levels()) {
                perLevel.add(toRows(LevelWeights.read(models.get(k).graph(), level)));
            }
            weights.add(perLevel);
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
        List<String> names = new ArrayList<>();
        for (int k = 0; k < models.size(); k++) {
            names.add("parent " + k);
        }
        PlanComparison.requireCompatible(plans, names);
        if (!plans.get(0).sequential()) {
            throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "the baselines (average, weight-match,"
                    + " act-match) align sequential networks only so far, and these parents join branches (residual"
                    + " adds, concatenations, depthwise or gated blocks); use kf-linear or hf-linear");
        }
        return new Parents(models, plans, names);
    }

    private static double[][] toRows(AffineWeights w) {
        double[][] out = new double[w.rows()][w.cols()];
        for (int r = 0; r < w.rows(); r++) {
            for (int c = 0; c < w.cols(); c++) {
                out[r][c] = w.get(r, c);
            }
        }
        return out;
    }

    int count() {
        return models.size();
    }

    /** Number of levels (the same for every parent). */
    int levels() {
        return plans.get(0).levels().size();
    }

    Model model(int k) {
        return models.get(k);
    }

    String name(int k) {
        return names.get(k);
    }

    /** Level {@code l} (1-based) of parent {@code k}. */
    Level level(int k, int l) {
        return plans.get(k).level(l);
    }

    int width(int k, int l) {
        return Math.toIntExact(level(k, l).width());
    }

    /** Parent k's weights at level l (1-based); shared, do not modify. */
    double[][] weights(int k, int l) {
        return weights.get(k).get(l - 1);
    }

    /**
     * How level l's input features belong to the neurons of cut l - 1 ({@link InputLayout}:
     * contiguous blocks after a Flatten of [N, C, H, W], interleaved after a channels-last
     * Transpose, kernel offsets for a Conv).
     *
     * @throws UnsupportedOpException when the ops between the cuts mix the features otherwise
     */
    InputLayout layout(int k, int l) {
        Level level = level(k, l);
        return InputLayout.of(level(k, l - 1), level).orElseThrow(() -> new UnsupportedOpException(
                ErrorCode.UNSUPPORTED_OP, "level " + l + " of " + name(k) + " reads " + (level.fanIn()
                - (level.hasBias() ? 1 : 0)) + " input features of " + level.affine().describe() + " in an order"
                + " that does not follow the " + level(k, l - 1).width() + " neurons of cut " + (l - 1)));
    }

    /**
     * Requires the same width at every level in all parents.
     *
     * @throws IncompatibleModelsException naming the first level whose widths differ
     */
    void requireEqualWidths(String method) {
        for (int l = 1; l <= levels(); l++) {
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

    /**
     * Aligns every parent to parent 0 with {@code maps} and averages: parent k's level-l weights
     * get their input rows mapped by its cut-(l-1) map and their columns by its cut-l map
     * (none at the last level: classes stay in place), then the K aligned matrices are averaged
     * elementwise.
     *
     * @param maps for each parent k >= 1 (index k - 1), the maps of cuts 1 .. L-1 to parent 0's
     *             neurons
     */
    List<double[][]> alignAndAverage(List<List<NeuronMap>> maps) {
        List<double[][]> fused = new ArrayList<>();
        for (int l = 1; l <= levels(); l++) {
            double[][] sum = copy(weights(0, l));
            for (int k = 1; k < count(); k++) {
                double[][] aligned = aligned(k, l, maps.get(k - 1));
                if (aligned.length != sum.length || aligned[0].length != sum[0].length) {
                    throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "level " + l + ": "
                            + name(k) + "'s weights align to " + aligned.length + " x " + aligned[0].length
                            + " where parent 0 has " + sum.length + " x " + sum[0].length);
                }
                add(sum, aligned);
            }
            scale(sum, 1.0 / count());
            fused.add(sum);
        }
        return fused;
    }

    /** Parent k's level-l weights in parent 0's neuron order at cuts l - 1 and l. */
    double[][] aligned(int k, int l, List<NeuronMap> maps) {
        double[][] w = weights(k, l);
        if (l > 1) {
            w = maps.get(l - 2).mapInputRows(w, level(k, l).hasBias(), layout(k, l));
        }
        if (l < levels()) {
            w = maps.get(l - 1).mapColumns(w);
        }
        return w;
    }

    /** The template (parent 0) with every level's weights replaced, recording {@code method}. */
    Model write(List<double[][]> fused, String method) {
        Graph graph = models.get(0).graph();
        for (int l = 1; l <= levels(); l++) {
            Level next = l < levels() ? level(0, l + 1) : null;
            graph = LevelWriter.write(graph, level(0, l), next, DenseMatrix.fromRows(fused.get(l - 1)));
        }
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
