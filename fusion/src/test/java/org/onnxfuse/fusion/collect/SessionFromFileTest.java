package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;

/**
 * Models over the in-memory limit (2 GiB models cannot be one protobuf message) reach ONNX Runtime
 * as a file with external data; forced here with a limit of 0 on a small model: the same outputs
 * as the in-memory session, and the temporary folder removed.
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

    private static List<Path> sessionFolders() throws IOException {
        try (Stream<Path> list = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return list.filter(p -> p.getFileName().toString().startsWith("onnx-fuse-session-")).toList();
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
        List<Path> before = sessionFolders();
        OrtRunner.Session memory = OrtRunner.openSession("in memory", model, 1, Long.MAX_VALUE);
        OrtRunner.Session file = OrtRunner.openSession("through a file", model, 1, 0);
        try {
            assertTrue(OrtRunner.tensorBytes(model) > 0);
            float[] expected = run(memory, input, x, shape);
            assertEquals(160, expected.length);
            assertArrayEquals(expected, run(file, input, x, shape), 1e-6f);
        } finally {
            memory.session().close();
            memory.options().close();
            file.session().close();
            file.options().close();
        }
        assertEquals(before, sessionFolders(), "the temporary folder is removed once the session is open");
    }
}
