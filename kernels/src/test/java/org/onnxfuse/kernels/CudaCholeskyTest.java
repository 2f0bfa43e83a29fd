package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The device Cholesky solves (cholesky.cu) agree with LAPACK. Every solve here is forced onto the
 * device ({@link CudaBackend#forceDeviceSolve}), also below the sizes the backend would send there.
 * Runs only where CUDA works ({@code -Dgroups=gpu}).
 *
 * <p>Bound: S = M<sup>T</sup>M + n I has a condition number below 3 ({@link Reference#randomSpd}),
 * so two backward-stable Cholesky solves differ by about cond * n * eps = 3 * 1000 * 1.1e-16 = 3e-13
 * relative at worst (n = 1000); 1e-10 leaves a wide margin while a wrong index or a missed update
 * gives errors of order 1.
 */
@Tag("gpu")
class CudaCholeskyTest extends WithCpuAndCuda {
    private static final double TOLERANCE = 1e-10;

    /** Runs after WithCpuAndCuda's open; the backend is this class's own, closed after it. */
    @BeforeAll
    static void forceDeviceSolves() {
        if (cuda != null) {
            ((CudaBackend) cuda).forceDeviceSolve = true;
        }
    }

    @Test
    void solvesAgreeWithLapackAcrossPanelBoundaries() {
        SplittableRandom rng = new SplittableRandom(41);
        for (int n : new int[] {1, 2, 31, 64, 65, 200, 1000}) {
            DenseMatrix s = Reference.randomSpd(cpu, rng, n);
            for (int k : new int[] {1, 7, 300}) {
                DenseMatrix b = Reference.random(rng, n, k);
                double ridge = rng.nextDouble(0.0, 1.0);
                DenseMatrix expected = cpu.choleskySolve(s, b, ridge);
                DenseMatrix actual = cuda.choleskySolve(s, b, ridge);
                assertEquals(n, actual.rows());
                assertEquals(k, actual.cols());
                double error = Reference.relativeFrobeniusError(actual, expected);
                assertTrue(error < TOLERANCE, n + " x " + k + ": relative error " + error);
            }
        }
    }

    @Test
    void solveReadsOnlyTheUpperTriangle() {
        SplittableRandom rng = new SplittableRandom(42);
        int n = 150;
        DenseMatrix s = Reference.randomSpd(cpu, rng, n);
        double[] garbled = s.toColumnMajor();
        for (int j = 0; j < n; j++) {
            for (int i = j + 1; i < n; i++) {
                garbled[i + j * n] = 1e300 * (i % 2 == 0 ? 1 : -1);
            }
        }
        DenseMatrix b = Reference.random(rng, n, 5);
        DenseMatrix expected = cpu.choleskySolve(s, b, 0.0);
        double error = Reference.relativeFrobeniusError(cuda.choleskySolve(new DenseMatrix(n, n, garbled), b, 0.0), expected);
        assertTrue(error < TOLERANCE, "relative error " + error);
    }

    @Test
    void notPositiveDefiniteStopsAtLapacksColumn() {
        SplittableRandom rng = new SplittableRandom(43);
        // Columns in the first panel, at a panel's first column and deep in a later panel.
        int[][] cases = {{1, 0}, {5, 3}, {100, 64}, {300, 250}};
        for (int[] c : cases) {
            int n = c[0];
            int column = c[1];
            double[] bad = Reference.randomSpd(cpu, rng, n).toColumnMajor();
            bad[column + column * n] = -1e3 * n;   // only the minors from order column + 1 on fail
            DenseMatrix s = new DenseMatrix(n, n, bad);
            DenseMatrix b = Reference.random(rng, n, 3);
            int lapack = assertThrows(NotPositiveDefiniteException.class, () -> cpu.choleskySolve(s, b, 0.5))
                    .failedMinor();
            assertEquals(column + 1, lapack);
            NotPositiveDefiniteException e = assertThrows(NotPositiveDefiniteException.class,
                    () -> cuda.choleskySolve(s, b, 0.5));
            assertEquals(lapack, e.failedMinor(), "n = " + n);
            assertEquals(n, e.order());
            assertEquals(new NotPositiveDefiniteException(n, lapack, 0.5).getMessage(), e.getMessage());
        }
    }

    @Test
    void batchedSmallSystemsAgreeWithLapack() {
        SplittableRandom rng = new SplittableRandom(44);
        int[][] shapes = {{10, 1, 1000}, {26, 1, 1000}, {64, 20, 50}, {1, 3, 40}, {33, 17, 3}};
        for (int[] shape : shapes) {
            int n = shape[0];
            int k = shape[1];
            int count = shape[2];
            List<DenseMatrix> systems = new ArrayList<>();
            List<DenseMatrix> rightHandSides = new ArrayList<>();
            double[] ridges = new double[count];
            for (int i = 0; i < count; i++) {
                systems.add(Reference.randomSpd(cpu, rng, n));
                rightHandSides.add(Reference.random(rng, n, k));
                ridges[i] = rng.nextDouble(0.0, 1.0);
            }
            List<DenseMatrix> expected = cpu.choleskySolveAll(systems, rightHandSides, ridges);
            List<DenseMatrix> actual = cuda.choleskySolveAll(systems, rightHandSides, ridges);
            assertEquals(count, actual.size());
            for (int i = 0; i < count; i++) {
                double error = Reference.relativeFrobeniusError(actual.get(i), expected.get(i));
                assertTrue(error < TOLERANCE, n + " x " + k + " system " + i + ": relative error " + error);
            }
        }
    }

    @Test
    void batchedReportsTheFailedSystemAndColumn() {
        SplittableRandom rng = new SplittableRandom(45);
        int n = 26;
        List<DenseMatrix> systems = new ArrayList<>();
        List<DenseMatrix> rightHandSides = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            double[] s = Reference.randomSpd(cpu, rng, n).toColumnMajor();
            if (i == 37 || i == 80) {
                s[11 + 11 * n] = -1e4;
            }
            systems.add(new DenseMatrix(n, n, s));
            rightHandSides.add(Reference.random(rng, n, 1));
        }
        double[] ridges = new double[100];
        NotPositiveDefiniteException expected = assertThrows(NotPositiveDefiniteException.class,
                () -> cpu.choleskySolveAll(systems, rightHandSides, ridges));
        NotPositiveDefiniteException actual = assertThrows(NotPositiveDefiniteException.class,
                () -> cuda.choleskySolveAll(systems, rightHandSides, ridges));
        assertEquals(37, expected.system());
        assertEquals(12, expected.failedMinor());
        assertEquals(expected.getMessage(), actual.getMessage());
        assertEquals(expected.system(), actual.system());
        assertEquals(expected.failedMinor(), actual.failedMinor());
    }

    @Test
    void mixedSizesAndLargeSystemsFallBackToOneSolveEach() {
        SplittableRandom rng = new SplittableRandom(46);
        List<DenseMatrix> systems = List.of(Reference.randomSpd(cpu, rng, 10), Reference.randomSpd(cpu, rng, 12),
                Reference.randomSpd(cpu, rng, 100));
        List<DenseMatrix> rightHandSides = List.of(Reference.random(rng, 10, 2), Reference.random(rng, 12, 2),
                Reference.random(rng, 100, 2));
        double[] ridges = {0.1, 0.2, 0.3};
        List<DenseMatrix> expected = cpu.choleskySolveAll(systems, rightHandSides, ridges);
        List<DenseMatrix> actual = cuda.choleskySolveAll(systems, rightHandSides, ridges);
        for (int i = 0; i < 3; i++) {
            double error = Reference.relativeFrobeniusError(actual.get(i), expected.get(i));
            assertTrue(error < TOLERANCE, "system " + i + ": relative error " + error);
        }
    }
}
