package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.MultiInputNets;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.io.TempFiles;
import org.onnxfuse.onnx.ir.Model;

/**
 * Runs that start from the activations stored at the previous cut (the frontier) give what runs
 * from the graph inputs give, in the level loop's order (each shared space's Gram matrix before
 * its first level, then every level), and spilled frontiers give the same and leave no files.
 */
class FrontierTest {
    private static final int SAMPLES = 60;
    private static final int BATCH = 16;

    private static List<Model> parents(String family) {
        String prefix = family.equals("vgg") ? "" : "dag/";
        return List.of(ConstantFolding.fold(Fixtures.read(prefix + family + "_p0.onnx")),
                ConstantFolding.fold(Fixtures.read(prefix + family + "_p1.onnx")));
    }

    private static List<LevelPlan> plans(List<Model> parents) {
        return parents.stream().map(LevelPlanner::plan).toList();
    }

    /** Every batch's X and A rows of one level, and the Gram matrices of the spaces it opens. */
    private record Collected(List<float[]> x, List<float[]> a, List<DenseMatrix> grams) {
    }

    private static Collected level(StatisticsCollector c, Model fused, List<LevelPlan> plans, int l,
                                   ComputeBackend backend) {
        LevelPlan template = plans.get(0);
        Level level = template.level(l);
        List<DenseMatrix> grams = new ArrayList<>();
        var space = template.space(level.space());
        if (space.shared() && space.levels().stream().mapToInt(Integer::intValue).min().orElseThrow() == l) {
            grams.add(c.spaceGram(space.id(), backend, StatisticsCollector.Progress.NONE));
        }
        List<float[]> xs = new ArrayList<>();
        List<float[]> as = new ArrayList<>();
        c.stream(l, fused, level, (x, d, a, m, rows) -> {
            xs.add(java.util.Arrays.copyOf(x, rows * d));
            as.add(java.util.Arrays.copyOf(a, rows * m));
        });
        return new Collected(xs, as, grams);
    }

