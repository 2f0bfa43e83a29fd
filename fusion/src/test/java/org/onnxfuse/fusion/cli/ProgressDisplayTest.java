package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.pipeline.LevelReport;
import org.onnxfuse.fusion.pipeline.LevelWork;

class ProgressDisplayTest {
    private static final long SECOND = 1_000_000_000L;
    private long now;

    /**
     * What a terminal shows after the bytes: carriage return, "clear line" and newline handled,
     * every other character written at the cursor.
     */
    static List<String> screen(String bytes) {
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        int column = 0;
        for (int i = 0; i < bytes.length(); i++) {
            char c = bytes.charAt(i);
            if (bytes.startsWith("\033[2K", i)) {
                line.setLength(0);
                i += 3;
            } else if (c == '\r') {
                column = 0;
            } else if (c == '\n') {
                lines.add(line.toString());
                line.setLength(0);
                column = 0;
            } else {
                if (column < line.length()) {
                    line.setCharAt(column, c);
                } else {
                    line.append(c);
                }
                column++;
            }
        }
        lines.add(line.toString());
        return lines;
    }

    private static LevelReport report(int level, double inference, double statistics, double grouping, double solve) {
        return new LevelReport(level, "Gemm", "h" + level, "KF", 256, 785, 400, 400, 0.0123, 1.5, inference * 1e3,
                statistics * 1e3, grouping * 1e3, solve * 1e3, null);
    }

    @Test
    void logLinesAndFinishedStagesGoAboveOneStatusLine() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressDisplay display = new ProgressDisplay(new PrintStream(bytes, true, StandardCharsets.UTF_8),
                () -> now, 100);
        for (int parent = 1; parent <= 8; parent++) {
            display.stageStarted("importance (deeplift) parent " + parent + "/8");
            now += SECOND;
            display.samplesCollected(200, 400);
            now += SECOND;
            display.samplesCollected(400, 400);
        }
        display.levelsPlanned(List.of(new LevelWork(1, "Gemm fc1", 1, 785, 2048, 256),
                new LevelWork(2, "Gemm fc2", 1, 257, 80, 10)), 400);
        display.levelStarted(1, 2, "Gemm fc1");
        display.log("onnx-fuse: using cpu: OpenBLAS");
        now += SECOND;
        display.samplesCollected(200, 400);
        List<String> live = screen(bytes.toString(StandardCharsets.UTF_8));
        assertEquals("level 1/2 Gemm fc1 | 200/400 samples (50 %), 200 samples/s | more than 0:01 left",
                live.get(live.size() - 1));
        now += SECOND;
        display.samplesCollected(400, 400);
        display.levelStep("grouping");
        now += 2 * SECOND;
        display.log("onnx-fuse: warning: something to know");
        live = screen(bytes.toString(StandardCharsets.UTF_8));
        assertTrue(live.get(live.size() - 1).startsWith("level 1/2 Gemm fc1 | grouping 0:02 | "),
                live.get(live.size() - 1));
        display.levelFinished(report(1, 1, 1, 2, 0));
        display.levelStarted(2, 2, "Gemm fc2");
        now += SECOND;
        display.levelFinished(report(2, 0.5, 0.25, 0.25, 0));
        display.close();

