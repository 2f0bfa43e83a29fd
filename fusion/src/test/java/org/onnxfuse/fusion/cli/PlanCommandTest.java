package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.plan.TestNets;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Node;

/** {@code onnx-fuse plan} end to end through {@link Main}'s command line and error reporter. */
class PlanCommandTest {
    private final CliRunner cli = new CliRunner();
    private final StringWriter out = cli.out;
    private final StringWriter err = cli.err;

    private int run(String... args) {
        return cli.run(args);
    }

    private static String path(String model) {
        return Fixtures.model(model).toString();
    }

    @Test
    void tableForOneModel() {
        assertEquals(0, run("plan", path("mlp_k2_p0.onnx")), err.toString());
        String text = out.toString();
        assertTrue(text.startsWith("mlp_k2_p0.onnx: input 'input' [batch, 1, 28, 28] -> output 'logits' [batch, 10],"
                + " 2 levels"), text);
        assertTrue(text.contains("Flatten, Gemm"), text);
        assertTrue(text.matches("(?s).*\\s1\\s+Flatten, Gemm\\s+/fc1/Gemm\\s+/fc1/Gemm_output_0\\s+\\[batch, 256]\\s+1"
                + "\\s+256\\s+785\\s*\n.*"), text);
        assertTrue(text.matches("(?s).*\\s2\\s+Relu, Gemm\\s+/fc2/Gemm\\s+logits\\s+\\[batch, 10]\\s+1\\s+10\\s+257\\s+yes"
                + "\n.*"), text);
    }

    @Test
    void jsonForOneModelHasLevelsAtTopLevel() throws IOException {
        assertEquals(0, run("plan", "--json", path("vgg_p0.onnx")), err.toString());
        JsonNode j = new ObjectMapper().readTree(out.toString());
        assertEquals("vgg_p0.onnx", j.get("model").asText());
        JsonNode levels = j.get("levels");
        assertEquals(3, levels.size());
        assertEquals("Conv", levels.get(0).get("op").asText());
        assertEquals(8, levels.get(0).get("width").asLong());
        assertEquals("/conv1/Conv_output_0", levels.get(0).get("cut").asText());
        assertEquals("Gemm", levels.get(2).get("op").asText());
        assertEquals(10, levels.get(2).get("width").asLong());
        assertEquals("logits", levels.get(2).get("cut").asText());
        assertTrue(levels.get(2).get("last").asBoolean());
    }

    @Test
    void jsonForSeveralModels() throws IOException {
        assertEquals(0, run("plan", "--json", path("bn_p0.onnx"), path("bn_p1.onnx")), err.toString());
        JsonNode models = new ObjectMapper().readTree(out.toString()).get("models");
        assertEquals(2, models.size());
        assertEquals("bn_p1.onnx", models.get(1).get("model").asText());
        assertEquals("/bn1/BatchNormalization_output_0", models.get(1).get("levels").get(0).get("cut").asText());
        assertEquals("/bn1/BatchNormalization", models.get(1).get("levels").get(0).get("foldedNorm").asText());
    }

    @Test
    void tablesForCompatibleParents() {
        assertEquals(0, run("plan", "--verbose", path("zoo_p0.onnx"), path("zoo_p1.onnx")), err.toString());
        String text = out.toString();
        assertTrue(text.contains("zoo_p0.onnx: input"), text);
        assertTrue(text.contains("zoo_p1.onnx: input"), text);
        assertTrue(text.contains("'/act4/Div' (Gelu as Div, Erf, Add, Mul, Mul)"), text);
        assertTrue(text.contains("2 models share one plan up to widths: they can be fused.\n\nmemory per level when"
                + " fusing 2 parents (kf-linear"), text);
    }

    @Test
    void mismatchedParentsExitWithTheirCode() {
        int code = run("plan", path("mlp_k2_p0.onnx"), path("mlpmm_p0.onnx"));
        assertEquals(ErrorCode.INCOMPATIBLE_PARENTS.exitCode(), code);
        assertEquals("", out.toString());
        assertTrue(err.toString().contains("parents do not match at level 1: mlp_k2_p0.onnx has node '/fc1/Gemm' (Gemm)"
                + " where mlpmm_p0.onnx has '/fc1/MatMul' (MatMul)"), err.toString());
    }

    @Test
    void unsupportedOpExitsWithItsCode(@TempDir Path dir) {
        Path model = dir.resolve("softmax_mid.onnx");
        OnnxWriter.write(TestNets.Net.input("batch", 4).gemm("fc1", 4, 3, true, true).op("mid", "Softmax")
                .gemm("fc2", 3, 2, true, true).build(), model);
        int code = run("plan", model.toString());
        assertEquals(ErrorCode.UNSUPPORTED_OP.exitCode(), code, err.toString());
        assertTrue(err.toString().contains("node 'mid' (Softmax) cannot be placed in a level"), err.toString());
    }

    @Test
    void aBiasTheExporterFeedsThroughAnIdentityIsPlanned(@TempDir Path dir) {
        // torch de-duplicates equal biases and feeds the copies through Identity nodes
        Path model = dir.resolve("identity_bias.onnx");
        TestNets.Net net = TestNets.Net.input("batch", 4).gemm("fc1", 4, 3, true, true);
        net.extra(Node.of("copy", "Identity", List.of("fc1.bias"), List.of("fc2.bias")));
        net.init("fc2.weight", new long[] {3, 3});
        OnnxWriter.write(net.op("fc2", "Gemm", List.of("fc2.weight", "fc2.bias"), Attribute.ofLong("transB", 1))
                .build(), model);
        assertEquals(0, run("plan", model.toString()), err.toString());
        assertTrue(out.toString().contains("2 levels"), out.toString());
    }

    @Test
    void missingFileAndMissingArguments() {
        assertEquals(ErrorCode.USAGE.exitCode(), run("plan"));
        int code = run("plan", "/nonexistent/model.onnx");
        assertEquals(ErrorCode.FILE_NOT_FOUND.exitCode(), code, err.toString());
    }
}
