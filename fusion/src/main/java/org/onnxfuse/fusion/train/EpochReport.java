package org.onnxfuse.fusion.train;

/**
 * One finished epoch of a segment's training.
 *
 * @param level              the level (segment), 1-based
 * @param epoch              this epoch, 1-based
 * @param epochs             the epochs at most
 * @param trainLoss          row-weighted mean of the epoch's batch losses (each before its step)
 * @param validationLoss     validation loss after the epoch
 * @param bestEpoch          the best epoch so far (0: the start)
 * @param bestValidationLoss its validation loss
 * @param learningRate       the learning rate trained with
 */
public record EpochReport(int level, int epoch, int epochs, double trainLoss, double validationLoss, int bestEpoch,
                          double bestValidationLoss, double learningRate) {
}
