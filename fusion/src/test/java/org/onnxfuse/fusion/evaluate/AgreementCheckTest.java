package org.onnxfuse.fusion.evaluate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;

/**
 * The check without labels runs one model at a time; its figures are those of running the models
 * side by side on the same batches, to the bit.
 */
class AgreementCheckTest {

    @Test
    void oneModelAtATimeGivesTheSideBySideFigures() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        Model fused = Fixtures.read("mlp_k4_p2.onnx");
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(400)) {
            // 130 rows in batches of 50: two whole batches and a partial one
            AgreementCheck check = AgreementCheck.run(fused, List.of(p0, p1), data, 200, 130, true, 50, 1);

            long ensemble = 0;
            long[] parents = new long[2];
            double difference = 0;
            double norm = 0;
            try (SideBySide run = new SideBySide(List.of(fused, p0, p1), 1)) {
                for (long start = 200; start < 330; start += 50) {
                    int rows = (int) Math.min(50, 330 - start);
                    InputBatch batch = data.inputBatch(start, rows, null);
                    List<float[]> logits = run.logits(batch);
                    int classes = logits.get(0).length / rows;
                    double[] softmax = new double[rows * classes];
                    double[] mean = new double[rows * classes];
                    for (float[] parent : logits.subList(1, 3)) {
                        Scores.addSoftmax(parent, rows, classes, softmax);
                        for (int i = 0; i < mean.length; i++) {
                            mean[i] += parent[i] / 2;
                        }
                    }
                    for (int r = 0; r < rows; r++) {
                        int predicted = Scores.argmax(logits.get(0), r, classes);
                        ensemble += predicted == Scores.argmax(softmax, r, classes) ? 1 : 0;
                        for (int k = 0; k < 2; k++) {
                            parents[k] += predicted == Scores.argmax(logits.get(k + 1), r, classes) ? 1 : 0;
                        }
                    }
                    for (int i = 0; i < mean.length; i++) {
                        double d = logits.get(0)[i] - mean[i];
                        difference += d * d;
                        norm += mean[i] * mean[i];
                    }
                }
            }
            assertEquals(ensemble / 130.0, check.ensemble());
            assertEquals(List.of(parents[0] / 130.0, parents[1] / 130.0), check.parents());
            assertEquals(Math.sqrt(difference / norm), check.logitError());
            assertTrue(check.logitError() > 0);

            // a parent that is the fused model agrees with it on every row
            AgreementCheck self = AgreementCheck.run(p0, List.of(p0, p1), data, 0, 60, false, 50, 1);
            assertEquals(1.0, self.parents().get(0));
        }
    }

    /** The confusion matrices with labels likewise: one model at a time, the side-by-side counts exactly. */
    @Test
    void confusionOneModelAtATimeGivesTheSideBySideCounts() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        Model fused = Fixtures.read("mlp_k4_p2.onnx");
        List<Model> models = List.of(p0, p1, fused);
        try (CalibrationData data = CalibrationData.open(Fixtures.data("test_x.npy"));
             org.onnxfuse.fusion.data.NpyArray labels = Fixtures.array("test_y.npy")) {
            // 1500 samples in batches of 400: three whole batches and a partial one
            List<Confusion> confusions = Confusion.evaluate(models, 2, data, labels, 400, 1);
            long[][][] expected = new long[4][10][10];
            try (SideBySide run = new SideBySide(models, 1)) {
                for (InputBatch batch : data.inputBatches(400)) {
                    int rows = batch.count();
                    List<float[]> logits = run.logits(batch);
                    double[] softmax = new double[rows * 10];
                    Scores.addSoftmax(logits.get(0), rows, 10, softmax);
                    Scores.addSoftmax(logits.get(1), rows, 10, softmax);
                    long[] y = Labels.read(labels, batch.firstSample(), rows, 10);
                    for (int r = 0; r < rows; r++) {
                        for (int k = 0; k < 3; k++) {
                            expected[k][(int) y[r]][Scores.argmax(logits.get(k), r, 10)]++;
                        }
                        expected[3][(int) y[r]][Scores.argmax(softmax, r, 10)]++;
                    }
                }
            }
            assertEquals(4, confusions.size());
            for (int k = 0; k < 4; k++) {
                for (int t = 0; t < 10; t++) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(expected[k][t], confusions.get(k).counts()[t],
                            "model " + k + ", class " + t);
                }
                assertEquals(1500, confusions.get(k).total());
            }
            assertTrue(confusions.get(3).accuracy() > 0.8, "the ensemble of the two parents");
        }
    }
}
