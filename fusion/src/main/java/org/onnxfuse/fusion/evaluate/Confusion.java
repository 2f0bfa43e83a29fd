package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.InputBatch;
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
     * outputs) on {@code data}, in one pass: index i for models.get(i), the last for the ensemble.
     *
     * @param ensembleMembers how many of the first models form the ensemble (the parents)
     */
    public static List<Confusion> evaluate(List<Model> models, int ensembleMembers, CalibrationData data,
                                           SampleArray labels, int batchSize, int threads) {
        Labels.checkCount(labels, data);
        try (ClassifierRun run = new ClassifierRun(models, threads)) {
            run.checkData(data);
            long[][][] counts = null;
            int classes = -1;
            for (InputBatch batch : data.inputBatches(batchSize)) {
                int rows = batch.count();
                List<float[]> logits = run.logits(batch);
                if (classes < 0) {
                    classes = logits.get(0).length / rows;
                    counts = new long[models.size() + 1][classes][classes];
                }
                double[] softmax = new double[rows * classes];
                for (int k = 0; k < ensembleMembers; k++) {
                    Scores.addSoftmax(logits.get(k), rows, classes, softmax);
                }
                long[] y = Labels.read(labels, batch.firstSample(), rows, classes);
                for (int r = 0; r < rows; r++) {
                    int truth = (int) y[r];
                    for (int k = 0; k < logits.size(); k++) {
                        counts[k][truth][Scores.argmax(logits.get(k), r, classes)]++;
                    }
                    counts[models.size()][truth][Scores.argmax(softmax, r, classes)]++;
                }
            }
            if (counts == null) { // no samples
                counts = new long[models.size() + 1][0][0];
            }
            List<Confusion> result = new ArrayList<>();
            for (long[][] c : counts) {
                result.add(new Confusion(c));
            }
            return result;
        }
    }
}
