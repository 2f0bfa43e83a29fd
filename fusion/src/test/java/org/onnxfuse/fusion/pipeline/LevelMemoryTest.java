package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.io.WriteOptions;
import org.onnxfuse.onnx.ir.Model;

/** The per-level memory estimate: its terms on a known level, the form rule, and the refusal before any work. */
class LevelMemoryTest {

    @Test
    void theTermsOfTheFirstLevelOfEightMlps() {
        // d = 785 (784 pixels and the bias), m = 8 x 256, k = 256, one ONNX Runtime batch of 256 rows
        LevelMemory gram = LevelMemory.of(1, 785, 2048, 256, 256, GroupingForm.GRAM, 0, 0);
        long statistics = 8 * (785L * 785 + 785L * 2048 + 2048L * 2048);
        assertEquals(statistics, gram.statistics(), "one copy: the accumulator's native sums count in the collection");
        // the block gathers 2048 rows over batches (2048 x 2048 targets: 32 MB), the batch is 256 rows,
        // held twice: the batch accumulated and the one inference fills meanwhile (the pipeline)
        assertEquals(statistics + 8 * 2048L * (785 + 2048) + 2 * 4 * 256L * (785 + 2048), gram.collection());
        assertEquals(8 * 455L * (9217 + 8192), LevelMemory.of(6, 9217, 8192, 4096, 0, GroupingForm.FACTOR, 0, 0).collection()
                - 8 * (9217L * 9217 + 9217L * 8192 + 8192), "alexnet's fc6: 2^22 / 9217 = 455 rows per block");
        // W and W0 held, the solve's native S_xx and right-hand sides: no heap copies of either
        assertEquals(8 * (2 * 785L * 2048) + 8 * (785L * 785 + 785L * 2048), gram.leastSquares());
        // C and G, and the m x m product's native array; m > d, so C's native S_xa exceeds the solve's S_xx
        assertEquals(8 * (3 * 2048L * 2048 + 785L * 2048 - 785L * 785), gram.grouping());
        assertEquals(gram.statistics() + gram.leastSquares() + gram.grouping() + (8L << 20), gram.bytes(),
                "the fit is the larger phase here");
        LevelMemory factor = LevelMemory.of(1, 785, 2048, 256, 256, GroupingForm.FACTOR, 0, 0);
        assertTrue(factor.bytes() < gram.bytes());
        assertEquals(8 * (785L * 785 + 785L * 2048 + 2048), factor.statistics());
        assertEquals(8L << 20, gram.runtime());
        assertTrue(gram.describe().startsWith("202 MiB (statistics 49 MiB, then least squares 41 MiB + grouping"
                + " 104 MiB in Gram form or collection 99 MiB, frontier 1 MiB, models 1 MiB, runtime 8 MiB)"),
                gram.describe());
    }

    @Test
    void theCollectionIsThePeakWhenTheStatisticsOutweighTheFit() {
        // a wide input and few neurons: the native sums and the Java copy of S_xx at once
        LevelMemory wide = LevelMemory.of(1, 4097, 16, 16, 64, GroupingForm.GRAM, 0, 0);
        assertTrue(wide.collection() > wide.leastSquares() + wide.grouping());
        assertEquals(wide.statistics() + wide.collection() + (8L << 20), wide.bytes());
    }

