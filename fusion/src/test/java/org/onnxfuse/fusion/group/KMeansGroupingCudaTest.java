package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;

/**
 * K-means gives the same grouping on the CPU and on CUDA (the Lloyd work runs on the device there).
 * Runs only where CUDA works ({@code -Dgroups=gpu}).
 */
@Tag("gpu")
class KMeansGroupingCudaTest {

    @Test
    void sameGroupingOnCpuAndCuda() {
        assumeTrue(Backends.cudaStatus().available(), () -> "no CUDA: " + Backends.cudaStatus().detail());
        NeuronLayout layout = NeuronLayout.of(300, 250, 350);
        int m = layout.neurons();
        SplittableRandom random = new SplittableRandom(51);
        double[] scores = new double[m];
        for (int i = 0; i < m; i++) {
            scores[i] = 0.2 + random.nextDouble();
        }
        try (ComputeBackend cpu = Backends.open("cpu", 0); ComputeBackend cuda = Backends.open("cuda", 0)) {
            // one fit for both, so that both group the same C, G and t
            ProjectedTargets fit = ProjectedTargets.fit(cpu, LevelData.random(52, 400, 20, m, 1.0).plainStatistics(),
                    GroupingConfig.DEFAULT_RIDGE_FACTOR);
            for (int k : new int[] {1, 7, 300}) {
                for (boolean paperExact : new boolean[] {false, true}) {
                    GroupingConfig config = GroupingConfig.defaults().withSeed(k).withRestarts(3)
                            .withPaperExact(paperExact);
                    Grouping expected = KMeansGrouping.group(cpu, fit, layout, scores, k, config);
                    Grouping actual = KMeansGrouping.group(cuda, fit, layout, scores, k, config);
                    KMeansRestartBatchCudaTest.assertSameGrouping(expected, actual,
                            "k = " + k + ", paper-exact " + paperExact);
                }
            }
        }
    }
}
