package org.onnxfuse.fusion.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.onnxfuse.fusion.pipeline.FusionProgress;
import org.onnxfuse.fusion.pipeline.LevelReport;
import org.onnxfuse.fusion.pipeline.LevelWork;
import org.onnxfuse.fusion.train.EpochReport;

/**
 * The live display on a terminal: one status line at the bottom, redrawn in place (stage, level
 * i/n, samples, rate, the time left predicted by {@link RemainingTime}), with everything else
 * printed above it: log lines, and one line for each finished stage or level. Stages that repeat
 * per parent ("importance (deeplift) parent 3/8") share one line. The status line is cut to the
 * terminal's width so that it never wraps (a wrapped line could not be redrawn in place).
 */
final class ProgressDisplay implements FusionProgress, AutoCloseable {
    static final long REDRAW_NANOS = 200_000_000L;
    private static final String CLEAR_LINE = "\r\033[2K";
    private static final Pattern PER_PARENT = Pattern.compile("(.*) parent (\\d+)/(\\d+)");

    private final PrintStream err;
    private final LongSupplier clock;
    private final int columns;

    private String stage;
    private int stageRepeats;
    private long stageStart;

    private int level;
    private int levels;
    private String levelName = "";
    private long levelStart;
    private String step;
    private long stepStart;
    private long collectionNanos;
    private long collectionStart;
    private double collectedFraction;
    private String trainingState = "";
    private RemainingTime remaining;

    private long done;
    private long total;
    private long countStart;
    private boolean drawn;
    private long lastDraw = Long.MIN_VALUE;

    ProgressDisplay(PrintStream err, LongSupplier nanoClock, int columns) {
        this.err = err;
        this.clock = nanoClock;
        this.columns = Math.max(20, columns);
    }

    /** Nothing with -q; a live display when stderr is a terminal; else timestamped lines ({@link ProgressLog}). */
    static FusionProgress forTerminal(boolean quiet) {
        if (quiet) {
            return FusionProgress.NONE;
        }
        return stderrIsTerminal() ? new ProgressDisplay(System.err, System::nanoTime, terminalColumns())
                : new ProgressLog(System.err, System::nanoTime);
    }

