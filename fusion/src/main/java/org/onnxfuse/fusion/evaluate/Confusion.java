package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.ir.Model;

/**
 * A confusion matrix: {@code counts[t][p]} samples of true class t predicted as p. Gives the
 * accuracy, each class's accuracy (recall) and the matrix for the report.
 */
public record Confusion(long[][] counts) {

    public int classes() {
        return counts.length;
    }

    public long total() {
        long n = 0;
        for (long[] row : counts) {
            for (long c : row) {
                n += c;
            }
        }
        return n;
    }

    /** Samples on the diagonal: predicted as their true class. */
    public long correct() {
        long correct = 0;
        for (int c = 0; c < counts.length; c++) {
            correct += counts[c][c];
        }
        return correct;
    }

    public double accuracy() {
        long n = total();
        return n == 0 ? Double.NaN : (double) correct() / n;
    }

    /** The hits and the total as an {@link Accuracy}. */
    public Accuracy asAccuracy() {
        return new Accuracy(correct(), total());
    }

    /** Accuracy on the samples of true class {@code c} (NaN when there are none). */
    public double classAccuracy(int c) {
        long n = 0;
        for (long v : counts[c]) {
            n += v;
        }
        return n == 0 ? Double.NaN : (double) counts[c][c] / n;
    }

    /** Samples of true class {@code c}. */
    public long support(int c) {
        long n = 0;
        for (long v : counts[c]) {
            n += v;
        }
        return n;
    }

    /**
     * The confusion matrices of each of {@code models} and of their ensemble (mean of softmax
     * outputs) on {@code data}: index i for models.get(i), the last for the ensemble. The models
     * run one after another ({@link ClassifierRun#logitsOneAtATime}), so ONNX Runtime holds one
     * model's weights at a time (a 2.155 GB pair and its fused model side by side held three times
     * that); their logits are kept instead, samples x classes floats per model.
     *
     * @param ensembleMembers how many of the first models form the ensemble (the parents)
     */
    public static List<Confusion> evaluate(List<Model> models, int ensembleMembers, CalibrationData data,
                                           SampleArray labels, int batchSize, int threads) {
        Labels.checkCount(labels, data);
        int samples = Math.toIntExact(data.samples());
        List<List<float[]>> logits = ClassifierRun.logitsOneAtATime(models, data, 0, samples, batchSize, threads);
        if (samples == 0) {
            return java.util.Collections.nCopies(models.size() + 1, new Confusion(new long[0][0]));
        }
        int classes = logits.get(0).get(0).length / Math.min(batchSize, samples);
        long[][][] counts = new long[models.size() + 1][classes][classes];
        int b = 0;
        for (int first = 0; first < samples; first += batchSize, b++) {
            int rows = Math.min(batchSize, samples - first);
            double[] softmax = new double[rows * classes];
            for (int k = 0; k < ensembleMembers; k++) {
                Scores.addSoftmax(logits.get(k).get(b), rows, classes, softmax);
            }
            long[] y = Labels.read(labels, first, rows, classes);
            for (int r = 0; r < rows; r++) {
                int truth = (int) y[r];
                for (int k = 0; k < models.size(); k++) {
                    counts[k][truth][Scores.argmax(logits.get(k).get(b), r, classes)]++;
                }
                counts[models.size()][truth][Scores.argmax(softmax, r, classes)]++;
            }
        }
        List<Confusion> result = new ArrayList<>();
        for (long[][] c : counts) {
            result.add(new Confusion(c));
        }
        return result;
    }
}
