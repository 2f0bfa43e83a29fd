package org.onnxfuse.fusion.evaluate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.Model;

/**
 * The committed fixtures under {@code test-models/} (system property {@code onnxfuse.testModels},
 * set by surefire). A missing fixture fails the test: it never skips.
 */
public final class Fixtures {
    /** Threads for test sessions: the dev machines have 2 cores. */
    public static final int THREADS = 2;
    public static final int BATCH = 500;

    private Fixtures() {
    }

    public static Path root() {
        String root = System.getProperty("onnxfuse.testModels");
        if (root == null || root.isEmpty() || root.contains("${")) {
            throw new AssertionError("system property onnxfuse.testModels is not set (surefire sets it)");
        }
        return Path.of(root);
    }

    private static Path existing(Path p) {
        if (!Files.isRegularFile(p)) {
            throw new AssertionError("fixture " + p + " is missing; see test-models/README.md");
        }
        return p;
    }

    public static Model model(String file) {
        return OnnxReader.read(existing(root().resolve("models").resolve(file)));
    }

    /** models/accuracies.json, written by the fixture generator. */
    public static JsonNode accuracies() {
        try {
            return new ObjectMapper().readTree(existing(root().resolve("models").resolve("accuracies.json")).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An array of test-models/data, e.g. "test_x.npy"; close it. */
    public static NpyArray data(String file) {
        return NpyArray.open(existing(root().resolve("data").resolve(file)));
    }

    /** The first output of {@code model} on all of {@code data}, concatenated. */
    public static float[] logits(Model model, SampleArray data) {
        try (ModelEvaluator e = ModelEvaluator.open(model, THREADS)) {
            float[] all = null;
            int at = 0;
            for (BatchOutputs out : e.run(data, BATCH)) {
                float[] v = out.first().values();
                if (all == null) {
                    all = new float[Math.toIntExact(v.length / out.count() * data.samples())];
                }
                System.arraycopy(v, 0, all, at, v.length);
                at += v.length;
            }
            return all;
        }
    }

    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError(a.length + " values vs " + b.length);
        }
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    /** Writes a 1-d int64 .npy file as numpy does (v1.0 header padded to 64 bytes). */
    public static Path writeLongs(Path file, long[] values) {
        String dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (" + values.length + ",), }";
        int total = 10 + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        ByteBuffer b = ByteBuffer.allocate(padded + 8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) (padded - 10));
        b.put(dict.getBytes(StandardCharsets.US_ASCII));
        for (int i = total - 1; i < padded - 1; i++) {
            b.put((byte) ' ');
        }
        b.put((byte) '\n');
        for (long v : values) {
            b.putLong(v);
        }
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