    @Test
    void theFrontierCountsTheCachedActivationsWithinTheCachesShare() {
        List<LevelPlan> plans = java.util.stream.IntStream.range(0, 8)
                .mapToObj(i -> LevelPlanner.plan(Fixtures.read("mlp_k8_p" + i + ".onnx"))).toList();
        long unbounded = Long.MAX_VALUE;
        // level 1: the fused model's 784 inputs and every parent's 256 activations before level 2
        assertEquals(4L * 5000 * (784 + 8 * 256), LevelMemory.frontier(plans, 1, 5000, unbounded));
        // the last level: the fused model's values before it, nothing after it
        assertEquals(4L * 5000 * 256, LevelMemory.frontier(plans, 2, 5000, unbounded));
        // the heap's share bounds it (the rest spills to disk), and stands for it without a sample count
        assertEquals(40L << 20, LevelMemory.frontier(plans, 1, 5000, 40L << 20));
        assertEquals(40L << 20, LevelMemory.frontier(plans, 1, 0, 40L << 20));
        List<LevelMemory> levels = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.FACTOR, 5000, 40L << 20);
        assertEquals(40L << 20, levels.get(0).frontier());
        assertEquals(4L * 5000 * 256, levels.get(1).frontier());
        assertEquals(levels.get(0).statistics() + Math.max(levels.get(0).collection(), levels.get(0).leastSquares()
                + levels.get(0).grouping()) + (40L << 20) + (8L << 20), levels.get(0).bytes());
    }

    @Test
    void theGramFormWhileItsMatricesTakeAQuarterOfTheHeapThenTheCrossForm() {
        long heap = 8L << 30;
        assertEquals(GroupingForm.GRAM, LevelMemory.formsWithin(heap).of(8192L, 785L, 4096L)); // 4 x 512 MiB = 2 GiB
        assertEquals(GroupingForm.CROSS, LevelMemory.formsWithin(heap).of(8193L, 785L, 4096L));
        assertEquals(GroupingForm.FACTOR, LevelMemory.forms(GroupingForm.FACTOR, heap).of(8193L, 785L, 4096L));
    }

    @Test
    void aCrossLevelAboveTheHeapIsEstimatedAndGroupedInTheFactorForm() {
        List<LevelPlan> plans = java.util.stream.IntStream.range(0, 8)
                .mapToObj(i -> LevelPlanner.plan(Fixtures.read("mlp_k8_p" + i + ".onnx"))).toList();
        List<LevelMemory> cross = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.CROSS, 5000, 0);
        List<LevelMemory> factor = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.FACTOR, 5000, 0);
        long between = (cross.get(0).bytes() + factor.get(0).bytes()) / 2;
        assertTrue(factor.get(0).bytes() < between && between < cross.get(0).bytes());
        List<LevelMemory> fitted = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.CROSS, 5000, 0,
                between);
        assertEquals(GroupingForm.FACTOR, fitted.get(0).form(), "level 1's cross estimate is above the heap");
        assertEquals(factor.get(0).bytes(), fitted.get(0).bytes());
        assertEquals(GroupingForm.CROSS, fitted.get(1).form(), "level 2 (80 neurons) fits as it is");
        LevelMemory.requireFits(fitted, between, 8);
    }

    @Test
    void aWideLevelWithFewSamplesCountsItsRows() {
        // mlp_k8: level 1 has 785 inputs; 392 samples are at most half of them, 400 are not
        List<LevelPlan> plans = java.util.stream.IntStream.range(0, 8)
                .mapToObj(i -> LevelPlanner.plan(Fixtures.read("mlp_k8_p" + i + ".onnx"))).toList();
        long heap = 1L << 30;
        List<LevelMemory> few = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.GRAM, 392, 0, heap);
        assertEquals(4L * 392 * (785 + 2048) + 8L * 392 * (785 + 4 * 2048 + 392), few.get(0).rows());
        assertEquals(0, few.get(1).rows(), "level 2: 257 inputs for 392 rows");
        assertTrue(few.get(0).describe().contains(", rows "), few.get(0).describe());
        List<LevelMemory> more = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.GRAM, 400, 0, heap);
        assertEquals(0, more.get(0).rows());
        assertEquals(few.get(0).bytes() - few.get(0).rows() - few.get(0).frontier(),
                more.get(0).bytes() - more.get(0).frontier());
        List<LevelMemory> factor = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.FACTOR, 392, 0, heap);
        assertEquals(0, factor.get(0).rows(), "the factor form forms no m x m product");
    }

    @Test
    void theCrossFormHoldsCAndABlockWhileMakingIt() {
        // eight parents of width 2048 after 3072 inputs: C is 2 GiB
        long d = 3073;
        long m = 16384;
        long k = 2048;
        LevelMemory cross = LevelMemory.of(1, d, m, k, 0, GroupingForm.CROSS, 0, 0);
        LevelMemory factor = LevelMemory.of(1, d, m, k, 0, GroupingForm.FACTOR, 0, 0);
        assertEquals(factor.statistics(), cross.statistics(), "no S_aa in either");
        // making C: S_xa natively, 1024 of W's and C's columns (16 M values of C) natively and on the heap
        assertEquals(8 * (m * m + d * m + 2 * (d + m) * 1024), cross.grouping());
        assertTrue(cross.bytes() > factor.bytes() + 8 * m * m);
        assertTrue(cross.describe().contains("in cross form"), cross.describe());
        assertThrows(IllegalArgumentException.class,
                () -> LevelMemory.of(1, d, m, k, 0, GroupingForm.AUTO, 0, 0));
    }

    @Test
    void aLevelAboveTheHeapIsRefusedWithTheFix() {
        List<LevelPlan> plans = java.util.stream.IntStream.range(0, 8)
                .mapToObj(i -> LevelPlanner.plan(Fixtures.read("mlp_k8_p" + i + ".onnx"))).toList();
        List<LevelMemory> levels = LevelMemory.of(plans, 0, null, 256, (m, d, k) -> GroupingForm.GRAM, 0, 0);
        assertEquals(2, levels.size());
        assertEquals(2048, levels.get(0).neurons());
        assertEquals(80, levels.get(1).neurons());
        LevelMemory.requireFits(levels, 1L << 30, 8);
        OnnxFuseException e = assertThrows(OnnxFuseException.class, () -> LevelMemory.requireFits(levels, 100L << 20,
                8));
        assertEquals(ErrorCode.NOT_ENOUGH_MEMORY, e.code());
        assertTrue(e.getMessage().startsWith("level 1 (fan-in 785, 2048 neurons of 8 parents) needs about 202 MiB"),
                e.getMessage());
        assertTrue(e.getMessage().contains("the Java heap holds at most 100 MiB"), e.getMessage());
        assertTrue(e.getMessage().contains("java -Xmx2g"), e.getMessage());
        assertTrue(e.getMessage().contains("narrower --width"), e.getMessage());
    }

    @Test
    void theModelsTermHoldsTheParentsAndTheFusedWeightsWrittenBefore() {
        List<Model> parents = java.util.stream.IntStream.range(0, 8)
                .mapToObj(i -> Fixtures.read("mlp_k8_p" + i + ".onnx")).toList();
        long oneParent = 4 * (784L * 256 + 256 + 256L * 10 + 10); // W1, b1, W2, b2 in float32
        assertEquals(oneParent, LevelMemory.heldBytes(parents.get(0)));
        long parentBytes = parents.stream().mapToLong(LevelMemory::heldBytes).sum();
        List<LevelMemory> levels = LevelMemory.of(parents.stream().map(LevelPlanner::plan).toList(), parentBytes,
                null, 256, (m, d, k) -> GroupingForm.GRAM, 0, 0);
        assertEquals(8 * oneParent, levels.get(0).models(), "level 1: the parents, nothing written yet");
        assertEquals(8 * oneParent + 4 * 785L * 256, levels.get(1).models(), "level 2: and the fused level 1");
        assertEquals(levels.get(0).statistics() + levels.get(0).leastSquares() + levels.get(0).grouping()
                + 8 * oneParent + (8L << 20), levels.get(0).bytes());

        // 512 fused neurons: level 1's 785 x 512 weights (1.6 MB) leave the heap once written, its biases stay
        List<LevelMemory> wide = LevelMemory.of(parents.stream().map(LevelPlanner::plan).toList(), parentBytes,
                new int[] {512, 10}, 256, (m, d, k) -> GroupingForm.GRAM, 0, 0);
        assertTrue(4 * 785L * 512 >= LevelLoop.SPILL_MIN_BYTES);
        assertEquals(8 * oneParent + 4 * 512L, wide.get(1).models(), "level 2: the parents and level 1's biases");
    }

    @Test
    void externalDataIsNotHeldInMemory(@TempDir Path dir) {
        Path file = dir.resolve("external.onnx");
        OnnxWriter.write(Fixtures.read("mlp_k8_p0.onnx"), file, WriteOptions.externalAbove(1024));
        Model external = OnnxReader.read(file);
        assertEquals(4 * (256L + 10), LevelMemory.heldBytes(external), "only the biases stay in the model file");
    }
}
