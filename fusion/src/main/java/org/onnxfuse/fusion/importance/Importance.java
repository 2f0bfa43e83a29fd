package org.onnxfuse.fusion.importance;

import java.util.Arrays;
import java.util.List;

/**
 * Importance scores of every neuron of every level of every parent, as one method gave them.
 * Immutable.
 *
 * @param method      how they were scored
 * @param labelSource where the class whose logit F is came from: "labels" (the calibration
 *                    labels), "predictions" (each parent's own predicted class) or "none" (uniform)
 */
public record Importance(ImportanceMethod method, String labelSource, List<List<double[]>> perParent) {
    public Importance {
        perParent = perParent.stream().map(levels -> levels.stream().map(double[]::clone).toList()).toList();
    }

    /** s_j = 1 for every neuron of every level. */
    public static Importance uniform(List<List<Integer>> widths) {
        return new Importance(ImportanceMethod.UNIFORM, "none", widths.stream().map(levels -> levels.stream()
                .map(w -> {
                    double[] s = new double[w];
                    Arrays.fill(s, 1.0);
                    return s;
                }).toList()).toList());
    }

    public int parents() {
        return perParent.size();
    }

    /** Parent {@code parent}'s scores at level {@code level} (1-based), one per neuron; a copy. */
    public double[] of(int parent, int level) {
        return perParent.get(parent).get(level - 1).clone();
    }

    /** These scores with level {@code level} (1-based) replaced by {@code scores}, one array per parent. */
    public Importance withLevel(int level, List<double[]> scores) {
        if (scores.size() != perParent.size()) {
            throw new IllegalArgumentException(scores.size() + " score arrays for " + perParent.size() + " parents");
        }
        List<List<double[]>> out = new java.util.ArrayList<>();
        for (int k = 0; k < perParent.size(); k++) {
            List<double[]> levels = new java.util.ArrayList<>(perParent.get(k));
            if (scores.get(k).length != levels.get(level - 1).length) {
                throw new IllegalArgumentException("parent " + k + ": " + scores.get(k).length + " scores for "
                        + levels.get(level - 1).length + " neurons at level " + level);
            }
            levels.set(level - 1, scores.get(k));
            out.add(levels);
        }
        return new Importance(method, labelSource, out);
    }

    /** All parents' scores at level {@code level}, parent 0's neurons first (the layout of the level's statistics). */
    public double[] level(int level) {
        int m = 0;
        for (List<double[]> p : perParent) {
            m += p.get(level - 1).length;
        }
        double[] out = new double[m];
        int offset = 0;
        for (List<double[]> p : perParent) {
            double[] s = p.get(level - 1);
            System.arraycopy(s, 0, out, offset, s.length);
            offset += s.length;
        }
        return out;
    }
}
