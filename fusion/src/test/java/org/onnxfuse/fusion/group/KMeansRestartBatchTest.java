package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.testing.Fingerprint;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.GramKMeans;
import org.onnxfuse.kernels.StatisticsAccumulator;
import org.onnxfuse.kernels.Transpose;

/**
 * The restarts of K-means advance in lockstep, a batch of them per backend call: the grouping must
 * be the bits the one-restart-after-another loop gave. {@link #GOLDEN} holds fingerprints of every
 * field of the groupings below as that loop computed them (before the restarts were batched), so a
 * change of any bit, of the winning restart or of its history fails here; the batch widths are
 * forced, since the CPU backend itself steps one restart at a time.
 */
class KMeansRestartBatchTest extends WithCpuBackend {
    /** Fingerprints of {@link #cases()} from the sequential restart loop (commit 9ddb4dc). */
    private static final long[] GOLDEN = {
        0x66030D54A1E638F7L, // unstructured 0 GRAM k 1: repairs 0, iterations 1
        0x00083ECC0BEDC140L, // unstructured 0 GRAM k 5: repairs 0, iterations 5
        0xEC02E007742CE2B4L, // unstructured 0 GRAM k 20: repairs 0, iterations 2
        0xE6ACE4A5DADF3FEFL, // unstructured 0 GRAM k 40: repairs 0, iterations 1
        0x66030D54A1E638F7L, // unstructured 0 FACTOR k 1: repairs 0, iterations 1
        0x3D39D14E720147BEL, // unstructured 0 FACTOR k 5: repairs 0, iterations 5
        0xC29B2AEAB694A84EL, // unstructured 0 FACTOR k 20: repairs 0, iterations 2
        0x3B2D3E80879FE72FL, // unstructured 0 FACTOR k 40: repairs 0, iterations 1
        0x6572D00EE2071FF7L, // unstructured 1 GRAM k 1: repairs 0, iterations 1
        0x3CEFEF1BAC0DA697L, // unstructured 1 GRAM k 5: repairs 0, iterations 4
        0xDE51442758A32297L, // unstructured 1 GRAM k 20: repairs 0, iterations 2
        0xD63CFE1EF2E76434L, // unstructured 1 GRAM k 40: repairs 0, iterations 1
        0x6572D00EE2071FF7L, // unstructured 1 FACTOR k 1: repairs 0, iterations 1
        0xB951F4064E5F5F05L, // unstructured 1 FACTOR k 5: repairs 0, iterations 4
        0xCC3D5133DD4B3F26L, // unstructured 1 FACTOR k 20: repairs 0, iterations 2
        0x69A0615FCDD19406L, // unstructured 1 FACTOR k 40: repairs 0, iterations 1
        0x46A250CCF7F5AA79L, // unstructured 2 GRAM k 1: repairs 0, iterations 1
        0xFD0466B9E4FA7F8FL, // unstructured 2 GRAM k 5: repairs 0, iterations 3
        0xAA26856349F17D4CL, // unstructured 2 GRAM k 20: repairs 0, iterations 2
        0x1BC4F0EAD70D6383L, // unstructured 2 GRAM k 40: repairs 0, iterations 1
        0x51D49903FA38619FL, // unstructured 2 FACTOR k 1: repairs 0, iterations 1
        0xD66F8DB6F5D6E468L, // unstructured 2 FACTOR k 5: repairs 0, iterations 3
        0x7CD7457DEF483CF6L, // unstructured 2 FACTOR k 20: repairs 0, iterations 2
        0xAEBEC08EC96DCF3AL, // unstructured 2 FACTOR k 40: repairs 0, iterations 1
        0x9D97A0DA70425510L, // wider GRAM k 12: repairs 0, iterations 4
        0x0042E6E8240338E5L, // wider GRAM k 45: repairs 0, iterations 4
        0xE3D98D6978DF4812L, // wider CROSS k 12: repairs 0, iterations 4
        0x7D3AE1FF12EBDFCBL, // wider CROSS k 45: repairs 0, iterations 4
        0x6CBE45FA4E40B2AEL, // twins k 6 paper false restarts 1: repairs 0, iterations 1
        0x300FF65FE863BBDEL, // twins k 6 paper false restarts 4: repairs 0, iterations 1
        0x152D83CF77DB2BDBL, // twins k 6 paper false restarts 25: repairs 0, iterations 1
        0x6CBE45FA4E40B2AEL, // twins k 6 paper true restarts 1: repairs 0, iterations 1
        0x300FF65FE863BBDEL, // twins k 6 paper true restarts 4: repairs 0, iterations 1
        0x152D83CF77DB2BDBL, // twins k 6 paper true restarts 25: repairs 0, iterations 1
        0x76C13D136BEF76CBL, // twins k 15 paper false restarts 1: repairs 6, iterations 4
        0x513C1D89C3E1AB68L, // twins k 15 paper false restarts 4: repairs 4, iterations 2
        0x581F259D768C861DL, // twins k 15 paper false restarts 25: repairs 6, iterations 4
        0x76C13D136BEF76CBL, // twins k 15 paper true restarts 1: repairs 6, iterations 4
        0x513C1D89C3E1AB68L, // twins k 15 paper true restarts 4: repairs 4, iterations 2
        0x581F259D768C861DL, // twins k 15 paper true restarts 25: repairs 6, iterations 4
        0x0E141AB85B43B232L, // twins k 25 paper false restarts 1: repairs 19, iterations 4
        0xCE2039A658235F01L, // twins k 25 paper false restarts 4: repairs 15, iterations 2
        0x3FAC7B01778DDE60L, // twins k 25 paper false restarts 25: repairs 19, iterations 4
        0x8FF9E79499DB3819L, // twins k 25 paper true restarts 1: repairs 19, iterations 4
        0x3AAD3373967AB93CL, // twins k 25 paper true restarts 4: repairs 15, iterations 2
        0xA1C3392FA92EA0AAL, // twins k 25 paper true restarts 25: repairs 19, iterations 4
    };

