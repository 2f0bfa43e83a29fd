package org.onnxfuse.fusion.train;

import java.util.List;

/**
 * What a running training tells its caller (a progress bar per segment and epoch). Called on the
 * training thread; implementations must be quick. Every method has a no-op default.
 */
public interface TrainingProgress {
    TrainingProgress NONE = new TrainingProgress() {
    };

    /** The range test of level {@code level} chose {@code learningRate} from {@code sweep}. */
    default void learningRateChosen(int level, double learningRate, List<TrainingResult.RangeTestPoint> sweep) {
    }

    /** An epoch finished. */
    default void epochFinished(EpochReport report) {
    }
}
