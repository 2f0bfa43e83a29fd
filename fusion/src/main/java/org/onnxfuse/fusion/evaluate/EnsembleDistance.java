package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.onnx.ir.Model;

/**
 * How close a candidate fused model's outputs are to the parents' ensemble (the mean of their
 * softmax outputs) on calibration rows, with no labels: what kf-linear compares when it fuses with
 * two groupings and keeps one (ALGORITHM.md section 3, "Choosing the grouping"); the check without
 * labels ({@link AgreementCheck}) reports the same figures for the fused model.
 *
 * @param crossEntropy mean over the rows of -sum_c p_ensemble(c) log softmax(candidate)(c), in nats: the
 *                     candidate's KL divergence from the ensemble plus the ensemble's entropy, which is
 *                     the same for every candidate
 * @param logitError   ||candidate - mean of the parents' logits||_F / ||mean||_F over the rows
 * @param agreement    fraction of the rows where the candidate predicts the ensemble's class
 */
public record EnsembleDistance(double crossEntropy, double logitError, double agreement) {

    /**
     * Runs the candidates and the parents (one model at a time) on rows {@code [first, first + count)}
     * of {@code data}; one distance per candidate, in order. Each model's first output is its logits.
     *
     * @throws IllegalArgumentException if the range is empty or outside the data
     */
    public static List<EnsembleDistance> measure(List<Model> candidates, List<Model> parents, CalibrationData data,
                                                 long first, int count, int batchSize, int threads) {
        if (count < 1 || first < 0 || first + count > data.samples()) {
            throw new IllegalArgumentException("rows [" + first + ", " + (first + count) + ") are not within the "
                    + data.samples() + " calibration samples");
        }
        List<Model> models = new ArrayList<>(candidates);
        models.addAll(parents);
        return of(ClassifierRun.logitsOneAtATime(models, data, first, count, batchSize, threads), candidates.size(),
                count, batchSize);
    }

    /**
     * The distances of the first {@code n} models of {@code logits} (each model's batches of
     * {@code batchSize} rows, {@code count} rows in all, as {@link ClassifierRun} gives them) to the
     * ensemble of the others, the parents.
     */
    static List<EnsembleDistance> of(List<List<float[]>> logits, int n, int count, int batchSize) {
        int parents = logits.size() - n;
        double[] crossEntropy = new double[n];
        double[] difference = new double[n];
        long[] agree = new long[n];
        double norm = 0;
        for (int b = 0; b < logits.get(0).size(); b++) {
            int rows = (int) Math.min(batchSize, count - (long) b * batchSize);
            int classes = logits.get(0).get(b).length / rows;
            // the sum of the parents' probabilities: the ensemble's times the parent count
            double[] ensemble = new double[rows * classes];
            double[] meanLogits = new double[rows * classes];
            for (int k = n; k < logits.size(); k++) {
                float[] parent = logits.get(k).get(b);
                Scores.addSoftmax(parent, rows, classes, ensemble);
                for (int i = 0; i < meanLogits.length; i++) {
                    meanLogits[i] += parent[i] / parents;
                }
            }
            for (double v : meanLogits) {
                norm += v * v;
            }
            for (int k = 0; k < n; k++) {
                float[] own = logits.get(k).get(b);
                for (int r = 0; r < rows; r++) {
                    double logZ = Scores.logSumExp(own, r, classes);
                    for (int c = 0; c < classes; c++) {
                        int i = r * classes + c;
                        crossEntropy[k] -= ensemble[i] / parents * (own[i] - logZ);
                        double d = own[i] - meanLogits[i];
                        difference[k] += d * d;
                    }
                    if (Scores.argmax(own, r, classes) == Scores.argmax(ensemble, r, classes)) {
                        agree[k]++;
                    }
                }
            }
        }
        List<EnsembleDistance> out = new ArrayList<>(n);
        for (int k = 0; k < n; k++) {
            out.add(new EnsembleDistance(crossEntropy[k] / count, norm > 0 ? Math.sqrt(difference[k] / norm)
                    : Math.sqrt(difference[k]), (double) agree[k] / count));
        }
        return out;
    }
}
