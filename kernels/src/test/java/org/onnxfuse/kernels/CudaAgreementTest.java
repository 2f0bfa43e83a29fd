package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** CPU and CUDA agree on the same inputs. Runs only where CUDA works ({@code -Dgroups=gpu}). */
@Tag("gpu")
class CudaAgreementTest extends WithCpuAndCuda {
    private static final double TOLERANCE = 1e-12;

    @Test
    void autoPicksCuda() {
        try (ComputeBackend auto = Backends.open("auto", 1, line -> { throw new AssertionError(line); })) {
            assertEquals("cuda", auto.name());
        }
    }

    @Test
    void gemmAgreesForEveryTransposeAndBeta() {
        SplittableRandom rng = new SplittableRandom(21);
        int[][] shapes = {{1, 1, 1}, {65, 63, 17}, {130, 7, 200}, {256, 300, 64}};
        for (int[] s : shapes) {
            for (Transpose opA : Transpose.values()) {
                for (Transpose opB : Transpose.values()) {
                    for (double beta : new double[] {0.0, 0.5}) {
                        int m = s[0];
                        int n = s[1];
                        int k = s[2];
                        DenseMatrix a = opA == Transpose.NO ? Reference.random(rng, m, k) : Reference.random(rng, k, m);
                        DenseMatrix b = opB == Transpose.NO ? Reference.random(rng, k, n) : Reference.random(rng, n, k);
                        DenseMatrix c = beta == 0.0 ? null : Reference.random(rng, m, n);
                        DenseMatrix expected = cpu.gemm(opA, opB, -1.5, a, b, beta, c);
                        DenseMatrix actual = cuda.gemm(opA, opB, -1.5, a, b, beta, c);
                        double error = Reference.relativeError(actual, expected);
                        assertTrue(error < TOLERANCE, m + "x" + n + "x" + k + " " + opA + opB + " beta " + beta
                                + ": " + error);
                    }
                }
            }
        }
    }

    @Test
    void gemmWithBetaZeroIgnoresNaNInC() {
        DenseMatrix nan = new DenseMatrix(2, 2, new double[] {Double.NaN, 0, 0, Double.NaN});
        DenseMatrix i = DenseMatrix.identity(2);
        assertEquals(i, cuda.gemm(Transpose.NO, Transpose.NO, 1.0, i, i, 0.0, nan));
    }

    @Test
    void statisticsAgreeOverOddBatchesSmallAndLarge() {
        SplittableRandom rng = new SplittableRandom(22);
        // Small d, m with many rows exercises the sliced path; 300 x 130 the direct one.
        int[][] dims = {{5, 3}, {37, 11}, {64, 64}, {300, 130}};
        for (int[] dm : dims) {
            int d = dm[0];
            int m = dm[1];
            try (StatisticsAccumulator onCpu = cpu.openStatistics(d, m);
                 StatisticsAccumulator onGpu = cuda.openStatistics(d, m)) {
                for (int rows : new int[] {1, 17, 333, 4099, 20_000}) {
                    float[] x = Reference.randomFloats(rng, rows * d);
                    float[] a = Reference.randomFloats(rng, rows * m);
                    onCpu.accumulate(x, a, rows);
                    onGpu.accumulate(x, a, rows);
                }
                SufficientStatistics expected = onCpu.statistics();
                SufficientStatistics actual = onGpu.statistics();
                assertEquals(expected.rows(), actual.rows());
                for (String part : new String[] {"xx", "xa", "aa"}) {
                    DenseMatrix e = part.equals("xx") ? expected.xx() : part.equals("xa") ? expected.xa() : expected.aa();
                    DenseMatrix g = part.equals("xx") ? actual.xx() : part.equals("xa") ? actual.xa() : actual.aa();
                    double error = Reference.relativeError(g, e);
                    assertTrue(error < TOLERANCE, d + "x" + m + " " + part + ": " + error);
                }
                assertEquals(actual.xx(), actual.xx().transpose());
            }
        }
    }

