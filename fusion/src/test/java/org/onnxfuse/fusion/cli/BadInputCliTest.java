package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Every kind of bad input, through the real command line: one line on stderr that names the
 * problem, the kind's own exit code, no stack trace unless --verbose, and no output file.
 */
class BadInputCliTest {
    @TempDir
    Path dir;

    private final CliRunner cli = new CliRunner();

    private void expect(ErrorCode code, String messagePart, String... args) {
        int exit = cli.run(args);
        String err = cli.err.toString();
        assertEquals(code.exitCode(), exit, "stderr: " + err);
        String[] lines = err.strip().split("\n");
        String last = lines[lines.length - 1];
        assertTrue(last.startsWith("onnx-fuse: error: "), err);
        assertEquals(1, java.util.Arrays.stream(lines).filter(l -> l.startsWith("onnx-fuse: error: ")).count(),
                "one error line expected, got: " + err);
        assertTrue(last.contains(messagePart), "'" + messagePart + "' not in: " + err);
        assertFalse(err.contains("\tat "), "stack trace without --verbose: " + err);
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static ProtoBytes graphWithInput(ProtoBytes... nodes) {
        ProtoBytes g = new ProtoBytes();
        for (ProtoBytes n : nodes) {
            g.message(1, n);
        }
        return g.string(2, "g").message(11, ProtoBytes.valueInfo("in"));
    }

    @Test
    void truncatedModel() throws IOException {
        byte[] full = Files.readAllBytes(Fixtures.model("mlp_k2_p0.onnx"));
        Path p = write("half.onnx", Arrays.copyOf(full, full.length / 2));
        expect(ErrorCode.TRUNCATED_MODEL, "half.onnx", "plan", p.toString());
    }

    @Test
    void randomBytes() throws IOException {
        byte[] junk = new byte[4096];
        new Random(7).nextBytes(junk);
        Path p = write("junk.onnx", junk);
        expect(ErrorCode.NOT_PROTOBUF, "junk.onnx", "plan", p.toString());
    }

    @Test
    void directory() {
        expect(ErrorCode.IS_DIRECTORY, dir.toString(), "plan", dir.toString());
    }

    @Test
    void missingFile() {
        expect(ErrorCode.FILE_NOT_FOUND, "absent.onnx", "plan", dir.resolve("absent.onnx").toString());
    }

    @Test
    void protobufThatIsNotAModel() throws IOException {
        // A serialized TensorProto: dims [2], data_type FLOAT.
        Path p = write("tensor.pb", new ProtoBytes().varint(1, 2).varint(2, 1).toByteArray());
        expect(ErrorCode.NOT_A_MODEL, "tensor.pb", "plan", p.toString());
    }

    @Test
    void cyclicGraph() throws IOException {
        ProtoBytes g = graphWithInput(
                ProtoBytes.node("Add", new String[] {"in", "y"}, new String[] {"x"}),
                ProtoBytes.node("Relu", new String[] {"x"}, new String[] {"y"}))
                .message(12, ProtoBytes.valueInfo("x"));
        Path p = write("cycle.onnx", ProtoBytes.model(g));
        expect(ErrorCode.CYCLIC_GRAPH, "cycle", "plan", p.toString());
    }

    @Test
    void duplicateTensorNames() throws IOException {
        ProtoBytes g = graphWithInput(
                ProtoBytes.node("Relu", new String[] {"in"}, new String[] {"x"}),
                ProtoBytes.node("Sigmoid", new String[] {"in"}, new String[] {"x"}))
                .message(12, ProtoBytes.valueInfo("x"));
        Path p = write("dup.onnx", ProtoBytes.model(g));
        expect(ErrorCode.DUPLICATE_NAME, "'x'", "plan", p.toString());
    }

    @Test
    void inputThatNothingProduces() throws IOException {
        ProtoBytes g = graphWithInput(ProtoBytes.node("Add", new String[] {"in", "nowhere"}, new String[] {"x"}))
                .message(12, ProtoBytes.valueInfo("x"));
        Path p = write("orphan.onnx", ProtoBytes.model(g));
        expect(ErrorCode.MISSING_PRODUCER, "'nowhere'", "plan", p.toString());
    }

    private Path modelWithExternalWeight(String name, String location, long length) throws IOException {
        ProtoBytes w = ProtoBytes.floatTensor("w", new long[] {length / 4})
                .message(13, ProtoBytes.externalEntry("location", location))
                .message(13, ProtoBytes.externalEntry("offset", "0"))
                .message(13, ProtoBytes.externalEntry("length", Long.toString(length)))
                .varint(14, 1);
        ProtoBytes g = graphWithInput(ProtoBytes.node("Add", new String[] {"in", "w"}, new String[] {"x"}))
                .message(5, w).message(12, ProtoBytes.valueInfo("x"));
        Path folder = Files.createDirectories(dir.resolve("model"));
        Path p = folder.resolve(name);
        Files.write(p, ProtoBytes.model(g));
        return p;
    }

    @Test
    void externalDataOutsideTheModelsFolder() throws IOException {
        Files.write(dir.resolve("outside.bin"), new byte[64]);
        Path p = modelWithExternalWeight("escape.onnx", "../outside.bin", 64);
        expect(ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER, "../outside.bin", "plan", p.toString());
    }

    @Test
    void externalDataPastTheEndOfItsFile() throws IOException {
        Path p = modelWithExternalWeight("short.onnx", "weights.bin", 4000);
        Files.write(p.resolveSibling("weights.bin"), new byte[40]);
        expect(ErrorCode.EXTERNAL_DATA_PAST_END, "weights.bin", "plan", p.toString());
    }

    @Test
    void declaredTensorSizeLargerThanItsBytes() throws IOException {
        ProtoBytes w = ProtoBytes.floatTensor("w", new long[] {1_000_000_000L, 1000}).bytes(9, new byte[16]);
        ProtoBytes g = graphWithInput(ProtoBytes.node("Add", new String[] {"in", "w"}, new String[] {"x"}))
                .message(5, w).message(12, ProtoBytes.valueInfo("x"));
        Path p = write("huge.onnx", ProtoBytes.model(g));
        expect(ErrorCode.TENSOR_SIZE_MISMATCH, "'w'", "plan", p.toString());
    }

    @Test
    void verboseAddsTheStackTrace() throws IOException {
        Path p = write("junk.onnx", "definitely not a model".getBytes(StandardCharsets.UTF_8));
        int exit = cli.run("plan", "--verbose", p.toString());
        assertTrue(exit != 0);
        assertTrue(cli.err.toString().contains("\tat "), cli.err.toString());
    }

    // ---- the fuse command's own checks ----

    private static String model(String name) {
        return Fixtures.model(name).toString();
    }

    @Test
    void onlyOneParent() {
        expect(ErrorCode.USAGE, "at least 2 parent", model("mlp_k2_p0.onnx"));
    }

    @Test
    void parentsWithDifferentPlans() {
        expect(ErrorCode.INCOMPATIBLE_PARENTS, "level", model("mlp_k2_p0.onnx"), model("vgg_p0.onnx"),
                "-o", dir.resolve("f.onnx").toString());
    }

    @Test
    void outputPathEqualToAnInput() {
        String a = model("mlp_k2_p0.onnx");
        expect(ErrorCode.OUTPUT_IS_INPUT, "mlp_k2_p0.onnx", a, model("mlp_k2_p1.onnx"), "-o", a);
    }

    @Test
    void dataOfAnUnsupportedDtype() throws IOException {
        byte[] complex = Npy.npy("<c8", false, new long[] {2, 1, 28, 28}, new byte[2 * 784 * 8]);
        Path data = Files.write(dir.resolve("complex.npy"), complex);
        expect(ErrorCode.DATA_DTYPE, "<c8", model("mlp_k2_p0.onnx"), model("mlp_k2_p1.onnx"),
                "--data", data.toString(), "-o", dir.resolve("f.onnx").toString());
        assertFalse(Files.exists(dir.resolve("f.onnx")), "no partial output");
    }

    @Test
    void dataOfTheWrongShape() throws IOException {
        Path data = Npy.writeFloats(dir.resolve("flat.npy"), new long[] {3, 784}, new float[3 * 784]);
        expect(ErrorCode.DATA_SHAPE, "[3, 784]", model("mlp_k2_p0.onnx"), model("mlp_k2_p1.onnx"),
                "--data", data.toString(), "-o", dir.resolve("f.onnx").toString());
    }

    @Test
    void dataWithNaN() throws IOException {
        float[] values = new float[2 * 784];
        values[784 + 5] = Float.NaN;
        Path data = Npy.writeFloats(dir.resolve("nan.npy"), new long[] {2, 1, 28, 28}, values);
        expect(ErrorCode.DATA_NOT_FINITE, "nan.npy", model("mlp_k2_p0.onnx"), model("mlp_k2_p1.onnx"),
                "--data", data.toString(), "-o", dir.resolve("f.onnx").toString());
        assertFalse(Files.exists(dir.resolve("f.onnx")), "no partial output");
    }
}
