package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Model;

/**
 * The pass over several classifiers that the check without labels and the confusion matrices
 * make: one model at a time, each ONNX Runtime session closed before the next model loads, so
 * ONNX Runtime holds one model's weights however many models there are (two 2 GB parents and
 * their fused model held 6.5 GB side by side); the logits of every model are kept instead (rows x
 * classes floats each). The tests hold it to running the models side by side on the same batches.
 */
final class ClassifierRun {
    private ClassifierRun() {
    }

    /**
     * Each model's logits on rows {@code [first, first + count)} of {@code data} in batches of
     * {@code batchSize}: for each model, in order, one list of [rows, classes] arrays (row-major),
     * one per batch. Each model is checked against the data's shapes before it runs.
     *
     * @throws IncompatibleModelsException when a model's class count differs from the first's
     */
    static List<List<float[]>> logitsOneAtATime(List<Model> models, CalibrationData data, long first, int count,
                                                int batchSize, int threads) {
        List<List<float[]>> out = new ArrayList<>();
        int classes = -1;
        for (int k = 0; k < models.size(); k++) {
            List<float[]> batches = new ArrayList<>();
            try (ModelEvaluator evaluator = ModelEvaluator.open(models.get(k), threads)) {
                evaluator.checkData(data);
                InputBatch reuse = null;
                for (long start = first; start < first + count; start += batchSize) {
                    int rows = (int) Math.min(batchSize, first + count - start);
                    InputBatch batch = data.inputBatch(start, rows, rows == batchSize ? reuse : null);
                    if (rows == batchSize) {
                        reuse = batch;
                    }
                    Activation logits = evaluator.run(batch).first();
                    classes = Scores.sameClasses(classes, logits, rows, k);
                    batches.add(logits.values().clone());
                }
            }
            out.add(batches);
        }
        return out;
    }
}
