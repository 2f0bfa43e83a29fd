package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class LearningRateRangeTestTest {
    private static final double[] SCALES = {1, 0.5, 2, 1};
    private static final float[][] TRUTH = {{0.8f, -0.3f, 0.5f, 1.2f, -0.7f, 0.1f, 0.25f, -0.9f}, {0.4f, -0.6f}};

    private final LeastSquaresObjective objective = new LeastSquaresObjective(4, 1.0, 2.0);
    private final HeldRows rows = objective.noiselessRows(400, SCALES, TRUTH, 13);

    @Test
    void theCandidatesAreHalfDecadesFrom1eMinus5To1() {
        double[] rates = LearningRateRangeTest.candidates();
        assertEquals(11, rates.length);
        assertEquals(1e-5, rates[0], 1e-20);
        assertEquals(Math.sqrt(10) * 1e-5, rates[1], 1e-18);
        assertEquals(1.0, rates[10], 1e-12);
    }

    /**
     * Plain SGD on a quadratic with largest curvature L diverges above 2 / L and crawls far below
     * 1 / L: the pick must lie in [0.1 / L, 2 / L].
     */
    @Test
    void sgdPicksAStableRateNearTheCurvatureLimit() {
        TrainingSettings settings = TrainingSettings.builder().optimizer(OptimizerKind.SGD).momentum(0).weightDecay(0)
                .epochs(1).build();
        TrainingResult result = new Trainer(settings).train(1, objective, objective.parameters().zeros(), rows,
                TrainingProgress.NONE).result();
        double curvature = largestCurvature(DataSplit.of(rows.rows(), 0).train(), 2.0);
        assertTrue(result.learningRateChosen());
        assertTrue(result.learningRate() >= 0.1 / curvature && result.learningRate() <= 2 / curvature,
                "rate " + result.learningRate() + " for curvature " + curvature);
    }

    /**
     * Adam moves each parameter by about lr per step whatever the curvature, so with the minimiser
     * at distance D (largest coordinate) from the start, 30 steps need lr >= D / 90 to cover a third
     * of the way, and rates above D only overshoot: the pick must lie in [D / 90, D]. Targets are
     * scaled to D = 0.12 so that the sweep's top rates are out of range.
     */
    @Test
    void adamPicksARateOnTheScaleOfTheDistanceToTheMinimiser() {
        float[][] small = {TRUTH[0].clone(), TRUTH[1].clone()};
        for (float[] values : small) {
            for (int i = 0; i < values.length; i++) {
                values[i] *= 0.1f;
            }
        }
        HeldRows scaled = objective.noiselessRows(400, SCALES, small, 13);
        TrainingSettings settings = TrainingSettings.builder().weightDecay(0).epochs(1).build();
        TrainingResult result = new Trainer(settings).train(1, objective, objective.parameters().zeros(), scaled,
                TrainingProgress.NONE).result();
        double distance = 0.12;
        assertTrue(result.learningRate() >= distance / 90 && result.learningRate() <= distance,
                "rate " + result.learningRate() + " for distance " + distance);
    }

    @Test
    void theBestRateWinsTheSmallerOnATie() {
        List<TrainingResult.RangeTestPoint> sweep = List.of(point(1e-5, 5), point(1e-4, 2), point(1e-3, 2),
                point(1e-2, 4));
        assertEquals(1e-4, LearningRateRangeTest.choose(sweep, 6));
    }

    @Test
    void aWinnerNextToAFailureIsTakenHalfADecadeLower() {
        List<TrainingResult.RangeTestPoint> sweep = List.of(point(1e-5, 5), point(1e-4, 3), point(1e-3, 1),
                point(1e-2, Double.NaN));
        assertEquals(1e-4, LearningRateRangeTest.choose(sweep, 6));
        List<TrainingResult.RangeTestPoint> worse = List.of(point(1e-5, 5), point(1e-4, 3), point(1e-3, 1),
                point(1e-2, 7));
        assertEquals(1e-4, LearningRateRangeTest.choose(worse, 6));
    }

    @Test
    void withoutAnyImprovementTheSmallestRateIsChosen() {
        assertEquals(1e-5, LearningRateRangeTest.choose(List.of(point(1e-5, 6), point(1e-4, 8)), 6));
        assertEquals(1e-4, LearningRateRangeTest.choose(List.of(point(1e-4, 6.01)), 6), "the sweep's own smallest");
    }

    @Test
    void aTransformersBlockCandidatesStartAt1eMinus4() {
        double[] rates = LearningRateRangeTest.candidates(LearningRateRangeTest.SMALLEST_TRANSFORMER);
        assertEquals(9, rates.length);
        assertEquals(1e-4, rates[0], 1e-19);
        assertEquals(1.0, rates[8], 1e-12);
        double[] all = LearningRateRangeTest.candidates();
        for (int i = 0; i < rates.length; i++) {
            assertEquals(all[i + 2], rates[i], 1e-15 * all[i + 2], "the same candidates, the two smallest left out");
        }
    }

    /** A sweep from a larger smallest rate tries exactly those candidates, and never picks below them. */
    @Test
    void theSweepStartsAtTheSmallestRateAsked() {
        TrainingSettings settings = TrainingSettings.builder().weightDecay(0).epochs(1).build();
        TrainingResult result = new Trainer(settings).train(1, objective, objective.parameters().zeros(), rows,
                TrainingProgress.NONE, 0, LearningRateRangeTest.SMALLEST_TRANSFORMER).result();
        assertEquals(1e-4, result.rangeTest().get(0).learningRate(), 1e-19);
        assertTrue(result.learningRate() >= 1e-4, "rate " + result.learningRate());
        TrainingResult plain = new Trainer(settings).train(1, objective, objective.parameters().zeros(), rows,
                TrainingProgress.NONE).result();
        assertEquals(1e-5, plain.rangeTest().get(0).learningRate(), 1e-20);
    }

    private static TrainingResult.RangeTestPoint point(double rate, double loss) {
        return new TrainingResult.RangeTestPoint(rate, loss);
    }

    /** Largest eigenvalue of the loss's Hessian (2 w / n) [x 1]^T [x 1] for the output weighted w, by power iteration. */
    private double largestCurvature(int[] train, double outputWeight) {
        Batch batch = rows.batch(train);
        int p = objective.d + 1;
        double[][] h = new double[p][p];
        for (int r = 0; r < batch.rows(); r++) {
            double[] a = new double[p];
            for (int k = 0; k < objective.d; k++) {
                a[k] = batch.input()[r * objective.d + k];
            }
            a[objective.d] = 1;
            for (int u = 0; u < p; u++) {
                for (int v = 0; v < p; v++) {
                    h[u][v] += 2 * outputWeight * a[u] * a[v] / batch.rows();
                }
            }
        }
        double[] x = new double[p];
        java.util.Arrays.fill(x, 1);
        double lambda = 0;
        for (int iteration = 0; iteration < 500; iteration++) {
            double[] y = new double[p];
            for (int u = 0; u < p; u++) {
                for (int v = 0; v < p; v++) {
                    y[u] += h[u][v] * x[v];
                }
            }
            lambda = Math.sqrt(java.util.Arrays.stream(y).map(t -> t * t).sum());
            for (int u = 0; u < p; u++) {
                x[u] = y[u] / lambda;
            }
        }
        return lambda;
    }
}
