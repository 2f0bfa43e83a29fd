package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.io.TempFiles;
import org.onnxfuse.onnx.ir.Model;

/**
 * Models over the in-memory limit (2 GiB models cannot be one protobuf message) reach ONNX Runtime
 * as a file with external data; forced here with a limit of 0 on a small model: the same outputs
 * as the in-memory session, and the temporary files removed; they are {@code TempFiles}, so the
 * shutdown hook and a later run's stale-file cleanup remove them after a kill.
 */
class SessionFromFileTest {

    private static float[] run(OrtRunner.Session s, String input, float[] x, long[] shape) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
             OrtSession.Result r = s.session().run(Map.of(input, t))) {
            float[][] out = (float[][]) r.get(0).getValue();
            float[] flat = new float[out.length * out[0].length];
            for (int i = 0; i < out.length; i++) {
                System.arraycopy(out[i], 0, flat, i * out[0].length, out[0].length);
            }
            return flat;
        }
    }

    /** This process's session files in the temporary folder. */
    private static List<Path> sessionFiles() throws IOException {
        String ours = ".onnx-fuse-" + ProcessHandle.current().pid() + "-";
        try (Stream<Path> list = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return list.filter(p -> p.getFileName().toString().startsWith(".session.onnx")
                    && p.getFileName().toString().contains(ours)).toList();
        }
    }

    @Test
    void aModelOverTheLimitRunsFromATemporaryFileWithTheSameOutputs() throws Exception {
        Model model = Fixtures.read("vgg_p0.onnx");
        float[] x;
        try (SampleArray xs = NpyArray.open(Fixtures.data("calib400_x.npy"))) {
            x = xs.readFloats(0, 16);
        }
        long[] shape = {16, 1, 28, 28};
        String input = model.graph().inputs().get(0).name();
        OrtRunner.Session memory = OrtRunner.openSession("in memory", model, 1, Long.MAX_VALUE);
        OrtRunner.Session file = OrtRunner.openSession("through a file", model, 1, 0);
        try {
            assertTrue(OrtRunner.tensorBytes(model) > 0);
            float[] expected = run(memory, input, x, shape);
            assertEquals(160, expected.length);
            assertArrayEquals(expected, run(file, input, x, shape));
        } finally {
            memory.session().close();
            memory.options().close();
            file.session().close();
            file.options().close();
        }
        assertEquals(List.of(), sessionFiles(), "the temporary files are removed once the session is open");
        assertTrue(TempFiles.live().stream().noneMatch(p -> p.getFileName().toString().startsWith(".session.onnx")),
                "and no longer registered for the shutdown hook");
    }

    @Test
    void modelsOverAnEighthOfTheHeapGoThroughAFile() {
        assertEquals(OrtRunner.IN_MEMORY_LIMIT, OrtRunner.inMemoryLimit(16L << 30));
        assertEquals(128L << 20, OrtRunner.inMemoryLimit(1L << 30), "-Xmx1g: a 275 MB model goes through a file");
    }

    @Test
    void theSessionFilesAreTemporaryFilesTheHookAndTheStaleCleanupKnow(@TempDir Path folder) throws IOException {
        Model model = Fixtures.read("vgg_p0.onnx");
        OrtRunner.SessionFiles files = OrtRunner.SessionFiles.write("vgg", model, folder);
        String owned = "\\.onnx-fuse-" + ProcessHandle.current().pid() + "-[0-9a-f]+\\.tmp";
        assertTrue(files.model().getFileName().toString().matches("\\.session\\.onnx" + owned),
                files.model().toString());
        assertTrue(files.side().getFileName().toString().matches("\\.session\\.onnx\\.data" + owned),
                files.side().toString());
        assertTrue(Files.size(files.side()) > 0, "the weights are in the side file");
        assertTrue(TempFiles.live().containsAll(List.of(files.model(), files.side())),
                "registered for the shutdown hook");
        try (Stream<Path> list = Files.list(folder)) {
            assertEquals(2, list.count(), "no other file: " + files);
        }

        files.delete();
        assertFalse(Files.exists(files.model()));
        assertFalse(Files.exists(files.side()));
        assertFalse(TempFiles.live().contains(files.model()));
        assertFalse(TempFiles.live().contains(files.side()));
    }

    @Test
    void sessionFilesOfAKilledRunAreRemovedByALaterOne(@TempDir Path folder) throws IOException, InterruptedException {
        OrtRunner.SessionFiles files = OrtRunner.SessionFiles.write("vgg", Fixtures.read("vgg_p0.onnx"), folder);
        files.delete();
        Process finished = new ProcessBuilder("true").start();
        finished.waitFor();
        String ours = "-" + ProcessHandle.current().pid() + "-";
        String theirs = "-" + finished.pid() + "-";
        List<Path> left = new ArrayList<>();
        for (Path p : List.of(files.model(), files.side())) {
            Path killed = folder.resolve(p.getFileName().toString().replace(ours, theirs));
            Files.write(killed, new byte[8]);
            Files.setLastModifiedTime(killed, FileTime.from(Instant.now().minusSeconds(3600)));
            left.add(killed);
        }

        assertEquals(left.stream().sorted().toList(), TempFiles.removeStale(folder).stream().sorted().toList());
        try (Stream<Path> list = Files.list(folder)) {
            assertEquals(0, list.count());
        }
    }
}
