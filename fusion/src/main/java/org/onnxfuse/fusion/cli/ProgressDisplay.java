package org.onnxfuse.fusion.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.onnxfuse.fusion.pipeline.FusionProgress;
import org.onnxfuse.fusion.pipeline.LevelReport;

/**
 * One progress bar per level on stderr, counting calibration samples. Owns the open bar and
 * closes it when the level ends or the display is closed.
 */
final class ProgressDisplay implements FusionProgress, AutoCloseable {
    private final PrintStream err;
    private ProgressBar bar;
    private String task = "";

    ProgressDisplay(PrintStream err) {
        this.err = err;
    }

    /** Nothing with -q; a live display when stderr is a terminal; else timestamped lines ({@link ProgressLog}). */
    static FusionProgress forTerminal(boolean quiet) {
        if (quiet) {
            return FusionProgress.NONE;
        }
        return stderrIsTerminal() ? new ProgressDisplay(System.err) : new ProgressLog(System.err, System::nanoTime);
    }

    /**
     * Java has no isatty for stderr; on Linux file descriptor 2 links to a /dev/pts or /dev/tty
     * device when it is a terminal. Elsewhere fall back to whether the JVM has a console.
     */
    static boolean stderrIsTerminal() {
        Path fd2 = Path.of("/proc/self/fd/2");
        try {
            String target = Files.readSymbolicLink(fd2).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return System.console() != null;
        }
    }

    @Override
    public void stageStarted(String description) {
        closeBar();
        task = description;
    }

    @Override
    public void levelStarted(int level, int levels, String description) {
        closeBar();
        task = "level " + level + "/" + levels + " " + description;
    }

    @Override
    public void samplesCollected(long done, long total) {
        if (bar == null) {
            bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setUnit(" samples", 1)
                    .setConsumer(new ConsoleProgressBarConsumer(err)).setUpdateIntervalMillis(200).build();
        }
        bar.stepTo(done);
    }

    @Override
    public void trainingStarted(int level, int epochs) {
        closeBar();
        bar = new ProgressBarBuilder().setTaskName(task + " training").setInitialMax(epochs).setUnit(" epochs", 1)
                .setConsumer(new ConsoleProgressBarConsumer(err)).setUpdateIntervalMillis(200).build();
    }

    @Override
    public void epochFinished(org.onnxfuse.fusion.train.EpochReport report) {
        if (bar != null) {
            bar.stepTo(report.epoch());
            bar.setExtraMessage(String.format(java.util.Locale.ROOT, " val %.4g (best %.4g)", report.validationLoss(),
                    report.bestValidationLoss()));
        }
    }

    @Override
    public void levelFinished(LevelReport report) {
        closeBar();
    }

    private void closeBar() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }

    @Override
    public void close() {
        closeBar();
    }
}
