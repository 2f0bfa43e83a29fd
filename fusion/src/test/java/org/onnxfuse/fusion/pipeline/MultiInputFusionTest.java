package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.evaluate.BatchOutputs;
import org.onnxfuse.fusion.evaluate.ModelEvaluator;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.fusion.testing.MultiInputNets;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.fusion.testing.Npz;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Models with several inputs, fed from one {@code .npz} keyed by input name: a model fused with a
 * copy of itself whose neurons are permuted consistently must come back as the same function,
 * with every input, an int64 mask included, in its graph as before.
 */
class MultiInputFusionTest {
    @TempDir
    Path dir;

    private static FusionResult fuse(Model a, Model b, Path data) {
        return Fusion.builder().parents(a, b).calibration(data).device("cpu").threads(Fixtures.THREADS).restarts(2)
                .log(s -> { }).build().fuse();
    }

    /** The first output of {@code model} on every sample of {@code data}, fed by input name. */
    private static float[] logits(Model model, Path data) {
        try (CalibrationData x = CalibrationData.open(data, LevelPlanner.plan(model));
             ModelEvaluator evaluator = ModelEvaluator.open(model, Fixtures.THREADS)) {
            float[] out = new float[Math.toIntExact(x.samples() * MultiInputNets.CLASSES)];
            for (BatchOutputs batch : evaluator.run(x, 64)) {
                float[] v = batch.first().values();
                System.arraycopy(v, 0, out, Math.toIntExact(batch.firstSample() * MultiInputNets.CLASSES), v.length);
            }
            return out;
        }
    }

    private static double maxDifference(Model expected, Model actual, Path data) {
        return Fixtures.maxAbsDifference(logits(expected, data), logits(actual, data));
    }

    /** Fuses {@code model} with a permuted copy on {@code data}; the result must be {@code model} again on {@code test}. */
    private static FusionResult assertFusesBack(Model model, long seed, Path data, Path test) {
        FusionResult r = fuse(model, ModelEdits.permuted(model, seed), data);
        double diff = maxDifference(model, r.model(), test);
        assertTrue(diff < 1e-4, "max abs logit difference " + diff + "; " + r.warnings());
        return r;
    }

    private static List<String> inputs(Model m) {
        return m.graph().feedInputs().stream().map(v -> v.name() + ":" + v.tensorType().elementType()).toList();
    }

    @Test
    void levelsReadingEachFloatInputNameIt() {
        LevelPlan plan = LevelPlanner.plan(MultiInputNets.twoBranches());
        assertEquals(List.of("x", "side"), plan.inputs().stream().map(in -> in.name()).toList());
        assertEquals("x", plan.level(1).from());
        assertEquals("side", plan.level(2).from());
        assertEquals(List.of(0, 1), plan.level(3).binding().spaces());
        assertEquals("x", plan.input());
    }

    @Test
    void twoFloatInputsFuseWithAPermutedCopyBackToItself() {
        Model model = MultiInputNets.twoBranches();
        Model permuted = ModelEdits.permuted(model, 3);
        Path data = MultiInputNets.twoBranchesData(dir.resolve("calib.npz"), 300, 1);
        Path test = MultiInputNets.twoBranchesData(dir.resolve("test.npz"), 200, 2);
        assertTrue(maxDifference(model, permuted, test) < 1e-4, "the permuted copy is the same function");
        assertFalse(Arrays.equals(model.graph().initializer("fx.weight").orElseThrow().toFloats(),
                permuted.graph().initializer("fx.weight").orElseThrow().toFloats()), "the copy's neurons are permuted");
        FusionResult r = assertFusesBack(model, 3, data, test);
        assertEquals(inputs(model), inputs(r.model()));
        // two branches that meet form a DAG, where kf-linear's default importance is uniform: no
        // DeepLIFT to fall back from, so no warning
        assertEquals(ImportanceMethod.UNIFORM, r.importance().method());
        assertTrue(r.warnings().stream().noneMatch(w -> w.contains("one float input")), r.warnings().toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"hf-linear", "weight-match", "act-match"})
    void otherMethodsAlignTwoInputsWithAPermutedCopy(String method) {
        Model model = MultiInputNets.twoBranches();
        Path data = MultiInputNets.twoBranchesData(dir.resolve("calib.npz"), 300, 1);
        FusionResult r = Fusion.builder().parents(model, ModelEdits.permuted(model, 6)).calibration(data)
                .method(FusionMethod.fromName(method)).device("cpu").threads(Fixtures.THREADS).log(s -> { }).build()
                .fuse();
        double diff = maxDifference(model, r.model(), MultiInputNets.twoBranchesData(dir.resolve("test.npz"), 100, 2));
        assertTrue(diff < 1e-4, method + ": max abs logit difference " + diff);
    }

