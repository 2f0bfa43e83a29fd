package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.CutRows;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.evaluate.BatchOutputs;
import org.onnxfuse.fusion.evaluate.ModelEvaluator;
import org.onnxfuse.fusion.group.HeadAssignment;
import org.onnxfuse.fusion.group.LinearAssignment;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.onnx.ir.Model;

/**
 * Activation matching / OT fusion (data-driven): every parent k >= 1 is aligned to parent 0
 * neuron space by neuron space by how its neurons behave on calibration data, then the aligned
 * weights are averaged ({@link SpaceAlignment} applies one alignment to every level and
 * per-neuron op the space touches).
 *
 * <p><b>Activations.</b> Each parent runs on the calibration data in ONNX Runtime with the member
 * cuts of its spaces as extra outputs ({@link NeuronSpace#cuts()}: the cut of every level
 * writing the space and the outputs of the joins that tie them; for a chain, each level's cut).
 * We match on the cut values themselves, i.e. <em>pre-activation</em> (after a folded
 * BatchNormalization), because the cut is the tensor the level plan names in every
 * architecture; the activation after it may be followed by pooling or be missing. Every
 * non-neuron axis (batch, spatial positions, tokens) counts as samples ({@link CutRows}). Since a
 * parent's own activations do not depend on how its spaces are aligned, one pass over the data
 * serves all spaces; it streams batch by batch and keeps only the sums below.
 *
 * <p><b>Cost.</b> C_ij = sum over the space's member cuts of ||a_i - b_j||^2 between parent 0's
 * neuron i and parent k's neuron j over all rows of the cut, computed from the streamed sums
 * ||a_i||^2, ||b_j||^2 and a_i . b_j. With fixed marginals the squared norms add the same to
 * every plan, so this is also the plan of greatest activation correlation (Git Re-Basin's
 * activation matching).
 *
 * <p><b>Matching.</b> Equal widths: the optimal permutation ({@link LinearAssignment}). Different
 * widths: the exact optimal transport plan T between uniform marginals a_i = 1/n_0 and b_j =
 * 1/n_k (importance scores can replace them later), solved as an integer min-cost flow with
 * masses n_k/g and n_0/g, g = gcd(n_0, n_k) ({@link Transport}). Fused neuron i is then the
 * barycentric projection sum_j T_ij / a_i * (parent k's neuron j), applied to the incoming
 * weights, to the input rows that read the neuron and to per-neuron parameters
 * ({@link NeuronMap}). The result has parent 0's widths. The classes are never moved.
 */
public final class ActivationMatching {
    public static final String NAME = "act-match";

    private ActivationMatching() {
    }

    /**
     * The template (parent 0) with every level's weights replaced by the mean of the aligned
     * parents.
     *
     * @param calibration inputs shaped like the model input (samples first)
     * @param batchSize   samples per ONNX Runtime run
     * @param threads     ONNX Runtime intra-op threads per parent session
     * @throws org.onnxfuse.onnx.errors.IncompatibleModelsException when the parents do not share one plan
     * @throws org.onnxfuse.onnx.errors.DataException when the data does not fit the model input
     */
    public static Model fuse(List<Model> parents, CalibrationData calibration, int batchSize, int threads) {
        return fuse(Parents.of(parents), calibration, batchSize, threads);
    }

    /** As {@link #fuse(List, CalibrationData, int, int)} with the parents' plans, made and compared by the caller. */
    public static Model fuse(List<Model> parents, List<LevelPlan> plans, CalibrationData calibration, int batchSize,
                             int threads) {
        return fuse(Parents.of(parents, plans), calibration, batchSize, threads);
    }

    private static Model fuse(Parents p, CalibrationData calibration, int batchSize, int threads) {
        return p.write(p.alignAndAverage(align(p, calibration, batchSize, threads)), NAME);
    }

    /** The alignment of every parent k >= 1 (list index k - 1) to parent 0, one map per movable space. */
    static List<SpaceAlignment> align(Parents p, CalibrationData calibration, int batchSize, int threads) {
        List<Integer> spaces = p.movableSpaces();
        CutSums[][][] sums = collect(p, spaces, calibration, batchSize, threads);
        List<SpaceAlignment> alignments = new ArrayList<>();
        for (int k = 1; k < p.count(); k++) {
            Map<Integer, NeuronMap> maps = new TreeMap<>();
            for (int t = 0; t < spaces.size(); t++) {
                NeuronSpace space = p.plan(0).space(spaces.get(t));
                if (maps.containsKey(space.id())) {
                    continue;
                }
                if (!space.headed()) {
                    maps.put(space.id(), match(cost(sums[k - 1][t])));
                    continue;
                }
                // attention heads move whole, in one order for the spaces that share it
                p.requireEqualWidths(NAME + " of attention heads");
                List<Integer> together = space.headOrder().stream().filter(spaces::contains).toList();
                List<double[][]> own = new ArrayList<>();
                for (int id : together) {
                    own.add(cost(sums[k - 1][spaces.indexOf(id)]));
                }
                List<int[]> best = HeadAssignment.solve(own, space.heads());
                for (int x = 0; x < together.size(); x++) {
                    maps.put(together.get(x), NeuronMap.permutation(best.get(x), best.get(x).length));
                }
            }
            alignments.add(SpaceAlignment.of(p.plan(k), maps));
        }
        return alignments;
    }

    /** The summed cost over a space's member cuts. */
    private static double[][] cost(CutSums[] perCut) {
        double[][] c = perCut[0].cost();
        for (int m = 1; m < perCut.length; m++) {
            double[][] more = perCut[m].cost();
            for (int i = 0; i < c.length; i++) {
                for (int j = 0; j < c[i].length; j++) {
                    c[i][j] += more[i][j];
                }
            }
        }
        return c;
    }

