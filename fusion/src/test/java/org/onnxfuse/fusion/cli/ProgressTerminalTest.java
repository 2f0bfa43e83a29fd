package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;

/**
 * The command line run in a pseudo-terminal (util-linux's {@code script}, part of every Debian
 * system): the live display is chosen, and what the terminal ends up showing is the finished
 * stages and levels and the log lines, each on its own line, with no status line left behind.
 */
class ProgressTerminalTest {
    private static final Path SCRIPT = Path.of("/usr/bin/script");

    @TempDir
    Path dir;

    private static String quoted(Object arg) {
        return "'" + String.valueOf(arg).replace("'", "'\\''") + "'";
    }

    @Test
    void aTerminalGetsTheLiveDisplayWithLogLinesAboveIt() throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(SCRIPT), "util-linux script is needed for a pseudo-terminal");
        Path output = dir.resolve("fused.onnx");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String command = String.join(" ", quoted(java), "-cp", quoted(System.getProperty("java.class.path")),
                quoted(Main.class.getName()), quoted(Fixtures.model("mlp_k2_p0.onnx")),
                quoted(Fixtures.model("mlp_k2_p1.onnx")), "--data", quoted(Fixtures.data("calib400_x.npy")),
                "--labels", quoted(Fixtures.data("calib400_y.npy")), "--threads", "1", "--no-check", "-o",
                quoted(output));
        Path captured = dir.resolve("terminal.txt");
        ProcessBuilder builder = new ProcessBuilder(SCRIPT.toString(), "-q", "-e", "-c", command, "/dev/null")
                .redirectOutput(captured.toFile()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.PIPE);
        builder.environment().put("COLUMNS", "100");
        Process p = builder.start();
        p.getOutputStream().close();
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "the fusion finishes");
        String raw = Files.readString(captured, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), raw);
        assertTrue(Files.exists(output));

        assertTrue(raw.contains("\033[2K"), "the status line is redrawn in place: " + raw);
        List<String> screen = ProgressDisplayTest.screen(raw);
        int importance = indexOf(screen, "importance (deeplift), 2 parents: done in ");
        int backend = indexOf(screen, "onnx-fuse: using ");
        int first = indexOf(screen, "level 1/2 Gemm ");
        int second = indexOf(screen, "level 2/2 Gemm ");
        int result = indexOf(screen, "fused 2 parents with kf-linear");
        assertTrue(importance >= 0 && backend >= 0 && first >= 0 && second >= 0 && result >= 0, String.join("\n",
                screen));
        assertTrue(importance < first && backend < first && first < second && second < result, String.join("\n",
                screen));
        assertTrue(screen.get(first).contains(": done in "), screen.get(first));
        for (String line : screen) {
            assertFalse(line.contains(" | "), "a status line was left on the screen: " + line);
            assertFalse(line.contains("onnx-fuse:") && line.indexOf("onnx-fuse:") > 0,
                    "a log line spliced into another: " + line);
        }
    }

    private static int indexOf(List<String> screen, String prefix) {
        for (int i = 0; i < screen.size(); i++) {
            if (screen.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }
}
