package org.onnxfuse.fusion.group;

import java.util.Arrays;

/**
 * The one place where importance scores are checked and normalised for grouping.
 *
 * <p>KF-linear normalises each parent's scores to sum 1 (ALGORITHM.md section 6, "uniform"), so a
 * parent's total influence on the clustering does not depend on its width or on the scale of its
 * attributions. HF uses the scores as given (its pair weights s_i / (s_i + s_j) are the paper's).
 */
public final class ImportanceScores {
    private ImportanceScores() {
    }

    /** s_i = 1 for every neuron. */
    public static double[] uniform(NeuronLayout layout) {
        double[] s = new double[layout.neurons()];
        Arrays.fill(s, 1.0);
        return s;
    }

    /**
     * A copy of {@code scores} scaled so that each parent's scores sum to 1.
     *
     * @throws IllegalArgumentException unless there is one finite score > 0 per neuron
     */
    public static double[] normalisedPerParent(NeuronLayout layout, double[] scores) {
        double[] s = validated(layout, scores);
        for (int k = 0; k < layout.parents(); k++) {
            int from = layout.offset(k);
            int to = from + layout.width(k);
            double sum = 0.0;
            for (int i = from; i < to; i++) {
                sum += s[i];
            }
            for (int i = from; i < to; i++) {
                s[i] /= sum;
            }
        }
        return s;
    }

    /** A copy of {@code scores} after checking there is one finite score > 0 per neuron. */
    static double[] validated(NeuronLayout layout, double[] scores) {
        if (scores == null) {
            throw new IllegalArgumentException("expected " + layout.neurons() + " importance scores, found none");
        }
        if (scores.length != layout.neurons()) {
            throw new IllegalArgumentException("expected " + layout.neurons() + " importance scores (one per neuron of "
                    + layout + "), found " + scores.length);
        }
        for (int i = 0; i < scores.length; i++) {
            if (!(scores[i] > 0) || Double.isInfinite(scores[i])) {
                throw new IllegalArgumentException("importance score of neuron " + i + " must be finite and > 0, found "
                        + scores[i]);
            }
        }
        return scores.clone();
    }
}
