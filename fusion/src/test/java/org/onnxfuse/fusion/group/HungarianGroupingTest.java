package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.DenseMatrix;

class HungarianGroupingTest extends WithCpuBackend {
    /** Two parents that are noisy mixtures of shared neurons, so pairings have distinct costs. */
    private static ProjectedTargets twoParents(long seed, int n0, int n1) {
        return twoParents(seed, n0, n1, false);
    }

    /** With {@code prior}: a large ridge centred on random weights, so the cross term is asymmetric. */
    private static ProjectedTargets twoParents(long seed, int n0, int n1, boolean prior) {
        SplittableRandom random = new SplittableRandom(seed);
        double[][] x = LevelData.randomInputs(random, 150, 5);
        double[][] b = LevelData.randomWeights(random, 6, n0 + n1);
        LevelData data = new LevelData(x, LevelData.targets(x, b, 0.8, random));
        if (prior) {
            return ProjectedTargets.fit(backend, data.plainStatistics(), 0.3,
                    DenseMatrix.fromRows(LevelData.randomWeights(random, 6, n0 + n1)));
        }
        return ProjectedTargets.fit(backend, data.plainStatistics(), GroupingConfig.DEFAULT_RIDGE_FACTOR);
    }

    private static double[] scores(long seed, int m) {
        SplittableRandom random = new SplittableRandom(seed);
        double[] s = new double[m];
        for (int i = 0; i < m; i++) {
            s[i] = 0.5 + random.nextDouble();
        }
        return s;
    }

    /** The cost of fusing pair (i, j) straight from the definition, via the generic distance. */
    private static double pairCost(ProjectedTargets fit, double[] s, int i, int jGlobal) {
        int[] members = {i, jGlobal};
        double[] u = {s[i] / (s[i] + s[jGlobal]), s[jGlobal] / (s[i] + s[jGlobal])};
        return s[i] * fit.distance(members, u, i) + s[jGlobal] * fit.distance(members, u, jGlobal);
    }

    /**
     * Brute force over all injections of the narrower parent into the wider one; the total counts
     * matched pairs and, for unmatched parent-0 neurons, s_i times their own residual. Returns the
     * optimal partner (parent-1 index or -1) of each parent-0 neuron and puts the cost in best[0].
     */
    private static int[] bruteForce(ProjectedTargets fit, double[] s, int n0, int n1, double[] best) {
        int[] partner = new int[n0];
        int[] bestPartner = new int[n0];
        best[0] = Double.POSITIVE_INFINITY;
        enumerate(fit, s, n0, n1, 0, partner, new boolean[n1], bestPartner, best);
        return bestPartner;
    }

    private static void enumerate(ProjectedTargets fit, double[] s, int n0, int n1, int i, int[] partner,
                                  boolean[] used, int[] bestPartner, double[] best) {
        if (i == n0) {
            int matched = 0;
            double total = 0.0;
            for (int r = 0; r < n0; r++) {
                if (partner[r] >= 0) {
                    matched++;
                    total += pairCost(fit, s, r, n0 + partner[r]);
                } else {
                    total += s[r] * fit.residual(r);
                }
            }
            if (matched == Math.min(n0, n1) && total < best[0]) {
                best[0] = total;
                System.arraycopy(partner, 0, bestPartner, 0, n0);
            }
            return;
        }
        if (n1 < n0) {
            partner[i] = -1;
            enumerate(fit, s, n0, n1, i + 1, partner, used, bestPartner, best);
        }
        for (int j = 0; j < n1; j++) {
            if (!used[j]) {
                used[j] = true;
                partner[i] = j;
                enumerate(fit, s, n0, n1, i + 1, partner, used, bestPartner, best);
                used[j] = false;
            }
        }
    }

    /** What a neuron space keeps once its level is written: everything but the d x k weights. */
    @Test
    void withoutWeightsKeepsTheGroupingAndDropsOnlyTheWeights() {
        ProjectedTargets fit = twoParents(7, 4, 5);
        Grouping grouping = HungarianGrouping.match(backend, fit, NeuronLayout.of(4, 5), scores(7, 9));
        Grouping kept = grouping.withoutWeights();
        assertEquals(0, kept.fusedWeights().rows());
        assertEquals(grouping.width(), kept.fusedWeights().cols());
        assertArrayEquals(grouping.assignment(), kept.assignment());
        assertEquals(grouping.groups(), kept.groups());
        assertEquals(grouping.cost(), kept.cost());
        assertArrayEquals(grouping.memberWeights().toColumnMajor(), kept.memberWeights().toColumnMajor());
        assertEquals(kept, kept.withoutWeights());
    }

