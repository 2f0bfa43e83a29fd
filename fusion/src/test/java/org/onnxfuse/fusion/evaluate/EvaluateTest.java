package org.onnxfuse.fusion.evaluate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.ir.Model;

/** Evaluation on the fixture models: batches, extra outputs, accuracy, ensemble, label errors. */
class EvaluateTest {

    @Test
    void streamsBatchesWithLogitsAndCuts() {
        Model m = Fixtures.read("mlp_k2_p0.onnx");
        try (NpyArray x = Fixtures.array("test_x.npy");
             ModelEvaluator e = ModelEvaluator.open(m, List.of("/fc1/Gemm_output_0"), 1)) {
            assertEquals(List.of("logits", "/fc1/Gemm_output_0"), e.outputNames());
            long seen = 0;
            for (BatchOutputs out : e.run(x, 400)) {
                assertEquals(seen, out.firstSample());
                assertArrayEquals(new long[] {out.count(), 10}, out.first().shape());
                assertArrayEquals(new long[] {out.count(), 256}, out.get("/fc1/Gemm_output_0").shape());
                seen += out.count();
            }
            assertEquals(1500, seen);
        }
    }

    @Test
    void batchSizeDoesNotChangeTheLogits() {
        Model m = Fixtures.read("vgg_p0.onnx");
        try (NpyArray x = Fixtures.array("calib400_x.npy"); ModelEvaluator e = ModelEvaluator.open(m, 1)) {
            float[] whole = e.run(x, 400).iterator().next().first().values();
            int at = 0;
            for (BatchOutputs out : e.run(x, 64)) {
                float[] v = out.first().values();
                for (int i = 0; i < v.length; i++) {
                    assertEquals(whole[at + i], v[i], 1e-5f);
                }
                at += v.length;
            }
            assertEquals(whole.length, at);
        }
    }

    /**
     * Pins the evaluator to the accuracies the fixture generator computed with torch
     * (models/accuracies.json), within 3 of 1500 samples for float rounding between the runtimes.
     */
    @Test
    void oneEnsemblePassGivesEachMembersOwnAccuracy() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        try (NpyArray x = Fixtures.array("test_x.npy"); NpyArray y = Fixtures.array("test_y.npy")) {
            Ensemble.Result r = Ensemble.evaluate(List.of(p0, p1), x, y, Fixtures.BATCH, Fixtures.THREADS);
            assertEquals(Accuracy.of(p0, x, y, Fixtures.BATCH, Fixtures.THREADS), r.members().get(0));
            assertEquals(Accuracy.of(p1, x, y, Fixtures.BATCH, Fixtures.THREADS), r.members().get(1));
            assertEquals(Ensemble.accuracy(List.of(p0, p1), x, y, Fixtures.BATCH, Fixtures.THREADS), r.ensemble());
        }
    }

    @Test
    void parentAndEnsembleAccuraciesMatchTheGenerator() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        try (NpyArray x = Fixtures.array("test_x.npy"); NpyArray y = Fixtures.array("test_y.npy")) {
            Accuracy a0 = Accuracy.of(p0, x, y, Fixtures.BATCH, Fixtures.THREADS);
            Accuracy a1 = Accuracy.of(p1, x, y, Fixtures.BATCH, Fixtures.THREADS);
            Accuracy ens = Ensemble.accuracy(List.of(p0, p1), x, y, Fixtures.BATCH, Fixtures.THREADS);
            assertEquals(1500, a0.total());
            JsonNode json = Fixtures.accuracies();
            double tolerance = 3.5 / 1500;
            assertEquals(json.at("/models/mlp_k2_p0.onnx/test_acc").asDouble(), a0.value(), tolerance, "parent 0");
            assertEquals(json.at("/models/mlp_k2_p1.onnx/test_acc").asDouble(), a1.value(), tolerance, "parent 1");
            double ensemble = Double.NaN;
            for (JsonNode set : json.get("sets")) {
                if (set.get("name").asText().equals("mlp_k2")) {
                    ensemble = set.get("ensemble_acc").asDouble();
                }
            }
            assertEquals(ensemble, ens.value(), tolerance, "ensemble");
        }
    }

    @Test
    void labelOutOfRangeNamesValueAndIndex(@TempDir Path dir) {
        Model m = Fixtures.read("mlp_k2_p0.onnx");
        long[] labels = new long[1500];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 10;
        }
        labels[737] = 12;
        try (NpyArray x = Fixtures.array("test_x.npy");
             NpyArray y = NpyArray.open(Npy.writeLongs(dir.resolve("bad_y.npy"), labels))) {
            DataException e = assertThrows(DataException.class, () -> Accuracy.of(m, x, y, 500, 1));
            assertEquals(ErrorCode.DATA_FORMAT, e.code());
            assertTrue(e.getMessage().contains("label 12 at index 737"), e.getMessage());
            assertTrue(e.getMessage().contains("[0, 10)"), e.getMessage());
        }
        labels[737] = 7;
        labels[3] = -1;
        try (NpyArray x = Fixtures.array("test_x.npy");
             NpyArray y = NpyArray.open(Npy.writeLongs(dir.resolve("neg_y.npy"), labels))) {
            DataException e = assertThrows(DataException.class,
                    () -> Ensemble.accuracy(List.of(m, m), x, y, 500, 1));
            assertTrue(e.getMessage().contains("label -1 at index 3"), e.getMessage());
        }
    }

    @Test
    void labelCountMustMatchSampleCount() {
        Model m = Fixtures.read("mlp_k2_p0.onnx");
        try (NpyArray x = Fixtures.array("test_x.npy"); NpyArray y = Fixtures.array("calib400_y.npy")) {
            DataException e = assertThrows(DataException.class, () -> Accuracy.of(m, x, y, 500, 1));
            assertEquals(ErrorCode.DATA_SHAPE, e.code());
            assertTrue(e.getMessage().contains("400 labels") && e.getMessage().contains("1500 samples"),
                    e.getMessage());
            assertThrows(DataException.class, () -> Ensemble.accuracy(List.of(m, m), x, y, 500, 1));
        }
    }
}
