package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.onnx.ir.Model;

/**
 * Several classifiers run side by side on the same batches (one ONNX Runtime session each, all open
 * until {@link #close()}): the reference the one-at-a-time pass ({@link ClassifierRun}) is held to.
 */
final class SideBySide implements AutoCloseable {
    private final List<ModelEvaluator> evaluators = new ArrayList<>();

    SideBySide(List<Model> models, int threads) {
        try {
            for (Model m : models) {
                evaluators.add(ModelEvaluator.open(m, threads));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Every model's logits [rows, classes] on {@code batch}, row-major, in model order. */
    List<float[]> logits(InputBatch batch) {
        List<float[]> out = new ArrayList<>(evaluators.size());
        int classes = -1;
        for (int k = 0; k < evaluators.size(); k++) {
            Activation logits = evaluators.get(k).run(batch).first();
            classes = Scores.sameClasses(classes, logits, batch.count(), k);
            out.add(logits.values());
        }
        return out;
    }

    @Override
    public void close() {
        for (ModelEvaluator e : evaluators) {
            e.close();
        }
        evaluators.clear();
    }
}
