package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * A failed run leaves nothing at -o or --report and no temporary file: every check that can fail
 * runs before the model is written, and the model and the report are put in place together.
 */
class NothingLeftBehindCliTest {
    @TempDir
    Path dir;

    private final CliRunner cli = new CliRunner();

    private Path out() {
        return dir.resolve("fused.onnx");
    }

    private void refused(ErrorCode code, String part, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of(Fixtures.model("mlp_k2_p0.onnx").toString(),
                Fixtures.model("mlp_k2_p1.onnx").toString(), "--data", Fixtures.data("calib400_x.npy").toString(),
                "--importance", "uniform", "-q", "-o", out().toString()));
        args.addAll(List.of(extra));
        int exit = cli.run(args.toArray(String[]::new));
        assertEquals(code.exitCode(), exit, cli.err.toString());
        assertTrue(cli.err.toString().contains(part), cli.err.toString());
        assertEquals(List.of(), folderContents(), "a refused run leaves nothing behind");
    }

    /** What the run wrote into the folder: everything but the inputs the test made there. */
    private List<String> folderContents() {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith("input_")).sorted().toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void evaluationLabelsOutOfRange() {
        long[] labels = new long[400];
        labels[9] = 10;
        Path y = Npy.writeLongs(dir.resolve("input_y.npy"), labels);
        refused(ErrorCode.DATA_FORMAT, "label 10 at index 9", "--eval-data", Fixtures.data("calib400_x.npy").toString(),
                "--eval-labels", y.toString());
    }

    @Test
    void labelsOfTheWrongCount() {
        Path y = Npy.writeLongs(dir.resolve("input_y.npy"), new long[399]);
        refused(ErrorCode.DATA_SHAPE, "399 labels", "--labels", y.toString());
    }

    @Test
    void labelsOfTheWrongShape() {
        Path y = Npy.write(dir.resolve("input_y.npy"), Npy.longs(new long[] {400, 2}, new long[800]));
        refused(ErrorCode.DATA_SHAPE, "[400, 2]", "--labels", y.toString());
    }

    @Test
    void evaluationDataWithNaN() {
        float[] x = new float[4 * 784];
        x[3] = Float.NaN;
        Path data = Npy.writeFloats(dir.resolve("input_x.npy"), new long[] {4, 1, 28, 28}, x);
        Path y = Npy.writeLongs(dir.resolve("input_y.npy"), new long[4]);
        refused(ErrorCode.DATA_NOT_FINITE, "input_x.npy", "--eval-data", data.toString(), "--eval-labels",
                y.toString());
    }

    @Test
    void reportIntoAFolderThatDoesNotExist() {
        refused(ErrorCode.OUTPUT_UNWRITABLE, "does not exist", "--report", dir.resolve("no/such/report.json").toString());
    }

    @Test
    void outputPathEndingInASeparator() {
        int exit = cli.run(Fixtures.model("mlp_k2_p0.onnx").toString(), Fixtures.model("mlp_k2_p1.onnx").toString(),
                "--data", Fixtures.data("calib400_x.npy").toString(), "-q", "-o", dir.resolve("newdir") + "/");
        assertEquals(ErrorCode.OUTPUT_UNWRITABLE.exitCode(), exit, cli.err.toString());
        assertTrue(cli.err.toString().contains("names a folder"), cli.err.toString());
        assertEquals(List.of(), folderContents());
    }

    @Test
    void labelsShapedAsAColumnAreAccepted() {
        long[] column = Fixtures.labels(Fixtures.data("calib400_y.npy"), 400);
        Path y = Npy.write(dir.resolve("input_y.npy"), Npy.longs(new long[] {400, 1}, column));
        int exit = cli.run(Fixtures.model("mlp_k2_p0.onnx").toString(), Fixtures.model("mlp_k2_p1.onnx").toString(),
                "--data", Fixtures.data("calib400_x.npy").toString(), "--labels", y.toString(), "-o",
                out().toString());
        assertEquals(0, exit, cli.err.toString());
        assertTrue(cli.out.toString().contains("accuracy on"), cli.out.toString());
    }

    @Test
    void aSuccessfulRunRemovesStaleTemporariesAndLeavesNoneOfItsOwn() throws IOException {
        long ended = finishedProcessId();
        Path stale = Files.write(dir.resolve(".fused.onnx.onnx-fuse-" + ended + "-ab12.tmp"), new byte[8]);
        Files.setLastModifiedTime(stale, FileTime.from(Instant.now().minusSeconds(3600)));
        // what a killed run leaves in the temporary folder: a model handed to ONNX Runtime through a file
        Path staleSession = Files.write(Path.of(System.getProperty("java.io.tmpdir"))
                .resolve(".session.onnx.data.onnx-fuse-" + ended + "-cd34.tmp"), new byte[8]);
        try {
            Files.setLastModifiedTime(staleSession, FileTime.from(Instant.now().minusSeconds(3600)));
            int exit = cli.run(Fixtures.model("mlp_k2_p0.onnx").toString(), Fixtures.model("mlp_k2_p1.onnx").toString(),
                    "--data", Fixtures.data("calib400_x.npy").toString(), "--importance", "uniform", "-q", "-o",
                    out().toString(), "--report", dir.resolve("report.json").toString());
            assertEquals(0, exit, cli.err.toString());
            assertEquals(List.of("fused.onnx", "report.json"), folderContents());
            assertFalse(Files.exists(stale));
            assertFalse(Files.exists(staleSession), "stale temporaries in java.io.tmpdir are removed too");
        } finally {
            Files.deleteIfExists(staleSession);
        }
    }

    /** The id of a process that has ended, so that a file naming it as owner is stale. */
    static long finishedProcessId() {
        try {
            Process p = new ProcessBuilder("true").start();
            p.waitFor();
            return p.pid();
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
