package org.onnxfuse.fusion.pipeline;

/**
 * What a running fusion tells its caller (the CLI draws progress bars from it). Called on the
 * fusing thread; implementations must be quick. Every method has a no-op default.
 */
public interface FusionProgress {
    FusionProgress NONE = new FusionProgress() {
    };

    /**
     * A stage before the level loop starts, e.g. "importance (conductance) parent 1/2"; the
     * samples it runs are reported through {@link #samplesCollected}.
     */
    default void stageStarted(String description) {
    }

    /**
     * Before the first level: the sizes of every level and the calibration samples each level's
     * collection runs, from which a display can predict the remaining time.
     */
    default void levelsPlanned(java.util.List<LevelWork> levels, long samples) {
    }

    /** Level {@code level} of {@code levels} starts (1-based); {@code description} e.g. "Gemm /fc1/Gemm". */
    default void levelStarted(int level, int levels, String description) {
    }

    /** The current level's collection pass has run {@code done} of {@code total} calibration samples. */
    default void samplesCollected(long done, long total) {
    }

    /**
     * The current level moved on to {@code step} after collecting its samples: "least squares",
     * "grouping" or "writing" (training is announced by {@link #trainingStarted}).
     */
    default void levelStep(String step) {
    }

    /** The current level starts training for at most {@code epochs} epochs (the gradient variant). */
    default void trainingStarted(int level, int epochs) {
    }

    /** The current level finished a training epoch. */
    default void epochFinished(org.onnxfuse.fusion.train.EpochReport report) {
    }

    /** A level is written; its report is final. */
    default void levelFinished(LevelReport report) {
    }
}
