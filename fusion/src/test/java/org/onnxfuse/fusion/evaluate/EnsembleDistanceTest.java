package org.onnxfuse.fusion.evaluate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;

/** What kf-linear ranks its two groupings by: distances of candidates' outputs to the parents' ensemble. */
class EnsembleDistanceTest {

    /** The logit error and the agreement are the check without labels' figures for the same rows. */
    @Test
    void logitErrorAndAgreementAreTheChecksFigures() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        Model other = Fixtures.read("mlp_k4_p2.onnx");
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(400)) {
            // 130 rows in batches of 50: two whole batches and a partial one
            List<EnsembleDistance> d = EnsembleDistance.measure(List.of(other, p0), List.of(p0, p1), data, 200, 130,
                    50, 1);
            assertEquals(2, d.size());
            AgreementCheck check = AgreementCheck.run(other, List.of(p0, p1), data, 200, 130, true, 50, 1);
            assertEquals(check.logitError(), d.get(0).logitError(), 1e-12);
            assertEquals(check.ensemble(), d.get(0).agreement(), 1e-12);
            AgreementCheck own = AgreementCheck.run(p0, List.of(p0, p1), data, 200, 130, true, 50, 1);
            assertEquals(own.logitError(), d.get(1).logitError(), 1e-12);
            assertEquals(own.ensemble(), d.get(1).agreement(), 1e-12);
        }
    }

    /**
     * Cross-entropy against the ensemble's mean softmax, by hand: for a candidate that is the only
     * parent (twice), it is the parent's own mean entropy, with no logit error and full agreement;
     * any other candidate is further (Gibbs' inequality).
     */
    @Test
    void crossEntropyIsMeasuredAgainstTheEnsemblesProbabilities() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        Model p1 = Fixtures.read("mlp_k2_p1.onnx");
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(400)) {
            List<EnsembleDistance> d = EnsembleDistance.measure(List.of(p0, p1), List.of(p0, p0), data, 0, 120, 64,
                    1);
            double entropy = 0;
            double crossEntropy = 0;
            try (SideBySide run = new SideBySide(List.of(p0, p1), 1)) {
                InputBatch batch = data.inputBatch(0, 120, null);
                List<float[]> logits = run.logits(batch);
                for (int r = 0; r < 120; r++) {
                    for (int c = 0; c < 10; c++) {
                        double p = Scores.probability(logits.get(0), r, 10, c);
                        entropy -= p * Math.log(p);
                        crossEntropy -= p * Math.log(Scores.probability(logits.get(1), r, 10, c));
                    }
                }
            }
            assertEquals(entropy / 120, d.get(0).crossEntropy(), 1e-6);
            assertEquals(0.0, d.get(0).logitError());
            assertEquals(1.0, d.get(0).agreement());
            assertEquals(crossEntropy / 120, d.get(1).crossEntropy(), 1e-6);
            assertTrue(d.get(1).crossEntropy() > d.get(0).crossEntropy() + 0.1, d.toString());
            assertTrue(d.get(1).logitError() > 0.1 && d.get(1).agreement() < 1, d.toString());
        }
    }

    @Test
    void rowsOutsideTheDataAreRefused() {
        Model p0 = Fixtures.read("mlp_k2_p0.onnx");
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(400)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> EnsembleDistance.measure(List.of(p0), List.of(p0, p0), data, 350, 100, 50, 1));
            assertEquals("rows [350, 450) are not within the 400 calibration samples", e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> EnsembleDistance.measure(List.of(p0), List.of(p0, p0), data, 0, 0, 50, 1));
        }
    }
}
