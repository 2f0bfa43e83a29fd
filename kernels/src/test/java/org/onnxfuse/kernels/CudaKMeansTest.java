package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The device's K-means in Gram form gives bit-identical results to the CPU's. Runs only where
 * CUDA works ({@code -Dgroups=gpu}).
 */
@Tag("gpu")
class CudaKMeansTest extends WithCpuAndCuda {
    private static void assertSameStep(GramKMeans onCpu, GramKMeans onGpu, int k, int[] owner, double[] weight,
                                       int[] current, String what) {
        GramKMeans.Step expected = onCpu.step(k, owner, weight, current);
        GramKMeans.Step actual = onGpu.step(k, owner, weight, current);
        assertArrayEquals(expected.next(), actual.next(), what + ": next");
        assertArrayEquals(expected.nextSquaredDistance(), actual.nextSquaredDistance(), what + ": next d2");
        assertArrayEquals(expected.currentSquaredDistance(), actual.currentSquaredDistance(), what + ": current d2");
    }

    @Test
    void farthestFirstAndStepsAreBitIdentical() {
        SplittableRandom rng = new SplittableRandom(41);
        for (int m : new int[] {1, 7, 64, 1000, 4096}) {
            // every third neuron a twin of another at m >= 64, so ties occur on the device too
            GramProblem p = GramProblem.random(rng, m, m >= 64 ? m - m / 3 : m);
            try (GramKMeans onCpu = p.open(cpu); GramKMeans onGpu = p.open(cuda)) {
                assertEquals(m, onGpu.neurons());
                for (int k : Arrays.stream(new int[] {1, 3, m / 2}).filter(k -> k >= 1 && k <= m).distinct()
                        .toArray()) {
                    String what = "m = " + m + ", k = " + k;
                    int first = rng.nextInt(m);
                    int[] seeds = onCpu.farthestFirst(first, k);
                    assertArrayEquals(seeds, onGpu.farthestFirst(first, k), what + ": farthest-first");
                    int[] owner = new int[m];
                    Arrays.fill(owner, -1);
                    double[] weight = new double[m];
                    for (int g = 0; g < k; g++) {
                        owner[seeds[g]] = g;
                        weight[seeds[g]] = 1.0;
                    }
                    assertSameStep(onCpu, onGpu, k, owner, weight, null, what + ", seeds");
                    // a few Lloyd-like steps from the CPU's assignment, with random member weights
                    int[] assignment = onCpu.step(k, owner, weight, null).next();
                    for (int it = 0; it < 3; it++) {
                        double[] w = GramProblem.groupWeights(rng, assignment, k);
                        assertSameStep(onCpu, onGpu, k, assignment, w, assignment, what + ", iteration " + it);
                        assignment = onCpu.step(k, assignment, w, assignment).next();
                    }
                    // owners with neurons in no group and empty groups, an unrelated current
                    int[] someOwner = GramProblem.randomIds(rng, m, k, true);
                    assertSameStep(onCpu, onGpu, k, someOwner, GramProblem.groupWeights(rng, someOwner, k),
                            GramProblem.randomIds(rng, m, k, false), what + ", random owners");
                }
            }
        }
    }

    @Test
    void closingTheBackendClosesItsKMeans() {
        GramProblem p = GramProblem.random(new SplittableRandom(42), 9, 9);
        ComputeBackend other = Backends.open("cuda", 1);
        GramKMeans left = p.open(other);
        assertEquals(3, left.farthestFirst(0, 3).length);
        other.close();
        assertThrows(IllegalStateException.class, () -> left.farthestFirst(0, 3));
        left.close();
        GramKMeans closed = p.open(cuda);
        closed.close();
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.step(1, new int[9], new double[9], null));
    }
}
