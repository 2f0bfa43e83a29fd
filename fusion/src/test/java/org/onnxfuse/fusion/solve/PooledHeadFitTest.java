package org.onnxfuse.fusion.solve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;

/** The fit of a class level through its Relu and the average over positions, on known answers. */
class PooledHeadFitTest {
    private static final int SAMPLES = 300;
    private static final int POSITIONS = 9;
    private static final int FEATURES = 6;
    private static final int CLASSES = 3;

    /** Rows of random features with a ones column last, as a level with a bias has them. */
    private static float[] rows(Random rng) {
        float[] x = new float[SAMPLES * POSITIONS * FEATURES];
        for (int r = 0; r < SAMPLES * POSITIONS; r++) {
            for (int i = 0; i < FEATURES - 1; i++) {
                x[r * FEATURES + i] = (float) rng.nextGaussian();
            }
            x[r * FEATURES + FEATURES - 1] = 1f;
        }
        return x;
    }

    private static DenseMatrix random(Random rng, double scale) {
        double[] w = new double[FEATURES * CLASSES];
        for (int i = 0; i < w.length; i++) {
            w[i] = scale * rng.nextGaussian();
        }
        return new DenseMatrix(FEATURES, CLASSES, w);
    }

    /** (1/P) sum_p max(0, w_c . x_np), row-major [samples, classes]. */
    private static double[] pooled(float[] x, DenseMatrix w) {
        double[] out = new double[SAMPLES * CLASSES];
        for (int n = 0; n < SAMPLES; n++) {
            for (int c = 0; c < CLASSES; c++) {
                double sum = 0;
                for (int p = 0; p < POSITIONS; p++) {
                    double z = 0;
                    for (int i = 0; i < FEATURES; i++) {
                        z += w.get(i, c) * x[(n * POSITIONS + p) * FEATURES + i];
                    }
                    sum += Math.max(z, 0);
                }
                out[n * CLASSES + c] = sum / POSITIONS;
            }
        }
        return out;
    }

    @Test
    void recoversWeightsThatProduceTheTargets() {
        Random rng = new Random(1);
        float[] x = rows(rng);
        DenseMatrix truth = random(rng, 1);
        double[] targets = pooled(x, truth);
        DenseMatrix start = truth.plusScaled(0.3, random(rng, 1));
        try (ComputeBackend cpu = Backends.open("cpu", 1)) {
            PooledHeadFit.Result r = new PooledHeadFit(x, SAMPLES, POSITIONS, FEATURES).fit(cpu, start, targets, 0);
            assertTrue(r.startLoss() > 1e-2 * r.targetPower(), "the start is off: " + r.startLoss());
            assertTrue(r.relativeError() < 1e-6, "relative logit error " + r.relativeError());
            double[] fitted = pooled(x, r.weights());
            for (int i = 0; i < targets.length; i++) {
                assertEquals(targets[i], fitted[i], 1e-5 * (1 + Math.abs(targets[i])));
            }
            assertTrue(r.weights().maxAbsDifference(truth) < 1e-4, "weights off by "
                    + r.weights().maxAbsDifference(truth));
        }
    }

    @Test
    void theAnswerStaysWhereItIs() {
        Random rng = new Random(2);
        float[] x = rows(rng);
        DenseMatrix truth = random(rng, 1);
        try (ComputeBackend cpu = Backends.open("cpu", 1)) {
            PooledHeadFit.Result r = new PooledHeadFit(x, SAMPLES, POSITIONS, FEATURES).fit(cpu, truth,
                    pooled(x, truth), 1e-6);
            assertTrue(r.weights().maxAbsDifference(truth) < 1e-9, "moved by " + r.weights().maxAbsDifference(truth));
            assertTrue(r.loss() <= r.startLoss());
        }
    }

    @Test
    void neverEndsAboveItsStartAndBeatsIt() {
        // targets no weights reproduce: the start's error must still fall
        Random rng = new Random(3);
        float[] x = rows(rng);
        double[] targets = new double[SAMPLES * CLASSES];
        for (int i = 0; i < targets.length; i++) {
            targets[i] = Math.abs(rng.nextGaussian());
        }
        DenseMatrix start = random(rng, 0.5);
        try (ComputeBackend cpu = Backends.open("cpu", 1)) {
            PooledHeadFit.Result r = new PooledHeadFit(x, SAMPLES, POSITIONS, FEATURES).fit(cpu, start, targets, 1e-6);
            double[] fitted = pooled(x, r.weights());
            double loss = 0;
            for (int i = 0; i < targets.length; i++) {
                loss += (fitted[i] - targets[i]) * (fitted[i] - targets[i]);
            }
            assertEquals(loss, r.loss(), 1e-9 * loss, "the reported loss is the fitted weights' loss");
            assertTrue(r.loss() < 0.9 * r.startLoss(), r.loss() + " against the start's " + r.startLoss());
            assertTrue(r.iterations() >= 1 && r.iterations() <= PooledHeadFit.MAX_ITERATIONS);
        }
    }

    @Test
    void aClassThatNoPositionActivatesKeepsItsWeights() {
        Random rng = new Random(4);
        float[] x = rows(rng);
        DenseMatrix truth = random(rng, 1);
        double[] w = truth.toColumnMajor();
        for (int i = 0; i < FEATURES; i++) {
            w[i] = 0;
        }
        w[FEATURES - 1] = -1; // class 0: bias -1 and no weights, never positive
        DenseMatrix start = new DenseMatrix(FEATURES, CLASSES, w);
        try (ComputeBackend cpu = Backends.open("cpu", 1)) {
            PooledHeadFit.Result r = new PooledHeadFit(x, SAMPLES, POSITIONS, FEATURES).fit(cpu, start,
                    pooled(x, truth), 0);
            assertArrayEquals(start.column(0), r.weights().column(0));
        }
    }

    @Test
    void theThreadCountChangesNoBit() {
        Random rng = new Random(5);
        float[] x = rows(rng);
        double[] targets = pooled(x, random(rng, 1));
        DenseMatrix start = random(rng, 1);
        PooledHeadFit fit = new PooledHeadFit(x, SAMPLES, POSITIONS, FEATURES);
        try (ComputeBackend one = Backends.open("cpu", 1); ComputeBackend three = Backends.open("cpu", 3)) {
            assertEquals(fit.fit(one, start, targets, 1e-6).weights(), fit.fit(three, start, targets, 1e-6).weights());
        }
    }

    @Test
    void rowsAndTargetsMustMatchTheirShapes() {
        float[] x = rows(new Random(6));
        assertThrows(IllegalArgumentException.class, () -> new PooledHeadFit(x, SAMPLES, POSITIONS + 1, FEATURES));
        PooledHeadFit fit = new PooledHeadFit(x, SAMPLES, POSITIONS, FEATURES);
        try (ComputeBackend cpu = Backends.open("cpu", 1)) {
            assertThrows(IllegalArgumentException.class, () -> fit.fit(cpu, DenseMatrix.zeros(FEATURES, CLASSES),
                    new double[SAMPLES * CLASSES - 1], 0));
            assertThrows(IllegalArgumentException.class, () -> fit.fit(cpu, DenseMatrix.zeros(FEATURES + 1, CLASSES),
                    new double[SAMPLES * CLASSES], 0));
        }
    }
}