    @Test
    void convolutionRowsGatheredOnTheDeviceGiveTheHostStatistics() {
        assertTrue(cuda.gathersRowsOnDevice());
        SplittableRandom rng = new SplittableRandom(24);
        // 37 channels x 27 kernel positions + ones = d 1000; 100 positions per sample, so a chunk
        // holds 167 samples and 400 samples take three chunks; a fifth of the offsets are padding.
        for (boolean ones : new boolean[] {true, false}) {
            int channels = 37;
            int kernel = 27;
            int plane = 150;
            int positions = 100;
            int[] offsets = new int[positions * kernel];
            for (int i = 0; i < offsets.length; i++) {
                offsets[i] = rng.nextInt(5) == 0 ? -1 : rng.nextInt(plane);
            }
            RowGather gather = new RowGather(channels, plane, positions, kernel, offsets, ones);
            int d = gather.columns();
            int m = 13;
            try (StatisticsAccumulator onCpu = cpu.openStatistics(d, m);
                 StatisticsAccumulator onGpu = cuda.openStatistics(d, m)) {
                for (int count : new int[] {1, 3, 400}) {
                    float[] input = Reference.randomFloats(rng, count * gather.sampleSize());
                    float[] a = Reference.randomFloats(rng, count * positions * m);
                    float[] x = new float[count * positions * d];
                    gather.unfold(input, count, x);
                    onCpu.accumulate(x, a, count * positions);
                    onGpu.accumulateGathered(gather, input, count, a);
                }
                SufficientStatistics expected = onCpu.statistics();
                SufficientStatistics actual = onGpu.statistics();
                assertEquals(expected.rows(), actual.rows());
                assertTrue(Reference.relativeError(actual.xx(), expected.xx()) < TOLERANCE, "xx, ones " + ones);
                assertTrue(Reference.relativeError(actual.xa(), expected.xa()) < TOLERANCE, "xa, ones " + ones);
                assertTrue(Reference.relativeError(actual.aa(), expected.aa()) < TOLERANCE, "aa, ones " + ones);
            }
        }
    }

    @Test
    void pipelinedChunksAgreeWhenReadAndResetBetweenBatches() {
        SplittableRandom rng = new SplittableRandom(25);
        int d = 1000; // 16,777 rows per chunk: 40,000 rows take three chunks through both slots
        int m = 2;
        try (StatisticsAccumulator onCpu = cpu.openStatistics(d, m);
             StatisticsAccumulator onGpu = cuda.openStatistics(d, m)) {
            for (int round = 0; round < 2; round++) {
                for (int rows : new int[] {40_000, 7, 5_000}) {
                    float[] x = Reference.randomFloats(rng, rows * d);
                    float[] a = Reference.randomFloats(rng, rows * m);
                    onCpu.accumulate(x, a, rows);
                    onGpu.accumulate(x, a, rows);
                    java.util.Arrays.fill(x, Float.NaN); // the caller may reuse its arrays at once
                    java.util.Arrays.fill(a, Float.NaN);
                    SufficientStatistics expected = onCpu.statistics();
                    SufficientStatistics actual = onGpu.statistics();
                    assertTrue(Reference.relativeError(actual.xx(), expected.xx()) < TOLERANCE, "xx after " + rows);
                    assertTrue(Reference.relativeError(actual.xa(), expected.xa()) < TOLERANCE, "xa after " + rows);
                    assertTrue(Reference.relativeError(actual.aa(), expected.aa()) < TOLERANCE, "aa after " + rows);
                }
                onCpu.reset();
                onGpu.reset();
                assertEquals(0.0, onGpu.statistics().xx().maxAbs());
            }
        }
    }

    @Test
    void statisticsAreReproducibleBitForBit() {
        SplittableRandom rng = new SplittableRandom(23);
        int d = 20;
        int m = 9;
        float[] x = Reference.randomFloats(rng, 50_000 * d);
        float[] a = Reference.randomFloats(rng, 50_000 * m);
        SufficientStatistics first;
        try (StatisticsAccumulator acc = cuda.openStatistics(d, m)) {
            acc.accumulate(x, a, 50_000);
            first = acc.statistics();
            acc.reset();
            acc.accumulate(x, a, 50_000);
            assertEquals(first, acc.statistics());
        }
    }

    @Test
    void solveRunsOnTheHostAndAccumulatorsCloseWithTheBackend() {
        DenseMatrix s = DenseMatrix.fromRows(new double[][] {{4, 1}, {1, 3}});
        DenseMatrix w = DenseMatrix.fromRows(new double[][] {{1}, {-2}});
        DenseMatrix solved = cuda.choleskySolve(s, cuda.multiply(s, w), 0.0);
        assertTrue(solved.maxAbsDifference(w) < 1e-14);
        assertThrows(NotPositiveDefiniteException.class,
                () -> cuda.choleskySolve(DenseMatrix.fromRows(new double[][] {{1, 2}, {2, 1}}), w, 0.0));
        ComputeBackend other = Backends.open("cuda", 1);
        StatisticsAccumulator left = other.openStatistics(3, 2);
        left.accumulate(new float[] {1, 2, 3}, new float[] {4, 5}, 1);
        other.close();
        assertThrows(IllegalStateException.class, () -> left.accumulate(new float[3], new float[2], 1));
    }
}
