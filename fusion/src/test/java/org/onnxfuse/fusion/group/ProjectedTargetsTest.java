package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;

class ProjectedTargetsTest {
    private static ComputeBackend backend;

    @BeforeAll
    static void open() {
        backend = Backends.open("cpu", 1);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    /** Random X (with bias column) and A that X cannot fit exactly. */
    private static LevelData randomLevel(long seed, int rows, int features, int m) {
        SplittableRandom random = new SplittableRandom(seed);
        double[][] x = LevelData.randomInputs(random, rows, features);
        double[][] b = LevelData.randomWeights(random, features + 1, m);
        return new LevelData(x, LevelData.targets(x, b, 0.7, random));
    }

    private static void assertDistancesMatchRawData(LevelData data, SufficientStatistics stats, double ridgeFactor) {
        ProjectedTargets fit = ProjectedTargets.fit(backend, stats, ridgeFactor);
        SplittableRandom random = new SplittableRandom(99);
        int m = data.neurons();
        for (int trial = 0; trial < 40; trial++) {
            int size = 1 + random.nextInt(Math.min(4, m));
            int[] members = LevelData.randomPermutation(random, m);
            members = java.util.Arrays.copyOf(members, size);
            java.util.Arrays.sort(members);
            double[] weights = new double[size];
            double sum = 0.0;
            for (int i = 0; i < size; i++) {
                weights[i] = 0.1 + random.nextDouble();
                sum += weights[i];
            }
            for (int i = 0; i < size; i++) {
                weights[i] /= sum;
            }
            double[] w = LevelData.combine(fit.weights(), members, weights);
            for (int target = 0; target < m; target++) {
                double direct = data.directDistance(w, target);
                double viaStatistics = fit.distance(members, weights, target);
                assertEquals(direct, viaStatistics, 1e-8 * direct,
                        "members " + java.util.Arrays.toString(members) + " target " + target);
            }
        }
        for (int i = 0; i < m; i++) {
            double direct = data.directDistance(LevelData.column(fit.weights(), i), i);
            assertEquals(direct, fit.residual(i), 1e-8 * direct);
        }
    }

    @Test
    void distanceFromStatisticsEqualsDirectDistanceOnSamples() {
        LevelData data = randomLevel(1, 300, 6, 9);
        assertDistancesMatchRawData(data, data.plainStatistics(), GroupingConfig.DEFAULT_RIDGE_FACTOR);
    }

    @Test
    void distanceStaysExactWithALargeRidge() {
        // The quadratic term uses W^T S_xx W, not S_xa^T W: exact for the ridge solution too.
        LevelData data = randomLevel(2, 300, 6, 9);
        assertDistancesMatchRawData(data, data.plainStatistics(), 0.3);
    }

    @Test
    void distanceFromBackendStatisticsEqualsDirectDistance() {
        LevelData data = randomLevel(3, 257, 5, 7).roundedToFloat();
        SufficientStatistics streamed = data.backendStatistics(backend);
        assertTrue(streamed.xa().maxAbsDifference(data.plainStatistics().xa()) < 1e-9 * streamed.xa().maxAbs());
        assertDistancesMatchRawData(data, streamed, GroupingConfig.DEFAULT_RIDGE_FACTOR);
    }

    @Test
    void leastSquaresRecoversExactWeights() {
        SplittableRandom random = new SplittableRandom(4);
        double[][] x = LevelData.randomInputs(random, 200, 4);
        double[][] b = LevelData.randomWeights(random, 5, 3);
        LevelData data = new LevelData(x, LevelData.targets(x, b, 0.0, random));
        ProjectedTargets fit = ProjectedTargets.fit(backend, data.plainStatistics(), 0.0);
        assertTrue(fit.weights().maxAbsDifference(DenseMatrix.fromRows(b)) < 1e-10);
        assertEquals(0.0, fit.ridge());
        for (int i = 0; i < 3; i++) {
            assertTrue(fit.residual(i) < 1e-5, "residual " + fit.residual(i));
        }
    }

    @Test
    void ridgeIsRelativeToTheMeanDiagonal() {
        LevelData data = randomLevel(5, 100, 3, 2);
        SufficientStatistics stats = data.plainStatistics();
        double trace = 0.0;
        for (int i = 0; i < 4; i++) {
            trace += stats.xx().get(i, i);
        }
        assertEquals(1e-3 * trace / 4, ProjectedTargets.fit(backend, stats, 1e-3).ridge(), 1e-12 * trace);
    }
}
