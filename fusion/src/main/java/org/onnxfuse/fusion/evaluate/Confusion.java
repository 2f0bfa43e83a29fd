package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
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
     * run one after another, each session closed before the next model loads, so ONNX Runtime
     * holds one model's weights at a time (a 2.155 GB pair and its fused model side by side held
     * three times that); the ensemble members' softmax sums are kept instead, samples x classes
     * doubles.
     *
     * @param ensembleMembers how many of the first models form the ensemble (the parents)
     */
    public static List<Confusion> evaluate(List<Model> models, int ensembleMembers, CalibrationData data,
                                           SampleArray labels, int batchSize, int threads) {
        Labels.checkCount(labels, data);
        long[][][] counts = null;
        double[] softmax = null;
        int classes = -1;
        for (int k = 0; k < models.size(); k++) {
            try (ModelEvaluator evaluator = ModelEvaluator.open(models.get(k), threads)) {
                evaluator.checkData(data);
                for (InputBatch batch : data.inputBatches(batchSize)) {
                    int rows = batch.count();
                    Activation out = evaluator.run(batch).first();
                    int c = Scores.classes(out, rows);
                    if (classes < 0) {
                        classes = c;
                        counts = new long[models.size() + 1][classes][classes];
                        softmax = new double[ensembleSize(data.samples(), classes)];
                    } else if (c != classes) {
                        throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "model 0 has " + classes
                                + " classes but model " + k + " has " + c + "; ensemble members and the fused model"
                                + " must share their classes");
                    }
                    float[] logits = out.values();
                    long[] y = Labels.read(labels, batch.firstSample(), rows, classes);
                    for (int r = 0; r < rows; r++) {
                        counts[k][(int) y[r]][Scores.argmax(logits, r, classes)]++;
                    }
                    if (k < ensembleMembers) {
                        Scores.addSoftmax(logits, rows, classes, softmax, Math.toIntExact(batch.firstSample() * classes));
                    }
                }
            }
        }
        if (counts == null) { // no samples
            counts = new long[models.size() + 1][0][0];
        } else {
            for (InputBatch batch : data.inputBatches(batchSize)) {
                long[] y = Labels.read(labels, batch.firstSample(), batch.count(), classes);
                for (int r = 0; r < batch.count(); r++) {
                    int sample = Math.toIntExact(batch.firstSample() + r);
                    counts[models.size()][(int) y[r]][Scores.argmax(softmax, sample, classes)]++;
                }
            }
        }
        List<Confusion> result = new ArrayList<>();
        for (long[][] c : counts) {
            result.add(new Confusion(c));
        }
        return result;
    }

    private static int ensembleSize(long samples, int classes) {
        long size = samples * classes;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("cannot evaluate the ensemble of " + samples + " samples of " + classes
                    + " classes at once: expected at most " + (Integer.MAX_VALUE - 8) + " scores, found " + size);
        }
        return (int) size;
    }
}