        assertEquals(List.of(
                "importance (deeplift), 8 parents: done in 16.0 s",
                "onnx-fuse: using cpu: OpenBLAS",
                "onnx-fuse: warning: something to know",
                "level 1/2 Gemm fc1: done in 4.0 s (KF, width 256, fit error 0.0123)",
                "level 2/2 Gemm fc2: done in 1.0 s (KF, width 256, fit error 0.0123)",
                ""), screen(bytes.toString(StandardCharsets.UTF_8)));
    }

    @Test
    void theStatusLineNeverWrapsPastTheTerminal() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressDisplay display = new ProgressDisplay(new PrintStream(bytes, true, StandardCharsets.UTF_8),
                () -> now, 40);
        display.levelStarted(3, 9, "Conv /features/features.3/conv/Conv_with_a_long_name");
        now += SECOND;
        display.samplesCollected(100, 5000);
        String text = bytes.toString(StandardCharsets.UTF_8);
        List<String> live = screen(text);
        assertEquals(1, live.size());
        assertEquals(39, live.get(0).length(), live.get(0));
        assertTrue(live.get(0).endsWith("~"));
        assertFalse(text.contains("\n"));
    }

    @Test
    void remainingTimeWeighsTheLevelsStillToComeByTheirSize() {
        // level 2 has four times level 1's collection work (d m + d^2 + m^2 per row: 1 + 1 + 1 vs 2 x 2 ...)
        LevelWork first = new LevelWork(1, "a", 1, 100, 100, 50);
        LevelWork second = new LevelWork(2, "b", 4, 100, 100, 50);
        RemainingTime remaining = new RemainingTime(List.of(first, second), 1000);
        assertEquals(4 * RemainingTime.collectionWork(first, 1000), RemainingTime.collectionWork(second, 1000), 1e-6);

        // before anything finished: the current level's own rate, collection only
        OptionalDouble early = remaining.secondsLeft(1, 0.5, 3.0, 0);
        assertTrue(early.isPresent());
        assertEquals(3.0 + 4 * 6.0, early.getAsDouble(), 1e-9);
        assertFalse(remaining.complete());
        assertTrue(remaining.secondsLeft(1, 0.01, 0.1, 0).isEmpty());

        // level 1 took 6 s collecting, 2 s grouping, 1 s solving, 0.5 s else
        remaining.finished(new LevelReport(1, "Gemm", "a", "KF", 50, 100, 1000, 1000, 0, 0, 4000, 2000, 2000, 1000,
                null), 9.5);
        assertTrue(remaining.complete());
        // level 2 has the same grouping and solve work, four times the collection
        assertEquals(24 + 2 + 1 + 0.5, remaining.secondsLeft(2, 0, 0, 0).getAsDouble(), 1e-9);
        assertEquals(12 + 2 + 1 + 0.5, remaining.secondsLeft(2, 0.5, 12, 0).getAsDouble(), 1e-9);
        // grouping for 1.5 s of its predicted 3.5 s after collection
        assertEquals(2.0, remaining.secondsLeft(2, 1.0, 24, 1.5).getAsDouble(), 1e-9);
    }

    @Test
    void aSmallLevelsOverheadIsNotScaledUpToALargeLevel() {
        // the bundled VGG pair: a 3x3 Conv on one channel, then a Gemm of fan-in 785
        LevelWork conv = new LevelWork(1, "Conv", 784, 10, 16, 8);
        LevelWork gemm = new LevelWork(2, "Gemm", 1, 785, 20, 10);
        RemainingTime remaining = new RemainingTime(List.of(conv, gemm), 5000);
        // collection 0.8 s; least squares 0.1 s, nearly all of it fixed cost on a 10 x 10 system
        remaining.finished(new LevelReport(1, "Conv", "c", "KF", 8, 10, 5000, 5000 * 784L, 0, 0, 400, 400, 50, 100,
                null), 1.1);
        double perMac = 0.8 / RemainingTime.collectionWork(conv, 5000);
        double left = remaining.secondsLeft(2, 0, 0, 0).getAsDouble();
        double solveBound = 0.1 + RemainingTime.SOLVE_PASSES * perMac * RemainingTime.solveWork(gemm);
        double bound = perMac * RemainingTime.collectionWork(gemm, 5000) + solveBound
                + 0.05 + RemainingTime.GROUPING_PASSES * perMac * RemainingTime.groupingWork(gemm)
                + (1.1 - 0.8 - 0.05 - 0.1); // the rest of the level's time, fixed per level
        assertTrue(left <= bound + 1e-9, left + " > " + bound);
        assertTrue(left < 10, "the Gemm is predicted in seconds, not hours: " + left);
    }
}