    /** COLUMNS when the shell exports it, else 80. */
    static int terminalColumns() {
        try {
            String columns = System.getenv("COLUMNS");
            return columns == null ? 80 : Integer.parseInt(columns.strip());
        } catch (NumberFormatException e) {
            return 80;
        }
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

    /** Prints a log line above the status line. */
    synchronized void log(String line) {
        clear();
        err.println(line);
        draw(true);
    }

    @Override
    public synchronized void stageStarted(String description) {
        Matcher perParent = PER_PARENT.matcher(description);
        String name = perParent.matches() ? perParent.group(1) : description;
        if (name.equals(stage)) {
            stageRepeats++;
        } else {
            finishStage();
            stage = name;
            stageRepeats = 1;
            stageStart = clock.getAsLong();
        }
        step = description;
        startCount();
        draw(true);
    }

    @Override
    public synchronized void levelsPlanned(List<LevelWork> planned, long samples) {
        remaining = new RemainingTime(planned, samples);
    }

    @Override
    public synchronized void levelStarted(int level, int levels, String description) {
        finishStage();
        this.level = level;
        this.levels = levels;
        this.levelName = description;
        long now = clock.getAsLong();
        levelStart = now;
        collectionNanos = 0;
        collectionStart = now;
        collectedFraction = 0;
        trainingState = "";
        step = "collecting";
        stepStart = now;
        startCount();
        draw(true);
    }

    @Override
    public synchronized void samplesCollected(long done, long total) {
        this.done = done;
        this.total = total;
        if (level > 0 && total > 0) {
            collectedFraction = Math.min(1.0, (double) done / total);
            collectionNanos = clock.getAsLong() - collectionStart;
        }
        draw(false);
    }

    @Override
    public synchronized void levelStep(String name) {
        step = name;
        stepStart = clock.getAsLong();
        collectedFraction = 1.0;
        total = 0;
        draw(true);
    }

    @Override
    public synchronized void trainingStarted(int level, int epochs) {
        levelStep("training");
        trainingState = "epoch 0/" + epochs;
        draw(true);
    }

    @Override
    public synchronized void epochFinished(EpochReport report) {
        trainingState = String.format(Locale.ROOT, "epoch %d/%d, validation loss %.4g (best %.4g)", report.epoch(),
                report.epochs(), report.validationLoss(), report.bestValidationLoss());
        draw(false);
    }

    @Override
    public synchronized void levelFinished(LevelReport report) {
        double seconds = (clock.getAsLong() - levelStart) / 1e9;
        if (remaining != null) {
            remaining.finished(report, seconds);
        }
        clear();
        String trained = report.training() == null ? "" : String.format(Locale.ROOT, ", trained %d epochs",
                report.training().epochsRun());
        err.println(String.format(Locale.ROOT, "level %d/%d %s: done in %s (%s, width %d, fit error %.4f%s)",
                report.level(), levels, levelName, duration(seconds), report.method(), report.width(),
                report.relativeResidual(), trained));
        step = null;
        err.flush();
    }

    @Override
    public synchronized void close() {
        finishStage();
        clear();
        err.flush();
    }

    /** The status line as it would be drawn now (without the terminal's control characters). */
    synchronized String statusLine() {
        StringBuilder line = new StringBuilder();
        long now = clock.getAsLong();
        if (level > 0) {
            line.append("level ").append(level).append('/').append(levels).append(' ').append(levelName);
            if ("collecting".equals(step)) {
                line.append(" | ").append(counted(now));
            } else if ("training".equals(step)) {
                line.append(" | training ").append(trainingState);
            } else if (step != null) {
                line.append(" | ").append(step).append(' ').append(clockTime((now - stepStart) / 1e9));
            }
            line.append(" | ").append(timeLeft(now));
        } else if (step != null) {
            line.append(step);
            if (total > 0) {
                line.append(" | ").append(counted(now));
            }
        }
        return line.toString();
    }

    private String counted(long now) {
        if (total <= 0) {
            return "starting";
        }
        double seconds = (now - countStart) / 1e9;
        String rate = seconds > 0.5 ? String.format(Locale.ROOT, ", %.0f samples/s", done / seconds) : "";
        return String.format(Locale.ROOT, "%d/%d samples (%d %%)%s", done, total, 100 * done / total, rate);
    }

    private String timeLeft(long now) {
        if (remaining == null) {
            return "time left unknown";
        }
        double stepSeconds = "collecting".equals(step) ? 0 : (now - stepStart) / 1e9;
        return remaining.describe(level, collectedFraction, collectionNanos / 1e9, stepSeconds)
                .orElse("estimating time left");
    }

    private void startCount() {
        done = 0;
        total = 0;
        countStart = clock.getAsLong();
    }

    private void finishStage() {
        if (stage == null) {
            return;
        }
        clear();
        String repeats = stageRepeats > 1 ? ", " + stageRepeats + " parents" : "";
        err.println(stage + repeats + ": done in " + duration((clock.getAsLong() - stageStart) / 1e9));
        stage = null;
        step = null;
        err.flush();
    }

    private void draw(boolean force) {
        long now = clock.getAsLong();
        if (!force && drawn && now - lastDraw < REDRAW_NANOS) {
            return;
        }
        String line = statusLine();
        if (line.isEmpty()) {
            return;
        }
        if (line.length() > columns - 1) {
            line = line.substring(0, columns - 2) + "~";
        }
        err.print(CLEAR_LINE + line);
        err.flush();
        drawn = true;
        lastDraw = now;
    }

    private void clear() {
        if (drawn) {
            err.print(CLEAR_LINE);
            drawn = false;
        }
    }

    static String duration(double seconds) {
        return seconds < 60 ? String.format(Locale.ROOT, "%.1f s", seconds) : clockTime(seconds);
    }

    static String clockTime(double seconds) {
        long s = Math.round(Math.max(0, seconds));
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