    private static void assertClose(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what);
        double scale = 1;
        for (float v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        // ONNX Runtime may pick other kernels (blocked layouts) for a segment than for the whole
        // graph: equal up to float rounding, 1e-6 of the batch's largest value
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= 1e-6 * scale, what + " [" + i + "]: " + expected[i]
                    + " vs " + actual[i] + " at scale " + scale);
        }
    }

    private static void assertSame(String what, Collected expected, Collected actual) {
        assertEquals(expected.x().size(), actual.x().size(), what);
        for (int b = 0; b < expected.x().size(); b++) {
            assertClose(what + " X batch " + b, expected.x().get(b), actual.x().get(b));
            assertClose(what + " A batch " + b, expected.a().get(b), actual.a().get(b));
        }
        assertEquals(expected.grams().size(), actual.grams().size(), what);
        for (int g = 0; g < expected.grams().size(); g++) {
            DenseMatrix e = expected.grams().get(g);
            double diff = e.maxAbsDifference(actual.grams().get(g));
            assertTrue(diff <= 1e-6 * Math.max(1, e.maxAbs()), what + " Gram: " + diff);
        }
    }

    private static CalibrationData data() {
        return CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(SAMPLES);
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet", "mbv2", "squeeze", "vgg"})
    void frontierRunsEqualFullPrefixRuns(String family) {
        assertFrontierRunsEqualFullPrefixRuns(family, parents(family), plans -> data());
    }

    /** int64 and bool inputs (read before the first level) are fed from each batch to the segments that read them. */
    @ParameterizedTest
    @ValueSource(strings = {"masked", "padded", "embedded"})
    void integerInputsReachTheSegmentsThatReadThem(String net, @TempDir Path dir) {
        Model model = switch (net) {
            case "masked" -> MultiInputNets.masked();
            case "padded" -> MultiInputNets.padded();
            default -> MultiInputNets.embedded();
        };
        Path file = switch (net) {
            case "masked" -> MultiInputNets.maskedData(dir.resolve("calib.npz"), SAMPLES, 3);
            case "padded" -> MultiInputNets.paddedData(dir.resolve("calib.npz"), SAMPLES, 10);
            default -> MultiInputNets.tokens(dir.resolve("calib.npy"), SAMPLES, 8);
        };
        assertFrontierRunsEqualFullPrefixRuns(net, List.of(model, model), plans -> CalibrationData.open(file,
                plans.get(0)));
    }

    private static void assertFrontierRunsEqualFullPrefixRuns(String what, List<Model> parents,
                                                              Function<List<LevelPlan>, CalibrationData> open) {
        List<LevelPlan> plans = plans(parents);
        try (CalibrationData data = open.apply(plans);
             ComputeBackend backend = Backends.open("cpu", 1);
             StatisticsCollector segmented = new StatisticsCollector(parents, plans, data, BATCH, 1)) {
            for (Level level : plans.get(0).levels()) {
                Collected actual = level(segmented, parents.get(0), plans, level.index(), backend);
                Collected expected;
                try (StatisticsCollector full = new StatisticsCollector(parents, plans, data, BATCH, 1)) {
                    expected = level(full, parents.get(0), plans, level.index(), backend);
                }
                assertSame(what + " level " + level.index(), expected, actual);
            }
            assertEquals(0, segmented.frontierRestarts(), what + ": every level ran from the previous frontier");
        }
    }

    private static Set<Path> frontierFiles() {
        Set<Path> out = new HashSet<>();
        for (Path p : TempFiles.live()) {
            if (p.getFileName().toString().startsWith(".frontier.")) {
                out.add(p);
            }
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet", "vgg"})
    void spilledFrontiersGiveTheSameStatisticsAndLeaveNoFiles(String family) {
        List<Model> parents = parents(family);
        List<LevelPlan> plans = plans(parents);
        Set<Path> before = frontierFiles();
        Set<Path> seen = new HashSet<>();
        try (CalibrationData data = data();
             ComputeBackend backend = Backends.open("cpu", 1);
             StatisticsCollector inMemory = new StatisticsCollector(parents, plans, data, BATCH, 1);
             StatisticsCollector spilled = new StatisticsCollector(parents, plans, data, BATCH, 1)) {
            spilled.frontierBudget(0);
            for (Level level : plans.get(0).levels()) {
                Collected expected = level(inMemory, parents.get(0), plans, level.index(), backend);
                Collected actual = level(spilled, parents.get(0), plans, level.index(), backend);
                assertSame(family + " level " + level.index(), expected, actual);
                Set<Path> now = frontierFiles();
                now.removeAll(before);
                now.forEach(p -> assertTrue(Files.exists(p), p.toString()));
                seen.addAll(now);
                assertEquals(0, spilled.frontierHeapBytes());
            }
            assertEquals(0, spilled.frontierRestarts());
        }
        assertFalse(seen.isEmpty(), "the frontier went to disk");
        seen.forEach(p -> assertFalse(Files.exists(p), p + " is left"));
        assertTrue(frontierFiles().stream().noneMatch(seen::contains));
    }

    @Test
    void aFailingRunLeavesNoFiles() {
        Set<Path> before = frontierFiles();
        Set<Path> seen = new HashSet<>();
        List<Model> parents = parents("resnet");
        try (CalibrationData data = data();
             StatisticsCollector c = new StatisticsCollector(parents, plans(parents), data, BATCH, 1)) {
            List<LevelPlan> plans = plans(parents);
            c.frontierBudget(0);
            c.stream(1, parents.get(0), plans.get(0).level(1), (x, d, a, m, rows) -> { });
            Set<Path> held = frontierFiles();
            held.removeAll(before);
            seen.addAll(held);
            int[] batches = {0};
            assertThrows(IllegalStateException.class, () -> c.stream(2, parents.get(0), plans.get(0).level(2),
                    (x, d, a, m, rows) -> {
                        Set<Path> now = frontierFiles();
                        now.removeAll(before);
                        seen.addAll(now);
                        if (++batches[0] == 2) {
                            throw new IllegalStateException("sink failed");
                        }
                    }));
            Set<Path> left = frontierFiles();
            left.removeAll(before);
            assertEquals(held, left, "the failed run's stores are gone, the held frontiers stay");
        }
        assertFalse(seen.isEmpty(), "the frontier went to disk");
        seen.forEach(p -> assertFalse(Files.exists(p), p + " is left"));
    }
}
