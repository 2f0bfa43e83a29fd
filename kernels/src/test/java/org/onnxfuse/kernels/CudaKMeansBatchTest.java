package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The device's batched K-means (every kernel launched once for all restarts, restart in grid z)
 * gives each restart the CPU's bits: the same seeds, assignments and distances as the restart
 * stepped alone on the CPU, and as the restart stepped alone on the device. Runs only where CUDA
 * works ({@code -Dgroups=gpu}).
 */
@Tag("gpu")
class CudaKMeansBatchTest extends WithCpuAndCuda {

    @Test
    void batchedRestartsGiveTheCpusBitsRestartByRestart() {
        SplittableRandom rng = new SplittableRandom(71);
        for (int m : new int[] {1, 7, 64, 1000, 2500}) {
            // every third neuron a twin of another at m >= 64, so distances tie on the device too
            GramProblem p = GramProblem.random(rng, m, m >= 64 ? m - m / 3 : m);
            for (int k : Arrays.stream(new int[] {1, 3, m / 2, m <= 64 ? m : 1}).filter(k -> k >= 1 && k <= m)
                    .distinct().toArray()) {
                for (int restarts : m >= 2500 ? new int[] {1, 5} : new int[] {1, 2, 5, 10}) {
                    try (GramKMeans batched = p.open(cuda)) {
                        int batch = batched.restartBatch(k);
                        assertTrue(batch >= 1 && batch <= CudaGramKMeans.MAX_RESTART_BATCH, "restart batch " + batch);
                        long seed = 1000L * m + 10L * k + restarts;
                        CpuGramKMeansBatchTest.compareLockstep(p, batched, cpu, k, restarts, seed);
                        // and against the device's own one-restart steps
                        CpuGramKMeansBatchTest.compareLockstep(p, batched, cuda, k, restarts, seed);
                    }
                }
            }
        }
    }

    /** Restarts whose groups are empty, whose neurons are in no group, or with and without current groups, in one batch. */
    @Test
    void emptyGroupsAndMixedCurrentsInOneBatch() {
        SplittableRandom rng = new SplittableRandom(72);
        int m = 300;
        int k = 40;
        GramProblem p = GramProblem.random(rng, m, 200);
        int[] allInZero = new int[m];
        int[] fewGroups = new int[m];
        int[] someNone = GramProblem.randomIds(rng, m, k, true);
        for (int i = 0; i < m; i++) {
            fewGroups[i] = 3 * (i % 4); // groups 0, 3, 6, 9 only
            allInZero[i] = i % 7 == 0 ? -1 : 0;
        }
        int[][] owners = {allInZero, fewGroups, someNone, fewGroups};
        double[][] weights = new double[owners.length][];
        for (int b = 0; b < owners.length; b++) {
            weights[b] = GramProblem.groupWeights(rng, owners[b], k);
        }
        int[][] currents = {null, fewGroups, GramProblem.randomIds(rng, m, k, false), null};
        int[] ids = {5, 0, 9, 2};
        try (GramKMeans onCpu = p.open(cpu); GramKMeans onGpu = p.open(cuda)) {
            GramKMeans.Step[] expected = onCpu.steps(k, ids, owners, weights, currents);
            GramKMeans.Step[] actual = onGpu.steps(k, ids, owners, weights, currents);
            for (int b = 0; b < ids.length; b++) {
                CpuGramKMeansBatchTest.assertSameStep(expected[b], actual[b], "restart " + ids[b]);
                CpuGramKMeansBatchTest.assertSameStep(onGpu.step(k, owners[b], weights[b], currents[b]), actual[b],
                        "restart " + ids[b] + " alone on the device");
            }
        }
    }

    @Test
    void batchedFarthestFirstGivesEachRestartsSeeds() {
        SplittableRandom rng = new SplittableRandom(73);
        for (int m : new int[] {1, 33, 700, 3000}) {
            GramProblem p = GramProblem.random(rng, m, m >= 33 ? m - m / 4 : m);
            try (GramKMeans onCpu = p.open(cpu); GramKMeans onGpu = p.open(cuda)) {
                for (int k : Arrays.stream(new int[] {1, 2, m / 3, m}).filter(k -> k >= 1 && k <= m).distinct()
                        .toArray()) {
                    int[] firsts = rng.ints(m >= 3000 ? 3 : 12, 0, m).toArray();
                    int[][] seeds = onGpu.farthestFirst(firsts, k);
                    assertEquals(firsts.length, seeds.length);
                    for (int r = 0; r < firsts.length; r++) {
                        assertArrayEquals(onCpu.farthestFirst(firsts[r], k), seeds[r],
                                "m " + m + ", k " + k + ", restart " + r);
                    }
                }
            }
        }
    }
}
