package org.onnxfuse.fusion.train;

import java.util.Arrays;
import java.util.List;

/**
 * Passes of one objective over rows of one source: training steps over given batches, and the
 * loss over a set of rows. Holds the one gradient buffer every step writes into.
 */
final class Passes {
    private final Objective objective;
    private final RowSource rows;
    private final int batchSize;
    private final float[][] gradients;

    Passes(Objective objective, RowSource rows, int batchSize) {
        this.objective = objective;
        this.rows = rows;
        this.batchSize = batchSize;
        this.gradients = objective.parameters().zeros();
    }

    /**
     * One optimiser step per batch, in order; returns the row-weighted mean of the batches' losses
     * (each before its step), or the first loss that is not finite, at which it stops.
     */
    double train(List<int[]> batches, float[][] parameters, Optimizer optimizer, double learningRate) {
        double sum = 0;
        long count = 0;
        for (int[] rowIndices : batches) {
            double loss = objective.lossAndGradients(rows.batch(rowIndices), parameters, gradients);
            if (!Double.isFinite(loss)) {
                return loss;
            }
            optimizer.step(parameters, gradients, learningRate);
            sum += loss * rowIndices.length;
            count += rowIndices.length;
        }
        return sum / count;
    }

    /** The loss over {@code rowIndices} (row-weighted mean of batches of the batch size). */
    double loss(int[] rowIndices, float[][] parameters) {
        double sum = 0;
        for (int from = 0; from < rowIndices.length; from += batchSize) {
            int[] batch = Arrays.copyOfRange(rowIndices, from, Math.min(rowIndices.length, from + batchSize));
            sum += objective.loss(rows.batch(batch), parameters) * batch.length;
        }
        return sum / rowIndices.length;
    }
}
