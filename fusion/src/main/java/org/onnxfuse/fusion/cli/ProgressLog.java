package org.onnxfuse.fusion.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.function.LongSupplier;
import org.onnxfuse.fusion.pipeline.FusionProgress;
import org.onnxfuse.fusion.pipeline.LevelReport;
import org.onnxfuse.fusion.pipeline.LevelWork;

/**
 * Progress for a log file, a cluster job or CI (standard error not a terminal): one line per stage
 * start and level end, and within a level a line at most every {@link #INTERVAL_NANOS} (10 s),
 * each stamped with the time since the fusion started, e.g.
 * {@code [0:01:23] level 3/9: 2300/5000 samples (46 %), 410 samples/s}.
 */
final class ProgressLog implements FusionProgress {
    static final long INTERVAL_NANOS = 10_000_000_000L;

    private final PrintStream out;
    private final LongSupplier clock;
    private final long start;
    private long lastLine;
    private long levelStart;
    private int level;
    private int levels;
    private RemainingTime remaining;

    ProgressLog(PrintStream out, LongSupplier nanoClock) {
        this.out = out;
        this.clock = nanoClock;
        this.start = nanoClock.getAsLong();
        this.lastLine = start;
    }

    @Override
    public void stageStarted(String description) {
        print(description);
    }

    @Override
    public void levelsPlanned(List<LevelWork> planned, long samples) {
        remaining = new RemainingTime(planned, samples);
    }

    @Override
    public void levelStarted(int level, int levels, String description) {
        this.level = level;
        this.levels = levels;
        this.levelStart = clock.getAsLong();
        print("level " + level + "/" + levels + " started: " + description);
    }

    @Override
    public void samplesCollected(long done, long total) {
        long now = clock.getAsLong();
        if (now - lastLine < INTERVAL_NANOS || total <= 0) {
            return;
        }
        double seconds = Math.max(1e-9, (now - (level > 0 ? levelStart : start)) / 1e9);
        String where = level > 0 ? "level " + level + "/" + levels : "samples";
        String left = remaining == null || level == 0 ? ""
                : remaining.describe(level, (double) done / total, seconds, 0).map(text -> ", " + text).orElse("");
        print(String.format(Locale.ROOT, "%s: %d/%d samples (%d %%), %.0f samples/s%s", where, done, total,
                100 * done / total, done / seconds, left));
    }

    @Override
    public void epochFinished(org.onnxfuse.fusion.train.EpochReport report) {
        long now = clock.getAsLong();
        if (now - lastLine < INTERVAL_NANOS) {
            return;
        }
        print(String.format(Locale.ROOT, "level %d/%d: training epoch %d/%d, validation loss %.4g (best %.4g at epoch"
                + " %d)", level, levels, report.epoch(), report.epochs(), report.validationLoss(),
                report.bestValidationLoss(), report.bestEpoch()));
    }

    @Override
    public void levelFinished(LevelReport report) {
        if (remaining != null) {
            remaining.finished(report, (clock.getAsLong() - levelStart) / 1e9);
        }
        String training = report.training() == null ? "" : String.format(Locale.ROOT,
                ", trained %d epochs (best %d, lr %.3g, validation loss %.4g)", report.training().epochsRun(),
                report.training().bestEpoch(), report.training().learningRate(),
                report.training().bestValidationLoss());
        print(String.format(Locale.ROOT, "level %d/%d done in %.1f s: %s, width %d, fit error %.4f%s", report.level(),
                levels, (clock.getAsLong() - levelStart) / 1e9, report.method(), report.width(),
                report.relativeResidual(), training));
    }

    private void print(String message) {
        long now = clock.getAsLong();
        lastLine = now;
        long seconds = (now - start) / 1_000_000_000L;
        out.printf(Locale.ROOT, "[%d:%02d:%02d] %s%n", seconds / 3600, seconds / 60 % 60, seconds % 60, message);
        out.flush();
    }
}
