package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;

/** --keep-levels and --fuse-levels through the command line: the level table, the report, the configuration file. */
class KeepLevelsCliTest {
    @TempDir
    Path dir;

    private static List<String> args(Path out, String... options) {
        List<String> a = new ArrayList<>(List.of(Fixtures.model("mlp_k2_p0.onnx").toString(),
                Fixtures.model("mlp_k2_p1.onnx").toString(), "--data", Fixtures.data("calib400_x.npy").toString(),
                "--samples", "200", "--threads", "2", "--restarts", "2", "--no-check", "-o", out.toString()));
        a.addAll(List.of(options));
        return a;
    }

    @Test
    void keptLevelsAreReportedRecordedAndReplayed() throws IOException {
        Path kept = dir.resolve("kept.onnx");
        Path report = dir.resolve("report.json");
        Path yaml = dir.resolve("fuse.yaml");
        CliRunner cli = new CliRunner();
        assertEquals(0, cli.run(args(kept, "--keep-levels", "2", "--report", report.toString(), "--print-config",
                yaml.toString()).toArray(String[]::new)), cli.err.toString());
        String table = cli.out.toString();
        assertTrue(table.contains("kept (parent 0, fitted)"), table);
        JsonNode r = new ObjectMapper().readTree(report.toFile());
        assertEquals(0, r.path("config").path("keptLevels").path("2").asInt(-1), r.path("config").toString());
        assertEquals("kept (parent 0, fitted)", r.path("levels").get(1).path("method").asText());
        assertTrue(Files.readString(yaml).contains("keep-levels"), Files.readString(yaml));

        Path replayed = dir.resolve("replayed.onnx");
        CliRunner run = new CliRunner();
        assertEquals(0, run.run("run", yaml.toString(), "-o", replayed.toString(), "-q"), run.err.toString());
        assertArrayEquals(Files.readAllBytes(kept), Files.readAllBytes(replayed));

        Path fused = dir.resolve("fused.onnx");
        CliRunner complement = new CliRunner();
        assertEquals(0, complement.run(args(fused, "--fuse-levels", "1", "-q").toArray(String[]::new)),
                complement.err.toString());
        assertArrayEquals(Files.readAllBytes(kept), Files.readAllBytes(fused), "--fuse-levels 1 = --keep-levels 2");
    }
}
