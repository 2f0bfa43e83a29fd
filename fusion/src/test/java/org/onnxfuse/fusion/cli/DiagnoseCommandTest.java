package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code onnx-fuse diagnose}: the report's fields, with and without the (small) benchmark. Timings
 * are never asserted on; only that they are there and well formed, and that the flop counts follow
 * the documented formulas.
 */
class DiagnoseCommandTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine cli = new CommandLine(new DiagnoseCommand());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args);
    }

    private JsonNode json(String... args) throws IOException {
        assertEquals(0, run(args), err.toString());
        return new ObjectMapper().readTree(out.toString());
    }

    @Test
    void textReportNamesTheEnvironment() {
        assertEquals(0, run(), err.toString());
        String text = out.toString();
        for (String key : new String[] {"onnx-fuse:", "java:", "os:", "processors:", "max heap:", "onnxruntime:",
            "backends:", "  cpu: ", "  cuda: "}) {
            assertTrue(text.contains(key), "missing '" + key + "' in:\n" + text);
        }
        assertTrue(text.contains(System.getProperty("java.version")), text);
        assertFalse(text.contains("benchmark"), text);
    }

    @Test
    void jsonReportHasTheEnvironmentFields() throws IOException {
        JsonNode j = json("--json");
        assertEquals(System.getProperty("java.version"), j.at("/java/version").asText());
        assertTrue(j.at("/java/vendor").isTextual());
        assertEquals(System.getProperty("os.arch"), j.at("/os/arch").asText());
        assertEquals(Runtime.getRuntime().availableProcessors(), j.get("processors").asInt());
        assertTrue(j.get("maxHeapBytes").asLong() > 0);
        JsonNode ort = j.get("onnxruntime");
        assertTrue(ort.has("version") || ort.has("error"), ort.toString());
        if (ort.has("version")) {
            assertTrue(ort.get("version").asText().matches("\\d+\\.\\d+.*"), ort.toString());
            assertTrue(ort.get("providers").isArray(), ort.toString());
        }
        assertEquals(3, j.get("backends").size());
        assertTrue(j.get("backends").get(0).asText().startsWith("cpu: "));
        assertTrue(j.get("backends").get(1).asText().startsWith("cuda: "));
        assertTrue(j.get("backends").get(2).asText().startsWith("cuda kernels in this build: statistics: "));
        assertTrue(j.at("/cuda/available").isBoolean());
        assertTrue(j.at("/cuda/detail").isTextual());
        assertFalse(j.has("bench"));
    }

    @Test
    void smallBenchmarkReportsRatesAndDocumentedFlopCounts() throws IOException {
        JsonNode b = json("--bench", "--bench-size", "small", "--device", "cpu", "--threads", "1", "--json")
                .get("bench");
        assertEquals("cpu", b.get("backend").asText());
        assertEquals(1, b.get("threads").asInt());
        assertEquals(DiagnoseCommand.REPEATS, b.get("repeats").asInt());
        JsonNode gemm = b.get("gemm");
        int n = gemm.get("n").asInt();
        assertEquals(2.0 * n * n * n, gemm.get("flops").asDouble());
        assertWellFormedTimes(gemm);
        JsonNode stats = b.get("statistics");
        assertEquals(2, stats.size());
        for (JsonNode s : stats) {
            double rows = s.get("rows").asDouble();
            int d = s.get("d").asInt();
            int m = s.get("m").asInt();
            assertEquals(rows * d * (d + 1) + 2 * rows * d * m + rows * m * (m + 1), s.get("flops").asDouble(), 1e-6);
            assertEquals(256, s.get("batchRows").asInt());
            assertWellFormedTimes(s);
            assertTrue(s.get("ratioToGemm").isNumber());
            assertEquals(s.get("gflops").asDouble() / gemm.get("gflops").asDouble(), s.get("ratioToGemm").asDouble(),
                    1e-9);
        }
        assertNotEquals(stats.get(0).get("m").asInt(), stats.get(1).get("m").asInt());
    }

    @Test
    void smallBenchmarkAsText() {
        assertEquals(0, run("--bench", "--bench-size", "small", "--device", "cpu", "--threads", "1"), err.toString());
        String text = out.toString();
        assertTrue(text.contains("benchmark: cpu: "), text);
        assertTrue(text.matches("(?s).*\\n  gemm \\d+x\\d+x\\d+ +[0-9.]+ ms +[0-9.]+ GFLOP/s\\n.*"), text);
        assertTrue(text.matches("(?s).*\\n  statistics d=\\d+ m=\\d+ M=\\d+ \\(batches of 256\\) +[0-9.]+ ms +[0-9.]+"
                + " GFLOP/s  [0-9.]+ x gemm\\n.*"), text);
    }

    @Test
    void badOptionsAreUsageErrors() {
        assertNotEquals(0, run("--bench", "--device", "tpu"));
        assertTrue(err.toString().contains("expected one of [auto, cpu, cuda]"), err.toString());
        assertNotEquals(0, run("--bench", "--threads", "-1"));
        assertNotEquals(0, run("--bench", "--bench-size", "huge"));
    }

    private static void assertWellFormedTimes(JsonNode node) {
        JsonNode t = node.get("seconds");
        double min = t.get("min").asDouble();
        double median = t.get("median").asDouble();
        double max = t.get("max").asDouble();
        assertTrue(min >= 0 && min <= median && median <= max, t.toString());
        assertTrue(Double.isFinite(node.get("gflops").asDouble()) && node.get("gflops").asDouble() >= 0,
                node.toString());
    }
}
