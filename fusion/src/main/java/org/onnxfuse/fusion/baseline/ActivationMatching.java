package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.onnxfuse.fusion.collect.CutRows;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.evaluate.BatchOutputs;
import org.onnxfuse.fusion.evaluate.ModelEvaluator;
import org.onnxfuse.fusion.group.LinearAssignment;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.onnx.ir.Model;

/**
 * Activation matching / OT fusion (data-driven): every parent k >= 1 is aligned to parent 0 cut
 * by cut by how its neurons behave on calibration data, then the aligned weights are averaged.
 *
 * <p><b>Activations.</b> Each parent runs on the calibration data in ONNX Runtime with its cut
 * tensors as extra outputs. We match on the cut values themselves, i.e. <em>pre-activation</em>
 * (after a folded BatchNormalization), because the cut is the tensor the level plan names in
 * every architecture; the activation after it may be followed by pooling or be missing. Every
 * non-neuron axis (batch, spatial positions, tokens) counts as samples ({@link CutRows}). Since a
 * parent's own activations do not depend on how its earlier cuts are aligned, one pass over the
 * data serves all cuts; it streams batch by batch and keeps only the sums below.
 *
 * <p><b>Cost.</b> C_ij = ||a_i - b_j||^2 between parent 0's neuron i and parent k's neuron j over
 * all rows, computed from the streamed sums ||a_i||^2, ||b_j||^2 and a_i . b_j. With fixed
 * marginals the squared norms add the same to every plan, so this is also the plan of greatest
 * activation correlation (Git Re-Basin's activation matching).
 *
 * <p><b>Matching.</b> Equal widths: the optimal permutation ({@link LinearAssignment}). Different
 * widths: the exact optimal transport plan T between uniform marginals a_i = 1/n_0 and b_j =
 * 1/n_k (importance scores can replace them later), solved as an integer min-cost flow with
 * masses n_k/g and n_0/g, g = gcd(n_0, n_k) ({@link Transport}). Fused neuron i is then the
 * barycentric projection sum_j T_ij / a_i * (parent k's neuron j), applied to the incoming
 * weights and to the next level's input rows ({@link NeuronMap}). The result has parent 0's
 * widths.
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
        Parents p = Parents.of(parents);
        List<List<NeuronMap>> maps = align(p, calibration, batchSize, threads);
        return p.write(p.alignAndAverage(maps), NAME);
    }

    /** Maps of cuts 1..L-1 for every parent k >= 1 (list index k - 1). */
    static List<List<NeuronMap>> align(Parents p, CalibrationData calibration, int batchSize, int threads) {
        CutSums[][] sums = collect(p, calibration, batchSize, threads);
        List<List<NeuronMap>> maps = new ArrayList<>();
        for (int k = 1; k < p.count(); k++) {
            List<NeuronMap> perCut = new ArrayList<>();
            for (int l = 1; l < p.levels(); l++) {
                perCut.add(match(sums[k - 1][l - 1].cost()));
            }
            maps.add(perCut);
        }
        return maps;
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

    /** Streams the calibration data through every parent; sums[k - 1][l - 1] pairs parent 0 and k at cut l. */
    private static CutSums[][] collect(Parents p, CalibrationData calibration, int batchSize, int threads) {
        int hidden = p.levels() - 1;
        CutSums[][] sums = new CutSums[p.count() - 1][hidden];
        for (int k = 1; k < p.count(); k++) {
            for (int l = 1; l <= hidden; l++) {
                sums[k - 1][l - 1] = new CutSums(p.width(0, l), p.width(k, l));
            }
        }
        if (hidden == 0) {
            return sums;
        }
        List<ModelEvaluator> evaluators = new ArrayList<>();
        try {
            for (int k = 0; k < p.count(); k++) {
                List<String> cuts = new ArrayList<>();
                for (int l = 1; l <= hidden; l++) {
                    cuts.add(p.level(k, l).cut());
                }
                ModelEvaluator e = ModelEvaluator.open(p.model(k), cuts, threads);
                evaluators.add(e);
                e.checkShape(calibration.source(), calibration.shape());
            }
            Iterator<FloatBatch> batches = calibration.batches(batchSize).iterator();
            while (batches.hasNext()) {
                FloatBatch batch = batches.next();
                BatchOutputs out0 = evaluators.get(0).run(batch);
                float[][] rows0 = new float[hidden][];
                for (int l = 1; l <= hidden; l++) {
                    rows0[l - 1] = rows(out0, p.level(0, l));
                }
                for (int k = 1; k < p.count(); k++) {
                    BatchOutputs outk = evaluators.get(k).run(batch);
                    for (int l = 1; l <= hidden; l++) {
                        sums[k - 1][l - 1].add(rows0[l - 1], rows(outk, p.level(k, l)));
                    }
                }
            }
        } finally {
            evaluators.forEach(ModelEvaluator::close);
        }
        return sums;
    }

    private static float[] rows(BatchOutputs out, Level level) {
        return CutRows.flatten(out.get(level.cut()), level.neuronAxis());
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
