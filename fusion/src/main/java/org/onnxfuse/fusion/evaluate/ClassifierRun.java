package org.onnxfuse.fusion.evaluate;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Model;

/**
 * Several classifiers run side by side on the same batches (one ONNX Runtime session each, all open
 * until {@link #close()}), each batch's logits checked to share one class count. The check without
 * labels and the confusion matrices run their models one at a time instead ({@link #logitsOneAtATime},
 * {@link Confusion#evaluate}), so only one model's weights are loaded at once; the tests hold them to
 * this side-by-side pass.
 */
final class ClassifierRun implements AutoCloseable {
    private final List<ModelEvaluator> evaluators = new ArrayList<>();

    ClassifierRun(List<Model> models, int threads) {
        try {
            for (Model m : models) {
                evaluators.add(ModelEvaluator.open(m, threads));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    void checkData(CalibrationData data) {
        evaluators.forEach(e -> e.checkData(data));
    }

    /** Every model's logits [rows, classes] on {@code batch}, row-major, in model order. */
    List<float[]> logits(InputBatch batch) {
        int rows = batch.count();
        List<float[]> out = new ArrayList<>(evaluators.size());
        int classes = -1;
        for (int k = 0; k < evaluators.size(); k++) {
            Activation logits = evaluators.get(k).run(batch).first();
            int c = Scores.classes(logits, rows);
            if (classes < 0) {
                classes = c;
            } else if (c != classes) {
                throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "model 0 has " + classes
                        + " classes but model " + k + " has " + c + "; ensemble members and the fused model must"
                        + " share their classes");
            }
            out.add(logits.values());
        }
        return out;
    }

    /**
     * Each model's logits on rows {@code [first, first + count)} of {@code data} in batches of
     * {@code batchSize}: for each model, in order, one list of [rows, classes] arrays (row-major),
     * one per batch. Unlike a {@link ClassifierRun}, one session is open at a time, each closed
     * before the next model loads, so ONNX Runtime holds one model's weights however many models
     * there are (two 2 GB parents and their fused model held 6.5 GB side by side); the logits of
     * every model are kept instead (rows x classes floats each).
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
                InputBatch reuse = null;
                for (long start = first; start < first + count; start += batchSize) {
                    int rows = (int) Math.min(batchSize, first + count - start);
                    InputBatch batch = data.inputBatch(start, rows, rows == batchSize ? reuse : null);
                    if (rows == batchSize) {
                        reuse = batch;
                    }
                    Activation logits = evaluator.run(batch).first();
                    int c = Scores.classes(logits, rows);
                    if (classes < 0) {
                        classes = c;
                    } else if (c != classes) {
                        throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "model 0 has " + classes
                                + " classes but model " + k + " has " + c + "; ensemble members and the fused model"
                                + " must share their classes");
                    }
                    batches.add(logits.values().clone());
                }
            }
            out.add(batches);
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
