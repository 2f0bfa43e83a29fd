package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.SufficientStatistics;

/** Streamed statistics equal the same sums computed in plain Java float64 from the collected rows. */
class StatisticsCollectorTest {

    private static void compare(String p0, String p1, int level, int samples, int batch) {
        List<org.onnxfuse.onnx.ir.Model> parents = List.of(Fixtures.read(p0 + ".onnx"), Fixtures.read(p1 + ".onnx"));
        List<LevelPlan> plans = parents.stream().map(LevelPlanner::plan).toList();
        Level lv = plans.get(0).level(level);
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(samples);
             ComputeBackend backend = Backends.open("cpu", 1);
             StatisticsCollector c = new StatisticsCollector(parents, plans, data, batch, 1)) {
            LevelStatistics stats = c.collect(level, parents.get(0), lv, backend);
            int d = stats.fanIn();
            int m = stats.targets();
            double[] xx = new double[d * d];
            double[] xa = new double[d * m];
            double[] aa = new double[m * m];
            long[] count = {0};
            c.stream(level, parents.get(0), lv, (x, dd, a, mm, rows) -> {
                count[0] += rows;
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < d; i++) {
                        double xi = x[r * d + i];
                        for (int j = 0; j < d; j++) {
                            xx[i * d + j] += xi * x[r * d + j];
                        }
                        for (int j = 0; j < m; j++) {
                            xa[i * m + j] += xi * a[r * m + j];
                        }
                    }
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < m; j++) {
                            aa[i * m + j] += (double) a[r * m + i] * a[r * m + j];
                        }
                    }
                }
            });
            SufficientStatistics s = stats.statistics();
            assertEquals(count[0], stats.rows());
            assertEquals(samples, stats.samples());
            assertEquals(List.of((int) plans.get(0).level(level).width(), (int) plans.get(1).level(level).width()),
                    stats.parentWidths());
            assertClose(DenseMatrix.fromRowMajor(d, d, xx), s.xx());
            assertClose(DenseMatrix.fromRowMajor(d, m, xa), s.xa());
            assertClose(DenseMatrix.fromRowMajor(m, m, aa), s.aa());
        }
    }

    private static void assertClose(DenseMatrix expected, DenseMatrix actual) {
        double diff = expected.maxAbsDifference(actual);
        double scale = Math.max(expected.maxAbs(), 1);
        assertTrue(diff <= 1e-9 * scale, "max difference " + diff + " at scale " + scale);
    }

    @Test
    void mlpFirstLevelInUnevenBatches() {
        compare("mlp_k2_p0", "mlp_k2_p1", 1, 70, 32);
    }

    @Test
    void convSecondLevel() {
        compare("vgg_p0", "vgg_p1", 2, 20, 7);
    }

    /**
     * The accumulator unfolds a Conv batch a block of rows at a time (65,536 values of X or A at most:
     * 4,096 of level 1's 28 x 28 x 7 = 5,488 rows per batch here, m = 16; blocks end inside a sample) and
     * blocks rows across batches for BLAS; the sums equal plain float64 sums over the rows the
     * collector unfolds in one piece, on both Conv levels of the bundled VGG parents.
     */
    @Test
    void convLevelsInBlocksOfRowsMatchTheUnfoldedReference() {
        compare("vgg_p0", "vgg_p1", 1, 30, 7);
        compare("vgg_p0", "vgg_p1", 2, 45, 16);
    }

    @Test
    void largeLevelsCollectInSmallerBatches() {
        List<LevelPlan> small = List.of(LevelPlanner.plan(Fixtures.read("vgg_p0.onnx")),
                LevelPlanner.plan(Fixtures.read("vgg_p1.onnx")));
        assertEquals(256, StatisticsCollector.batchWithinBudget(small, 256));
        // 512 x 512 positions x (27 + 1 features + 2 x 64 neurons) = 40.9 M elements per sample
        LevelPlan large = org.onnxfuse.fusion.plan.TestNets.Net.input("batch", 3, 512, 512).conv("c1", 3, 64, 3, true,
                org.onnxfuse.onnx.ir.Attribute.ofLongs("pads", 1, 1, 1, 1)).op("r", "Relu")
                .op("gap", "GlobalAveragePool").op("flat", "Flatten").gemm("fc", 64, 10, true, true).plan();
        assertEquals(1, StatisticsCollector.batchWithinBudget(List.of(large, large), 256));
    }
}
