package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.openblas.global.openblas_full;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class CpuBackendTest {
    private static final double TOLERANCE = 1e-10;
    private static ComputeBackend cpu;

    @BeforeAll
    static void open() {
        cpu = Backends.open("cpu", 2);
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    @Test
    void gemmMatchesTheDefinitionForEveryTransposeAndBeta() {
        SplittableRandom rng = new SplittableRandom(1);
        int m = 17;
        int n = 9;
        int k = 13;
        for (Transpose opA : Transpose.values()) {
            for (Transpose opB : Transpose.values()) {
                for (double beta : new double[] {0.0, -0.5}) {
                    DenseMatrix a = opA == Transpose.NO ? Reference.random(rng, m, k) : Reference.random(rng, k, m);
                    DenseMatrix b = opB == Transpose.NO ? Reference.random(rng, k, n) : Reference.random(rng, n, k);
                    DenseMatrix c = beta == 0.0 ? null : Reference.random(rng, m, n);
                    DenseMatrix expected = Reference.gemm(opA, opB, 1.25, a, b, beta, c);
                    DenseMatrix actual = cpu.gemm(opA, opB, 1.25, a, b, beta, c);
                    assertEquals(m, actual.rows());
                    assertEquals(n, actual.cols());
                    assertTrue(Reference.relativeError(actual, expected) < TOLERANCE,
                            opA + " " + opB + " beta " + beta + ": " + Reference.relativeError(actual, expected));
                }
            }
        }
    }

    @Test
    void gemmLeavesItsInputsAloneAndHandlesEmptyShapes() {
        SplittableRandom rng = new SplittableRandom(2);
        DenseMatrix a = Reference.random(rng, 3, 4);
        DenseMatrix b = Reference.random(rng, 4, 2);
        DenseMatrix c = Reference.random(rng, 3, 2);
        DenseMatrix aCopy = new DenseMatrix(3, 4, a.toColumnMajor());
        DenseMatrix cCopy = new DenseMatrix(3, 2, c.toColumnMajor());
        cpu.gemm(Transpose.NO, Transpose.NO, 1.0, a, b, 1.0, c);
        assertEquals(aCopy, a);
        assertEquals(cCopy, c);
        assertEquals(DenseMatrix.zeros(3, 2), cpu.multiply(DenseMatrix.zeros(3, 0), DenseMatrix.zeros(0, 2)));
        assertEquals(0, cpu.multiply(DenseMatrix.zeros(0, 4), b).rows());
    }

    @Test
    void tasksRunOnTheWorkerThreadsAndTheirFailureIsRethrown() {
        int[] ran = new int[6];
        java.util.Set<String> threads = java.util.concurrent.ConcurrentHashMap.newKeySet();
        java.util.List<Runnable> tasks = new java.util.ArrayList<>();
        for (int t = 0; t < ran.length; t++) {
            int index = t;
            tasks.add(() -> {
                ran[index]++;
                threads.add(Thread.currentThread().getName());
            });
        }
        cpu.runTasks(tasks);
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1}, ran);
        assertTrue(threads.stream().noneMatch(n -> n.equals(Thread.currentThread().getName())), threads.toString());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> cpu.runTasks(java.util.List.of(
                () -> { }, () -> {
                    throw new IllegalStateException("task 1 failed");
                })));
        assertEquals("task 1 failed", e.getMessage());
    }

    @Test
    void gemmRejectsMismatchedShapesNamingThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.multiply(DenseMatrix.zeros(2, 3), DenseMatrix.zeros(4, 2)));
        assertTrue(e.getMessage().contains("needs 3 rows, found op(B) 4 x 2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.gemm(Transpose.NO, Transpose.NO, 1.0,
                DenseMatrix.zeros(2, 2), DenseMatrix.zeros(2, 2), 1.0, null));
    }

    @Test
    void streamedStatisticsMatchTheReferenceOverOddBatches() {
        SplittableRandom rng = new SplittableRandom(3);
        int d = 37;
        int m = 11;
        Reference.Sums expected = new Reference.Sums(d, m);
        try (StatisticsAccumulator acc = cpu.openStatistics(d, m)) {
            for (int rows : new int[] {1, 7, 33, 100, 129, 0, 3}) {
                float[] x = Reference.randomFloats(rng, rows * d);
                float[] a = Reference.randomFloats(rng, rows * m);
                acc.accumulate(x, a, rows);
                expected.add(x, a, rows);
            }
            assertStatistics(expected, acc.statistics());
        }
    }

    @Test
    void chunkedWideningGivesTheSameSums() {
        SplittableRandom rng = new SplittableRandom(4);
        int d = 10;
        int m = 3;
        Reference.Sums expected = new Reference.Sums(d, m);
        // 25 elements per buffer = 2 samples per chunk: every batch is cut into pieces.
        try (BlockTasks blocks = new BlockTasks(1);
             StatisticsAccumulator acc = new CpuStatisticsAccumulator(blocks, d, m, 25)) {
            for (int rows : new int[] {5, 1, 8}) {
                float[] x = Reference.randomFloats(rng, rows * d + 4); // longer arrays: only rows * d read
                float[] a = Reference.randomFloats(rng, rows * m + 2);
                acc.accumulate(x, a, rows);
                expected.add(x, a, rows);
            }
            assertStatistics(expected, acc.statistics());
        }
    }

    @Test
    void withoutTheTargetGramOnlyItsDiagonalIsKept() {
        SplittableRandom rng = new SplittableRandom(21);
        int d = 6;
        int m = 5;
        try (BlockTasks blocks = new BlockTasks(1);
             StatisticsAccumulator full = new CpuStatisticsAccumulator(blocks, d, m, true, 25);
             StatisticsAccumulator diagonal = new CpuStatisticsAccumulator(blocks, d, m, false, 25)) {
            for (int rows : new int[] {3, 7, 1}) {
                float[] x = Reference.randomFloats(rng, rows * d);
                float[] a = Reference.randomFloats(rng, rows * m);
                full.accumulate(x, a, rows);
                diagonal.accumulate(x, a, rows);
            }
            SufficientStatistics f = full.statistics();
            SufficientStatistics g = diagonal.statistics();
            assertTrue(f.hasTargetGram());
            assertFalse(g.hasTargetGram());
            assertEquals(null, g.aa());
            assertEquals(f.xx(), g.xx());
            assertEquals(f.xa(), g.xa());
            assertEquals(11, g.rows());
            for (int i = 0; i < m; i++) {
                // exact float32 squares summed in float64: only the order of the sums differs
                assertEquals(f.targetSquaredNorm(i), g.targetSquaredNorm(i), 1e-12 * f.targetSquaredNorm(i));
            }
            diagonal.reset();
            assertEquals(0.0, diagonal.statistics().targetSquaredNorm(0));
        }
    }

    @Test
    void batchesAreBlockedAcrossCallsAndFlushedWhenRead() {
        SplittableRandom rng = new SplittableRandom(14);
        int d = 10;
        int m = 3;
        // 60 elements per buffer = blocks of 6 samples; batches straddle blocks and grow the
        // buffer while rows are pending.
        try (BlockTasks blocks = new BlockTasks(2);
             StatisticsAccumulator acc = new CpuStatisticsAccumulator(blocks, d, m, 60)) {
            Reference.Sums expected = new Reference.Sums(d, m);
            for (int rows : new int[] {1, 2, 4, 5, 3, 6, 13, 1}) {
                float[] x = Reference.randomFloats(rng, rows * d);
                float[] a = Reference.randomFloats(rng, rows * m);
                acc.accumulate(x, a, rows);
                expected.add(x, a, rows);
            }
            assertStatistics(expected, acc.statistics());
            // pending rows are part of what reset discards
            acc.accumulate(Reference.randomFloats(rng, 4 * d), Reference.randomFloats(rng, 4 * m), 4);
            acc.reset();
            Reference.Sums afterReset = new Reference.Sums(d, m);
            float[] x = Reference.randomFloats(rng, 9 * d);
            float[] a = Reference.randomFloats(rng, 9 * m);
            acc.accumulate(x, a, 9);
            afterReset.add(x, a, 9);
            assertStatistics(afterReset, acc.statistics());
        }
    }

    @Test
    void mirroringFillsTheLowerTriangleAcrossTiles() {
        for (int n : new int[] {1, 63, 64, 150}) {
            double[] a = new double[n * n];
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < n; i++) {
                    a[i + j * n] = i <= j ? i * 1000.0 + j : -1.0; // lower triangle garbled
                }
            }
            AbstractStatisticsAccumulator.mirrorUpperToLower(a, n);
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < n; i++) {
                    assertEquals(Math.min(i, j) * 1000.0 + Math.max(i, j), a[i + j * n], "n = " + n + " (" + i + ", "
                            + j + ")");
                }
            }
        }
    }

    @Test
    void statisticsCanBeReadResetAndReused() {
        SplittableRandom rng = new SplittableRandom(5);
        int d = 4;
        int m = 2;
        try (StatisticsAccumulator acc = cpu.openStatistics(d, m)) {
            float[] x = Reference.randomFloats(rng, 6 * d);
            float[] a = Reference.randomFloats(rng, 6 * m);
            acc.accumulate(x, a);
            SufficientStatistics first = acc.statistics();
            acc.accumulate(x, a);
            SufficientStatistics second = acc.statistics();
            assertEquals(6, first.rows());
            assertEquals(12, second.rows());
            assertTrue(second.xx().maxAbsDifference(
                    cpu.gemm(Transpose.NO, Transpose.NO, 2.0, first.xx(), DenseMatrix.identity(d), 0.0, null)) < 1e-12);
            acc.reset();
            assertEquals(0, acc.rows());
            assertEquals(0.0, acc.statistics().xx().maxAbs());
            acc.accumulate(x, a);
            assertEquals(first, acc.statistics());
        }
    }

    @Test
    void gatheredRowsAreTheUnfoldedRows() {
        // 2 channels, a 3-value plane, 2 positions of a 2-wide kernel; -1 reads padding (0).
        RowGather gather = new RowGather(2, 3, 2, 2, new int[] {-1, 0, 1, 2}, true);
        float[] input = {1, 2, 3, 10, 20, 30};
        float[] x = new float[2 * 5];
        gather.unfold(input, 1, x);
        assertEquals("[0.0, 1.0, 0.0, 10.0, 1.0, 2.0, 3.0, 20.0, 30.0, 1.0]", java.util.Arrays.toString(x));
        float[] a = {0.5f, -1f};
        try (StatisticsAccumulator gathered = cpu.openStatistics(5, 1);
             StatisticsAccumulator unfolded = cpu.openStatistics(5, 1)) {
            assertTrue(!cpu.gathersRowsOnDevice());
            gathered.accumulateGathered(gather, input, 1, a);
            unfolded.accumulate(x, a, 2);
            assertEquals(unfolded.statistics(), gathered.statistics());
            assertEquals(2, gathered.rows());
            IllegalArgumentException wrongWidth = assertThrows(IllegalArgumentException.class,
                    () -> cpu.openStatistics(4, 1).accumulateGathered(gather, input, 1, a));
            assertEquals("the gather makes rows of 5 columns, expected d = 4", wrongWidth.getMessage());
            IllegalArgumentException shortInput = assertThrows(IllegalArgumentException.class,
                    () -> gathered.accumulateGathered(gather, new float[5], 1, a));
            assertEquals("input holds 5 values, expected 1 samples of 6", shortInput.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new RowGather(2, 3, 2, 2, new int[] {0, 3, 1, 2}, true));
        assertThrows(IllegalArgumentException.class, () -> new RowGather(2, 3, 2, 2, new int[] {0, 1}, true));
    }

    @Test
    void gatheredBatchesAreUnfoldedInBlocksWithTheSameSums() {
        // 8 channels of 20 x 20, 3 x 3 kernel without padding: 324 positions, d = 73; m = 300 gives
        // blocks of 65,536 / 300 = 218 rows, ending inside samples and inside the accumulator's blocks
        int side = 20;
        int out = side - 2;
        int[] offsets = new int[out * out * 9];
        for (int p = 0; p < out * out; p++) {
            for (int q = 0; q < 9; q++) {
                offsets[p * 9 + q] = (p / out + q / 3) * side + p % out + q % 3;
            }
        }
        RowGather gather = new RowGather(8, side * side, out * out, 9, offsets, true);
        SplittableRandom rng = new SplittableRandom(9);
        int m = 300;
        try (StatisticsAccumulator gathered = cpu.openStatistics(gather.columns(), m);
             StatisticsAccumulator unfolded = cpu.openStatistics(gather.columns(), m)) {
            for (int count : new int[] {3, 1, 5}) {
                float[] input = Reference.randomFloats(rng, count * gather.sampleSize());
                float[] a = Reference.randomFloats(rng, count * gather.positions() * m);
                float[] x = new float[count * gather.positions() * gather.columns()];
                gather.unfold(input, count, x);
                gathered.accumulateGathered(gather, input, count, a);
                unfolded.accumulate(x, a, count * gather.positions());
            }
            // the same rows reach the same BLAS blocks: the same bits
            assertEquals(unfolded.statistics(), gathered.statistics());
        }
    }

    @Test
    void float32BlocksStayWithinFloat32RoundingAndDoNotDependOnThreads() {
        SplittableRandom rng = new SplittableRandom(12);
        int d = 150;
        int m = 140;
        Reference.Sums expected = new Reference.Sums(d, m);
        SufficientStatistics[] sums = new SufficientStatistics[2];
        int[] threads = {1, 3};
        List<float[]> xs = new ArrayList<>();
        List<float[]> as = new ArrayList<>();
        for (int rows : new int[] {700, 1, 333, 512}) {
            xs.add(Reference.randomFloats(rng, rows * d));
            as.add(Reference.randomFloats(rng, rows * m));
            expected.add(xs.get(xs.size() - 1), as.get(as.size() - 1), rows);
        }
        for (int t = 0; t < 2; t++) {
            try (BlockTasks blocks = new BlockTasks(threads[t]);
                 StatisticsAccumulator acc = new CpuStatisticsAccumulator(blocks, d, m, true,
                         CpuStatisticsAccumulator.BUFFER_ELEMENTS, CpuStatisticsAccumulator.Precision.FLOAT32)) {
                for (int b = 0; b < xs.size(); b++) {
                    acc.accumulate(xs.get(b), as.get(b));
                }
                sums[t] = acc.statistics();
            }
        }
        assertEquals(sums[0], sums[1], "the same bits with 1 and 3 threads");
        assertTrue(Reference.relativeError(sums[0].xx(), new DenseMatrix(d, d, expected.xx)) < 1e-5);
        assertTrue(Reference.relativeError(sums[0].xa(), new DenseMatrix(d, m, expected.xa)) < 1e-5);
        assertTrue(Reference.relativeError(sums[0].aa(), new DenseMatrix(m, m, expected.aa)) < 1e-5);
        assertEquals(sums[0].xx(), sums[0].xx().transpose());
        assertThrows(IllegalArgumentException.class, () -> CpuBackend.statisticsPrecision("half"));
    }

    @Test
    void statisticsWithoutTargets() {
        SplittableRandom rng = new SplittableRandom(6);
        Reference.Sums expected = new Reference.Sums(5, 0);
        try (StatisticsAccumulator acc = cpu.openStatistics(5, 0)) {
            float[] x = Reference.randomFloats(rng, 9 * 5);
            acc.accumulate(x, new float[0], 9);
            expected.add(x, new float[0], 9);
            SufficientStatistics s = acc.statistics();
            assertEquals(0, s.xa().cols());
            assertStatistics(expected, s);
        }
    }

    @Test
    void accumulateRejectsShortArraysAndUseAfterClose() {
        StatisticsAccumulator acc = cpu.openStatistics(3, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> acc.accumulate(new float[5], new float[4], 2));
        assertTrue(e.getMessage().contains("x has 5 elements, expected at least 2 rows x 3 features = 6"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> acc.accumulate(new float[6], new float[3]));
        acc.close();
        acc.close();
        assertThrows(IllegalStateException.class, () -> acc.accumulate(new float[3], new float[2], 1));
        assertThrows(IllegalArgumentException.class, () -> cpu.openStatistics(0, 2));
    }

    @Test
    void leastSquaresFromStatisticsRecoversAKnownMap() {
        // A = X W exactly (in float64 terms); W = (X^T X)^-1 X^T A from the streamed sums.
        SplittableRandom rng = new SplittableRandom(7);
        int d = 6;
        int m = 3;
        DenseMatrix w = Reference.random(rng, d, m);
        try (StatisticsAccumulator acc = cpu.openStatistics(d, m)) {
            for (int batch = 0; batch < 4; batch++) {
                int rows = 25 + batch;
                float[] x = Reference.randomFloats(rng, rows * d);
                float[] a = new float[rows * m];
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < m; j++) {
                        double s = 0;
                        for (int i = 0; i < d; i++) {
                            s += x[r * d + i] * w.get(i, j);
                        }
                        a[r * m + j] = (float) s;
                    }
                }
                acc.accumulate(x, a, rows);
            }
            SufficientStatistics s = acc.statistics();
            DenseMatrix solved = cpu.choleskySolve(s.xx(), s.xa(), 0.0);
            assertTrue(solved.maxAbsDifference(w) < 1e-5, "float32 targets: " + solved.maxAbsDifference(w));
        }
    }

    @Test
    void choleskySolveRecoversAKnownSolution() {
        SplittableRandom rng = new SplittableRandom(8);
        int n = 23;
        DenseMatrix s = spd(rng, n);
        DenseMatrix w = Reference.random(rng, n, 4);
        DenseMatrix b = cpu.multiply(s, w);
        DenseMatrix solved = cpu.choleskySolve(s, b, 0.0);
        assertTrue(Reference.relativeError(solved, w) < 1e-10, "error " + Reference.relativeError(solved, w));
    }

    @Test
    void theCentredSolveIsTheSolveOfTheSummedRightHandSideBitForBit() {
        SplittableRandom rng = new SplittableRandom(21);
        int n = 300; // more than one block of right-hand sides and of the centre's copy chunks
        int k = 150;
        double ridge = 0.3;
        DenseMatrix s = spd(rng, n);
        DenseMatrix b = Reference.random(rng, n, k);
        DenseMatrix centre = Reference.random(rng, n, k);
        DenseMatrix sBefore = new DenseMatrix(n, n, s.toColumnMajor());
        DenseMatrix bBefore = new DenseMatrix(n, k, b.toColumnMajor());
        DenseMatrix centred = cpu.choleskySolve(s, b, ridge, centre);
        assertEquals(cpu.choleskySolve(s, b.plusScaled(ridge, centre), ridge), centred);
        assertEquals(cpu.choleskySolve(s, b, ridge), cpu.choleskySolve(s, b, ridge, null));
        assertEquals(sBefore, s, "S is solved in a native copy, not in place");
        assertEquals(bBefore, b, "B likewise");
        assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolve(s, b, ridge, Reference.random(rng, n, 3)));
    }

    /** The interface's default methods over the CPU's gemm and solve (nothing else is implemented). */
    private static ComputeBackend defaultsOverTheCpu() {
        return new ComputeBackend() {
            public String name() { return "default"; }
            public int threads() { return 1; }
            public String description() { return "the interface's defaults over the CPU"; }
            public DenseMatrix gemm(Transpose opA, Transpose opB, double alpha, DenseMatrix a, DenseMatrix b,
                                    double beta, DenseMatrix c) {
                return cpu.gemm(opA, opB, alpha, a, b, beta, c);
            }
            public StatisticsAccumulator openStatistics(int d, int m, boolean targetGram) {
                throw new UnsupportedOperationException();
            }
            public DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge) {
                return cpu.choleskySolve(s, b, ridge);
            }
            public GramKMeans openGramKMeans(double[] cross, double[] gram, double[] norms, int m) {
                throw new UnsupportedOperationException();
            }
            public void close() {
            }
        };
    }

    @Test
    void productColumnsIsTheGemmBitForBit() {
        SplittableRandom rng = new SplittableRandom(22);
        for (int[] shape : new int[][] {{40, 300}, {257, 129}, {1, 1}}) {
            int n = shape[0];
            int m = shape[1];
            DenseMatrix s = spd(rng, n);
            DenseMatrix w = Reference.random(rng, n, m);
            assertTrue(Arrays.equals(cpu.gemm(Transpose.YES, Transpose.NO, 1.0, w, s, 0.0, null).toColumnMajor(),
                    cpu.productColumns(Transpose.YES, Transpose.NO, w, s)), n + " x " + m);
        }
    }

    /**
     * A product made into an array by blocks of B's columns, with A copied once, is each block's
     * product bit for bit (and the whole product within rounding), on the CPU and through the
     * interface's default (block by block through productColumns); it writes nothing past the
     * product and refuses a short output or an empty block.
     */
    @Test
    void productByBlocksIntoAnArrayIsTheWholeProductBitForBit() {
        SplittableRandom rng = new SplittableRandom(24);
        ComputeBackend byDefault = defaultsOverTheCpu();
        for (int[] shape : new int[][] {{37, 300, 130}, {5, 129, 257}, {1, 1, 1}}) {
            int d = shape[0];
            int m = shape[1];
            int n = shape[2];
            DenseMatrix left = Reference.random(rng, d, m);
            DenseMatrix right = Reference.random(rng, d, n);
            double[] whole = cpu.productColumns(Transpose.YES, Transpose.NO, left, right);
            DenseMatrix square = Reference.random(rng, m, m);
            DenseMatrix leftT = left.transpose();
            double[] wholeNo = new double[m * d];
            for (int from = 0; from < d; from += 3) {
                double[] part = cpu.productColumns(Transpose.NO, Transpose.NO, square, leftT.columns(from,
                        Math.min(d, from + 3)));
                System.arraycopy(part, 0, wholeNo, from * m, part.length);
            }
            for (ComputeBackend backend : List.of(cpu, byDefault)) {
                for (int block : new int[] {1, 7, 128, n, n + 5}) {
                    double[] out = new double[m * n + 3];
                    Arrays.fill(out, m * n, out.length, -1.0);
                    backend.productColumnsInto(Transpose.YES, left, right, block, out);
                    double[] byBlocks = new double[m * n];
                    for (int from = 0; from < n; from += block) {
                        double[] part = cpu.productColumns(Transpose.YES, Transpose.NO, left,
                                right.columns(from, Math.min(n, from + block)));
                        System.arraycopy(part, 0, byBlocks, from * m, part.length);
                    }
                    String what = backend.name() + ", " + d + " x " + m + " x " + n + " by " + block;
                    assertTrue(Arrays.equals(byBlocks, Arrays.copyOf(out, m * n)), what);
                    for (int i = 0; i < m * n; i++) {
                        // one column at a time BLAS may take another path (gemv): rounding apart
                        assertEquals(whole[i], out[i], 1e-12 * Math.max(1, Math.abs(whole[i])), what);
                    }
                    assertEquals(-1.0, out[m * n + 2], 0.0, "nothing written past the product");
                }
                double[] outNo = new double[m * d];
                backend.productColumnsInto(Transpose.NO, square, leftT, 3, outNo);
                assertTrue(Arrays.equals(wholeNo, outNo), backend.name() + ": op(A) = A");
                IllegalArgumentException shortOut = assertThrows(IllegalArgumentException.class,
                        () -> backend.productColumnsInto(Transpose.YES, left, right, 4, new double[m * n - 1]));
                assertTrue(shortOut.getMessage().contains("the product is " + m + " x " + n), shortOut.getMessage());
                assertThrows(IllegalArgumentException.class,
                        () -> backend.productColumnsInto(Transpose.YES, left, right, 0, new double[m * n]));
                assertThrows(IllegalArgumentException.class,
                        () -> backend.productColumnsInto(Transpose.YES, left, DenseMatrix.zeros(d + 1, 2), 4,
                                new double[m * 2]));
            }
        }
    }

    @Test
    void theSolutionsGramMatrixComesFromTheNormalEquations() {
        SplittableRandom rng = new SplittableRandom(23);
        ComputeBackend byDefault = defaultsOverTheCpu();
        for (int[] shape : new int[][] {{40, 300}, {257, 129}, {1, 1}, {130, 260}}) {
            int n = shape[0];
            int m = shape[1];
            DenseMatrix s = spd(rng, n);
            DenseMatrix b = Reference.random(rng, n, m);
            for (DenseMatrix centre : new DenseMatrix[] {null, Reference.random(rng, n, m)}) {
                for (double ridge : new double[] {0.0, 0.5}) {
                    DenseMatrix w = cpu.choleskySolve(s, b, ridge, centre);
                    DenseMatrix expected = cpu.gemm(Transpose.YES, Transpose.NO, 1.0, w, cpu.multiply(s, w), 0.0, null);
                    for (ComputeBackend backend : new ComputeBackend[] {cpu, byDefault}) {
                        DenseMatrix g = new DenseMatrix(m, m, backend.solutionGram(w, b, centre, ridge));
                        String what = backend.name() + " " + n + " x " + m + ", ridge " + ridge
                                + (centre == null ? "" : ", centred");
                        assertEquals(g, g.transpose(), what + ": exactly symmetric");
                        double error = Reference.relativeError(g, expected);
                        assertTrue(error < 1e-9, what + ": relative error " + error);
                    }
                }
            }
        }
        DenseMatrix w = Reference.random(rng, 3, 2);
        assertEquals(0, cpu.solutionGram(DenseMatrix.zeros(3, 0), DenseMatrix.zeros(3, 0), null, 1).length);
        assertThrows(IllegalArgumentException.class, () -> cpu.solutionGram(w, DenseMatrix.zeros(3, 3), null, 1));
        assertThrows(IllegalArgumentException.class, () -> cpu.solutionGram(w, w, DenseMatrix.zeros(2, 2), 1));
        assertThrows(IllegalArgumentException.class, () -> cpu.solutionGram(w, w, null, -1));
        assertThrows(IllegalArgumentException.class, () -> cpu.solutionGram(w, w, null, Double.NaN));
    }

    @Test
    void aProductWithFewNonZerosReadsOnlyThem() {
        SplittableRandom rng = new SplittableRandom(24);
        int d = 37;
        int m = 300;
        int k = 140;
        DenseMatrix a = Reference.random(rng, d, m);
        double[] u = new double[m * k];
        for (int i = 0; i < m; i++) {
            u[i + (i % k) * m] = rng.nextDouble() + 0.1; // one member weight per row, as a grouping's
        }
        DenseMatrix members = new DenseMatrix(m, k, u);
        assertEquals(m, members.nonZeros());
        DenseMatrix sparse = cpu.multiplySparse(a, members);
        double error = Reference.relativeError(sparse, cpu.multiply(a, members));
        assertTrue(error < 1e-14, "relative error " + error);
        assertEquals(sparse, a.timesSparse(members), "few non-zeros: the heap product");
        DenseMatrix dense = Reference.random(rng, m, k);
        assertEquals(cpu.multiply(a, dense), cpu.multiplySparse(a, dense), "many non-zeros: the backend's product");
        double[] withNaN = a.toColumnMajor();
        withNaN[5 * d] = Double.NaN; // column 5 of a, whose member weight is 0 in every group but group 5
        DenseMatrix poisoned = new DenseMatrix(d, m, withNaN);
        DenseMatrix product = poisoned.timesSparse(members);
        for (int g = 0; g < k; g++) {
            assertEquals(g == 5, Double.isNaN(product.get(0, g)), "group " + g);
        }
        assertThrows(IllegalArgumentException.class, () -> a.timesSparse(DenseMatrix.zeros(m + 1, 2)));
    }

    @Test
    void choleskySolveAddsTheRidgeToTheDiagonal() {
        SplittableRandom rng = new SplittableRandom(9);
        int n = 12;
        double ridge = 0.75;
        DenseMatrix s = spd(rng, n);
        DenseMatrix w = Reference.random(rng, n, 3);
        DenseMatrix shifted = cpu.gemm(Transpose.NO, Transpose.NO, ridge, DenseMatrix.identity(n),
                DenseMatrix.identity(n), 1.0, s);
        DenseMatrix b = cpu.multiply(shifted, w);
        DenseMatrix solved = cpu.choleskySolve(s, b, ridge);
        assertTrue(Reference.relativeError(solved, w) < 1e-10, "error " + Reference.relativeError(solved, w));
    }

    @Test
    void choleskySolveReadsOnlyTheUpperTriangle() {
        SplittableRandom rng = new SplittableRandom(10);
        int n = 5;
        DenseMatrix s = spd(rng, n);
        double[] garbled = s.toColumnMajor();
        for (int j = 0; j < n; j++) {
            for (int i = j + 1; i < n; i++) {
                garbled[i + j * n] = 1e6;
            }
        }
        DenseMatrix b = Reference.random(rng, n, 2);
        DenseMatrix expected = cpu.choleskySolve(s, b, 0.0);
        assertTrue(cpu.choleskySolve(new DenseMatrix(n, n, garbled), b, 0.0).maxAbsDifference(expected) < 1e-12);
    }

    @Test
    void singularGramMatrixNeedsARidge() {
        // Feature 2 duplicates feature 0: X^T X is singular, exactly, in float64.
        int d = 3;
        int rows = 8;
        SplittableRandom rng = new SplittableRandom(11);
        float[] x = Reference.randomFloats(rng, rows * d);
        for (int r = 0; r < rows; r++) {
            x[r * d + 2] = x[r * d];
        }
        float[] a = Reference.randomFloats(rng, rows);
        SufficientStatistics s;
        try (StatisticsAccumulator acc = cpu.openStatistics(d, 1)) {
            acc.accumulate(x, a, rows);
            s = acc.statistics();
        }
        NotPositiveDefiniteException e = assertThrows(NotPositiveDefiniteException.class,
                () -> cpu.choleskySolve(s.xx(), s.xa(), 0.0));
        assertEquals(3, e.order());
        assertEquals(3, e.failedMinor());
        assertTrue(e.getMessage().contains("not positive definite") && e.getMessage().contains("Increase the ridge"),
                e.getMessage());
        DenseMatrix w = cpu.choleskySolve(s.xx(), s.xa(), 1e-3);
        assertEquals(w.get(0, 0), w.get(2, 0), 1e-9); // the ridge splits the weight evenly
    }

    @Test
    void choleskySolveRejectsBadArguments() {
        DenseMatrix s = DenseMatrix.identity(3);
        assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolve(DenseMatrix.zeros(2, 3), s, 0.0));
        assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolve(s, DenseMatrix.zeros(2, 1), 0.0));
        assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolve(s, DenseMatrix.zeros(3, 1), -1.0));
        assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolve(s, DenseMatrix.zeros(3, 1), Double.NaN));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolve(
                new DenseMatrix(1, 1, new double[] {Double.NaN}), DenseMatrix.zeros(1, 1), 0.0));
        assertTrue(e.getMessage().contains("NaN at (0, 0)"), e.getMessage());
        assertEquals(DenseMatrix.zeros(0, 2), cpu.choleskySolve(DenseMatrix.zeros(0, 0), DenseMatrix.zeros(0, 2), 0.0));
    }

    @Test
    void openBlasRunsOneThreadPerCallWhateverTheBackendsThreadCount() throws Exception {
        try (ComputeBackend one = Backends.open("cpu", 1); ComputeBackend two = Backends.open("cpu", 2)) {
            assertEquals(1, one.threads());
            assertEquals(2, two.threads());
            DenseMatrix x = DenseMatrix.identity(4);
            two.multiply(x, x);
            assertEquals(1, openblas_full.openblas_get_num_threads());
            two.choleskySolve(x, x, 0.0);
            assertEquals(1, openblas_full.openblas_get_num_threads());
            // calls from two Java threads at once: each gets its own right answer
            SplittableRandom rng = new SplittableRandom(9);
            DenseMatrix a = Reference.random(rng, 300, 200);
            DenseMatrix b = Reference.random(rng, 200, 300);
            DenseMatrix expected = one.multiply(a, b);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                java.util.List<java.util.concurrent.Future<DenseMatrix>> results = new java.util.ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    ComputeBackend backend = i % 2 == 0 ? one : two;
                    results.add(pool.submit(() -> backend.multiply(a, b)));
                }
                for (java.util.concurrent.Future<DenseMatrix> r : results) {
                    assertEquals(expected, r.get());
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void closedBackendRefusesWork() {
        ComputeBackend b = Backends.open("cpu", 1);
        b.close();
        b.close();
        assertThrows(IllegalStateException.class, () -> b.multiply(DenseMatrix.identity(1), DenseMatrix.identity(1)));
    }

    static DenseMatrix spd(SplittableRandom rng, int n) {
        DenseMatrix g = Reference.random(rng, n, n);
        return cpu.gemm(Transpose.YES, Transpose.NO, 1.0, g, g, 1.0, DenseMatrix.identity(n));
    }

    static void assertStatistics(Reference.Sums expected, SufficientStatistics actual) {
        assertEquals(expected.rows, actual.rows());
        check("xx", new DenseMatrix(expected.d, expected.d, expected.xx), actual.xx());
        check("xa", new DenseMatrix(expected.d, expected.m, expected.xa), actual.xa());
        check("aa", new DenseMatrix(expected.m, expected.m, expected.aa), actual.aa());
        assertEquals(actual.xx(), actual.xx().transpose(), "xx is exactly symmetric");
        assertEquals(actual.aa(), actual.aa().transpose(), "aa is exactly symmetric");
    }

    private static void check(String name, DenseMatrix expected, DenseMatrix actual) {
        double error = expected.maxAbs() == 0 ? actual.maxAbs() : Reference.relativeError(actual, expected);
        assertTrue(error < TOLERANCE, name + " relative error " + error);
    }

    @Test
    void agreesExactlyWithOneSolvePerSystem() {
        SplittableRandom rng = new SplittableRandom(31);
        int[] orders = {1, 10, 26, 3, 70};
        int[] rhs = {1, 1, 4, 2, 5};
        List<DenseMatrix> systems = new ArrayList<>();
        List<DenseMatrix> rightHandSides = new ArrayList<>();
        double[] ridges = new double[orders.length];
        for (int i = 0; i < orders.length; i++) {
            systems.add(Reference.randomSpd(cpu, rng, orders[i]));
            rightHandSides.add(Reference.random(rng, orders[i], rhs[i]));
            ridges[i] = rng.nextDouble(0.0, 2.0);
        }
        List<DenseMatrix> all = cpu.choleskySolveAll(systems, rightHandSides, ridges);
        assertEquals(orders.length, all.size());
        for (int i = 0; i < orders.length; i++) {
            assertEquals(cpu.choleskySolve(systems.get(i), rightHandSides.get(i), ridges[i]), all.get(i), "system " + i);
        }
        assertEquals(List.of(), cpu.choleskySolveAll(List.of(), List.of(), new double[0]));
    }

    @Test
    void rejectsMismatchedArgumentsNamingTheSystem() {
        DenseMatrix s = DenseMatrix.identity(3);
        DenseMatrix b = DenseMatrix.zeros(3, 1);
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(List.of(s, s), List.of(b), new double[2]));
        assertEquals("choleskySolveAll: 2 systems need 2 right-hand sides and 2 ridges, found 1 right-hand sides"
                + " and 2 ridges", count.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolveAll(List.of(s), List.of(b), new double[2]));
        IllegalArgumentException ridge = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(List.of(s, s, s), List.of(b, b, b), new double[] {0, 0, -1}));
        assertTrue(ridge.getMessage().startsWith("choleskySolveAll: system 2 of 3: choleskySolve: ridge must be"),
                ridge.getMessage());
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(List.of(s, s), List.of(b, DenseMatrix.zeros(2, 1)), new double[2]));
        assertTrue(shape.getMessage().contains("system 1 of 2: choleskySolve: B must have 3 rows"), shape.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(Arrays.asList(s, null), List.of(b, b), new double[2]));
        assertEquals("choleskySolveAll: system 1 of 2 has a null S", missing.getMessage());
        assertThrows(NullPointerException.class, () -> cpu.choleskySolveAll(List.of(s), List.of(b), null));
    }

    @Test
    void reportsTheFirstSystemThatIsNotPositiveDefinite() {
        SplittableRandom rng = new SplittableRandom(32);
        DenseMatrix good = Reference.randomSpd(cpu, rng, 6);
        double[] bad = good.toColumnMajor();
        bad[4 + 4 * 6] = -100;   // the leading minor of order 5 is negative, the smaller ones positive
        DenseMatrix notSpd = new DenseMatrix(6, 6, bad);
        DenseMatrix b = Reference.random(rng, 6, 2);
        int lapack = assertThrows(NotPositiveDefiniteException.class, () -> cpu.choleskySolve(notSpd, b, 0.0))
                .failedMinor();
        assertEquals(5, lapack);
        NotPositiveDefiniteException e = assertThrows(NotPositiveDefiniteException.class,
                () -> cpu.choleskySolveAll(List.of(good, notSpd, notSpd), List.of(b, b, b), new double[3]));
        assertEquals(1, e.system());
        assertEquals(5, e.failedMinor());
        assertEquals(6, e.order());
        assertTrue(e.getMessage().startsWith("system 1 of 3: the 6 x 6 matrix"), e.getMessage());
        assertEquals(-1, new NotPositiveDefiniteException(6, 5, 0.0).system());
    }
}
