package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/** End-to-end linear fusion on the fixture models, checked in ONNX Runtime on held-out data. */
class FusionTest {

    private static FusionResult fuse(List<Model> parents, String calib, long samples, FusionMethod method) {
        List<String> log = new ArrayList<>();
        FusionResult r = Fusion.builder().parentModels(parents).calibration(Fixtures.data(calib + ".npy"))
                .samples(samples).method(method).device("cpu").threads(2).batchSize(200).seed(1)
                .log(log::add).build().fuse();
        for (LevelReport l : r.levels()) {
            System.out.printf("level %d %s %s k=%d d=%d rows=%d residual=%.3g cost=%.4g times ms: infer %.0f stats %.0f"
                            + " group %.0f solve %.0f%n", l.level(), l.opType(), l.method(), l.width(), l.fanIn(),
                    l.rows(), l.relativeResidual(), l.groupingCost(), l.inferenceMillis(), l.statisticsMillis(),
                    l.groupingMillis(), l.solveMillis());
        }
        System.out.printf("total %.0f ms%n", r.totalMillis());
        return r;
    }

    private static void assertReproduces(Model parent, Model fused, double tolerance) {
        float[] expected = Fixtures.logits(parent, Fixtures.data("test_x.npy"));
        float[] actual = Fixtures.logits(fused, Fixtures.data("test_x.npy"));
        double diff = Fixtures.maxAbsDifference(expected, actual);
        System.out.println("max abs logit difference on test data: " + diff);
        assertTrue(diff < tolerance, "max abs logit difference " + diff);
    }

