package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxfuse.fusion.solve.FitError;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.GramKMeans;
import org.onnxfuse.kernels.StatisticsAccumulator;
import org.onnxfuse.kernels.SufficientStatistics;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/**
 * The factor form against the Gram form on the same statistics. Both compute the same distances
 * (identities in W); only the order of the float64 sums differs. A squared distance is a difference
 * of terms of size up to ||a_i||<sup>2</sup> + ||X w||<sup>2</sup>, so the tolerance is relative to
 * that scale: 1e-10 of it is some 10<sup>5</sup> roundings of 2<sup>-53</sup>, far above what d
 * &lt;= 20-term sums lose and far below the gaps between distinct distances of random data.
 */
class FactorFormTest extends WithCpuBackend {
    private static final double RELATIVE = 1e-10;

    private static DenseMatrix randomPrior(long seed, int d, int m) {
        SplittableRandom random = new SplittableRandom(seed);
        double[] p = new double[d * m];
        for (int i = 0; i < p.length; i++) {
            p[i] = LevelData.gaussian(random);
        }
        return new DenseMatrix(d, m, p);
    }

    private static double scale(ProjectedTargets fit) {
        double max = 0;
        for (int i = 0; i < fit.neurons(); i++) {
            max = Math.max(max, fit.targetSquaredNorm(i) + fit.gram(i, i));
        }
        return max;
    }

