package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * What reaches stderr: one line per error, whatever the cause, and no ONNX Runtime logging or
 * raw control characters from a model's names.
 */
class StderrCliTest {
    @TempDir
    Path dir;

    private final CliRunner cli = new CliRunner();

    /** A command line picocli refuses: exit 2 and one usage line holding {@code hint}. */
    private void oneUsageLine(String hint, String... args) {
        assertEquals(ErrorCode.USAGE.exitCode(), cli.run(args));
        String err = cli.err.toString();
        assertEquals(1, err.strip().split("\n").length, err);
        assertTrue(err.startsWith("onnx-fuse: error: usage: "), err);
        assertTrue(err.contains(hint), "the hint stays on the line: " + err);
    }

    @Test
    void anUnknownOptionIsOneLineWithTheSuggestions() {
        oneUsageLine("possible solutions: --data", Fixtures.model("mlp_k2_p0.onnx").toString(), "--dat", "x.npy");
    }

    @Test
    void aBadOptionValueIsOneLine() {
        oneUsageLine("--help", Fixtures.model("mlp_k2_p0.onnx").toString(), "--seed", "many");
    }

    @Test
    void anExceptionThatIsNoUserErrorIsAnInternalErrorAskingToBeReported() {
        picocli.CommandLine cli = Main.newCommandLine();
        java.io.StringWriter err = new java.io.StringWriter();
        cli.setErr(new java.io.PrintWriter(err, true));
        int exit = new ErrorReporter().handleExecutionException(new IllegalStateException("broken\ninvariant"), cli,
                null);
        assertEquals(ErrorCode.INTERNAL.exitCode(), exit);
        assertEquals(1, err.toString().strip().split("\n").length, err.toString());
        assertTrue(err.toString().startsWith("onnx-fuse: error: internal error: IllegalStateException: broken\\ninvariant"),
                err.toString());
        assertTrue(err.toString().contains("please report it"), err.toString());
    }

    /** A parent whose first Gemm is named with a newline and an ANSI escape that would forge a line. */
    private Path parentWithAForgingName(String name) {
        Model m = Fixtures.read(name);
        Graph g = m.graph();
        Node gemm = g.nodes().stream().filter(n -> n.opType().equals("Gemm")).findFirst().orElseThrow();
        Node renamed = new Node("fc\nonnx-fuse: done: fused OK\u001b[31m", gemm.opType(), gemm.domain(), gemm.inputs(),
                gemm.outputs(), gemm.attributes(), gemm.docString(), null);
        Path p = dir.resolve("forged_" + name);
        OnnxWriter.write(m.withGraph(g.toBuilder().replaceNode(gemm, renamed).build()), p);
        return p;
    }

    @Test
    void namesFromAModelAreEscapedInThePlanTableAndInErrors() {
        Path p0 = parentWithAForgingName("mlp_k2_p0.onnx");
        assertEquals(0, cli.run("plan", p0.toString()), cli.err.toString());
        String table = cli.out.toString();
        assertTrue(table.contains("fc\\nonnx-fuse: done: fused OK\\x1b[31m"), table);
        assertFalse(table.contains("\u001b"), table);
        assertFalse(table.lines().anyMatch(l -> l.startsWith("onnx-fuse: done")), table);

        Model forged = org.onnxfuse.onnx.io.OnnxReader.read(p0);
        Node gemm = forged.graph().nodes().stream().filter(n -> n.opType().equals("Gemm")).findFirst().orElseThrow();
        Path broken = dir.resolve("broken.onnx");
        OnnxWriter.write(forged.withGraph(forged.graph().toBuilder().replaceNode(gemm,
                gemm.withAttribute(org.onnxfuse.onnx.ir.Attribute.ofLongs("transB", 1))).build()), broken);
        CliRunner refused = new CliRunner();
        assertEquals(ErrorCode.INVALID_MODEL.exitCode(), refused.run("plan", broken.toString()));
        String err = refused.err.toString();
        assertEquals(1, err.strip().split("\n").length, err);
        assertTrue(err.contains("fc\\nonnx-fuse: done: fused OK\\x1b[31m"), err);
    }

    /** A parent with an initializer no node reads, which ONNX Runtime warns about when it loads it. */
    private Path parentWithAnUnusedInitializer() {
        Model m = Fixtures.read("mlp_k2_p0.onnx");
        Graph g = m.graph().toBuilder().addInitializer(Tensor.ofFloats("unused", new long[] {2}, new float[] {1, 2}))
                .build();
        Path p = dir.resolve("unused.onnx");
        OnnxWriter.write(m.withGraph(g), p);
        return p;
    }

    private String stderrOfAProcess(String... extra) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                parentWithAnUnusedInitializer().toString(), Fixtures.model("mlp_k2_p1.onnx").toString(), "--data",
                Fixtures.data("calib400_x.npy").toString(), "--importance", "uniform", "--threads", "1", "-q", "-o",
                dir.resolve("fused.onnx").toString()));
        command.addAll(List.of(extra));
        Path err = dir.resolve("stderr.txt");
        Process p = new ProcessBuilder(command).redirectError(err.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the fusion finishes");
        assertEquals(0, p.exitValue(), Files.readString(err));
        return Files.readString(err, StandardCharsets.UTF_8);
    }

    @Test
    void onnxRuntimesOwnWarningsOnlyWithVerbose() throws IOException, InterruptedException {
        assertFalse(stderrOfAProcess().contains("onnxruntime"), "ONNX Runtime logged without --verbose");
        assertTrue(stderrOfAProcess("--verbose").contains("[W:onnxruntime"), "--verbose lets its warnings through");
    }
}
