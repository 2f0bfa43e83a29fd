package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;

class ProjectedTargetsTest extends WithCpuBackend {
    /** Random X (with bias column) and A that X cannot fit exactly. */
    private static LevelData randomLevel(long seed, int rows, int features, int m) {
        return LevelData.random(seed, rows, features, m, 0.7);
    }

    private static void assertDistancesMatchRawData(LevelData data, SufficientStatistics stats, double ridgeFactor) {
        assertDistancesMatchRawData(data, ProjectedTargets.fit(backend, stats, ridgeFactor));
    }

    private static void assertDistancesMatchRawData(LevelData data, ProjectedTargets fit) {
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

    /** W solving (S_xx + lambda I) W = S_xa + lambda W0 by Gaussian elimination in plain Java. */
    private static double[][] centredRidge(SufficientStatistics stats, double lambda, double[][] prior) {
        int d = stats.inputDim();
        int m = stats.targetDim();
        double[][] aug = new double[d][d + m];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                aug[i][j] = stats.xx().get(i, j) + (i == j ? lambda : 0.0);
            }
            for (int j = 0; j < m; j++) {
                aug[i][d + j] = stats.xa().get(i, j) + lambda * prior[i][j];
            }
        }
        for (int c = 0; c < d; c++) {
            int pivot = c;
            for (int r = c + 1; r < d; r++) {
                if (Math.abs(aug[r][c]) > Math.abs(aug[pivot][c])) {
                    pivot = r;
                }
            }
            double[] t = aug[c];
            aug[c] = aug[pivot];
            aug[pivot] = t;
            for (int r = 0; r < d; r++) {
                if (r != c) {
                    double f = aug[r][c] / aug[c][c];
                    for (int j = c; j < d + m; j++) {
                        aug[r][j] -= f * aug[c][j];
                    }
                }
            }
        }
        double[][] w = new double[d][m];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < m; j++) {
                w[i][j] = aug[i][d + j] / aug[i][i];
            }
        }
        return w;
    }

    @Test
    void priorIsTheCentreOfTheRidge() {
        LevelData data = randomLevel(6, 40, 5, 4);
        SufficientStatistics stats = data.plainStatistics();
        double[][] prior = LevelData.randomWeights(new SplittableRandom(7), 6, 4);
        ProjectedTargets fit = ProjectedTargets.fit(backend, stats, 0.5, DenseMatrix.fromRows(prior));
        DenseMatrix expected = DenseMatrix.fromRows(centredRidge(stats, fit.ridge(), prior));
        assertTrue(fit.weights().maxAbsDifference(expected) < 1e-10 * expected.maxAbs(),
                "difference " + fit.weights().maxAbsDifference(expected));
        ProjectedTargets plain = ProjectedTargets.fit(backend, stats, 0.5);
        DenseMatrix zeroCentred = DenseMatrix.fromRows(centredRidge(stats, plain.ridge(), new double[6][4]));
        assertTrue(plain.weights().maxAbsDifference(zeroCentred) < 1e-10 * zeroCentred.maxAbs());
        assertTrue(fit.weights().maxAbsDifference(plain.weights()) > 1e-3, "the prior must matter at this ridge");
    }

    @Test
    void distanceStaysExactWithAPrior() {
        // With a prior the cross term S_xa^T W is not symmetric; distances must still be exact.
        LevelData data = randomLevel(8, 60, 6, 9);
        double[][] prior = LevelData.randomWeights(new SplittableRandom(9), 7, 9);
        ProjectedTargets fit = ProjectedTargets.fit(backend, data.plainStatistics(), 0.3, DenseMatrix.fromRows(prior));
        assertTrue(Math.abs(fit.cross(0, 1) - fit.cross(1, 0)) > 1e-6, "expected an asymmetric cross term");
        assertDistancesMatchRawData(data, fit);
    }

    @Test
    void priorKeepsTheWeightsOfFeaturesTheDataNeverExcites() {
        // Feature 2 is 0 in every sample (a constant border pixel after normalisation would be
        // constant, not 0, but the ones column absorbs that): the data says nothing about its
        // weight. The plain ridge zeroes it; the centred ridge keeps the prior's value exactly.
        SplittableRandom random = new SplittableRandom(10);
        double[][] x = LevelData.randomInputs(random, 80, 4);
        for (double[] row : x) {
            row[2] = 0.0;
        }
        double[][] b = LevelData.randomWeights(random, 5, 3);
        LevelData data = new LevelData(x, LevelData.targets(x, b, 0.0, random));
        ProjectedTargets plain = ProjectedTargets.fit(backend, data.plainStatistics(), 1e-6);
        ProjectedTargets centred = ProjectedTargets.fit(backend, data.plainStatistics(), 1e-6, DenseMatrix.fromRows(b));
        for (int j = 0; j < 3; j++) {
            assertEquals(0.0, plain.weights().get(2, j), 1e-12);
            assertEquals(b[2][j], centred.weights().get(2, j), 1e-9 * Math.abs(b[2][j]));
        }
        assertTrue(centred.weights().maxAbsDifference(DenseMatrix.fromRows(b)) < 1e-6);
    }

    @Test
    void priorOfTheWrongShapeIsRejected() {
        LevelData data = randomLevel(11, 30, 3, 2);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ProjectedTargets.fit(backend, data.plainStatistics(), 1e-6, DenseMatrix.zeros(3, 2)));
        assertTrue(e.getMessage().contains("4 x 2"), e.getMessage());
    }
}
