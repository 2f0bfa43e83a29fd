package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The CPU backend gives the same bits with 1, 2 and 3 threads: statistics (X^T X, X^T A, A^T A),
 * products in every transpose combination, the Cholesky solve and the solution's Gram matrix, at sizes that span several
 * column blocks and leave partial ones. (OpenBLAS's own threading did not: see BlockTasks.)
 */
class ThreadCountIdentityTest {
    private static final int[][] SIZES = {{300, 100, 1000}, {785, 260, 700}};

    private static double[] statistic(int threads, int d, int m, int rows, String what) {
        SplittableRandom r = new SplittableRandom(d * 31L + m);
        float[] x = new float[rows * d];
        float[] a = new float[rows * m];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        try (ComputeBackend backend = new CpuBackend(threads); StatisticsAccumulator acc = backend.openStatistics(d, m)) {
            for (int start = 0; start < rows; start += 256) {
                int n = Math.min(256, rows - start);
                acc.accumulate(Arrays.copyOfRange(x, start * d, (start + n) * d),
                        Arrays.copyOfRange(a, start * m, (start + n) * m), n);
            }
            SufficientStatistics s = acc.statistics();
            return switch (what) {
                case "xx" -> s.xx().toColumnMajor();
                case "xa" -> s.xa().toColumnMajor();
                case "aa" -> s.aa().toColumnMajor();
                case "solve" -> backend.choleskySolve(s.xx(), s.xa(), 1e-3).toColumnMajor();
                case "solution gram" -> backend.solutionGram(backend.choleskySolve(s.xx(), s.xa(), 1e-3, s.xa()),
                        s.xa(), s.xa(), 1e-3);
                case "gemm TN" -> backend.gemm(Transpose.YES, Transpose.NO, 1.0, s.xa(), s.xa(), 0.0, null)
                        .toColumnMajor();
                case "gemm NT" -> backend.gemm(Transpose.NO, Transpose.YES, 0.5, s.xa(), s.xa(), 0.0, null)
                        .toColumnMajor();
                case "gemm NN" -> backend.gemm(Transpose.NO, Transpose.NO, 1.0, s.xx(), s.xa(), 1.0, s.xa())
                        .toColumnMajor();
                default -> throw new IllegalArgumentException(what);
            };
        }
    }

    @Test
    void sameBitsWithOneTwoAndThreeThreads() {
        for (int[] size : SIZES) {
            for (String what : new String[] {"xx", "xa", "aa", "gemm TN", "gemm NT", "gemm NN", "solve", "solution gram"}) {
                double[] one = statistic(1, size[0], size[1], size[2], what);
                for (int threads : new int[] {2, 3}) {
                    double[] other = statistic(threads, size[0], size[1], size[2], what);
                    int differing = 0;
                    for (int i = 0; i < one.length; i++) {
                        if (Double.doubleToRawLongBits(one[i]) != Double.doubleToRawLongBits(other[i])) {
                            differing++;
                        }
                    }
                    assertEquals(0, differing, what + " at d = " + size[0] + ", m = " + size[1] + ": 1 vs " + threads
                            + " threads");
                }
            }
        }
    }
}