    /** The map of parent k's neurons (columns of cost) onto parent 0's (rows). */
    static NeuronMap match(double[][] cost) {
        int n0 = cost.length;
        int nk = cost[0].length;
        if (n0 == nk) {
            return NeuronMap.permutation(LinearAssignment.solve(cost), nk);
        }
        long g = gcd(n0, nk);
        long[] supply = new long[n0];
        long[] demand = new long[nk];
        Arrays.fill(supply, nk / g);
        Arrays.fill(demand, n0 / g);
        return NeuronMap.barycentric(Transport.solve(cost, supply, demand), nk);
    }

    private static long gcd(long a, long b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /**
     * Streams the calibration data through every parent; sums[k - 1][t][m] pairs parent 0 and k at
     * member cut m of space {@code spaces.get(t)}.
     */
    private static CutSums[][][] collect(Parents p, List<Integer> spaces, CalibrationData calibration, int batchSize,
                                         int threads) {
        CutSums[][][] sums = new CutSums[p.count() - 1][spaces.size()][];
        for (int k = 1; k < p.count(); k++) {
            for (int t = 0; t < spaces.size(); t++) {
                int s = spaces.get(t);
                int cuts = p.plan(0).space(s).cuts().size();
                sums[k - 1][t] = new CutSums[cuts];
                for (int m = 0; m < cuts; m++) {
                    sums[k - 1][t][m] = new CutSums(p.spaceWidth(0, s), p.spaceWidth(k, s));
                }
            }
        }
        if (spaces.isEmpty()) {
            return sums;
        }
        List<ModelEvaluator> evaluators = new ArrayList<>();
        try {
            for (int k = 0; k < p.count(); k++) {
                Set<String> cuts = new LinkedHashSet<>();
                for (int s : spaces) {
                    cuts.addAll(p.plan(k).space(s).cuts());
                }
                ModelEvaluator e = ModelEvaluator.open(p.model(k), List.copyOf(cuts), threads);
                evaluators.add(e);
                e.checkData(calibration);
            }
            for (InputBatch batch : calibration.inputBatches(batchSize)) {
                float[][][] rows0 = rows(p, 0, spaces, evaluators.get(0).run(batch));
                for (int k = 1; k < p.count(); k++) {
                    float[][][] rowsk = rows(p, k, spaces, evaluators.get(k).run(batch));
                    for (int t = 0; t < spaces.size(); t++) {
                        for (int m = 0; m < rows0[t].length; m++) {
                            sums[k - 1][t][m].add(rows0[t][m], rowsk[t][m]);
                        }
                    }
                }
            }
        } finally {
            evaluators.forEach(ModelEvaluator::close);
        }
        return sums;
    }

    /** Parent k's member cuts of {@code spaces} in {@code out}, each as rows x neurons: [space][cut]. */
    private static float[][][] rows(Parents p, int k, List<Integer> spaces, BatchOutputs out) {
        LevelPlan plan = p.plan(k);
        float[][][] rows = new float[spaces.size()][][];
        for (int t = 0; t < spaces.size(); t++) {
            List<String> cuts = plan.space(spaces.get(t)).cuts();
            rows[t] = new float[cuts.size()][];
            for (int m = 0; m < cuts.size(); m++) {
                rows[t][m] = CutRows.flatten(out.get(cuts.get(m)), neuronAxis(plan, spaces.get(t), cuts.get(m)));
            }
        }
        return rows;
    }

    /**
     * The neuron axis of member cut {@code cut} of space {@code s}: that of the level or join
     * writing it, else that of the space's first level.
     */
    private static int neuronAxis(LevelPlan plan, int s, String cut) {
        for (Level level : plan.levels()) {
            if (level.cut().equals(cut)) {
                return level.neuronAxis();
            }
        }
        for (LevelOp join : plan.joins()) {
            if (join.output().equals(cut) && join.neuronAxis() >= 0) {
                return join.neuronAxis();
            }
        }
        return plan.level(plan.space(s).levels().get(0)).neuronAxis();
    }

    /** Streamed sums over the rows of one cut for parent 0 (n0 neurons) and parent k (nk). */
    private static final class CutSums {
        private final int n0;
        private final int nk;
        private final double[] cross;
        private final double[] norm0;
        private final double[] normk;

        CutSums(int n0, int nk) {
            this.n0 = n0;
            this.nk = nk;
            this.cross = new double[n0 * nk];
            this.norm0 = new double[n0];
            this.normk = new double[nk];
        }

        /** Adds row-major rows x n0 and rows x nk blocks of the same samples. */
        void add(float[] a, float[] b) {
            int rows = a.length / n0;
            if (rows * n0 != a.length || rows * nk != b.length) {
                throw new IllegalStateException("cut rows disagree: " + a.length + " values for " + n0 + " neurons, "
                        + b.length + " for " + nk);
            }
            for (int r = 0; r < rows; r++) {
                int ab = r * n0;
                int bb = r * nk;
                for (int j = 0; j < nk; j++) {
                    double y = b[bb + j];
                    normk[j] += y * y;
                }
                for (int i = 0; i < n0; i++) {
                    double x = a[ab + i];
                    norm0[i] += x * x;
                    if (x == 0) {
                        continue;
                    }
                    int cb = i * nk;
                    for (int j = 0; j < nk; j++) {
                        cross[cb + j] += x * b[bb + j];
                    }
                }
            }
        }

        double[][] cost() {
            double[][] c = new double[n0][nk];
            for (int i = 0; i < n0; i++) {
                for (int j = 0; j < nk; j++) {
                    c[i][j] = Math.max(0, norm0[i] + normk[j] - 2 * cross[i * nk + j]);
                }
            }
            return c;
        }
    }
}
