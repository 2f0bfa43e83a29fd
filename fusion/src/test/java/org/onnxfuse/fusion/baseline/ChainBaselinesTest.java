package org.onnxfuse.fusion.baseline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/**
 * On chains (every fixture family here plans sequential) the baselines, which align neuron spaces
 * since they handle DAGs, write exactly the models they wrote when they aligned cut by cut: the
 * first 16 hex digits of the SHA-256 of the written model, recorded with the per-cut code (commit
 * 874c2d1). The benchmark figures rest on this. average and weight-match are pure Java; act-match
 * also depends on the parents' activations from ONNX Runtime on the CPU, but only through the
 * matching (a permutation or a transport plan), not bit by bit.
 */
class ChainBaselinesTest {
    private static NpyArray calib;

    @BeforeAll
    static void open() {
        calib = Fixtures.array("calib400_x.npy");
    }

    @AfterAll
    static void close() {
        calib.close();
    }

    private static String digest(Model m) {
        try {
            byte[] sha = MessageDigest.getInstance("SHA-256").digest(OnnxWriter.toBytes(m));
            return HexFormat.of().formatHex(sha).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static Model actMatch(List<Model> parents) {
        return ActivationMatching.fuse(parents, CalibrationData.of(calib), Fixtures.BATCH, Fixtures.THREADS);
    }

    private static List<Model> pair(String family) {
        return List.of(Fixtures.read(family + "_p0.onnx"), Fixtures.read(family + "_p1.onnx"));
    }

    @ParameterizedTest
    @CsvSource({
        "mlp_k2, b160e90dbb1a8b02, 96d23ae07a5d1eef, 2c225667855f5e93",
        "mlpmm,  4291d59ae663c31d, f5828b61a8114ed2, 9d6f4888e930cdb9",
        "vgg,    e705fceb52547bd5, e4e0eab7665112d9, 9c86c55019f042d3",
        "bn,     d4d2693271da9d1e, 298657f3ea958201, 0daac72d52e5001d",
        "gap,    139d7e089914b9c7, 05dfca08157588a6, 7be93cb26dbcafe5",
        "zoo,    fdfd261ae76971bb, c4c41b42903c986b, c73b53eb0c69a694"})
    void pairsFuseAsBefore(String family, String average, String weightMatch, String actMatch) {
        List<Model> parents = pair(family);
        assertTrue(LevelPlanner.plan(parents.get(0)).sequential(), family);
        assertEquals(average, digest(VanillaAverage.fuse(parents)), family + " average");
        assertEquals(weightMatch, digest(WeightMatching.fuse(parents)), family + " weight-match");
        assertEquals(actMatch, digest(actMatch(parents)), family + " act-match");
    }

    @Test
    void fourParentsFuseAsBefore() {
        List<Model> parents = List.of(Fixtures.read("mlp_k4_p0.onnx"), Fixtures.read("mlp_k4_p1.onnx"),
                Fixtures.read("mlp_k4_p2.onnx"), Fixtures.read("mlp_k4_p3.onnx"));
        assertEquals("dda15c767cb9e5f5", digest(VanillaAverage.fuse(parents)));
        assertEquals("6d818610f15d6c82", digest(WeightMatching.fuse(parents)));
        assertEquals("32da6ea5ac05f813", digest(actMatch(parents)));
    }

    @Test
    void optimalTransportOfOtherWidthsFusesAsBefore() {
        Model mlp = Fixtures.read("mlp_k2_p0.onnx");
        Model narrower = ModelEdits.truncated(Fixtures.read("mlp_k2_p1.onnx"), 1, 200);
        assertEquals("e17ccb83bf99067a", digest(actMatch(List.of(mlp, narrower))));
        Model vgg = Fixtures.read("vgg_p0.onnx");
        Model cut = ModelEdits.select(Fixtures.read("vgg_p1.onnx"), Map.of(1, ModelEdits.firstN(6), 2,
                ModelEdits.shuffled(16, 3)));
        assertEquals("ec7cdcfd9661df1b", digest(actMatch(List.of(vgg, cut))));
    }

    /** {@link SpaceAlignment#applyTo}, which ModelEdits now calls, edits as the test-side code did. */
    @Test
    void editsAsBefore() {
        assertEquals("2e70163e98bfa5e3", digest(ModelEdits.permuted(Fixtures.read("vgg_p0.onnx"), 3)));
        assertEquals("7bb4e23548e33c77", digest(ModelEdits.permuted(Fixtures.read("bn_p0.onnx"), 3)));
        assertEquals("aa5e5a64c34ffda6", digest(ModelEdits.permuted(Fixtures.read("mlpmm_p0.onnx"), 3)));
        assertEquals("787b07bb89d74e87", digest(ModelEdits.truncated(Fixtures.read("vgg_p0.onnx"), 2, 10)));
        assertEquals("d8870f7c67625c40", digest(ModelEdits.select(Fixtures.read("mlp_k2_p0.onnx"), 1,
                ModelEdits.shuffled(256, 1))));
    }
}
