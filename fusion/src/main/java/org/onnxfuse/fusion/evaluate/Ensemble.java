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
 * The ensemble of several classifiers: the argmax of the mean of their softmax outputs. A
 * reference point for fusion (what K models together achieve at K times the cost), not a model.
 */
public final class Ensemble {
    private Ensemble() {
    }

    /** Ensemble accuracy of {@code members} on {@code data}, with the default thread count. */
    public static Accuracy accuracy(List<Model> members, SampleArray data, SampleArray labels, int batchSize) {
        return accuracy(members, data, labels, batchSize, ModelEvaluator.defaultThreads());
    }

    /**
     * Runs every member on each batch (one session per member, all open at once), averages the
     * softmax outputs in float64 and counts argmax hits.
     *
     * @throws IncompatibleModelsException when the members disagree on the number of classes
     * @throws org.onnxfuse.onnx.errors.DataException for labels as in {@link Accuracy#of}
     */
    public static Accuracy accuracy(List<Model> members, SampleArray data, SampleArray labels, int batchSize,
                                    int threads) {
        return evaluate(members, data, labels, batchSize, threads).ensemble();
    }

    /** Each member's accuracy and the ensemble's, from one pass that runs every member once per batch. */
    public record Result(List<Accuracy> members, Accuracy ensemble) {
        public Result {
            members = List.copyOf(members);
        }
    }

    /**
     * Like {@link #accuracy(List, SampleArray, SampleArray, int, int)}, also counting each
     * member's own argmax hits on the logits it already computed.
     */
    public static Result evaluate(List<Model> members, SampleArray data, SampleArray labels, int batchSize,
                                  int threads) {
        return evaluate(members, CalibrationData.of(data), labels, batchSize, threads);
    }

    /** {@link #evaluate(List, SampleArray, SampleArray, int, int)} on data that may hold several inputs. */
    public static Result evaluate(List<Model> members, CalibrationData data, SampleArray labels, int batchSize,
                                  int threads) {
        if (members.isEmpty()) {
            throw new IllegalArgumentException("an ensemble needs at least one member");
        }
        Labels.checkCount(labels, data);
        List<ModelEvaluator> evaluators = new ArrayList<>();
        try {
            for (Model m : members) {
                evaluators.add(ModelEvaluator.open(m, threads));
            }
            evaluators.forEach(e -> e.checkData(data));
            long correct = 0;
            long total = 0;
            long[] memberCorrect = new long[members.size()];
            for (InputBatch batch : data.inputBatches(batchSize)) {
                int count = batch.count();
                double[] mean = null;
                int classes = -1;
                List<Activation> memberLogits = new ArrayList<>(evaluators.size());
                for (int k = 0; k < evaluators.size(); k++) {
                    Activation logits = evaluators.get(k).run(batch).first();
                    int c = Scores.classes(logits, count);
                    if (mean == null) {
                        classes = c;
                        mean = new double[count * classes];
                    } else if (c != classes) {
                        throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "ensemble member 0 has "
                                + classes + " classes but member " + k + " has " + c + "; members must share classes");
                    }
                    Scores.addSoftmax(logits.values(), count, classes, mean);
                    memberLogits.add(logits);
                }
                long[] y = Labels.read(labels, batch.firstSample(), count, classes);
                for (int r = 0; r < count; r++) {
                    if (Scores.argmax(mean, r, classes) == y[r]) {
                        correct++;
                    }
                    for (int k = 0; k < memberLogits.size(); k++) {
                        if (Scores.argmax(memberLogits.get(k).values(), r, classes) == y[r]) {
                            memberCorrect[k]++;
                        }
                    }
                }
                total += count;
            }
            List<Accuracy> perMember = new ArrayList<>();
            for (long c : memberCorrect) {
                perMember.add(new Accuracy(c, total));
            }
            return new Result(perMember, new Accuracy(correct, total));
        } finally {
            for (ModelEvaluator e : evaluators) {
                e.close();
            }
        }
    }
}
