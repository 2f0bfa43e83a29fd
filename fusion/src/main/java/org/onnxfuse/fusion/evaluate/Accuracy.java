package org.onnxfuse.fusion.evaluate;

import java.util.Locale;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.ir.Model;

/**
 * Top-1 accuracy: the share of samples whose largest logit (lowest class on ties) is the label.
 *
 * @param correct samples classified correctly
 * @param total   samples evaluated
 */
public record Accuracy(long correct, long total) {
    public Accuracy {
        if (correct < 0 || total < 0 || correct > total) {
            throw new IllegalArgumentException(correct + " correct of " + total);
        }
    }

    /** correct / total, 0 for no samples. */
    public double value() {
        return total == 0 ? 0 : (double) correct / total;
    }

    /** Accuracy of {@code model} on {@code data} with the default thread count. */
    public static Accuracy of(Model model, SampleArray data, SampleArray labels, int batchSize) {
        return of(model, data, labels, batchSize, ModelEvaluator.defaultThreads());
    }

    public static Accuracy of(Model model, SampleArray data, SampleArray labels, int batchSize, int threads) {
        return of(model, CalibrationData.of(data), labels, batchSize, threads);
    }

    /** Accuracy of {@code model} on {@code data}, which may hold several inputs. */
    public static Accuracy of(Model model, CalibrationData data, SampleArray labels, int batchSize, int threads) {
        try (ModelEvaluator evaluator = ModelEvaluator.open(model, threads)) {
            return of(evaluator, data, labels, batchSize);
        }
    }

    /** {@link #of(ModelEvaluator, CalibrationData, SampleArray, int)} on one array. */
    public static Accuracy of(ModelEvaluator evaluator, SampleArray data, SampleArray labels, int batchSize) {
        return of(evaluator, CalibrationData.of(data), labels, batchSize);
    }

    /**
     * Accuracy of the first output of {@code evaluator} (logits [N, classes]).
     *
     * @throws org.onnxfuse.onnx.errors.DataException DATA_SHAPE when the label count differs from
     *     the sample count; DATA_FORMAT for a label outside [0, classes)
     */
    public static Accuracy of(ModelEvaluator evaluator, CalibrationData data, SampleArray labels, int batchSize) {
        Labels.checkCount(labels, data);
        long correct = 0;
        long total = 0;
        for (BatchOutputs out : evaluator.run(data, batchSize)) {
            Activation logits = out.first();
            int classes = Scores.classes(logits, out.count());
            long[] y = Labels.read(labels, out.firstSample(), out.count(), classes);
            float[] v = logits.values();
            for (int r = 0; r < out.count(); r++) {
                if (Scores.argmax(v, r, classes) == y[r]) {
                    correct++;
                }
            }
            total += out.count();
        }
        return new Accuracy(correct, total);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%.4f (%d/%d)", value(), correct, total);
    }
}
