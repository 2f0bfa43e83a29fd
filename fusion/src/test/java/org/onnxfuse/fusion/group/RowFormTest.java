package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.collect.LevelRows;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;

/**
 * C and G formed from a level's rows (C = A^T (X W), G = (X W)^T (X W)) against the same products
 * from the statistics, on a level with fewer rows than inputs, where the row form applies: the same
 * matrices up to rounding, and the same groupings.
 */
class RowFormTest extends WithCpuBackend {
    private static final int ROWS = 24;
    private static final int FEATURES = 70;
    private static final int NEURONS = 60;

    private static LevelRows rowsOf(LevelData data) {
        LevelRows rows = new LevelRows(data.rows());
        rows.add(data.flatInputs(), data.inputDim(), data.flatTargets(), data.neurons(), data.rows());
        return rows;
    }

    private static DenseMatrix prior(long seed, int d, int m) {
        SplittableRandom random = new SplittableRandom(seed);
        double[] p = new double[d * m];
        for (int i = 0; i < p.length; i++) {
            p[i] = 0.1 * LevelData.gaussian(random);
        }
        return new DenseMatrix(d, m, p);
    }

    private static void assertClose(double[] expected, double[] actual, String what) {
        double scale = 0;
        for (double v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-9 * scale, what + ", entry " + i);
        }
    }

    /**
     * W solved in row space (W = W0 + X^T (X X^T + lambda I)^-1 (A - X W0), n x n) is the W of the
     * d x d normal equations: both solve (S_xx + lambda I) W = S_xa + lambda W0 to within rounding,
     * for the default ridge and a larger one, with and without a prior; its projection A - lambda Z
     * is X W.
     */
    @Test
    void weightsSolvedInRowSpaceSolveTheNormalEquations() {
        LevelData data = LevelData.random(6, ROWS, FEATURES, NEURONS, 0.5).roundedToFloat();
        SufficientStatistics stats = data.backendStatistics(backend);
        LevelRows rows = rowsOf(data);
        int d = FEATURES + 1;
        for (double ridgeFactor : new double[] {GroupingConfig.DEFAULT_RIDGE_FACTOR, 1e-3}) {
            for (DenseMatrix centre : new DenseMatrix[] {null, prior(7, d, NEURONS)}) {
                String what = "ridge factor " + ridgeFactor + (centre == null ? "" : ", with a prior");
                ProjectedTargets plain = ProjectedTargets.fit(backend, stats, ridgeFactor, centre, GroupingForm.GRAM);
                ProjectedTargets fromRows = ProjectedTargets.fit(backend, stats, ridgeFactor, centre, GroupingForm.GRAM,
                        rows);
                double ridge = plain.ridge();
                DenseMatrix rhs = centre == null ? stats.xa() : stats.xa().plusScaled(ridge, centre);
                for (ProjectedTargets fit : new ProjectedTargets[] {plain, fromRows}) {
                    DenseMatrix lhs = backend.multiply(stats.xx(), fit.weights()).plusScaled(ridge, fit.weights());
                    assertTrue(lhs.maxAbsDifference(rhs) <= 1e-9 * rhs.maxAbs(), what + ": residual "
                            + lhs.maxAbsDifference(rhs) + " of " + rhs.maxAbs());
                }
                // the projection comes as A - lambda Z: the product X W to rounding
                ProjectedTargets.RowSolution solved = ProjectedTargets.rowSpaceSolve(backend, rows.inputs(),
                        rows.targets(), ridge, centre);
                DenseMatrix product = backend.multiply(rows.inputs(), solved.weights());
                assertTrue(product.maxAbsDifference(solved.projected()) <= 1e-9 * product.maxAbs(), what
                        + ": X W " + product.maxAbsDifference(solved.projected()) + " of " + product.maxAbs());
                // the directions the rows do not reach keep the prior (or 0) in both
                assertTrue(plain.weights().maxAbsDifference(fromRows.weights())
                        <= 1e-6 * Math.max(1, plain.weights().maxAbs()), what + ": "
                        + plain.weights().maxAbsDifference(fromRows.weights()));
            }
        }
    }

    @Test
    void productsFromTheRowsAreThoseFromTheStatistics() {
        LevelData data = LevelData.random(3, ROWS, FEATURES, NEURONS, 0.5).roundedToFloat();
        SufficientStatistics stats = data.backendStatistics(backend);
        LevelRows rows = rowsOf(data);
        for (DenseMatrix centre : new DenseMatrix[] {null, prior(4, FEATURES + 1, NEURONS)}) {
            String what = centre == null ? "plain ridge" : "with a prior";
            ProjectedTargets gram = ProjectedTargets.fit(backend, stats, 1e-3, centre, GroupingForm.GRAM);
            ProjectedTargets gramRows = ProjectedTargets.fit(backend, stats, 1e-3, centre, GroupingForm.GRAM, rows);
            assertClose(gram.crossColumns(), gramRows.crossColumns(), "C, " + what);
            assertClose(gram.gramColumns(), gramRows.gramColumns(), "G, " + what);
            ProjectedTargets cross = ProjectedTargets.fit(backend, stats, 1e-3, centre, GroupingForm.CROSS);
            ProjectedTargets crossRows = ProjectedTargets.fit(backend, stats, 1e-3, centre, GroupingForm.CROSS, rows);
            assertClose(cross.factors().crossTable(), crossRows.factors().crossTable(), "cross form's C, " + what);
            if (centre == null) {
                for (int i = 0; i < NEURONS; i++) {
                    for (int j = 0; j < i; j++) {
                        assertEquals(gramRows.gramColumns()[i + j * NEURONS], gramRows.gramColumns()[j + i * NEURONS],
                                0.0, "G symmetric bit for bit");
                    }
                }
            }
        }
    }

    /** W and the products really come from the rows: rows whose targets are doubled double W, and C and G fourfold. */
    @Test
    void theProductsAreFormedFromTheRowsGiven() {
        LevelData data = LevelData.random(6, ROWS, FEATURES, NEURONS, 0.5).roundedToFloat();
        SufficientStatistics stats = data.backendStatistics(backend);
        float[] doubled = data.flatTargets();
        for (int i = 0; i < doubled.length; i++) {
            doubled[i] *= 2;
        }
        LevelRows rows = new LevelRows(ROWS);
        rows.add(data.flatInputs(), data.inputDim(), doubled, data.neurons(), ROWS);
        ProjectedTargets plain = ProjectedTargets.fit(backend, stats, 1e-3, null, GroupingForm.GRAM);
        ProjectedTargets fromRows = ProjectedTargets.fit(backend, stats, 1e-3, null, GroupingForm.GRAM, rows);
        // with the ridge positive W itself is solved from the rows: twice the targets, twice W
        assertClose(scaled(plain.weights().toColumnMajor(), 2), fromRows.weights().toColumnMajor(),
                "W from doubled targets");
        assertClose(scaled(plain.crossColumns(), 4), fromRows.crossColumns(), "C from doubled targets and W");
        assertClose(scaled(plain.gramColumns(), 4), fromRows.gramColumns(), "G from doubled W");
        ProjectedTargets crossRows = ProjectedTargets.fit(backend, stats, 1e-3, null, GroupingForm.CROSS, rows);
        assertClose(scaled(plain.crossColumns(), 4), crossRows.factors().crossTable(),
                "the cross form's C from doubled targets and W");
    }

    private static double[] scaled(double[] values, double factor) {
        double[] out = values.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] *= factor;
        }
        return out;
    }

    @Test
    void groupingsFromTheRowsAreThoseFromTheStatistics() {
        NeuronLayout layout = NeuronLayout.of(30, 30);
        for (long seed = 0; seed < 4; seed++) {
            LevelData data = LevelData.random(seed, ROWS, FEATURES, NEURONS, 0.8).roundedToFloat();
            SufficientStatistics stats = data.backendStatistics(backend);
            LevelRows rows = rowsOf(data);
            double[] scores = new double[NEURONS];
            SplittableRandom random = new SplittableRandom(seed);
            for (int i = 0; i < NEURONS; i++) {
                scores[i] = 0.2 + random.nextDouble();
            }
            GroupingConfig config = GroupingConfig.defaults().withSeed(seed).withRestarts(3);
            for (GroupingForm form : new GroupingForm[] {GroupingForm.GRAM, GroupingForm.CROSS}) {
                Grouping plain = KMeansGrouping.group(backend,
                        ProjectedTargets.fit(backend, stats, 1e-3, null, form), layout, scores, 20, config);
                Grouping fromRows = KMeansGrouping.group(backend,
                        ProjectedTargets.fit(backend, stats, 1e-3, null, form, rows), layout, scores, 20, config);
                assertArrayEquals(plain.assignment(), fromRows.assignment(), form + ", seed " + seed);
                assertEquals(plain.cost(), fromRows.cost(), 1e-9 * plain.cost(), form + ", seed " + seed);
            }
        }
    }

    @Test
    void rowsThatAreNotThoseOfTheStatisticsAreNotUsed() {
        LevelData data = LevelData.random(5, ROWS, FEATURES, NEURONS, 0.5).roundedToFloat();
        SufficientStatistics stats = data.backendStatistics(backend);
        LevelRows fewer = new LevelRows(ROWS);
        fewer.add(data.flatInputs(), data.inputDim(), data.flatTargets(), data.neurons(), ROWS - 1);
        ProjectedTargets plain = ProjectedTargets.fit(backend, stats, 1e-3, null, GroupingForm.GRAM);
        ProjectedTargets withFewer = ProjectedTargets.fit(backend, stats, 1e-3, null, GroupingForm.GRAM, fewer);
        assertArrayEquals(plain.crossColumns(), withFewer.crossColumns(), 0.0);
        assertArrayEquals(plain.gramColumns(), withFewer.gramColumns(), 0.0);
        ProjectedTargets empty = ProjectedTargets.fit(backend, stats, 1e-3, null, GroupingForm.GRAM,
                new LevelRows(ROWS));
        assertArrayEquals(plain.gramColumns(), empty.gramColumns(), 0.0);
        assertThrows(IllegalStateException.class, () -> fewer.add(data.flatInputs(), data.inputDim(),
                data.flatTargets(), data.neurons(), 2), "more rows than planned");
    }

    @Test
    void theRowFormForDenseLevelsWithAtMostHalfAsManyRowsAsInputs() {
        long heap = 6L << 30;
        // 8 wide MLP parents, 400 samples: 252 MB of rows and products against a sixteenth of 6 GiB
        assertTrue(ProjectedTargets.rowFormFits(400, 3073, 16384, false, heap));
        assertFalse(ProjectedTargets.rowFormFits(400, 3073, 16384, true, heap), "a Conv level's rows are gathered");
        assertFalse(ProjectedTargets.rowFormFits(400, 785, 2048, false, heap), "400 rows for 785 inputs");
        assertTrue(ProjectedTargets.rowFormFits(392, 785, 2048, false, heap));
        assertFalse(ProjectedTargets.rowFormFits(1500, 3073, 16384, false, heap), "430 MB of rows");
        assertEquals(4L * 400 * (3073 + 16384) + 8L * 400 * (3073 + 4 * 16384 + 400),
                ProjectedTargets.rowFormBytes(400, 3073, 16384));
    }
}
