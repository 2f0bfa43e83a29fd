package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.evaluate.Scores;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Model;

/**
 * {@link ClassWeights#CONFIDENCE}: for each parent and class c of the main output, the mean over
 * the calibration samples labelled c of the parent's softmax probability of c. A parent trained on
 * few samples of c (non-IID shards) is unsure of it and so weighs less in fused class c. A class
 * no calibration sample has weighs all parents alike.
 */
public final class ClassConfidence {
    private ClassConfidence() {
    }

    /**
     * @param labels one class per calibration sample, in [0, classes)
     * @return per parent, one weight per class, each > 0
     */
    public static List<double[]> measure(List<Model> parents, LevelPlan template, CalibrationData data, long[] labels,
                                         int batchSize, int threads) {
        int classes = Math.toIntExact(template.lastLevel().width());
        if (labels.length != data.samples()) {
            throw new IllegalArgumentException(labels.length + " labels for " + data.samples() + " samples");
        }
        long[] count = new long[classes];
        for (long y : labels) {
            count[Math.toIntExact(y)]++;
        }
        String output = template.output();
        List<double[]> weights = new ArrayList<>();
        for (int k = 0; k < parents.size(); k++) {
            double[] sum = new double[classes];
            try (OrtRunner runner = OrtRunner.open("parent " + k, parents.get(k), List.of(), threads)) {
                for (InputBatch batch : data.inputBatches(batchSize)) {
                    Activation logits = runner.runShared(batch, List.of(output)).get(output);
                    addTrueClassProbabilities(logits, batch, labels, classes, sum);
                }
            }
            double[] w = new double[classes];
            for (int c = 0; c < classes; c++) {
                w[c] = count[c] == 0 ? 1.0 : Math.max(sum[c] / count[c], NeuronScores.FLOOR);
            }
            weights.add(w);
        }
        return weights;
    }

    private static void addTrueClassProbabilities(Activation logits, InputBatch batch, long[] labels, int classes,
                                                  double[] sum) {
        int rows = batch.count();
        long expected = (long) rows * classes;
        if (Arrays.stream(logits.shape()).reduce(1, Math::multiplyExact) != expected) {
            throw new OnnxFuseException(ErrorCode.UNSUPPORTED_OP, "class weights 'confidence' read the output '"
                    + logits.name() + "' as " + classes + " class logits per sample, but it has shape "
                    + Arrays.toString(logits.shape()) + " for " + rows + " samples");
        }
        for (int r = 0; r < rows; r++) {
            int y = Math.toIntExact(labels[Math.toIntExact(batch.firstSample()) + r]);
            sum[y] += Scores.probability(logits.values(), r, classes, y);
        }
    }
}
