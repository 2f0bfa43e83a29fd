package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.onnx.ir.Model;

/**
 * A check of the fused model that needs no labels: on calibration rows (held out from the fusion
 * when there are any), how often its predicted class (argmax) is the ensemble's (mean of the
 * parents' softmax outputs) and each parent's, and how far its logits are from the parents' mean
 * logits, as ||fused - mean||_F / ||mean||_F over all rows and classes.
 *
 * @param firstSample     the first calibration row checked
 * @param samples         rows checked
 * @param heldOut         whether those rows were left out of the fusion (else every row was used)
 * @param ensemble        fraction of rows where the fused model predicts the ensemble's class
 * @param parents         the same fraction for each parent's own prediction
 * @param logitError      relative Frobenius distance of the fused logits to the parents' mean logits
 */
public record AgreementCheck(long firstSample, int samples, boolean heldOut, double ensemble, List<Double> parents,
                             double logitError) {
    public AgreementCheck {
        parents = List.copyOf(parents);
    }

    /**
     * Runs the fused model and the parents on rows {@code [first, first + count)} of {@code data}.
     *
     * @param heldOut recorded as given: whether the fusion left these rows out
     * @throws IllegalArgumentException if the range is empty or outside the data
     */
    public static AgreementCheck run(Model fused, List<Model> parents, CalibrationData data, long first, int count,
                                     boolean heldOut, int batchSize, int threads) {
        if (count < 1 || first < 0 || first + count > data.samples()) {
            throw new IllegalArgumentException("check rows [" + first + ", " + (first + count) + ") are not within the "
                    + data.samples() + " calibration samples");
        }
        List<Model> models = new ArrayList<>();
        models.add(fused);
        models.addAll(parents);
        // one session at a time: the models may each be as large as the memory allows
        List<List<float[]>> all = ClassifierRun.logitsOneAtATime(models, data, first, count, batchSize, threads);
        EnsembleDistance distance = EnsembleDistance.of(all, 1, count, batchSize).get(0);
        long[] agreeParent = new long[parents.size()];
        for (int b = 0; b < all.get(0).size(); b++) {
            float[] own = all.get(0).get(b);
            int rows = (int) Math.min(batchSize, count - (long) b * batchSize);
            int classes = own.length / rows;
            for (int r = 0; r < rows; r++) {
                int predicted = Scores.argmax(own, r, classes);
                for (int k = 0; k < parents.size(); k++) {
                    if (predicted == Scores.argmax(all.get(k + 1).get(b), r, classes)) {
                        agreeParent[k]++;
                    }
                }
            }
        }
        List<Double> perParent = new ArrayList<>();
        for (long a : agreeParent) {
            perParent.add((double) a / count);
        }
        return new AgreementCheck(first, count, heldOut, distance.agreement(), perParent, distance.logitError());
    }
}
