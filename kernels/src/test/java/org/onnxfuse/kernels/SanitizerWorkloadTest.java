package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every kernel once, at sizes small enough for compute-sanitizer's racecheck (which slows kernels
 * by orders of magnitude) yet with several blocks, partial tiles and the sliced statistics path;
 * each result is checked against the CPU backend. native/device-check.sh runs this class under
 * memcheck and racecheck; it also runs with the other GPU tests.
 */
@Tag("gpu")
class SanitizerWorkloadTest extends WithCpuAndCuda {
    private static final double TOLERANCE = 1e-12;

    @Test
    void gemmWithPartialTiles() {
        SplittableRandom rng = new SplittableRandom(31);
        DenseMatrix a = Reference.random(rng, 70, 130);
        DenseMatrix b = Reference.random(rng, 130, 67);
        DenseMatrix c = Reference.random(rng, 70, 67);
        DenseMatrix expected = cpu.gemm(Transpose.NO, Transpose.NO, 0.5, a, b, 2.0, c);
        DenseMatrix actual = cuda.gemm(Transpose.NO, Transpose.NO, 0.5, a, b, 2.0, c);
        assertTrue(Reference.relativeError(actual, expected) < TOLERANCE);
    }

    @Test
    void statisticsDirectAndSliced() {
        SplittableRandom rng = new SplittableRandom(32);
        for (int[] shape : new int[][] {{5_000, 70, 9}, {300, 130, 65}}) {
            int rows = shape[0];
            int d = shape[1];
            int m = shape[2];
            float[] x = Reference.randomFloats(rng, rows * d);
            float[] a = Reference.randomFloats(rng, rows * m);
            try (StatisticsAccumulator onCpu = cpu.openStatistics(d, m);
                 StatisticsAccumulator onGpu = cuda.openStatistics(d, m)) {
                onCpu.accumulate(x, a, rows);
                onGpu.accumulate(x, a, rows);
                onGpu.accumulate(x, a, rows);
                onCpu.accumulate(x, a, rows);
                SufficientStatistics expected = onCpu.statistics();
                SufficientStatistics actual = onGpu.statistics();
                assertTrue(Reference.relativeError(actual.xx(), expected.xx()) < TOLERANCE);
                assertTrue(Reference.relativeError(actual.xa(), expected.xa()) < TOLERANCE);
                assertTrue(Reference.relativeError(actual.aa(), expected.aa()) < TOLERANCE);
            }
        }
    }

