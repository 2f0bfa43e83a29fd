package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.LevelStatistics;
import org.onnxfuse.fusion.collect.StatisticsCollector;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.kernels.GramKMeans;
import org.onnxfuse.kernels.StatisticsAccumulator;
import org.onnxfuse.kernels.SufficientStatistics;
import org.onnxfuse.onnx.ir.Model;

/**
 * Hamerly bounds in {@link FactorKMeans}: the same assignments as computing every distance, step by
 * step and for whole groupings with the same seed, while skipping some of the distances.
 */
class FactorKMeansBoundsTest extends WithCpuBackend {

    /** Neurons in {@code clusters} clusters: each one's weights a cluster's plus a little spread. */
    private static SufficientStatistics clustered(long seed, int rows, int features, int m, int clusters,
                                                  double spread) {
        SplittableRandom random = new SplittableRandom(seed);
        double[][] x = LevelData.randomInputs(random, rows, features);
        double[][] centres = LevelData.randomWeights(random, features + 1, clusters);
        double[][] b = new double[features + 1][m];
        for (int j = 0; j < m; j++) {
            int c = random.nextInt(clusters);
            for (int f = 0; f <= features; f++) {
                b[f][j] = centres[f][c] + spread * LevelData.gaussian(random);
            }
        }
        LevelData data = new LevelData(x, LevelData.targets(x, b, 0.3, random)).roundedToFloat();
        try (StatisticsAccumulator acc = backend.openStatistics(features + 1, m, false)) {
            acc.accumulate(data.flatInputs(), data.flatTargets());
            return acc.statistics();
        }
    }

    @Test
    void lloydStepsAssignAsWithoutBoundsAndSkipDistances() {
        int m = 240;
        int k = 30;
        ProjectedTargets fit = ProjectedTargets.fit(backend, clustered(1, 300, 12, m, 20, 0.3), 1e-6, null,
                GroupingForm.FACTOR);
        SplittableRandom random = new SplittableRandom(5);
        try (FactorKMeans plain = new FactorKMeans(backend, fit, false);
             FactorKMeans bounded = new FactorKMeans(backend, fit, true)) {
            int[] seeds = plain.farthestFirst(0, k);
            assertArrayEquals(seeds, bounded.farthestFirst(0, k));
            int[] owner = new int[m];
            double[] weight = new double[m];
            java.util.Arrays.fill(owner, -1);
            for (int g = 0; g < k; g++) {
                owner[seeds[g]] = g;
                weight[seeds[g]] = 1.0;
            }
            int[] current = null;
            for (int it = 0; it < 12; it++) {
                GramKMeans.Step a = plain.step(k, owner, weight, current);
                GramKMeans.Step b = bounded.step(k, owner, weight, current);
                assertArrayEquals(a.next(), b.next(), "step " + it);
                assertClose(a.nextSquaredDistance(), b.nextSquaredDistance());
                if (current != null) {
                    assertClose(a.currentSquaredDistance(), b.currentSquaredDistance());
                }
                current = a.next().clone();
                if (it % 4 == 3) {
                    // as an empty-group repair does: a few neurons moved by hand, their bounds no longer theirs
                    for (int t = 0; t < 5; t++) {
                        current[random.nextInt(m)] = random.nextInt(k);
                    }
                }
                owner = current;
                weight = memberWeights(current, k);
            }
            assertEquals(12L * m * k, plain.distancesComputed());
            assertEquals(0, plain.distancesSkipped());
            assertTrue(bounded.distancesSkipped() > plain.distancesComputed() / 4,
                    bounded.distancesSkipped() + " of " + plain.distancesComputed() + " skipped");
        }
    }

    @Test
    void groupingsWithBoundsEqualThoseWithoutForTheSameSeed() {
        NeuronLayout layout = NeuronLayout.of(100, 100);
        for (long seed = 0; seed < 4; seed++) {
            SufficientStatistics stats = seed % 2 == 0 ? clustered(seed, 250, 10, 200, 30, 0.2)
                    : LevelData.random(seed, 250, 10, 200, 1.0).plainStatistics();
            assertSameGroupings(stats, layout, 40, seed, "seed " + seed);
        }
    }

    /** The first level of the bundled MLP parents (784 + 1 inputs, 2 x 64 neurons), statistics as collected. */
    @Test
    void groupingOfARealLevelIsTheSameWithBounds() {
        List<Model> parents = List.of(Fixtures.read("mlp_k2_p0.onnx"), Fixtures.read("mlp_k2_p1.onnx"));
        List<LevelPlan> plans = parents.stream().map(LevelPlanner::plan).toList();
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(400);
             StatisticsCollector collector = new StatisticsCollector(parents, plans, data, 128, 1)) {
            LevelStatistics level = collector.collect(1, parents.get(0), plans.get(0).level(1),
                    collector.cutsOf(1), backend, StatisticsCollector.Progress.NONE, null, false);
            int width = level.parentWidths().get(0);
            NeuronLayout layout = NeuronLayout.of(width, level.parentWidths().get(1));
            for (long seed = 0; seed < 3; seed++) {
                assertSameGroupings(level.statistics(), layout, width, seed, "mlp_k2 level 1, seed " + seed);
            }
        }
    }

    private static void assertSameGroupings(SufficientStatistics stats, NeuronLayout layout, int k, long seed,
                                            String what) {
        int m = stats.targetDim();
        double[] scores = new double[m];
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < m; i++) {
            scores[i] = 0.2 + random.nextDouble();
        }
        GroupingConfig config = GroupingConfig.defaults().withSeed(seed).withRestarts(3)
                .withForm(GroupingForm.FACTOR);
        ProjectedTargets fit = ProjectedTargets.fit(backend, stats, config.ridgeFactor(), null, GroupingForm.FACTOR);
        Grouping without = KMeansGrouping.group(backend, fit, layout, scores, k, config, false);
        Grouping with = KMeansGrouping.group(backend, fit, layout, scores, k, config, true);
        assertArrayEquals(without.assignment(), with.assignment(), what);
        assertEquals(without.iterations(), with.iterations(), what);
        assertEquals(without.emptyGroupRepairs(), with.emptyGroupRepairs(), what);
        // skipped neurons own distances are dot products, not gemm: the same sums in another order
        assertEquals(without.cost(), with.cost(), 1e-9 * without.cost(), what);
    }

    private static void assertClose(double[] expected, double[] actual) {
        double scale = 1.0;
        for (double e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-10 * scale, "neuron " + i);
        }
    }

    private static double[] memberWeights(int[] assignment, int k) {
        int[] sizes = new int[k];
        for (int g : assignment) {
            sizes[g]++;
        }
        double[] w = new double[assignment.length];
        for (int i = 0; i < assignment.length; i++) {
            w[i] = 1.0 / sizes[assignment[i]];
        }
        return w;
    }
}
