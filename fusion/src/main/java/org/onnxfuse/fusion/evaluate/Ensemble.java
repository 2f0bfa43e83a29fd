package org.onnxfuse.fusion.evaluate;

import java.util.List;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.SampleArray;
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
     * @throws org.onnxfuse.onnx.errors.IncompatibleModelsException when the members disagree on the number of classes
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
        List<Confusion> confusions = Confusion.evaluate(members, members.size(), data, labels, batchSize, threads);
        List<Accuracy> perMember = confusions.subList(0, members.size()).stream().map(Confusion::asAccuracy).toList();
        return new Result(perMember, confusions.get(members.size()).asAccuracy());
    }
}