    @Test
    void im2colGather() {
        SplittableRandom rng = new SplittableRandom(33);
        int[] offsets = new int[12 * 9];
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = rng.nextInt(6) == 0 ? -1 : rng.nextInt(20);
        }
        RowGather gather = new RowGather(3, 20, 12, 9, offsets, true);
        int count = 30;
        float[] input = Reference.randomFloats(rng, count * gather.sampleSize());
        float[] a = Reference.randomFloats(rng, count * 12 * 4);
        float[] x = new float[count * 12 * gather.columns()];
        gather.unfold(input, count, x);
        try (StatisticsAccumulator onCpu = cpu.openStatistics(gather.columns(), 4);
             StatisticsAccumulator onGpu = cuda.openStatistics(gather.columns(), 4)) {
            onCpu.accumulate(x, a, count * 12);
            onGpu.accumulateGathered(gather, input, count, a);
            assertTrue(Reference.relativeError(onGpu.statistics().xx(), onCpu.statistics().xx()) < TOLERANCE);
            assertTrue(Reference.relativeError(onGpu.statistics().xa(), onCpu.statistics().xa()) < TOLERANCE);
        }
    }

    @Test
    void choleskyPanelsAndBatchedSystems() {
        SplittableRandom rng = new SplittableRandom(35);
        CudaBackend device = (CudaBackend) cuda;
        device.forceDeviceSolve = true;
        try {
            DenseMatrix s = Reference.randomSpd(cpu, rng, 130); // three panels, the last partial
            DenseMatrix b = Reference.random(rng, 130, 5);
            assertTrue(Reference.relativeError(cuda.choleskySolve(s, b, 1e-3), cpu.choleskySolve(s, b, 1e-3)) < 1e-10);
            List<DenseMatrix> systems = new ArrayList<>();
            List<DenseMatrix> sides = new ArrayList<>();
            double[] ridges = new double[40];
            for (int i = 0; i < ridges.length; i++) {
                systems.add(Reference.randomSpd(cpu, rng, 10));
                sides.add(Reference.random(rng, 10, 1));
                ridges[i] = 1e-3;
            }
            List<DenseMatrix> expected = cpu.choleskySolveAll(systems, sides, ridges);
            List<DenseMatrix> actual = cuda.choleskySolveAll(systems, sides, ridges);
            for (int i = 0; i < ridges.length; i++) {
                assertTrue(Reference.relativeError(actual.get(i), expected.get(i)) < 1e-10, "system " + i);
            }
        } finally {
            device.forceDeviceSolve = false;
        }
    }

    @Test
    void kmeansSeedsAndStep() {
        SplittableRandom rng = new SplittableRandom(34);
        int m = 300;
        int k = 20;
        DenseMatrix factors = Reference.random(rng, 16, m);
        double[] gram = cpu.gemm(Transpose.YES, Transpose.NO, 1.0, factors, factors, 0.0, null).toColumnMajor();
        double[] norms = new double[m];
        for (int i = 0; i < m; i++) {
            norms[i] = gram[i + i * m] + rng.nextDouble();
        }
        try (GramKMeans onCpu = cpu.openGramKMeans(gram, gram, norms, m);
             GramKMeans onGpu = cuda.openGramKMeans(gram, gram, norms, m)) {
            int[] seeds = onCpu.farthestFirst(7, k);
            assertArrayEquals(seeds, onGpu.farthestFirst(7, k));
            int[] owner = new int[m];
            double[] weight = new double[m];
            for (int i = 0; i < m; i++) {
                owner[i] = i % k;
                weight[i] = 1.0 / 15;
            }
            GramKMeans.Step expected = onCpu.step(k, owner, weight, owner);
            GramKMeans.Step actual = onGpu.step(k, owner, weight, owner);
            assertArrayEquals(expected.next(), actual.next());
            assertArrayEquals(expected.nextSquaredDistance(), actual.nextSquaredDistance());
            assertArrayEquals(expected.currentSquaredDistance(), actual.currentSquaredDistance());
        }
    }

    @Test
    void kmeansRestartsInOneBatch() {
        SplittableRandom rng = new SplittableRandom(36);
        GramProblem p = GramProblem.random(rng, 300, 250);
        int k = 20;
        int[] firsts = {7, 150, 299};
        try (GramKMeans onCpu = p.open(cpu); GramKMeans onGpu = p.open(cuda)) {
            int[][] seeds = onGpu.farthestFirst(firsts, k);
            int[][] owners = new int[firsts.length][];
            double[][] weights = new double[firsts.length][];
            int[][] currents = new int[firsts.length][];
            for (int r = 0; r < firsts.length; r++) {
                assertArrayEquals(onCpu.farthestFirst(firsts[r], k), seeds[r]);
                owners[r] = GramProblem.randomIds(rng, 300, k, true);
                weights[r] = GramProblem.groupWeights(rng, owners[r], k);
                currents[r] = r == 1 ? null : GramProblem.randomIds(rng, 300, k, false);
            }
            int[] ids = {0, 1, 2};
            GramKMeans.Step[] expected = onCpu.steps(k, ids, owners, weights, currents);
            GramKMeans.Step[] actual = onGpu.steps(k, ids, owners, weights, currents);
            for (int r = 0; r < firsts.length; r++) {
                CpuGramKMeansBatchTest.assertSameStep(expected[r], actual[r], "restart " + r);
            }
        }
    }

    @Test
    void optimizerSteps() {
        SplittableRandom rng = new SplittableRandom(37);
        int n = 3000; // several blocks, the last partial
        float[] p = CudaOptimizerTest.values(rng, n, 1);
        float[] g = CudaOptimizerTest.values(rng, n, 0.1);
        float[][] host = {p.clone(), CudaOptimizerTest.values(rng, n, 0.01), new float[n]};
        float[][] device = {host[0].clone(), host[1].clone(), host[2].clone()};
        AdamStep adam = new AdamStep(0.9, 0.999, 1e-8, 0.01, 1, 0.02, 0.05);
        cpu.adamStep(host[0], g, host[1], host[2], adam);
        cuda.adamStep(device[0], g, device[1], device[2], adam);
        assertArrayEquals(host, device);
        SgdStep sgd = new SgdStep(0.9, true, 0, 0.999, 0.1);
        cpu.sgdStep(host[0], g, host[1], sgd);
        cuda.sgdStep(device[0], g, device[1], sgd);
        assertArrayEquals(host, device);
    }
}