    record Case(String name, NeuronLayout layout, ProjectedTargets fit, double[] scores, int k,
                        GroupingConfig config) {
    }

    /** Unstructured and twinned neurons (twins make empty groups that need repair), both id rules, three forms. */
    static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        NeuronLayout three = NeuronLayout.of(20, 15, 17);
        int m = three.neurons();
        for (long seed = 0; seed < 3; seed++) {
            LevelData data = LevelData.random(100 + seed, 90, 6, m, 1.0);
            for (GroupingForm form : new GroupingForm[] {GroupingForm.GRAM, GroupingForm.FACTOR}) {
                ProjectedTargets fit = ProjectedTargets.fit(backend, data.plainStatistics(),
                        GroupingConfig.DEFAULT_RIDGE_FACTOR, null, form);
                for (int k : new int[] {1, 5, 20, 40}) {
                    GroupingConfig config = GroupingConfig.defaults().withSeed(seed * 7 + k).withRestarts(10);
                    cases.add(new Case("unstructured " + seed + " " + form + " k " + k, three, fit, KMeansGroupingTest.randomScores(seed, m), k,
                            config));
                }
            }
        }
        NeuronLayout wider = NeuronLayout.of(60, 50, 70);
        LevelData data = LevelData.random(7, 150, 12, wider.neurons(), 0.3);
        for (GroupingForm form : new GroupingForm[] {GroupingForm.GRAM, GroupingForm.CROSS}) {
            ProjectedTargets fit = ProjectedTargets.fit(backend, data.plainStatistics(),
                    GroupingConfig.DEFAULT_RIDGE_FACTOR, null, form);
            for (int k : new int[] {12, 45}) {
                cases.add(new Case("wider " + form + " k " + k, wider, fit, KMeansGroupingTest.randomScores(k, wider.neurons()), k,
                        GroupingConfig.defaults().withSeed(k)));
            }
        }
        // 40 neurons that are 12 distinct ones repeated: k above 12 leaves groups empty
        NeuronLayout two = NeuronLayout.of(20, 20);
        LevelData twinned = twins(200, 60, 5, 12, 40);
        ProjectedTargets fit = ProjectedTargets.fit(backend, twinned.plainStatistics(),
                GroupingConfig.DEFAULT_RIDGE_FACTOR);
        for (int k : new int[] {6, 15, 25}) {
            for (boolean paperExact : new boolean[] {false, true}) {
                for (int restarts : new int[] {1, 4, 25}) {
                    GroupingConfig config = GroupingConfig.defaults().withSeed(k + restarts).withRestarts(restarts)
                            .withPaperExact(paperExact).withMaxIterations(restarts == 4 ? 2 : 100);
                    cases.add(new Case("twins k " + k + " paper " + paperExact + " restarts " + restarts, two, fit,
                            KMeansGroupingTest.randomScores(k, 40), k, config));
                }
            }
        }
        return cases;
    }

    /** m neurons, neuron j a copy of neuron j mod distinct (same targets), so distances tie exactly. */
    private static LevelData twins(long seed, int rows, int features, int distinct, int m) {
        LevelData base = LevelData.random(seed, rows, features, distinct, 1.0);
        double[][] a = new double[rows][m];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < m; j++) {
                a[r][j] = base.a[r][j % distinct];
            }
        }
        return new LevelData(base.x, a);
    }

    /** Every field of the grouping, bit for bit, mixed into 64 bits. */
    static long fingerprint(Grouping g) {
        Fingerprint f = new Fingerprint().add(g.assignment()).add(g.costHistory()).add(g.squaredCostHistory())
                .add(Double.doubleToRawLongBits(g.cost())).add(g.iterations()).add(g.restarts())
                .add(g.emptyGroupRepairs());
        for (Group group : g.groups()) {
            f.add(group.weights()).add(Double.doubleToRawLongBits(group.cost()));
        }
        return f.add(g.fusedWeights().toColumnMajor()).value();
    }

    private static Grouping group(Case c, int restartBatch) {
        return KMeansGrouping.group(backend, c.fit(), c.layout(), c.scores(), c.k(), c.config(), true, restartBatch);
    }

    @Test
    void everyBatchWidthGivesTheSequentialLoopsBits() {
        List<Case> cases = cases();
        assertEquals(GOLDEN.length, cases.size());
        int repaired = 0;
        for (int width : new int[] {0, 1, 2, 3, 10, 64}) {
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                Grouping g = group(c, width);
                assertEquals(GOLDEN[i], fingerprint(g), () -> c.name() + ", restart batch " + width);
                repaired += width == 0 && g.emptyGroupRepairs() > 0 ? 1 : 0;
            }
        }
        assertTrue(repaired >= 10, "cases with empty-group repairs: " + repaired);
    }

    /**
     * A backend whose K-means asks for 8 restarts at a time (the CPU's, which steps any batch):
     * the grouping is the sequential loop's, and every restart is stepped as often as alone, so a
     * restart that stopped is never stepped again.
     */
    @Test
    void lockstepStepsEachRestartAsOftenAsAlone() {
        for (Case c : cases()) {
            if (c.fit().factorForm()) {
                continue;
            }
            List<Integer> sequential = new ArrayList<>();
            List<Integer> lockstep = new ArrayList<>();
            Grouping alone = KMeansGrouping.group(new RecordingBackend(backend, 1, sequential), c.fit(), c.layout(),
                    c.scores(), c.k(), c.config());
            Grouping together = KMeansGrouping.group(new RecordingBackend(backend, 8, lockstep), c.fit(), c.layout(),
                    c.scores(), c.k(), c.config());
            assertEquals(fingerprint(alone), fingerprint(together), c.name());
            int restarts = alone.restarts();
            assertTrue(sequential.stream().allMatch(n -> n == 1), c.name());
            assertEquals(sequential.size(), lockstep.stream().mapToInt(Integer::intValue).sum(), c.name());
            // batches of min(8, restarts left), each shrinking as its restarts stop
            assertEquals(Math.min(8, restarts), lockstep.get(0), c.name());
            if (restarts > 1 && c.config().maxIterations() > 1) {
                assertTrue(lockstep.size() < sequential.size(), c.name() + ": " + lockstep);
            }
        }
    }

    /** Delegates to a backend, its Gram-form K-means asking for {@code batch} restarts and recording each step call's size. */
    private static final class RecordingBackend implements ComputeBackend {
        private final ComputeBackend inner;
        private final int batch;
        private final List<Integer> stepSizes;

        RecordingBackend(ComputeBackend inner, int batch, List<Integer> stepSizes) {
            this.inner = inner;
            this.batch = batch;
            this.stepSizes = stepSizes;
        }

        @Override
        public GramKMeans openGramKMeans(double[] cross, double[] gram, double[] targetSquaredNorms, int m) {
            GramKMeans kMeans = inner.openGramKMeans(cross, gram, targetSquaredNorms, m);
            return new GramKMeans() {
                @Override
                public int neurons() {
                    return kMeans.neurons();
                }

                @Override
                public int restartBatch(int k) {
                    return batch;
                }

                @Override
                public int[] farthestFirst(int first, int k) {
                    return kMeans.farthestFirst(first, k);
                }

                @Override
                public int[][] farthestFirst(int[] firsts, int k) {
                    return kMeans.farthestFirst(firsts, k);
                }

                @Override
                public Step step(int k, int[] owner, double[] weight, int[] current) {
                    throw new AssertionError("the grouping steps through steps()");
                }

                @Override
                public Step[] steps(int k, int[] restarts, int[][] owners, double[][] weights, int[][] currents) {
                    stepSizes.add(restarts.length);
                    return kMeans.steps(k, restarts, owners, weights, currents);
                }

                @Override
                public void close() {
                    kMeans.close();
                }
            };
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public int threads() {
            return inner.threads();
        }

        @Override
        public String description() {
            return "recording " + inner.description();
        }

        @Override
        public DenseMatrix gemm(Transpose opA, Transpose opB, double alpha, DenseMatrix a, DenseMatrix b, double beta,
                                DenseMatrix c) {
            return inner.gemm(opA, opB, alpha, a, b, beta, c);
        }

        @Override
        public StatisticsAccumulator openStatistics(int d, int m, boolean targetGram) {
            return inner.openStatistics(d, m, targetGram);
        }

        @Override
        public DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge) {
            return inner.choleskySolve(s, b, ridge);
        }

        @Override
        public void close() {
        }
    }
}