    @Test
    void inputsConcatenatedBeforeTheFirstLevelComeBack() {
        Model model = MultiInputNets.concatenated();
        Path data = MultiInputNets.twoBranchesData(dir.resolve("calib.npz"), 300, 1);
        Path test = MultiInputNets.twoBranchesData(dir.resolve("test.npz"), 200, 2);
        assertFusesBack(model, 4, data, test);
    }

    @Test
    void anInt64MaskIsPassedThroughAndTheMaskedModelComesBack() {
        Model model = MultiInputNets.masked();
        LevelPlan plan = LevelPlanner.plan(model);
        assertEquals(DataType.INT64, plan.inputs().get(1).elementType());
        assertEquals("masked", plan.level(1).from());
        Path data = MultiInputNets.maskedData(dir.resolve("calib.npz"), 300, 3);
        Path test = MultiInputNets.maskedData(dir.resolve("test.npz"), 200, 4);
        FusionResult r = assertFusesBack(model, 5, data, test);
        ValueInfo mask = r.model().graph().feedInputs().get(1);
        assertEquals("mask", mask.name());
        assertEquals(new TensorType(DataType.INT64, model.graph().feedInputs().get(1).tensorType().shape()),
                mask.tensorType());
    }

    @Test
    void aBoolPaddingMaskThroughNotAndWhereComesBack() {
        Model model = MultiInputNets.padded();
        Path data = MultiInputNets.paddedData(dir.resolve("calib.npz"), 300, 10);
        Path test = MultiInputNets.paddedData(dir.resolve("test.npz"), 200, 11);
        FusionResult r = assertFusesBack(model, 7, data, test);
        assertEquals(inputs(model), inputs(r.model()));
        long[] shape = {200, 6};
        Path unpadded = Npz.write(dir.resolve("unpadded.npz"), Map.of("x", MultiInputNets.floats(new Random(11), 200,
                6), "pad", Npy.npy("|b1", false, shape, Npy.data("|b1", false, shape, idx -> 0))));
        assertTrue(Fixtures.maxAbsDifference(logits(model, test), logits(model, unpadded)) > 1e-3,
                "the padding mask reaches the model");
    }

    @Test
    void tokenIdsLookedUpInAnEmbeddingComeBackFromANpy() {
        Model model = MultiInputNets.embedded();
        LevelPlan plan = LevelPlanner.plan(model);
        assertEquals(DataType.INT64, plan.mainInput().elementType());
        assertEquals(List.of("Gather", "Flatten", "Gemm"), plan.level(1).opTypes());
        assertEquals("ids", plan.level(1).from());
        Path data = MultiInputNets.tokens(dir.resolve("calib.npy"), 300, 8);
        Path test = MultiInputNets.tokens(dir.resolve("test.npy"), 200, 9);
        FusionResult r = assertFusesBack(model, 2, data, test);
        assertEquals(inputs(model), inputs(r.model()));
    }

    @Test
    void oneArrayForSeveralInputsIsRefusedBeforeAnyRun() {
        Model model = MultiInputNets.twoBranches();
        DataException e = assertThrows(DataException.class, () -> Fusion.builder()
                .parents(model, ModelEdits.permuted(model, 1)).calibration(new float[60], 10, 6).device("cpu")
                .log(s -> { }).build().fuse());
        assertEquals(ErrorCode.DATA_FORMAT, e.code());
        assertTrue(e.getMessage().contains("holds one array, but the model has the inputs 'x', 'side'"),
                e.getMessage());
    }

    @Test
    void theMaskReachesTheModel() {
        Model model = MultiInputNets.masked();
        Random random = new Random(6);
        byte[] x = MultiInputNets.floats(random, 50, 6);
        Path some = Npz.write(dir.resolve("some.npz"), Map.of("x", x, "mask", MultiInputNets.mask(random, 50, 6)));
        long[] ones = new long[50 * 6];
        Arrays.fill(ones, 1);
        Path all = Npz.write(dir.resolve("all.npz"), Map.of("x", x, "mask", Npy.longs(new long[] {50, 6}, ones)));
        assertTrue(Fixtures.maxAbsDifference(logits(model, some), logits(model, all)) > 1e-3);
    }
}
