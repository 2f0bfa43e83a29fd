package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.pipeline.LevelReport;

class ProgressLogTest {
    private long now;

    @Test
    void linesAtStagesAndLevelEndsAndAtMostEveryTenSecondsBetween() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressLog log = new ProgressLog(new PrintStream(bytes, true, StandardCharsets.UTF_8), () -> now);
        log.stageStarted("importance (deeplift) parent 1/2");
        now = 65_000_000_000L;
        log.levelStarted(1, 2, "Gemm /fc1/Gemm");
        for (int s = 1; s <= 25; s++) {
            now += 1_000_000_000L; // one second per batch of 200 samples
            log.samplesCollected(200L * s, 5000);
        }
        log.levelFinished(new LevelReport(1, "Gemm", "h", "kf-linear", 256, 785, 5000, 5000, 0.01234, 1.5, 1, 2, 3,
                4, null));
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(List.of(
                "[0:00:00] importance (deeplift) parent 1/2",
                "[0:01:05] level 1/2 started: Gemm /fc1/Gemm",
                "[0:01:15] level 1/2: 2000/5000 samples (40 %), 200 samples/s",
                "[0:01:25] level 1/2: 4000/5000 samples (80 %), 200 samples/s",
                "[0:01:30] level 1/2 done in 25.0 s: kf-linear, width 256, fit error 0.0123"), text.lines().toList());
    }
}
