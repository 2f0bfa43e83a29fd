package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.fusion.testing.MultiInputNets;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.fusion.testing.Npz;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Model;

/**
 * Models with several inputs through the real command line: {@code --data} and
 * {@code --eval-data} as one {@code .npz} keyed by input name, the plan listing every input, and
 * data that does not fit refused with the input named, the kind's exit code and no output file.
 */
class MultiInputCliTest {
    @TempDir
    Path dir;

    private final CliRunner cli = new CliRunner();

    private String[] parents(Model model) {
        Path a = dir.resolve("a.onnx");
        Path b = dir.resolve("b.onnx");
        OnnxWriter.write(model, a);
        OnnxWriter.write(ModelEdits.permuted(model, 7), b);
        return new String[] {a.toString(), b.toString()};
    }

    private Path npz(String name, Map<String, byte[]> arrays) {
        return Npz.write(dir.resolve(name), arrays);
    }

    private void expectRefused(ErrorCode code, String messagePart, Model model, Path data) {
        Path out = dir.resolve("fused.onnx");
        String[] p = parents(model);
        int exit = cli.run(p[0], p[1], "--data", data.toString(), "-o", out.toString(), "--quiet");
        String err = cli.err.toString();
        assertEquals(code.exitCode(), exit, err);
        assertTrue(err.contains("onnx-fuse: error: ") && err.contains(messagePart), "'" + messagePart + "' not in: "
                + err);
        assertFalse(Files.exists(out), "no output file on error");
    }

    @Test
    void fusesAndEvaluatesTwoInputsFromOneArchive() throws IOException {
        String[] p = parents(MultiInputNets.twoBranches());
        Path calib = MultiInputNets.twoBranchesData(dir.resolve("calib.npz"), 300, 1);
        Path test = MultiInputNets.twoBranchesData(dir.resolve("test.npz"), 100, 2);
        Path testLabels = MultiInputNets.labels(dir.resolve("test_y.npy"), 100, 3);
        Path out = dir.resolve("fused.onnx");
        Path report = dir.resolve("report.json");
        int exit = cli.run(p[0], p[1], "--data", calib.toString(), "--eval-data", test.toString(), "--eval-labels",
                testLabels.toString(), "--samples", "150", "-o", out.toString(), "--report", report.toString());
        assertEquals(0, exit, cli.err.toString());
        Model fused = OnnxReader.read(out);
        assertEquals(List.of("x", "side"), fused.graph().feedInputs().stream().map(v -> v.name()).toList());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        assertEquals(150, json.get("levels").get(0).get("samples").asInt(), "--samples keeps the first samples");
        JsonNode accuracy = json.get("accuracy");
        double parent = accuracy.get("parents").get(0).get("accuracy").asDouble();
        assertEquals(parent, accuracy.get("fused").asDouble(), 1e-9,
                "the fused model is the parent again, so it classifies alike: " + accuracy);
        // two branches that meet form a DAG, where kf-linear's default importance is uniform
        // (nothing to fall back from)
        assertEquals("uniform", json.get("config").get("importance").asText());
        assertFalse(cli.err.toString().contains("using uniform importance"), cli.err.toString());
    }

    @Test
    void anImportanceAskedForExplicitlyFailsOnSeveralInputs() {
        String[] p = parents(MultiInputNets.masked());
        Path out = dir.resolve("fused.onnx");
        int exit = cli.run(p[0], p[1], "--data", MultiInputNets.maskedData(dir.resolve("calib.npz"), 50, 1).toString(),
                "--importance", "deeplift", "-o", out.toString(), "--quiet");
        assertEquals(ErrorCode.UNSUPPORTED_OP.exitCode(), exit, cli.err.toString());
        assertTrue(cli.err.toString().contains("deeplift attributions start from one float input; this model has the"
                + " inputs ['x' (FLOAT), 'mask' (INT64)]"), cli.err.toString());
        assertFalse(Files.exists(out));
    }

    @Test
    void planListsEveryInputWithItsType() throws IOException {
        Path model = dir.resolve("masked.onnx");
        OnnxWriter.write(MultiInputNets.masked(), model);
        assertEquals(0, cli.run("plan", model.toString()), cli.err.toString());
        assertTrue(cli.out.toString().startsWith("masked.onnx: inputs 'x' [batch, 6] FLOAT, 'mask' [batch, 6] INT64"
                + " (passed through) -> output"), cli.out.toString());
        CliRunner json = new CliRunner();
        assertEquals(0, json.run("plan", "--json", model.toString()), json.err.toString());
        JsonNode inputs = new ObjectMapper().readTree(json.out.toString()).get("inputs");
        assertEquals(2, inputs.size());
        assertEquals("mask", inputs.get(1).get("name").asText());
        assertEquals(DataType.INT64.name(), inputs.get(1).get("elementType").asText());
        assertTrue(inputs.get(1).get("passedThrough").asBoolean());
        assertEquals(6, inputs.get(1).get("shape").get(1).asInt());
    }

    /** Gaussian float32 samples of {@code [n, width]} as {@code .npy} bytes. */
    private static byte[] floats(int n, int width) {
        return MultiInputNets.floats(new Random(n * 31L + width), n, width);
    }

    @Test
    void aMissingInputArrayIsNamedWithTheArraysPresent() {
        expectRefused(ErrorCode.DATA_FORMAT, "no array 'side' for model input 'side' (FLOAT); found arrays 'x'",
                MultiInputNets.twoBranches(), npz("calib.npz", Map.of("x", floats(20, 6))));
    }

    @Test
    void anArrayThatIsNoInputIsRefused() {
        Path data = npz("calib.npz", Map.of("x", floats(20, 6), "side", floats(20, 3), "extra", floats(20, 3)));
        expectRefused(ErrorCode.DATA_FORMAT, "array 'extra' is not a model input; expected exactly the arrays"
                + " 'x', 'side'", MultiInputNets.twoBranches(), data);
    }

    @Test
    void sampleCountsThatDifferAreRefused() {
        expectRefused(ErrorCode.DATA_SHAPE, "different numbers of samples ('x' 20, 'side' 18)",
                MultiInputNets.twoBranches(), npz("calib.npz", Map.of("x", floats(20, 6), "side", floats(18, 3))));
    }

    @Test
    void aFloatArrayForTheInt64MaskIsRefused() {
        expectRefused(ErrorCode.DATA_DTYPE, "calib.npz:mask: dtype float32 does not match model input 'mask' of"
                + " element type INT64", MultiInputNets.masked(),
                npz("calib.npz", Map.of("x", floats(20, 6), "mask", floats(20, 6))));
    }

    @Test
    void aShapeThatDoesNotFitItsInputIsNamed() {
        expectRefused(ErrorCode.DATA_SHAPE, "calib.npz:side: shape [20, 4] does not match model input 'side'",
                MultiInputNets.twoBranches(), npz("calib.npz", Map.of("x", floats(20, 6), "side", floats(20, 4))));
    }

    @Test
    void oneNpyForSeveralInputsIsRefused() {
        Path npy = Npy.writeFloats(dir.resolve("calib.npy"), new long[] {20, 6}, new float[120]);
        expectRefused(ErrorCode.DATA_FORMAT, "calib.npy holds one array, but the model has the inputs 'x' (FLOAT),"
                + " 'mask' (INT64)", MultiInputNets.masked(), npy);
    }
}
