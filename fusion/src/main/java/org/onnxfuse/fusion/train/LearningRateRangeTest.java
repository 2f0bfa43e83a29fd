package org.onnxfuse.fusion.train;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The choice of {@code --lr auto} for one segment: a short exponential sweep on the training
 * split, judged on the validation split. Rule: every candidate rate 1e-5, 10^-4.5, ..., 1 (half
 * decades, ascending) trains a fresh copy of the starting parameters with a fresh optimiser for
 * the same {@value #STEPS} mini-batches (one seeded draw of epochs of the training split, shared
 * by all candidates); the sweep stops at the first candidate whose validation loss is not finite
 * or not below the start's (larger rates only diverge further). The rate with the lowest
 * validation loss wins, the smaller on a tie, except that when the next larger candidate failed
 * the winner is taken half a decade lower: it sits at the edge of divergence, which the full run,
 * with other batches and many more steps, may cross. If none beats the start, the smallest
 * candidate. Cost: at most 11 x {@value #STEPS} training steps and 11 validation passes.
 */
final class LearningRateRangeTest {
    static final int STEPS = 30;
    static final double SMALLEST = 1e-5;
    static final int CANDIDATES = 11;

    private LearningRateRangeTest() {
    }

    /** The candidates' rates, ascending. */
    static double[] candidates() {
        double[] rates = new double[CANDIDATES];
        for (int i = 0; i < CANDIDATES; i++) {
            rates[i] = SMALLEST * Math.pow(10, i / 2.0);
        }
        return rates;
    }

    /**
     * The sweep from {@code start} (not modified), whose validation loss is {@code startLoss}: each
     * candidate with its validation loss.
     */
    static List<TrainingResult.RangeTestPoint> sweep(TrainingSettings settings, ParameterLayout layout, Passes passes,
                                                     DataSplit split, float[][] start, double startLoss,
                                                     SplittableRandom random) {
        MiniBatches epochs = new MiniBatches(split.train(), settings.batchSize(), random);
        List<int[]> batches = new ArrayList<>(STEPS);
        while (batches.size() < STEPS) {
            List<int[]> epoch = epochs.nextEpoch();
            batches.addAll(epoch.subList(0, Math.min(epoch.size(), STEPS - batches.size())));
        }
        int[] validation = split.validation();
        List<TrainingResult.RangeTestPoint> points = new ArrayList<>();
        for (double rate : candidates()) {
            float[][] parameters = layout.copyOf(start);
            double trained = passes.train(batches, parameters, Optimizer.create(settings, layout), rate);
            double loss = Double.isFinite(trained) ? passes.loss(validation, parameters) : trained;
            points.add(new TrainingResult.RangeTestPoint(rate, loss));
            if (!(loss < startLoss)) {
                break;
            }
        }
        return points;
    }

    /** The rate the rule picks from a sweep that started from validation loss {@code startLoss}. */
    static double choose(List<TrainingResult.RangeTestPoint> sweep, double startLoss) {
        int best = -1;
        double bestLoss = startLoss;
        for (int i = 0; i < sweep.size(); i++) {
            if (sweep.get(i).validationLoss() < bestLoss) {
                bestLoss = sweep.get(i).validationLoss();
                best = i;
            }
        }
        if (best < 0) {
            return SMALLEST;
        }
        boolean nextFailed = best + 1 < sweep.size() && !(sweep.get(best + 1).validationLoss() < startLoss);
        return sweep.get(nextFailed && best > 0 ? best - 1 : best).learningRate();
    }
}
