package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/** The per-level memory estimate: its terms on a known level, the form rule, and the refusal before any work. */
class LevelMemoryTest {

    @Test
    void theTermsOfTheFirstLevelOfEightMlps() {
        // d = 785 (784 pixels and the bias), m = 8 x 256, k = 256, one ONNX Runtime batch of 256 rows
        LevelMemory gram = LevelMemory.of(1, 785, 2048, 256, 256, true);
        assertEquals(2 * 8 * (785L * 785 + 785L * 2048 + 2048L * 2048), gram.statistics());
        assertEquals(8 * (2 * 785L * 785 + 3 * 785L * 2048) + 8 * 785L * 2048, gram.leastSquares());
        assertEquals(8 * (3 * 2048L * 2048 + 785L * 2048), gram.grouping());
        assertEquals(8 * 256L * (785 + 2048) + 4 * 256L * (785 + 2048), gram.collection());
        LevelMemory factor = LevelMemory.of(1, 785, 2048, 256, 256, false);
        assertTrue(factor.bytes() < gram.bytes());
        assertEquals(2 * 8 * (785L * 785 + 785L * 2048 + 2048), factor.statistics());
        assertTrue(gram.describe().startsWith("273 MiB (statistics"), gram.describe());
    }

    @Test
    void theGramFormWhileItsMatricesTakeAQuarterOfTheHeap() {
        long heap = 8L << 30;
        assertTrue(LevelMemory.gramFormWithin(heap).test(8192)); // 4 x 512 MiB = 2 GiB
        assertFalse(LevelMemory.gramFormWithin(heap).test(8193));
    }

    @Test
    void aLevelAboveTheHeapIsRefusedWithTheFix() {
        List<LevelPlan> plans = java.util.stream.IntStream.range(0, 8)
                .mapToObj(i -> LevelPlanner.plan(Fixtures.read("mlp_k8_p" + i + ".onnx"))).toList();
        List<LevelMemory> levels = LevelMemory.of(plans, null, 256, m -> true);
        assertEquals(2, levels.size());
        assertEquals(2048, levels.get(0).neurons());
        assertEquals(80, levels.get(1).neurons());
        LevelMemory.requireFits(levels, 1L << 30, 8);
        OnnxFuseException e = assertThrows(OnnxFuseException.class, () -> LevelMemory.requireFits(levels, 100L << 20,
                8));
        assertEquals(ErrorCode.NOT_ENOUGH_MEMORY, e.code());
        assertTrue(e.getMessage().startsWith("level 1 (fan-in 785, 2048 neurons of 8 parents) needs about 273 MiB"),
                e.getMessage());
        assertTrue(e.getMessage().contains("the Java heap holds at most 100 MiB"), e.getMessage());
        assertTrue(e.getMessage().contains("java -Xmx2g"), e.getMessage());
        assertTrue(e.getMessage().contains("narrower --width"), e.getMessage());
    }
}
