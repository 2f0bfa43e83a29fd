package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;

/** How the command line meets a user's slips: no arguments, other tools' option names, options before a subcommand, -q. */
class CliUsageTest {
    @TempDir
    Path dir;

    private static String fixture(String name) {
        return Fixtures.model(name).toString();
    }

    @Test
    void noArgumentsIsAUsageErrorWithTheUsageOnStandardError() {
        CliRunner cli = new CliRunner();
        assertEquals(2, cli.run());
        String err = cli.err.toString();
        assertTrue(err.startsWith("Usage: onnx-fuse"), err);
        assertTrue(err.contains("onnx-fuse: error: usage: no parent models given;"), err);
        assertEquals("", cli.out.toString());
    }

    @Test
    void helpListsEachCommandOnce() {
        CliRunner cli = new CliRunner();
        assertEquals(0, cli.run("--help"));
        String help = cli.out.toString();
        assertEquals(1, help.split("\n  diagnose ", -1).length - 1, help);
        assertEquals(1, help.split("\n  plan ", -1).length - 1, help);
        // the columns of the level table are defined where the options are
        assertTrue(help.contains("fit error = ||X W_fused - A U|| / ||A U||"), help);
        assertTrue(help.contains("grouping cost = sum_i s_i"), help);
        assertTrue(help.contains("61 not enough memory"), help);
    }

    @Test
    void otherToolsOptionNamesPointToOurs() {
        CliRunner cli = new CliRunner();
        assertEquals(2, cli.run(fixture("mlp_k2_p0.onnx"), "--calib", "x.npy", "-o", "y.onnx"));
        assertTrue(cli.err.toString().contains("Unknown option: '--calib'; onnx-fuse calls it --data"),
                cli.err.toString());
        CliRunner fp16 = new CliRunner();
        assertEquals(2, fp16.run(fixture("mlp_k2_p0.onnx"), "--fp16", "-o", "y.onnx"));
        assertTrue(fp16.err.toString().contains("onnx-fuse calls it --dtype float16"), fp16.err.toString());
    }

    @Test
    void fusionOptionsBeforeASubcommandAreRefused() {
        CliRunner cli = new CliRunner();
        assertEquals(2, cli.run("--data", "x.npy", "plan", fixture("mlp_k2_p0.onnx")));
        assertTrue(cli.err.toString().contains("--data given before 'plan' would be ignored"), cli.err.toString());
        assertEquals("", cli.out.toString());
        CliRunner plain = new CliRunner();
        assertEquals(0, plain.run("plan", fixture("mlp_k2_p0.onnx")));
    }

    @Test
    void aTorchSaveFileAsDataSaysHowToSaveNumpy() throws java.io.IOException {
        for (String name : new String[] {"calib.npy", "calib.npz"}) {
            Path file = dir.resolve(name);
            try (var out = new java.util.zip.ZipOutputStream(java.nio.file.Files.newOutputStream(file))) {
                out.putNextEntry(new java.util.zip.ZipEntry("calib/data.pkl"));
                out.write(new byte[] {(byte) 0x80, 2, '}', '.'});
                out.closeEntry();
            }
            CliRunner cli = new CliRunner();
            int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", file.toString(), "-o",
                    dir.resolve("o.onnx").toString());
            assertEquals(40, exit, cli.err.toString());
            assertTrue(cli.err.toString().contains("expected NumPy data (.npy, or .npz with one array per model input),"
                    + " found a PyTorch file (torch.save)"), cli.err.toString());
            assertTrue(cli.err.toString().contains("numpy.save('calib.npy', array)"), cli.err.toString());
        }
    }

    @Test
    void quietPrintsErrorsOnly() {
        CliRunner cli = new CliRunner();
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                Fixtures.data("calib400_x.npy").toString(), "--samples", "100", "--device", "auto", "-o",
                dir.resolve("q.onnx").toString(), "-q");
        assertEquals(0, exit, cli.err.toString());
        assertEquals("", cli.err.toString());
        assertEquals("", cli.out.toString());
        assertTrue(Files.exists(dir.resolve("q.onnx")));

        CliRunner failing = new CliRunner();
        int code = failing.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                dir.resolve("missing.npy").toString(), "-o", dir.resolve("r.onnx").toString(), "-q");
        assertTrue(code != 0);
        assertEquals("", failing.out.toString());
        assertTrue(failing.err.toString().startsWith("onnx-fuse: error: "), failing.err.toString());
        assertEquals(1, failing.err.toString().lines().count(), failing.err.toString());
    }
}