    @Test
    void singleDistancesAgreeWithTheGramFormWithRidgeAndPrior() {
        for (DenseMatrix prior : new DenseMatrix[] {null, randomPrior(7, 7, 11)}) {
            LevelData data = LevelData.random(5, 200, 6, 11, 0.7);
            SufficientStatistics stats = data.plainStatistics();
            ProjectedTargets gram = ProjectedTargets.fit(backend, stats, 0.3, prior, GroupingForm.GRAM);
            ProjectedTargets factor = ProjectedTargets.fit(backend, stats, 0.3, prior, GroupingForm.FACTOR);
            assertTrue(factor.factorForm());
            assertFalse(gram.factorForm());
            double tolerance = RELATIVE * scale(gram);
            SplittableRandom random = new SplittableRandom(1);
            for (int trial = 0; trial < 30; trial++) {
                int[] members = Arrays.copyOf(LevelData.randomPermutation(random, 11), 1 + random.nextInt(4));
                Arrays.sort(members);
                double[] w = new double[members.length];
                Arrays.fill(w, 1.0 / members.length);
                for (int target = 0; target < 11; target++) {
                    assertEquals(gram.squaredDistance(members, w, target), factor.squaredDistance(members, w, target),
                            tolerance);
                }
            }
            for (int i = 0; i < 11; i++) {
                assertEquals(gram.residual(i), factor.residual(i), Math.sqrt(tolerance));
                for (int j = 0; j < 11; j++) {
                    assertEquals(gram.gram(i, j), factor.gram(i, j), tolerance);
                    // the Gram form symmetrises C when there is no prior; the mean differs by rounding only
                    assertEquals(gram.cross(i, j), factor.cross(i, j), tolerance);
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"factor, 0", "cross, 0", "cross, 7"})
    void kMeansStepsAndSeedsMatchTheGramKernel(String formName, int workers) {
        LevelData data = LevelData.random(8, 150, 9, 40, 1.0);
        SufficientStatistics stats = data.plainStatistics();
        DenseMatrix prior = randomPrior(3, 10, 40);
        ProjectedTargets gram = ProjectedTargets.fit(backend, stats, 1e-3, prior, GroupingForm.GRAM);
        ProjectedTargets factor = ProjectedTargets.fit(backend, stats, 1e-3, prior, GroupingForm.fromName(formName));
        double tolerance = RELATIVE * scale(gram);
        try (GramKMeans g = backend.openGramKMeans(gram.crossColumns(), gram.gramColumns(), gram.targetSquaredNorms(),
                40); GramKMeans f = new FactorKMeans(backend, factor, true, workers)) {
            for (int first = 0; first < 5; first++) {
                assertArrayEquals(g.farthestFirst(first, 9), f.farthestFirst(first, 9));
            }
            SplittableRandom random = new SplittableRandom(2);
            int k = 7;
            int[] owner = new int[40];
            double[] weight = new double[40];
            for (int i = 0; i < 40; i++) {
                owner[i] = i < k ? i : random.nextInt(k + 1) - 1; // some neurons in no centroid
                weight[i] = 0.1 + random.nextDouble();
            }
            int[] current = new int[40];
            for (int i = 0; i < 40; i++) {
                current[i] = random.nextInt(k);
            }
            for (int[] cur : new int[][] {null, current}) {
                GramKMeans.Step a = g.step(k, owner, weight, cur);
                GramKMeans.Step b = f.step(k, owner, weight, cur);
                assertArrayEquals(a.next(), b.next());
                assertArrayEquals(a.nextSquaredDistance(), b.nextSquaredDistance(), tolerance);
                if (cur != null) {
                    assertArrayEquals(a.currentSquaredDistance(), b.currentSquaredDistance(), tolerance);
                } else {
                    assertNull(b.currentSquaredDistance());
                }
            }
        }
    }

    @Test
    void groupingsAndCostsMatchTheGramForm() {
        NeuronLayout layout = NeuronLayout.of(30, 30, 30);
        for (long seed = 0; seed < 6; seed++) {
            LevelData data = LevelData.random(seed, 160, 8, 90, 1.0);
            // statistics as the factor form collects them: the diagonal of S_aa only
            SufficientStatistics diagonal;
            try (StatisticsAccumulator acc = backend.openStatistics(9, 90, false)) {
                LevelData rounded = data.roundedToFloat();
                acc.accumulate(rounded.flatInputs(), rounded.flatTargets());
                diagonal = acc.statistics();
            }
            assertNull(diagonal.aa());
            SufficientStatistics full = data.roundedToFloat().backendStatistics(backend);
            for (int i = 0; i < 90; i++) {
                assertEquals(full.targetSquaredNorm(i), diagonal.targetSquaredNorm(i),
                        1e-12 * full.targetSquaredNorm(i));
            }
            double[] scores = new double[90];
            SplittableRandom random = new SplittableRandom(seed);
            for (int i = 0; i < 90; i++) {
                scores[i] = 0.2 + random.nextDouble();
            }
            GroupingConfig config = GroupingConfig.defaults().withSeed(seed).withRestarts(4);
            Grouping gram = KMeansGrouping.group(backend, full, layout, scores, 20, config.withForm(GroupingForm.GRAM));
            for (GroupingForm form : new GroupingForm[] {GroupingForm.FACTOR, GroupingForm.CROSS}) {
                Grouping factor = KMeansGrouping.group(backend, diagonal, layout, scores, 20, config.withForm(form));
                assertArrayEquals(gram.assignment(), factor.assignment(), form + ", seed " + seed);
                assertEquals(gram.cost(), factor.cost(), 1e-9 * gram.cost());
                assertEquals(gram.iterations(), factor.iterations());
                assertEquals(gram.restarts(), factor.restarts());
                assertTrue(gram.fusedWeights().maxAbsDifference(factor.fusedWeights())
                        <= 1e-9 * gram.fusedWeights().maxAbs());
            }
        }
    }

    @Test
    void fitErrorWithoutTheTargetGramMeasuresAgainstTheMembersTargets() {
        LevelData data = LevelData.random(11, 120, 5, 12, 0.5).roundedToFloat();
        SufficientStatistics full = data.backendStatistics(backend);
        SufficientStatistics diagonal = new SufficientStatistics(full.rows(), full.xx(), full.xa(), null,
                full.aaDiagonal());
        ProjectedTargets fit = ProjectedTargets.fit(backend, full, 1e-6);
        // each neuron alone: U = I, members' own targets = the targets, so both agree
        DenseMatrix identity = DenseMatrix.identity(12);
        assertEquals(FitError.relativeResidual(backend, full, fit.weights(), identity),
                FitError.relativeResidual(backend, diagonal, fit.weights(), identity), 1e-9);
        // pairs: against the members' own targets the error is larger (the members' spread counts)
        double[] u = new double[12 * 6];
        for (int g = 0; g < 6; g++) {
            u[2 * g + g * 12] = 0.5;
            u[2 * g + 1 + g * 12] = 0.5;
        }
        DenseMatrix pairs = new DenseMatrix(12, 6, u);
        DenseMatrix f = backend.multiply(fit.weights(), pairs);
        double exact = FitError.relativeResidual(backend, full, f, pairs);
        double members = FitError.relativeResidual(backend, diagonal, f, pairs);
        assertTrue(members >= exact, members + " < " + exact);
    }

    /**
     * The centroids' squared norms tr(U^T G U) without S_xx (from G, or from the normal equations
     * in factor form) agree with tr(F^T S_xx F) for F = W U, with and without a prior and a ridge,
     * and so do the fit errors built on them; an underdetermined level (fewer rows than features) too.
     */
    @Test
    void centroidSquaredNormsAgreeWithTheProductThroughSxx() {
        for (int rows : new int[] {120, 9}) {
            LevelData data = LevelData.random(12, rows, 14, 12, 0.5).roundedToFloat();
            SufficientStatistics full = data.backendStatistics(backend);
            DenseMatrix prior = DenseMatrix.fromRowMajor(full.inputDim(), 12, new java.util.SplittableRandom(3)
                    .doubles((long) full.inputDim() * 12, -1, 1).toArray());
            double[] u = new double[12 * 5];
            for (int i = 0; i < 12; i++) {
                u[i + (i % 5) * 12] = 0.25 + 0.05 * i;
            }
            DenseMatrix members = new DenseMatrix(12, 5, u);
            for (GroupingForm form : new GroupingForm[] {GroupingForm.GRAM, GroupingForm.FACTOR, GroupingForm.CROSS}) {
                for (DenseMatrix centre : new DenseMatrix[] {null, prior}) {
                    for (double ridgeFactor : new double[] {1e-6, 0.1}) {
                        ProjectedTargets fit = ProjectedTargets.fit(backend, full, ridgeFactor, centre, form);
                        DenseMatrix f = fit.centroidWeights(backend, members);
                        double expected = 0;
                        DenseMatrix sxxF = backend.multiply(full.xx(), f);
                        for (int g = 0; g < 5; g++) {
                            for (int p = 0; p < f.rows(); p++) {
                                expected += f.get(p, g) * sxxF.get(p, g);
                            }
                        }
                        String what = form + ", " + rows + " rows, ridge factor " + ridgeFactor
                                + (centre == null ? "" : ", prior");
                        assertEquals(expected, fit.centroidSquaredNorms(members), 1e-9 * expected, what);
                        assertEquals(FitError.relativeResidual(backend, full, f, members),
                                FitError.relativeResidual(full, fit.centroidSquaredNorms(members), f, members), 1e-8,
                                what);
                    }
                }
            }
        }
        ProjectedTargets fit = ProjectedTargets.fit(backend, LevelData.random(1, 30, 4, 6, 0.5).backendStatistics(backend),
                1e-6);
        assertThrows(IllegalArgumentException.class, () -> fit.centroidSquaredNorms(DenseMatrix.zeros(5, 2)));
    }

    /** The cross form's steps by blocks of neurons, shared between threads, equal the step in one block bit for bit. */
    @Test
    void crossStepsDoNotDependOnTheirBlocks() {
        LevelData data = LevelData.random(9, 150, 9, 50, 1.0);
        ProjectedTargets cross = ProjectedTargets.fit(backend, data.plainStatistics(), 1e-3, randomPrior(4, 10, 50),
                GroupingForm.CROSS);
        SplittableRandom random = new SplittableRandom(6);
        int k = 9;
        int[] owner = new int[50];
        double[] weight = new double[50];
        int[] current = new int[50];
        for (int i = 0; i < 50; i++) {
            owner[i] = i < k ? i : random.nextInt(k);
            weight[i] = 0.1 + random.nextDouble();
            current[i] = random.nextInt(k);
        }
        try (FactorKMeans whole = new FactorKMeans(backend, cross, true, 0);
             FactorKMeans blocked = new FactorKMeans(backend, cross, true, 3)) {
            GramKMeans.Step a = whole.step(k, owner, weight, current);
            GramKMeans.Step b = blocked.step(k, owner, weight, current);
            assertArrayEquals(a.next(), b.next());
            assertArrayEquals(a.nextSquaredDistance(), b.nextSquaredDistance(), 0.0);
            assertArrayEquals(a.currentSquaredDistance(), b.currentSquaredDistance(), 0.0);
            assertTrue(whole.crossForm() && !whole.bounded());
        }
    }

    /** C made by blocks of W's columns is the product made at once, symmetrised without a prior. */
    @Test
    void theCrossTableByBlocksIsTheWholeProduct() {
        LevelData data = LevelData.random(4, 150, 9, 30, 1.0);
        SufficientStatistics stats = data.plainStatistics();
        for (DenseMatrix prior : new DenseMatrix[] {null, randomPrior(5, 10, 30)}) {
            ProjectedTargets gram = ProjectedTargets.fit(backend, stats, 1e-3, prior, GroupingForm.GRAM);
            for (int columns : new int[] {1, 7, 30}) {
                double[] c = ProjectedTargets.crossTable(backend, stats.xa(), gram.weights(), prior == null, columns);
                double[] expected = gram.crossColumns();
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], c[i], 1e-12 * Math.max(1, Math.abs(expected[i])),
                            columns + " columns per block, entry " + i);
                }
                if (prior == null) {
                    for (int i = 0; i < 30; i++) {
                        for (int j = 0; j < i; j++) {
                            assertEquals(c[i + j * 30], c[j + i * 30], 0.0, "symmetric bit for bit");
                        }
                    }
                }
            }
        }
    }

    @Test
    void autoTakesTheGramFormWhileItsMatricesFitAQuarterOfTheHeapThenTheCrossForm() {
        long heap = 8L << 30;
        // 4 matrices of m^2 doubles within 2 GiB: m <= 8192
        assertEquals(GroupingForm.GRAM, GroupingForm.AUTO.resolve(8192, 100_000, 4096, heap));
        // then C, C U, S_xx, S_xa, W and W0 within 5/8 of the heap (5 GiB): 8 (m^2 + m k + 3 d m + d^2) bytes
        assertEquals(GroupingForm.CROSS, GroupingForm.AUTO.resolve(8193, 785, 4096, heap));
        assertEquals(GroupingForm.CROSS, GroupingForm.AUTO.resolve(16384, 3073, 2048, 6L << 30)); // 3.70 GB of 4.03
        assertEquals(GroupingForm.FACTOR, GroupingForm.AUTO.resolve(16384, 3073, 2048, 4L << 30));
        assertEquals(GroupingForm.CROSS, GroupingForm.AUTO.resolve(22_000, 1000, 2048, heap)); // 4.77 GB of 5.37
        assertEquals(GroupingForm.FACTOR, GroupingForm.AUTO.resolve(24_000, 1000, 2048, heap)); // 5.58 GB
        // C U counts: the same level with k = m / 2 no longer fits
        assertEquals(GroupingForm.FACTOR, GroupingForm.AUTO.resolve(22_000, 1000, 11_000, heap)); // 6.35 GB
        assertEquals(GroupingForm.FACTOR, GroupingForm.AUTO.resolve(8193, 60_000, 4096, heap)); // S_xx alone 28.8 GB
        assertEquals(GroupingForm.FACTOR, GroupingForm.FACTOR.resolve(10, 10, 5, heap));
        assertEquals(GroupingForm.CROSS, GroupingForm.CROSS.resolve(100_000, 10, 5, heap));
        assertEquals(GroupingForm.GRAM, GroupingForm.GRAM.resolve(100_000, 10, 5, heap));
        assertEquals(GroupingForm.FACTOR, GroupingForm.fromName(" Factor "));
        assertEquals(GroupingForm.CROSS, GroupingForm.fromName("cross"));
        assertTrue(GroupingForm.CROSS.factored() && GroupingForm.FACTOR.factored());
        assertFalse(GroupingForm.GRAM.factored());
        assertThrows(OnnxFuseException.class, () -> GroupingForm.fromName("dense"));
        assertThrows(IllegalArgumentException.class, () -> ProjectedTargets.fit(backend,
                LevelData.random(1, 20, 3, 4, 0.1).plainStatistics(), 1e-6, null, GroupingForm.AUTO));
    }
}
