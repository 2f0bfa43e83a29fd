package org.onnxfuse.fusion.train;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What training one segment did, for the report.
 *
 * @param level                 the level (segment) trained, 1-based
 * @param epochsRun             epochs run, at most the setting
 * @param bestEpoch             the epoch whose parameters were kept; 0 when none beat the start
 * @param startValidationLoss   validation loss of the starting parameters
 * @param bestValidationLoss    validation loss of the parameters kept
 * @param learningRate          the learning rate trained with
 * @param rangeTest             the range test's sweep when the learning rate was auto, else empty
 * @param stop                  why training stopped
 * @param time                  wall time, range test included
 */
public record TrainingResult(int level, int epochsRun, int bestEpoch, double startValidationLoss,
                             double bestValidationLoss, double learningRate, List<RangeTestPoint> rangeTest, Stop stop,
                             Duration time) {
    public TrainingResult {
        rangeTest = List.copyOf(rangeTest);
        Objects.requireNonNull(stop, "stop");
        Objects.requireNonNull(time, "time");
    }

    /** Whether the learning rate was chosen by the range test. */
    public boolean learningRateChosen() {
        return !rangeTest.isEmpty();
    }

    public enum Stop {
        /** All epochs ran. */
        EPOCHS,
        /** Patience epochs passed without a new best validation loss. */
        PATIENCE,
        /** A loss became infinite or NaN; the best parameters before it were kept. */
        DIVERGED,
        /** The start's validation loss was already at or below the negligible loss: nothing was trained. */
        EXACT_START
    }

    /** One learning rate of the range test and the validation loss its short run reached. */
    public record RangeTestPoint(double learningRate, double validationLoss) {
    }
}
