package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * A fusion whose largest level's estimate is above the heap stops before any work with exit 61,
 * the level and the fix named, and no output; {@code plan} shows the estimate per level.
 */
class MemoryLimitCliTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    private Run run(String heap, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + heap, "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "finishes");
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    private static List<String> eightMlps() {
        List<String> files = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            files.add(Fixtures.model("mlp_k8_p" + i + ".onnx").toString());
        }
        return files;
    }

    @Test
    void aLevelAboveTheHeapIsRefusedBeforeAnyWork() throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(eightMlps());
        Path output = dir.resolve("fused.onnx");
        args.addAll(List.of("--data", Fixtures.data("calib400_x.npy").toString(), "--threads", "1", "-o",
                output.toString()));
        // level 1 of eight 784-256 MLPs: about 100 MiB even in the factor form, more than a 64 MiB heap
        Run refused = run("64m", args.toArray(String[]::new));
        assertEquals(61, refused.exit(), refused.err());
        assertEquals(1, refused.err().lines().count(), refused.err());
        assertTrue(refused.err().startsWith("onnx-fuse: error: not enough memory: level 1 (fan-in 785, 2048 neurons of"
                + " 8 parents) needs about "), refused.err());
        assertTrue(refused.err().contains("in factor form"), refused.err());
        assertTrue(refused.err().contains("-Xmx"), refused.err());
        assertFalse(Files.exists(output));
        assertFalse(refused.err().contains("importance"), "refused before the importance pass: " + refused.err());
    }

    @Test
    void planPrintsTheEstimatePerLevel() throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("plan"));
        args.addAll(eightMlps());
        Run table = run("512m", args.toArray(String[]::new));
        assertEquals(0, table.exit(), table.err());
        assertTrue(table.out().contains("memory per level when fusing 8 parents (kf-linear, at these widths, frontier at"
                + " its whole share of the heap: give --samples for less; this JVM's heap: "), table.out());
        // the level itself in Gram form, the frontier cache's quarter of the heap (plan knows no sample
        // count), the 8 parents' 6 MiB of weights and the runtime's 8 MiB
        assertTrue(table.out().contains("      1  "), table.out());
        assertTrue(table.out().contains(" MiB (statistics 49 MiB, then least squares 41 MiB + grouping 104 MiB in Gram"
                + " form or collection 99 MiB, frontier "), table.out());
        assertTrue(table.out().contains(", models 6 MiB, runtime 8 MiB)"), table.out());

        args.add("--json");
        Run json = run("512m", args.toArray(String[]::new));
        JsonNode memory = new ObjectMapper().readTree(json.out()).get("memory");
        assertEquals(8, memory.get("parents").asInt());
        assertEquals(2, memory.get("levels").size());
        assertEquals("gram", memory.get("levels").get(0).get("form").asText());
        assertTrue(memory.get("levels").get(0).get("bytes").asLong() > memory.get("levels").get(1).get("bytes").asLong());
        assertEquals(8 * 814_120L, memory.get("levels").get(0).get("models").asLong());
        assertEquals(8L << 20, memory.get("levels").get(0).get("runtime").asLong());
        assertEquals(memory.get("heapBytes").asLong() / 4, memory.get("levels").get(0).get("frontier").asLong());
        assertFalse(memory.has("samples"));

        // with a sample count the frontier is what the cache holds: level 1's input (784 pixels) for
        // the fused model and the 8 parents' inputs of level 2 (256 each), float32; the last level
        // keeps the fused model's input of it only
        args.addAll(List.of("--samples", "400"));
        JsonNode counted = new ObjectMapper().readTree(run("512m", args.toArray(String[]::new)).out()).get("memory");
        assertEquals(400, counted.get("samples").asLong());
        assertEquals(4L * 400 * (784 + 8 * 256), counted.get("levels").get(0).get("frontier").asLong());
        assertEquals(4L * 400 * 256, counted.get("levels").get(1).get("frontier").asLong());
        assertEquals(memory.get("levels").get(0).get("bytes").asLong() - memory.get("levels").get(0).get("frontier").asLong(),
                counted.get("levels").get(0).get("bytes").asLong() - counted.get("levels").get(0).get("frontier").asLong());

        args.remove(args.size() - 1);
        args.add("0");
        Run zero = run("512m", args.toArray(String[]::new));
        assertEquals(ErrorCode.USAGE.exitCode(), zero.exit(), zero.err());
        assertTrue(zero.err().contains("--samples must be at least 1; found 0"), zero.err());
    }
}
