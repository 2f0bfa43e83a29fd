package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.SufficientStatistics;
import org.onnxfuse.onnx.ir.Model;

/**
 * Inference of the next batch overlapped with the statistics of this one (the collector's
 * default) gives the same statistics, bit for bit, as the two in turn: the same batches are
 * accumulated in the same order on the caller's thread. Gemm levels (rows as they come), Conv
 * levels (rows gathered by the backend) and a residual net with the Gram matrices of its shared
 * spaces, every level in the level loop's order, with a last batch smaller than the others.
 */
class OverlappedCollectionTest {
    private static final int SAMPLES = 70;
    private static final int BATCH = 16;

    @ParameterizedTest
    @ValueSource(strings = {"mlp_k2", "vgg", "dag/resnet"})
    void overlappedStatisticsEqualSerialOnes(String family) {
        List<Model> parents = List.of(ConstantFolding.fold(Fixtures.read(family + "_p0.onnx")),
                ConstantFolding.fold(Fixtures.read(family + "_p1.onnx")));
        List<LevelPlan> plans = parents.stream().map(LevelPlanner::plan).toList();
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(SAMPLES);
             ComputeBackend backend = Backends.open("cpu", 2);
             StatisticsCollector overlapped = new StatisticsCollector(parents, plans, data, BATCH, 2);
             StatisticsCollector serial = new StatisticsCollector(parents, plans, data, BATCH, 2)) {
            serial.overlap(false);
            int grams = 0;
            for (Level level : plans.get(0).levels()) {
                var space = plans.get(0).space(level.space());
                if (space.shared() && space.levels().stream().mapToInt(Integer::intValue).min().orElseThrow()
                        == level.index()) {
                    assertEquals(serial.spaceGram(space.id(), backend, StatisticsCollector.Progress.NONE),
                            overlapped.spaceGram(space.id(), backend, StatisticsCollector.Progress.NONE),
                            family + " space " + space.id() + "'s Gram matrix");
                    grams++;
                }
                LevelStatistics expected = serial.collect(level.index(), parents.get(0), level, backend);
                LevelStatistics actual = overlapped.collect(level.index(), parents.get(0), level, backend);
                String what = family + " level " + level.index();
                assertEquals(expected.samples(), actual.samples(), what);
                assertEquals(expected.rows(), actual.rows(), what);
                SufficientStatistics e = expected.statistics();
                SufficientStatistics a = actual.statistics();
                assertEquals(e.xx(), a.xx(), what + ": S_xx");
                assertEquals(e.xa(), a.xa(), what + ": S_xa");
                assertEquals(e.aa(), a.aa(), what + ": S_aa");
                assertTrue(actual.statisticsNanos() >= 0 && actual.inferenceNanos() > 0, what + ": stage times");
            }
            assertEquals(0, overlapped.frontierRestarts());
            assertEquals(family.equals("dag/resnet"), grams > 0, "the residual net's shared spaces are grouped on"
                    + " Gram matrices of their own");
        }
    }
}
