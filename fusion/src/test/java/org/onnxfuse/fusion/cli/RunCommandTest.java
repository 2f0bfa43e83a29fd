package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.pipeline.Provenance;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.io.OnnxReader;

/** The configuration file: flags -> --print-config -> run gives the same model; refusals name the key. */
class RunCommandTest {
    @TempDir
    Path dir;

    @Test
    void flagsToConfigToTheSameFusedBytes() throws IOException {
        Path direct = dir.resolve("direct.onnx");
        Path yaml = dir.resolve("fuse.yaml");
        CliRunner cli = new CliRunner();
        assertEquals(0, cli.run(Fixtures.model("mlp_k4_p0.onnx").toString(), Fixtures.model("mlp_k4_p1.onnx").toString(),
                Fixtures.model("mlp_k4_p2.onnx").toString(), "--data", Fixtures.data("calib400_x.npy").toString(),
                "--samples", "200", "--width", "1:100", "--seed", "4", "--threads", "2", "--restarts", "2",
                "--no-check", "-o", direct.toString(), "--print-config", yaml.toString(), "-q"), cli.err.toString());
        String text = Files.readString(yaml);
        assertTrue(text.contains("parents:") && text.contains("seed: \"4\"") || text.contains("seed: 4"), text);

        Path replayed = dir.resolve("replayed.onnx");
        CliRunner run = new CliRunner();
        assertEquals(0, run.run("run", yaml.toString(), "-o", replayed.toString(), "-q"), run.err.toString());
        assertArrayEquals(Files.readAllBytes(direct), Files.readAllBytes(replayed));
        assertEquals("4", Provenance.read(OnnxReader.read(replayed)).get("seed"));
    }

    @Test
    void relativePathsPerLevelWidthsAndOverrides() throws IOException {
        Path models = Fixtures.model("mlp_k2_p0.onnx").getParent();
        Path yaml = dir.resolve("fuse.yaml");
        Files.writeString(yaml, String.join("\n",
                "parents: [" + models.resolve("mlp_k2_p0.onnx") + ", " + models.resolve("mlp_k2_p1.onnx") + "]",
                "data: " + Fixtures.data("calib400_x.npy"),
                "samples: 100",
                "width: {1: 64}",
                "output: out/fused.onnx",
                "report-html: out/report.html",
                "paper-exact: false",
                "check: 50",
                ""));
        Files.createDirectory(dir.resolve("out"));
        CliRunner run = new CliRunner();
        assertEquals(0, run.run("run", yaml.toString(), "--seed", "7", "-q"), run.err.toString());
        var fused = OnnxReader.read(dir.resolve("out/fused.onnx"));
        assertEquals("7", Provenance.read(fused).get("seed"));
        assertTrue(Provenance.read(fused).get("widths").startsWith("64,"), Provenance.read(fused).toString());
        assertTrue(Files.readString(dir.resolve("out/report.html")).startsWith("<!DOCTYPE html>"),
                "report-html is relative to the file's folder too");
    }

    @Test
    void unknownKeysAndBadValuesAreRefusedByName() throws IOException {
        Path yaml = dir.resolve("bad.yaml");
        Files.writeString(yaml, "parents: [a.onnx, b.onnx]\ncalib: x.npy\n");
        CliRunner run = new CliRunner();
        assertEquals(2, run.run("run", yaml.toString()));
        assertTrue(run.err.toString().contains("unknown setting 'calib'; expected one of parents, batch-size,"),
                run.err.toString());
        Files.writeString(yaml, "parents: [a.onnx, b.onnx]\nquiet: yes please\n");
        CliRunner quiet = new CliRunner();
        assertEquals(2, quiet.run("run", yaml.toString()));
        Files.writeString(yaml, "- just\n- a list\n");
        CliRunner list = new CliRunner();
        assertEquals(2, list.run("run", yaml.toString()));
        assertTrue(list.err.toString().contains("expected a YAML mapping of settings"), list.err.toString());
    }
}
