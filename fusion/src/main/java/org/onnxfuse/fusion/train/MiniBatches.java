package org.onnxfuse.fusion.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The mini-batches of one epoch after another: each epoch shuffles the training rows with the
 * seeded random source and cuts them into batches of the batch size, the last one smaller when
 * the rows do not divide. Only row numbers move (4 bytes a row); the rows are read per batch.
 */
final class MiniBatches {
    private final int[] order;
    private final int batchSize;
    private final SplittableRandom random;

    MiniBatches(int[] trainRows, int batchSize, SplittableRandom random) {
        if (trainRows.length == 0 || batchSize < 1) {
            throw new IllegalArgumentException("mini-batches: expected rows and a batch size >= 1, found "
                    + trainRows.length + " rows and batch size " + batchSize);
        }
        this.order = trainRows.clone();
        this.batchSize = batchSize;
        this.random = random;
    }

    /** The next epoch's batches: every training row once, in a new order. */
    List<int[]> nextEpoch() {
        DataSplit.shuffle(order, random);
        List<int[]> batches = new ArrayList<>((order.length + batchSize - 1) / batchSize);
        for (int from = 0; from < order.length; from += batchSize) {
            batches.add(Arrays.copyOfRange(order, from, Math.min(order.length, from + batchSize)));
        }
        return batches;
    }
}