    @Test
    void mlpFusedWithPermutedCopyOfItselfIsTheSameFunction() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model perm = ModelEdits.permuted(p0, 7);
        assertReproduces(p0, perm, 1e-4);
        FusionResult r = fuse(List.of(p0, perm), "calib400_x", 0, FusionMethod.KF_LINEAR);
        assertReproduces(p0, r.model(), 1e-4);
    }

    @Test
    void attributionImportanceKeepsAPermutedCopyTheSameFunction() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model perm = ModelEdits.permuted(p0, 7);
        long[] labels = Fixtures.labels(Fixtures.data("calib400_y.npy"), 400);
        for (ImportanceMethod method : List.of(ImportanceMethod.CONDUCTANCE, ImportanceMethod.DEEPLIFT,
                ImportanceMethod.ABLATION)) {
            FusionResult r = Fusion.builder().parents(p0, perm).calibration(Fixtures.data("calib400_x.npy"))
                    .samples(200).labels(labels).importance(method).device("cpu").threads(2).restarts(2)
                    .log(s -> { }).build().fuse();
            assertEquals(method, r.importance().method());
            assertEquals("labels", r.importance().labelSource());
            // the copy's scores are the parent's, permuted
            double[] s0 = r.importance().of(0, 1);
            double[] s1 = r.importance().of(1, 1);
            java.util.Arrays.sort(s0);
            java.util.Arrays.sort(s1);
            assertArrayEquals(s0, s1, 1e-5 * s0[s0.length - 1]); // float32 sums in another order
            assertReproduces(p0, r.model(), 1e-4);
        }
    }

    private static Model atOpset12(Model m) {
        List<org.onnxfuse.onnx.ir.OpsetImport> opsets = m.opsetImports().stream()
                .map(o -> o.domain().isEmpty() ? new org.onnxfuse.onnx.ir.OpsetImport("", 12) : o).toList();
        return new Model(m.irVersion(), opsets, m.producerName(), m.producerVersion(), m.domain(), m.modelVersion(),
                m.docString(), m.metadata(), m.graph(), m.baseDirectory(), null);
    }

    @Test
    void theDefaultImportanceFallsBackToUniformWhereItCannotRun() {
        // backward graphs need opset 13 or later; Gemm, Relu and Flatten mean the same at 12
        Model p0 = atOpset12(Fixtures.read("mlp_k2_p0.onnx"));
        Model p1 = atOpset12(Fixtures.read("mlp_k2_p1.onnx"));
        List<String> log = new ArrayList<>();
        FusionResult r = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy")).samples(200)
                .device("cpu").threads(2).restarts(2).log(log::add).build().fuse();
        assertEquals(ImportanceMethod.UNIFORM, r.importance().method());
        assertTrue(r.warnings().stream().anyMatch(w -> w.contains("opset") && w.contains("using uniform importance")),
                r.warnings().toString());
        assertTrue(Provenance.read(r.model()).get("config").contains("\"importance\":\"uniform\""));
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class, () -> Fusion.builder().parents(p0, p1)
                .calibration(Fixtures.data("calib400_x.npy")).samples(200).importance(ImportanceMethod.DEEPLIFT)
                .device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse());
        assertTrue(e.getMessage().contains("opset 12"), e.getMessage());
    }

    @Test
    void aReshapeToTheInputsOwnBatchSizeFusesLikeFlatten() {
        // torch exports x.view(x.size(0), -1) as Shape -> Gather -> Unsqueeze -> Concat -> Reshape
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        Model v0 = ModelEdits.viewInsteadOfFlatten(p0);
        Model v1 = ModelEdits.viewInsteadOfFlatten(p1);
        assertReproduces(p0, v0, 1e-6);
        long[] labels = Fixtures.labels(Fixtures.data("calib400_y.npy"), 400);
        FusionResult flat = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy")).samples(200)
                .labels(labels).device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse();
        FusionResult view = Fusion.builder().parents(v0, v1).calibration(Fixtures.data("calib400_x.npy")).samples(200)
                .labels(labels).device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse();
        assertEquals(ImportanceMethod.DEEPLIFT, view.importance().method(), "the backward graph handles the view");
        assertTrue(view.warnings().stream().noneMatch(w -> w.contains("importance")), view.warnings().toString());
        float[] a = Fixtures.logits(flat.model(), Fixtures.data("test_x.npy"));
        float[] b = Fixtures.logits(view.model(), Fixtures.data("test_x.npy"));
        assertTrue(Fixtures.maxAbsDifference(a, b) < 1e-5, "max abs logit difference " + Fixtures.maxAbsDifference(a, b));
        assertEquals(Fixtures.interfaceOf(p0), Fixtures.interfaceOf(view.model()));
    }

    @Test
    void parentsExportedWithAFixedBatchSizeRunInBatchesOfThatSize() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        FusionResult free = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy")).samples(60)
                .device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse();
        List<String> log = new ArrayList<>();
        FusionResult one = Fusion.builder().parents(ModelEdits.fixedBatch(p0, 1), ModelEdits.fixedBatch(p1, 1))
                .calibration(Fixtures.data("calib400_x.npy")).samples(60).device("cpu").threads(2).restarts(2)
                .log(log::add).build().fuse();
        assertTrue(one.warnings().stream().anyMatch(w -> w.contains("fixed batch size of 1")), one.warnings().toString());
        float[] a = Fixtures.logits(free.model(), Fixtures.data("test_x.npy"));
        float[] b = Fixtures.logits(ModelEdits.fixedBatch(one.model(), -1), Fixtures.data("test_x.npy"));
        assertTrue(Fixtures.maxAbsDifference(a, b) < 1e-4, "batches of 1 vs 256: " + Fixtures.maxAbsDifference(a, b));

        // batches of exactly 7: the 60 samples' last partial batch is left out, and said so; comparing
        // both groupings runs the candidates in those batches too
        FusionResult seven = Fusion.builder().parents(ModelEdits.fixedBatch(p0, 7), ModelEdits.fixedBatch(p1, 7))
                .calibration(Fixtures.data("calib400_x.npy")).samples(60).device("cpu").threads(2).restarts(2)
                .groupingChoice(GroupingChoice.BOTH).log(s -> { }).build().fuse();
        assertEquals(56L, ((Map<?, ?>) seven.settings().get("groupingKept")).get("samples"));
        assertTrue(seven.warnings().stream().anyMatch(w -> w.contains("using the first 56 of the 60 calibration"
                + " samples")), seven.warnings().toString());
        assertEquals(56, seven.levels().get(0).samples());

        assertEquals(10_000, Fusion.selectionRows(50_000, 0));
        assertEquals(9_996, Fusion.selectionRows(50_000, 7));
        assertEquals(56, Fusion.selectionRows(56, 7));
        assertEquals(20_000, Fusion.selectionRows(40_000, 20_000), "one whole batch at least");

        IncompatibleModelsException mixed = assertThrows(IncompatibleModelsException.class, () -> Fusion.builder()
                .parents(ModelEdits.fixedBatch(p0, 1), ModelEdits.fixedBatch(p1, 2))
                .calibration(Fixtures.data("calib400_x.npy")).samples(60).log(s -> { }).build().fuse());
        assertTrue(mixed.getMessage().contains("[2, 1, 28, 28]"), mixed.getMessage());
    }

    @Test
    void inputNormalisationInsideTheParentsIsKept() {
        Model p0 = ModelEdits.withInputNormalisation(Fixtures.read("mlp_k2_p0.onnx"), 0.1307f, 0.3081f);
        Model perm = ModelEdits.permuted(p0, 7);
        long[] labels = Fixtures.labels(Fixtures.data("calib400_y.npy"), 400);
        FusionResult r = Fusion.builder().parents(p0, perm).calibration(Fixtures.data("calib400_x.npy"))
                .labels(labels).device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse();
        assertEquals(ImportanceMethod.DEEPLIFT, r.importance().method(), "the backward graph handles Sub and Div");
        assertReproduces(p0, r.model(), 1e-4);
    }

    @Test
    void aChannelsLastFlattenFusesLikeAChannelsFirstOne() {
        // tf2onnx writes Keras CNNs with a Transpose to [N, H, W, C] before the Flatten
        Model v0 = Fixtures.read("vgg_p0.onnx");
        Model v1 = Fixtures.read("vgg_p1.onnx");
        Model t0 = ModelEdits.channelsLastFlatten(v0);
        Model t1 = ModelEdits.channelsLastFlatten(v1);
        assertReproduces(v0, t0, 1e-4);
        assertReproduces(t0, ModelEdits.permuted(t0, 5), 1e-4);
        FusionResult copy = fuse(List.of(t0, ModelEdits.permuted(t0, 5)), "calib400_x", 200, FusionMethod.KF_LINEAR);
        assertReproduces(t0, copy.model(), 1e-4);
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.WEIGHT_MATCH,
                FusionMethod.ACT_MATCH)) {
            FusionResult first = fuse(List.of(v0, v1), "calib400_x", 200, method);
            FusionResult last = fuse(List.of(t0, t1), "calib400_x", 200, method);
            float[] a = Fixtures.logits(first.model(), Fixtures.data("test_x.npy"));
            float[] b = Fixtures.logits(last.model(), Fixtures.data("test_x.npy"));
            assertTrue(Fixtures.maxAbsDifference(a, b) < 1e-3, method + ": " + Fixtures.maxAbsDifference(a, b));
        }
        FusionResult narrow = Fusion.builder().parents(t0, t1).calibration(Fixtures.data("calib400_x.npy"))
                .width(1, 12).width(2, 10).device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse();
        double acc = Fixtures.testAccuracy(OnnxReader.parse(OnnxWriter.toBytes(narrow.model()), null));
        assertTrue(acc > 0.8, "channels-last at widths 12/10: test accuracy " + acc);
    }

    @Test
    void identicalParentsGiveTheParent() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        FusionResult r = fuse(List.of(p0, p0), "calib400_x", 0, FusionMethod.HF_LINEAR);
        assertReproduces(p0, r.model(), 1e-4);
    }

    @Test
    void kfLinearOnMlpBeatsAveraging() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        FusionResult r = fuse(List.of(p0, p1), "calib400_x", 0, FusionMethod.KF_LINEAR);
        Model reloaded = OnnxReader.parse(OnnxWriter.toBytes(r.model()), null);
        double a0 = Fixtures.testAccuracy(p0);
        double a1 = Fixtures.testAccuracy(p1);
        double avg = Fixtures.testAccuracy(ModelEdits.average(List.of(p0, p1)));
        double fused = Fixtures.testAccuracy(reloaded);
        System.out.printf("mlp_k2 test accuracy: parent0 %.4f parent1 %.4f averaging %.4f KF-linear %.4f%n", a0, a1,
                avg, fused);
        assertTrue(fused > avg, "fused " + fused + " vs averaging " + avg);
        assertEquals(Fixtures.interfaceOf(p0), Fixtures.interfaceOf(reloaded));
        assertEquals(Fixtures.interfaceOf(p1), Fixtures.interfaceOf(reloaded));
    }

    /** Records what a fusion reports through {@link FusionProgress}. */
    private static final class Recorder implements FusionProgress {
        final List<String> started = new ArrayList<>();
        final List<long[]> samples = new ArrayList<>();
        final List<LevelReport> finished = new ArrayList<>();
        final List<String> stages = new ArrayList<>();

        @Override
        public void stageStarted(String description) {
            stages.add(description);
        }

        @Override
        public void levelStarted(int level, int levels, String description) {
            started.add(level + "/" + levels + " " + description);
        }

        @Override
        public void samplesCollected(long done, long total) {
            samples.add(new long[] {done, total});
        }

        @Override
        public void levelFinished(LevelReport report) {
            finished.add(report);
        }
    }

    @Test
    void fewerSamplesThanFanInWarnsAndProgressIsReported() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        List<String> log = new ArrayList<>();
        Recorder progress = new Recorder();
        FusionResult r = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy")).samples(300)
                .batchSize(128).device("cpu").threads(2).restarts(2).log(log::add).progress(progress).build().fuse();
        // level 1: 300 rows for a fan-in of 785; level 2: 300 rows for 257
        assertEquals(1, r.warnings().size(), r.warnings().toString());
        assertTrue(r.warnings().get(0).startsWith("level 1 (Gemm"), r.warnings().get(0));
        assertTrue(r.warnings().get(0).contains("300 rows from 300 samples for a fan-in of 785"), r.warnings().get(0));
        assertEquals(r.warnings().get(0), r.levels().get(0).warning());
        assertTrue(log.stream().anyMatch(l -> l.contains("warning") && l.contains("underdetermined")), log.toString());

        assertEquals(List.of("importance (deeplift) parent 1/2", "importance (deeplift) parent 2/2"), progress.stages);
        assertEquals(2, progress.started.size());
        assertTrue(progress.started.get(0).startsWith("1/2 Gemm"), progress.started.toString());
        assertTrue(progress.started.get(1).startsWith("2/2 Gemm"), progress.started.toString());
        assertEquals(r.levels(), progress.finished);
        // 3 batches (128, 128, 44) per parent while scoring, then per level
        assertEquals(12, progress.samples.size());
        long[][] expected = {{128, 300}, {256, 300}, {300, 300}, {128, 300}, {256, 300}, {300, 300},
            {128, 300}, {256, 300}, {300, 300}, {128, 300}, {256, 300}, {300, 300}};
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i][0], progress.samples.get(i)[0]);
            assertEquals(expected[i][1], progress.samples.get(i)[1]);
        }
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    @Test
    void provenanceIsReadBackFromTheWrittenFile(@TempDir Path dir) throws Exception {
        Path f0 = Fixtures.model("mlp_k2_p0.onnx");
        Path f1 = Fixtures.model("mlp_k2_p1.onnx");
        FusionResult r = Fusion.builder().parents(f0, f1).calibration(Fixtures.data("calib400_x.npy")).samples(100)
                .seed(5).batchSize(64).device("cpu").threads(2).restarts(2).widthFactor(0.5).width(1, 100)
                .log(s -> { }).build().fuse();
        Path out = dir.resolve("fused.onnx");
        OnnxWriter.write(r.model(), out);
        Model back = OnnxReader.read(out);
        Map<String, String> p = Provenance.read(back);
        System.out.println("provenance: " + p);
        assertEquals(List.of("version", "method", "seed", "parents", "parents.sha256", "samples", "widths", "config"),
                List.copyOf(p.keySet()));
        assertEquals("0.1.0-SNAPSHOT", p.get("version"));
        assertEquals("kf-linear", p.get("method"));
        assertEquals("5", p.get("seed"));
        assertEquals("mlp_k2_p0.onnx,mlp_k2_p1.onnx", p.get("parents"));
        assertEquals(sha256(Files.readAllBytes(f0)) + "," + sha256(Files.readAllBytes(f1)), p.get("parents.sha256"));
        assertEquals("100", p.get("samples"));
        assertEquals("100,10", p.get("widths"));
        assertEquals("{\"method\":\"kf-linear\",\"seed\":5,\"samples\":100,\"batchSize\":64,"
                + "\"device\":\"cpu\",\"backend\":\"cpu\",\"ridge\":1.0E-6,\"parentPrior\":true,\"paperExact\":false,"
                + "\"importance\":\"deeplift\",\"explains\":\"predictions\",\"classWeights\":\"importance\",\"restarts\":2,\"maxIterations\":100,\"groupingForm\":\"auto\",\"grouping\":\"auto\",\"dtype\":\"float32\",\"widths\":{\"factor\":0.5,\"levels\":{\"1\":100}}}",
                p.get("config"));
        assertEquals("onnx-fuse", back.producerName());
        assertEquals("0.1.0-SNAPSHOT", back.producerVersion());
        assertEquals(100, r.levels().get(0).width());

        // In-memory parents: named by position, hashed by their serialised form.
        Model m0 = Fixtures.read("mlp_k2_p0.onnx");
        Model m1 = Fixtures.read("mlp_k2_p1.onnx");
        FusionResult mem = Fusion.builder().parents(m0, m1).calibration(Fixtures.data("calib400_x.npy")).samples(50)
                .method(FusionMethod.HF_LINEAR).paperExact(true).device("cpu").threads(2).log(s -> { }).build().fuse();
        Map<String, String> q = Provenance.read(OnnxReader.parse(OnnxWriter.toBytes(mem.model()), null));
        assertEquals("parent 0,parent 1", q.get("parents"));
        assertEquals(sha256(OnnxWriter.toBytes(m0)) + "," + sha256(OnnxWriter.toBytes(m1)), q.get("parents.sha256"));
        assertEquals("hf-linear", q.get("method"));
        assertTrue(q.get("config").contains("\"parentPrior\":false,\"paperExact\":true"), q.get("config"));
        FusionResult repeated = Fusion.builder().parents(m0, m1).calibration(Fixtures.data("calib400_x.npy"))
                .samples(50).method(FusionMethod.HF_LINEAR).paperExact(true).device("cpu").threads(2).log(s -> { }).build().fuse();
        assertArrayEquals(OnnxWriter.toBytes(mem.model()), OnnxWriter.toBytes(repeated.model()),
                "same inputs and settings, byte-identical model");
        // a fused model used as a template does not carry its template's onnx-fuse entries twice
        FusionResult again = Fusion.builder().parents(mem.model(), m1).calibration(Fixtures.data("calib400_x.npy"))
                .samples(50).device("cpu").threads(2).restarts(1).log(s -> { }).build().fuse();
        assertEquals(8, Provenance.read(again.model()).size());
        assertEquals("kf-linear", Provenance.read(again.model()).get("method"));
    }

    @Test
    void widthFactorOneAndAHalfOnTheMlp() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        FusionResult r = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy"))
                .widthFactor(1.5).device("cpu").threads(2).log(s -> { }).build().fuse();
        assertEquals(384, r.levels().get(0).width());
        assertEquals(10, r.levels().get(1).width());
        Model reloaded = OnnxReader.parse(OnnxWriter.toBytes(r.model()), null);
        assertEquals(Fixtures.interfaceOf(p0), Fixtures.interfaceOf(reloaded));
        double fused = Fixtures.testAccuracy(reloaded);
        double avg = Fixtures.testAccuracy(ModelEdits.average(List.of(p0, p1)));
        System.out.printf("mlp_k2 KF-linear width x1.5 (384): test accuracy %.4f (averaging %.4f)%n", fused, avg);
        assertTrue(fused > avg, "fused " + fused + " vs averaging " + avg);
        assertThrows(InvalidSettingException.class, () -> Fusion.builder().parents(p0, p1)
                .calibration(Fixtures.data("calib400_x.npy")).widthFactor(2.5).device("cpu").log(s -> { }).build()
                .fuse(), "2.5 x 256 = 640 > the 512 neurons of both parents");
        assertThrows(InvalidSettingException.class, () -> Fusion.builder().parents(p0, p1)
                .calibration(Fixtures.data("calib400_x.npy")).widthFactor(1.5).method(FusionMethod.HF_LINEAR)
                .device("cpu").log(s -> { }).build().fuse());
    }

    @Test
    void parentsOfDifferentWidths() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = ModelEdits.truncated(Fixtures.read("mlp_k2_p1.onnx"), 1, 200);
        double a0 = Fixtures.testAccuracy(p0);
        double a1 = Fixtures.testAccuracy(p1);
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.HF_LINEAR)) {
            FusionResult r = fuse(List.of(p0, p1), "calib400_x", 0, method);
            assertEquals(256, r.levels().get(0).width());
            Model reloaded = OnnxReader.parse(OnnxWriter.toBytes(r.model()), null);
            double fused = Fixtures.testAccuracy(reloaded);
            System.out.printf("mlp_k2 widths 256 + 200, %s: test accuracy %.4f (parents %.4f, %.4f)%n", method, fused,
                    a0, a1);
            assertTrue(fused > Math.max(a0, a1), method + ": fused " + fused + " vs parents " + a0 + ", " + a1);
        }
        // and the narrower parent as the template: fused width 200
        FusionResult r = fuse(List.of(p1, p0), "calib400_x", 0, FusionMethod.KF_LINEAR);
        assertEquals(200, r.levels().get(0).width());
    }

    @Test
    void paperExactUsesThePlainRidge() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model perm = ModelEdits.permuted(p0, 7);
        FusionResult r = Fusion.builder().parents(p0, perm).calibration(Fixtures.data("calib400_x.npy"))
                .paperExact(true).device("cpu").threads(2).restarts(2).log(s -> { }).build().fuse();
        float[] expected = Fixtures.logits(p0, Fixtures.data("test_x.npy"));
        float[] actual = Fixtures.logits(r.model(), Fixtures.data("test_x.npy"));
        double diff = Fixtures.maxAbsDifference(expected, actual);
        System.out.println("paper-exact (no parent prior): max abs logit difference to the parent on test data: "
                + diff);
        // The plain ridge zeroes the weights of pixels that are constant in the calibration data;
        // on test data those pixels vary, so the copy is no longer exact (the prior's job).
        assertTrue(diff > 1e-3, "expected the plain ridge to differ from the parent on test data, found " + diff);
        assertTrue(Provenance.read(r.model()).get("config").contains("\"parentPrior\":false"));
    }

    @Test
    void cnnFusedWithPermutedCopyOfItselfIsTheSameFunction() {
        Model p0 = Fixtures.read("vgg_p0.onnx");
        Model perm = ModelEdits.permuted(p0, 11);
        assertReproduces(p0, perm, 1e-4);
        FusionResult r = fuse(List.of(p0, perm), "calib400_x", 200, FusionMethod.KF_LINEAR);
        assertReproduces(p0, r.model(), 1e-4);
    }

    @Test
    void otherFusedWidthsGiveLoadableModels() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        FusionResult mlp = Fusion.builder().parents(p0, p1).calibration(Fixtures.data("calib400_x.npy"))
                .width(1, 100).device("cpu").threads(2).restarts(3).log(s -> { }).build().fuse();
        assertEquals(100, mlp.levels().get(0).width());
        System.out.printf("mlp_k2 KF-linear width 100: test accuracy %.4f%n",
                Fixtures.testAccuracy(OnnxReader.parse(OnnxWriter.toBytes(mlp.model()), null)));
        Model v0 = Fixtures.read("vgg_p0.onnx");
        Model v1 = Fixtures.read("vgg_p1.onnx");
        FusionResult vgg = Fusion.builder().parents(v0, v1).calibration(Fixtures.data("calib400_x.npy")).samples(100)
                .width(1, 12).width(2, 10).device("cpu").threads(2).restarts(3).log(s -> { }).build().fuse();
        double acc = Fixtures.testAccuracy(OnnxReader.parse(OnnxWriter.toBytes(vgg.model()), null));
        System.out.printf("vgg KF-linear widths 12/10: test accuracy %.4f (parents %.4f, %.4f)%n", acc,
                Fixtures.testAccuracy(v0), Fixtures.testAccuracy(v1));
        assertEquals(Fixtures.interfaceOf(v0), Fixtures.interfaceOf(vgg.model()));
    }

    @Test
    void batchNormIsFoldedAndRemoved() {
        Model p0 = Fixtures.read("bn_p0.onnx");
        Model p1 = Fixtures.read("bn_p1.onnx");
        FusionResult r = fuse(List.of(p0, p1), "calib400_x", 0, FusionMethod.HF_LINEAR);
        assertTrue(r.model().graph().nodes().stream().noneMatch(n -> n.opType().equals("BatchNormalization")));
        System.out.printf("bn HF-linear test accuracy %.4f (parents %.4f, %.4f, averaging %.4f)%n",
                Fixtures.testAccuracy(r.model()), Fixtures.testAccuracy(p0), Fixtures.testAccuracy(p1),
                Fixtures.testAccuracy(ModelEdits.average(List.of(p0, p1))));
    }
}
