package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CPU's batched K-means operations against the loop they replace: each restart stepped alone on
 * its own K-means, one after another. Every restart's results must be the same bits, also when
 * restarts stop and leave the batch and when ids are reused.
 */
class CpuGramKMeansBatchTest {
    private static ComputeBackend cpu;

    @BeforeAll
    static void open() {
        cpu = Backends.open("cpu", 3);
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    static void assertSameStep(GramKMeans.Step expected, GramKMeans.Step actual, String what) {
        assertArrayEquals(expected.next(), actual.next(), what + ": next");
        assertArrayEquals(expected.nextSquaredDistance(), actual.nextSquaredDistance(), what + ": next d2");
        assertArrayEquals(expected.currentSquaredDistance(), actual.currentSquaredDistance(), what + ": current d2");
    }

    /**
     * Lloyd-like rounds for {@code restarts} restarts from random first seeds: round 0 assigns to the
     * seeds (no current groups), later rounds step from the last assignment with random member
     * weights, and restart r leaves the batch after r + 1 rounds. {@code batched} steps all running
     * restarts in one call; the reference steps each alone on its own K-means, as the sequential loop
     * did. Returns how many restart-steps were compared.
     */
    static int compareLockstep(GramProblem p, GramKMeans batched, ComputeBackend reference, int k, int restarts,
                               long seed) {
        int m = p.m();
        SplittableRandom rng = new SplittableRandom(seed);
        int[] firsts = new int[restarts];
        for (int r = 0; r < restarts; r++) {
            firsts[r] = rng.nextInt(m);
        }
        List<GramKMeans> alone = new ArrayList<>();
        int compared = 0;
        try {
            int[][] seeds = batched.farthestFirst(firsts, k);
            int[][] owners = new int[restarts][];
            double[][] weights = new double[restarts][];
            int[][] currents = new int[restarts][];
            for (int r = 0; r < restarts; r++) {
                GramKMeans own = p.open(reference);
                alone.add(own);
                assertArrayEquals(own.farthestFirst(firsts[r], k), seeds[r], "restart " + r + ": farthest-first");
                owners[r] = new int[m];
                Arrays.fill(owners[r], -1);
                weights[r] = new double[m];
                for (int g = 0; g < k; g++) {
                    owners[r][seeds[r][g]] = g;
                    weights[r][seeds[r][g]] = 1.0;
                }
            }
            for (int round = 0; round < restarts; round++) {
                int count = restarts - round;
                int[] ids = new int[count];
                for (int b = 0; b < count; b++) {
                    ids[b] = round + b; // restart `round - 1` has just left the batch
                }
                GramKMeans.Step[] steps = batched.steps(k, ids, pick(owners, round), pick(weights, round),
                        pick(currents, round));
                assertEquals(count, steps.length);
                for (int b = 0; b < count; b++) {
                    int r = round + b;
                    GramKMeans.Step expected = alone.get(r).step(k, owners[r], weights[r], currents[r]);
                    assertSameStep(expected, steps[b], "m " + m + ", k " + k + ", restart " + r + ", round " + round);
                    compared++;
                    // the next round from this assignment, some neurons in no group in odd restarts
                    int[] next = expected.next().clone();
                    if (r % 2 == 1) {
                        for (int i = 0; i < m; i += 5) {
                            next[i] = -1;
                        }
                    }
                    owners[r] = next;
                    weights[r] = GramProblem.groupWeights(rng, next, k);
                    currents[r] = r % 3 == 2 ? GramProblem.randomIds(rng, m, k, false) : expected.next();
                }
            }
        } finally {
            alone.forEach(GramKMeans::close);
        }
        return compared;
    }

    @SuppressWarnings("unchecked")
    private static <T> T[] pick(T[] all, int from) {
        return Arrays.copyOfRange(all, from, all.length);
    }

    @Test
    void batchedRestartsAreTheSequentialLoopsRestartByRestart() {
        SplittableRandom rng = new SplittableRandom(61);
        int compared = 0;
        for (int m : new int[] {1, 9, 64, 300}) {
            GramProblem p = GramProblem.random(rng, m, m >= 64 ? m - m / 3 : m);
            for (int k : Arrays.stream(new int[] {1, 4, m / 2, m}).filter(k -> k >= 1 && k <= m).distinct().toArray()) {
                for (int restarts : new int[] {1, 3, 6}) {
                    try (GramKMeans batched = p.open(cpu)) {
                        assertEquals(1, batched.restartBatch(k));
                        compared += compareLockstep(p, batched, cpu, k, restarts, 1000L * m + 10L * k + restarts);
                    }
                }
            }
        }
        // 12 (m, k) pairs, each with 1 + (3 + 2 + 1) + (6 + 5 + ... + 1) restart-steps
        assertEquals(12 * 28, compared);
    }

    @Test
    void idsNameEachRestartsTable() {
        GramProblem p = GramProblem.random(new SplittableRandom(62), 40, 30);
        int k = 6;
        SplittableRandom rng = new SplittableRandom(63);
        try (GramKMeans batched = p.open(cpu); GramKMeans a = p.open(cpu); GramKMeans b = p.open(cpu)) {
            int[] ownerA = GramProblem.randomIds(rng, 40, k, true);
            int[] ownerB = GramProblem.randomIds(rng, 40, k, true);
            double[] weightA = GramProblem.groupWeights(rng, ownerA, k);
            double[] weightB = GramProblem.groupWeights(rng, ownerB, k);
            // the same two restarts, named in either order, then one alone, then the other again
            for (int[] order : new int[][] {{7, 3}, {3, 7}, {7}, {3}, {3, 7}}) {
                int[][] owners = new int[order.length][];
                double[][] weights = new double[order.length][];
                for (int i = 0; i < order.length; i++) {
                    owners[i] = order[i] == 7 ? ownerA : ownerB;
                    weights[i] = order[i] == 7 ? weightA : weightB;
                }
                GramKMeans.Step[] steps = batched.steps(k, order, owners, weights, new int[order.length][]);
                for (int i = 0; i < order.length; i++) {
                    GramKMeans alone = order[i] == 7 ? a : b;
                    assertSameStep(alone.step(k, owners[i], weights[i], null), steps[i], "restart " + order[i]);
                }
            }
        }
    }

    @Test
    void batchArgumentsAreChecked() {
        GramProblem p = GramProblem.random(new SplittableRandom(64), 5, 5);
        try (GramKMeans kMeans = p.open(cpu)) {
            int[] owner = new int[5];
            double[] weight = new double[5];
            assertThrows(IllegalArgumentException.class, () -> kMeans.steps(2, new int[] {1, 1},
                    new int[][] {owner, owner}, new double[][] {weight, weight}, new int[2][]));
            assertThrows(IllegalArgumentException.class, () -> kMeans.steps(2, new int[] {1, 2},
                    new int[][] {owner}, new double[][] {weight, weight}, new int[2][]));
            assertThrows(IllegalArgumentException.class, () -> kMeans.steps(2, new int[] {1, 2},
                    new int[][] {owner, new int[] {0, 0, 0, 0, 2}}, new double[][] {weight, weight}, new int[2][]));
            assertThrows(IllegalArgumentException.class, () -> kMeans.steps(6, new int[0], new int[0][],
                    new double[0][], new int[0][]));
            assertEquals(0, kMeans.steps(2, new int[0], new int[0][], new double[0][], new int[0][]).length);
            assertThrows(IllegalArgumentException.class, () -> kMeans.farthestFirst(new int[] {0, 5}, 2));
            assertThrows(IllegalArgumentException.class, () -> kMeans.restartBatch(0));
        }
    }

    /** An implementation that keeps the default steps one restart per call, and says so. */
    @Test
    void theDefaultStepsOneRestartPerCall() {
        GramProblem p = GramProblem.random(new SplittableRandom(65), 6, 6);
        try (GramKMeans inner = p.open(cpu)) {
            GramKMeans plain = new GramKMeans() {
                @Override
                public int neurons() {
                    return inner.neurons();
                }

                @Override
                public int[] farthestFirst(int first, int k) {
                    return inner.farthestFirst(first, k);
                }

                @Override
                public Step step(int k, int[] owner, double[] weight, int[] current) {
                    return inner.step(k, owner, weight, current);
                }

                @Override
                public void close() {
                }
            };
            int[] owner = {0, 1, 0, 1, 0, 1};
            double[] weight = {1, 1, 1, 1, 1, 1};
            assertEquals(1, plain.restartBatch(2));
            assertSameStep(inner.step(2, owner, weight, owner),
                    plain.steps(2, new int[] {4}, new int[][] {owner}, new double[][] {weight}, new int[][] {owner})[0],
                    "one restart");
            assertThrows(UnsupportedOperationException.class, () -> plain.steps(2, new int[] {0, 1},
                    new int[][] {owner, owner}, new double[][] {weight, weight}, new int[2][]));
            assertArrayEquals(new int[][] {inner.farthestFirst(2, 3), inner.farthestFirst(5, 3)},
                    plain.farthestFirst(new int[] {2, 5}, 3));
        }
    }
}
