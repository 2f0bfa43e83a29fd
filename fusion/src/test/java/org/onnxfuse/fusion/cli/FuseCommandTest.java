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
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.pipeline.Provenance;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/** The fuse command end to end: a real fusion of fixture parents, its outputs, and refusals. */
class FuseCommandTest {
    @TempDir
    Path dir;

    private final CliRunner cli = new CliRunner();

    private static String fixture(String name) {
        return Fixtures.model(name).toString();
    }

    private static String data(String name) {
        return Fixtures.data(name).toString();
    }

    @Test
    void kfGradientPrintsAndReportsEachLevelsTraining() throws IOException {
        Path out = dir.resolve("fused-gradient.onnx");
        Path report = dir.resolve("report-gradient.json");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--method", "kf-gradient", "--train-from", "parents", "--epochs", "4", "--lr", "2:1e-3",
                "--optimizer", "sgd", "-o", out.toString(), "--report", report.toString(), "--no-check");
        assertEquals(0, exit, cli.err.toString());
        String text = cli.out.toString();
        assertTrue(text.contains("training (validation loss: the loss on the held-out 20 % of the samples)"), text);
        assertTrue(text.contains("exact_start"), "level 1 starts exact from the parents' weights: " + text);
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        JsonNode last = json.get("levels").get(1).get("training");
        assertEquals(4, last.get("epochs").asInt());
        assertEquals(1e-3, last.get("learningRate").asDouble());
        assertTrue(last.get("bestValidationLoss").asDouble() <= last.get("startValidationLoss").asDouble());
        assertEquals("epochs", last.get("stopped").asText());
        JsonNode training = json.get("config").get("training");
        assertEquals("sgd", training.get("optimizer").asText());
        assertEquals("0.001", training.get("levelLr").get("2").asText());
        assertEquals("parents", training.get("trainFrom").asText());
        assertEquals("blocks", training.get("segments").asText());
        assertTrue(Provenance.read(OnnxReader.read(out)).get("config").contains("\"optimizer\":\"sgd\""));
    }

    @Test
    void float16WeightsAreWrittenWithTheirAccuracyCostShown() throws IOException {
        Path out = dir.resolve("fused16.onnx");
        Path report = dir.resolve("report16.json");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--eval-data", data("test_x.npy"), "--eval-labels", data("test_y.npy"), "-o", out.toString(),
                "--report", report.toString(), "--dtype", "float16");
        assertEquals(0, exit, cli.err.toString());
        String text = cli.out.toString();
        assertTrue(text.contains("fused, float32 weights") && text.contains("fused, float16 weights (written)"), text);
        Model fused = OnnxReader.read(out);
        assertEquals(org.onnxfuse.onnx.ir.DataType.FLOAT16,
                fused.graph().initializer("fc1.weight_float16").orElseThrow().dataType());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        assertEquals("float16", json.get("accuracy").get("dtype").asText());
        assertEquals("float16", json.get("config").get("dtype").asText());
        double narrow = json.get("accuracy").get("fused").asDouble();
        double wide = json.get("accuracy").get("fusedFloat32").asDouble();
        assertEquals(wide, narrow, 3.0 / 1500, "float16 storage costs at most a few test samples");
        assertEquals(2, cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                data("calib400_x.npy"), "-o", dir.resolve("x.onnx").toString(), "--dtype", "int8"));
    }

    /** A parent over the node limit is refused before any work (exit 25), naming its count and the option. */
    @Test
    void aParentOverTheNodeLimitIsRefusedBeforeAnyWork() {
        Path out = dir.resolve("limited.onnx");
        int nodes = Fixtures.read("mlp_k2_p0.onnx").graph().nodes().size();
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--max-nodes", String.valueOf(nodes - 1), "-o", out.toString());
        assertEquals(ErrorCode.TOO_MANY_NODES.exitCode(), exit, cli.err.toString());
        assertEquals(25, exit);
        String err = cli.err.toString();
        assertTrue(err.contains("mlp_k2_p0.onnx has " + nodes + " nodes; expected at most " + (nodes - 1)), err);
        assertTrue(err.contains("--max-nodes " + nodes), err);
        assertFalse(cli.out.toString().contains("level 1"), "refused before any level: " + cli.out);
        assertFalse(Files.exists(out));
        assertEquals(0, cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--max-nodes", String.valueOf(nodes), "--samples", "100", "--no-check", "-q", "-o", out.toString()),
                cli.err.toString());
        assertTrue(Files.exists(out));
        assertEquals(ErrorCode.USAGE.exitCode(), cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                data("calib400_x.npy"), "--max-nodes", "0", "-o", dir.resolve("zero.onnx").toString()));
        assertTrue(cli.err.toString().contains("--max-nodes must be at least 1; found 0"), cli.err.toString());
    }

    /** Parents that share a file name (each export in its own folder) are named by their paths. */
    @Test
    void parentsWithTheSameFileNameAreToldApart() throws IOException {
        Path a = Files.createDirectories(dir.resolve("p0")).resolve("model.onnx");
        Path b = Files.createDirectories(dir.resolve("p1")).resolve("model.onnx");
        Files.copy(Path.of(fixture("mlp_k2_p0.onnx")), a);
        Files.copy(Path.of(fixture("mlp_k2_p1.onnx")), b);
        assertEquals(java.util.List.of(a.toString(), b.toString(), "x.onnx"),
                FuseCommand.displayNames(java.util.List.of(a, b, Path.of("x.onnx"))));
        Path report = dir.resolve("same-names.json");
        int exit = cli.run(a.toString(), b.toString(), "--data", data("calib400_x.npy"), "--samples", "300",
                "--check", "80", "-o", dir.resolve("same.onnx").toString(), "--report", report.toString());
        assertEquals(0, exit, cli.err.toString());
        assertTrue(cli.out.toString().contains("predicts " + a + "'s class"), cli.out.toString());
        assertTrue(cli.out.toString().contains("predicts " + b + "'s class"), cli.out.toString());
        JsonNode parents = new ObjectMapper().readTree(report.toFile()).get("check").get("agreesWithParents");
        assertEquals(a.toString(), parents.get(0).get("file").asText());
        assertEquals(b.toString(), parents.get(1).get("file").asText());
    }

    @Test
    void theCheckWithoutLabelsUsesHeldOutSamples() throws IOException {
        Path report = dir.resolve("check.json");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--samples", "300", "--check", "80", "-o", dir.resolve("c.onnx").toString(), "--report",
                report.toString());
        assertEquals(0, exit, cli.err.toString());
        String text = cli.out.toString();
        assertTrue(text.contains("check without labels on calibration samples 300..379 (held out from the fusion)"),
                text);
        assertTrue(text.contains("predicts mlp_k2_p0.onnx's class"), text);
        JsonNode check = new ObjectMapper().readTree(report.toFile()).get("check");
        assertEquals(300, check.get("firstSample").asInt());
        assertEquals(80, check.get("samples").asInt());
        assertTrue(check.get("heldOut").asBoolean());
        // the fused K=2 MLP follows the ensemble far more often than chance (10 classes)
        assertTrue(check.get("agreesWithEnsemble").asDouble() > 0.7, check.toString());
        assertEquals(2, check.get("agreesWithParents").size());
        double error = check.get("logitError").asDouble();
        assertTrue(error > 0 && error < 2, check.toString());

        // every sample used: the last ones, said to be not held out
        assertEquals(0, cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                data("calib400_x.npy"), "--check", "50", "-o", dir.resolve("d.onnx").toString()));
        assertTrue(cli.out.toString().contains("350..399 (not held out: the fusion used every sample)"),
                cli.out.toString());
        assertEquals(0, cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                data("calib400_x.npy"), "--no-check", "-o", dir.resolve("e.onnx").toString(), "--quiet"));
        assertEquals(2, cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                data("calib400_x.npy"), "--check", "0", "-o", dir.resolve("f.onnx").toString()));
        assertTrue(cli.err.toString().contains("--check N: expected at least 1 sample, found 0"), cli.err.toString());
    }

    @Test
    void fusesWritesTheModelAndTheReport() throws IOException {
        Path out = dir.resolve("fused.onnx");
        Path report = dir.resolve("report.json");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--eval-data", data("test_x.npy"), "--eval-labels", data("test_y.npy"), "-o", out.toString(),
                "--report", report.toString());
        assertEquals(0, exit, cli.err.toString());
        String text = cli.out.toString();
        assertTrue(text.contains("fused 2 parents with kf-linear"), text);
        assertTrue(text.contains("ensemble (reference, not a model)"), text);

        Model fused = OnnxReader.read(out);
        Model parent = Fixtures.read("mlp_k2_p0.onnx");
        assertEquals(parent.graph().inputs().get(0).name(), fused.graph().inputs().get(0).name());
        assertEquals(parent.graph().outputs().get(0).name(), fused.graph().outputs().get(0).name());
        Map<String, String> provenance = Provenance.read(fused);
        assertEquals("kf-linear", provenance.get("method"));
        assertEquals(Provenance.sha256(Fixtures.model("mlp_k2_p0.onnx")) + ","
                + Provenance.sha256(Fixtures.model("mlp_k2_p1.onnx")), provenance.get("parents.sha256"));

        JsonNode json = new ObjectMapper().readTree(report.toFile());
        assertEquals(2, json.get("levels").size());
        JsonNode level1 = json.get("levels").get(0);
        assertEquals(256, level1.get("width").asInt());
        assertTrue(level1.has("fitError") && level1.has("groupingCost"));
        assertEquals(2, level1.get("importance").get("parents").size());
        assertEquals(256, level1.get("importance").get("parents").get(0).size());
        JsonNode accuracy = json.get("accuracy");
        assertEquals(2, accuracy.get("parents").size());
        assertTrue(text.contains("per class (accuracy %)"), text);
        // per class: 10 classes of the test set; the confusion matrix rows sum to each class's samples and
        // its diagonal gives the fused accuracy
        JsonNode perClass = accuracy.get("perClass");
        JsonNode confusion = accuracy.get("confusion").get("fused");
        assertEquals(10, perClass.size());
        long diagonal = 0;
        long all = 0;
        for (int c = 0; c < 10; c++) {
            long row = 0;
            for (JsonNode v : confusion.get(c)) {
                row += v.asLong();
            }
            assertEquals(perClass.get(c).get("samples").asLong(), row, "class " + c);
            assertEquals(perClass.get(c).get("fused").asDouble(), (double) confusion.get(c).get(c).asLong() / row, 1e-12);
            diagonal += confusion.get(c).get(c).asLong();
            all += row;
        }
        assertEquals(accuracy.get("fused").asDouble(), (double) diagonal / all, 1e-12);
        assertEquals(2, accuracy.get("confusion").get("parents").size());
        double fusedAccuracy = accuracy.get("fused").asDouble();
        assertTrue(fusedAccuracy > accuracy.get("bestParent").asDouble(),
                "KF-linear on the K=2 fixtures beats the best parent: " + accuracy);
        for (String stage : new String[] {"read_ms", "inference_ms", "statistics_ms", "grouping_ms", "solve_ms",
                "write_ms", "evaluate_ms", "total_ms"}) {
            assertTrue(json.get("timings").has(stage), stage);
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(2, files.count(), "only the model and the report, no temporary files");
        }
    }

    @Test
    void withoutDataRunsWeightMatchAndSaysWhy() {
        Path out = dir.resolve("wm.onnx");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "-o", out.toString());
        assertEquals(0, exit, cli.err.toString());
        assertTrue(cli.err.toString().contains("neuron interpolation needs calibration data"), cli.err.toString());
        assertEquals("weight-match", Provenance.read(OnnxReader.read(out)).get("method"));
    }

    @Test
    void everyMethodRunsFromTheCommandLine() {
        for (String method : new String[] {"hf-linear", "average", "weight-match", "act-match"}) {
            Path out = dir.resolve(method + ".onnx");
            int exit = cli.run(fixture("vgg_p0.onnx"), fixture("vgg_p1.onnx"), "--data", data("calib400_x.npy"),
                    "--method", method, "-o", out.toString(), "--quiet");
            assertEquals(0, exit, method + ": " + cli.err);
            assertEquals(method, Provenance.read(OnnxReader.read(out)).get("method"));
        }
    }

    @Test
    void widthFactorWidensTheHiddenLevel() {
        Path out = dir.resolve("wide.onnx");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--width", "1:300", "-o", out.toString(), "--quiet");
        assertEquals(0, exit, cli.err.toString());
        assertEquals("300,10", Provenance.read(OnnxReader.read(out)).get("widths"));
    }

    @Test
    void reportAndProvenanceRecordTheSameSettings() throws IOException {
        Path out = dir.resolve("fused.onnx");
        Path report = dir.resolve("report.json");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--samples", "120", "--seed", "3", "--width", "1:200", "--batch-size", "64", "--threads", "2",
                "--device", "cpu", "--ridge", "1e-5", "--restarts", "2", "--max-iterations", "50", "--importance",
                "uniform", "-o", out.toString(), "--report", report.toString(), "--quiet");
        assertEquals(0, exit, cli.err.toString());
        ObjectMapper json = new ObjectMapper();
        JsonNode recorded = json.readTree(Provenance.read(OnnxReader.read(out)).get("config"));
        JsonNode reported = json.readTree(report.toFile()).get("config");
        recorded.fieldNames().forEachRemaining(key -> assertEquals(recorded.get(key), reported.get(key), key));
        assertEquals(3, recorded.get("seed").asLong());
        assertEquals(120, recorded.get("samples").asLong());
        assertEquals(64, recorded.get("batchSize").asInt());
        assertEquals(1e-5, recorded.get("ridge").asDouble());
        assertEquals(2, recorded.get("restarts").asInt());
        assertEquals(50, recorded.get("maxIterations").asInt());
        assertEquals("uniform", recorded.get("importance").asText());
        assertEquals("none", recorded.get("explains").asText());
        assertEquals(200, recorded.get("widths").get("levels").get("1").asInt());
        // the report adds the files, which only the command line knows
        assertEquals(out.toString(), reported.get("output").asText());
        assertEquals(2, reported.get("parents").size());
    }

    private void expectRefusal(ErrorCode code, String part, Path mustNotExist, String... args) {
        int exit = cli.run(args);
        assertEquals(code.exitCode(), exit, cli.err.toString());
        assertTrue(cli.err.toString().contains(part), cli.err.toString());
        if (mustNotExist != null) {
            assertFalse(Files.exists(mustNotExist), "no output file may be written: " + mustNotExist);
        }
    }

    @Test
    void unwritableOutputFolderIsRefusedBeforeAnyWork() throws IOException {
        Path file = Files.writeString(dir.resolve("plain.txt"), "a file, not a folder");
        Path out = file.resolve("fused.onnx");
        expectRefusal(ErrorCode.OUTPUT_UNWRITABLE, "plain.txt", out, fixture("mlp_k2_p0.onnx"),
                fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"), "-o", out.toString());
    }

    @Test
    void outputEqualToAnInputLeavesTheInputUntouched() throws IOException {
        Path copy = Files.copy(Fixtures.model("mlp_k2_p1.onnx"), dir.resolve("p1.onnx"));
        byte[] before = Files.readAllBytes(copy);
        expectRefusal(ErrorCode.OUTPUT_IS_INPUT, "p1.onnx", null, fixture("mlp_k2_p0.onnx"), copy.toString(),
                "--data", data("calib400_x.npy"), "-o", copy.toString());
        assertEquals(java.util.Arrays.hashCode(before), java.util.Arrays.hashCode(Files.readAllBytes(copy)));
    }

    @Test
    void outputReachingAnInputThroughLinksIsRefusedByIdentity() throws IOException {
        Path parents = Files.createDirectory(dir.resolve("parents"));
        Path p0 = Files.copy(Fixtures.model("mlp_k2_p0.onnx"), parents.resolve("p0.onnx"));
        Path p1 = Files.copy(Fixtures.model("mlp_k2_p1.onnx"), parents.resolve("p1.onnx"));
        byte[] before = Files.readAllBytes(p0);
        // -o through a symlinked folder that is the parents' folder
        Path linkDir = Files.createSymbolicLink(dir.resolve("linkdir"), parents);
        expectRefusal(ErrorCode.OUTPUT_IS_INPUT, "is also an input", null, p0.toString(), p1.toString(),
                "--data", data("calib400_x.npy"), "-o", linkDir.resolve("p0.onnx").toString(), "-q");
        // a parent given through a symlink, -o naming the real file
        Path linkToP0 = Files.createSymbolicLink(dir.resolve("alias.onnx"), p0);
        expectRefusal(ErrorCode.OUTPUT_IS_INPUT, "is also an input", null, linkToP0.toString(), p1.toString(),
                "--data", data("calib400_x.npy"), "-o", p0.toString(), "-q");
        // a hard link to a parent
        Path hard = Files.createLink(dir.resolve("hard.onnx"), p0);
        expectRefusal(ErrorCode.OUTPUT_IS_INPUT, "is also an input", null, p0.toString(), p1.toString(),
                "--data", data("calib400_x.npy"), "-o", hard.toString(), "-q");
        // the report through the linked folder onto the data file
        Path data = Files.copy(Path.of(data("calib400_x.npy")), parents.resolve("x.npy"));
        expectRefusal(ErrorCode.OUTPUT_IS_INPUT, "is also an input", null, p0.toString(), p1.toString(),
                "--data", data.toString(), "-o", dir.resolve("f.onnx").toString(), "--report",
                linkDir.resolve("x.npy").toString(), "-q");
        assertEquals(java.util.Arrays.hashCode(before), java.util.Arrays.hashCode(Files.readAllBytes(p0)));
        assertFalse(Files.exists(dir.resolve("f.onnx")));
    }

    @Test
    void aSymlinkAtTheOutputPathIsReplacedNotFollowed() throws IOException {
        Path p0 = Files.copy(Fixtures.model("mlp_k2_p0.onnx"), dir.resolve("p0.onnx"));
        byte[] before = Files.readAllBytes(p0);
        Path out = Files.createSymbolicLink(dir.resolve("out.onnx"), p0);
        int exit = cli.run(p0.toString(), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"), "-o",
                out.toString(), "-q", "--importance", "uniform");
        assertEquals(0, exit, cli.err.toString());
        assertFalse(Files.isSymbolicLink(out), "the link itself is replaced by the fused model");
        assertEquals(java.util.Arrays.hashCode(before), java.util.Arrays.hashCode(Files.readAllBytes(p0)));
    }

    @Test
    void labelsOutOfRange() throws IOException {
        long[] labels = new long[400];
        labels[17] = 12;
        Path y = Npy.writeLongs(dir.resolve("bad_y.npy"), labels);
        Path out = dir.resolve("fused.onnx");
        expectRefusal(ErrorCode.DATA_FORMAT, "label 12 at index 17", null, fixture("mlp_k2_p0.onnx"),
                fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"), "--labels", y.toString(), "-o",
                out.toString(), "--quiet");
    }

    @Test
    void labelCountDifferentFromSamples() throws IOException {
        Path y = Npy.writeLongs(dir.resolve("short_y.npy"), new long[10]);
        expectRefusal(ErrorCode.DATA_SHAPE, "10 labels", null, fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"),
                "--data", data("calib400_x.npy"), "--labels", y.toString(), "-o", dir.resolve("f.onnx").toString(),
                "--quiet");
    }

    @Test
    void unknownMethodAndMissingOutput() {
        expectRefusal(ErrorCode.USAGE, "unknown method 'magic'", null, fixture("mlp_k2_p0.onnx"),
                fixture("mlp_k2_p1.onnx"), "--method", "magic", "-o", dir.resolve("f.onnx").toString());
        expectRefusal(ErrorCode.USAGE, "-o fused.onnx", null, fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"));
    }

    @Test
    void widthsTheParentsCannotFillAreUsageErrors() {
        expectRefusal(ErrorCode.USAGE, "expected at most the 512 neurons all parents have there, found 1000", null, fixture("mlp_k2_p0.onnx"),
                fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"), "--width", "1:1000", "-o",
                dir.resolve("f.onnx").toString(), "-q");
        expectRefusal(ErrorCode.USAGE, "levels 1..1", null, fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"),
                "--data", data("calib400_x.npy"), "--width", "3:10", "-o", dir.resolve("f.onnx").toString(), "-q");
        expectRefusal(ErrorCode.USAGE, "--width abc", null, fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"),
                "--data", data("calib400_x.npy"), "--width", "abc", "-o", dir.resolve("f.onnx").toString(), "-q");
        // an attention's heads are kept or fused together
        expectRefusal(ErrorCode.USAGE, "levels 2, 3, 4 kept from one parent or fused together, as they are one"
                + " attention's heads", null, fixture("vit/vitk2_p0.onnx"), fixture("vit/vitk2_p1.onnx"), "--data",
                data("calib400_x.npy"), "--keep-levels", "4", "-o", dir.resolve("f.onnx").toString(), "-q");
        // attention's reshapes into heads fix the widths of the heads and the stream (the MLPs' may change)
        expectRefusal(ErrorCode.USAGE, "levels 1..5, 7..11, 13..13 are attention heads or the stream", null,
                fixture("vit/vitk2_p0.onnx"), fixture("vit/vitk2_p1.onnx"), "--data", data("calib400_x.npy"), "--width",
                "1.5", "-o", dir.resolve("f.onnx").toString(), "-q");
    }

    @Test
    void attributionImportanceFromTheCommandLine() throws IOException {
        Path out = dir.resolve("deeplift.onnx");
        Path report = dir.resolve("deeplift.json");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--labels", data("calib400_y.npy"), "--samples", "120", "--importance", "deeplift", "-o",
                out.toString(), "--report", report.toString(), "--quiet");
        assertEquals(0, exit, cli.err.toString());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        assertEquals("deeplift", json.get("config").get("importance").asText());
        assertTrue(json.get("timings").get("importance_ms").asDouble() > 0);
        JsonNode level1 = json.get("levels").get(0).get("importance");
        assertEquals("deeplift", level1.get("method").asText());
        assertEquals("labels", level1.get("explains").asText());
        JsonNode parent0 = level1.get("parents").get(0);
        assertEquals(256, parent0.size());
        double sum = 0;
        java.util.Set<Double> distinct = new java.util.HashSet<>();
        for (JsonNode v : parent0) {
            sum += v.asDouble();
            distinct.add(v.asDouble());
        }
        assertEquals(1.0, sum, 1e-9);
        assertTrue(distinct.size() > 100, "attribution scores should differ between neurons: " + distinct.size());
        assertTrue(Provenance.read(OnnxReader.read(out)).get("config").contains("\"importance\":\"deeplift\","
                + "\"explains\":\"labels\""));
    }

    @Test
    void importanceNeedsAKnownNameAndAnInterpolationMethod() {
        expectRefusal(ErrorCode.USAGE, "unknown importance method 'magic'", null, fixture("mlp_k2_p0.onnx"),
                fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"), "--importance", "magic", "-o",
                dir.resolve("f.onnx").toString(), "-q");
        expectRefusal(ErrorCode.USAGE, "importance (--importance): expected --method kf-linear, hf-linear,"
                + " kf-gradient or kf-auto", null, fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--importance", "conductance", "--method", "average", "-o", dir.resolve("f.onnx").toString(), "-q");
    }

    /**
     * On a DAG pair kf-linear fuses by K-means and by one-to-one matching and keeps the closer: the
     * log says which and why, the report and the model's provenance record it; --grouping kmeans
     * fuses once.
     */
    @Test
    void theGroupingKeptIsLoggedAndRecorded() throws IOException {
        expectRefusal(ErrorCode.USAGE, "unknown grouping 'hungarian'; expected one of [auto, kmeans, both]", null,
                fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--grouping", "hungarian", "-o", dir.resolve("f.onnx").toString(), "-q");
        Path out = dir.resolve("squeeze.onnx");
        Path report = dir.resolve("squeeze.json");
        assertEquals(0, cli.run(fixture("dag/squeeze_p0.onnx"), fixture("dag/squeeze_p1.onnx"), "--data",
                data("calib400_x.npy"), "--labels", data("calib400_y.npy"), "--samples", "300", "--restarts", "2",
                "-o", out.toString(), "--report", report.toString(), "--no-check"), cli.err.toString());
        String err = cli.err.toString();
        java.util.regex.Matcher line = java.util.regex.Pattern.compile("onnx-fuse: grouping: kept (one-to-one"
                + " matching|K-means) \\(logit error to the parents' mean ([0-9.]+)\\) over (K-means|one-to-one"
                + " matching) \\(([0-9.]+)\\) on 300 calibration samples").matcher(err);
        assertTrue(line.find(), err);
        assertTrue(Double.parseDouble(line.group(2)) < Double.parseDouble(line.group(4)), line.group());
        JsonNode kept = new ObjectMapper().readTree(report.toFile()).get("config").get("groupingKept");
        assertEquals(line.group(1).equals("K-means") ? "kmeans" : "matching", kept.get("kept").asText());
        assertEquals(300, kept.get("samples").asInt());
        for (String candidate : List.of("kmeans", "matching")) {
            assertTrue(kept.get(candidate).get("logitError").asDouble() > 0, kept.toString());
            assertTrue(kept.get(candidate).get("crossEntropy").asDouble() > 0, kept.toString());
            double agreement = kept.get(candidate).get("agreement").asDouble();
            assertTrue(agreement > 0.5 && agreement <= 1, kept.toString());
        }
        String config = Provenance.read(OnnxReader.read(out)).get("config");
        assertTrue(config.contains("\"grouping\":\"auto\"") && config.contains("\"groupingKept\":{\"kept\":\""
                + kept.get("kept").asText() + "\""), config);

        Path once = dir.resolve("kmeans.onnx");
        int before = cli.err.toString().length();
        assertEquals(0, cli.run(fixture("dag/squeeze_p0.onnx"), fixture("dag/squeeze_p1.onnx"), "--data",
                data("calib400_x.npy"), "--samples", "300", "--restarts", "2", "--grouping", "kmeans", "-o",
                once.toString(), "--no-check"), cli.err.toString());
        String onceErr = cli.err.toString().substring(before);
        assertFalse(onceErr.contains("grouping: kept"), onceErr);
        String onceConfig = Provenance.read(OnnxReader.read(once)).get("config");
        assertTrue(onceConfig.contains("\"grouping\":\"kmeans\"") && !onceConfig.contains("groupingKept"),
                onceConfig);
    }

    @Test
    void groupingFormIsAKnownNameAndRecorded() throws IOException {
        expectRefusal(ErrorCode.USAGE, "unknown grouping form 'dense'; expected one of [auto, gram, cross, factor]", null,
                fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--grouping-form", "dense", "-o", dir.resolve("f.onnx").toString(), "-q");
        for (String form : new String[] {"factor", "cross"}) {
            Path out = dir.resolve(form + ".onnx");
            assertEquals(0, cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                    data("calib400_x.npy"), "--samples", "100", "--restarts", "1", "--importance", "uniform",
                    "--grouping-form", form, "-o", out.toString(), "-q"), cli.err.toString());
            assertTrue(Provenance.read(OnnxReader.read(out)).get("config").contains("\"groupingForm\":\"" + form
                    + "\""));
        }
    }

    @Test
    void parentsWithAFixedBatchSize() throws IOException {
        Path one0 = dir.resolve("one0.onnx");
        Path one1 = dir.resolve("one1.onnx");
        OnnxWriter.write(ModelEdits.fixedBatch(Fixtures.read("mlp_k2_p0.onnx"), 1), one0);
        OnnxWriter.write(ModelEdits.fixedBatch(Fixtures.read("mlp_k2_p1.onnx"), 1), one1);
        Path out = dir.resolve("one.onnx");
        int exit = cli.run(one0.toString(), one1.toString(), "--data", data("calib400_x.npy"), "--samples", "50",
                "--eval-data", data("test_x.npy"), "--eval-labels", data("test_y.npy"), "-o", out.toString());
        assertEquals(0, exit, cli.err.toString());
        assertTrue(cli.err.toString().contains("fixed batch size of 1"), cli.err.toString());
        assertTrue(cli.out.toString().contains("accuracy on"), cli.out.toString());

        Path seven0 = dir.resolve("seven0.onnx");
        Path seven1 = dir.resolve("seven1.onnx");
        OnnxWriter.write(ModelEdits.fixedBatch(Fixtures.read("mlp_k2_p0.onnx"), 7), seven0);
        OnnxWriter.write(ModelEdits.fixedBatch(Fixtures.read("mlp_k2_p1.onnx"), 7), seven1);
        Path refused = dir.resolve("seven.onnx");
        expectRefusal(ErrorCode.DATA_SHAPE, "holds 1500 samples, but the parents' input takes batches of exactly 7",
                refused, seven0.toString(), seven1.toString(), "--data", data("calib400_x.npy"), "--eval-data",
                data("test_x.npy"), "--eval-labels", data("test_y.npy"), "-o", refused.toString(), "-q");
    }

    @Test
    void hfLinearNeedsExactlyTwoParents() {
        expectRefusal(ErrorCode.USAGE, "exactly 2 parents", null, fixture("mlp_k4_p0.onnx"),
                fixture("mlp_k4_p1.onnx"), fixture("mlp_k4_p2.onnx"), "--data", data("calib400_x.npy"),
                "--method", "hf-linear", "-o", dir.resolve("f.onnx").toString());
    }

}