    private static void assertMatchesBruteForce(long seed, int n0, int n1) {
        assertMatchesBruteForce(seed, n0, n1, false);
    }

    private static void assertMatchesBruteForce(long seed, int n0, int n1, boolean prior) {
        ProjectedTargets fit = twoParents(seed, n0, n1, prior);
        NeuronLayout layout = NeuronLayout.of(n0, n1);
        double[] s = scores(seed, n0 + n1);
        Grouping grouping = HungarianGrouping.match(backend, fit, layout, s);
        double[] best = new double[1];
        int[] expected = bruteForce(fit, s, n0, n1, best);

        assertEquals(best[0], grouping.cost(), 1e-9 * best[0], "cost, seed " + seed);
        assertEquals(n0, grouping.width());
        int[] found = new int[n0];
        for (int i = 0; i < n0; i++) {
            Group group = grouping.group(i);
            assertEquals(i, group.member(0), "fused neurons follow parent 0's order");
            found[i] = group.size() == 2 ? group.member(1) - n0 : -1;
        }
        assertArrayEquals(expected, found, "assignment, seed " + seed);
        for (int j = 0; j < n1; j++) {
            int g = grouping.groupOf(n0 + j);
            assertEquals(g == Grouping.UNASSIGNED ? -1 : j, g == Grouping.UNASSIGNED ? -1 : found[g]);
        }
        DenseMatrix expectedWeights = backend.multiply(fit.weights(), grouping.memberWeights());
        assertTrue(expectedWeights.maxAbsDifference(grouping.fusedWeights()) < 1e-12 * expectedWeights.maxAbs());
    }

    @Test
    void equalWidthsMatchTheBestPermutation() {
        for (long seed = 0; seed < 5; seed++) {
            assertMatchesBruteForce(seed, 5, 5);
        }
    }

    @Test
    void narrowerSecondParentMatchesTheBestInjection() {
        for (long seed = 0; seed < 5; seed++) {
            assertMatchesBruteForce(10 + seed, 5, 3);
        }
    }

    @Test
    void widerSecondParentMatchesTheBestInjection() {
        for (long seed = 0; seed < 5; seed++) {
            assertMatchesBruteForce(20 + seed, 3, 5);
        }
    }

    @Test
    void fitsWithAPriorMatchTheBruteForceToo() {
        for (long seed = 0; seed < 3; seed++) {
            assertMatchesBruteForce(50 + seed, 4, 4, true);
            assertMatchesBruteForce(60 + seed, 4, 3, true);
        }
    }

    @Test
    void pairCostsMatchTheDefinition() {
        for (boolean prior : new boolean[] {false, true}) {
            ProjectedTargets fit = twoParents(30, 4, 3, prior);
            double[] s = scores(30, 7);
            double[][] c = HungarianGrouping.pairCosts(fit, s, 4, 3);
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 3; j++) {
                    assertEquals(pairCost(fit, s, i, 4 + j), c[i][j], 1e-10 * c[i][j], "prior " + prior);
                }
            }
        }
    }

    @Test
    void permutedCopyIsMatchedToItsTwins() {
        SplittableRandom random = new SplittableRandom(40);
        int n = 6;
        double[][] x = LevelData.randomInputs(random, 200, 5);
        double[][] b = LevelData.randomWeights(random, 6, n);
        double[][] a0 = LevelData.targets(x, b, 0.0, random);
        int[] perm = LevelData.randomPermutation(random, n);
        LevelData data = new LevelData(x, LevelData.concat(a0, LevelData.permuteColumns(a0, perm)));
        NeuronLayout layout = NeuronLayout.of(n, n);
        Grouping grouping = HungarianGrouping.match(backend, data.plainStatistics(), layout,
                ImportanceScores.uniform(layout), GroupingConfig.defaults().withRidgeFactor(1e-10));
        for (int i = 0; i < n; i++) {
            int twin = grouping.group(i).member(1) - n;
            assertEquals(i, perm[twin]);
            for (int f = 0; f < 6; f++) {
                assertEquals(b[f][i], grouping.fusedWeights().get(f, i), 1e-6);
            }
        }
    }

    @Test
    void rejectsAnythingButTwoParents() {
        ProjectedTargets fit = twoParents(50, 2, 2);
        assertThrows(IllegalArgumentException.class,
                () -> HungarianGrouping.match(backend, fit, NeuronLayout.of(1, 1, 2), new double[] {1, 1, 1, 1}));
    }
}
