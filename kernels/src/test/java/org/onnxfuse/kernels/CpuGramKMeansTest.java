package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** CpuGramKMeans against a brute-force reference written from the rules in GramKMeans's docs. */
class CpuGramKMeansTest {
    private static ComputeBackend cpu;

    @BeforeAll
    static void open() {
        cpu = Backends.open("cpu", 1);
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    /** d2(i, g) for every g, straight from the definition; members ascending. */
    private static double[][] referenceTable(GramProblem p, int k, int[] owner, double[] weight) {
        int m = p.m();
        double[][] d2 = new double[m][k];
        for (int g = 0; g < k; g++) {
            List<Integer> members = new ArrayList<>();
            for (int j = 0; j < m; j++) {
                if (owner[j] == g) {
                    members.add(j);
                }
            }
            double quadratic = 0.0;
            for (int a : members) {
                double row = 0.0;
                for (int b : members) {
                    row += p.gram()[a + b * m] * weight[b];
                }
                quadratic += weight[a] * row;
            }
            for (int i = 0; i < m; i++) {
                double cross = 0.0;
                for (int j : members) {
                    cross += weight[j] * p.cross()[i + j * m];
                }
                d2[i][g] = Math.max(0.0, quadratic - 2.0 * cross + p.norms()[i]);
            }
        }
        return d2;
    }

    private static int[] referenceFarthestFirst(GramProblem p, int first, int k) {
        int m = p.m();
        int[] seeds = new int[k];
        boolean[] chosen = new boolean[m];
        seeds[0] = first;
        chosen[first] = true;
        for (int c = 1; c < k; c++) {
            double[] nearest = new double[m];
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < m; i++) {
                nearest[i] = Double.POSITIVE_INFINITY;
                for (int s = 0; s < c; s++) {
                    int j = seeds[s];
                    double d2 = Math.max(0.0, p.gram()[j + j * m] - 2.0 * p.cross()[i + j * m] + p.norms()[i]);
                    nearest[i] = Math.min(nearest[i], d2);
                }
                if (!chosen[i]) {
                    max = Math.max(max, nearest[i]);
                }
            }
            int pick = 0;
            while (chosen[pick] || nearest[pick] != max) {
                pick++;
            }
            seeds[c] = pick;
            chosen[pick] = true;
        }
        return seeds;
    }

    private static void assertStepMatchesReference(GramKMeans kMeans, GramProblem p, int k, int[] owner,
                                                   double[] weight, int[] current) {
        double[][] d2 = referenceTable(p, k, owner, weight);
        GramKMeans.Step step = kMeans.step(k, owner, weight, current);
        for (int i = 0; i < p.m(); i++) {
            double min = Double.POSITIVE_INFINITY;
            for (int g = 0; g < k; g++) {
                min = Math.min(min, d2[i][g]);
            }
            int expected = 0;
            if (current != null && d2[i][current[i]] == min) {
                expected = current[i];
            } else {
                while (d2[i][expected] != min) {
                    expected++;
                }
            }
            assertEquals(expected, step.next()[i], "neuron " + i);
            assertEquals(min, step.nextSquaredDistance()[i], 0.0, "neuron " + i);
            if (current != null) {
                assertEquals(d2[i][current[i]], step.currentSquaredDistance()[i], 0.0, "neuron " + i);
            }
        }
        if (current == null) {
            assertNull(step.currentSquaredDistance());
        }
    }

    @Test
    void matchesTheBruteForceReferenceWithTies() {
        SplittableRandom rng = new SplittableRandom(31);
        // 24 neurons, 8 distinct: every neuron has two exact twins, so distances tie
        for (int distinct : new int[] {8, 24}) {
            GramProblem p = GramProblem.random(rng, 24, distinct);
            int ties = 0;
            try (GramKMeans kMeans = p.open(cpu)) {
                assertEquals(24, kMeans.neurons());
                for (int k : new int[] {1, 3, 8, 12, 24}) {
                    int first = rng.nextInt(24);
                    int[] seeds = kMeans.farthestFirst(first, k);
                    assertArrayEquals(referenceFarthestFirst(p, first, k), seeds, "k = " + k);
                    int[] seedOwner = new int[24];
                    Arrays.fill(seedOwner, -1);
                    double[] seedWeight = new double[24];
                    for (int g = 0; g < k; g++) {
                        seedOwner[seeds[g]] = g;
                        seedWeight[seeds[g]] = 1.0;
                    }
                    assertStepMatchesReference(kMeans, p, k, seedOwner, seedWeight, null);
                    for (int trial = 0; trial < 5; trial++) {
                        int[] owner = GramProblem.randomIds(rng, 24, k, trial % 2 == 0);
                        int[] current = trial == 4 ? null : GramProblem.randomIds(rng, 24, k, false);
                        double[] weight = GramProblem.groupWeights(rng, owner, k);
                        assertStepMatchesReference(kMeans, p, k, owner, weight, current);
                        // twin seeds of two groups give exactly equal distances
                        if (current != null && k > 1) {
                            double[][] d2 = referenceTable(p, k, seedOwner, seedWeight);
                            for (double[] row : d2) {
                                for (int g = 1; g < k; g++) {
                                    ties += row[g] == row[0] ? 1 : 0;
                                }
                            }
                        }
                    }
                }
            }
            if (distinct < 24) {
                assertTrue(ties > 0, "the twins should have produced ties");
            }
        }
    }

    @Test
    void rejectsBadArguments() {
        GramProblem p = GramProblem.random(new SplittableRandom(32), 5, 5);
        assertThrows(IllegalArgumentException.class, () -> cpu.openGramKMeans(p.cross(), p.gram(), p.norms(), 4));
        try (GramKMeans kMeans = p.open(cpu)) {
            assertThrows(IllegalArgumentException.class, () -> kMeans.farthestFirst(5, 2));
            assertThrows(IllegalArgumentException.class, () -> kMeans.farthestFirst(0, 6));
            assertThrows(IllegalArgumentException.class,
                    () -> kMeans.step(2, new int[] {0, 1, 2, 0, 0}, new double[5], null));
            assertThrows(IllegalArgumentException.class,
                    () -> kMeans.step(2, new int[] {0, 1, 1, 0, 0}, new double[5], new int[] {0, 0, 0, 0, -1}));
            assertThrows(IllegalArgumentException.class, () -> kMeans.step(2, new int[4], new double[5], null));
        }
    }
}
